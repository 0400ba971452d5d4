"""The fused mini-batch SGD epoch against the classic NumPy loop."""

SUITE = "sgd"


def test_sgd(run_case, case, impl):
    run_case(case, impl)
