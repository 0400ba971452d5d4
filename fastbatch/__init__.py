"""fastbatch: Cython-accelerated mini-batches for NumPy arrays.

Fast, exactly uniform shuffling (:func:`permutation`), row gathers (:func:`take`),
aligned zero-copy batches (:class:`BatchLoader`, :func:`iter_batches`) of arrays, tables
and files read in place (:func:`open_files`), and the fused
mini-batch SGD update for linear regression (:class:`MiniBatchSGDRegressor`).
"""

import os

from fastbatch._kernels.threads import get_num_threads, set_num_threads
from fastbatch._version import __version__
from fastbatch.sources.arrow import RaggedBatch
from fastbatch.sources.files import FileSource, open_files
from fastbatch.gather import take
from fastbatch.linear_model import (
    MiniBatchSGDRegressor, NotFittedError, TrainingDivergedError, linreg_gradient,
    linreg_sgd_epoch,
)
from fastbatch.loader import BatchLoader, iter_batches, num_batches
from fastbatch.shuffling import index_shuffle, index_unshuffle, permutation

__all__ = [
    "BatchLoader",
    "FileSource",
    "MiniBatchSGDRegressor",
    "NotFittedError",
    "RaggedBatch",
    "TrainingDivergedError",
    "__version__",
    "get_include",
    "get_num_threads",
    "index_shuffle",
    "index_unshuffle",
    "iter_batches",
    "linreg_gradient",
    "linreg_sgd_epoch",
    "num_batches",
    "open_files",
    "permutation",
    "set_num_threads",
    "take",
]


def get_include():
    """Return the directory a Cython build must search to ``cimport`` fastbatch's C-API.

    It is the folder that contains the ``fastbatch`` package (with its ``__init__.pxd``).
    A regular install puts it in site-packages, where Cython looks anyway; an editable
    install (``pip install -e``) leaves it in the source tree, which only this path
    reaches.  Pass it to Cython's include path (and list fastbatch among the build
    requirements); see ``fastbatch/__init__.pxd`` for the functions it offers.

    Returns
    -------
    str
        An absolute directory path.

    Examples
    --------
    >>> import os, fastbatch as fb
    >>> os.path.isfile(os.path.join(fb.get_include(), "fastbatch", "__init__.pxd"))
    True

    In a downstream ``setup.py``::

        cythonize(extensions, include_path=[fastbatch.get_include()])
    """
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
