"""Batches of an ``ArrowSource`` cut in Python (to be replaced by the one C iterator)."""

import threading
from typing import NamedTuple

from fastbatch.loader._iterator import BUSY, Progress
from fastbatch.loader.order import count_batches


class SourcePlan(NamedTuple):
    """How a loader cuts an ``ArrowSource``'s epochs into batches (the table counterpart
    of ``fastbatch.loader._iterator.BatchPlan``)."""

    source: "ArrowSource"
    batch_size: int
    drop_last: bool

    def n_batches(self, n_items):
        return count_batches(n_items, self.batch_size, self.drop_last)


class SourceBatches:
    """One epoch of batches of an ``ArrowSource``: the loader's ``BatchIterator`` for tables.

    Same contract as ``fastbatch.loader._iterator.BatchIterator``: ``order`` is a
    ``fastbatch.loader.order.RankOrder``; rows that form a stride of the table are handed out
    through ``ArrowSource.view``, other batches are gathered; ``progress`` moves only for
    iteration ``generation``; one iterator used by two threads at once raises.
    """

    def __init__(self, plan, order, first_batch=0, *, progress=None, generation=0):
        self._plan, self._order, self._next = plan, order, first_batch
        self._n_items = len(order)
        self._n_batches = plan.n_batches(self._n_items)
        self._progress = Progress() if progress is None else progress
        self._generation, self._finished = generation, False
        self._busy = threading.Lock()

    def __iter__(self):
        return self

    def __len__(self):
        return self._n_batches - self._next

    def __next__(self):
        if not self._busy.acquire(blocking=False):
            raise RuntimeError(BUSY)
        try:
            if self._next >= self._n_batches:
                if not self._finished:
                    self._finished = True
                    self._progress.finish(self._generation)
                raise StopIteration
            start = self._next * self._plan.batch_size
            stop = min(start + self._plan.batch_size, self._n_items)
            rows = self._order.rows(start, stop)
            if rows is not None:
                first, step = rows
                batch = self._plan.source.view(first, first + (stop - start - 1) * step + 1,
                                               step)
            else:
                batch = self._plan.source._gather_rows(self._order.sample_indices(start, stop))
            self._next += 1
            self._progress.advance(self._generation)
            return batch
        finally:
            self._busy.release()


