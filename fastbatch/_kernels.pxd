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
    FB_EINTERRUPTED = -3  # the interrupt check asked to stop (e.g. Ctrl-C)

# Called by a long kernel on the calling thread, a few times a second, with the ctx the
# caller passed; nonzero means stop.  A Python caller takes the GIL in it and runs
# PyErr_CheckSignals.
ctypedef int (*fb_interrupt_check)(void *ctx) noexcept nogil

# Uniform integer in [0, bound), bound >= 1, unbiased (Lemire's nearly divisionless method).
cdef uint64_t fb_random_bounded(bitgen_t *bitgen, uint64_t bound) noexcept nogil

# Fill out[0:n] with a uniform random permutation of 0..n-1.  Small n: Fisher-Yates;
# large n: a cache-friendly bucket shuffle (exactly uniform as well) on up to
# get_num_threads() threads, with the same result for every thread count.
# The caller holds the bit generator's lock.  Returns FB_OK or FB_ENOMEM.
cdef int fb_permutation_int64(bitgen_t *bitgen, int64_t *out, int64_t n) noexcept nogil
cdef int fb_permutation_int32(bitgen_t *bitgen, int32_t *out, int64_t n) noexcept nogil
# The same, calling check(ctx) on the calling thread every ~50 ms of a long call; returns
# FB_EINTERRUPTED (out unspecified) as soon as check returns nonzero.
cdef int fb_permutation_interruptible_int64(bitgen_t *bitgen, int64_t *out, int64_t n,
                                            fb_interrupt_check check,
                                            void *ctx) noexcept nogil
cdef int fb_permutation_interruptible_int32(bitgen_t *bitgen, int32_t *out, int64_t n,
                                            fb_interrupt_check check,
                                            void *ctx) noexcept nogil

# In-place uniform shuffle of a[0:n] (Fisher-Yates; the caller picks sizes that fit cache).
cdef void fb_shuffle_int64(bitgen_t *bitgen, int64_t *a, int64_t n) noexcept nogil

# dst row i = src row idx[i], for i < k.  Rows are row_bytes contiguous bytes, src rows are
# src_stride bytes apart (any sign), dst is C-contiguous.  Prefetches upcoming source rows.
# Large gathers run on up to get_num_threads() threads (same bytes whatever the count).
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

# Test hook: the bucket algorithm forced at any n >= 1, with buckets of about bucket_bytes
# and chunks of `chunk` values, on every thread allowed whatever n.
cdef int permutation_buckets_int64(bitgen_t *bitgen, int64_t *out, int64_t n,
                                   int64_t bucket_bytes, int64_t chunk) noexcept nogil

# Fused mini-batch SGD for linear regression, one epoch (float64 / float32 rows).
# Rows are d contiguous values row_stride elements apart; y is float64; order lists the n
# rows of the epoch in visiting order (NULL: rows 0..n-1).  Standardisation is folded in:
# z = (x - mean) * inv_scale (pass mean 0, inv_scale 1 to turn it off).  Per batch of k
# rows (the last may be short): r = z.beta + b - y, beta -= lr (Z^T r / k + alpha beta),
# b -= lr sum(r) / k.  work: 2 * d doubles.  Returns FB_OK, or FB_ENONFINITE as soon as a
# residual or updated parameter is not finite (beta / intercept keep the last finite step).
cdef int fb_linreg_sgd_epoch_f64(const double *X, Py_ssize_t row_stride, Py_ssize_t d,
                                 const double *y, const int64_t *order, Py_ssize_t n,
                                 Py_ssize_t batch_size, const double *mean,
                                 const double *inv_scale, double *beta, double *intercept,
                                 double lr, double alpha, double *work) noexcept nogil
cdef int fb_linreg_sgd_epoch_f32(const float *X, Py_ssize_t row_stride, Py_ssize_t d,
                                 const double *y, const int64_t *order, Py_ssize_t n,
                                 Py_ssize_t batch_size, const double *mean,
                                 const double *inv_scale, double *beta, double *intercept,
                                 double lr, double alpha, double *work) noexcept nogil

# The objective J = sum(r^2) / (2n) + alpha / 2 ||beta||^2 over rows 0..n-1 (one
# sequential pass; non-finite if any residual is).  z: d doubles of scratch.
cdef double fb_linreg_loss_f64(const double *X, Py_ssize_t row_stride, Py_ssize_t d,
                               const double *y, Py_ssize_t n, const double *mean,
                               const double *inv_scale, const double *beta,
                               double intercept, double alpha, double *z) noexcept nogil
cdef double fb_linreg_loss_f32(const float *X, Py_ssize_t row_stride, Py_ssize_t d,
                               const double *y, Py_ssize_t n, const double *mean,
                               const double *inv_scale, const double *beta,
                               double intercept, double alpha, double *z) noexcept nogil

# Gradient sums of one batch, no update (for data-parallel training: all-reduce the sums,
# then divide by the total batch size): grad[j] = sum_i z_ij r_i, residual_sum = sum r_i,
# squared_sum = sum r_i^2 over rows idx[0:k].  z: d doubles of scratch.
cdef int fb_linreg_gradient_f64(const double *X, Py_ssize_t row_stride, Py_ssize_t d,
                                const double *y, const int64_t *idx, Py_ssize_t k,
                                const double *mean, const double *inv_scale,
                                const double *beta, double intercept, double *grad,
                                double *residual_sum, double *squared_sum,
                                double *z) noexcept nogil
cdef int fb_linreg_gradient_f32(const float *X, Py_ssize_t row_stride, Py_ssize_t d,
                                const double *y, const int64_t *idx, Py_ssize_t k,
                                const double *mean, const double *inv_scale,
                                const double *beta, double intercept, double *grad,
                                double *residual_sum, double *squared_sum,
                                double *z) noexcept nogil

# Per-column mean and sum of squared deviations (m2) of rows 0..n-1 in one pass over the
# data (chunked, combined pairwise: as accurate as two passes).  scratch: 2 * d doubles.
cdef void fb_column_moments_f64(const double *X, Py_ssize_t row_stride, Py_ssize_t d,
                                Py_ssize_t n, double *mean, double *m2,
                                double *scratch) noexcept nogil
cdef void fb_column_moments_f32(const float *X, Py_ssize_t row_stride, Py_ssize_t d,
                                Py_ssize_t n, double *mean, double *m2,
                                double *scratch) noexcept nogil
