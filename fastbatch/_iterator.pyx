"""The per-epoch batch iterator: a C type, because per-batch Python overhead is the cost.

A ``BatchIterator`` walks one epoch.  Sequential epochs hand out views built with the
NumPy C-API; shuffled epochs allocate each batch fresh (the caller owns it: a kept batch
never changes) and fill every array's batch with the gather kernel.
"""
cimport cython
cimport numpy as cnp
from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_INCREF
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc

from fastbatch._take cimport GATHER_ROWS, GatherPlan, fb_take_rows_scatter, make_plan, run_plan

import numpy as np

cnp.import_array()

cdef extern from "Python.h":
    # On a borrowed pointer: no temporary reference is created to ask.
    Py_ssize_t refcount "Py_REFCNT"(PyObject *obj)

cdef extern from "numpy/arrayobject.h":
    PyTypeObject PyArray_Type
    # Declared here with raw pointers: it steals the descriptor reference.
    object PyArray_NewFromDescr(PyTypeObject *subtype, cnp.PyArray_Descr *descr, int nd,
                                cnp.npy_intp *dims, cnp.npy_intp *strides, void *data,
                                int flags, PyObject *obj)

# Batches smaller than this are gathered with the GIL held: releasing and re-taking it
# costs about as much as copying this many bytes.
cdef Py_ssize_t NOGIL_BYTES = 1 << 15
# How an array's shuffled batches are filled.
cdef enum FillPath:
    FILL_KERNEL = 0        # the gather kernel, with the other arrays, in one nogil call
    FILL_SORTED = 1        # memory-mapped: rows read in file order, placed in batch order
    FILL_NUMPY_TAKE = 2    # a layout no single stride describes: numpy.take

# NumPy's limit on dimensions (NPY_MAXDIMS is 64 in NumPy 2, 32 before).
cdef enum:
    MAX_DIMS = 64

# Batch buffers kept per array for reuse.  A buffer is reused only when this pool holds
# the sole reference to it: the caller dropped the batch and every view of it (a view
# references its base), so nothing the caller can still reach ever changes.  Reuse keeps
# the memory warm in cache and spares the page faults of fresh large allocations.
cdef Py_ssize_t POOL_SIZE = 3


cdef class Progress:
    """Counters shared by a loader and its iterators (updated from C, read from Python).

    ``generation`` names the loader's live iterator: an older iterator that is still
    being read yields its batches but no longer moves the counters.
    """
    cdef public Py_ssize_t step
    cdef public Py_ssize_t position
    cdef public Py_ssize_t generation

    def __init__(self, Py_ssize_t step=0, Py_ssize_t position=0):
        self.step = step
        self.position = position
        self.generation = 0


@cython.final
cdef class BatchIterator:
    """One epoch of batches over ``arrays``.

    Parameters
    ----------
    arrays : list of ndarray
        Validated inputs sharing axis 0.
    order : ndarray of int64 or None
        Sample indices of this epoch (C-contiguous).  ``None`` means the rows
        ``first_row, first_row + row_step, ...``, which are handed out as views.
    n_items : int
        Samples in this epoch's part.
    batch_size, n_batches, first_batch : int
        Batching of the part; iteration starts at batch ``first_batch`` (resume).
    single : bool
        Yield the array itself instead of a 1-tuple.
    progress : Progress
        Incremented once per batch handed out.
    on_exhausted : callable
        Called once when the epoch has been fully consumed.
    sorted_reads : list of bool
        Per array: read each batch's rows in increasing row order (memory-mapped files:
        the page cache reads ahead sequentially) and place them in the batch's order.
    first_row, row_step : int
        With ``order=None``: the rows of the epoch (a rank's strided share of the data).
    """
    cdef list arrays
    cdef object order
    cdef const int64_t *idx
    cdef Py_ssize_t n_items, batch_size, n_batches, next_batch, first_row, row_step
    cdef Py_ssize_t n_arrays, row_bytes_total
    cdef bint single, finished
    cdef Progress progress
    cdef Py_ssize_t generation
    cdef object on_exhausted
    # Per array, decided once per epoch: its gather plan, how its batches are filled,
    # and (per batch) where its batch's data goes.
    cdef GatherPlan *plans
    cdef FillPath *paths
    cdef char **dst
    cdef list pools

    def __cinit__(self):
        self.plans = NULL
        self.paths = NULL
        self.dst = NULL

    def __init__(self, list arrays, order, Py_ssize_t n_items, Py_ssize_t batch_size,
                 Py_ssize_t n_batches, Py_ssize_t first_batch, bint single,
                 Progress progress, on_exhausted, list sorted_reads,
                 Py_ssize_t first_row=0, Py_ssize_t row_step=1):
        cdef Py_ssize_t a
        cdef cnp.ndarray arr
        self.arrays = arrays
        self.n_arrays = len(arrays)
        self.order = order
        self.n_items = n_items
        self.first_row = first_row
        self.row_step = row_step
        self.batch_size = batch_size
        self.n_batches = n_batches
        self.next_batch = first_batch
        self.single = single
        self.progress = progress
        self.generation = progress.generation
        self.on_exhausted = on_exhausted
        self.finished = False
        self.pools = [[] for _ in range(self.n_arrays)]
        self.row_bytes_total = 0
        if order is None:
            self.idx = NULL
            return
        self.idx = <const int64_t *>cnp.PyArray_DATA(<cnp.ndarray>order)
        cdef Py_ssize_t slots = max(self.n_arrays, 1)
        self.plans = <GatherPlan *>malloc(slots * sizeof(GatherPlan))
        self.paths = <FillPath *>malloc(slots * sizeof(FillPath))
        self.dst = <char **>malloc(slots * sizeof(char *))
        if self.plans == NULL or self.paths == NULL or self.dst == NULL:
            raise MemoryError()
        for a in range(self.n_arrays):
            arr = <cnp.ndarray>arrays[a]
            if not make_plan(arr, &self.plans[a]):
                self.paths[a] = FILL_NUMPY_TAKE
            elif sorted_reads[a] and self.plans[a].mode == GATHER_ROWS:
                self.paths[a] = FILL_SORTED
            else:
                self.paths[a] = FILL_KERNEL
            self.row_bytes_total += self.plans[a].row_bytes

    def __dealloc__(self):
        free(self.plans)
        free(self.paths)
        free(self.dst)

    def __iter__(self):
        return self

    def __len__(self):
        return self.n_batches - self.next_batch

    def __next__(self):
        cdef Py_ssize_t start, stop
        if self.next_batch >= self.n_batches:
            if not self.finished:
                self.finished = True
                self.on_exhausted()
            raise StopIteration
        start = self.next_batch * self.batch_size
        stop = min(start + self.batch_size, self.n_items)
        if self.idx == NULL:
            result = self._views(start, stop)
        else:
            result = self._gathered(start, stop)
        self.next_batch += 1
        if self.progress.generation == self.generation:
            self.progress.step += 1
            self.progress.position += 1
        return result

    cdef object _views(self, Py_ssize_t start, Py_ssize_t stop):
        cdef Py_ssize_t a
        cdef cnp.ndarray arr
        cdef tuple out
        if self.single:
            return _row_view(<cnp.ndarray>self.arrays[0], self.first_row + start * self.row_step,
                             stop - start, self.row_step)
        out = PyTuple_New(self.n_arrays)
        for a in range(self.n_arrays):
            view = _row_view(<cnp.ndarray>self.arrays[a], self.first_row + start * self.row_step,
                             stop - start, self.row_step)
            Py_INCREF(view)
            PyTuple_SET_ITEM(out, a, view)
        return out

    cdef object _gathered(self, Py_ssize_t start, Py_ssize_t stop):
        cdef Py_ssize_t a, k = stop - start
        cdef const int64_t *idx = self.idx + start
        cdef tuple out = PyTuple_New(self.n_arrays)
        cdef cnp.ndarray arr, batch
        cdef char **dst = self.dst
        for a in range(self.n_arrays):
            arr = <cnp.ndarray>self.arrays[a]
            dst[a] = NULL
            if self.paths[a] == FILL_NUMPY_TAKE:
                batch = np.take(arr, self.order[start:stop], axis=0)
            elif self.paths[a] == FILL_SORTED:
                batch = self._buffer(a, arr, k)
                self._fill_sorted(a, start, stop, batch)
            else:
                batch = self._buffer(a, arr, k)
                dst[a] = <char *>cnp.PyArray_DATA(batch)
            Py_INCREF(batch)
            PyTuple_SET_ITEM(out, a, batch)
        if k * self.row_bytes_total >= NOGIL_BYTES:
            with nogil:
                self._fill(idx, k, dst)
        else:
            self._fill(idx, k, dst)
        if self.single:
            return out[0]
        return out

    cdef cnp.ndarray _buffer(self, Py_ssize_t a, cnp.ndarray like, Py_ssize_t k):
        # A batch buffer for array a: a pooled one nobody else references, or a new one.
        cdef list pool = <list>self.pools[a]
        cdef Py_ssize_t i, n = PyList_GET_SIZE(pool)
        cdef PyObject *item
        for i in range(n):
            item = PyList_GET_ITEM(pool, i)         # borrowed: no reference added
            if refcount(item) == 1 and cnp.PyArray_DIMS(<cnp.ndarray>item)[0] == k:
                return <cnp.ndarray>item
        batch = _empty_rows(like, k)
        if n >= POOL_SIZE:
            del pool[0]
        pool.append(batch)
        return batch

    cdef void _fill_sorted(self, Py_ssize_t a, Py_ssize_t start, Py_ssize_t stop,
                           cnp.ndarray batch):
        chunk = self.order[start:stop]
        positions = np.argsort(chunk, kind="stable")
        rows = np.ascontiguousarray(chunk[positions])
        cdef const int64_t[::1] rows_view = rows
        cdef const int64_t[::1] pos_view = positions
        cdef GatherPlan *plan = &self.plans[a]
        cdef char *dst = <char *>cnp.PyArray_DATA(batch)
        with nogil:
            fb_take_rows_scatter(plan.base, plan.stride, plan.row_bytes, &rows_view[0],
                                 &pos_view[0], stop - start, dst)

    cdef void _fill(self, const int64_t *idx, Py_ssize_t k, char **dst) noexcept nogil:
        cdef Py_ssize_t a
        for a in range(self.n_arrays):
            if dst[a] != NULL:
                run_plan(&self.plans[a], idx, k, dst[a])


cdef inline object _row_view(cnp.ndarray arr, Py_ssize_t start, Py_ssize_t length,
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
    strides[0] *= step
    Py_INCREF(<object><PyObject *>descr)   # PyArray_NewFromDescr steals the descriptor reference
    view = PyArray_NewFromDescr(
        &PyArray_Type, descr, nd, dims, strides, data,
        cnp.PyArray_FLAGS(arr) & cnp.NPY_ARRAY_WRITEABLE, NULL)
    cnp.set_array_base(<cnp.ndarray>view, arr)
    return view


cdef inline cnp.ndarray _empty_rows(cnp.ndarray like, Py_ssize_t k):
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
