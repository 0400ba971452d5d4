"""Cases: a shuffled epoch fed to PyTorch through ``torch_bridge.BatchDataset``
(``DataLoader(BatchDataset(loader), batch_size=None)``, whole batches) against torch's own
``DataLoader(TensorDataset, batch_size=B, shuffle=True)``, which fetches and collates
sample by sample."""

import functools

import numpy as np

from fastbatch._bench.data import features
from fastbatch._bench.epochs import _torch_epoch
from fastbatch._bench.registry import SEED, Case

REPORT_ORDER = 21
_BATCHDATASET_ROW = ("`DataLoader(BatchDataset(loader), batch_size=None)` vs "
                     "`DataLoader(TensorDataset, shuffle=True)` (issue 20)")
D, BATCH = 16, 256


def _setup(n, d=D, batch_size=BATCH):
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    import fastbatch as fb
    from fastbatch.torch_bridge import BatchDataset

    X, y = features(n, d, np.float32)
    torch_loader = DataLoader(TensorDataset(torch.from_numpy(X), torch.from_numpy(y)),
                              batch_size=batch_size, shuffle=True,
                              generator=torch.Generator().manual_seed(SEED))
    batches = fb.BatchLoader(X, y, batch_size=batch_size, shuffle=True, rng=SEED)
    ours = DataLoader(BatchDataset(batches), batch_size=None)
    # Each call is one epoch of either loader (BatchDataset runs the loader's next epoch).
    return {"torch": functools.partial(_torch_epoch, torch_loader),
            "fastbatch": functools.partial(_torch_epoch, ours)}


CASES = [
    Case(group=f"torch-batchdataset-2e5x{D}-float32-B{BATCH}",
         title=f"shuffled epoch {{n}}x{D} float32 B={BATCH}, DataLoader(BatchDataset) "
               "vs DataLoader(TensorDataset)",
         suite="epoch", setup=_setup, n=2 * 10**5, quick_n=2 * 10**4, floor=30.0,
         goal=None, design_row=_BATCHDATASET_ROW, baseline="torch", repeats=5,
         requires=("torch",)),
]
