"""Coverage-guided fuzzing of fastbatch's C entry points against pure-NumPy references.

Each input drives one of: ``take`` (any dtype, trailing shape, strides, negative indices,
an ``out`` buffer), ``permutation``, a ``BatchLoader`` epoch (shuffle, drop_last,
sharding in every mode, prefetch), a block-shuffled epoch (any block size, window,
sharding and resume point), ``linreg_sgd_epoch`` (float32/float64, any order and batch
size), and ``open_files`` on a ``.npy``, Arrow IPC or Parquet file with fuzzed bytes
(truncated, corrupt header, footer, body or data pages): it must raise a clean exception
(from ``open_files`` or while batches are read) or read its rows.  A crash, a sanitizer
report or a result that differs from NumPy's is a finding.  Run it with atheris (``pip install atheris``)::

    python fuzz/fuzz_kernels.py -max_total_time=60 [corpus_dir]

``tests/test_fuzz.py`` runs it for a short while in CI.
"""
import sys

import atheris

import os
import tempfile

with atheris.instrument_imports():
    import numpy as np

    import fastbatch as fb

try:
    import pyarrow as pa
except ImportError:
    pa = None

FOLDER = tempfile.mkdtemp(prefix="fastbatch-fuzz-")

DTYPES = [np.int8, np.uint16, np.int32, np.int64, np.float32, np.float64, np.complex128,
          np.bool_]


def _array(data, n):
    dtype = DTYPES[data.ConsumeIntInRange(0, len(DTYPES) - 1)]
    trailing = tuple(data.ConsumeIntInRange(0, 4) for _ in range(data.ConsumeIntInRange(0, 2)))
    full = (np.arange(2 * n * int(np.prod(trailing, dtype=np.int64))) % 251).astype(dtype)
    a = full.reshape((2 * n,) + trailing)
    layout = data.ConsumeIntInRange(0, 3)
    if layout == 1:
        a = a[::2]                                # strided rows
    elif layout == 2:
        a = a[::-2]                               # negative stride
    else:
        a = a[:n]
    if layout == 3 and a.ndim > 1 and a.shape[-1] > 1:
        a = a[..., ::-1]                          # non-contiguous rows
    return a


def fuzz_take(data):
    n = data.ConsumeIntInRange(0, 40)
    a = _array(data, n)
    k = data.ConsumeIntInRange(0, 60)
    idx = np.array([data.ConsumeIntInRange(-n, n - 1) for _ in range(k)] if n else [],
                   dtype=np.int64)
    expected = a[idx]
    if data.ConsumeBool():
        out = np.empty_like(expected)
        got = fb.take(a, idx, out=out)
        assert got is out
    else:
        got = fb.take(a, idx)
    assert got.dtype == a.dtype and got.shape == expected.shape
    assert np.array_equal(got, expected)


def fuzz_permutation(data):
    n = data.ConsumeIntInRange(0, 5000)
    dtype = np.int32 if data.ConsumeBool() else np.int64
    p = fb.permutation(n, rng=data.ConsumeIntInRange(0, 2**32), dtype=dtype)
    assert p.dtype == dtype and np.array_equal(np.sort(p), np.arange(n))


def fuzz_loader(data):
    n = data.ConsumeIntInRange(0, 50)
    a = _array(data, n)
    ids = np.arange(n)
    world_size = data.ConsumeIntInRange(1, 9)
    mode = ["pad", "drop", "keep"][data.ConsumeIntInRange(0, 2)]
    kwargs = dict(batch_size=data.ConsumeIntInRange(1, 20), shuffle=data.ConsumeBool(),
                  drop_last=data.ConsumeBool(), rng=data.ConsumeIntInRange(0, 1000),
                  world_size=world_size, shard_remainder=mode,
                  prefetch=data.ConsumeIntInRange(0, 2))
    per_rank = []
    for rank in range(world_size):
        seen = []
        for batch_ids, batch in fb.BatchLoader(ids, a, rank=rank, **kwargs):
            assert len(batch_ids) == len(batch) <= kwargs["batch_size"]
            assert np.array_equal(batch, a[batch_ids])      # aligned, right rows
            seen.extend(batch_ids.tolist())
        per_rank.append(seen)
    if kwargs["drop_last"]:
        return
    # Interleaving the ranks' parts gives the (padded or cut) global order, as in
    # DistributedSampler: rank r holds positions r, r + world_size, ...
    longest = max(len(part) for part in per_rank)
    merged = [part[t] for t in range(longest) for part in per_rank if t < len(part)]
    if mode == "drop":
        assert len(merged) == (n // world_size) * world_size
        assert len(set(merged)) == len(merged)
    elif mode == "keep":
        assert sorted(merged) == list(range(n))
    elif n:
        total = -(-n // world_size) * world_size
        assert len(merged) == total and sorted(merged[:n]) == list(range(n))
        assert merged[n:] == [merged[i % n] for i in range(total - n)]
    else:
        assert merged == []


def fuzz_linreg(data):
    n = data.ConsumeIntInRange(1, 30)
    d = data.ConsumeIntInRange(1, 12)
    dtype = np.float32 if data.ConsumeBool() else np.float64
    rng = np.random.default_rng(data.ConsumeIntInRange(0, 1000))
    X = rng.standard_normal((n, d)).astype(dtype)
    y = rng.standard_normal(n)
    order = rng.integers(0, n, size=data.ConsumeIntInRange(0, 2 * n))
    batch_size = data.ConsumeIntInRange(1, 2 * n)
    lr, alpha = 0.05, data.ConsumeIntInRange(0, 3) / 10
    coef = np.zeros(d)
    b = fb.linreg_sgd_epoch(X, y, coef, 0.0, order=order, batch_size=batch_size,
                            learning_rate=lr, alpha=alpha)
    ref, rb = np.zeros(d), 0.0
    Xd = X.astype(np.float64)
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        r = Xd[rows] @ ref + rb - y[rows]
        ref, rb = ref - lr * (Xd[rows].T @ r / len(rows) + alpha * ref), rb - lr * r.mean()
    assert np.allclose(coef, ref, rtol=1e-9, atol=1e-9) and np.isclose(b, rb, atol=1e-9)


def fuzz_block_shuffle(data):
    n = data.ConsumeIntInRange(0, 60)
    world_size = data.ConsumeIntInRange(1, 4)
    kwargs = dict(batch_size=data.ConsumeIntInRange(1, 9), shuffle=True,
                  rng=data.ConsumeIntInRange(0, 2**64), shuffle_method="block",
                  block_size=data.ConsumeIntInRange(1, 12),
                  shuffle_window=data.ConsumeIntInRange(1, 6), world_size=world_size,
                  shard_remainder="keep")
    a = _array(data, n)
    ids = np.arange(n)
    stop = data.ConsumeIntInRange(0, 5)
    seen = []
    for rank in range(world_size):
        loader = fb.BatchLoader(ids, a, rank=rank, **kwargs)
        it = iter(loader)
        for _ in range(stop):
            batch = next(it, None)
            if batch is None:
                break
            assert np.array_equal(batch[1], a[batch[0]])
            seen.extend(batch[0].tolist())
        state = loader.state_dict()
        rest = fb.BatchLoader(ids, a, rank=rank, **kwargs)
        rest.load_state_dict(state)
        if rest.epoch > 0:                         # every rank's part was used up
            continue
        for batch_ids, batch in rest:
            assert np.array_equal(batch, a[batch_ids])
            seen.extend(batch_ids.tolist())
    assert sorted(seen) == list(range(n))


def _fuzzed_file(data, name, payload):
    """``payload`` with some bytes cut, overwritten or appended, written to ``name``."""
    raw = bytearray(payload)
    for _ in range(data.ConsumeIntInRange(0, 4)):
        if not raw:
            break
        action = data.ConsumeIntInRange(0, 2)
        at = data.ConsumeIntInRange(0, len(raw) - 1)
        if action == 0:
            del raw[at:]
        elif action == 1:
            raw[at] = data.ConsumeIntInRange(0, 255)
        else:
            raw[at:at] = data.ConsumeBytes(data.ConsumeIntInRange(1, 16))
    path = os.path.join(FOLDER, name)
    with open(path, "wb") as f:
        f.write(bytes(raw))
    return path


def _read_all(src):
    rows = 0
    for batch in fb.BatchLoader(src, batch_size=7, shuffle=True, rng=0,
                                shuffle_method="block", block_size=5, shuffle_window=2):
        rows += len(batch if not isinstance(batch, dict) else next(iter(batch.values())))
    return rows


def fuzz_files(data):
    n = data.ConsumeIntInRange(1, 40)
    values = np.arange(3 * n, dtype=np.float64).reshape(n, 3)
    if pa is not None and data.ConsumeBool():
        table = pa.table({"x": values[:, 0], "k": np.arange(n, dtype=np.int32)})
        sink = pa.BufferOutputStream()
        with pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table, max_chunksize=data.ConsumeIntInRange(1, n))
        path = _fuzzed_file(data, "f.arrow", sink.getvalue().to_pybytes())
    else:
        path = os.path.join(FOLDER, "clean.npy")
        np.save(path, values)
        with open(path, "rb") as f:
            path = _fuzzed_file(data, "f.npy", f.read())
    try:
        src = fb.open_files(path)
        rows = _read_all(src)
    except (ValueError, TypeError, OSError, KeyError, IndexError):
        return                                     # a clean error is the right answer
    except Exception as exc:                       # pyarrow's own errors name the file
        if pa is not None and isinstance(exc, pa.ArrowException):
            return
        raise
    assert rows == len(src)


def fuzz_parquet(data):
    # Parquet: a footer damaged fails open_files; a damaged data page shows only when
    # its row group is decoded (a clean ValueError, or rows snappy decoded anyway).
    if pa is None:
        return
    import pyarrow.parquet as pq
    n = data.ConsumeIntInRange(1, 60)
    table = pa.table({"x": np.arange(n, dtype=np.float64),
                      "k": pa.array([list(range(i % 3)) for i in range(n)], pa.list_(pa.int32())),
                      "b": np.arange(n) % 2 == 0})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=data.ConsumeIntInRange(1, n),
                   compression=["snappy", "none", "zstd"][data.ConsumeIntInRange(0, 2)],
                   write_page_checksum=data.ConsumeBool())
    path = _fuzzed_file(data, "f.parquet", sink.getvalue().to_pybytes())
    try:
        src = fb.open_files(path)
        rows = _read_all(src)
        sequential = sum(len(b["x"]) for b in fb.BatchLoader(src, batch_size=4))
    except (ValueError, TypeError, OSError, KeyError, IndexError):
        return                                     # a clean error is the right answer
    assert rows == sequential == len(src)


TARGETS = [fuzz_take, fuzz_permutation, fuzz_loader, fuzz_linreg, fuzz_block_shuffle,
           fuzz_files, fuzz_parquet]


def test_one_input(raw):
    data = atheris.FuzzedDataProvider(raw)
    TARGETS[data.ConsumeIntInRange(0, len(TARGETS) - 1)](data)


def main():
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
