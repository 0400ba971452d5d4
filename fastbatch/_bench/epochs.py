"""Cases: one epoch of (X, y) batches from ``fb.BatchLoader`` against the NumPy loop a user
writes (and torch's DataLoader where installed); epoch time against n."""

import functools

import numpy as np

import fastbatch as fb
from fastbatch._bench.data import features
from fastbatch._bench.registry import SEED, Case, Series, Traffic, format_count

REPORT_ORDER = 20
_SHUFFLED_ROW = "shuffled epoch of (X, y): 1e6×16 float32 B=256; 2e5×8 float64 B=64"
_WIDE_ROW = "same, 1e6×100 float64 B=1024 (800-byte rows)"
_SEQUENTIAL_ROW = "sequential epoch (views)"
_TORCH_ROW = ("a shuffled epoch vs `torch.utils.data.DataLoader(TensorDataset, "
              "batch_size=B, shuffle=True)`")
# "At most 1.1x the baseline's time" as a speedup.
_SEQUENTIAL_FLOOR = 1 / 1.1


def fastbatch_epoch(X, y, batch_size, shuffle):
    """One epoch of ``fb.BatchLoader``: ``(batches, last batch)``."""
    loader = fb.BatchLoader(X, y, batch_size=batch_size, shuffle=shuffle, rng=SEED)
    batch = None
    for batch in loader:
        pass
    return loader.step, batch


# The baselines count their batches from the range they walk rather than with a counter
# in the loop: a per-batch increment would be timed on one side only.
def _numpy_shuffled_epoch(X, y, batch_size):
    p = np.random.default_rng(SEED).permutation(len(X))
    batch = None
    for i in range(0, len(X), batch_size):
        idx = p[i:i + batch_size]
        batch = X[idx], y[idx]
    return len(range(0, len(X), batch_size)), batch


def _numpy_sequential_epoch(X, y, batch_size):
    batch = None
    for i in range(0, len(X), batch_size):
        batch = X[i:i + batch_size], y[i:i + batch_size]
    return len(range(0, len(X), batch_size)), batch


def _torch_epoch(loader):
    count, batch = 0, None
    for count, batch in enumerate(loader, 1):
        pass
    return count, batch


def _shuffled_setup(n, d, dtype, batch_size):
    X, y = features(n, d, dtype)
    return {"numpy": functools.partial(_numpy_shuffled_epoch, X, y, batch_size),
            "fastbatch": functools.partial(fastbatch_epoch, X, y, batch_size, True)}


def _sequential_setup(n, d, dtype, batch_size):
    X, y = features(n, d, dtype)
    return {"numpy": functools.partial(_numpy_sequential_epoch, X, y, batch_size),
            "fastbatch": functools.partial(fastbatch_epoch, X, y, batch_size, False)}


def _torch_setup(n, d, dtype, batch_size):
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    X, y = features(n, d, dtype)
    dataset = TensorDataset(torch.from_numpy(X), torch.from_numpy(y))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(SEED))
    return {"torch": functools.partial(_torch_epoch, loader),
            "fastbatch": functools.partial(fastbatch_epoch, X, y, batch_size, True)}


def epoch_traffic(n, d, dtype, passes=1):
    """The rows of X and the elements of y, read ``passes`` times."""
    itemsize = np.dtype(dtype).itemsize
    return Traffic(((n, d * itemsize), (n, itemsize)), passes)


def _epoch_case(kind, d, dtype, batch_size, n, quick_n, floor, goal, design_row,
                repeats=7, efficiency_goal=None):
    setups = {"shuffled": _shuffled_setup, "sequential": _sequential_setup,
              "torch": _torch_setup}
    dtype_name = np.dtype(dtype).name
    shape = f"{{n}}x{d} {dtype_name} B={batch_size}"
    if kind == "torch":
        title, baseline, requires = f"shuffled epoch {shape} vs torch", "torch", ("torch",)
    else:
        title, baseline, requires = f"{kind} epoch {shape}", "numpy", ()
    return Case(
        group=f"epoch-{kind}-{format_count(n)}x{d}-{dtype_name}-B{batch_size}",
        title=title, suite="epoch",
        setup=functools.partial(setups[kind], d=d, dtype=dtype, batch_size=batch_size),
        n=n, quick_n=quick_n, floor=floor, goal=goal, design_row=design_row,
        baseline=baseline, repeats=repeats, requires=requires,
        traffic=(functools.partial(epoch_traffic, d=d, dtype=dtype)
                 if kind == "shuffled" else None),
        efficiency_goal=efficiency_goal,
    )


CASES = [
    _epoch_case("shuffled", 16, np.float32, 256, 10**6, 10**6, 4.0, 8.0, _SHUFFLED_ROW),
    _epoch_case("shuffled", 8, np.float64, 64, 2 * 10**5, 2 * 10**5, 4.0, 8.0,
                _SHUFFLED_ROW),
    _epoch_case("shuffled", 100, np.float64, 1024, 10**6, 2 * 10**5, 2.0, None, _WIDE_ROW,
                repeats=5, efficiency_goal=0.8),
    _epoch_case("sequential", 16, np.float32, 256, 10**6, 10**6, _SEQUENTIAL_FLOOR, None,
                _SEQUENTIAL_ROW),
    _epoch_case("sequential", 8, np.float64, 64, 2 * 10**5, 2 * 10**5, _SEQUENTIAL_FLOOR,
                None, _SEQUENTIAL_ROW),
    # torch's DataLoader collates sample by sample: seconds per epoch at 1e6.
    _epoch_case("torch", 16, np.float32, 256, 10**6, 10**5, 100.0, None, _TORCH_ROW,
                repeats=3),
]


def _shuffled_epoch_call(n, d=16, dtype=np.float32, batch_size=256):
    X, y = features(n, d, dtype)
    return functools.partial(fastbatch_epoch, X, y, batch_size, True)


SERIES = [
    Series("shuffled epoch, 16 float32 columns, B=256", _shuffled_epoch_call,
           tuple(10**k for k in range(4, 8)), (10**4, 10**5), per="sample"),
]
