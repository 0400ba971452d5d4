"""Arrow tables and Hugging Face datasets as batch sources: NumPy batches read in place.

``ArrowSource`` validates a table once (column types, nulls, buffer sizes) and then cuts
batches straight from the Arrow buffers: views for sequential row ranges inside one chunk,
one gather pass (``fastbatch._arrow_take``) for everything else, across chunks without
concatenating them.  pyarrow is imported only when a table is handed over.
"""

import bisect
import sys
import threading
from typing import NamedTuple

import numpy as np

from fastbatch._arrow_columns import (
    LIST, RaggedBatch, as_fill_number, as_table, build_kernel, check_fits, check_pad_to,
    check_padded_batch, column_names,
    corrupt_offsets, describe, import_pyarrow, segment_starts, segment_view, without_nulls,
)
from fastbatch._iterator import BUSY, Progress
from fastbatch._order import count_batches
from fastbatch._validation import check_int

__all__ = ["ArrowSource", "RaggedBatch", "SourceBatches", "SourcePlan", "is_table_like",
           "source_for"]


def is_table_like(obj):
    """True for the inputs ``ArrowSource`` reads: Arrow tables and record batches,
    Hugging Face ``Dataset`` (and ``DatasetDict``, to reject it clearly).

    Needs neither package installed: an object of theirs implies they are imported.

    Examples
    --------
    >>> import numpy as np
    >>> from fastbatch._arrow import is_table_like
    >>> is_table_like(np.zeros(3))
    False
    """
    pa = sys.modules.get("pyarrow")
    if pa is not None and isinstance(obj, (pa.Table, pa.RecordBatch)):
        return True
    hf = sys.modules.get("datasets")
    return hf is not None and isinstance(obj, (hf.Dataset, hf.DatasetDict))


def source_for(arrays, **options):
    """The ``ArrowSource`` for a loader's inputs when they are one table, else None.

    Raises when a table comes with other inputs, or table options without a table.
    """
    tables = [i for i, a in enumerate(arrays) if is_table_like(a)]
    if tables and len(arrays) > 1:
        raise TypeError(f"input {tables[0]} is a table: a table must be the only input "
                        f"(got {len(arrays)} inputs); its columns are the aligned arrays")
    if tables:
        return ArrowSource(arrays[0], **options)
    given = [k for k, v in options.items() if v != _TABLE_DEFAULTS[k]]
    if given:
        raise TypeError(f"{', '.join(given)} apply only to an Arrow table or Hugging Face "
                        "Dataset input; the inputs are arrays")
    return None


_TABLE_DEFAULTS = {"columns": None, "pad_to": None, "pad_value": 0, "fill_null": None}


class ArrowSource:
    """Batches of an Arrow table's columns as NumPy arrays, read from the Arrow buffers.

    Parameters
    ----------
    table : pyarrow.Table, pyarrow.RecordBatch or datasets.Dataset
        Memory-mapped tables (``pa.ipc.open_file(pa.memory_map(path)).read_all()``)
        are read in place.  A Dataset's indices mapping (``select``, ``shuffle``,
        ``train_test_split``) is honoured: its row ``i`` is table row ``indices[i]``.
    columns : list of str, optional
        Columns to read, in this order (default: all).  Every batch is a dict in it.
    pad_to : None, "longest" or int, default None
        Variable-length list columns (``list``/``large_list`` of numbers) come as a
        ``RaggedBatch(values, offsets)`` by default.  With ``pad_to`` they come as a
        dense ``(rows, width)`` array filled with ``pad_value``: width the batch's longest
        row ("longest") or ``pad_to``; longer rows are **truncated** to their first
        ``pad_to`` values (as tokenizers' ``truncation=True``).
    pad_value : int or float, default 0
        Padding; must be representable in every padded column's value type.
    fill_null : int or float, optional
        Nulls are an error by default.  With ``fill_null`` the nulls of primitive
        columns are replaced by it, once, at construction (``pyarrow.compute.fill_null``:
        those columns are copied into memory).  Nulls in list columns stay an error.

    Notes
    -----
    Readable columns: integers, floats (float16/32/64), booleans, fixed-size lists of
    numbers (``(rows, size)`` arrays, nested ones add dimensions) and variable-length
    lists of numbers.  Anything else raises ``TypeError`` naming the column and type.

    ``view`` returns read-only **views** of the Arrow buffers for numeric and fixed-size
    list columns when the rows lie in one chunk (one copy when they straddle chunks);
    a ragged column's values are a view and its offsets a fresh array.  Boolean columns
    are bit-packed in Arrow, so they are always unpacked into a new ``bool`` array.
    ``gather`` always returns new arrays, all columns filled in one kernel call (two when
    list columns are present: offsets, then values).

    Examples
    --------
    >>> import numpy as np, pyarrow as pa
    >>> from fastbatch._arrow import ArrowSource
    >>> table = pa.table({"x": [1.0, 2.0, 3.0], "ids": [[1, 2], [], [3]]})
    >>> source = ArrowSource(table, pad_to="longest", pad_value=-1)
    >>> source.n_samples, source.names
    (3, ['x', 'ids'])
    >>> batch = source.gather(np.array([2, 0]))
    >>> batch["x"].tolist(), batch["ids"].tolist()
    ([3.0, 1.0], [[3, -1], [1, 2]])
    """

    def __init__(self, table, columns=None, pad_to=None, pad_value=0, fill_null=None):
        pa = import_pyarrow()
        table, self._rows = as_table(pa, table)
        self.names = column_names(table, columns)
        self._pad_to = check_pad_to(pad_to)
        if fill_null is not None:
            as_fill_number(fill_null, "fill_null")
        chunked, self._columns = [], []
        for name in self.names:
            data = table.column(name)
            column = describe(pa, name, data.type)
            data = without_nulls(pa, column, data, fill_null)
            chunked.append(data)
            self._columns.append(column)
        lists = [c for c in self._columns if c.kind == LIST]
        if self._pad_to is not None:
            if not lists:
                raise ValueError(f"pad_to={pad_to!r} but none of the columns {self.names} is "
                                 "a variable-length list")
            for column in lists:
                check_fits(pad_value, column.dtype, f"pad_value for column {column.name!r}")
        n = table.num_rows
        self._starts = segment_starts(chunked, n)
        self.n_samples = n if self._rows is None else len(self._rows)
        self._kernel = build_kernel(chunked, self._columns, self._starts, n,
                                    self._pad_to, pad_value)

    def __repr__(self):
        return f"ArrowSource(<{self.n_samples} rows>, columns={self.names})"

    def check_batch_rows(self, rows):
        """Raise ValueError naming ``pad_to`` unless a padded batch of ``rows`` rows can
        be one array on this platform."""
        check_padded_batch(self._columns, self._pad_to, rows)

    def gather(self, indices):
        """Rows ``indices`` (int64 array) of every column, as new arrays, in that order.

        Examples
        --------
        >>> import numpy as np, pyarrow as pa
        >>> from fastbatch._arrow import ArrowSource
        >>> ArrowSource(pa.table({"a": [10, 20, 30]})).gather(np.array([2, 2]))["a"].tolist()
        [30, 30]
        """
        idx = np.asarray(indices)
        if idx.ndim != 1 or idx.dtype.kind not in "iu":
            raise TypeError(f"indices must be a 1-d integer array, got {idx.dtype} with "
                            f"shape {idx.shape}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_samples):
            raise IndexError(f"indices must lie in [0, {self.n_samples}), got values from "
                             f"{idx.min()} to {idx.max()}")
        return self._gather_rows(np.ascontiguousarray(idx, dtype=np.int64))

    def view(self, start, stop, step=1):
        """Rows ``range(start, stop, step)`` of every column; views where possible.

        Examples
        --------
        >>> import numpy as np, pyarrow as pa
        >>> from fastbatch._arrow import ArrowSource
        >>> table = pa.table({"a": np.arange(5.0)})
        >>> batch = ArrowSource(table).view(1, 5, 2)
        >>> batch["a"].tolist(), np.shares_memory(batch["a"], table["a"].chunks[0].buffers()[1])
        ([1.0, 3.0], True)
        """
        start = check_int(start, "start", minimum=0)
        stop = check_int(stop, "stop", minimum=start)
        step = check_int(step, "step", minimum=1)
        if stop > self.n_samples:
            raise IndexError(f"stop must be <= n_samples={self.n_samples}, got {stop}")
        if self._rows is not None:
            return self._take(np.ascontiguousarray(self._rows[start:stop:step]))
        if start == stop:
            return self._take(np.empty(0, dtype=np.int64))
        s = bisect.bisect_right(self._starts, start) - 1
        last = stop - 1 - (stop - 1 - start) % step
        if last >= self._starts[s + 1]:
            return self._take(np.arange(start, stop, step, dtype=np.int64))
        a, z = start - self._starts[s], last - self._starts[s] + 1
        out, copies = {}, []
        for c, column in enumerate(self._columns):
            batch = segment_view(column, column.segments[s], a, z, step,
                                  self._pad_to is None)
            if batch is None:
                copies.append(c)
            else:
                out[column.name] = batch
        if copies:
            out.update(self._take(np.arange(start, stop, step, dtype=np.int64), copies))
        return {name: out[name] for name in self.names}

    def _gather_rows(self, idx):
        # idx: trusted int64 row numbers of the source (before any indices mapping).
        return self._take(idx if self._rows is None else self._rows[idx])

    def _take(self, idx, wanted=None):
        """Table rows ``idx`` of columns ``wanted`` (default all), as a dict."""
        result = self._kernel.gather(idx, wanted)
        if isinstance(result, int):
            raise corrupt_offsets(self._columns[result - 1])
        return result


class SourcePlan(NamedTuple):
    """How a loader cuts an ``ArrowSource``'s epochs into batches (the table counterpart
    of ``fastbatch._iterator.BatchPlan``)."""

    source: "ArrowSource"
    batch_size: int
    drop_last: bool

    def n_batches(self, n_items):
        return count_batches(n_items, self.batch_size, self.drop_last)


class SourceBatches:
    """One epoch of batches of an ``ArrowSource``: the loader's ``BatchIterator`` for tables.

    Same contract as ``fastbatch._iterator.BatchIterator``: ``order`` is a
    ``fastbatch._order.RankOrder``; rows that form a stride of the table are handed out
    through ``ArrowSource.view``, other batches are gathered; ``progress`` moves only for
    iteration ``generation``; one iterator used by two threads at once raises.
    """

    def __init__(self, plan, order, first_batch=0, *, progress=None, generation=0):
        self._plan, self._order, self._next = plan, order, first_batch
        self._n_items = len(order)
        self._n_batches = plan.n_batches(self._n_items)
        self._progress = Progress() if progress is None else progress
        self._generation, self._finished = generation, False
        self._busy = threading.Lock()

    def __iter__(self):
        return self

    def __len__(self):
        return self._n_batches - self._next

    def __next__(self):
        if not self._busy.acquire(blocking=False):
            raise RuntimeError(BUSY)
        try:
            if self._next >= self._n_batches:
                if not self._finished:
                    self._finished = True
                    self._progress.finish(self._generation)
                raise StopIteration
            start = self._next * self._plan.batch_size
            stop = min(start + self._plan.batch_size, self._n_items)
            rows = self._order.rows(start, stop)
            if rows is not None:
                first, step = rows
                batch = self._plan.source.view(first, first + (stop - start - 1) * step + 1,
                                               step)
            else:
                batch = self._plan.source._gather_rows(self._order.sample_indices(start, stop))
            self._next += 1
            self._progress.advance(self._generation)
            return batch
        finally:
            self._busy.release()


