"""Permutations of ``range(n)``: exactly uniform ones drawn with fastbatch's kernels
(:func:`permutation`), and a keyed bijection computed index by index in O(1) memory
(:func:`index_shuffle`, :func:`index_unshuffle`)."""

import sys

import numpy as np

from fastbatch._kernels.bijection import apply_into
from fastbatch._kernels.shuffle import permutation_into
from fastbatch._kernels.threads import get_num_threads
from fastbatch._rng import FIELD_LIMIT, epoch_key
from fastbatch._validation import bit_generator_of, check_int, shown

INT32_LIMIT = 2**31
# The largest n of the keyed bijection: its values are int64.
BIJECTION_MAX_N = 2**63 - 1
# The largest epoch a key encodes (two 32-bit words).
EPOCH_MAX = FIELD_LIMIT - 1


def permutation(n, rng=None, *, dtype=np.int64):
    """Return a uniform random permutation of ``range(n)``.

    Every one of the ``n!`` orders is equally likely.  Up to 65536 elements the kernel is
    Fisher-Yates; above, a two-pass bucket shuffle whose random accesses stay in cache,
    exactly uniform as well (the proof is in ``fastbatch/_kernels/shuffle.pyx``).  Random numbers
    come from the bit generator of ``rng``, drawn under its lock with the GIL released.
    Ctrl-C interrupts a long call within a fraction of a second (KeyboardInterrupt).

    Parameters
    ----------
    n : int
        Number of elements, ``n >= 0``; ``n`` indices must fit in one array on this
        platform (ValueError otherwise) and in memory (MemoryError).
    rng : None, int, numpy.random.Generator or numpy.random.BitGenerator, optional
        Source of randomness, following NumPy's convention: ``None`` draws fresh entropy
        from the OS, an int seeds a new ``PCG64``, a Generator or BitGenerator is used
        (and advanced) as is.
    dtype : {numpy.int64, numpy.int32}, optional
        Index type of the result.  ``int32`` halves the memory traffic; it needs
        ``n <= 2**31``.

    Returns
    -------
    ndarray of shape (n,)
        The permutation.

    Examples
    --------
    >>> import fastbatch as fb
    >>> p = fb.permutation(10, rng=0)
    >>> sorted(p.tolist()) == list(range(10))
    True
    >>> fb.permutation(5, rng=0, dtype="int32").dtype
    dtype('int32')
    """
    n = check_int(n, "n", minimum=0)
    try:
        dtype = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be numpy.int64 or numpy.int32, got {dtype!r}") from exc
    if dtype not in (np.dtype(np.int64), np.dtype(np.int32)):
        raise TypeError(f"dtype must be numpy.int64 or numpy.int32, got {dtype}")
    if dtype == np.int32 and n > INT32_LIMIT:
        raise ValueError(f"n={n} does not fit dtype int32 (at most {INT32_LIMIT}); use int64")
    if n * dtype.itemsize > sys.maxsize:
        raise ValueError(
            f"n={n} is too large: {n} {dtype} indices need {n * dtype.itemsize} bytes, "
            f"more than the largest array this platform allows ({sys.maxsize} bytes)"
        )
    bit_generator = bit_generator_of(rng)
    try:
        out = np.empty(n, dtype=dtype)
        permutation_into(bit_generator, out)
    except MemoryError as exc:
        raise MemoryError(
            f"n={n}: not enough memory for a permutation of {n} {dtype} indices "
            f"({n * dtype.itemsize} bytes for the result, and temporary buffers while shuffling)"
        ) from exc
    return out


def bijection_key(seed, epoch=0):
    """The 128-bit key of the keyed bijection for ``(seed, epoch)``, as two uint64 ints.

    A pure function of ``(seed, epoch)``, derived like every per-epoch key by
    ``fastbatch._rng.epoch_key("bijective", seed, epoch)`` (a fixed-width encoding of the
    method, seed and epoch fed to ``numpy.random.SeedSequence``), so every process derives
    it without talking.  Seeds and epochs that differ in any bit give unrelated keys.
    Arguments are trusted: callers validate them (see :func:`index_shuffle`).
    """
    return epoch_key("bijective", seed, epoch)


def _check_bijection_args(n, seed, epoch):
    n = check_int(n, "n", minimum=1)
    if n > BIJECTION_MAX_N:
        raise ValueError(f"n must be <= 2**63 - 1 = {BIJECTION_MAX_N}, got {n}")
    seed = check_int(seed, "seed", minimum=0)
    epoch = check_int(epoch, "epoch", minimum=0, maximum=EPOCH_MAX)
    return n, seed, epoch


def _as_index_array(values, name):
    if isinstance(values, (bool, np.bool_)):
        raise TypeError(f"{name} must be integers, got the bool {shown(values)}")
    try:
        array = np.asarray(values)
    except (TypeError, ValueError, OverflowError) as exc:
        raise TypeError(f"{name} could not be converted to an integer array: {exc}") from exc
    if array.dtype.kind not in "iu":
        raise TypeError(
            f"{name} must be integers (any integer dtype), got dtype {array.dtype}"
        )
    return array


def _apply_bijection(values, n, seed, epoch, name, inverse):
    n, seed, epoch = _check_bijection_args(n, seed, epoch)
    array = _as_index_array(values, name)
    # uint64 values above 2**63 - 1 wrap to negative int64 and are reported as out of
    # range below, with their original value.
    src = np.ascontiguousarray(array.astype(np.int64, copy=False)).reshape(-1)
    out = np.empty(src.shape, dtype=np.int64)
    key0, key1 = bijection_key(seed, epoch)
    if not apply_into(src, out, n, key0, key1, inverse, get_num_threads()):
        first = int(np.flatnonzero((src < 0) | (src >= n))[0])
        where = np.unravel_index(first, array.shape)
        label = f"{name}[{', '.join(map(str, where))}]" if array.ndim else name
        raise ValueError(f"{name} must lie in [0, n) = [0, {n}); {label} is {array[where]}")
    out = out.reshape(array.shape)
    return out[()] if array.ndim == 0 else out


def index_shuffle(positions, n, seed, *, epoch=0):
    """Values at ``positions`` of a keyed pseudo-random permutation of ``range(n)``.

    ``index_shuffle(np.arange(n), n, seed)`` is a whole shuffled order, but any positions
    can be asked for, in any order, at O(1) memory and no setup: position ``i`` of the
    order is computed from ``i``, ``n`` and the key alone.  The permutation is a keyed
    bijection (an alternating Feistel network over the next bit width with cycle walking,
    see ``fastbatch/_kernels/src/bijection.h``), vectorised and run on all of
    :func:`fastbatch.get_num_threads`'s threads for large inputs; results do not depend on
    the thread count.  Ctrl-C interrupts a long call.

    It is **not** an exactly uniform permutation: a key of 128 bits cannot choose among all
    ``n!`` orders, and a construction this cheap does not sample any subset of them
    uniformly either (for ``n`` a power of two >= 16 it is always an even permutation).
    What it does promise is tested statistically: each position's value is uniform across
    seeds, adjacent values are independent, fixed points are Poisson(1), the number of
    cycles matches a uniform permutation's, and different seeds or epochs are unrelated.

    Use :func:`permutation` (exact) when the order fits in memory (``8 n`` bytes) or when a
    statistic depends on exact uniformity (permutation tests, exact resampling).  Use
    ``index_shuffle`` when ``n`` is too large to hold an index array (``n = 1e9`` needs
    8 GB per epoch and per process), when only some positions are needed, or to resume
    from a position without regenerating the order.

    Parameters
    ----------
    positions : int or array_like of int
        Positions in ``[0, n)``, any integer dtype and shape.
    n : int
        Length of the permutation, ``1 <= n <= 2**63 - 1``.
    seed : int
        Non-negative seed of any size.  With ``epoch``, it is expanded into a 128-bit key
        by ``numpy.random.SeedSequence`` over a fixed-width encoding of ``(seed, epoch)``
        (``fastbatch._rng.key_entropy``); seeds 0 and 1 give unrelated permutations, and
        so do any two different ``(seed, epoch)`` pairs.
    epoch : int, optional
        Epoch number in ``[0, 2**64 - 1]``: each epoch of a seed is a different
        permutation, a pure function of ``(seed, epoch)``.

    Returns
    -------
    numpy.ndarray of int64, same shape as ``positions`` (a numpy.int64 for an int)
        ``values[i]`` is the value at position ``positions[i]``.

    Raises
    ------
    TypeError
        If ``positions`` is not integer (floats and bools included), or ``n``, ``seed``
        or ``epoch`` is not an int.
    ValueError
        If a position is outside ``[0, n)``, ``n`` is outside ``[1, 2**63 - 1]``,
        ``seed`` is negative or ``epoch`` is outside ``[0, 2**64 - 1]``.  No result is returned.

    See Also
    --------
    index_unshuffle : the inverse.
    permutation : an exactly uniform permutation, materialised.

    Examples
    --------
    >>> import numpy as np
    >>> import fastbatch as fb
    >>> order = fb.index_shuffle(np.arange(10), 10, seed=0)
    >>> sorted(order.tolist()) == list(range(10))
    True
    >>> int(fb.index_shuffle(3, 10, seed=0)) == int(order[3])
    True
    >>> fb.index_shuffle([5, 2**40], 2**60, seed=7, epoch=1).dtype
    dtype('int64')
    """
    return _apply_bijection(positions, n, seed, epoch, "positions", inverse=False)


def index_unshuffle(values, n, seed, *, epoch=0):
    """Positions of ``values`` in the keyed permutation of :func:`index_shuffle`.

    ``index_unshuffle(index_shuffle(p, n, s), n, s) == p`` for every position ``p``, with
    the same cost (the network runs backwards).

    Parameters
    ----------
    values : int or array_like of int
        Values in ``[0, n)``, any integer dtype and shape.
    n : int
        Length of the permutation, ``1 <= n <= 2**63 - 1``.
    seed : int
        Non-negative seed, as for :func:`index_shuffle`.
    epoch : int, optional
        Non-negative epoch number, as for :func:`index_shuffle`.

    Returns
    -------
    numpy.ndarray of int64, same shape as ``values`` (a numpy.int64 for an int)
        The position of each value.

    Raises
    ------
    TypeError, ValueError
        As :func:`index_shuffle`, naming ``values``.

    Examples
    --------
    >>> import numpy as np
    >>> import fastbatch as fb
    >>> p = np.array([0, 17, 999_999])
    >>> v = fb.index_shuffle(p, 10**6, seed=3)
    >>> fb.index_unshuffle(v, 10**6, seed=3).tolist()
    [0, 17, 999999]
    """
    return _apply_bijection(values, n, seed, epoch, "values", inverse=True)
