"""load_state_dict validates everything before applying anything (issue 10, item 6)."""

import copy
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastbatch as fb


def seeded(**kwargs):
    config = {"batch_size": 4, "shuffle": True, "rng": 7, "world_size": 3, "rank": 1,
              **kwargs}
    return fb.BatchLoader(np.arange(50), **config)


def with_generator(bit_generator=np.random.PCG64):
    return fb.BatchLoader(np.arange(50), batch_size=4, shuffle=True,
                          rng=np.random.Generator(bit_generator(3)))


def advanced(loader, batches=2):
    it = iter(loader)
    for _ in range(batches):
        next(it)
    return loader


def assert_rejected_and_unchanged(loader, state, error=(TypeError, ValueError), match=None):
    before = loader.state_dict()
    with pytest.raises(error, match=match):
        loader.load_state_dict(state)
    assert loader.state_dict() == before


def test_step_beyond_the_c_counter_range_is_rejected_before_anything_changes():
    loader = advanced(seeded())
    state = {**seeded().state_dict(), "epoch": 5, "step": 2**63}
    assert_rejected_and_unchanged(loader, state, ValueError,
                                  r"state\['step'\] must be <= 4611686018427387904")


@pytest.mark.parametrize("key", ["epoch", "step"])
@pytest.mark.parametrize("value", [-1, 2**62 + 1, 2**63, 2**64, "3", 1.5, True, None])
def test_counters_out_of_range_or_of_the_wrong_type_are_named(key, value):
    loader = advanced(seeded())
    assert_rejected_and_unchanged(loader, {**loader.state_dict(), key: value},
                                  match=rf"state\['{key}'\]")


@pytest.mark.parametrize("value", [-1, 3, 2**63, "1", True, None, 1.0])
def test_a_bad_rank_is_named(value):
    loader = advanced(seeded())
    assert_rejected_and_unchanged(loader, {**loader.state_dict(), "rank": value},
                                  match=r"state\['rank'\]")


@pytest.mark.parametrize("value", [-1, 14, 2**63, "1", True])
def test_a_position_past_the_savers_epoch_is_named(value):
    loader = advanced(seeded())
    state = {k: v for k, v in loader.state_dict().items() if k != "global_position"}
    assert_rejected_and_unchanged(loader, {**state, "position": value},
                                  match=r"state\['position'\]")


def test_a_global_position_that_contradicts_the_position_is_rejected():
    loader = advanced(seeded())
    state = loader.state_dict()
    assert state["global_position"] == 2 * 4 * 3      # 2 batches of 4, 3 ranks
    assert_rejected_and_unchanged(loader, {**state, "global_position": 23}, ValueError,
                                  "does not match")


@pytest.mark.parametrize("tamper", [
    lambda s: s["state"].update(state=2**200),
    lambda s: s["state"].update(state="x"),
    lambda s: s["state"].pop("inc"),
    lambda s: s.update(bit_generator="MT19937"),
    lambda s: s.update(has_uint32=[]),
    lambda s: s.pop("state"),
    lambda s: s.update(state=None),
], ids=["huge", "string", "missing-inc", "other-kind", "list", "no-state", "none"])
def test_a_tampered_pcg64_state_is_a_value_error_naming_the_key(tamper):
    loader = advanced(with_generator())
    state = copy.deepcopy(loader.state_dict())
    tamper(state["bit_generator_state"])
    assert_rejected_and_unchanged(loader, state, ValueError, "bit_generator_state")


@pytest.mark.parametrize("tamper", [
    lambda s: s["state"].update(key={"__ndarray__": [1, 2, 3], "dtype": "uint32"}),
    lambda s: s["state"].update(key={"__ndarray__": [[1]], "dtype": "nonsense"}),
    lambda s: s["state"].update(key={"__ndarray__": "abc", "dtype": "uint32"}),
    lambda s: s["state"].update(pos=2**70),
    lambda s: s["state"].update(pos=-5),
    lambda s: s["state"].update(pos=625),
], ids=["short-key", "bad-dtype", "not-a-list", "huge-pos", "negative-pos", "pos-past-end"])
def test_a_tampered_mt19937_state_is_a_value_error_naming_the_key(tamper):
    loader = advanced(with_generator(np.random.MT19937))
    state = copy.deepcopy(json.loads(json.dumps(loader.state_dict())))
    tamper(state["bit_generator_state"])
    assert_rejected_and_unchanged(loader, state, ValueError, "bit_generator_state")


@pytest.mark.parametrize("index", [-100, 5, 2**40])
def test_a_tampered_philox_buffer_index_is_a_value_error(index):
    loader = advanced(with_generator(np.random.Philox))
    state = copy.deepcopy(loader.state_dict())
    state["bit_generator_state"]["buffer_pos"] = index
    assert_rejected_and_unchanged(loader, state, ValueError, "bit_generator_state")


@pytest.mark.parametrize("key, value", [
    ("n_samples", 51), ("seed", 8), ("shuffle", False), ("drop_last", True),
    ("shard_remainder", "keep"), ("shuffle_method", "bijective"),
    ("n_samples", "50"), ("shuffle", 1), ("batch_size", 4.0), ("shard_remainder", None),
    ("world_size", 0), ("batch_size", 0), ("world_size", 2**63), ("shard_start", 51),
    ("shard_start", -1),
])
def test_a_state_saved_with_another_configuration_is_named(key, value):
    loader = advanced(seeded())
    assert_rejected_and_unchanged(loader, {**loader.state_dict(), key: value},
                                  match=key)


@pytest.mark.parametrize("state, error", [
    ([], "state must be a dict"), ({}, "missing"),
    ({"version": 2}, "unsupported state version"), ({"version": True}, "version"),
])
def test_not_a_state_is_rejected(state, error):
    assert_rejected_and_unchanged(advanced(seeded()), state, match=error)


def test_a_seed_state_into_a_generator_loader_is_rejected():
    assert_rejected_and_unchanged(advanced(with_generator()),
                                  seeded(rng=3, world_size=1, rank=0).state_dict(),
                                  ValueError, "kind of rng")


def test_a_missing_bit_generator_state_is_named():
    state = advanced(with_generator()).state_dict()
    del state["bit_generator_state"]
    assert_rejected_and_unchanged(with_generator(), state, ValueError,
                                  "missing 'bit_generator_state'")


def test_a_state_without_the_version_2_fields_still_loads():
    loader = advanced(seeded())
    state = loader.state_dict()
    old = {k: v for k, v in state.items() if k not in ("global_position", "shuffle_method")}
    restored = seeded()
    restored.load_state_dict(old)
    assert restored.state_dict() == state


def test_the_state_records_the_epochs_global_position():
    loaders = [seeded(rank=r) for r in range(3)]
    for loader in loaders:
        advanced(loader, 3)
    # Every rank has consumed 3 batches of 4: positions [0, 36) of the global order.
    assert {loader.state_dict()["global_position"] for loader in loaders} == {36}
    assert advanced(seeded(), 0).state_dict()["global_position"] == 0


BAD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
    st.text(max_size=5), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def leaves(state, prefix=()):
    for key, value in state.items():
        if isinstance(value, dict):
            yield from leaves(value, prefix + (key,))
        yield prefix + (key,)


@pytest.mark.parametrize("make", [seeded, with_generator], ids=["seed", "generator"])
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_property_any_tampered_field_loads_cleanly_or_changes_nothing(make, data):
    loader = advanced(make())
    state = json.loads(json.dumps(loader.state_dict()))
    path = data.draw(st.sampled_from(sorted(leaves(state))))
    target = state
    for key in path[:-1]:
        target = target[key]
    if data.draw(st.booleans()):
        target[path[-1]] = data.draw(BAD_VALUES)
    else:
        del target[path[-1]]
    before = loader.state_dict()
    try:
        loader.load_state_dict(state)
    except (TypeError, ValueError):
        assert loader.state_dict() == before
    else:
        list(loader)                  # an accepted state runs


def test_a_state_from_another_int_seed_is_rejected_naming_the_seed():
    state = advanced(seeded(rng=8)).state_dict()
    assert_rejected_and_unchanged(advanced(seeded()), state, ValueError,
                                  "state was saved with seed=8 but this loader has seed=7")


def test_a_loader_built_without_a_seed_takes_the_states_seed():
    saver = advanced(seeded(world_size=1, rank=0))
    loader = fb.BatchLoader(np.arange(50), batch_size=4, shuffle=True)
    loader.load_state_dict(saver.state_dict())
    assert loader.state_dict() == saver.state_dict()
    rest = [b.tolist() for b in seeded(world_size=1, rank=0)][2:]
    assert [b.tolist() for b in loader] == rest


@pytest.mark.parametrize("shape, shard_start", [
    ({"rank": 2}, 0), ({"world_size": 5, "rank": 4}, 40), ({"batch_size": 3}, 18),
])
def test_a_state_from_another_rank_world_size_or_batch_size_loads(shape, shard_start):
    saver = advanced(seeded(**shape))
    loader = seeded()
    loader.load_state_dict(saver.state_dict())
    state = loader.state_dict()
    assert state["shard_start"] == shard_start
    assert state["global_position"] == saver.state_dict()["global_position"]
