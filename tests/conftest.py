import os
import sys
from pathlib import Path

import numpy as np
import pytest

# The shared test helpers (references, statistics, worker scripts) are plain modules in
# tests/helpers: every room's tests import them by name.
sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="run tests marked slow (always on when CI=true)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow") or os.environ.get("CI", "").lower() in ("1", "true"):
        return
    skip_slow = pytest.mark.skip(reason="slow: run with --run-slow or CI=true")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def float_dtype(request):
    return request.param
