"""The linear-regression kernels under threads, interrupts, extreme values and bad input
to the low-level API: the same results on any thread count, messages that name the
argument, and a divergence blamed on its real cause."""

import _thread
import threading
import time

import numpy as np
import pytest

import fastbatch as fb
from fastbatch._linreg import LinregData


def make_data(n, d, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((n, d)) * rng.uniform(0.5, 3, d) + rng.uniform(-2, 2, d))
    y = X @ rng.standard_normal(d) + 0.5 + 0.1 * rng.standard_normal(n)
    return X.astype(dtype), y


@pytest.fixture
def threads():
    """Set the thread count the kernels read (fb.set_num_threads), restored afterwards."""
    limits = []
    yield lambda k: limits.append(fb.set_num_threads(k))
    if limits:
        limits[0].__exit__(None, None, None)


# -- threads never change a result --------------------------------------------------------

@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("d", [12, 40])
def test_fit_is_bit_identical_on_any_thread_count(threads, float_dtype, shuffle, weighted, d):
    # Large enough for the reading helper threads and the parallel passes to start; 40
    # features in sequence take the direct (unstaged) path on one thread.
    X, y = make_data(30_000, d, dtype=float_dtype)
    w = np.random.default_rng(1).uniform(0, 2, len(y)) if weighted else None
    kwargs = dict(batch_size=64, learning_rate=0.02, epochs=3, alpha=0.01, shuffle=shuffle,
                  random_state=0)
    fits = []
    for k in (1, 2, 3, 8):
        threads(k)
        fits.append(fb.MiniBatchSGDRegressor(**kwargs).fit(X, y, sample_weight=w))
    for other in fits[1:]:
        np.testing.assert_array_equal(other.coef_, fits[0].coef_)
        assert other.intercept_ == fits[0].intercept_
        np.testing.assert_array_equal(other.loss_history_, fits[0].loss_history_)


def test_kernels_are_bit_identical_on_any_thread_count(float_dtype):
    X, y = make_data(50_000, 7, dtype=float_dtype)
    d = X.shape[1]
    order = fb.permutation(len(y), rng=3)
    results = []
    for k in (1, 2, 5):
        data = LinregData(X, y, None, X.mean(0, dtype=float), 1 / X.std(0, dtype=float), k)
        beta = np.zeros(d)
        _, b, _ = data.sgd_epoch(order, beta, 0.0, 100, 0.05, 0.0, True, False)
        _, b, previous = data.sgd_epoch(order, beta, b, 100, 0.05, 0.0, True, True)
        results.append((beta.tolist(), b, previous, data.loss_sums(None, beta, b),
                        [a.tolist() for a in data.moments()[:2]]))
    assert results[1] == results[0] and results[2] == results[0]


# -- the vector row loops give the scalar reference loops' bits ----------------------------

@pytest.fixture
def general_loops():
    """Run the body with the scalar reference row loops; restored afterwards."""
    from fastbatch._linreg import _use_vector_loops
    yield lambda: _VectorLoopsOff(_use_vector_loops)


class _VectorLoopsOff:
    def __init__(self, switch):
        self.switch = switch

    def __enter__(self):
        self.previous = self.switch(False)

    def __exit__(self, *exc):
        self.switch(self.previous)


def kernel_results(X, y, w, order, threads):
    """Every kernel output (epochs with and without the previous loss, loss, gradient,
    moments) as exact bytes."""
    d = X.shape[1]
    data = LinregData(X, y, w, X.mean(0, dtype=float), 1 / (X.std(0, dtype=float) + 1),
                      threads)
    beta = np.zeros(d)
    _, b, _ = data.sgd_epoch(order, beta, 0.25, 7, 0.05, 0.01, True, False)
    _, b, previous = data.sgd_epoch(order, beta, b, 32, 0.05, 0.01, True, True)
    _, grad, sums = data.gradient(order, beta, b)
    return (beta.tobytes(), np.float64(b).tobytes(), np.array(previous).tobytes(),
            np.array(data.loss_sums(order, beta, b)).tobytes(), grad.tobytes(),
            np.array(sums).tobytes(), [a.tobytes() for a in data.moments(order)[:2]])


@pytest.mark.parametrize("d", [*range(1, 18), 31, 40, 101])
def test_vector_loops_give_the_reference_loops_bits(general_loops, float_dtype, d):
    # Values large and small, weights with zeros, a shuffled order with repeats, rows in
    # sequence: every d up to 16 takes a loop compiled for it, larger d the general one;
    # on one thread in sequence, d >= 16 takes the direct (fused) path.
    rng = np.random.default_rng(d)
    n = 3000
    X = (rng.standard_normal((n, d)) * 10.0 ** rng.integers(-3, 4, d)).astype(float_dtype)
    X[::97] = 0.0
    y = rng.standard_normal(n) * 5
    w = rng.uniform(0, 2, n) * (rng.random(n) > 0.1)
    order = rng.integers(0, n, 2 * n)
    for threads, weights, rows in ((1, None, None), (1, w, None), (2, w, order),
                                   (1, w, order), (3, None, order), (2, None, None)):
        fast = kernel_results(X, y, weights, rows, threads)
        with general_loops():
            general = kernel_results(X, y, weights, rows, threads)
        assert fast == general


@pytest.mark.parametrize("d", [5, 40])
def test_vector_loops_stop_at_the_same_non_finite_row(general_loops, d):
    X, y = make_data(500, d)
    X[321, 3] = np.inf
    beta_fast, beta_general = np.zeros(d), np.zeros(d)
    data = LinregData(X, y, None, np.zeros(d), np.ones(d), 1)
    fast = data.sgd_epoch(None, beta_fast, 0.0, 16, 0.01, 0.0, True, False)
    with general_loops():
        general = data.sgd_epoch(None, beta_general, 0.0, 16, 0.01, 0.0, True, False)
    assert fast[0] == general[0] != 0
    assert beta_fast.tobytes() == beta_general.tobytes() and fast[1] == general[1]


# -- interrupts ------------------------------------------------------------------------------

@pytest.mark.slow
def test_ctrl_c_stops_a_long_fit_quickly_and_keeps_the_previous_state():
    X, y = make_data(400_000, 20)
    est = fb.MiniBatchSGDRegressor(epochs=1, random_state=0).fit(X[:1000], y[:1000])
    before = (est.coef_.copy(), est.intercept_, est.n_epochs_)
    est.set_params(epochs=10_000)
    timer = threading.Timer(0.5, _thread.interrupt_main)
    started = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, y)
    assert time.perf_counter() - started < 0.5 + 1.0
    np.testing.assert_array_equal(est.coef_, before[0])
    assert (est.intercept_, est.n_epochs_) == before[1:]


@pytest.mark.parametrize("n_threads", [1, 2])
def test_one_long_kernel_call_notices_ctrl_c_within_half_a_second(n_threads):
    # 5e6 visits of wide rows: about a minute of work in one call.
    X, y = make_data(50, 20_000)
    data = LinregData(X, y, None, np.zeros(20_000), np.ones(20_000), n_threads)
    order = np.tile(np.arange(50), 100_000)
    beta = np.zeros(20_000)
    timer = threading.Timer(0.2, _thread.interrupt_main)
    started = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        data.sgd_epoch(order, beta, 0.0, 8, 1e-9, 0.0, True, True)
    assert time.perf_counter() - started < 0.2 + 0.5 + 0.3


# -- standardisation: what is a constant feature ---------------------------------------

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
    X, y = make_data(100_000, 2)
    X = np.column_stack([X, np.full(len(y), value)]).astype(dtype)
    est = fb.MiniBatchSGDRegressor(epochs=2, learning_rate=0.05, random_state=0).fit(X, y)
    assert est.coef_[-1] == 0.0
    assert est._state.inv_scale[-1] == 1.0


def test_huge_but_finite_features_are_standardised_correctly():
    X, y = make_data(500, 3)
    est = fb.MiniBatchSGDRegressor(epochs=40, learning_rate=0.05, random_state=0)
    est.fit(X * 1e160, y)
    assert est.score(X * 1e160, y) > 0.99
    np.testing.assert_allclose(est.coef_ * 1e160, fb.MiniBatchSGDRegressor(
        epochs=40, learning_rate=0.05, random_state=0).fit(X, y).coef_, rtol=1e-9)


# -- non-finite input rides on the passes, still reported as bad input -------------------

@pytest.mark.parametrize("standardize", [True, False])
def test_nan_in_x_is_bad_input_naming_row_and_column(float_dtype, standardize):
    X, y = make_data(300, 4, dtype=float_dtype)
    X[157, 2] = np.nan
    X[201, 1] = np.inf
    est = fb.MiniBatchSGDRegressor(standardize=standardize)
    with pytest.raises(ValueError, match=r"Input X contains NaN \(first at row 157, column 2"):
        est.fit(X, y)
    assert not hasattr(est, "coef_")


@pytest.mark.parametrize("how", ["partial_fit", "warm_start"])
def test_nan_in_later_data_is_bad_input_and_keeps_the_fitted_state(how):
    X, y = make_data(300, 4)
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


def test_nan_in_a_zero_weight_row_is_still_bad_input():
    X, y = make_data(100, 3)
    X[40, 1] = np.nan
    w = np.ones(100)
    w[40] = 0.0
    with pytest.raises(ValueError, match="row 40, column 1"):
        fb.MiniBatchSGDRegressor().fit(X, y, sample_weight=w)


# -- divergence names its cause --------------------------------------------------------

def test_divergence_from_huge_data_blames_the_data_not_the_learning_rate():
    X, y = make_data(100, 3)
    with pytest.raises(fb.TrainingDivergedError, match="X has values up to [0-9.e+]+ .*rescale X") as info:
        fb.linreg_sgd_epoch(X * 1e160, y, np.zeros(3), 0.0, learning_rate=1e-3)
    assert info.value.cause == "data" and "learning_rate" not in str(info.value)
    with pytest.raises(fb.TrainingDivergedError) as info:
        fb.MiniBatchSGDRegressor(standardize=False).fit(X * 1e160, y)
    assert info.value.cause == "data" and info.value.epoch == 0


def test_divergence_from_the_learning_rate_says_so():
    X, y = make_data(100, 3)
    with pytest.raises(fb.TrainingDivergedError, match="smaller learning_rate than 1e"):
        fb.linreg_sgd_epoch(X, y, np.zeros(3), 0.0, batch_size=4, learning_rate=1e30)


@pytest.mark.parametrize("name", ["mean", "scale", "coef"])
def test_nan_parameters_are_rejected_before_any_work(name):
    X, y = make_data(20, 3)
    kwargs = dict(mean=np.zeros(3), scale=np.ones(3))
    coef = np.zeros(3)
    if name == "coef":
        coef[1] = np.nan
    else:
        kwargs[name] = np.array([1.0, np.nan, 1.0])
    before = coef.copy()
    with pytest.raises(ValueError, match=f"{name} contains NaN"):
        fb.linreg_sgd_epoch(X, y, coef, 0.0, **kwargs)
    np.testing.assert_array_equal(coef, before)
    with pytest.raises(ValueError, match=f"{name} contains NaN"):
        fb.linreg_gradient(X, y, [0, 1], coef, 0.0, **kwargs)


# -- low-level messages name the argument ----------------------------------------------

def low_level_call(**changes):
    X, y = make_data(20, 3)
    args = dict(X=X, y=y, coef=np.zeros(3), intercept=0.0)
    args.update(changes)
    return lambda: fb.linreg_sgd_epoch(**args)


@pytest.mark.parametrize("changes, error, message", [
    (dict(coef=np.zeros(3)[::1].copy().view()), None, None),
    (dict(intercept=np.zeros(2)), TypeError, "intercept must be a real number"),
    (dict(intercept="1.5"), TypeError, "intercept must be a real number, got '1.5'"),
    (dict(intercept=np.nan), ValueError, "intercept must be a finite number"),
    (dict(check_input="no"), TypeError, "check_input must be True or False, got 'no'"),
    (dict(order=[[0, 1], [2]]), TypeError, "order must be a 1-d integer array"),
    (dict(order=[0, 25]), IndexError, r"order has values outside \[0, 20\)"),
    (dict(sample_weight=-np.ones(20)), ValueError, "sample_weight must be non-negative"),
])
def test_low_level_arguments_are_checked_naming_them(changes, error, message):
    call = low_level_call(**changes)
    if error is None:
        call()
        return
    with pytest.raises(error, match=message):
        call()


def test_a_read_only_coef_is_rejected_naming_it():
    coef = np.zeros(3)
    coef.flags.writeable = False
    with pytest.raises(ValueError, match="coef is read-only"):
        low_level_call(coef=coef)()


def test_ragged_indices_are_rejected_naming_them():
    X, y = make_data(20, 3)
    with pytest.raises(TypeError, match="indices must be a 1-d integer array"):
        fb.linreg_gradient(X, y, [[0, 1], [2]], np.zeros(3), 0.0)


# -- the scale of sample_weight does not matter (issue #19, finding 3) ----------------------

def weighted_fit(X, y, w):
    return fb.MiniBatchSGDRegressor(epochs=3, batch_size=16, random_state=0).fit(
        X, y, sample_weight=w)


def assert_same_fit(a, b):
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert a.intercept_ == b.intercept_
    np.testing.assert_array_equal(a.loss_history_, b.loss_history_)


@pytest.mark.parametrize("scale", [1e-310, 2.0**-1070, 1e-300, 1e300, 1e306, 2.0**1000])
def test_uniform_weights_of_any_scale_fit_like_unit_weights(scale):
    X, y = make_data(300, 3)
    unit = weighted_fit(X, y, np.ones(300))
    scaled = weighted_fit(X, y, np.full(300, scale))
    np.testing.assert_allclose(scaled.coef_, unit.coef_, rtol=1e-12)
    np.testing.assert_allclose(scaled.loss_history_, unit.loss_history_, rtol=1e-12)


@pytest.mark.parametrize("power", [-1070, -1000, -200, 200, 1000])
def test_weights_scaled_by_a_power_of_two_give_the_same_fit_bit_for_bit(power):
    # Subnormal (2**-1070 * w), tiny and huge weights: the fit is invariant to the
    # weights' scale, and powers of two scale them exactly.
    X, y = make_data(300, 3)
    w = np.random.default_rng(1).integers(1, 8, 300).astype(float)
    scaled = np.ldexp(w, power)
    assert (np.ldexp(scaled, -power) == w).all()
    assert_same_fit(weighted_fit(X, y, scaled), weighted_fit(X, y, w))


def test_subnormal_weights_are_not_blamed_on_the_learning_rate_and_stay_the_callers():
    X, y = make_data(300, 3)
    w = np.full(300, 1e-310)
    est = weighted_fit(X, y, w)
    assert np.isfinite(est.coef_).all()
    assert (w == 1e-310).all()                    # the caller's array is not rescaled
