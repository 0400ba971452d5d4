"""The estimator's options: time to an elastic-net optimum against scikit-learn's
SGDRegressor and ElasticNet, and what the options cost against the plain fit."""

SUITE = "estimator"


def test_estimator(run_case, case, impl):
    run_case(case, impl)
