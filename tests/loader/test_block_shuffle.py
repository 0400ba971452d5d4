"""shuffle_method="block": blocks of consecutive rows in a keyed order, rows mixed exactly
inside windows of blocks (``fastbatch.loader.order.BlockOrder``, BatchLoader's
docstring): every sample once, the window structure, uniformity, a pure function of
(seed, epoch), sharding, resume, any input and any thread count."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastbatch as fb
from fastbatch._kernels.shuffle import RunsDraw
from fastbatch.loader.block_order import BlockOrder
from reference import read_ahead
from stats import ALPHA, chi_square_uniform_pvalue, order_counts


def block_loader(data, block_size, window, **config):
    config = {"batch_size": 4, "shuffle": True, "rng": 0, **config}
    return fb.BatchLoader(data, shuffle_method="block", block_size=block_size,
                          shuffle_window=window, **config)


def epoch_order(n, block_size, window, seed=0, epoch=0):
    bounds = np.append(np.arange(0, n, block_size), n)
    return BlockOrder.seeded(n, seed, epoch, bounds=bounds, window=window)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 120), block_size=st.integers(1, 20), window=st.integers(1, 8),
       batch_size=st.integers(1, 9), drop_last=st.booleans())
def test_every_sample_once_per_epoch(n, block_size, window, batch_size, drop_last):
    loader = block_loader(np.arange(n), block_size, window, batch_size=batch_size,
                          drop_last=drop_last)
    for _ in range(2):
        seen = np.concatenate([b for b in loader] or [np.empty(0, np.int64)])
        kept = n // batch_size * batch_size if drop_last else n
        assert len(seen) == kept and len(np.unique(seen)) == kept


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 150), block_size=st.integers(1, 20), window=st.integers(1, 6),
       seed=st.integers(0, 2**64))
def test_a_windows_positions_hold_exactly_the_rows_of_its_blocks(n, block_size, window,
                                                                 seed):
    order = epoch_order(n, block_size, window, seed)
    samples = order.at(np.arange(n))
    for w in range(order.n_windows):
        a, b = order.window_starts[w], order.window_starts[w + 1]
        rows = np.concatenate([np.arange(f, s) for f, s in order.window_blocks(w)])
        assert sorted(samples[a:b].tolist()) == rows.tolist()
        assert len(order.window_blocks(w)) == min(window, -(-n // block_size) - w * window)


def test_a_window_of_one_block_keeps_each_blocks_rows_together():
    n, size = 40, 8
    samples = epoch_order(n, size, 1).at(np.arange(n))
    for start in range(0, n, size):
        assert len({int(s) // size for s in samples[start:start + size]}) == 1


def test_a_window_of_every_block_is_an_exactly_uniform_permutation():
    # 5 rows in blocks of 2, 2, 1 and one window: all 120 orders equally likely.
    epochs = iter(range(10**6))
    counts = order_counts(lambda: epoch_order(5, 2, 3, seed=1, epoch=next(epochs)).at(
        np.arange(5)), 5, 120 * 80)
    assert chi_square_uniform_pvalue(counts) > ALPHA


def test_the_block_order_puts_every_block_first_equally_often():
    # 8 blocks of one row, windows of one block: the keyed bijection orders the blocks.
    first = [int(epoch_order(8, 1, 1, seed=3, epoch=e).at(np.array([0]))[0])
             for e in range(8 * 400)]
    assert chi_square_uniform_pvalue(np.bincount(first, minlength=8)) > ALPHA


def test_an_epochs_order_is_a_pure_function_of_seed_and_epoch():
    data = np.arange(50)
    a = [b.tolist() for b in block_loader(data, 7, 2, rng=5).epochs(3)]
    b = [b.tolist() for b in block_loader(data, 7, 2, rng=5).epochs(3)]
    other = [b.tolist() for b in block_loader(data, 7, 2, rng=6).epochs(3)]
    assert a == b and a != other
    later = block_loader(data, 7, 2, rng=5)
    later.set_epoch(2)
    assert [b.tolist() for b in later] == a[-len(later):]


def test_the_order_is_the_documented_one():
    loader = block_loader(np.arange(30), 4, 3, batch_size=30, rng=9)
    assert next(iter(loader)).tolist() == epoch_order(30, 4, 3, seed=9).at(
        np.arange(30)).tolist()


@pytest.mark.parametrize("remainder", ["keep", "drop", "pad"])
def test_ranks_share_the_global_block_order_like_distributed_sampler(remainder):
    n, W = 53, 3
    order = epoch_order(n, 5, 2, seed=0).at(np.arange(n))
    parts = [np.concatenate(list(block_loader(np.arange(n), 5, 2, world_size=W, rank=r,
                                              shard_remainder=remainder)))
             for r in range(W)]
    size = {"keep": None, "drop": n // W, "pad": -(-n // W)}[remainder]
    padded = np.concatenate([order, order])[:W * size] if size else order
    for r, part in enumerate(parts):
        assert part.tolist() == padded[r::W].tolist()


def test_resume_mid_epoch_continues_the_same_batches():
    data = np.arange(100)
    full = [b.tolist() for b in block_loader(data, 9, 3)]
    loader = block_loader(data, 9, 3)
    it = iter(loader)
    head = [next(it).tolist() for _ in range(6)]
    state = loader.state_dict()
    resumed = block_loader(data, 9, 3)
    resumed.load_state_dict(state)
    assert head + [b.tolist() for b in resumed] == full


@pytest.mark.parametrize("other", [
    {"shuffle_method": "exact"},
    {"shuffle_method": "block", "block_size": 10, "shuffle_window": 3},
    {"shuffle_method": "block", "block_size": 9, "shuffle_window": 4},
])
def test_a_block_state_loads_only_into_a_loader_of_the_same_blocks_and_window(other):
    loader = block_loader(np.arange(100), 9, 3)
    next(iter(loader))
    state = loader.state_dict()
    config = {"block_size": None, "shuffle_window": 16, **other}
    target = fb.BatchLoader(np.arange(100), batch_size=4, shuffle=True, rng=0, **config)
    with pytest.raises(ValueError, match="shuffle_method|block_layout"):
        target.load_state_dict(state)


def block_epoch(X, y):
    return list(fb.BatchLoader(X, y, batch_size=32, shuffle=True, rng=2,
                               shuffle_method="block", block_size=100, shuffle_window=4))


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("mode", ["batch by batch", "in groups"])
def test_the_same_bytes_on_any_thread_count_with_and_without_read_ahead(threads, mode):
    rng = np.random.default_rng(0)
    X, y = rng.random((3000, 5)), np.arange(3000)
    with fb.set_num_threads(1):
        reference = block_epoch(X, y)
    with fb.set_num_threads(threads), read_ahead(mode, group_bytes=4096):
        got = block_epoch(X, y)
    assert len(got) == len(reference)
    for (gx, gy), (rx, ry) in zip(got, reference):
        np.testing.assert_array_equal(gy, ry)
        np.testing.assert_array_equal(gx, rx)
        np.testing.assert_array_equal(gx, X[gy])


def test_natural_blocks_of_a_table_are_its_record_batches():
    pa = pytest.importorskip("pyarrow")
    sizes = [7, 3, 12, 5]
    starts = np.cumsum([0] + sizes)
    table = pa.Table.from_batches([pa.record_batch({"x": np.arange(a, a + s)})
                                   for a, s in zip(starts, sizes)])
    loader = fb.BatchLoader(table, batch_size=27, shuffle=True, rng=1,
                            shuffle_method="block", shuffle_window=1)
    samples = next(iter(loader))["x"]
    assert sorted(samples.tolist()) == list(range(27))
    # Windows of one record batch: each batch's rows are consecutive in the epoch.
    batch_of = np.searchsorted(starts, samples, side="right") - 1
    assert (np.diff(batch_of) != 0).sum() == len(sizes) - 1


def test_natural_blocks_of_an_array_are_about_a_mebibyte():
    loader = fb.BatchLoader(np.zeros((300_000, 8)), shuffle=True, shuffle_method="block",
                            rng=0)
    bounds = loader._source.block_bounds()
    assert set(np.diff(bounds[:-1]).tolist()) == {2**20 // 64}
    assert bounds[-1] == 300_000


def test_memory_mapped_inputs_are_block_shuffled_from_the_map(tmp_path):
    X = np.arange(40_000, dtype=np.float64).reshape(-1, 4)
    np.save(tmp_path / "x.npy", X)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    batches = list(fb.BatchLoader(mapped, batch_size=64, shuffle=True, rng=0,
                                  shuffle_method="block", block_size=500,
                                  shuffle_window=3, prefetch=2))
    rows = np.concatenate(batches)
    assert sorted(rows[:, 0].tolist()) == X[:, 0].tolist()
    np.testing.assert_array_equal(rows, X[(rows[:, 0] // 4).astype(int)])


@pytest.mark.parametrize("name, value, error", [
    ("block_size", 0, ValueError), ("block_size", True, TypeError),
    ("block_size", 2.0, TypeError), ("shuffle_window", 0, ValueError),
    ("shuffle_window", -1, ValueError), ("shuffle_window", None, TypeError),
])
def test_bad_block_parameters_are_rejected_naming_them(name, value, error):
    with pytest.raises(error, match=name):
        fb.BatchLoader(np.arange(10), shuffle=True, shuffle_method="block", rng=0,
                       **{name: value})


def _corrupt_window(draw, bad):
    # A window like `draw` made wrong in one way.
    table = draw.table.copy()
    if bad == "plain array":
        return table                                   # right values, not a drawn table
    if bad == "writable table":
        fresh = RunsDraw(np.random.PCG64(0), table, [0], [len(table)])
        fresh.result()
        return fresh
    if bad == "not drawn":
        fresh = RunsDraw(np.random.PCG64(0), table, [0], [len(table)])
        table.flags.writeable = False           # only `done` tells it from a good one
        return fresh
    if bad == "too short":
        short = np.empty(len(table) - 1, np.int64)
        fresh = RunsDraw(np.random.PCG64(0), short, [0], [len(short)])
        short.flags.writeable = False
        fresh.result()
        return fresh
    # A row at or past n: runs reaching beyond the data.
    fresh = RunsDraw(np.random.PCG64(0), table, [bad], [len(table)])
    table.flags.writeable = False
    fresh.result()
    return fresh


@pytest.mark.parametrize("bad", ["plain array", "writable table", "not drawn", "too short",
                                 91, 100, 2**62])
def test_a_window_table_the_iterator_cannot_trust_is_refused(monkeypatch, bad):
    # The iterator uses a window's table without looking at every value: only a drawn
    # RunsDraw's own read-only table whose runs end below n is accepted, so a row
    # outside [0, n) never reaches a kernel.
    real = BlockOrder.window_of

    def corrupt(self, position):
        start, stop, draw = real(self, position)
        return start, stop, _corrupt_window(draw, bad)
    monkeypatch.setattr(BlockOrder, "window_of", corrupt)
    loader = fb.BatchLoader(np.arange(100.0), batch_size=10, shuffle=True, rng=0,
                            shuffle_method="block", block_size=10, shuffle_window=3)
    with pytest.raises(ValueError, match="inconsistent"):
        list(loader)


def test_window_tables_are_read_only():
    order = BlockOrder.seeded(100, 0, 0, bounds=np.arange(0, 101, 10), window=3)
    with pytest.raises(ValueError, match="read-only"):
        order.window_table(0)[0] = 5


def test_the_next_window_is_drawn_inside_a_read_ahead_group():
    # 1e6 x 16 float32 (64 MB, read in groups): four windows of 16 blocks of 1 MiB; the
    # first two are drawn side by side as the epoch starts, each later one as one item
    # of a group's parallel loop while the window before is served.
    from fastbatch.loader._read_ahead import _read_ahead_draws
    X = np.zeros((10**6, 16), np.float32)
    loader = fb.BatchLoader(X, batch_size=256, shuffle=True, rng=0, shuffle_method="block")
    before = _read_ahead_draws()
    assert sum(len(b) for b in loader) == len(X)
    assert _read_ahead_draws() - before == 2


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_windows_drawn_by_buckets_give_the_same_epoch_on_any_thread_count(threads):
    # Windows above the Fisher-Yates limit (moved to 0 here) are drawn when entered, on
    # every thread; the epoch holds every row once and never depends on the count.
    from fastbatch._kernels.shuffle import _set_runs_small_max
    X = np.arange(3 * 10**5, dtype=np.int64)
    previous = _set_runs_small_max(0)
    try:
        def epoch(k):
            with fb.set_num_threads(k):
                return np.concatenate(list(fb.BatchLoader(
                    X, batch_size=100, shuffle=True, rng=3, shuffle_method="block",
                    block_size=5000, shuffle_window=8)))
        got, alone = epoch(threads), epoch(1)
    finally:
        _set_runs_small_max(previous)
    np.testing.assert_array_equal(np.sort(got), X)
    np.testing.assert_array_equal(got, alone)


def test_only_small_windows_are_handed_out_to_be_drawn_in_a_group():
    from fastbatch._kernels.shuffle import _set_runs_small_max
    bounds = np.arange(0, 10**5 + 1, 1000)
    small = BlockOrder.seeded(10**5, 0, 0, bounds=bounds, window=4)
    assert small.draw_ahead(0).small
    previous = _set_runs_small_max(100)
    try:
        large = BlockOrder.seeded(10**5, 0, 0, bounds=bounds, window=4)
        assert large.draw_ahead(0) is None
        start, stop, draw = large.window_of(0)
        assert draw.done and not draw.small and stop - start == 4000
    finally:
        _set_runs_small_max(previous)
