"""fb.index_shuffle against NumPy's permutation and Grain; bijective vs exact epochs."""

SUITE = "bijection"


def test_bijection(run_case, case, impl):
    run_case(case, impl)
