"""Files as batch sources: ``.npy`` memory-maps, Arrow IPC files, saved Hugging Face datasets,
Parquet files (row groups decoded by ``fastbatch.sources.parquet_files``).

``open_files`` resolves paths (a path, a sorted glob, a list, or a dict of ``.npy`` files
that go together), picks the format from the suffix (one table, ``READERS``), reads only
metadata (``.npy`` headers, Arrow footers and message headers), checks that the files agree
(dtype, trailing shape, schema, row counts) and memory-maps them.  The rows are never
copied: every file is a *segment* of a ``TableSource`` (``fastbatch.sources._table``), as
the chunks of an Arrow column are, so the one batch iterator gathers across files and
cuts views inside one file.  pyarrow is imported only for Arrow files.
"""

import glob
import json
import os

import numpy as np

from fastbatch.sources import npy_files, parquet_files
from fastbatch.sources.arrow import ArrowSource
from fastbatch.sources.arrow_columns import (check_schema, column_names, describe,
                                             import_pyarrow)

__all__ = ["FileSource", "open_files"]

DATASET_STATE = "state.json"
IPC_FILE_MAGIC = b"ARROW1"
GLOB_CHARS = "*?["
TABLE_DEFAULTS = {"columns": None, "pad_to": None, "pad_value": 0, "fill_null": None}


class FileSource:
    """Rows of files, read in place: what ``open_files`` returns and ``BatchLoader`` reads.

    Not built directly: see :func:`open_files`.

    Attributes
    ----------
    format : str
        ``"npy"``, ``"arrow"`` (Arrow IPC files), ``"dataset"`` (directories written
        by ``datasets.Dataset.save_to_disk``) or ``"parquet"``.
    paths : list of str or dict of str to list of str
        The files in row order (a dict of ``.npy`` files: per name).
    columns : list of str or None
        Column names of a batch dict (Arrow), the dict's names (a dict of ``.npy``
        files), None for ``.npy`` files that make one array.
    block_rows : ndarray of int64
        Rows of each natural block, in row order (an Arrow record batch, a Parquet row
        group; about 1 MiB of rows of ``.npy`` files); a block never spans two files;
        they sum to ``len(src)``.

    Examples
    --------
    >>> import os, tempfile, numpy as np, fastbatch as fb
    >>> folder = tempfile.mkdtemp()
    >>> np.save(os.path.join(folder, "x.npy"), np.arange(12.0).reshape(6, 2))
    >>> src = fb.open_files(os.path.join(folder, "x.npy"))
    >>> len(src), src.columns, src.block_rows.tolist()
    (6, None, [6])
    >>> src
    FileSource(<1 npy file(s), 6 rows>, columns=None)
    """

    def __init__(self, fmt, paths, columns, block_rows, source, table=None, opener=None):
        self.format, self.paths, self.columns = fmt, paths, columns
        self.block_rows = np.asarray(block_rows, dtype=np.int64)
        self.block_rows.flags.writeable = False
        # opener(options): a fresh Source with the table options (Parquet: each loader
        # decodes and frees its own row groups).
        self._source, self._table, self._opener = source, table, opener

    def __len__(self):
        return int(self.block_rows.sum())

    def __repr__(self):
        count = (sum(len(p) for p in self.paths.values()) if isinstance(self.paths, dict)
                 else len(self.paths))
        return (f"FileSource(<{count} {self.format} file(s), {len(self)} rows>, "
                f"columns={self.columns})")

    @property
    def source(self):
        """The ``Source`` the batch iterator reads (``fastbatch.sources._source``)."""
        if self._opener is not None:
            return self._opener(dict(TABLE_DEFAULTS))
        if self._source is None:
            # Nulls: built by the loader with fill_null; without it, ArrowSource's error.
            self._source = ArrowSource(self._table, columns=self.columns).source
        return self._source

    def loader_source(self, columns=None, pad_to=None, pad_value=0, fill_null=None):
        """The Source for a loader given ``BatchLoader``'s table options (which apply to
        Arrow data only; ``columns`` selects among this source's columns)."""
        options = {"columns": columns, "pad_to": pad_to, "pad_value": pad_value,
                   "fill_null": fill_null}
        given = [k for k, v in options.items() if v is not TABLE_DEFAULTS[k]
                 and v != TABLE_DEFAULTS[k]]
        if self._opener is not None:
            options["columns"] = self.columns if columns is None else columns
            return self._opener(options)
        if not given:
            return self.source
        if self._table is None:
            raise TypeError(f"{', '.join(given)} apply only to Arrow files and datasets; "
                            f"this FileSource reads {self.format} files")
        options["columns"] = self.columns if columns is None else columns
        return ArrowSource(self._table, **options).source


def open_files(paths, *, columns=None, cache_bytes=None):
    """Open files as one dataset whose rows a ``BatchLoader`` reads in place.

    Parameters
    ----------
    paths : str, os.PathLike, list or dict
        A path, a glob pattern (its matches sorted), or a list of paths: one dataset,
        the files' rows concatenated in the given order.  A dict
        ``{name: path | glob | list}`` of ``.npy`` files that go together (the i-th files
        of every name hold the same number of rows): batches are a tuple of arrays in the
        dict's order (an array when it has one name).  The suffix gives the format:

        - ``.npy``: memory-mapped (``np.load(mmap_mode="r")``); a list of them is one
          array (batches are arrays).  Numbers and booleans in native byte order, C order.
        - ``.arrow`` / ``.feather``: Arrow IPC files, memory-mapped, their record batches
          concatenated; batches are dicts ``{column: ndarray}`` under ``BatchLoader``'s
          column rules (zero-copy numeric columns, ragged lists, ``pad_to``,
          ``fill_null``).  Needs pyarrow.
        - a directory written by ``datasets.Dataset.save_to_disk``: its Arrow files in
          the order of its ``state.json``, memory-mapped, batches as for Arrow files.
        - ``.parquet``: row groups decoded by pyarrow (only the ``columns`` asked for,
          on pyarrow's threads, the GIL released) when the loader reaches them; batches
          as for Arrow files.  The natural block is a row group.  With
          ``shuffle_method="block"`` the next window's row groups are decoded in the
          background while a window is served: about two windows of decoded rows stay
          in memory, whatever the files' size.  Needs pyarrow.
    columns : list of str, optional
        Arrow and Parquet data: the columns to read, in this order (default: all).
    cache_bytes : int, optional
        Parquet only: decoded bytes kept for reads outside the block shuffle's windows
        (sequential batches, exact and bijective shuffles), the least recently used row
        groups freed first.  Default 2 GiB.  An exact or bijective shuffle of Parquet
        data that decodes to more than this is refused when the loader is built (it
        would decode row groups over and over): use ``shuffle_method="block"``.

    Returns
    -------
    FileSource
        ``len(src)`` rows; pass it to ``BatchLoader`` as its one input.

    Raises
    ------
    FileNotFoundError
        A missing file, a glob that matches nothing.
    ValueError, TypeError, KeyError
        Mixed formats, an unknown suffix, files whose dtype, trailing shape or schema
        differ, dict entries whose row counts differ, a truncated or corrupt file, a
        column that cannot be batched: the message names the file (and the column).

    Notes
    -----
    Opening reads only metadata (Parquet: the footers); rows are read when batches are
    cut: sequential batches inside one file are views of its memory-map (of a decoded
    row group), shuffled batches are gathered across files.  A Parquet data page that
    cannot be decoded is a ValueError naming the file and row group when a batch needs
    it (page checksums, where the writer stored them, are verified).  A file that
    changes after it was opened is undefined behaviour (as for any memory-map): open
    files that are complete and stay so.

    Examples
    --------
    >>> import os, tempfile, numpy as np, fastbatch as fb
    >>> folder = tempfile.mkdtemp()
    >>> for i in range(3):
    ...     np.save(os.path.join(folder, f"x{i}.npy"), np.arange(4 * i, 4 * i + 4))
    ...     np.save(os.path.join(folder, f"y{i}.npy"), -np.arange(4 * i, 4 * i + 4))
    >>> src = fb.open_files(os.path.join(folder, "x*.npy"))
    >>> len(src), src.block_rows.tolist()
    (12, [4, 4, 4])
    >>> [b.tolist() for b in fb.BatchLoader(src, batch_size=5)]
    [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]
    >>> pairs = fb.open_files({"x": os.path.join(folder, "x*.npy"),
    ...                        "y": os.path.join(folder, "y*.npy")})
    >>> pairs.columns
    ['x', 'y']
    >>> x, y = next(iter(fb.BatchLoader(pairs, batch_size=4, shuffle=True, rng=0)))
    >>> bool((x == -y).all())
    True
    """
    if isinstance(paths, dict):
        return _open_npy_dict(paths, columns)
    files = _expand(paths, "paths")
    fmt = _format_of(files)
    if fmt == "parquet":
        return _open_parquet(files, columns, parquet_files.check_cache_bytes(cache_bytes))
    if cache_bytes is not None:
        raise TypeError(f"cache_bytes applies to Parquet files; these are {fmt} files")
    return READERS[fmt](files, columns)


# -- paths ----------------------------------------------------------------------------

def _expand(spec, what):
    """The files ``spec`` names: a path, a glob (sorted matches) or a list of either."""
    if isinstance(spec, (str, os.PathLike)):
        path = os.fspath(spec)
        if not isinstance(path, str):
            raise TypeError(f"{what} must be str paths, got bytes {path!r}")
        if any(c in path for c in GLOB_CHARS) and not os.path.exists(path):
            matches = sorted(glob.glob(path))
            if not matches:
                raise FileNotFoundError(f"no file matches the pattern {path!r} ({what})")
            return matches
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such file ({what})")
        return [path]
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise ValueError(f"{what} is an empty list")
        return [f for item in spec for f in _expand(item, what)]
    raise TypeError(f"{what} must be a path, a glob pattern, a list of paths or a dict of "
                    f".npy paths, got {type(spec).__name__}")


def _kind(path):
    if os.path.isdir(path):
        return "dataset"
    suffix = os.path.splitext(path)[1].lower()
    return SUFFIXES.get(suffix, suffix or "no suffix")


def _format_of(files):
    kinds = {}
    for path in files:
        kinds.setdefault(_kind(path), path)
    if len(kinds) > 1:
        shown = ", ".join(f"{path} ({kind})" for kind, path in kinds.items())
        raise ValueError(f"the files mix formats: {shown}; open one format at a time")
    (fmt, path), = kinds.items()
    if fmt not in READERS:
        raise ValueError(f"{path}: fastbatch cannot read {fmt} files; open_files reads "
                         ".npy, .arrow / .feather, .parquet files and directories written "
                         "by datasets.Dataset.save_to_disk")
    return fmt




# -- .npy files (read by fastbatch.sources.npy_files) ----------------------------------

def _open_npy(files, columns):
    if columns is not None:
        raise TypeError("columns applies to Arrow files; a list of .npy files is one array "
                        "(pass a dict {name: paths} to name several)")
    return FileSource("npy", *npy_files.open_arrays({None: files}))


def _open_npy_dict(spec, columns):
    if columns is not None:
        raise TypeError("columns applies to Arrow files; the dict's keys name the arrays")
    if not spec:
        raise ValueError("paths is an empty dict")
    files = {}
    for name, entry in spec.items():
        if not isinstance(name, str):
            raise TypeError(f"the dict's keys must be str names, got {name!r}")
        files[name] = _expand(entry, f"paths[{name!r}]")
        for path in files[name]:
            if _kind(path) != "npy":
                raise ValueError(f"{path} (paths[{name!r}]): a dict of paths holds .npy "
                                 f"files only, this is {_kind(path)}")
    return FileSource("npy", *npy_files.open_arrays(files))


# -- Arrow IPC files and saved datasets ---------------------------------------------------

def _read_ipc(pa, path, stream):
    """The record batches of one memory-mapped IPC file and their row counts.

    ``stream``: the IPC stream format (saved datasets).  An ``.arrow`` file that does not
    start with the file format's magic is read as a stream too: the cache files of
    Hugging Face datasets are streams with that suffix.
    """
    if not stream:
        with open(path, "rb") as f:
            stream = f.read(len(IPC_FILE_MAGIC)) != IPC_FILE_MAGIC
    kind = "stream" if stream else "file"
    try:
        mapped = pa.memory_map(path)
        if stream:
            reader = pa.ipc.open_stream(mapped)
            batches = list(reader)
        else:
            reader = pa.ipc.open_file(mapped)
            batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]
        schema = reader.schema
        for batch in batches:
            batch.validate()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable Arrow IPC {kind} ({exc})") from None
    return pa.Table.from_batches(batches, schema=schema), [b.num_rows for b in batches]


def _dataset_files(folder):
    """The Arrow files of a ``save_to_disk`` directory, in its state.json's order."""
    if os.path.exists(os.path.join(folder, "dataset_dict.json")):
        raise ValueError(f"{folder}: a DatasetDict; open one of its splits' directories")
    state = os.path.join(folder, DATASET_STATE)
    try:
        with open(state, encoding="utf-8") as f:
            names = [entry["filename"] for entry in json.load(f)["_data_files"]]
    except FileNotFoundError:
        raise ValueError(f"{folder}: a directory without {DATASET_STATE}, not one written by "
                         "datasets.Dataset.save_to_disk") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{state}: not a datasets state file ({exc!r})") from None
    for name in names:
        if not isinstance(name, str) or os.path.basename(name) != name:
            raise ValueError(f"{state}: data file {name!r} is not a file name in {folder}")
    files = [os.path.join(folder, name) for name in names]
    for path in files:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: no such file (listed in {state})")
    return files


def _open_arrow(files, columns, fmt="arrow"):
    pa = import_pyarrow()
    stream = fmt == "dataset"
    tables, blocks = [], []
    for path in files:
        table, rows = _read_ipc(pa, path, stream)
        tables.append((path, table))
        blocks.extend(r for r in rows if r)
    first, head = tables[0]
    try:
        names = column_names(head, columns)
    except (KeyError, ValueError, TypeError) as exc:
        raise type(exc)(f"{first}: {exc.args[0]}") from None
    for name in names:
        try:
            describe(pa, name, head.schema.field(name).type)
        except TypeError as exc:
            raise TypeError(f"{first}: {exc}") from None
    for path, table in tables[1:]:
        check_schema(table.schema, path, head.schema, first, names,
                     every=columns is None)
    table = pa.concat_tables([t.select(names) for _, t in tables])
    nulls = any(table.column(name).null_count for name in names)
    source = None if nulls else ArrowSource(table, columns=names).source
    return FileSource(fmt, files, names, blocks, source, table)


def _open_dataset(folders, columns):
    hf_files = [f for folder in folders for f in _dataset_files(folder)]
    if not hf_files:
        raise ValueError(f"{folders[0]}: the dataset lists no data files")
    source = _open_arrow(hf_files, columns, "dataset")
    source.paths = hf_files
    return source


# -- Parquet files (row groups decoded by fastbatch.sources.parquet_files) --------------

def _open_parquet(files, columns, cache_bytes):
    opened = parquet_files.open_parquet(import_pyarrow(), files, columns)
    names, blocks = opened[0], [rows for _, _, rows, _ in opened[4]]

    def opener(options):
        return parquet_files.parquet_source(opened, options, cache_bytes)

    return FileSource("parquet", files, names, blocks, None, opener=opener)


# The formats: suffix -> format name, format name -> reader(files, columns).
SUFFIXES = {".npy": "npy", ".arrow": "arrow", ".feather": "arrow", ".parquet": "parquet"}
READERS = {"npy": _open_npy, "arrow": _open_arrow, "dataset": _open_dataset,
           "parquet": _open_parquet}
