# Row gathers (see take.pyx); the public kernels are re-cimported by
# fastbatch/__init__.pxd, where they are documented for other packages.
cimport numpy as cnp
from libc.stdint cimport int64_t

cdef void fb_take_rows(const char *src, Py_ssize_t src_stride, Py_ssize_t row_bytes,
                       const int64_t *idx, Py_ssize_t k, char *dst) noexcept nogil
cdef void fb_take_rows_scatter(const char *src, Py_ssize_t src_stride, Py_ssize_t row_bytes,
                               const int64_t *idx, const int64_t *dst_pos, Py_ssize_t k,
                               char *dst) noexcept nogil
cdef void fb_take_rows_strided(const char *src, Py_ssize_t src_stride, Py_ssize_t ncols,
                               Py_ssize_t col_stride, Py_ssize_t itemsize,
                               const int64_t *idx, Py_ssize_t k, char *dst) noexcept nogil

# Rows by address (addr[i] is row i's first byte; rows of row_bytes contiguous bytes):
# sources whose rows lie in several buffers (Arrow chunks).  May use the kernels' threads.
cdef void fb_take_rows_at(const char *const *addr, Py_ssize_t row_bytes, Py_ssize_t k,
                          char *dst) noexcept nogil
# The same on the calling thread only.
cdef void take_rows_at(const char *const *addr, Py_ssize_t row_bytes, Py_ssize_t k,
                       char *dst) noexcept nogil

# How the rows of one source array are copied out.
cdef enum GatherMode:
    GATHER_ROWS = 0      # every row is one contiguous run of bytes
    GATHER_STRIDED = 1   # a row is ncols items col_stride bytes apart
    GATHER_EMPTY = 2     # rows have no bytes (a zero-length trailing dimension)

cdef struct GatherPlan:
    const char *base
    Py_ssize_t stride
    Py_ssize_t row_bytes
    Py_ssize_t ncols
    Py_ssize_t col_stride
    Py_ssize_t itemsize
    GatherMode mode

# Fill plan for src; returns False when no kernel path applies (the caller falls back to
# numpy.take).  Needs the GIL; src must stay alive while the plan is used.
cdef bint make_plan(cnp.ndarray src, GatherPlan *plan) noexcept
# Copy rows idx[0:k] of the planned source into the C-contiguous buffer dst.
cdef void run_plan(const GatherPlan *plan, const int64_t *idx, Py_ssize_t k,
                   char *dst) noexcept nogil
# run_plan on the calling thread only (for callers that share work among threads).
cdef void run_plan_serial(const GatherPlan *plan, const int64_t *idx, Py_ssize_t k,
                          char *dst) noexcept nogil
