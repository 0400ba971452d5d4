"""Glue for the row-gather kernels: per-array plans and the ``take`` entry point."""
cimport numpy as cnp
from libc.stdint cimport int64_t

from fastbatch._kernels cimport fb_take_rows, fb_take_rows_strided

import numpy as np

cnp.import_array()


cdef bint make_plan(cnp.ndarray src, GatherPlan *plan) noexcept:
    cdef int nd = cnp.PyArray_NDIM(src)
    cdef cnp.npy_intp *shape = cnp.PyArray_DIMS(src)
    cdef cnp.npy_intp *strides = cnp.PyArray_STRIDES(src)
    cdef Py_ssize_t itemsize = cnp.PyArray_ITEMSIZE(src)
    cdef Py_ssize_t ncols = 1
    cdef Py_ssize_t expected = itemsize
    cdef bint contiguous = True
    cdef bint collapsible = True
    cdef int d
    for d in range(1, nd):
        ncols *= shape[d]
    plan.base = <const char *>cnp.PyArray_DATA(src)
    plan.stride = strides[0] if nd > 0 else 0
    plan.itemsize = itemsize
    plan.ncols = ncols
    plan.row_bytes = ncols * itemsize
    plan.col_stride = itemsize
    if ncols == 0 or itemsize == 0:
        plan.mode = GATHER_EMPTY
        return True
    # Rows are contiguous when the trailing dimensions are C-ordered (size-1 dims ignored).
    for d in range(nd - 1, 0, -1):
        if shape[d] != 1 and strides[d] != expected:
            contiguous = False
            break
        expected *= shape[d]
    if contiguous:
        plan.mode = GATHER_ROWS
        return True
    # Otherwise the trailing dimensions may still collapse into one strided axis.
    cdef Py_ssize_t inner = 0
    cdef bint found = False
    for d in range(nd - 1, 0, -1):
        if shape[d] == 1:
            continue
        if not found:
            inner = strides[d]
            expected = strides[d] * shape[d]
            found = True
        elif strides[d] != expected:
            collapsible = False
            break
        else:
            expected *= shape[d]
    if collapsible:
        plan.mode = GATHER_STRIDED
        plan.col_stride = inner
        return True
    return False


cdef void run_plan(const GatherPlan *plan, const int64_t *idx, Py_ssize_t k,
                   char *dst) noexcept nogil:
    if plan.mode == GATHER_ROWS:
        fb_take_rows(plan.base, plan.stride, plan.row_bytes, idx, k, dst)
    elif plan.mode == GATHER_STRIDED:
        fb_take_rows_strided(plan.base, plan.stride, plan.ncols, plan.col_stride,
                             plan.itemsize, idx, k, dst)


def take_into(cnp.ndarray src, const int64_t[::1] idx, cnp.ndarray out):
    """``out[:] = src[idx]`` along axis 0; ``idx`` already validated, ``out`` C-contiguous."""
    cdef GatherPlan plan
    cdef Py_ssize_t k = idx.shape[0]
    if k == 0:
        return out
    if not make_plan(src, &plan):
        np.take(src, np.asarray(idx), axis=0, out=out)
        return out
    cdef char *dst = <char *>cnp.PyArray_DATA(out)
    with nogil:
        run_plan(&plan, &idx[0], k, dst)
    return out
