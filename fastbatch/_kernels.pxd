# fastbatch C-level kernels: the C-API other Cython libraries cimport.
#
#     from fastbatch._kernels cimport fb_permutation_int64
#
# Every function here is ``noexcept nogil``, works on raw pointers and lengths and trusts
# its inputs (validation belongs to the caller).  Functions that can fail return an int
# status: 0 on success, a negative FB_E* code otherwise.  Keep this file small and stable:
# adding a function is fine, changing a signature breaks every package built against it.
from libc.stdint cimport int32_t, int64_t, uint64_t
from numpy.random cimport bitgen_t

cdef enum:
    FB_OK = 0
    FB_ENOMEM = -1        # a temporary buffer could not be allocated
    FB_ENONFINITE = -2    # a non-finite residual or parameter (training diverged)

# Uniform integer in [0, bound), bound >= 1, unbiased (Lemire's nearly divisionless method).
cdef uint64_t fb_random_bounded(bitgen_t *bitgen, uint64_t bound) noexcept nogil

# Fill out[0:n] with a uniform random permutation of 0..n-1.  Small n: Fisher-Yates;
# large n: a cache-friendly two-pass bucket shuffle (exactly uniform as well).
# The caller holds the bit generator's lock.  Returns FB_OK or FB_ENOMEM.
cdef int fb_permutation_int64(bitgen_t *bitgen, int64_t *out, int64_t n) noexcept nogil
cdef int fb_permutation_int32(bitgen_t *bitgen, int32_t *out, int64_t n) noexcept nogil

# In-place uniform shuffle of a[0:n] (Fisher-Yates; the caller picks sizes that fit cache).
cdef void fb_shuffle_int64(bitgen_t *bitgen, int64_t *a, int64_t n) noexcept nogil

# dst row i = src row idx[i], for i < k.  Rows are row_bytes contiguous bytes, src rows are
# src_stride bytes apart (any sign), dst is C-contiguous.  Prefetches upcoming source rows.
cdef void fb_take_rows(const char *src, Py_ssize_t src_stride, Py_ssize_t row_bytes,
                       const int64_t *idx, Py_ssize_t k, char *dst) noexcept nogil

# dst row dst_pos[i] = src row idx[i]: reads in the order of idx (e.g. sorted, for
# memory-mapped files) while the batch keeps its own order.
cdef void fb_take_rows_scatter(const char *src, Py_ssize_t src_stride, Py_ssize_t row_bytes,
                               const int64_t *idx, const int64_t *dst_pos, Py_ssize_t k,
                               char *dst) noexcept nogil

# Same for rows whose elements are not contiguous: ncols elements of itemsize bytes,
# col_stride bytes apart.
cdef void fb_take_rows_strided(const char *src, Py_ssize_t src_stride, Py_ssize_t ncols,
                               Py_ssize_t col_stride, Py_ssize_t itemsize,
                               const int64_t *idx, Py_ssize_t k, char *dst) noexcept nogil

# Test hook: the bucket algorithm forced at any n, with buckets of about bucket_bytes.
cdef int permutation_buckets_int64(bitgen_t *bitgen, int64_t *out, int64_t n,
                                   int64_t bucket_bytes) noexcept nogil
