"""A downstream Cython module built against an installed fastbatch.

It reaches fastbatch's kernels through ``cimport`` of the public C-API
(``fastbatch/__init__.pxd``) and numpy's ``bitgen_t`` through its capsule, exactly as
another library would.
"""
from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_IsValid
from libc.stdint cimport int32_t, int64_t, uint64_t
from numpy.random cimport bitgen_t

from fastbatch cimport (
    FB_FLOAT64, FB_OK, fb_column_moments, fb_index_shuffle, fb_index_unshuffle,
    fb_linreg_data, fb_linreg_gradient, fb_linreg_loss, fb_permutation_int32,
    fb_permutation_int64, fb_random_bounded, fb_take_rows, fb_take_rows_scatter,
    fb_take_rows_strided,
)

import numpy as np

cdef const char *CAPSULE_NAME = "BitGenerator"


cdef bitgen_t *bitgen_of(object bit_generator) except NULL:
    capsule = bit_generator.capsule
    if not PyCapsule_IsValid(capsule, CAPSULE_NAME):
        raise ValueError(f"{bit_generator!r} does not expose a valid BitGenerator capsule")
    return <bitgen_t *>PyCapsule_GetPointer(capsule, CAPSULE_NAME)


def permutation(object bit_generator, int64_t n):
    """A uniform permutation of ``range(n)`` drawn by fastbatch's kernel."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    cdef bitgen_t *bitgen = bitgen_of(bit_generator)
    result = np.empty(n, dtype=np.int64)
    cdef int64_t[::1] out = result
    cdef int status = FB_OK
    if n == 0:
        return result
    # The bit generator's lock keeps other threads from drawing while the GIL is released.
    with bit_generator.lock, nogil:
        status = fb_permutation_int64(bitgen, &out[0], n)
    if status != FB_OK:
        raise MemoryError(f"fastbatch could not permute {n} items (status {status})")
    return result


def permutation_int32(object bit_generator, int64_t n):
    """The same with 32-bit indices."""
    cdef bitgen_t *bitgen = bitgen_of(bit_generator)
    result = np.empty(n, dtype=np.int32)
    cdef int32_t[::1] out = result
    cdef int status = FB_OK
    if n == 0:
        return result
    with bit_generator.lock, nogil:
        status = fb_permutation_int32(bitgen, &out[0], n)
    if status != FB_OK:
        raise MemoryError(f"fastbatch could not permute {n} items (status {status})")
    return result


def take_strided(const double[:, :] X, const int64_t[::1] idx):
    """``X[idx]`` for rows whose elements are not contiguous (e.g. ``X[:, ::2]``)."""
    rows = np.empty((idx.shape[0], X.shape[1]), dtype=np.float64)
    cdef double[:, ::1] dst = rows
    if idx.shape[0] == 0 or X.shape[1] == 0:
        return rows
    with nogil:
        fb_take_rows_strided(<const char *>&X[0, 0], X.strides[0], X.shape[1], X.strides[1],
                             sizeof(double), &idx[0], idx.shape[0], <char *>&dst[0, 0])
    return rows


def take_scatter(const double[:, ::1] X, const int64_t[::1] idx, const int64_t[::1] dst_pos):
    """``out[dst_pos[i]] = X[idx[i]]``: reads in idx order, writes in batch order."""
    rows = np.empty((idx.shape[0], X.shape[1]), dtype=np.float64)
    cdef double[:, ::1] dst = rows
    if idx.shape[0] == 0 or X.shape[1] == 0:
        return rows
    with nogil:
        fb_take_rows_scatter(<const char *>&X[0, 0], X.strides[0],
                             X.shape[1] * sizeof(double), &idx[0], &dst_pos[0],
                             idx.shape[0], <char *>&dst[0, 0])
    return rows


def shuffled_rows(object bit_generator, const double[:, ::1] X):
    """``(perm, X[perm])``: a permutation of the rows and the rows gathered by fastbatch."""
    cdef bitgen_t *bitgen = bitgen_of(bit_generator)
    cdef int64_t n = X.shape[0]
    perm = np.empty(n, dtype=np.int64)
    rows = np.empty((X.shape[0], X.shape[1]), dtype=np.float64)
    cdef int64_t[::1] p = perm
    cdef double[:, ::1] dst = rows
    cdef int status = FB_OK
    if n == 0 or X.shape[1] == 0:
        return perm, rows
    with bit_generator.lock, nogil:
        status = fb_permutation_int64(bitgen, &p[0], n)
    if status != FB_OK:
        raise MemoryError(f"fastbatch could not permute {n} items (status {status})")
    with nogil:
        fb_take_rows(<const char *>&X[0, 0], X.strides[0], X.shape[1] * sizeof(double),
                     &p[0], n, <char *>&dst[0, 0])
    return perm, rows


def bounded(object bit_generator, uint64_t bound, Py_ssize_t size):
    """``size`` uniform integers in ``[0, bound)`` from fastbatch's bounded-integer kernel."""
    if bound < 1:
        raise ValueError(f"bound must be >= 1, got {bound}")
    cdef bitgen_t *bitgen = bitgen_of(bit_generator)
    result = np.empty(size, dtype=np.uint64)
    cdef uint64_t[::1] out = result
    cdef Py_ssize_t i
    with bit_generator.lock, nogil:
        for i in range(size):
            out[i] = fb_random_bounded(bitgen, bound)
    return result


def index_shuffle(const int64_t[::1] positions, int64_t n, uint64_t key0, uint64_t key1,
                  bint inverse=False):
    """Values at ``positions`` of fastbatch's keyed bijection of range(n) (or the inverse)."""
    result = np.empty(positions.shape[0], dtype=np.int64)
    cdef int64_t[::1] out = result
    cdef int status = FB_OK
    if positions.shape[0] == 0:
        return result
    with nogil:
        if inverse:
            status = fb_index_unshuffle(&positions[0], &out[0], positions.shape[0], n, key0,
                                        key1, 1)
        else:
            status = fb_index_shuffle(&positions[0], &out[0], positions.shape[0], n, key0,
                                      key1, 1)
    if status != FB_OK:
        raise IndexError(f"a position is outside [0, {n}) (status {status})")
    return result


def linreg_edge_cases():
    """What the C-API allows that the Python API never asks: a model with no features
    (d = 0) and column moments with mean and inv_scale left unset (documented as unused).
    Returns (loss sums, gradient sums, moments)."""
    cdef double X[6]
    cdef double y[3]
    cdef double grad[1]
    cdef double loss[2]
    cdef double sums[3]
    cdef double mean[2]
    cdef double m2[2]
    cdef double weight
    cdef double beta[1]
    cdef fb_linreg_data data
    cdef int i
    for i in range(6):
        X[i] = i * i
    for i in range(3):
        y[i] = i + 1.0
    data.X, data.dtype, data.row_stride, data.d = X, FB_FLOAT64, 0, 0
    data.y, data.sample_weight = y, NULL
    data.mean = data.inv_scale = NULL
    data.threads, data.interrupted = 1, NULL
    status_loss = fb_linreg_loss(&data, NULL, 3, beta, 0.5, loss)
    status_grad = fb_linreg_gradient(&data, NULL, 3, beta, 0.5, grad, sums)
    data.row_stride, data.d = 2, 2
    data.mean = data.inv_scale = <const double *>8        # unset: must not be read
    status_moments = fb_column_moments(&data, NULL, 3, mean, m2, &weight)
    return ((status_loss, loss[0], loss[1]), (status_grad, sums[0], sums[1], sums[2]),
            (status_moments, mean[0], mean[1], m2[0], m2[1], weight))
