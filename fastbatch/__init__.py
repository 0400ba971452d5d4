"""fastbatch: Cython-accelerated mini-batches for NumPy arrays.

Fast, exactly uniform shuffling (:func:`permutation`), row gathers (:func:`take`),
aligned zero-copy batches (:class:`BatchLoader`, :func:`iter_batches`) and the fused
mini-batch SGD update for linear regression (:class:`MiniBatchSGDRegressor`).
"""

from fastbatch._threads import get_num_threads, set_num_threads
from fastbatch._version import __version__
from fastbatch.gather import take
from fastbatch.linear_model import (
    MiniBatchSGDRegressor, NotFittedError, TrainingDivergedError, linreg_gradient,
    linreg_sgd_epoch,
)
from fastbatch.loader import BatchLoader, iter_batches, num_batches
from fastbatch.shuffling import index_shuffle, index_unshuffle, permutation

__all__ = [
    "BatchLoader",
    "MiniBatchSGDRegressor",
    "NotFittedError",
    "TrainingDivergedError",
    "__version__",
    "get_num_threads",
    "index_shuffle",
    "index_unshuffle",
    "iter_batches",
    "linreg_gradient",
    "linreg_sgd_epoch",
    "num_batches",
    "permutation",
    "set_num_threads",
    "take",
]
