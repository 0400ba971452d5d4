"""Glue between numpy bit generators and the permutation kernels."""
from cpython.exc cimport PyErr_CheckSignals
from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_IsValid
from libc.stdint cimport int32_t, int64_t, uint64_t
from numpy.random cimport bitgen_t

from fastbatch._kernels cimport (
    FB_EINTERRUPTED, FB_OK, fb_permutation_interruptible_int32,
    fb_permutation_interruptible_int64, fb_random_bounded, fb_shuffle_int64,
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


cdef int check_signals(void *pending) noexcept nogil:
    # The kernel calls this on the calling thread a few times a second.  A pending Ctrl-C
    # runs its handler here; the exception is kept in the ``pending`` list and raised once
    # the kernel has stopped and the bit generator's lock is released.
    with gil:
        try:
            PyErr_CheckSignals()
        except BaseException as exc:
            (<list>pending).append(exc)
            return 1
    return 0


def permutation_into(object bit_generator, index_t[::1] out):
    """Fill ``out`` (int32 or int64, contiguous) with a uniform permutation of its range."""
    cdef bitgen_t *bitgen = bitgen_of(bit_generator)
    cdef int64_t n = out.shape[0]
    cdef int status
    cdef list pending = []
    if n == 0:
        return
    with bit_generator.lock, nogil:
        if index_t is int64_t:
            status = fb_permutation_interruptible_int64(bitgen, &out[0], n, check_signals,
                                                        <void *>pending)
        else:
            status = fb_permutation_interruptible_int32(bitgen, &out[0], n, check_signals,
                                                        <void *>pending)
    if status == FB_EINTERRUPTED:
        raise pending[0]
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


def _buckets_py(object bit_generator, int64_t[::1] out, int64_t bucket_bytes,
                int64_t chunk=65536):
    """Test hook: the large-n (bucket) permutation at any size, bucket size and chunk
    size, on ``get_num_threads()`` threads whatever the size."""
    cdef bitgen_t *bitgen = bitgen_of(bit_generator)
    cdef int status
    if bucket_bytes < 8:
        raise ValueError(f"bucket_bytes must be >= 8, got {bucket_bytes}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    if out.shape[0] == 0:
        return
    with bit_generator.lock, nogil:
        status = permutation_buckets_int64(bitgen, &out[0], out.shape[0], bucket_bytes,
                                           chunk)
    if status != FB_OK:
        raise MemoryError()
