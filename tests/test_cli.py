"""The ``fastbatch`` command, run as a subprocess like a user would."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastbatch as fb

ROOT = Path(__file__).resolve().parent.parent


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
                          verbose=0)


def test_fit_plot_writes_a_png(tmp_path, dataset):
    pytest.importorskip("matplotlib")
    X, y = dataset
    write_csv(tmp_path / "d.csv", X, y)
    result = run("fit", tmp_path / "d.csv", "--target", "price", "--epochs", 5,
                 "--plot", tmp_path / "loss.png", "--quiet")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- bad input: one line on stderr, exit 2, no output file --------------------------------

def bad_inputs(tmp_path, dataset):
    X, y = dataset
    write_csv(tmp_path / "ok.csv", X, y)
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header_only.csv").write_text("a,b,price\n")
    (tmp_path / "text.csv").write_text("a,b,price\n1,2,3\n4,seven,6\n")
    return {
        "missing file": (["fit", tmp_path / "nope.csv", "--target", "price"], "no such file"),
        "unknown column": (["fit", tmp_path / "ok.csv", "--target", "cost"],
                           "unknown column 'cost'"),
        "non-numeric column": (["fit", tmp_path / "text.csv", "--target", "price"],
                               "column 'b' in .* is not numeric \\(line 3: 'seven'\\)"),
        "empty file": (["fit", tmp_path / "empty.csv", "--target", "price"], "is empty"),
        "no rows": (["fit", tmp_path / "header_only.csv", "--target", "price"],
                    "has no data rows"),
        "diverging learning rate": (["fit", tmp_path / "ok.csv", "--target", "price",
                                     "--learning-rate", "1e30", "--epochs", "5"],
                                    "diverged at epoch 0.*smaller learning_rate"),
        "bad option": (["fit", tmp_path / "ok.csv", "--target", "price", "--epochs", "0"],
                       "expected a positive integer"),
        "plot into a missing folder": (["fit", tmp_path / "ok.csv", "--target", "price",
                                        "--plot", tmp_path / "nowhere" / "loss.png"],
                                       "no such directory"),
    }


@pytest.mark.parametrize("case", ["missing file", "unknown column", "non-numeric column",
                                  "empty file", "no rows", "diverging learning rate",
                                  "bad option", "plot into a missing folder"])
def test_bad_input_is_one_line_exit_2_no_traceback_no_file(tmp_path, dataset, case):
    import re
    args, message = bad_inputs(tmp_path, dataset)[case]
    out = tmp_path / "model.json"
    result = run(*args, "--out", out, "--quiet")
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr
    assert re.search(message, lines[-1]), result.stderr
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".fastbatch-")]


# -- bench --------------------------------------------------------------------------------

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
