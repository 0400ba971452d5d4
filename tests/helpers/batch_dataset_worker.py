"""One rank of the plain torch.distributed loop through ``BatchDataset`` (run by
test_torch.py): the dataset (and a ``BatchSampler``) is made before the process group
exists and takes its shard from it; a StatefulDataLoader's state saved after epoch 0 and
in the middle of epoch 1 is loaded into new loaders, which go on with fastbatch's order."""

import json
import sys

import numpy as np
import torch.distributed as dist
from torchdata.stateful_dataloader import StatefulDataLoader

import fastbatch as fb
from fastbatch.torch_bridge import BatchDataset, BatchSampler

N, B, SEED, EPOCHS, STOP_AFTER = 203, 16, 4, 3, 5


def loader():
    X = np.repeat(np.arange(N, dtype=np.float32)[:, None], 3, axis=1)
    dataset = BatchDataset(fb.BatchLoader(X, np.arange(N), batch_size=B, shuffle=True,
                                          rng=SEED))
    return StatefulDataLoader(dataset, batch_size=None)


def train(data, first_epoch, stop=None):
    """Epochs ``first_epoch ..`` as a training loop runs them: the ids of every batch by
    epoch, and the loader's states after epoch ``first_epoch`` and inside the next."""
    seen, states = {}, {}
    for epoch in range(first_epoch, EPOCHS):
        data.dataset.set_epoch(epoch)
        for k, (x, ids) in enumerate(data):
            assert (x[:, 0].long() == ids).all()
            seen.setdefault(epoch, []).append(ids.tolist())
            if stop == (epoch, k + 1):
                states["mid"] = data.state_dict()
        if epoch == first_epoch:
            states["end"] = data.state_dict()
    return seen, states


def main(rank, world_size, port, out_path):
    data = loader()                      # before the process group: not split yet
    sampler = BatchSampler(N, batch_size=B, shuffle=True, rng=SEED)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world_size)
    whole, states = train(data, 0, stop=(1, STOP_AFTER))
    runs = {"whole": whole, "sampler": list(sampler)}
    for name, epoch in (("mid", 1), ("end", 1)):
        resumed = loader()
        resumed.load_state_dict(json.loads(json.dumps(states[name])))
        runs[name] = train(resumed, epoch)[0]
    everyone = [None] * world_size
    dist.all_gather_object(everyone, runs)
    if rank == 0:
        with open(out_path, "w") as f:
            json.dump(everyone, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
