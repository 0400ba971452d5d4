"""fb.permutation: a uniform random permutation of range(n), reproducible from rng."""

import hashlib
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastbatch as fb
from fastbatch._kernels.shuffle import _bounded_py, _buckets_py, _shuffle_py
from stats import ALPHA, chi_square_uniform_pvalue, order_counts

# Sizes on both sides of the Fisher-Yates / bucket-shuffle boundary (65536), of the size
# from which the bucket shuffle uses threads (2**18), and of the size from which int64
# results are built as int32 and widened in place (2**19; 5 * 2**20 + 3 takes several
# parallel widening rounds and a serial rest).
SIZES = [0, 1, 2, 3, 10, 1000, 65535, 65536, 65537, 200_000, 2**18 - 1, 2**18 + 1,
         2**19 - 1, 2**19, 1_000_003, 5 * 2**20 + 3]


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", [np.int64, np.int32])
def test_permutation_contains_every_index_once(n, dtype):
    p = fb.permutation(n, rng=n, dtype=dtype)
    assert p.dtype == dtype
    assert p.shape == (n,)
    np.testing.assert_array_equal(np.sort(p), np.arange(n))


@pytest.mark.parametrize("n", [1000, 65536, 65537, 1_000_000])
def test_same_seed_gives_same_permutation(n):
    np.testing.assert_array_equal(fb.permutation(n, rng=7), fb.permutation(n, rng=7))
    assert not np.array_equal(fb.permutation(n, rng=7), fb.permutation(n, rng=8))


@pytest.mark.parametrize("n", [1000, 1_000_000])
def test_equal_generators_give_equal_permutations(n):
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    np.testing.assert_array_equal(fb.permutation(n, rng=a), fb.permutation(n, rng=b))


def test_generator_and_its_bit_generator_and_seed_agree():
    from_seed = fb.permutation(500, rng=11)
    from_generator = fb.permutation(500, rng=np.random.default_rng(11))
    from_bit_generator = fb.permutation(500, rng=np.random.PCG64(11))
    np.testing.assert_array_equal(from_seed, from_generator)
    np.testing.assert_array_equal(from_seed, from_bit_generator)


def test_a_generator_is_advanced_by_each_call():
    rng = np.random.default_rng(0)
    assert not np.array_equal(fb.permutation(100, rng=rng), fb.permutation(100, rng=rng))


def test_int32_and_int64_agree_for_the_same_seed():
    for n in (1000, 300_000, 2**19 - 1, 2**19, 3_000_000, 5 * 2**20 + 3):
        np.testing.assert_array_equal(
            fb.permutation(n, rng=5, dtype=np.int32), fb.permutation(n, rng=5))


@pytest.mark.parametrize("n, head, digest", [
    (10, [9, 6, 1, 0, 7, 3, 4, 2, 5, 8], None),
    (65537, [61253, 30529, 26686, 44585, 5023, 29797], "9afa7c38e864f426"),
    (1_000_003, [901967, 131885, 958765, 867325, 386543, 986196], "f61b09686532b360"),
    (3_000_000, [584510, 1809123, 84561, 2653521, 2841607, 2874571], "7a1975dc48ddadf4"),
])
def test_seeded_permutations_are_stable_across_builds_and_platforms(n, head, digest):
    # Pinned results of the Fisher-Yates path (10), the bucket path on one thread, on
    # threads, and with in-place widening.  If this fails, seeds give different
    # permutations than before: intended changes need a CHANGELOG entry.
    p = fb.permutation(n, rng=2024)
    assert p[:len(head)].tolist() == head
    if digest is not None:
        assert hashlib.sha256(p.astype("<i8").tobytes()).hexdigest()[:16] == digest


def test_rng_none_draws_fresh_entropy():
    assert not np.array_equal(fb.permutation(1000), fb.permutation(1000))


def test_all_120_orders_of_5_are_equally_likely():
    rng = np.random.default_rng(2024)
    counts = order_counts(lambda: fb.permutation(5, rng=rng), 5, 60_000)
    assert (counts > 0).all()
    assert chi_square_uniform_pvalue(counts) > ALPHA


@pytest.mark.parametrize("bucket_bytes", [8, 16, 24])
def test_bucket_algorithm_makes_all_orders_of_5_equally_likely(bucket_bytes):
    # Forces the large-n algorithm (scatter to random buckets, recurse, Fisher-Yates)
    # onto 5 elements with buckets of 1-3 elements, so all its branches are exercised.
    # One thread: the hook would otherwise start threads for every one of the 60000
    # calls (tests/test_threads_results.py covers the thread counts).
    bit_generator = np.random.PCG64(bucket_bytes)
    out = np.empty(5, dtype=np.int64)

    def draw():
        _buckets_py(bit_generator, out, bucket_bytes)
        return out

    with fb.set_num_threads(1):
        counts = order_counts(draw, 5, 60_000)
    assert chi_square_uniform_pvalue(counts) > ALPHA


def test_fisher_yates_shuffle_makes_all_orders_of_4_equally_likely():
    bit_generator = np.random.PCG64(99)
    base = np.arange(4, dtype=np.int64)

    def draw():
        a = base.copy()
        _shuffle_py(bit_generator, a)
        return a

    counts = order_counts(draw, 4, 24_000)
    assert chi_square_uniform_pvalue(counts) > ALPHA


def test_large_n_first_percent_of_values_land_uniformly_across_deciles():
    n = 3_000_000
    p = fb.permutation(n, rng=12345)
    positions = np.flatnonzero(p < n // 100)   # where the values 0..29999 went
    counts = np.bincount(positions * 10 // n, minlength=10)
    assert chi_square_uniform_pvalue(counts) > ALPHA


def test_large_n_each_position_is_uniform_over_values():
    # Value at a fixed position, over many permutations, is uniform (bucket path).
    n, trials = 70_000, 400
    rng = np.random.default_rng(1)
    firsts = np.array([fb.permutation(n, rng=rng)[[0, n // 2, n - 1]] for _ in range(trials)])
    for column in firsts.T:
        counts = np.bincount(column * 10 // n, minlength=10)
        assert chi_square_uniform_pvalue(counts) > ALPHA


@pytest.mark.parametrize("bound", [1, 2, 3, 7, 10, 2**31 + 1, 3 * 2**62])
def test_bounded_integers_are_uniform_and_in_range(bound):
    draws = _bounded_py(np.random.PCG64(bound % 1000), bound, 50_000)
    assert draws.max() < bound
    bins = min(bound, 10)
    counts = np.bincount((draws.astype(float) * bins / bound).astype(np.int64), minlength=bins)
    if bins > 1:
        assert chi_square_uniform_pvalue(counts) > ALPHA


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 5000), seed=st.integers(0, 2**32))
def test_property_any_size_and_seed_is_a_permutation(n, seed):
    p = fb.permutation(n, rng=seed)
    assert np.array_equal(np.sort(p), np.arange(n))


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 300), bucket_bytes=st.integers(8, 256), chunk=st.integers(1, 400),
       seed=st.integers(0, 2**32))
def test_property_bucket_algorithm_is_a_permutation(n, bucket_bytes, chunk, seed):
    out = np.empty(n, dtype=np.int64)
    _buckets_py(np.random.PCG64(seed), out, bucket_bytes, chunk)
    assert np.array_equal(np.sort(out), np.arange(n))


def test_number_of_distinct_orders_grows_like_n_factorial():
    # 3 elements, 6 orders: 600 draws see all of them.
    rng = np.random.default_rng(5)
    seen = {tuple(fb.permutation(3, rng=rng).tolist()) for _ in range(600)}
    assert len(seen) == math.factorial(3)


@pytest.mark.parametrize("n", [2**63, 2**64, 2**62, 2**61])
def test_n_too_large_for_the_platform_is_rejected_naming_n(n):
    with pytest.raises(ValueError, match=f"n={n}"):
        fb.permutation(n)


def test_n_too_large_for_memory_raises_memory_error_naming_n():
    with pytest.raises(MemoryError, match=f"n={2**50}"):
        fb.permutation(2**50)


@pytest.mark.parametrize("n", [2**31 + 1, 2**63, 2**64])
def test_n_too_large_for_int32_is_rejected_naming_n_and_dtype(n):
    with pytest.raises(ValueError, match=f"n={n}.*int32"):
        fb.permutation(n, dtype=np.int32)


@pytest.mark.parametrize("dtype", [np.uint32, np.int16, np.float64, "bool", object])
def test_other_dtypes_are_rejected_naming_dtype(dtype):
    with pytest.raises(TypeError, match="dtype"):
        fb.permutation(10, dtype=dtype)


@pytest.mark.parametrize("n", [-1, -(2**63), -(2**70)])
def test_negative_n_is_rejected_naming_n(n):
    with pytest.raises(ValueError, match=f"n must be >= 0, got {n}"):
        fb.permutation(n)


@pytest.mark.parametrize("n", [1000, 2**18 + 1, 1_000_003])
@pytest.mark.parametrize("dtype", [np.int64, np.int32])
def test_one_thread_draws_the_same_permutation(n, dtype):
    # The block shuffle draws its next window on one thread in the background: the
    # order must not depend on it.
    from fastbatch._kernels.shuffle import permutation_into
    spread, alone = np.empty(n, dtype), np.empty(n, dtype)
    permutation_into(np.random.PCG64(7), spread)
    permutation_into(np.random.PCG64(7), alone, True)
    np.testing.assert_array_equal(spread, alone)


@pytest.fixture
def runs_by_buckets():
    # Every table of runs through the bucket permutation (above the Fisher-Yates limit).
    from fastbatch._kernels.shuffle import _set_runs_small_max
    previous = _set_runs_small_max(0)
    yield
    _set_runs_small_max(previous)


def _runs(n, count, first, seed):
    # `count` runs (of one size or not, some maybe empty) holding n rows, with gaps.
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.choice(np.arange(0, n + 1), size=count - 1, replace=True))
    sizes = np.diff(np.concatenate([[0], cuts, [n]])).astype(np.int64)
    firsts = np.cumsum(np.concatenate([[first], sizes[:-1] + 1000])).astype(np.int64)
    return firsts, sizes


@pytest.mark.parametrize("n, runs", [
    (1, 1), (1000, 7), (65536, 4), (65537, 3), (2**18, 16), (2**18 + 5, 16), (300_001, 1),
])
@pytest.mark.parametrize("one_thread", [False, True])
@pytest.mark.parametrize("first", [5, 2**31 - 2**17])
def test_permutation_of_runs_by_buckets_is_the_permutation_with_values_mapped_to_rows(
        runs_by_buckets, n, runs, one_thread, first):
    # Above the Fisher-Yates limit, the block shuffle's window table in one pass: the
    # same draws as permutation_into, value i replaced by the i-th row of the runs laid
    # end to end (runs of one size, or not; gaps between them; both algorithms,
    # Fisher-Yates and buckets; from 2**18 rows on built as int32 and widened, unless a
    # row is past 2**31 - 1).
    from fastbatch._kernels.shuffle import permutation_into, permutation_runs_into
    rng = np.random.default_rng(n + runs)
    cuts = np.sort(rng.choice(np.arange(1, n), size=min(runs, n) - 1, replace=False))
    sizes = np.diff(np.concatenate([[0], cuts, [n]])).astype(np.int64)
    if runs == 16 and n == 2**18:
        sizes[:] = n // 16                     # equal runs
    firsts = np.cumsum(np.concatenate([[first], sizes[:-1] + 1000])).astype(np.int64)
    plain, mapped = np.empty(n, np.int64), np.empty(n, np.int64)
    permutation_into(np.random.PCG64(11), plain)
    permutation_runs_into(np.random.PCG64(11), mapped, firsts, sizes, one_thread)
    ends = np.cumsum(sizes)
    run = np.searchsorted(ends, plain, side="right")
    np.testing.assert_array_equal(mapped, firsts[run] + plain - (ends[run] - sizes[run]))


@pytest.mark.parametrize("n", [2**19 + 3, 2**20 + 5])
def test_runs_built_narrow_and_wide_agree(runs_by_buckets, n):
    # From 2**19 rows the buckets build the table as int32 and widen it, unless a row is
    # past 2**31 - 1: the same runs moved past it are built wide, with the same draws.
    from fastbatch._kernels.shuffle import permutation_runs_into
    firsts = np.array([7, 10**6, 3 * 10**6])
    sizes = np.array([n // 3, n // 3, n - 2 * (n // 3)])
    got = []
    for offset in (0, 2**40):
        out = np.empty(n, np.int64)
        permutation_runs_into(np.random.PCG64(3), out, firsts + offset, sizes, True)
        got.append(out - offset)
    np.testing.assert_array_equal(got[0], got[1])


# Fisher-Yates tables of runs (up to 2**20 rows): sizes around the three-bounds-per-word
# steps and the limit itself.
RUNS_SIZES = [1, 2, 3, 4, 5, 6, 7, 100, 65537, 2**18, 2**20]


@pytest.mark.parametrize("n", RUNS_SIZES)
@pytest.mark.parametrize("count", [1, 2, 16, 40])
def test_fisher_yates_table_of_runs_holds_every_row_once(n, count):
    from fastbatch._kernels.shuffle import permutation_runs_into
    firsts, sizes = _runs(n, count, 5, n + count)   # empty runs too, first and last
    out = np.empty(n, np.int64)
    permutation_runs_into(np.random.PCG64(n), out, firsts, sizes)
    rows = np.concatenate([np.arange(f, f + k) for f, k in zip(firsts, sizes)])
    np.testing.assert_array_equal(np.sort(out), rows)


@pytest.mark.parametrize("n", [7, 65537, 2**20])
def test_fisher_yates_table_of_runs_is_the_same_whatever_the_rows(n):
    # The order depends on the run sizes and the generator, not on where the runs are:
    # built as int32, or as int64 when a row is past 2**31 - 1, it is the same order.
    from fastbatch._kernels.shuffle import permutation_runs_into
    firsts, sizes = _runs(n, 5, 0, n)
    near, far = np.empty(n, np.int64), np.empty(n, np.int64)
    permutation_runs_into(np.random.PCG64(1), near, firsts, sizes)
    permutation_runs_into(np.random.PCG64(1), far, firsts + 2**40, sizes, True)
    np.testing.assert_array_equal(far - 2**40, near)
    assert not np.array_equal(near, np.sort(near))


@pytest.mark.parametrize("sizes", [[5], [2, 3], [1, 0, 1, 3], [3, 2], [0, 5], [5, 0],
                                   [0, 2, 0, 3, 0]])
def test_fisher_yates_table_of_runs_makes_all_orders_of_5_equally_likely(sizes):
    # Every step of the kernel: three bounds from one word, one at a time at a run's
    # end and at the end, empty runs skipped.
    from fastbatch._kernels.shuffle import permutation_runs_into
    firsts = np.cumsum(np.concatenate([[0], np.array(sizes[:-1]) + 10])).astype(np.int64)
    rows = np.concatenate([np.arange(f, f + k) for f, k in zip(firsts, sizes)])
    bit_generator = np.random.PCG64(len(sizes) * 7 + sizes[0])
    out = np.empty(5, np.int64)

    def draw():
        permutation_runs_into(bit_generator, out, firsts, sizes)
        return np.searchsorted(rows, out)
    counts = order_counts(draw, 5, 60_000)
    assert (counts > 0).all()
    assert chi_square_uniform_pvalue(counts) > ALPHA


def test_fisher_yates_table_of_runs_puts_every_position_uniformly():
    # The value at fixed positions over many tables is uniform over the rows.
    from fastbatch._kernels.shuffle import permutation_runs_into
    n, trials = 3000, 600
    firsts, sizes = np.array([0, 5000]), np.array([1000, 2000])
    rows = np.concatenate([np.arange(0, 1000), np.arange(5000, 7000)])
    bit_generator = np.random.PCG64(4)
    out = np.empty(n, np.int64)
    picked = []
    for _ in range(trials):
        permutation_runs_into(bit_generator, out, firsts, sizes)
        picked.append(np.searchsorted(rows, out[[0, 1, 2, n // 2, n - 1]]))
    for column in np.array(picked).T:
        assert chi_square_uniform_pvalue(np.bincount(column * 10 // n, minlength=10)) > ALPHA


def test_runs_draw_is_drawn_once_on_any_thread_and_equals_the_direct_draw():
    from fastbatch._kernels.shuffle import RunsDraw, permutation_runs_into, run_draws
    firsts, sizes = np.array([0, 10**6]), np.array([2**17, 2**17 + 3])
    direct = np.empty(2**18 + 3, np.int64)
    permutation_runs_into(np.random.PCG64(2), direct, firsts, sizes)
    draws = [RunsDraw(np.random.PCG64(2), np.empty(2**18 + 3, np.int64), firsts, sizes)
             for _ in range(3)]
    assert not any(d.done for d in draws) and draws[0].max_row == 10**6 + 2**17 + 2
    run_draws(draws[:2])                        # one per thread
    first = draws[0].table.copy()
    run_draws(draws[:1])                        # drawn already: nothing changes
    np.testing.assert_array_equal(draws[0].table, first)
    for draw in draws:
        np.testing.assert_array_equal(draw.result(), direct)
        assert draw.done


@pytest.mark.parametrize("firsts, sizes, message", [
    ([0, 10], [3], "one length"), ([0, 10], [3, -1], ">= 0"), ([-1, 10], [3, 2], ">= 0"),
    ([0, 10], [3, 3], "hold 6 rows, out holds \\(5,\\)"), ([0, 2**63 - 3], [2, 3], "2\\*\\*63"),
    ([0, 0, 0], [2**63 - 1, 2**63 - 1, 4], "more than 2\\*\\*63"),
])
def test_permutation_of_runs_rejects_runs_that_do_not_fill_out(firsts, sizes, message):
    from fastbatch._kernels.shuffle import permutation_runs_into
    with pytest.raises(ValueError, match=message):
        permutation_runs_into(np.random.PCG64(0), np.empty(5, np.int64), firsts, sizes)


def test_runs_draw_copies_its_runs_and_holds_a_numpy_output():
    from fastbatch._kernels.shuffle import RunsDraw
    firsts, sizes = np.array([0, 100]), np.array([3, 2])
    draw = RunsDraw(np.random.PCG64(0), np.empty(5, np.int64), firsts, sizes)
    firsts[1] = 10**12                          # the caller's array changes afterwards
    assert draw.max_row == 101
    assert sorted(draw.result().tolist()) == [0, 1, 2, 100, 101]
    with pytest.raises(TypeError):
        RunsDraw(np.random.PCG64(0), memoryview(np.empty(5, np.int64)), [0], [5])
    with pytest.raises(ValueError):
        RunsDraw(np.random.PCG64(0), np.empty(10, np.int64)[::2], [0], [5])


def test_run_draws_draws_each_once_even_when_listed_twice():
    from fastbatch._kernels.shuffle import RunsDraw, permutation_runs_into, run_draws
    expected = np.empty(1000, np.int64)
    permutation_runs_into(np.random.PCG64(5), expected, [0], [1000])
    draw = RunsDraw(np.random.PCG64(5), np.empty(1000, np.int64), [0], [1000])
    run_draws([draw, draw, draw])               # twice on two threads would race
    np.testing.assert_array_equal(draw.table, expected)


def test_small_draws_are_the_fisher_yates_ones():
    from fastbatch._kernels.shuffle import RunsDraw
    assert RunsDraw(np.random.PCG64(0), np.empty(2**20, np.int64), [0], [2**20]).small
    assert not RunsDraw(np.random.PCG64(0), np.empty(2**20 + 1, np.int64), [0],
                        [2**20 + 1]).small
