"""BatchLoader(..., shuffle=True, shuffle_method="bijective"): epochs of the keyed
bijection, no index array, O(batch) memory for any n (docs/guide/pipelines.rst, "Huge data: the
bijective shuffle")."""

import json
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastbatch as fb
from fastbatch.loader._read_ahead import _READ_AHEAD
from fastbatch import torch_bridge
from procfs import status_bytes
from reference import READ_AHEAD_MODES, loader_configs, read_ahead, reference_batches

HUGE = 2**40


def bijective(*arrays, **config):
    return fb.BatchLoader(*arrays, shuffle=True, shuffle_method="bijective", **config)


def epoch_order(n, seed, epoch):
    return fb.index_shuffle(np.arange(n), n, seed, epoch=epoch) if n else np.arange(0)


def test_epoch_e_of_an_int_seed_is_index_shuffle_of_seed_and_e(float_dtype):
    X = np.arange(60, dtype=float_dtype).reshape(30, 2)
    loader = bijective(X, np.arange(30), batch_size=30, rng=4)
    for epoch in range(3):
        ((xb, yb),) = list(loader)
        np.testing.assert_array_equal(yb, epoch_order(30, 4, epoch))
        np.testing.assert_array_equal(xb, X[yb])
        assert xb.dtype == float_dtype and not np.shares_memory(xb, X)


configs = loader_configs(max_n=50, max_world_size=6, max_seed=2**64)


@settings(max_examples=250, deadline=None)
@given(config=configs, epoch=st.integers(0, 2**40))
def test_property_every_sharding_mode_splits_the_bijective_order_like_distributed_sampler(
        config, epoch):
    n = config.pop("n")
    loader = bijective(np.arange(n), **config)
    loader.set_epoch(epoch)
    config.pop("prefetch")
    expected = reference_batches(epoch_order(n, config.pop("rng"), epoch), **config)
    assert [b.tolist() for b in loader] == [e.tolist() for e in expected]


@pytest.mark.parametrize("mode", READ_AHEAD_MODES)
@settings(max_examples=100, deadline=None)
@given(config=configs, data=st.data())
def test_property_resume_from_any_batch_yields_exactly_the_rest(mode, config, data):
    n = config.pop("n")
    whole = [b.tolist() for b in bijective(np.arange(n), **config).epochs(2)]
    with read_ahead(mode):
        loader = bijective(np.arange(n), **config)
        stop = data.draw(st.integers(0, len(whole)))
        it = loader.epochs(2)
        seen = [next(it).tolist() for _ in range(stop)]
        restored = bijective(np.arange(n), **config)
        restored.load_state_dict(json.loads(json.dumps(loader.state_dict())))
        while len(seen) < len(whole):
            seen.extend(b.tolist() for b in restored)
    assert seen == whole


def test_a_generator_draws_each_epochs_key_from_itself_and_resumes():
    def make(seed):
        return bijective(np.arange(40), batch_size=8, rng=np.random.default_rng(seed))
    whole = [b.tolist() for b in make(3).epochs(3)]
    assert whole != [b.tolist() for b in make(4).epochs(3)]
    assert sorted(sum(whole[5:10], [])) == list(range(40))
    loader = make(3)
    it = loader.epochs(3)
    seen = [next(it).tolist() for _ in range(7)]
    restored = make(99)
    restored.load_state_dict(json.loads(json.dumps(loader.state_dict())))
    while len(seen) < len(whole):
        seen.extend(b.tolist() for b in restored)
    assert seen == whole


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_tiny_inputs(n):
    batches = list(bijective(np.arange(n), batch_size=2, rng=0))
    assert sorted(np.concatenate(batches or [np.arange(0)]).tolist()) == list(range(n))


def test_the_epoch_order_holds_no_index_array():
    loader = bijective(np.arange(100), batch_size=10, rng=0)
    it = iter(loader)
    assert it.__class__.__name__ == "BatchIterator"
    assert loader._orders.order(0).table is None


def resident_bytes():
    return status_bytes("VmRSS")


def traced_peak(run):
    """Peak of the allocations tracemalloc sees (NumPy's included) while ``run`` runs;
    also checks the process's resident memory grew by far less than n indices."""
    before = resident_bytes()
    tracemalloc.start()
    try:
        run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert resident_bytes() - before < 2**26
    return peak


@pytest.mark.parametrize("world_size, rank", [(1, 0), (3, 2)])
def test_a_2_to_the_40_row_input_shuffles_in_o_batch_memory(world_size, rank):
    X = np.broadcast_to(np.float32(1), (HUGE, 4))      # 16 TB if it were real
    y = np.lib.stride_tricks.as_strided(np.arange(1, dtype=np.int64), (HUGE,), (0,))
    loader = bijective(X, y, batch_size=512, rng=0, world_size=world_size, rank=rank,
                       prefetch=1)
    batches = []

    def run():
        it = iter(loader)
        batches.extend(next(it) for _ in range(4))
        it.close()

    peak = traced_peak(run)
    # O(1) in n: at most one read-ahead group of batches (and the prefetched batch).
    assert peak < _READ_AHEAD["bytes"] + 2**20 < 8 * HUGE
    assert [xb.shape for xb, _ in batches] == [(512, 4)] * 4
    assert len(loader) == -(-(-(-HUGE // world_size)) // 512)
    assert loader.state_dict()["global_position"] == 4 * 512 * world_size


def test_the_samples_of_a_huge_epoch_are_index_shuffle_of_their_positions():
    loader = fb.torch_bridge.BatchSampler(HUGE, batch_size=5, shuffle=True, rng=9,
                                          shuffle_method="bijective", world_size=2,
                                          rank=1, shard_remainder="drop")
    it = iter(loader)
    first, second = next(it), next(it)
    positions = 1 + 2 * np.arange(10)
    assert first + second == fb.index_shuffle(positions, HUGE, 9).tolist()


def test_batch_sampler_allocates_no_index_array_for_huge_n():
    sampler = torch_bridge.BatchSampler(HUGE, batch_size=256, shuffle=True, rng=1,
                                        shuffle_method="bijective")
    batches = []

    def run():
        it = iter(sampler)
        batches.extend(next(it) for _ in range(3))

    assert traced_peak(run) < 2**20
    assert [len(b) for b in batches] == [256] * 3
    assert len(sampler) == HUGE // 256


def test_batch_sampler_unshuffled_and_exact_batches_are_the_loaders():
    for config in ({}, {"shuffle": True, "rng": 3},
                   {"shuffle": True, "rng": 3, "shuffle_method": "bijective"}):
        sampler = torch_bridge.BatchSampler(23, batch_size=4, world_size=2, rank=1,
                                            **config)
        loader = fb.BatchLoader(np.arange(23), batch_size=4, world_size=2, rank=1,
                                **config)
        assert list(sampler) == [b.tolist() for b in loader]


@pytest.mark.parametrize("value", ["Bijective", "random", None, 1])
def test_a_bad_shuffle_method_is_named(value):
    with pytest.raises(ValueError, match=r"shuffle_method must be one of \('exact', "
                                         r"'bijective', 'block'\), got"):
        fb.BatchLoader(np.arange(5), shuffle=True, shuffle_method=value)


def test_a_bad_shuffle_method_is_named_even_without_shuffle():
    with pytest.raises(ValueError, match="shuffle_method"):
        fb.BatchLoader(np.arange(5), shuffle_method="random")


def test_without_shuffle_the_shuffle_method_has_no_effect():
    X = np.arange(10.0)
    loader = fb.BatchLoader(X, batch_size=4, shuffle_method="bijective")
    batches = list(loader)
    assert [b.tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert all(np.shares_memory(b, X) for b in batches)
    assert loader.shuffle_method == "bijective"


def test_without_shuffle_a_state_loads_whatever_the_shuffle_method():
    exact = fb.BatchLoader(np.arange(10), batch_size=4)
    next(iter(exact))
    other = fb.BatchLoader(np.arange(10), batch_size=4, shuffle_method="bijective")
    other.load_state_dict(exact.state_dict())
    assert [b.tolist() for b in other] == [[4, 5, 6, 7], [8, 9]]


def test_a_shuffled_state_from_the_other_method_is_rejected():
    exact = fb.BatchLoader(np.arange(10), batch_size=4, shuffle=True, rng=0)
    loader = bijective(np.arange(10), batch_size=4, rng=0)
    with pytest.raises(ValueError, match="shuffle_method='exact' but this loader has "
                                         "shuffle_method='bijective'"):
        loader.load_state_dict(exact.state_dict())


@pytest.mark.parametrize("threads", [1, 2])
def test_large_batches_are_index_shuffle_whatever_the_thread_count(threads):
    n = 2**18 + 5                  # a first batch of 2**17: two threads can share it
    loader = bijective(np.arange(n), batch_size=2**17, rng=6, world_size=2, rank=1,
                       shard_remainder="drop")
    with fb.set_num_threads(threads):
        got = np.concatenate(list(loader))
    np.testing.assert_array_equal(got, epoch_order(n, 6, 0)[1::2])
