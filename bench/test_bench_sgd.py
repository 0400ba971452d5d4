"""Whole MiniBatchSGDRegressor.fit calls against the classic NumPy loop."""

SUITE = "sgd"


def test_sgd(run_case, case, impl):
    run_case(case, impl)
