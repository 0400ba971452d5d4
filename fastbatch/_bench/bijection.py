"""Cases: ``fb.index_shuffle`` (the keyed bijection) against NumPy's permutation and
Grain's ``index_shuffle``; a bijective shuffled epoch against an exact one; the scaling
of ``index_shuffle`` in ns per index from n = 1e3 to 1e12."""

import functools

import numpy as np

import fastbatch as fb
from fastbatch._bench.data import features
from fastbatch._bench.registry import SEED, Case, Series

REPORT_ORDER = 25
_ROW = "`index_shuffle` of a whole epoch's positions, n = 1e8"
# Above this many positions the scaling series times a sample of them (spread over the
# whole range): a 1e12-element order cannot be computed whole.
SAMPLE = 2**22


def _whole_epoch_setup(n):
    positions = np.arange(n, dtype=np.int64)
    return {"numpy": lambda: np.random.default_rng(SEED).permutation(n),
            "fastbatch": lambda: fb.index_shuffle(positions, n, SEED)}


def _grain_indices(n, count):
    from grain.experimental import index_shuffle

    return [index_shuffle(i, max_index=n - 1, seed=SEED, rounds=4) for i in range(count)]


def _grain_setup(count, n=10**8):
    """The first ``count`` positions of an order of ``n``: a Python call per index
    (Grain) against one vectorised call."""
    positions = np.arange(count, dtype=np.int64)
    return {"grain": functools.partial(_grain_indices, n, count),
            "fastbatch": lambda: fb.index_shuffle(positions, n, SEED)}


def _epoch(X, y, batch_size, method):
    loader = fb.BatchLoader(X, y, batch_size=batch_size, shuffle=True, rng=SEED,
                            shuffle_method=method)
    batch = None
    for batch in loader:
        pass
    return loader.step, batch


def _epoch_setup(n, d=16, dtype=np.float32, batch_size=256):
    X, y = features(n, d, dtype)
    return {"exact": functools.partial(_epoch, X, y, batch_size, "exact"),
            "fastbatch": functools.partial(_epoch, X, y, batch_size, "bijective")}


CASES = [
    Case(group="index-shuffle-1e8", title="index_shuffle of all positions n={n}",
         suite="bijection", setup=_whole_epoch_setup, n=10**8, quick_n=2 * 10**6,
         floor=1.0, goal=None, design_row=_ROW, repeats=3),
    # Grain answers one index per Python call (~5-8 us); the ratio is per index.
    Case(group="index-shuffle-vs-grain", title="index_shuffle of {n} indices vs Grain",
         suite="bijection", setup=_grain_setup, n=10**5, quick_n=10**4, floor=1000.0,
         goal=None, design_row=_ROW, baseline="grain", repeats=3, requires=("grain",)),
    # The price of O(1) memory: each batch's indices computed when it is cut.
    Case(group="epoch-bijective-vs-exact-1e6x16-float32-B256",
         title="bijective vs exact shuffled epoch {n}x16 float32 B=256 (info)",
         suite="bijection", setup=_epoch_setup, n=10**6, quick_n=10**5, floor=None,
         goal=None, design_row=None, baseline="exact"),
]


def _sampled_positions(n):
    """All positions of an order of ``n``, or ``SAMPLE`` of them spread over it."""
    if n <= SAMPLE:
        return np.arange(n, dtype=np.int64)
    return np.random.default_rng(SEED).integers(0, n, SAMPLE, dtype=np.int64)


def _index_shuffle_call(n):
    return functools.partial(fb.index_shuffle, _sampled_positions(n), n, SEED)


SERIES = [
    Series("index_shuffle", _index_shuffle_call, tuple(10**k for k in range(3, 13)),
           (10**3, 10**6, 10**12), per="index",
           elements=functools.partial(min, SAMPLE)),
]
