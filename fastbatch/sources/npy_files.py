"""``.npy`` files as one source: headers read and checked against the files' sizes, the
data memory-mapped, every file a segment of a ``TableSource`` (rows never copied; views
of one file's map for sequential batches inside it).  ``fastbatch.sources.files`` resolves
the paths and wraps the result in a ``FileSource``."""

import bisect
import functools
import os

import numpy as np

from fastbatch.sources._source import natural_block_rows
from fastbatch.sources._table import TableSource
from fastbatch.sources.arrow_columns import FIXED, lookup_table

# NumPy kinds a .npy file may hold: booleans, integers, floats, complex numbers.
NPY_KINDS = "biufc"


def _npy_header(path):
    """``(shape, dtype, data offset)`` of a .npy file, checked against its size."""
    fmt = np.lib.format
    try:
        with open(path, "rb") as f:
            version = fmt.read_magic(f)
            read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, _, dtype = read(f)        # Fortran order: checked once mapped
            offset = f.tell()
    except Exception as exc:    # noqa: BLE001 - NumPy's header parser raises many kinds
        raise ValueError(f"{path}: not a readable .npy file ({exc!r})") from None
    if dtype.kind not in NPY_KINDS or dtype.fields is not None or dtype.subdtype:
        raise TypeError(f"{path}: dtype {dtype} cannot be batched; .npy files must hold "
                        "booleans, integers, floats or complex numbers")
    if not dtype.isnative:
        raise TypeError(f"{path}: dtype {dtype.str} is not in this machine's byte order; "
                        "convert it with array.astype(array.dtype.newbyteorder('='))")
    if not shape:
        raise ValueError(f"{path}: a 0-d array has no rows")
    size = os.path.getsize(path)
    needed = offset + int(np.prod(shape, dtype=object)) * dtype.itemsize
    if size < needed:
        raise ValueError(f"{path}: truncated: its header says {shape} {dtype} "
                         f"({needed} bytes), the file has {size} bytes")
    return shape, dtype


def _npy_files(files, name):
    """``[memmap rows as an ndarray]`` of one logical array, checked to agree."""
    arrays, first = [], None
    for path in files:
        shape, dtype = _npy_header(path)
        if first is None:
            first = (path, shape, dtype)
        elif dtype != first[2] or shape[1:] != first[1][1:]:
            raise ValueError(f"{path}{name}: rows of shape {shape[1:]} and dtype {dtype}, "
                             f"but {first[0]} has {first[1][1:]} and {first[2]}; the files "
                             "of one array must agree")
        if 0 in shape:
            arrays.append(np.empty(shape, dtype=dtype))     # nothing to map
        else:
            try:
                mapped = np.load(path, mmap_mode="r", allow_pickle=False)
            except (ValueError, OSError) as exc:
                raise ValueError(f"{path}{name}: cannot memory-map it ({exc})") from None
            if not mapped.flags.c_contiguous:
                raise ValueError(f"{path}{name}: its rows are not contiguous (Fortran "
                                 "order); save it with np.ascontiguousarray")
            arrays.append(mapped.view(np.ndarray))
    return arrays


def open_arrays(files):
    """``(paths, columns, block_rows, source)`` of a FileSource over the ``.npy`` files
    ``{name: [path, ...]}`` (name None: one array), checked to agree: every name's files
    share dtype and trailing shape, and the i-th files of every name hold the same rows."""
    arrays = {name: _npy_files(paths, "" if name is None else f" (paths[{name!r}])")
              for name, paths in files.items()}
    (first, head), *rest = arrays.items()
    for name, parts in rest:
        if len(parts) != len(head):
            raise ValueError(f"paths[{name!r}] has {len(parts)} file(s) but paths[{first!r}] "
                             f"has {len(head)}; the i-th files of every name go together")
        for i, (a, b) in enumerate(zip(parts, head)):
            if len(a) != len(b):
                raise ValueError(f"{files[name][i]} (paths[{name!r}]) has {len(a)} rows but "
                                 f"{files[first][i]} (paths[{first!r}]) has {len(b)}; the "
                                 "i-th files of every name must hold the same rows")
    return _npy_source(files, arrays, "tuple" if len(arrays) > 1 else "single")


def _npy_source(files, arrays, assemble):
    """The FileSource parts whose segments are the non-empty files (aligned across
    names); natural blocks never span two files."""
    names = list(arrays)
    parts = list(arrays.values())
    lengths = [len(a) for a in parts[0]]
    kept = [i for i, n in enumerate(lengths) if n]
    starts = np.cumsum([0] + [lengths[i] for i in kept]).astype(np.int64)
    n = int(starts[-1])
    segments = [[part[i] for i in kept] for part in parts]
    bases = np.array([[a.__array_interface__["data"][0] for a in segs] for segs in segments],
                     dtype=np.int64).reshape(len(parts), len(kept))
    row_bytes = np.array([parts[c][0].dtype.itemsize * int(np.prod(parts[c][0].shape[1:]))
                          for c in range(len(parts))], dtype=np.int64)
    zeros = np.zeros_like(bases)
    table, shift = lookup_table(starts, n)
    source = TableSource(
        starts, table, shift, np.full(len(parts), FIXED, dtype=np.int32), row_bytes,
        np.zeros(len(parts), dtype=np.int32), bases, zeros, zeros,
        np.array([p[0].dtype.num for p in parts], dtype=np.int32),
        tuple(str(name) for name in names), [p[0].shape[1:] for p in parts], -1, 0, None,
        segments, None, functools.partial(_npy_view, segments, starts.tolist(), assemble),
        None, _no_row_limit, assemble=assemble)
    per_block = natural_block_rows(int(row_bytes.sum()))
    blocks = [b for i in kept for b in _cut(lengths[i], per_block)]
    paths = files[None] if None in files else files
    return paths, None if None in files else names, blocks, source


def _no_row_limit(rows):
    """Fixed-width rows: a batch is never larger than its rows (nothing to check)."""


def _cut(rows, per_block):
    return [per_block] * (rows // per_block) + ([rows % per_block] if rows % per_block else [])


def _npy_view(segments, starts, assemble, source, start, stop, step):
    """Samples ``range(start, stop, step)``: views of one file's memory-map when they lie
    in it, else gathered across files."""
    s = bisect.bisect_right(starts, start) - 1
    last = stop - 1 - (stop - 1 - start) % step if stop > start else start
    if stop > start and s + 1 < len(starts) and last < starts[s + 1]:
        a, z = start - starts[s], last - starts[s] + 1
        outputs = tuple(segs[s][a:z:step] for segs in segments)
    else:
        batch = source.gather(np.arange(start, stop, step, dtype=np.int64))
        outputs = tuple(batch.values())
    return outputs[0] if assemble == "single" else outputs
