"""Ranks of one machine share the page cache of a memory-mapped file: two processes'
block-shuffled epochs of a cold file read it from the disk about once, not once each."""

import os

import pytest

from fastbatch._bench.at_rest import disk_read_bytes, measure_rank_reads
from fastbatch._bench.data_at_rest import GIB_ROWS


@pytest.mark.slow
def test_two_ranks_read_a_cold_file_from_the_disk_about_once():
    if disk_read_bytes() is None or not os.path.exists("/proc/self/io"):
        pytest.skip("this platform does not report read_bytes (/proc/self/io)")
    result = measure_rank_reads(GIB_ROWS // 16)          # 64 MiB, cold
    if result["value"] == 0:
        pytest.skip("the temporary folder is not on a disk (tmpfs): nothing is read")
    # Each rank serves half the rows but needs pages of every window; together they read
    # the file about once (some pages twice if both fault on one before it arrives).
    assert 0.5 < result["value"] < 1.5, result["details"]
    served = [line for line in result["details"] if line.startswith("rank")]
    assert len(served) == 2 and all("524288 rows" in line for line in served)
