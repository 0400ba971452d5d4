"""Results never depend on the thread count; threads never outlive a call.

Covers the parallel exact permutation (fb.permutation and its bucket path forced onto
tiny inputs) and the parallel gather (fb.take): bit-identical results for 1, 2, 3, 4 and
16 threads on both sides of every size at which the algorithm changes, uniformity of
the parallel bucket path, and no thread left running after an exception (Ctrl-C).
"""
import math
import os
import signal
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastbatch as fb
from fastbatch._kernels.shuffle import _buckets_py
from stats import ALPHA, chi_square_uniform_pvalue, order_counts

THREAD_COUNTS = [1, 2, 3, 4, 16]

# The sizes where the permutation changes algorithm (fastbatch/_kernels/src/permutation.h):
SMALL_N = 2**16          # Fisher-Yates up to here, the bucket shuffle above
CHUNK = 2**16            # values per chunk of the parallel scatter
PARALLEL_MIN = 2**18     # threads from here on
NARROW_MIN = 2**19       # int64 results built as int32 and widened from here on
# Both sides of each, and sizes that end inside a chunk and exactly on its end.
SWITCH_SIZES = sorted({s + d for s in (SMALL_N, PARALLEL_MIN, NARROW_MIN) for d in (-1, 0, 1)}
                      | {5 * CHUNK, 5 * CHUNK + 1, 1_000_003})


def _with_threads(threads, fn, *args, **kwargs):
    with fb.set_num_threads(threads):
        return fn(*args, **kwargs)


def _thread_count():
    return len(os.listdir("/proc/self/task"))


@pytest.mark.parametrize("dtype", [np.int64, np.int32])
@pytest.mark.parametrize("n", SWITCH_SIZES)
def test_permutation_is_identical_for_every_thread_count(n, dtype):
    results = [_with_threads(t, fb.permutation, n, rng=n, dtype=dtype) for t in THREAD_COUNTS]
    np.testing.assert_array_equal(np.sort(results[0]), np.arange(n))
    for threads, result in zip(THREAD_COUNTS[1:], results[1:]):
        np.testing.assert_array_equal(result, results[0], err_msg=f"{threads} threads")


def test_permutation_with_a_generator_is_identical_for_every_thread_count():
    # A Generator is advanced by each call: the same number of draws for every count.
    results = []
    for threads in THREAD_COUNTS:
        rng = np.random.default_rng(42)
        first = _with_threads(threads, fb.permutation, 3 * PARALLEL_MIN, rng=rng)
        second = _with_threads(threads, fb.permutation, 1000, rng=rng)
        results.append((first, second))
    for first, second in results[1:]:
        np.testing.assert_array_equal(first, results[0][0])
        np.testing.assert_array_equal(second, results[0][1])


def _forced_buckets(n, bucket_bytes, chunk, seed, threads):
    out = np.empty(n, dtype=np.int64)
    _with_threads(threads, _buckets_py, np.random.PCG64(seed), out, bucket_bytes, chunk)
    return out


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 400), bucket_bytes=st.integers(8, 128), chunk=st.integers(1, 64),
       seed=st.integers(0, 2**32))
def test_property_forced_bucket_path_is_identical_for_every_thread_count(
        n, bucket_bytes, chunk, seed):
    # Tiny chunks and buckets put a few values in each, so every phase has many work
    # items for the threads to race over, and buckets are split again recursively.
    results = [_forced_buckets(n, bucket_bytes, chunk, seed, t) for t in THREAD_COUNTS]
    np.testing.assert_array_equal(np.sort(results[0]), np.arange(n))
    for result in results[1:]:
        np.testing.assert_array_equal(result, results[0])


@pytest.mark.parametrize("n, bucket_bytes, chunk", [(4, 8, 1), (5, 8, 1), (5, 16, 2),
                                                    (5, 24, 3)])
def test_parallel_bucket_path_makes_all_orders_equally_likely(n, bucket_bytes, chunk):
    # Chunks of 1-3 values each draw their ids from their own stream, buckets of 1-3
    # values shuffle from theirs: the chi-square covers the per-chunk streams, the
    # (bucket, chunk) prefix sum and the recursion.  One thread: the result is the same
    # for every count (tested above) and thread start-up would dominate 60000 calls.
    bit_generator = np.random.PCG64(1000 * n + bucket_bytes + chunk)
    out = np.empty(n, dtype=np.int64)

    def draw():
        _buckets_py(bit_generator, out, bucket_bytes, chunk)
        return out

    with fb.set_num_threads(1):
        counts = order_counts(draw, n, 500 * math.factorial(n))
    assert (counts > 0).all()
    assert chi_square_uniform_pvalue(counts) > ALPHA


@pytest.mark.slow
def test_parallel_bucket_path_on_two_threads_makes_all_orders_of_4_equally_likely():
    bit_generator = np.random.PCG64(4)
    out = np.empty(4, dtype=np.int64)

    def draw():
        _buckets_py(bit_generator, out, 8, 1)
        return out

    with fb.set_num_threads(2):
        counts = order_counts(draw, 4, 12_000)
    assert chi_square_uniform_pvalue(counts) > ALPHA


# Gathers: rows of 4 to 800 bytes (the fixed-size, generic-small and prefetching-large
# loops), batches well above the size from which the gather goes parallel (~1 MiB).
ROW_SHAPES = [(), (2,), (3,), (8,), (100,)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("row_shape", ROW_SHAPES)
def test_take_is_identical_for_every_thread_count(row_shape, dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20_000,) + row_shape).astype(dtype)
    idx = rng.integers(0, X.shape[0], size=(8 << 20) // X[0].nbytes + 7)   # ~8 MiB
    results = [_with_threads(t, fb.take, X, idx) for t in THREAD_COUNTS]
    np.testing.assert_array_equal(results[0], X[idx])
    for result in results[1:]:
        assert result.tobytes() == results[0].tobytes()


def test_take_of_rows_larger_than_a_thread_block_is_identical_for_every_thread_count():
    # 560 KB rows: every block of work is a single row.
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 70_000))
    idx = np.array([5, 39, 0, 5, 17, 22, 1, 38, 12])
    results = [_with_threads(t, fb.take, X, idx) for t in THREAD_COUNTS]
    np.testing.assert_array_equal(results[0], X[idx])
    for result in results[1:]:
        assert result.tobytes() == results[0].tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_strided_take_is_identical_for_every_thread_count(dtype):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((20_000, 64)).astype(dtype)[:, ::2]   # rows not contiguous
    idx = rng.integers(0, X.shape[0], size=50_001)
    results = [_with_threads(t, fb.take, X, idx) for t in THREAD_COUNTS]
    np.testing.assert_array_equal(results[0], X[idx])
    for result in results[1:]:
        assert result.tobytes() == results[0].tobytes()


def test_take_into_out_is_identical_for_every_thread_count():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((10_000, 32))
    idx = rng.permutation(10_000)
    outs = [np.full((10_000, 32), np.nan) for _ in THREAD_COUNTS]
    for threads, out in zip(THREAD_COUNTS, outs):
        _with_threads(threads, fb.take, X, idx, out=out)
    for out in outs:
        np.testing.assert_array_equal(out, X[idx])


def test_parallel_calls_leave_no_thread_running():
    before = _thread_count(), threading.active_count()
    with fb.set_num_threads(4):
        fb.permutation(4 * PARALLEL_MIN, rng=0)
        fb.take(np.zeros((100_000, 8)), np.arange(100_000))
    assert (_thread_count(), threading.active_count()) == before


def test_permutation_from_a_worker_thread_while_the_main_thread_holds_the_gil():
    # The kernel's interrupt check takes the GIL on its calling thread; a busy main
    # thread must delay it, never deadlock it or change the result.
    expected = _with_threads(2, fb.permutation, 20 * PARALLEL_MIN, rng=3)
    result = {}

    def work():
        result["p"] = fb.permutation(20 * PARALLEL_MIN, rng=3)

    with fb.set_num_threads(2):
        worker = threading.Thread(target=work)
        worker.start()
        deadline = time.monotonic() + 60
        while worker.is_alive() and time.monotonic() < deadline:
            sum(range(1000))                     # pure Python: holds the GIL
        worker.join(timeout=60)
    np.testing.assert_array_equal(result["p"], expected)


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signals reach the main thread only")
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_ctrl_c_interrupts_a_long_permutation_promptly_and_leaves_no_thread(dtype):
    # 4e8 values take several seconds here; the interrupt lands 0.2 s in, during the
    # parallel phases (and, for int64, before the widening pass).
    n = 400_000_000
    before = _thread_count(), threading.active_count()
    sent = []

    def interrupt():
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(0.2, interrupt)
    with fb.set_num_threads(max(2, fb.get_num_threads())):
        timer.start()
        try:
            fb.permutation(n, rng=0, dtype=dtype)
        except KeyboardInterrupt:
            raised = time.monotonic()
        else:
            try:
                timer.join()
                time.sleep(1)       # the signal lands here instead
            except KeyboardInterrupt:
                pass
            pytest.fail("the permutation finished before the interrupt (or ignored it)")
    timer.join()
    assert raised - sent[0] < 1.0
    assert (_thread_count(), threading.active_count()) == before
