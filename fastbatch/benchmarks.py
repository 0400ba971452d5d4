"""The benchmark cases of DESIGN.md's performance contract, and the side-by-side report.

Every case is defined once, in :data:`CASES`, and run by both the pytest-benchmark
suites in ``bench/`` and :func:`run_report`.  A case builds its data for a sample count
``n`` and returns two callables: fastbatch's and the baseline's (the NumPy code people
write today, a ``torch`` DataLoader, ...).  The report times both in the same process,
interleaved round by round, and states the result as a speedup::

    speedup = baseline time / fastbatch time

which the contract requires to be at least the case's floor.  Contract rows phrased as
"at most k times the baseline's time" have the floor ``1 / k``.

Adding a case is appending a :class:`Case` to :data:`CASES`; ``bench/test_<suite>.py``
picks it up through its ``suite``.
"""

import dataclasses
import functools
import importlib.metadata
import importlib.util
import os
import platform
import statistics
import threading
import time
from typing import Callable, Optional

import numpy as np

import fastbatch as fb

SEED = 12345
# A timed round calls the function enough times to last this long, so that sub-millisecond
# calls are not measured at the resolution of one call and its timer overhead.
MIN_ROUND_SECONDS = 0.2
QUICK_MIN_ROUND_SECONDS = 0.05
QUICK_MAX_ROUNDS = 5


@dataclasses.dataclass(frozen=True)
class Case:
    """One benchmark: fastbatch against one baseline on data of ``n`` samples.

    Parameters
    ----------
    group : str
        Stable id, unique in :data:`CASES`: the pytest-benchmark group and test id.
    title : str
        Row label in the report; ``{n}`` is replaced by the sample count actually run.
    suite : str
        Which ``bench/test_<suite>.py`` runs the case ("permutation", "epoch", ...).
    setup : callable
        ``setup(n)`` builds the data and returns ``{baseline: f, "fastbatch": g}``, two
        callables without arguments doing the same job.  They return a result that can
        be compared (a permutation, the batch count and last batch of an epoch, ...).
    n : int
        Sample count of the full run (the size DESIGN.md names).
    quick_n : int
        Sample count in quick mode (a smoke run that finishes in seconds).
    floor, goal : float or None
        Required and targeted speedup from DESIGN.md; ``None`` when the contract gives
        no number (``floor=None`` marks an informational row).
    design_row : str or None
        The DESIGN.md "Performance contract" row this case measures; ``None`` for
        informational cases outside the table.
    baseline : str, default "numpy"
        Key of the baseline callable returned by ``setup``.
    repeats : int, default 7
        Timed rounds of the full run (the median is reported).  Small for cases whose
        baseline takes seconds.
    requires : tuple of str, default ()
        Modules the case needs; without them it is skipped, not failed.

    Examples
    --------
    >>> from fastbatch.benchmarks import CASES
    >>> case = CASES[1]
    >>> case.name(), case.name(quick=True), case.implementations, case.floor
    ('permutation n=1e7', 'permutation n=2e6', ('numpy', 'fastbatch'), 3.0)
    """

    group: str
    title: str
    suite: str
    setup: Callable[[int], dict]
    n: int
    quick_n: int
    floor: Optional[float]
    goal: Optional[float]
    design_row: Optional[str]
    baseline: str = "numpy"
    repeats: int = 7
    requires: tuple = ()

    @property
    def implementations(self):
        """The keys ``setup`` returns: ``(baseline, "fastbatch")``."""
        return (self.baseline, "fastbatch")

    def size(self, quick=False):
        """Sample count to run: ``quick_n`` in quick mode, else ``n``."""
        return self.quick_n if quick else self.n

    def rounds(self, quick=False, repeats=None):
        """Timed rounds to run: ``repeats`` if given, else the case's (fewer when quick)."""
        if repeats is not None:
            return repeats
        return min(self.repeats, QUICK_MAX_ROUNDS) if quick else self.repeats

    def name(self, quick=False):
        """Row label for the sample count run, e.g. ``"permutation n=1e7"``."""
        return self.title.format(n=format_count(self.size(quick)))

    def missing_modules(self):
        """The modules in ``requires`` that cannot be imported here."""
        return [m for m in self.requires if importlib.util.find_spec(m) is None]


def format_count(n):
    """``n`` in the short form DESIGN.md uses: ``1e6``, ``2e5``; other values as digits.

    Examples
    --------
    >>> format_count(1_000_000), format_count(200_000), format_count(1234)
    ('1e6', '2e5', '1234')
    """
    digits = str(n)
    mantissa, zeros = digits.rstrip("0"), len(digits) - len(digits.rstrip("0"))
    if n > 0 and len(mantissa) == 1 and zeros >= 3:
        return f"{mantissa}e{zeros}"
    return digits


# -- the workloads -----------------------------------------------------------------------
# Each *_setup takes the sample count first so that a Case can bind the other parameters
# with functools.partial and the report can scale n alone.

def _permutation_setup(n, dtype=np.int64):
    return {
        "numpy": lambda: np.random.default_rng(SEED).permutation(n),
        "fastbatch": lambda: fb.permutation(n, SEED, dtype=dtype),
    }


def _two_permutations_in_threads(n):
    out = [None, None]

    def work(i):
        out[i] = fb.permutation(n, SEED + i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out


def _threads_setup(n):
    return {
        "serial": lambda: [fb.permutation(n, SEED + i) for i in range(2)],
        "fastbatch": functools.partial(_two_permutations_in_threads, n),
    }


def _features(n, d, dtype):
    rng = np.random.default_rng(SEED)
    return rng.standard_normal((n, d), dtype=dtype), rng.standard_normal(n, dtype=dtype)


def _fastbatch_epoch(X, y, batch_size, shuffle):
    loader = fb.BatchLoader(X, y, batch_size=batch_size, shuffle=shuffle, rng=SEED)
    batch = None
    for batch in loader:
        pass
    return loader.step, batch


# The baselines count their batches from the range they walk rather than with a counter
# in the loop: a per-batch increment would be timed on one side only.
def _numpy_shuffled_epoch(X, y, batch_size):
    p = np.random.default_rng(SEED).permutation(len(X))
    batch = None
    for i in range(0, len(X), batch_size):
        idx = p[i:i + batch_size]
        batch = X[idx], y[idx]
    return len(range(0, len(X), batch_size)), batch


def _numpy_sequential_epoch(X, y, batch_size):
    batch = None
    for i in range(0, len(X), batch_size):
        batch = X[i:i + batch_size], y[i:i + batch_size]
    return len(range(0, len(X), batch_size)), batch


def _torch_epoch(loader):
    count, batch = 0, None
    for count, batch in enumerate(loader, 1):
        pass
    return count, batch


def _shuffled_epoch_setup(n, d, dtype, batch_size):
    X, y = _features(n, d, dtype)
    return {
        "numpy": functools.partial(_numpy_shuffled_epoch, X, y, batch_size),
        "fastbatch": functools.partial(_fastbatch_epoch, X, y, batch_size, True),
    }


def _sequential_epoch_setup(n, d, dtype, batch_size):
    X, y = _features(n, d, dtype)
    return {
        "numpy": functools.partial(_numpy_sequential_epoch, X, y, batch_size),
        "fastbatch": functools.partial(_fastbatch_epoch, X, y, batch_size, False),
    }


def _torch_epoch_setup(n, d, dtype, batch_size):
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    X, y = _features(n, d, dtype)
    dataset = TensorDataset(torch.from_numpy(X), torch.from_numpy(y))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(SEED))
    return {
        "torch": functools.partial(_torch_epoch, loader),
        "fastbatch": functools.partial(_fastbatch_epoch, X, y, batch_size, True),
    }


# -- fused mini-batch SGD ----------------------------------------------------------------
SGD_LEARNING_RATE = 0.01


def _regression_data(n, d, dtype=np.float64):
    rng = np.random.default_rng(SEED)
    X = (rng.standard_normal((n, d)) * rng.uniform(0.5, 5, d) + rng.uniform(-3, 3, d))
    y = X @ rng.standard_normal(d) + 1.0 + 0.1 * rng.standard_normal(n)
    return X.astype(dtype), y


# Epochs per timed call: consecutive epochs as ``fit`` runs them (fastbatch computes an
# epoch's loss while the next one trains), so a row's time is SGD_EPOCHS epochs.
SGD_EPOCHS = 5


def _numpy_sgd_epochs(Z, y, state, batch_size, shuffle, rng):
    """Epochs of the classic loop people write in NumPy, on the standardised Z: shuffle,
    gather each batch, two matvecs, update; the loss on the full data after each epoch."""
    n, beta = len(Z), state["beta"]
    for _ in range(SGD_EPOCHS):
        p = rng.permutation(n) if shuffle else None
        for i in range(0, n, batch_size):
            idx = p[i:i + batch_size] if shuffle else slice(i, i + batch_size)
            Zb, yb = Z[idx], y[idx]
            r = Zb @ beta + state["b"] - yb
            beta -= SGD_LEARNING_RATE * (Zb.T @ r / len(yb))
            state["b"] -= SGD_LEARNING_RATE * r.sum() / len(yb)
        r = Z @ beta + state["b"] - y
        J = float(r @ r / (2 * n))
    return J


def _fastbatch_sgd_epochs(est, X, y):
    """Epochs exactly as ``fit`` runs them: each epoch's permutation, the fused kernel,
    the loss pass.  Input checks and standardisation statistics happen once per fit, as
    the baseline's standardised copy of X does, so neither side is timed for them."""
    state = est._run_epochs(X, y, est._state, est._validated_params(), SGD_EPOCHS)
    est._commit(state, X.shape[1])
    return state["history"][-1]


def _sgd_setup(n, d, dtype, batch_size, shuffle):
    X, y = _regression_data(n, d, dtype)
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    state = {"beta": np.zeros(d), "b": 0.0}
    rng = np.random.default_rng(SEED)
    est = fb.MiniBatchSGDRegressor(batch_size=batch_size, learning_rate=SGD_LEARNING_RATE,
                                   epochs=1, shuffle=shuffle, random_state=SEED).fit(X, y)
    return {
        "numpy": functools.partial(_numpy_sgd_epochs, Z, y, state, batch_size, shuffle,
                                   rng),
        "fastbatch": functools.partial(_fastbatch_sgd_epochs, est, X, y),
    }


def _sgd_case(d, batch_size, n, quick_n, floor, goal, shuffle=True, repeats=5):
    kind = "shuffled" if shuffle else "sequential"
    row = ("fused SGD epoch, " + kind +
           (f", {format_count(n)}×{d} B={batch_size}" if shuffle else ""))
    return Case(
        group=f"sgd-{kind}-{format_count(n)}x{d}-B{batch_size}",
        title=f"fused SGD, {SGD_EPOCHS} epochs, {kind}, {{n}}x{d} float64 B={batch_size}",
        suite="sgd",
        setup=functools.partial(_sgd_setup, d=d, dtype=np.float64, batch_size=batch_size,
                                shuffle=shuffle),
        n=n, quick_n=quick_n, floor=floor, goal=goal, design_row=row, repeats=repeats)


# -- time to the same training loss ------------------------------------------------------
# Each side trains from scratch, epoch by epoch, until its training objective
# J = sum(r^2) / (2n) is within TOLERANCE of the least-squares minimum.
TOLERANCE = 1e-3
MAX_EPOCHS = 200


def _least_squares_minimum(Z, y):
    A = np.column_stack([Z, np.ones(len(Z))])
    coef = np.linalg.lstsq(A, y, rcond=None)[0]
    r = A @ coef - y
    return float(r @ r / (2 * len(y)))


def _until(target, step):
    for epoch in range(1, MAX_EPOCHS + 1):
        if step() <= target:
            return epoch
    return MAX_EPOCHS


def _fastbatch_to_loss(X, y, target, batch_size):
    est = fb.MiniBatchSGDRegressor(batch_size=batch_size, learning_rate=SGD_LEARNING_RATE,
                                   random_state=SEED)
    return _until(target, lambda: est.partial_fit(X, y).loss_history_[-1])


def _sklearn_to_loss(Z, y, target):
    from sklearn.linear_model import SGDRegressor
    est = SGDRegressor(penalty=None, learning_rate="invscaling", eta0=SGD_LEARNING_RATE,
                       random_state=SEED)

    def epoch():
        est.partial_fit(Z, y)
        r = Z @ est.coef_ + est.intercept_[0] - y
        return r @ r / (2 * len(y))

    return _until(target, epoch)


def _torch_to_loss(Z, y, target, batch_size):
    import torch
    torch.manual_seed(SEED)
    tZ, ty = torch.from_numpy(Z), torch.from_numpy(y)
    model = torch.nn.Linear(Z.shape[1], 1, dtype=torch.float64)
    torch.nn.init.zeros_(model.weight)
    torch.nn.init.zeros_(model.bias)
    opt = torch.optim.SGD(model.parameters(), lr=SGD_LEARNING_RATE)

    def epoch():
        perm = torch.randperm(len(ty))
        for i in range(0, len(ty), batch_size):
            idx = perm[i:i + batch_size]
            opt.zero_grad()
            loss = ((model(tZ[idx])[:, 0] - ty[idx]) ** 2).mean() / 2
            loss.backward()
            opt.step()
        with torch.no_grad():
            return float(((model(tZ)[:, 0] - ty) ** 2).mean() / 2)

    return _until(target, epoch)


def _to_loss_setup(n, d, batch_size, baseline):
    X, y = _regression_data(n, d)
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    target = _least_squares_minimum(Z, y) * (1 + TOLERANCE)
    others = {"sklearn": lambda: _sklearn_to_loss(Z, y, target),
              "torch": lambda: _torch_to_loss(Z, y, target, batch_size)}
    return {baseline: others[baseline],
            "fastbatch": lambda: _fastbatch_to_loss(X, y, target, batch_size)}


def _to_loss_case(baseline, n, d, batch_size):
    label = {"sklearn": "sklearn SGDRegressor", "torch": "torch nn.Linear + SGD"}[baseline]
    return Case(
        group=f"to-loss-{baseline}-{format_count(n)}x{d}",
        title=f"time to loss within 0.1% of min, {{n}}x{d} B={batch_size}, vs {label} (info)",
        suite="convergence",
        setup=functools.partial(_to_loss_setup, d=d, batch_size=batch_size,
                                baseline=baseline),
        n=n, quick_n=n // 10, floor=None, goal=None, design_row=None, baseline=baseline,
        repeats=3, requires=("sklearn",) if baseline == "sklearn" else ("torch",))


# -- prefetch overlap --------------------------------------------------------------------
PREFETCH_WORK_SECONDS = 0.0005


def _consume_with_work(loader):
    # The caller's per-batch work, with the GIL released as NumPy or PyTorch would.
    for _ in loader:
        time.sleep(PREFETCH_WORK_SECONDS)
    return loader.step


def _prefetch_setup(n, d=64, batch_size=2048):
    X, y = _features(n, d, np.float64)
    return {
        "prefetch=0": lambda: _consume_with_work(
            fb.BatchLoader(X, y, batch_size=batch_size, shuffle=True, rng=SEED)),
        "fastbatch": lambda: _consume_with_work(
            fb.BatchLoader(X, y, batch_size=batch_size, shuffle=True, rng=SEED, prefetch=2)),
    }


# -- the registry ------------------------------------------------------------------------
_PERMUTATION_ROW = "`permutation(n)`, n = 1e6, 1e7, 1e8"
_SHUFFLED_ROW = "shuffled epoch of (X, y): 1e6×16 float32 B=256; 2e5×8 float64 B=64"
_WIDE_ROW = "same, 1e6×100 float64 B=1024 (800-byte rows)"
_SEQUENTIAL_ROW = "sequential epoch (views)"
_TORCH_ROW = ("a shuffled epoch vs `torch.utils.data.DataLoader(TensorDataset, "
              "batch_size=B, shuffle=True)`")
# "At most 1.5x (goal 1.1x) the baseline's time" as a speedup.
_SEQUENTIAL_FLOOR, _SEQUENTIAL_GOAL = 1 / 1.5, 1 / 1.1


def _permutation_case(n, quick_n, repeats=7):
    return Case(
        group=f"permutation-{format_count(n)}", title="permutation n={n}",
        suite="permutation", setup=_permutation_setup, n=n, quick_n=quick_n,
        floor=3.0, goal=5.0, design_row=_PERMUTATION_ROW, repeats=repeats,
    )


def _epoch_case(kind, d, dtype, batch_size, n, quick_n, floor, goal, design_row,
                repeats=7):
    setups = {"shuffled": _shuffled_epoch_setup, "sequential": _sequential_epoch_setup,
              "torch": _torch_epoch_setup}
    dtype_name = np.dtype(dtype).name
    shape = f"{{n}}x{d} {dtype_name} B={batch_size}"
    if kind == "torch":
        title, baseline, requires = f"shuffled epoch {shape} vs torch", "torch", ("torch",)
    else:
        title, baseline, requires = f"{kind} epoch {shape}", "numpy", ()
    return Case(
        group=f"epoch-{kind}-{format_count(n)}x{d}-{dtype_name}-B{batch_size}",
        title=title, suite="epoch",
        setup=functools.partial(setups[kind], d=d, dtype=dtype, batch_size=batch_size),
        n=n, quick_n=quick_n, floor=floor, goal=goal, design_row=design_row,
        baseline=baseline, repeats=repeats, requires=requires,
    )


CASES = [
    _permutation_case(10**6, 10**6),
    _permutation_case(10**7, 2 * 10**6),
    _permutation_case(10**8, 4 * 10**6, repeats=3),
    Case(group="permutation-int32-1e7", title="permutation n={n} int32 (info)",
         suite="permutation", setup=functools.partial(_permutation_setup, dtype=np.int32),
         n=10**7, quick_n=2 * 10**6, floor=None, goal=None, design_row=None),
    # Two threads finish sooner than one after the other only if the kernel releases the
    # GIL.  No floor: on the shared 2-core machine the second core is often busy.
    Case(group="permutation-threads-1e7",
         title="2 threads x permutation n={n} vs serial (info)", suite="permutation",
         setup=_threads_setup, n=10**7, quick_n=2 * 10**6, floor=None, goal=None,
         design_row=None, baseline="serial"),
    _epoch_case("shuffled", 16, np.float32, 256, 10**6, 10**6, 3.0, 6.0, _SHUFFLED_ROW),
    _epoch_case("shuffled", 8, np.float64, 64, 2 * 10**5, 2 * 10**5, 3.0, 6.0,
                _SHUFFLED_ROW),
    _epoch_case("shuffled", 100, np.float64, 1024, 10**6, 2 * 10**5, 1.3, None, _WIDE_ROW,
                repeats=5),
    _epoch_case("sequential", 16, np.float32, 256, 10**6, 10**6, _SEQUENTIAL_FLOOR,
                _SEQUENTIAL_GOAL, _SEQUENTIAL_ROW),
    _epoch_case("sequential", 8, np.float64, 64, 2 * 10**5, 2 * 10**5, _SEQUENTIAL_FLOOR,
                _SEQUENTIAL_GOAL, _SEQUENTIAL_ROW),
    # torch's DataLoader collates sample by sample: seconds per epoch at 1e6.
    _epoch_case("torch", 16, np.float32, 256, 10**6, 10**5, 100.0, None, _TORCH_ROW,
                repeats=3),
    _sgd_case(32, 256, 10**6, 2 * 10**5, 2.5, 4.0),
    _sgd_case(10, 32, 2 * 10**5, 2 * 10**5, 10.0, 25.0),
    _sgd_case(100, 1024, 10**6, 2 * 10**5, 1.8, None, repeats=3),
    _sgd_case(32, 256, 10**6, 2 * 10**5, 6.0, None, shuffle=False),
    _to_loss_case("sklearn", 2 * 10**4, 20, 32),
    _to_loss_case("torch", 2 * 10**4, 20, 32),
    # A consumer that works per batch with the GIL released (about as long as gathering
    # the batch takes): with prefetch=2 the gathering overlaps that work.  No floor in
    # DESIGN.md; the ratio is the overlap.
    Case(group="prefetch-overlap-2e5x64",
         title=f"epoch + {PREFETCH_WORK_SECONDS * 1e3:g} ms work/batch, prefetch=2 vs 0 "
               "(info)", suite="prefetch", setup=_prefetch_setup, n=2 * 10**5,
         quick_n=5 * 10**4, floor=None, goal=None, design_row=None,
         baseline="prefetch=0", repeats=5),
]


# The rows `fastbatch demo` times side by side: NumPy baselines that take well under a
# second each, so the demo stays quick with several repeats.
DEMO_GROUPS = (
    "permutation-1e7",
    "epoch-shuffled-1e6x16-float32-B256",
    "epoch-shuffled-2e5x8-float64-B64",
    "epoch-sequential-1e6x16-float32-B256",
)


def demo_cases(quick=False):
    """The demo's side-by-side rows: ``(name, numpy callable, fastbatch callable)``.

    A generator: each case's data is built when its row is reached and freed after.

    Parameters
    ----------
    quick : bool, default False
        Use the cases' quick sizes.

    Examples
    --------
    >>> from fastbatch.benchmarks import demo_cases
    >>> name, numpy_fn, fast_fn = next(demo_cases(quick=True))
    >>> name, len(numpy_fn()) == len(fast_fn())
    ('permutation n=2e6', True)
    """
    for case in CASES:
        if case.group in DEMO_GROUPS:
            functions = case.setup(case.size(quick))
            yield case.name(quick), functions["numpy"], functions["fastbatch"]


# -- timing ------------------------------------------------------------------------------
def _run_loops(fn, loops):
    start = time.perf_counter()
    for _ in range(loops):
        fn()
    return time.perf_counter() - start


def calibrate(fn, min_time):
    """Warm ``fn`` up and return how many calls make a timed round last ``min_time``.

    The warm-up call doubles as the first estimate, so a function that takes longer
    than ``min_time`` is called only once here (the 1e8 baselines take seconds).

    Parameters
    ----------
    fn : callable
        Called without arguments.
    min_time : float
        Seconds a round should last at least; ``0`` gives one call per round.

    Returns
    -------
    int
        Calls per round, ``>= 1``.

    Examples
    --------
    >>> calibrate(lambda: None, 0.0)
    1
    """
    elapsed = _run_loops(fn, 1)
    if elapsed < min_time:
        # The warm-up call pays one-time costs (page faults, lazy imports): estimate
        # from a second call instead.
        elapsed = _run_loops(fn, 1)
    if elapsed >= min_time:
        return 1
    return max(1, int(np.ceil(min_time / max(elapsed, 1e-9))))


def time_case(case, quick=False, repeats=None, min_time=None):
    """Time one case: per implementation, the seconds per call of every round.

    Rounds are interleaved (baseline, fastbatch, baseline, ...) so that a slow spell
    of a shared machine hits both sides rather than one.

    Parameters
    ----------
    case : Case
    quick : bool, default False
        Run at ``case.quick_n`` with fewer rounds.
    repeats : int, optional
        Timed rounds; default ``case.rounds(quick)``.
    min_time : float, optional
        Seconds per round; default 0.2 (0.05 when quick).

    Returns
    -------
    dict
        ``{implementation: [seconds per call, one per round]}``.

    Examples
    --------
    >>> from fastbatch.benchmarks import CASES, time_case
    >>> samples = time_case(CASES[0], quick=True, repeats=2, min_time=0)
    >>> {impl: len(rounds) for impl, rounds in samples.items()}
    {'numpy': 2, 'fastbatch': 2}
    """
    if min_time is None:
        min_time = QUICK_MIN_ROUND_SECONDS if quick else MIN_ROUND_SECONDS
    functions = case.setup(case.size(quick))
    loops = {impl: calibrate(functions[impl], min_time) for impl in case.implementations}
    samples = {impl: [] for impl in case.implementations}
    for _ in range(case.rounds(quick, repeats)):
        for impl in case.implementations:
            samples[impl].append(_run_loops(functions[impl], loops[impl]) / loops[impl])
    return samples


def status_of(ratio, floor, goal):
    """The verdict on a speedup: "goal met", "floor met", "BELOW FLOOR", or "info".

    "info" marks a row without a floor (a measurement the contract sets no bound on).

    Examples
    --------
    >>> status_of(4.0, 3.0, 6.0), status_of(2.0, 3.0, 6.0), status_of(2.0, None, None)
    ('floor met', 'BELOW FLOOR', 'info')
    """
    if floor is None:
        return "info"
    if goal is not None and ratio >= goal:
        return "goal met"
    return "floor met" if ratio >= floor else "BELOW FLOOR"


def machine_info():
    """Where the numbers were measured: platform, CPU, cores, versions, load.

    The load average is kept because the contract's machine is shared: a report
    measured next to a compiler run says so.

    Examples
    --------
    >>> sorted(machine_info())
    ['cores', 'cpu', 'fastbatch', 'load_average', 'numpy', 'platform', 'python', 'torch']
    """
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name")), cpu)
    except OSError:
        pass
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "numpy": np.__version__,
        "fastbatch": fb.__version__,
        "torch": None,
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    # From the installed metadata: importing torch takes seconds.
    try:
        info["torch"] = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        pass
    return info


def run_report(quick=False, repeats=None, progress=None, *, cases=None, min_time=None):
    """Time every case and return the side-by-side ratios as plain data.

    Parameters
    ----------
    quick : bool, default False
        Reduced sizes and rounds: a smoke run of well under a minute.  The full run
        takes a few minutes on a 2-core machine.
    repeats : int, optional
        Timed rounds for every case (default: each case's own, fewer when quick).
    progress : callable, optional
        ``progress(done, total, name)``: called before each case is timed, with the
        number of cases done so far and the case's row name, and once at the end with
        ``done == total``.
    cases : list of Case, optional
        The cases to run; default :data:`CASES`.
    min_time : float, optional
        Seconds each timed round lasts at least (default 0.2, 0.05 when quick).

    Returns
    -------
    dict
        ``machine`` (see :func:`machine_info`), ``quick``, ``seconds`` (wall time of the
        run) and ``rows``, one dict per case with ``name``, ``group``, ``design_row``,
        ``n``, ``baseline``, ``times`` (median seconds per call of each
        implementation), ``samples`` (every round), ``ratio`` (baseline median /
        fastbatch median), ``floor``, ``goal``, ``met`` (``ratio >= floor``; ``None``
        for informational or skipped rows) and ``status``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastbatch.benchmarks import Case, run_report
    >>> case = Case(group="sum", title="sum n={n}", suite="demo", n=1000, quick_n=100,
    ...             setup=lambda n: {"numpy": lambda: sum(range(n)),
    ...                              "fastbatch": lambda: np.arange(n).sum()},
    ...             floor=1.0, goal=None, design_row=None)
    >>> report = run_report(quick=True, repeats=1, cases=[case], min_time=0)
    >>> row = report["rows"][0]
    >>> row["name"], row["n"], sorted(row["times"])
    ('sum n=100', 100, ['fastbatch', 'numpy'])
    """
    cases = CASES if cases is None else cases
    started = time.perf_counter()
    machine = machine_info()
    rows = []
    for done, case in enumerate(cases):
        name = case.name(quick)
        if progress is not None:
            progress(done, len(cases), name)
        row = {
            "name": name, "group": case.group, "design_row": case.design_row,
            "n": case.size(quick), "baseline": case.baseline, "times": {},
            "samples": {}, "ratio": None, "floor": case.floor, "goal": case.goal,
            "met": None,
        }
        missing = case.missing_modules()
        if missing:
            row["status"] = f"skipped: needs {', '.join(missing)}"
            rows.append(row)
            continue
        samples = time_case(case, quick, repeats, min_time)
        times = {impl: statistics.median(s) for impl, s in samples.items()}
        ratio = times[case.baseline] / times["fastbatch"]
        row.update(times=times, samples=samples, ratio=ratio,
                   met=None if case.floor is None else ratio >= case.floor,
                   status=status_of(ratio, case.floor, case.goal))
        rows.append(row)
    if progress is not None:
        progress(len(cases), len(cases), "done")
    return {"machine": machine, "quick": quick, "rows": rows,
            "seconds": time.perf_counter() - started}


def _ms(seconds):
    if seconds is None:
        return "-"
    ms = seconds * 1e3
    if ms >= 1000:
        return f"{ms:,.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    return f"{ms:.2f}" if ms >= 1 else f"{ms:.3f}"


def _factor(value):
    return "-" if value is None else f"{value:.2f}x"


def format_report(report):
    """The report as an aligned text table with the machine it was measured on.

    Parameters
    ----------
    report : dict
        As returned by :func:`run_report`.

    Returns
    -------
    str

    Examples
    --------
    >>> import numpy as np
    >>> from fastbatch.benchmarks import Case, format_report, run_report
    >>> case = Case(group="sum", title="sum n={n}", suite="demo", n=1000, quick_n=100,
    ...             setup=lambda n: {"numpy": lambda: sum(range(n)),
    ...                              "fastbatch": lambda: np.arange(n).sum()},
    ...             floor=None, goal=None, design_row=None)
    >>> text = format_report(run_report(quick=True, repeats=1, cases=[case], min_time=0))
    >>> text.splitlines()[3].split()
    ['row', 'vs', 'baseline', 'ms', 'fastbatch', 'ms', 'ratio', 'floor', 'goal', 'status']
    """
    m = report["machine"]
    mode = "quick mode: reduced sizes" if report["quick"] else "full sizes"
    torch_part = f", torch {m['torch']}" if m["torch"] else ""
    load = "" if m["load_average"] is None else f", load average {m['load_average']:.2f}"
    lines = [
        f"fastbatch benchmark report ({mode}, {report['seconds']:.0f} s)",
        f"machine: {m['platform']}, {m['cpu']}, {m['cores']} cores, python {m['python']},"
        f" numpy {m['numpy']}, fastbatch {m['fastbatch']}{torch_part}{load}",
        "ratio = baseline time / fastbatch time (median per call), the speedup; floor and "
        "goal from DESIGN.md",
    ]
    header = ("row", "vs", "baseline ms", "fastbatch ms", "ratio", "floor", "goal",
              "status")
    table = [header]
    for row in report["rows"]:
        table.append((
            row["name"], row["baseline"], _ms(row["times"].get(row["baseline"])),
            _ms(row["times"].get("fastbatch")), _factor(row["ratio"]),
            _factor(row["floor"]), _factor(row["goal"]), row["status"],
        ))
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        # Name and status left-aligned, numbers right-aligned so the decimals line up.
        cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1])]
        cells += [cell.rjust(w) for cell, w in zip(r[2:-1], widths[2:-1])]
        cells.append(r[-1])
        lines.append("  ".join(cells))
    return "\n".join(lines)
