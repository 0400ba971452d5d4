"""Bounded random integers and exact permutations, drawn from a numpy bit generator.

The algorithms (Fisher-Yates, the parallel bucket shuffle with keyed per-chunk and
per-bucket streams, and the proof that it is exactly uniform and independent of the
thread count) are plain C in ``src/permutation.h``.  Here: the C-API wrappers, which read
the thread count, and the Python entry points (``permutation_into`` and the ``_*_py``
test hooks), which check, hold the bit generator's lock and release the GIL.
"""
from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_IsValid
from libc.stdint cimport int32_t, int64_t, uint64_t
from numpy.random cimport bitgen_t

from fastbatch._kernels.status cimport (
    FB_OK, fb_interrupt, fb_interrupt_init, fb_interrupt_poll, raise_for_status,
)
from fastbatch._kernels.threads cimport num_threads

import numpy as np

cdef extern from "permutation.h":
    ctypedef int (*fb_perm_check_fn)(void *ctx) noexcept nogil
    uint64_t fb_perm_bounded(bitgen_t *bitgen, uint64_t bound) noexcept nogil
    int fb_perm_int64(bitgen_t *bitgen, int64_t *out, int64_t n, int threads,
                      fb_perm_check_fn check, void *ctx) noexcept nogil
    int fb_perm_int32(bitgen_t *bitgen, int32_t *out, int64_t n, int threads,
                      fb_perm_check_fn check, void *ctx) noexcept nogil
    void fb_perm_shuffle_int64(bitgen_t *bitgen, int64_t *a, int64_t n) noexcept nogil
    int fb_perm_runs_int64(bitgen_t *bitgen, int64_t *out, int64_t n,
                           const int64_t *firsts, const int64_t *ends, int64_t n_runs,
                           int threads, fb_perm_check_fn check, void *ctx) noexcept nogil
    int64_t fb_perm_runs_narrow_min
    int fb_perm_forced_buckets_int64(bitgen_t *bitgen, int64_t *out, int64_t n,
                                     int64_t bucket_bytes, int64_t chunk,
                                     int threads) noexcept nogil


# ---------------------------------------------------------------------------------------
# The C-API (re-cimported by fastbatch/__init__.pxd).

cdef uint64_t fb_random_bounded(bitgen_t *bitgen, uint64_t bound) noexcept nogil:
    return fb_perm_bounded(bitgen, bound)


cdef int fb_permutation_int64(bitgen_t *bitgen, int64_t *out, int64_t n) noexcept nogil:
    return fb_perm_int64(bitgen, out, n, num_threads(), NULL, NULL)


cdef int fb_permutation_int32(bitgen_t *bitgen, int32_t *out, int64_t n) noexcept nogil:
    return fb_perm_int32(bitgen, out, n, num_threads(), NULL, NULL)


cdef int permutation_any(bitgen_t *bitgen, index_t *out, int64_t n, int threads,
                         fb_interrupt *intr) noexcept nogil:
    cdef int status
    if index_t is int64_t:
        status = fb_perm_int64(bitgen, out, n, threads, look_for_signals, intr)
    else:
        status = fb_perm_int32(bitgen, out, n, threads, look_for_signals, intr)
    return status


cdef int look_for_signals(void *intr) noexcept nogil:
    # The permutation kernel calls this on the calling thread, at most every ~50 ms (its
    # own clock), so every call is a look: the poll is told a whole interval has passed.
    cdef fb_interrupt *it = <fb_interrupt *>intr
    return fb_interrupt_poll(it, it.every) != FB_OK


# ---------------------------------------------------------------------------------------
# Python entry points.

cdef const char *CAPSULE_NAME = "BitGenerator"


cdef bitgen_t *bitgen_of(object bit_generator) except NULL:
    capsule = bit_generator.capsule
    if not PyCapsule_IsValid(capsule, CAPSULE_NAME):
        raise ValueError(f"{bit_generator!r} does not expose a valid BitGenerator capsule")
    return <bitgen_t *>PyCapsule_GetPointer(capsule, CAPSULE_NAME)


def permutation_into(object bit_generator, index_t[::1] out, bint one_thread=False):
    """Fill ``out`` (int32 or int64, contiguous) with a uniform permutation of its range.

    The result is the same for any thread count; ``one_thread`` keeps the work on the
    calling thread (a draw made in the background while other threads gather rows).
    Ctrl-C (any exception a signal handler raises) interrupts it within tens of
    milliseconds; ``out`` then holds no permutation.  The exception is raised after the
    bit generator's lock is released.
    """
    cdef bitgen_t *bitgen = bitgen_of(bit_generator)
    cdef int64_t n = out.shape[0]
    cdef int status
    cdef fb_interrupt intr
    if n == 0:
        return
    fb_interrupt_init(&intr, 1)
    with bit_generator.lock, nogil:
        status = permutation_any(bitgen, &out[0], n, 1 if one_thread else num_threads(),
                                 &intr)
    raise_for_status(status, &intr)


def permutation_runs_into(object bit_generator, int64_t[::1] out, firsts, sizes,
                          bint one_thread=False):
    """Fill ``out`` with the rows of runs of consecutive rows, in a uniform random order.

    Run ``r`` is rows ``firsts[r] .. firsts[r] + sizes[r] - 1``; laid end to end they hold
    ``len(out)`` rows, and ``out[k]`` is the ``p[k]``-th of them, ``p`` the permutation
    :func:`permutation_into` draws from the same generator state (the block shuffle's
    window table, in one pass).  ``one_thread`` as for :func:`permutation_into`.

    Examples
    --------
    >>> import numpy as np
    >>> from fastbatch._kernels.shuffle import permutation_runs_into
    >>> out = np.empty(5, dtype=np.int64)
    >>> permutation_runs_into(np.random.PCG64(0), out, [10, 50], [3, 2])
    >>> sorted(out.tolist())
    [10, 11, 12, 50, 51]
    """
    cdef const int64_t[::1] first = np.ascontiguousarray(firsts, dtype=np.int64)
    cdef const int64_t[::1] size = np.ascontiguousarray(sizes, dtype=np.int64)
    if first.ndim != 1 or first.shape[0] != size.shape[0]:
        raise ValueError("firsts and sizes must be 1-D and of one length")
    if size.shape[0] and (np.asarray(size).min() < 0 or np.asarray(first).min() < 0):
        raise ValueError("firsts and sizes must be >= 0")
    cdef const int64_t[::1] ends = np.cumsum(size, dtype=np.int64)
    cdef int64_t n = out.shape[0], n_runs = size.shape[0]
    if (ends[n_runs - 1] if n_runs else 0) != n:
        raise ValueError(f"the runs hold {ends[n_runs - 1] if n_runs else 0} rows, out "
                         f"holds {n}")
    cdef bitgen_t *bitgen = bitgen_of(bit_generator)
    cdef int status
    cdef fb_interrupt intr
    if n == 0:
        return
    fb_interrupt_init(&intr, 1)
    with bit_generator.lock, nogil:
        status = fb_perm_runs_int64(bitgen, &out[0], n, &first[0], &ends[0], n_runs,
                                    1 if one_thread else num_threads(), look_for_signals,
                                    &intr)
    raise_for_status(status, &intr)


def _set_runs_narrow_min(int64_t value):
    """Test hook: permutations of runs of at least ``value`` rows are built as int32."""
    global fb_perm_runs_narrow_min
    previous = fb_perm_runs_narrow_min
    fb_perm_runs_narrow_min = value
    return previous


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
        fb_perm_shuffle_int64(bitgen, &a[0], a.shape[0])


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
        status = fb_perm_forced_buckets_int64(bitgen, &out[0], out.shape[0], bucket_bytes,
                                              chunk, num_threads())
    raise_for_status(status, NULL)
