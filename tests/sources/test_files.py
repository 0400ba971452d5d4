"""Files as BatchLoader inputs (``fb.open_files``, docs/guide/data_at_rest.rst): .npy
memory-maps, Arrow IPC files, saved Hugging Face datasets and Parquet files, checked
against NumPy and pyarrow's ``take``; every bad file a clear error naming it, never a
crash."""

import ast
import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastbatch as fb
from arrow_reference import as_lists, reference


def write_npy(folder, name, array):
    path = os.path.join(folder, name)
    np.save(path, array)
    return path


def npy_shards(folder, sizes, prefix="x", cols=3, dtype=np.float64, start=0):
    """Files ``{prefix}{i:02d}.npy`` of ``sizes`` rows; row r holds r (then r + 0.5...)."""
    paths, arrays, first = [], [], start
    for i, size in enumerate(sizes):
        rows = np.arange(first, first + size, dtype=dtype)[:, None] + np.arange(cols) / 4
        paths.append(write_npy(folder, f"{prefix}{i:02d}.npy", rows.astype(dtype)))
        arrays.append(rows.astype(dtype))
        first += size
    return paths, np.concatenate(arrays)


def epoch(loader):
    return [batch for batch in loader]


def concat(batches):
    if isinstance(batches[0], tuple):
        return tuple(np.concatenate(parts) for parts in zip(*batches))
    if isinstance(batches[0], dict):
        return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}
    return np.concatenate(batches)


def loader_order(n, **options):
    """The sample order a loader of ``options`` serves (an IndexSource reference)."""
    return np.concatenate(epoch(fb.BatchLoader(np.arange(n), **options)))


# -- .npy: one logical array -----------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_npy_list_shuffled_batches_equal_numpy_take(tmp_path, dtype):
    paths, whole = npy_shards(tmp_path, [7, 0, 13, 20], dtype=dtype)
    src = fb.open_files(paths)
    assert len(src) == 40 and src.columns is None and src.format == "npy"
    options = dict(batch_size=6, shuffle=True, rng=3)
    order = loader_order(40, **options)
    batches = epoch(fb.BatchLoader(src, **options))
    assert all(isinstance(b, np.ndarray) and b.dtype == dtype for b in batches)
    np.testing.assert_array_equal(concat(batches), whole[order])


def test_npy_glob_is_sorted_and_one_array(tmp_path):
    paths, whole = npy_shards(tmp_path, [5, 6, 7])
    src = fb.open_files(str(tmp_path / "x*.npy"))
    assert src.paths == sorted(paths)
    np.testing.assert_array_equal(concat(epoch(fb.BatchLoader(src, batch_size=4))), whole)


def test_npy_single_path_and_pathlike(tmp_path):
    path = write_npy(tmp_path, "a.npy", np.arange(10, dtype=np.int32))
    for spec in (path, tmp_path / "a.npy"):
        np.testing.assert_array_equal(concat(epoch(fb.BatchLoader(fb.open_files(spec),
                                                                   batch_size=3))),
                                      np.arange(10))


def test_npy_list_keeps_the_given_order(tmp_path):
    paths, _ = npy_shards(tmp_path, [3, 4])
    src = fb.open_files(paths[::-1])
    first = concat(epoch(fb.BatchLoader(src, batch_size=7)))
    np.testing.assert_array_equal(first, np.concatenate([np.load(p) for p in paths[::-1]]))


def _memmap_of(array):
    while array is not None and not isinstance(array, np.memmap):
        array = array.base
    return array


def test_npy_sequential_batches_inside_a_file_are_views_of_its_memmap(tmp_path):
    paths, whole = npy_shards(tmp_path, [8, 8])
    batches = epoch(fb.BatchLoader(fb.open_files(paths), batch_size=4))
    assert len(batches) == 4
    for i, batch in enumerate(batches):
        mapped = _memmap_of(batch)
        assert mapped is not None and np.shares_memory(batch, mapped)
        assert mapped.filename == os.path.abspath(paths[i // 2])
        assert not batch.flags.writeable
        np.testing.assert_array_equal(batch, whole[4 * i:4 * i + 4])


def test_npy_batch_across_two_files_is_gathered(tmp_path):
    paths, whole = npy_shards(tmp_path, [5, 5])
    batches = epoch(fb.BatchLoader(fb.open_files(paths), batch_size=4))
    assert _memmap_of(batches[1]) is None          # rows 4..7 straddle the files
    np.testing.assert_array_equal(batches[1], whole[4:8])


def test_npy_exactly_once_per_epoch(tmp_path):
    paths, whole = npy_shards(tmp_path, [9, 1, 30], cols=1)
    loader = fb.BatchLoader(fb.open_files(paths), batch_size=8, shuffle=True, rng=1)
    for e in range(3):
        loader.set_epoch(e)
        seen = concat(epoch(loader))[:, 0]
        assert sorted(seen.tolist()) == whole[:, 0].tolist()


@pytest.mark.parametrize("method", ["exact", "bijective"])
def test_npy_shuffle_methods_match_the_in_memory_loader(tmp_path, method):
    paths, whole = npy_shards(tmp_path, [11, 12, 13])
    options = dict(batch_size=5, shuffle=True, rng=7, shuffle_method=method)
    got = concat(epoch(fb.BatchLoader(fb.open_files(paths), **options)))
    np.testing.assert_array_equal(got, concat(epoch(fb.BatchLoader(whole, **options))))


def test_npy_sharding_over_files_covers_every_row_once(tmp_path):
    paths, whole = npy_shards(tmp_path, [10, 10, 10, 10], cols=1)
    src = fb.open_files(paths)
    seen = []
    for rank in range(4):
        loader = fb.BatchLoader(src, batch_size=3, shuffle=True, rng=2, rank=rank,
                                world_size=4)
        part = concat(epoch(loader))
        reference = concat(epoch(fb.BatchLoader(whole, batch_size=3, shuffle=True, rng=2,
                                                rank=rank, world_size=4)))
        np.testing.assert_array_equal(part, reference)
        seen.extend(part[:, 0].tolist())
    assert sorted(seen) == whole[:, 0].tolist()


def test_npy_state_dict_resumes_mid_epoch(tmp_path):
    paths, _ = npy_shards(tmp_path, [13, 14])
    options = dict(batch_size=4, shuffle=True, rng=5)
    full = epoch(fb.BatchLoader(fb.open_files(paths), **options))
    loader = fb.BatchLoader(fb.open_files(paths), **options)
    it = iter(loader)
    for _ in range(3):
        next(it)
    state = loader.state_dict()
    resumed = fb.BatchLoader(fb.open_files(paths), **options)
    resumed.load_state_dict(state)
    rest = epoch(resumed)
    assert len(rest) == len(full) - 3
    for a, b in zip(rest, full[3:]):
        np.testing.assert_array_equal(a, b)


def test_npy_prefetch_gives_the_same_batches(tmp_path):
    paths, _ = npy_shards(tmp_path, [20, 21])
    options = dict(batch_size=6, shuffle=True, rng=9)
    plain = epoch(fb.BatchLoader(fb.open_files(paths), **options))
    ahead = epoch(fb.BatchLoader(fb.open_files(paths), prefetch=2, **options))
    for a, b in zip(plain, ahead, strict=True):
        np.testing.assert_array_equal(a, b)


def test_npy_file_larger_than_one_block(tmp_path):
    rows = (1 << 20) // 16 * 2 + 5                    # 16-byte rows: two blocks and a bit
    big = np.arange(rows * 2, dtype=np.float64).reshape(rows, 2)
    small = big[:7] + 0.5
    paths = [write_npy(tmp_path, "a.npy", big), write_npy(tmp_path, "b.npy", small)]
    src = fb.open_files(paths)
    per_block = (1 << 20) // 16
    assert src.block_rows.dtype == np.int64
    assert src.block_rows.tolist() == [per_block, per_block, 5, 7]
    assert src.block_rows.sum() == len(src) == rows + 7
    whole = np.concatenate([big, small])
    options = dict(batch_size=4096, shuffle=True, rng=0)
    order = loader_order(len(whole), **options)
    np.testing.assert_array_equal(concat(epoch(fb.BatchLoader(src, **options))), whole[order])


def test_npy_multidimensional_rows_and_booleans(tmp_path):
    x = np.arange(60, dtype=np.int16).reshape(10, 3, 2)
    flags = np.arange(10) % 3 == 0
    src = fb.open_files({"x": write_npy(tmp_path, "x.npy", x),
                         "flag": write_npy(tmp_path, "f.npy", flags)})
    order = loader_order(10, batch_size=4, shuffle=True, rng=1)
    got_x, got_f = concat(epoch(fb.BatchLoader(src, batch_size=4, shuffle=True, rng=1)))
    np.testing.assert_array_equal(got_x, x[order])
    assert got_f.dtype == np.bool_
    np.testing.assert_array_equal(got_f, flags[order])


# -- .npy: a dict of arrays that go together ---------------------------------------------

def test_npy_dict_gives_tuples_in_the_dicts_order(tmp_path):
    xp, x = npy_shards(tmp_path, [6, 9], prefix="x")
    yp, y = npy_shards(tmp_path, [6, 9], prefix="y", cols=1, dtype=np.int64)
    src = fb.open_files({"y": yp, "x": str(tmp_path / "x*.npy")})
    assert src.columns == ["y", "x"]
    assert src.paths == {"y": yp, "x": xp}
    options = dict(batch_size=4, shuffle=True, rng=4)
    order = loader_order(15, **options)
    batches = epoch(fb.BatchLoader(src, **options))
    assert all(isinstance(b, tuple) and len(b) == 2 for b in batches)
    got_y, got_x = concat(batches)
    np.testing.assert_array_equal(got_y, y[order])
    np.testing.assert_array_equal(got_x, x[order])
    views = epoch(fb.BatchLoader(src, batch_size=3))
    assert all(_memmap_of(part) is not None for part in views[0])


def test_npy_dict_with_one_name_gives_arrays(tmp_path):
    paths, whole = npy_shards(tmp_path, [4, 4])
    src = fb.open_files({"x": paths})
    batches = epoch(fb.BatchLoader(src, batch_size=3))
    assert all(isinstance(b, np.ndarray) for b in batches)
    np.testing.assert_array_equal(concat(batches), whole)


def test_table_options_on_npy_files_are_a_type_error(tmp_path):
    paths, _ = npy_shards(tmp_path, [4])
    with pytest.raises(TypeError, match="pad_to apply only to Arrow"):
        fb.BatchLoader(fb.open_files(paths), pad_to=3)
    with pytest.raises(TypeError, match="columns applies to Arrow"):
        fb.open_files(paths, columns=["a"])


def test_file_source_must_be_the_only_input(tmp_path):
    paths, _ = npy_shards(tmp_path, [4])
    with pytest.raises(TypeError, match="FileSource: it must be the only input"):
        fb.BatchLoader(fb.open_files(paths), np.arange(4))


# -- Arrow IPC files --------------------------------------------------------------------

try:
    import pyarrow as pa
except ImportError:
    pa = None
arrow = pytest.mark.skipif(pa is None, reason="needs pyarrow")


def arrow_table(n, first=0, chunk=None):
    rng = np.random.default_rng(first)
    table = pa.table({
        "x": np.arange(first, first + n, dtype=np.float32),
        "vec": pa.array(rng.standard_normal((n, 2)).tolist(), pa.list_(pa.float64(), 2)),
        "ids": pa.array([list(range(i % 4)) for i in range(first, first + n)],
                        pa.list_(pa.int32())),
        "flag": pa.array([i % 3 == 0 for i in range(first, first + n)]),
    })
    return table if chunk is None else pa.Table.from_batches(table.to_batches(chunk))


def write_ipc(path, table):
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return str(path)


def arrow_epoch(src, n, **options):
    """Every row of an epoch, as lists per column, and the order the loader served."""
    rows = {}
    for batch in fb.BatchLoader(src, **options):
        for name, values in as_lists(batch).items():
            rows.setdefault(name, []).extend(values)
    return rows, loader_order(n, **{k: v for k, v in options.items() if k != "pad_to"})


@arrow
@pytest.mark.parametrize("suffix", [".arrow", ".feather"])
def test_ipc_files_shuffled_batches_equal_pyarrow_take(tmp_path, suffix):
    parts = [arrow_table(9, 0, chunk=4), arrow_table(14, 9, chunk=5)]
    paths = [write_ipc(tmp_path / f"p{i}{suffix}", t) for i, t in enumerate(parts)]
    whole = pa.concat_tables(parts)
    src = fb.open_files(paths)
    assert src.format == "arrow" and len(src) == 23
    assert src.columns == ["x", "vec", "ids", "flag"]
    assert src.block_rows.tolist() == [4, 4, 1, 5, 5, 4]
    rows, order = arrow_epoch(src, 23, batch_size=5, shuffle=True, rng=2)
    assert rows == reference(whole, order)


@arrow
def test_ipc_columns_are_projected(tmp_path):
    table = arrow_table(12, chunk=5)
    src = fb.open_files(write_ipc(tmp_path / "t.arrow", table), columns=["ids", "x"])
    assert src.columns == ["ids", "x"]
    batch = next(iter(fb.BatchLoader(src, batch_size=12, shuffle=True, rng=0,
                                     pad_to="longest", pad_value=-1)))
    assert list(batch) == ["ids", "x"]
    assert batch["ids"].shape[0] == 12 and batch["ids"].min() >= -1
    narrowed = next(iter(fb.BatchLoader(src, batch_size=12, columns=["x"])))
    assert list(narrowed) == ["x"] and narrowed["x"].tolist() == list(range(12))


@arrow
def test_ipc_sequential_batches_are_views_of_the_memory_map(tmp_path):
    table = arrow_table(20, chunk=10)
    src = fb.open_files(write_ipc(tmp_path / "t.arrow", table))
    batch = next(iter(fb.BatchLoader(src, batch_size=5)))
    assert not batch["x"].flags.writeable
    assert batch["x"].tolist() == list(range(5))
    base = batch["x"]
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    assert isinstance(base, pa.Buffer) or not isinstance(base, np.ndarray)


@arrow
def test_ipc_sharding_state_dict_and_prefetch(tmp_path):
    table = arrow_table(30, chunk=7)
    src = fb.open_files(write_ipc(tmp_path / "t.arrow", table))
    seen = []
    for rank in range(3):
        rows, order = arrow_epoch(src, 30, batch_size=4, shuffle=True, rng=1, rank=rank,
                                  world_size=3)
        assert rows == reference(table, order)
        seen.extend(rows["x"])
    assert sorted(seen) == list(range(30))
    options = dict(batch_size=4, shuffle=True, rng=6, shuffle_method="bijective")
    full = epoch(fb.BatchLoader(src, prefetch=2, **options))
    loader = fb.BatchLoader(src, **options)
    it = iter(loader)
    next(it)
    next(it)
    resumed = fb.BatchLoader(src, **options)
    resumed.load_state_dict(loader.state_dict())
    assert [as_lists(b) for b in epoch(resumed)] == [as_lists(b) for b in full[2:]]


@arrow
def test_arrow_file_in_the_stream_format_is_read_as_a_stream(tmp_path):
    # Hugging Face's cache files are IPC streams named .arrow.
    table = arrow_table(11, chunk=4)
    path = str(tmp_path / "cache.arrow")
    with pa.OSFile(path, "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    src = fb.open_files(path)
    assert src.block_rows.tolist() == [4, 4, 3]
    rows, order = arrow_epoch(src, 11, batch_size=3, shuffle=True, rng=0)
    assert rows == reference(table, order)


@arrow
def test_ipc_nulls_take_the_loaders_fill_null(tmp_path):
    table = pa.table({"x": pa.array([1.0, None, 3.0])})
    src = fb.open_files(write_ipc(tmp_path / "n.arrow", table))
    assert len(src) == 3
    with pytest.raises(ValueError, match="fill_null"):
        fb.BatchLoader(src)
    batch = next(iter(fb.BatchLoader(src, batch_size=3, fill_null=0)))
    assert batch["x"].tolist() == [1.0, 0.0, 3.0]


# -- datasets saved to disk -------------------------------------------------------------

@arrow
def test_saved_dataset_directory(tmp_path):
    datasets = pytest.importorskip("datasets")
    table = arrow_table(25)
    folder = str(tmp_path / "ds")
    datasets.Dataset(table).save_to_disk(folder, max_shard_size=200)
    with open(os.path.join(folder, "state.json")) as f:
        files = [e["filename"] for e in json.load(f)["_data_files"]]
    src = fb.open_files(folder, columns=["x", "ids"])
    assert src.format == "dataset" and len(src) == 25
    assert src.paths == [os.path.join(folder, name) for name in files]
    assert src.block_rows.sum() == 25
    rows, order = arrow_epoch(src, 25, batch_size=4, shuffle=True, rng=3)
    assert rows == reference(table, order, ["x", "ids"])


@arrow
def test_dataset_dict_directory_is_a_clear_error(tmp_path):
    datasets = pytest.importorskip("datasets")
    folder = str(tmp_path / "dd")
    datasets.DatasetDict({"train": datasets.Dataset(arrow_table(4))}).save_to_disk(folder)
    with pytest.raises(ValueError, match="DatasetDict"):
        fb.open_files(folder)
    assert len(fb.open_files(os.path.join(folder, "train"))) == 4


def test_directory_without_state_json_is_an_error(tmp_path):
    with pytest.raises(ValueError, match=f"{tmp_path}.*state.json"):
        fb.open_files(str(tmp_path))


# -- bad inputs: a clear error naming the file ------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npy"):
        fb.open_files(str(tmp_path / "nope.npy"))


def test_empty_glob(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no file matches.*\*\.npy"):
        fb.open_files(str(tmp_path / "*.npy"))


@arrow
def test_mixed_formats(tmp_path):
    a = write_npy(tmp_path, "a.npy", np.arange(3))
    b = write_ipc(tmp_path / "b.arrow", pa.table({"x": [1]}))
    with pytest.raises(ValueError, match="mix formats.*a.npy.*b.arrow"):
        fb.open_files([a, b])
    c = tmp_path / "c.parquet"
    c.write_bytes(b"")
    with pytest.raises(ValueError, match="mix formats.*c.parquet"):
        fb.open_files([a, str(c)])


def test_unknown_suffix(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("1,2\n")
    with pytest.raises(ValueError, match="data.csv: fastbatch cannot read .csv"):
        fb.open_files(str(path))


def test_npy_dtype_and_trailing_shape_must_agree(tmp_path):
    a = write_npy(tmp_path, "a.npy", np.zeros((3, 2)))
    b = write_npy(tmp_path, "b.npy", np.zeros((3, 2), dtype=np.float32))
    c = write_npy(tmp_path, "c.npy", np.zeros((3, 4)))
    with pytest.raises(ValueError, match="b.npy.*float32.*a.npy"):
        fb.open_files([a, b])
    with pytest.raises(ValueError, match=r"c.npy.*\(4,\).*a.npy"):
        fb.open_files([a, c])


def test_npy_dict_row_counts_must_agree(tmp_path):
    a = write_npy(tmp_path, "a.npy", np.zeros(3))
    b = write_npy(tmp_path, "b.npy", np.zeros(4))
    with pytest.raises(ValueError, match=r"b.npy \(paths\['y'\]\) has 4 rows.*a.npy"):
        fb.open_files({"x": a, "y": b})
    with pytest.raises(ValueError, match=r"paths\[.y.\] has 1 file\(s\) but paths\[.x.\] has 2"):
        fb.open_files({"x": [a, a], "y": b})


def test_npy_dtypes_that_cannot_be_batched(tmp_path):
    structured = write_npy(tmp_path, "s.npy", np.zeros(3, dtype=[("a", "f4")]))
    swapped = write_npy(tmp_path, "w.npy", np.zeros(3, dtype=">f8" if sys.byteorder ==
                                                    "little" else "<f8"))
    scalar = write_npy(tmp_path, "z.npy", np.float64(1.0))
    with pytest.raises(TypeError, match="s.npy: dtype"):
        fb.open_files(structured)
    with pytest.raises(TypeError, match="w.npy.*byte order"):
        fb.open_files(swapped)
    with pytest.raises(ValueError, match="z.npy: a 0-d"):
        fb.open_files(scalar)
    fortran = write_npy(tmp_path, "f.npy", np.asfortranarray(np.zeros((3, 2))))
    with pytest.raises(ValueError, match="f.npy.*Fortran"):
        fb.open_files(fortran)


def test_truncated_npy(tmp_path):
    path = write_npy(tmp_path, "t.npy", np.arange(100.0))
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 8)
    with pytest.raises(ValueError, match="t.npy: truncated"):
        fb.open_files(path)


def test_garbage_npy_header(tmp_path):
    path = tmp_path / "g.npy"
    path.write_bytes(b"\x93NUMPY\x01\x00garbage" + bytes(64))
    with pytest.raises(ValueError, match="g.npy: not a readable .npy"):
        fb.open_files(str(path))


@arrow
def test_ipc_schemas_must_agree(tmp_path):
    a = write_ipc(tmp_path / "a.arrow", pa.table({"x": [1.0], "y": [1]}))
    b = write_ipc(tmp_path / "b.arrow", pa.table({"x": pa.array([1.0], pa.float32()),
                                                  "y": [1]}))
    c = write_ipc(tmp_path / "c.arrow", pa.table({"y": [1]}))
    with pytest.raises(ValueError, match="b.arrow: column 'x' has type float.*a.arrow"):
        fb.open_files([a, b])
    with pytest.raises(ValueError, match="c.arrow: no column 'x'"):
        fb.open_files([a, c])
    assert len(fb.open_files([a, c], columns=["y"])) == 2


@arrow
def test_ipc_unknown_column_and_unbatchable_type(tmp_path):
    a = write_ipc(tmp_path / "a.arrow", pa.table({"x": [1.0], "s": ["text"]}))
    with pytest.raises(KeyError, match="a.arrow: columns.*'z'"):
        fb.open_files(a, columns=["z"])
    with pytest.raises(TypeError, match="a.arrow: column 's'"):
        fb.open_files(a)
    assert len(fb.open_files(a, columns=["x"])) == 1


@arrow
def test_truncated_ipc_file(tmp_path):
    path = write_ipc(tmp_path / "t.arrow", arrow_table(50))
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    with pytest.raises(ValueError, match="t.arrow: not a readable Arrow IPC file"):
        fb.open_files(path)


CORRUPTION_CHECK = textwrap.dedent("""
    import os, sys, numpy as np, fastbatch as fb
    path, offset, length, seed = sys.argv[1], *map(int, sys.argv[2:])
    data = bytearray(open(path, "rb").read())
    rng = np.random.default_rng(seed)
    offset = offset % len(data)
    data[offset:offset + length] = rng.integers(0, 256, len(data[offset:offset + length]),
                                                dtype=np.uint8).tobytes()
    root, ext = os.path.splitext(path)
    bad = root + ".bad" + str(seed) + ext
    open(bad, "wb").write(bytes(data))
    try:
        src = fb.open_files(bad)
        for method in ("exact", "bijective"):
            for _ in fb.BatchLoader(src, batch_size=7, shuffle=True, rng=seed,
                                    shuffle_method=method):
                pass
        for _ in fb.BatchLoader(src, batch_size=7):
            pass
        print("read")
    except (ValueError, TypeError, KeyError, OSError, MemoryError) as exc:
        print("error", type(exc).__name__, exc)
""")


@arrow
def test_corrupt_ipc_footer_and_body_never_crash(tmp_path):
    path = write_ipc(tmp_path / "c.arrow", arrow_table(60, chunk=16))
    size = os.path.getsize(path)
    cases = [(size - 40, 30), (size - 12, 8), (8, 16), (size // 3, 64), (size // 2, 200),
             (0, 6)] + [(int(o), 24) for o in np.linspace(0, size - 24, 12)]
    outcomes = []
    for seed, (offset, length) in enumerate(cases):
        result = subprocess.run([sys.executable, "-c", CORRUPTION_CHECK, path, str(offset),
                                 str(length), str(seed)], capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, (offset, length, result.stderr[-2000:])
        outcomes.append(result.stdout.split()[0])
    assert "error" in outcomes
    footer = subprocess.run([sys.executable, "-c", CORRUPTION_CHECK, path, str(size - 40),
                             "30", "0"], capture_output=True, text=True, timeout=120)
    assert "c.bad0.arrow" in footer.stdout and "not a readable Arrow IPC" in footer.stdout


def test_corrupt_npy_never_crashes(tmp_path):
    path = write_npy(tmp_path, "c.npy", np.arange(200.0).reshape(50, 4))
    for seed, (offset, length) in enumerate([(0, 10), (8, 40), (60, 20), (300, 64)]):
        result = subprocess.run([sys.executable, "-c", CORRUPTION_CHECK, path, str(offset),
                                 str(length), str(seed)], capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, (offset, length, result.stderr[-2000:])


def test_opening_reads_only_metadata(tmp_path, monkeypatch):
    paths, _ = npy_shards(tmp_path, [5, 5])
    calls = []
    real = np.load
    monkeypatch.setattr(np, "load", lambda *a, **k: calls.append(k) or real(*a, **k))
    fb.open_files(paths)
    assert calls and all(k.get("mmap_mode") == "r" for k in calls)


def test_npy_files_need_no_pyarrow(tmp_path):
    paths, whole = npy_shards(tmp_path, [3, 4])
    code = textwrap.dedent(f"""
        import sys
        sys.modules["pyarrow"] = None          # importing it now raises ImportError
        import fastbatch as fb
        src = fb.open_files({paths!r})
        print(sum(len(b) for b in fb.BatchLoader(src, batch_size=2, shuffle=True, rng=0)))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == str(len(whole))


# -- the block shuffle over files ------------------------------------------------------

def test_npy_block_shuffle_blocks_never_span_two_files(tmp_path):
    paths, whole = npy_shards(tmp_path, [11, 4, 13])
    loader = fb.BatchLoader(fb.open_files(paths), batch_size=28, shuffle=True, rng=3,
                            shuffle_method="block", block_size=5, shuffle_window=1)
    bounds = loader._source.block_bounds(5)
    assert bounds.tolist() == [0, 5, 10, 11, 15, 20, 25, 28]
    rows = next(iter(loader))[:, 0].astype(int)
    assert sorted(rows.tolist()) == list(range(28))
    # Windows of one block: each block's rows are consecutive in the epoch.
    block_of = np.searchsorted(bounds, rows, side="right") - 1
    assert (np.diff(block_of) != 0).sum() == len(bounds) - 2


def test_npy_natural_blocks_are_the_files_blocks(tmp_path):
    paths, _ = npy_shards(tmp_path, [11, 4, 13])
    src = fb.open_files(paths)
    loader = fb.BatchLoader(src, shuffle=True, rng=0, shuffle_method="block")
    assert np.diff(loader._source.block_bounds()).tolist() == src.block_rows.tolist()


@pytest.mark.parametrize("window", [1, 2, 100])
def test_npy_block_shuffle_matches_the_in_memory_loader_of_the_same_blocks(tmp_path,
                                                                           window):
    paths, whole = npy_shards(tmp_path, [10, 10, 10])
    options = dict(batch_size=4, shuffle=True, rng=5, shuffle_method="block",
                   block_size=5, shuffle_window=window)
    got = concat(epoch(fb.BatchLoader(fb.open_files(paths), **options)))
    np.testing.assert_array_equal(got, concat(epoch(fb.BatchLoader(whole, **options))))


def test_arrow_block_shuffle_every_row_once_and_state_resumes(tmp_path):
    pa = pytest.importorskip("pyarrow")
    path = str(tmp_path / "t.arrow")
    table = pa.Table.from_batches([pa.record_batch({"x": np.arange(a, a + 9)})
                                   for a in range(0, 45, 9)])
    with pa.ipc.new_file(path, table.schema) as writer:
        writer.write_table(table)
    options = dict(batch_size=4, shuffle=True, rng=1, shuffle_method="block",
                   shuffle_window=2)
    full = [b["x"].tolist() for b in fb.BatchLoader(fb.open_files(path), **options)]
    assert sorted(sum(full, [])) == list(range(45))
    loader = fb.BatchLoader(fb.open_files(path), **options)
    it = iter(loader)
    head = [next(it)["x"].tolist() for _ in range(3)]
    resumed = fb.BatchLoader(fb.open_files(path), **options)
    resumed.load_state_dict(loader.state_dict())
    assert head + [b["x"].tolist() for b in resumed] == full


@pytest.mark.slow
def test_anonymous_memory_of_a_block_epoch_over_a_1_gib_file_stays_small(tmp_path):
    from procfs import status_bytes
    rows = (1 << 30) // 64
    out = np.lib.format.open_memmap(tmp_path / "big.npy", mode="w+", dtype=np.float32,
                                    shape=(rows, 16))
    for start in range(0, rows, 1 << 20):
        out[start:start + (1 << 20)] = start
    del out
    loader = fb.BatchLoader(fb.open_files(tmp_path / "big.npy"), batch_size=256,
                            shuffle=True, rng=0, shuffle_method="block")
    before, peak, seen = status_bytes("RssAnon"), 0, 0
    for i, batch in enumerate(loader):
        seen += len(batch)
        if i % 256 == 0:
            peak = max(peak, status_bytes("RssAnon"))
    assert seen == rows
    # Two windows of sample indices (16 blocks of 1 MiB of rows: 2 MiB each) and the
    # batches in flight, far below the contract's 2 windows + 64 MiB.
    assert peak - before < 96 << 20, (peak - before) >> 20


# -- Parquet files --------------------------------------------------------------------

parquet = pytest.mark.skipif(pa is None, reason="needs pyarrow")


def write_parquet(path, table, row_group_size, **options):
    import pyarrow.parquet as pq
    pq.write_table(table, str(path), row_group_size=row_group_size, **options)
    return str(path)


def parquet_shards(folder, sizes, row_group_size=4):
    """Parquet shards of arrow_table rows (every column kind) and the same rows in
    memory."""
    parts, paths, first = [], [], 0
    for i, n in enumerate(sizes):
        parts.append(arrow_table(n, first))
        paths.append(write_parquet(folder / f"s{i}.parquet", parts[-1], row_group_size))
        first += n
    return paths, pa.concat_tables(parts)


@parquet
@pytest.mark.parametrize("method", ["exact", "bijective", "block"])
@pytest.mark.parametrize("columns", [None, ["flag", "x", "vec"]],
                         ids=["arrow-columns", "row-major"])
def test_parquet_shuffled_batches_equal_pyarrow_take(tmp_path, method, columns):
    # Without the list column, the row groups are kept row-major.
    paths, whole = parquet_shards(tmp_path, [9, 14])
    src = fb.open_files(paths, columns=columns)
    assert src.format == "parquet" and len(src) == 23
    assert src.columns == (columns or ["x", "vec", "ids", "flag"])
    whole = whole.select(src.columns)
    assert src.block_rows.tolist() == [4, 4, 1, 4, 4, 4, 2]
    options = dict(batch_size=5, shuffle=True, rng=2, shuffle_method=method)
    if method == "block":
        options["shuffle_window"] = 2
    rows, order = arrow_epoch(src, 23, **options)
    if method == "block":
        # Column x is the row number (the block order of the row groups is checked
        # against the table in memory below).
        order = np.array(rows["x"], dtype=np.int64)
    assert sorted(order.tolist()) == list(range(23))
    assert rows == reference(whole, order)


@parquet
def test_parquet_batches_are_those_of_the_same_table_in_memory(tmp_path):
    import pyarrow.parquet as pq
    paths, _ = parquet_shards(tmp_path, [10, 7, 12], row_group_size=3)
    # In memory, a chunk per row group: the same natural blocks.
    whole = pa.concat_tables([pq.read_table(path) for path in paths])
    assert [len(c) for c in whole.column("x").chunks] == [3, 3, 3, 1, 3, 3, 1, 3, 3, 3, 3]
    for options in [dict(batch_size=4), dict(batch_size=4, pad_to="longest", pad_value=-1),
                    dict(batch_size=6, shuffle=True, rng=3, shuffle_method="block",
                         block_size=2, shuffle_window=3, drop_last=True)]:
        got = [as_lists(b) for b in fb.BatchLoader(fb.open_files(paths), **options)]
        assert got == [as_lists(b) for b in fb.BatchLoader(whole, **options)], options


@parquet
def test_parquet_columns_are_projected(tmp_path, monkeypatch):
    import pyarrow.parquet as pq
    path = write_parquet(tmp_path / "t.parquet", arrow_table(12), 5)
    asked = []
    real = pq.ParquetFile.iter_batches
    monkeypatch.setattr(pq.ParquetFile, "iter_batches",
                        lambda self, columns=None, **kw: asked.append(columns) or
                        real(self, columns=columns, **kw))
    src = fb.open_files(path, columns=["ids", "x"])
    assert src.columns == ["ids", "x"]
    batch = next(iter(fb.BatchLoader(src, batch_size=12, shuffle=True, rng=0,
                                     pad_to="longest", pad_value=-1)))
    assert list(batch) == ["ids", "x"] and sorted(batch["x"].tolist()) == list(range(12))
    assert asked and all(columns == ["ids", "x"] for columns in asked)
    asked.clear()
    narrowed = next(iter(fb.BatchLoader(src, batch_size=12, columns=["x"])))
    assert list(narrowed) == ["x"] and narrowed["x"].tolist() == list(range(12))
    assert asked and all(columns == ["x"] for columns in asked)


@parquet
def test_parquet_sequential_batches_are_the_rows_in_order(tmp_path):
    table = pa.table({"x": np.arange(20.0), "ids": [[i] * (i % 3) for i in range(20)]})
    path = write_parquet(tmp_path / "t.parquet", table, 10)
    batches = list(fb.BatchLoader(fb.open_files(path), batch_size=5))
    assert [b["x"].tolist() for b in batches] == np.arange(20.0).reshape(4, 5).tolist()
    # With a list column the row groups stay Arrow columns: views inside a row group.
    assert not batches[0]["x"].flags.owndata and not batches[0]["x"].flags.writeable
    # Fixed-width columns only: row groups are kept row-major, batches are new arrays.
    fixed = list(fb.BatchLoader(fb.open_files(path, columns=["x"]), batch_size=5))
    assert [b["x"].tolist() for b in fixed] == np.arange(20.0).reshape(4, 5).tolist()
    assert fixed[0]["x"].flags.c_contiguous and fixed[0]["x"].flags.writeable


@parquet
def test_parquet_sharding_state_dict_and_prefetch(tmp_path):
    paths, whole = parquet_shards(tmp_path, [17, 13], row_group_size=7)
    src = fb.open_files(paths)
    seen = []
    for rank in range(3):
        rows, _ = arrow_epoch(src, 30, batch_size=4, shuffle=True, rng=1, rank=rank,
                              world_size=3, shuffle_method="block", shuffle_window=2)
        # Column x is the row number.
        assert rows == reference(whole, np.array(rows["x"], dtype=np.int64))
        seen.extend(rows["x"])
    assert sorted(seen) == list(range(30))
    options = dict(batch_size=4, shuffle=True, rng=6, shuffle_method="block",
                   shuffle_window=2)
    full = epoch(fb.BatchLoader(src, prefetch=2, **options))
    loader = fb.BatchLoader(src, **options)
    it = iter(loader)
    for _ in range(3):
        next(it)
    resumed = fb.BatchLoader(src, **options)
    resumed.load_state_dict(loader.state_dict())
    assert [as_lists(b) for b in epoch(resumed)] == [as_lists(b) for b in full[3:]]


@parquet
def test_parquet_nulls_take_the_loaders_fill_null(tmp_path):
    table = pa.table({"v": pa.array([1.0, None, 3.0, None, 5.0])})
    path = write_parquet(tmp_path / "n.parquet", table, 2)
    with pytest.raises(ValueError, match=r"n.parquet: row group \d: column 'v'.*fill_null"):
        list(fb.BatchLoader(fb.open_files(path), batch_size=2))
    got = np.concatenate([b["v"] for b in fb.BatchLoader(fb.open_files(path), batch_size=2,
                                                          fill_null=-1.0)])
    assert got.tolist() == [1.0, -1.0, 3.0, -1.0, 5.0]


@parquet
def test_parquet_block_shuffle_decodes_each_row_group_once_per_epoch(tmp_path):
    path = write_parquet(tmp_path / "t.parquet", pa.table({"x": np.arange(400)}), 10)
    loader = fb.BatchLoader(fb.open_files(path), batch_size=7, shuffle=True, rng=0,
                            shuffle_method="block", shuffle_window=4)
    resident, seen = [], []
    for batch in loader:
        seen.extend(batch["x"].tolist())
        resident.append(len(loader._source.resident_groups))
    assert sorted(seen) == list(range(400))
    # The window served and the one read ahead (the window before them is freed once no
    # batch needs it): never the whole file.
    assert max(resident) <= 3 * 4


@parquet
def test_parquet_block_windows_are_read_ahead_in_the_background(tmp_path, monkeypatch):
    from fastbatch.sources import parquet_files
    path = write_parquet(tmp_path / "t.parquet", pa.table({"x": np.arange(400)}), 10)
    threads = []
    real = parquet_files.RowGroups.decode

    def decode(self, group):
        import threading
        threads.append((group, threading.current_thread().name))
        return real(self, group)

    monkeypatch.setattr(parquet_files.RowGroups, "decode", decode)
    loader = fb.BatchLoader(fb.open_files(path), batch_size=7, shuffle=True, rng=0,
                            shuffle_method="block", shuffle_window=4)
    assert sorted(sum((b["x"].tolist() for b in loader), [])) == list(range(400))
    decoded = [g for g, _ in threads]
    assert sorted(decoded) == list(range(40)), "each row group decoded once"
    background = [g for g, name in threads if name.startswith("fastbatch-parquet")]
    assert len(background) >= 40 - 2 * 4


@parquet
def test_parquet_exact_shuffle_beyond_the_cache_is_refused_up_front(tmp_path):
    path = write_parquet(tmp_path / "t.parquet", pa.table({"x": np.arange(1000.0)}), 100)
    src = fb.open_files(path, cache_bytes=4000)
    for method in ("exact", "bijective"):
        with pytest.raises(ValueError, match=f"shuffle_method='{method}'.*t.parquet.*"
                                             "cache_bytes.*'block'"):
            fb.BatchLoader(src, shuffle=True, rng=0, shuffle_method=method)
    # Sequential batches and the block shuffle read it within the cache.
    assert sum(len(b["x"]) for b in fb.BatchLoader(src, batch_size=64)) == 1000
    fits = fb.open_files(path, cache_bytes=8000)
    got = np.concatenate([b["x"] for b in fb.BatchLoader(fits, batch_size=64, shuffle=True,
                                                          rng=0)])
    assert sorted(got.tolist()) == list(range(1000))
    with pytest.raises(TypeError, match="cache_bytes applies to Parquet"):
        fb.open_files(write_npy(tmp_path, "a.npy", np.arange(3)), cache_bytes=10)
    with pytest.raises(ValueError, match="cache_bytes must be >= 0"):
        fb.open_files(path, cache_bytes=-1)


@parquet
def test_parquet_opening_reads_only_the_footer(tmp_path, monkeypatch):
    import pyarrow.parquet as pq
    path = write_parquet(tmp_path / "t.parquet", arrow_table(30), 10)
    for method in ("read_row_group", "read_row_groups", "iter_batches"):
        monkeypatch.setattr(pq.ParquetFile, method,
                            lambda *a, **k: pytest.fail("opening decoded a row group"))
    monkeypatch.setattr(pq.ParquetFile, "read",
                        lambda *a, **k: pytest.fail("opening read the file"))
    src = fb.open_files(path)
    assert len(src) == 30 and src.block_rows.tolist() == [10, 10, 10]


@parquet
def test_parquet_bad_files_are_clear_errors_naming_the_file(tmp_path):
    good = write_parquet(tmp_path / "a.parquet", pa.table({"x": [1.0], "y": [2]}), 1)
    with pytest.raises(FileNotFoundError, match="nope.parquet"):
        fb.open_files(str(tmp_path / "nope.parquet"))
    other = write_parquet(tmp_path / "b.parquet", pa.table({"x": [1], "y": [2]}), 1)
    with pytest.raises(ValueError, match="b.parquet: column 'x' has type int64.*a.parquet"):
        fb.open_files([good, other])
    extra = write_parquet(tmp_path / "c.parquet", pa.table({"x": [1.0], "y": [2],
                                                            "z": [3]}), 1)
    with pytest.raises(ValueError, match=r"c.parquet: columns \['z'\]"):
        fb.open_files([good, extra])
    assert fb.open_files([good, extra], columns=["x"]).columns == ["x"]
    missing = write_parquet(tmp_path / "d.parquet", pa.table({"x": [1.0]}), 1)
    with pytest.raises(ValueError, match="d.parquet: no column 'y'"):
        fb.open_files([good, missing], columns=["x", "y"])
    with pytest.raises(KeyError, match=r"a.parquet.*\['w'\] not in the table"):
        fb.open_files(good, columns=["w"])
    text = write_parquet(tmp_path / "e.parquet", pa.table({"s": ["a"]}), 1)
    with pytest.raises(TypeError, match="e.parquet: column 's' has type string"):
        fb.open_files(text)
    data = open(good, "rb").read()
    for name, damaged in [("trunc.parquet", data[:len(data) // 2]),
                          ("footer.parquet", data[:-12] + b"\xff" * 8 + data[-4:]),
                          ("magic.parquet", data[:-4] + b"XXXX"), ("empty.parquet", b"")]:
        (tmp_path / name).write_bytes(damaged)
        with pytest.raises(ValueError, match=f"{name}: not a readable Parquet file"):
            fb.open_files(str(tmp_path / name))


def _corrupt_a_data_page(path, n):
    # Overwrite bytes in the middle of the first column chunk's data (after its page
    # header), leaving the footer intact: only decoding can tell.
    import pyarrow.parquet as pq
    chunk = pq.ParquetFile(path).metadata.row_group(n).column(0)
    start = chunk.data_page_offset
    data = bytearray(open(path, "rb").read())
    middle = start + chunk.total_compressed_size // 2
    data[middle:middle + 64] = b"\xa5" * 64
    open(path, "wb").write(bytes(data))


@parquet
@pytest.mark.parametrize("checksums", [True, False])
def test_parquet_corrupt_data_page_is_a_clear_error_at_batch_time(tmp_path, checksums):
    table = pa.table({"x": np.arange(4000, dtype=np.float64),
                      "y": np.arange(4000, dtype=np.int32)})
    path = write_parquet(tmp_path / "bad.parquet", table, 1000, compression="snappy",
                         write_page_checksum=checksums)
    _corrupt_a_data_page(path, 2)
    src = fb.open_files(path)          # the footer is intact
    for options in [dict(), dict(shuffle=True, rng=0, shuffle_method="block",
                                 shuffle_window=1)]:
        loader = fb.BatchLoader(src, batch_size=100, **options)
        try:
            rows = np.concatenate([b["x"] for b in loader])
        except ValueError as exc:
            assert re.search(r"bad.parquet: row group 2 cannot be decoded", str(exc))
        else:
            # Without checksums a damaged snappy page may still decode: then to rows
            # that are not the file's, but never a crash.
            assert not checksums and len(rows) == 4000


@parquet
def test_parquet_block_shuffle_over_shards_matches_the_in_memory_block_order(tmp_path):
    paths, whole = parquet_shards(tmp_path, [12, 12, 12], row_group_size=4)
    options = dict(batch_size=5, shuffle=True, rng=4, shuffle_method="block",
                   shuffle_window=3)
    got = [as_lists(b) for b in fb.BatchLoader(fb.open_files(paths), **options)]
    # The table's natural blocks are its chunks: make them the row groups.
    chunked = pa.Table.from_batches(whole.to_batches(max_chunksize=4))
    assert got == [as_lists(b) for b in fb.BatchLoader(chunked, **options)]


@pytest.mark.slow
@parquet
def test_anonymous_memory_of_a_block_epoch_over_a_1_gib_parquet_file_stays_small(tmp_path):
    import pyarrow.parquet as pq
    from procfs import status_bytes
    rows, group = (1 << 30) // 64, 1 << 16
    path = str(tmp_path / "big.parquet")
    schema = pa.schema([(f"c{j}", pa.float32()) for j in range(16)])
    with pq.ParquetWriter(path, schema, compression="snappy") as writer:
        for start in range(0, rows, group):
            column = np.arange(start, start + group, dtype=np.float32)
            writer.write_table(pa.table([column] * 16, schema=schema),
                               row_group_size=group)
    assert os.path.getsize(path) > 1 << 29
    loader = fb.BatchLoader(fb.open_files(path), batch_size=256, shuffle=True, rng=0,
                            shuffle_method="block")
    before, peak, seen = status_bytes("RssAnon"), 0, 0
    for i, batch in enumerate(loader):
        seen += len(batch["c0"])
        if i % 256 == 0:
            peak = max(peak, status_bytes("RssAnon"))
    assert seen == rows
    # A window is 16 row groups of 64Ki rows of 64 bytes: 64 MiB decoded.  About two
    # windows (served, read ahead) and pyarrow's decode buffers; the file is 1 GiB.
    window = 16 * group * 64
    assert peak - before < 2 * window + (64 << 20), (peak - before) >> 20


PARQUET_MUTATIONS = """
import sys
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
import fastbatch as fb
folder, runs = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
n = 50
table = pa.table({"x": np.arange(n, dtype=np.float64),
                  "k": pa.array([list(range(i % 3)) for i in range(n)], pa.list_(pa.int32())),
                  "b": np.arange(n) % 2 == 0})
clean = []
for compression, checksum in [("snappy", True), ("none", False), ("zstd", False)]:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=7, compression=compression,
                   write_page_checksum=checksum)
    clean.append(sink.getvalue().to_pybytes())
outcomes = {"error": 0, "rows": 0}
for run in range(runs):
    raw = bytearray(clean[run % len(clean)])
    for _ in range(int(rng.integers(1, 4))):
        at = int(rng.integers(0, len(raw)))
        if rng.random() < 0.2:
            del raw[at:]
        else:
            raw[at] = int(rng.integers(0, 256))
        if not raw:
            break
    path = f"{folder}/m.parquet"
    open(path, "wb").write(bytes(raw))
    try:
        src = fb.open_files(path)
        for options in (dict(), dict(shuffle=True, rng=0, shuffle_method="block",
                                     shuffle_window=2)):
            assert sum(len(b["x"]) for b in fb.BatchLoader(src, batch_size=4,
                                                            **options)) == len(src)
        outcomes["rows"] += 1
    except (ValueError, TypeError, KeyError) as exc:
        assert str(exc), "an error without a message"
        outcomes["error"] += 1
print(outcomes)
"""


@parquet
def test_parquet_byte_flips_and_truncations_are_clean_errors_never_crashes(tmp_path):
    # In a child process: a crash fails this test instead of the test run.
    run = subprocess.run([sys.executable, "-c", PARQUET_MUTATIONS, str(tmp_path), "300"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    outcomes = ast.literal_eval(run.stdout.strip().splitlines()[-1])
    assert outcomes["error"] > 0 and sum(outcomes.values()) == 300


@parquet
def test_parquet_every_rank_decodes_every_row_group_once_per_epoch(tmp_path, monkeypatch):
    # What README says each rank of a job decodes: its positions come from every window.
    from fastbatch.sources import parquet_files
    path = write_parquet(tmp_path / "t.parquet", pa.table({"x": np.arange(600)}), 20)
    decoded = []
    real = parquet_files.RowGroups.decode
    monkeypatch.setattr(parquet_files.RowGroups, "decode",
                        lambda self, group: decoded.append(group) or real(self, group))
    src = fb.open_files(path)
    for rank in range(3):
        decoded.clear()
        loader = fb.BatchLoader(src, batch_size=8, shuffle=True, rng=0, rank=rank,
                                world_size=3, shuffle_method="block", shuffle_window=4)
        assert sum(len(b["x"]) for b in loader) == 200
        assert sorted(decoded) == list(range(30))


@parquet
def test_parquet_file_without_rows_gives_zero_batches(tmp_path):
    path = write_parquet(tmp_path / "e.parquet", pa.table({"x": np.zeros(0)}), 4)
    src = fb.open_files(path)
    assert len(src) == 0 and src.block_rows.tolist() == []
    for method in ("exact", "block"):
        assert list(fb.BatchLoader(src, batch_size=4, shuffle=True, rng=0,
                                   shuffle_method=method)) == []
    assert list(fb.BatchLoader(src, batch_size=4)) == []
