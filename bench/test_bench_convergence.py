"""Time to the same training loss: fastbatch vs scikit-learn's SGDRegressor and PyTorch."""

SUITE = "convergence"


def test_convergence(run_case, case, impl):
    run_case(case, impl)
