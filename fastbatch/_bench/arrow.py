"""Cases: a shuffled epoch of a numeric Arrow table through ``fb.BatchLoader`` against what
an Arrow or Hugging Face user writes today: ``table.take`` per batch, and
``datasets.Dataset.shuffle()`` with batched iteration."""

import functools

import numpy as np

import fastbatch as fb
from fastbatch._bench.registry import SEED, Case, Traffic

REPORT_ORDER = 27
_ARROW_ROW = ("shuffled epoch of a numeric Arrow table 1e6×16: `datasets.Dataset.shuffle()` "
              "+ batched iteration; `table.take(idx)` per batch")
D, BATCH = 16, 256


def make_table(n, d=D, chunk_rows=None):
    """A table of ``d`` float32 columns (one chunk, or chunks of ``chunk_rows`` rows)."""
    import pyarrow as pa

    data = np.random.default_rng(SEED).standard_normal((d, n), dtype=np.float32)
    table = pa.table({f"c{j}": data[j] for j in range(d)})
    if chunk_rows is None:
        return table
    return pa.Table.from_batches(table.to_batches(max_chunksize=chunk_rows))


def fastbatch_epoch(table, batch_size=BATCH):
    """One shuffled epoch of dict batches: ``(batches, last batch)``."""
    loader = fb.BatchLoader(table, batch_size=batch_size, shuffle=True, rng=SEED)
    batch = None
    for batch in loader:
        pass
    return loader.step, batch


def _take_epoch(table, batch_size=BATCH):
    idx = np.random.default_rng(SEED).permutation(table.num_rows)
    names = table.column_names
    batch = None
    for i in range(0, len(idx), batch_size):
        taken = table.take(idx[i:i + batch_size])
        batch = {c: taken[c].to_numpy() for c in names}
    return len(range(0, len(idx), batch_size)), batch


def _datasets_epoch(dataset, batch_size=BATCH):
    batch, count = None, 0
    for count, batch in enumerate(
            dataset.shuffle(seed=SEED).with_format("numpy").iter(batch_size=batch_size), 1):
        pass
    return count, batch


def _take_setup(n, chunk_rows=None):
    table = make_table(n, chunk_rows=chunk_rows)
    return {"table.take": functools.partial(_take_epoch, table),
            "fastbatch": functools.partial(fastbatch_epoch, table)}


def _datasets_setup(n):
    import datasets

    table = make_table(n)
    return {"datasets": functools.partial(_datasets_epoch, datasets.Dataset(table)),
            "fastbatch": functools.partial(fastbatch_epoch, table)}


def _traffic(n):
    # Every column's values once: a table row is D cache lines apart, one per column.
    return Traffic(tuple((n, 4) for _ in range(D)))


CASES = [
    Case(group="arrow-take-1e6x16", title=f"shuffled epoch of a table {{n}}x{D} float32 "
         f"B={BATCH} vs table.take", suite="arrow", setup=_take_setup, n=10**6,
         quick_n=10**4, floor=2.0, goal=None, design_row=_ARROW_ROW, baseline="table.take",
         repeats=5, requires=("pyarrow",), traffic=_traffic),
    Case(group="arrow-take-chunked-1e6x16",
         title="same, table in 64K-row chunks, vs table.take (info)", suite="arrow",
         setup=functools.partial(_take_setup, chunk_rows=1 << 16), n=10**6, quick_n=10**4,
         floor=None, goal=None, design_row=None, baseline="table.take", repeats=3,
         requires=("pyarrow",)),
    # datasets reads a shuffled Dataset through an indices mapping, row group by row
    # group: about a minute per epoch at 1e6 here, so it is timed once.
    Case(group="arrow-datasets-1e6x16", title=f"shuffled epoch of a table {{n}}x{D} float32 "
         f"B={BATCH} vs datasets", suite="arrow", setup=_datasets_setup, n=10**6,
         quick_n=10**4, floor=10.0, goal=None, design_row=_ARROW_ROW, baseline="datasets",
         repeats=1, requires=("pyarrow", "datasets")),
]
