"""One rank of the elastic-resume test (run by test_torch.py): a job of 2 ranks stops
mid-epoch and saves rank 0's state; a job of 3 ranks resumes the epoch from it."""

import json
import sys

import numpy as np
import torch.distributed as dist

import fastbatch as fb

N, B, SEED, STOP_AFTER = 1001, 16, 5, 9


def main(rank, world_size, port, state_path, out_path):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world_size)
    loader = fb.BatchLoader(np.arange(N), batch_size=B, shuffle=True, rng=SEED, rank=rank,
                            world_size=world_size, shard_remainder="keep",
                            shuffle_method=sys.argv[6])
    resuming = world_size == 3
    if resuming:
        with open(state_path) as f:
            loader.load_state_dict(json.load(f))
        mine = [b.tolist() for b in loader]
    else:
        it = iter(loader)
        mine = [next(it).tolist() for _ in range(STOP_AFTER)]
        if rank == 0:
            with open(state_path, "w") as f:
                json.dump(loader.state_dict(), f)
    everyone = [None] * world_size
    dist.all_gather_object(everyone, mine)
    if rank == 0:
        with open(out_path, "w") as f:
            json.dump(everyone, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
