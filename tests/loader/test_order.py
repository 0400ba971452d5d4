"""The sample order of an epoch as a function of position (fastbatch.loader.order)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastbatch as fb
from fastbatch.loader import order as _order
from fastbatch.loader.order import (
    SHUFFLE_METHODS, EpochOrders, ExactOrder, RankOrder, SequentialOrder, Shard,
)
from reference import distributed_sampler_part, seeded_permutation


shards = st.integers(0, 60).flatmap(lambda n: st.tuples(
    st.just(n), st.integers(1, 12).flatmap(lambda w: st.tuples(
        st.just(w), st.integers(0, w - 1))),
    st.sampled_from(["pad", "drop", "keep"])))


@settings(max_examples=300, deadline=None)
@given(shard=shards)
def test_shard_positions_are_distributed_sampler_parts(shard):
    n, (world_size, rank), remainder = shard
    s = Shard(n, world_size, rank, remainder)
    expected = distributed_sampler_part(range(n), world_size, rank, remainder)
    assert s.size == len(expected)
    np.testing.assert_array_equal(s.positions(0, s.size), expected)


@settings(max_examples=300, deadline=None)
@given(shard=shards, data=st.data())
def test_positions_of_any_range_are_that_slice_of_the_part(shard, data):
    n, (world_size, rank), remainder = shard
    s = Shard(n, world_size, rank, remainder)
    i = data.draw(st.integers(0, s.size))
    j = data.draw(st.integers(i, s.size))
    np.testing.assert_array_equal(s.positions(i, j), s.positions(0, s.size)[i:j])


@settings(max_examples=300, deadline=None)
@given(shard=shards)
def test_the_stride_covers_exactly_the_positions_before_padding_wraps(shard):
    n, (world_size, rank), remainder = shard
    s = Shard(n, world_size, rank, remainder)
    first, step, count = s.stride()
    positions = s.positions(0, s.size)
    np.testing.assert_array_equal(positions[:count], first + step * np.arange(count))
    assert (positions[count:] < first + step * np.arange(count, s.size)).all()
    assert (positions < max(n, 1)).all()


@settings(max_examples=300, deadline=None)
@given(shard=shards, data=st.data())
def test_global_position_and_local_position_are_inverse(shard, data):
    n, (world_size, rank), remainder = shard
    s = Shard(n, world_size, rank, remainder)
    consumed = data.draw(st.integers(0, s.size))
    g = s.global_position(consumed)
    assert 0 <= g <= n
    assert s.local_position(g) == consumed


@settings(max_examples=200, deadline=None)
@given(shard=shards, data=st.data())
def test_global_position_counts_the_samples_all_ranks_consumed_in_lockstep(shard, data):
    n, (world_size, _), remainder = shard
    parts = [Shard(n, world_size, r, remainder) for r in range(world_size)]
    consumed = data.draw(st.integers(0, max(p.size for p in parts)))
    seen = set()
    for p in parts:
        seen.update(p.positions(0, min(consumed, p.size)).tolist())
    g = parts[0].global_position(consumed)
    assert seen == set(range(g))
    assert all(p.global_position(consumed) == g for p in parts)


def test_shard_with_a_start_splits_the_rest_of_the_epoch():
    # Positions [4, 11) split between 3 ranks, as DistributedSampler splits 7 samples.
    for remainder in ("pad", "drop", "keep"):
        for rank in range(3):
            s = Shard(11, 3, rank, remainder, start=4)
            expected = 4 + distributed_sampler_part(range(7), 3, rank, remainder)
            np.testing.assert_array_equal(s.positions(0, s.size), expected)


def test_positions_do_not_overflow_for_the_largest_world_size():
    world_size = 2**63 - 1
    s = Shard(3, world_size, world_size - 1, "pad")
    assert s.size == 1
    assert s.positions(0, 1).tolist() == [(world_size - 1) % 3]
    assert s.stride()[2] == 0


@pytest.mark.parametrize("method", [None, "exact"])
@settings(max_examples=100, deadline=None)
@given(shard=shards, data=st.data())
def test_rank_order_sample_indices_are_the_part_of_the_global_order(method, shard, data):
    n, (world_size, rank), remainder = shard
    order = EpochOrders(n, method, seed=3).order(data.draw(st.integers(0, 5)))
    everything = order.at(np.arange(n, dtype=np.int64))
    rank_order = RankOrder(order, Shard(n, world_size, rank, remainder))
    expected = distributed_sampler_part(everything, world_size, rank, remainder)
    i = data.draw(st.integers(0, len(rank_order)))
    j = data.draw(st.integers(i, len(rank_order)))
    got = rank_order.sample_indices(i, j)
    assert got.dtype == np.int64 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, expected[i:j])


@settings(max_examples=200, deadline=None)
@given(shard=shards, data=st.data())
def test_rows_are_given_exactly_when_the_samples_are_a_stride_of_the_input(shard, data):
    n, (world_size, rank), remainder = shard
    rank_order = RankOrder(SequentialOrder(n), Shard(n, world_size, rank, remainder))
    i = data.draw(st.integers(0, len(rank_order)))
    j = data.draw(st.integers(i, len(rank_order)))
    rows = rank_order.rows(i, j)
    indices = rank_order.sample_indices(i, j)
    if rows is not None:
        first, step = rows
        np.testing.assert_array_equal(indices, first + step * np.arange(j - i))
        assert j == i or first + step * (j - i - 1) < n
    else:
        assert remainder == "pad" and j > Shard(n, world_size, rank, "pad").stride()[2]


def test_exact_order_with_a_table_gives_no_views():
    rank_order = RankOrder(ExactOrder.draw(10, np.random.PCG64(0)), Shard(10))
    assert rank_order.rows(0, 5) is None
    assert rank_order.stride().table is rank_order.order.table


def test_seeded_epoch_orders_are_pure_functions_of_seed_and_epoch():
    a, b = EpochOrders(100, "exact", seed=5), EpochOrders(100, "exact", seed=5)
    np.testing.assert_array_equal(a.order(7).table, b.order(7).table)
    np.testing.assert_array_equal(a.order(7).table, seeded_permutation(100, 5, 7))
    assert not np.array_equal(a.order(7).table, a.order(8).table)


def test_generator_epoch_orders_redraw_the_epoch_they_started():
    orders = EpochOrders(50, "exact", bit_generator=np.random.PCG64(1))
    first = orders.order(0).table
    again = orders.order(0).table                    # the same epoch, drawn again
    np.testing.assert_array_equal(first, again)
    second = orders.order(1).table
    expected = np.random.PCG64(1)
    fb.permutation(50, rng=expected)
    np.testing.assert_array_equal(second, fb.permutation(50, rng=expected))


class ReversedOrder(SequentialOrder):
    """A third global order, as another shuffle method would add one: no table, not
    the identity, so the iterator asks ``sample_indices`` for every batch."""

    method = "reversed"
    is_identity = False
    table = None

    def at(self, positions):
        return self.n - 1 - np.asarray(positions, dtype=np.int64)


@pytest.mark.parametrize("prefetch", [0, 2])
@pytest.mark.parametrize("remainder", ["pad", "drop", "keep"])
def test_a_new_global_order_is_one_class_and_one_registry_entry(monkeypatch, prefetch,
                                                                remainder):
    monkeypatch.setitem(SHUFFLE_METHODS, "reversed", ReversedOrder)
    n, world_size, B = 11, 3, 2
    X = np.arange(n * 2.0).reshape(n, 2)
    for rank in range(world_size):
        loader = fb.BatchLoader(X, np.arange(n), batch_size=B, shuffle=True, rng=0,
                                shuffle_method="reversed", rank=rank,
                                world_size=world_size, shard_remainder=remainder,
                                prefetch=prefetch)
        part = distributed_sampler_part(np.arange(n)[::-1], world_size, rank, remainder)
        batches = list(loader)
        assert len(batches) == -(-len(part) // B)
        for t, (xb, yb) in enumerate(batches):
            np.testing.assert_array_equal(yb, part[t * B:(t + 1) * B])
            np.testing.assert_array_equal(xb, X[yb])


class BrokenOrder(ReversedOrder):
    method = "broken"

    def at(self, positions):
        return np.asarray(positions, dtype=np.int64) + self.n     # past the end


def test_an_order_that_gives_indices_out_of_range_is_refused_before_any_read(monkeypatch):
    monkeypatch.setitem(SHUFFLE_METHODS, "broken", BrokenOrder)
    loader = fb.BatchLoader(np.zeros(10), batch_size=4, shuffle=True, rng=0,
                            shuffle_method="broken")
    with pytest.raises(IndexError, match="gave sample 10 of 10"):
        next(iter(loader))


def test_count_batches_is_the_public_formula():
    for n in range(0, 30):
        for B in range(1, 8):
            for drop_last in (False, True):
                assert _order.count_batches(n, B, drop_last) == fb.num_batches(n, B, drop_last)
