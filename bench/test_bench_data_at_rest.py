"""Data at rest: cold block-shuffled epochs of a .npy file against a bare sequential read
and an exact shuffle; a block epoch in memory against an exact one."""

SUITE = "data_at_rest"


def test_data_at_rest(run_case, case, impl):
    run_case(case, impl)
