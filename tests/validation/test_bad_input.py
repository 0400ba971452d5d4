"""Bad input: a clear exception naming the argument and value, before any work."""

import numpy as np
import pytest

import fastbatch as fb


@pytest.mark.parametrize("batch_size, error, message", [
    (0, ValueError, "batch_size must be >= 1, got 0"),
    (-3, ValueError, "batch_size must be >= 1, got -3"),
    (2.5, TypeError, "batch_size must be an integer, got 2.5"),
    (3.0, TypeError, "batch_size must be an integer, got 3.0"),
    ("8", TypeError, "batch_size must be an integer, got '8'"),
    (True, TypeError, "batch_size must be an integer, got the bool True"),
    (None, TypeError, "batch_size must be an integer, got None"),
])
def test_bad_batch_size(batch_size, error, message):
    with pytest.raises(error, match=message):
        fb.BatchLoader(np.arange(10), batch_size=batch_size)
    with pytest.raises(error, match=message):
        fb.iter_batches(np.arange(10), batch_size=batch_size)
    with pytest.raises(error, match=message):
        fb.num_batches(10, batch_size)


def test_numpy_integer_batch_size_is_fine():
    assert len(fb.BatchLoader(np.arange(10), batch_size=np.int64(3))) == 4


def test_mismatched_lengths_name_both_lengths():
    with pytest.raises(ValueError, match=r"array 0 has 10 samples but array 1 has 9"):
        fb.BatchLoader(np.zeros((10, 2)), np.zeros(9))
    with pytest.raises(ValueError, match=r"array 0 has 10 samples but array 2 has 11"):
        fb.iter_batches(np.zeros(10), np.zeros(10), np.zeros(11))


def test_zero_dimensional_array_is_rejected():
    with pytest.raises(ValueError, match="0-dimensional"):
        fb.BatchLoader(np.float64(3.0))
    with pytest.raises(ValueError, match="array 1 is 0-dimensional"):
        fb.BatchLoader(np.zeros(3), np.array(5))


@pytest.mark.parametrize("array, kind", [
    (np.array([{}, {}], dtype=object), "object"),
    (np.array(["a", "b"]), "<U1"),
    (np.array([b"a", b"b"]), "S1"),
    (np.array(["2020-01-01"], dtype="datetime64[D]"), "datetime64"),
])
def test_non_numeric_arrays_are_rejected(array, kind):
    with pytest.raises(TypeError, match=kind):
        fb.BatchLoader(array)
    with pytest.raises(TypeError, match=kind):
        fb.take(array, [0])


def test_no_arrays_is_rejected():
    with pytest.raises(TypeError, match="at least one array"):
        fb.BatchLoader(batch_size=3)


@pytest.mark.parametrize("rng", ["seed", 1.5, [1, 2], object(), np.random.RandomState(0), True])
def test_rng_of_the_wrong_type_is_rejected_naming_it(rng):
    with pytest.raises(TypeError, match="rng must be None, an int seed, a numpy.random.Generator"):
        fb.BatchLoader(np.arange(5), shuffle=True, rng=rng)
    with pytest.raises(TypeError, match="rng must be"):
        fb.permutation(5, rng=rng)


def test_random_state_gets_a_hint():
    with pytest.raises(TypeError, match="default_rng"):
        fb.permutation(5, rng=np.random.RandomState(0))


def test_negative_seed_is_rejected():
    with pytest.raises(ValueError, match="non-negative int seed, got -1"):
        fb.permutation(5, rng=-1)


@pytest.mark.parametrize("n, error", [(-1, ValueError), (2.0, TypeError), ("3", TypeError)])
def test_bad_permutation_size(n, error):
    with pytest.raises(error, match="n must be"):
        fb.permutation(n)


def test_bad_permutation_dtype():
    with pytest.raises(TypeError, match="dtype must be numpy.int64 or numpy.int32"):
        fb.permutation(5, dtype=np.float64)
    with pytest.raises(ValueError, match="does not fit dtype int32"):
        fb.permutation(2**31 + 1, dtype=np.int32)


@pytest.mark.parametrize("name, value", [("shuffle", "yes"), ("drop_last", 1)])
def test_flags_must_be_bools(name, value):
    with pytest.raises(TypeError, match=f"{name} must be True or False"):
        fb.BatchLoader(np.arange(5), **{name: value})


def test_bad_input_modifies_nothing():
    X = np.arange(10.0)
    before = X.copy()
    with pytest.raises(ValueError):
        fb.BatchLoader(X, np.zeros(3))
    np.testing.assert_array_equal(X, before)
