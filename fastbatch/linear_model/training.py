"""The epoch loop of MiniBatchSGDRegressor: typed training state, the loss of each epoch
read in the next epoch's pass, the stopping rule, and divergence diagnosis.

``loss_history_[e]`` is J with the parameters as they are at the end of epoch e.  Epoch
e + 1 starts from exactly those parameters and reads every training row anyway, so the
kernel adds up J_e in the same pass (``previous`` sums); only the last epoch of a call
needs one more pass.  A stopping decision that needs J_e is therefore known one epoch
late: that extra epoch is undone (the parameters are restored), so the result is what
stopping right after epoch e gives.
"""

import dataclasses
import math
import time

import numpy as np

from fastbatch.linear_model._linreg import LinregData
from fastbatch.linear_model.options import Iterate, check_options, objective
from fastbatch._kernels.shuffle import permutation_into
from fastbatch._kernels.threads import get_num_threads
from fastbatch._rng import epoch_bit_generator, seed_sequence
from fastbatch.loader.order import SHUFFLE_METHODS
from fastbatch.sources import is_memory_mapped
from fastbatch.sources._source import ArraySource
from fastbatch._validation import (
    check_bool, check_choice, check_count, check_finite_values, check_number,
    seed_of_random_state,
)


class TrainingDivergedError(FloatingPointError):
    """Training produced a non-finite loss or parameter; the fitted state is unchanged.

    Attributes
    ----------
    epoch : int or None
        The epoch in which it happened (None for :func:`linreg_sgd_epoch`).
    learning_rate : float
        The ``learning_rate`` parameter (before the per-epoch decay).
    epoch_learning_rate : float
        The learning rate in effect in that epoch.
    cause : {"learning_rate", "data"}
        "data" when the values of X or y are too large for float64 sums whatever the
        learning rate (rescale them); otherwise lowering the learning rate should help.
    summary : str
        The message without the sentence about the estimator's state (one line).
    """

    def __init__(self, summary, epoch=None, learning_rate=None, epoch_learning_rate=None,
                 cause="learning_rate", state_kept=False):
        message = summary + (". The estimator's previous state is kept." if state_kept
                             else "")
        super().__init__(message)
        self.summary, self.epoch, self.cause = summary, epoch, cause
        self.learning_rate, self.epoch_learning_rate = learning_rate, epoch_learning_rate
        self._state_kept = state_kept

    def __reduce__(self):
        return type(self), (self.summary, self.epoch, self.learning_rate,
                            self.epoch_learning_rate, self.cause, self._state_kept)


def num_threads():
    """Threads the kernels may use (``fastbatch.get_num_threads()``): the one place the
    linear-regression code reads the thread count."""
    return get_num_threads()


def linreg_data(X, y, sample_weight, mean, inv_scale):
    """The kernels' view of the training data: X's rows through its Source."""
    return LinregData(ArraySource([X]), y, sample_weight, mean, inv_scale, num_threads())


def data_overflow(X, y, mean, inv_scale):
    """A sentence naming the input whose size makes float64 sums overflow whatever the
    learning rate (values above sqrt(max / n)), or None."""
    limit = math.sqrt(np.finfo(np.float64).max / max(1, len(y))) / 16
    lo = X.min(axis=0).astype(np.float64)
    hi = X.max(axis=0).astype(np.float64)
    z = np.maximum(np.abs(hi - mean), np.abs(lo - mean)) * inv_scale
    for name, largest in (("X", z.max(initial=0.0)), ("y", np.abs(y).max(initial=0.0))):
        if not largest <= limit:
            return (f"{name} has values up to {largest:.3g} (as the model sees them), too "
                    f"large for float64 sums of squares: rescale {name}")
    return None


def diverged(X, y, mean, inv_scale, verify, epoch, lr, learning_rate, state_kept=True):
    """The exception for a non-finite residual, parameter or loss: bad input (``verify``
    raises it), data too large for float64, or a learning rate too large."""
    verify()
    where = "training diverged" + (f" at epoch {epoch}" if epoch is not None else "")
    where += f" (learning rate {lr:g})" if epoch is not None else ""
    cause = data_overflow(X, y, mean, inv_scale)
    if cause is not None:
        return TrainingDivergedError(f"{where}: {cause}", epoch, learning_rate, lr, "data",
                                     state_kept)
    return TrainingDivergedError(
        f"{where}: the loss or a parameter became non-finite; try a smaller learning_rate "
        f"than {learning_rate}", epoch, learning_rate, lr, "learning_rate", state_kept)


@dataclasses.dataclass(frozen=True)
class TrainingParams:
    """The estimator's validated hyper-parameters."""
    batch_size: int
    learning_rate: float
    lr_decay: float
    epochs: int
    alpha: float
    standardize: bool
    shuffle: bool
    shuffle_method: str
    block_size: int | None
    shuffle_window: int
    fit_intercept: bool
    tol: float | None
    n_iter_no_change: int
    early_stopping: bool
    validation_fraction: float
    warm_start: bool
    verbose: int
    penalty: str | None
    l1_ratio: float
    loss: str
    epsilon: float
    average: int
    lr_schedule: str
    power_t: float

    @classmethod
    def of(cls, est):
        """The validated hyper-parameters of a MiniBatchSGDRegressor."""
        tol, verbose = est.tol, est.verbose
        return cls(
            batch_size=check_count(est.batch_size, "batch_size", minimum=1),
            learning_rate=check_number(est.learning_rate, "learning_rate", minimum=0.0,
                                       strict=True),
            lr_decay=check_number(est.lr_decay, "lr_decay", minimum=0.0),
            epochs=check_count(est.epochs, "epochs", minimum=1),
            alpha=check_number(est.alpha, "alpha", minimum=0.0),
            standardize=check_bool(est.standardize, "standardize"),
            shuffle=check_bool(est.shuffle, "shuffle"),
            shuffle_method=check_choice(est.shuffle_method, "shuffle_method",
                                        tuple(SHUFFLE_METHODS)),
            block_size=(None if est.block_size is None
                        else check_count(est.block_size, "block_size", minimum=1)),
            shuffle_window=check_count(est.shuffle_window, "shuffle_window", minimum=1),
            fit_intercept=check_bool(est.fit_intercept, "fit_intercept"),
            tol=None if tol is None else check_number(tol, "tol", minimum=0.0),
            n_iter_no_change=check_count(est.n_iter_no_change, "n_iter_no_change",
                                         minimum=1),
            early_stopping=check_bool(est.early_stopping, "early_stopping"),
            validation_fraction=check_number(est.validation_fraction,
                                             "validation_fraction", minimum=0.0,
                                             strict=True, maximum=1.0),
            warm_start=check_bool(est.warm_start, "warm_start"),
            verbose=check_count(int(verbose) if isinstance(verbose, bool) else verbose,
                                "verbose"),
            **check_options(est),
        )

    def learning_rate_at(self, epoch):
        return self.learning_rate / (1.0 + self.lr_decay * epoch)


@dataclasses.dataclass(frozen=True)
class TrainingState:
    """What one fit/partial_fit call hands to the next, in the standardised space."""
    seed: int
    mean: np.ndarray
    inv_scale: np.ndarray
    beta: np.ndarray
    intercept: float
    history: tuple = ()
    epochs: int = 0
    steps: int = 0
    # The options' state (linear_model.options.Iterate): the L1 penalty received, the
    # running means of averaging from step average_from on, the adaptive rate's divisions.
    l1_applied: np.ndarray | None = None
    l1_total: float = 0.0
    average_from: int = 0
    average_coef: np.ndarray | None = None
    average_intercept: float = 0.0
    lr_divisions: int = 0

    def fitted(self):
        """``(beta, intercept)`` as the model stands: the averages once averaging has
        started (scikit-learn's ASGD), else the iterate."""
        if self.average_coef is not None and 0 < self.average_from <= self.steps:
            return self.average_coef, self.average_intercept
        return self.beta, self.intercept


class Split:
    """Training rows, and the held-out validation rows of ``early_stopping``."""

    def __init__(self, n, seed, params, sample_weight, y, hold_out):
        self.train, self.validation, self.ss_tot = None, None, None
        if not hold_out:
            self.n_train = n
            return
        n_val = math.ceil(params.validation_fraction * n)
        if n_val < 1 or n - n_val < 1:
            raise ValueError(
                f"validation_fraction={params.validation_fraction} leaves an empty training "
                f"or validation set with {n} samples")
        rng = np.random.default_rng(seed_sequence("validation", seed, 0))
        perm = rng.permutation(n)
        self.validation, self.train = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        self.n_train = len(self.train)
        w = np.ones(n_val) if sample_weight is None else sample_weight[self.validation]
        yv = y[self.validation]
        self.ss_tot = float(w @ (yv - np.average(yv, weights=w)) ** 2) if w.any() else 0.0

    def order(self, seed, epoch, params, buffer, blocks):
        """``(rows, order)``: the rows of an epoch in visiting order (None: all rows in
        order), the shuffle method's order of the training positions as a loader seeded
        with ``seed`` draws it (``blocks``: the block shuffle's bounds), and that order
        (None for the exact shuffle and none)."""
        if not params.shuffle:
            return self.train, None
        order = None
        if params.shuffle_method == "exact":
            permutation_into(epoch_bit_generator(seed, epoch), buffer)
        else:
            options = ({"bounds": blocks, "window": params.shuffle_window}
                       if params.shuffle_method == "block" else {})
            order = SHUFFLE_METHODS[params.shuffle_method].seeded(self.n_train, seed, epoch,
                                                                 **options)
            buffer[:] = order.at(np.arange(self.n_train, dtype=np.int64))
        return (buffer if self.train is None else self.train[buffer]), order

    def rows_of(self, ranges):
        """The rows ``[first, stop)`` holding training positions ``ranges`` (k x 2)."""
        if self.train is None or not len(ranges):
            return ranges
        return np.stack([self.train[ranges[:, 0]], self.train[ranges[:, 1] - 1] + 1], axis=1)


class WindowReadAhead:
    """Read-ahead for the block shuffle on memory-mapped data: as the epoch enters window
    ``w``, the pages of window ``w + 1``'s blocks are asked for in the background and
    window ``w``'s are read in file order (large sequential reads, not a page fault per
    row).  A hint: the results are those of an epoch without it."""

    def __init__(self, data, split):
        arrays = [np.asarray(a) for a in (data.X, data.y, data.sample_weight)
                  if a is not None]
        mapped = [is_memory_mapped(a) for a in arrays]
        self.source = ArraySource(arrays, mapped) if any(mapped) else None
        self.split, self.order = split, None

    def epoch(self, order):
        """``(windows, on_window)`` for the kernel (None, None: nothing to read ahead)."""
        if self.source is None or order is None or not hasattr(order, "window_blocks"):
            return None, None
        self.order = order
        return order.window_starts[:-1], self

    def _blocks(self, w):
        if w >= self.order.n_windows:
            return np.empty((0, 2), dtype=np.int64)
        return self.split.rows_of(self.order.window_blocks(w))

    def __call__(self, w):
        self.source.will_need_rows(self._blocks(w + 1))
        self.source.will_need_rows(self._blocks(w), True)


class Stopper:
    """scikit-learn's rule: stop once the score has not improved on the best one by
    ``tol`` for ``n_iter_no_change`` epochs in a row (never when tol is None), or with
    the adaptive schedule, divide the learning rate by 5 and go on while it is above
    1e-6."""

    def __init__(self, params):
        self.tol, self.patience = params.tol, params.n_iter_no_change
        self.best, self.count = -math.inf, 0

    def stop(self, score):
        """Whether the rule fires after this score; firing starts a new count (the
        adaptive schedule divides the rate and goes on, as scikit-learn's)."""
        if self.tol is None:
            return False
        self.count = self.count + 1 if score < self.best + self.tol else 0
        self.best = max(self.best, score)
        if self.count < self.patience:
            return False
        self.count = 0
        return True


def initial_state(X, y, sample_weight, params, random_state, coef=None, intercept=0.0):
    """Untrained parameters plus what every epoch needs (seed, standardisation); ``coef``
    and ``intercept`` (in X's units) are where training starts (default 0)."""
    d = X.shape[1]
    data = linreg_data(X, y, sample_weight, np.zeros(d), np.ones(d))
    mean, inv_scale = standardization(data, params.standardize, params.fit_intercept,
                                      check_data(X))
    beta = np.zeros(d) if coef is None else coef / inv_scale
    b = intercept + (0.0 if coef is None else float(mean @ coef))
    return TrainingState(seed=seed_of_random_state(random_state), mean=mean,
                         inv_scale=inv_scale, beta=beta, intercept=b)


def train(X, y, sample_weight, state, params, n_epochs, progress=None, stop_rules=True):
    """Run up to n_epochs epochs on (X, y) from ``state``; return the new state (the
    estimator does not change here)."""
    data = linreg_data(X, y, sample_weight, state.mean, state.inv_scale)
    split = Split(X.shape[0], state.seed, params, sample_weight, y,
                  hold_out=stop_rules and params.early_stopping)
    return run_epochs(data, state, params, n_epochs, split, check_data(X), progress,
                      stop_rules)


def run_epochs(data, state, params, n_epochs, split, verify, progress, stop_rules=True):
    """Train ``n_epochs`` epochs (fewer if the stopping rule fires) from ``state`` on a
    private copy of its parameters; return the new state.  Raises TrainingDivergedError
    (or the ValueError ``verify`` raises for bad input) with nothing changed."""
    it = Iterate.of(state, params)
    history = list(state.history)
    stopper = Stopper(params) if stop_rules else None
    buffer = np.empty(split.n_train, dtype=np.int64) if params.shuffle else None
    # Blocks of consecutive training rows (ArraySource's natural unit: ~1 MiB of X).
    blocks = (ArraySource([data.X[:split.n_train]]).block_bounds(params.block_size)
              if params.shuffle and params.shuffle_method == "block" else None)
    ahead = WindowReadAhead(data, split) if blocks is not None else None
    started = time.perf_counter()
    first, pending, pending_score = state.epochs, None, None

    def fail(epoch):
        X, y = data.X, data.y
        return diverged(X, np.asarray(y), state.mean, state.inv_scale, verify, epoch,
                        it.rate(params, epoch), params.learning_rate)

    def record(epoch, J, score=None):
        # The loss of `epoch` is known: check it, keep it, report it.
        if not np.isfinite(J):
            raise fail(epoch)
        history.append(J)
        if progress is not None:
            progress(epoch, J)
        if params.verbose:
            extra = f", validation R^2 {score:.6f}" if score is not None else ""
            print(f"-- Epoch {epoch + 1}: loss {J:.6g}{extra}, learning rate "
                  f"{it.rate(params, epoch):.4g}, "
                  f"{time.perf_counter() - started:.2f} s", flush=True)

    e = first
    while e < first + n_epochs:
        before = it.copy()
        order, visiting = split.order(state.seed, e, params, buffer, blocks)
        windows, on_window = ahead.epoch(visiting) if ahead is not None else (None, None)
        status, previous = it.epoch(data, order, params, e, pending is not None, windows,
                                    on_window)
        if previous is not None:
            J = objective(previous, before.fitted()[0], params)
            if stopper is not None and split.validation is None and stopper.stop(-J):
                record(pending, J)
                it, pending = before, None
                # Epoch e is undone: stop right after e - 1, or (adaptive) run e again
                # at the divided rate.
                if not it.slow_down(params):
                    break
                continue
            record(pending, J, pending_score)
        if status != 0:
            raise fail(e)
        pending, pending_score = e, None
        if split.validation is not None:
            pending_score = validation_score(data, split, *it.fitted())
            if not np.isfinite(pending_score):
                raise fail(e)
            if stopper is not None and stopper.stop(pending_score) and not it.slow_down(params):
                break
        e += 1
    if pending is not None:
        record(pending, objective(it.loss_sums(data, split.train, params), it.fitted()[0],
                                  params), pending_score)
    done = len(history) - len(state.history)
    return dataclasses.replace(state, history=tuple(history), epochs=state.epochs + done,
                               **it.fields())


def validation_score(data, split, beta, b):
    """R^2 of the held-out rows (weighted), as ``score`` computes it."""
    ss_res, _ = data.loss_sums(split.validation, beta, b)
    if split.ss_tot == 0.0:
        return 1.0 if ss_res == 0.0 else 0.0
    return 1.0 - ss_res / split.ss_tot


def check_data(X, name="X"):
    """The exact NaN/inf scan, run only when a pass has met a non-finite value."""
    return lambda: check_finite_values(X, name)


def standardization(data, standardize, fit_intercept, verify):
    """Per-feature mean and inverse scale (0 and 1 when off; 1 for constant features)."""
    d = data.X.shape[1]
    if not standardize:
        return np.zeros(d), np.ones(d)
    mean, m2, weight = data.moments()
    with np.errstate(over="ignore", invalid="ignore"):
        std = np.sqrt(m2 / weight)
    if not (np.isfinite(mean).all() and np.isfinite(std).all()):
        verify()                      # NaN/inf in X: a ValueError naming row and column
        mean, std = moments_of_huge_values(data.X, data.sample_weight, mean, std)
    # A constant feature is left unscaled: dividing by a zero std would blow it up.  The
    # moments of a constant column are exactly (value, 0); the relative threshold only
    # absorbs rounding, so a feature of tiny but real spread (x * 1e-15) is kept.
    constant = std <= 4 * np.finfo(np.float64).eps * np.abs(mean)
    inv_scale = np.where(constant, 1.0, 1.0 / np.where(constant, 1.0, std))
    # Without an intercept the features are scaled but not centred (centring would need
    # one).
    return (mean if fit_intercept else np.zeros(d)), inv_scale


def moments_of_huge_values(X, sample_weight, mean, std):
    """Mean and std again for the columns whose sums overflowed (finite values above
    ~1e154), on the column divided by a power of two."""
    mean, std = mean.copy(), std.copy()
    for j in np.flatnonzero(~(np.isfinite(mean) & np.isfinite(std))):
        col = X[:, j].astype(np.float64)
        scale = 2.0 ** np.frexp(np.abs(col).max())[1]
        mu = np.average(col / scale, weights=sample_weight)
        mean[j] = mu * scale
        std[j] = np.sqrt(np.average((col / scale - mu) ** 2, weights=sample_weight)) * scale
    return mean, std
