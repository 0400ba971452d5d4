"""Cases: ``fb.permutation`` against ``np.random.default_rng(seed).permutation``; its scaling."""

import functools
import threading

import numpy as np

import fastbatch as fb
from fastbatch._bench.registry import SEED, Case, Series, format_count

REPORT_ORDER = 10
_ROW = "`permutation(n)`, n = 1e6, 1e7, 1e8"


def _permutation_setup(n, dtype=np.int64):
    return {
        "numpy": lambda: np.random.default_rng(SEED).permutation(n),
        "fastbatch": lambda: fb.permutation(n, SEED, dtype=dtype),
    }


def _two_permutations_in_threads(n):
    out = [None, None]

    def work(i):
        out[i] = fb.permutation(n, SEED + i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out


def _threads_setup(n):
    return {
        "serial": lambda: [fb.permutation(n, SEED + i) for i in range(2)],
        "fastbatch": functools.partial(_two_permutations_in_threads, n),
    }


def _permutation_case(n, quick_n, repeats=7):
    return Case(group=f"permutation-{format_count(n)}", title="permutation n={n}",
                suite="permutation", setup=_permutation_setup, n=n, quick_n=quick_n,
                floor=4.0, goal=8.0, design_row=_ROW, repeats=repeats)


CASES = [
    _permutation_case(10**6, 10**6),
    _permutation_case(10**7, 2 * 10**6),
    _permutation_case(10**8, 4 * 10**6, repeats=3),
    Case(group="permutation-int32-1e7", title="permutation n={n} int32 (info)",
         suite="permutation", setup=functools.partial(_permutation_setup, dtype=np.int32),
         n=10**7, quick_n=2 * 10**6, floor=None, goal=None, design_row=None),
    # Two threads finish sooner than one after the other only if the kernel releases the
    # GIL.  No floor: on the shared 2-core machine the second core is often busy.
    Case(group="permutation-threads-1e7",
         title="2 threads x permutation n={n} vs serial (info)", suite="permutation",
         setup=_threads_setup, n=10**7, quick_n=2 * 10**6, floor=None, goal=None,
         design_row=None, baseline="serial"),
]


def _permutation_call(n, dtype):
    return functools.partial(fb.permutation, n, SEED, dtype=dtype)


_SIZES = tuple(10**k for k in range(3, 9))
# 1e9 int64: 8 GB of result plus the kernel's temporary buffers; opt-in (--huge).
SERIES = [
    Series(f"permutation {np.dtype(dtype).name}",
           functools.partial(_permutation_call, dtype=dtype), _SIZES, _SIZES[:4],
           huge_sizes=(10**9,))
    for dtype in (np.int64, np.int32)
]
