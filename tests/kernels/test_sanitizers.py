"""The test suite under AddressSanitizer + UndefinedBehaviorSanitizer (`make sanitize`).

Slow (it rebuilds every extension with both sanitizers), so it runs in CI and with
--run-slow.  Inside the sanitized run itself it has nothing to do.
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_suite_passes_under_address_and_undefined_behaviour_sanitizers():
    if os.environ.get("FASTBATCH_SANITIZED"):
        pytest.skip("already running under the sanitizers")
    if shutil.which("make") is None or shutil.which("gcc") is None:
        pytest.fail("make sanitize needs make and gcc")
    run = subprocess.run(["make", "-C", str(ROOT), "sanitize"], capture_output=True,
                         text=True, timeout=1800)
    tail = "\n".join((run.stdout + run.stderr).splitlines()[-40:])
    assert run.returncode == 0, tail
    assert "AddressSanitizer" not in run.stderr and "runtime error" not in run.stderr, tail
