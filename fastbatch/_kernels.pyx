"""Fused mini-batch SGD kernels for linear regression.

TEMPORARY home: the shuffle and take kernels moved to ``_shuffle`` and ``_take``; this
section is moving to ``_linreg.pyx/.pxd`` on another branch, and the file goes then.
"""
from libc.stdint cimport int64_t

# ---------------------------------------------------------------------------------------
# Fused mini-batch SGD for linear regression.
#
# Standardisation is folded in: z_j = (x_j - mean_j) * inv_scale_j is formed per row in a
# small buffer and never stored for the data set (mean 0 and inv_scale 1 when it is off).
# For a batch of k rows:  r_i = z_i . beta + b - y_i,   g = Z^T r / k + alpha * beta,
# g_b = sum(r) / k,  beta -= lr * g,  b -= lr * g_b.  Each row is read once, in place
# through the permutation, with the rows a few positions ahead prefetched.

from libc.math cimport isfinite

ctypedef fused floating:
    float
    double

cdef extern from "_linreg_rows.h":
    # The row loops, compiled per instruction set and dispatched at load time.
    int fb_rows_gradient_f64(const double *X, Py_ssize_t stride, Py_ssize_t d,
                             const double *y, const int64_t *order, Py_ssize_t start,
                             Py_ssize_t stop, Py_ssize_t prefetch_stop, const double *mean,
                             const double *inv_scale,
                             const double *beta, double intercept, double *grad,
                             double *rsum, double *rsq, double *z) noexcept nogil
    int fb_rows_gradient_f32(const float *X, Py_ssize_t stride, Py_ssize_t d,
                             const double *y, const int64_t *order, Py_ssize_t start,
                             Py_ssize_t stop, Py_ssize_t prefetch_stop, const double *mean,
                             const double *inv_scale,
                             const double *beta, double intercept, double *grad,
                             double *rsum, double *rsq, double *z) noexcept nogil
    double fb_rows_squared_residuals_f64(const double *X, Py_ssize_t stride, Py_ssize_t d,
                                         const double *y, Py_ssize_t n, const double *mean,
                                         const double *inv_scale, const double *beta,
                                         double intercept, double *z) noexcept nogil
    double fb_rows_squared_residuals_f32(const float *X, Py_ssize_t stride, Py_ssize_t d,
                                         const double *y, Py_ssize_t n, const double *mean,
                                         const double *inv_scale, const double *beta,
                                         double intercept, double *z) noexcept nogil


cdef extern from "_linreg_rows.h":
    void fb_rows_moments_f64(const double *X, Py_ssize_t stride, Py_ssize_t d, Py_ssize_t n,
                             double *mean, double *m2, double *scratch) noexcept nogil
    void fb_rows_moments_f32(const float *X, Py_ssize_t stride, Py_ssize_t d, Py_ssize_t n,
                             double *mean, double *m2, double *scratch) noexcept nogil


cdef void fb_column_moments_f64(const double *X, Py_ssize_t row_stride, Py_ssize_t d,
                                Py_ssize_t n, double *mean, double *m2,
                                double *scratch) noexcept nogil:
    fb_rows_moments_f64(X, row_stride, d, n, mean, m2, scratch)


cdef void fb_column_moments_f32(const float *X, Py_ssize_t row_stride, Py_ssize_t d,
                                Py_ssize_t n, double *mean, double *m2,
                                double *scratch) noexcept nogil:
    fb_rows_moments_f32(X, row_stride, d, n, mean, m2, scratch)


cdef inline int batch_gradient(const floating *X, Py_ssize_t row_stride, Py_ssize_t d,
                               const double *y, const int64_t *order, Py_ssize_t start,
                               Py_ssize_t stop, Py_ssize_t prefetch_stop,
                               const double *mean, const double *inv_scale,
                               const double *beta, double intercept, double *grad,
                               double *residual_sum, double *squared_sum,
                               double *z) noexcept nogil:
    # grad[j] = sum_i z_ij r_i over rows start..stop-1 of the order (unnormalised).
    cdef int status
    if floating is double:
        status = fb_rows_gradient_f64(X, row_stride, d, y, order, start, stop, prefetch_stop,
                                      mean,
                                      inv_scale, beta, intercept, grad, residual_sum,
                                      squared_sum, z)
    else:
        status = fb_rows_gradient_f32(X, row_stride, d, y, order, start, stop, prefetch_stop,
                                      mean,
                                      inv_scale, beta, intercept, grad, residual_sum,
                                      squared_sum, z)
    return FB_OK if status == 0 else FB_ENONFINITE


cdef int linreg_sgd_epoch(const floating *X, Py_ssize_t row_stride, Py_ssize_t d,
                          const double *y, const int64_t *order, Py_ssize_t n,
                          Py_ssize_t batch_size, const double *mean,
                          const double *inv_scale, double *beta, double *intercept,
                          double lr, double alpha, double *work) noexcept nogil:
    # work holds 2 * d doubles.  Returns FB_OK, or FB_ENONFINITE as soon as a residual
    # or an updated parameter is not finite, with beta / intercept left at the last
    # finite step (each update is checked before it is applied).
    cdef double *grad = work
    cdef double *z = work + d
    cdef Py_ssize_t start = 0, stop, j, k
    cdef double rsum, rsq, b = intercept[0], inv_k, new_b, step_sum
    cdef int status
    while start < n:
        stop = start + batch_size
        if stop > n:
            stop = n
        k = stop - start
        status = batch_gradient(X, row_stride, d, y, order, start, stop, n, mean,
                                inv_scale, beta, b, grad, &rsum, &rsq, z)
        if status != FB_OK:
            intercept[0] = b
            return status
        inv_k = 1.0 / <double>k       # the short last batch divides by its own size
        # The new parameters go into grad first; a non-finite one makes their sum
        # non-finite, so one check guards the whole update.
        step_sum = 0.0
        for j in range(d):
            grad[j] = beta[j] - lr * (grad[j] * inv_k + alpha * beta[j])
            step_sum += grad[j]
        new_b = b - lr * rsum * inv_k
        if not (isfinite(step_sum) and isfinite(new_b)):
            for j in range(d):
                if not isfinite(grad[j]):
                    intercept[0] = b
                    return FB_ENONFINITE
            if not isfinite(new_b):
                intercept[0] = b
                return FB_ENONFINITE
        for j in range(d):
            beta[j] = grad[j]
        b = new_b
        start = stop
    intercept[0] = b
    return FB_OK


cdef double linreg_loss(const floating *X, Py_ssize_t row_stride, Py_ssize_t d,
                        const double *y, Py_ssize_t n, const double *mean,
                        const double *inv_scale, const double *beta, double intercept,
                        double alpha, double *z) noexcept nogil:
    # J = sum(r^2) / (2n) + alpha / 2 * ||beta||^2 in one sequential pass; NaN/inf
    # propagate to the result, which the caller checks.
    cdef double squares, penalty = 0.0
    cdef Py_ssize_t j
    if floating is double:
        squares = fb_rows_squared_residuals_f64(X, row_stride, d, y, n, mean, inv_scale,
                                                beta, intercept, z)
    else:
        squares = fb_rows_squared_residuals_f32(X, row_stride, d, y, n, mean, inv_scale,
                                                beta, intercept, z)
    for j in range(d):
        penalty += beta[j] * beta[j]
    if n == 0:
        return 0.5 * alpha * penalty
    return squares / (2.0 * n) + 0.5 * alpha * penalty


cdef int fb_linreg_sgd_epoch_f64(const double *X, Py_ssize_t row_stride, Py_ssize_t d,
                                 const double *y, const int64_t *order, Py_ssize_t n,
                                 Py_ssize_t batch_size, const double *mean,
                                 const double *inv_scale, double *beta, double *intercept,
                                 double lr, double alpha, double *work) noexcept nogil:
    return linreg_sgd_epoch(X, row_stride, d, y, order, n, batch_size, mean, inv_scale,
                            beta, intercept, lr, alpha, work)


cdef int fb_linreg_sgd_epoch_f32(const float *X, Py_ssize_t row_stride, Py_ssize_t d,
                                 const double *y, const int64_t *order, Py_ssize_t n,
                                 Py_ssize_t batch_size, const double *mean,
                                 const double *inv_scale, double *beta, double *intercept,
                                 double lr, double alpha, double *work) noexcept nogil:
    return linreg_sgd_epoch(X, row_stride, d, y, order, n, batch_size, mean, inv_scale,
                            beta, intercept, lr, alpha, work)


cdef double fb_linreg_loss_f64(const double *X, Py_ssize_t row_stride, Py_ssize_t d,
                               const double *y, Py_ssize_t n, const double *mean,
                               const double *inv_scale, const double *beta,
                               double intercept, double alpha, double *z) noexcept nogil:
    return linreg_loss(X, row_stride, d, y, n, mean, inv_scale, beta, intercept, alpha, z)


cdef double fb_linreg_loss_f32(const float *X, Py_ssize_t row_stride, Py_ssize_t d,
                               const double *y, Py_ssize_t n, const double *mean,
                               const double *inv_scale, const double *beta,
                               double intercept, double alpha, double *z) noexcept nogil:
    return linreg_loss(X, row_stride, d, y, n, mean, inv_scale, beta, intercept, alpha, z)


cdef int fb_linreg_gradient_f64(const double *X, Py_ssize_t row_stride, Py_ssize_t d,
                                const double *y, const int64_t *idx, Py_ssize_t k,
                                const double *mean, const double *inv_scale,
                                const double *beta, double intercept, double *grad,
                                double *residual_sum, double *squared_sum,
                                double *z) noexcept nogil:
    return batch_gradient(X, row_stride, d, y, idx, 0, k, k, mean, inv_scale, beta,
                          intercept, grad, residual_sum, squared_sum, z)


cdef int fb_linreg_gradient_f32(const float *X, Py_ssize_t row_stride, Py_ssize_t d,
                                const double *y, const int64_t *idx, Py_ssize_t k,
                                const double *mean, const double *inv_scale,
                                const double *beta, double intercept, double *grad,
                                double *residual_sum, double *squared_sum,
                                double *z) noexcept nogil:
    return batch_gradient(X, row_stride, d, y, idx, 0, k, k, mean, inv_scale, beta,
                          intercept, grad, residual_sum, squared_sum, z)
