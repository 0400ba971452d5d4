"""Shuffled epochs of Arrow tables: fastbatch against pyarrow's take and Hugging Face datasets.

Standalone (the benchmark registry lives elsewhere); run from a worktree, with the
worktree on the path (a script's own directory comes first, so a bare run would import
whichever fastbatch the environment installed; the header prints the one used):

    PYTHONPATH=. .venv/bin/python bench/arrow_epoch.py                # medians of 5
    PYTHONPATH=. .venv/bin/python bench/arrow_epoch.py --mmap-gb 4    # + a memory-mapped file

Cases (same process, repetitions interleaved, medians):

- ``fastbatch``: ``for batch in fb.BatchLoader(table, batch_size=256, shuffle=True, rng=r)``.
- ``take``: ``idx = rng.permutation(n)``, then per batch ``t = table.take(idx[i:i+B])`` and
  ``{c: t[c].to_numpy() for c in names}`` (the same dict of NumPy arrays).
- ``datasets``: ``Dataset(table).shuffle(seed=r).with_format("numpy").iter(batch_size=B)``
  (one run: it is slow).
- ``numpy (row-major)``: the same epoch of one (n, 16) float32 array through
  ``fb.BatchLoader(X, ...)``, for scale: a row is one cache line there, 16 in a table.
- ``--mmap-gb``: a table written to an Arrow IPC file of that size (float32 columns, 64K-row
  record batches), read back with ``pa.ipc.open_file(pa.memory_map(path)).read_all()``, and
  ``--mmap-batches`` shuffled batches read from it; throughput and RSS (file-backed and
  anonymous, from /proc/self/smaps_rollup) reported.  ``--cold`` drops the file's pages
  from the page cache first (``posix_fadvise``), as for a file larger than the cache one
  can spare; ``--shuffle-method bijective`` shuffles without the 8-bytes-per-row
  permutation.
"""

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import pyarrow as pa

import fastbatch as fb


def make_table(n, d, chunk_rows, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((d, n), dtype=np.float32)
    table = pa.table({f"c{j}": data[j] for j in range(d)})
    return pa.Table.from_batches(table.to_batches(max_chunksize=chunk_rows))


def epoch_fastbatch(table, batch_size, seed):
    for batch in fb.BatchLoader(table, batch_size=batch_size, shuffle=True, rng=seed):
        pass
    assert isinstance(batch, dict), "this fastbatch does not read Arrow tables"


def epoch_take(table, batch_size, seed):
    idx = np.random.default_rng(seed).permutation(table.num_rows)
    names = table.column_names
    for i in range(0, len(idx), batch_size):
        taken = table.take(idx[i:i + batch_size])
        {c: taken[c].to_numpy() for c in names}


def epoch_datasets(dataset, batch_size, seed):
    for _ in dataset.shuffle(seed=seed).with_format("numpy").iter(batch_size=batch_size):
        pass


def epoch_numpy(array, batch_size, seed):
    for _ in fb.BatchLoader(array, batch_size=batch_size, shuffle=True, rng=seed):
        pass


def timed(fn, *args):
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def memory():
    """Resident MiB from smaps_rollup (exact; /proc/self/status counters are cached per
    thread and lag): total, anonymous, and file-backed (the memory map's pages)."""
    fields = {}
    with open("/proc/self/smaps_rollup") as rollup:
        for line in rollup:
            key, _, value = line.partition(":")
            if key in ("Rss", "Anonymous"):
                fields[key] = int(value.split()[0]) / 1024
    fields["File"] = fields["Rss"] - fields["Anonymous"]
    return fields


def in_memory(args):
    n, d, B = args.rows, 16, args.batch_size
    cases = {}
    for label, chunk_rows in (("1 chunk", n), ("64K-row chunks", 1 << 16)):
        table = make_table(n, d, chunk_rows)
        times = {"fastbatch": [], "take": []}
        for rep in range(args.repeats):           # interleaved: drift hits both alike
            times["fastbatch"].append(timed(epoch_fastbatch, table, B, rep))
            times["take"].append(timed(epoch_take, table, B, rep))
        cases[label] = {k: statistics.median(v) for k, v in times.items()}
        cases[label]["spread"] = {k: (min(v), max(v)) for k, v in times.items()}
        if label == "1 chunk":
            array = np.ascontiguousarray(np.stack([table[c].to_numpy() for c in
                                                   table.column_names], axis=1))
            cases[label]["numpy (row-major)"] = statistics.median(
                timed(epoch_numpy, array, B, rep) for rep in range(args.repeats))
            try:
                import datasets
            except ImportError:
                continue
            datasets.disable_progress_bars()
            cases[label]["datasets"] = timed(epoch_datasets, datasets.Dataset(table), B, 0)
    print(f"fastbatch from {os.path.dirname(fb.__file__)}")
    print(f"shuffled epoch, {n} x {d} float32 table, B={B}, medians of {args.repeats}")
    for label, row in cases.items():
        base = row["fastbatch"]
        print(f"  [{label}] fastbatch {base * 1e3:8.1f} ms "
              f"(min..max {row['spread']['fastbatch'][0] * 1e3:.1f}.."
              f"{row['spread']['fastbatch'][1] * 1e3:.1f})")
        for name in ("take", "datasets", "numpy (row-major)"):
            if name in row:
                print(f"  [{label}] {name:17s} {row[name] * 1e3:8.1f} ms   "
                      f"fastbatch is {row[name] / base:6.2f}x faster")
        print(f"  [{label}] take min..max {row['spread']['take'][0] * 1e3:.1f}.."
              f"{row['spread']['take'][1] * 1e3:.1f} ms")


def memory_mapped(args):
    d, B = 16, args.batch_size
    n = int(args.mmap_gb * 2**30 // (4 * d))
    chunk_rows = 1 << 16
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = os.path.join(tmp, "table.arrow")
        schema = pa.schema([(f"c{j}", pa.float32()) for j in range(d)])
        rng = np.random.default_rng(0)
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
            for start in range(0, n, chunk_rows):
                rows = min(chunk_rows, n - start)
                block = rng.standard_normal((d, rows), dtype=np.float32)
                writer.write_batch(pa.record_batch(list(block), schema=schema))
        size = os.path.getsize(path)
        if args.cold:
            # As for a file larger than the page cache one can spare: its pages are
            # written back and dropped, so every batch reads from the disk.
            with open(path, "rb") as f:
                os.fsync(f.fileno())
                os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        before = memory()
        table = pa.ipc.open_file(pa.memory_map(path)).read_all()
        loader = fb.BatchLoader(table, batch_size=B, shuffle=True, rng=0,
                                shuffle_method=args.shuffle_method)
        start = time.perf_counter()
        for i, _ in enumerate(loader):
            if i + 1 == args.mmap_batches:
                elapsed = time.perf_counter() - start
                during = memory()
                break
        rows = args.mmap_batches * B
        cache = ("cold: its pages dropped from the page cache first" if args.cold
                 else "page cache warm from writing it")
        print(f"memory-mapped IPC file: {size / 2**30:.2f} GiB, {n} x {d} float32, "
              f"{n // chunk_rows + 1} record batches; {args.mmap_batches} shuffled batches "
              f"of {B}, shuffle_method={args.shuffle_method!r} ({cache})")
        print(f"  {elapsed:.2f} s, {rows / elapsed / 1e6:.2f} M rows/s, "
              f"{rows * d * 4 / elapsed / 2**20:.1f} MiB/s of batch data")
        print(f"  RSS before open {before['Rss']:.0f} MiB, during the epoch {during['Rss']:.0f} "
              f"MiB (anonymous {during['Anonymous']:.0f} MiB, file-backed {during['File']:.0f} "
              f"MiB; an exact shuffle's permutation is {n * 8 / 2**20:.0f} MiB of it)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--mmap-gb", type=float, default=0.0)
    parser.add_argument("--mmap-batches", type=int, default=2000)
    parser.add_argument("--dir", default=None, help="where to write the IPC file")
    parser.add_argument("--cold", action="store_true",
                        help="drop the IPC file's pages from the page cache before reading")
    parser.add_argument("--shuffle-method", default="exact", choices=("exact", "bijective"))
    parser.add_argument("--skip-in-memory", action="store_true")
    args = parser.parse_args()
    if not args.skip_in_memory:
        in_memory(args)
    if args.mmap_gb:
        memory_mapped(args)


if __name__ == "__main__":
    main()
