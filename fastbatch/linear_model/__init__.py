"""Mini-batch SGD linear regression on the fused kernels (``fastbatch.linear_model._linreg``): the
estimator, and the low-level ``linreg_*`` entry points (``entry_points``).

The estimator follows scikit-learn's conventions (``get_params``/``set_params``,
``clone``, ``fit``/``partial_fit``/``predict``/``score``, trailing-underscore fitted
attributes, ``n_features_in_``) without importing scikit-learn.  Argument checks live in
``fastbatch._validation``; the epoch loop in ``fastbatch.linear_model.training``.
"""

import inspect

import numpy as np

from fastbatch.linear_model.entry_points import (
    BatchGradient, linreg_gradient, linreg_sgd_epoch,
)
from fastbatch.linear_model.training import (
    TrainingDivergedError, TrainingParams, initial_state, train,
)
from fastbatch.linear_model.options import as_intercept
from fastbatch._validation import (
    DataConversionWarning, as_finite_vector, as_float_matrix, as_sample_weight, as_target,
    rescaled_weights, shown, sklearn_compatible,
)

__all__ = ["BatchGradient", "DataConversionWarning", "MiniBatchSGDRegressor",
           "NotFittedError", "TrainingDivergedError", "linreg_gradient", "linreg_sgd_epoch"]


class NotFittedError(ValueError, AttributeError):
    """Raised when ``predict`` or ``score`` is called before ``fit``."""


# ---------------------------------------------------------------------------------------
# The estimator.

class MiniBatchSGDRegressor:
    """Linear regression by mini-batch SGD, fused into one pass over the rows per epoch.

    Every epoch draws a new permutation, cuts it into batches of ``batch_size`` and, per
    batch of ``k`` rows (the last may be short: it divides by its own ``k``, or by its
    weight sum with ``sample_weight``), computes ``r = X_b beta + b - y_b``,
    ``g = X_b^T r / k + alpha beta`` and updates ``beta -= lr_e g``,
    ``b -= lr_e sum(r) / k`` with ``lr_e = learning_rate / (1 + lr_decay * e)`` for epoch
    ``e`` (the decay is per epoch, not per step).  Rows are read in place through the
    permutation; standardisation (mean 0, std 1) is folded into the kernel, never
    materialised, and undone in ``coef_``/``intercept_``.  X is read once per epoch (the
    loss of an epoch is added up while the next one trains), by two cores where there are.

    scikit-learn's ``SGDRegressor`` options run inside the same fused epoch: ``penalty``
    (the L1 part by a step that truncates at zero, so that irrelevant coefficients end
    exactly at 0), ``loss`` (``r`` above becomes the loss's slope ``L'(r)``), ``average``
    and ``lr_schedule``.  Results are bit-identical for any thread count with every option.

    Parameters
    ----------
    All parameters are keyword-only, as in scikit-learn.

    batch_size : int, default 32
    learning_rate : float, default 0.01
    lr_decay : float, default 0.0
    epochs : int, default 100
        Epochs run by ``fit`` (at most, with ``tol``).
    alpha : float, default 0.0
        Penalty strength: with the default ``penalty="l2"`` the objective is
        ``sum(w r^2) / (2 sum(w)) + alpha / 2 ||beta||^2``, with ``beta`` the
        coefficients on the standardised features.
    penalty : {"l2", "l1", "elasticnet", None}, default "l2"
        The objective is ``sum(w L(r)) / sum(w) + alpha * (l1_ratio * ||beta||_1 +
        (1 - l1_ratio) / 2 * ||beta||^2)`` (scikit-learn's ``ElasticNet`` with weights):
        "l1" is ``l1_ratio=1``, "l2" ``l1_ratio=0``, None no penalty.  The L1 part is
        scikit-learn's cumulative penalty (Tsuruoka et al. 2009), once per batch step.
    l1_ratio : float in [0, 1], default 0.15
        "elasticnet" only: the L1 share of the penalty.
    loss : {"squared_error", "huber", "epsilon_insensitive", \
            "squared_epsilon_insensitive"}, default "squared_error"
        ``L(r)`` as in scikit-learn: ``r^2 / 2``; Huber (``r^2 / 2`` within ``epsilon``,
        linear outside: robust to outliers); ``max(0, |r| - epsilon)``;
        ``max(0, |r| - epsilon)^2``.
    epsilon : float, default 0.1
        The losses' threshold, in the units of y.
    average : bool or int, default False
        ASGD: ``coef_`` and ``intercept_`` are the running means of the iterates after
        every step from the first (True) or from step ``average`` on (steps counted over
        the whole fit from 1); before that step the iterates themselves.
    lr_schedule : {"epoch_decay", "constant", "invscaling", "adaptive"}, \
            default "epoch_decay"
        "epoch_decay": ``learning_rate / (1 + lr_decay * e)`` for epoch ``e``;
        "constant": ``learning_rate``; "invscaling": ``learning_rate / t**power_t`` at step
        ``t`` (from 1, over the whole fit); "adaptive" (scikit-learn's): the rate is
        divided by 5 each time the ``tol`` rule is not met for ``n_iter_no_change``
        epochs, and training stops once it is at most 1e-6 (without ``tol`` it stays
        ``learning_rate``).
    power_t : float, default 0.25
        "invscaling" only: the exponent (>= 0).
    standardize : bool, default True
        Fit on standardised features (weighted moments; constant features unscaled).
    shuffle : bool, default True
        A new permutation every epoch (otherwise rows in order).
    shuffle_method : {"exact", "bijective", "block"}, default "exact"
        How an epoch's rows are ordered, as ``BatchLoader``'s ``shuffle_method``: an
        exactly uniform permutation, the keyed bijection, or the block shuffle (blocks
        of ``block_size`` consecutive rows in a keyed order, rows mixed exactly inside
        windows of ``shuffle_window`` blocks), which reads memory-mapped data in runs.
    block_size : int, optional
        "block" only: rows per block (None: about 1 MiB of rows of X).
    shuffle_window : int, default 16
        "block" only: blocks whose rows are mixed together.
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator
        scikit-learn's convention. With an int, epoch ``e``'s permutation is a pure
        function of ``(random_state, e)``.
    fit_intercept : bool, default True
        Without it the intercept is 0 (and standardisation scales without centring).
    tol : float or None, default None
        With a float, ``fit`` stops once the training loss (or, with ``early_stopping``,
        the validation R^2) has not improved by ``tol`` for ``n_iter_no_change`` epochs
        (scikit-learn's ``SGDRegressor`` rule).  None runs all ``epochs``.
    n_iter_no_change : int, default 5
    early_stopping : bool, default False
        Hold out ``validation_fraction`` of the rows of ``fit`` and stop on their R^2.
    validation_fraction : float, default 0.1
    warm_start : bool, default False
        ``fit`` continues from the fitted state (parameters, standardisation, epoch count)
        instead of starting again.
    verbose : int, default 0
        Print one line per epoch.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        Coefficients in the units of the original X.
    intercept_ : float
        Intercept in the units of the original X.
    loss_history_ : ndarray of shape ``(n_epochs_,)``
        The objective (the chosen loss plus the penalty) after each epoch, for the
        parameters as fitted (the averages with ``average``), on the (training) data of
        that call.
    n_epochs_, n_steps_ : int
        Epochs and batches (parameter updates) run so far.
    n_iter_ : int
        Epochs run by the last ``fit`` or ``partial_fit`` call.
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

    def __init__(self, *, batch_size=32, learning_rate=0.01, lr_decay=0.0, epochs=100,
                 alpha=0.0, standardize=True, shuffle=True, random_state=None,
                 fit_intercept=True, tol=None, n_iter_no_change=5, early_stopping=False,
                 validation_fraction=0.1, warm_start=False, verbose=0,
                 shuffle_method="exact", block_size=None, shuffle_window=16,
                 penalty="l2", l1_ratio=0.15, loss="squared_error", epsilon=0.1,
                 average=False, lr_schedule="epoch_decay", power_t=0.25):
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.lr_decay = lr_decay
        self.epochs = epochs
        self.alpha = alpha
        self.standardize = standardize
        self.shuffle = shuffle
        self.random_state = random_state
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.warm_start = warm_start
        self.verbose = verbose
        self.shuffle_method = shuffle_method
        self.block_size = block_size
        self.shuffle_window = shuffle_window
        self.penalty = penalty
        self.l1_ratio = l1_ratio
        self.loss = loss
        self.epsilon = epsilon
        self.average = average
        self.lr_schedule = lr_schedule
        self.power_t = power_t

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
        changed = [f"{k}={shown(v)}" for k, v in self.get_params().items()
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
    def _commit(self, state, n_features, n_iter=None):
        beta, intercept = state.fitted()
        coef = beta * state.inv_scale
        self.coef_ = coef
        self.intercept_ = float(intercept - np.dot(state.mean, coef))
        self.loss_history_ = np.asarray(state.history, dtype=np.float64)
        self.n_iter_ = state.epochs if n_iter is None else n_iter
        self.n_epochs_ = state.epochs
        self.n_steps_ = state.steps
        self.n_features_in_ = n_features
        self._state = state

    def fit(self, X, y, sample_weight=None, coef_init=None, intercept_init=None, *,
            progress=None):
        """Fit: ``epochs`` epochs on (X, y), from scratch (or on from the fitted state
        with ``warm_start``).

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
        y : array_like of shape (n_samples,)
        sample_weight : array_like of shape (n_samples,), optional
            Non-negative weights (not all zero).
        coef_init : array_like of shape (n_features,), optional
            Coefficients to start from, in the units of X (default 0; with
            ``warm_start``, the fitted ones).  Given, the fit starts afresh from them
            (new standardisation and epoch count) even with ``warm_start``.
        intercept_init : float or array_like of shape (1,), optional
            The intercept to start from (default 0; with ``warm_start``, the fitted one).
        progress : callable, optional
            Called as ``progress(epoch, loss)`` after every epoch.

        Returns
        -------
        self
        """
        return self._train(X, y, sample_weight, progress, partial=False,
                           init=(coef_init, intercept_init))

    def partial_fit(self, X, y, sample_weight=None, *, progress=None):
        """Run one more epoch on (X, y), continuing from the fitted state.

        The first call (on an unfitted estimator) takes the standardisation from this X.
        The learning rate continues its per-epoch decay from ``n_epochs_``.  The stopping
        rule (``tol``, ``early_stopping``) applies to ``fit`` only.

        Returns
        -------
        self
        """
        return self._train(X, y, sample_weight, progress, partial=True)

    def _train(self, X, y, sample_weight, progress, partial, init=(None, None)):
        params = TrainingParams.of(self)
        X = as_float_matrix(X, check_finite=False)    # the passes over X check it
        y = as_target(y, X.shape[0])
        sample_weight = rescaled_weights(as_sample_weight(sample_weight, X.shape[0]))
        warm = hasattr(self, "_state") and (partial or params.warm_start)
        if any(value is not None for value in init):
            coef, intercept = self._initial_parameters(X, *init, warm)
            state = initial_state(X, y, sample_weight, params, self.random_state, coef,
                                  intercept)
        elif warm:
            self._check_n_features(X)
            state = self._state
        else:
            state = initial_state(X, y, sample_weight, params, self.random_state)
        before = state.epochs
        state = train(X, y, sample_weight, state, params, 1 if partial else params.epochs,
                      progress, stop_rules=not partial)
        self._commit(state, X.shape[1], n_iter=state.epochs - before)
        return self

    def _initial_parameters(self, X, coef_init, intercept_init, warm):
        """``fit``'s starting point in X's units: the given values, else the fitted ones
        with warm_start, else 0."""
        if coef_init is not None:
            coef = as_finite_vector(coef_init, X.shape[1], "coef_init")
        elif warm:
            self._check_n_features(X)
            coef = self.coef_.copy()
        else:
            coef = np.zeros(X.shape[1])
        if intercept_init is not None:
            intercept = as_intercept(intercept_init)
        else:
            intercept = self.intercept_ if warm else 0.0
        return coef, intercept

    # -- prediction ----------------------------------------------------------------------
    def _check_n_features(self, X):
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input")

    def _check_fitted(self):
        if not hasattr(self, "coef_"):
            raise sklearn_compatible(NotFittedError, "NotFittedError")(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator.")

    def predict(self, X):
        """Predictions ``X @ coef_ + intercept_`` (float64), shape (n_samples,)."""
        self._check_fitted()
        X = as_float_matrix(X)
        self._check_n_features(X)
        return X.astype(np.float64, copy=False) @ self.coef_ + self.intercept_

    def score(self, X, y, sample_weight=None):
        """Coefficient of determination R^2 of the predictions (as scikit-learn's)."""
        pred = self.predict(X)
        y = as_target(y, pred.shape[0])
        w = as_sample_weight(sample_weight, pred.shape[0])
        w = np.ones_like(y) if w is None else w
        ss_res = float(w @ (y - pred) ** 2)
        ss_tot = float(w @ (y - np.average(y, weights=w)) ** 2)
        if ss_tot == 0.0:
            return 1.0 if ss_res == 0.0 else 0.0
        return 1.0 - ss_res / ss_tot

