"""One epoch of (X, y) batches: BatchLoader against the NumPy loop and torch's DataLoader."""

SUITE = "epoch"


def test_epoch(run_case, case, impl):
    run_case(case, impl)
