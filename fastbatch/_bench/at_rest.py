"""Cases and measures of data at rest beyond the epoch rows of :mod:`.data_at_rest`.

* A 1-epoch ``fit`` with the block shuffle on a cold memory-mapped X (4 GiB of float64,
  32 columns) and y, against a bare sequential read of both files, cold, in the same run.
* The shuffle's quality: a 5-epoch fit on rows sorted by target, block (its defaults)
  against exact, with a table over ``shuffle_window``.
* The anonymous memory a block-shuffled epoch of a 1 GiB ``.npy`` file holds.
* What each of two ranks (processes of one machine) reads from the disk in one
  block-shuffled epoch of a cold 1 GiB ``.npy`` file: they share the page cache.

Files are written into temporary folders removed with the case's data
(``fastbatch bench --only data-at-rest`` runs these rows with the other data-at-rest
rows).
"""

import functools
import multiprocessing

import numpy as np

import fastbatch as fb
from fastbatch._bench.data import regression_data
from fastbatch._bench.data_at_rest import COLUMNS as COLUMNS_OF_FILE
from fastbatch._bench.data_at_rest import GIB_ROWS, NpyFile, bare_read
from fastbatch._bench.registry import SEED, Case, Measure, format_count

REPORT_ORDER = 91          # after the other data-at-rest rows: it churns the page cache
FIT_COLUMNS = 32
FIT_ROWS = (4 << 30) // (FIT_COLUMNS * 8)
QUALITY_ROWS, QUALITY_COLUMNS, QUALITY_EPOCHS = 10**6, 16, 5
WINDOWS = (1, 4, 16, 64, None)         # None: one window of every block (exact)
ANON_LIMIT = 96 << 20
_FIT_ROW = ("fused SGD `fit`, 1 epoch, block shuffle, cold memory-mapped X (4 GiB "
            "float64, 32 columns) and y vs bare sequential read of X and y, cold, same run")
_QUALITY_ROW = ("shuffle quality: 5-epoch SGD on rows sorted by target, block (default "
                "block, window 16) vs the same fit with an exact shuffle")
_ANON_ROW = "anonymous memory during a block-shuffled epoch of a file of any size"
_RANKS_ROW = ("several processes: what each rank reads per epoch (ranks of one machine "
              "share the page cache for memory-mapped files)")
RANKS = 2


class FitFiles:
    """X (``n`` x 32 float64, standard normal) and y (a noisy linear model of X) as
    ``.npy`` files in temporary folders."""

    def __init__(self, n):
        self.X = NpyFile(n, FIT_COLUMNS, np.float64)
        X = self.X.mapped()
        coef = np.random.default_rng(SEED + 1).standard_normal(FIT_COLUMNS)
        self.y = NpyFile(n, None, np.float64,
                         rows=lambda start, noise: X[start:start + len(noise)] @ coef
                         + 0.5 * noise)

    def drop(self):
        self.X.drop()
        self.y.drop()


def bare_read_both(files):
    """Cold: X then y read in order (see :func:`bare_read`)."""
    return bare_read(files.X) + bare_read(files.y)


def cold_fit(files):
    """Cold: a 1-epoch block-shuffled fit of the memory-mapped files."""
    files.drop()
    est = fb.MiniBatchSGDRegressor(epochs=1, shuffle_method="block", random_state=SEED)
    est.fit(files.X.mapped(), files.y.mapped())
    files.drop()
    return est.coef_


def _fit_setup(n):
    files = FitFiles(n)
    return {"bare read": functools.partial(bare_read_both, files),
            "fastbatch": functools.partial(cold_fit, files)}


# -- quality -----------------------------------------------------------------------------

def sorted_by_target(n, d):
    """A noisy linear model whose rows are sorted by target: the order a block shuffle
    must undo (a model fitted on one window's rows alone sees one range of targets)."""
    X, y = regression_data(n, d)
    order = np.argsort(y, kind="stable")
    return np.ascontiguousarray(X[order]), np.ascontiguousarray(y[order])


def final_loss(X, y, **options):
    """Half the mean squared error on all rows after a 5-epoch fit."""
    est = fb.MiniBatchSGDRegressor(epochs=QUALITY_EPOCHS, random_state=SEED, **options)
    est.fit(X, y)
    return 0.5 * float(np.mean((y - est.predict(X)) ** 2))


def measure_quality(n):
    X, y = sorted_by_target(n, QUALITY_COLUMNS)
    exact = final_loss(X, y)
    block = final_loss(X, y, shuffle_method="block")
    blocks = -(-X.nbytes // (1 << 20))
    details = [f"exact {exact:.6g}, block (window 16) {block:.6g}: "
               f"{100 * (block / exact - 1):+.3f}%; ~{blocks} natural blocks of ~1 MiB",
               "shuffle_window  final loss  vs exact"]
    for window in WINDOWS:
        # A window of at least every block is one exactly uniform permutation.
        loss = final_loss(X, y, shuffle_method="block",
                          shuffle_window=len(X) if window is None else window)
        label = "all blocks" if window is None else str(window)
        details.append(f"{label:>14}  {loss:10.6g}  {100 * (loss / exact - 1):+.3f}%")
    return {"value": block, "baseline": exact, "unit": "", "details": details}


def _relative_gap(result):
    return abs(result["value"] / result["baseline"] - 1)


# -- anonymous memory ---------------------------------------------------------------------

def anonymous_bytes():
    """RssAnon of this process (Linux), or None where /proc does not report it."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def anonymous_epoch(path, results):
    """In a fresh process (a heap holding nothing freed yet): RssAnon before the loader is
    built, and its peak during one block-shuffled epoch, sampled every 64 batches."""
    before = anonymous_bytes()
    loader = fb.BatchLoader(fb.open_files(path), batch_size=256, shuffle=True, rng=SEED,
                            shuffle_method="block")
    peak = before
    for i, _ in enumerate(loader):
        if i % 64 == 0:
            peak = max(peak, anonymous_bytes())
    results.put((before, peak))


def measure_anonymous_memory(n):
    if anonymous_bytes() is None:
        raise RuntimeError("this platform does not report RssAnon (/proc/self/status)")
    file = NpyFile(n)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=anonymous_epoch, args=(file.path, results))
    process.start()
    before, peak = results.get(timeout=600)
    process.join()
    size = n * COLUMNS_OF_FILE * 4
    return {"value": (peak - before) / (1 << 20), "baseline": None, "unit": "MiB",
            "details": [f"peak RssAnon above the start during one epoch of a "
                        f"{size / (1 << 30):.2f} GiB .npy file (defaults: ~1 MiB blocks, "
                        f"window 16), in a fresh process, sampled every 64 batches; "
                        f"{before / (1 << 20):.0f} MiB before the loader was built"]}


# -- what each rank reads ------------------------------------------------------------------

def disk_read_bytes():
    """Bytes this process caused to be read from storage (/proc/self/io), or None."""
    try:
        with open("/proc/self/io") as io:
            for line in io:
                if line.startswith("read_bytes:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rank_epoch(path, rank, world_size, start, results):
    """One rank's block-shuffled epoch of the file: (rank, rows, bytes read from disk)."""
    loader = fb.BatchLoader(fb.open_files(path), batch_size=256, shuffle=True, rng=SEED,
                            shuffle_method="block", rank=rank, world_size=world_size)
    start.wait()
    before, rows = disk_read_bytes(), 0
    for batch in loader:
        rows += len(batch)
    results.put((rank, rows, disk_read_bytes() - before))


def measure_rank_reads(n):
    file = NpyFile(n)
    file.drop()
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(RANKS), context.Queue()
    ranks = [context.Process(target=rank_epoch, args=(file.path, r, RANKS, start, results))
             for r in range(RANKS)]
    for process in ranks:
        process.start()
    got = sorted(results.get(timeout=600) for _ in ranks)
    for process in ranks:
        process.join()
    file.drop()
    size = n * COLUMNS_OF_FILE * 4
    total = sum(read for _, _, read in got)
    details = [f"rank {r}: {rows} rows ({rows * COLUMNS_OF_FILE * 4 / 2**20:.0f} MiB "
               f"served), {read / 2**20:.0f} MiB read from the disk"
               for r, rows, read in got]
    details.append(f"both: {total / 2**20:.0f} MiB read of a {size / 2**20:.0f} MiB file, "
                   "cold; a rank reads rows of every window (DistributedSampler's split of "
                   "one block order), the page cache serves the other rank's pages")
    return {"value": total / size, "baseline": None, "unit": "x the file",
            "details": details}


CASES = [
    Case(group=f"data-at-rest-cold-fit-{format_count(FIT_ROWS)}x32",
         title="cold block fit, 1 epoch, memory-mapped {n}x32 float64 vs bare read of X, y",
         suite="data_at_rest", setup=_fit_setup, n=FIT_ROWS, quick_n=FIT_ROWS // 64,
         floor=0.5, goal=0.8, design_row=_FIT_ROW, baseline="bare read", repeats=3),
]

MEASURES = [
    Measure(group="data-at-rest-quality-sorted-targets",
            title="block vs exact: final loss of a 5-epoch fit, {n}x16 sorted by target",
            suite="data_at_rest", measure=measure_quality, n=QUALITY_ROWS,
            quick_n=QUALITY_ROWS // 10, bound="within 1% of exact",
            passes=lambda r: _relative_gap(r) <= 0.01,
            reaches_goal=lambda r: _relative_gap(r) <= 0.001, design_row=_QUALITY_ROW),
    Measure(group="data-at-rest-anonymous-memory",
            title="anonymous memory of a block epoch, .npy {n}x16 float32",
            suite="data_at_rest", measure=measure_anonymous_memory, n=GIB_ROWS,
            quick_n=GIB_ROWS // 16, bound="<= 96 MiB",
            passes=lambda r: r["value"] * (1 << 20) <= ANON_LIMIT, design_row=_ANON_ROW),
    Measure(group="data-at-rest-rank-reads",
            title=f"disk reads of {RANKS} ranks' block epoch, cold .npy {{n}}x16 float32",
            suite="data_at_rest", measure=measure_rank_reads, n=GIB_ROWS,
            quick_n=GIB_ROWS // 16, bound=f"< {RANKS}x the file (not one read per rank)",
            passes=lambda r: r["value"] < RANKS, design_row=_RANKS_ROW),
]
