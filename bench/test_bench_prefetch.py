"""Background prefetch: an epoch whose consumer works per batch, prefetch=2 vs 0."""

SUITE = "prefetch"


def test_prefetch(run_case, case, impl):
    run_case(case, impl)
