"""MiniBatchSGDRegressor as a scikit-learn estimator: its parameters, fit / partial_fit /
predict / score and the fitted attributes, random_state, warm_start, verbose, the inputs
it accepts and the errors it raises before training."""

import pickle
import re

import numpy as np
import pytest

import fastbatch as fb
from linreg_reference import make_data


# -- parameters, cloning, pickling -----------------------------------------------------

def test_parameters_are_keyword_only_as_in_scikit_learn():
    with pytest.raises(TypeError, match="positional"):
        fb.MiniBatchSGDRegressor(64)
    assert fb.MiniBatchSGDRegressor(batch_size=64).batch_size == 64


def test_get_set_params_and_pickle():
    est = fb.MiniBatchSGDRegressor(batch_size=8, alpha=0.5)
    params = est.get_params()
    assert params["batch_size"] == 8 and params["alpha"] == 0.5 and len(params) == 25
    assert est.set_params(epochs=3) is est and est.epochs == 3
    with pytest.raises(ValueError, match="invalid parameter 'nope'"):
        est.set_params(nope=1)
    X, y = make_data(203, 5)
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


@pytest.mark.parametrize("param, value", [
    ("batch_size", 0), ("learning_rate", 0.0), ("learning_rate", -1.0), ("lr_decay", -0.1),
    ("epochs", 0), ("alpha", -1.0), ("alpha", np.nan), ("standardize", "yes"),
    ("random_state", "seed"), ("fit_intercept", 1), ("tol", -1e-3), ("tol", "small"),
    ("n_iter_no_change", 0), ("early_stopping", "no"), ("validation_fraction", 0.0),
    ("validation_fraction", 1.0), ("warm_start", None), ("verbose", -1), ("verbose", 0.5),
])
def test_bad_parameters_are_rejected_at_fit_naming_them(param, value):
    X, y = make_data(203, 5)
    est = fb.MiniBatchSGDRegressor(**{param: value})   # no validation in __init__
    with pytest.raises((TypeError, ValueError), match=param):
        est.fit(X, y)


# -- fit, partial_fit, predict, score --------------------------------------------------

def test_attributes_after_fit():
    X, y = make_data(1500, 4)
    est = fb.MiniBatchSGDRegressor(batch_size=100, epochs=3, random_state=0).fit(X, y)
    assert est.n_epochs_ == 3
    assert est.n_steps_ == 45
    assert est.n_features_in_ == 4
    assert est.coef_.shape == (4,) and isinstance(est.intercept_, float)


def test_same_random_state_same_model_and_different_seeds_differ():
    X, y = make_data(203, 5)
    a = fb.MiniBatchSGDRegressor(epochs=3, random_state=1).fit(X, y).coef_
    b = fb.MiniBatchSGDRegressor(epochs=3, random_state=1).fit(X, y).coef_
    c = fb.MiniBatchSGDRegressor(epochs=3, random_state=2).fit(X, y).coef_
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_partial_fit_runs_one_more_epoch_continuing_the_schedule():
    X, y = make_data(203, 5)
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
    X, y = make_data(203, 5)
    est = fb.MiniBatchSGDRegressor(random_state=0)
    for _ in range(3):
        est.partial_fit(X, y)
    assert est.n_epochs_ == 3 and len(est.loss_history_) == 3
    with pytest.raises(ValueError, match="X has 2 features, but MiniBatchSGDRegressor is "
                                         "expecting 5 features"):
        est.partial_fit(X[:, :2], y)


def test_partial_fit_reports_one_iteration():
    X, y = make_data(240, 4, noise=0.3)
    est = fb.MiniBatchSGDRegressor(random_state=0).partial_fit(X, y).partial_fit(X, y)
    assert (est.n_iter_, est.n_epochs_) == (1, 2)


def test_score_is_r2():
    X, y = make_data(203, 5)
    est = fb.MiniBatchSGDRegressor(epochs=5, random_state=0).fit(X, y)
    pred = est.predict(X)
    r2 = 1 - ((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    assert est.score(X, y) == pytest.approx(r2, rel=1e-12)


def test_predict_before_fit_and_with_wrong_feature_count():
    X, y = make_data(203, 5)
    with pytest.raises(fb.NotFittedError, match="not fitted"):
        fb.MiniBatchSGDRegressor().predict(X)
    est = fb.MiniBatchSGDRegressor(epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but MiniBatchSGDRegressor is "
                                         "expecting 5"):
        est.predict(X[:, :3])


# -- warm start and verbose ------------------------------------------------------------

def test_warm_start_continues_the_fitted_state():
    X, y = make_data(240, 4, noise=0.3)
    kwargs = dict(batch_size=16, learning_rate=0.05, lr_decay=0.2, random_state=1)
    straight = fb.MiniBatchSGDRegressor(epochs=5, **kwargs).fit(X, y)
    warm = fb.MiniBatchSGDRegressor(epochs=3, warm_start=True, **kwargs).fit(X, y)
    warm.set_params(epochs=2).fit(X, y)
    assert (warm.n_iter_, warm.n_epochs_) == (2, 5)
    np.testing.assert_array_equal(warm.coef_, straight.coef_)
    np.testing.assert_allclose(warm.loss_history_, straight.loss_history_, rtol=1e-12)


def test_without_warm_start_fit_starts_again():
    X, y = make_data(240, 4, noise=0.3)
    est = fb.MiniBatchSGDRegressor(epochs=3, random_state=1).fit(X, y)
    first = est.coef_.copy()
    est.fit(X, y)
    np.testing.assert_array_equal(est.coef_, first)
    assert est.n_epochs_ == est.n_iter_ == 3


def test_verbose_prints_one_line_per_epoch(capsys):
    X, y = make_data(240, 4, noise=0.3)
    fb.MiniBatchSGDRegressor(epochs=4, verbose=1, random_state=0).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert [re.match(r"-- Epoch (\d+): loss ", line).group(1) for line in lines] == \
        ["1", "2", "3", "4"]


# -- the inputs it accepts -------------------------------------------------------------

def test_integer_features_convert_to_float64():
    X, y = make_data(203, 5)
    Xi = np.round(X * 10).astype(np.int32)
    kwargs = dict(epochs=3, random_state=0)
    a = fb.MiniBatchSGDRegressor(**kwargs).fit(Xi, y).coef_
    b = fb.MiniBatchSGDRegressor(**kwargs).fit(Xi.astype(np.float64), y).coef_
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("layout", ["fortran", "rows", "readonly"])
def test_non_contiguous_and_readonly_inputs_give_the_same_fit(layout):
    X, y = make_data(100, 5)
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


def test_inputs_are_not_modified():
    X, y = make_data(203, 5)
    X0, y0 = X.copy(), y.copy()
    fb.MiniBatchSGDRegressor(epochs=2).fit(X, y)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


# -- bad input is rejected before training, naming it ----------------------------------

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


def test_object_arrays_of_text_are_rejected_naming_the_argument():
    X, y = make_data(10, 5)
    with pytest.raises(ValueError, match="X has dtype object with a non-numeric value"):
        fb.MiniBatchSGDRegressor().fit(np.array([["a", 1.0]] * 10, dtype=object), y)
    with pytest.raises(ValueError, match="y has dtype object with a non-numeric value"):
        fb.MiniBatchSGDRegressor().fit(X, np.array(["a"] * 10, dtype=object))


@pytest.mark.parametrize("where", ["X", "y"])
@pytest.mark.parametrize("value, word", [(np.nan, "NaN"), (np.inf, "infinity")])
def test_non_finite_training_data_is_rejected_before_training(where, value, word):
    X, y = make_data(203, 5)
    X, y = X.copy(), y.copy()
    if where == "X":
        X[3, 1] = value
    else:
        y[3] = value
    est = fb.MiniBatchSGDRegressor()
    with pytest.raises(ValueError, match=f"Input {where} contains {word}.*row 3"):
        est.fit(X, y)
    assert not hasattr(est, "coef_")


@pytest.mark.parametrize("standardize", [True, False])
def test_nan_in_x_is_bad_input_naming_row_and_column(float_dtype, standardize):
    X, y = make_data(300, 4, dtype=float_dtype, intercept=0.5)
    X[157, 2] = np.nan
    X[201, 1] = np.inf
    est = fb.MiniBatchSGDRegressor(standardize=standardize)
    with pytest.raises(ValueError, match=r"Input X contains NaN \(first at row 157, column 2"):
        est.fit(X, y)
    assert not hasattr(est, "coef_")


@pytest.mark.parametrize("how", ["partial_fit", "warm_start"])
def test_nan_in_later_data_is_bad_input_and_keeps_the_fitted_state(how):
    X, y = make_data(300, 4, intercept=0.5)
    est = fb.MiniBatchSGDRegressor(epochs=2, random_state=0,
                                   warm_start=how == "warm_start").fit(X, y)
    before = (est.coef_.copy(), est.loss_history_.copy(), est.n_epochs_)
    bad = X.copy()
    bad[299, 0] = -np.inf
    with pytest.raises(ValueError, match="Input X contains infinity .first at row 299, col"):
        getattr(est, "partial_fit" if how == "partial_fit" else "fit")(bad, y)
    np.testing.assert_array_equal(est.coef_, before[0])
    np.testing.assert_array_equal(est.loss_history_, before[1])
    assert est.n_epochs_ == before[2]


def test_huge_finite_values_are_not_mistaken_for_infinity():
    # The finite check sums first; a sum that overflows must fall back to the exact check.
    from fastbatch._validation import check_finite_values
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_finite_values(np.full((4, 2), 1e308), "X")
        with pytest.raises(ValueError, match="Input X contains NaN"):
            check_finite_values(np.array([[1e308, 1e308], [np.nan, 1.0]]), "X")
