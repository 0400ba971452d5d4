"""The benchmark cases of the keyed bijection (fastbatch/_bench/bijection.py): each side
does the same job, the floors are the contract's, the scaling reaches 1e12 by sampling."""

import numpy as np
import pytest

from fastbatch._bench import bijection
from fastbatch._bench.registry import all_cases, all_series

CASES = {case.group: case for case in all_cases() if case.suite == "bijection"}


def run_both(case):
    functions = case.setup(case.size(quick=True))
    assert set(functions) == set(case.implementations)
    return functions[case.baseline](), functions["fastbatch"]()


@pytest.mark.parametrize("group, baseline, floor", [
    ("index-shuffle-1e8", "numpy", 1.0), ("index-shuffle-vs-grain", "grain", 1000.0),
    ("epoch-bijective-vs-exact-1e6x16-float32-B256", "exact", None),
])
def test_the_cases_and_their_floors_are_those_of_the_contract(group, baseline, floor):
    case = CASES[group]
    assert (case.baseline, case.floor) == (baseline, floor)
    assert (case.design_row is not None) == (floor is not None)


def test_both_sides_of_the_whole_epoch_case_are_permutations_of_range_n():
    case = CASES["index-shuffle-1e8"]
    assert case.n == 10**8
    n = case.size(quick=True)
    for result in run_both(case):
        np.testing.assert_array_equal(np.sort(result), np.arange(n))


def test_both_sides_of_the_grain_case_give_as_many_indices_in_range():
    pytest.importorskip("grain")
    grain, fast = run_both(CASES["index-shuffle-vs-grain"])
    assert len(grain) == len(fast) == CASES["index-shuffle-vs-grain"].size(quick=True)
    assert all(0 <= i < 10**8 for i in grain) and ((0 <= fast) & (fast < 10**8)).all()


def test_bijective_and_exact_epochs_cut_the_same_batches():
    (exact_count, exact_last), (fast_count, fast_last) = run_both(
        CASES["epoch-bijective-vs-exact-1e6x16-float32-B256"])
    assert exact_count == fast_count > 0
    assert [a.shape for a in exact_last] == [a.shape for a in fast_last]


def test_the_scaling_series_samples_positions_up_to_1e12():
    (series,) = [s for s in all_series() if s.name == "index_shuffle"]
    assert series.sizes == tuple(10**k for k in range(3, 13)) and series.per == "index"
    assert series.elements(10**3) == 10**3
    assert series.elements(10**12) == bijection.SAMPLE
    values = series.setup(10**12)()
    assert len(values) == bijection.SAMPLE and ((0 <= values) & (values < 10**12)).all()


def test_the_report_divides_a_sampled_series_by_the_elements_handled():
    from fastbatch._bench.registry import Series
    from fastbatch._bench.report import run_report

    series = Series("sampled", lambda n: (lambda: None), (10**12,), (10**12,),
                    elements=lambda n: 4)
    report = run_report(quick=True, repeats=1, cases=[], series=[series], limits=False,
                        min_time=0)
    (point,) = report["scaling"][0]["points"]
    assert point["ns_per"] == pytest.approx(point["seconds"] / 4 * 1e9)
