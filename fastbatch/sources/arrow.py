"""Arrow tables and Hugging Face datasets as batch sources: NumPy batches read in place.

``ArrowSource`` validates a table once (column types, nulls, buffer sizes) and then cuts
batches straight from the Arrow buffers: views for sequential row ranges inside one chunk,
one gather pass (its ``TableSource``, ``fastbatch.sources._table``) for everything else, across chunks without
concatenating them.  pyarrow is imported only when a table is handed over.
"""

import sys

import numpy as np

from fastbatch.sources.arrow_columns import (
    LIST, RaggedBatch, as_fill_number, as_table, build_source, check_fits, check_pad_to,
    column_names, describe, import_pyarrow, segment_starts, without_nulls,
)
from fastbatch._validation import check_int

__all__ = ["ArrowSource", "RaggedBatch", "arrow_source_for", "is_table_like"]


def is_table_like(obj):
    """True for the inputs ``ArrowSource`` reads: Arrow tables and record batches,
    Hugging Face ``Dataset`` (and ``DatasetDict``, to reject it clearly).

    Needs neither package installed: an object of theirs implies they are imported.

    Examples
    --------
    >>> import numpy as np
    >>> from fastbatch.sources.arrow import is_table_like
    >>> is_table_like(np.zeros(3))
    False
    """
    pa = sys.modules.get("pyarrow")
    if pa is not None and isinstance(obj, (pa.Table, pa.RecordBatch)):
        return True
    hf = sys.modules.get("datasets")
    return hf is not None and isinstance(obj, (hf.Dataset, hf.DatasetDict))


def arrow_source_for(arrays, **options):
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
    >>> from fastbatch.sources.arrow import ArrowSource
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
        # The Source the batch iterator reads.
        self.source = build_source(chunked, self._columns, self._starts, n, self._pad_to,
                                   pad_value, self._rows)

    def __repr__(self):
        return f"ArrowSource(<{self.n_samples} rows>, columns={self.names})"

    def gather(self, indices):
        """Rows ``indices`` (int64 array) of every column, as new arrays, in that order.

        Examples
        --------
        >>> import numpy as np, pyarrow as pa
        >>> from fastbatch.sources.arrow import ArrowSource
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
        return self.source.gather(np.ascontiguousarray(idx, dtype=np.int64))

    def view(self, start, stop, step=1):
        """Rows ``range(start, stop, step)`` of every column; views where possible.

        Examples
        --------
        >>> import numpy as np, pyarrow as pa
        >>> from fastbatch.sources.arrow import ArrowSource
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
        return self.source.views_py(start, stop, step)
