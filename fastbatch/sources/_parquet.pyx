"""Parquet files as a Source: row groups decoded on demand, rows read from the decoded ones.

A Parquet file's rows are not addressable until pyarrow decodes their row group.
``ParquetSource`` keeps the decoded row groups (held by
``fastbatch.sources.parquet_files.RowGroups``, which decodes, reads ahead and frees them)
as one Arrow table in file order, read through a ``TableSource`` (``_table.pyx``, the same
column rules as tables in memory), and translates the loader's sample numbers to rows of
that table: sample ``r`` of row group ``g`` is resident row ``slots[g] + r - starts[g]``.
Before rows are filled (``prepare_rows``, with the GIL) their row groups are made
resident; the fill itself then runs without the GIL, on the kernels' threads.

Row groups whose columns are all fixed-width (numbers, fixed-size lists, booleans as one
byte) are kept *row-major* instead: the background thread that decodes a row group
interleaves its columns into one block of rows (``interleave_columns``), so a shuffled
row costs one cache line read instead of one per column, and ``slots[g]`` is the
address of row group ``g``'s block.
"""
cimport numpy as cnp
from libc.stdint cimport int64_t, uintptr_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from fastbatch._kernels.status cimport FB_ENOMEM, FB_OK, raise_for_status
from fastbatch.sources._source import segment_block_bounds
from fastbatch.sources._source cimport FILL_KERNEL, Source, last_start_at

import numpy as np

cnp.import_array()

cdef extern from "prefetch.h":
    void FB_PREFETCH(const void *p) noexcept nogil

# Rows interleaved at a time: 256 rows of 64 bytes are 16 KiB, in L1.
cdef Py_ssize_t INTERLEAVE_TILE = 256


def interleave_columns(list columns, cnp.ndarray out):
    """Rows of ``columns`` (C-contiguous arrays of one length, viewed as bytes per row)
    laid end to end in ``out`` (uint8, ``(rows, sum of row bytes)``), with the GIL
    released: a row-major copy of a decoded row group.

    Examples
    --------
    >>> import numpy as np
    >>> from fastbatch.sources._parquet import interleave_columns
    >>> out = np.empty((3, 3), dtype=np.uint8)
    >>> interleave_columns([np.arange(3, dtype=np.uint8), np.full((3, 2), 9, np.uint8)], out)
    >>> out.tolist()
    [[0, 9, 9], [1, 9, 9], [2, 9, 9]]
    """
    cdef Py_ssize_t n_cols = len(columns), rows = out.shape[0], c
    cdef Py_ssize_t width = out.shape[1] if out.ndim == 2 else 0
    cdef Py_ssize_t offset = 0
    cdef char *dst = <char *>cnp.PyArray_DATA(out)
    if out.dtype != np.uint8 or out.ndim != 2 or not out.flags.c_contiguous:
        raise ValueError("out must be a C-contiguous 2-D uint8 array")
    arrays = [np.ascontiguousarray(a) for a in columns]
    for a in arrays:
        if a.shape[0] != rows:
            raise ValueError(f"a column of {a.shape[0]} rows for {rows} output rows")
        offset += a.nbytes // rows if rows else 0
    if rows and offset != width:
        raise ValueError(f"the columns' rows are {offset} bytes, out's {width}")
    if rows == 0 or n_cols == 0:
        return
    cdef Py_ssize_t *widths = <Py_ssize_t *>malloc(n_cols * sizeof(Py_ssize_t))
    cdef const char **sources = <const char **>malloc(n_cols * sizeof(char *))
    if widths == NULL or sources == NULL:
        free(widths)
        free(sources)
        raise MemoryError()
    for c in range(n_cols):
        widths[c] = (<cnp.ndarray>arrays[c]).nbytes // rows
        sources[c] = <const char *>cnp.PyArray_DATA(<cnp.ndarray>arrays[c])
    with nogil:
        interleave(sources, widths, n_cols, rows, dst, width)
    free(widths)
    free(sources)


cdef void interleave(const char **sources, const Py_ssize_t *widths, Py_ssize_t n_cols,
                     Py_ssize_t rows, char *dst, Py_ssize_t width) noexcept nogil:
    # A tile of rows at a time (its output stays in L1 while every column is written
    # into it), each column read sequentially; constant-size copies for common widths.
    cdef Py_ssize_t t = 0, stop, c, i, cb, offset
    cdef const char *src
    while t < rows:
        stop = min(rows, t + INTERLEAVE_TILE)
        offset = 0
        for c in range(n_cols):
            cb, src = widths[c], sources[c]
            if cb == 4:
                for i in range(t, stop):
                    memcpy(dst + i * width + offset, src + i * 4, 4)
            elif cb == 8:
                for i in range(t, stop):
                    memcpy(dst + i * width + offset, src + i * 8, 8)
            else:
                for i in range(t, stop):
                    memcpy(dst + i * width + offset, src + i * cb, <size_t>cb)
            offset += cb
        t = stop


cdef class ParquetSource(Source):
    """The ``Source`` over the row groups of Parquet files (built by
    ``fastbatch.sources.parquet_files``).

    Parameters
    ----------
    groups : fastbatch.sources.parquet_files.RowGroups
        Decodes, reads ahead and frees the row groups; ``groups.starts`` (int64,
        ``n_groups + 1``) are their first rows, then the row count.
    """
    cdef Source inner
    cdef object groups, starts_array, slots_array
    # Row-major row groups (see the module's docstring): a row's bytes, and each
    # column's offset, width, dtype and trailing shape in it.
    cdef bint rowwise
    cdef Py_ssize_t width
    cdef object offsets_array, widths_array, dtypes, shapes, names
    cdef const int64_t *col_offsets
    cdef const int64_t *col_widths
    cdef const int64_t *starts
    cdef const int64_t *slots
    cdef Py_ssize_t n_groups
    # Row groups of a window already served are still resident: freed at the next
    # prepare_rows that does not need them.
    cdef bint retiring
    # Set by the file sources (see fastbatch.sources.source_for).
    cdef public object natural_bounds
    cdef public bint mapped

    def __init__(self, groups):
        cdef Source template
        self.groups = groups
        self.starts_array = np.ascontiguousarray(groups.starts, dtype=np.int64)
        self.starts = <const int64_t *>cnp.PyArray_DATA(self.starts_array)
        self.n_groups = self.starts_array.shape[0] - 1
        self.n_samples = self.starts[self.n_groups]
        self.install(groups.resident())
        self.rowwise = groups.row_major
        if self.rowwise:
            self.names = tuple(groups.names)
            self.dtypes, self.shapes = groups.row_dtypes, groups.row_shapes
            self.widths_array = np.array([d.itemsize * int(np.prod(shape, dtype=np.int64))
                                          for d, shape in zip(self.dtypes, self.shapes)],
                                         dtype=np.int64)
            # Each column's offset in a row: the widths before it.
            self.offsets_array = (np.cumsum(self.widths_array) - self.widths_array
                                  ).astype(np.int64)
            self.col_widths = <const int64_t *>cnp.PyArray_DATA(self.widths_array)
            self.col_offsets = <const int64_t *>cnp.PyArray_DATA(self.offsets_array)
            self.width = int(self.widths_array.sum())
            self.init_fills(len(self.names))
            for o in range(self.n_outputs):
                self.fills[o] = FILL_KERNEL
            self.row_bytes, self.fixed = self.width, True
            return
        template = self.inner
        self.init_fills(template.n_outputs)
        for o in range(template.n_outputs):
            self.fills[o] = template.fills[o]
        self.row_bytes, self.fixed = template.row_bytes, template.fixed

    cdef int install(self, resident) except -1:
        # resident: (TableSource over the resident row groups, their slots, retiring).
        self.inner, self.slots_array, self.retiring = resident
        self.slots = <const int64_t *>cnp.PyArray_DATA(self.slots_array)
        return 0

    cdef inline Py_ssize_t group_of(self, int64_t r) noexcept nogil:
        return last_start_at(self.starts, 0, self.n_groups - 1, r)

    cdef int prepare_rows(self, const int64_t *idx, Py_ssize_t k) except -1:
        cdef Py_ssize_t i
        cdef bint missing = False
        for i in range(k):
            if self.slots[self.group_of(idx[i])] < 0:
                missing = True
                break
        if not missing and not self.retiring:
            return 0
        cdef cnp.npy_intp dims[1]
        dims[0] = k
        rows = cnp.PyArray_SimpleNewFromData(1, dims, cnp.NPY_INT64, <void *>idx)
        needed = np.unique(np.searchsorted(self.starts_array, rows, side="right") - 1)
        self.install(self.groups.ensure(needed))
        # fill trusts the slots: a row group left out would be read at slot -1.
        if (self.slots_array[needed] < 0).any():
            raise SystemError(f"row groups {needed[self.slots_array[needed] < 0]} were "
                              "not made resident")
        return 0

    cdef int translate(self, const int64_t *idx, Py_ssize_t k,
                       int64_t *out) noexcept nogil:
        cdef Py_ssize_t i, g
        for i in range(k):
            g = self.group_of(idx[i])
            out[i] = self.slots[g] + idx[i] - self.starts[g]
        return 0

    cdef int fill(self, const int64_t *idx, Py_ssize_t k, char **dst,
                  bint serial) noexcept nogil:
        cdef int64_t *rows
        cdef int status
        if self.rowwise:
            return self.fill_rows(idx, k, dst)
        rows = <int64_t *>malloc(max(k, 1) * sizeof(int64_t))
        if rows == NULL:
            return FB_ENOMEM
        self.translate(idx, k, rows)
        status = self.inner.fill(rows, k, dst, serial)
        free(rows)
        return status

    cdef int fill_rows(self, const int64_t *idx, Py_ssize_t k,
                       char **dst) noexcept nogil:
        # Row-major row groups: the rows' addresses first, each prefetched as it is
        # found (a 64-byte row is one cache line: the batch's reads are all in flight
        # at once), then each column cut out of the rows (in cache by then), with
        # constant-size copies for the common widths.
        cdef Py_ssize_t i, c, g
        cdef int64_t w, off
        cdef char *out
        cdef const char **rows = <const char **>malloc(max(k, 1) * sizeof(char *))
        if rows == NULL:
            return FB_ENOMEM
        for i in range(k):
            g = self.group_of(idx[i])
            rows[i] = (<const char *><uintptr_t>self.slots[g]
                       + (idx[i] - self.starts[g]) * self.width)
            FB_PREFETCH(rows[i])
            FB_PREFETCH(rows[i] + self.width - 1)
        for c in range(self.n_outputs):
            out = dst[c]
            if out == NULL:
                continue
            w, off = self.col_widths[c], self.col_offsets[c]
            if w == 4:
                for i in range(k):
                    memcpy(out + 4 * i, rows[i] + off, 4)
            elif w == 8:
                for i in range(k):
                    memcpy(out + 8 * i, rows[i] + off, 8)
            elif w == 1:
                for i in range(k):
                    out[i] = rows[i][off]
            else:
                for i in range(k):
                    memcpy(out + w * i, rows[i] + off, <size_t>w)
        free(rows)
        return FB_OK

    cdef object gather_rows(self, object indices):
        # A new batch of the samples `indices` (in range), read row-major.
        cdef Py_ssize_t k = len(indices), c
        cdef cnp.ndarray idx = np.ascontiguousarray(indices, dtype=np.int64)
        cdef char **dst = <char **>malloc(max(self.n_outputs, 1) * sizeof(char *))
        cdef int status = FB_OK
        if dst == NULL:
            raise MemoryError()
        try:
            self.prepare_rows(<const int64_t *>cnp.PyArray_DATA(idx), k)
            outputs = tuple(self.empty_output(c, k) for c in range(self.n_outputs))
            for c in range(self.n_outputs):
                dst[c] = <char *>cnp.PyArray_DATA(<cnp.ndarray>outputs[c])
            with nogil:
                status = self.fill_rows(<const int64_t *>cnp.PyArray_DATA(idx), k, dst)
        finally:
            free(dst)
        raise_for_status(status, NULL)
        return self.assemble(outputs)

    cdef object views(self, Py_ssize_t first, Py_ssize_t k, Py_ssize_t step):
        cdef int64_t edge[2]
        cdef int64_t at[1]
        if self.rowwise:
            # Row-major blocks hold no column to view: sequential batches are copies.
            return self.gather_rows(np.arange(first, first + k * step, step,
                                              dtype=np.int64))
        if k == 0:
            return self.inner.views(0, 0, step)
        edge[0], edge[1] = first, first + (k - 1) * step
        # Resident row groups lie in file order: when every group from the first row's
        # to the last row's is resident, the rows are one run of the resident table.
        self.prepare_groups(self.group_of(edge[0]), self.group_of(edge[1]))
        self.translate(edge, 1, at)
        return self.inner.views(at[0], k, step)

    cdef int prepare_groups(self, Py_ssize_t g0, Py_ssize_t g1) except -1:
        cdef Py_ssize_t g
        for g in range(g0, g1 + 1):
            if self.slots[g] < 0 or self.retiring:
                self.install(self.groups.ensure(np.arange(g0, g1 + 1, dtype=np.int64)))
                break
        for g in range(g0, g1 + 1):
            if self.slots[g] < 0:
                raise SystemError(f"row group {g} was not made resident")
        return 0

    cdef cnp.ndarray empty_output(self, Py_ssize_t o, Py_ssize_t k):
        if self.rowwise:
            return np.empty((k,) + self.shapes[o], dtype=self.dtypes[o])
        return self.inner.empty_output(o, k)

    cdef object fill_python(self, Py_ssize_t o, object indices, cnp.ndarray out):
        return self.inner.fill_python(o, self.resident_rows(indices), out)

    cdef dict gather_variable(self, object indices):
        return self.inner.gather_variable(self.resident_rows(indices))

    cdef object resident_rows(self, object indices):
        # Rows prepared by prepare_rows: their row groups are resident.
        groups = np.searchsorted(self.starts_array, indices, side="right") - 1
        return np.ascontiguousarray(self.slots_array[groups] + indices
                                    - self.starts_array[groups], dtype=np.int64)

    cdef object assemble(self, tuple outputs):
        cdef Py_ssize_t c
        if self.rowwise:
            return {self.names[c]: outputs[c] for c in range(self.n_outputs)}
        return self.inner.assemble(outputs)

    def check_batch_rows(self, rows):
        if not self.rowwise:
            self.inner.check_batch_rows(rows)

    def check_shuffle_method(self, method):
        self.groups.check_shuffle_method(method)

    def block_bounds(self, block_size=None):
        """Row groups (the natural unit), or ``block_size`` rows never across one."""
        return segment_block_bounds(self.starts_array, self.natural_bounds, block_size)

    def will_need_rows(self, ranges, bint now=False):
        # The row groups of those rows: decoded in the background, in file order, or
        # (now) before returning, the groups of the window served before them retired.
        ranges = np.asarray(ranges, dtype=np.int64).reshape(-1, 2)
        ranges = ranges[ranges[:, 1] > ranges[:, 0]]
        firsts = np.searchsorted(self.starts_array, ranges[:, 0], side="right") - 1
        lasts = np.searchsorted(self.starts_array, ranges[:, 1] - 1, side="right") - 1
        groups = (np.unique(np.concatenate([np.arange(a, b + 1) for a, b in
                                            zip(firsts.tolist(), lasts.tolist())]))
                  if len(ranges) else np.empty(0, dtype=np.int64))
        resident = self.groups.will_need(groups.astype(np.int64), now)
        if resident is not None:
            self.install(resident)

    @property
    def resident_groups(self):
        """Row groups decoded and readable now (int64, in file order)."""
        return np.flatnonzero(self.slots_array >= 0)
