"""One rank of the two-process torch.distributed test (run by test_torch_distributed)."""

import json
import os
import sys

import numpy as np
import torch
import torch.distributed as dist

import fastbatch as fb

N, D, B, SEED, EPOCHS, LR, ALPHA = 1000, 6, 16, 7, 3, 0.05, 0.01
BLOCK = {"shuffle_method": "block", "block_size": 50, "shuffle_window": 3}


def dataset():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, D)) * np.arange(1, D + 1) + 3.0
    y = X @ np.linspace(-1, 1, D) + 0.5 + 0.1 * rng.standard_normal(N)
    return X, y


def main(rank, world_size, port, out_path):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world_size)
    X, y = dataset()

    # Every rank iterates its shard; rank 0 collects what each saw, epoch by epoch.
    seen = []
    loader = fb.BatchLoader(np.arange(N + 3), batch_size=B, shuffle=True, rng=SEED,
                            rank=rank, world_size=world_size)
    for epoch in range(2):
        loader.set_epoch(epoch)
        mine = np.concatenate(list(loader)).tolist()
        everyone = [None] * world_size
        dist.all_gather_object(everyone, mine)
        seen.append(everyone)

    # A block-shuffled FileSource: rank 0 writes the file both ranks read in place.
    path = os.path.join(os.path.dirname(out_path), "shared.npy")
    if rank == 0:
        np.save(path, np.repeat(np.arange(N + 3, dtype=np.int64)[:, None], 2, axis=1))
    dist.barrier()
    files = fb.BatchLoader(fb.open_files(path), batch_size=B, shuffle=True, rng=SEED,
                           rank=rank, world_size=world_size, shard_remainder="keep",
                           **BLOCK)
    block_seen = []
    for epoch in range(2):
        files.set_epoch(epoch)
        mine = np.concatenate([batch[:, 0] for batch in files]).tolist()
        everyone = [None] * world_size
        dist.all_gather_object(everyone, mine)
        block_seen.append(everyone)

    # Data-parallel SGD: each rank's gradient sums, all-reduced, then the same update.
    mean, scale = X.mean(axis=0), X.std(axis=0)
    coef, intercept = np.zeros(D), 0.0
    batches = fb.BatchLoader(np.arange(N), batch_size=B, shuffle=True, rng=SEED,
                             rank=rank, world_size=world_size)
    for _ in range(EPOCHS):
        for idx in batches:
            g = fb.linreg_gradient(X, y, idx, coef, intercept, mean=mean, scale=scale,
                                   check_input=False)
            sums = torch.from_numpy(np.concatenate([g.coef_sum, [g.intercept_sum, g.n]]))
            dist.all_reduce(sums, op=dist.ReduceOp.SUM)
            total = sums.numpy()
            n = total[-1]
            coef = coef - LR * (total[:D] / n + ALPHA * coef)
            intercept = intercept - LR * total[D] / n
    if rank == 0:
        with open(out_path, "w") as f:
            json.dump({"seen": seen, "block_seen": block_seen, "coef": coef.tolist(),
                       "intercept": intercept}, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
