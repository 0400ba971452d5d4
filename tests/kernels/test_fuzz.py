"""A short coverage-guided fuzzing run of the C entry points (fuzz/fuzz_kernels.py).

Slow (a minute of fuzzing), so it runs in CI and with --run-slow; needs atheris (the
``fuzz`` extra).  Any crash or disagreement with the NumPy reference fails it, with the
reproducing input in the output.  The inputs of past findings (``fuzz/regressions``)
start the corpus, so each run replays them first.
"""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TARGET = Path(__file__).resolve().parents[2] / "fuzz" / "fuzz_kernels.py"
REGRESSIONS = TARGET.parent / "regressions"
SECONDS = 60


@pytest.mark.slow
def test_fuzzing_the_kernels_finds_nothing(tmp_path):
    pytest.importorskip("atheris")
    corpus = tmp_path / "corpus"
    shutil.copytree(REGRESSIONS, corpus)
    run = subprocess.run(
        [sys.executable, str(TARGET), f"-max_total_time={SECONDS}", "-rss_limit_mb=4096",
         f"-artifact_prefix={tmp_path}/", str(corpus)],
        capture_output=True, text=True, timeout=SECONDS * 5, cwd=tmp_path)
    tail = "\n".join(run.stderr.splitlines()[-30:])
    assert run.returncode == 0, tail
    assert "Done" in run.stderr, tail
