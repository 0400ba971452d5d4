"""Glue for the keyed bijection of ``fastbatch/_kernels/src/bijection.h`` (``fb.index_shuffle``).

The public functions validate in ``fastbatch.shuffling``; here the work is cut into chunks
of about 5-20 ms, each run with the GIL released on all the threads asked for, with a
check for Ctrl-C between chunks.
"""
from cpython.exc cimport PyErr_CheckSignals
from libc.stdint cimport int64_t, uint32_t, uint64_t

cdef extern from "bijection.h" nogil:
    int FB_BIJ_ROUNDS, FB_BIJ_ROUNDS_SMALL, FB_BIJ_SMALL_N
    ctypedef struct fb_bijection:
        int rounds
        uint32_t rk[24]
    void fb_bij_init(fb_bijection *f, uint64_t n, uint64_t k0, uint64_t k1)
    uint64_t fb_bij_one(const fb_bijection *f, uint64_t x, int inverse)
    int fb_bij_apply(const fb_bijection *f, const int64_t *src, int64_t *out,
                     int64_t count, int inverse, int num_threads)

ROUNDS = FB_BIJ_ROUNDS
ROUNDS_SMALL = FB_BIJ_ROUNDS_SMALL
SMALL_N = FB_BIJ_SMALL_N

# Values per thread between two Ctrl-C checks: ~5-20 ms of work per chunk, and thread
# start-up (tens of microseconds) stays under 1%.
CHUNK_PER_THREAD = 1 << 22


cdef inline int apply(const int64_t *src, int64_t *out, Py_ssize_t count, int64_t n,
                      uint64_t key0, uint64_t key1, int inverse,
                      int num_threads) noexcept nogil:
    cdef fb_bijection f
    fb_bij_init(&f, <uint64_t>n, key0, key1)
    if fb_bij_apply(&f, src, out, count, inverse, num_threads):
        return FB_EOUTOFRANGE
    return 0


cdef int fb_index_shuffle(const int64_t *positions, int64_t *out, Py_ssize_t count,
                          int64_t n, uint64_t key0, uint64_t key1,
                          int num_threads) noexcept nogil:
    return apply(positions, out, count, n, key0, key1, 0, num_threads)


cdef int fb_index_unshuffle(const int64_t *values, int64_t *out, Py_ssize_t count,
                            int64_t n, uint64_t key0, uint64_t key1,
                            int num_threads) noexcept nogil:
    return apply(values, out, count, n, key0, key1, 1, num_threads)


def apply_into(const int64_t[::1] src, int64_t[::1] out, int64_t n, uint64_t key0,
               uint64_t key1, bint inverse, int num_threads, Py_ssize_t chunk=0):
    """out[i] = bijection(src[i]) (or the inverse).  Returns False, with ``out``
    unspecified, if some ``src[i]`` is outside [0, n).  Raises KeyboardInterrupt (between
    chunks of ``chunk`` values, default ``CHUNK_PER_THREAD * num_threads``) on Ctrl-C."""
    cdef Py_ssize_t count = src.shape[0]
    cdef Py_ssize_t start = 0, m
    cdef int status = 0
    if chunk <= 0:
        chunk = CHUNK_PER_THREAD * max(num_threads, 1)
    while start < count and status == 0:
        m = min(chunk, count - start)
        with nogil:
            status = apply(&src[start], &out[start], m, n, key0, key1, inverse, num_threads)
        PyErr_CheckSignals()
        start += m
    return status == 0


def _round_keys_py(int64_t n, uint64_t key0, uint64_t key1):
    """Test hook: the round keys the key schedule derives for ``n``."""
    cdef fb_bijection f
    fb_bij_init(&f, <uint64_t>n, key0, key1)
    return [f.rk[j] for j in range(f.rounds)]


def _one_py(uint64_t x, int64_t n, uint64_t key0, uint64_t key1, bint inverse):
    """Test hook: the one-value path (``fb_bij_one``), for comparison with the block path."""
    cdef fb_bijection f
    fb_bij_init(&f, <uint64_t>n, key0, key1)
    return fb_bij_one(&f, x, inverse)
