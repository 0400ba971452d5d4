"""Packaging: the sdist installs into a clean environment, and other Cython packages can
``cimport`` fastbatch's C-API from the installed package, regular or editable.

The sdist tests share one fresh virtual environment (a module-scoped fixture): the sdist is
built from a copy of the working tree, installed with pip's normal build isolation, and then
used from outside the source tree, the way a user or a downstream library would use it.
The editable test installs another copy of the tree with ``pip install -e`` into a second
venv.  The source tree is never written to.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CONSUMER = Path(__file__).resolve().parent / "consumer"

# Each venv's fixture and tests must finish well inside 10 minutes; every subprocess gets
# what is left.
MODULE_BUDGET_SECONDS = 540
OUTPUT_TAIL_CHARS = 12_000

# Build products and local state that never belong in an sdist (nor in the copy it is
# built from).
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__", "*.so", "*.pyd",
    "*.c", "*.html", ".pytest_cache", ".hypothesis", ".benchmarks", ".mypy_cache",
    ".ruff_cache", ".tox", ".nox",
)
# Directories whose every source file must reach the sdist.
SHIPPED_DIRS = ("fastbatch", "tests", "bench")
SHIPPED_FILES = ("README.md", "pyproject.toml", "setup.py", "MANIFEST.in")
# Variables that would leak the running environment into the fresh one.
LEAKY_ENV = (
    "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV",
    "CONDA_PREFIX", "PIP_USER", "PIP_TARGET", "PIP_PREFIX", "PIP_REQUIRE_VIRTUALENV",
    "__PYVENV_LAUNCHER__",
)


def _tail(text):
    text = text or ""
    if len(text) <= OUTPUT_TAIL_CHARS:
        return text
    cut = len(text) - OUTPUT_TAIL_CHARS
    return f"[... {cut} characters cut ...]\n{text[cut:]}"


@dataclass
class Sandbox:
    """A fresh virtual environment with fastbatch installed from its sdist."""

    root: Path
    venv: Path
    python: Path
    source: Path       # the copy of the working tree the sdist was built from
    shipped: frozenset  # files of that copy the sdist must contain, listed before the build
    sdist: Path | None  # None for an editable install
    deadline: float

    def env(self):
        env = {k: v for k, v in os.environ.items() if k not in LEAKY_ENV}
        env.update(
            PATH=f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
            VIRTUAL_ENV=str(self.venv),
            PYTHONNOUSERSITE="1",
            PIP_DISABLE_PIP_VERSION_CHECK="1",
            PIP_NO_INPUT="1",
        )
        return env

    def run(self, *args, cwd, timeout, what):
        return run(args, cwd=cwd, timeout=timeout, what=what, env=self.env(),
                   deadline=self.deadline)

    def pip(self, *args, timeout, what):
        return self.run(self.python, "-m", "pip", *args, cwd=self.root, timeout=timeout,
                        what=what)

    def python_script(self, script, *args, timeout=120, what):
        """Run ``script`` with the venv's python in isolated mode, outside the source tree."""
        workdir = self.root / "outside"
        workdir.mkdir(exist_ok=True)
        return self.run(self.python, "-I", "-c", script, *map(str, args), cwd=workdir,
                        timeout=timeout, what=what)


def run(args, *, cwd, timeout, what, env=None, deadline=None):
    """Run a command; on failure or timeout, fail with its output."""
    args = [str(a) for a in args]
    if deadline is not None:
        left = deadline - time.monotonic()
        if left < 5:
            pytest.fail(f"{what}: no time left in this module's {MODULE_BUDGET_SECONDS} s budget")
        timeout = min(timeout, left)
    # A session of its own, so a timeout ends pip's build backend and the compilers too.
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(
            f"{what}: timed out after {timeout:.0f} s\n$ {' '.join(args)}\n(cwd {cwd})\n"
            f"--- stdout ---\n{_tail(stdout)}\n--- stderr ---\n{_tail(stderr)}",
            pytrace=False,
        )
    if proc.returncode != 0:
        pytest.fail(
            f"{what}: exit status {proc.returncode}\n$ {' '.join(args)}\n(cwd {cwd})\n"
            f"--- stdout ---\n{_tail(stdout)}\n--- stderr ---\n{_tail(stderr)}",
            pytrace=False,
        )
    return subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)


def _has_build_frontend(cwd):
    # Checked in a neutral directory: a stray ``build/`` folder in the current directory
    # would otherwise pass for the package.
    try:
        probe = subprocess.run([sys.executable, "-m", "build", "--version"], cwd=cwd,
                               capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return False
    return probe.returncode == 0


def _build_sdist(source, outdir, deadline):
    if _has_build_frontend(outdir):
        cmd = [sys.executable, "-m", "build", "--sdist", "--outdir", outdir, source]
    else:
        cmd = [sys.executable, "setup.py", "-q", "sdist", "--dist-dir", outdir]
    env = {k: v for k, v in os.environ.items() if k not in LEAKY_ENV}
    run(cmd, cwd=source, timeout=300, what="building the sdist", env=env, deadline=deadline)
    sdists = sorted(outdir.glob("*.tar.gz"))
    assert len(sdists) == 1, f"expected one sdist in {outdir}, found {sdists}"
    return sdists[0]


def _sdist_members(sdist):
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
    top = {name.split("/", 1)[0] for name in names}
    assert len(top) == 1, f"the sdist should have one top-level directory, has {sorted(top)}"
    return {name.split("/", 1)[1] for name in names if "/" in name}


def _expected_in_sdist(source):
    expected = set(SHIPPED_FILES)
    for folder in SHIPPED_DIRS:
        if (source / folder).is_dir():
            expected.update(str(p.relative_to(source)) for p in (source / folder).rglob("*")
                            if p.is_file())
    return frozenset(expected)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    deadline = time.monotonic() + MODULE_BUDGET_SECONDS
    root = tmp_path_factory.mktemp("packaging")
    # Built from a copy so the sdist build (which cythonizes and writes egg-info) never
    # touches the working tree; uncommitted files are part of the copy, as they should be.
    source = root / "source"
    shutil.copytree(REPO, source, ignore=NOT_SOURCES)
    shipped = _expected_in_sdist(source)
    dist = root / "dist"
    dist.mkdir()
    sdist = _build_sdist(source, dist, deadline)

    venv = root / "venv"
    run([sys.executable, "-m", "venv", venv], cwd=root, timeout=180,
        what="creating a virtual environment", deadline=deadline)
    box = Sandbox(root=root, venv=venv, python=venv / "bin" / "python", source=source,
                  shipped=shipped, sdist=sdist, deadline=deadline)
    # Normal build isolation: pip fetches setuptools, Cython and numpy itself, so a build
    # requirement missing from pyproject.toml fails here.  No cache, so the sdist is built.
    box.pip("install", "--no-cache-dir", sdist, timeout=420,
            what="pip install of the sdist into a fresh venv")
    return box


SMOKE_SCRIPT = r"""
import json
import sys
import sysconfig
from pathlib import Path

import numpy as np

import fastbatch as fb

package = Path(fb.__file__).resolve().parent
p = fb.permutation(100_000, rng=0)
X = np.arange(10 * 3, dtype=np.float32).reshape(10, 3)
y = np.arange(10, dtype=np.int64)
loader = fb.BatchLoader(X, y, batch_size=3, shuffle=True, rng=0)
batches = list(loader)
seen_y = np.concatenate([b[1] for b in batches])
seen_X = np.concatenate([b[0] for b in batches])
report = {
    "file": str(Path(fb.__file__).resolve()),
    "prefix": str(Path(sys.prefix).resolve()),
    "platlib": str(Path(sysconfig.get_paths()["platlib"]).resolve()),
    "version": fb.__version__,
    "package_files": sorted(str(f.relative_to(package)) for f in package.rglob("*")
                            if "__pycache__" not in f.parts),
    "pxd": {str(f.relative_to(package)): f.read_text() for f in package.rglob("*.pxd")},
    "permutation_is_permutation": bool(np.array_equal(np.sort(p), np.arange(100_000))),
    "permutation_is_reproducible": bool(np.array_equal(p, fb.permutation(100_000, rng=0))),
    "permutation_is_shuffled": bool(not np.array_equal(p, np.arange(100_000))),
    "num_batches": len(loader),
    "batch_sizes": [len(b[1]) for b in batches],
    "every_sample_once": sorted(seen_y.tolist()) == list(range(10)),
    "rows_stay_aligned": bool(np.array_equal(seen_X, X[seen_y])),
    "epoch": loader.epoch,
    "step": loader.step,
}
with open(sys.argv[1], "w") as f:
    json.dump(report, f)
"""


def test_sdist_installs_into_a_fresh_venv(sandbox):
    source = sandbox.source
    members = _sdist_members(sandbox.sdist)
    missing = sorted(sandbox.shipped - members)
    assert not missing, f"files missing from {sandbox.sdist.name} (see MANIFEST.in): {missing}"
    for required in ("PKG-INFO", "fastbatch/__init__.pxd", "fastbatch/_kernels/shuffle.pyx",
                     "fastbatch/_kernels/shuffle.pxd", "fastbatch/_kernels/take.pxd",
                     "fastbatch/_kernels/status.pxd", "fastbatch/_kernels/__init__.pxd",
                     "fastbatch/_kernels/src/parallel.h", "tests/conftest.py"):
        assert required in members, f"{required} missing from {sandbox.sdist.name}"
    built = sorted(m for m in members
                   if m.endswith((".so", ".pyd", ".pyc")) or "__pycache__" in m
                   or (m.startswith("fastbatch/") and m.endswith(".c")))
    assert not built, f"build products in {sandbox.sdist.name}: {built}"

    report_path = sandbox.root / "smoke.json"
    sandbox.python_script(SMOKE_SCRIPT, report_path, what="import fastbatch in the fresh venv")
    report = json.loads(report_path.read_text())

    venv = str(sandbox.venv.resolve())
    assert report["prefix"] == venv, f"not the fresh venv's python: {report['prefix']}"
    assert report["file"] == str(Path(report["platlib"]) / "fastbatch" / "__init__.py"), (
        f"fastbatch imported from {report['file']}, not from the venv's site-packages "
        f"{report['platlib']}")
    assert report["file"].startswith(venv + os.sep)
    version = {}
    exec((source / "fastbatch" / "_version.py").read_text(), version)
    assert report["version"] == version["__version__"]

    # The C-API ships next to the extension modules, byte for byte the source's .pxd files.
    source_pxd = {str(p.relative_to(source / "fastbatch")): p.read_text()
                  for p in (source / "fastbatch").rglob("*.pxd")}
    assert "__init__.pxd" in source_pxd
    assert report["pxd"] == source_pxd, (
        f"installed .pxd files {sorted(report['pxd'])} differ from the source's "
        f"{sorted(source_pxd)}")
    assert "py.typed" in report["package_files"]
    for module in ("_kernels/shuffle", "_kernels/take", "_kernels/threads",
                   "_kernels/bijection", "_bench/_limits", "sources/_source", "sources/_table",
                   "sources/_parquet", "loader/_progress", "loader/_read_ahead", "loader/_iterator",
                   "linear_model/_linreg"):
        extensions = [f for f in report["package_files"] if f.startswith(f"{module}.") and
                      f.endswith(".so")]
        assert extensions, f"no compiled {module} module installed: {report['package_files']}"

    assert report["permutation_is_permutation"]
    assert report["permutation_is_reproducible"]
    assert report["permutation_is_shuffled"]
    assert report["num_batches"] == 4
    assert report["batch_sizes"] == [3, 3, 3, 1]
    assert report["every_sample_once"]
    assert report["rows_stay_aligned"]
    assert (report["epoch"], report["step"]) == (1, 4)

    script = sandbox.venv / "bin" / "fastbatch"
    assert script.exists(), "the console script `fastbatch` was not installed"
    result = sandbox.run(script, "--version", cwd=sandbox.root, timeout=60,
                         what="the fastbatch console script")
    assert version["__version__"] in result.stdout + result.stderr
    # The benchmark report runs from the installed (non-editable) package: it uses only
    # public names and ships in fastbatch._bench.
    result = sandbox.run(script, "bench", "--quick", "--only", "permutation-1e6",
                         cwd=sandbox.root, timeout=300, what="fastbatch bench --quick")
    assert "permutation n=" in result.stdout, result.stdout + result.stderr


# Both sides of the Fisher-Yates / bucket-shuffle boundary (65536).
CONSUMER_SIZES = (0, 1, 1000, 200_000)
CONSUMER_SEED = 42
CONSUMER_SCRIPT = r"""
import sys
from pathlib import Path

import numpy as np

import fastbatch as fb
import fb_consumer
from fastbatch._kernels.shuffle import _bounded_py
from fastbatch.shuffling import bijection_key

out, seed, sizes = sys.argv[1], int(sys.argv[2]), [int(a) for a in sys.argv[3:]]
n_large = max(sizes)
results = {
    "consumer_file": np.array(str(Path(fb_consumer.__file__).resolve())),
    "fastbatch_file": np.array(str(Path(fb.__file__).resolve())),
}
for n in sizes:
    results[f"perm_{n}"] = fb_consumer.permutation(np.random.PCG64(seed), n)
    results[f"perm_{n}_again"] = fb_consumer.permutation(np.random.PCG64(seed), n)
    results[f"fb_perm_{n}"] = fb.permutation(n, rng=seed)
    results[f"perm32_{n}"] = fb_consumer.permutation_int32(np.random.PCG64(seed), n)
results["perm_other_seed"] = fb_consumer.permutation(np.random.PCG64(seed + 1), n_large)
results["perm_from_generator"] = fb_consumer.permutation(
    np.random.default_rng(seed).bit_generator, n_large)

X = np.random.default_rng(1).standard_normal((5000, 7))
results["X"] = X
results["shuffled_perm"], results["shuffled_rows"] = fb_consumer.shuffled_rows(
    np.random.PCG64(seed), X)
results["fb_perm_X"] = fb.permutation(len(X), rng=seed)
idx = np.random.default_rng(2).integers(0, len(X), size=1000)
results["idx"] = idx
results["strided_rows"] = fb_consumer.take_strided(X[:, ::2], idx)
results["scattered_rows"] = fb_consumer.take_scatter(X, np.sort(idx), np.argsort(idx))

results["bounded"] = fb_consumer.bounded(np.random.PCG64(seed), 10, 100_000)
results["fb_bounded"] = _bounded_py(np.random.PCG64(seed), 10, 100_000)

key0, key1 = bijection_key(seed, 0)
positions = np.arange(1000, dtype=np.int64)
results["bijection"] = fb_consumer.index_shuffle(positions, 1000, int(key0), int(key1))
results["bijection_inverse"] = fb_consumer.index_shuffle(results["bijection"], 1000,
                                                         int(key0), int(key1), True)
results["fb_bijection"] = fb.index_shuffle(positions, 1000, seed)
loss, gradient, moments = fb_consumer.linreg_edge_cases()
results["linreg_no_features_loss"] = np.array(loss)
results["linreg_no_features_gradient"] = np.array(gradient)
results["moments_without_scale"] = np.array(moments)
np.savez(out, **results)
"""


def build_and_run_consumer(box, what):
    """Build tests/consumer in ``box`` against its fastbatch and return its results."""
    # What a downstream package has at build time: fastbatch installed, plus its own
    # build requirements; no build isolation, so Cython sees the installed fastbatch.
    box.pip("install", "--no-cache-dir", "setuptools>=77", "Cython>=3.1", "numpy>=2",
            timeout=300, what="installing the consumer's build requirements")
    consumer = box.root / "consumer"
    shutil.copytree(CONSUMER, consumer, ignore=NOT_SOURCES)
    box.pip("install", "--no-build-isolation", "--use-pep517", "--no-cache-dir", consumer,
            timeout=300, what=f"building tests/consumer against {what}")

    results_path = box.root / "consumer.npz"
    box.python_script(CONSUMER_SCRIPT, results_path, CONSUMER_SEED, *CONSUMER_SIZES,
                      what="running tests/consumer")
    with np.load(results_path) as data:
        r = {key: data[key] for key in data.files}
    assert str(r["consumer_file"]).startswith(str(box.venv.resolve()) + os.sep), (
        f"fb_consumer imported from {r['consumer_file']}, not from the venv")
    return r


def check_consumer_results(r):
    n_large = max(CONSUMER_SIZES)
    for n in CONSUMER_SIZES:
        perm = r[f"perm_{n}"]
        assert perm.dtype == np.int64 and perm.shape == (n,)
        np.testing.assert_array_equal(np.sort(perm), np.arange(n),
                                      err_msg=f"consumer permutation of {n} is not one")
        np.testing.assert_array_equal(perm, r[f"perm_{n}_again"],
                                      err_msg=f"same seed, different permutation (n={n})")
        np.testing.assert_array_equal(
            perm, r[f"fb_perm_{n}"],
            err_msg=f"consumer and fastbatch.permutation disagree for the same seed (n={n})")
        assert r[f"perm32_{n}"].dtype == np.int32
        np.testing.assert_array_equal(r[f"perm32_{n}"], perm,
                                      err_msg=f"int32 and int64 kernels disagree (n={n})")
    assert not np.array_equal(r[f"perm_{n_large}"], r["perm_other_seed"])
    np.testing.assert_array_equal(r["perm_from_generator"], r[f"perm_{n_large}"])

    np.testing.assert_array_equal(np.sort(r["shuffled_perm"]), np.arange(len(r["X"])))
    np.testing.assert_array_equal(r["shuffled_perm"], r["fb_perm_X"])
    np.testing.assert_array_equal(r["shuffled_rows"], r["X"][r["shuffled_perm"]],
                                  err_msg="fb_take_rows did not gather X[perm]")
    np.testing.assert_array_equal(r["strided_rows"], r["X"][:, ::2][r["idx"]],
                                  err_msg="fb_take_rows_strided did not gather X[:, ::2][idx]")
    np.testing.assert_array_equal(r["scattered_rows"], r["X"][r["idx"]],
                                  err_msg="fb_take_rows_scatter did not gather X[idx]")

    assert r["bounded"].min() >= 0 and r["bounded"].max() <= 9
    assert set(np.unique(r["bounded"]).tolist()) == set(range(10))
    np.testing.assert_array_equal(r["bounded"], r["fb_bounded"])

    np.testing.assert_array_equal(r["bijection"], r["fb_bijection"])
    np.testing.assert_array_equal(r["bijection_inverse"], np.arange(1000))

    # No features: residuals 0.5 - y for y = 1, 2, 3 (statuses first).
    np.testing.assert_allclose(r["linreg_no_features_loss"], [0, 8.75, 3])
    np.testing.assert_allclose(r["linreg_no_features_gradient"], [0, -4.5, 8.75, 3])
    rows = np.array([[0.0, 1.0], [4.0, 9.0], [16.0, 25.0]])
    np.testing.assert_allclose(
        r["moments_without_scale"],
        [0, *rows.mean(axis=0), *(rows.var(axis=0) * 3), 3], rtol=1e-12)


def test_cimport_consumer_builds_and_runs(sandbox):
    r = build_and_run_consumer(sandbox, "the installed fastbatch")
    assert str(r["fastbatch_file"]).startswith(str(sandbox.venv.resolve()) + os.sep)
    check_consumer_results(r)


@pytest.fixture(scope="module")
def editable(tmp_path_factory):
    """A fresh venv with a copy of the working tree installed by ``pip install -e``."""
    deadline = time.monotonic() + MODULE_BUDGET_SECONDS
    root = tmp_path_factory.mktemp("editable")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=NOT_SOURCES)
    venv = root / "venv"
    run([sys.executable, "-m", "venv", venv], cwd=root, timeout=180,
        what="creating a virtual environment", deadline=deadline)
    box = Sandbox(root=root, venv=venv, python=venv / "bin" / "python", source=source,
                  shipped=frozenset(), sdist=None, deadline=deadline)
    box.pip("install", "setuptools>=77", "Cython>=3.1", "numpy>=2", timeout=300,
            what="installing fastbatch's build requirements")
    box.pip("install", "--no-build-isolation", "--no-cache-dir", "-e", source, timeout=420,
            what="pip install -e of a copy of the working tree")
    return box


def test_cimport_consumer_builds_against_an_editable_install(editable):
    # The .pxd files stay in the source tree, which Cython does not search by itself:
    # the consumer's setup.py finds them through fastbatch.get_include().
    r = build_and_run_consumer(editable, "an editable fastbatch")
    assert str(r["fastbatch_file"]) == str(editable.source.resolve() / "fastbatch" /
                                           "__init__.py"), (
        f"fastbatch imported from {r['fastbatch_file']}, not from the editable source")
    check_consumer_results(r)
