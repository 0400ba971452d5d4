"""The fused kernels: fb.linreg_sgd_epoch and fb.linreg_gradient against NumPy, the
argument checks of the low-level API, the same bits on any thread count and from the
vector row loops as from the scalar reference loops, and Ctrl-C within a long call."""

import _thread
import threading
import time

import numpy as np
import pytest

import fastbatch as fb
from fastbatch.linear_model._linreg import LinregData
from fastbatch.sources._source import ArraySource
from linreg_reference import make_data, random_weights, reference_fit


# -- the low-level entry points against NumPy ------------------------------------------

def test_linreg_sgd_epoch_is_one_estimator_epoch():
    X, y = make_data(203, 5)
    order = fb.permutation(len(X), rng=5)
    coef = np.zeros(X.shape[1])
    b = fb.linreg_sgd_epoch(X, y, coef, 0.0, order=order, batch_size=16, learning_rate=0.05)
    ref, ref_b, _ = reference_fit(X, y, batch_size=16, learning_rate=0.05, epochs=1,
                                  standardize=False, orders=[order])
    np.testing.assert_allclose(coef, ref, rtol=1e-12)
    assert b == pytest.approx(ref_b, rel=1e-12)


def test_linreg_gradient_sums_match_numpy_and_add_across_parts():
    X, y = make_data(203, 5)
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


def test_weighted_gradient_sums_match_numpy():
    X, y = make_data(240, 4, noise=0.3)
    w = random_weights(len(y))
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
    from fastbatch.linear_model._linreg import LinregData
    d = X.shape[1]
    data = LinregData(ArraySource([X]), np.zeros(len(X)), sample_weight, np.zeros(d), np.ones(d), threads)
    mean, m2, weight = data.moments()
    return mean, np.sqrt(m2 / weight)


def test_check_input_false_skips_only_the_finite_scan():
    X, y = make_data(203, 5)
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


# -- low-level arguments are checked, naming them --------------------------------------

def low_level_call(**changes):
    X, y = make_data(20, 3, intercept=0.5)
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


def test_linreg_sgd_epoch_rejects_a_coef_it_cannot_update_in_place():
    X, y = make_data(203, 5)
    with pytest.raises(TypeError, match="coef must be a C-contiguous float64"):
        fb.linreg_sgd_epoch(X, y, [0.0] * 5, 0.0)


def test_a_read_only_coef_is_rejected_naming_it():
    coef = np.zeros(3)
    coef.flags.writeable = False
    with pytest.raises(ValueError, match="coef is read-only"):
        low_level_call(coef=coef)()


def test_ragged_indices_are_rejected_naming_them():
    X, y = make_data(20, 3, intercept=0.5)
    with pytest.raises(TypeError, match="indices must be a 1-d integer array"):
        fb.linreg_gradient(X, y, [[0, 1], [2]], np.zeros(3), 0.0)


@pytest.mark.parametrize("name", ["mean", "scale", "coef"])
def test_nan_parameters_are_rejected_before_any_work(name):
    X, y = make_data(20, 3, intercept=0.5)
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


# -- threads never change a result -----------------------------------------------------

@pytest.fixture
def threads():
    """Set the thread count the kernels read (fb.set_num_threads), restored afterwards."""
    limits = []
    yield lambda k: limits.append(fb.set_num_threads(k))
    if limits:
        limits[0].__exit__(None, None, None)


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("d", [12, 40])
def test_fit_is_bit_identical_on_any_thread_count(threads, float_dtype, shuffle, weighted, d):
    # Large enough for the reading helper threads and the parallel passes to start; 40
    # features in sequence take the direct (unstaged) path on one thread.
    X, y = make_data(30_000, d, dtype=float_dtype, intercept=0.5)
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
    X, y = make_data(50_000, 7, dtype=float_dtype, intercept=0.5)
    d = X.shape[1]
    order = fb.permutation(len(y), rng=3)
    results = []
    for k in (1, 2, 5):
        data = LinregData(ArraySource([X]), y, None, X.mean(0, dtype=float), 1 / X.std(0, dtype=float), k)
        beta = np.zeros(d)
        _, b, _ = data.sgd_epoch(order, beta, 0.0, 100, 0.05, 0.0, True, False)
        _, b, previous = data.sgd_epoch(order, beta, b, 100, 0.05, 0.0, True, True)
        results.append((beta.tolist(), b, previous, data.loss_sums(None, beta, b),
                        [a.tolist() for a in data.moments()[:2]]))
    assert results[1] == results[0] and results[2] == results[0]


# -- the vector row loops give the scalar reference loops' bits ------------------------

@pytest.fixture
def general_loops():
    """Run the body with the scalar reference row loops; restored afterwards."""
    from fastbatch.linear_model._linreg import _use_vector_loops
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
    data = LinregData(ArraySource([X]), y, w, X.mean(0, dtype=float), 1 / (X.std(0, dtype=float) + 1),
                      threads)
    beta = np.zeros(d)
    _, b, _ = data.sgd_epoch(order, beta, 0.25, 7, 0.05, 0.01, True, False)
    _, b, previous = data.sgd_epoch(order, beta, b, 32, 0.05, 0.01, True, True)
    _, grad, sums = data.gradient(order, beta, b)
    return (beta.tobytes(), np.float64(b).tobytes(), np.array(previous).tobytes(),
            np.array(data.loss_sums(order, beta, b)).tobytes(), grad.tobytes(),
            np.array(sums).tobytes(), [a.tobytes() for a in data.moments(order)[:2]])


@pytest.mark.parametrize("d", [*range(1, 34), 40, 101])
def test_vector_loops_give_the_reference_loops_bits(general_loops, float_dtype, d):
    # Values large and small, weights with zeros, a shuffled order with repeats, rows in
    # sequence: every d up to 32 takes a loop compiled for it (up to 16 with the row's
    # vectors in registers, 17 to 32 the general loops unrolled), larger d the general
    # one; on one thread in sequence, d >= 16 takes the direct (fused) path.
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
    X, y = make_data(500, d, intercept=0.5)
    X[321, 3] = np.inf
    beta_fast, beta_general = np.zeros(d), np.zeros(d)
    data = LinregData(ArraySource([X]), y, None, np.zeros(d), np.ones(d), 1)
    fast = data.sgd_epoch(None, beta_fast, 0.0, 16, 0.01, 0.0, True, False)
    with general_loops():
        general = data.sgd_epoch(None, beta_general, 0.0, 16, 0.01, 0.0, True, False)
    assert fast[0] == general[0] != 0
    assert beta_fast.tobytes() == beta_general.tobytes() and fast[1] == general[1]


# -- interrupts ------------------------------------------------------------------------

@pytest.mark.slow
def test_ctrl_c_stops_a_long_fit_quickly_and_keeps_the_previous_state():
    X, y = make_data(400_000, 20, intercept=0.5)
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
    X, y = make_data(50, 20_000, intercept=0.5)
    data = LinregData(ArraySource([X]), y, None, np.zeros(20_000), np.ones(20_000), n_threads)
    order = np.tile(np.arange(50), 100_000)
    beta = np.zeros(20_000)
    timer = threading.Timer(0.2, _thread.interrupt_main)
    started = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        data.sgd_epoch(order, beta, 0.0, 8, 1e-9, 0.0, True, True)
    assert time.perf_counter() - started < 0.2 + 0.5 + 0.3
