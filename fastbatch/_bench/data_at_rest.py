"""Cases: data at rest.  A block-shuffled epoch of a ``.npy`` file read cold (its pages
dropped from the page cache first, as for a file larger than the cache) against a bare
sequential read of the same file and against an exact shuffle of it; and a block epoch
of data in memory against an exact one.

The files are written by the case itself, into a temporary folder removed with the
case's data (``fastbatch bench --only data-at-rest`` runs just these rows).
"""

import functools
import itertools
import os
import tempfile

import numpy as np

import fastbatch as fb
from fastbatch._bench.data import features
from fastbatch._bench.registry import SEED, Case, format_count

# Last: writing and reading a file of gigabytes churns the page cache and the disk, which
# would slow the rows timed after it.
REPORT_ORDER = 90
_COLD_ROW = ("cold block-shuffled epoch of a 4 GiB `.npy` (float32, 16 columns), B=256 vs "
             "bare sequential read of the same file, cold, same run")
_EXACT_ROW = ("same file: block-shuffled vs exact-shuffled rows per second (first 2000 "
              "batches, cold)")
_MEMORY_ROW = "block-shuffled epoch of in-memory 1e6×16 float32, B=256 vs exact"
COLUMNS = 16
BATCH = 256
FIRST_BATCHES = 2000
READ_BYTES = 8 << 20
WRITE_ROWS = 1 << 20


def sync(path):
    """Write the file's dirty pages to the disk (dirty pages cannot be dropped)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def drop_pages(path):
    """Evict the file's pages from the page cache (``POSIX_FADV_DONTNEED``): the next
    read of it is cold."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


class NpyFile:
    """A ``.npy`` file of ``n`` rows of ``columns`` standard normal values (16 float32
    columns by default; ``columns=None``: a vector) in a temporary folder that is removed
    when this object is (``drop()`` evicts its pages from the page cache).  ``rows(start,
    block)``, if given, computes the values of rows ``start, ...`` from ``block``, the
    normal values drawn for them."""

    def __init__(self, n, columns=COLUMNS, dtype=np.float32, rows=None):
        self._folder = tempfile.TemporaryDirectory(prefix="fastbatch-bench-")
        self.path = os.path.join(self._folder.name, "x.npy")
        shape = (n,) if columns is None else (n, columns)
        out = np.lib.format.open_memmap(self.path, mode="w+", dtype=dtype, shape=shape)
        rng = np.random.default_rng(SEED)
        for start in range(0, n, WRITE_ROWS):
            stop = min(n, start + WRITE_ROWS)
            block = rng.standard_normal((stop - start,) + shape[1:], dtype)
            out[start:stop] = block if rows is None else rows(start, block)
        out.flush()
        del out
        sync(self.path)

    def drop(self):
        """Evict the file's pages from the page cache: the next read is cold."""
        drop_pages(self.path)

    def mapped(self):
        return np.load(self.path, mmap_mode="r")


# Every timed call starts cold and drops the pages it brought in before it returns: each
# side pays for evicting its own reads, not for what the other side left cached (an exact
# shuffle's first 2000 batches cache gigabytes of pages, one per row).

def bare_read(file):
    """Cold: the whole file read in order, 8 MiB at a time (the disk's sequential speed)."""
    file.drop()
    buffer = bytearray(READ_BYTES)
    total = 0
    with open(file.path, "rb", buffering=0) as f:
        while True:
            got = f.readinto(buffer)
            if not got:
                break
            total += got
    file.drop()
    return total


def block_epoch(file, batches=None, method="block"):
    """Cold: one shuffled epoch of the memory-mapped file (its first ``batches``)."""
    file.drop()
    loader = fb.BatchLoader(file.mapped(), batch_size=BATCH, shuffle=True, rng=SEED,
                            shuffle_method=method)
    rows = 0
    for batch in itertools.islice(loader, batches):
        rows += len(batch)
    del loader
    file.drop()
    return rows


def _cold_setup(n):
    file = NpyFile(n)
    return {"bare read": functools.partial(bare_read, file),
            "fastbatch": functools.partial(block_epoch, file)}


def _exact_setup(n):
    file = NpyFile(n)
    return {"exact": functools.partial(block_epoch, file, FIRST_BATCHES, "exact"),
            "fastbatch": functools.partial(block_epoch, file, FIRST_BATCHES)}


def _memory_epoch(X, method):
    rows = 0
    for batch in fb.BatchLoader(X, batch_size=BATCH, shuffle=True, rng=SEED,
                                shuffle_method=method):
        rows += len(batch)
    return rows


def _memory_setup(n):
    X, _ = features(n, COLUMNS, np.float32)
    return {"exact": functools.partial(_memory_epoch, X, "exact"),
            "fastbatch": functools.partial(_memory_epoch, X, "block")}


GIB_ROWS = (1 << 30) // (COLUMNS * 4)

CASES = [
    Case(group=f"data-at-rest-cold-npy-{format_count(4 * GIB_ROWS)}x16",
         title="cold block epoch of a .npy {n}x16 float32 B=256 vs bare read",
         suite="data_at_rest", setup=_cold_setup, n=4 * GIB_ROWS, quick_n=GIB_ROWS // 16,
         floor=0.5, goal=0.8, design_row=_COLD_ROW, baseline="bare read", repeats=3),
    Case(group=f"data-at-rest-cold-npy-first-{FIRST_BATCHES}-batches",
         title=f"cold .npy {{n}}x16: first {FIRST_BATCHES} batches, block vs exact",
         suite="data_at_rest", setup=_exact_setup, n=4 * GIB_ROWS, quick_n=GIB_ROWS // 16,
         floor=20.0, goal=100.0, design_row=_EXACT_ROW, baseline="exact", repeats=1),
    Case(group="data-at-rest-memory-1e6x16",
         title="block epoch of in-memory {n}x16 float32 B=256 vs exact",
         suite="data_at_rest", setup=_memory_setup, n=10**6, quick_n=10**6,
         floor=1.0, goal=None, design_row=_MEMORY_ROW, baseline="exact"),
]
