"""Case: an epoch whose consumer works per batch with the GIL released, ``prefetch=2``
against ``prefetch=0`` (the ratio is the overlap; the performance contract sets no floor)."""

import time

import numpy as np

import fastbatch as fb
from fastbatch._bench.data import features
from fastbatch._bench.registry import SEED, Case

REPORT_ORDER = 50
WORK_SECONDS = 0.0005


def _consume_with_work(loader):
    # The caller's per-batch work, with the GIL released as NumPy or PyTorch would.
    for _ in loader:
        time.sleep(WORK_SECONDS)
    return loader.step


def _prefetch_setup(n, d=64, batch_size=2048):
    X, y = features(n, d, np.float64)
    return {
        "prefetch=0": lambda: _consume_with_work(
            fb.BatchLoader(X, y, batch_size=batch_size, shuffle=True, rng=SEED)),
        "fastbatch": lambda: _consume_with_work(
            fb.BatchLoader(X, y, batch_size=batch_size, shuffle=True, rng=SEED, prefetch=2)),
    }


CASES = [
    Case(group="prefetch-overlap-2e5x64",
         title=f"epoch + {WORK_SECONDS * 1e3:g} ms work/batch, prefetch=2 vs 0 (info)",
         suite="prefetch", setup=_prefetch_setup, n=2 * 10**5, quick_n=5 * 10**4,
         floor=None, goal=None, design_row=None, baseline="prefetch=0", repeats=5),
]
