"""Glue between numpy bit generators and the permutation kernels."""
from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_IsValid
from libc.stdint cimport int32_t, int64_t, uint64_t
from numpy.random cimport bitgen_t

from fastbatch._kernels cimport (
    FB_OK, fb_permutation_int32, fb_permutation_int64, fb_random_bounded, fb_shuffle_int64,
    permutation_buckets_int64,
)

import numpy as np

cdef const char *CAPSULE_NAME = "BitGenerator"

ctypedef fused index_t:
    int32_t
    int64_t


cdef bitgen_t *bitgen_of(object bit_generator) except NULL:
    capsule = bit_generator.capsule
    if not PyCapsule_IsValid(capsule, CAPSULE_NAME):
        raise ValueError(f"{bit_generator!r} does not expose a valid BitGenerator capsule")
    return <bitgen_t *>PyCapsule_GetPointer(capsule, CAPSULE_NAME)


def permutation_into(object bit_generator, index_t[::1] out):
    """Fill ``out`` (int32 or int64, contiguous) with a uniform permutation of its range."""
    cdef bitgen_t *bitgen = bitgen_of(bit_generator)
    cdef int64_t n = out.shape[0]
    cdef int status
    if n == 0:
        return
    with bit_generator.lock, nogil:
        if index_t is int64_t:
            status = fb_permutation_int64(bitgen, &out[0], n)
        else:
            status = fb_permutation_int32(bitgen, &out[0], n)
    if status != FB_OK:
        raise MemoryError(f"could not allocate the temporary buffers to permute {n} items")


def _bounded_py(object bit_generator, uint64_t bound, Py_ssize_t size):
    """Test hook: ``size`` draws of the bounded-integer kernel on [0, bound)."""
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


def _shuffle_py(object bit_generator, int64_t[::1] a):
    """Test hook: in-place Fisher-Yates shuffle of ``a``."""
    cdef bitgen_t *bitgen = bitgen_of(bit_generator)
    if a.shape[0] == 0:
        return
    with bit_generator.lock, nogil:
        fb_shuffle_int64(bitgen, &a[0], a.shape[0])


def _buckets_py(object bit_generator, int64_t[::1] out, int64_t bucket_bytes):
    """Test hook: the large-n (bucket) permutation at any size and bucket size."""
    cdef bitgen_t *bitgen = bitgen_of(bit_generator)
    cdef int status
    if bucket_bytes < 8:
        raise ValueError(f"bucket_bytes must be >= 8, got {bucket_bytes}")
    if out.shape[0] == 0:
        return
    with bit_generator.lock, nogil:
        status = permutation_buckets_int64(bitgen, &out[0], out.shape[0], bucket_bytes)
    if status != FB_OK:
        raise MemoryError()
