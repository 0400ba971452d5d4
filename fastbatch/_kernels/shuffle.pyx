"""Bounded random integers and exact permutations, drawn from a numpy bit generator.

The algorithms (Fisher-Yates, the parallel bucket shuffle with keyed per-chunk and
per-bucket streams, and the proof that it is exactly uniform and independent of the
thread count) are plain C in ``src/permutation.h``.  Here: the C-API wrappers, which read
the thread count, and the Python entry points (``permutation_into`` and the ``_*_py``
test hooks), which check, hold the bit generator's lock and release the GIL.
"""
cimport numpy as cnp
from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_IsValid
from libc.stdlib cimport free, malloc
from libc.stdint cimport int32_t, int64_t, uint64_t
from numpy.random cimport bitgen_t

from fastbatch._kernels.status cimport (
    FB_OK, fb_interrupt, fb_interrupt_init, fb_interrupt_poll, raise_for_status,
)
from fastbatch._kernels.threads cimport fb_parallel_for, num_threads

import numpy as np

cnp.import_array()

cdef extern from "permutation.h":
    ctypedef int (*fb_perm_check_fn)(void *ctx) noexcept nogil
    uint64_t fb_perm_bounded(bitgen_t *bitgen, uint64_t bound) noexcept nogil
    int fb_perm_int64(bitgen_t *bitgen, int64_t *out, int64_t n, int threads,
                      fb_perm_check_fn check, void *ctx) noexcept nogil
    int fb_perm_int32(bitgen_t *bitgen, int32_t *out, int64_t n, int threads,
                      fb_perm_check_fn check, void *ctx) noexcept nogil
    void fb_perm_shuffle_int64(bitgen_t *bitgen, int64_t *a, int64_t n) noexcept nogil
    int fb_perm_runs_int64(bitgen_t *bitgen, int64_t *out, int64_t n,
                           const int64_t *firsts, const int64_t *ends, int64_t n_runs,
                           int threads, fb_perm_check_fn check, void *ctx) noexcept nogil
    int64_t fb_perm_runs_small_max
    int fb_perm_forced_buckets_int64(bitgen_t *bitgen, int64_t *out, int64_t n,
                                     int64_t bucket_bytes, int64_t chunk,
                                     int threads) noexcept nogil


# ---------------------------------------------------------------------------------------
# The C-API (re-cimported by fastbatch/__init__.pxd).

cdef uint64_t fb_random_bounded(bitgen_t *bitgen, uint64_t bound) noexcept nogil:
    return fb_perm_bounded(bitgen, bound)


cdef int fb_permutation_int64(bitgen_t *bitgen, int64_t *out, int64_t n) noexcept nogil:
    return fb_perm_int64(bitgen, out, n, num_threads(), NULL, NULL)


cdef int fb_permutation_int32(bitgen_t *bitgen, int32_t *out, int64_t n) noexcept nogil:
    return fb_perm_int32(bitgen, out, n, num_threads(), NULL, NULL)


cdef int permutation_any(bitgen_t *bitgen, index_t *out, int64_t n, int threads,
                         fb_interrupt *intr) noexcept nogil:
    cdef int status
    if index_t is int64_t:
        status = fb_perm_int64(bitgen, out, n, threads, look_for_signals, intr)
    else:
        status = fb_perm_int32(bitgen, out, n, threads, look_for_signals, intr)
    return status


cdef int look_for_signals(void *intr) noexcept nogil:
    # The permutation kernel calls this on the calling thread, at most every ~50 ms (its
    # own clock), so every call is a look: the poll is told a whole interval has passed.
    cdef fb_interrupt *it = <fb_interrupt *>intr
    return fb_interrupt_poll(it, it.every) != FB_OK


# ---------------------------------------------------------------------------------------
# Python entry points.

cdef const char *CAPSULE_NAME = "BitGenerator"


cdef bitgen_t *bitgen_of(object bit_generator) except NULL:
    capsule = bit_generator.capsule
    if not PyCapsule_IsValid(capsule, CAPSULE_NAME):
        raise ValueError(f"{bit_generator!r} does not expose a valid BitGenerator capsule")
    return <bitgen_t *>PyCapsule_GetPointer(capsule, CAPSULE_NAME)


def permutation_into(object bit_generator, index_t[::1] out, bint one_thread=False):
    """Fill ``out`` (int32 or int64, contiguous) with a uniform permutation of its range.

    The result is the same for any thread count; ``one_thread`` keeps the work on the
    calling thread (a draw made in the background while other threads gather rows).
    Ctrl-C (any exception a signal handler raises) interrupts it within tens of
    milliseconds; ``out`` then holds no permutation.  The exception is raised after the
    bit generator's lock is released.
    """
    cdef bitgen_t *bitgen = bitgen_of(bit_generator)
    cdef int64_t n = out.shape[0]
    cdef int status
    cdef fb_interrupt intr
    if n == 0:
        return
    fb_interrupt_init(&intr, 1)
    with bit_generator.lock, nogil:
        status = permutation_any(bitgen, &out[0], n, 1 if one_thread else num_threads(),
                                 &intr)
    raise_for_status(status, &intr)


def permutation_runs_into(object bit_generator, cnp.ndarray out not None, firsts, sizes,
                          bint one_thread=False):
    """Fill ``out`` with the rows of runs of consecutive rows, in a uniform random order.

    Run ``r`` is rows ``firsts[r] .. firsts[r] + sizes[r] - 1``; laid end to end they hold
    ``len(out)`` rows (the block shuffle's window table, in one pass).  Up to 2**20 rows
    the order is an inside-out Fisher-Yates keyed by two words of the generator (on one
    thread: small windows are drawn beside a gather); above, ``out[k]`` is the
    ``p[k]``-th row, ``p`` the permutation :func:`permutation_into` draws from the same
    generator state.  The result never depends on ``one_thread`` (as for
    :func:`permutation_into`).

    Examples
    --------
    >>> import numpy as np
    >>> from fastbatch._kernels.shuffle import permutation_runs_into
    >>> out = np.empty(5, dtype=np.int64)
    >>> permutation_runs_into(np.random.PCG64(0), out, [10, 50], [3, 2])
    >>> sorted(out.tolist())
    [10, 11, 12, 50, 51]
    """
    RunsDraw(bit_generator, out, firsts, sizes).result(one_thread)


cdef class RunsDraw:
    """A :func:`permutation_runs_into` to run later: checked and set up now (with the
    GIL), drawn by :meth:`run` on whatever thread (without the GIL: the block shuffle's
    next window table, drawn as one item of a read-ahead group's gather) or by
    :meth:`result`.

    ``out`` is a C-contiguous int64 ndarray, held (and its buffer) until the draw is
    gone; ``firsts`` and ``sizes`` are copied.  ``bit_generator`` must be the draw's own
    (nobody else draws from it: :meth:`run` cannot take its lock).  ``max_row`` is the
    largest row of the runs (-1 for none), so every value of the table is in
    ``[0, max_row]`` by construction.  ``small``: at most the Fisher-Yates limit of rows
    (2**20), drawn on one thread in a few milliseconds; larger tables take the
    permutation's threads and look for Ctrl-C (:meth:`result`).

    Examples
    --------
    >>> import numpy as np
    >>> from fastbatch._kernels.shuffle import RunsDraw
    >>> draw = RunsDraw(np.random.PCG64(0), np.empty(5, dtype=np.int64), [10, 50], [3, 2])
    >>> draw.done, draw.max_row, sorted(draw.result().tolist())
    (False, 51, [10, 11, 12, 50, 51])
    """

    def __init__(self, object bit_generator, cnp.ndarray out not None, firsts, sizes):
        self.view = out                   # int64, C-contiguous, writable: or it raises
        first = np.array(firsts, dtype=np.int64, copy=True)
        size = np.array(sizes, dtype=np.int64, copy=True)
        if first.ndim != 1 or size.ndim != 1 or first.shape[0] != size.shape[0]:
            raise ValueError("firsts and sizes must be 1-D and of one length")
        if size.shape[0] and (size.min() < 0 or first.min() < 0):
            raise ValueError("firsts and sizes must be >= 0")
        ends = np.cumsum(size, dtype=np.int64)
        if (ends < 0).any():              # sizes >= 0: a sum past 2**63 - 1 wrapped
            raise ValueError("the runs hold more than 2**63 - 1 rows")
        total = int(ends[len(ends) - 1]) if len(ends) else 0
        if total != self.view.shape[0] or out.ndim != 1:
            raise ValueError(f"the runs hold {total} rows, out holds "
                             f"{(<object>out).shape}")
        nonempty = size > 0
        if (first[nonempty] > np.iinfo(np.int64).max - size[nonempty]).any():
            raise ValueError("runs must end below 2**63 - 1")
        self.max_row = int((first[nonempty] + size[nonempty] - 1).max()) if total else -1
        self.bitgen = bitgen_of(bit_generator)
        self.bit_generator = bit_generator
        self.table = out
        self.out = &self.view[0] if total else NULL
        self.n, self.n_runs = total, first.shape[0]
        self.small = total <= fb_perm_runs_small_max
        self.firsts_array, self.ends_array = first, ends
        self.firsts = <const int64_t *>cnp.PyArray_DATA(first)
        self.ends = <const int64_t *>cnp.PyArray_DATA(ends)
        self.status, self.done = FB_OK, total == 0

    cdef void run(self, int threads=1, fb_interrupt *intr=NULL) noexcept nogil:
        # Once: a second call (the table already drawn) does nothing.
        cdef fb_perm_check_fn check = NULL
        if self.done:
            return
        if intr != NULL:
            check = look_for_signals
        self.status = fb_perm_runs_int64(self.bitgen, self.out, self.n, self.firsts,
                                         self.ends, self.n_runs, threads, check, intr)
        self.done = True

    def result(self, bint one_thread=False):
        """The table, drawn now (on the kernels' threads, or one, looking for Ctrl-C)
        unless already drawn."""
        cdef fb_interrupt intr
        if not self.done:
            fb_interrupt_init(&intr, 1)
            with self.bit_generator.lock, nogil:
                self.run(1 if one_thread else num_threads(), &intr)
            raise_for_status(self.status, &intr)
        # A failed draw (out of memory, interrupted) fails again: its generator moved on.
        raise_for_status(self.status, NULL)
        return self.table


def run_draws(draws):
    """Draw every :class:`RunsDraw` of ``draws`` not drawn yet (each once): the small
    ones side by side, one per thread of the kernels, the others one after another on
    all of them (:meth:`RunsDraw.result`, which looks for Ctrl-C).  The result of each
    is that of its own :meth:`RunsDraw.result`."""
    cdef list todo = [], side = []
    cdef Py_ssize_t count, i
    cdef void **items
    for d in draws:
        if not (<RunsDraw?>d).done and not any(d is seen for seen in todo):
            todo.append(d)
    side = [d for d in todo if d.small]
    count = len(side)
    if count > 1 and num_threads() > 1:
        items = <void **>malloc(count * sizeof(void *))
        if items == NULL:
            raise MemoryError()
        for i in range(count):
            items[i] = <void *>side[i]
        with nogil:
            fb_parallel_for(<int>min(<Py_ssize_t>num_threads(), count), count, run_one_draw,
                            items, NULL, NULL)
        free(items)
    for d in todo:
        d.result()                        # draws what is left; raises a draw's failure


cdef void run_one_draw(void *ctx, int64_t item, int t) noexcept nogil:
    (<RunsDraw>(<void **>ctx)[item]).run()


def _set_runs_small_max(int64_t value):
    """Test hook: tables of runs of at most ``value`` rows are drawn by Fisher-Yates
    (above: the permutation's buckets); returns the previous limit."""
    global fb_perm_runs_small_max
    previous = fb_perm_runs_small_max
    fb_perm_runs_small_max = value
    return previous


def _bounded_py(object bit_generator, uint64_t bound, Py_ssize_t size):
    """Test hook: ``size`` draws of the bounded-integer kernel on [0, bound)."""
    if bound < 1:
        raise ValueError(f"bound must be >= 1, got {bound}")
    cdef bitgen_t *bitgen = bitgen_of(bit_generator)
    result = np.empty(size, dtype=np.uint64)
    cdef uint64_t[::1] out = result
    cdef Py_ssize_t i
    with bit_generator.lock, nogil:
        for i in range(size):
            out[i] = fb_random_bounded(bitgen, bound)
    return result


def _shuffle_py(object bit_generator, int64_t[::1] a):
    """Test hook: in-place Fisher-Yates shuffle of ``a``."""
    cdef bitgen_t *bitgen = bitgen_of(bit_generator)
    if a.shape[0] == 0:
        return
    with bit_generator.lock, nogil:
        fb_perm_shuffle_int64(bitgen, &a[0], a.shape[0])


def _buckets_py(object bit_generator, int64_t[::1] out, int64_t bucket_bytes,
                int64_t chunk=65536):
    """Test hook: the large-n (bucket) permutation at any size, bucket size and chunk
    size, on ``get_num_threads()`` threads whatever the size."""
    cdef bitgen_t *bitgen = bitgen_of(bit_generator)
    cdef int status
    if bucket_bytes < 8:
        raise ValueError(f"bucket_bytes must be >= 8, got {bucket_bytes}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    if out.shape[0] == 0:
        return
    with bit_generator.lock, nogil:
        status = fb_perm_forced_buckets_int64(bitgen, &out[0], out.shape[0], bucket_bytes,
                                              chunk, num_threads())
    raise_for_status(status, NULL)
