"""Properties of the compiled build itself."""

import importlib

import numpy as np
import pytest


@pytest.mark.parametrize("module", ["_kernels.shuffle", "_kernels.take", "loader._iterator",
                                    "linear_model._linreg", "_kernels.threads",
                                    "_bench._limits", "_kernels.bijection",
                                    "sources._source", "sources._table",
                                    "sources._parquet", "loader._progress",
                                    "loader._read_ahead"])
def test_importing_the_extensions_keeps_subnormal_arithmetic(module):
    # An extension built with -ffast-math sets flush-to-zero / denormals-are-zero for the
    # whole process when it loads; every later float computation would silently change.
    importlib.import_module(f"fastbatch.{module}")
    tiny = np.array([np.finfo(np.float64).smallest_normal])
    assert (tiny / 2)[0] > 0
    assert (np.array([np.finfo(np.float64).smallest_subnormal]) * 1.0)[0] > 0


def test_fused_kernel_keeps_subnormal_parameters():
    # A fit whose parameters pass through the subnormal range keeps them (no flush).
    import fastbatch as fb
    X = np.ones((4, 1))
    y = np.full(4, 1e-310)
    coef = np.zeros(1)
    fb.linreg_sgd_epoch(X, y, coef, 0.0, batch_size=4, learning_rate=0.5)
    assert coef[0] != 0.0 and abs(coef[0]) < np.finfo(np.float64).smallest_normal
