"""Read-ahead for shuffled batches: a group of batches gathered at once on the kernels'
threads (``ReadAhead``), and the rule that decides a group's size (``group_batches``)."""
cimport cython
cimport numpy as cnp
from cpython.object cimport PyObject
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc

from fastbatch._kernels.shuffle cimport RunsDraw
from fastbatch._kernels.status cimport FB_OK, raise_for_status
from fastbatch._kernels.threads cimport fb_parallel_for, num_threads

cnp.import_array()


cdef extern from *:
    """
    #define fb_store_status(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
    """
    void store_status "fb_store_status"(int *p, int v) noexcept nogil

cdef extern from "Python.h":
    # On a borrowed pointer: no temporary reference is created to ask.
    Py_ssize_t refcount "Py_REFCNT"(PyObject *obj)

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


cdef Py_ssize_t groups_gathered = 0, draws_in_groups = 0


def _read_ahead_groups():
    """Test hook: read-ahead groups gathered by this process so far."""
    return groups_gathered


def _read_ahead_draws():
    """Test hook: block-order window tables drawn inside read-ahead groups so far."""
    return draws_in_groups


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
    void *draw            # a RunsDraw drawn as item 0 (borrowed), or NULL


cdef void fill_group_batch(void *ctx, int64_t j, int t) noexcept nogil:
    # When the batches are shared out among threads, each is gathered on its thread
    # alone (the gather kernel would start threads of its own for a large batch).
    # With a draw, item 0 is the draw (on one thread) and item j + 1 is batch j.
    cdef GroupFill *g = <GroupFill *>ctx
    if g.draw != NULL:
        if j == 0:
            (<RunsDraw>g.draw).run()
            return
        j -= 1
    cdef Py_ssize_t start = j * g.batch_size
    cdef Py_ssize_t k = min(g.batch_size, g.total - start)
    cdef int status = (<Source>g.source).fill(g.idx + start, k, g.dst + j * g.n_outputs,
                                              g.shared)
    if status != FB_OK:
        store_status(&g.status, status)



cdef Py_ssize_t group_batches(Source source, Py_ssize_t batch_size, Py_ssize_t n_batches,
                              Py_ssize_t index_bytes):
    """Batches per read-ahead group of a shuffled epoch (1: batch by batch): only for
    sources filled without Python, larger than READ_AHEAD_MIN_INPUT_BYTES, with batches
    small enough for a group; ``index_bytes`` is the group's index scratch per sample."""
    # Sizes are compared by division first: batch_size may be near 2**63.
    cdef Py_ssize_t row_bytes = source.row_bytes
    cdef Py_ssize_t sample_bytes = max(row_bytes + index_bytes, 1)
    cdef Py_ssize_t group
    if (not source.fixed or source.n_outputs == 0 or row_bytes == 0
            or batch_size > 4 * READ_AHEAD_BYTES // READ_AHEAD_MIN_GROUP // sample_bytes
            or source.n_samples < (READ_AHEAD_MIN_INPUT_BYTES + row_bytes - 1) // row_bytes):
        return 1
    group = min(READ_AHEAD_BATCHES, n_batches,
                max(READ_AHEAD_MIN_GROUP, READ_AHEAD_BYTES // (batch_size * sample_bytes)))
    return group if group >= 2 else 1


@cython.final
cdef class ReadAhead:
    """The batches of one group, gathered in one ``nogil`` call, handed out in order.

    Each group's batches are new arrays the caller owns; a buffer is reused for a later
    group only once nobody else references it (see POOL_SIZE in the iterator).
    """

    def __cinit__(self):
        self.idx = NULL
        self.positions = NULL
        self.dst = NULL

    def __init__(self, Source source, Py_ssize_t batch_size, Py_ssize_t group_batches,
                 bint keyed):
        cdef Py_ssize_t items = group_batches * batch_size
        self.source, self.batch_size = source, batch_size
        self.n_outputs, self.group_batches = source.n_outputs, group_batches
        self.ahead, self.ahead_next = [], 0
        self.pools = [[] for _ in range(self.n_outputs)]
        self.dst = <char **>malloc(group_batches * self.n_outputs * sizeof(char *))
        self.idx = <int64_t *>malloc(items * sizeof(int64_t))
        if keyed:
            self.positions = <int64_t *>malloc(items * sizeof(int64_t))
        if self.dst == NULL or self.idx == NULL or (keyed and self.positions == NULL):
            raise MemoryError()

    def __dealloc__(self):
        free(self.dst)
        free(self.idx)
        free(self.positions)

    cdef bint used_up(self):
        return self.ahead_next >= len(self.ahead)

    cdef object next_batch(self):
        batch = self.ahead[self.ahead_next]
        self.ahead[self.ahead_next] = None       # the caller holds the only reference
        self.ahead_next += 1
        return batch

    cdef gather(self, const int64_t *idx, Py_ssize_t total, Py_ssize_t n_group,
                RunsDraw draw=None):
        # Batches of the samples idx[0:total], batch_size each (the last may be short),
        # on the kernels' threads; a draw (the block order's next window table) runs
        # as one more item, on a thread of its own while the others gather: it gets a
        # thread whatever the group's size, and the threads' order of work never
        # changes a result.
        global groups_gathered, draws_in_groups
        cdef Py_ssize_t j, a, k
        cdef GroupFill fill
        cdef cnp.ndarray batch
        cdef int threads
        self.source.prepare_rows(idx, total)
        group = []
        for j in range(n_group):
            k = min(self.batch_size, total - j * self.batch_size)
            out = PyTuple_New(self.n_outputs)
            for a in range(self.n_outputs):
                batch = self.buffer(j, a, k)
                self.dst[j * self.n_outputs + a] = <char *>cnp.PyArray_DATA(batch)
                Py_INCREF(batch)
                PyTuple_SET_ITEM(out, a, batch)
            group.append(self.source.assemble(out))
        fill.source, fill.n_outputs = <void *>self.source, self.n_outputs
        fill.batch_size, fill.total = self.batch_size, total
        fill.idx, fill.dst, fill.status = idx, self.dst, FB_OK
        threads = <int>max(1, min(<Py_ssize_t>num_threads(), n_group,
                                  total * self.source.row_bytes // READ_AHEAD_THREAD_BYTES))
        fill.draw = NULL
        if draw is not None and not draw.done:
            fill.draw = <void *>draw
            threads = min(num_threads(), threads + 1)
        fill.shared = threads > 1
        with nogil:                # one thread: fb_parallel_for runs on this one
            fb_parallel_for(threads, n_group + (fill.draw != NULL), fill_group_batch,
                            &fill, NULL, NULL)
        raise_for_status(fill.status, NULL)
        self.ahead, self.ahead_next = group, 0
        groups_gathered += 1
        draws_in_groups += fill.draw != NULL

    cdef cnp.ndarray buffer(self, Py_ssize_t j, Py_ssize_t a, Py_ssize_t k):
        # Batch j of a group, output a: the buffer batch j of an earlier group had, when
        # nobody else references it any more, or a new one kept for the next group.
        # pools[a] holds one buffer per position in the group.
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
