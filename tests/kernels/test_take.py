"""fb.take(array, indices, out=None) == array[indices] along axis 0."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastbatch as fb


@pytest.mark.parametrize("row_shape", [(), (1,), (2,), (4,), (8,), (16,), (3, 5), (100,)])
@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.float32, np.float64, np.complex64])
def test_take_equals_fancy_indexing(row_shape, dtype):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 100, size=(50,) + row_shape).astype(dtype)
    idx = rng.integers(0, 50, size=37)
    result = fb.take(X, idx)
    assert result.dtype == dtype
    np.testing.assert_array_equal(result, X[idx])


def test_take_into_out_buffer_reuses_it():
    X = np.arange(20.0).reshape(10, 2)
    out = np.empty((3, 2))
    assert fb.take(X, [9, 0, 4], out=out) is out
    np.testing.assert_array_equal(out, X[[9, 0, 4]])


def test_negative_indices_count_from_the_end_without_touching_the_index_array():
    X = np.arange(10)
    idx = np.array([-1, -10, 3], dtype=np.int64)
    np.testing.assert_array_equal(fb.take(X, idx), X[idx])
    np.testing.assert_array_equal(idx, [-1, -10, 3])


def test_multidimensional_indices_give_indexing_shape():
    X = np.arange(30).reshape(10, 3)
    idx = np.array([[1, 2], [3, 4], [0, 9]])
    np.testing.assert_array_equal(fb.take(X, idx), X[idx])


def test_empty_indices_give_empty_result():
    X = np.arange(30).reshape(10, 3)
    assert fb.take(X, np.array([], dtype=np.int64)).shape == (0, 3)
    assert fb.take(X, []).shape == (0, 3)


@pytest.mark.parametrize("bad", [10, -11, 2**40])
def test_out_of_bounds_index_raises_index_error_naming_it(bad):
    with pytest.raises(IndexError, match=str(bad)):
        fb.take(np.arange(10), [0, bad])


def test_boolean_mask_is_rejected_with_a_hint():
    with pytest.raises(TypeError, match="flatnonzero"):
        fb.take(np.arange(3), np.array([True, False, True]))


def test_float_indices_are_rejected():
    with pytest.raises(TypeError, match="indices must be integers"):
        fb.take(np.arange(3), np.array([0.0, 1.0]))


@pytest.mark.parametrize("out, message", [
    (np.empty((2, 2)), "shape"),
    (np.empty((3, 2), dtype=np.float32), "dtype"),
    (np.empty((2, 3)).T, "C-contiguous"),
    ([[0, 0]] * 3, "ndarray"),
])
def test_bad_out_is_rejected(out, message):
    with pytest.raises((TypeError, ValueError), match=message):
        fb.take(np.arange(20.0).reshape(10, 2), [0, 1, 2], out=out)


def test_out_overlapping_the_source_is_rejected():
    X = np.arange(20.0).reshape(10, 2)
    with pytest.raises(ValueError, match="overlap"):
        fb.take(X, [0, 1], out=X[5:7])


def test_strided_and_reversed_sources():
    base = np.arange(400, dtype=np.float32).reshape(40, 10)
    for X in (base[::3], base[:, ::2], base[::-1], np.asfortranarray(base),
              base.reshape(40, 2, 5)[:, :, ::2]):
        idx = np.array([0, len(X) - 1, 5, 5, 2])
        np.testing.assert_array_equal(fb.take(X, idx), X[idx])


@settings(max_examples=60, deadline=None)
@given(X=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1,
                                                   max_side=6)),
       data=st.data())
def test_property_take_matches_numpy(X, data):
    idx = data.draw(hnp.arrays(np.int64, st.integers(0, 20),
                               elements=st.integers(-X.shape[0], X.shape[0] - 1)))
    np.testing.assert_array_equal(fb.take(X, idx), X[idx])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_out_sharing_memory_with_the_indices_gives_the_gathered_rows(dtype):
    # As np.take does: the indices are read as they were before out is written.  The
    # source holds valid row numbers, so a kernel that read already-overwritten indices
    # would gather the wrong rows (not crash).
    n, k, width = 10, 6, 4
    X = (np.arange(n * width) % n).reshape(n, width).astype(dtype)
    itemsize = np.dtype(dtype).itemsize
    buffer = np.zeros(k * width * itemsize, dtype=np.uint8)
    idx = buffer[: k * 8].view(np.int64)
    idx[:] = [9, 3, 0, 7, 7, 1]
    expected = X[idx.copy()]
    out = buffer.view(dtype).reshape(k, width)
    assert fb.take(X, idx, out=out) is out
    np.testing.assert_array_equal(out, expected)


def test_out_equal_to_the_index_array_gives_the_gathered_values():
    X = np.arange(100, 110, dtype=np.int64) % 10
    idx = np.array([5, 2, 8, 8, 0], dtype=np.int64)
    expected = X[idx.copy()]
    fb.take(X, idx, out=idx)
    np.testing.assert_array_equal(idx, expected)
