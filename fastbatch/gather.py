"""Row gathers along axis 0: ``take(array, indices) == array[indices]``."""

import numpy as np

from fastbatch._validation import as_sample_array
from fastbatch._kernels.take import take_into


def _as_indices(indices, n):
    idx = np.asarray(indices)
    if idx.dtype.kind == "b":
        raise TypeError(
            "indices must be integers, got a boolean array; use np.flatnonzero(mask) "
            "to turn a mask into indices"
        )
    if idx.dtype.kind not in "iu" and not (idx.size == 0 and idx.dtype.kind == "f"):
        raise TypeError(f"indices must be integers, got dtype {idx.dtype}")
    if idx.dtype.kind == "u" and idx.size and idx.max() > np.iinfo(np.int64).max:
        raise IndexError(f"index {idx.max()} is out of bounds for axis 0 with size {n}")
    flat = np.ascontiguousarray(idx.reshape(-1), dtype=np.int64)
    if flat.size:
        low, high = int(flat.min()), int(flat.max())
        if high >= n or low < -n:
            bad = high if high >= n else low
            raise IndexError(f"index {bad} is out of bounds for axis 0 with size {n}")
        if low < 0:
            # Negative indices count from the end, as in array[indices]; np.where makes a
            # new array, so the caller's index array is never modified.
            flat = np.where(flat < 0, flat + n, flat)
    return idx.shape, flat


def take(array, indices, out=None):
    """Gather rows: the same result as ``array[indices]`` along axis 0, faster.

    One pass copies each selected row with a ``memcpy``-class move, prefetching the rows a
    few positions ahead (random rows are cache misses).  Rows that are not contiguous
    (e.g. ``X[:, ::2]``) take a strided path; layouts that no single stride describes fall
    back to ``numpy.take``.  Ctrl-C interrupts a huge gather within a fraction of a second
    (``out`` is then partly written).

    Parameters
    ----------
    array : array_like, at least 1-d
        Source; any numeric dtype and trailing shape.
    indices : array_like of int
        Row numbers (negative values count from the end, as in NumPy); any shape.
    out : ndarray, optional
        Destination of shape ``indices.shape + array.shape[1:]``, same dtype,
        C-contiguous and writeable, not overlapping ``array``.  Reusing one buffer avoids
        an allocation per call.  It may overlap ``indices`` (they are copied first).

    Returns
    -------
    ndarray
        ``out`` if given, otherwise a new array.

    Examples
    --------
    >>> import numpy as np, fastbatch as fb
    >>> X = np.arange(12).reshape(6, 2)
    >>> fb.take(X, [4, 0])
    array([[8, 9],
           [0, 1]])
    """
    array = as_sample_array(array, "array")
    shape, flat = _as_indices(indices, array.shape[0])
    result_shape = shape + array.shape[1:]
    if out is None:
        out = np.empty(result_shape, dtype=array.dtype)
    else:
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
        if out.shape != result_shape:
            raise ValueError(f"out has shape {out.shape}, expected {result_shape}")
        if out.dtype != array.dtype:
            raise TypeError(f"out has dtype {out.dtype}, expected {array.dtype} (array's)")
        if not out.flags.c_contiguous or not out.flags.writeable:
            raise ValueError("out must be C-contiguous and writeable")
        if np.shares_memory(out, array):
            raise ValueError("out must not overlap array")
        if np.may_share_memory(out, flat):
            # The kernel reads indices while it writes rows: like np.take, gather from a
            # copy of indices that out overlaps.
            flat = flat.copy()
    take_into(array, flat, out.reshape((flat.size,) + array.shape[1:]))
    return out
