"""Cases: time to a training loss within 0.1% of the least-squares minimum, fastbatch
against scikit-learn's ``SGDRegressor`` (its default schedule, and the schedule tuned for
this target), a PyTorch ``nn.Linear`` trained by SGD with fastbatch's schedule, and
scikit-learn's closed form ``Ridge(solver="cholesky")``: for a few features, solving the
normal equations (one pass over X, a d x d solve) beats any number of SGD epochs, and the
report says so rather than leaving the row out.

Each side trains from scratch, epoch by epoch, until it arrives or ``MAX_EPOCHS`` have
passed; a side that stops at the cap did not finish the job (``Case.capped``), and the
report shows the ratio against it as a lower bound.
"""

import collections
import functools

import numpy as np

import fastbatch as fb
from fastbatch._bench.data import regression_data
from fastbatch._bench.registry import SEED, Case, format_count
from fastbatch._bench.sgd import LEARNING_RATE

REPORT_ORDER = 40
# The training objective J = sum(r^2) / (2n) must come within TOLERANCE of the
# least-squares minimum.
TOLERANCE = 1e-3
MAX_EPOCHS = 100

Outcome = collections.namedtuple("Outcome", "epochs reached")


def _stopped_at_cap(outcome):
    return not outcome.reached


def _least_squares_minimum(Z, y):
    A = np.column_stack([Z, np.ones(len(Z))])
    coef = np.linalg.lstsq(A, y, rcond=None)[0]
    r = A @ coef - y
    return float(r @ r / (2 * len(y)))


def _until(target, step, max_epochs=MAX_EPOCHS):
    """Call ``step()`` (one epoch, returning the loss after it) until the loss is at most
    ``target``: the :class:`Outcome` (epochs run, whether the target was reached)."""
    for epoch in range(1, max_epochs + 1):
        if step() <= target:
            return Outcome(epoch, True)
    return Outcome(max_epochs, False)


# The SGD sides decay their learning rate, as SGD must to get within 0.1% of the minimum:
# with a constant rate and B=32 the loss settles ~0.2% above it (measured at 2e5x20) and
# never arrives.  fastbatch's decay is per epoch, lr / (1 + LR_DECAY * e); the PyTorch row
# runs the same schedule (a LambdaLR), so the two do the same arithmetic.
LR_DECAY = 0.5
# scikit-learn's "invscaling" divides eta0 by t**power_t, t counting samples.  Its default
# power_t=0.25 leaves the rate too high to arrive within 0.1% at 2e5x20 in MAX_EPOCHS
# epochs (measured: it does not); power_t=0.5 arrives in one epoch there (measured, of
# five schedules tried: invscaling 0.25 and 0.5, adaptive, averaged constant and
# averaged invscaling).  The report shows both.  Against the tuned schedule fastbatch runs
# tuned too, with the same effort: its rate from a grid of 0.003, 0.005, 0.01, 0.02 times
# decays 0.5, 1, 3, 10 (at 2e5x20, for three seeds: 1-2 epochs at 0.003, 2-6 at 0.01).
SKLEARN_TUNED_POWER_T = 0.5
TUNED_LEARNING_RATE = 0.003


def _fastbatch_to_loss(X, y, target, batch_size, learning_rate=LEARNING_RATE):
    est = fb.MiniBatchSGDRegressor(batch_size=batch_size, learning_rate=learning_rate,
                                   lr_decay=LR_DECAY, random_state=SEED)
    return _until(target, lambda: est.partial_fit(X, y).loss_history_[-1])


def _sklearn_to_loss(Z, y, target, power_t=0.25):
    from sklearn.linear_model import SGDRegressor
    est = SGDRegressor(penalty=None, learning_rate="invscaling", eta0=LEARNING_RATE,
                       power_t=power_t, random_state=SEED)

    def epoch():
        est.partial_fit(Z, y)
        r = Z @ est.coef_ + est.intercept_[0] - y
        return r @ r / (2 * len(y))

    return _until(target, epoch)


def _ridge_to_loss(X, y, target):
    # alpha=0: the same unpenalised least squares as the other rows; one solve, which
    # reaches the target (or the row says it did not).
    from sklearn.linear_model import Ridge
    est = Ridge(alpha=0.0, solver="cholesky").fit(X, y)
    r = X @ est.coef_ + est.intercept_ - y
    return Outcome(1, bool(r @ r / (2 * len(y)) <= target))


def _torch_to_loss(Z, y, target, batch_size):
    import torch
    torch.manual_seed(SEED)
    tZ, ty = torch.from_numpy(Z), torch.from_numpy(y)
    model = torch.nn.Linear(Z.shape[1], 1, dtype=torch.float64)
    torch.nn.init.zeros_(model.weight)
    torch.nn.init.zeros_(model.bias)
    opt = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1 / (1 + LR_DECAY * e))

    def epoch():
        perm = torch.randperm(len(ty))
        for i in range(0, len(ty), batch_size):
            idx = perm[i:i + batch_size]
            opt.zero_grad()
            loss = ((model(tZ[idx])[:, 0] - ty[idx]) ** 2).mean() / 2
            loss.backward()
            opt.step()
        schedule.step()
        with torch.no_grad():
            return float(((model(tZ)[:, 0] - ty) ** 2).mean() / 2)

    return _until(target, epoch)


def _to_loss_setup(n, d, batch_size, baseline):
    X, y = regression_data(n, d)
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    target = _least_squares_minimum(Z, y) * (1 + TOLERANCE)
    others = {"sklearn": lambda: _sklearn_to_loss(Z, y, target),
              "sklearn-tuned": lambda: _sklearn_to_loss(Z, y, target,
                                                        SKLEARN_TUNED_POWER_T),
              "torch": lambda: _torch_to_loss(Z, y, target, batch_size),
              "ridge": lambda: _ridge_to_loss(X, y, target)}
    rate = TUNED_LEARNING_RATE if baseline == "sklearn-tuned" else LEARNING_RATE
    return {baseline: others[baseline],
            "fastbatch": lambda: _fastbatch_to_loss(X, y, target, batch_size, rate)}


_LABELS = {
    "sklearn": "sklearn SGDRegressor, default schedule (power_t=0.25)",
    "sklearn-tuned": (f"sklearn SGDRegressor, power_t={SKLEARN_TUNED_POWER_T}; both tuned "
                      f"(fastbatch lr={TUNED_LEARNING_RATE})"),
    "torch": "torch nn.Linear + SGD, same schedule",
    "ridge": "sklearn Ridge(solver='cholesky'), closed form",
}


def _to_loss_case(baseline, n, quick_n, d, batch_size, floor):
    info = "" if floor is not None else " (info)"
    return Case(
        group=f"to-loss-{baseline}-{format_count(n)}x{d}",
        title=(f"time to loss within 0.1% of min, {{n}}x{d} B={batch_size}, "
               f"vs {_LABELS[baseline]}{info}"),
        suite="convergence",
        setup=functools.partial(_to_loss_setup, d=d, batch_size=batch_size,
                                baseline=baseline),
        n=n, quick_n=quick_n, floor=floor, goal=None,
        design_row=("time to within 0.1% of the least-squares loss, 2e5×20"
                    if floor is not None else None),
        baseline=baseline, repeats=3, capped=_stopped_at_cap,
        requires=("torch",) if baseline == "torch" else ("sklearn",))


# Quick sizes: at 2e4 rows fastbatch's schedule arrives in 2-3 epochs for each of the
# eight seeds tried (at 5e3 in ~20); at 2e3 its 63 steps per epoch are too few for the
# decayed rate and it does not arrive within the cap.
CASES = [
    _to_loss_case("sklearn", 2 * 10**5, 2 * 10**4, 20, 32, 30.0),
    _to_loss_case("sklearn-tuned", 2 * 10**5, 2 * 10**4, 20, 32, None),
    _to_loss_case("torch", 2 * 10**4, 2 * 10**4, 20, 32, None),
    _to_loss_case("ridge", 2 * 10**5, 2 * 10**4, 20, 32, None),
]
