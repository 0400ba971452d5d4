"""Pure-NumPy references for MiniBatchSGDRegressor and the linreg kernels: the classic
mini-batch loop, the weighted ridge minimum, the objective, scikit-learn's stopping rule,
and the data they are tested on."""

import math

import numpy as np

import fastbatch as fb
from fastbatch._rng import epoch_bit_generator


def make_data(n, d, *, seed=0, dtype=np.float64, intercept=1.5, noise=0.1):
    """``(X, y)``: ``n`` rows of ``d`` features of differing scales and offsets, ``y``
    linear in them plus ``intercept`` and Gaussian noise of standard deviation ``noise``."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * rng.uniform(0.5, 3, d) + rng.uniform(-2, 2, d)
    y = X @ rng.standard_normal(d) + intercept + noise * rng.standard_normal(n)
    return X.astype(dtype), y


def random_weights(n, seed=1):
    """``n`` sample weights drawn uniformly from [0, 3)."""
    return np.random.default_rng(seed).uniform(0.0, 3.0, n)


def epoch_orders(seed, n, epochs):
    """The permutations the estimator uses for random_state=seed."""
    return [fb.permutation(n, rng=epoch_bit_generator(seed, e)) for e in range(epochs)]


def reference_fit(X, y, *, batch_size, learning_rate, lr_decay=0.0, epochs, alpha=0.0,
                  standardize=True, orders=None, divisor=None, decay_per_step=False):
    """The classic mini-batch loop in plain NumPy, as docs/guide/estimator.rst's "classic code"
    section writes it, with both of its pitfalls fixed: the learning rate decays per epoch
    (``learning_rate / (1 + lr_decay * e)``) and each batch's gradient is divided by the
    batch's own size.  ``divisor`` and ``decay_per_step`` bring the pitfalls back."""
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


def sklearn_rule_stop(scores, tol, patience):
    """The epoch after which scikit-learn's SGD rule stops (scores: higher is better)."""
    best, count = -math.inf, 0
    for e, s in enumerate(scores):
        count = count + 1 if s < best + tol else 0
        best = max(best, s)
        if count >= patience:
            return e
    return None
