"""Mini-batch SGD linear regression on the fused Cython kernel.

The estimator follows scikit-learn's conventions (``get_params``/``set_params``,
``clone``, ``fit``/``partial_fit``/``predict``/``score``, trailing-underscore fitted
attributes, ``n_features_in_``) without importing scikit-learn.
"""

import functools
import inspect
import numbers
import sys
import warnings
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from fastbatch._validation import check_bool, check_int
from fastbatch._linreg import column_moments, gradient_sums, loss, sgd_epoch
from fastbatch._shuffle import permutation_into
from fastbatch._rng import epoch_bit_generator, fresh_seed
from fastbatch.loader import num_batches


# From this many values in X, an epoch's loss pass runs in a second thread while the
# next epoch trains (below, handing it over costs more than it saves).
OVERLAP_MIN_VALUES = 1 << 18


class NotFittedError(ValueError, AttributeError):
    """Raised when ``predict`` or ``score`` is called before ``fit``."""


@functools.cache
def _sklearn_compatible(cls, sklearn_name):
    # When the caller has scikit-learn loaded, raise/warn with a class that is also
    # scikit-learn's, so its tooling (check_estimator, except NotFittedError) recognises
    # it; fastbatch never imports scikit-learn itself.
    exceptions = sys.modules.get("sklearn.exceptions")
    other = getattr(exceptions, sklearn_name, None)
    if other is None or issubclass(cls, other):
        return cls
    return type(cls.__name__, (cls, other), {"__module__": cls.__module__})


class DataConversionWarning(UserWarning):
    """The input had to be converted (e.g. a column-vector y was raveled)."""


class TrainingDivergedError(FloatingPointError):
    """Training produced a non-finite loss or parameter; the fitted state is unchanged."""


# ---------------------------------------------------------------------------------------
# Input validation (scikit-learn's messages, where its checks look for them).

def _is_sparse(X):
    return type(X).__module__.startswith("scipy.sparse")


def _as_float_matrix(X, name="X", check_finite=True):
    """X as a 2-d float32/float64 array whose rows are contiguous (copied only if not)."""
    if _is_sparse(X):
        raise TypeError(
            f"sparse input is not supported for {name}; convert it with {name}.toarray()"
        )
    if X is None:
        raise ValueError(f"Expected 2D array for {name}, got None")
    X = np.asarray(X)
    if X.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {X.dtype}")
    if X.dtype.kind == "O":
        X = _numeric_object_array(X, name)
    elif X.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(
            f"Expected 2D array for {name}, got {X.ndim}D array instead (shape {X.shape}). "
            "Reshape your data with X.reshape(-1, 1) for a single feature or "
            "X.reshape(1, -1) for a single sample"
        )
    if X.shape[0] == 0:
        raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a minimum "
                         "of 1 is required.")
    if X.shape[1] == 0:
        raise ValueError(f"Found array with 0 feature(s) (shape={X.shape}) while a minimum "
                         "of 1 is required.")
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    if X.shape[1] > 1 and X.strides[1] != X.itemsize:
        # The kernel reads each row as one contiguous run; other layouts cost one copy.
        X = np.ascontiguousarray(X)
    if X.strides[0] % X.itemsize or X.strides[0] < 0:
        X = np.ascontiguousarray(X)
    if check_finite:
        _check_finite(X, name)
    return X


def _numeric_object_array(a, name):
    # An object array of numbers converts (scikit-learn accepts those); anything else is
    # reported against the argument, keeping NumPy's reason.
    try:
        return a.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{name} has dtype object with a non-numeric value: {exc}") from None


def _check_finite(a, name):
    # A sum is NaN or infinite whenever an element is (or when finite values overflow,
    # which the exact check below then clears): one fast pass, no boolean temporary.
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.add.reduce(a, axis=None, dtype=np.float64)
    if np.isfinite(total):
        return
    if not np.isfinite(a).all():
        bad = np.argwhere(~np.isfinite(a))[0]
        value = a[tuple(bad)]
        kind = "NaN" if np.isnan(value) else "infinity"
        where = f"row {bad[0]}" + (f", column {bad[1]}" if len(bad) > 1 else "")
        raise ValueError(
            f"Input {name} contains {kind} (first at {where}); fastbatch trains on finite "
            "values only: drop or impute those rows"
        )


def _as_target(y, n_samples, check_finite=True):
    if y is None:
        raise ValueError("MiniBatchSGDRegressor requires y to be passed, but the target y "
                         "is None")
    if _is_sparse(y):
        raise TypeError("sparse input is not supported for y; convert it with y.toarray()")
    y = np.asarray(y)
    if y.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: y has dtype {y.dtype}")
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please change the "
            "shape of y to (n_samples,), for example using ravel().",
            _sklearn_compatible(DataConversionWarning, "DataConversionWarning"), stacklevel=3)
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y should be a 1d array, got an array of shape {y.shape} instead")
    if y.dtype.kind not in "biufO":
        raise ValueError(f"y must be numeric, got dtype {y.dtype}")
    if y.dtype.kind == "O":
        y = _numeric_object_array(y, "y")
    y = np.ascontiguousarray(y, dtype=np.float64)
    if y.shape[0] != n_samples:
        raise ValueError(
            f"X and y have inconsistent numbers of samples: X has {n_samples}, "
            f"y has {y.shape[0]}"
        )
    if check_finite:
        _check_finite(y, "y")
    return y


def _check_number(value, name, *, minimum, strict=False):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value < minimum or (strict and value == minimum):
        bound = f"> {minimum}" if strict else f">= {minimum}"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return value


def _standardization(X, standardize):
    """Per-feature mean and inverse scale (0 and 1 when off; 1 for constant features)."""
    d = X.shape[1]
    if not standardize:
        return np.zeros(d), np.ones(d)
    mean, std = column_moments(X)
    # A constant feature is left unscaled: dividing by a zero std would blow it up.  A
    # column of one value that is not exact in binary (0.1) gets a std of rounding
    # noise, so "constant" means a std below what rounding of the mean can produce.
    constant = std <= 10 * np.finfo(X.dtype).eps * np.maximum(np.abs(mean), 1.0)
    inv_scale = np.where(constant, 1.0, 1.0 / np.where(constant, 1.0, std))
    return mean, inv_scale


# ---------------------------------------------------------------------------------------
# Low-level entry points.

BatchGradient = namedtuple("BatchGradient", ["coef_sum", "intercept_sum", "squared_sum", "n"])
BatchGradient.__doc__ = """Gradient sums of one batch (see :func:`linreg_gradient`).

``coef_sum[j] = sum_i z_ij r_i``, ``intercept_sum = sum_i r_i``, ``squared_sum =
sum_i r_i**2`` and ``n`` rows.  Sums add across processes: all-reduce them, then the
combined batch's gradient is ``coef_sum / n + alpha * coef`` and ``intercept_sum / n``.
"""


def _prepared(X, y, mean, scale, check_input):
    X = _as_float_matrix(X, check_finite=check_input)
    y = _as_target(y, X.shape[0], check_finite=check_input)
    d = X.shape[1]
    mean = np.zeros(d) if mean is None else np.ascontiguousarray(mean, dtype=np.float64)
    scale = np.ones(d) if scale is None else np.asarray(scale, dtype=np.float64)
    if mean.shape != (d,) or scale.shape != (d,):
        raise ValueError(f"mean and scale must have shape ({d},), got {mean.shape} and "
                         f"{scale.shape}")
    if not (scale > 0).all():
        raise ValueError("scale must be positive (use 1 for constant features)")
    return X, y, mean, np.ascontiguousarray(1.0 / scale)


def _as_order(order, n, name="order"):
    order = np.asarray(order)
    if order.dtype.kind not in "iu" or order.ndim != 1:
        raise TypeError(f"{name} must be a 1-d integer array, got {order.dtype} "
                        f"with shape {order.shape}")
    order = np.ascontiguousarray(order, dtype=np.int64)
    if order.size and (order.min() < 0 or order.max() >= n):
        raise IndexError(f"{name} has values outside [0, {n})")
    return order


def linreg_sgd_epoch(X, y, coef, intercept, *, order=None, batch_size=32,
                     learning_rate=0.01, alpha=0.0, mean=None, scale=None,
                     check_input=True):
    """One fused epoch of mini-batch SGD for linear regression, updating ``coef`` in place.

    Rows are visited in ``order`` (read in place through it, never gathered) and cut into
    batches of ``batch_size``; per batch of ``k`` rows ``r = z.coef + intercept - y``,
    ``coef -= learning_rate * (Z^T r / k + alpha * coef)``,
    ``intercept -= learning_rate * sum(r) / k``, with ``z = (x - mean) / scale``.

    Parameters
    ----------
    X : array_like of shape (n_samples, n_features)
        float32 and float64 are read as they are; other dtypes convert to float64.
    y : array_like of shape (n_samples,)
    coef : ndarray of float64, shape (n_features,)
        Parameters in the standardised space; updated in place.
    intercept : float
    order : array_like of int, optional
        The rows of the epoch in visiting order (a permutation, a shard, ...). Default:
        all rows in order.
    batch_size, learning_rate, alpha : see :class:`MiniBatchSGDRegressor`.
    mean, scale : array_like of shape (n_features,), optional
        Standardisation folded into the kernel (default 0 and 1: none).
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
    X, y, mean, inv_scale = _prepared(X, y, mean, scale, check_input)
    if not (isinstance(coef, np.ndarray) and coef.dtype == np.float64
            and coef.shape == (X.shape[1],) and coef.flags.c_contiguous):
        raise TypeError(f"coef must be a C-contiguous float64 array of shape "
                        f"({X.shape[1]},) (it is updated in place)")
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    learning_rate = _check_number(learning_rate, "learning_rate", minimum=0.0, strict=True)
    alpha = _check_number(alpha, "alpha", minimum=0.0)
    if order is not None:
        order = _as_order(order, X.shape[0])
    status, intercept = sgd_epoch(X, y, order, batch_size, mean, inv_scale, coef,
                                  float(intercept), learning_rate, alpha)
    if status:
        raise TrainingDivergedError(
            f"training diverged (a residual or parameter became non-finite); try a smaller "
            f"learning_rate than {learning_rate}")
    return intercept


def linreg_gradient(X, y, indices, coef, intercept, *, mean=None, scale=None,
                    check_input=True):
    """Gradient sums of the batch ``indices``, without updating anything.

    For data-parallel training: every process computes the sums of its part of a batch,
    the sums are all-reduced, and every process applies the same update (see
    :class:`BatchGradient`).  Same model, standardisation and ``check_input`` as
    :func:`linreg_sgd_epoch`: in a training loop, check the data once and pass
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
    X, y, mean, inv_scale = _prepared(X, y, mean, scale, check_input)
    indices = _as_order(indices, X.shape[0], "indices")
    coef = np.ascontiguousarray(coef, dtype=np.float64)
    if coef.shape != (X.shape[1],):
        raise ValueError(f"coef must have shape ({X.shape[1]},), got {coef.shape}")
    grad, rsum, rsq, status = gradient_sums(X, y, indices, mean, inv_scale, coef,
                                            float(intercept))
    if status:
        raise TrainingDivergedError("a residual is not finite: the parameters diverged")
    return BatchGradient(grad, rsum, rsq, len(indices))


# ---------------------------------------------------------------------------------------
# The estimator.

class MiniBatchSGDRegressor:
    """Linear regression by mini-batch SGD, fused into one Cython pass per batch.

    Every epoch draws a new permutation, cuts it into batches of ``batch_size`` and, per
    batch of ``k`` rows (the last may be short: it divides by its own ``k``), computes
    ``r = X_b beta + b - y_b``, ``g = X_b^T r / k + alpha beta`` and updates
    ``beta -= lr_e g``, ``b -= lr_e sum(r) / k`` with ``lr_e = learning_rate /
    (1 + lr_decay * e)`` for epoch ``e`` (the decay is per epoch, not per step).
    Rows are read in place through the permutation; standardisation (mean 0, std 1) is
    folded into the kernel, never materialised, and undone in ``coef_``/``intercept_``.

    Parameters
    ----------
    batch_size : int, default 32
    learning_rate : float, default 0.01
    lr_decay : float, default 0.0
    epochs : int, default 100
        Epochs run by ``fit``.
    alpha : float, default 0.0
        L2 penalty: the objective is ``sum(r^2) / (2m) + alpha / 2 ||beta||^2``, with
        ``beta`` the coefficients on the standardised features.
    standardize : bool, default True
        Fit on standardised features (constant features are left unscaled).
    shuffle : bool, default True
        A new permutation every epoch (otherwise rows in order).
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator
        scikit-learn's convention. With an int, epoch ``e``'s permutation is a pure
        function of ``(random_state, e)``.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        Coefficients in the units of the original X.
    intercept_ : float
        Intercept in the units of the original X.
    loss_history_ : ndarray of shape (n_epochs_,)
        The objective after each epoch, on the full training data.
    n_epochs_, n_steps_ : int
        Epochs and batches (parameter updates) run so far.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np, fastbatch as fb
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((500, 3)) * [1, 10, 100] + [5, -5, 50]
    >>> y = X @ [2.0, -0.3, 0.01] + 4.0
    >>> est = fb.MiniBatchSGDRegressor(epochs=50, learning_rate=0.05, random_state=0)
    >>> est.fit(X, y).n_steps_
    800
    >>> np.round(est.coef_, 3).tolist(), round(est.intercept_, 2)
    ([2.0, -0.3, 0.01], 4.0)
    """

    def __init__(self, batch_size=32, learning_rate=0.01, lr_decay=0.0, epochs=100,
                 alpha=0.0, standardize=True, shuffle=True, random_state=None):
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.lr_decay = lr_decay
        self.epochs = epochs
        self.alpha = alpha
        self.standardize = standardize
        self.shuffle = shuffle
        self.random_state = random_state

    # -- scikit-learn protocol ---------------------------------------------------------
    @classmethod
    def _get_param_names(cls):
        return sorted(p for p in inspect.signature(cls.__init__).parameters if p != "self")

    def get_params(self, deep=True):
        """Parameters of this estimator (scikit-learn protocol)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        """Set parameters (scikit-learn protocol); validated at ``fit``."""
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; "
                                 f"valid parameters are {valid}")
            setattr(self, name, value)
        return self

    def __repr__(self):
        defaults = inspect.signature(type(self).__init__).parameters
        changed = [f"{k}={v!r}" for k, v in self.get_params().items()
                   if not (isinstance(v, type(defaults[k].default)) and v == defaults[k].default)]
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_is_fitted__(self):
        return hasattr(self, "coef_")

    def __sklearn_tags__(self):
        # Imported here: scikit-learn is only needed when scikit-learn asks.
        from sklearn.utils import InputTags, RegressorTags, Tags, TargetTags
        return Tags(estimator_type="regressor", target_tags=TargetTags(required=True),
                    regressor_tags=RegressorTags(), input_tags=InputTags())

    _estimator_type = "regressor"

    # -- training ------------------------------------------------------------------------
    def _validated_params(self):
        return dict(
            batch_size=check_int(self.batch_size, "batch_size", minimum=1),
            learning_rate=_check_number(self.learning_rate, "learning_rate", minimum=0.0,
                                        strict=True),
            lr_decay=_check_number(self.lr_decay, "lr_decay", minimum=0.0),
            epochs=check_int(self.epochs, "epochs", minimum=1),
            alpha=_check_number(self.alpha, "alpha", minimum=0.0),
            standardize=check_bool(self.standardize, "standardize"),
            shuffle=check_bool(self.shuffle, "shuffle"),
        )

    def _seed(self):
        rs = self.random_state
        if rs is None:
            return fresh_seed()
        if isinstance(rs, (bool, np.bool_)):
            raise TypeError(f"random_state must be None, an int, a RandomState or a "
                            f"Generator, got {rs!r}")
        if isinstance(rs, numbers.Integral):
            if rs < 0:
                raise ValueError(f"random_state must be a non-negative int, got {rs}")
            return int(rs)
        if isinstance(rs, np.random.RandomState):
            return int(rs.randint(0, 2**31 - 1))
        if isinstance(rs, np.random.Generator):
            return int(rs.integers(0, 2**63 - 1))
        raise TypeError(f"random_state must be None, an int, a RandomState or a Generator, "
                        f"got {rs!r} of type {type(rs).__name__}")

    def _initial_state(self, X, params):
        """Untrained parameters plus what every epoch needs (seed, standardisation)."""
        mean, inv_scale = _standardization(X, params["standardize"])
        return dict(seed=self._seed(), mean=mean, inv_scale=inv_scale,
                    beta=np.zeros(X.shape[1]), intercept=0.0, history=[], epochs=0,
                    steps=0)

    def _run_epochs(self, X, y, state, params, n_epochs, progress=None):
        """Run epochs on a private copy of the state; return it, or raise on divergence.

        The loss of epoch e needs the parameters as they are at its end, and one pass over
        X.  On data large enough to pay for the hand-over, that pass runs in a second
        thread on a snapshot of those parameters while epoch e + 1 trains (both kernels
        release the GIL): the same numbers, computed on both cores.
        """
        beta = state["beta"].copy()
        b = state["intercept"]
        history = list(state["history"])
        n = X.shape[0]
        order = np.empty(n, dtype=np.int64) if params["shuffle"] else None
        first = state["epochs"]
        overlap = n_epochs > 1 and X.size >= OVERLAP_MIN_VALUES
        pool = ThreadPoolExecutor(max_workers=1) if overlap else None
        pending = None            # (epoch, learning rate, loss or future)

        def settle():
            # Check and record the loss of the pending epoch (in epoch order).
            epoch, lr, J = pending
            J = J.result() if pool is not None else J
            if not np.isfinite(J):
                self._diverged(epoch, lr, params)
            history.append(J)
            if progress is not None:
                progress(epoch, J)

        try:
            for e in range(first, first + n_epochs):
                lr = params["learning_rate"] / (1.0 + params["lr_decay"] * e)
                if order is not None:
                    permutation_into(epoch_bit_generator(state["seed"], e), order)
                status, b = sgd_epoch(X, y, order, params["batch_size"], state["mean"],
                                      state["inv_scale"], beta, b, lr, params["alpha"])
                if pending is not None:
                    settle()
                    pending = None
                if status != 0:
                    self._diverged(e, lr, params)
                args = (X, y, state["mean"], state["inv_scale"], beta.copy(), b,
                        params["alpha"])
                pending = (e, lr, pool.submit(loss, *args) if pool else loss(*args))
            if pending is not None:
                settle()
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
        done = len(history) - len(state["history"])
        return dict(state, beta=beta, intercept=b, history=history,
                    epochs=state["epochs"] + done,
                    steps=state["steps"] + done * num_batches(n, params["batch_size"]))

    @staticmethod
    def _diverged(epoch, lr, params):
        raise TrainingDivergedError(
            f"training diverged at epoch {epoch} (learning rate {lr:g}): the loss became "
            f"non-finite; try a smaller learning_rate than {params['learning_rate']}. "
            "The estimator's previous state is kept.")

    def _commit(self, state, n_features):
        beta, inv_scale, mean = state["beta"], state["inv_scale"], state["mean"]
        coef = beta * inv_scale
        self.coef_ = coef
        self.intercept_ = float(state["intercept"] - np.dot(mean, coef))
        self.loss_history_ = np.asarray(state["history"], dtype=np.float64)
        self.n_epochs_ = state["epochs"]
        self.n_steps_ = state["steps"]
        self.n_features_in_ = n_features
        self._state = state

    def fit(self, X, y, *, progress=None):
        """Fit from scratch: ``epochs`` epochs on (X, y).

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
        y : array_like of shape (n_samples,)
        progress : callable, optional
            Called as ``progress(epoch, loss)`` after every epoch.

        Returns
        -------
        self
        """
        return self._train(X, y, progress, fresh=True)

    def partial_fit(self, X, y, *, progress=None):
        """Run one more epoch on (X, y), continuing from the fitted state.

        The first call (on an unfitted estimator) takes the standardisation from this X.
        The learning rate continues its per-epoch decay from ``n_epochs_``.

        Returns
        -------
        self
        """
        return self._train(X, y, progress, fresh=False)

    def _train(self, X, y, progress, fresh):
        # fit (fresh: all epochs from new parameters) and partial_fit (one more epoch).
        params = self._validated_params()
        X = _as_float_matrix(X)
        y = _as_target(y, X.shape[0])
        if fresh or not hasattr(self, "_state"):
            state = self._initial_state(X, params)
        else:
            self._check_n_features(X)
            state = self._state
        n_epochs = params["epochs"] if fresh else 1
        state = self._run_epochs(X, y, state, params, n_epochs, progress)
        self._commit(state, X.shape[1])
        return self

    # -- prediction ----------------------------------------------------------------------
    def _check_n_features(self, X):
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input")

    def _check_fitted(self):
        if not hasattr(self, "coef_"):
            raise _sklearn_compatible(NotFittedError, "NotFittedError")(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator.")

    def predict(self, X):
        """Predictions ``X @ coef_ + intercept_`` (float64), shape (n_samples,)."""
        self._check_fitted()
        X = _as_float_matrix(X)
        self._check_n_features(X)
        return X.astype(np.float64, copy=False) @ self.coef_ + self.intercept_

    def score(self, X, y):
        """Coefficient of determination R^2 of the predictions (as scikit-learn's)."""
        pred = self.predict(X)
        y = _as_target(y, pred.shape[0])
        ss_res = float(np.sum((y - pred) ** 2))
        ss_tot = float(np.sum((y - y.mean()) ** 2))
        if ss_tot == 0.0:
            return 1.0 if ss_res == 0.0 else 0.0
        return 1.0 - ss_res / ss_tot
