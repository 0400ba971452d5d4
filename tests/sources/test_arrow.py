"""Arrow tables and Hugging Face datasets as BatchLoader inputs (DESIGN: "Arrow tables and
Hugging Face datasets"); pyarrow's own ``take`` is the reference."""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastbatch as fb

pa = pytest.importorskip("pyarrow")

from fastbatch.sources import _table, arrow_columns as _arrow_columns  # noqa: E402
from fastbatch.sources.arrow import ArrowSource, is_table_like  # noqa: E402
from arrow_reference import as_lists, reference  # noqa: E402


def chunked(values, sizes, type=None):
    """A ChunkedArray of ``values`` cut into chunks of ``sizes`` (empty chunks allowed)."""
    cuts = np.cumsum([0] + list(sizes))
    type = pa.array(values, type=type).type
    return pa.chunked_array([pa.array(values[a:b], type=type)
                             for a, b in zip(cuts[:-1], cuts[1:])], type=type)


def mixed_table(n=40, sizes=(7, 0, 13, 20)):
    rng = np.random.default_rng(0)
    ragged = [list(range(i % 4)) for i in range(n)]          # empty lists included
    return pa.table({
        "f32": chunked(rng.standard_normal(n).astype(np.float32), sizes),
        "i64": chunked(np.arange(n), sizes),
        "u8": chunked(np.arange(n, dtype=np.uint8), sizes),
        "flag": chunked([i % 3 == 0 for i in range(n)], sizes),
        "vec": chunked(rng.standard_normal((n, 3)).tolist(), sizes, pa.list_(pa.float64(), 3)),
        "ids": chunked(ragged, sizes, pa.list_(pa.int32())),
        "big_ids": chunked(ragged, sizes, pa.large_list(pa.int64())),
    })


def shares(view, arrow_array):
    """True when ``view`` lies in the data buffer of ``arrow_array``'s values."""
    while pa.types.is_fixed_size_list(arrow_array.type) or pa.types.is_list(arrow_array.type):
        arrow_array = arrow_array.values
    return np.shares_memory(view, np.frombuffer(arrow_array.buffers()[1], dtype=np.uint8))


# -- gathered batches ------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gathered_batch_equals_pyarrow_take_single_chunk(dtype):
    table = pa.table({"x": np.arange(50, dtype=dtype), "y": np.arange(50, dtype=dtype) * 2})
    idx = np.random.default_rng(1).permutation(50)[:17]
    batch = ArrowSource(table).gather(idx)
    assert batch["x"].dtype == dtype
    assert as_lists(batch) == reference(table, idx)


def test_gathered_batch_equals_pyarrow_take_across_chunks():
    table = mixed_table()
    idx = np.random.default_rng(2).permutation(40)
    assert as_lists(ArrowSource(table).gather(idx)) == reference(table, idx)


def test_columns_chunked_differently_are_gathered_correctly():
    n = 30
    table = pa.table({"a": chunked(np.arange(n), [30]), "b": chunked(np.arange(n) * 10, [4, 9, 17]),
                      "c": chunked(np.arange(n) * 100, [1] * 30)})
    idx = np.random.default_rng(3).permutation(n)
    assert as_lists(ArrowSource(table).gather(idx)) == reference(table, idx)


def test_sliced_table_respects_array_offsets():
    table = mixed_table().slice(5, 30)
    idx = np.random.default_rng(4).permutation(30)
    source = ArrowSource(table)
    assert as_lists(source.gather(idx)) == reference(table, idx)
    assert as_lists(source.view(0, 30)) == reference(table, np.arange(30))


def test_boolean_column_unpacked_at_odd_bit_offsets():
    table = pa.table({"flag": pa.array([i % 3 == 0 for i in range(29)])}).slice(3)
    source = ArrowSource(table)
    batch = source.gather(np.arange(26)[::-1].copy())
    assert batch["flag"].dtype == np.bool_
    assert batch["flag"].tolist() == reference(table, np.arange(26)[::-1])["flag"]
    assert source.view(1, 20, 3)["flag"].tolist() == table["flag"].to_pylist()[1:20:3]


def test_fixed_size_list_column_is_2d():
    table = mixed_table()
    batch = ArrowSource(table, columns=["vec"]).gather(np.array([39, 0, 7]))
    assert batch["vec"].shape == (3, 3) and batch["vec"].dtype == np.float64
    assert batch["vec"].tolist() == reference(table, [39, 0, 7])["vec"]


def test_nested_fixed_size_lists_add_dimensions():
    images = np.arange(6 * 2 * 3, dtype=np.float32).reshape(6, 2, 3)
    table = pa.table({"img": pa.array(images.tolist(),
                                      pa.list_(pa.list_(pa.float32(), 3), 2))}).slice(1)
    source = ArrowSource(table)
    np.testing.assert_array_equal(source.gather(np.array([4, 0]))["img"], images[[5, 1]])
    np.testing.assert_array_equal(source.view(0, 5)["img"], images[1:])


def test_ragged_column_gathers_values_and_offsets_from_zero():
    table = mixed_table()
    idx = np.array([3, 4, 8, 1, 0])                   # rows of length 3, 0, 0, 1, 0
    ids = ArrowSource(table).gather(idx)["ids"]
    assert isinstance(ids, fb.RaggedBatch)
    assert ids.values.dtype == np.int32 and ids.offsets.dtype == np.int64
    assert ids.offsets.tolist() == [0, 3, 3, 3, 4, 4]
    assert as_lists({"ids": ids})["ids"] == reference(table, idx)["ids"]


def test_large_list_column_gathers_like_list():
    table = mixed_table()
    idx = np.random.default_rng(5).permutation(40)
    big = ArrowSource(table, columns=["big_ids"]).gather(idx)["big_ids"]
    assert big.values.dtype == np.int64
    assert as_lists({"b": big})["b"] == reference(table, idx)["big_ids"]


def test_pad_to_longest_pads_with_pad_value():
    table = mixed_table()
    batch = ArrowSource(table, columns=["ids"], pad_to="longest", pad_value=-1).gather(
        np.array([1, 3, 0]))
    assert batch["ids"].tolist() == [[0, -1, -1], [0, 1, 2], [-1, -1, -1]]


def test_pad_to_int_truncates_longer_rows():
    table = mixed_table()
    batch = ArrowSource(table, columns=["ids"], pad_to=2).gather(np.array([3, 1, 0]))
    assert batch["ids"].tolist() == [[0, 1], [0, 0], [0, 0]]


def test_pad_to_pads_sequential_batches_too():
    table = mixed_table()
    batch = ArrowSource(table, columns=["ids"], pad_to="longest", pad_value=9).view(0, 3)
    assert batch["ids"].tolist() == [[9, 9], [0, 9], [0, 1]]


# -- sequential batches ------------------------------------------------------------------

def test_sequential_batch_is_a_view_of_the_arrow_buffer():
    table = mixed_table(sizes=(40,)).slice(2)
    batch = ArrowSource(table).view(3, 20)
    for name in ("f32", "i64", "vec"):
        assert shares(batch[name], table[name].chunks[0])
        assert not batch[name].flags.writeable
    assert shares(batch["ids"].values, table["ids"].chunks[0])
    assert as_lists(batch) == reference(table, np.arange(3, 20))


def test_sequential_batch_straddling_chunks_is_one_correct_copy():
    table = mixed_table()                            # chunks at rows 7 and 20
    batch = ArrowSource(table).view(5, 25)
    assert not shares(batch["f32"], table["f32"].chunks[0])
    assert as_lists(batch) == reference(table, np.arange(5, 25))


def test_strided_view_matches_take():
    table = mixed_table()
    batch = ArrowSource(table).view(20, 40, 3)
    assert shares(batch["i64"], table["i64"].chunks[3])
    assert as_lists(batch) == reference(table, np.arange(20, 40, 3))


def test_column_selection_keeps_the_requested_order():
    batch = ArrowSource(mixed_table(), columns=["ids", "f32"]).gather(np.array([1]))
    assert list(batch) == ["ids", "f32"]


# -- files and Hugging Face --------------------------------------------------------------

def write_ipc(path, table, rows_per_batch):
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=rows_per_batch):
            writer.write_batch(batch)


def test_memory_mapped_ipc_file_read_in_place(tmp_path):
    path = tmp_path / "data.arrow"
    write_ipc(path, mixed_table(sizes=(40,)), rows_per_batch=6)
    table = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
    source = ArrowSource(table)
    idx = np.random.default_rng(6).permutation(40)
    assert as_lists(source.gather(idx)) == reference(table, idx)
    assert shares(source.view(6, 12)["f32"], table["f32"].chunks[1])


def test_hugging_face_dataset_batches_equal_its_rows():
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"x": np.arange(12.0), "ids": [[i] * (i % 3) for i in range(12)]})
    loader = fb.BatchLoader(ds, batch_size=5, columns=["ids", "x"])
    batches = list(loader)
    assert list(batches[0]) == ["ids", "x"]
    assert sum((b["x"].tolist() for b in batches), []) == ds["x"]
    assert as_lists(batches[1])["ids"] == ds[5:10]["ids"]


@pytest.mark.parametrize("derive", ["shuffle", "select", "split"])
def test_hugging_face_indices_mapping_is_respected(derive):
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"x": np.arange(20), "ids": [[i, i] for i in range(20)]})
    derived = {"shuffle": lambda: ds.shuffle(seed=0), "select": lambda: ds.select([7, 3, 3, 19]),
               "split": lambda: ds.train_test_split(test_size=0.25, seed=1)["test"]}[derive]()
    source = ArrowSource(derived)
    assert source.n_samples == len(derived)
    assert source.view(0, len(derived))["x"].tolist() == derived["x"]
    idx = np.arange(len(derived))[::-1].copy()
    assert as_lists(source.gather(idx))["ids"] == [derived[int(i)]["ids"] for i in idx]


def test_hugging_face_indices_mapping_with_strided_shards():
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"x": np.arange(20)}).select(range(19, -1, -1))
    loader = fb.BatchLoader(ds, batch_size=4, world_size=3, rank=1, shard_remainder="keep")
    assert sum((b["x"].tolist() for b in loader), []) == ds["x"][1::3]


def test_hugging_face_dataset_without_a_known_indices_mapping_is_rejected():
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"x": [1, 2]})
    del ds._indices                     # as a datasets release that moved it would look
    with pytest.raises(TypeError, match=r"flatten_indices\(\)\.data\.table"):
        ArrowSource(ds)


def test_hugging_face_dataset_dict_is_rejected_naming_its_splits():
    datasets = pytest.importorskip("datasets")
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"x": [1, 2]})})
    with pytest.raises(TypeError, match=r"DatasetDict with splits \['train'\]"):
        fb.BatchLoader(dd)


def test_record_batch_is_accepted():
    record_batch = pa.record_batch({"x": np.arange(5)})
    assert is_table_like(record_batch)
    assert [b["x"].tolist() for b in fb.BatchLoader(record_batch, batch_size=3)] == [[0, 1, 2], [3, 4]]


# -- the loader --------------------------------------------------------------------------

LOADER_CASES = [
    dict(shuffle=True, rng=0),
    dict(shuffle=True, rng=0, drop_last=True, prefetch=2),
    dict(shuffle=True, rng=3, world_size=3, rank=2, shard_remainder="pad"),
    dict(shuffle=False, world_size=2, rank=1, shard_remainder="keep"),
    dict(shuffle=False, world_size=3, rank=1, shard_remainder="pad"),
    dict(shuffle=False),
]


@pytest.mark.parametrize("options", LOADER_CASES)
def test_table_loader_yields_the_batches_of_the_array_loader(options):
    table = mixed_table()
    columns = ["f32", "vec", "i64"]
    arrays = [np.asarray(table[c].to_pylist(), dtype=np.float64 if c == "vec" else None)
              for c in columns]
    got = list(fb.BatchLoader(table, batch_size=6, columns=columns, **options))
    want = list(fb.BatchLoader(*arrays, batch_size=6, **options))
    assert len(got) == len(want)
    for batch, expected in zip(got, want):
        assert list(batch) == columns
        for name, array in zip(columns, expected):
            np.testing.assert_array_equal(batch[name], array)


def test_shuffled_epoch_yields_every_row_once_across_chunks():
    table = mixed_table()
    loader = fb.BatchLoader(table, batch_size=7, shuffle=True, rng=0, columns=["i64"])
    for _ in range(2):
        rows = np.concatenate([b["i64"] for b in loader])
        assert sorted(rows.tolist()) == list(range(40))


def test_table_loader_resumes_from_its_state():
    table = mixed_table()
    loader = fb.BatchLoader(table, batch_size=4, shuffle=True, rng=5, columns=["i64"])
    it = iter(loader)
    [next(it) for _ in range(3)]
    state = loader.state_dict()
    rest = [b["i64"].tolist() for b in it]
    resumed = fb.BatchLoader(table, batch_size=4, shuffle=True, rng=5, columns=["i64"])
    resumed.load_state_dict(state)
    assert [b["i64"].tolist() for b in resumed] == rest


def test_empty_table_gives_zero_batches():
    table = pa.table({"x": pa.array([], pa.float32()), "ids": pa.array([], pa.list_(pa.int32()))})
    assert list(fb.BatchLoader(table, batch_size=4, shuffle=True, rng=0)) == []
    batch = ArrowSource(table).gather(np.array([], dtype=np.int64))
    assert batch["x"].shape == (0,) and batch["ids"].offsets.tolist() == [0]


# -- errors, raised before any batch -----------------------------------------------------

@pytest.mark.parametrize("column, type_text", [
    (pa.array(["a", "b"]), "string"),
    (pa.array([{"a": 1}, {"a": 2}]), "struct"),
    (pa.array(["a", "b"]).dictionary_encode(), "dictionary"),
    (pa.array([[[1]], [[2, 3]]]), "list<item: list"),
    (pa.array([[True], [False]]), "list<item: bool>"),
    (pa.array([[True, False], [False, True]], pa.list_(pa.bool_(), 2)), "fixed_size_list"),
    (pa.array([1, 2], pa.timestamp("s")), "timestamp"),
])
def test_unsupported_column_type_is_rejected_naming_column_and_type(column, type_text):
    table = pa.table({"ok": [1, 2], "bad": column})
    with pytest.raises(TypeError, match=rf"column 'bad' has type {type_text}"):
        fb.BatchLoader(table)


def test_unsupported_column_is_ignored_when_not_selected():
    table = pa.table({"ok": [1, 2], "text": ["a", "b"]})
    assert [b["ok"].tolist() for b in fb.BatchLoader(table, columns=["ok"])] == [[1, 2]]


def test_nulls_in_a_numeric_column_are_rejected():
    with pytest.raises(ValueError, match=r"column 'x' \(int64\) has 1 null.*fill_null"):
        fb.BatchLoader(pa.table({"x": [1, None, 3]}))


def test_fill_null_replaces_nulls_of_numeric_columns():
    table = pa.table({"x": pa.array([1.5, None, 3.0]), "flag": pa.array([True, None, False])})
    batch = ArrowSource(table, fill_null=0).view(0, 3)
    assert batch["x"].tolist() == [1.5, 0.0, 3.0] and batch["flag"].tolist() == [True, False, False]


def test_fill_null_that_does_not_fit_the_column_is_rejected():
    with pytest.raises(ValueError, match=r"fill_null for column 'x'=-1 does not fit.*uint8"):
        ArrowSource(pa.table({"x": pa.array([1, None], pa.uint8())}), fill_null=-1)


@pytest.mark.parametrize("column", [
    pa.array([[1, 2], None, [3]], pa.list_(pa.int32())),
    pa.array([[1, None], [3]], pa.list_(pa.int32())),
    pa.array([[1.0, None], [2.0, 3.0]], pa.list_(pa.float32(), 2)),
])
def test_nulls_in_list_columns_are_rejected_even_with_fill_null(column):
    with pytest.raises(ValueError, match=r"column 'ids' .* null"):
        ArrowSource(pa.table({"ids": column}), fill_null=0)


def test_nulls_outside_a_sliced_list_are_ignored():
    column = pa.array([[1, None], [2, 3], [4]], pa.list_(pa.int32())).slice(1)
    assert ArrowSource(pa.table({"ids": column})).view(0, 2)["ids"].values.tolist() == [2, 3, 4]


def test_pad_value_that_does_not_fit_is_rejected():
    table = pa.table({"ids": pa.array([[1]], pa.list_(pa.uint16()))})
    with pytest.raises(ValueError, match=r"pad_value for column 'ids'=-1 does not fit"):
        ArrowSource(table, pad_to="longest", pad_value=-1)


@pytest.mark.parametrize("pad_to, error", [("max", ValueError), (0, ValueError), (2.5, TypeError)])
def test_bad_pad_to_is_rejected(pad_to, error):
    table = pa.table({"ids": pa.array([[1]], pa.list_(pa.int32()))})
    with pytest.raises(error, match="pad_to"):
        ArrowSource(table, pad_to=pad_to)


def test_pad_to_without_list_columns_is_rejected():
    with pytest.raises(ValueError, match="pad_to=2 but none of the columns"):
        ArrowSource(pa.table({"x": [1]}), pad_to=2)


@pytest.mark.parametrize("columns, error, text", [
    (["nope"], KeyError, r"\['nope'\] not in the table"),
    ("x", TypeError, "list of column names"),
    (["x", "x"], ValueError, "named more than once"),
    ([], ValueError, "columns is empty"),
])
def test_bad_column_selection_is_rejected(columns, error, text):
    with pytest.raises(error, match=text):
        fb.BatchLoader(pa.table({"x": [1], "y": [2]}), columns=columns)


def test_table_options_with_array_inputs_are_rejected():
    with pytest.raises(TypeError, match="columns apply only to an Arrow table"):
        fb.BatchLoader(np.zeros(3), columns=["x"])


def test_table_among_other_inputs_is_rejected():
    with pytest.raises(TypeError, match="input 1 is a table"):
        fb.BatchLoader(np.zeros(2), pa.table({"x": [1, 2]}))


@pytest.mark.parametrize("indices, error", [
    (np.array([0, 3]), IndexError), (np.array([-1]), IndexError), (np.array([0.5]), TypeError)])
def test_gather_rejects_indices_outside_the_table(indices, error):
    with pytest.raises(error, match="indices"):
        ArrowSource(pa.table({"x": [1, 2, 3]})).gather(indices)


def test_corrupt_list_offsets_raise_instead_of_reading_out_of_bounds():
    values = pa.array(np.arange(5, dtype=np.int32))
    offsets = pa.py_buffer(np.array([0, 5, 2], dtype=np.int32).tobytes())
    bad = pa.ListArray.from_buffers(pa.list_(pa.int32()), 2, [None, offsets], children=[values])
    source = ArrowSource(pa.table({"ids": bad}))
    with pytest.raises(ValueError, match="column 'ids': its list offsets point outside"):
        source.gather(np.array([1]))


# -- packaging and internals -------------------------------------------------------------

def test_kinds_agree_between_python_and_kernel():
    assert (_arrow_columns.FIXED, _arrow_columns.BITS, _arrow_columns.LIST) == (
        _table.KIND_FIXED, _table.KIND_BITS, _table.KIND_LIST)


def test_fastbatch_works_without_pyarrow():
    code = ("import sys; sys.modules['pyarrow'] = None; sys.modules['datasets'] = None\n"
            "import numpy as np, fastbatch as fb\n"
            "assert len(list(fb.BatchLoader(np.zeros(5), batch_size=2))) == 3\n"
            "from fastbatch.sources.arrow import ArrowSource\n"
            "try:\n    ArrowSource(None)\nexcept ImportError as e:\n    print(e)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert "fastbatch[arrow]" in result.stdout


def test_importing_fastbatch_does_not_import_pyarrow():
    code = "import sys, fastbatch; print('pyarrow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(0, 9), min_size=1, max_size=12),
       data=st.data())
def test_gather_and_view_equal_take_for_any_chunking(sizes, data):
    n = sum(sizes)
    rng = np.random.default_rng(n)
    ragged = [list(range(i, i + i % 3)) for i in range(n)]
    table = pa.table({"x": chunked(rng.standard_normal(n), sizes),
                      "flag": chunked([bool(i % 2) for i in range(n)], sizes, pa.bool_()),
                      "ids": chunked(ragged, sizes, pa.list_(pa.int16()))})
    lo = data.draw(st.integers(0, n))
    table = table.slice(lo)
    m = table.num_rows
    idx = np.array(data.draw(st.lists(st.integers(0, max(m - 1, 0)), max_size=30 if m else 0)),
                   dtype=np.int64)
    source = ArrowSource(table)
    assert as_lists(source.gather(idx)) == reference(table, idx)
    start = data.draw(st.integers(0, m))
    stop = data.draw(st.integers(start, m))
    step = data.draw(st.integers(1, 4))
    assert as_lists(source.view(start, stop, step)) == reference(table, np.arange(start, stop, step))


def test_kernel_rejects_a_column_number_outside_the_table():
    source = ArrowSource(pa.table({"x": [1, 2]}))
    with pytest.raises(IndexError, match="column 1 out of range"):
        source.source.gather(np.array([0], dtype=np.int64), [1])


# ---- One batch iterator for arrays and tables (the Source interface) -----------------

def test_a_table_and_an_array_are_cut_by_the_same_iterator():
    table = pa.table({"x": np.arange(10.0)})
    assert type(iter(fb.BatchLoader(table, batch_size=3))) is type(
        iter(fb.BatchLoader(np.arange(10.0), batch_size=3)))


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_shuffled_table_batches_read_ahead_in_groups_with_the_same_bytes(threads):
    from fastbatch.loader._read_ahead import _read_ahead_groups
    from reference import read_ahead
    rng = np.random.default_rng(0)
    n = 3000
    chunks = [slice(0, 700), slice(700, 701), slice(701, n)]
    x, v = rng.random(n), rng.integers(0, 100, (n, 3)).astype(np.int16)
    flags = rng.random(n) < 0.5
    table = pa.Table.from_batches([
        pa.record_batch({"x": x[c], "v": pa.FixedSizeListArray.from_arrays(
            v[c].ravel(), 3), "flag": flags[c]}) for c in chunks])
    expected = list(fb.BatchLoader(x, v, flags,
                                   batch_size=64, shuffle=True, rng=5))
    groups = _read_ahead_groups()
    with fb.set_num_threads(threads), read_ahead("in groups", group_bytes=4096):
        got = list(fb.BatchLoader(table, batch_size=64, shuffle=True, rng=5))
    assert _read_ahead_groups() > groups
    assert len(got) == len(expected)
    for batch, (ex, ev, ef) in zip(got, expected):
        assert list(batch) == ["x", "v", "flag"]
        np.testing.assert_array_equal(batch["x"], ex)
        np.testing.assert_array_equal(batch["v"], ev)
        np.testing.assert_array_equal(batch["flag"], ef)


def test_a_table_with_list_columns_is_gathered_batch_by_batch_not_in_groups():
    from fastbatch.loader._read_ahead import _read_ahead_groups
    from reference import read_ahead
    table = pa.table({"x": np.arange(200.0), "ids": [[i] * (i % 4) for i in range(200)]})
    groups = _read_ahead_groups()
    with read_ahead("in groups", group_bytes=256):
        batches = list(fb.BatchLoader(table, batch_size=16, shuffle=True, rng=1))
    assert _read_ahead_groups() == groups
    order = np.concatenate([b["x"] for b in batches]).astype(int)
    for b in batches:
        rows = [b["ids"].values[s:e].tolist()
                for s, e in zip(b["ids"].offsets[:-1], b["ids"].offsets[1:])]
        assert rows == [[int(i)] * (int(i) % 4) for i in b["x"]]
    assert sorted(order) == list(range(200))
