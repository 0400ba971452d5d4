# Shuffled batches gathered a group at a time (see _read_ahead.pyx).
cimport cython
cimport numpy as cnp
from libc.stdint cimport int64_t

from fastbatch._kernels.shuffle cimport RunsDraw
from fastbatch.sources._source cimport Source


@cython.final
cdef class ReadAhead:
    cdef Source source
    cdef Py_ssize_t batch_size, n_outputs
    cdef readonly Py_ssize_t group_batches
    # The group's sample indices and (keyed orders) positions: the iterator fills them.
    cdef int64_t *idx
    cdef int64_t *positions
    cdef char **dst
    cdef list ahead, pools
    cdef Py_ssize_t ahead_next

    cdef bint used_up(self)
    cdef gather(self, const int64_t *idx, Py_ssize_t total, Py_ssize_t n_group,
                RunsDraw draw=*)
    cdef object next_batch(self)
    cdef cnp.ndarray buffer(self, Py_ssize_t j, Py_ssize_t a, Py_ssize_t k)


cdef Py_ssize_t group_batches(Source source, Py_ssize_t batch_size, Py_ssize_t n_batches,
                              Py_ssize_t index_bytes)
