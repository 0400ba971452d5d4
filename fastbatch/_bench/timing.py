"""Timing: calibrated rounds, interleaved implementations, medians; the machine measured on."""

import importlib.metadata
import os
import platform
import statistics
import time

import numpy as np

import fastbatch as fb

# A timed round calls the function enough times to last this long, so that sub-millisecond
# calls are not measured at the resolution of one call and its timer overhead.
MIN_ROUND_SECONDS = 0.2
QUICK_MIN_ROUND_SECONDS = 0.05


# Before each timed round the process waits until its own threads are idle: OpenBLAS
# keeps its worker threads spinning for ~0.1 s after a call (measured here: one core 100%
# busy for 100 ms after the NumPy SGD loop), so without the wait the implementation timed
# right after a NumPy baseline would start with one core fewer.  Idle means below
# QUIET_FRACTION of one core over QUIET_WINDOW seconds; the wait gives up after
# QUIET_MAX_SECONDS (a busy machine is measured as it is).
QUIET_WINDOW = 0.01
QUIET_FRACTION = 0.1
QUIET_MAX_SECONDS = 1.0


def _process_cpu_seconds():
    return time.process_time()


def wait_until_quiet(window=QUIET_WINDOW, fraction=QUIET_FRACTION,
                     max_seconds=QUIET_MAX_SECONDS):
    """Sleep until this process's threads (a BLAS pool spinning after a call, say) use
    less than ``fraction`` of a core over ``window`` seconds, or ``max_seconds`` passed.
    Returns whether it got quiet.

    Examples
    --------
    >>> wait_until_quiet()
    True
    """
    deadline = time.perf_counter() + max_seconds
    while True:
        cpu, wall = _process_cpu_seconds(), time.perf_counter()
        time.sleep(window)
        busy = (_process_cpu_seconds() - cpu) / max(time.perf_counter() - wall, 1e-9)
        if busy < fraction:
            return True
        if time.perf_counter() >= deadline:
            return False


def default_min_time(quick):
    """Seconds a timed round lasts at least: 0.2, or 0.05 in quick mode."""
    return QUICK_MIN_ROUND_SECONDS if quick else MIN_ROUND_SECONDS


def _run_loops(fn, loops, results=None, name=None):
    start = time.perf_counter()
    for _ in range(loops):
        result = fn()
    elapsed = time.perf_counter() - start
    if results is not None:
        results[name] = result
    return elapsed


def calibrate(fn, min_time):
    """Warm ``fn`` up and return how many calls make a timed round last ``min_time``.

    The warm-up call doubles as the first estimate, so a function that takes longer than
    ``min_time`` is called only once here (the 1e8 baselines take seconds).

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


def time_interleaved(functions, rounds, min_time, results=None):
    """Seconds per call of each function, one value per round, rounds interleaved.

    Interleaving (a, b, a, b, ...) makes a slow spell of a shared machine hit every
    function rather than one; each round starts once the process is quiet
    (:func:`wait_until_quiet`), so one function's leftover threads never slow the next.

    Parameters
    ----------
    functions : dict
        ``{name: callable without arguments}``.
    rounds : int
        Timed rounds.
    min_time : float
        Seconds each round lasts at least (see :func:`calibrate`).
    results : dict, optional
        Filled with ``{name: what the function's last call returned}``.

    Returns
    -------
    dict
        ``{name: [seconds per call, one per round]}``.

    Examples
    --------
    >>> samples = time_interleaved({"a": lambda: None}, rounds=3, min_time=0)
    >>> len(samples["a"])
    3
    """
    loops = {name: calibrate(fn, min_time) for name, fn in functions.items()}
    samples = {name: [] for name in functions}
    for _ in range(rounds):
        for name, fn in functions.items():
            wait_until_quiet()
            samples[name].append(_run_loops(fn, loops[name], results, name) / loops[name])
    return samples


def median_seconds(fn, rounds, min_time):
    """Median seconds per call of one function."""
    return statistics.median(time_interleaved({"fn": fn}, rounds, min_time)["fn"])


def time_case(case, quick=False, repeats=None, min_time=None, results=None):
    """Time one case: per implementation, the seconds per call of every round.

    ``results``, if given, is filled with what each implementation's last call returned.

    Examples
    --------
    >>> from fastbatch._bench.registry import all_cases
    >>> samples = time_case(all_cases()[0], quick=True, repeats=2, min_time=0)
    >>> {impl: len(rounds) for impl, rounds in samples.items()}
    {'numpy': 2, 'fastbatch': 2}
    """
    if min_time is None:
        min_time = default_min_time(quick)
    functions = case.setup(case.size(quick))
    ordered = {impl: functions[impl] for impl in case.implementations}
    return time_interleaved(ordered, case.rounds(quick, repeats), min_time, results)


def machine_info():
    """Where the numbers were measured: platform, CPU, cores, versions, load.

    The load average is kept because the contract's machine is shared: a report measured
    next to a compiler run says so.

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
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
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
