"""scikit-learn's SGD options in MiniBatchSGDRegressor: losses, penalties, averaging and
learning-rate schedules.  Their checks, the objective they define, and the iterate an
epoch carries (the parameters, the L1 penalty's state, the averages, the adaptive rate).

The kernel runs them all inside the fused epoch (``_linreg.EpochOptions``): the loss in
the row loops, the L1 step, the invscaling rate and the running means once per batch
step, on the calling thread in step order, so they never depend on the thread count.
"""

import numbers

import numpy as np

from fastbatch.linear_model._linreg import LOSSES, EpochOptions
from fastbatch.loader import num_batches
from fastbatch._validation import check_choice, check_int, check_number, shown

PENALTIES = ("l2", "l1", "elasticnet", None)
LR_SCHEDULES = ("epoch_decay", "constant", "invscaling", "adaptive")
# scikit-learn's "adaptive" schedule: the rate is divided by 5 each time the stopping rule
# fires, as long as it is above 1e-6 (then the rule stops training).
ADAPTIVE_DIVISOR = 5.0
ADAPTIVE_MIN_RATE = 1e-6


def check_options(est):
    """The validated options of a MiniBatchSGDRegressor, as TrainingParams fields."""
    penalty = est.penalty
    if penalty is not None and (not isinstance(penalty, str) or penalty not in PENALTIES):
        raise ValueError(f"penalty must be one of {PENALTIES}, got {shown(penalty)}")
    l1_ratio = check_number(est.l1_ratio, "l1_ratio", minimum=0.0)
    if l1_ratio > 1.0:
        raise ValueError(f"l1_ratio must be a finite number in [0, 1], got {shown(l1_ratio)}")
    return dict(
        penalty=penalty,
        l1_ratio=l1_ratio,
        loss=check_choice(est.loss, "loss", tuple(LOSSES)),
        epsilon=check_number(est.epsilon, "epsilon", minimum=0.0),
        average=check_average(est.average),
        lr_schedule=check_choice(est.lr_schedule, "lr_schedule", LR_SCHEDULES),
        power_t=check_number(est.power_t, "power_t", minimum=0.0),
    )


def check_average(value):
    """``average`` as the step averaging starts from: 0 (False: none), 1 (True) or k."""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if not isinstance(value, numbers.Integral):
        raise TypeError(f"average must be True, False or an int step >= 0, got "
                        f"{shown(value)}")
    return check_int(value, "average", minimum=0, maximum=np.iinfo(np.int64).max)


def as_intercept(value, name="intercept_init"):
    """A finite real number, or an array of one (scikit-learn's ``intercept_init``)."""
    if isinstance(value, (np.ndarray, list, tuple)):
        a = np.asarray(value)
        if a.shape not in ((), (1,)):
            raise ValueError(f"{name} must be a number or an array of shape (1,), got "
                             f"shape {a.shape}")
        value = a.reshape(-1)[0].item() if a.dtype.kind in "biuf" else a.reshape(-1)[0]
    return check_number(value, name, minimum=-np.inf)


def penalty_strengths(params):
    """``(l1, l2)``: the objective's penalty is ``l1 ||beta||_1 + l2 / 2 ||beta||^2``."""
    if params.penalty == "l2":
        return 0.0, params.alpha
    if params.penalty == "l1":
        return params.alpha, 0.0
    if params.penalty == "elasticnet":
        return params.alpha * params.l1_ratio, params.alpha * (1.0 - params.l1_ratio)
    return 0.0, 0.0


def objective(sums, beta, params):
    """J = sum(w 2L(r)) / (2 sum w) + the penalty, from the kernels' sums (for the squared
    error, sum(w r^2) / (2 sum w) + alpha / 2 ||beta||^2 with the default penalty)."""
    squared, weight = sums
    l1, l2 = penalty_strengths(params)
    with np.errstate(over="ignore", invalid="ignore"):   # inf is checked by the caller
        J = (squared / (2.0 * weight) if weight else 0.0) + 0.5 * l2 * float(beta @ beta)
        if l1:
            J += l1 * float(np.abs(beta).sum())
    return J


class Iterate:
    """What training updates, in the standardised space: ``beta`` and ``b`` (in place, by
    the kernel), the kernel's options with their state (``EpochOptions``: steps, the L1
    penalty received, the averages) and the adaptive schedule's divisions."""

    def __init__(self, beta, b, options, divisions):
        self.beta, self.b, self.options, self.divisions = beta, b, options, divisions

    @classmethod
    def of(cls, state, params):
        """A private copy of a TrainingState's iterate, with ``params``' options.

        Averaging that is under way continues; averaging switched on after some steps
        starts at the next step (or at ``average``, if later)."""
        l1, _ = penalty_strengths(params)
        carry = params.average and state.average_coef is not None
        start = (state.average_from if carry
                 else max(params.average, state.steps + 1) if params.average else 0)
        options = EpochOptions(
            len(state.beta), loss=params.loss, epsilon=params.epsilon, l1=l1,
            power_t=params.power_t if params.lr_schedule == "invscaling" else 0.0,
            steps=state.steps, average_from=start,
            l1_applied=state.l1_applied if l1 else None, l1_total=state.l1_total if l1 else 0.0,
            average_coef=state.average_coef if carry else None,
            average_intercept=state.average_intercept if carry else 0.0)
        return cls(state.beta.copy(), state.intercept, options, state.lr_divisions)

    def copy(self):
        return Iterate(self.beta.copy(), self.b, self.options.copy(), self.divisions)

    def fitted(self):
        """``(beta, b)`` as the model stands: the averages once averaging has started."""
        if self.options.averaging:
            return self.options.average_coef, self.options.average_intercept
        return self.beta, self.b

    def rate(self, params, epoch):
        """The learning rate of ``epoch`` (invscaling's base: the kernel divides it by
        t**power_t at step t)."""
        if params.lr_schedule == "epoch_decay":
            return params.learning_rate_at(epoch)
        return params.learning_rate / ADAPTIVE_DIVISOR ** self.divisions

    def slow_down(self, params):
        """The adaptive schedule's answer to the stopping rule: divide the rate by 5 and
        go on (True), or stop (False: not adaptive, or the rate is at its floor)."""
        if params.lr_schedule != "adaptive" or not (
                params.learning_rate / ADAPTIVE_DIVISOR ** self.divisions > ADAPTIVE_MIN_RATE):
            return False
        self.divisions += 1
        return True

    def epoch(self, data, order, params, epoch, previous, windows=None, on_window=None):
        """Train one epoch in place: ``(status, previous_sums)`` (see LinregData;
        ``windows`` and ``on_window``: the block shuffle's read-ahead).  Without any
        option the kernel runs as plain mini-batch SGD (no per-step work of the options),
        and only the step count moves on."""
        l1, l2 = penalty_strengths(params)
        plain = (params.loss == "squared_error" and not l1 and not self.options.average_from
                 and params.lr_schedule != "invscaling")
        status, self.b, sums = data.sgd_epoch(
            order, self.beta, self.b, params.batch_size, self.rate(params, epoch), l2,
            params.fit_intercept, previous, windows, on_window,
            None if plain else self.options)
        if plain:
            n = data.X.shape[0] if order is None else len(order)
            self.options = EpochOptions(
                len(self.beta), steps=self.options.steps + num_batches(n, params.batch_size))
        return status, sums

    def loss_sums(self, data, rows, params):
        beta, b = self.fitted()
        return data.loss_sums(rows, beta, b, params.loss, params.epsilon)

    def fields(self):
        """The TrainingState fields of this iterate."""
        o = self.options
        averaging = o.average_from > 0
        return dict(beta=self.beta, intercept=self.b, steps=o.steps,
                    l1_applied=o.l1_applied if o.l1_total else None, l1_total=o.l1_total,
                    average_from=o.average_from,
                    average_coef=o.average_coef if averaging else None,
                    average_intercept=o.average_intercept if averaging else 0.0,
                    lr_divisions=self.divisions)
