"""Synthetic data shared by the case modules (seeded: every run times the same data)."""

import numpy as np

from fastbatch._bench.registry import SEED


def features(n, d, dtype):
    """``(X, y)``: standard normal features of shape ``(n, d)`` and targets, in ``dtype``.

    Examples
    --------
    >>> X, y = features(4, 3, np.float32)
    >>> X.shape, y.dtype
    ((4, 3), dtype('float32'))
    """
    rng = np.random.default_rng(SEED)
    return rng.standard_normal((n, d), dtype=dtype), rng.standard_normal(n, dtype=dtype)


def regression_data(n, d, dtype=np.float64):
    """``(X, y)`` of a noisy linear model whose features differ in scale and offset.

    Examples
    --------
    >>> X, y = regression_data(100, 3)
    >>> X.shape, y.shape
    ((100, 3), (100,))
    """
    rng = np.random.default_rng(SEED)
    X = rng.standard_normal((n, d)) * rng.uniform(0.5, 5, d) + rng.uniform(-3, 3, d)
    y = X @ rng.standard_normal(d) + 1.0 + 0.1 * rng.standard_normal(n)
    return X.astype(dtype), y
