"""Parquet files for ``open_files``: footers read at open, row groups decoded by pyarrow.

Opening reads each file's footer only (``pyarrow.parquet.ParquetFile``): the row groups,
their row counts and the schema, checked across files.  The rows are decoded when the
loader reaches them, a row group at a time (with only the columns asked for), on the
decoding threads: as many as the kernels may use (``fastbatch.get_num_threads()`` when
the source is built), each decoding one row group in pyarrow with the GIL released
(``use_threads=False``: pyarrow's own thread pool is not used, so ``set_num_threads``
bounds the decoding too):

- the block shuffle tells the source which row groups the next window reads
  (``will_need_rows``): they are decoded in the background, queued in file order, while the
  current window is served, and the groups of a window already served are freed once no
  batch needs them, so about two windows of decoded rows stay in memory;
- any other read (sequential batches, padding that wraps around, the exact and bijective
  shuffles) decodes the row groups it needs and keeps them in a cache of at most
  ``cache_bytes`` decoded bytes, the least recently used freed first.  An exact or
  bijective shuffle reads any row group at any time: it is accepted when the decoded
  data fits that cache (each row group is then decoded once), and refused when the
  loader is built otherwise, instead of decoding row groups over and over.

Queued row groups are read ahead (``posix_fadvise(WILLNEED)`` over their byte ranges),
so their reads are in flight together.  Row groups of fixed-width columns are kept
row-major (one block of rows per row group, see ``fastbatch.sources._parquet``); others
as Arrow tables.  Page checksums are verified where the writer stored them
(``write_page_checksum=True``): a corrupt data page is then an error, not wrong numbers.
"""

import collections
import concurrent.futures
import mmap
import os
import weakref

import numpy as np

from fastbatch._kernels.threads import get_num_threads
from fastbatch.sources.arrow import ArrowSource
from fastbatch.sources._parquet import ParquetSource, interleave_columns
from fastbatch.sources.parquet_footer import row_group_byte_ranges
from fastbatch.sources.arrow_columns import (BITS, FIXED, LIST, _chunk_view, check_schema,
                                             column_names, describe, import_pyarrow,
                                             without_nulls)

__all__ = ["DEFAULT_CACHE_BYTES", "RowGroups", "open_parquet"]

#: Decoded row groups kept for reads outside the block shuffle's windows.
DEFAULT_CACHE_BYTES = 2 << 30
MIB = 1 << 20


def open_parquet(pa, files, columns):
    """What a ``RowGroups`` needs of Parquet ``files``, from their footers only:
    ``(names, schema, columns, footers, groups)``, groups as ``(file, row group, rows,
    stored bytes)`` for every non-empty row group in row order."""
    import pyarrow.parquet as pq
    footers = []
    for path in files:
        try:
            footer = pq.ParquetFile(path).metadata
            schema = footer.schema.to_arrow_schema()
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise ValueError(f"{path}: not a readable Parquet file ({exc})") from None
        footers.append((path, footer, schema))
    first, _, head = footers[0]
    try:
        names = column_names(head.empty_table(), columns)
    except (KeyError, ValueError, TypeError) as exc:
        raise type(exc)(f"{first}: {exc.args[0]}") from None
    described = []
    for name in names:
        try:
            described.append(describe(pa, name, head.field(name).type))
        except TypeError as exc:
            raise TypeError(f"{first}: {exc}") from None
    for path, _, schema in footers[1:]:
        check_schema(schema, path, head, first, names, every=columns is None)
    schema = pa.schema([head.field(name).remove_metadata() for name in names])
    groups = []
    for f, (path, footer, _) in enumerate(footers):
        for g in range(footer.num_row_groups):
            rows = footer.row_group(g).num_rows
            if rows:
                groups.append((f, g, rows, footer.row_group(g).total_byte_size))
    return names, schema, described, footers, groups


class RowGroups:
    """The row groups of Parquet files: decoded, read ahead and freed for one source.

    Parameters
    ----------
    opened : tuple
        What :func:`open_parquet` returned.
    options : dict
        ``pad_to``, ``pad_value`` and ``fill_null`` of the loader (column rules).
    cache_bytes : int
        Decoded bytes kept for reads outside the block shuffle's windows.

    Attributes
    ----------
    starts : ndarray of int64
        First row of every (non-empty) row group, then the row count.
    """

    def __init__(self, opened, options, cache_bytes):
        self._pa = import_pyarrow()
        self.names, self.schema, self.columns, self.footers, groups = opened
        self.options, self.cache_bytes = options, cache_bytes
        # Fixed-width columns only: row groups kept row-major (fastbatch.sources._parquet).
        self.row_major = all(c.kind in (FIXED, BITS) for c in self.columns)
        self.row_dtypes = [c.dtype for c in self.columns]
        self.row_shapes = [tuple(c.shape) for c in self.columns]
        self.row_width = sum(d.itemsize * int(np.prod(shape, dtype=np.int64))
                             for d, shape in zip(self.row_dtypes, self.row_shapes))
        self.where = [(f, g) for f, g, _, _ in groups]
        rows = np.array([r for _, _, r, _ in groups], dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(rows)]).astype(np.int64)
        self.stored_bytes = sum(b for _, _, _, b in groups)
        ranges = [row_group_byte_ranges(path, footer.num_row_groups)
                  for path, footer, _ in self.footers]
        self.byte_ranges = [(f, *ranges[f][g]) for f, g in self.where]
        self._tables = {}                      # group -> table or row-major block
        self._pending = {}                     # group -> Future of its table
        self._window, self._next = set(), set()
        self._retiring = set()
        self._cache = collections.OrderedDict()  # group -> bytes, least recent first
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=get_num_threads(), thread_name_prefix="fastbatch-parquet")
        weakref.finalize(self, self._executor.shutdown, wait=False, cancel_futures=True)

    # -- decoding ------------------------------------------------------------------------
    def decode(self, group):
        """Row group ``group`` as a table of the selected columns, nulls handled under
        the column rules; a ValueError naming the file, the row group (and column)
        when it cannot be decoded."""
        pa = self._pa
        import pyarrow.parquet as pq
        f, g = self.where[group]
        path, footer, _ = self.footers[f]
        try:
            reader = pq.ParquetFile(path, metadata=footer, page_checksum_verification=True)
            # One record batch of the whole row group (measured faster than
            # read_row_group on 64Ki-row groups of 16 float32 columns).
            expected = int(self.starts[group + 1] - self.starts[group])
            table = pa.Table.from_batches(list(reader.iter_batches(
                batch_size=max(expected, 1), row_groups=[g], columns=self.names,
                use_threads=False)))
            table.validate(full=True)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise ValueError(f"{path}: row group {g} cannot be decoded ({exc})") from None
        if table.num_rows != expected:
            raise ValueError(f"{path}: row group {g} decodes to {table.num_rows} rows, its "
                             f"footer says {expected}")
        arrays = []
        for column, data in zip(self.columns, table.columns):
            try:
                arrays.append(without_nulls(pa, column, data, self.options["fill_null"]))
            except ValueError as exc:
                raise ValueError(f"{path}: row group {g}: {exc}") from None
        if self.row_major:
            block = self._rows(arrays, expected)
            # The Arrow buffers are freed: give their pages back (pyarrow's allocator
            # keeps freed memory otherwise, and anonymous memory would grow by it).
            del arrays, table
            pa.default_memory_pool().release_unused()
            return block
        return pa.Table.from_arrays(arrays, schema=self.schema)

    def _rows(self, arrays, rows):
        # The row group's columns interleaved into one block of rows, page-aligned
        # (a 64-byte row is then one cache line).
        views = []
        for column, data in zip(self.columns, arrays):
            chunk = data.combine_chunks() if data.num_chunks != 1 else data.chunk(0)
            if column.kind == BITS:
                views.append(chunk.to_numpy(zero_copy_only=False).view(np.uint8))
            else:
                views.append(_chunk_view(column, chunk))
        # Its own anonymous mapping: page-aligned, and unmapped when the block is freed
        # (malloc would keep a freed block of a background thread's arena).
        raw = mmap.mmap(-1, max(rows * self.row_width, 1))
        block = np.frombuffer(raw, dtype=np.uint8, count=rows * self.row_width).reshape(
            rows, self.row_width)
        interleave_columns([v.reshape(rows, -1).view(np.uint8) if v.size else
                            np.empty((rows, 0), np.uint8) for v in views], block)
        return block

    def _read_ahead(self, groups):
        # The row groups' bytes asked of the kernel at once (posix_fadvise WILLNEED):
        # their reads are in flight together while the decoder works through them, as
        # a sequential read's would be.  A hint: refusing it changes only the speed.
        if not hasattr(os, "posix_fadvise"):
            return
        for group in groups:
            f, first, length = self.byte_ranges[group]
            try:
                fd = os.open(self.footers[f][0], os.O_RDONLY)
            except OSError:
                return
            try:
                os.posix_fadvise(fd, first, length, os.POSIX_FADV_WILLNEED)
            except OSError:
                pass
            finally:
                os.close(fd)

    def _unstarted(self, groups):
        # Those of groups neither decoded nor being decoded, in their order.
        return [g for g in groups if g not in self._tables and g not in self._pending]

    def _queue(self, groups):
        # Decoded on the decoding threads, started in this order.
        for group in groups:
            self._pending[group] = self._executor.submit(self.decode, group)

    def _tables_of(self, groups):
        # Several row groups needed now: decoded side by side on the decoding threads.
        missing = self._unstarted(groups)
        if len(missing) > 1:
            self._queue(missing)
        for group in groups:
            self._table(group)

    def _table(self, group):
        # Decoded, or waited for when the background is decoding it.
        table = self._tables.get(group)
        if table is None:
            pending = self._pending.pop(group, None)
            table = pending.result() if pending is not None else self.decode(group)
            self._tables[group] = table
        return table

    # -- what stays decoded --------------------------------------------------------------
    def will_need(self, groups, now):
        """The block shuffle's hint: ``groups`` (sorted) are read next.  In the
        background (``now`` false: decoded in file order, the source's resident set
        unchanged, None returned) or now (the window served from here: decoded before
        returning, the previous window's groups retiring), returning the new resident
        set."""
        wanted = set(groups.tolist())
        if not now:
            self._next = wanted
            fresh = self._unstarted(groups.tolist())
            self._read_ahead(fresh)
            self._queue(fresh)
            return None
        self._tables_of(groups.tolist())
        keep = wanted | self._next
        self._retiring |= (self._window - keep)
        self._window = wanted
        for group, pending in list(self._pending.items()):
            if group not in keep and pending.cancel():
                del self._pending[group]
        return self.resident()

    def ensure(self, needed):
        """Row groups ``needed`` (sorted int64) decoded for a batch: kept in the cache
        unless a window holds them; groups retiring from a window that this batch does
        not need are freed.  Returns the new resident set."""
        needed_set = set(needed.tolist())
        fresh_groups = {g for g in needed_set if g not in self._tables}
        self._tables_of(needed.tolist())
        for group in needed.tolist():
            fresh = group in fresh_groups
            if group in self._cache:
                self._cache.move_to_end(group)
            elif fresh and group not in self._window and group not in self._next:
                self._cache[group] = self._tables[group].nbytes
        self._retiring &= needed_set
        for group in list(self._cache):
            if sum(self._cache.values()) <= self.cache_bytes:
                break
            if group not in needed_set:
                del self._cache[group]
        held = self._window | self._retiring | self._next | needed_set
        for group in list(self._tables):
            if group not in held and group not in self._cache:
                del self._tables[group]
        return self.resident()

    def resident(self):
        """``(TableSource over the decoded groups in file order, slots, retiring)``:
        ``slots[g]`` is row group ``g``'s first row in that table, -1 when it is not
        decoded (or still being decoded in the background)."""
        order = sorted(self._tables)
        slots = np.full(len(self.where), -1, dtype=np.int64)
        if self.row_major:
            for group in order:
                slots[group] = self._tables[group].ctypes.data
            return None, slots, bool(self._retiring)
        offset = 0
        for group in order:
            slots[group] = offset
            offset += int(self.starts[group + 1] - self.starts[group])
        tables = [self._tables[g] for g in order] or [self.schema.empty_table()]
        table = self._pa.concat_tables(tables)
        source = ArrowSource(table, columns=self.names, pad_to=self.options["pad_to"],
                             pad_value=self.options["pad_value"]).source
        return source, slots, bool(self._retiring)

    def check_shuffle_method(self, method):
        if method == "block":
            return
        fixed = all(c.kind != LIST for c in self.columns)
        estimate = (int(self.starts[-1]) * self._row_bytes() if fixed
                    else self.stored_bytes)
        if estimate > self.cache_bytes:
            first = self.footers[0][0]
            raise ValueError(
                f"shuffle_method={method!r} reads rows of any row group at any time: the "
                f"Parquet files ({first}, ...) decode to about {_size(estimate)}, more "
                f"than the decoded row groups open_files keeps (cache_bytes="
                f"{_size(self.cache_bytes)}); use shuffle_method='block' (a window of "
                "row groups at a time), pass a larger cache_bytes to open_files, or "
                "convert the data to .npy or Arrow IPC files (memory-mapped)")

    def _row_bytes(self):
        return sum(c.dtype.itemsize * int(np.prod(c.shape, dtype=np.int64))
                   for c in self.columns)


def _size(n):
    return f"{n / MIB:.1f} MiB" if n >= MIB else f"{n} bytes"


def parquet_source(opened, options, cache_bytes):
    """A fresh ``ParquetSource`` (its own decoded row groups) for one loader, reading
    ``options["columns"]`` (among the opened ones; None: all of them)."""
    names, schema, columns, footers, groups = opened
    wanted = options.get("columns")
    if wanted is not None and list(wanted) != names:
        picked = column_names(schema.empty_table(), wanted)
        columns = [columns[names.index(name)] for name in picked]
        schema = import_pyarrow().schema([schema.field(name) for name in picked])
        opened = picked, schema, columns, footers, groups
    return ParquetSource(RowGroups(opened, options, cache_bytes))


def check_cache_bytes(cache_bytes):
    """``cache_bytes`` as an int >= 0 (None: the default), or a clear error."""
    if cache_bytes is None:
        return DEFAULT_CACHE_BYTES
    if isinstance(cache_bytes, bool) or not isinstance(cache_bytes, (int, np.integer)):
        raise TypeError(f"cache_bytes must be an int, got {cache_bytes!r}")
    if cache_bytes < 0:
        raise ValueError(f"cache_bytes must be >= 0, got {cache_bytes}")
    return int(cache_bytes)
