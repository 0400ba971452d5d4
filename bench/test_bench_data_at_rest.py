"""Data at rest: cold block-shuffled epochs of a .npy file against a bare sequential read
and an exact shuffle; a block epoch in memory against an exact one; a cold block fit
against a bare read of X and y; and, measured once (not timed), the block shuffle's
quality and the anonymous memory of a block epoch."""

SUITE = "data_at_rest"


def test_data_at_rest(run_case, case, impl):
    run_case(case, impl)


def test_data_at_rest_measure(run_measure, measure):
    run_measure(measure)
