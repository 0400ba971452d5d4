"""Elastic resume: a state saved at one world size (rank, batch size) continues the same
epoch at another, from the epoch's global position (docs/guide/pipelines.rst, "Exact and elastic resume")."""

import json

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import fastbatch as fb
from fastbatch.loader.block_order import BlockOrder
from reference import reference_batches, seeded_permutation

SEED = 11


# The block shuffle's layout in these tests: blocks of 3 rows, windows of 2 blocks.
BLOCK = {"block_size": 3, "shuffle_window": 2}


def global_order(n, epoch, method, seed=SEED):
    """Epoch ``epoch``'s global order of a loader seeded with ``seed``."""
    if method == "exact":
        return seeded_permutation(n, seed, epoch)
    if method == "block":
        bounds = np.append(np.arange(0, n, BLOCK["block_size"]), n)
        return BlockOrder.seeded(n, seed, epoch, bounds=bounds,
                                 window=BLOCK["shuffle_window"]).at(np.arange(n))
    return fb.index_shuffle(np.arange(n), n, seed, epoch=epoch) if n else np.arange(0)


def ranks(n, world_size, **config):
    config = {"shuffle": True, "rng": SEED, **config}
    if config.get("shuffle_method") == "block":
        config = {**BLOCK, **config}
    return [fb.BatchLoader(np.arange(n), world_size=world_size, rank=r, **config)
            for r in range(world_size)]


def lockstep(loaders, steps, iterators=None):
    """Every rank takes ``steps`` batches (fewer if its part ends first); the samples.
    The ranks' iterators are appended to ``iterators``."""
    seen = []
    for loader in loaders:
        it = iter(loader)
        for _ in range(steps):
            batch = next(it, None)
            if batch is None:
                break
            seen.extend(batch.tolist())
        if iterators is not None:
            iterators.append(it)
    return seen


def rest_of_epoch(loaders):
    return [[b.tolist() for b in loader] for loader in loaders]


def saved_mid_epoch(data, n, world_size, batch_size, **config):
    """Rank 0's state after every rank took the same number of batches, mid-epoch."""
    before = ranks(n, world_size, batch_size=batch_size, **config)
    assume(len(before[0]) > 0)
    steps = data.draw(st.integers(0, len(before[0]) - 1), label="steps")
    seen = lockstep(before, steps)
    return seen, json.loads(json.dumps(before[0].state_dict())), steps


elastic = st.fixed_dictionaries({
    "n": st.integers(1, 80),
    "world_size": st.integers(1, 6),
    "new_world_size": st.integers(1, 6),
    "batch_size": st.integers(1, 7),
    "new_batch_size": st.integers(1, 7),
    "method": st.sampled_from(["exact", "bijective", "block"]),
})


@settings(max_examples=300, deadline=None)
@given(case=elastic, shuffle=st.booleans(), data=st.data())
def test_property_keep_uses_every_sample_of_the_epoch_exactly_once_across_the_restart(
        case, shuffle, data):
    n, method = case["n"], case["method"]
    seen, state, _ = saved_mid_epoch(data, n, case["world_size"], case["batch_size"],
                                     shard_remainder="keep", shuffle_method=method,
                                     shuffle=shuffle)
    after = ranks(n, case["new_world_size"], batch_size=case["new_batch_size"],
                  shard_remainder="keep", shuffle_method=method, shuffle=shuffle)
    for loader in after:
        loader.load_state_dict(state)
    rest = [i for part in rest_of_epoch(after) for batch in part for i in batch]
    assert sorted(seen + rest) == list(range(n))


@pytest.mark.parametrize("remainder", ["pad", "drop", "keep"])
@settings(max_examples=150, deadline=None)
@given(case=elastic, drop_last=st.booleans(), data=st.data())
def test_property_the_rest_of_the_epoch_is_distributed_samplers_split_of_the_rest(
        remainder, case, drop_last, data):
    n, method = case["n"], case["method"]
    W, B = case["world_size"], case["batch_size"]
    _, state, steps = saved_mid_epoch(data, n, W, B, shard_remainder=remainder,
                                      drop_last=drop_last, shuffle_method=method)
    g = state["global_position"]
    assert g == min(W * steps * B, n)
    config = {"batch_size": case["new_batch_size"], "drop_last": drop_last,
              "shard_remainder": remainder, "world_size": case["new_world_size"]}
    after = ranks(n, shuffle_method=method, **config)
    order = global_order(n, 0, method)
    same_shape = (case["new_world_size"], case["new_batch_size"]) == (W, B)
    for rank, loader in enumerate(after):
        loader.load_state_dict(state)
        if same_shape:     # the saver's split goes on (its padding wraps to position 0)
            expected = reference_batches(order, rank=rank, **config)[steps:]
        else:
            expected = reference_batches(order[g:], rank=rank, **config)
        assert [b.tolist() for b in loader] == [e.tolist() for e in expected]


@settings(max_examples=150, deadline=None)
@given(case=elastic, remainder=st.sampled_from(["pad", "drop", "keep"]), data=st.data())
def test_property_the_epoch_after_the_resumed_one_is_a_whole_epoch_at_the_new_shape(
        case, remainder, data):
    n, method, W2 = case["n"], case["method"], case["new_world_size"]
    _, state, _ = saved_mid_epoch(data, n, case["world_size"], case["batch_size"],
                                  shard_remainder=remainder, shuffle_method=method)
    config = {"batch_size": case["new_batch_size"], "shard_remainder": remainder,
              "shuffle_method": method}
    after, fresh = ranks(n, W2, **config), ranks(n, W2, **config)
    for resumed, new in zip(after, fresh):
        resumed.load_state_dict(state)
        list(resumed)
        new.set_epoch(1)
        assert [b.tolist() for b in resumed] == [b.tolist() for b in new]
        assert resumed.epoch == 2


@settings(max_examples=150, deadline=None)
@given(case=elastic, third=st.integers(1, 6), data=st.data())
def test_property_a_resumed_epoch_can_be_saved_and_resumed_again_at_a_third_shape(
        case, third, data):
    n, method = case["n"], case["method"]
    seen, state, _ = saved_mid_epoch(data, n, case["world_size"], case["batch_size"],
                                     shard_remainder="keep", shuffle_method=method)
    middle = ranks(n, case["new_world_size"], batch_size=case["new_batch_size"],
                   shard_remainder="keep", shuffle_method=method)
    for loader in middle:
        loader.load_state_dict(state)
    steps = data.draw(st.integers(0, len(middle[0])), label="more steps")
    seen += lockstep(middle, steps)
    state = json.loads(json.dumps(middle[0].state_dict()))
    last = ranks(n, third, batch_size=3, shard_remainder="keep", shuffle_method=method)
    for loader in last:
        loader.load_state_dict(state)
    if state["epoch"] == 1:                  # rank 0 of the middle shape was done
        assert state["position"] == 0 and state["shard_start"] == 0
        assert sorted(seen) == list(range(n))
        return
    rest = [i for part in rest_of_epoch(last) for batch in part for i in batch]
    assert sorted(seen + rest) == list(range(n))


@pytest.mark.parametrize("remainder", ["pad", "drop", "keep"])
@pytest.mark.parametrize("method", ["exact", "bijective"])
def test_a_state_loaded_at_the_savers_shape_continues_the_resumed_split_exactly(
        remainder, method):
    first = ranks(50, 2, batch_size=4, shard_remainder=remainder, shuffle_method=method)
    lockstep(first, 3)
    resumed = ranks(50, 3, batch_size=2, shard_remainder=remainder, shuffle_method=method)
    twins = ranks(50, 3, batch_size=2, shard_remainder=remainder, shuffle_method=method)
    for loader in resumed:
        loader.load_state_dict(first[0].state_dict())
    iterators = []
    lockstep(resumed, 2, iterators)
    state = resumed[1].state_dict()
    assert state["shard_start"] == 24 and state["global_position"] == 24 + 3 * 2 * 2
    for it, twin in zip(iterators, twins):
        twin.load_state_dict(state)                   # from another rank of the shape
        assert [b.tolist() for b in twin] == [b.tolist() for b in it]


def test_pad_repeats_positions_from_the_global_position_on():
    # 10 samples, 2 ranks of batch 2 stop after one batch: positions [0, 4) consumed.
    # The rest, 6 positions, split between 4 ranks with "pad": 2 each, 2 repeated.
    first = ranks(10, 2, batch_size=2)
    lockstep(first, 1)
    order = global_order(10, 0, "exact")
    after = ranks(10, 4, batch_size=2)
    parts = []
    for loader in after:
        loader.load_state_dict(first[0].state_dict())
        parts.append(np.concatenate(list(loader)).tolist())
    assert parts == [order[[4 + r, 4 + (r + 4) % 6]].tolist() for r in range(4)]


def test_a_generator_state_resumes_elastically_from_the_epochs_saved_generator_state():
    def loaders(world_size, batch_size, seed):
        return [fb.BatchLoader(np.arange(30), batch_size=batch_size, shuffle=True,
                               rng=np.random.default_rng(seed), world_size=world_size,
                               rank=r, shard_remainder="keep")
                for r in range(world_size)]
    first = loaders(2, 3, seed=5)
    seen = lockstep(first, 2)
    after = loaders(3, 4, seed=999)          # the generator state comes from the state
    for loader in after:
        loader.load_state_dict(json.loads(json.dumps(first[0].state_dict())))
    rest = [i for part in rest_of_epoch(after) for b in part for i in b]
    assert sorted(seen + rest) == list(range(30))
    expected = np.random.default_rng(5)
    fb.permutation(30, rng=expected)
    epoch_1 = fb.permutation(30, rng=expected)
    assert np.concatenate(list(after[1])).tolist() == epoch_1[1::3].tolist()


def test_len_stays_the_whole_epochs_batch_count_while_a_resumed_iteration_is_shorter():
    first = ranks(40, 2, batch_size=5)
    lockstep(first, 2)
    loader = ranks(40, 1, batch_size=5)[0]
    loader.load_state_dict(first[0].state_dict())
    it = iter(loader)
    assert len(loader) == 8 and len(it) == 4
    assert len(list(it)) == 4


def test_set_epoch_after_an_elastic_load_gives_a_whole_epoch():
    first = ranks(40, 2, batch_size=5)
    lockstep(first, 2)
    loader, twin = ranks(40, 1, batch_size=5)[0], ranks(40, 1, batch_size=5)[0]
    loader.load_state_dict(first[0].state_dict())
    loader.set_epoch(0)
    assert [b.tolist() for b in loader] == [b.tolist() for b in twin]


def test_unshuffled_batches_of_a_resumed_epoch_are_still_views():
    X = np.arange(40.0)
    first = [fb.BatchLoader(X, batch_size=4, world_size=2, rank=r) for r in range(2)]
    lockstep(first, 2)                        # positions [0, 16) consumed
    loader = fb.BatchLoader(X, batch_size=4, world_size=3, rank=1)
    loader.load_state_dict(first[0].state_dict())
    batches = list(loader)
    assert [b.tolist() for b in batches] == [[17, 20, 23, 26], [29, 32, 35, 38]]
    assert all(np.shares_memory(b, X) for b in batches)


def test_a_rank_that_finished_its_part_first_does_not_roll_its_state_over():
    # Issue #19: 7 samples, 3 ranks of batch 2, "keep": parts of 3, 2, 2.  After one
    # lockstep step rank 1 is done but rank 0 still has position 6 to go.
    first = ranks(7, 3, batch_size=2, shard_remainder="keep")
    seen = lockstep(first, 1)
    state = json.loads(json.dumps(first[1].state_dict()))
    assert (state["epoch"], state["global_position"]) == (0, 6)
    after = ranks(7, 2, batch_size=2, shard_remainder="keep")
    for loader in after:
        loader.load_state_dict(state)
    rest = [i for part in rest_of_epoch(after) for batch in part for i in batch]
    assert sorted(seen + rest) == list(range(7))


@settings(max_examples=120, deadline=None)
@given(case=elastic, remainder=st.sampled_from(["pad", "drop", "keep"]),
       drop_last=st.booleans(), data=st.data())
def test_property_a_state_saved_by_any_rank_at_any_lockstep_point_resumes_the_epoch(
        case, remainder, drop_last, data):
    n, method, W, B = case["n"], case["method"], case["world_size"], case["batch_size"]
    W2, B2 = case["new_world_size"], case["new_batch_size"]
    config = {"shard_remainder": remainder, "drop_last": drop_last, "shuffle_method": method}
    before = ranks(n, W, batch_size=B, **config)
    steps = data.draw(st.integers(0, len(before[0])), label="steps")   # the end included
    seen = lockstep(before, steps)
    order = global_order(n, 0, method)
    done = steps == len(before[0])         # rank 0's part is the longest: epoch consumed
    new_config = {"batch_size": B2, "drop_last": drop_last, "shard_remainder": remainder}
    for saver in before:
        state = json.loads(json.dumps(saver.state_dict()))
        after = ranks(n, W2, shuffle_method=method, **new_config)
        for loader in after:
            loader.load_state_dict(state)
        if done and steps > 0:
            assert (state["epoch"], state["position"]) == (1, 0)
            if remainder == "keep" and not drop_last:
                assert sorted(seen) == list(range(n))
            continue
        assert state["epoch"] == 0
        g = state["global_position"]
        assert g == before[0].state_dict()["global_position"]
        rest = rest_of_epoch(after)
        if (W2, B2) == (W, B):
            expected = [reference_batches(order, rank=r, world_size=W2, **new_config)[steps:]
                        for r in range(W2)]
        else:
            expected = [reference_batches(order[g:], rank=r, world_size=W2, **new_config)
                        for r in range(W2)]
        assert rest == [[e.tolist() for e in part] for part in expected]
        if remainder == "keep" and not drop_last:
            assert sorted(seen + [i for p in rest for b in p for i in b]) == list(range(n))
