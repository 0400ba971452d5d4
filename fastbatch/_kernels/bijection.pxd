# fastbatch's keyed bijection, the C-API other Cython libraries cimport:
#
#     from fastbatch cimport FB_EOUTOFRANGE, fb_index_shuffle
#
# Both functions are ``noexcept nogil``, allocate nothing and may run on up to
# ``num_threads`` threads (the result never depends on how many).  The key is the 128 bits
# fastbatch derives from a seed and an epoch: ``fastbatch.shuffling.bijection_key(seed,
# epoch)`` (``fastbatch._rng.key_entropy`` documents the encoding).
from libc.stdint cimport int64_t, uint64_t

from fastbatch._kernels.status cimport FB_EOUTOFRANGE

# out[i] = the value at position positions[i] of the keyed permutation of range(n), for
# i < count; 1 <= n <= 2**63 - 1.  Returns 0, or FB_EOUTOFRANGE (out is then unspecified).
cdef int fb_index_shuffle(const int64_t *positions, int64_t *out, Py_ssize_t count,
                          int64_t n, uint64_t key0, uint64_t key1,
                          int num_threads) noexcept nogil

# The inverse: out[i] = the position of the value values[i].
cdef int fb_index_unshuffle(const int64_t *values, int64_t *out, Py_ssize_t count,
                            int64_t n, uint64_t key0, uint64_t key1,
                            int num_threads) noexcept nogil
