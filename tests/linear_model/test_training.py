"""What a fit computes: step for step the classic mini-batch loop in NumPy (the guide's
docs/guide/estimator.rst, its two pitfalls fixed), the objective in loss_history_,
fit_intercept, standardisation and constant features, convergence to the closed-form
minimum, and the stopping rule."""

import math

import numpy as np
import pytest

import fastbatch as fb
from fastbatch._rng import epoch_bit_generator, seed_sequence
from doc_blocks import code_blocks, guide_pages
from linreg_reference import (J_of, epoch_orders, make_data, random_weights, reference_fit,
                              sklearn_rule_stop)


# -- step for step against the reference -----------------------------------------------

@pytest.mark.parametrize("standardize", [True, False])
@pytest.mark.parametrize("alpha", [0.0, 0.1])
def test_matches_numpy_reference_step_for_step(standardize, alpha):
    X, y = make_data(203, 5)
    params = dict(batch_size=16, learning_rate=0.05, lr_decay=0.1, epochs=7, alpha=alpha)
    est = fb.MiniBatchSGDRegressor(**params, standardize=standardize, random_state=3)
    est.fit(X, y)
    coef, intercept, history = reference_fit(
        X, y, **params, standardize=standardize, orders=epoch_orders(3, len(X), 7))
    np.testing.assert_allclose(est.coef_, coef, rtol=1e-12, atol=1e-12)
    assert est.intercept_ == pytest.approx(intercept, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(est.loss_history_, history, rtol=1e-12)


def test_sequential_epochs_match_reference():
    X, y = make_data(50, 5)
    est = fb.MiniBatchSGDRegressor(batch_size=8, learning_rate=0.1, epochs=5, shuffle=False)
    coef, intercept, _ = reference_fit(X, y, batch_size=8, learning_rate=0.1, epochs=5)
    np.testing.assert_allclose(est.fit(X, y).coef_, coef, rtol=1e-12)
    assert est.intercept_ == pytest.approx(intercept, rel=1e-12)


def test_short_last_batch_divides_by_its_own_size():
    X, y = make_data(10, 2)
    est = fb.MiniBatchSGDRegressor(batch_size=3, learning_rate=0.1, epochs=1, shuffle=False)
    est.fit(X, y)
    right, _, _ = reference_fit(X, y, batch_size=3, learning_rate=0.1, epochs=1)
    wrong, _, _ = reference_fit(X, y, batch_size=3, learning_rate=0.1, epochs=1, divisor=3)
    np.testing.assert_allclose(est.coef_, right, rtol=1e-12)
    assert not np.allclose(est.coef_, wrong, rtol=1e-6)


def test_learning_rate_decays_per_epoch_not_per_step():
    X, y = make_data(64, 3)
    est = fb.MiniBatchSGDRegressor(batch_size=8, learning_rate=0.1, lr_decay=0.5, epochs=3,
                                   shuffle=False).fit(X, y)
    per_epoch, _, _ = reference_fit(X, y, batch_size=8, learning_rate=0.1, lr_decay=0.5,
                                    epochs=3)
    np.testing.assert_allclose(est.coef_, per_epoch, rtol=1e-12)
    # The classic code's schedule, decayed at every step, gives something else.
    per_step, _, _ = reference_fit(X, y, batch_size=8, learning_rate=0.1, lr_decay=0.5,
                                   epochs=3, decay_per_step=True)
    assert not np.allclose(est.coef_, per_step, rtol=1e-3)


def test_guide_classic_loop_is_what_the_estimator_computes():
    # Without the two pitfalls (no decay, n a multiple of B), the guide's classic code
    # (docs/guide/estimator.rst) and the estimator agree line by line.
    code = next(b.code for page in guide_pages() for b in code_blocks(page)
                if b.code.startswith("# The mini-batch loop people write"))
    X, y = make_data(96, 3, noise=0.3)
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


def test_float32_runs_natively_and_agrees_with_float64():
    X, y = make_data(203, 5)
    kwargs = dict(batch_size=16, learning_rate=0.05, epochs=20, random_state=1)
    c64 = fb.MiniBatchSGDRegressor(**kwargs).fit(X, y).coef_
    c32 = fb.MiniBatchSGDRegressor(**kwargs).fit(X.astype(np.float32), y).coef_
    np.testing.assert_allclose(c32, c64, rtol=1e-4, atol=1e-5)
    assert not np.array_equal(c32, c64)       # it really ran on float32 rows


@pytest.mark.parametrize("standardize", [True, False])
def test_without_intercept_the_model_goes_through_the_origin(standardize):
    X, y = make_data(240, 4, noise=0.3)
    est = fb.MiniBatchSGDRegressor(batch_size=len(y), learning_rate=0.05, epochs=3000,
                                   fit_intercept=False, standardize=standardize,
                                   shuffle=False).fit(X, y)
    assert est.intercept_ == 0.0
    np.testing.assert_allclose(est.coef_, np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-6)


# -- loss_history_: the objective of each epoch, read in the next epoch's pass ---------

def test_loss_history_is_the_objective_after_each_epoch():
    X, y = make_data(203, 5)
    est = fb.MiniBatchSGDRegressor(batch_size=32, learning_rate=0.05, epochs=4, alpha=0.2,
                                   random_state=0).fit(X, y)
    assert est.loss_history_.shape == (4,)
    Z = (X - X.mean(0)) / X.std(0)
    beta = est.coef_ * X.std(0)
    b = est.intercept_ + X.mean(0) @ est.coef_
    r = Z @ beta + b - y
    assert est.loss_history_[-1] == pytest.approx(r @ r / (2 * len(y)) + 0.1 * beta @ beta,
                                                  rel=1e-10)


def test_fit_loss_history_equals_separate_passes(float_dtype):
    # partial_fit computes each epoch's loss by a separate pass after it.
    X, y = make_data(240, 4, dtype=float_dtype, noise=0.3)
    w = random_weights(len(y))
    kwargs = dict(batch_size=16, learning_rate=0.05, alpha=0.1, random_state=4)
    fused = fb.MiniBatchSGDRegressor(epochs=6, **kwargs).fit(X, y, sample_weight=w)
    stepwise = fb.MiniBatchSGDRegressor(**kwargs)
    for _ in range(6):
        stepwise.partial_fit(X, y, sample_weight=w)
    np.testing.assert_array_equal(fused.coef_, stepwise.coef_)
    np.testing.assert_allclose(fused.loss_history_, stepwise.loss_history_, rtol=1e-12)


def test_partial_fit_loss_is_the_objective_of_its_parameters(float_dtype):
    X, y = make_data(240, 4, dtype=float_dtype, noise=0.3)
    w = random_weights(len(y))
    est = fb.MiniBatchSGDRegressor(batch_size=16, learning_rate=0.05, alpha=0.2,
                                   random_state=4)
    for _ in range(3):
        est.partial_fit(X, y, sample_weight=w)
        assert est.loss_history_[-1] == pytest.approx(J_of(est, X.astype(float), y, w),
                                                      rel=1e-12)


def test_early_stopping_loss_history_is_the_training_objective():
    X, y = make_data(300, 4, noise=0.3)
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


# -- standardisation: what is a constant feature ---------------------------------------

@pytest.mark.parametrize("value", [4.0, 0.1, -3.3e7, 1e-9])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_constant_feature_is_left_unscaled_and_gets_zero_weight(value, dtype):
    # 0.1 is not exact in binary: its column's computed std is rounding noise, not 0.
    X, y = make_data(1000, 3)
    X = np.column_stack([X, np.full(1000, value)]).astype(dtype)
    est = fb.MiniBatchSGDRegressor(epochs=30, learning_rate=0.05, random_state=0).fit(X, y)
    assert np.isfinite(est.coef_).all()
    assert est.coef_[-1] == pytest.approx(0.0, abs=1e-12)
    assert est.score(X, y) > 0.99


@pytest.mark.parametrize("scale", [1e-15, 1e-30, 1e15])
def test_a_feature_of_tiny_but_real_spread_is_not_constant(float_dtype, scale):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 2)) * [1.0, scale] + [0.0, 3 * scale]
    y = X @ [1.0, 2.0 / scale] + 1.0
    est = fb.MiniBatchSGDRegressor(epochs=30, learning_rate=0.05, random_state=0).fit(
        X.astype(float_dtype), y)
    assert est.score(X, y) > 0.999
    assert est.coef_[1] == pytest.approx(2.0 / scale, rel=1e-2)


@pytest.mark.parametrize("dtype, value", [
    (np.float32, 0.1), (np.float32, -7.3e-12), (np.float32, 3e38),
    (np.float64, 0.1), (np.float64, -7.3e-12), (np.float64, 1e300),
])
def test_a_repeated_value_is_constant_whatever_its_size_and_the_row_count(dtype, value):
    X, y = make_data(100_000, 2, intercept=0.5)
    X = np.column_stack([X, np.full(len(y), value)]).astype(dtype)
    est = fb.MiniBatchSGDRegressor(epochs=2, learning_rate=0.05, random_state=0).fit(X, y)
    assert est.coef_[-1] == 0.0
    assert est._state.inv_scale[-1] == 1.0


def test_huge_but_finite_features_are_standardised_correctly():
    X, y = make_data(500, 3, intercept=0.5)
    est = fb.MiniBatchSGDRegressor(epochs=40, learning_rate=0.05, random_state=0)
    est.fit(X * 1e160, y)
    assert est.score(X * 1e160, y) > 0.99
    np.testing.assert_allclose(est.coef_ * 1e160, fb.MiniBatchSGDRegressor(
        epochs=40, learning_rate=0.05, random_state=0).fit(X, y).coef_, rtol=1e-9)


# -- convergence -----------------------------------------------------------------------

def test_recovers_known_coefficients_with_wild_scales_and_offsets():
    rng = np.random.default_rng(0)
    scales = np.array([1e-3, 1.0, 1e3, 1e5])
    offsets = np.array([1e3, -50.0, 0.0, 1e6])
    X = rng.standard_normal((2000, 4)) * scales + offsets
    true = np.array([300.0, -2.0, 0.004, 1e-5])
    y = X @ true + 7.0
    est = fb.MiniBatchSGDRegressor(batch_size=32, learning_rate=0.05, epochs=60,
                                   random_state=0).fit(X, y)
    np.testing.assert_allclose(est.coef_, true, rtol=1e-6)
    assert est.intercept_ == pytest.approx(7.0, abs=1e-3)
    assert est.score(X, y) == pytest.approx(1.0, abs=1e-10)


def test_reaches_the_closed_form_ridge_minimum_on_diabetes():
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.load_diabetes(return_X_y=True)
    alpha = 0.01
    m = len(y)
    mu, sd = X.mean(0), X.std(0)
    Z = (X - mu) / sd
    # Minimiser of sum(r^2)/(2m) + alpha/2 ||beta||^2: (Z'Z/m + alpha I) beta = Z'(y-ybar)/m.
    beta = np.linalg.solve(Z.T @ Z / m + alpha * np.eye(X.shape[1]), Z.T @ (y - y.mean()) / m)
    r = Z @ beta + y.mean() - y
    J_min = r @ r / (2 * m) + alpha / 2 * beta @ beta
    # The diabetes features are strongly correlated, so SGD needs many epochs with a
    # slowly decaying step to settle at the minimum.
    est = fb.MiniBatchSGDRegressor(batch_size=32, learning_rate=0.05, lr_decay=0.01,
                                   epochs=3000, alpha=alpha, random_state=0).fit(X, y)
    assert est.loss_history_[-1] == pytest.approx(J_min, rel=1e-5)
    assert np.abs(est.coef_ * sd - beta).max() <= 0.02 * np.abs(beta).max()


# -- the stopping rule and n_iter_ -----------------------------------------------------

def test_tol_none_runs_every_epoch():
    X, y = make_data(240, 4, noise=0.3)
    est = fb.MiniBatchSGDRegressor(epochs=30, random_state=0).fit(X, y)
    assert est.n_iter_ == est.n_epochs_ == 30


def test_tol_stops_on_the_training_loss_as_scikit_learn_does():
    X, y = make_data(240, 4, noise=0.3)
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
    X, y = make_data(400, 4, noise=0.3)
    est = fb.MiniBatchSGDRegressor(batch_size=16, learning_rate=0.05, epochs=500, tol=1e-3,
                                   early_stopping=True, validation_fraction=0.2,
                                   random_state=0).fit(X, y)
    assert 5 <= est.n_iter_ < 500
    assert est.n_epochs_ == est.n_iter_ == len(est.loss_history_)
    assert est.n_steps_ == est.n_iter_ * math.ceil(320 / 16)   # 80 rows held out
    assert est.score(X, y) > 0.9


def test_early_stopping_needs_a_non_empty_validation_set():
    X, y = make_data(5, 4, noise=0.3)
    with pytest.raises(ValueError, match="validation_fraction"):
        fb.MiniBatchSGDRegressor(early_stopping=True, validation_fraction=0.99).fit(X, y)


# -- shuffle_method: the estimator visits rows in the loader's order -------------------

@pytest.mark.parametrize("method, layout", [
    ("exact", {}), ("bijective", {}), ("block", {"block_size": 10, "shuffle_window": 3}),
    ("block", {"block_size": 1, "shuffle_window": 1000}), ("block", {}),
])
def test_each_shuffle_method_visits_rows_in_the_loaders_order(method, layout):
    X, y = make_data(203, 5)
    params = dict(batch_size=16, learning_rate=0.05, lr_decay=0.1, epochs=4)
    est = fb.MiniBatchSGDRegressor(**params, random_state=3, shuffle_method=method,
                                   **layout).fit(X, y)
    # One loader batch per epoch is that epoch's whole order (blocks over X's rows: the
    # same bounds whatever the row bytes when block_size is given; natural blocks of a
    # 203-row X are one block).
    rows = fb.BatchLoader(np.arange(len(X)) if layout else X, batch_size=len(X),
                          shuffle=True, rng=3, shuffle_method=method, **layout)
    orders = []
    for e in range(4):
        rows.set_epoch(e)
        batch = next(iter(rows))
        orders.append(batch if layout else
                      np.array([np.flatnonzero((X == r).all(axis=1))[0] for r in batch]))
    coef, intercept, history = reference_fit(X, y, **params, orders=orders)
    np.testing.assert_allclose(est.coef_, coef, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(est.loss_history_, history, rtol=1e-12)


def test_a_block_shuffle_of_rows_sorted_by_target_still_converges():
    X, y = make_data(4000, 4)
    order = np.argsort(y)
    X, y = X[order], y[order]
    kwargs = dict(batch_size=32, learning_rate=0.02, epochs=5, random_state=0)
    exact = fb.MiniBatchSGDRegressor(**kwargs).fit(X, y)
    block = fb.MiniBatchSGDRegressor(**kwargs, shuffle_method="block", block_size=100,
                                     shuffle_window=8).fit(X, y)
    assert block.loss_history_[-1] == pytest.approx(exact.loss_history_[-1], rel=0.05)


@pytest.mark.parametrize("name, value, error", [
    ("shuffle_method", "blocks", ValueError), ("block_size", 0, ValueError),
    ("block_size", 1.5, TypeError), ("shuffle_window", 0, ValueError),
])
def test_bad_shuffle_parameters_are_rejected_naming_them(name, value, error):
    X, y = make_data(50, 2)
    with pytest.raises(error, match=name):
        fb.MiniBatchSGDRegressor(**{name: value}).fit(X, y)
