"""The benchmark registry and report machinery (fastbatch.benchmarks); no timing asserted."""

import numpy as np
import pytest

from fastbatch.benchmarks import (CASES, Case, calibrate, demo_cases, format_count,
                                  format_report, machine_info, run_report, status_of)

RUNNABLE = [pytest.param(case, id=case.group,
                         marks=[pytest.mark.skip(reason=f"needs {case.missing_modules()}")]
                         if case.missing_modules() else [])
            for case in CASES]
PERMUTATION_CASES = [p for p in RUNNABLE if p.values[0].suite == "permutation"]
EPOCH_CASES = [p for p in RUNNABLE if p.values[0].suite == "epoch"]
SGD_CASES = [p for p in RUNNABLE if p.values[0].suite == "sgd"]
CONVERGENCE_CASES = [p for p in RUNNABLE if p.values[0].suite == "convergence"]
PREFETCH_CASES = [p for p in RUNNABLE if p.values[0].suite == "prefetch"]


def tiny_case(group="tiny", floor=1.0, goal=2.0, requires=()):
    """A case that runs in microseconds: both sides sum range(n)."""
    return Case(
        group=group, title=group + " n={n}", suite="tiny",
        setup=lambda n: {"numpy": lambda: int(np.arange(n).sum()),
                         "fastbatch": lambda: sum(range(n))},
        n=1000, quick_n=100, floor=floor, goal=goal, design_row=None, requires=requires,
    )


def run_both(case):
    functions = case.setup(case.size(quick=True))
    assert set(functions) == set(case.implementations)
    return functions[case.baseline](), functions["fastbatch"]()


def as_numpy(batch):
    return [np.asarray(part) for part in batch]


# -- the registry ------------------------------------------------------------------------
def test_group_ids_are_unique():
    groups = [case.group for case in CASES]
    assert len(groups) == len(set(groups))


def test_floors_are_below_goals_and_quick_sizes_are_smaller():
    for case in CASES:
        if case.floor is not None and case.goal is not None:
            assert case.floor <= case.goal, case.group
        assert case.quick_n <= case.n, case.group


def test_every_case_compares_fastbatch_with_its_baseline():
    for case in CASES:
        assert case.implementations == (case.baseline, "fastbatch")
        assert case.baseline != "fastbatch"


@pytest.mark.parametrize("case", PERMUTATION_CASES)
def test_permutation_cases_both_return_permutations(case):
    n = case.size(quick=True)
    for result in run_both(case):
        # A case returns one permutation or a list of them (one per thread).
        rows = np.atleast_2d(np.asarray(result))
        np.testing.assert_array_equal(np.sort(rows, axis=1),
                                      np.broadcast_to(np.arange(n), rows.shape))


def test_permutations_drawn_in_threads_equal_serial_ones():
    case = next(case for case in CASES if case.baseline == "serial")
    serial, threaded = run_both(case)
    for a, b in zip(serial, threaded, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("case", EPOCH_CASES)
def test_epoch_cases_see_the_same_batches(case):
    (baseline_count, baseline_last), (fast_count, fast_last) = run_both(case)
    assert baseline_count == fast_count > 0
    baseline_last, fast_last = as_numpy(baseline_last), as_numpy(fast_last)
    assert [(a.shape, a.dtype) for a in baseline_last] == \
           [(a.shape, a.dtype) for a in fast_last]


@pytest.mark.parametrize("case", [p for p in EPOCH_CASES
                                  if "sequential" in p.values[0].group])
def test_sequential_epoch_cases_end_on_the_same_rows(case):
    (_, baseline_last), (_, fast_last) = run_both(case)
    for a, b in zip(baseline_last, fast_last, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("case", SGD_CASES)
def test_sgd_cases_each_run_one_more_training_epoch(case):
    functions = case.setup(case.size(quick=True))
    assert set(functions) == set(case.implementations)
    for run_epoch in functions.values():
        first, second = run_epoch(), run_epoch()
        assert np.isfinite(first) and np.isfinite(second)
        assert second <= first * 1.05          # the loss keeps going down (or levels off)


@pytest.mark.parametrize("case", CONVERGENCE_CASES)
def test_convergence_cases_reach_the_target_loss(case):
    from fastbatch.benchmarks import MAX_EPOCHS
    baseline_epochs, fast_epochs = run_both(case)
    assert 1 <= fast_epochs < MAX_EPOCHS
    assert 1 <= baseline_epochs < MAX_EPOCHS


@pytest.mark.parametrize("case", PREFETCH_CASES)
def test_prefetch_case_runs_the_same_epoch_both_ways(case):
    baseline_steps, fast_steps = run_both(case)
    assert baseline_steps == fast_steps > 0


# -- helpers -----------------------------------------------------------------------------
def test_format_count_uses_the_short_form_for_round_numbers():
    assert [format_count(n) for n in (1000, 10**6, 2 * 10**5, 4 * 10**6, 0, 1234, 100)] \
        == ["1e3", "1e6", "2e5", "4e6", "0", "1234", "100"]


def test_case_sizes_rounds_and_names_follow_the_mode():
    case = tiny_case()
    assert (case.size(), case.size(quick=True)) == (1000, 100)
    assert case.rounds() == 7 and case.rounds(quick=True) == 5
    assert case.rounds(quick=True, repeats=5) == 5
    assert (case.name(), case.name(quick=True)) == ("tiny n=1e3", "tiny n=100")


def test_calibrate_calls_a_slow_function_once_per_round():
    assert calibrate(lambda: None, 0.0) == 1
    assert calibrate(lambda: None, 1e-3) > 1


@pytest.mark.parametrize(("ratio", "floor", "goal", "status"), [
    (7.0, 3.0, 6.0, "goal met"),
    (4.0, 3.0, 6.0, "floor met"),
    (1.5, 1.3, None, "floor met"),
    (2.0, 3.0, 6.0, "BELOW FLOOR"),
    (0.5, None, None, "info"),
])
def test_status_names_the_verdict(ratio, floor, goal, status):
    assert status_of(ratio, floor, goal) == status


def test_machine_info_names_the_machine_and_versions():
    info = machine_info()
    assert {"platform", "cpu", "cores", "numpy", "fastbatch", "torch"} <= set(info)
    assert info["cores"] >= 1 and info["cpu"]


def test_demo_cases_are_numpy_rows_of_the_registry():
    names = {case.name(quick=True) for case in CASES if case.baseline == "numpy"}
    rows = list(demo_cases(quick=True))
    assert rows and all(name in names and callable(f) and callable(g)
                        for name, f, g in rows)


# -- the report --------------------------------------------------------------------------
def test_run_report_returns_one_row_per_case_with_the_ratio():
    calls = []
    cases = [tiny_case("a"), tiny_case("b", floor=None, goal=None)]
    report = run_report(quick=True, repeats=2, progress=lambda *a: calls.append(a),
                        cases=cases, min_time=0)
    assert report["quick"] is True
    assert [row["name"] for row in report["rows"]] == ["a n=100", "b n=100"]
    assert calls == [(0, 2, "a n=100"), (1, 2, "b n=100"), (2, 2, "done")]
    for row in report["rows"]:
        assert row["n"] == 100
        assert set(row["times"]) == {"numpy", "fastbatch"}
        assert all(len(s) == 2 for s in row["samples"].values())
        assert row["ratio"] == row["times"]["numpy"] / row["times"]["fastbatch"]
    a, b = report["rows"]
    assert a["met"] == (a["ratio"] >= 1.0)
    assert a["status"] == status_of(a["ratio"], 1.0, 2.0)
    assert b["met"] is None and b["status"] == "info"


def test_run_report_skips_a_case_whose_module_is_missing():
    case = tiny_case(requires=("fastbatch_no_such_module",))
    (row,) = run_report(quick=True, repeats=1, cases=[case], min_time=0)["rows"]
    assert row["status"] == "skipped: needs fastbatch_no_such_module"
    assert row["ratio"] is None and row["met"] is None and row["times"] == {}


def test_format_report_prints_an_aligned_table_and_the_machine():
    cases = [tiny_case("a"), tiny_case("b", requires=("fastbatch_no_such_module",))]
    text = format_report(run_report(quick=True, repeats=1, cases=cases, min_time=0))
    lines = text.splitlines()
    assert lines[1].startswith("machine:") and "numpy" in lines[1]
    header = lines[3]
    for column in ("row", "vs", "baseline ms", "fastbatch ms", "ratio", "floor", "goal",
                   "status"):
        assert column in header
    assert lines[4].startswith("a n=100") and "1.00x" in lines[4]
    assert lines[5].startswith("b n=100")
    status = header.index("status")
    assert lines[4][status:] in {"goal met", "floor met", "BELOW FLOOR"}
    assert lines[5][status:] == "skipped: needs fastbatch_no_such_module"
