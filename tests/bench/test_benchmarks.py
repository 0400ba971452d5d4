"""The benchmark registry and report machinery (fastbatch._bench); no timing asserted."""

import ast
import dataclasses
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import fastbatch as fb
from fastbatch._bench import (Case, Measure, Series, Traffic, all_cases, all_series,
                              calibrate,
                              case_modules, demo_cases, efficiency_row, format_count,
                              format_report, machine_info, run_report, status_of)
from fastbatch._bench.convergence import MAX_EPOCHS
from fastbatch._bench.limits import LIMITS, BareRead, Bounds, measure_limits
from fastbatch._bench.report import format_table
from fastbatch._bench.timing import wait_until_quiet

BENCH = Path(fb.__file__).parent / "_bench"
CASES = all_cases()


def params(suite):
    return [pytest.param(case, id=case.group,
                         marks=[pytest.mark.skip(reason=f"needs {case.missing_modules()}")]
                         if case.missing_modules() else [])
            for case in CASES if case.suite == suite]


def tiny_case(group="tiny", floor=1.0, goal=2.0, requires=(), traffic=None):
    """A case that runs in microseconds: both sides sum range(n)."""
    return Case(
        group=group, title=group + " n={n}", suite="tiny",
        setup=lambda n: {"numpy": lambda: int(np.arange(n).sum()),
                         "fastbatch": lambda: sum(range(n))},
        n=1000, quick_n=100, floor=floor, goal=goal, design_row=None, requires=requires,
        traffic=traffic,
    )


def run_both(case):
    functions = case.setup(case.size(quick=True))
    assert set(functions) == set(case.implementations)
    return functions[case.baseline](), functions["fastbatch"]()


def as_numpy(batch):
    return [np.asarray(part) for part in batch]


def tiny_report(**kwargs):
    options = dict(quick=True, repeats=1, series=[], measures=[], limits=False, min_time=0)
    options.update(kwargs)
    return run_report(**options)


# -- the benchmarks use only the public API ---------------------------------------------
def fastbatch_names_used(path):
    """Attributes read from ``fb`` and modules imported from fastbatch, in one file."""
    tree = ast.parse(path.read_text())
    attributes = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
                  and isinstance(node.value, ast.Name) and node.value.id == "fb"}
    modules = {node.module for node in ast.walk(tree)
               if isinstance(node, ast.ImportFrom) and node.module}
    return attributes, modules


@pytest.mark.parametrize("path", sorted(BENCH.glob("*.py")), ids=lambda p: p.name)
def test_benchmarks_use_only_public_names_of_fastbatch(path):
    attributes, modules = fastbatch_names_used(path)
    assert attributes <= set(fb.__all__), attributes - set(fb.__all__)
    # fastbatch.torch_bridge is a public module of its own (the PyTorch interop).
    private = {m for m in modules if m.startswith("fastbatch.")
               and not m.startswith("fastbatch._bench") and m != "fastbatch.torch_bridge"}
    assert not private


# -- the registry ------------------------------------------------------------------------
def test_case_modules_are_found_in_report_order():
    modules = case_modules()
    names = [m.__name__.rsplit(".", 1)[1] for m in modules]
    assert {"permutation", "epochs", "bijection", "arrow", "sgd", "convergence",
            "prefetch"} <= set(names)
    orders = [getattr(m, "REPORT_ORDER", 100) for m in modules]
    assert orders == sorted(orders)


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


@pytest.mark.parametrize(("group", "floor", "goal"), [
    ("permutation-1e6", 4.0, 8.0), ("permutation-1e7", 4.0, 8.0),
    ("permutation-1e8", 4.0, 8.0),
    ("epoch-shuffled-1e6x16-float32-B256", 4.0, 8.0),
    ("epoch-shuffled-2e5x8-float64-B64", 4.0, 8.0),
    ("epoch-shuffled-1e6x100-float64-B1024", 2.0, None),
    ("epoch-sequential-1e6x16-float32-B256", 1 / 1.1, None),
    ("epoch-torch-1e6x16-float32-B256", 100.0, None),
    ("sgd-shuffled-1e6x32-B256-1ep", 3.0, 5.0), ("sgd-shuffled-1e6x32-B256-5ep", 3.0, 5.0),
    ("sgd-shuffled-2e5x10-B32-5ep", 10.0, 25.0),
    ("sgd-shuffled-1e6x100-B1024-2ep", 2.0, 3.0),
    ("sgd-sequential-1e6x32-B256-5ep", 3.0, 5.0),
    ("to-loss-sklearn-2e5x20", 30.0, None),
])
def test_floors_and_goals_are_those_of_the_performance_contract_version_2(group, floor,
                                                                          goal):
    case = next(case for case in CASES if case.group == group)
    assert (case.floor, case.goal) == (pytest.approx(floor), goal)
    assert case.design_row is not None


def test_the_batch_dataset_row_has_the_floor_of_issue_20():
    case = next(case for case in CASES if case.group == "torch-batchdataset-2e5x16-float32-B256")
    assert (case.floor, case.baseline, case.suite, case.requires) == (30.0, "torch", "epoch",
                                                                      ("torch",))


def test_the_800_byte_row_has_the_efficiency_goal_of_the_contract():
    case = next(case for case in CASES if case.group == "epoch-shuffled-1e6x100-float64-B1024")
    assert case.efficiency_goal == 0.8


def test_every_shuffled_epoch_and_sgd_case_declares_its_traffic():
    for case in CASES:
        measured = (case.suite == "sgd" or case.group.startswith("epoch-shuffled")
                    or case.group == "arrow-take-1e6x16")
        assert (case.traffic is not None) == measured, case.group


def test_traffic_counts_x_and_y_once_per_pass():
    sgd = next(case for case in CASES if case.group == "sgd-shuffled-1e6x32-B256-5ep")
    assert sgd.traffic(1000).bytes == (5 + 2) * 1000 * (32 * 8 + 8)   # + moments, loss
    epoch = next(case for case in CASES if case.group == "epoch-shuffled-1e6x16-float32-B256")
    assert epoch.traffic(1000) == Traffic(((1000, 64), (1000, 4)), passes=1)


@pytest.mark.parametrize("case", params("permutation"))
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


@pytest.mark.parametrize("case", params("epoch"))
def test_epoch_cases_see_the_same_batches(case):
    (baseline_count, baseline_last), (fast_count, fast_last) = run_both(case)
    assert baseline_count == fast_count > 0
    baseline_last, fast_last = as_numpy(baseline_last), as_numpy(fast_last)
    assert [(a.shape, a.dtype) for a in baseline_last] == \
           [(a.shape, a.dtype) for a in fast_last]


@pytest.mark.parametrize("case", [p for p in params("epoch")
                                  if "sequential" in p.values[0].group])
def test_sequential_epoch_cases_end_on_the_same_rows(case):
    (_, baseline_last), (_, fast_last) = run_both(case)
    for a, b in zip(baseline_last, fast_last, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("case", params("sgd"))
def test_sgd_cases_fit_to_about_the_same_loss(case):
    baseline_loss, fast_loss = run_both(case)
    assert np.isfinite(baseline_loss) and np.isfinite(fast_loss)
    # Same model, rate and epochs; only the permutations differ.
    assert fast_loss == pytest.approx(baseline_loss, rel=0.2)


@pytest.mark.slow
@pytest.mark.parametrize("case", params("convergence"))
def test_fastbatch_reaches_the_target_loss_and_a_capped_baseline_is_flagged(case):
    baseline, fast = run_both(case)
    assert fast.reached and 1 <= fast.epochs < MAX_EPOCHS
    assert not case.capped(fast)
    assert 1 <= baseline.epochs <= MAX_EPOCHS
    assert case.capped(baseline) == (not baseline.reached)


@pytest.mark.slow
@pytest.mark.parametrize("case", [p for p in params("convergence")
                                  if p.values[0].baseline in ("torch", "ridge",
                                                              "sklearn-tuned")])
def test_the_reference_baselines_reach_the_target_loss(case):
    # The rows that make the comparison fair: the closed form, scikit-learn's tuned
    # schedule and PyTorch running fastbatch's schedule all arrive.
    baseline, _ = run_both(case)
    assert baseline.reached and baseline.epochs < MAX_EPOCHS


@pytest.mark.parametrize("case", params("prefetch"))
def test_prefetch_case_runs_the_same_epoch_both_ways(case):
    baseline_steps, fast_steps = run_both(case)
    assert baseline_steps == fast_steps > 0


def test_series_cover_permutation_from_1e3_to_1e8_and_1e9_only_when_huge():
    series = {s.name: s for s in all_series()}
    for dtype in ("int64", "int32"):
        s = series[f"permutation {dtype}"]
        assert s.sizes_to_run() == tuple(10**k for k in range(3, 9))
        assert s.sizes_to_run(huge=True)[-1] == 10**9
        assert max(s.sizes_to_run(quick=True)) < 10**7


@pytest.mark.parametrize("series", all_series(), ids=lambda s: s.name)
def test_series_calls_run_at_their_smallest_size(series):
    n = min(series.sizes_to_run(quick=True))
    assert series.setup(n)() is not None


# -- the bare loops ----------------------------------------------------------------------
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("random", [True, False])
def test_bare_reads_sum_every_word_once_for_any_thread_count(threads, random):
    read = BareRead(1001, 20, threads=threads, random=random)
    read.table[:] = np.arange(read.table.size, dtype=np.uint32).reshape(read.table.shape)
    assert read() == int(read.table.sum(dtype=np.uint64))
    assert read.bytes == 1001 * 20


def test_bare_read_rounds_rows_up_to_whole_words():
    assert BareRead(10, 5).table.shape == (10, 2)


def test_limits_table_has_random_rows_with_1_and_2_threads_and_a_sequential_read():
    assert {(row_bytes, threads) for _, row_bytes, threads, random in LIMITS if random} \
        == {(256, 1), (256, 2), (800, 1), (800, 2)}
    assert any(not random for *_, random in LIMITS)


def test_measure_limits_reports_bytes_per_second():
    rows = measure_limits(quick=True, rounds=1, min_time=0)
    assert len(rows) == len(LIMITS)
    for row in rows:
        assert row["bytes_per_second"] == pytest.approx(row["bytes"] / row["seconds"])


def test_bounds_are_measured_once_per_shape_and_scale_with_passes():
    bounds = Bounds(rounds=1, min_time=0)
    one = bounds.seconds(Traffic(((1000, 64), (1000, 8)), passes=1))
    three = bounds.seconds(Traffic(((1000, 64), (1000, 8)), passes=3))
    assert set(bounds.cache) == {(1000, 64), (1000, 8)}
    for kind in ("random", "sequential"):
        assert three[kind] == pytest.approx(3 * one[kind])


@pytest.mark.parametrize("words", [1, 2, 7, 8, 9, 16, 31, 32, 33, 64, 200])
def test_the_prefetching_read_sums_the_same_words_as_the_simple_loop(words):
    # Rows of 4 to 800 bytes: each prefetch distance (16 rows; about 8 KiB of rows) and
    # the wide sum's 128- and 32-byte steps with their tails; parts of the order too.
    from fastbatch._bench._limits import sum_random_rows, sum_random_rows_simple
    rng = np.random.default_rng(words)
    rows = rng.integers(0, 2**32, size=(301, words), dtype=np.uint32)
    order = rng.permutation(301).astype(np.int64)
    for start, stop in [(0, 301), (5, 290), (7, 7), (0, 3)]:
        expected = int(rows[order[start:stop]].sum(dtype=np.uint64))
        assert sum_random_rows(rows, order, start, stop) == expected
        assert sum_random_rows_simple(rows, order, start, stop) == expected


def test_the_wide_sequential_read_sums_every_word():
    from fastbatch._bench._limits import sum_words
    words = np.full(10**5 + 13, 2**32 - 1, dtype=np.uint32)
    words[::7] = np.arange(len(words[::7]), dtype=np.uint32)
    for start, stop in [(0, len(words)), (3, len(words) - 5), (1, 40), (9, 9)]:
        assert sum_words(words, start, stop) == int(words[start:stop].sum(dtype=np.uint64))


def test_the_limits_extension_rejects_a_range_outside_the_order():
    from fastbatch._bench._limits import sum_random_rows, sum_words
    rows, order = np.ones((4, 2), np.uint32), np.arange(4, dtype=np.int64)
    with pytest.raises(ValueError, match="stop=5"):
        sum_random_rows(rows, order, 0, 5)
    with pytest.raises(ValueError, match="start=-1"):
        sum_words(rows.reshape(-1), -1, 2)


# -- helpers -----------------------------------------------------------------------------
def test_format_count_uses_the_short_form_for_round_numbers():
    assert [format_count(n) for n in (1000, 10**6, 2 * 10**5, 4 * 10**6, 0, 1234, 100)] \
        == ["1e3", "1e6", "2e5", "4e6", "0", "1234", "100"]


def test_case_sizes_rounds_and_names_follow_the_mode():
    case = tiny_case()
    assert (case.size(), case.size(quick=True)) == (1000, 100)
    assert case.rounds() == 7 and case.rounds(quick=True) == 5
    assert case.rounds(quick=True, repeats=2) == 2
    assert (case.name(), case.name(quick=True)) == ("tiny n=1e3", "tiny n=100")


def busy_thread(seconds):
    def spin():
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass
    thread = threading.Thread(target=spin)
    thread.start()
    return thread


def test_rounds_wait_until_leftover_threads_of_the_last_call_are_idle():
    # A thread spinning after a call, as OpenBLAS's workers do for ~0.1 s.
    thread = busy_thread(0.3)
    started = time.perf_counter()
    assert wait_until_quiet() is True
    assert time.perf_counter() - started >= 0.25
    thread.join()


def test_waiting_for_quiet_gives_up_on_a_busy_machine():
    thread = busy_thread(1.0)
    started = time.perf_counter()
    assert wait_until_quiet(max_seconds=0.1) is False
    assert time.perf_counter() - started < 0.5
    thread.join()


def test_calibrate_calls_a_slow_function_once_per_round():
    assert calibrate(lambda: None, 0.0) == 1
    assert calibrate(lambda: None, 1e-3) > 1


@pytest.mark.parametrize(("ratio", "floor", "goal", "status"), [
    (9.0, 4.0, 8.0, "goal met"),
    (5.0, 4.0, 8.0, "floor met"),
    (2.5, 2.0, None, "floor met"),
    (3.0, 4.0, 8.0, "BELOW FLOOR"),
    (0.5, None, None, "info"),
])
def test_status_names_the_verdict(ratio, floor, goal, status):
    assert status_of(ratio, floor, goal) == status


def test_efficiency_row_compares_bytes_per_second_with_both_bounds():
    row = efficiency_row("e", 4 * 10**9, {"fastbatch": 1.0, "numpy": 4.0}, "numpy",
                         {"random": 0.5, "sequential": 0.25}, goal=0.4)
    assert row["fastbatch_bytes_per_second"] == 4e9
    assert row["baseline_bytes_per_second"] == 1e9
    assert row["random_bytes_per_second"] == 8e9
    assert row["sequential_bytes_per_second"] == 16e9
    assert (row["of_random"], row["of_sequential"]) == (0.5, 0.25)
    assert row["status"] == "goal met"
    no_goal = efficiency_row("e", 1, {"fastbatch": 1.0, "numpy": 1.0}, "numpy",
                             {"random": 0.5, "sequential": 0.25})
    assert no_goal["status"] == "info"


def test_machine_info_names_the_machine_and_versions():
    info = machine_info()
    assert {"platform", "cpu", "cores", "numpy", "fastbatch", "torch"} <= set(info)
    assert info["cores"] >= 1 and info["cpu"]


def test_demo_cases_are_numpy_rows_of_the_registry():
    names = {case.name(quick=True) for case in CASES if case.baseline == "numpy"}
    rows = list(demo_cases(quick=True))
    assert len(rows) == 4
    assert all(name in names and callable(f) and callable(g) for name, f, g in rows)


def test_format_table_aligns_text_left_and_numbers_right():
    text = format_table(("row", "vs", "ms", "status"),
                        [("long name", "numpy", "1.5", "ok"), ("b", "torch", "100.25", "")],
                        text_columns=2)
    assert text.splitlines() == ["row        vs         ms  status",
                                 "long name  numpy     1.5  ok",
                                 "b          torch  100.25"]


# -- the report --------------------------------------------------------------------------
def test_run_report_returns_one_row_per_case_with_the_ratio():
    calls = []
    cases = [tiny_case("a"), tiny_case("b", floor=None, goal=None)]
    report = tiny_report(repeats=2, progress=lambda *a: calls.append(a), cases=cases)
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
    (row,) = tiny_report(cases=[case])["rows"]
    assert row["status"] == "skipped: needs fastbatch_no_such_module"
    assert row["ratio"] is None and row["met"] is None and row["times"] == {}


def test_run_report_adds_limits_efficiency_and_scaling():
    case = tiny_case(traffic=lambda n: Traffic(((n, 64),)))
    series = Series("sum", lambda n: (lambda: sum(range(n))), (10, 100), (10, 100))
    report = tiny_report(cases=[case, tiny_case("no traffic")], series=[series],
                         limits=True)
    assert [row["name"] for row in report["limits"]] == \
        [row["name"] for row in measure_limits(quick=True, rounds=1, min_time=0)]
    (efficiency,) = report["efficiency"]
    assert efficiency["name"] == "tiny n=100" and efficiency["bytes"] == 100 * 64
    (scaling,) = report["scaling"]
    assert [p["n"] for p in scaling["points"]] == [10, 100]
    assert all(p["ns_per"] == pytest.approx(p["seconds"] / p["n"] * 1e9)
               for p in scaling["points"])


def test_format_report_prints_an_aligned_table_and_the_machine():
    cases = [tiny_case("a"), tiny_case("b", requires=("fastbatch_no_such_module",))]
    lines = format_report(tiny_report(cases=cases)).splitlines()
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


def capped_case(group, capped_side):
    """A tiny case whose ``capped_side`` returns a result that stopped at its cap."""
    def run(side):
        return lambda: "cap" if side == capped_side else "done"
    return dataclasses.replace(
        tiny_case(group, floor=1e-9, goal=None),
        setup=lambda n: {"numpy": run("numpy"), "fastbatch": run("fastbatch")},
        capped=lambda result: result == "cap")


def test_a_capped_baseline_makes_the_ratio_a_lower_bound():
    report = tiny_report(cases=[capped_case("capped baseline", "numpy"), tiny_case("plain")])
    row, plain = report["rows"]
    assert row["capped"] == {"numpy": True, "fastbatch": False}
    assert row["met"] is True and row["status"] == "floor met (lower bound)"
    assert not any(plain["capped"].values())
    text = format_report(report)
    line = next(l for l in text.splitlines() if l.startswith("capped baseline"))
    assert f">{row['ratio']:.2f}x" in line
    assert "the ratio is a lower bound" in text
    plain_line = next(l for l in text.splitlines() if l.startswith("plain"))
    assert ">" not in plain_line


def test_fastbatch_stopping_at_its_cap_fails_the_row():
    (row,) = tiny_report(cases=[capped_case("capped fastbatch", "fastbatch")])["rows"]
    assert row["met"] is False and row["status"] == "FASTBATCH STOPPED AT ITS CAP"
    text = format_report(tiny_report(cases=[capped_case("capped fastbatch", "fastbatch")]))
    assert "lower bound" not in text


def test_format_report_prints_the_limits_efficiency_and_scaling_sections():
    case = tiny_case(traffic=lambda n: Traffic(((n, 64),)))
    series = Series("sum", lambda n: (lambda: sum(range(n))), (10,), (10, 1000))
    text = format_report(tiny_report(cases=[case], series=[series], limits=True))
    assert "the machine's limits" in text and "random 800-byte rows, 2 threads" in text
    assert "random-2T GB/s" in text and "of sequential" in text
    scaling = text.splitlines()[-2:]
    assert scaling[0].split() == ["series", "ns", "per", "n=10", "n=1e3"]
    assert scaling[1].startswith("sum")


def test_report_with_matplotlib_draws_one_png(tmp_path):
    plt = pytest.importorskip("matplotlib.pyplot")
    from fastbatch._bench.plot import draw_report
    case = tiny_case(traffic=lambda n: Traffic(((n, 64),)))
    series = Series("sum", lambda n: (lambda: sum(range(n))), (10,), (10, 100))
    report = tiny_report(cases=[case], series=[series], limits=True)
    draw_report(report, tmp_path / "r.png", plt)
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("module", ["registry", "timing", "limits", "report", "plot", "data",
                                    "sgd"])
def test_docstring_examples_of_the_bench_package_run(module):
    import doctest
    import importlib
    if module == "plot":
        pytest.importorskip("matplotlib")
    result = doctest.testmod(importlib.import_module(f"fastbatch._bench.{module}"))
    assert result.attempted > 0 and result.failed == 0


def test_a_case_whose_module_is_blocked_counts_as_missing(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "fastbatch_blocked_module", None)
    assert tiny_case(requires=("fastbatch_blocked_module",)).missing_modules() == \
        ["fastbatch_blocked_module"]


# -- measures: rows in other units than time ----------------------------------------------

def tiny_measure(group, value, baseline=None, limit=2.0, goal=None):
    return Measure(group=group, title=group + " n={n}", suite="tiny", n=1000, quick_n=10,
                   measure=lambda n: {"value": value, "baseline": baseline, "unit": "MiB",
                                      "details": [f"measured at n={n}"]},
                   bound=f"<= {limit}", passes=lambda r: r["value"] <= limit,
                   reaches_goal=None if goal is None else (lambda r: r["value"] <= goal),
                   design_row=None)


def test_run_report_measures_each_measure_once_and_judges_its_floor_and_goal():
    report = tiny_report(cases=[], measures=[
        tiny_measure("small", 1.0, goal=1.5), tiny_measure("fits", 1.8, goal=1.5),
        tiny_measure("large", 3.0, baseline=1.0)])
    rows = {r["name"]: r for r in report["measures"]}
    assert [rows[k]["status"] for k in ("small n=10", "fits n=10", "large n=10")] == [
        "goal met", "floor met", "BELOW FLOOR"]
    assert rows["small n=10"]["details"] == ["measured at n=10"]
    assert rows["large n=10"]["met"] is False and rows["large n=10"]["baseline"] == 1.0
    text = format_report(report)
    assert "measured in other units than time" in text
    line = next(line for line in text.splitlines() if line.startswith("large n=10"))
    assert line.split() == ["large", "n=10", "3", "MiB", "1", "MiB", "<=", "2.0", "BELOW",
                            "FLOOR"]
    assert "    measured at n=10" in text


def test_every_measure_of_the_registry_names_its_contract_row_and_bound():
    from fastbatch._bench import all_measures
    measures = all_measures()
    assert {m.group for m in measures} >= {"data-at-rest-quality-sorted-targets",
                                           "data-at-rest-anonymous-memory"}
    for m in measures:
        assert m.design_row and m.bound and m.quick_n < m.n
