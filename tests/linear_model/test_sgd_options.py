"""scikit-learn's SGD options in the fused kernel: penalties (L1 by the cumulative
truncation), robust losses, averaging, learning-rate schedules and a starting point.
Each against the NumPy reference (tests/helpers/sgd_options_reference.py, the same maths),
the same bytes on any thread count, what each option is for (sparsity at the elastic
net's optimum, robustness to outliers, averaging's noise reduction, every schedule
converging), and every bad value rejected before any work, naming the parameter."""

import numpy as np
import pytest

import fastbatch as fb
from linreg_reference import epoch_orders, make_data, random_weights
from sgd_options_reference import (
    ReferenceSGD, elastic_net_objective, sparse_standardized_data,
)

SEED = 3

# One fit per option, and a few together; each differs from the default in what it names.
OPTIONS = {
    "l1": dict(penalty="l1", alpha=0.02),
    "elasticnet": dict(penalty="elasticnet", alpha=0.02, l1_ratio=0.4),
    "no-penalty": dict(penalty=None, alpha=0.5),
    "huber": dict(loss="huber", epsilon=0.5),
    "epsilon-insensitive": dict(loss="epsilon_insensitive", epsilon=0.2),
    "squared-epsilon-insensitive": dict(loss="squared_epsilon_insensitive", epsilon=0.2),
    "average": dict(average=True),
    "average-from-step-40": dict(average=40),
    "constant": dict(lr_schedule="constant", lr_decay=0.5),
    "invscaling": dict(lr_schedule="invscaling", power_t=0.3, learning_rate=0.1),
    "all": dict(penalty="elasticnet", alpha=0.01, loss="huber", epsilon=0.3, average=25,
                lr_schedule="invscaling", power_t=0.2),
}


def fit(X, y, w=None, *, epochs=3, **options):
    kwargs = dict(batch_size=16, learning_rate=0.05, lr_decay=0.3, epochs=epochs,
                  random_state=SEED)
    kwargs.update(options)
    return fb.MiniBatchSGDRegressor(**kwargs).fit(X, y, sample_weight=w)


def replay(est, X, y, w=None, epochs=None, beta=None, b=0.0):
    """The NumPy reference run with the estimator's parameters, orders and
    standardisation; returns (reference, loss after each epoch)."""
    p, state = est.get_params(), est._state
    Z = (np.asarray(X, dtype=np.float64) - state.mean) * state.inv_scale
    ref = ReferenceSGD(Z, y, w=w, alpha=p["alpha"], penalty=p["penalty"],
                       l1_ratio=p["l1_ratio"], loss=p["loss"], epsilon=p["epsilon"],
                       average=int(p["average"]), beta=beta, b=b)
    history = []
    epochs = est.n_epochs_ if epochs is None else epochs
    for e, order in enumerate(epoch_orders(SEED, len(y), epochs)):
        decay = p["lr_decay"] if p["lr_schedule"] == "epoch_decay" else 0.0
        power_t = p["power_t"] if p["lr_schedule"] == "invscaling" else None
        ref.epoch(order, p["batch_size"], p["learning_rate"] / (1 + decay * e), power_t)
        history.append(ref.objective())
    return ref, np.array(history)


def assert_matches_reference(est, X, y, w=None, **kwargs):
    ref, history = replay(est, X, y, w, **kwargs)
    beta, b = ref.fitted()
    coef = beta * est._state.inv_scale
    np.testing.assert_allclose(est.coef_, coef, rtol=1e-9, atol=1e-12)
    assert est.intercept_ == pytest.approx(b - est._state.mean @ coef, rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(est.loss_history_, history, rtol=1e-9)
    return ref


# -- the kernel computes the reference's maths -----------------------------------------

@pytest.mark.parametrize("name", OPTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_each_option_matches_the_numpy_reference(name, weighted, float_dtype):
    X, y = make_data(403, 6, dtype=float_dtype, noise=0.5)
    w = random_weights(len(y)) if weighted else None
    est = fit(X, y, w, **OPTIONS[name])
    assert_matches_reference(est, X, y, w)


@pytest.mark.parametrize("d", [5, 24])
def test_options_on_the_direct_path_match_the_reference(d):
    # Rows in sequence on one thread, 16 or more features: the fused (unstaged) row loop.
    X, y = make_data(300, d, noise=0.5)
    with fb.set_num_threads(1):
        est = fit(X, y, shuffle=False, **OPTIONS["all"])
    ref = ReferenceSGD((X - est._state.mean) * est._state.inv_scale, y, alpha=0.01,
                       penalty="elasticnet", l1_ratio=0.15, loss="huber", epsilon=0.3,
                       average=25)
    for _ in range(3):
        ref.epoch(np.arange(len(y)), 16, 0.05, 0.2)
    np.testing.assert_allclose(est.coef_, ref.fitted()[0] * est._state.inv_scale,
                               rtol=1e-9, atol=1e-12)


def test_l1_state_and_averages_carry_over_partial_fit_and_warm_start():
    X, y = make_data(203, 5, noise=0.5)
    options = dict(OPTIONS["all"], epochs=1)
    once = fit(X, y, **dict(options, epochs=3))
    est = fit(X, y, **options)
    est.partial_fit(X, y).partial_fit(X, y)
    np.testing.assert_array_equal(est.coef_, once.coef_)
    # A call's last loss comes from a pass of its own (sums in another order).
    np.testing.assert_allclose(est.loss_history_, once.loss_history_, rtol=1e-13)
    warm = fit(X, y, warm_start=True, **options)
    warm.fit(X, y)
    warm.fit(X, y)
    np.testing.assert_array_equal(warm.coef_, once.coef_)


def test_averaging_switched_on_later_starts_at_the_next_step():
    X, y = make_data(203, 5, noise=0.5)
    est = fit(X, y, epochs=2)
    steps = est.n_steps_
    est.set_params(average=True).partial_fit(X, y)
    assert est._state.average_from == steps + 1
    assert not np.array_equal(est.coef_, est._state.beta * est._state.inv_scale)


def test_coef_init_and_intercept_init_are_where_training_starts():
    X, y = make_data(403, 6, noise=0.5)
    coef0, b0 = np.linspace(-1, 1, 6), 0.75
    est = fb.MiniBatchSGDRegressor(batch_size=16, learning_rate=0.05, epochs=2,
                                   random_state=SEED, penalty="l1", alpha=0.01)
    est.fit(X, y, coef_init=coef0, intercept_init=np.array([b0]))
    state = est._state
    assert_matches_reference(est, X, y, beta=coef0 / state.inv_scale,
                             b=b0 + state.mean @ coef0)
    zero = fb.MiniBatchSGDRegressor(**est.get_params()).fit(X, y)
    assert not np.allclose(zero.coef_, est.coef_)


def test_coef_init_overrides_warm_start_and_the_fitted_values_fill_in():
    X, y = make_data(203, 4, noise=0.5)
    est = fb.MiniBatchSGDRegressor(epochs=2, warm_start=True, random_state=0).fit(X, y)
    fitted_b = est.intercept_
    start = np.array([1.0, -2.0, 0.5, 0.0])
    # An epoch of a tiny rate stays where it started.
    est.set_params(learning_rate=1e-12).fit(X, y, coef_init=start)
    np.testing.assert_allclose(est.coef_, start, atol=1e-9)
    assert est.intercept_ == pytest.approx(fitted_b, abs=1e-9)
    assert est.n_epochs_ == 2                  # a new start, not a continuation


def test_options_on_a_memory_map_with_the_block_shuffle_fit_as_in_memory(tmp_path):
    # The data-at-rest path (block order, read-ahead of the memory-mapped windows) with
    # every option: the same bytes as the same fit in memory.
    X, y = make_data(5000, 6, noise=0.5)
    np.save(tmp_path / "X.npy", X)
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    kwargs = dict(OPTIONS["all"], shuffle_method="block", block_size=100, shuffle_window=4)
    on_disk, in_memory = fit(mapped, y, **kwargs), fit(X, y, **kwargs)
    assert on_disk.coef_.tobytes() == in_memory.coef_.tobytes()
    np.testing.assert_array_equal(on_disk.loss_history_, in_memory.loss_history_)


# -- threads never change a result -----------------------------------------------------

@pytest.mark.parametrize("name", ["l1", "elasticnet", "huber", "epsilon-insensitive",
                                  "squared-epsilon-insensitive", "average",
                                  "average-from-step-40", "invscaling", "all"])
@pytest.mark.parametrize("shuffle", [True, False])
def test_every_option_is_bit_identical_on_any_thread_count(name, shuffle):
    # Large enough for the reading helper threads and the parallel loss pass.
    X, y = make_data(30_000, 12, intercept=0.5, noise=0.5)
    w = np.random.default_rng(1).uniform(0, 2, len(y))
    results = []
    for k in (1, 2, 3):
        with fb.set_num_threads(k):
            est = fit(X, y, w, batch_size=64, shuffle=shuffle, **OPTIONS[name])
        state = est._state
        results.append((est.coef_.tobytes(), est.intercept_, est.loss_history_.tobytes(),
                        state.beta.tobytes(), None if state.average_coef is None
                        else state.average_coef.tobytes(), state.average_intercept,
                        None if state.l1_applied is None else state.l1_applied.tobytes(),
                        state.l1_total))
    assert results[1] == results[0] and results[2] == results[0]


# -- what each option is for -----------------------------------------------------------

@pytest.mark.parametrize("penalty, l1_ratio", [("l1", 1.0), ("elasticnet", 0.5)])
def test_l1_and_elastic_net_reach_the_elastic_net_optimum_with_exact_zeros(penalty,
                                                                            l1_ratio):
    linear_model = pytest.importorskip("sklearn.linear_model")
    Z, y, truth = sparse_standardized_data(20_000, 20, relevant=5)
    alpha = 0.05
    cd = linear_model.ElasticNet(alpha=alpha, l1_ratio=l1_ratio, tol=1e-12,
                                 max_iter=100_000).fit(Z, y)
    optimum = elastic_net_objective(Z, y, cd.coef_, cd.intercept_, alpha, l1_ratio)
    est = fb.MiniBatchSGDRegressor(penalty=penalty, l1_ratio=l1_ratio, alpha=alpha,
                                   learning_rate=0.01, lr_decay=0.5, epochs=20,
                                   random_state=0).fit(Z, y)
    J = elastic_net_objective(Z, y, est.coef_, est.intercept_, alpha, l1_ratio)
    assert optimum <= J < 1.01 * optimum
    assert est.loss_history_[-1] == pytest.approx(J, rel=1e-9)
    irrelevant = est.coef_[truth == 0]
    assert np.count_nonzero(irrelevant == 0.0) >= 0.8 * len(irrelevant)
    assert np.all(est.coef_[truth != 0] != 0.0)


def test_l2_penalty_never_makes_a_coefficient_exactly_zero():
    Z, y, truth = sparse_standardized_data(20_000, 20, relevant=5)
    est = fb.MiniBatchSGDRegressor(alpha=0.05, learning_rate=0.01, lr_decay=0.5,
                                   epochs=5, random_state=0).fit(Z, y)
    assert np.count_nonzero(est.coef_ == 0.0) == 0


def test_huber_is_robust_to_gross_outliers_where_squared_error_is_not():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4000, 5))
    truth = np.array([2.0, -1.0, 0.5, 3.0, -2.0])
    y = X @ truth + 1.0 + 0.1 * rng.standard_normal(4000)
    outliers = rng.choice(4000, 200, replace=False)          # 5% gross outliers
    y[outliers] += rng.choice([50.0, 100.0], 200)
    kwargs = dict(learning_rate=0.05, lr_decay=0.2, epochs=30, random_state=0)
    huber = fb.MiniBatchSGDRegressor(loss="huber", epsilon=0.5, **kwargs).fit(X, y)
    squared = fb.MiniBatchSGDRegressor(**kwargs).fit(X, y)
    huber_error = np.abs(huber.coef_ - truth).max()
    squared_error = np.abs(squared.coef_ - truth).max()
    assert huber_error < 0.1 < squared_error
    assert abs(huber.intercept_ - 1.0) < 0.2 < abs(squared.intercept_ - 1.0)


def test_averaging_beats_a_noisy_constant_rate():
    X, y = make_data(20_000, 10, noise=1.0)
    kwargs = dict(lr_schedule="constant", learning_rate=0.1, batch_size=8, epochs=5,
                  random_state=0)
    plain = fb.MiniBatchSGDRegressor(**kwargs).fit(X, y)
    averaged = fb.MiniBatchSGDRegressor(average=2500, **kwargs).fit(X, y)
    # The least-squares optimum of the same objective.
    A = np.column_stack([X, np.ones(len(y))])
    r = A @ np.linalg.lstsq(A, y, rcond=None)[0] - y
    optimum = r @ r / (2 * len(y))
    assert averaged.loss_history_[-1] - optimum < 0.1 * (plain.loss_history_[-1] - optimum)


@pytest.mark.parametrize("schedule, options", [
    ("epoch_decay", dict(lr_decay=0.5)),
    ("constant", dict(average=True)),
    ("invscaling", dict(power_t=0.5, learning_rate=0.2)),
    ("adaptive", dict(tol=1e-6, n_iter_no_change=2, learning_rate=0.1)),
])
def test_every_schedule_converges(schedule, options):
    X, y = make_data(20_000, 8, noise=1.0)
    A = np.column_stack([X, np.ones(len(y))])
    r = A @ np.linalg.lstsq(A, y, rcond=None)[0] - y
    optimum = r @ r / (2 * len(y))
    est = fb.MiniBatchSGDRegressor(lr_schedule=schedule, epochs=40, random_state=0,
                                   **options).fit(X, y)
    assert est.loss_history_[-1] < optimum * 1.002


def test_adaptive_divides_the_rate_by_five_when_tol_is_not_met_as_scikit_learn():
    X, y = make_data(2000, 4, noise=1.0)
    tol, patience, lr, epochs = 1e-4, 2, 0.2, 25
    est = fb.MiniBatchSGDRegressor(lr_schedule="adaptive", learning_rate=lr, tol=tol,
                                   n_iter_no_change=patience, epochs=epochs,
                                   batch_size=16, random_state=SEED).fit(X, y)
    state = est._state
    Z = (X - state.mean) * state.inv_scale
    ref, divisions, history = ReferenceSGD(Z, y), 0, []
    best, count, stopped = -np.inf, 0, False
    for order in epoch_orders(SEED, len(y), epochs):
        ref.epoch(order, 16, lr / 5**divisions)
        history.append(ref.objective())
        score = -history[-1]
        count = count + 1 if score < best + tol else 0
        best = max(best, score)
        if count >= patience:
            count = 0
            if lr / 5**divisions > 1e-6:
                divisions += 1
            else:
                stopped = True
                break
    # The rate reached its floor and the rule then stopped training, as scikit-learn's.
    assert state.lr_divisions == divisions >= 2 and stopped
    assert est.n_epochs_ == len(history) < epochs
    np.testing.assert_allclose(est.loss_history_, history, rtol=1e-9)
    np.testing.assert_allclose(est.coef_, ref.beta * state.inv_scale, rtol=1e-9)


def test_adaptive_without_tol_keeps_its_rate():
    X, y = make_data(500, 3)
    kwargs = dict(epochs=5, random_state=0)
    adaptive = fb.MiniBatchSGDRegressor(lr_schedule="adaptive", **kwargs).fit(X, y)
    constant = fb.MiniBatchSGDRegressor(lr_schedule="constant", **kwargs).fit(X, y)
    np.testing.assert_array_equal(adaptive.coef_, constant.coef_)


def test_the_default_options_are_todays_fit_bit_for_bit():
    X, y = make_data(1003, 6)
    kwargs = dict(epochs=4, alpha=0.1, lr_decay=0.5, random_state=1)
    explicit = fb.MiniBatchSGDRegressor(
        penalty="l2", l1_ratio=0.9, loss="squared_error", epsilon=3.0, average=False,
        lr_schedule="epoch_decay", power_t=2.0, **kwargs).fit(X, y)
    default = fb.MiniBatchSGDRegressor(**kwargs).fit(X, y)
    np.testing.assert_array_equal(explicit.coef_, default.coef_)
    np.testing.assert_array_equal(explicit.loss_history_, default.loss_history_)


# -- bad values ------------------------------------------------------------------------

@pytest.mark.parametrize("param, value, error", [
    ("penalty", "l3", ValueError), ("penalty", "none", ValueError), ("penalty", 2, ValueError),
    ("l1_ratio", 1.5, ValueError), ("l1_ratio", -0.1, ValueError),
    ("l1_ratio", np.nan, ValueError), ("l1_ratio", "half", TypeError),
    ("loss", "absolute", ValueError), ("loss", None, ValueError),
    ("epsilon", -0.1, ValueError), ("epsilon", np.inf, ValueError),
    ("average", -2, ValueError), ("average", 1.5, TypeError), ("average", "yes", TypeError),
    ("lr_schedule", "optimal", ValueError), ("lr_schedule", None, ValueError),
    ("power_t", np.nan, ValueError), ("power_t", -0.5, ValueError),
    ("power_t", "0.5", TypeError),
])
def test_bad_option_values_raise_before_any_work_naming_the_parameter(param, value, error):
    X, y = make_data(50, 3)
    est = fb.MiniBatchSGDRegressor(epochs=1, random_state=0).fit(X, y)
    before = est.coef_.copy()
    est.set_params(**{param: value}, warm_start=True)
    with pytest.raises(error, match=param):
        est.fit(X, y)
    np.testing.assert_array_equal(est.coef_, before)
    assert est.n_epochs_ == 1


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(coef_init=np.zeros(4)), ValueError, r"coef_init must have shape \(3,\)"),
    (dict(coef_init=[0.0, np.nan, 1.0]), ValueError, "coef_init contains NaN"),
    (dict(coef_init="abc"), TypeError, "coef_init must be an array"),
    (dict(intercept_init=np.zeros(2)), ValueError, "intercept_init must be a number"),
    (dict(intercept_init=np.inf), ValueError, "intercept_init must be a finite number"),
    (dict(intercept_init="1"), TypeError, "intercept_init must be a real number"),
])
def test_bad_initial_values_raise_naming_them(kwargs, error, message):
    X, y = make_data(50, 3)
    est = fb.MiniBatchSGDRegressor(epochs=1)
    with pytest.raises(error, match=message):
        est.fit(X, y, **kwargs)
    assert not hasattr(est, "coef_")


@pytest.mark.parametrize("name", ["elasticnet", "huber", "average", "invscaling", "all"])
def test_check_estimator_passes_with_the_options_set(name):
    estimator_checks = pytest.importorskip("sklearn.utils.estimator_checks")
    import warnings
    # Huber's clipped gradients and invscaling's falling rate need a larger rate than
    # the default to fit scikit-learn's 200-row check data within 100 epochs.
    options = dict(OPTIONS[name], learning_rate=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator_checks.check_estimator(fb.MiniBatchSGDRegressor(**options))
