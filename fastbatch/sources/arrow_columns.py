"""How Arrow columns become NumPy: type and null checks, zero-copy segment views, and the
address tables of the table's Source (``fastbatch.sources._table``).

A *segment* is a row range that lies inside one chunk of every selected column (the
columns of a ``pyarrow.Table`` may be chunked differently).  Every column keeps, per
segment, NumPy views of its Arrow buffers; the kernel gets their addresses.
"""

import bisect
import functools
import math
import numbers
import sys
from typing import NamedTuple

import numpy as np

from fastbatch.sources._table import TableSource
from fastbatch._validation import PY_SSIZE_T_MAX, check_int, shown

PAD_LONGEST = "longest"
INSTALL_HINT = "pip install 'fastbatch[arrow]' (or 'fastbatch[hf]' for Hugging Face datasets)"
# Bucket count of the row -> segment lookup table, per segment: a row's segment is then
# found in the one or two segments its bucket overlaps, not by a search over all of them.
BUCKETS_PER_SEGMENT = 4

# Kinds, as in fastbatch.sources._table (kept in sync by a test).
FIXED, BITS, LIST = 0, 1, 2


class RaggedBatch(NamedTuple):
    """A batch of a variable-length list column, in Arrow's layout.

    Row ``i`` is ``values[offsets[i]:offsets[i + 1]]``.  ``offsets`` is int64, starts
    at 0 and has one entry more than the batch has rows, whatever the list type
    (``list`` or ``large_list``), so a batch never overflows 32-bit offsets.

    Examples
    --------
    >>> import numpy as np
    >>> from fastbatch import RaggedBatch
    >>> batch = RaggedBatch(np.array([5, 6, 7]), np.array([0, 2, 2, 3]))
    >>> [batch.values[a:b].tolist() for a, b in zip(batch.offsets[:-1], batch.offsets[1:])]
    [[5, 6], [], [7]]
    """

    values: np.ndarray
    offsets: np.ndarray


class Column:
    """How one column is read: kind, NumPy dtype, trailing shape, per-segment views."""

    __slots__ = ("name", "kind", "dtype", "shape", "width", "segments")

    def __init__(self, name, kind, dtype, shape=(), width=0):
        self.name, self.kind, self.dtype = name, kind, np.dtype(dtype)
        self.shape, self.width = shape, width
        self.segments = []


def import_pyarrow():
    try:
        import pyarrow
    except ImportError:
        raise ImportError(f"Arrow tables need pyarrow: {INSTALL_HINT}") from None
    return pyarrow


def as_table(pa, obj):
    """``(pyarrow.Table, rows)``: rows is a Dataset's indices mapping as int64, or None."""
    if isinstance(obj, pa.Table):
        return obj, None
    if isinstance(obj, pa.RecordBatch):
        return pa.Table.from_batches([obj]), None
    hf = sys.modules.get("datasets")
    if hf is not None and isinstance(obj, hf.DatasetDict):
        raise TypeError(f"table is a DatasetDict with splits {list(obj)}; pass one split, "
                        f"e.g. dataset[{next(iter(obj), 'train')!r}]")
    if hf is None or not isinstance(obj, hf.Dataset):
        raise TypeError("table must be a pyarrow.Table, a pyarrow.RecordBatch or a "
                        f"datasets.Dataset, got {type(obj).__name__}")
    if not hasattr(obj, "_indices"):
        # Where datasets keeps select/shuffle results; reading the table without it would
        # silently return the rows in the wrong order.
        raise TypeError(f"this datasets version ({hf.__version__}) keeps no indices mapping "
                        "in Dataset._indices; pass dataset.flatten_indices().data.table")
    table, indices = obj.data.table, obj._indices
    if indices is None:
        return table, None
    rows = np.ascontiguousarray(indices.column(0).to_numpy(), dtype=np.int64)
    if rows.size and (rows.min() < 0 or rows.max() >= table.num_rows):
        raise ValueError(f"the Dataset's indices mapping points outside its "
                         f"{table.num_rows} rows")
    return table, rows


def check_schema(schema, path, head, first, names, every):
    """The file ``path``'s Arrow ``schema`` against the first file's (``head``, of the
    file ``first``): every column of ``names`` there with the same type, and (``every``:
    all columns were asked for) no other column; a ValueError naming both files."""
    have = schema.names
    for name in names:
        if name not in have:
            raise ValueError(f"{path}: no column {name!r}, which {first} has")
        mine, theirs = schema.field(name).type, head.field(name).type
        if not mine.equals(theirs):
            raise ValueError(f"{path}: column {name!r} has type {mine}, but {first} has "
                             f"{theirs}; the files of one dataset must share their schema")
    extra = [name for name in have if name not in names]
    if every and extra:
        raise ValueError(f"{path}: columns {extra} that {first} does not have; the files "
                         "must share their schema (or pass columns=)")


def column_names(table, columns):
    names = table.column_names
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if columns is None:
        if duplicated:
            raise ValueError(f"the table has duplicate column names {duplicated}; pass "
                             "columns= with unambiguous names")
        if not names:
            raise ValueError("the table has no columns")
        return list(names)
    if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
        raise TypeError(f"columns must be a list of column names, got {columns!r}")
    columns = list(columns)
    missing = [c for c in columns if c not in names]
    if missing:
        raise KeyError(f"columns {missing} not in the table; it has {names}")
    repeated = sorted({c for c in columns if columns.count(c) > 1} | (set(columns) &
                                                                      set(duplicated)))
    if repeated:
        raise ValueError(f"columns {repeated} are named more than once")
    if not columns:
        raise ValueError("columns is empty; pass None for all columns")
    return columns


def _numeric_dtype(pa, t):
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return np.dtype(t.to_pandas_dtype())
    return None


def describe(pa, name, t):
    """The Column for a field, or a TypeError naming the column and its type."""
    if pa.types.is_boolean(t):
        return Column(name, BITS, np.bool_)
    if _numeric_dtype(pa, t) is not None:
        return Column(name, FIXED, _numeric_dtype(pa, t))
    shape, leaf = (), t
    while pa.types.is_fixed_size_list(leaf):
        shape, leaf = shape + (leaf.list_size,), leaf.value_type
    if shape and _numeric_dtype(pa, leaf) is not None:
        return Column(name, FIXED, _numeric_dtype(pa, leaf), shape)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        if _numeric_dtype(pa, t.value_type) is not None:
            return Column(name, LIST, _numeric_dtype(pa, t.value_type),
                          width=8 if pa.types.is_large_list(t) else 4)
    raise TypeError(f"column {name!r} has type {t}, which fastbatch cannot batch: it reads "
                    "integers, floats, booleans, fixed-size lists of numbers and "
                    f"variable-length lists of numbers{_hint(pa, t)}")


def _hint(pa, t):
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t):
        return " (encode text first, e.g. tokenize it into a list<int32> column)"
    if pa.types.is_dictionary(t):
        return " (decode it with .dictionary_decode(), or use its integer indices)"
    if pa.types.is_struct(t):
        return " (select its fields with table.flatten())"
    return ""


def check_pad_to(pad_to):
    if pad_to is None or pad_to == PAD_LONGEST:
        return pad_to
    if isinstance(pad_to, str):
        raise ValueError(f"pad_to must be None, {PAD_LONGEST!r} or an int >= 1, "
                         f"got {shown(pad_to)}")
    return check_int(pad_to, "pad_to", minimum=1, maximum=PY_SSIZE_T_MAX)


def check_padded_batch(columns, pad_to, rows):
    """Raise ValueError naming ``pad_to`` when a batch of ``rows`` rows padded to
    ``pad_to`` values would be larger than the largest array this platform allows
    (found here, not as NumPy's "array is too big" at the first batch)."""
    if not isinstance(pad_to, int):
        return
    for column in columns:
        if column.kind == LIST and rows * pad_to * column.dtype.itemsize > PY_SSIZE_T_MAX:
            raise ValueError(
                f"pad_to={pad_to} is too large: a batch of {rows} rows of column "
                f"{column.name!r} ({column.dtype}) would need "
                f"{rows * pad_to * column.dtype.itemsize} bytes, more than the largest "
                f"array this platform allows ({PY_SSIZE_T_MAX} bytes)")


def as_fill_number(value, name):
    """``value`` as a Python int or float; a TypeError naming ``name`` for anything else
    (a bool, a Fraction, a string), not an error from inside NumPy or pyarrow."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (numbers.Integral, float, np.floating)):
        raise TypeError(f"{name} must be an int or a float, got {shown(value)} of type "
                        f"{type(value).__name__}")
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def check_fits(value, dtype, name):
    """Raise unless the number ``value`` converts to ``dtype`` exactly (NaN/inf: floats).

    Compared in Python arithmetic, so a huge int or a float16 column raises no NumPy
    overflow warning.
    """
    value = as_fill_number(value, name)
    if dtype.kind == "b":
        ok = value in (0, 1)
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        whole = isinstance(value, int) or (math.isfinite(value) and value == int(value))
        ok = whole and info.min <= value <= info.max
    elif isinstance(value, int):
        # pyarrow takes an int for a float column only when it converts exactly.
        ok = abs(value) <= float(np.finfo(dtype).max) and int(dtype.type(value)) == value
    else:
        ok = not math.isfinite(value) or abs(value) <= float(np.finfo(dtype).max)
    if not ok:
        raise ValueError(f"{name}={shown(value)} does not fit the column's type {dtype}")


def without_nulls(pa, column, data, fill_null):
    """``data`` with no nulls: filled (primitive columns, ``fill_null`` given) or rejected."""
    nulls = data.null_count
    if column.kind == LIST or column.shape:
        if nulls == 0:
            nulls = sum(_flat(chunk, len(column.shape) or 1).null_count
                        for chunk in data.chunks)
        if nulls:
            raise ValueError(f"column {column.name!r} ({data.type}) has {nulls} null(s); "
                             "list columns must have none (fill_null applies only to "
                             "numeric and boolean columns)")
        return data
    if not nulls:
        return data
    if fill_null is None:
        raise ValueError(f"column {column.name!r} ({data.type}) has {nulls} null(s); pass "
                         "fill_null=<number> to replace them (the column is then copied)")
    check_fits(fill_null, column.dtype, f"fill_null for column {column.name!r}")
    value = bool(fill_null) if column.kind == BITS else as_fill_number(fill_null, "fill_null")
    return pa.compute.fill_null(data, pa.scalar(value, data.type))


def _flat(array, depth):
    # The leaf values a (sliced) list array's rows span, with nulls and offsets respected.
    for _ in range(depth):
        array = array.flatten()
    return array


def segment_starts(chunked, n):
    """First row of every segment, then ``n``."""
    cuts = {0}
    for data in chunked:
        cuts.update(np.cumsum([len(chunk) for chunk in data.chunks]).tolist())
    return sorted(c for c in cuts if c < n) + [n]


def _buffer_view(buffer, dtype, start, count):
    if count == 0:
        return np.empty(0, dtype=dtype)
    # np.frombuffer checks that the Arrow buffer holds all `count` items.
    view = np.frombuffer(buffer, dtype=dtype, count=count, offset=start * dtype.itemsize)
    view.flags.writeable = False          # Arrow data is immutable, even in mutable buffers
    return view


def _chunk_view(column, chunk):
    """Zero-copy NumPy views of one chunk: rows; (bitmap, bit offset); (offsets, values)."""
    chunk.validate()
    if column.kind == BITS:
        return np.frombuffer(chunk.buffers()[1], dtype=np.uint8), chunk.offset
    if column.kind == LIST:
        offsets = _buffer_view(chunk.buffers()[1], np.dtype(f"int{8 * column.width}"),
                               chunk.offset, len(chunk) + 1)
        child = chunk.values
        return offsets, _buffer_view(child.buffers()[1], column.dtype, child.offset, len(child))
    leaf, first = chunk, chunk.offset
    for size in column.shape:             # a row of a fixed-size list is `size` children
        leaf = leaf.values
        first = leaf.offset + first * size
    flat = _buffer_view(leaf.buffers()[1], column.dtype, first,
                        len(chunk) * int(np.prod(column.shape, dtype=np.int64)))
    return flat.reshape((len(chunk),) + column.shape)


def _address(array):
    return array.__array_interface__["data"][0]


def build_source(chunked, columns, starts, n, pad_to, pad_value, rows):
    """Fill every column's per-segment views and return the ``TableSource`` over them
    (``rows``: a Dataset's indices mapping or None)."""
    n_segs = len(starts) - 1
    shape = (len(columns), n_segs)
    bases, values, extents = (np.zeros(shape, np.int64) for _ in range(3))
    owners = []
    for c, (column, data) in enumerate(zip(columns, chunked)):
        chunk_starts = np.cumsum([0] + [len(chunk) for chunk in data.chunks])
        views = {}
        for s in range(n_segs):
            j = int(np.searchsorted(chunk_starts, starts[s], side="right")) - 1
            if j not in views:
                views[j] = _chunk_view(column, data.chunks[j])
            local, length = starts[s] - chunk_starts[j], starts[s + 1] - starts[s]
            view = views[j]
            if column.kind == FIXED:
                column.segments.append(view[local:local + length])
                bases[c, s] = _address(view) + local * view.strides[0]
            elif column.kind == BITS:
                column.segments.append((view[0], view[1] + local))
                bases[c, s], extents[c, s] = _address(view[0]), view[1] + local
            else:
                offsets, flat = view
                column.segments.append((offsets[local:local + length + 1], flat))
                bases[c, s] = _address(offsets) + local * column.width
                values[c, s], extents[c, s] = _address(flat), len(flat)
        owners.append(data)
    kinds = np.array([col.kind for col in columns], dtype=np.int32)
    row_bytes = np.array([col.dtype.itemsize * int(np.prod(col.shape, dtype=np.int64))
                          for col in columns], dtype=np.int64)
    widths = np.array([col.width for col in columns], dtype=np.int32)
    type_nums = np.array([col.dtype.num for col in columns], dtype=np.int32)
    pad_width = -1 if pad_to is None else 0 if pad_to == PAD_LONGEST else pad_to
    table, shift = lookup_table(np.asarray(starts, dtype=np.int64), n)
    return TableSource(np.asarray(starts, dtype=np.int64), table, shift, kinds, row_bytes,
                       widths, bases, values, extents, type_nums,
                       tuple(col.name for col in columns), [col.shape for col in columns],
                       pad_width, pad_value, RaggedBatch, owners, rows,
                       functools.partial(table_view, columns, starts, rows, pad_to is None),
                       lambda c: corrupt_offsets(columns[c]),
                       functools.partial(check_padded_batch, columns, pad_to))


def lookup_table(starts, n):
    """``table[b]``: the segment of row ``b << shift``; ``table[-1]``: the last segment."""
    n_segs = len(starts) - 1
    if n_segs <= 1:
        return np.zeros(2, dtype=np.int64), 62
    shift = max(0, (n // (BUCKETS_PER_SEGMENT * n_segs)).bit_length() - 1)
    first_rows = np.arange(((n - 1) >> shift) + 1, dtype=np.int64) << shift
    table = np.searchsorted(starts, first_rows, side="right") - 1
    return np.append(table, n_segs - 1).astype(np.int64), shift


def table_view(columns, starts, rows, ragged_ok, source, start, stop, step):
    """Samples ``range(start, stop, step)`` (in range) of every column of ``source``, a
    ``TableSource``: views where the rows lie in one segment and the layout allows,
    gathered otherwise."""
    every = np.arange(start, stop, step, dtype=np.int64)
    if rows is not None or start == stop:
        return source.gather(every)
    s = bisect.bisect_right(starts, start) - 1
    last = stop - 1 - (stop - 1 - start) % step
    if last >= starts[s + 1]:
        return source.gather(every)
    a, z = start - starts[s], last - starts[s] + 1
    out, copies = {}, []
    for c, column in enumerate(columns):
        batch = segment_view(column, column.segments[s], a, z, step, ragged_ok)
        if batch is None:
            copies.append(c)
        else:
            out[column.name] = batch
    if copies:
        out.update(source.gather(every, copies))
    return {column.name: out[column.name] for column in columns}


def segment_view(column, segment, a, z, step, ragged_ok):
    """Rows ``a:z:step`` of a segment without gathering, or None when that needs a copy."""
    if column.kind == FIXED:
        return segment[a:z:step]
    if column.kind == BITS:
        bitmap, bit = segment
        bits = np.unpackbits(bitmap[(bit + a) >> 3:((bit + z - 1) >> 3) + 1],
                             bitorder="little")
        first = (bit + a) & 7
        return bits[first:first + z - a:step].view(np.bool_)
    if step != 1 or not ragged_ok:
        return None
    offsets, flat = segment
    bounds = offsets[a:z + 1]
    first, last = int(bounds[0]), int(bounds[-1])
    if not 0 <= first <= last <= len(flat):
        raise corrupt_offsets(column)
    return RaggedBatch(flat[first:last], np.subtract(bounds, first, dtype=np.int64))


def corrupt_offsets(column):
    return ValueError(f"column {column.name!r}: its list offsets point outside its values "
                      "(corrupt Arrow data)")
