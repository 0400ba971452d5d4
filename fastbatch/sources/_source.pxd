# The one interface the batch iterator reads rows through (see _source.pyx).
cimport numpy as cnp
from libc.stdint cimport int64_t

from fastbatch._kernels.take cimport GatherPlan

# How one output of a batch (an array, a column) is filled when its rows are gathered.
cdef enum OutputFill:
    FILL_KERNEL = 0        # by Source.fill, with the other such outputs, in one nogil call
    FILL_SORTED = 1        # memory-mapped: rows read in file order, placed in batch order
    FILL_NUMPY_TAKE = 2    # a layout no single stride describes: numpy.take
    FILL_VARIABLE = 3      # its size depends on the rows (variable-length lists)


cdef class Source:
    cdef readonly Py_ssize_t n_samples
    cdef readonly Py_ssize_t n_outputs
    # Bytes one sample fills across the FILL_KERNEL outputs (read-ahead budgets).
    cdef readonly Py_ssize_t row_bytes
    # Every output is FILL_KERNEL: batches may be gathered ahead, in groups, on threads.
    cdef readonly bint fixed
    cdef OutputFill *fills

    cdef int init_fills(self, Py_ssize_t n_outputs) except -1

    cdef int prepare_rows(self, const int64_t *idx, Py_ssize_t k) except -1
    cdef object views(self, Py_ssize_t first, Py_ssize_t k, Py_ssize_t step)
    cdef cnp.ndarray empty_output(self, Py_ssize_t o, Py_ssize_t k)
    cdef int fill(self, const int64_t *idx, Py_ssize_t k, char **dst,
                  bint serial) noexcept nogil
    cdef object fill_python(self, Py_ssize_t o, object indices, cnp.ndarray out)
    cdef dict gather_variable(self, object indices)
    cdef object assemble(self, tuple outputs)


cdef class ArraySource(Source):
    cdef readonly list arrays
    cdef list mapped
    cdef readonly bint single
    cdef GatherPlan *plans


cdef class IndexSource(Source):
    pass


cdef inline Py_ssize_t last_start_at(const int64_t *starts, int64_t lo, int64_t hi,
                                     int64_t r) noexcept nogil:
    # The last k in [lo, hi] with starts[k] <= r (starts ascending, starts[lo] <= r): the
    # segment (record batch, row group) holding row r.
    cdef int64_t mid
    while lo < hi:
        mid = (lo + hi + 1) >> 1
        if starts[mid] <= r:
            lo = mid
        else:
            hi = mid - 1
    return lo
