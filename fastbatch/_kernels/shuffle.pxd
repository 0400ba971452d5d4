# Bounded random integers and exact permutations (see shuffle.pyx); the public ones are
# re-cimported by fastbatch/__init__.pxd, where they are documented for other packages.
from libc.stdint cimport int32_t, int64_t, uint64_t
from numpy.random cimport bitgen_t

from fastbatch._kernels.status cimport fb_interrupt

ctypedef fused index_t:
    int32_t
    int64_t

cdef uint64_t fb_random_bounded(bitgen_t *bitgen, uint64_t bound) noexcept nogil
cdef int fb_permutation_int64(bitgen_t *bitgen, int64_t *out, int64_t n) noexcept nogil
cdef int fb_permutation_int32(bitgen_t *bitgen, int32_t *out, int64_t n) noexcept nogil

# The permutation kernel behind both, polling intr for Ctrl-C (see status.pxd).
cdef int permutation_any(bitgen_t *bitgen, index_t *out, int64_t n, int threads,
                         fb_interrupt *intr) noexcept nogil

# The bitgen_t* behind a numpy BitGenerator, checked through its capsule.  The caller keeps
# a reference to the bit generator and draws under ``with bit_generator.lock, nogil:``.
cdef bitgen_t *bitgen_of(object bit_generator) except NULL


# A window table of the block shuffle, set up with the GIL and drawn later by run()
# without it, on whichever thread (see shuffle.pyx).
cdef class RunsDraw:
    cdef readonly object table
    cdef readonly bint done
    cdef readonly int64_t max_row
    cdef readonly bint small
    cdef int64_t[::1] view
    cdef object bit_generator, firsts_array, ends_array
    cdef bitgen_t *bitgen
    cdef int64_t *out
    cdef const int64_t *firsts
    cdef const int64_t *ends
    cdef int64_t n, n_runs
    cdef int status
    cdef void run(self, int threads=*, fb_interrupt *intr=*) noexcept nogil
