"""fb.index_shuffle / fb.index_unshuffle: a keyed bijection of range(n).

Exactness (bijection, inverse, agreement with a NumPy reference of the construction),
the argument checks, and the statistical promises of ``fb.index_shuffle``'s docstring
(and docs/guide/pipelines.rst, "Huge data: the bijective shuffle"): position and pair
uniformity, fixed points ~ Poisson(1), cycle counts of a uniform permutation, unrelated
seeds and epochs, at n = 1e3 ... 1e9.  Every statistical test uses fixed seeds and
rejects at p < ALPHA = 1e-4.  The reference with fewer rounds also shows the tests have
the power to reject a weaker network, which is how the round counts were chosen.
"""

import math
import signal
import threading
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastbatch as fb
from fastbatch._kernels import bijection as _bijection
from fastbatch._rng import seed_sequence
from fastbatch.shuffling import bijection_key

scipy_stats = pytest.importorskip("scipy.stats")
from stats import ALPHA, chi_square_uniform_pvalue  # noqa: E402

MAX_N = 2**63 - 1
# n = 1, 2, 3, powers of two and their neighbours, odd primes, the largest n.
SPECIAL_N = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129,
             255, 256, 257, 997, 1000, 1023, 1024, 1025, 4093, 65535, 65536, 65537, 100_003]


# ---------------------------------------------------------------------------------------
# A NumPy reference of the construction in fastbatch/_kernels/src/bijection.h, rounds as a parameter.

def mix32(x):
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x7FEB352D)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(0x846CA68B)
    return x ^ (x >> np.uint32(16))


def reference_network(x, n, round_keys, inverse):
    """One pass of the network; round_keys has shape (rounds,) or (len(x), rounds)."""
    bits = max(int(n - 1).bit_length(), 1)
    wb = bits - bits // 2
    ma, mb = np.uint32((1 << (bits // 2)) - 1), np.uint32((1 << wb) - 1)
    a = (x >> np.uint64(wb)).astype(np.uint32)
    b = (x & np.uint64(mb)).astype(np.uint32)
    rounds = round_keys.shape[-1]
    for j in (range(rounds - 1, -1, -1) if inverse else range(rounds)):
        k = round_keys[..., j]
        if j % 2 == 0:
            a = a ^ (mix32(b ^ k) & ma)
        else:
            b = b ^ (mix32(a ^ k) & mb)
    return (a.astype(np.uint64) << np.uint64(wb)) | b.astype(np.uint64)


def reference_shuffle(positions, n, round_keys, inverse=False):
    x = np.asarray(positions, dtype=np.uint64)
    round_keys = np.asarray(round_keys, dtype=np.uint32)
    with np.errstate(over="ignore"):
        x = reference_network(x, n, round_keys, inverse)
        while (x >= n).any():
            x = np.where(x >= n, reference_network(x, n, round_keys, inverse), x)
    return x.astype(np.int64)


def random_round_keys(count, rounds, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2**32, size=(count, rounds), dtype=np.uint64).astype(np.uint32)


def whole_orders(n, seeds, epoch=0):
    return np.array([fb.index_shuffle(np.arange(n), n, s, epoch=epoch) for s in seeds])


# ---------------------------------------------------------------------------------------
# Exactness.

@pytest.mark.parametrize("n", SPECIAL_N)
def test_index_shuffle_of_all_positions_is_a_permutation_of_range_n(n):
    for seed in (0, 1, 2**100 + 7):
        order = fb.index_shuffle(np.arange(n), n, seed)
        assert np.array_equal(np.sort(order), np.arange(n))


@pytest.mark.parametrize("n", SPECIAL_N)
def test_index_unshuffle_inverts_index_shuffle(n):
    positions = np.arange(n)
    values = fb.index_shuffle(positions, n, 5, epoch=3)
    assert np.array_equal(fb.index_unshuffle(values, n, 5, epoch=3), positions)
    assert np.array_equal(fb.index_shuffle(fb.index_unshuffle(positions, n, 5), n, 5),
                          positions)


@pytest.mark.parametrize("n", [2**32 - 1, 2**32 + 1, 10**12, 2**62, 2**62 + 1,
                               2**63 - 2, MAX_N])
def test_huge_n_values_are_in_range_and_invert(n):
    positions = np.concatenate([np.arange(100), n - 1 - np.arange(100),
                                np.random.default_rng(0).integers(0, n, 1000)])
    values = fb.index_shuffle(positions, n, 11)
    assert values.min() >= 0 and values.max() < n
    assert np.array_equal(fb.index_unshuffle(values, n, 11), positions)
    assert len(np.unique(values)) == len(np.unique(positions))


@pytest.mark.parametrize("n", SPECIAL_N[:12] + [1000, 65537, 10**9 + 7, 2**62 + 3, MAX_N])
def test_kernel_matches_the_numpy_reference(n):
    key0, key1 = bijection_key(9, 4)
    round_keys = np.array(_bijection._round_keys_py(n, key0, key1), dtype=np.uint32)
    positions = np.random.default_rng(1).integers(0, n, 3000)
    expected = reference_shuffle(positions, n, round_keys)
    assert np.array_equal(fb.index_shuffle(positions, n, 9, epoch=4), expected)
    assert np.array_equal(reference_shuffle(expected, n, round_keys, inverse=True),
                          positions)


def test_round_count_is_larger_for_small_n():
    assert len(_bijection._round_keys_py(_bijection.SMALL_N, 1, 2)) == _bijection.ROUNDS_SMALL
    assert len(_bijection._round_keys_py(_bijection.SMALL_N + 1, 1, 2)) == _bijection.ROUNDS


@pytest.mark.parametrize("n", [3, 1000, 2**40 + 5])
def test_block_path_equals_the_one_value_path(n):
    key0, key1 = 0x0123456789ABCDEF, 0xFEDCBA9876543210
    positions = np.random.default_rng(2).integers(0, n, 200)
    for inverse in (False, True):
        out = np.empty_like(positions)
        assert _bijection.apply_into(positions, out, n, key0, key1, inverse, 1)
        assert out.tolist() == [_bijection._one_py(int(p), n, key0, key1, inverse)
                                for p in positions]


def test_results_do_not_depend_on_the_thread_count():
    n = 10**12
    positions = np.random.default_rng(3).integers(0, n, 400_000)
    results = []
    for threads in (1, 2, 3, 8):
        out = np.empty_like(positions)
        assert _bijection.apply_into(positions, out, n, 5, 6, False, threads)
        results.append(out)
    for out in results[1:]:
        assert np.array_equal(out, results[0])


def test_results_do_not_depend_on_the_chunking():
    positions = np.arange(10_000)
    whole, chunked = np.empty_like(positions), np.empty_like(positions)
    _bijection.apply_into(positions, whole, 10_000, 1, 2, False, 1)
    _bijection.apply_into(positions, chunked, 10_000, 1, 2, False, 1, chunk=777)
    assert np.array_equal(whole, chunked)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, MAX_N), data=st.data())
def test_property_values_are_in_range_and_unshuffle_inverts(n, data):
    positions = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=50)))
    seed = data.draw(st.integers(0, 2**130))
    values = fb.index_shuffle(positions, n, seed)
    assert ((values >= 0) & (values < n)).all()
    assert np.array_equal(fb.index_unshuffle(values, n, seed), positions)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 3000), seed=st.integers(0, 2**64), epoch=st.integers(0, 10**6))
def test_property_every_order_is_a_bijection(n, seed, epoch):
    order = fb.index_shuffle(np.arange(n), n, seed, epoch=epoch)
    assert np.array_equal(np.sort(order), np.arange(n))


# ---------------------------------------------------------------------------------------
# The interface.

def test_output_is_int64_with_the_shape_of_positions():
    positions = np.arange(12, dtype=np.int32).reshape(3, 4)
    values = fb.index_shuffle(positions, 12, 0)
    assert values.dtype == np.int64 and values.shape == (3, 4)
    assert np.array_equal(values.ravel(), fb.index_shuffle(positions.ravel(), 12, 0))


def test_an_int_position_gives_a_numpy_int64():
    value = fb.index_shuffle(3, 10, 0)
    assert isinstance(value, np.int64)
    assert value == fb.index_shuffle([3], 10, 0)[0]


def test_empty_positions_give_an_empty_result():
    assert fb.index_shuffle(np.empty(0, dtype=np.int64), 10, 0).shape == (0,)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint32, np.int32,
                                   np.uint64])
def test_any_integer_dtype_gives_the_same_values(dtype):
    expected = fb.index_shuffle(np.arange(100), 100, 4)
    assert np.array_equal(fb.index_shuffle(np.arange(100).astype(dtype), 100, 4), expected)
    assert np.array_equal(fb.index_shuffle(list(range(100)), 100, 4), expected)


def test_non_contiguous_positions_give_the_same_values():
    positions = np.arange(200)[::2]
    assert np.array_equal(fb.index_shuffle(positions, 200, 4),
                          fb.index_shuffle(positions.copy(), 200, 4))


def test_inputs_are_not_modified():
    positions = np.arange(50)
    fb.index_shuffle(positions, 50, 1)
    assert np.array_equal(positions, np.arange(50))


def test_a_read_only_positions_array_is_accepted():
    positions = np.arange(50)
    positions.flags.writeable = False
    assert fb.index_shuffle(positions, 50, 1).shape == (50,)


def test_epoch_defaults_to_zero_and_the_key_comes_from_the_key_derivation():
    assert np.array_equal(fb.index_shuffle(np.arange(99), 99, 8),
                          fb.index_shuffle(np.arange(99), 99, 8, epoch=0))
    key = seed_sequence("bijective", 8, 2).generate_state(2, np.uint64)
    assert bijection_key(8, 2) == (int(key[0]), int(key[1]))
    out = np.empty(99, dtype=np.int64)
    _bijection.apply_into(np.arange(99), out, 99, int(key[0]), int(key[1]), False, 1)
    assert np.array_equal(fb.index_shuffle(np.arange(99), 99, 8, epoch=2), out)


def test_the_order_of_a_seed_is_fixed_across_releases():
    # The key's encoding is part of the contract (resume, ranks agreeing on it): the words
    # of fastbatch._rng's documented layout for ("bijective", seed=0, epoch=3), written out.
    words = [0x316B6266, zlib.crc32(b"bijective"), 0, 3, 0, 0, 0, 4, 0, 0, 0, 0]
    key = np.random.SeedSequence(np.array(words, np.uint32)).generate_state(2, np.uint64)
    out = np.empty(10, dtype=np.int64)
    _bijection.apply_into(np.arange(10), out, 10, int(key[0]), int(key[1]), False, 1)
    assert fb.index_shuffle(np.arange(10), 10, 0, epoch=3).tolist() == out.tolist()


BAD_ARGUMENTS = [
    ({"positions": [0.0, 1.0]}, TypeError, "positions must be integers"),
    ({"positions": np.array([1.5])}, TypeError, "float64"),
    ({"positions": True}, TypeError, "positions must be integers"),
    ({"positions": np.array([True, False])}, TypeError, "dtype bool"),
    ({"positions": ["a"]}, TypeError, "positions must be integers"),
    ({"positions": [2**70]}, TypeError, "positions"),
    ({"positions": [0, -1]}, ValueError, r"positions\[1\] is -1"),
    ({"positions": [[0, 1], [10, 2]]}, ValueError, r"positions\[1, 0\] is 10"),
    ({"positions": 10}, ValueError, "positions is 10"),
    ({"positions": np.array([2**64 - 1], np.uint64)}, ValueError, "18446744073709551615"),
    ({"n": 0}, ValueError, "n must be >= 1, got 0"),
    ({"n": -5}, ValueError, "n must be >= 1, got -5"),
    ({"n": 2**63}, ValueError, "n must be <= 2\\*\\*63 - 1"),
    ({"n": 10.0}, TypeError, "n must be an integer"),
    ({"n": True}, TypeError, "n must be an integer, got the bool"),
    ({"seed": -1}, ValueError, "seed must be >= 0, got -1"),
    ({"seed": 1.5}, TypeError, "seed must be an integer"),
    ({"seed": None}, TypeError, "seed must be an integer"),
    ({"seed": "0"}, TypeError, "seed must be an integer"),
    ({"epoch": -2}, ValueError, "epoch must be >= 0, got -2"),
    ({"epoch": 0.5}, TypeError, "epoch must be an integer"),
]


@pytest.mark.parametrize("function", [fb.index_shuffle, fb.index_unshuffle])
@pytest.mark.parametrize("bad, error, message", BAD_ARGUMENTS)
def test_bad_arguments_raise_naming_the_argument_and_value(function, bad, error, message):
    kwargs = {"positions": [0, 1], "n": 10, "seed": 0, "epoch": 0} | bad
    positions = kwargs.pop("positions")
    if function is fb.index_unshuffle:
        message = message.replace("positions", "values")
    with pytest.raises(error, match=message):
        function(positions, **kwargs)


def test_ctrl_c_interrupts_a_long_call():
    # SIGINT sent from another thread once the first chunk is done: the call must stop
    # between chunks with KeyboardInterrupt, long before the last of its 16384 chunks.
    n = 1 << 23
    positions = np.arange(n)
    out = np.full(n, -1, dtype=np.int64)

    def interrupt():
        while out[512] == -1:
            threading.Event().wait(0.001)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    thread = threading.Thread(target=interrupt)
    thread.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            _bijection.apply_into(positions, out, n, 1, 2, False, 1, chunk=512)
    finally:
        thread.join()
    assert out[-1] == -1, "the call ran to the end before it was interrupted"


# ---------------------------------------------------------------------------------------
# Statistics: each position's value, adjacent pairs, fixed points, cycles, seeds, epochs.

def decile_classes(n):
    """Class of a value (its decile) and how many values of range(n) each class holds."""
    starts = [-(-d * n // 10) for d in range(11)]   # first value of each decile
    sizes = np.diff(starts)
    return (lambda v: np.asarray(v) * 10 // n), sizes


def low_bits_classes(n):
    sizes = np.array([n // 16 + (r < n % 16) for r in range(16)])
    return (lambda v: np.asarray(v) % 16), sizes


def pair_law_pvalue(first, second, n, classes):
    """Chi-square of the joint class of (pi(i), pi(i+1)) against a uniform permutation's
    exact law (two distinct values, so same-class pairs are slightly rarer)."""
    classify, sizes = classes
    sizes = sizes.astype(float)
    expected = (np.outer(sizes, sizes) - np.diag(sizes)) / (n * (n - 1)) * first.size
    table = np.zeros(expected.shape)
    np.add.at(table, (classify(first), classify(second)), 1)
    statistic = ((table - expected) ** 2 / expected).sum()
    return scipy_stats.chi2.sf(statistic, table.size - 1)


def fixed_point_pvalue(orders):
    n = orders.shape[1]
    counts = np.bincount(np.minimum((orders == np.arange(n)).sum(axis=1), 5), minlength=6)
    probabilities = scipy_stats.poisson.pmf(np.arange(5), 1)
    probabilities = np.append(probabilities, 1 - probabilities.sum())
    return scipy_stats.chisquare(counts, probabilities * len(orders)).pvalue


def cycle_count(order):
    seen = np.zeros(len(order), dtype=bool)
    cycles = 0
    for start in range(len(order)):
        if not seen[start]:
            cycles += 1
            j = start
            while not seen[j]:
                seen[j] = True
                j = order[j]
    return cycles


STAT_N = [1000, 100_003, 2**20 + 1, 10**7]


@pytest.mark.parametrize("n", STAT_N + [10**9, 10**12])
def test_each_position_is_uniform_over_deciles_across_seeds(n):
    positions = np.array([0, 1, n // 3, n // 2, n - 2, n - 1])
    values = np.array([fb.index_shuffle(positions, n, seed) for seed in range(3000)])
    for column in values.T:
        assert chi_square_uniform_pvalue(np.bincount(decile_classes(n)[0](column), minlength=10)) > ALPHA


@pytest.mark.parametrize("n", STAT_N + [10**9, 10**12])
def test_adjacent_outputs_are_independent(n):
    rng = np.random.default_rng(4)
    first, second = [], []
    for seed in range(200):
        # Distinct positions: a repeated pair would count twice and inflate the statistic.
        i = rng.choice(n - 1, 500, replace=False)
        first.append(fb.index_shuffle(i, n, seed))
        second.append(fb.index_shuffle(i + 1, n, seed))
    first, second = np.concatenate(first), np.concatenate(second)
    assert pair_law_pvalue(first, second, n, decile_classes(n)) > ALPHA
    assert pair_law_pvalue(first, second, n, low_bits_classes(n)) > ALPHA


@pytest.mark.slow
def test_a_whole_epoch_of_n_just_above_a_power_of_two_is_a_permutation():
    # n = 2**27 + 1: the network runs on 2**28 values, so half of them walk again.  The
    # epoch is computed in chunks (O(chunk) memory besides a bitmap of n bytes); the
    # values of each tenth of the epoch are uniform over deciles.
    n = 2**27 + 1
    seen = np.zeros(n, dtype=bool)
    chunk = (n + 9) // 10
    for start in range(0, n, chunk):
        values = fb.index_shuffle(np.arange(start, min(start + chunk, n)), n, 12)
        seen[values] = True
        counts = np.bincount(decile_classes(n)[0](values), minlength=10)
        assert chi_square_uniform_pvalue(counts) > ALPHA
    assert seen.all()


@pytest.mark.parametrize("n", [1000, 1024, 1025])
def test_adjacent_outputs_of_whole_orders_are_independent(n):
    orders = whole_orders(n, range(3000))
    first, second = orders[:, :-1].ravel(), orders[:, 1:].ravel()
    assert pair_law_pvalue(first, second, n, decile_classes(n)) > ALPHA
    assert pair_law_pvalue(first, second, n, low_bits_classes(n)) > ALPHA


@pytest.mark.parametrize("n", [100, 1000, 1025])
def test_fixed_points_are_poisson_1(n):
    assert fixed_point_pvalue(whole_orders(n, range(4000))) > ALPHA


@pytest.mark.parametrize("n", [10, 100, 1000, 1025])
def test_number_of_cycles_matches_a_uniform_permutation(n):
    # Mean H_n and variance H_n - H_n^(2) of a uniform permutation's cycle count.
    # (For n a power of two >= 16 the order is always even, which moves the mean by
    # 1/(n(n-1)) only: these n test the construction, not the parity.)
    cycles = np.array([cycle_count(order) for order in whole_orders(n, range(2000))])
    h1 = (1 / np.arange(1, n + 1)).sum()
    h2 = (1 / np.arange(1, n + 1) ** 2).sum()
    z = (cycles.mean() - h1) / math.sqrt((h1 - h2) / len(cycles))
    assert 2 * scipy_stats.norm.sf(abs(z)) > ALPHA
    assert 0.8 < cycles.var() / (h1 - h2) < 1.25


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_small_n_orders_are_uniform_over_all_permutations(n):
    seeds = range(40 * math.factorial(n))
    orders = whole_orders(n, seeds)
    codes = (orders * n ** np.arange(n)).sum(axis=1)
    counts = np.unique(codes, return_counts=True)[1]
    assert len(counts) == math.factorial(n)
    assert chi_square_uniform_pvalue(counts) > ALPHA


def test_different_seeds_give_unrelated_orders():
    n = 100_000
    orders = whole_orders(n, [0, 1, 2, 2**64, 2**64 + 1])
    for a in range(len(orders)):
        for b in range(a + 1, len(orders)):
            r = np.corrcoef(orders[a], orders[b])[0, 1]
            assert abs(r) * math.sqrt(n) < 4.5
            # Agreements pi_a(i) == pi_b(i) of unrelated orders are ~ Poisson(1).
            assert (orders[a] == orders[b]).sum() <= 8


def test_different_epochs_give_unrelated_orders():
    n = 100_000
    orders = np.array([fb.index_shuffle(np.arange(n), n, 3, epoch=e) for e in range(5)])
    for a in range(len(orders)):
        for b in range(a + 1, len(orders)):
            assert abs(np.corrcoef(orders[a], orders[b])[0, 1]) * math.sqrt(n) < 4.5
            assert (orders[a] == orders[b]).sum() <= 8


def test_agreements_between_seeds_are_poisson_1():
    orders = whole_orders(1000, range(4001))
    agreements = (orders[1:] == orders[:-1]).sum(axis=1)
    counts = np.bincount(np.minimum(agreements, 5), minlength=6)
    probabilities = scipy_stats.poisson.pmf(np.arange(5), 1)
    probabilities = np.append(probabilities, 1 - probabilities.sum())
    assert scipy_stats.chisquare(counts, probabilities * len(agreements)).pvalue > ALPHA


def test_order_is_not_correlated_with_position():
    n = 1000
    orders = whole_orders(n, range(2000))
    r = np.array([np.corrcoef(np.arange(n), order)[0, 1] for order in orders])
    assert 2 * scipy_stats.norm.sf(abs(r.mean()) * math.sqrt(len(r) * (n - 1))) > ALPHA


# ---------------------------------------------------------------------------------------
# Power: the same tests reject weaker networks (why the kernel uses the rounds it does).

def test_fixed_point_and_pair_tests_reject_a_three_round_network():
    n = 1000
    keys = random_round_keys(4000, 3, 5)
    orders = reference_shuffle(np.arange(n, dtype=np.uint64)[None, :], n, keys[:, None, :])
    assert fixed_point_pvalue(orders) < ALPHA
    first, second = orders[:, :-1].ravel(), orders[:, 1:].ravel()
    assert pair_law_pvalue(first, second, n, low_bits_classes(n)) < ALPHA


def test_small_n_test_rejects_the_large_n_round_count():
    # n <= 32 gets more rounds: a 3-bit domain with 8 rounds is visibly not uniform.
    n = 5
    keys = random_round_keys(40 * math.factorial(n), _bijection.ROUNDS, 6)
    orders = reference_shuffle(np.arange(n, dtype=np.uint64)[None, :], n, keys[:, None, :])
    counts = np.unique((orders * n ** np.arange(n)).sum(axis=1), return_counts=True)[1]
    counts = np.append(counts, np.zeros(math.factorial(n) - len(counts)))
    assert chi_square_uniform_pvalue(counts) < ALPHA
