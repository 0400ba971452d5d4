"""Cases: Parquet at rest.  A block-shuffled epoch of a 1 GiB Parquet file (16 float32
columns, row groups of 64 Ki rows, snappy) read cold, against pyarrow's sequential
``ParquetFile.iter_batches`` of the same file, cold, and the first rows of such an epoch
against Hugging Face ``IterableDataset.shuffle(buffer_size=10_000)`` streaming the file.

The files are written by the case itself, into a temporary folder removed with the
case's data (``fastbatch bench --only data-at-rest`` runs these rows with the ``.npy``
ones).
"""

import functools
import itertools
import os
import tempfile

import numpy as np

import fastbatch as fb
from fastbatch._bench.data_at_rest import drop_pages, sync
from fastbatch._bench.registry import SEED, Case, format_count

# With the other data-at-rest rows, last (see data_at_rest.py).
REPORT_ORDER = 90
_COLD_ROW = ("cold block-shuffled epoch of a 1 GiB Parquet file (16 float32 columns, "
             "64Ki-row groups, snappy) vs `pyarrow.parquet.ParquetFile.iter_batches`, "
             "sequential, cold, same run")
_HF_ROW = ("same Parquet data vs Hugging Face `IterableDataset.shuffle(buffer_size=10_000)` "
           "batched")
COLUMNS = 16
BATCH = 256
GROUP_ROWS = 1 << 16
GIB_ROWS = (1 << 30) // (COLUMNS * 4)
# Hugging Face streams a few hundred thousand rows a second at best: both sides read the
# first HF_ROWS rows of a cold shuffled epoch (rows per second compared).
HF_ROWS = 1 << 20
HF_BUFFER = 10_000


class ParquetData:
    """A Parquet file of ``n`` rows of 16 float32 columns in row groups of 64 Ki rows
    (snappy) in a temporary folder that is removed when this object is (``drop()``
    evicts its pages from the page cache)."""

    def __init__(self, n):
        import pyarrow as pa
        import pyarrow.parquet as pq
        self._folder = tempfile.TemporaryDirectory(prefix="fastbatch-bench-")
        self.path = os.path.join(self._folder.name, "x.parquet")
        rng = np.random.default_rng(SEED)
        schema = pa.schema([(f"c{j}", pa.float32()) for j in range(COLUMNS)])
        with pq.ParquetWriter(self.path, schema, compression="snappy") as writer:
            for start in range(0, n, GROUP_ROWS):
                rows = min(n, start + GROUP_ROWS) - start
                block = rng.standard_normal((COLUMNS, rows), np.float32)
                writer.write_table(pa.table(list(block), schema=schema),
                                   row_group_size=GROUP_ROWS)
        sync(self.path)

    def drop(self):
        """Evict the file's pages from the page cache: the next read is cold."""
        drop_pages(self.path)


# Every timed call starts cold and drops the pages it brought in before it returns.

def iter_batches(data):
    """Cold: pyarrow's sequential read of the whole file, a row group per batch."""
    import pyarrow.parquet as pq
    data.drop()
    rows = sum(batch.num_rows for batch in
               pq.ParquetFile(data.path).iter_batches(batch_size=GROUP_ROWS))
    data.drop()
    return rows


def block_epoch(data, rows=None):
    """Cold: a block-shuffled epoch of the file (its first ``rows`` rows), B=256."""
    data.drop()
    loader = fb.BatchLoader(fb.open_files(data.path), batch_size=BATCH, shuffle=True,
                            rng=SEED, shuffle_method="block")
    batches = None if rows is None else -(-rows // BATCH)
    seen = sum(len(batch["c0"]) for batch in itertools.islice(loader, batches))
    del loader
    data.drop()
    return seen


def hf_stream(data, rows):
    """Cold: the first ``rows`` rows of Hugging Face's shuffled stream of the file, in
    batches of 256 NumPy columns."""
    import datasets
    data.drop()
    stream = datasets.load_dataset("parquet", data_files=data.path, split="train",
                                   streaming=True)
    shuffled = stream.shuffle(buffer_size=HF_BUFFER, seed=SEED).with_format("numpy")
    seen = 0
    for batch in shuffled.iter(batch_size=BATCH):
        seen += len(batch["c0"])
        if seen >= rows:
            break
    data.drop()
    return min(seen, rows)


def _cold_setup(n):
    data = ParquetData(n)
    return {"iter_batches": functools.partial(iter_batches, data),
            "fastbatch": functools.partial(block_epoch, data)}


def _hf_setup(n):
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    data = ParquetData(n)
    rows = min(n, HF_ROWS)
    return {"datasets": functools.partial(hf_stream, data, rows),
            "fastbatch": functools.partial(block_epoch, data, rows)}


CASES = [
    Case(group=f"data-at-rest-cold-parquet-{format_count(GIB_ROWS)}x16",
         title="cold block epoch of a Parquet {n}x16 float32 B=256 vs iter_batches",
         suite="data_at_rest", setup=_cold_setup, n=GIB_ROWS, quick_n=GIB_ROWS // 16,
         floor=0.7, goal=1.5, design_row=_COLD_ROW, baseline="iter_batches", repeats=3,
         requires=("pyarrow",)),
    Case(group=f"data-at-rest-cold-parquet-first-{format_count(HF_ROWS)}-rows-hf",
         title=f"cold Parquet {{n}}x16: first {format_count(HF_ROWS)} rows, block vs "
               "datasets shuffle(buffer_size=10_000)",
         suite="data_at_rest", setup=_hf_setup, n=GIB_ROWS, quick_n=GIB_ROWS // 16,
         floor=10.0, goal=None, design_row=_HF_ROW, baseline="datasets", repeats=1,
         requires=("pyarrow", "datasets")),
]
