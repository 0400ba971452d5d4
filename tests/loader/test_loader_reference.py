"""Differential tests: the loader against a pure-NumPy reference (reference.py), over
shuffle, drop_last, every sharding mode, more ranks than samples, prefetch, set_epoch and
resume from every position."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastbatch as fb
from fastbatch import torch_bridge
from fastbatch.loader._read_ahead import _READ_AHEAD, _read_ahead_groups
from fastbatch.loader.order import Shard
from reference import (READ_AHEAD_MODES, loader_configs, read_ahead, reference_batches,
                       seeded_epochs)

configs = loader_configs(max_n=40, max_world_size=7, max_seed=2**32,
                         shuffle=st.booleans())


def make(config, **changes):
    config = {**config, **changes}
    n = config.pop("n")
    X = np.stack([np.arange(n), -np.arange(n)], axis=1).astype(np.float64)
    return fb.BatchLoader(X, np.arange(n), **config), X


def indices_of(batches):
    return [yb for _, yb in batches]


def assert_batches_equal(got, expected):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)


def copied(batches):
    return [(np.copy(xb), np.copy(yb)) for xb, yb in batches]


@pytest.mark.parametrize("mode", READ_AHEAD_MODES)
@settings(max_examples=250, deadline=None)
@given(config=configs)
def test_property_three_epochs_match_the_reference(mode, config):
    with read_ahead(mode):
        loader, X = make(config)
        got = copied(loader.epochs(3))
    expected = seeded_epochs(range(3), **config)
    assert_batches_equal(indices_of(got), expected)
    for xb, yb in got:
        np.testing.assert_array_equal(xb, X[yb])       # X and y aligned
    assert (loader.epoch, loader.step) == (3, len(expected))


@settings(max_examples=150, deadline=None)
@given(config=configs)
def test_property_unshuffled_batches_are_views_unless_padding_wrapped(config):
    loader, X = make(config, shuffle=False)
    shard = Shard(config["n"], config["world_size"], config["rank"],
                  config["shard_remainder"])
    direct = shard.stride()[2]
    for t, (xb, yb) in enumerate(loader):
        wrapped = t * config["batch_size"] + len(yb) > direct
        assert np.shares_memory(xb, X) == (not wrapped)
        assert np.shares_memory(yb, loader._source.arrays[1]) == (not wrapped)


@settings(max_examples=150, deadline=None)
@given(config=configs, epoch=st.integers(0, 2**40))
def test_property_set_epoch_selects_the_reference_epoch(config, epoch):
    loader, _ = make(config)
    loader.set_epoch(epoch)
    assert_batches_equal(indices_of(copied(loader)), seeded_epochs([epoch],
                                                                   **config))
    assert loader.epoch == epoch + 1


@pytest.mark.parametrize("mode", READ_AHEAD_MODES)
@settings(max_examples=250, deadline=None)
@given(config=configs, data=st.data())
def test_property_resume_from_any_position_yields_exactly_the_rest(mode, config, data):
    expected = seeded_epochs(range(2), **config)
    stop = data.draw(st.integers(0, len(expected)))
    with read_ahead(mode):
        loader, _ = make(config)
        it = loader.epochs(2)
        seen = [np.copy(next(it)[1]) for _ in range(stop)]
        state = json.loads(json.dumps(loader.state_dict()))
        # A loader built with rng=None (a drawn seed) takes the state's seed; several
        # ranks need a seed given, the saver's.
        restored, _ = make(config,
                           rng=None if config["world_size"] == 1 else config["rng"])
        restored.load_state_dict(state)
        rest = []
        while len(seen) + len(rest) < len(expected):
            rest.extend(indices_of(copied(restored)))
    assert_batches_equal(seen + rest, expected)
    assert restored.step == len(expected)


@settings(max_examples=150, deadline=None)
@given(config=configs, data=st.data())
def test_property_a_state_from_another_rank_continues_this_ranks_part(config, data):
    # The usual checkpoint: rank 0 saves, every rank loads; ranks move in lockstep.
    saver, _ = make(config, rank=0)
    stop = data.draw(st.integers(0, len(saver)))
    it = iter(saver)
    for _ in range(stop):
        next(it)
    state = saver.state_dict()
    loader, _ = make(config)
    loader.load_state_dict(state)
    mine = seeded_epochs([0], **config)
    expected = mine[min(stop, len(mine)):] if stop < len(saver) else mine_next(config)
    assert_batches_equal(indices_of(copied(loader)), expected)


def mine_next(config):
    return seeded_epochs([1], **config)


@settings(max_examples=100, deadline=None)
@given(config=configs, data=st.data())
def test_property_generator_rng_epochs_and_resume_match_the_reference(config, data):
    seed = config["rng"]
    loader, _ = make(config, rng=np.random.default_rng(seed), world_size=1, rank=0)
    source = np.random.default_rng(seed)
    expected = []
    for _ in range(2):
        order = (fb.permutation(config["n"], rng=source) if config["shuffle"]
                 else np.arange(config["n"]))
        expected.extend(reference_batches(order, **{**config, "world_size": 1,
                                                      "rank": 0}))
    stop = data.draw(st.integers(0, len(expected)))
    it = loader.epochs(2)
    seen = [np.copy(next(it)[1]) for _ in range(stop)]
    restored, _ = make(config, rng=np.random.default_rng(seed + 1), world_size=1, rank=0)
    restored.load_state_dict(json.loads(json.dumps(loader.state_dict())))
    rest = []
    while len(seen) + len(rest) < len(expected):
        rest.extend(indices_of(copied(restored)))
    assert_batches_equal(seen + rest, expected)


# -- more ranks than samples (issue 10, item 1) -------------------------------------------

def test_unshuffled_pad_with_fewer_samples_than_ranks_wraps_instead_of_reading_past_the_end():
    X = np.ones((3, 3, 1024, 1024), np.float32)
    batch = next(iter(fb.BatchLoader(X, batch_size=4, world_size=8, rank=3)))
    assert batch.shape == (1, 3, 1024, 1024)
    assert batch.sum() == 3 * 1024 * 1024
    assert not np.shares_memory(batch, X)       # sample 3 % 3 = 0, gathered


@pytest.mark.parametrize("rank", range(8))
def test_each_rank_gets_sample_rank_mod_n_like_distributed_sampler(rank):
    X = np.arange(3.0) * 10
    batches = list(fb.BatchLoader(X, batch_size=4, world_size=8, rank=rank))
    assert [b.tolist() for b in batches] == [[(rank % 3) * 10.0]]
    assert np.shares_memory(batches[0], X) == (rank < 3)


def test_writing_to_a_wrapped_batch_leaves_the_input_alone():
    X = np.zeros((2, 4))
    batch = next(iter(fb.BatchLoader(X, batch_size=1, world_size=5, rank=4)))
    batch[:] = 7.0
    assert (X == 0).all()


def test_batch_sampler_with_more_ranks_than_samples_yields_valid_indices():
    assert list(torch_bridge.BatchSampler(2, batch_size=2, world_size=4, rank=3)) == [[1]]
    for rank in range(4):
        sampler = torch_bridge.BatchSampler(2, batch_size=2, world_size=4, rank=rank)
        assert list(sampler) == [[rank % 2]]


@pytest.mark.parametrize("shuffle_method", ["exact", "bijective"])
@pytest.mark.parametrize("world_size, rank", [(1, 0), (3, 1)])
def test_read_ahead_groups_are_the_same_bytes_on_any_thread_count_and_kept_batches_stay(
        shuffle_method, world_size, rank):
    # Real read-ahead: an input over the size limit, groups of many batches, 1-4 threads.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300_000, 3, 5)).astype(np.float32)     # 18 MB
    y = rng.integers(0, 2**40, 300_000)
    w = rng.standard_normal(300_000)
    def epoch():
        return fb.BatchLoader(X, y, w, batch_size=100, shuffle=True, rng=5,
                              shuffle_method=shuffle_method, world_size=world_size,
                              rank=rank)

    epochs = []
    for threads in (1, 2, 3, 4):
        groups = _read_ahead_groups()
        with fb.set_num_threads(threads), read_ahead("in groups", group_bytes=1 << 20):
            kept = list(epoch())          # every batch kept: no buffer can be reused
            # Each batch dropped once copied: the next groups reuse the buffers.
            copies = [tuple(np.copy(a) for a in batch) for batch in epoch()]
        assert _read_ahead_groups() - groups >= 2 * len(kept) // 200
        epochs += [kept, copies]
    with fb.set_num_threads(2):
        reference = [tuple(np.copy(a) for a in batch) for batch in epoch()]
    for kept in epochs:
        assert len(kept) == len(reference)
        for batch, expected in zip(kept, reference):
            for a, e in zip(batch, expected):
                assert a.tobytes() == e.tobytes() and a.dtype == e.dtype
                assert a.flags.c_contiguous and a.flags.owndata


def test_the_default_read_ahead_leaves_small_inputs_batch_by_batch():
    groups = _read_ahead_groups()
    list(fb.BatchLoader(np.zeros((1000, 4)), batch_size=10, shuffle=True, rng=0))
    assert _read_ahead_groups() == groups


def test_the_default_read_ahead_groups_a_large_inputs_small_batches():
    X = np.broadcast_to(np.float64(1), (_READ_AHEAD["min_input_bytes"] // 8, 8))
    groups = _read_ahead_groups()
    it = iter(fb.BatchLoader(X, batch_size=256, shuffle=True, rng=0,
                             shuffle_method="bijective"))
    first = next(it)
    assert _read_ahead_groups() == groups + 1
    assert first.shape == (256, 8) and (first == 1).all()


def test_a_batch_size_near_the_platform_limit_neither_overflows_nor_groups():
    # 32 MiB of input (read-ahead's threshold) and one batch of everything: the group
    # budget is worked out without multiplying batch_size (2**60 * 16 wraps to 0).
    X = np.arange(1 << 22, dtype=np.float64).reshape(1 << 21, 2)
    groups = _read_ahead_groups()
    (batch,) = list(fb.BatchLoader(X, batch_size=2**60, shuffle=True, rng=0))
    assert _read_ahead_groups() == groups
    np.testing.assert_array_equal(np.sort(batch[:, 0]), X[:, 0])
