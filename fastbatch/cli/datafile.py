"""Reading a training table from .csv, .npy, .npz, .parquet or Arrow IPC files for
``fastbatch fit``."""

import contextlib
import csv
import functools
import os
import zipfile
import zlib

import numpy as np


class DataFileError(ValueError):
    """A data file that cannot be used; the message is one line meant for the user."""


def load_table(path, target, weight=None, scratch=None):
    """Return ``(X, y, sample_weight, feature_names, target_name)`` from a data file.

    - ``.csv``: a header row, then numeric rows; ``target`` names a column (or gives its
      0-based index).
    - ``.npy``: a 2-D numeric array, opened with ``fastbatch.open_files`` (its checks,
      its error messages) and memory-mapped (never read whole into memory);
      ``target`` is a column index.  X is a view of the file when the features are
      consecutive float32 or float64 columns (the target and weights first or last),
      else they are written to a ``.npy`` file in the folder ``scratch`` (when given)
      and memory-mapped.
    - ``.npz``: named 1-D arrays of equal length (one per column), ``target`` names one;
      or a single 2-D array, ``target`` is a column index.
    - ``.parquet``, ``.arrow``, ``.feather``: numeric columns, ``target`` names one; read
      through ``fastbatch.open_files`` (its checks, its error messages) a row group or
      record batch at a time, into a memory-mapped ``.npy`` in ``scratch`` when given
      (else into memory).

    ``weight`` names the column of sample weights the same way (None: no weights); like
    the target, it is not a feature.
    """
    if not os.path.exists(path):
        raise DataFileError(f"no such file: {path}")
    if os.path.isdir(path):
        raise DataFileError(f"{path} is a directory, not a data file")
    if os.path.getsize(path) == 0:
        raise DataFileError(f"{path} is empty")
    ext = os.path.splitext(path)[1].lower()
    lines = None
    if ext == ".csv":
        names, table, lines = _read_csv(path)
    elif ext == ".npy":
        names, table = _read_npy(path)
    elif ext == ".npz":
        names, table = _read_npz(path)
    elif ext in (".parquet", ".arrow", ".feather"):
        names, table = _read_columns(path, scratch)
    else:
        raise DataFileError(f"unsupported file type {ext or '(none)'!r} for {path}: "
                            "use .csv (with a header row), .npy, .npz, .parquet or "
                            ".arrow/.feather")
    if table.shape[0] == 0:
        raise DataFileError(f"{path} has no data rows")
    column = _column_index(names, target, path)
    taken = [column]
    sample_weight = None
    if weight is not None:
        taken.append(_column_index(names, weight, path))
        if taken[1] == column:
            raise DataFileError(f"the sample-weight column {weight!r} is the target column "
                                f"in {path}")
        sample_weight = np.asarray(table[:, taken[1]], dtype=np.float64)
    if lines is not None:
        _check_csv_values(table, names, lines, path, taken[1:])
    X = _features(table, taken, scratch)
    if X.shape[1] == 0:
        raise DataFileError(f"{path} has no feature columns besides the target {target!r}"
                            + (f" and the weights {weight!r}" if weight is not None else ""))
    return (X, np.asarray(table[:, column], dtype=np.float64), sample_weight,
            [n for i, n in enumerate(names) if i not in taken], names[column])


# Errors NumPy raises for a damaged file or archive member (zipfile and zlib included).
_DAMAGED = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)


def _stored_dtype(f):
    """The dtype in an .npy header, or None when the header cannot be read."""
    try:
        version = np.lib.format.read_magic(f)
        read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                else np.lib.format.read_array_header_2_0)
        return read(f)[2]
    except _DAMAGED:
        return None


def _load_array(open_file, what, path, mmap=False):
    """Load one array without pickles (``mmap``: memory-mapped, ``path`` a file); a clear
    one-line error for damaged or object data."""
    try:
        if mmap:
            return np.load(path, mmap_mode="r", allow_pickle=False)
        with open_file() as f:
            return np.load(f, allow_pickle=False)
    except _DAMAGED as exc:
        error = f"cannot read {what} in {path}: {_one_line(exc)}"
    raise _objects_error(open_file, what, path) or DataFileError(error)


def _objects_error(open_file, what, path):
    """The error for an array of Python objects (what NumPy refuses to load without
    pickles), or None when the array is not one."""
    dtype = None
    with contextlib.suppress(*_DAMAGED), open_file() as f:
        dtype = _stored_dtype(f)
    if dtype is not None and dtype.hasobject:
        return DataFileError(f"{what} in {path} holds Python objects (dtype {dtype}); use "
                             "numeric columns")
    return None


def _one_line(exc):
    return " ".join(str(exc).split()) or type(exc).__name__


def _from_matrix(a, path, convert=True):
    if a.ndim != 2:
        raise DataFileError(f"{path} holds a {a.ndim}-D array; expected a 2-D table")
    if a.dtype.kind not in "biuf":
        raise DataFileError(f"{path} holds non-numeric data (dtype {a.dtype})")
    return [str(i) for i in range(a.shape[1])], a.astype(np.float64) if convert else a


def _read_npy(path):
    """Opened with ``fastbatch.open_files`` (its header, dtype and size checks, its
    messages), then the rows memory-mapped."""
    import fastbatch as fb
    open_file = functools.partial(open, path, "rb")
    try:
        fb.open_files(path)
    except (ValueError, TypeError, OSError) as exc:
        raise (_objects_error(open_file, "the array", path)
               or DataFileError(_one_line(exc))) from None
    array = _load_array(open_file, "the array", path, mmap=True)
    return _from_matrix(array, path, convert=False)


# Rows copied at a time into a scratch file of features.
_SCRATCH_ROWS = 1 << 16


def _features(table, taken, scratch):
    """The feature columns (all but ``taken``): a view when they are consecutive float
    columns, else a copy (into a memory-mapped ``.npy`` in ``scratch`` when the table is
    itself memory-mapped, so a table larger than memory stays out of it)."""
    keep = [j for j in range(table.shape[1]) if j not in taken]
    dtype = table.dtype if table.dtype in (np.float32, np.float64) else np.float64
    if keep and keep == list(range(keep[0], keep[-1] + 1)) and table.dtype == dtype:
        return table[:, keep[0]:keep[-1] + 1]
    if scratch is None or not isinstance(table, np.memmap):
        return np.delete(table, taken, axis=1).astype(dtype, copy=False)
    out = np.lib.format.open_memmap(os.path.join(scratch, "features.npy"), mode="w+",
                                    dtype=dtype, shape=(table.shape[0], len(keep)))
    for start in range(0, table.shape[0], _SCRATCH_ROWS):
        out[start:start + _SCRATCH_ROWS] = table[start:start + _SCRATCH_ROWS][:, keep]
    out.flush()
    return out


def _read_npz(path):
    if not zipfile.is_zipfile(path):
        raise DataFileError(f"{path} is not an .npz archive (not a zip file, or truncated)")
    try:
        archive = zipfile.ZipFile(path)
    except _DAMAGED as exc:
        raise DataFileError(f"cannot read {path}: {_one_line(exc)}") from None
    with archive:
        members = [m for m in archive.namelist() if m.endswith(".npy")]
        if not members:
            raise DataFileError(f"{path} holds no arrays")
        keys = [m[:-len(".npy")] for m in members]
        arrays = [_load_array(functools.partial(archive.open, m), f"array {k!r}", path)
                  for m, k in zip(members, keys)]
    if len(arrays) == 1 and arrays[0].ndim == 2:
        return _from_matrix(arrays[0], path)
    columns = []
    for key, a in zip(keys, arrays):
        if a.ndim != 1:
            raise DataFileError(f"array {key!r} in {path} is {a.ndim}-D; expected one "
                                "1-D array per column")
        if a.dtype.kind not in "biuf":
            raise DataFileError(f"column {key!r} in {path} is not numeric "
                                f"(dtype {a.dtype})")
        columns.append(a.astype(np.float64))
    lengths = {len(c) for c in columns}
    if len(lengths) > 1:
        raise DataFileError(f"the columns in {path} have different lengths {sorted(lengths)}")
    return keys, np.column_stack(columns)


def _read_columns(path, scratch):
    import fastbatch as fb
    try:
        src = fb.open_files(path)
        names = list(src.columns)
        table, start = None, 0
        for batch in fb.BatchLoader(src, batch_size=1 << 16):
            k = len(batch[names[0]])
            for name in names:
                column = batch[name]
                if not isinstance(column, np.ndarray) or column.ndim != 1:
                    raise DataFileError(f"column {name!r} in {path} is not a column of "
                                        "numbers (lists or vectors cannot be features)")
            if table is None:
                table = _table_like(batch, names, len(src), scratch)
            for j, name in enumerate(names):
                table[start:start + k, j] = batch[name]
            start += k
    except ImportError as exc:
        raise DataFileError(f"{path}: {_one_line(exc)}") from None
    except (ValueError, TypeError, KeyError, OSError) as exc:
        if isinstance(exc, DataFileError):
            raise
        raise DataFileError(_one_line(exc)) from None
    if table is None:
        table = np.empty((0, len(names)))
    elif isinstance(table, np.memmap):
        table.flush()
    return names, table


def _table_like(batch, names, n, scratch):
    """The table the columns are copied into: float32 when every column is, else
    float64; a memory-mapped ``.npy`` in ``scratch`` (when given)."""
    dtype = (np.float32 if all(batch[name].dtype == np.float32 for name in names)
             else np.float64)
    if scratch is None:
        return np.empty((n, len(names)), dtype=dtype)
    return np.lib.format.open_memmap(os.path.join(scratch, "table.npy"), mode="w+",
                                     dtype=dtype, shape=(n, len(names)))


def _csv_rows(path):
    """``(file line, row)`` of every non-blank record (the line it ends on)."""
    # utf-8-sig: a byte-order mark (Excel writes one) is not part of the first name.
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        try:
            return [(reader.line_num, row) for row in reader
                    if any(cell.strip() for cell in row)]
        except UnicodeDecodeError as exc:
            raise DataFileError(_not_utf8(path, exc)) from None
        except csv.Error as exc:
            raise DataFileError(f"{path} line {reader.line_num}: {_one_line(exc)}") from None


def _not_utf8(path, exc):
    with open(path, "rb") as f:
        start = f.read(2)
    if start in (b"\xff\xfe", b"\xfe\xff"):
        return f"{path} is UTF-16 text; save it as UTF-8 (fastbatch reads UTF-8 CSV files)"
    return (f"{path} is not UTF-8 text (it holds the byte 0x{exc.object[exc.start]:02x}): "
            "a binary file, or another encoding such as Latin-1; save it as UTF-8")


def _read_csv(path):
    rows = _csv_rows(path)
    if not rows:
        raise DataFileError(f"{path} is empty")
    names = [name.strip() for name in rows[0][1]]
    repeated = next((name for i, name in enumerate(names) if name in names[:i]), None)
    if repeated is not None:
        # Which one --target (or a feature name in the model) means would be a guess.
        raise DataFileError(f"column name {_shown(repeated)} appears more than once in the "
                            f"header of {path}; column names must be unique")
    body = rows[1:]
    table = np.empty((len(body), len(names)))
    for i, (line, row) in enumerate(body):
        if len(row) != len(names):
            raise DataFileError(f"{path} line {line} has {len(row)} fields, the header has "
                                f"{len(names)}")
        for j, cell in enumerate(row):
            try:
                table[i, j] = float(cell)
            except ValueError:
                raise DataFileError(f"column {names[j]!r} in {path} is not numeric (line "
                                    f"{line}: {_shown(cell.strip())})") from None
    return names, table, [line for line, _ in body]


def _check_csv_values(table, names, lines, path, weights):
    """NaN/inf cells and negative weights, reported at their file line (the estimator
    would count rows, which differ from lines after the header and blank lines)."""
    bad = np.argwhere(~np.isfinite(table))
    if len(bad):
        i, j = bad[0]
        raise DataFileError(f"column {names[j]!r} in {path} is not finite (line {lines[i]}: "
                            f"{float(table[i, j])}); fastbatch trains on finite values only")
    for j in weights:
        negative = np.flatnonzero(table[:, j] < 0)
        if len(negative):
            i = negative[0]
            raise DataFileError(f"the sample-weight column {names[j]!r} in {path} is "
                                f"negative on line {lines[i]} ({float(table[i, j])}); "
                                "sample weights must be >= 0")


def _shown(cell, limit=40):
    # repr keeps the message on one line whatever the cell holds; long cells are cut.
    if len(cell) <= limit:
        return repr(cell)
    return f"{cell[:limit]!r}... ({len(cell)} characters)"


def _column_index(names, target, path):
    if target in names:
        return names.index(target)
    try:
        index = int(target)
    except ValueError:
        index = None
    if index is not None and 0 <= index < len(names):
        return index
    shown = ", ".join(name if name.isprintable() else repr(name) for name in names)
    raise DataFileError(f"unknown column {target!r} in {path}; columns are: {shown}")
