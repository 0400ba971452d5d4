"""Write Parquet shards with pyarrow, then train from them with fastbatch.

Run: ``python examples/parquet_shards.py [folder]`` (a temporary folder by default).
Needs pyarrow (``pip install 'fastbatch[arrow]'``).

1. Four shards of a linear problem, 64 Ki rows each, row groups of 8 Ki rows, snappy.
2. ``fb.open_files`` reads the footers only; a block-shuffled loader decodes a window of
   row groups at a time (the next window in the background) and serves batches as dicts
   of NumPy columns.
3. The estimator trains on the columns gathered batch by batch (``partial_fit`` per
   epoch would read them the same way); here the features are stacked once for
   ``fit`` to show the result matches the coefficients the data was made with.
"""

import os
import sys
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import fastbatch as fb

N_SHARDS, ROWS, FEATURES = 4, 1 << 16, 8


def write_shards(folder, seed=0):
    """Parquet shards ``part-*.parquet`` of features ``x0..x7`` and a target ``y``."""
    rng = np.random.default_rng(seed)
    coef = np.arange(1, FEATURES + 1, dtype=np.float32)
    for shard in range(N_SHARDS):
        x = rng.standard_normal((ROWS, FEATURES), dtype=np.float32)
        y = x @ coef + 0.5 + 0.01 * rng.standard_normal(ROWS, dtype=np.float32)
        table = pa.table({**{f"x{j}": x[:, j] for j in range(FEATURES)}, "y": y})
        pq.write_table(table, os.path.join(folder, f"part-{shard:03d}.parquet"),
                       row_group_size=8192, compression="snappy")
    return coef


def train(folder):
    src = fb.open_files(os.path.join(folder, "part-*.parquet"))
    print(f"{len(src)} rows in {len(src.block_rows)} row groups, columns {src.columns}")
    loader = fb.BatchLoader(src, batch_size=1024, shuffle=True, rng=0,
                            shuffle_method="block", shuffle_window=8)
    est = fb.MiniBatchSGDRegressor(batch_size=1024, learning_rate=0.05, epochs=1,
                                   random_state=0)
    for epoch in range(3):
        loader.set_epoch(epoch)
        for batch in loader:
            X = np.column_stack([batch[f"x{j}"] for j in range(FEATURES)])
            est.partial_fit(X, batch["y"])
    return est


def main(folder):
    coef = write_shards(folder)
    est = train(folder)
    print("coef_", np.round(est.coef_, 2), "intercept_", round(float(est.intercept_), 2))
    assert np.allclose(est.coef_, coef, atol=0.1), est.coef_
    return est


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as folder:
            main(folder)
