"""MiniBatchSGDRegressor and the fused kernels, against a plain NumPy reference."""

import pickle

import numpy as np
import pytest

import fastbatch as fb
from fastbatch._rng import epoch_bit_generator


def epoch_orders(seed, n, epochs):
    """The permutations the estimator uses for random_state=seed."""
    return [fb.permutation(n, rng=epoch_bit_generator(seed, e)) for e in range(epochs)]


def reference_fit(X, y, *, batch_size, learning_rate, lr_decay=0.0, epochs, alpha=0.0,
                  standardize=True, orders=None, divisor=None, decay_per_step=False):
    """The classic mini-batch loop in plain NumPy, written from DESIGN.md's maths."""
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    if standardize:
        mu, sd = X.mean(axis=0), X.std(axis=0)
        sd = np.where(sd > 0, sd, 1.0)
    else:
        mu, sd = np.zeros(d), np.ones(d)
    Z = (X - mu) * (1.0 / sd)
    beta, b, history, step = np.zeros(d), 0.0, [], 0
    for e in range(epochs):
        lr = learning_rate / (1.0 + lr_decay * e)
        order = np.arange(n) if orders is None else orders[e]
        for start in range(0, n, batch_size):
            if decay_per_step:          # the pitfall: the decay counts steps, not epochs
                lr = learning_rate / (1.0 + lr_decay * step)
                step += 1
            idx = order[start:start + batch_size]
            k = len(idx) if divisor is None else divisor
            r = Z[idx] @ beta + b - y[idx]
            g = Z[idx].T @ r / k + alpha * beta
            gb = r.sum() / k
            beta = beta - lr * g
            b = b - lr * gb
        r = Z @ beta + b - y
        history.append(r @ r / (2 * n) + alpha / 2 * beta @ beta)
    coef = beta / sd
    return coef, b - mu @ coef, np.array(history)


def make_data(n=203, d=5, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * rng.uniform(0.5, 3, d) + rng.uniform(-2, 2, d)
    true = rng.standard_normal(d)
    y = X @ true + 1.5 + 0.1 * rng.standard_normal(n)
    return X.astype(dtype), y, true


# -- step for step against the reference ---------------------------------------------

@pytest.mark.parametrize("standardize", [True, False])
@pytest.mark.parametrize("alpha", [0.0, 0.1])
def test_matches_numpy_reference_step_for_step(standardize, alpha):
    X, y, _ = make_data()
    params = dict(batch_size=16, learning_rate=0.05, lr_decay=0.1, epochs=7, alpha=alpha)
    est = fb.MiniBatchSGDRegressor(**params, standardize=standardize, random_state=3)
    est.fit(X, y)
    coef, intercept, history = reference_fit(
        X, y, **params, standardize=standardize, orders=epoch_orders(3, len(X), 7))
    np.testing.assert_allclose(est.coef_, coef, rtol=1e-12, atol=1e-12)
    assert est.intercept_ == pytest.approx(intercept, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(est.loss_history_, history, rtol=1e-12)


def test_sequential_epochs_match_reference():
    X, y, _ = make_data(n=50)
    est = fb.MiniBatchSGDRegressor(batch_size=8, learning_rate=0.1, epochs=5, shuffle=False)
    coef, intercept, _ = reference_fit(X, y, batch_size=8, learning_rate=0.1, epochs=5)
    np.testing.assert_allclose(est.fit(X, y).coef_, coef, rtol=1e-12)
    assert est.intercept_ == pytest.approx(intercept, rel=1e-12)


def test_short_last_batch_divides_by_its_own_size():
    X, y, _ = make_data(n=10, d=2)
    est = fb.MiniBatchSGDRegressor(batch_size=3, learning_rate=0.1, epochs=1, shuffle=False)
    est.fit(X, y)
    right, _, _ = reference_fit(X, y, batch_size=3, learning_rate=0.1, epochs=1)
    wrong, _, _ = reference_fit(X, y, batch_size=3, learning_rate=0.1, epochs=1, divisor=3)
    np.testing.assert_allclose(est.coef_, right, rtol=1e-12)
    assert not np.allclose(est.coef_, wrong, rtol=1e-6)


def test_learning_rate_decays_per_epoch_not_per_step():
    X, y, _ = make_data(n=64, d=3)
    est = fb.MiniBatchSGDRegressor(batch_size=8, learning_rate=0.1, lr_decay=0.5, epochs=3,
                                   shuffle=False).fit(X, y)
    per_epoch, _, _ = reference_fit(X, y, batch_size=8, learning_rate=0.1, lr_decay=0.5,
                                    epochs=3)
    np.testing.assert_allclose(est.coef_, per_epoch, rtol=1e-12)
    # The classic code's schedule, decayed at every step, gives something else.
    per_step, _, _ = reference_fit(X, y, batch_size=8, learning_rate=0.1, lr_decay=0.5,
                                   epochs=3, decay_per_step=True)
    assert not np.allclose(est.coef_, per_step, rtol=1e-3)


def test_loss_history_is_the_objective_after_each_epoch():
    X, y, _ = make_data()
    est = fb.MiniBatchSGDRegressor(batch_size=32, learning_rate=0.05, epochs=4, alpha=0.2,
                                   random_state=0).fit(X, y)
    assert est.loss_history_.shape == (4,)
    Z = (X - X.mean(0)) / X.std(0)
    beta = est.coef_ * X.std(0)
    b = est.intercept_ + X.mean(0) @ est.coef_
    r = Z @ beta + b - y
    assert est.loss_history_[-1] == pytest.approx(r @ r / (2 * len(y)) + 0.1 * beta @ beta,
                                                  rel=1e-10)


def test_float32_runs_natively_and_agrees_with_float64():
    X, y, _ = make_data()
    kwargs = dict(batch_size=16, learning_rate=0.05, epochs=20, random_state=1)
    c64 = fb.MiniBatchSGDRegressor(**kwargs).fit(X, y).coef_
    c32 = fb.MiniBatchSGDRegressor(**kwargs).fit(X.astype(np.float32), y).coef_
    np.testing.assert_allclose(c32, c64, rtol=1e-4, atol=1e-5)
    assert not np.array_equal(c32, c64)       # it really ran on float32 rows


def test_integer_features_convert_to_float64():
    X, y, _ = make_data()
    Xi = np.round(X * 10).astype(np.int32)
    kwargs = dict(epochs=3, random_state=0)
    a = fb.MiniBatchSGDRegressor(**kwargs).fit(Xi, y).coef_
    b = fb.MiniBatchSGDRegressor(**kwargs).fit(Xi.astype(np.float64), y).coef_
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("layout", ["fortran", "rows", "readonly"])
def test_non_contiguous_and_readonly_inputs_give_the_same_fit(layout):
    X, y, _ = make_data(n=100)
    if layout == "fortran":
        Xv, yv = np.asfortranarray(X), y
    elif layout == "rows":
        big = np.repeat(X, 2, axis=0)
        Xv, yv = big[::2], y
    else:
        Xv = X.copy()
        Xv.flags.writeable = False
        yv = y
    kwargs = dict(epochs=3, random_state=0)
    np.testing.assert_array_equal(fb.MiniBatchSGDRegressor(**kwargs).fit(Xv, yv).coef_,
                                  fb.MiniBatchSGDRegressor(**kwargs).fit(X, y).coef_)


# -- convergence on real and synthetic problems ------------------------------------------

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


@pytest.mark.parametrize("value", [4.0, 0.1, -3.3e7, 1e-9])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_constant_feature_is_left_unscaled_and_gets_zero_weight(value, dtype):
    # 0.1 is not exact in binary: its column's computed std is rounding noise, not 0.
    X, y, _ = make_data(n=1000, d=3)
    X = np.column_stack([X, np.full(1000, value)]).astype(dtype)
    est = fb.MiniBatchSGDRegressor(epochs=30, learning_rate=0.05, random_state=0).fit(X, y)
    assert np.isfinite(est.coef_).all()
    assert est.coef_[-1] == pytest.approx(0.0, abs=1e-12)
    assert est.score(X, y) > 0.99


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


# -- the estimator protocol ---------------------------------------------------------------

def test_attributes_after_fit():
    X, y, _ = make_data(n=1500, d=4)
    est = fb.MiniBatchSGDRegressor(batch_size=100, epochs=3, random_state=0).fit(X, y)
    assert est.n_epochs_ == 3
    assert est.n_steps_ == 45
    assert est.n_features_in_ == 4
    assert est.coef_.shape == (4,) and isinstance(est.intercept_, float)


def test_partial_fit_runs_one_more_epoch_continuing_the_schedule():
    X, y, _ = make_data()
    kwargs = dict(batch_size=16, learning_rate=0.05, lr_decay=0.3, random_state=4)
    full = fb.MiniBatchSGDRegressor(epochs=3, **kwargs).fit(X, y)
    part = fb.MiniBatchSGDRegressor(epochs=2, **kwargs).fit(X, y).partial_fit(X, y)
    assert part.n_epochs_ == 3
    np.testing.assert_array_equal(part.coef_, full.coef_)
    # The loss of the 2-epoch fit's last epoch comes from a final pass in row order; in
    # the 3-epoch fit it is summed during epoch 2's pass, in that epoch's order: the same
    # sum up to rounding (bit-equal only for some seeds).
    np.testing.assert_allclose(part.loss_history_, full.loss_history_, rtol=1e-13)


def test_partial_fit_from_scratch_then_more():
    X, y, _ = make_data()
    est = fb.MiniBatchSGDRegressor(random_state=0)
    for _ in range(3):
        est.partial_fit(X, y)
    assert est.n_epochs_ == 3 and len(est.loss_history_) == 3
    with pytest.raises(ValueError, match="X has 2 features, but MiniBatchSGDRegressor is "
                                         "expecting 5 features"):
        est.partial_fit(X[:, :2], y)


def test_same_random_state_same_model_and_different_seeds_differ():
    X, y, _ = make_data()
    a = fb.MiniBatchSGDRegressor(epochs=3, random_state=1).fit(X, y).coef_
    b = fb.MiniBatchSGDRegressor(epochs=3, random_state=1).fit(X, y).coef_
    c = fb.MiniBatchSGDRegressor(epochs=3, random_state=2).fit(X, y).coef_
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_get_set_params_and_pickle():
    est = fb.MiniBatchSGDRegressor(batch_size=8, alpha=0.5)
    params = est.get_params()
    assert params["batch_size"] == 8 and params["alpha"] == 0.5 and len(params) == 15
    assert est.set_params(epochs=3) is est and est.epochs == 3
    with pytest.raises(ValueError, match="invalid parameter 'nope'"):
        est.set_params(nope=1)
    X, y, _ = make_data()
    est.fit(X, y)
    clone = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(clone.predict(X), est.predict(X))
    assert "batch_size=8" in repr(est)


def test_sklearn_clone_and_check_estimator():
    estimator_checks = pytest.importorskip("sklearn.utils.estimator_checks")
    from sklearn.base import clone
    est = fb.MiniBatchSGDRegressor(batch_size=7, random_state=0)
    assert clone(est).get_params() == est.get_params()
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator_checks.check_estimator(fb.MiniBatchSGDRegressor())


def test_score_is_r2():
    X, y, _ = make_data()
    est = fb.MiniBatchSGDRegressor(epochs=5, random_state=0).fit(X, y)
    pred = est.predict(X)
    r2 = 1 - ((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    assert est.score(X, y) == pytest.approx(r2, rel=1e-12)


# -- divergence and bad input --------------------------------------------------------------

def test_divergence_raises_naming_the_epoch_and_keeps_the_previous_fit():
    X, y, _ = make_data()
    est = fb.MiniBatchSGDRegressor(epochs=5, random_state=0).fit(X, y)
    before = (est.coef_.copy(), est.intercept_, est.n_epochs_)
    est.set_params(learning_rate=1e6)
    with pytest.raises(fb.TrainingDivergedError, match=r"epoch \d+.*smaller learning_rate"):
        est.fit(X, y)
    np.testing.assert_array_equal(est.coef_, before[0])
    assert (est.intercept_, est.n_epochs_) == before[1:]
    est.set_params(learning_rate=1e30)      # overflows within the one epoch it runs
    with pytest.raises(fb.TrainingDivergedError, match="epoch 5"):
        est.partial_fit(X, y)
    assert est.n_epochs_ == before[2]


def test_divergence_on_an_unfitted_estimator_leaves_it_unfitted():
    X, y, _ = make_data()
    est = fb.MiniBatchSGDRegressor(learning_rate=1e6, epochs=50)
    with pytest.raises(fb.TrainingDivergedError):
        est.fit(X, y)
    assert not hasattr(est, "coef_")


@pytest.mark.parametrize("where", ["X", "y"])
@pytest.mark.parametrize("value, word", [(np.nan, "NaN"), (np.inf, "infinity")])
def test_non_finite_training_data_is_rejected_before_training(where, value, word):
    X, y, _ = make_data()
    X, y = X.copy(), y.copy()
    if where == "X":
        X[3, 1] = value
    else:
        y[3] = value
    est = fb.MiniBatchSGDRegressor()
    with pytest.raises(ValueError, match=f"Input {where} contains {word}.*row 3"):
        est.fit(X, y)
    assert not hasattr(est, "coef_")


def test_huge_finite_values_are_not_mistaken_for_infinity():
    # The finite check sums first; a sum that overflows must fall back to the exact check.
    from fastbatch._validation import check_finite_values
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_finite_values(np.full((4, 2), 1e308), "X")
        with pytest.raises(ValueError, match="Input X contains NaN"):
            check_finite_values(np.array([[1e308, 1e308], [np.nan, 1.0]]), "X")


@pytest.mark.parametrize("X, y, message", [
    (np.zeros(5), np.zeros(5), "Expected 2D array"),
    (np.zeros((5, 2)), np.zeros(4), "X has 5, y has 4"),
    (np.zeros((5, 2)), np.zeros((5, 2)), "y should be a 1d array"),
    (np.zeros((5, 2)), None, "requires y"),
    (np.zeros((0, 2)), np.zeros(0), "0 sample"),
    (np.zeros((5, 2), dtype=complex), np.zeros(5), "Complex data not supported"),
])
def test_bad_shapes_are_rejected(X, y, message):
    with pytest.raises(ValueError, match=message):
        fb.MiniBatchSGDRegressor().fit(X, y)


@pytest.mark.parametrize("param, value", [
    ("batch_size", 0), ("learning_rate", 0.0), ("learning_rate", -1.0), ("lr_decay", -0.1),
    ("epochs", 0), ("alpha", -1.0), ("alpha", np.nan), ("standardize", "yes"),
    ("random_state", "seed"), ("fit_intercept", 1), ("tol", -1e-3), ("tol", "small"),
    ("n_iter_no_change", 0), ("early_stopping", "no"), ("validation_fraction", 0.0),
    ("validation_fraction", 1.0), ("warm_start", None), ("verbose", -1), ("verbose", 0.5),
])
def test_bad_parameters_are_rejected_at_fit_naming_them(param, value):
    X, y, _ = make_data()
    est = fb.MiniBatchSGDRegressor(**{param: value})   # no validation in __init__
    with pytest.raises((TypeError, ValueError), match=param):
        est.fit(X, y)


def test_predict_before_fit_and_with_wrong_feature_count():
    X, y, _ = make_data()
    with pytest.raises(fb.NotFittedError, match="not fitted"):
        fb.MiniBatchSGDRegressor().predict(X)
    est = fb.MiniBatchSGDRegressor(epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but MiniBatchSGDRegressor is "
                                         "expecting 5"):
        est.predict(X[:, :3])


def test_inputs_are_not_modified():
    X, y, _ = make_data()
    X0, y0 = X.copy(), y.copy()
    fb.MiniBatchSGDRegressor(epochs=2).fit(X, y)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


# -- low-level entry points -----------------------------------------------------------------

def test_linreg_sgd_epoch_is_one_estimator_epoch():
    X, y, _ = make_data()
    order = fb.permutation(len(X), rng=5)
    coef = np.zeros(X.shape[1])
    b = fb.linreg_sgd_epoch(X, y, coef, 0.0, order=order, batch_size=16, learning_rate=0.05)
    ref, ref_b, _ = reference_fit(X, y, batch_size=16, learning_rate=0.05, epochs=1,
                                  standardize=False, orders=[order])
    np.testing.assert_allclose(coef, ref, rtol=1e-12)
    assert b == pytest.approx(ref_b, rel=1e-12)


def test_linreg_gradient_sums_match_numpy_and_add_across_parts():
    X, y, _ = make_data()
    mean, scale = X.mean(0), X.std(0)
    coef, b = np.linspace(-1, 1, X.shape[1]), 0.3
    idx = np.array([5, 0, 17, 99, 42, 7])
    g = fb.linreg_gradient(X, y, idx, coef, b, mean=mean, scale=scale)
    Z = (X[idx] - mean) / scale
    r = Z @ coef + b - y[idx]
    np.testing.assert_allclose(g.coef_sum, Z.T @ r, rtol=1e-12)
    assert g.intercept_sum == pytest.approx(r.sum(), rel=1e-12)
    assert g.squared_sum == pytest.approx(r @ r, rel=1e-12)
    assert g.n == 6
    a = fb.linreg_gradient(X, y, idx[:2], coef, b, mean=mean, scale=scale)
    c = fb.linreg_gradient(X, y, idx[2:], coef, b, mean=mean, scale=scale)
    np.testing.assert_allclose(a.coef_sum + c.coef_sum, g.coef_sum, rtol=1e-12)


def test_divergence_leaves_coef_at_the_last_finite_step():
    X, y, _ = make_data()
    coef = np.zeros(X.shape[1])
    with pytest.raises(fb.TrainingDivergedError):
        fb.linreg_sgd_epoch(X, y, coef, 0.0, batch_size=8, learning_rate=1e30)
    assert np.isfinite(coef).all()


def test_object_arrays_of_text_are_rejected_naming_the_argument():
    X, y, _ = make_data(n=10)
    with pytest.raises(ValueError, match="X has dtype object with a non-numeric value"):
        fb.MiniBatchSGDRegressor().fit(np.array([["a", 1.0]] * 10, dtype=object), y)
    with pytest.raises(ValueError, match="y has dtype object with a non-numeric value"):
        fb.MiniBatchSGDRegressor().fit(X, np.array(["a"] * 10, dtype=object))


def test_linreg_sgd_epoch_rejects_a_coef_it_cannot_update_in_place():
    X, y, _ = make_data()
    with pytest.raises(TypeError, match="coef must be a C-contiguous float64"):
        fb.linreg_sgd_epoch(X, y, [0.0] * 5, 0.0)


@pytest.mark.parametrize("shape", [(1, 3), (7, 2), (10_000, 5), (50_000, 40)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_pass_column_moments_match_numpy(shape, dtype):
    rng = np.random.default_rng(1)
    X = (rng.standard_normal(shape) * 3 + 1e4).astype(dtype)  # an offset: cancellation
    mean, std = column_moments(X)
    np.testing.assert_allclose(mean, X.mean(axis=0, dtype=np.float64), rtol=1e-13)
    np.testing.assert_allclose(std, X.std(axis=0, dtype=np.float64), rtol=1e-9)
    strided = np.repeat(X, 2, axis=0)[::2]
    np.testing.assert_array_equal(column_moments(strided)[0], mean)


def column_moments(X, sample_weight=None, threads=1):
    """(mean, std) of the columns by the one-pass kernel."""
    from fastbatch._linreg import LinregData
    d = X.shape[1]
    data = LinregData(X, np.zeros(len(X)), sample_weight, np.zeros(d), np.ones(d), threads)
    mean, m2, weight = data.moments()
    return mean, np.sqrt(m2 / weight)


def test_check_input_false_skips_only_the_finite_scan():
    X, y, _ = make_data()
    idx = np.arange(10)
    bad = X.copy()
    bad[50, 0] = np.nan                       # outside the batch
    with pytest.raises(ValueError, match="Input X contains NaN"):
        fb.linreg_gradient(bad, y, idx, np.zeros(5), 0.0)
    g = fb.linreg_gradient(bad, y, idx, np.zeros(5), 0.0, check_input=False)
    np.testing.assert_array_equal(g.coef_sum, fb.linreg_gradient(X, y, idx, np.zeros(5),
                                                                 0.0).coef_sum)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        fb.linreg_gradient(X, y[:5], idx, np.zeros(5), 0.0, check_input=False)
