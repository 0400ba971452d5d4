"""sample_weight: weighted batch means, the weighted objective and weighted moments (the
ridge closed form, repeated rows, zero weights as removed rows, unit weights as none),
and the weights that are rejected."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastbatch as fb
from linreg_reference import make_data, random_weights, ridge_closed_form


# -- the weighted objective's minimum --------------------------------------------------

@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_weighted_fit_reaches_the_weighted_ridge_closed_form(alpha):
    X, y = make_data(240, 4, noise=0.3)
    w = random_weights(len(y))
    est = fb.MiniBatchSGDRegressor(batch_size=len(y), learning_rate=0.5, epochs=600,
                                   alpha=alpha, shuffle=False).fit(X, y, sample_weight=w)
    coef, intercept = ridge_closed_form(X, y, w, alpha)
    np.testing.assert_allclose(est.coef_, coef, rtol=1e-9)
    assert est.intercept_ == pytest.approx(intercept, rel=1e-9)


def test_weighted_mini_batch_fit_approaches_the_closed_form():
    X, y = make_data(2000, 4, noise=0.3)
    w = random_weights(len(y))
    est = fb.MiniBatchSGDRegressor(batch_size=16, learning_rate=0.05, lr_decay=0.05,
                                   epochs=200, random_state=0).fit(X, y, sample_weight=w)
    coef, intercept = ridge_closed_form(X, y, w, 0.0)
    r = X @ coef + intercept - y
    assert est.loss_history_[-1] == pytest.approx(w @ r**2 / (2 * w.sum()), rel=1e-4)
    np.testing.assert_allclose(est.coef_, coef, atol=2e-3)


# -- what a weight means ---------------------------------------------------------------

@pytest.mark.parametrize("shuffle", [True, False])
def test_unit_weights_give_exactly_the_unweighted_fit(float_dtype, shuffle):
    X, y = make_data(240, 4, dtype=float_dtype, noise=0.3)
    kwargs = dict(batch_size=7, learning_rate=0.05, epochs=5, alpha=0.1, shuffle=shuffle,
                  random_state=2)
    plain = fb.MiniBatchSGDRegressor(**kwargs).fit(X, y)
    ones = fb.MiniBatchSGDRegressor(**kwargs).fit(X, y, sample_weight=np.ones(len(y)))
    np.testing.assert_array_equal(ones.coef_, plain.coef_)
    assert ones.intercept_ == plain.intercept_
    np.testing.assert_array_equal(ones.loss_history_, plain.loss_history_)


def test_the_values_of_zero_weight_rows_are_ignored():
    X, y = make_data(240, 4, noise=0.3)
    w = random_weights(len(y))
    w[::3] = 0.0
    garbage_X, garbage_y = X.copy(), y.copy()
    garbage_X[::3] = 1e6 * np.random.default_rng(5).standard_normal(garbage_X[::3].shape)
    garbage_y[::3] = -1e6
    kwargs = dict(batch_size=8, learning_rate=0.05, epochs=4, random_state=0)
    a = fb.MiniBatchSGDRegressor(**kwargs).fit(X, y, sample_weight=w)
    b = fb.MiniBatchSGDRegressor(**kwargs).fit(garbage_X, garbage_y, sample_weight=w)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    np.testing.assert_array_equal(a.loss_history_, b.loss_history_)


def test_zero_weight_rows_are_as_if_removed_in_full_batch_training():
    X, y = make_data(240, 4, noise=0.3)
    w = random_weights(len(y))
    w[::3] = 0.0
    keep = w > 0
    kwargs = dict(learning_rate=0.3, epochs=20, alpha=0.05, shuffle=False)
    weighted = fb.MiniBatchSGDRegressor(batch_size=len(y), **kwargs).fit(X, y, w)
    removed = fb.MiniBatchSGDRegressor(batch_size=len(y), **kwargs).fit(X[keep], y[keep],
                                                                        w[keep])
    np.testing.assert_allclose(weighted.coef_, removed.coef_, rtol=1e-12)
    np.testing.assert_allclose(weighted.loss_history_, removed.loss_history_, rtol=1e-12)


def test_integer_weights_are_repeated_rows_in_full_batch_training():
    # Weighted moments, weighted gradient means and the weighted objective all agree with
    # the data set where each row appears w times.
    X, y = make_data(60, 4, noise=0.3)
    w = np.random.default_rng(3).integers(0, 4, len(y)).astype(float)
    kwargs = dict(batch_size=10**6, learning_rate=0.2, epochs=15, alpha=0.1, shuffle=False)
    weighted = fb.MiniBatchSGDRegressor(**kwargs).fit(X, y, sample_weight=w)
    reps = w.astype(int)
    repeated = fb.MiniBatchSGDRegressor(**kwargs).fit(np.repeat(X, reps, axis=0),
                                                      np.repeat(y, reps))
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-10)
    np.testing.assert_allclose(weighted.loss_history_, repeated.loss_history_, rtol=1e-10)


@settings(max_examples=25, deadline=None)
@given(st.integers(-20, 20), st.integers(1, 40), st.integers(0, 2**31))
def test_scaling_all_weights_by_a_power_of_two_changes_nothing(exponent, batch_size, seed):
    X, y = make_data(50, 3, seed=seed % 1000, noise=0.3)
    w = random_weights(len(y), seed)
    kwargs = dict(batch_size=batch_size, learning_rate=0.05, epochs=2, random_state=seed)
    a = fb.MiniBatchSGDRegressor(**kwargs).fit(X, y, sample_weight=w)
    b = fb.MiniBatchSGDRegressor(**kwargs).fit(X, y, sample_weight=w * 2.0**exponent)
    np.testing.assert_array_equal(a.coef_, b.coef_)


def test_a_batch_whose_weights_sum_to_zero_makes_no_update():
    X, y = make_data(6, 2, noise=0.3)
    coef = np.array([0.5, -0.5])
    w = np.array([0.0, 0.0, 1.0, 2.0, 0.5, 1.0])
    b = fb.linreg_sgd_epoch(X, y, coef, 0.2, batch_size=2, learning_rate=0.1, alpha=0.5,
                            sample_weight=w)
    ref = np.array([0.5, -0.5])
    ref_b = fb.linreg_sgd_epoch(X, y, ref, 0.2, order=[2, 3, 4, 5], batch_size=2,
                                learning_rate=0.1, alpha=0.5, sample_weight=w)
    np.testing.assert_array_equal(coef, ref)      # not even the L2 decay
    assert b == ref_b


# -- bad weights -----------------------------------------------------------------------

@pytest.mark.parametrize("bad, message", [
    (-np.ones(240), "sample_weight must be non-negative"),
    (np.zeros(240), "zero for every sample"),
    (np.ones(239), "inconsistent numbers of samples"),
    (np.ones((240, 2)), "sample_weight should be a 1d array"),
    (np.r_[np.nan, np.ones(239)], "Input sample_weight contains NaN"),
])
def test_bad_sample_weights_are_rejected_naming_them(bad, message):
    X, y = make_data(240, 4, noise=0.3)
    with pytest.raises(ValueError, match=message):
        fb.MiniBatchSGDRegressor().fit(X, y, sample_weight=bad)


def test_nan_in_a_zero_weight_row_is_still_bad_input():
    X, y = make_data(100, 3, intercept=0.5)
    X[40, 1] = np.nan
    w = np.ones(100)
    w[40] = 0.0
    with pytest.raises(ValueError, match="row 40, column 1"):
        fb.MiniBatchSGDRegressor().fit(X, y, sample_weight=w)


# -- the scale of sample_weight does not matter ----------------------------------------

def weighted_fit(X, y, w):
    return fb.MiniBatchSGDRegressor(epochs=3, batch_size=16, random_state=0).fit(
        X, y, sample_weight=w)


def assert_same_fit(a, b):
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert a.intercept_ == b.intercept_
    np.testing.assert_array_equal(a.loss_history_, b.loss_history_)


@pytest.mark.parametrize("scale", [1e-310, 2.0**-1070, 1e-300, 1e300, 1e306, 2.0**1000])
def test_uniform_weights_of_any_scale_fit_like_unit_weights(scale):
    X, y = make_data(300, 3, intercept=0.5)
    unit = weighted_fit(X, y, np.ones(300))
    scaled = weighted_fit(X, y, np.full(300, scale))
    np.testing.assert_allclose(scaled.coef_, unit.coef_, rtol=1e-12)
    np.testing.assert_allclose(scaled.loss_history_, unit.loss_history_, rtol=1e-12)


@pytest.mark.parametrize("power", [-1070, -1000, -200, 200, 1000])
def test_weights_scaled_by_a_power_of_two_give_the_same_fit_bit_for_bit(power):
    # Subnormal (2**-1070 * w), tiny and huge weights: the fit is invariant to the
    # weights' scale, and powers of two scale them exactly.
    X, y = make_data(300, 3, intercept=0.5)
    w = np.random.default_rng(1).integers(1, 8, 300).astype(float)
    scaled = np.ldexp(w, power)
    assert (np.ldexp(scaled, -power) == w).all()
    assert_same_fit(weighted_fit(X, y, scaled), weighted_fit(X, y, w))


def test_subnormal_weights_are_not_blamed_on_the_learning_rate_and_stay_the_callers():
    X, y = make_data(300, 3, intercept=0.5)
    w = np.full(300, 1e-310)
    est = weighted_fit(X, y, w)
    assert np.isfinite(est.coef_).all()
    assert (w == 1e-310).all()                    # the caller's array is not rescaled
