"""The Source interface: what the batch iterator knows of where rows come from.

As scikit-learn's solvers see data only through ``SequentialDataset.next()``, fastbatch's
batch iterator (``fastbatch.loader._iterator``) sees rows only through a ``Source``: its
length, its outputs (the arrays or columns of a batch), views of a run of rows where the
layout allows, empty output buffers, and a ``nogil`` fill of the rows of given sample
indices into caller buffers (on the kernels' threads unless told ``serial``).  Outputs
whose size depends on the rows (variable-length lists) or whose layout no stride
describes are filled with the GIL (``fill_python``, ``gather_variable``).

``ArraySource`` reads NumPy arrays (any strides, memory-mapped files in file order);
``IndexSource`` hands out the sample indices themselves (the torch bridge's batch
sampler); ``fastbatch.sources._table.TableSource`` reads Arrow columns.
"""
cimport numpy as cnp
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from fastbatch._kernels.ndarrays cimport empty_rows, row_view
from fastbatch._kernels.readahead cimport advise_bytes
from fastbatch._kernels.status cimport FB_OK
from fastbatch._kernels.take cimport (GATHER_ROWS, fb_take_rows_scatter, make_plan, run_plan,
                                     run_plan_serial)

import numpy as np

cnp.import_array()

# A natural block of an array source (and of a .npy file): about this many bytes of
# consecutive rows.
cdef Py_ssize_t NATURAL_BLOCK_BYTES = 1 << 20


def segment_block_bounds(starts, natural_bounds, block_size):
    """Block bounds of rows held in segments (record batches, row groups) beginning at
    ``starts`` (then the row count): ``natural_bounds`` (the segments when None) for
    ``block_size=None``, else runs of ``block_size`` rows never across a segment.

    Examples
    --------
    >>> segment_block_bounds([0, 5, 12], None, 4).tolist()
    [0, 4, 5, 9, 12]
    """
    starts = np.asarray(starts, dtype=np.int64)
    cdef Py_ssize_t last = len(starts) - 1
    if block_size is None:
        natural = starts if natural_bounds is None else natural_bounds
        return np.array(natural, dtype=np.int64)
    cuts = [np.arange(a, b, block_size, dtype=np.int64)
            for a, b in zip(starts[:last].tolist(), starts[1:].tolist())]
    return np.concatenate(cuts + [starts[last:]])


def natural_block_rows(Py_ssize_t row_bytes):
    """Rows of a natural block: about 1 MiB of rows of ``row_bytes`` bytes, at least one.

    Examples
    --------
    >>> from fastbatch.sources._source import natural_block_rows
    >>> natural_block_rows(64), natural_block_rows(0), natural_block_rows(2**21)
    (16384, 1048576, 1)
    """
    return max(1, NATURAL_BLOCK_BYTES // max(row_bytes, 1))


cdef class Source:
    """The interface; concrete sources override every method.

    Attributes
    ----------
    n_samples : int
        Rows (samples) of the source.
    n_outputs : int
        Arrays (columns) of a batch.
    row_bytes : int
        Bytes one sample fills across the outputs (for read-ahead budgets).
    fixed : bool
        Every output is filled by ``fill`` (fixed-width rows, no Python).
    """

    def __dealloc__(self):
        free(self.fills)

    cdef int init_fills(self, Py_ssize_t n_outputs) except -1:
        self.n_outputs = n_outputs
        self.fills = <OutputFill *>malloc(max(n_outputs, 1) * sizeof(OutputFill))
        if self.fills == NULL:
            raise MemoryError()
        return 0

    cdef int prepare_rows(self, const int64_t *idx, Py_ssize_t k) except -1:
        """Rows ``idx[0:k]`` (in range) are filled next: make them readable by ``fill``
        (with the GIL; sources whose rows are all addressable do nothing).  Parquet files
        decode the row groups that hold them here."""
        return 0

    cdef object views(self, Py_ssize_t first, Py_ssize_t k, Py_ssize_t step):
        """The batch of rows ``first + step * u`` (u < k), as views where the layout
        allows (the caller checked the rows are in range)."""
        raise NotImplementedError

    cdef cnp.ndarray empty_output(self, Py_ssize_t o, Py_ssize_t k):
        """A fresh C-contiguous buffer for ``k`` rows of output ``o`` (FILL_KERNEL or
        FILL_SORTED)."""
        raise NotImplementedError

    cdef int fill(self, const int64_t *idx, Py_ssize_t k, char **dst,
                  bint serial) noexcept nogil:
        """Rows ``idx[0:k]`` (in range) of every output ``o`` with ``dst[o] != NULL``
        (FILL_KERNEL) into ``dst[o]``; on the calling thread only when ``serial``.
        Returns FB_OK or a negative FB_E* code."""
        return FB_OK

    cdef object fill_python(self, Py_ssize_t o, object indices, cnp.ndarray out):
        """Output ``o`` (FILL_SORTED: into ``out``; FILL_NUMPY_TAKE: a new array,
        returned) for the int64 array ``indices``."""
        raise NotImplementedError

    cdef dict gather_variable(self, object indices):
        """``{o: batch of output o}`` for every FILL_VARIABLE output."""
        raise NotImplementedError

    cdef object assemble(self, tuple outputs):
        """The batch the user sees, from one object per output."""
        raise NotImplementedError

    def __len__(self):
        return self.n_samples

    def check_batch_rows(self, rows):
        """Raise ValueError, naming the parameter at fault, unless a batch of ``rows``
        samples can be built on this platform (checked when a loader is built, not at its
        first batch)."""

    def block_bounds(self, block_size=None):
        """First row of every block, then ``n_samples`` (int64): runs of ``block_size``
        rows, or with None the source's natural unit (about 1 MiB of rows here)."""
        if block_size is None:
            block_size = natural_block_rows(self.row_bytes)
        return np.append(np.arange(0, self.n_samples, block_size, dtype=np.int64),
                         np.int64(self.n_samples))

    @property
    def block_rows(self):
        """Rows of each natural block (int64)."""
        return np.diff(self.block_bounds())

    def will_need_rows(self, ranges, bint now=False):
        """Read-ahead: the rows ``[first, stop)`` of every row of ``ranges`` (an
        ``(k, 2)`` int64 array, in file order) are read next (``now``: read them before
        returning).  A hint: sources in memory ignore it."""

    def check_shuffle_method(self, method):
        """Raise ValueError, naming ``shuffle_method``, when batches drawn in that
        order cannot be read from this source within its memory bounds (checked when a
        shuffled loader is built).  Every order suits sources that address all rows."""


cdef class ArraySource(Source):
    """Rows of NumPy arrays that share axis 0.

    Parameters
    ----------
    arrays : list of ndarray
        Validated inputs sharing axis 0.
    sorted_reads : list of bool, optional
        Per array: read each batch's rows in increasing row order (memory-mapped files:
        the page cache reads ahead) and place them in the batch's order.

    Examples
    --------
    >>> import numpy as np
    >>> from fastbatch.sources._source import ArraySource
    >>> source = ArraySource([np.arange(10), np.zeros((10, 3))])
    >>> len(source), source.n_outputs, source.fixed
    (10, 2, True)
    """

    def __cinit__(self):
        self.plans = NULL

    def __init__(self, list arrays, list sorted_reads=None):
        cdef Py_ssize_t a, n = len(arrays)
        self.arrays = arrays
        self.mapped = [bool(m) for m in sorted_reads] if sorted_reads else [False] * n
        self.single = n == 1
        self.n_samples = (<cnp.ndarray>arrays[0]).shape[0] if n else 0
        self.init_fills(n)
        self.plans = <GatherPlan *>malloc(max(n, 1) * sizeof(GatherPlan))
        if self.plans == NULL:
            raise MemoryError()
        self.fixed = True
        for a in range(n):
            if not make_plan(<cnp.ndarray>arrays[a], &self.plans[a]):
                self.fills[a] = FILL_NUMPY_TAKE
            elif (sorted_reads is not None and sorted_reads[a]
                    and self.plans[a].mode == GATHER_ROWS):
                self.fills[a] = FILL_SORTED
            else:
                self.fills[a] = FILL_KERNEL
            self.fixed &= self.fills[a] == FILL_KERNEL
            self.row_bytes += self.plans[a].row_bytes

    def __dealloc__(self):
        free(self.plans)

    def will_need_rows(self, ranges, bint now=False):
        # The memory-mapped arrays' pages of those rows, in file order (see
        # fastbatch._kernels.readahead: read now, or started in the background).
        cdef const int64_t[:, ::1] r = np.ascontiguousarray(ranges, dtype=np.int64)
        cdef Py_ssize_t a, i
        cdef GatherPlan *plan
        for a in range(self.n_outputs):
            plan = &self.plans[a]
            if not self.mapped[a] or plan.stride <= 0 or plan.row_bytes == 0:
                continue
            with nogil:
                for i in range(r.shape[0]):
                    if r[i, 1] > r[i, 0]:
                        advise_bytes(plan.base + r[i, 0] * plan.stride,
                                     plan.base + (r[i, 1] - 1) * plan.stride
                                     + plan.row_bytes, now)

    @property
    def sorted_reads(self):
        """Per array: read in file order (memory-mapped) and placed in batch order."""
        return [self.fills[a] == FILL_SORTED for a in range(self.n_outputs)]

    cdef object views(self, Py_ssize_t first, Py_ssize_t k, Py_ssize_t step):
        # Built with the C-API (no list, no slice objects): the per-batch cost of a
        # sequential epoch is this call.
        cdef Py_ssize_t a
        cdef tuple out
        if self.single:
            return row_view(<cnp.ndarray>self.arrays[0], first, k, step)
        out = PyTuple_New(self.n_outputs)
        for a in range(self.n_outputs):
            view = row_view(<cnp.ndarray>self.arrays[a], first, k, step)
            Py_INCREF(view)
            PyTuple_SET_ITEM(out, a, view)
        return out

    cdef cnp.ndarray empty_output(self, Py_ssize_t o, Py_ssize_t k):
        return empty_rows(<cnp.ndarray>self.arrays[o], k)

    cdef int fill(self, const int64_t *idx, Py_ssize_t k, char **dst,
                  bint serial) noexcept nogil:
        cdef Py_ssize_t a
        for a in range(self.n_outputs):
            if dst[a] == NULL:
                continue
            if serial:
                run_plan_serial(&self.plans[a], idx, k, dst[a])
            else:
                run_plan(&self.plans[a], idx, k, dst[a])
        return FB_OK

    cdef object fill_python(self, Py_ssize_t o, object indices, cnp.ndarray out):
        cdef GatherPlan *plan = &self.plans[o]
        if self.fills[o] == FILL_NUMPY_TAKE:
            return np.take(self.arrays[o], indices, axis=0)
        positions = np.argsort(indices, kind="stable")
        rows = np.ascontiguousarray(indices[positions])
        cdef const int64_t[::1] rows_view = rows
        cdef const int64_t[::1] pos_view = positions
        cdef char *dst = <char *>cnp.PyArray_DATA(out)
        if rows_view.shape[0]:
            with nogil:
                fb_take_rows_scatter(plan.base, plan.stride, plan.row_bytes, &rows_view[0],
                                     &pos_view[0], rows_view.shape[0], dst)
        return out

    cdef object assemble(self, tuple outputs):
        return outputs[0] if self.single else outputs


cdef class IndexSource(Source):
    """The sample indices themselves: a batch is the int64 array of its samples.

    The batch iterator over an ``IndexSource`` cuts exactly the batches it cuts for the
    data, without reading any data (``torch_bridge.BatchSampler``).

    Examples
    --------
    >>> from fastbatch.sources._source import IndexSource
    >>> len(IndexSource(5))
    5
    """

    def __init__(self, Py_ssize_t n_samples):
        self.n_samples = n_samples
        self.init_fills(1)
        self.fills[0] = FILL_KERNEL
        self.fixed = True
        self.row_bytes = sizeof(int64_t)

    cdef object views(self, Py_ssize_t first, Py_ssize_t k, Py_ssize_t step):
        return np.arange(first, first + k * step, step, dtype=np.int64)

    cdef cnp.ndarray empty_output(self, Py_ssize_t o, Py_ssize_t k):
        return np.empty(k, dtype=np.int64)

    cdef int fill(self, const int64_t *idx, Py_ssize_t k, char **dst,
                  bint serial) noexcept nogil:
        memcpy(dst[0], idx, k * sizeof(int64_t))
        return FB_OK

    cdef object assemble(self, tuple outputs):
        return outputs[0]
