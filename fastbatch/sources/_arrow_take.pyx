"""Row gathers over the buffers of Arrow columns, across chunks, all columns in one call.

``fastbatch.sources.arrow`` validates a table and describes every column as per-segment base
pointers (a segment is a row range that lies in one chunk of every column).  ``ArrowTake``
then gathers a batch's rows of every column under one ``nogil`` block: a row's segment is
found once per batch through a small lookup table over the segment starts, never by
concatenating chunks.  Kernels trust their inputs; the only check left in C is on Arrow
list offsets read from the data (a corrupt file must not make us read out of bounds), and
it is reported as a status code.
"""
cimport cython
cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t, uint8_t, uintptr_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy

cnp.import_array()

cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #  define FB_ARROW_PREFETCH(p) __builtin_prefetch((const void *)(p), 0, 3)
    #else
    #  define FB_ARROW_PREFETCH(p) ((void)(p))
    #endif
    """
    void FB_ARROW_PREFETCH(const void *p) noexcept nogil

# Column kinds; fastbatch.sources.arrow uses the same numbers.
KIND_FIXED = 0   # fixed-width rows (numbers, fixed-size lists of numbers)
KIND_BITS = 1    # Arrow booleans: one bit per row, unpacked to one byte
KIND_LIST = 2    # variable-length lists of numbers: offsets + values

cdef enum:
    FIXED = 0
    BITS = 1
    LIST = 2
    # A random row read is a cache miss: keep several in flight (as fastbatch._kernels).
    PREFETCH_ROWS = 16
    PREFETCH_BYTES = 8192
    CACHE_LINE = 64
    # NumPy's limit on dimensions (NPY_MAXDIMS is 64 in NumPy 2, 32 before).
    MAX_DIMS = 64


cdef inline const char *row_at(const int64_t *bases, int64_t seg, int64_t local,
                               Py_ssize_t row_bytes) noexcept nogil:
    return <const char *><uintptr_t>bases[seg] + local * row_bytes


cdef inline void copy_fixed(const int64_t *bases, const int64_t *seg, const int64_t *local,
                            const Py_ssize_t nbytes, Py_ssize_t k, char *dst) noexcept nogil:
    # nbytes is a compile-time constant at the small-row call sites: memcpy becomes moves.
    cdef Py_ssize_t i
    cdef Py_ssize_t ahead = k - PREFETCH_ROWS
    for i in range(k):
        if i < ahead:
            FB_ARROW_PREFETCH(row_at(bases, seg[i + PREFETCH_ROWS], local[i + PREFETCH_ROWS],
                                     nbytes))
        memcpy(dst + i * nbytes, row_at(bases, seg[i], local[i], nbytes), nbytes)


cdef inline void copy_large(const int64_t *bases, const int64_t *seg, const int64_t *local,
                            Py_ssize_t nbytes, Py_ssize_t k, char *dst) noexcept nogil:
    # About PREFETCH_BYTES of rows in flight: the core drops prefetches beyond its limit.
    cdef Py_ssize_t distance = max(2, PREFETCH_BYTES // nbytes)
    cdef Py_ssize_t i, off
    cdef Py_ssize_t ahead = k - distance
    cdef const char *row
    for i in range(k):
        if i < ahead:
            row = row_at(bases, seg[i + distance], local[i + distance], nbytes)
            off = 0
            while off < nbytes:
                FB_ARROW_PREFETCH(row + off)
                off += CACHE_LINE
        memcpy(dst + i * nbytes, row_at(bases, seg[i], local[i], nbytes), <size_t>nbytes)


cdef void copy_rows(const int64_t *bases, const int64_t *seg, const int64_t *local,
                    Py_ssize_t nbytes, Py_ssize_t k, char *dst) noexcept nogil:
    if nbytes == 1:
        copy_fixed(bases, seg, local, 1, k, dst)
    elif nbytes == 2:
        copy_fixed(bases, seg, local, 2, k, dst)
    elif nbytes == 4:
        copy_fixed(bases, seg, local, 4, k, dst)
    elif nbytes == 8:
        copy_fixed(bases, seg, local, 8, k, dst)
    elif nbytes == 16:
        copy_fixed(bases, seg, local, 16, k, dst)
    elif nbytes <= CACHE_LINE:
        copy_fixed(bases, seg, local, nbytes, k, dst)
    else:
        copy_large(bases, seg, local, nbytes, k, dst)


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
            FB_ARROW_PREFETCH(<const char *><uintptr_t>bases[seg[i + PREFETCH_ROWS]]
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
            FB_ARROW_PREFETCH(<const char *><uintptr_t>values[seg[j]] + first * itemsize)
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


@cython.final
cdef class Scratch:
    """Per-call C arrays of one gather, freed with it (calls may run in parallel)."""
    cdef bint *use
    cdef char **dst
    cdef int64_t **offsets
    cdef int64_t *stats
    cdef int64_t *pads
    cdef int64_t *loc

    def __cinit__(self, Py_ssize_t n_cols, Py_ssize_t k):
        cdef Py_ssize_t c
        self.use = <bint *>calloc(n_cols + 1, sizeof(bint))
        self.dst = <char **>calloc(n_cols + 1, sizeof(char *))
        self.offsets = <int64_t **>calloc(n_cols + 1, sizeof(int64_t *))
        self.stats = <int64_t *>calloc(2 * n_cols + 1, sizeof(int64_t))
        self.pads = <int64_t *>malloc((n_cols + 1) * sizeof(int64_t))
        self.loc = <int64_t *>malloc((2 * k + 1) * sizeof(int64_t))
        if (self.use == NULL or self.dst == NULL or self.offsets == NULL or
                self.stats == NULL or self.pads == NULL or self.loc == NULL):
            raise MemoryError()
        for c in range(n_cols):
            self.pads[c] = -1

    def __dealloc__(self):
        free(self.use)
        free(self.dst)
        free(self.offsets)
        free(self.stats)
        free(self.pads)
        free(self.loc)


cdef class ArrowTake:
    """Gathers rows of a validated, segmented Arrow table (built by ``fastbatch.sources.arrow``).

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
    """
    cdef Py_ssize_t n_segs, n_cols, shift
    cdef const int64_t *starts
    cdef const int64_t *table
    cdef const int32_t *kinds
    cdef const int64_t *row_bytes
    cdef const int32_t *widths
    cdef const int64_t *bases
    cdef const int64_t *values
    cdef const int64_t *extents
    cdef const int32_t *type_nums
    cdef tuple names
    cdef list shapes
    cdef int64_t pad_to
    cdef object pad_value, ragged, keep

    def __init__(self, const int64_t[::1] starts, const int64_t[::1] table, int shift,
                 const int32_t[::1] kinds, const int64_t[::1] row_bytes,
                 const int32_t[::1] offset_widths, const int64_t[:, ::1] bases,
                 const int64_t[:, ::1] values, const int64_t[:, ::1] extents,
                 const int32_t[::1] type_nums, tuple names, list shapes, int64_t pad_to,
                 pad_value, ragged, owners):
        cdef bint has_cols = kinds.shape[0] > 0
        cdef bint has_cells = has_cols and starts.shape[0] > 1
        self.n_segs = starts.shape[0] - 1
        self.n_cols = kinds.shape[0]
        self.shift = shift
        self.names, self.shapes = names, shapes
        self.pad_to, self.pad_value, self.ragged = pad_to, pad_value, ragged
        self.keep = (starts, table, kinds, row_bytes, offset_widths, bases, values, extents,
                     type_nums, owners)
        self.starts = &starts[0]
        self.table = &table[0]
        self.kinds = &kinds[0] if has_cols else NULL
        self.row_bytes = &row_bytes[0] if has_cols else NULL
        self.widths = &offset_widths[0] if has_cols else NULL
        self.type_nums = &type_nums[0] if has_cols else NULL
        self.bases = &bases[0, 0] if has_cells else NULL
        self.values = &values[0, 0] if has_cells else NULL
        self.extents = &extents[0, 0] if has_cells else NULL

    cdef void locate(self, const int64_t *idx, Py_ssize_t k, int64_t *seg,
                     int64_t *local) noexcept nogil:
        cdef Py_ssize_t i
        cdef int64_t r, lo, hi, mid
        for i in range(k):
            r = idx[i]
            lo = self.table[r >> self.shift]
            hi = self.table[(r >> self.shift) + 1]
            while lo < hi:
                mid = (lo + hi + 1) >> 1
                if self.starts[mid] <= r:
                    lo = mid
                else:
                    hi = mid - 1
            seg[i] = lo
            local[i] = r - self.starts[lo]

    cdef cnp.ndarray empty_rows(self, Py_ssize_t c, Py_ssize_t k):
        cdef cnp.npy_intp dims[MAX_DIMS]
        cdef tuple shape = <tuple>self.shapes[c]
        cdef Py_ssize_t j, nd = len(shape) + 1
        dims[0] = k
        for j in range(nd - 1):
            dims[j + 1] = <cnp.npy_intp>shape[j]
        return cnp.PyArray_EMPTY(<int>nd, dims, self.type_nums[c], 0)

    def gather(self, const int64_t[::1] idx, wanted=None):
        """Rows ``idx`` of the columns ``wanted`` (default all) as a dict {name: batch}.

        Returns ``c + 1`` instead when column ``c``'s list offsets point outside its
        values (corrupt data): the caller raises.
        """
        cdef Py_ssize_t k = idx.shape[0], c, s, n = self.n_cols
        cdef cnp.npy_intp dims[2]
        cdef int status = 0
        cdef bint any_list = False
        cdef list outs = [None] * n
        cdef list offsets = [None] * n
        cdef dict result = {}
        # Per column: selected, destination, output offsets, (total, longest), pad width.
        cdef Scratch sc = Scratch(n, k)
        for c in (range(n) if wanted is None else wanted):
            if not 0 <= c < n:
                raise IndexError(f"column {c} out of range for {n} columns")
            sc.use[c] = True
            if self.kinds[c] == LIST:
                any_list = True
                dims[0] = k + 1
                offsets[c] = cnp.PyArray_EMPTY(1, dims, cnp.NPY_INT64, 0)
                sc.offsets[c] = <int64_t *>cnp.PyArray_DATA(<cnp.ndarray>offsets[c])
                sc.offsets[c][0] = 0
        if any_list and k > 0:
            with nogil:
                self.locate(&idx[0], k, sc.loc, sc.loc + k)
                for c in range(n):
                    if sc.offsets[c] == NULL:
                        continue
                    s = c * self.n_segs
                    if not list_lengths(self.bases + s, self.extents + s, self.widths[c],
                                        sc.loc, sc.loc + k, k, sc.offsets[c],
                                        sc.stats + 2 * c):
                        status = c + 1
                        break
            if status:
                return status
        for c in range(n):
            if not sc.use[c]:
                continue
            if self.kinds[c] != LIST:
                outs[c] = self.empty_rows(c, k)
            elif self.pad_to < 0:
                dims[0] = sc.stats[2 * c]
                outs[c] = cnp.PyArray_EMPTY(1, dims, self.type_nums[c], 0)
            else:
                sc.pads[c] = sc.stats[2 * c + 1] if self.pad_to == 0 else self.pad_to
                dims[0], dims[1] = k, sc.pads[c]
                outs[c] = cnp.PyArray_EMPTY(2, dims, self.type_nums[c], 0)
                outs[c].fill(self.pad_value)
            sc.dst[c] = <char *>cnp.PyArray_DATA(<cnp.ndarray>outs[c])
            if self.kinds[c] == LIST and self.pad_to < 0:
                result[self.names[c]] = self.ragged(outs[c], offsets[c])
            else:
                result[self.names[c]] = outs[c]
        if k > 0:
            with nogil:
                if not any_list:
                    self.locate(&idx[0], k, sc.loc, sc.loc + k)
                self.copy(k, sc)
        return result

    cdef void copy(self, Py_ssize_t k, Scratch sc) noexcept nogil:
        cdef Py_ssize_t c, s
        cdef const int64_t *seg = sc.loc
        cdef const int64_t *local = sc.loc + k
        for c in range(self.n_cols):
            if sc.dst[c] == NULL:
                continue
            s = c * self.n_segs
            if self.kinds[c] == FIXED:
                copy_rows(self.bases + s, seg, local, self.row_bytes[c], k, sc.dst[c])
            elif self.kinds[c] == BITS:
                copy_bits(self.bases + s, self.extents + s, seg, local, k,
                          <uint8_t *>sc.dst[c])
            else:
                copy_lists(self.bases + s, self.values + s, self.widths[c],
                           self.row_bytes[c], seg, local, k, sc.offsets[c], sc.pads[c],
                           sc.dst[c])
