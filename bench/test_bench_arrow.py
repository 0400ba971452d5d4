"""A shuffled epoch of an Arrow table: BatchLoader against table.take and datasets."""

SUITE = "arrow"


def test_arrow(run_case, case, impl):
    run_case(case, impl)
