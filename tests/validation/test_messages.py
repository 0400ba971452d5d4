"""Error messages print plain numbers, never NumPy 2 scalar reprs such as
``np.float64(-1.0)`` (issue #19, finding 6)."""

import io

import numpy as np
import pytest

import fastbatch as fb
from fastbatch import cli

X = np.zeros((10, 2))
Y = np.arange(10.0)


def fit(**params):
    fb.MiniBatchSGDRegressor(**{"epochs": 1, **params}).fit(X, Y)


CALLS = {
    "negative weight": lambda: fb.MiniBatchSGDRegressor(epochs=1).fit(
        X, Y, sample_weight=np.array([1.0] * 5 + [-1.0] + [1.0] * 4)),
    "bool count": lambda: fb.BatchLoader(X, batch_size=np.True_),
    "float count": lambda: fb.BatchLoader(X, batch_size=np.float64(2.0)),
    "bool flag": lambda: fb.BatchLoader(X, shuffle=np.int64(1)),
    "float rng": lambda: fb.BatchLoader(X, rng=np.float32(1.5)),
    "learning rate": lambda: fit(learning_rate=np.float64(-1.0)),
    "learning rate type": lambda: fit(learning_rate=np.bool_(True)),
    "random_state bool": lambda: fit(random_state=np.True_),
    "random_state float": lambda: fit(random_state=np.float64(1.0)),
    "validation_fraction": lambda: fit(validation_fraction=np.float32(1.5)),
    "shard_remainder": lambda: fb.BatchLoader(X, shard_remainder=np.str_("x")),
    "positions bool": lambda: fb.index_shuffle(np.True_, 10, 0),
    "state field": lambda: fb.BatchLoader(X, batch_size=2).load_state_dict(
        {**fb.BatchLoader(X, batch_size=2).state_dict(), "n_samples": np.int64(11)}),
    "state version": lambda: fb.BatchLoader(X).load_state_dict(
        {**fb.BatchLoader(X).state_dict(), "version": np.int64(7)}),
}


@pytest.mark.parametrize("case", sorted(CALLS))
def test_messages_show_plain_numbers(case):
    with pytest.raises((TypeError, ValueError)) as info:
        CALLS[case]()
    assert "np." not in str(info.value), str(info.value)


def test_arrow_messages_show_plain_numbers():
    pa = pytest.importorskip("pyarrow")
    table = pa.table({"x": pa.array([1, None], pa.int8())})
    with pytest.raises(ValueError) as info:
        fb.BatchLoader(table, fill_null=np.int64(1000))
    assert "np." not in str(info.value) and "1000" in str(info.value)
    with pytest.raises(TypeError) as info:
        fb.BatchLoader(table, fill_null=np.True_)
    assert "np." not in str(info.value)


def test_negative_weight_message_names_the_value_and_row():
    with pytest.raises(ValueError, match=r"got -1\.0 at row 5$"):
        CALLS["negative weight"]()


def test_cli_negative_weight_names_the_csv_line(tmp_path, capsys):
    # Line 1 is the header and line 3 is blank: the negative weight is on file line 6.
    rows = ["a,w,y", "1,1,2", "", "2,1,3", "3,1,4", "4,-1,5", "5,1,6"]
    path = tmp_path / "d.csv"
    path.write_text("\n".join(rows) + "\n")
    code = cli.main(["fit", str(path), "--target", "y", "--sample-weight", "w", "--quiet",
                     "--epochs", "1"], out=io.StringIO())
    err = capsys.readouterr().err
    assert code == 2
    assert "np." not in err and "line 6" in err and "row" not in err, err


def test_cli_non_numeric_cell_after_a_blank_line_names_its_file_line(tmp_path, capsys):
    path = tmp_path / "d.csv"
    path.write_text("a,y\n1,2\n\n3,x\n")
    code = cli.main(["fit", str(path), "--target", "y", "--quiet"], out=io.StringIO())
    assert code == 2
    assert "line 4" in capsys.readouterr().err
