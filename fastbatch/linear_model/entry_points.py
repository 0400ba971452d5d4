"""The low-level entry points of the fused kernels: one SGD epoch in place
(``linreg_sgd_epoch``) and one batch's gradient sums (``linreg_gradient``, for
data-parallel training).  ``fastbatch.linear_model`` re-exports them."""

from collections import namedtuple

import numpy as np

from fastbatch.linear_model.training import check_data, diverged, linreg_data
from fastbatch._validation import (
    as_finite_vector, as_row_numbers, check_count, check_number, linreg_inputs,
)

__all__ = ["BatchGradient", "linreg_gradient", "linreg_sgd_epoch"]


BatchGradient = namedtuple("BatchGradient",
                           ["coef_sum", "intercept_sum", "squared_sum", "n", "weight_sum"])
BatchGradient.__doc__ = """Gradient sums of one batch (see :func:`fastbatch.linreg_gradient`).

``coef_sum[j] = sum_i w_i z_ij r_i``, ``intercept_sum = sum_i w_i r_i``, ``squared_sum =
sum_i w_i r_i**2``, ``n`` rows and ``weight_sum = sum_i w_i`` (``n`` without weights).
Sums add across processes: all-reduce them, then the combined batch's gradient is
``coef_sum / weight_sum + alpha * coef`` and ``intercept_sum / weight_sum``.
"""


def linreg_sgd_epoch(X, y, coef, intercept, *, order=None, batch_size=32,
                     learning_rate=0.01, alpha=0.0, mean=None, scale=None,
                     sample_weight=None, check_input=True):
    """One fused epoch of mini-batch SGD for linear regression, updating ``coef`` in place.

    Rows are visited in ``order`` (read in place through it, never gathered) and cut into
    batches of ``batch_size``; per batch, with ``z = (x - mean) / scale``,
    ``r = z.coef + intercept - y`` and weights ``w`` (all 1 by default) summing to ``W``:
    ``coef -= learning_rate * (sum(w r z) / W + alpha * coef)``,
    ``intercept -= learning_rate * sum(w r) / W``; a batch with ``W == 0`` makes no update.

    Parameters
    ----------
    X : array_like of shape (n_samples, n_features)
        float32 and float64 are read as they are; other dtypes convert to float64.
    y : array_like of shape (n_samples,)
    coef : ndarray of float64, shape (n_features,)
        Parameters in the standardised space; updated in place (writeable, C-contiguous).
    intercept : float
    order : array_like of int, optional
        The rows of the epoch in visiting order (a permutation, a shard, ...). Default:
        all rows in order.
    batch_size, learning_rate, alpha : see :class:`MiniBatchSGDRegressor`.
    mean, scale : array_like of shape (n_features,), optional
        Standardisation folded into the kernel (default 0 and 1: none).
    sample_weight : array_like of shape (n_samples,), optional
        Non-negative weights.
    check_input : bool, default True
        Scan X and y for NaN and infinity (a pass over all of X).  Pass False in a loop
        over arrays you checked once; shapes and dtypes are still checked.

    Returns
    -------
    float
        The new intercept.

    Raises
    ------
    TrainingDivergedError
        When a residual or parameter became non-finite (``coef`` then holds the last
        finite step's values, checked batch by batch).

    Examples
    --------
    >>> import numpy as np, fastbatch as fb
    >>> X = np.random.default_rng(0).standard_normal((100, 2)); y = X @ [2.0, -1.0]
    >>> coef = np.zeros(2); b = 0.0
    >>> for e in range(50):
    ...     b = fb.linreg_sgd_epoch(X, y, coef, b, batch_size=10, learning_rate=0.1)
    >>> np.round(coef, 3).tolist()
    [2.0, -1.0]
    """
    X, y, w, mean, inv_scale = linreg_inputs(X, y, sample_weight, mean, scale, check_input)
    d = X.shape[1]
    if not (isinstance(coef, np.ndarray) and coef.dtype == np.float64
            and coef.shape == (d,) and coef.flags.c_contiguous):
        raise TypeError(f"coef must be a C-contiguous float64 array of shape ({d},) (it is "
                        f"updated in place), got {type(coef).__name__}"
                        + (f" of dtype {coef.dtype} and shape {coef.shape}"
                           if isinstance(coef, np.ndarray) else ""))
    if not coef.flags.writeable:
        raise ValueError("coef is read-only; linreg_sgd_epoch updates it in place: pass a "
                         "writeable array")
    as_finite_vector(coef, d, "coef")
    intercept = check_number(intercept, "intercept", minimum=-np.inf)
    batch_size = check_count(batch_size, "batch_size", minimum=1)
    learning_rate = check_number(learning_rate, "learning_rate", minimum=0.0, strict=True)
    alpha = check_number(alpha, "alpha", minimum=0.0)
    if order is not None:
        order = as_row_numbers(order, X.shape[0])
    data = linreg_data(X, y, w, mean, inv_scale)
    status, intercept, _ = data.sgd_epoch(order, coef, intercept, batch_size, learning_rate,
                                          alpha, True, False)
    if status:
        raise diverged(X, y, mean, inv_scale, check_data(X), None, learning_rate,
                       learning_rate, state_kept=False)
    return intercept


def linreg_gradient(X, y, indices, coef, intercept, *, mean=None, scale=None,
                    sample_weight=None, check_input=True):
    """Gradient sums of the batch ``indices``, without updating anything.

    For data-parallel training: every process computes the sums of its part of a batch,
    the sums are all-reduced, and every process applies the same update (see
    :class:`~fastbatch.linear_model.BatchGradient`).  Same model, standardisation, weights and ``check_input``
    as :func:`linreg_sgd_epoch`: in a training loop, check the data once and pass
    ``check_input=False``, or every call scans all of X.

    Returns
    -------
    BatchGradient

    Examples
    --------
    >>> import numpy as np, fastbatch as fb
    >>> X = np.eye(3); y = np.ones(3)
    >>> g = fb.linreg_gradient(X, y, [0, 1], np.zeros(3), 0.0)
    >>> g.coef_sum.tolist(), g.intercept_sum, g.n
    ([-1.0, -1.0, 0.0], -2.0, 2)
    """
    X, y, w, mean, inv_scale = linreg_inputs(X, y, sample_weight, mean, scale, check_input)
    indices = as_row_numbers(indices, X.shape[0], "indices")
    coef = as_finite_vector(coef, X.shape[1], "coef")
    intercept = check_number(intercept, "intercept", minimum=-np.inf)
    status, grad, (rsum, rsq, wsum) = linreg_data(X, y, w, mean, inv_scale).gradient(
        indices, coef, intercept)
    if status:
        raise diverged(X, y, mean, inv_scale, check_data(X), None, np.nan, np.nan,
                       state_kept=False)
    return BatchGradient(grad, rsum, rsq, len(indices), wsum)
