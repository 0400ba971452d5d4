"""Resources: memory stays flat over a million batches; no thread outlives its loop."""

import gc
import threading
import time

import numpy as np
import pytest

import fastbatch as fb
from procfs import status_bytes


def rss_bytes():
    return status_bytes("VmRSS")


def batches_then_rss(loader, total):
    count = 0
    while count < total:
        for _ in loader:
            count += 1
    gc.collect()
    return rss_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("config, total", [
    ({"shuffle": True, "rng": 0}, 1_000_000),
    ({"world_size": 3, "rank": 2}, 1_000_000),              # views and wrapped copies
    ({"shuffle": True, "rng": 0, "prefetch": 2}, 100_000),
], ids=["shuffled", "sharded-views", "prefetch"])
def test_rss_stays_flat_over_many_small_batches(config, total):
    loader = fb.BatchLoader(np.zeros((1000, 4)), np.arange(1000), batch_size=2, **config)
    warm = batches_then_rss(loader, total // 10)
    end = batches_then_rss(loader, total)
    assert loader.step >= total + total // 10
    assert end - warm < 4 * 2**20, f"RSS grew by {(end - warm) / 2**20:.1f} MiB"


def prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "fastbatch-prefetch"]


@pytest.mark.slow
def test_no_thread_is_left_after_a_thousand_breaks():
    before = threading.active_count()
    loader = fb.BatchLoader(np.zeros((10_000, 8)), batch_size=16, shuffle=True, rng=0,
                            prefetch=2)
    for i in range(1000):
        for _ in loader:
            break
        if i % 100 == 0:
            it = iter(loader)        # a started iterator dropped without a loop, too
            next(it)
            del it
    deadline = time.monotonic() + 10
    while prefetch_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not prefetch_threads()
    assert threading.active_count() == before
    assert loader.epoch == 1009 and loader.step == 1010     # 1010 epochs started, one batch each
