"""pytest-benchmark suites over the cases of ``fastbatch._bench`` (the report's registry).

A test module sets ``SUITE`` and takes the ``case`` and ``impl`` arguments; it gets one
test per implementation of every case of that suite.  Each case's fastbatch callable and
its baseline run in one ``benchmark.group``, so ``pytest bench`` shows them side by side.
``FASTBATCH_BENCH_QUICK=1`` runs the reduced sizes and rounds of the quick report (a
smoke run; the group ids keep naming the full sizes, ``extra_info["n"]`` the one run).
"""

import os

import pytest

from fastbatch._bench import all_cases, all_measures, calibrate
from fastbatch._bench.timing import default_min_time

QUICK = os.environ.get("FASTBATCH_BENCH_QUICK", "0") not in ("", "0")


def case_params(suite):
    """One ``pytest.param(case, implementation)`` per implementation of the suite's cases.

    Case by case, so that the data of one case is built once for all its implementations
    (see ``_LatestSetup``); cases whose modules are missing are skipped.
    """
    params = []
    for case in all_cases():
        if case.suite != suite:
            continue
        missing = case.missing_modules()
        marks = [pytest.mark.skip(reason=f"needs {', '.join(missing)}")] if missing else []
        params += [pytest.param(case, impl, id=f"{case.group}-{impl}", marks=marks)
                   for impl in case.implementations]
    return params


class _LatestSetup:
    """The callables of the case run last, and only those: the big cases hold ~1 GB."""

    def __init__(self):
        self.key, self.functions = None, None

    def get(self, case, n):
        if self.key != (case.group, n):
            self.key, self.functions = None, None  # free the previous data first
            self.functions = case.setup(n)
            self.key = (case.group, n)
        return self.functions


def pytest_generate_tests(metafunc):
    """Parametrize ``case`` and ``impl`` over the cases of the module's ``SUITE``."""
    if {"case", "impl"} <= set(metafunc.fixturenames):
        metafunc.parametrize(("case", "impl"), case_params(metafunc.module.SUITE))
    if "measure" in metafunc.fixturenames:
        metafunc.parametrize("measure", measure_params(metafunc.module.SUITE))


@pytest.fixture(scope="session")
def _latest_setup():
    return _LatestSetup()


@pytest.fixture
def run_case(benchmark, _latest_setup):
    """``run_case(case, impl)`` benchmarks one implementation of a case in its group."""

    def run(case, impl):
        n = case.size(QUICK)
        fn = _latest_setup.get(case, n)[impl]
        benchmark.group = case.group
        benchmark.extra_info.update(n=n, baseline=case.baseline, floor=case.floor,
                                    goal=case.goal, quick=QUICK)
        # Few rounds of calibrated length, as in the report: the 1e8 and torch baselines
        # take seconds per call, and pytest-benchmark's default would run them for minutes.
        loops = calibrate(fn, default_min_time(QUICK))
        benchmark.pedantic(fn, rounds=case.rounds(QUICK), iterations=loops)

    return run


def measure_params(suite):
    """One ``pytest.param(measure)`` per :class:`Measure` of the suite (not timed: each
    is measured once and its floor checked)."""
    params = []
    for measure in all_measures():
        if measure.suite != suite:
            continue
        missing = measure.missing_modules()
        marks = [pytest.mark.skip(reason=f"needs {', '.join(missing)}")] if missing else []
        params.append(pytest.param(measure, id=measure.group, marks=marks))
    return params


@pytest.fixture
def run_measure(request):
    """``run_measure(measure)``: measures once, prints the row, checks its floor."""

    def run(measure):
        result = measure.measure(measure.size(QUICK))
        unit = f" {result['unit']}" if result["unit"] else ""
        print(f"\n{measure.name(QUICK)}: {result['value']:.6g}{unit}"
              + ("" if result["baseline"] is None else
                 f" (baseline {result['baseline']:.6g}{unit})")
              + f", floor: {measure.bound}")
        print("\n".join(result["details"]))
        assert measure.passes(result), f"{measure.name(QUICK)} is below its floor"

    return run
