"""Per-epoch keys: distinct (method, seed, epoch[, window]) never share a stream.

``SeedSequence([seed, epoch])`` splits big ints into 32-bit words and drops trailing zero
words, so ``(7 + 5 * 2**32, 0)`` and ``(7, 5)`` were one stream (issue #19, finding 1).
"""

import itertools

import numpy as np
import pytest

import fastbatch as fb
from fastbatch._rng import epoch_bit_generator, epoch_key, key_entropy, seed_sequence
from fastbatch.shuffling import bijection_key

EDGE_SEEDS = [0, 1, 7, 5, 2**31, 2**32 - 1, 2**32, 2**32 + 1, 7 + 5 * 2**32,
              2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**64 + 1, 5 * 2**64, 2**128 - 1,
              2**128, 2**128 + 1, 2**160]
EDGE_EPOCHS = [0, 1, 5, 2**32 - 1, 2**32, 2**32 + 1, 2**62, 2**63 - 1, 2**64 - 1]
WINDOWS = [None, 0, 1, 2**32, 2**64 - 1]


def test_no_two_edge_keys_collide_across_methods_seeds_epochs_and_windows():
    states, entropies = set(), set()
    cases = [(m, s, e, None) for m in ("exact", "bijective", "validation")
             for s, e in itertools.product(EDGE_SEEDS, EDGE_EPOCHS)]
    cases += [("block", s, e, w) for s, e, w in
              itertools.product(EDGE_SEEDS[::2], EDGE_EPOCHS[::2], WINDOWS)]
    for case in cases:
        entropies.add(tuple(key_entropy(*case).tolist()))
        states.add(tuple(seed_sequence(*case).generate_state(4).tolist()))
    assert len(entropies) == len(cases)
    assert len(states) == len(cases)


def test_seeds_below_2_to_the_128_give_entropy_of_one_fixed_length():
    lengths = {len(key_entropy(m, s, e)) for m in ("exact", "bijective")
               for s in EDGE_SEEDS if s < 2**128 for e in EDGE_EPOCHS}
    assert lengths == {12}


def test_the_bijection_key_and_the_exact_bit_generator_come_from_the_one_derivation():
    assert bijection_key(8, 2) == epoch_key("bijective", 8, 2)
    key = seed_sequence("bijective", 8, 2).generate_state(2, np.uint64)
    assert bijection_key(8, 2) == (int(key[0]), int(key[1]))
    expected = np.random.PCG64(seed_sequence("exact", 8, 2)).random_raw(4)
    assert (epoch_bit_generator(8, 2).random_raw(4) == expected).all()


@pytest.mark.parametrize("seed, epoch, other_seed, other_epoch", [
    (7 + 5 * 2**32, 0, 7, 5), (2**32, 0, 0, 1), (2**64, 0, 0, 2**32), (3 * 2**32, 0, 0, 3),
])
def test_index_shuffle_of_aliasing_seed_and_epoch_pairs_differ(seed, epoch, other_seed,
                                                               other_epoch):
    n = 1000
    a = fb.index_shuffle(np.arange(n), n, seed, epoch=epoch)
    b = fb.index_shuffle(np.arange(n), n, other_seed, epoch=other_epoch)
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("method", ["exact", "bijective"])
def test_loader_seed_2_to_the_32_epoch_0_differs_from_seed_0_epoch_1(method):
    def epoch(rng, e):
        loader = fb.BatchLoader(np.arange(500), batch_size=500, shuffle=True, rng=rng,
                                shuffle_method=method)
        loader.set_epoch(e)
        return next(iter(loader))

    assert not np.array_equal(epoch(2**32, 0), epoch(0, 1))
    assert not np.array_equal(epoch(7 + 5 * 2**32, 0), epoch(7, 5))


def test_exact_and_bijective_loaders_with_one_seed_use_unrelated_keys():
    # Domain separation: the exact stream's first words are not the bijection's key.
    raw = epoch_bit_generator(3, 0).random_raw(2).tolist()
    assert tuple(raw) != bijection_key(3, 0)
    assert epoch_key("exact", 3, 0) != epoch_key("bijective", 3, 0)


@pytest.mark.parametrize("method", ["exact", "bijective", "block"])
def test_estimator_epoch_orders_of_aliasing_seeds_differ(method):
    from fastbatch.linear_model.training import Split, TrainingParams
    params = TrainingParams.of(fb.MiniBatchSGDRegressor(shuffle_method=method))
    blocks = np.append(np.arange(0, 500, 20), 500)

    def order(seed, epoch):
        buffer = np.empty(500, dtype=np.int64)
        rows, _ = Split(500, seed, None, None, None, False).order(seed, epoch, params,
                                                                  buffer, blocks)
        return rows.copy()

    assert not np.array_equal(order(2**32, 0), order(0, 1))
    assert not np.array_equal(order(7 + 5 * 2**32, 0), order(7, 5))


def test_index_shuffle_rejects_an_epoch_of_2_to_the_64():
    with pytest.raises(ValueError, match="epoch"):
        fb.index_shuffle(0, 10, 0, epoch=2**64)
    fb.index_shuffle(0, 10, 0, epoch=2**64 - 1)
