"""Threads and one loader (issue 10, items 3 and 4).

The contract: every ``iter(loader)`` claims a whole epoch atomically (threads each
running their own ``for`` get distinct, complete epochs); one iterator advanced by two
threads at once raises RuntimeError in the second, never duplicates, misaligns or hangs.
"""

import threading

import numpy as np
import pytest

import fastbatch as fb
from fastbatch.loader.order import SHUFFLE_METHODS, SequentialOrder
from reference import seeded_permutation

TIMEOUT = 30.0


def run_threads(target, count):
    barrier = threading.Barrier(count)
    results = [None] * count

    def body(i):
        barrier.wait()
        results[i] = target()

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a thread hangs"
    return results


def drain(iterator):
    """Batches this thread got from a shared iterator, and the RuntimeErrors it saw
    (a refused next() consumed nothing, so it is retried)."""
    batches, refused = [], []
    while True:
        try:
            batches.append(next(iterator))
        except StopIteration:
            return batches, refused
        except RuntimeError as error:
            refused.append(str(error))


@pytest.mark.parametrize("prefetch", [0, 2])
def test_one_iterator_in_two_threads_yields_each_batch_exactly_once_or_refuses(prefetch):
    n, d = 100_000, 64              # 4096-row batches of 256-byte rows: gathered nogil
    X = np.arange(n, dtype=np.float32)[:, None] * np.ones(d, dtype=np.float32)
    y = np.arange(n)
    for _ in range(5):
        loader = fb.BatchLoader(X, y, batch_size=4096, shuffle=True, rng=0,
                                prefetch=prefetch)
        it = iter(loader)
        results = run_threads(lambda: drain(it), 2)
        batches = results[0][0] + results[1][0]
        for xb, yb in batches:
            np.testing.assert_array_equal(xb[:, 0], yb)     # aligned, initialised rows
        seen = np.concatenate([yb for _, yb in batches])
        np.testing.assert_array_equal(np.sort(seen), y)    # the epoch, exactly once
        assert all("another thread" in message for r in results for message in r[1])
        assert loader.step == len(loader) and loader.epoch == 1


class BlockingOrder(SequentialOrder):
    """An order whose first lookup waits until the test lets it go."""

    method = "blocking"
    is_identity = False
    table = None
    entered = threading.Event()
    release = threading.Event()

    def at(self, positions):
        BlockingOrder.entered.set()
        assert BlockingOrder.release.wait(TIMEOUT)
        return np.asarray(positions, dtype=np.int64)


def test_next_while_another_thread_is_inside_next_raises_runtime_error(monkeypatch):
    monkeypatch.setitem(SHUFFLE_METHODS, "blocking", BlockingOrder)
    BlockingOrder.entered.clear()
    BlockingOrder.release.clear()
    loader = fb.BatchLoader(np.arange(10), batch_size=5, shuffle=True, rng=0,
                            shuffle_method="blocking")
    it = iter(loader)
    first = []
    worker = threading.Thread(target=lambda: first.append(next(it)), daemon=True)
    worker.start()
    assert BlockingOrder.entered.wait(TIMEOUT)
    with pytest.raises(RuntimeError, match="another thread"):
        next(it)
    BlockingOrder.release.set()
    worker.join(TIMEOUT)
    assert first[0].tolist() == [0, 1, 2, 3, 4]
    assert next(it).tolist() == [5, 6, 7, 8, 9]      # the refused call consumed nothing
    assert loader.step == 2


def test_a_prefetch_iterator_refuses_a_second_consumer_instead_of_hanging():
    loader = fb.BatchLoader(np.arange(10), batch_size=5, prefetch=2)
    it = iter(loader)
    it._busy.acquire()                 # as if a thread were waiting inside next()
    with pytest.raises(RuntimeError, match="another thread"):
        next(it)
    it._busy.release()
    assert [b.tolist() for b in it] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]


def test_an_iterator_handed_from_thread_to_thread_works():
    loader = fb.BatchLoader(np.arange(12), batch_size=3, shuffle=True, rng=4)
    it = iter(loader)
    got = []
    for _ in range(4):
        t = threading.Thread(target=lambda: got.append(next(it)))
        t.start()
        t.join()
    expected = seeded_permutation(12, 4, 0)
    np.testing.assert_array_equal(np.concatenate(got), expected)


@pytest.mark.parametrize("prefetch", [0, 2])
def test_threads_each_running_their_own_for_get_distinct_whole_epochs(prefetch):
    n = 2_000_000                   # the permutation releases the GIL for a while
    loader = fb.BatchLoader(np.arange(n), batch_size=n // 4, shuffle=True, rng=9,
                            prefetch=prefetch)
    results = run_threads(lambda: np.concatenate(list(loader)), 3)
    epochs = set()
    for order in results:
        matches = [e for e in range(3) if np.array_equal(order, seeded_permutation(n, 9, e))]
        assert len(matches) == 1, "an iteration did not run one whole epoch from its start"
        epochs.add(matches[0])
    assert epochs == {0, 1, 2}


def test_state_dict_while_another_thread_iterates_is_always_consistent():
    loader = fb.BatchLoader(np.arange(5000), batch_size=7, shuffle=True, rng=1,
                            world_size=3, rank=2)
    stop = threading.Event()

    def iterate():
        while not stop.is_set():
            for _ in loader:
                pass

    worker = threading.Thread(target=iterate, daemon=True)
    worker.start()
    try:
        for _ in range(300):
            state = loader.state_dict()
            twin = fb.BatchLoader(np.arange(5000), batch_size=7, shuffle=True, rng=1,
                                  world_size=3, rank=2)
            twin.load_state_dict(state)           # validates every field
            assert 0 <= state["position"] < len(loader)
    finally:
        stop.set()
        worker.join(TIMEOUT)
