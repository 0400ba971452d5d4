"""A loader's counters (``Progress``), the one batch-count formula (``count_batches``) and
the message an iterator gives a second thread."""
cimport cython
from libc.stdint cimport int64_t

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
    >>> from fastbatch.loader._progress import Progress
    >>> p = Progress()
    >>> generation = p.claim()
    >>> p.advance(generation); p.finish(generation)
    >>> p.snapshot()
    (1, 0, 1)
    """
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



cpdef Py_ssize_t count_batches(Py_ssize_t n, Py_ssize_t batch_size, bint drop_last):
    """Batches in an epoch of ``n`` samples: ``ceil(n / B)``, or ``n // B`` with drop_last.

    Examples
    --------
    >>> from fastbatch.loader._progress import count_batches
    >>> count_batches(10, 3, False), count_batches(10, 3, True)
    (4, 3)
    """
    if drop_last:
        return n // batch_size
    return n // batch_size + (n % batch_size != 0)
