"""fastbatch: Cython-accelerated mini-batches for NumPy arrays.

Fast, exactly uniform shuffling (:func:`permutation`), row gathers (:func:`take`),
aligned zero-copy batches (:class:`BatchLoader`, :func:`iter_batches`) and the fused
mini-batch SGD update for linear regression (:class:`MiniBatchSGDRegressor`).
"""

from fastbatch._version import __version__
from fastbatch._arrow import RaggedBatch
from fastbatch.gather import take
from fastbatch.linear_model import (
    MiniBatchSGDRegressor, NotFittedError, TrainingDivergedError, linreg_gradient,
    linreg_sgd_epoch,
)
from fastbatch.loader import BatchLoader, iter_batches, num_batches
from fastbatch.shuffling import permutation

__all__ = [
    "BatchLoader",
    "MiniBatchSGDRegressor",
    "NotFittedError",
    "RaggedBatch",
    "TrainingDivergedError",
    "__version__",
    "iter_batches",
    "linreg_gradient",
    "linreg_sgd_epoch",
    "num_batches",
    "permutation",
    "take",
]
