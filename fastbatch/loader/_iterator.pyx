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

``Progress`` holds a loader's epoch/step counters, and every rule that moves them;
``count_batches`` is the one batch-count formula.
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
from fastbatch._kernels.status cimport FB_OK, raise_for_status
from fastbatch._kernels.threads cimport num_threads
from fastbatch.sources._source cimport (FILL_KERNEL, FILL_NUMPY_TAKE, FILL_SORTED,
                                        OutputFill, Source)

import numpy as np

cnp.import_array()

cdef extern from "parallel.h":
    ctypedef void (*fb_item_fn)(void *ctx, int64_t item, int t) noexcept nogil
    ctypedef int (*fb_stop_fn)(void *ctx, int t) noexcept nogil
    void fb_parallel_for(int threads, int64_t count, fb_item_fn body, void *ctx,
                         fb_stop_fn stop, void *stop_ctx) noexcept nogil

cdef extern from *:
    """
    #define fb_store_status(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
    """
    void store_status "fb_store_status"(int *p, int v) noexcept nogil

cdef extern from "Python.h":
    # On a borrowed pointer: no temporary reference is created to ask.
    Py_ssize_t refcount "Py_REFCNT"(PyObject *obj)

# Batches smaller than this are gathered with the GIL held: releasing and re-taking it
# costs about as much as copying this many bytes.
cdef Py_ssize_t NOGIL_BYTES = 1 << 15
# Keyed batches of at least this many indices are computed with the GIL released (on
# the kernels' threads when there are enough of them): ~10 us of work.
cdef Py_ssize_t KEYED_NOGIL_COUNT = 4096

# Read-ahead: shuffled batches are gathered a group at a time (about READ_AHEAD_BYTES, at
# least READ_AHEAD_MIN_GROUP batches, at most READ_AHEAD_BATCHES batches and 4 x
# READ_AHEAD_BYTES), when the group's first batch is asked for, with the group's batches
# shared out among the kernels' threads.  Threads are started per call (~20-50 us), so a
# small batch alone is too little work to hand to a second thread (a 16 KiB gather takes
# ~5 us); a group is enough, and even batches the gather kernel would split across threads
# by themselves pay one start per group instead of one per batch.  Each thread gets at
# least READ_AHEAD_THREAD_BYTES (1 MiB), so a 4 KiB epoch stays on one thread.  The same
# groups on any thread count: the bytes, and which batch shows an array changed in place
# during the epoch, never depend on it.
# Measured on the idle 2-core machine, one epoch (medians of 7-9):
#   1e6x16 float32, B=256: 24 ms batch by batch, 17.5 ms in groups of 4 MiB (2 threads);
#   1e6x100 float64, B=1024 (800 KiB batches): 112-127 ms with each batch split across
#   threads, 105-116 ms in groups of 5, 96 ms in groups of 10.
cdef Py_ssize_t READ_AHEAD_BYTES = 1 << 22
cdef Py_ssize_t READ_AHEAD_BATCHES = 256
cdef Py_ssize_t READ_AHEAD_THREAD_BYTES = 1 << 20
cdef Py_ssize_t READ_AHEAD_MIN_GROUP = 8
# Only inputs larger than a server's last-level cache: random rows of a cached input are
# cheap, and a group's output pushes them out (2e5x8 float64, 12.8 MB, B=64: 4.8 ms an
# epoch batch by batch, 5.8 ms in groups, on 1 thread or 2).
cdef Py_ssize_t READ_AHEAD_MIN_INPUT_BYTES = 1 << 25
# For tests.
_READ_AHEAD = {"bytes": READ_AHEAD_BYTES, "batches": READ_AHEAD_BATCHES,
               "min_input_bytes": READ_AHEAD_MIN_INPUT_BYTES}


cdef Py_ssize_t groups_gathered = 0


def _read_ahead_groups():
    """Test hook: read-ahead groups gathered by this process so far."""
    return groups_gathered


def _set_read_ahead(Py_ssize_t bytes, Py_ssize_t min_input_bytes, Py_ssize_t thread_bytes,
                    Py_ssize_t min_group):
    """Test hook: the read-ahead limits of iterators created from now on (tiny ones put
    small test inputs through the grouped, multi-threaded path); returns the previous
    ones in the same order.  Not thread-safe: for tests only."""
    global READ_AHEAD_BYTES, READ_AHEAD_MIN_INPUT_BYTES, READ_AHEAD_THREAD_BYTES
    global READ_AHEAD_MIN_GROUP
    previous = (READ_AHEAD_BYTES, READ_AHEAD_MIN_INPUT_BYTES, READ_AHEAD_THREAD_BYTES,
                READ_AHEAD_MIN_GROUP)
    READ_AHEAD_BYTES, READ_AHEAD_MIN_INPUT_BYTES = bytes, min_input_bytes
    READ_AHEAD_THREAD_BYTES, READ_AHEAD_MIN_GROUP = max(1, thread_bytes), max(2, min_group)
    return previous


cdef struct GroupFill:
    void *source          # the Source (borrowed: the iterator holds it)
    Py_ssize_t n_outputs, batch_size, total
    const int64_t *idx    # the group's sample indices, batch after batch
    char **dst            # batch j's buffer of output o: dst[j * n_outputs + o]
    bint shared           # the group's batches are shared out among threads
    int status            # the first failure (any batch's), or FB_OK


cdef void fill_group_batch(void *ctx, int64_t j, int t) noexcept nogil:
    # When the batches are shared out among threads, each is gathered on its thread
    # alone (the gather kernel would start threads of its own for a large batch).
    cdef GroupFill *g = <GroupFill *>ctx
    cdef Py_ssize_t start = j * g.batch_size
    cdef Py_ssize_t k = min(g.batch_size, g.total - start)
    cdef int status = (<Source>g.source).fill(g.idx + start, k, g.dst + j * g.n_outputs,
                                              g.shared)
    if status != FB_OK:
        store_status(&g.status, status)


cpdef Py_ssize_t count_batches(Py_ssize_t n, Py_ssize_t batch_size, bint drop_last):
    """Batches in an epoch of ``n`` samples: ``ceil(n / B)``, or ``n // B`` with drop_last.

    Examples
    --------
    >>> from fastbatch.loader._iterator import count_batches
    >>> count_batches(10, 3, False), count_batches(10, 3, True)
    (4, 3)
    """
    if drop_last:
        return n // batch_size
    return n // batch_size + (n % batch_size != 0)


# Batch buffers kept per array for reuse.  A buffer is reused only when this pool holds
# the sole reference to it: the caller dropped the batch and every view of it (a view
# references its base), so nothing the caller can still reach ever changes.  Reuse keeps
# the memory warm in cache and spares the page faults of fresh large allocations.
cdef Py_ssize_t POOL_SIZE = 3

BUSY = ("this batch iterator is producing a batch in another thread: an iterator must "
        "not be consumed by two threads at once (call iter(loader) in each thread; "
        "each iteration is a whole epoch of its own)")


@cython.final
cdef class Progress:
    """A loader's counters, and every rule that moves them.

    ``epoch`` is the epoch in progress (or the next one to start), ``position`` the
    batches of it consumed, ``step`` the batches consumed over all epochs.  Each iteration
    of the loader ``claim``\\ s an epoch and gets a ``generation``; only the latest
    generation moves the counters (an older iterator still yields its batches).  Once an
    iteration has claimed ``(epoch, position)``, the next claim starts the next epoch.

    Examples
    --------
    >>> from fastbatch.loader._iterator import Progress
    >>> p = Progress()
    >>> generation = p.claim()
    >>> p.advance(generation); p.finish(generation)
    >>> p.snapshot()
    (1, 0, 1)
    """
    cdef readonly int64_t epoch, position, step, generation
    cdef readonly bint started

    def upcoming(self):
        """``(epoch, first batch)`` the next ``claim`` starts."""
        if self.started:
            return self.epoch + 1, 0
        return self.epoch, self.position

    def claim(self):
        """Start the iteration ``upcoming`` describes; return its generation."""
        self.epoch, self.position = self.upcoming()
        self.started = True
        self.generation += 1
        return self.generation

    def advance(self, int64_t generation):
        """Iteration ``generation`` handed out a batch."""
        self.count(generation)

    cdef inline void count(self, int64_t generation) noexcept:
        # advance() without a Python call: the iterator's per-batch path.
        if generation == self.generation:
            self.step += 1
            self.position += 1

    cpdef void finish(self, int64_t generation) noexcept:
        """Iteration ``generation`` was read to the end of its epoch."""
        if generation == self.generation:
            self.epoch += 1
            self.position = 0
            self.started = False

    def select(self, int64_t epoch, int64_t position=0, step=None):
        """The next iteration runs ``epoch`` from batch ``position`` (set_epoch, resume)."""
        self.epoch = epoch
        self.position = position
        if step is not None:
            self.step = step
        self.started = False
        self.generation += 1

    def snapshot(self):
        """``(epoch, position, step)``, read at once."""
        return self.epoch, self.position, self.step


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
    cdef Py_ssize_t first, step, count, n_samples
    cdef Py_ssize_t n_items, batch_size, n_batches, next_batch
    cdef Py_ssize_t n_outputs
    cdef bint finished, busy
    cdef Progress progress
    cdef int64_t generation
    # Per batch: where each output's data goes (NULL: not filled by the source's kernel).
    cdef char **dst
    # Read-ahead: batches per group (1: none), the batches gathered ahead and the next
    # one to hand out, and the group's index scratch and destinations.
    cdef Py_ssize_t group_batches, ahead_next
    cdef list ahead
    cdef int64_t *group_idx
    cdef int64_t *group_positions
    cdef char **group_dst

    def __cinit__(self):
        self.dst = NULL
        self.scratch = NULL
        self.positions = NULL
        self.group_idx = NULL
        self.group_positions = NULL
        self.group_dst = NULL

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
        # 8 for a strided table, none for a contiguous one).
        # Sizes are compared by division first: batch_size may be near 2**63.
        cdef Py_ssize_t row_bytes = self.source.row_bytes
        cdef Py_ssize_t index_bytes = 16 if self.keyed else (8 if self.step != 1 else 0)
        cdef Py_ssize_t sample_bytes = max(row_bytes + index_bytes, 1)
        cdef Py_ssize_t batch_bytes
        self.group_batches = 1
        self.ahead = []
        self.ahead_next = 0
        if (not self.source.fixed or self.n_outputs == 0 or self.count == 0
                or (self.table_ptr == NULL and not self.keyed)
                or self.batch_size > 4 * READ_AHEAD_BYTES // READ_AHEAD_MIN_GROUP // sample_bytes
                or row_bytes == 0
                or self.n_samples < (READ_AHEAD_MIN_INPUT_BYTES + row_bytes - 1) // row_bytes):
            return
        batch_bytes = self.batch_size * sample_bytes
        self.group_batches = min(READ_AHEAD_BATCHES, self.n_batches,
                                 max(READ_AHEAD_MIN_GROUP, READ_AHEAD_BYTES // batch_bytes))
        if self.group_batches < 2:
            self.group_batches = 1
            return
        cdef Py_ssize_t items = self.group_batches * self.batch_size
        self.group_dst = <char **>malloc(self.group_batches * self.n_outputs * sizeof(char *))
        self.group_idx = <int64_t *>malloc(items * sizeof(int64_t))
        if self.keyed:
            self.group_positions = <int64_t *>malloc(items * sizeof(int64_t))
        if (self.group_dst == NULL or self.group_idx == NULL
                or (self.keyed and self.group_positions == NULL)):
            raise MemoryError()

    cdef _read_stride(self, stride):
        # The order's hint: rank-local positions t < count are global positions
        # first + step*t, whose samples are table[...], the keyed bijection's values
        # under key (optional fifth field), or the positions (views).
        table, self.first, self.step, self.count = stride[:4]
        key = stride[4] if len(stride) > 4 else None
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
        free(self.group_dst)
        free(self.group_idx)
        free(self.group_positions)
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
            if self.group_batches > 1:
                return self._read_ahead(start)
            position = self.first + start * self.step
            if self.table_ptr == NULL and not self.keyed:
                return self.source.views(position, k, self.step)
            return self._gathered(self._stride_indices(position, k, self.positions,
                                                       self.scratch), k, None)
        else:
            indices = self._sample_indices(start, k)
            idx = <const int64_t *>cnp.PyArray_DATA(<cnp.ndarray>indices)
        return self._gathered(idx, k, indices)

    cdef object _read_ahead(self, Py_ssize_t start):
        # The batch at item `start`, from the group gathered ahead, which this batch
        # starts when the previous group is used up.
        if self.ahead_next >= len(self.ahead):
            self._gather_group(start)
        batch = self.ahead[self.ahead_next]
        self.ahead[self.ahead_next] = None       # the caller holds the only reference
        self.ahead_next += 1
        return batch

    cdef _gather_group(self, Py_ssize_t start):
        # The group: the next batches, up to group_batches, all inside the stride hint
        # (the rest are cut one by one), gathered in one nogil call.
        cdef Py_ssize_t b = start // self.batch_size, j, a, k, u, total = 0
        cdef Py_ssize_t n_group = 0, position = self.first + start * self.step
        global groups_gathered
        cdef GroupFill fill
        cdef const int64_t *idx
        cdef cnp.ndarray batch
        cdef int threads
        while (n_group < self.group_batches and b + n_group < self.n_batches):
            k = min(self.batch_size, self.n_items - (start + total))
            if k > self.count - (start + total):
                break
            total += k
            n_group += 1
        idx = self._stride_indices(position, total, self.group_positions, self.group_idx)
        group = []
        for j in range(n_group):
            k = min(self.batch_size, total - j * self.batch_size)
            out = PyTuple_New(self.n_outputs)
            for a in range(self.n_outputs):
                batch = self._group_buffer(j, a, k)
                self.group_dst[j * self.n_outputs + a] = <char *>cnp.PyArray_DATA(batch)
                Py_INCREF(batch)
                PyTuple_SET_ITEM(out, a, batch)
            group.append(self.source.assemble(out))
        fill.source, fill.n_outputs = <void *>self.source, self.n_outputs
        fill.batch_size, fill.total = self.batch_size, total
        fill.idx, fill.dst, fill.status = idx, self.group_dst, FB_OK
        threads = <int>max(1, min(<Py_ssize_t>num_threads(), n_group,
                                  total * self.source.row_bytes // READ_AHEAD_THREAD_BYTES))
        fill.shared = threads > 1
        with nogil:                # one thread: fb_parallel_for runs on this one
            fb_parallel_for(threads, n_group, fill_group_batch, &fill, NULL, NULL)
        raise_for_status(fill.status, NULL)
        self.ahead, self.ahead_next = group, 0
        groups_gathered += 1

    cdef cnp.ndarray _group_buffer(self, Py_ssize_t j, Py_ssize_t a, Py_ssize_t k):
        # Batch j of a group, array a: the buffer batch j of an earlier group had, when
        # nobody else references it any more (see POOL_SIZE), or a new one kept for the
        # next group.  pools[a] holds one buffer per position in the group.
        cdef list pool = <list>self.pools[a]
        cdef PyObject *item
        if j < PyList_GET_SIZE(pool):
            item = PyList_GET_ITEM(pool, j)
            if refcount(item) == 1 and cnp.PyArray_DIMS(<cnp.ndarray>item)[0] == k:
                return <cnp.ndarray>item
            batch = self.source.empty_output(a, k)
            pool[j] = batch
            return batch
        batch = self.source.empty_output(a, k)
        pool.append(batch)
        return batch

    cdef const int64_t *_stride_indices(self, Py_ssize_t position, Py_ssize_t k,
                                        int64_t *positions, int64_t *out):
        # The samples at global positions position + u*step, u < k, under the stride
        # hint: the table's entries (in place when step is 1) or the keyed bijection's
        # values, written to out (positions: the keyed order's scratch).  In range by
        # construction: the stride was checked against n_samples.
        cdef Py_ssize_t u
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
