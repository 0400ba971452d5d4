# NumPy arrays built from raw parts with the C-API (no slice objects, no Python calls):
# the per-batch views and batch buffers of the iterator.  Header-only: inline helpers.
cimport numpy as cnp
from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_INCREF

cdef extern from "numpy/arrayobject.h":
    PyTypeObject PyArray_Type
    # Declared here with raw pointers: it steals the descriptor reference.
    object PyArray_NewFromDescr(PyTypeObject *subtype, cnp.PyArray_Descr *descr, int nd,
                                cnp.npy_intp *dims, cnp.npy_intp *strides, void *data,
                                int flags, PyObject *obj)

# NumPy's limit on dimensions (NPY_MAXDIMS is 64 in NumPy 2, 32 before).
cdef enum:
    MAX_DIMS = 64


cdef inline object row_view(cnp.ndarray arr, Py_ssize_t start, Py_ssize_t length,
                            Py_ssize_t step):
    # arr[start:start + length * step:step] without going through slice objects.
    cdef cnp.npy_intp dims[MAX_DIMS]
    cdef int nd = cnp.PyArray_NDIM(arr)
    cdef int d
    cdef cnp.PyArray_Descr *descr = cnp.PyArray_DESCR(arr)
    cdef cnp.npy_intp strides[MAX_DIMS]
    cdef char *data = <char *>cnp.PyArray_DATA(arr)
    for d in range(nd):
        dims[d] = cnp.PyArray_DIMS(arr)[d]
        strides[d] = cnp.PyArray_STRIDES(arr)[d]
    dims[0] = length
    if length > 0:
        data += start * strides[0]
    if length > 1:
        # Only then is a second row addressed, inside the input: the product is an
        # offset within its memory (a huge step with one row would overflow).
        strides[0] *= step
    Py_INCREF(<object><PyObject *>descr)   # PyArray_NewFromDescr steals the descriptor reference
    view = PyArray_NewFromDescr(
        &PyArray_Type, descr, nd, dims, strides, data,
        cnp.PyArray_FLAGS(arr) & cnp.NPY_ARRAY_WRITEABLE, NULL)
    cnp.set_array_base(<cnp.ndarray>view, arr)
    return view


cdef inline cnp.ndarray empty_rows(cnp.ndarray like, Py_ssize_t k):
    # A fresh C-contiguous array with like's dtype and trailing shape and k rows.
    cdef cnp.npy_intp dims[MAX_DIMS]
    cdef int nd = cnp.PyArray_NDIM(like)
    cdef int d
    cdef cnp.PyArray_Descr *descr = cnp.PyArray_DESCR(like)
    for d in range(nd):
        dims[d] = cnp.PyArray_DIMS(like)[d]
    dims[0] = k
    Py_INCREF(<object><PyObject *>descr)
    return <cnp.ndarray>PyArray_NewFromDescr(
        &PyArray_Type, descr, nd, dims, NULL, NULL, 0, NULL)
