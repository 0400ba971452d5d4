"""The benchmark registry and report of fastbatch's performance contract (version 2).

Every case is defined once, in a case module of this package (``permutation``,
``epochs``, ``sgd``, ``convergence``, ``prefetch``; see :mod:`.registry` for how a new
one is found), and run by both ``fastbatch bench`` (:func:`run_report`) and the
pytest-benchmark suites in ``bench/``.  Cases use only the public API (``fb.*``), so the
report works from an installed package.  The bare read loops of :mod:`.limits` give the
machine's limits, measured in the same run.

Examples
--------
>>> from fastbatch._bench import all_cases, status_of
>>> len({case.group for case in all_cases()}) == len(all_cases())
True
"""

from fastbatch._bench.registry import (
    Case, Measure, Series, Traffic, all_cases, all_measures, all_series, case_modules,
    demo_cases, format_count,
)
from fastbatch._bench.report import efficiency_row, format_report, run_report, status_of
from fastbatch._bench.timing import calibrate, machine_info, time_case

__all__ = [
    "Case", "Measure", "Series", "Traffic", "all_cases", "all_measures", "all_series",
    "calibrate", "case_modules", "demo_cases", "efficiency_row", "format_count", "format_report", "machine_info",
    "run_report", "status_of", "time_case",
]
