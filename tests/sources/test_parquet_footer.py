"""The Parquet read-ahead's byte ranges come from the footer's Thrift, never from pyarrow's
``RowGroupMetaData.column``, which ends the process on a damaged column chunk."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from fastbatch.sources.parquet_footer import row_group_byte_ranges  # noqa: E402

# A footer the fuzzer damaged (fuzz/regressions/parquet-level-histogram): one column
# chunk's definition-level histogram has 4 entries where its schema allows 3.  Asking
# pyarrow 26 for that column chunk's metadata aborts the interpreter.
DAMAGED = Path(__file__).resolve().parents[1] / "data" / "damaged_level_histogram.parquet"


def pyarrow_ranges(path):
    """The ranges as pyarrow's column metadata gives them (on a sound file)."""
    md = pq.ParquetFile(path).metadata
    out = []
    for g in range(md.num_row_groups):
        first, stop = None, 0
        for c in range(md.num_columns):
            chunk = md.row_group(g).column(c)
            start = chunk.data_page_offset
            if chunk.has_dictionary_page and chunk.dictionary_page_offset:
                start = min(start, chunk.dictionary_page_offset)
            first = start if first is None else min(first, start)
            stop = max(stop, start + chunk.total_compressed_size)
        out.append((first, stop - first))
    return out


def mixed_table(n):
    return pa.table({"x": np.arange(n, dtype=np.float64),
                     "s": [str(i % 7) for i in range(n)],          # dictionary pages
                     "k": pa.array([list(range(i % 3)) for i in range(n)],
                                   pa.list_(pa.int32())),
                     "b": np.arange(n) % 2 == 0,
                     "m": pa.array([{"a": i, "b": float(i)} for i in range(n)])})


@pytest.mark.parametrize("compression", ["snappy", "none", "zstd"])
@pytest.mark.parametrize("statistics", [True, False])
def test_ranges_are_pyarrows_on_sound_files(tmp_path, compression, statistics):
    path = str(tmp_path / "a.parquet")
    pq.write_table(mixed_table(5000), path, row_group_size=700, compression=compression,
                   write_statistics=statistics, write_page_checksum=True)
    expected = pyarrow_ranges(path)
    assert len(expected) == 8
    assert row_group_byte_ranges(path, 8) == expected


def test_a_damaged_footer_gives_no_hint_and_never_raises(tmp_path):
    path = tmp_path / "a.parquet"
    pq.write_table(mixed_table(300), str(path), row_group_size=100)
    data = path.read_bytes()
    size = len(data)
    length = int.from_bytes(data[-8:-4], "little")
    footer = range(size - 8 - length, size - 8)
    rng = np.random.default_rng(0)
    sound = row_group_byte_ranges(str(path), 3)
    differs = 0
    for at in list(footer[::7]) + [size - 8, size - 5, size - 2]:
        for value in (0x00, 0xFF, int(rng.integers(256))):
            damaged = bytearray(data)
            damaged[at] = value
            path.write_bytes(bytes(damaged))
            ranges = row_group_byte_ranges(str(path), 3)
            assert len(ranges) == 3
            assert all(0 <= first and first + n <= size for first, n in ranges)
            differs += ranges != sound
    assert differs                                # some damage was seen, and survived
    for cut in (0, 5, 11, size - 9, size - 1):
        path.write_bytes(data[:cut])
        assert row_group_byte_ranges(str(path), 3) == [(0, 0)] * 3
    path.write_bytes(data)
    assert row_group_byte_ranges(str(path), 4) == [(0, 0)] * 4   # not pyarrow's count
    assert row_group_byte_ranges(str(tmp_path / "missing.parquet"), 2) == [(0, 0)] * 2


def test_a_damaged_column_chunk_is_a_clear_error_not_an_abort():
    # In a fresh interpreter: an abort would kill it, which this test then reports.
    code = textwrap.dedent(f"""
        import fastbatch as fb
        src = fb.open_files({str(DAMAGED)!r})
        for options in [dict(), dict(shuffle=True, rng=0, shuffle_method="block",
                                     block_size=5, shuffle_window=2)]:
            try:
                for _ in fb.BatchLoader(src, batch_size=7, **options):
                    pass
            except ValueError as exc:
                print("error:", exc)
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=os.getcwd())
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert len(lines) == 2
    assert all("damaged_level_histogram.parquet: row group 0 cannot be decoded" in line
               and "histogram" in line for line in lines)
