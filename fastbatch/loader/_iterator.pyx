"""The batch iterator, the only one: a C type, because per-batch Python overhead is the cost.

A ``BatchIterator`` walks one rank's part of one epoch of a ``Source``
(``fastbatch.sources._source``: arrays, Arrow tables, or the sample indices themselves),
asking its order (a ``fastbatch.loader.order.RankOrder``) which samples each batch
holds.  The order's stride hint is read once, so the common batches never leave C: rows
that form a stride of the input are handed out as the source's views; rows read from a
permutation table are gathered by the source into a fresh batch (the caller owns it: a
kept batch never changes).  Batches the hint does not cover (padding that wraps around,
orders without a table or a key) come from one Python call to ``order.sample_indices``.
Keyed orders (``shuffle_method="bijective"``) compute each batch's indices with the
bijection's kernel, in C.

The iterator moves its loader's counters (``fastbatch.loader._progress.Progress``).
"""
cimport cython
cimport numpy as cnp
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport free, malloc

from fastbatch._kernels.bijection cimport fb_index_shuffle
from fastbatch._kernels.shuffle cimport RunsDraw
from fastbatch._kernels.status cimport FB_OK, raise_for_status
from fastbatch._kernels.threads cimport num_threads
from fastbatch.loader._progress cimport Progress, count_batches
from fastbatch.loader._read_ahead cimport ReadAhead, group_batches
from fastbatch.sources._source cimport (FILL_KERNEL, FILL_NUMPY_TAKE, FILL_SORTED,
                                        OutputFill, Source)

import numpy as np

from fastbatch.loader._progress import BUSY

cnp.import_array()

cdef extern from "Python.h":
    # On a borrowed pointer: no temporary reference is created to ask.
    Py_ssize_t refcount "Py_REFCNT"(PyObject *obj)

# Batches smaller than this are gathered with the GIL held: releasing and re-taking it
# costs about as much as copying this many bytes.
cdef Py_ssize_t NOGIL_BYTES = 1 << 15
# Keyed batches of at least this many indices are computed with the GIL released (on
# the kernels' threads when there are enough of them): ~10 us of work.
cdef Py_ssize_t KEYED_NOGIL_COUNT = 4096

# Batch buffers kept per array for reuse.  A buffer is reused only when this pool holds
# the sole reference to it: the caller dropped the batch and every view of it (a view
# references its base), so nothing the caller can still reach ever changes.  Reuse keeps
# the memory warm in cache and spares the page faults of fresh large allocations.
cdef Py_ssize_t POOL_SIZE = 3

@cython.final
cdef class BatchIterator:
    """One epoch of batches: ``source``'s rows in the order of ``order``.

    Parameters
    ----------
    source : fastbatch.sources._source.Source
        Where the rows come from (arrays, an Arrow table, the sample indices).
    order : fastbatch.loader.order.RankOrder
        This rank's order of the epoch.
    batch_size : int
    drop_last : bool
        Drop the epoch's last batch when it is short.
    first_batch : int, default 0
        Start at this batch (resume).
    progress : Progress, optional
        Moved once per batch handed out, and at the end of the epoch.
    generation : int
        This iteration's generation in ``progress``.

    Raises
    ------
    RuntimeError
        From ``next()`` while another thread is inside ``next()`` of the same iterator.

    Examples
    --------
    >>> import numpy as np
    >>> from fastbatch.loader._iterator import BatchIterator
    >>> from fastbatch.loader.order import RankOrder, SequentialOrder, Shard
    >>> from fastbatch.sources._source import ArraySource
    >>> order = RankOrder(SequentialOrder(5), Shard(5))
    >>> [b.tolist() for b in BatchIterator(ArraySource([np.arange(5)]), order, 2, False)]
    [[0, 1], [2, 3], [4]]
    """
    cdef Source source
    cdef list pools
    cdef object order, table
    cdef const int64_t *table_ptr
    cdef int64_t *scratch
    # A keyed order's batch positions, and its key.
    cdef int64_t *positions
    cdef uint64_t key0, key1
    cdef bint keyed
    # A block order's windows, and the window last entered: positions
    # [win_start, win_stop) hold the samples win_ptr[0:win_stop - win_start].
    cdef object windows, win_table
    # The next window's table to draw during the next group's gather (or None).
    cdef object draw_next
    cdef const int64_t *win_ptr
    cdef Py_ssize_t win_start, win_stop
    cdef bint windowed
    cdef Py_ssize_t first, step, count, n_samples
    cdef Py_ssize_t n_items, batch_size, n_batches, next_batch
    cdef Py_ssize_t n_outputs
    cdef bint finished, busy
    cdef Progress progress
    cdef int64_t generation
    # Per batch: where each output's data goes (NULL: not filled by the source's kernel).
    cdef char **dst
    # Shuffled batches gathered a group at a time (None: batch by batch).
    cdef ReadAhead ahead

    def __cinit__(self):
        self.dst = NULL
        self.scratch = NULL
        self.positions = NULL

    def __init__(self, Source source not None, order, Py_ssize_t batch_size, bint drop_last,
                 Py_ssize_t first_batch=0, *, Progress progress=None,
                 int64_t generation=0):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.source = source
        self.n_outputs = source.n_outputs
        self.n_samples = source.n_samples
        self.batch_size = batch_size
        self.order = order
        self.n_items = len(order)
        self.n_batches = count_batches(self.n_items, batch_size, drop_last)
        self.next_batch = first_batch
        # A private Progress when none is given: counting it costs less than a branch.
        self.progress = Progress() if progress is None else progress
        self.generation = generation
        self.pools = [[] for _ in range(self.n_outputs)]
        self._read_stride(order.stride())
        self.dst = <char **>malloc(max(self.n_outputs, 1) * sizeof(char *))
        if self.dst == NULL:
            raise MemoryError()
        self._plan_read_ahead()

    cdef _plan_read_ahead(self):
        # A group's budget counts its index scratch too (16 bytes per sample when keyed,
        # 8 for a strided table or block order, none when the group reads a table or a
        # window's table in place).
        cdef Py_ssize_t index_bytes = (16 if self.keyed else 8 if self.step != 1 else 0)
        cdef Py_ssize_t group
        self.ahead = None
        if self.count == 0 or (self.table_ptr == NULL and not self.keyed
                               and not self.windowed):
            return
        group = group_batches(self.source, self.batch_size, self.n_batches, index_bytes)
        if group > 1:
            self.ahead = ReadAhead(self.source, self.batch_size, group, self.keyed)

    cdef _read_stride(self, stride):
        # The order's hint: rank-local positions t < count are global positions
        # first + step*t, whose samples are table[...], the keyed bijection's values
        # under key (optional fifth field), read from the window tables of windows
        # (optional sixth field: a block order), or the positions (views).
        table, self.first, self.step, self.count = stride[:4]
        key = stride[4] if len(stride) > 4 else None
        windows = stride[5] if len(stride) > 5 else None
        self.count = min(self.count, self.n_items)
        if self.count <= 0:
            self.count = 0
            return
        if not (0 <= self.first < self.n_samples and self.step >= 1 and
                self.first + (self.count - 1) * self.step < self.n_samples):
            raise ValueError(f"order stride {tuple(stride)} leaves the {self.n_samples} "
                             "samples")
        cdef size_t batch_bytes = min(self.batch_size, self.count) * sizeof(int64_t)
        if key is not None and table is None:
            self.keyed = True
            self.key0, self.key1 = key
            self.positions = <int64_t *>malloc(batch_bytes)
            self.scratch = <int64_t *>malloc(batch_bytes)
            if self.positions == NULL or self.scratch == NULL:
                raise MemoryError()
            return
        if windows is not None and table is None:
            self.windowed, self.windows = True, windows
            self.win_start = self.win_stop = 0
            self.scratch = <int64_t *>malloc(batch_bytes)
            if self.scratch == NULL:
                raise MemoryError()
            return
        if table is None:
            return
        self.table = np.ascontiguousarray(table, dtype=np.int64)
        if len(self.table) != self.n_samples:
            raise ValueError("an order table must hold one index per sample")
        self.table_ptr = <const int64_t *>cnp.PyArray_DATA(<cnp.ndarray>self.table)
        if self.step != 1:
            self.scratch = <int64_t *>malloc(batch_bytes)
            if self.scratch == NULL:
                raise MemoryError()

    def __dealloc__(self):
        free(self.dst)
        free(self.scratch)
        free(self.positions)

    def __iter__(self):
        return self

    def __len__(self):
        return self.n_batches - self.next_batch

    def __next__(self):
        cdef Py_ssize_t start, k
        # The flag is tested and set with the GIL held and nothing in between: atomic.
        if self.busy:
            raise RuntimeError(BUSY)
        if self.next_batch >= self.n_batches:
            if not self.finished:
                self.finished = True
                self.progress.finish(self.generation)
            raise StopIteration
        self.busy = True
        try:
            start = self.next_batch * self.batch_size
            k = min(self.batch_size, self.n_items - start)
            result = self._batch(start, k)
        finally:
            self.busy = False
        self.next_batch += 1
        self.progress.count(self.generation)
        return result

    cdef inline object _batch(self, Py_ssize_t start, Py_ssize_t k):
        cdef Py_ssize_t position
        cdef const int64_t *idx
        cdef object indices = None
        if k <= self.count - start:
            if self.ahead is not None:
                return self._read_ahead(start)
            position = self.first + start * self.step
            if self.table_ptr == NULL and not self.keyed and not self.windowed:
                return self.source.views(position, k, self.step)
            return self._gathered(self._stride_indices(position, k, self.positions,
                                                       self.scratch), k, None)
        else:
            indices = self._sample_indices(start, k)
            idx = <const int64_t *>cnp.PyArray_DATA(<cnp.ndarray>indices)
        return self._gathered(idx, k, indices)

    cdef object _read_ahead(self, Py_ssize_t start):
        # The batch at item `start`, from the group gathered ahead, which this batch
        # starts when the previous group is used up: the next batches, up to a group,
        # all inside the stride hint (the rest are cut one by one).
        cdef Py_ssize_t b = start // self.batch_size, k, total = 0, n_group = 0
        cdef Py_ssize_t position = self.first + start * self.step, limit = -1
        cdef ReadAhead ahead = self.ahead
        cdef const int64_t *idx
        if ahead.used_up():
            if self.windowed and self.step == 1:
                # A group of the block order ends with the batch that reaches its
                # window's end: its samples are then read in place from the window's
                # table (a batch across two windows is a group of its own).
                if position < self.win_start or position >= self.win_stop:
                    self._enter_window(position)
                limit = self.win_stop - position
            while n_group < ahead.group_batches and b + n_group < self.n_batches:
                k = min(self.batch_size, self.n_items - (start + total))
                if k > self.count - (start + total):
                    break
                if n_group and 0 <= limit < total + k:
                    break
                total += k
                n_group += 1
            idx = self._stride_indices(position, total, ahead.positions, ahead.idx)
            # The block order's next window is drawn on one of the group's threads
            # while the others gather: in a group of at least half the full size, so
            # that the others have as much to do (not in the one-batch group that
            # crosses into the window).
            draw = None
            if 2 * n_group >= ahead.group_batches:
                draw, self.draw_next = self.draw_next, None
            ahead.gather(idx, total, n_group, draw)
        return ahead.next_batch()

    cdef const int64_t *_stride_indices(self, Py_ssize_t position, Py_ssize_t k,
                                        int64_t *positions, int64_t *out) except? NULL:
        # The samples at global positions position + u*step, u < k, under the stride
        # hint: the table's entries (in place when step is 1), the keyed bijection's
        # values, or the block order's window tables, written to out (positions: the
        # keyed order's scratch).  In range by construction: the stride was checked
        # against n_samples, and every window table when it is entered.
        cdef Py_ssize_t u, p
        if self.windowed:
            if (self.step == 1 and position >= self.win_start
                    and position + k <= self.win_stop):
                return self.win_ptr + (position - self.win_start)      # in place
            for u in range(k):
                p = position + u * self.step
                if p < self.win_start or p >= self.win_stop:
                    self._enter_window(p)
                out[u] = self.win_ptr[p - self.win_start]
            return out
        if self.keyed:
            for u in range(k):
                positions[u] = position + u * self.step
            if k < KEYED_NOGIL_COUNT:
                fb_index_shuffle(positions, out, k, self.n_samples, self.key0, self.key1, 1)
            else:
                with nogil:
                    fb_index_shuffle(positions, out, k, self.n_samples, self.key0,
                                     self.key1, num_threads())
            return out
        if self.step == 1:
            return self.table_ptr + position
        for u in range(k):
            out[u] = self.table_ptr[position + u * self.step]
        return out

    cdef _enter_window(self, Py_ssize_t position):
        # The window holding `position`; the source is told which rows the window
        # after it reads, so they arrive (read-ahead) while this one is served.  Its
        # table is used without looking at every value: it must be a drawn RunsDraw's
        # own read-only table, whose values are rows of its runs by construction, all
        # below its max_row.
        cdef RunsDraw draw
        cdef cnp.ndarray table
        start, stop, got = self.windows.window_of(position)
        draw = got if isinstance(got, RunsDraw) else None
        if not (draw is not None and draw.done and draw.status == FB_OK
                and start <= position < stop and draw.n == stop - start
                and draw.max_row < self.n_samples
                and cnp.PyArray_CHKFLAGS(<cnp.ndarray>draw.table, cnp.NPY_ARRAY_OWNDATA)
                and not cnp.PyArray_ISWRITEABLE(<cnp.ndarray>draw.table)):
            raise ValueError(f"the block order's window at position {position} is "
                             f"inconsistent: [{start}, {stop}) with {got!r}")
        table = draw.table
        # The next window's rows are asked for in the background first, so the disk has
        # many reads in flight; then this window's are read before its batches are cut
        # (in file order; pages an earlier hint brought in cost nothing).
        current = self.windows.window_blocks(self.windows.window_index(position))
        if self.win_stop == 0:
            self.source.will_need_rows(current)
        self.source.will_need_rows(self.windows.next_window_blocks(position))
        self.source.will_need_rows(current, True)
        if self.ahead is not None:
            # Grouped reads draw the next window's table during a gather; otherwise the
            # order draws it when the window is entered.
            self.draw_next = self.windows.draw_ahead(position)
        self.win_table, self.win_start, self.win_stop = table, start, stop
        self.win_ptr = <const int64_t *>cnp.PyArray_DATA(table)

    cdef object _sample_indices(self, Py_ssize_t start, Py_ssize_t k):
        # Batches outside the stride hint: the order answers in Python.  Its answer is
        # checked before any kernel reads rows with it.
        cdef Py_ssize_t u
        cdef const int64_t *idx
        indices = self.order.sample_indices(start, start + k)
        if not (isinstance(indices, np.ndarray) and indices.dtype == np.int64 and
                indices.ndim == 1 and indices.shape[0] == k and
                indices.flags.c_contiguous):
            raise TypeError(f"order.sample_indices must return {k} int64 indices, "
                            f"got {indices!r}")
        idx = <const int64_t *>cnp.PyArray_DATA(<cnp.ndarray>indices)
        for u in range(k):
            if <unsigned long long>idx[u] >= <unsigned long long>self.n_samples:
                raise IndexError(f"order.sample_indices gave sample {idx[u]} of "
                                 f"{self.n_samples}")
        return indices

    cdef object _gathered(self, const int64_t *idx, Py_ssize_t k, object indices):
        cdef Py_ssize_t a
        cdef tuple out = PyTuple_New(self.n_outputs)
        cdef cnp.ndarray buffer
        cdef char **dst = self.dst
        cdef cnp.npy_intp dims[1]
        cdef int status = FB_OK
        cdef Source source = self.source
        cdef dict variable = None
        cdef OutputFill fill
        source.prepare_rows(idx, k)
        if not source.fixed and indices is None:
            dims[0] = k
            indices = cnp.PyArray_SimpleNewFromData(1, dims, cnp.NPY_INT64,
                                                    <void *>idx).copy()
        for a in range(self.n_outputs):
            dst[a] = NULL
            fill = source.fills[a]
            if fill == FILL_KERNEL:
                buffer = self._buffer(a, k)
                dst[a] = <char *>cnp.PyArray_DATA(buffer)
                batch = buffer
            elif fill == FILL_SORTED:
                batch = source.fill_python(a, indices, self._buffer(a, k))
            elif fill == FILL_NUMPY_TAKE:
                batch = source.fill_python(a, indices, None)
            else:
                if variable is None:
                    variable = source.gather_variable(indices)
                batch = variable[a]
            Py_INCREF(batch)
            PyTuple_SET_ITEM(out, a, batch)
        if k * source.row_bytes >= NOGIL_BYTES:
            with nogil:
                status = source.fill(idx, k, dst, False)
        else:
            status = source.fill(idx, k, dst, False)
        raise_for_status(status, NULL)
        return source.assemble(out)

    cdef cnp.ndarray _buffer(self, Py_ssize_t a, Py_ssize_t k):
        # A batch buffer for output a: a pooled one nobody else references, or a new one.
        cdef list pool = <list>self.pools[a]
        cdef Py_ssize_t i, n = PyList_GET_SIZE(pool)
        cdef PyObject *item
        for i in range(n):
            item = PyList_GET_ITEM(pool, i)         # borrowed: no reference added
            if refcount(item) == 1 and cnp.PyArray_DIMS(<cnp.ndarray>item)[0] == k:
                return <cnp.ndarray>item
        batch = self.source.empty_output(a, k)
        if n >= POOL_SIZE:
            del pool[0]
        pool.append(batch)
        return batch
