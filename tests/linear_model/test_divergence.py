"""Training that diverges: fb.TrainingDivergedError names the epoch and the cause (the
learning rate, or data too large for float64 sums), carries them as attributes, and the
previously fitted state (or the last finite coef) is kept."""

import pickle

import numpy as np
import pytest

import fastbatch as fb
from linreg_reference import make_data


# -- the estimator keeps its previous state --------------------------------------------

def test_divergence_raises_naming_the_epoch_and_keeps_the_previous_fit():
    X, y = make_data(203, 5)
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
    X, y = make_data(203, 5)
    est = fb.MiniBatchSGDRegressor(learning_rate=1e6, epochs=50)
    with pytest.raises(fb.TrainingDivergedError):
        est.fit(X, y)
    assert not hasattr(est, "coef_")


def test_divergence_error_carries_its_facts_as_attributes():
    X, y = make_data(240, 4, noise=0.3)
    est = fb.MiniBatchSGDRegressor(learning_rate=1e6, lr_decay=1.0, epochs=5, random_state=0)
    with pytest.raises(fb.TrainingDivergedError) as info:
        est.fit(X, y)
    exc = info.value
    assert exc.cause == "learning_rate" and exc.learning_rate == 1e6
    assert exc.epoch_learning_rate == 1e6 / (1 + exc.epoch)
    assert f"epoch {exc.epoch}" in exc.summary and str(exc).startswith(exc.summary)
    again = pickle.loads(pickle.dumps(exc))
    assert (again.epoch, again.cause, str(again)) == (exc.epoch, exc.cause, str(exc))


# -- the cause is named ----------------------------------------------------------------

def test_divergence_from_the_learning_rate_says_so():
    X, y = make_data(100, 3, intercept=0.5)
    with pytest.raises(fb.TrainingDivergedError, match="smaller learning_rate than 1e"):
        fb.linreg_sgd_epoch(X, y, np.zeros(3), 0.0, batch_size=4, learning_rate=1e30)


def test_divergence_from_huge_data_blames_the_data_not_the_learning_rate():
    X, y = make_data(100, 3, intercept=0.5)
    with pytest.raises(fb.TrainingDivergedError, match="X has values up to [0-9.e+]+ .*rescale X") as info:
        fb.linreg_sgd_epoch(X * 1e160, y, np.zeros(3), 0.0, learning_rate=1e-3)
    assert info.value.cause == "data" and "learning_rate" not in str(info.value)
    with pytest.raises(fb.TrainingDivergedError) as info:
        fb.MiniBatchSGDRegressor(standardize=False).fit(X * 1e160, y)
    assert info.value.cause == "data" and info.value.epoch == 0


def test_divergence_leaves_coef_at_the_last_finite_step():
    X, y = make_data(203, 5)
    coef = np.zeros(X.shape[1])
    with pytest.raises(fb.TrainingDivergedError):
        fb.linreg_sgd_epoch(X, y, coef, 0.0, batch_size=8, learning_rate=1e30)
    assert np.isfinite(coef).all()
