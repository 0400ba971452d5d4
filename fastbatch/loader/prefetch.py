"""Prefetching: one epoch of batches gathered ahead by a background thread."""

import queue
import threading

from fastbatch.loader._progress import BUSY

_DONE = object()


class PrefetchIterator:
    """One epoch of batches gathered ``depth`` batches ahead by a background thread.

    The gather kernels release the GIL, so the thread fills the next batches while the
    caller computes.  Batches come in the same order as without prefetching; an exception
    in the thread is raised in the caller at the batch where it happened; leaving the
    loop (``break``) or dropping the iterator stops the thread (``close()`` does so
    explicitly and waits for it).  Only the caller's side moves ``progress``: a batch
    counts when it is handed out, not when it is gathered.

    Parameters
    ----------
    batches : iterator
        The batches; consumed by the thread only.
    depth : int
        Batches gathered ahead (``>= 1``).
    progress : fastbatch.loader._progress.Progress, optional
        Advanced per batch handed out and finished at the end, for ``generation``.
    generation : int

    Raises
    ------
    RuntimeError
        From ``next()`` while another thread is inside ``next()`` of the same iterator.

    Examples
    --------
    >>> from fastbatch.loader.prefetch import PrefetchIterator
    >>> list(PrefetchIterator(iter(range(5)), depth=2))
    [0, 1, 2, 3, 4]
    """

    def __init__(self, batches, depth, progress=None, generation=0):
        self._queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._busy = threading.Lock()
        self._progress = progress
        self._generation = generation
        self._finished = False
        self._thread = threading.Thread(
            target=_prefetch_worker, args=(batches, self._queue, self._stop),
            name="fastbatch-prefetch", daemon=True)
        self._thread.start()

    def __iter__(self):
        return self

    def __next__(self):
        # A second consumer would wait on the queue for an item only one of them gets
        # (the end-of-epoch marker): it is refused instead.
        if not self._busy.acquire(blocking=False):
            raise RuntimeError(BUSY)
        try:
            return self._next()
        finally:
            self._busy.release()

    def _next(self):
        if self._finished:
            raise StopIteration
        item = self._queue.get()
        if item is _DONE:
            self._finished = True
            self._thread.join()
            if self._progress is not None:
                self._progress.finish(self._generation)
            raise StopIteration
        if isinstance(item, _Failure):
            self._finished = True
            self._thread.join()
            raise item.error
        if self._progress is not None:
            self._progress.advance(self._generation)
        return item

    def close(self):
        """Stop the background thread and wait for it to end."""
        self._finished = True
        self._stop.set()
        while self._thread.is_alive():
            try:                      # unblock a worker waiting for room in the queue
                self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(timeout=0.01)

    def __del__(self):
        if hasattr(self, "_thread"):
            self.close()


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error):
        self.error = error


def _prefetch_worker(batches, out, stop):
    # Runs in the background thread; it never touches the loader or the caller's state.
    try:
        for batch in batches:
            if not _put(out, batch, stop):
                return
        item = _DONE
    except BaseException as error:   # handed to the caller, raised there
        item = _Failure(error)
    _put(out, item, stop)


def _put(out, item, stop):
    """Put ``item`` unless ``stop`` is set first; True when it was put."""
    while not stop.is_set():
        try:
            out.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False
