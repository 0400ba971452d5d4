"""The report: every case's ratio, the machine's limits, efficiency rows, the scaling table.

:func:`run_report` measures and returns plain data (JSON-serialisable);
:func:`format_report` prints it.  Speedups are ``baseline time / fastbatch time`` (median
per call), which the contract requires to be at least the case's floor; rows phrased as
"at most k times the baseline's time" have the floor ``1 / k``.
"""

import statistics
import time

from fastbatch._bench.limits import Bounds, measure_limits
from fastbatch._bench.registry import all_cases, all_measures, all_series, format_count
from fastbatch._bench.timing import default_min_time, machine_info, median_seconds, time_case

SERIES_ROUNDS, QUICK_SERIES_ROUNDS = 3, 1
LIMIT_ROUNDS, QUICK_LIMIT_ROUNDS = 5, 2


def status_of(ratio, floor, goal):
    """The verdict on a speedup: "goal met", "floor met", "BELOW FLOOR", or "info".

    Examples
    --------
    >>> status_of(9.0, 4.0, 8.0), status_of(2.0, 4.0, 8.0), status_of(2.0, None, None)
    ('goal met', 'BELOW FLOOR', 'info')
    """
    if floor is None:
        return "info"
    if goal is not None and ratio >= goal:
        return "goal met"
    return "floor met" if ratio >= floor else "BELOW FLOOR"


def efficiency_row(name, nbytes, times, baseline, bound_seconds, goal=None):
    """A case's bytes per second against the bare reads of the same traffic.

    Parameters
    ----------
    name : str
    nbytes : int
        Bytes one call reads at least (:attr:`Traffic.bytes`).
    times : dict
        Median seconds per call of ``"fastbatch"`` and of ``baseline``.
    baseline : str
    bound_seconds : dict
        ``{"random": s, "sequential": s}``: the bare 2-thread random-row read and the
        bare sequential read of that traffic.
    goal : float, optional
        Required fraction of the random-read bound.

    Examples
    --------
    >>> row = efficiency_row("e", 10**9, {"fastbatch": 0.5, "numpy": 2.0}, "numpy",
    ...                      {"random": 0.25, "sequential": 0.1}, goal=0.8)
    >>> row["of_random"], row["of_sequential"], row["status"]
    (0.5, 0.2, 'below goal')
    """
    of_random = bound_seconds["random"] / times["fastbatch"]
    status = "info" if goal is None else ("goal met" if of_random >= goal else "below goal")
    return {
        "name": name, "bytes": nbytes,
        "fastbatch_bytes_per_second": nbytes / times["fastbatch"],
        "baseline_bytes_per_second": nbytes / times[baseline],
        "random_bytes_per_second": nbytes / bound_seconds["random"],
        "sequential_bytes_per_second": nbytes / bound_seconds["sequential"],
        "of_random": of_random,
        "of_sequential": bound_seconds["sequential"] / times["fastbatch"],
        "goal": goal, "status": status,
    }


def _case_row(case, quick, repeats, min_time):
    name = case.name(quick)
    row = {"name": name, "group": case.group, "design_row": case.design_row,
           "n": case.size(quick), "baseline": case.baseline, "times": {}, "samples": {},
           "ratio": None, "floor": case.floor, "goal": case.goal, "met": None}
    missing = case.missing_modules()
    if missing:
        row["status"] = f"skipped: needs {', '.join(missing)}"
        return row
    results = {}
    samples = time_case(case, quick, repeats, min_time, results)
    times = {impl: statistics.median(s) for impl, s in samples.items()}
    ratio = times[case.baseline] / times["fastbatch"]
    capped = {impl: bool(case.capped and case.capped(result))
              for impl, result in results.items()}
    row.update(times=times, samples=samples, ratio=ratio, capped=capped,
               met=None if case.floor is None else ratio >= case.floor,
               status=status_of(ratio, case.floor, case.goal))
    if capped["fastbatch"]:
        # fastbatch did not finish the job: no speedup to speak of.
        row.update(met=None if case.floor is None else False,
                   status="FASTBATCH STOPPED AT ITS CAP")
    elif capped[case.baseline]:
        # The baseline's time is that of its cap: the true ratio is at least this.
        row["status"] += " (lower bound)"
    return row


def _measure_row(measure, quick):
    row = {"name": measure.name(quick), "group": measure.group, "n": measure.size(quick),
           "design_row": measure.design_row, "bound": measure.bound, "value": None,
           "baseline": None, "unit": "", "details": [], "met": None}
    missing = measure.missing_modules()
    if missing:
        row["status"] = f"skipped: needs {', '.join(missing)}"
        return row
    result = measure.measure(row["n"])
    met = bool(measure.passes(result))
    goal = measure.reaches_goal is not None and bool(measure.reaches_goal(result))
    row.update({k: result[k] for k in ("value", "baseline", "unit", "details")}, met=met,
               status="goal met" if met and goal else "floor met" if met else "BELOW FLOOR")
    return row


def _series_row(series, quick, huge, rounds, min_time):
    points = []
    for n in series.sizes_to_run(quick, huge):
        seconds = median_seconds(series.setup(n), rounds, min_time)
        count = series.elements(n) if series.elements else n
        points.append({"n": n, "seconds": seconds, "ns_per": seconds / max(count, 1) * 1e9})
    return {"name": series.name, "per": series.per, "points": points}


def run_report(quick=False, repeats=None, progress=None, *, cases=None, series=None,
               measures=None, limits=True, huge=False, min_time=None):
    """Time the cases, the machine's limits and the scaling series; return plain data.

    Parameters
    ----------
    quick : bool, default False
        Reduced sizes and rounds: a smoke run.  The full run takes minutes.
    repeats : int, optional
        Timed rounds for every case (default: each case's own, fewer when quick).
    progress : callable, optional
        ``progress(done, total, name)`` before each step, and once with ``done == total``.
    cases, series, measures : list, optional
        What to run; default every case, series and measure of the case modules.
    limits : bool, default True
        Time the bare loops (the limits table and the efficiency rows).
    huge : bool, default False
        Add the series' huge sizes (1e9 permutations: gigabytes of memory).
    min_time : float, optional
        Seconds each timed round lasts at least (default 0.2, 0.05 when quick).

    Returns
    -------
    dict
        ``machine``, ``quick``, ``huge``, ``seconds``; ``rows`` (one per case: ``name``,
        ``group``, ``design_row``, ``n``, ``baseline``, ``times``, ``samples``,
        ``ratio``, ``floor``, ``goal``, ``met``, ``status``, and ``capped``: per
        implementation, whether its last call stopped at its cap, see ``Case.capped``); ``limits`` (the bare loops'
        bytes per second); ``efficiency`` (see :func:`efficiency_row`); ``scaling`` (one
        per series: ``name``, ``per``, ``points`` of ``n``, ``seconds``, ``ns_per``);
        ``measures`` (one per :class:`Measure`: ``name``, ``value``, ``baseline``,
        ``unit``, ``bound``, ``details``, ``met``, ``status``).

    Examples
    --------
    >>> import numpy as np
    >>> from fastbatch._bench.registry import Case
    >>> case = Case(group="sum", title="sum n={n}", suite="demo", n=1000, quick_n=100,
    ...             setup=lambda n: {"numpy": lambda: sum(range(n)),
    ...                              "fastbatch": lambda: np.arange(n).sum()},
    ...             floor=1.0, goal=None, design_row=None)
    >>> report = run_report(quick=True, repeats=1, cases=[case], series=[], limits=False,
    ...                     min_time=0)
    >>> row = report["rows"][0]
    >>> row["name"], row["n"], sorted(row["times"])
    ('sum n=100', 100, ['fastbatch', 'numpy'])
    """
    cases = all_cases() if cases is None else cases
    series = all_series() if series is None else series
    measures = all_measures() if measures is None else measures
    min_time = default_min_time(quick) if min_time is None else min_time
    limit_rounds = repeats or (QUICK_LIMIT_ROUNDS if quick else LIMIT_ROUNDS)
    series_rounds = repeats or (QUICK_SERIES_ROUNDS if quick else SERIES_ROUNDS)
    started = time.perf_counter()
    steps = [(case.name(quick), "case", case) for case in cases]
    steps += [(m.name(quick), "measure", m) for m in measures]
    if limits:
        steps.append(("the machine's limits", "limits", None))
    steps += [(f"scaling: {s.name}", "series", s) for s in series]
    report = {"machine": machine_info(), "quick": quick, "huge": huge, "rows": [],
              "measures": [], "limits": [], "efficiency": [], "scaling": []}
    bounds = Bounds(limit_rounds, min_time)
    for done, (name, kind, item) in enumerate(steps):
        if progress is not None:
            progress(done, len(steps), name)
        if kind == "case":
            row = _case_row(item, quick, repeats, min_time)
            report["rows"].append(row)
            if limits and item.traffic is not None and row["ratio"] is not None:
                traffic = item.traffic(row["n"])
                report["efficiency"].append(efficiency_row(
                    row["name"], traffic.bytes, row["times"], item.baseline,
                    bounds.seconds(traffic), item.efficiency_goal))
        elif kind == "measure":
            report["measures"].append(_measure_row(item, quick))
        elif kind == "limits":
            report["limits"] = measure_limits(quick, limit_rounds, min_time)
        else:
            report["scaling"].append(_series_row(item, quick, huge, series_rounds, min_time))
    if progress is not None:
        progress(len(steps), len(steps), "done")
    report["seconds"] = time.perf_counter() - started
    return report


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


def _gb(bytes_per_second):
    return f"{bytes_per_second / 1e9:.2f}"


def _percent(fraction):
    return "-" if fraction is None else f"{100 * fraction:.0f}%"


def format_table(header, rows, text_columns=1):
    """Aligned lines: the first ``text_columns`` and the last column left-aligned, the
    numbers between right-aligned so their decimals line up.

    Examples
    --------
    >>> print(format_table(("row", "ms", "status"), [("a", "1.5", "ok"), ("bb", "10.0", "")]))
    row    ms  status
    a     1.5  ok
    bb   10.0
    """
    table = [tuple(header)] + [tuple(r) for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = []
    for r in table:
        cells = [c.ljust(w) for c, w in zip(r[:text_columns], widths)]
        cells += [c.rjust(w) for c, w in zip(r[text_columns:-1], widths[text_columns:-1])]
        cells.append(r[-1])
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _ratio(row):
    lower_bound = row.get("capped", {}).get(row["baseline"]) and not row["capped"]["fastbatch"]
    return (">" if lower_bound else "") + _factor(row["ratio"])


def _ratio_table(rows):
    header = ("row", "vs", "baseline ms", "fastbatch ms", "ratio", "floor", "goal", "status")
    table = format_table(header, [
        (r["name"], r["baseline"], _ms(r["times"].get(r["baseline"])),
         _ms(r["times"].get("fastbatch")), _ratio(r), _factor(r["floor"]),
         _factor(r["goal"]), r["status"]) for r in rows], text_columns=2)
    if any(r.get("capped", {}).get(r["baseline"]) for r in rows):
        table += ("\n>: the baseline stopped at its cap without finishing the job (a target "
                  "loss it did not reach); its time is the cap's, so the ratio is a lower bound")
    return table


def _value(value, unit):
    return "-" if value is None else f"{value:.6g}{(' ' + unit) if unit else ''}"


def _measures_table(rows):
    lines = [format_table(("row", "fastbatch", "baseline", "floor", "status"), [
        (r["name"], _value(r["value"], r["unit"]), _value(r["baseline"], r["unit"]),
         r["bound"], r["status"]) for r in rows])]
    for r in rows:
        if r["details"]:
            lines += [f"  {r['name']}:"] + [f"    {line}" for line in r["details"]]
    return "\n".join(lines)


def _limits_table(limits):
    return format_table(("bare loop", "ms", "GB/s", ""), [
        (r["name"], _ms(r["seconds"]), _gb(r["bytes_per_second"]), "") for r in limits])


def _efficiency_table(rows):
    header = ("row", "GB read", "fastbatch GB/s", "baseline GB/s", "random-2T GB/s",
              "of random", "sequential GB/s", "of sequential", "goal", "status")
    return format_table(header, [
        (r["name"], f"{r['bytes'] / 1e9:.2f}", _gb(r["fastbatch_bytes_per_second"]),
         _gb(r["baseline_bytes_per_second"]), _gb(r["random_bytes_per_second"]),
         _percent(r["of_random"]), _gb(r["sequential_bytes_per_second"]),
         _percent(r["of_sequential"]), _percent(r["goal"]), r["status"]) for r in rows])


def _scaling_table(scaling):
    sizes = sorted({p["n"] for s in scaling for p in s["points"]})
    header = ("series", "ns per") + tuple(f"n={format_count(n)}" for n in sizes) + ("",)
    rows = []
    for s in scaling:
        by_n = {p["n"]: p["ns_per"] for p in s["points"]}
        rows.append((s["name"], s["per"]) + tuple(
            f"{by_n[n]:.2f}" if n in by_n else "-" for n in sizes) + ("",))
    return format_table(header, rows, text_columns=2)


def format_report(report):
    """The report as aligned text tables, with the machine it was measured on.

    Examples
    --------
    >>> from fastbatch._bench.registry import Case
    >>> case = Case(group="sum", title="sum n={n}", suite="demo", n=1000, quick_n=100,
    ...             setup=lambda n: {"numpy": lambda: sum(range(n)),
    ...                              "fastbatch": lambda: sum(range(n))},
    ...             floor=None, goal=None, design_row=None)
    >>> text = format_report(run_report(quick=True, repeats=1, cases=[case], series=[],
    ...                                 limits=False, min_time=0))
    >>> text.splitlines()[3].split()
    ['row', 'vs', 'baseline', 'ms', 'fastbatch', 'ms', 'ratio', 'floor', 'goal', 'status']
    """
    m = report["machine"]
    mode = "quick mode: reduced sizes" if report["quick"] else "full sizes"
    if report.get("huge"):
        mode += ", with the huge sizes"
    torch_part = f", torch {m['torch']}" if m["torch"] else ""
    load = "" if m["load_average"] is None else f", load average {m['load_average']:.2f}"
    lines = [
        f"fastbatch benchmark report ({mode}, {report['seconds']:.0f} s)",
        f"machine: {m['platform']}, {m['cpu']}, {m['cores']} cores, python {m['python']},"
        f" numpy {m['numpy']}, fastbatch {m['fastbatch']}{torch_part}{load}",
        "ratio = baseline time / fastbatch time (median per call), the speedup; floor and "
        "goal from the performance contract (version 2)",
        _ratio_table(report["rows"]),
    ]
    if report.get("measures"):
        lines += ["", "measured in other units than time (the same run)",
                  _measures_table(report["measures"])]
    if report.get("limits"):
        lines += ["", "the machine's limits: bare loops that only read, timed in this run",
                  _limits_table(report["limits"])]
    if report.get("efficiency"):
        lines += ["", "efficiency: bytes read per second (at least X and y once per epoch) "
                  "against bare reads of the same arrays: 2 threads at random, 1 in sequence",
                  _efficiency_table(report["efficiency"])]
    if report.get("scaling"):
        lines += ["", "scaling: nanoseconds per element (or sample) as n grows",
                  _scaling_table(report["scaling"])]
    return "\n".join(lines)
