"""The estimator-options cases (fastbatch._bench.estimator): every side does the job it
is timed for; no timing asserted."""

import numpy as np
import pytest

from fastbatch._bench import all_cases
from fastbatch._bench.estimator import MAX_EPOCHS, sparse_regression_data

CASES = [case for case in all_cases() if case.suite == "estimator"]


def run_both(case):
    functions = case.setup(case.size(quick=True))
    return [functions[impl]() for impl in case.implementations]


@pytest.mark.parametrize(("group", "floor"), [
    ("to-objective-elasticnet-sklearn-2e5x20", 10.0),
    ("to-objective-elasticnet-sklearn-tuned-2e5x20", 10.0),
    ("to-objective-elasticnet-coordinate-descent-2e5x20", None),
    ("options-cost-2e5x20-B32-5ep", 1 / 1.2),
])
def test_the_rows_and_floors_of_the_issue(group, floor):
    case = next(case for case in CASES if case.group == group)
    assert case.floor == (None if floor is None else pytest.approx(floor))
    assert (case.design_row is None) == (floor is None)


@pytest.mark.parametrize("case", [c for c in CASES if c.group.startswith("to-objective")],
                         ids=lambda c: c.group)
def test_fastbatch_and_the_fair_baselines_reach_the_optimum_objective(case):
    pytest.importorskip("sklearn")
    baseline, fast = run_both(case)
    assert fast.reached and 1 <= fast.epochs < MAX_EPOCHS
    if case.baseline != "sklearn":        # its default schedule need not arrive
        assert baseline.reached
    assert case.capped(baseline) == (not baseline.reached)


def test_the_options_fit_and_the_plain_fit_both_train():
    case = next(case for case in CASES if case.group.startswith("options-cost"))
    plain, options = run_both(case)
    assert np.isfinite(plain) and np.isfinite(options) and plain != options


def test_the_data_has_a_sparse_truth_on_standardised_features():
    X, Z, y = sparse_regression_data(5000, 20)
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-12)
    coef = np.linalg.lstsq(np.column_stack([Z, np.ones(len(y))]), y, rcond=None)[0][:-1]
    assert np.sum(np.abs(coef) > 0.3) == 5
