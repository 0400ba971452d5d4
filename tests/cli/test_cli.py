"""The ``fastbatch`` command, run as a subprocess like a user would."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastbatch as fb

ROOT = Path(__file__).resolve().parents[2]


def run(*args, cwd=None, timeout=300):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    return subprocess.run([sys.executable, "-m", "fastbatch", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=timeout)


def write_csv(path, X, y, names=None):
    names = names or [f"x{j}" for j in range(X.shape[1])]
    lines = [",".join(names + ["price"])]
    lines += [",".join(repr(float(v)) for v in row) + f",{float(t)!r}" for row, t in zip(X, y)]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def dataset():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 3)) * [1, 10, 100] + [0, 5, -50]
    y = X @ [2.0, -0.5, 0.03] + 1.0
    return X, y


# -- --help, --version -----------------------------------------------------------------

@pytest.mark.parametrize("args", [["--help"], ["demo", "--help"], ["bench", "--help"],
                                  ["fit", "--help"]])
def test_help_on_every_subcommand(args):
    result = run(*args)
    assert result.returncode == 0
    assert "usage: fastbatch" in result.stdout


def test_version():
    result = run("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"fastbatch {fb.__version__}"


def test_no_command_prints_help_and_exits_2():
    result = run()
    assert result.returncode == 2 and "COMMAND" in result.stdout


# -- demo ---------------------------------------------------------------------------------

def test_demo_prints_structure_training_coefficients_and_timings():
    result = run("demo", "--samples", 20000, "--epochs", 5, "--repeats", 1)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "len(loader) = 15 batches per epoch" in out
    assert "loader.epoch = 3, loader.step = 45" in out
    assert "[3, 3, 3, 1]" in out
    assert "R^2 = " in out and "true coef" in out and "intercept" in out
    assert "NumPy" in out and "speed-up" in out


# -- fit ----------------------------------------------------------------------------------

def test_fit_csv_writes_a_model_that_reads_back(tmp_path, dataset):
    X, y = dataset
    write_csv(tmp_path / "houses.csv", X, y)
    model_path = tmp_path / "model.json"
    result = run("fit", tmp_path / "houses.csv", "--target", "price", "--epochs", 40,
                 "--learning-rate", 0.05, "--out", model_path)
    assert result.returncode == 0, result.stderr
    model = json.loads(model_path.read_text())
    assert model["features"] == ["x0", "x1", "x2"] and model["target"] == "price"
    np.testing.assert_allclose(model["coef"], [2.0, -0.5, 0.03], rtol=1e-4)
    assert model["intercept"] == pytest.approx(1.0, abs=1e-3)
    assert len(model["loss_history"]) == 40
    assert model["params"]["learning_rate"] == 0.05
    assert "x1" in result.stdout and "R^2" in result.stdout


def test_fit_out_names_the_data_relative_to_the_model_file(tmp_path, dataset):
    # A model file carries no absolute path (no home directory), and its "data" still
    # leads from the model's folder to the data when both move together.
    X, y = dataset
    (tmp_path / "data").mkdir()
    (tmp_path / "models").mkdir()
    write_csv(tmp_path / "data" / "houses.csv", X, y)
    result = run("fit", "data/houses.csv", "--target", "price", "--epochs", 2,
                 "--out", "models/model.json", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "models" / "model.json").read_text()
    assert str(tmp_path) not in text
    data = json.loads(text)["data"]
    assert data == os.path.join("..", "data", "houses.csv")
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (tmp_path / "models").rename(moved / "models")
    (tmp_path / "data").rename(moved / "data")
    assert (moved / "models" / data).is_file()


def test_fit_out_keeps_an_absolute_data_path_as_given(tmp_path, dataset):
    X, y = dataset
    write_csv(tmp_path / "houses.csv", X, y)
    result = run("fit", tmp_path / "houses.csv", "--target", "price", "--epochs", 2,
                 "--out", tmp_path / "model.json", "--quiet")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "model.json").read_text())["data"] == str(
        tmp_path / "houses.csv")


def test_fit_npy_and_npz(tmp_path, dataset):
    X, y = dataset
    np.save(tmp_path / "t.npy", np.column_stack([X, y]))
    np.savez(tmp_path / "t.npz", a=X[:, 0], b=X[:, 1], c=X[:, 2], target=y)
    for path, target in ((tmp_path / "t.npy", 3), (tmp_path / "t.npz", "target")):
        out = tmp_path / f"{path.suffix[1:]}.json"
        result = run("fit", path, "--target", target, "--epochs", 30, "--learning-rate",
                     0.05, "--out", out, "--quiet")
        assert result.returncode == 0, result.stderr
        np.testing.assert_allclose(json.loads(out.read_text())["coef"], [2, -0.5, 0.03],
                                   rtol=1e-3)


def test_fit_parquet_reads_through_open_files(tmp_path, dataset):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    X, y = dataset
    table = pa.table({"a": X[:, 0], "b": X[:, 1].astype(np.float32), "c": X[:, 2],
                      "target": y})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=64)
    out = tmp_path / "m.json"
    result = run("fit", tmp_path / "t.parquet", "--target", "target", "--epochs", 30,
                 "--learning-rate", 0.05, "--shuffle-method", "block", "--out", out,
                 "--quiet")
    assert result.returncode == 0, result.stderr
    model = json.loads(out.read_text())
    assert model["features"] == ["a", "b", "c"] and model["target"] == "target"
    np.testing.assert_allclose(model["coef"], [2, -0.5, 0.03], rtol=1e-3)
    data = (tmp_path / "t.parquet").read_bytes()
    (tmp_path / "bad.parquet").write_bytes(data[:-10])
    result = run("fit", tmp_path / "bad.parquet", "--target", "target", "--quiet")
    assert result.returncode != 0
    assert "bad.parquet: not a readable Parquet file" in result.stderr


def test_fit_options_reach_the_estimator(tmp_path, dataset):
    X, y = dataset
    write_csv(tmp_path / "d.csv", X, y)
    out = tmp_path / "m.json"
    result = run("fit", tmp_path / "d.csv", "--target", "price", "--batch-size", 7,
                 "--epochs", 3, "--learning-rate", 1e-5, "--lr-decay", 0.5, "--alpha", 0.1,
                 "--no-standardize", "--seed", 9, "--out", out, "--quiet")
    assert result.returncode == 0, result.stderr
    params = json.loads(out.read_text())["params"]
    assert params == dict(batch_size=7, epochs=3, learning_rate=1e-5, lr_decay=0.5,
                          alpha=0.1, standardize=False, shuffle=True, random_state=9,
                          fit_intercept=True, tol=None, n_iter_no_change=5,
                          early_stopping=False, validation_fraction=0.1, warm_start=False,
                          verbose=0, shuffle_method="exact", block_size=None,
                          shuffle_window=16, penalty="l2", l1_ratio=0.15,
                          loss="squared_error", epsilon=0.1, average=False,
                          lr_schedule="epoch_decay", power_t=0.25)


def test_fit_sgd_options_reach_the_estimator_and_fit_like_it(tmp_path, dataset):
    X, y = dataset
    write_csv(tmp_path / "d.csv", X, y)
    out = tmp_path / "m.json"
    result = run("fit", tmp_path / "d.csv", "--target", "price", "--epochs", 3,
                 "--alpha", 0.01, "--penalty", "elasticnet", "--l1-ratio", 0.5, "--loss",
                 "huber", "--epsilon", 0.5, "--average", 10, "--lr-schedule", "invscaling",
                 "--power-t", 0.3, "--out", out, "--quiet")
    assert result.returncode == 0, result.stderr
    model = json.loads(out.read_text())
    options = dict(penalty="elasticnet", l1_ratio=0.5, loss="huber", epsilon=0.5,
                   average=10, lr_schedule="invscaling", power_t=0.3)
    assert {k: model["params"][k] for k in options} == options
    est = fb.MiniBatchSGDRegressor(epochs=3, alpha=0.01, random_state=0, **options)
    est.fit(X, y)
    np.testing.assert_allclose(model["coef"], est.coef_, rtol=1e-12)


def test_fit_average_alone_and_penalty_none(tmp_path, dataset):
    X, y = dataset
    write_csv(tmp_path / "d.csv", X, y)
    out = tmp_path / "m.json"
    result = run("fit", tmp_path / "d.csv", "--target", "price", "--epochs", 2,
                 "--average", "--penalty", "none", "--out", out, "--quiet")
    assert result.returncode == 0, result.stderr
    params = json.loads(out.read_text())["params"]
    assert params["average"] is True and params["penalty"] is None


@pytest.mark.parametrize("option, value, message", [
    ("--l1-ratio", "1.5", "l1_ratio must be a finite number in [0, 1]"),
    ("--epsilon", "-1", "epsilon must be a finite number >= 0.0"),
    ("--power-t", "nan", "power_t must be a finite number >= 0.0"),
    ("--penalty", "l3", "--penalty: invalid choice"),
    ("--average", "-2", "--average: expected the step to average from"),
])
def test_fit_bad_sgd_options_exit_2_naming_them(tmp_path, dataset, option, value, message):
    X, y = dataset
    write_csv(tmp_path / "d.csv", X, y)
    result = run("fit", tmp_path / "d.csv", "--target", "price", option, value, "--quiet")
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_fit_block_shuffle_options_reach_the_estimator_and_fit_like_it(tmp_path, dataset):
    X, y = dataset
    np.save(tmp_path / "d.npy", np.column_stack([X, y]))
    out = tmp_path / "m.json"
    result = run("fit", tmp_path / "d.npy", "--target", str(X.shape[1]), "--epochs", 3,
                 "--shuffle-method", "block", "--block-size", 11, "--shuffle-window", 2,
                 "--out", out, "--quiet")
    assert result.returncode == 0, result.stderr
    model = json.loads(out.read_text())
    assert {k: model["params"][k] for k in ("shuffle_method", "block_size",
                                             "shuffle_window")} == dict(
        shuffle_method="block", block_size=11, shuffle_window=2)
    est = fb.MiniBatchSGDRegressor(epochs=3, random_state=0, shuffle_method="block",
                                   block_size=11, shuffle_window=2).fit(X, y)
    np.testing.assert_allclose(model["coef"], est.coef_, rtol=1e-12)


@pytest.mark.parametrize("args", [("--shuffle-method", "blocks"), ("--block-size", "0"),
                                  ("--shuffle-window", "-3")])
def test_fit_bad_block_options_are_one_line_exit_2(tmp_path, dataset, args):
    X, y = dataset
    write_csv(tmp_path / "d.csv", X, y)
    result = run("fit", tmp_path / "d.csv", "--target", "price", *args)
    assert result.returncode == 2
    assert args[0] in result.stderr and "Traceback" not in result.stderr


def test_fit_plot_writes_a_png(tmp_path, dataset):
    pytest.importorskip("matplotlib")
    X, y = dataset
    write_csv(tmp_path / "d.csv", X, y)
    result = run("fit", tmp_path / "d.csv", "--target", "price", "--epochs", 5,
                 "--plot", tmp_path / "loss.png", "--quiet")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- bad input: one line on stderr, exit 2, no output file, input untouched ---------------

def unwritable_folder(tmp_path):
    """A folder this process cannot create files in (root ignores permission bits)."""
    if os.geteuid() == 0:
        return Path("/sys")
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o555)
    return folder


def bad_inputs(tmp_path, dataset):
    X, y = dataset
    write_csv(tmp_path / "ok.csv", X, y)
    ok = (tmp_path / "ok.csv").read_text()
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header_only.csv").write_text("a,b,price\n")
    (tmp_path / "text.csv").write_text("a,b,price\n1,2,3\n4,seven,6\n")
    (tmp_path / "latin1.csv").write_bytes(ok.replace("x0", "caf\xe9").encode("latin-1"))
    (tmp_path / "utf16.csv").write_bytes(ok.encode("utf-16"))
    (tmp_path / "binary.csv").write_bytes(bytes(range(256)) * 64)
    (tmp_path / "long_field.csv").write_text("a,b,price\n1,2," + "9" * 131073 + "\n")
    np.savez(tmp_path / "ok.npz", a=X[:, 0], b=X[:, 1], price=y)
    archive = (tmp_path / "ok.npz").read_bytes()
    (tmp_path / "truncated.npz").write_bytes(archive[:len(archive) // 2])
    (tmp_path / "not_a_zip.npz").write_bytes(b"these are not the bytes of a zip archive")
    np.savez(tmp_path / "objects.npz", a=np.array([1, "one"] * 150, dtype=object), price=y)
    np.save(tmp_path / "objects.npy", np.array([[1, "one"]] * 10, dtype=object))
    (tmp_path / "link.csv").symlink_to(tmp_path / "ok.csv")
    (tmp_path / "duplicate.csv").write_text("a,a,price\n1,2,3\n4,5,6\n7,8,9\n")
    (tmp_path / "duplicate_other.csv").write_text("a,b,price,b\n1,2,3,4\n4,5,6,7\n")

    def fit(name, *options, target="price"):
        return ["fit", tmp_path / name, "--target", target, *options]

    return {
        "missing file": (fit("nope.csv"), "no such file"),
        "unknown column": (fit("ok.csv", target="cost"), "unknown column 'cost'"),
        "non-numeric column": (fit("text.csv"),
                               "column 'b' in .* is not numeric \\(line 3: 'seven'\\)"),
        "empty file": (fit("empty.csv"), "is empty"),
        "no rows": (fit("header_only.csv"), "has no data rows"),
        "diverging learning rate": (fit("ok.csv", "--learning-rate", "1e30", "--epochs", "5"),
                                    "diverged at epoch 0.*smaller --learning-rate"),
        "bad option": (fit("ok.csv", "--epochs", "0"), "expected a positive integer"),
        "plot into a missing folder": (fit("ok.csv", "--plot", tmp_path / "nowhere" / "l.png"),
                                       "no such directory"),
        "latin-1 csv": (fit("latin1.csv"), "is not UTF-8 text .*0xe9.*Latin-1"),
        "utf-16 csv": (fit("utf16.csv"), "is UTF-16 text; save it as UTF-8"),
        "binary csv": (fit("binary.csv"), "is not UTF-8 text"),
        "field over 131072 characters": (fit("long_field.csv"),
                                         "line 2: field larger than field limit"),
        "truncated npz": (fit("truncated.npz"), "is not an .npz archive"),
        "not-a-zip npz": (fit("not_a_zip.npz"), "is not an .npz archive"),
        "object column in npz": (fit("objects.npz"),
                                 "array 'a' in .* holds Python objects \\(dtype object\\)"),
        "object array in npy": (fit("objects.npy", target="1"),
                                "holds Python objects \\(dtype object\\)"),
        "unwritable output folder": (fit("ok.csv", "--plot",
                                         unwritable_folder(tmp_path) / "l.png"),
                                     "cannot write .*l.png"),
        "out is the input file": (fit("ok.csv", "--out", tmp_path / "ok.csv"),
                                  "refusing to write .*ok.csv: it is the input file"),
        "out is the input file by another path": (
            fit("ok.csv", "--out", tmp_path / "link.csv"),
            "refusing to write .*link.csv: it is the input file"),
        "batch size of 2**63": (fit("ok.csv", "--batch-size", str(2**63)),
                                "argument --batch-size: expected a positive integer of at "
                                "most 9223372036854775807"),
        "epochs of 2**64": (fit("ok.csv", "--epochs", str(2**64)),
                            "argument --epochs: expected a positive integer"),
        "negative tol": (fit("ok.csv", "--tol", "-1"),
                         "argument --tol: expected a finite number >= 0, got '-1'"),
        "nan tol": (fit("ok.csv", "--tol", "nan"), "argument --tol: expected a finite number"),
        "early stopping without tol": (fit("ok.csv", "--early-stopping"),
                                       "--early-stopping needs --tol"),
        "unknown weight column": (fit("ok.csv", "--sample-weight", "weight"),
                                  "unknown column 'weight'"),
        "weight column is the target": (fit("ok.csv", "--sample-weight", "price"),
                                        "the sample-weight column 'price' is the target"),
        "negative weights": (fit("ok.csv", "--sample-weight", "x1"),
                             "sample-weight column 'x1' .* is negative on line \\d+ "
                             "\\(-[0-9.]+\\)"),
        "duplicate csv column is the target": (
            fit("duplicate.csv", target="a"),
            "column name 'a' appears more than once in the header of .*duplicate.csv"),
        "duplicate csv column is a feature": (
            fit("duplicate_other.csv"),
            "column name 'b' appears more than once in the header of .*duplicate_other.csv"),
    }


BAD_INPUTS = ["missing file", "unknown column", "non-numeric column", "empty file",
              "no rows", "diverging learning rate", "bad option",
              "plot into a missing folder", "latin-1 csv", "utf-16 csv", "binary csv",
              "field over 131072 characters", "truncated npz", "not-a-zip npz",
              "object column in npz", "object array in npy", "unwritable output folder",
              "out is the input file", "out is the input file by another path",
              "batch size of 2**63", "epochs of 2**64", "negative tol", "nan tol",
              "early stopping without tol", "unknown weight column",
              "weight column is the target", "negative weights",
              "duplicate csv column is the target", "duplicate csv column is a feature"]


def snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_line_exit_2_no_traceback_no_file_input_untouched(
        tmp_path, dataset, case):
    import re
    args, message = bad_inputs(tmp_path, dataset)[case]
    if "--out" not in args:
        args = args + ["--out", tmp_path / "model.json"]
    before = snapshot(tmp_path)
    result = run(*args, "--quiet")
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert re.search(message, lines[0]), result.stderr
    assert snapshot(tmp_path) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".fastbatch-")]


def test_fit_reads_a_csv_whose_header_starts_with_a_utf8_bom(tmp_path, dataset):
    X, y = dataset
    write_csv(tmp_path / "plain.csv", X, y, names=["price", "x1", "x2"])
    text = (tmp_path / "plain.csv").read_text()
    # The written target column is named "price" too: rename it so --target is the first.
    (tmp_path / "bom.csv").write_bytes(
        b"\xef\xbb\xbf" + text.replace(",price\n", ",target\n", 1).encode())
    out = tmp_path / "m.json"
    result = run("fit", tmp_path / "bom.csv", "--target", "price", "--epochs", 2,
                 "--out", out, "--quiet")
    assert result.returncode == 0, result.stderr
    model = json.loads(out.read_text())
    assert model["target"] == "price" and model["features"] == ["x1", "x2", "target"]


def test_check_int_rejects_values_above_maximum_naming_the_argument():
    from fastbatch._validation import PY_SSIZE_T_MAX, check_int
    assert check_int(PY_SSIZE_T_MAX, "batch_size", maximum=PY_SSIZE_T_MAX) == 2**63 - 1
    with pytest.raises(ValueError, match=r"batch_size must be <= 9223372036854775807, "
                                         r"got 9223372036854775808"):
        check_int(2**63, "batch_size", minimum=1, maximum=PY_SSIZE_T_MAX)


def test_divergence_message_names_the_epoch_and_its_decayed_learning_rate():
    from fastbatch.cli import _divergence_message
    exc = fb.TrainingDivergedError("text the command line never reads", epoch=7,
                                   learning_rate=0.5, epoch_learning_rate=0.25)
    message = _divergence_message(exc)
    assert message.startswith("training diverged at epoch 7 (learning rate 0.25)")
    assert "smaller --learning-rate than 0.5" in message


def test_divergence_message_for_data_too_large_is_the_exception_summary():
    from fastbatch.cli import _divergence_message
    exc = fb.TrainingDivergedError("X has values up to 1e300: rescale X", epoch=0,
                                   learning_rate=0.01, epoch_learning_rate=0.01,
                                   cause="data", state_kept=True)
    assert _divergence_message(exc) == "X has values up to 1e300: rescale X"


def test_fit_data_too_large_for_float64_says_rescale(tmp_path, dataset):
    X, y = dataset
    write_csv(tmp_path / "d.csv", X, y * 1e160)
    result = run("fit", tmp_path / "d.csv", "--target", "price", "--epochs", 2, "--quiet")
    assert result.returncode == 2
    assert "rescale y" in result.stderr and "--learning-rate" not in result.stderr


# -- fit: sample weights, tol, early stopping ---------------------------------------------

def write_weighted_csv(path, X, y, w):
    names = [f"x{j}" for j in range(X.shape[1])] + ["w", "price"]
    rows = [",".join(repr(float(v)) for v in [*x, wi, t]) for x, wi, t in zip(X, w, y)]
    path.write_text("\n".join([",".join(names)] + rows) + "\n")


def test_fit_sample_weight_column_weights_the_fit_and_is_not_a_feature(tmp_path, dataset):
    X, y = dataset
    w = np.random.default_rng(1).uniform(0, 3, len(y))
    write_weighted_csv(tmp_path / "d.csv", X, y, w)
    out = tmp_path / "m.json"
    result = run("fit", tmp_path / "d.csv", "--target", "price", "--sample-weight", "w",
                 "--epochs", 4, "--out", out, "--quiet")
    assert result.returncode == 0, result.stderr
    model = json.loads(out.read_text())
    assert model["features"] == ["x0", "x1", "x2"] and model["sample_weight"] == "w"
    expected = fb.MiniBatchSGDRegressor(epochs=4, random_state=0).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(model["coef"], expected.coef_, rtol=1e-9)
    np.testing.assert_allclose(model["loss_history"], expected.loss_history_, rtol=1e-9)


def test_fit_tol_stops_early_and_says_so(tmp_path, dataset):
    X, y = dataset
    write_csv(tmp_path / "d.csv", X, y)
    out = tmp_path / "m.json"
    result = run("fit", tmp_path / "d.csv", "--target", "price", "--epochs", 500,
                 "--learning-rate", 0.05, "--tol", 1e-3, "--out", out, "--quiet")
    assert result.returncode == 0, result.stderr
    model = json.loads(out.read_text())
    assert model["params"]["tol"] == 1e-3
    assert len(model["loss_history"]) < 500
    assert "stopped early by --tol 0.001" in result.stdout


def test_fit_early_stopping_holds_out_rows_and_stops_on_their_r2(tmp_path, dataset):
    X, y = dataset
    write_csv(tmp_path / "d.csv", X, y)
    out = tmp_path / "m.json"
    result = run("fit", tmp_path / "d.csv", "--target", "price", "--epochs", 500,
                 "--learning-rate", 0.05, "--tol", 1e-4, "--early-stopping", "--out", out,
                 "--quiet")
    assert result.returncode == 0, result.stderr
    model = json.loads(out.read_text())
    assert model["params"]["early_stopping"] is True
    expected = fb.MiniBatchSGDRegressor(epochs=500, learning_rate=0.05, tol=1e-4,
                                        early_stopping=True, random_state=0).fit(X, y)
    assert len(model["loss_history"]) == expected.n_iter_ < 500


# -- bench --------------------------------------------------------------------------------# -- bench --------------------------------------------------------------------------------

@pytest.mark.slow
def test_bench_quick_writes_json_and_png(tmp_path):
    pytest.importorskip("matplotlib")
    result = run("bench", "--quick", "--json", tmp_path / "r.json", "--plot",
                 tmp_path / "r.png", timeout=900)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["rows"] and "machine" in report
    assert all("ratio" in row and "floor" in row for row in report["rows"])
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"
    assert "ratio" in result.stdout.lower()


def test_bench_only_runs_the_matching_cases_with_limits_and_efficiency(tmp_path):
    result = run("bench", "--quick", "--only", "epoch-shuffled-2e5x8", "--json",
                 tmp_path / "r.json")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert [row["group"] for row in report["rows"]] == ["epoch-shuffled-2e5x8-float64-B64"]
    assert report["limits"] and report["scaling"] == []
    assert [row["name"] for row in report["efficiency"]] == [report["rows"][0]["name"]]
    assert "efficiency" in result.stdout and "the machine's limits" in result.stdout


def test_bench_only_matching_nothing_is_one_line_exit_2():
    result = run("bench", "--quick", "--only", "no-such-case")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "matches no case group" in result.stderr


def test_demo_runs_with_numpy_alone():
    # What `make demo` installs: none of the test or optional packages.
    blocked = ("torch", "sklearn", "matplotlib", "pytest", "hypothesis", "scipy")
    code = (f"import sys; sys.modules.update(dict.fromkeys({blocked!r})); "
            "from fastbatch.cli import main; "
            "sys.exit(main(['demo', '--samples', '20000', '--epochs', '2', '--repeats', '1']))")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "speed-up" in result.stdout


def test_plot_without_matplotlib_says_how_to_install_it(tmp_path):
    # Simulate a machine without matplotlib: the import fails, the message is one line.
    code = ("import sys; sys.modules['matplotlib'] = None; from fastbatch.cli import main; "
            f"sys.exit(main(['bench', '--quick', '--plot', {str(tmp_path / 'r.png')!r}]))")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2
    assert "pip install 'fastbatch[plot]'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "r.png").exists()


# -- a .npy table larger than memory: never read whole -----------------------------------

@pytest.mark.parametrize("target, weight, view", [
    ("5", None, True), ("0", None, True), ("0", "5", True), ("2", None, False),
    ("5", "1", False),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_npy_features_are_a_view_of_the_map_or_a_scratch_map(tmp_path, target, weight,
                                                             view, dtype):
    from fastbatch.cli.datafile import load_table
    from fastbatch.sources import is_memory_mapped
    table = (np.arange(60 * 6).reshape(60, 6) % 17 + 1).astype(dtype)
    np.save(tmp_path / "t.npy", table)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    X, y, w, names, _ = load_table(str(tmp_path / "t.npy"), target, weight, str(scratch))
    taken = [int(target)] + ([int(weight)] if weight else [])
    np.testing.assert_array_equal(X, np.delete(table, taken, axis=1))
    np.testing.assert_array_equal(y, table[:, int(target)])
    assert y.dtype == np.float64 and (w is None or w.dtype == np.float64)
    assert names == [str(j) for j in range(6) if j not in taken]
    # Float features side by side stay a view of the file; others go to a scratch map.
    assert is_memory_mapped(X)
    on_scratch = os.listdir(scratch) == ["features.npy"]
    assert on_scratch == (not view or dtype == np.int32)
    assert X.dtype == (np.float64 if dtype == np.int32 else dtype)


def test_fit_from_a_memory_mapped_npy_matches_the_fit_in_memory(tmp_path):
    rng = np.random.default_rng(3)
    table = rng.standard_normal((500, 4))
    table[:, 1] = table[:, [0, 2, 3]] @ [1.0, -2.0, 0.5] + 0.01 * rng.standard_normal(500)
    np.save(tmp_path / "t.npy", table)
    from fastbatch.cli import main
    assert main(["fit", str(tmp_path / "t.npy"), "--target", "1", "--epochs", "5",
                 "--shuffle-method", "block", "--block-size", "50", "--quiet",
                 "--out", str(tmp_path / "m.json")]) == 0
    model = json.loads((tmp_path / "m.json").read_text())
    est = fb.MiniBatchSGDRegressor(epochs=5, shuffle_method="block", block_size=50,
                                   random_state=0).fit(table[:, [0, 2, 3]], table[:, 1])
    np.testing.assert_allclose(model["coef"], est.coef_, rtol=1e-12)


def test_npy_files_are_opened_through_open_files(tmp_path, monkeypatch):
    from fastbatch.cli.datafile import DataFileError, load_table
    table = np.arange(40.0).reshape(10, 4)
    np.save(tmp_path / "t.npy", table)
    opened = []
    real = fb.open_files
    monkeypatch.setattr(fb, "open_files", lambda path, **kw: opened.append(path) or
                        real(path, **kw))
    X, y, _, _, _ = load_table(str(tmp_path / "t.npy"), "3")
    assert opened == [str(tmp_path / "t.npy")]
    np.testing.assert_array_equal(X, table[:, :3])
    # open_files' checks and messages: a truncated file, another byte order.
    data = (tmp_path / "t.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[:-16])
    with pytest.raises(DataFileError, match=r"cut.npy: truncated: its header says \(10, 4\)"):
        load_table(str(tmp_path / "cut.npy"), "3")
    np.save(tmp_path / "big.npy", table.astype(">f8"))
    with pytest.raises(DataFileError, match="big.npy: dtype >f8 is not in this machine's"):
        load_table(str(tmp_path / "big.npy"), "3")


@pytest.mark.parametrize("suffix", [".parquet", ".arrow", ".feather"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_table_files_are_copied_a_row_group_at_a_time_into_a_scratch_map(tmp_path, suffix,
                                                                        dtype):
    pa = pytest.importorskip("pyarrow")
    from fastbatch.cli.datafile import load_table
    from fastbatch.sources import is_memory_mapped
    rng = np.random.default_rng(2)
    columns = {name: rng.standard_normal(300).astype(dtype) for name in "abcd"}
    table = pa.table(columns)
    path = tmp_path / f"t{suffix}"
    if suffix == ".parquet":
        import pyarrow.parquet as pq
        pq.write_table(table, path, row_group_size=70)
    else:
        import pyarrow.feather as feather
        feather.write_feather(table, path, chunksize=70)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    X, y, w, names, target = load_table(str(path), "d", "a", str(scratch))
    assert (names, target) == (["b", "c"], "d")
    np.testing.assert_array_equal(X, np.column_stack([columns["b"], columns["c"]]))
    np.testing.assert_array_equal(y, columns["d"])
    np.testing.assert_array_equal(w, columns["a"])
    # The table sits in the scratch folder, memory-mapped, in the columns' own float type;
    # the features, side by side, are a view of it.
    assert sorted(os.listdir(scratch)) == ["table.npy"]
    assert is_memory_mapped(X) and X.dtype == dtype


def test_table_files_with_list_columns_are_refused_naming_the_column(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.feather as feather
    feather.write_feather(pa.table({"x": [[1.0], [2.0, 3.0]], "y": [1.0, 2.0]}),
                          tmp_path / "t.arrow")
    result = run("fit", tmp_path / "t.arrow", "--target", "y", "--quiet")
    assert result.returncode == 2
    assert "column 'x'" in result.stderr and "not a column of numbers" in result.stderr
