"""Arrow columns as a Source: rows gathered across chunks, all columns in one call.

``fastbatch.sources.arrow`` validates a table and describes every column as per-segment
base pointers (a segment is a row range that lies in one chunk of every column).
``TableSource`` is the ``Source`` (``_source.pyx``) over them: a row's segment is found
once per batch through a small lookup table over the segment starts, never by
concatenating chunks; fixed-width columns are then copied by the kernels' row gather
(``fastbatch._kernels.take``, rows by address), booleans unpacked bit by bit, and
variable-length list columns (whose size depends on the rows) filled with the GIL held.
Kernels trust their inputs; the only check left in C is on Arrow list offsets read from
the data (a corrupt file must not make us read out of bounds).
"""
cimport cython
cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t, uint8_t, uintptr_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy

from fastbatch._kernels.ndarrays cimport MAX_DIMS
from fastbatch._kernels.readahead cimport advise_bytes
from fastbatch._kernels.status cimport FB_ENOMEM, FB_OK, raise_for_status
from fastbatch._kernels.take cimport fb_take_rows_at, take_rows_at
from fastbatch.sources._source import segment_block_bounds
from fastbatch.sources._source cimport (FILL_KERNEL, FILL_VARIABLE, Source,
                                       last_start_at)

import numpy as np

cnp.import_array()

cdef extern from "prefetch.h":
    void FB_PREFETCH(const void *p) noexcept nogil

# Column kinds; fastbatch.sources.arrow uses the same numbers.
KIND_FIXED = 0   # fixed-width rows (numbers, fixed-size lists of numbers)
KIND_BITS = 1    # Arrow booleans: one bit per row, unpacked to one byte
KIND_LIST = 2    # variable-length lists of numbers: offsets + values

# What a batch is (TableSource's `assemble`).
cdef enum:
    AS_DICT = 0
    AS_TUPLE = 1
    AS_SINGLE = 2

ASSEMBLE_MODES = {"dict": AS_DICT, "tuple": AS_TUPLE, "single": AS_SINGLE}

cdef enum:
    FIXED = 0
    BITS = 1
    LIST = 2
    # List rows: prefetch the offsets (then the values) this many rows ahead.
    PREFETCH_ROWS = 16


cdef void copy_bits(const int64_t *bases, const int64_t *bit_offsets, const int64_t *seg,
                    const int64_t *local, Py_ssize_t k, uint8_t *dst) noexcept nogil:
    cdef Py_ssize_t i
    cdef int64_t bit
    for i in range(k):
        bit = bit_offsets[seg[i]] + local[i]
        dst[i] = ((<const uint8_t *><uintptr_t>bases[seg[i]])[bit >> 3] >> (bit & 7)) & 1


cdef inline void list_bounds(const int64_t *bases, int width, int64_t seg, int64_t local,
                             int64_t *first, int64_t *last) noexcept nogil:
    # A row's [first, last) in its chunk's values, from Arrow's int32 or int64 offsets.
    cdef const char *offsets = <const char *><uintptr_t>bases[seg]
    if width == 4:
        first[0] = (<const int32_t *>offsets)[local]
        last[0] = (<const int32_t *>offsets)[local + 1]
    else:
        first[0] = (<const int64_t *>offsets)[local]
        last[0] = (<const int64_t *>offsets)[local + 1]


cdef bint list_lengths(const int64_t *bases, const int64_t *extents, int width,
                       const int64_t *seg, const int64_t *local, Py_ssize_t k,
                       int64_t *out_offsets, int64_t *stats) noexcept nogil:
    # Output offsets (from 0) of the batch's rows; stats = (total values, longest row).
    # False when the data's offsets point outside the values they index.
    cdef Py_ssize_t i
    cdef int64_t first, last, longest = 0
    out_offsets[0] = 0
    for i in range(k):
        if i + PREFETCH_ROWS < k:
            FB_PREFETCH(<const char *><uintptr_t>bases[seg[i + PREFETCH_ROWS]]
                              + local[i + PREFETCH_ROWS] * width)
        list_bounds(bases, width, seg[i], local[i], &first, &last)
        if first < 0 or last < first or last > extents[seg[i]]:
            return False
        out_offsets[i + 1] = out_offsets[i] + (last - first)
        if last - first > longest:
            longest = last - first
    stats[0] = out_offsets[k]
    stats[1] = longest
    return True


cdef void copy_lists(const int64_t *bases, const int64_t *values, int width,
                     Py_ssize_t itemsize, const int64_t *seg, const int64_t *local,
                     Py_ssize_t k, const int64_t *out_offsets, int64_t pad_width,
                     char *dst) noexcept nogil:
    # Unpadded (pad_width < 0): rows end to end at out_offsets.  Padded: row i at
    # i * pad_width, cut to pad_width values; the caller pre-filled the padding.
    # The bounds were checked by list_lengths on the same rows.
    cdef Py_ssize_t i, j
    cdef int64_t first, last, n
    cdef char *row_dst
    for i in range(k):
        j = i + PREFETCH_ROWS
        if j < k:        # its offsets are in cache since list_lengths: fetch its values
            list_bounds(bases, width, seg[j], local[j], &first, &last)
            FB_PREFETCH(<const char *><uintptr_t>values[seg[j]] + first * itemsize)
        list_bounds(bases, width, seg[i], local[i], &first, &last)
        n = last - first
        if pad_width < 0:
            row_dst = dst + out_offsets[i] * itemsize
        else:
            row_dst = dst + i * pad_width * itemsize
            if n > pad_width:
                n = pad_width
        memcpy(row_dst, <const char *><uintptr_t>values[seg[i]] + first * itemsize,
               <size_t>(n * itemsize))


cdef class TableSource(Source):
    """The ``Source`` over a validated, segmented Arrow table (built by
    ``fastbatch.sources.arrow_columns.build_source``).

    Parameters
    ----------
    starts : int64 array, shape (n_segments + 1,)
        First row of every segment, then the row count.
    table, shift : int64 array and int
        ``table[r >> shift]`` is the segment holding row ``r >> shift << shift``;
        ``table[-1]`` is the last segment.  A row's segment lies between
        ``table[r >> shift]`` and ``table[(r >> shift) + 1]``.
    kinds : int32 array, shape (n_columns,)
        KIND_FIXED, KIND_BITS or KIND_LIST per column.
    row_bytes : int64 array, shape (n_columns,)
        Bytes of a row (KIND_FIXED) or of one list value (KIND_LIST).
    offset_widths : int32 array, shape (n_columns,)
        4 or 8: the byte width of a KIND_LIST column's offsets.
    bases : int64 array, shape (n_columns, n_segments)
        Address of the segment's first row (KIND_FIXED), of its bitmap byte 0
        (KIND_BITS) or of its first offset (KIND_LIST).
    values : int64 array, shape (n_columns, n_segments)
        KIND_LIST: address of the segment's chunk's first value.
    extents : int64 array, shape (n_columns, n_segments)
        KIND_BITS: bit offset of the segment's first row; KIND_LIST: number of values
        its chunk holds.
    type_nums : int32 array, shape (n_columns,)
        NumPy type number of a batch's items (``bool`` for KIND_BITS).
    names : tuple of str
        The batch dict's keys.
    shapes : list of tuple
        Trailing shape of a KIND_FIXED column's rows.
    pad_to, pad_value : int and number
        KIND_LIST batches: ``ragged(values, offsets)`` when ``pad_to < 0``; else a dense
        array filled with ``pad_value``, as wide as the longest row (0) or ``pad_to``.
    ragged : callable
        Builds a ragged batch from (values, offsets).
    owners : object
        Whatever keeps the addressed memory alive (the Arrow arrays).
    rows : int64 array or None
        A Dataset's indices mapping: sample ``i`` is table row ``rows[i]``.
    view : callable
        ``view(source, start, stop, step)``: the batch of samples
        ``range(start, stop, step)`` of this source, as views where the layout allows.
    corrupt : callable
        ``corrupt(c)``: the exception for column ``c`` whose list offsets point outside
        its values.
    check_rows : callable
        ``check_rows(rows)``: raises unless a batch of ``rows`` samples fits the platform
        (``check_batch_rows``).
    assemble : {"dict", "tuple", "single"}, default "dict"
        What a batch is: a dict ``{name: column}`` (tables), a tuple of the columns in
        order, or the one column itself (``.npy`` files, ``fastbatch.sources.files``).
    """
    cdef Py_ssize_t n_segs, n_cols, shift
    cdef const int64_t *starts
    cdef const int64_t *table
    cdef const int32_t *kinds
    cdef const int64_t *col_bytes
    cdef const int32_t *widths
    cdef const int64_t *bases
    cdef const int64_t *values
    cdef const int64_t *extents
    cdef const int32_t *type_nums
    cdef const int64_t *rows
    cdef tuple names
    cdef list shapes
    cdef int64_t pad_to
    cdef int mode
    cdef object pad_value, ragged, keep, view, corrupt, check_rows
    # Set by the file sources: natural block bounds, and whether the data is mapped.
    cdef public object natural_bounds
    cdef public bint mapped

    def __init__(self, const int64_t[::1] starts, const int64_t[::1] table, int shift,
                 const int32_t[::1] kinds, const int64_t[::1] row_bytes,
                 const int32_t[::1] offset_widths, const int64_t[:, ::1] bases,
                 const int64_t[:, ::1] values, const int64_t[:, ::1] extents,
                 const int32_t[::1] type_nums, tuple names, list shapes, int64_t pad_to,
                 pad_value, ragged, owners, rows, view, corrupt, check_rows,
                 str assemble="dict"):
        cdef bint has_cols = kinds.shape[0] > 0
        cdef bint has_cells = has_cols and starts.shape[0] > 1
        cdef const int64_t[::1] row_map
        cdef Py_ssize_t c
        if assemble not in ASSEMBLE_MODES:
            raise ValueError(f"assemble must be one of {list(ASSEMBLE_MODES)}, "
                             f"got {assemble!r}")
        if assemble == "single" and kinds.shape[0] != 1:
            raise ValueError(f"assemble='single' needs one column, got {kinds.shape[0]}")
        self.mode = ASSEMBLE_MODES[assemble]
        self.n_segs = starts.shape[0] - 1
        self.n_cols = kinds.shape[0]
        self.shift = shift
        self.names, self.shapes = names, shapes
        self.pad_to, self.pad_value, self.ragged = pad_to, pad_value, ragged
        self.view, self.corrupt, self.check_rows = view, corrupt, check_rows
        self.keep = (starts, table, kinds, row_bytes, offset_widths, bases, values, extents,
                     type_nums, owners, rows)
        self.starts = &starts[0]
        self.table = &table[0]
        self.kinds = &kinds[0] if has_cols else NULL
        self.col_bytes = &row_bytes[0] if has_cols else NULL
        self.widths = &offset_widths[0] if has_cols else NULL
        self.type_nums = &type_nums[0] if has_cols else NULL
        self.bases = &bases[0, 0] if has_cells else NULL
        self.values = &values[0, 0] if has_cells else NULL
        self.extents = &extents[0, 0] if has_cells else NULL
        self.n_samples = starts[starts.shape[0] - 1]
        self.rows = NULL
        if rows is not None:
            row_map = rows
            self.n_samples = row_map.shape[0]
            self.rows = &row_map[0] if row_map.shape[0] else NULL
        self.init_fills(self.n_cols)
        self.fixed = True
        for c in range(self.n_cols):
            if self.kinds[c] == LIST:
                self.fills[c] = FILL_VARIABLE
                self.fixed = False
            else:
                self.fills[c] = FILL_KERNEL
                self.row_bytes += self.col_bytes[c] if self.kinds[c] == FIXED else 1

    cdef void locate(self, const int64_t *idx, Py_ssize_t k, int64_t *seg,
                     int64_t *local) noexcept nogil:
        # Sample numbers to (segment, row in it), through the indices mapping if any.
        cdef Py_ssize_t i
        cdef int64_t r
        for i in range(k):
            r = idx[i] if self.rows == NULL else self.rows[idx[i]]
            seg[i] = self.segment_of(r)
            local[i] = r - self.starts[seg[i]]

    cdef object views(self, Py_ssize_t first, Py_ssize_t k, Py_ssize_t step):
        return self.view(self, first, first + (k - 1) * step + 1 if k else first, step)

    def check_batch_rows(self, rows):
        self.check_rows(rows)

    def block_bounds(self, block_size=None):
        """Blocks of ``block_size`` samples, never across a segment (a record batch, a
        chunk, a file), or with None the natural unit: ``natural_bounds`` when the
        source's files set it, else the segments; with a Dataset's indices mapping, which
        reorders the rows, runs of samples (about 1 MiB with None)."""
        if self.rows != NULL:
            return Source.block_bounds(self, block_size)
        return segment_block_bounds(self.keep[0], self.natural_bounds, block_size)

    def will_need_rows(self, ranges, bint now=False):
        # Memory-mapped files (``mapped``): the pages of those rows of every fixed-width
        # column, in file order (see fastbatch._kernels.readahead).
        cdef const int64_t[:, ::1] r = np.ascontiguousarray(ranges, dtype=np.int64)
        cdef Py_ssize_t i, c, s, n_segs = self.n_segs
        cdef int64_t first, stop, a, b
        cdef const char *base
        if not self.mapped or self.rows != NULL or n_segs == 0:
            return
        with nogil:
            for i in range(r.shape[0]):
                first, stop = r[i, 0], r[i, 1]
                s = self.segment_of(first) if stop > first else n_segs
                while s < n_segs and self.starts[s] < stop:
                    a = max(first, self.starts[s]) - self.starts[s]
                    b = min(stop, self.starts[s + 1]) - self.starts[s]
                    for c in range(self.n_cols):
                        if self.kinds[c] != FIXED or self.col_bytes[c] == 0:
                            continue
                        base = <const char *><uintptr_t>self.bases[c * n_segs + s]
                        advise_bytes(base + a * self.col_bytes[c],
                                     base + b * self.col_bytes[c], now)
                    s += 1

    cdef inline Py_ssize_t segment_of(self, int64_t r) noexcept nogil:
        # The segment holding table row r: between the lookup table's two entries.
        return last_start_at(self.starts, self.table[r >> self.shift],
                             self.table[(r >> self.shift) + 1], r)

    def views_py(self, Py_ssize_t start, Py_ssize_t stop, Py_ssize_t step):
        """Samples ``range(start, stop, step)`` (in range) as views where possible."""
        return self.view(self, start, stop, step)

    cdef cnp.ndarray empty_output(self, Py_ssize_t c, Py_ssize_t k):
        cdef cnp.npy_intp dims[MAX_DIMS]
        cdef tuple shape = <tuple>self.shapes[c]
        cdef Py_ssize_t j, nd = len(shape) + 1
        dims[0] = k
        for j in range(nd - 1):
            dims[j + 1] = <cnp.npy_intp>shape[j]
        return cnp.PyArray_EMPTY(<int>nd, dims, self.type_nums[c], 0)

    cdef int fill(self, const int64_t *idx, Py_ssize_t k, char **dst,
                  bint serial) noexcept nogil:
        cdef Py_ssize_t c, i, s
        cdef int64_t *loc
        cdef const char **addr
        cdef int64_t row_bytes
        if k == 0:
            return FB_OK
        loc = <int64_t *>malloc(2 * k * sizeof(int64_t))
        addr = <const char **>malloc(k * sizeof(char *))
        if loc == NULL or addr == NULL:
            free(loc)
            free(addr)
            return FB_ENOMEM
        self.locate(idx, k, loc, loc + k)
        for c in range(self.n_cols):
            if dst[c] == NULL:
                continue
            s = c * self.n_segs
            if self.kinds[c] == FIXED:
                row_bytes = self.col_bytes[c]
                for i in range(k):
                    addr[i] = (<const char *><uintptr_t>self.bases[s + loc[i]]
                               + loc[k + i] * row_bytes)
                if serial:
                    take_rows_at(addr, row_bytes, k, dst[c])
                else:
                    fb_take_rows_at(addr, row_bytes, k, dst[c])
            elif self.kinds[c] == BITS:
                copy_bits(self.bases + s, self.extents + s, loc, loc + k, k,
                          <uint8_t *>dst[c])
        free(loc)
        free(addr)
        return FB_OK

    cdef dict gather_variable(self, object indices):
        return self.list_columns(indices, None)

    cdef dict list_columns(self, const int64_t[::1] idx, object wanted):
        # {c: batch} of the list columns c (those in wanted, when given): their lengths
        # first (the output size depends on them), then their values.
        cdef Py_ssize_t k = idx.shape[0], c, s, n = self.n_cols
        cdef cnp.npy_intp dims[2]
        cdef int corrupt = -1
        cdef dict result = {}
        cdef int64_t stats[2]
        cdef int64_t pad
        cdef int64_t *loc = <int64_t *>malloc((2 * k + 1) * sizeof(int64_t))
        if loc == NULL:
            raise MemoryError()
        try:
            if k:
                with nogil:
                    self.locate(&idx[0], k, loc, loc + k)
            for c in range(n):
                if self.kinds[c] != LIST or (wanted is not None and c not in wanted):
                    continue
                s = c * self.n_segs
                dims[0] = k + 1
                offsets = cnp.PyArray_EMPTY(1, dims, cnp.NPY_INT64, 0)
                out_offsets = <int64_t *>cnp.PyArray_DATA(offsets)
                out_offsets[0] = 0
                stats[0] = stats[1] = 0
                with nogil:
                    if k and not list_lengths(self.bases + s, self.extents + s,
                                              self.widths[c], loc, loc + k, k,
                                              out_offsets, stats):
                        corrupt = c
                if corrupt >= 0:
                    raise self.corrupt(corrupt)
                if self.pad_to < 0:
                    pad = -1
                    dims[0] = stats[0]
                    out = cnp.PyArray_EMPTY(1, dims, self.type_nums[c], 0)
                    result[c] = self.ragged(out, offsets)
                else:
                    pad = stats[1] if self.pad_to == 0 else self.pad_to
                    dims[0], dims[1] = k, pad
                    out = cnp.PyArray_EMPTY(2, dims, self.type_nums[c], 0)
                    out.fill(self.pad_value)
                    result[c] = out
                dst = <char *>cnp.PyArray_DATA(<cnp.ndarray>out)
                with nogil:
                    copy_lists(self.bases + s, self.values + s, self.widths[c],
                               self.col_bytes[c], loc, loc + k, k, out_offsets, pad, dst)
        finally:
            free(loc)
        return result

    cdef object assemble(self, tuple outputs):
        cdef Py_ssize_t c
        if self.mode == AS_TUPLE:
            return outputs
        if self.mode == AS_SINGLE:
            return outputs[0]
        return {self.names[c]: outputs[c] for c in range(self.n_cols)}

    def gather(self, const int64_t[::1] idx, wanted=None):
        """Samples ``idx`` (trusted: in range) of the columns ``wanted`` (default all) as
        a dict ``{name: batch}``, every batch a new array."""
        cdef Py_ssize_t k = idx.shape[0], c
        cdef list columns = list(range(self.n_cols)) if wanted is None else list(wanted)
        cdef char **dst = <char **>calloc(max(self.n_cols, 1), sizeof(char *))
        cdef int status = FB_OK
        cdef dict outs
        for c in columns:
            if not 0 <= c < self.n_cols:
                raise IndexError(f"column {c} out of range for {self.n_cols} columns")
        if dst == NULL:
            raise MemoryError()
        try:
            outs = self.list_columns(idx, columns)
            for c in columns:
                if self.kinds[c] != LIST:
                    outs[c] = self.empty_output(c, k)
                    dst[c] = <char *>cnp.PyArray_DATA(<cnp.ndarray>outs[c])
            if k:
                with nogil:
                    status = self.fill(&idx[0], k, dst, False)
            raise_for_status(status, NULL)
        finally:
            free(dst)
        return {self.names[c]: outs[c] for c in sorted(columns)}
