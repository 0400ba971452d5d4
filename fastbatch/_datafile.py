"""Reading a training table from .csv, .npy or .npz for ``fastbatch fit``."""

import csv
import os

import numpy as np


class DataFileError(ValueError):
    """A data file that cannot be used; the message is one line meant for the user."""


def load_table(path, target):
    """Return ``(X, y, feature_names, target_name)`` from a data file.

    - ``.csv``: a header row, then numeric rows; ``target`` names a column (or gives its
      0-based index).
    - ``.npy``: a 2-D numeric array; ``target`` is a column index.
    - ``.npz``: named 1-D arrays of equal length (one per column), ``target`` names one;
      or a single 2-D array, ``target`` is a column index.
    """
    if not os.path.exists(path):
        raise DataFileError(f"no such file: {path}")
    if os.path.isdir(path):
        raise DataFileError(f"{path} is a directory, not a data file")
    if os.path.getsize(path) == 0:
        raise DataFileError(f"{path} is empty")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".csv":
        names, table = _read_csv(path)
    elif ext == ".npy":
        names, table = _from_matrix(_np_load(path), path)
    elif ext == ".npz":
        names, table = _read_npz(path)
    else:
        raise DataFileError(f"unsupported file type {ext or '(none)'!r} for {path}: "
                            "use .csv (with a header row), .npy or .npz")
    if table.shape[0] == 0:
        raise DataFileError(f"{path} has no data rows")
    column = _column_index(names, target, path)
    y = table[:, column]
    X = np.delete(table, column, axis=1)
    if X.shape[1] == 0:
        raise DataFileError(f"{path} has no feature columns besides the target {target!r}")
    return X, y, [n for i, n in enumerate(names) if i != column], names[column]


def _np_load(path):
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise DataFileError(f"cannot read {path}: {exc}") from None


def _from_matrix(a, path):
    if a.ndim != 2:
        raise DataFileError(f"{path} holds a {a.ndim}-D array; expected a 2-D table")
    if a.dtype.kind not in "biuf":
        raise DataFileError(f"{path} holds non-numeric data (dtype {a.dtype})")
    return [str(i) for i in range(a.shape[1])], a.astype(np.float64)


def _read_npz(path):
    archive = _np_load(path)
    with archive:
        keys = list(archive.keys())
        if not keys:
            raise DataFileError(f"{path} holds no arrays")
        if len(keys) == 1 and archive[keys[0]].ndim == 2:
            return _from_matrix(archive[keys[0]], path)
        columns = []
        for key in keys:
            a = archive[key]
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


def _read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise DataFileError(f"{path} is empty")
    names = [name.strip() for name in rows[0]]
    body = rows[1:]
    table = np.empty((len(body), len(names)))
    for line, row in enumerate(body, start=2):
        if len(row) != len(names):
            raise DataFileError(f"{path} line {line} has {len(row)} fields, the header has "
                                f"{len(names)}")
        for j, cell in enumerate(row):
            try:
                table[line - 2, j] = float(cell)
            except ValueError:
                raise DataFileError(f"column {names[j]!r} in {path} is not numeric (line "
                                    f"{line}: {cell.strip()!r})") from None
    return names, table


def _column_index(names, target, path):
    if target in names:
        return names.index(target)
    try:
        index = int(target)
    except ValueError:
        index = None
    if index is not None and 0 <= index < len(names):
        return index
    raise DataFileError(f"unknown column {target!r} in {path}; columns are: "
                        f"{', '.join(names)}")
