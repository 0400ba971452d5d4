"""Glue for the fused linear-regression kernels: memoryviews in, GIL released."""
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc

from fastbatch._kernels cimport (
    FB_OK, fb_column_moments_f32, fb_column_moments_f64, fb_linreg_gradient_f32,
    fb_linreg_gradient_f64, fb_linreg_loss_f32, fb_linreg_loss_f64, fb_linreg_sgd_epoch_f32,
    fb_linreg_sgd_epoch_f64,
)

import numpy as np

ctypedef fused floating:
    float
    double


cdef inline Py_ssize_t row_stride_of(const floating[:, :] X) except -1:
    # Rows may be strided (X[::2]); the features of a row must be contiguous.
    if X.shape[1] > 1 and X.strides[1] != sizeof(floating):
        raise ValueError("the features of each row must be contiguous")
    if X.strides[0] % <Py_ssize_t>sizeof(floating):
        raise ValueError("row stride is not a multiple of the item size")
    return X.strides[0] // <Py_ssize_t>sizeof(floating)


def sgd_epoch(const floating[:, :] X, const double[::1] y, object order,
              Py_ssize_t batch_size, const double[::1] mean, const double[::1] inv_scale,
              double[::1] beta, double intercept, double lr, double alpha):
    """Run one epoch in place on ``beta``; return ``(status, intercept)``.

    ``order`` is None (rows in order) or a C-contiguous int64 array of row numbers.
    ``status`` is 0, or a negative code when a residual or parameter became non-finite.
    """
    cdef Py_ssize_t n, d = X.shape[1]
    cdef const int64_t[::1] order_view
    cdef const int64_t *order_ptr = NULL
    cdef Py_ssize_t stride = row_stride_of(X)
    cdef int status = FB_OK
    cdef double b = intercept
    if order is None:
        n = X.shape[0]
    else:
        order_view = order
        n = order_view.shape[0]
        if n:
            order_ptr = &order_view[0]
    if n == 0 or d == 0:
        return status, b
    cdef double *work = <double *>malloc(2 * d * sizeof(double))
    if work == NULL:
        raise MemoryError()
    with nogil:
        if floating is double:
            status = fb_linreg_sgd_epoch_f64(&X[0, 0], stride, d, &y[0], order_ptr, n,
                                             batch_size, &mean[0], &inv_scale[0], &beta[0],
                                             &b, lr, alpha, work)
        else:
            status = fb_linreg_sgd_epoch_f32(&X[0, 0], stride, d, &y[0], order_ptr, n,
                                             batch_size, &mean[0], &inv_scale[0], &beta[0],
                                             &b, lr, alpha, work)
    free(work)
    return status, b


def loss(const floating[:, :] X, const double[::1] y, const double[::1] mean,
         const double[::1] inv_scale, const double[::1] beta, double intercept, double alpha):
    """The objective J on all rows of X (non-finite if the model diverged)."""
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1]
    cdef Py_ssize_t stride = row_stride_of(X)
    cdef double result
    if n == 0 or d == 0:
        return 0.5 * alpha * float(np.dot(beta, beta)) if d else 0.0
    cdef double *z = <double *>malloc(d * sizeof(double))
    if z == NULL:
        raise MemoryError()
    with nogil:
        if floating is double:
            result = fb_linreg_loss_f64(&X[0, 0], stride, d, &y[0], n, &mean[0],
                                        &inv_scale[0], &beta[0], intercept, alpha, z)
        else:
            result = fb_linreg_loss_f32(&X[0, 0], stride, d, &y[0], n, &mean[0],
                                        &inv_scale[0], &beta[0], intercept, alpha, z)
    free(z)
    return result


def gradient_sums(const floating[:, :] X, const double[::1] y, const int64_t[::1] idx,
                  const double[::1] mean, const double[::1] inv_scale,
                  const double[::1] beta, double intercept):
    """``(grad_sum, residual_sum, squared_sum, status)`` of rows ``idx``, no update."""
    cdef Py_ssize_t k = idx.shape[0], d = X.shape[1]
    cdef Py_ssize_t stride = row_stride_of(X)
    grad_arr = np.zeros(d, dtype=np.float64)
    cdef double[::1] grad = grad_arr
    cdef double rsum = 0.0, rsq = 0.0
    cdef int status = FB_OK
    if k == 0 or d == 0:
        return grad_arr, rsum, rsq, status
    cdef double *z = <double *>malloc(d * sizeof(double))
    if z == NULL:
        raise MemoryError()
    with nogil:
        if floating is double:
            status = fb_linreg_gradient_f64(&X[0, 0], stride, d, &y[0], &idx[0], k,
                                            &mean[0], &inv_scale[0], &beta[0], intercept,
                                            &grad[0], &rsum, &rsq, z)
        else:
            status = fb_linreg_gradient_f32(&X[0, 0], stride, d, &y[0], &idx[0], k,
                                            &mean[0], &inv_scale[0], &beta[0], intercept,
                                            &grad[0], &rsum, &rsq, z)
    free(z)
    return grad_arr, rsum, rsq, status


def column_moments(const floating[:, :] X):
    """``(mean, std)`` of every column (population std), in one pass over X."""
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1]
    cdef Py_ssize_t stride = row_stride_of(X)
    mean_arr = np.zeros(d, dtype=np.float64)
    m2_arr = np.zeros(d, dtype=np.float64)
    if n == 0 or d == 0:
        return mean_arr, m2_arr
    cdef double[::1] mean = mean_arr
    cdef double[::1] m2 = m2_arr
    cdef double *scratch = <double *>malloc(2 * d * sizeof(double))
    if scratch == NULL:
        raise MemoryError()
    with nogil:
        if floating is double:
            fb_column_moments_f64(&X[0, 0], stride, d, n, &mean[0], &m2[0], scratch)
        else:
            fb_column_moments_f32(&X[0, 0], stride, d, n, &mean[0], &m2[0], scratch)
    free(scratch)
    return mean_arr, np.sqrt(m2_arr / n)
