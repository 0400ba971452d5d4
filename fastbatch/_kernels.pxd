# DEPRECATED alias of fastbatch's C-API, kept for one release: write
#
#     from fastbatch cimport fb_permutation_int64, fb_take_rows
#
# instead of ``from fastbatch._kernels cimport ...`` (see fastbatch/__init__.pxd, where every
# function is documented).  The test hook and fb_shuffle_int64 are no longer part of it.
from fastbatch._shuffle cimport fb_permutation_int32, fb_permutation_int64, fb_random_bounded
from fastbatch._status cimport FB_EINTR, FB_ENOMEM, FB_ENONFINITE, FB_OK
from fastbatch._take cimport fb_take_rows, fb_take_rows_scatter, fb_take_rows_strided
from libc.stdint cimport int64_t

# TEMPORARY (until the linreg branch lands): the linear-regression kernels are still
# defined in _kernels.pyx.  The integrator replaces the declarations below with
# ``from fastbatch._linreg cimport ...`` of the same names (this file then has no .pyx).
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
