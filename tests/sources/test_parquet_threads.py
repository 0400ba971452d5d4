"""Parquet row groups are decoded on the decoding threads: as many as the kernels may use
(``set_num_threads``), pyarrow's own pool unused."""
import threading
import time

import numpy as np
import pytest

import fastbatch as fb

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from fastbatch.sources.parquet_files import RowGroups  # noqa: E402


def write(path, n=4000, group=250):
    table = pa.table({"x": np.arange(n, dtype=np.float64),
                      "y": np.arange(n, dtype=np.float32)})
    pq.write_table(table, str(path), row_group_size=group)
    return str(path)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_row_groups_decode_on_as_many_threads_as_the_kernels_use(tmp_path, monkeypatch,
                                                                threads):
    path = write(tmp_path / "a.parquet")
    active, peak, names, use_threads = [0], [0], set(), []
    lock = threading.Lock()
    real_decode, real_iter = RowGroups.decode, pq.ParquetFile.iter_batches

    def decode(self, group):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
            names.add(threading.current_thread().name.split("_")[0])
        try:
            time.sleep(0.002)                  # long enough for decodes to overlap
            return real_decode(self, group)
        finally:
            with lock:
                active[0] -= 1

    def iter_batches(self, *args, **kwargs):
        use_threads.append(kwargs.get("use_threads", True))
        return real_iter(self, *args, **kwargs)

    monkeypatch.setattr(RowGroups, "decode", decode)
    monkeypatch.setattr(pq.ParquetFile, "iter_batches", iter_batches)
    with fb.set_num_threads(threads):
        src = fb.open_files(path)
        rows = []
        for batch in fb.BatchLoader(src, batch_size=100, shuffle=True, rng=0,
                                    shuffle_method="block", shuffle_window=4):
            rows.extend(batch["x"].tolist())
        # Sequential batches decode what they need on the same threads.
        sequential = np.concatenate([b["x"] for b in fb.BatchLoader(src, batch_size=700)])
    assert sorted(rows) == list(range(4000))
    np.testing.assert_array_equal(sequential, np.arange(4000))
    assert use_threads and not any(use_threads)            # pyarrow's pool unused
    assert "fastbatch-parquet" in names                    # the background decodes
    assert 1 <= peak[0] <= threads + 1                     # + the loader's own thread
    if threads > 1:
        assert peak[0] > 1                                  # side by side
