"""The complete estimator: sample weights, fit_intercept, the stopping rule, warm start,
verbose, n_iter_, and the loss of each epoch read in the next epoch's pass."""

import math
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastbatch as fb
from fastbatch._rng import epoch_bit_generator, seed_sequence


def make_data(n=240, d=4, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * rng.uniform(0.5, 3, d) + rng.uniform(-2, 2, d)
    y = X @ rng.standard_normal(d) + 1.5 + 0.3 * rng.standard_normal(n)
    return X.astype(dtype), y


def weights(n, seed=1):
    return np.random.default_rng(seed).uniform(0.0, 3.0, n)


def J_of(est, X, y, sample_weight=None):
    """The objective of the fitted model, by a separate NumPy pass (standardised space)."""
    state = est._state
    beta = state.beta
    r = (X - state.mean) * state.inv_scale @ beta + state.intercept - y
    w = np.ones(len(y)) if sample_weight is None else sample_weight
    return (w @ r**2) / (2 * w.sum()) + est.alpha / 2 * beta @ beta


def ridge_closed_form(X, y, w, alpha):
    """Minimiser of sum(w r^2) / (2 sum w) + alpha/2 ||beta||^2 on weighted-standardised X."""
    W = w.sum()
    mu = w @ X / W
    sd = np.sqrt(w @ (X - mu) ** 2 / W)
    Z = (X - mu) / sd
    ybar = w @ y / W
    beta = np.linalg.solve(Z.T @ (w[:, None] * Z) / W + alpha * np.eye(X.shape[1]),
                           Z.T @ (w * (y - ybar)) / W)
    return beta / sd, ybar - mu @ (beta / sd)


# -- sample weights -------------------------------------------------------------------

@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_weighted_fit_reaches_the_weighted_ridge_closed_form(alpha):
    X, y = make_data()
    w = weights(len(y))
    est = fb.MiniBatchSGDRegressor(batch_size=len(y), learning_rate=0.5, epochs=600,
                                   alpha=alpha, shuffle=False).fit(X, y, sample_weight=w)
    coef, intercept = ridge_closed_form(X, y, w, alpha)
    np.testing.assert_allclose(est.coef_, coef, rtol=1e-9)
    assert est.intercept_ == pytest.approx(intercept, rel=1e-9)


def test_weighted_mini_batch_fit_approaches_the_closed_form():
    X, y = make_data(n=2000)
    w = weights(len(y))
    est = fb.MiniBatchSGDRegressor(batch_size=16, learning_rate=0.05, lr_decay=0.05,
                                   epochs=200, random_state=0).fit(X, y, sample_weight=w)
    coef, intercept = ridge_closed_form(X, y, w, 0.0)
    r = X @ coef + intercept - y
    assert est.loss_history_[-1] == pytest.approx(w @ r**2 / (2 * w.sum()), rel=1e-4)
    np.testing.assert_allclose(est.coef_, coef, atol=2e-3)


@pytest.mark.parametrize("shuffle", [True, False])
def test_unit_weights_give_exactly_the_unweighted_fit(float_dtype, shuffle):
    X, y = make_data(dtype=float_dtype)
    kwargs = dict(batch_size=7, learning_rate=0.05, epochs=5, alpha=0.1, shuffle=shuffle,
                  random_state=2)
    plain = fb.MiniBatchSGDRegressor(**kwargs).fit(X, y)
    ones = fb.MiniBatchSGDRegressor(**kwargs).fit(X, y, sample_weight=np.ones(len(y)))
    np.testing.assert_array_equal(ones.coef_, plain.coef_)
    assert ones.intercept_ == plain.intercept_
    np.testing.assert_array_equal(ones.loss_history_, plain.loss_history_)


def test_the_values_of_zero_weight_rows_are_ignored():
    X, y = make_data()
    w = weights(len(y))
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
    X, y = make_data()
    w = weights(len(y))
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
    X, y = make_data(n=60)
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
    X, y = make_data(n=50, d=3, seed=seed % 1000)
    w = weights(len(y), seed)
    kwargs = dict(batch_size=batch_size, learning_rate=0.05, epochs=2, random_state=seed)
    a = fb.MiniBatchSGDRegressor(**kwargs).fit(X, y, sample_weight=w)
    b = fb.MiniBatchSGDRegressor(**kwargs).fit(X, y, sample_weight=w * 2.0**exponent)
    np.testing.assert_array_equal(a.coef_, b.coef_)


def test_a_batch_whose_weights_sum_to_zero_makes_no_update():
    X, y = make_data(n=6, d=2)
    coef = np.array([0.5, -0.5])
    w = np.array([0.0, 0.0, 1.0, 2.0, 0.5, 1.0])
    b = fb.linreg_sgd_epoch(X, y, coef, 0.2, batch_size=2, learning_rate=0.1, alpha=0.5,
                            sample_weight=w)
    ref = np.array([0.5, -0.5])
    ref_b = fb.linreg_sgd_epoch(X, y, ref, 0.2, order=[2, 3, 4, 5], batch_size=2,
                                learning_rate=0.1, alpha=0.5, sample_weight=w)
    np.testing.assert_array_equal(coef, ref)      # not even the L2 decay
    assert b == ref_b


def test_weighted_gradient_sums_match_numpy():
    X, y = make_data()
    w = weights(len(y))
    idx = np.array([3, 9, 0, 77, 120])
    coef, b = np.linspace(-1, 1, X.shape[1]), 0.4
    g = fb.linreg_gradient(X, y, idx, coef, b, sample_weight=w)
    r = X[idx] @ coef + b - y[idx]
    np.testing.assert_allclose(g.coef_sum, X[idx].T @ (w[idx] * r), rtol=1e-12)
    assert g.intercept_sum == pytest.approx(w[idx] @ r, rel=1e-12)
    assert g.squared_sum == pytest.approx(w[idx] @ r**2, rel=1e-12)
    assert g.weight_sum == pytest.approx(w[idx].sum(), rel=1e-15)
    assert g.n == 5
    assert fb.linreg_gradient(X, y, idx, coef, b).weight_sum == 5.0


@pytest.mark.parametrize("bad, message", [
    (-np.ones(240), "sample_weight must be non-negative"),
    (np.zeros(240), "zero for every sample"),
    (np.ones(239), "inconsistent numbers of samples"),
    (np.ones((240, 2)), "sample_weight should be a 1d array"),
    (np.r_[np.nan, np.ones(239)], "Input sample_weight contains NaN"),
])
def test_bad_sample_weights_are_rejected_naming_them(bad, message):
    X, y = make_data()
    with pytest.raises(ValueError, match=message):
        fb.MiniBatchSGDRegressor().fit(X, y, sample_weight=bad)


# -- fit_intercept ----------------------------------------------------------------------

@pytest.mark.parametrize("standardize", [True, False])
def test_without_intercept_the_model_goes_through_the_origin(standardize):
    X, y = make_data()
    est = fb.MiniBatchSGDRegressor(batch_size=len(y), learning_rate=0.05, epochs=3000,
                                   fit_intercept=False, standardize=standardize,
                                   shuffle=False).fit(X, y)
    assert est.intercept_ == 0.0
    np.testing.assert_allclose(est.coef_, np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-6)


# -- the stopping rule, n_iter_, warm start ---------------------------------------------

def sklearn_rule_stop(scores, tol, patience):
    """The epoch after which scikit-learn's SGD rule stops (scores: higher is better)."""
    best, count = -math.inf, 0
    for e, s in enumerate(scores):
        count = count + 1 if s < best + tol else 0
        best = max(best, s)
        if count >= patience:
            return e
    return None


def test_tol_none_runs_every_epoch():
    X, y = make_data()
    est = fb.MiniBatchSGDRegressor(epochs=30, random_state=0).fit(X, y)
    assert est.n_iter_ == est.n_epochs_ == 30


def test_tol_stops_on_the_training_loss_as_scikit_learn_does():
    X, y = make_data()
    kwargs = dict(batch_size=16, learning_rate=0.05, random_state=0)
    stopped = fb.MiniBatchSGDRegressor(epochs=300, tol=1e-4, n_iter_no_change=3,
                                       **kwargs).fit(X, y)
    full = fb.MiniBatchSGDRegressor(epochs=300, **kwargs).fit(X, y)
    last = sklearn_rule_stop(-full.loss_history_, 1e-4, 3)
    assert last is not None and stopped.n_iter_ == last + 1 < 300
    assert stopped.n_epochs_ == len(stopped.loss_history_) == stopped.n_iter_
    # The epoch run to learn that loss is undone: the model is the one of that epoch.
    same = fb.MiniBatchSGDRegressor(epochs=last + 1, **kwargs).fit(X, y)
    np.testing.assert_array_equal(stopped.coef_, same.coef_)
    np.testing.assert_allclose(stopped.loss_history_, full.loss_history_[:last + 1],
                               rtol=1e-12)


def test_early_stopping_stops_on_the_validation_score_and_reports_n_iter():
    X, y = make_data(n=400)
    est = fb.MiniBatchSGDRegressor(batch_size=16, learning_rate=0.05, epochs=500, tol=1e-3,
                                   early_stopping=True, validation_fraction=0.2,
                                   random_state=0).fit(X, y)
    assert 5 <= est.n_iter_ < 500
    assert est.n_epochs_ == est.n_iter_ == len(est.loss_history_)
    assert est.n_steps_ == est.n_iter_ * math.ceil(320 / 16)   # 80 rows held out
    assert est.score(X, y) > 0.9


def test_early_stopping_needs_a_non_empty_validation_set():
    X, y = make_data(n=5)
    with pytest.raises(ValueError, match="validation_fraction"):
        fb.MiniBatchSGDRegressor(early_stopping=True, validation_fraction=0.99).fit(X, y)


def test_warm_start_continues_the_fitted_state():
    X, y = make_data()
    kwargs = dict(batch_size=16, learning_rate=0.05, lr_decay=0.2, random_state=1)
    straight = fb.MiniBatchSGDRegressor(epochs=5, **kwargs).fit(X, y)
    warm = fb.MiniBatchSGDRegressor(epochs=3, warm_start=True, **kwargs).fit(X, y)
    warm.set_params(epochs=2).fit(X, y)
    assert (warm.n_iter_, warm.n_epochs_) == (2, 5)
    np.testing.assert_array_equal(warm.coef_, straight.coef_)
    np.testing.assert_allclose(warm.loss_history_, straight.loss_history_, rtol=1e-12)


def test_without_warm_start_fit_starts_again():
    X, y = make_data()
    est = fb.MiniBatchSGDRegressor(epochs=3, random_state=1).fit(X, y)
    first = est.coef_.copy()
    est.fit(X, y)
    np.testing.assert_array_equal(est.coef_, first)
    assert est.n_epochs_ == est.n_iter_ == 3


def test_partial_fit_reports_one_iteration():
    X, y = make_data()
    est = fb.MiniBatchSGDRegressor(random_state=0).partial_fit(X, y).partial_fit(X, y)
    assert (est.n_iter_, est.n_epochs_) == (1, 2)


def test_verbose_prints_one_line_per_epoch(capsys):
    X, y = make_data()
    fb.MiniBatchSGDRegressor(epochs=4, verbose=1, random_state=0).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert [re.match(r"-- Epoch (\d+): loss ", line).group(1) for line in lines] == \
        ["1", "2", "3", "4"]


# -- the loss of epoch e, read during epoch e + 1 ---------------------------------------

def test_fit_loss_history_equals_separate_passes(float_dtype):
    # partial_fit computes each epoch's loss by a separate pass after it.
    X, y = make_data(dtype=float_dtype)
    w = weights(len(y))
    kwargs = dict(batch_size=16, learning_rate=0.05, alpha=0.1, random_state=4)
    fused = fb.MiniBatchSGDRegressor(epochs=6, **kwargs).fit(X, y, sample_weight=w)
    stepwise = fb.MiniBatchSGDRegressor(**kwargs)
    for _ in range(6):
        stepwise.partial_fit(X, y, sample_weight=w)
    np.testing.assert_array_equal(fused.coef_, stepwise.coef_)
    np.testing.assert_allclose(fused.loss_history_, stepwise.loss_history_, rtol=1e-12)


def test_partial_fit_loss_is_the_objective_of_its_parameters(float_dtype):
    X, y = make_data(dtype=float_dtype)
    w = weights(len(y))
    est = fb.MiniBatchSGDRegressor(batch_size=16, learning_rate=0.05, alpha=0.2,
                                   random_state=4)
    for _ in range(3):
        est.partial_fit(X, y, sample_weight=w)
        assert est.loss_history_[-1] == pytest.approx(J_of(est, X.astype(float), y, w),
                                                      rel=1e-12)


def test_early_stopping_loss_history_is_the_training_objective():
    X, y = make_data(n=300)
    kwargs = dict(batch_size=16, learning_rate=0.05, random_state=2, early_stopping=True,
                  validation_fraction=0.25)
    seen = []
    est = fb.MiniBatchSGDRegressor(epochs=4, **kwargs).fit(
        X, y, progress=lambda e, J: seen.append(J))
    rng = np.random.default_rng(seed_sequence("validation", 2, 0))
    train = np.sort(rng.permutation(300)[75:])
    assert est.loss_history_[-1] == pytest.approx(J_of(est, X[train], y[train]), rel=1e-12)
    assert seen == est.loss_history_.tolist()
    # Each earlier epoch's loss, read during the next epoch, equals a fit that ends there.
    for epochs in (1, 2, 3):
        shorter = fb.MiniBatchSGDRegressor(epochs=epochs, **kwargs).fit(X, y)
        assert shorter.loss_history_[-1] == pytest.approx(est.loss_history_[epochs - 1],
                                                          rel=1e-12)


# -- the README's line-by-line mapping --------------------------------------------------

def test_readme_classic_loop_is_what_the_estimator_computes():
    # Without the two pitfalls (no decay, n a multiple of B), the README's classic code
    # and the estimator agree line by line.
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = re.search(r"```python\n(# The mini-batch loop people write.*?)```", text,
                     re.S).group(1)
    X, y = make_data(n=96, d=3)
    n, d, B, epochs, lr, alpha = 96, 3, 16, 4, 0.05, 0.1
    orders = iter([fb.permutation(n, rng=epoch_bit_generator(7, e)) for e in range(epochs)])

    class Orders:
        def permutation(self, n):
            return next(orders)

    ns = dict(np=np, X=X, y=y, n=n, d=d, B=B, epochs=epochs, lr=lr, alpha=alpha,
              decay=1.0, rng=Orders(), J=[])
    exec(code, ns)
    est = fb.MiniBatchSGDRegressor(batch_size=B, learning_rate=lr, epochs=epochs,
                                   alpha=alpha, random_state=7).fit(X, y)
    np.testing.assert_allclose(est.coef_, ns["coef"], rtol=1e-12)
    assert est.intercept_ == pytest.approx(ns["intercept"], rel=1e-12)
    np.testing.assert_allclose(est.loss_history_, ns["J"], rtol=1e-12)


# -- the divergence exception -----------------------------------------------------------

def test_divergence_error_carries_its_facts_as_attributes():
    X, y = make_data()
    est = fb.MiniBatchSGDRegressor(learning_rate=1e6, lr_decay=1.0, epochs=5, random_state=0)
    with pytest.raises(fb.TrainingDivergedError) as info:
        est.fit(X, y)
    exc = info.value
    assert exc.cause == "learning_rate" and exc.learning_rate == 1e6
    assert exc.epoch_learning_rate == 1e6 / (1 + exc.epoch)
    assert f"epoch {exc.epoch}" in exc.summary and str(exc).startswith(exc.summary)
    again = pickle.loads(pickle.dumps(exc))
    assert (again.epoch, again.cause, str(again)) == (exc.epoch, exc.cause, str(exc))
