"""fb.permutation against np.random.default_rng(seed).permutation, and in two threads."""

SUITE = "permutation"


def test_permutation(run_case, case, impl):
    run_case(case, impl)
