# A loader's counters and the batch-count formula (see _progress.pyx).
cimport cython
from libc.stdint cimport int64_t


@cython.final
cdef class Progress:
    cdef readonly int64_t epoch, position, step, generation
    cdef readonly bint started

    cdef inline void count(self, int64_t generation) noexcept:
        # advance() without a Python call: the iterator's per-batch path (inline here,
        # so cimporting modules compile it in).
        if generation == self.generation:
            self.step += 1
            self.position += 1
    cpdef void finish(self, int64_t generation) noexcept


cpdef Py_ssize_t count_batches(Py_ssize_t n, Py_ssize_t batch_size, bint drop_last)
