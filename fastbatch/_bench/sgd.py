"""Cases: whole ``MiniBatchSGDRegressor.fit`` calls (input checks included) against the
classic NumPy loop: standardise, then per epoch a permutation, ``X[idx]``, two matvecs,
the update, and the loss on the full data.  Two informational rows: a weighted fit
(against the same loop with weights) and thread scaling (the same fit on one thread
against two, through ``fb.set_num_threads``)."""

import functools

import numpy as np

import fastbatch as fb
from fastbatch._bench.data import regression_data
from fastbatch._bench.epochs import epoch_traffic
from fastbatch._bench.registry import SEED, Case, format_count

REPORT_ORDER = 30
LEARNING_RATE = 0.01


def numpy_fit(X, y, batch_size, epochs, shuffle, sample_weight=None):
    """The loop people write in NumPy; returns the training objective after the last epoch.

    With ``sample_weight``: weighted standardisation, weighted batch means and loss.

    Examples
    --------
    >>> X = np.random.default_rng(0).standard_normal((100, 3))
    >>> loss = numpy_fit(X, X @ [1.0, 2.0, 3.0], batch_size=10, epochs=3, shuffle=True)
    >>> 0 <= loss < 10
    True
    """
    n, d = X.shape
    w = np.ones(n) if sample_weight is None else sample_weight
    mean = np.average(X, axis=0, weights=sample_weight)
    Z = (X - mean) / np.sqrt(np.average((X - mean) ** 2, axis=0, weights=sample_weight))
    beta, b = np.zeros(d), 0.0
    rng = np.random.default_rng(SEED)
    J = None
    for _ in range(epochs):
        p = rng.permutation(n) if shuffle else None
        for i in range(0, n, batch_size):
            idx = p[i:i + batch_size] if shuffle else slice(i, i + batch_size)
            Zb, yb = Z[idx], y[idx]
            r = Zb @ beta + b - yb
            if sample_weight is None:
                beta -= LEARNING_RATE * (Zb.T @ r / len(yb))
                b -= LEARNING_RATE * r.sum() / len(yb)
            else:
                wr, total = w[idx] * r, w[idx].sum()
                beta -= LEARNING_RATE * (Zb.T @ wr / total)
                b -= LEARNING_RATE * wr.sum() / total
        r = Z @ beta + b - y
        J = float(w @ (r * r) / (2 * w.sum()))
    return J


def fastbatch_fit(X, y, batch_size, epochs, shuffle, sample_weight=None, threads=None):
    """The same training as :func:`numpy_fit` through ``fb.MiniBatchSGDRegressor.fit``
    (on ``threads`` threads; default: ``fb.get_num_threads()``)."""
    est = fb.MiniBatchSGDRegressor(batch_size=batch_size, learning_rate=LEARNING_RATE,
                                   epochs=epochs, shuffle=shuffle, random_state=SEED)
    with fb.set_num_threads(threads or fb.get_num_threads()):
        est.fit(X, y, sample_weight=sample_weight)
    return float(est.loss_history_[-1])


def _sgd_setup(n, d, batch_size, epochs, shuffle, variant=None):
    X, y = regression_data(n, d)
    arguments = dict(batch_size=batch_size, epochs=epochs, shuffle=shuffle)
    if variant == "threads":
        return {"1 thread": functools.partial(fastbatch_fit, X, y, threads=1, **arguments),
                "fastbatch": functools.partial(fastbatch_fit, X, y, threads=2, **arguments)}
    if variant == "weighted":
        arguments["sample_weight"] = np.random.default_rng(SEED).uniform(0.0, 2.0, n)
    return {"numpy": functools.partial(numpy_fit, X, y, **arguments),
            "fastbatch": functools.partial(fastbatch_fit, X, y, **arguments)}


def _sgd_case(d, batch_size, epochs, n, quick_n, floor, goal, shuffle=True, repeats=5,
              variant=None):
    kind = "shuffled" if shuffle else "sequential"
    design_row = (f"fused SGD, shuffled, {format_count(n)}×{d} B={batch_size}" if shuffle
                  else "fused SGD, sequential, 1e6×32 B=256, 5 epochs")
    title = (f"SGD fit, {epochs} epoch{'s' * (epochs > 1)}, {kind}, {{n}}x{d} float64 "
             f"B={batch_size}")
    if variant == "weighted":
        title += ", sample_weight (info)"
    elif variant == "threads":
        title += ", 2 threads vs 1 (info)"
    return Case(
        group=f"sgd-{kind}-{format_count(n)}x{d}-B{batch_size}-{epochs}ep"
              + (f"-{variant}" if variant else ""),
        title=title,
        suite="sgd",
        setup=functools.partial(_sgd_setup, d=d, batch_size=batch_size, epochs=epochs,
                                shuffle=shuffle, variant=variant),
        n=n, quick_n=quick_n, floor=floor, goal=goal,
        design_row=None if variant else design_row,
        baseline="1 thread" if variant == "threads" else "numpy",
        repeats=repeats,
        # One read of X and y per epoch, plus the moments pass and the final loss pass.
        traffic=functools.partial(epoch_traffic, d=d, dtype=np.float64, passes=epochs + 2))


CASES = [
    _sgd_case(32, 256, 1, 10**6, 10**5, 3.0, 5.0),
    _sgd_case(32, 256, 5, 10**6, 10**5, 3.0, 5.0),
    # ~25 ms against ~330 ms: more rounds, so that the median is not one slow spell's.
    _sgd_case(10, 32, 5, 2 * 10**5, 2 * 10**4, 10.0, 25.0, repeats=9),
    _sgd_case(100, 1024, 2, 10**6, 5 * 10**4, 2.0, 3.0, repeats=3),
    _sgd_case(32, 256, 5, 10**6, 10**5, 3.0, 5.0, shuffle=False),
    _sgd_case(32, 256, 1, 10**6, 10**5, None, None, variant="weighted"),
    _sgd_case(32, 256, 1, 10**6, 10**5, None, None, variant="threads"),
]
