"""Uniform random permutations drawn with fastbatch's kernels."""

import numpy as np

from fastbatch._random import permutation_into
from fastbatch._validation import bit_generator_of, check_int

INT32_LIMIT = 2**31


def permutation(n, rng=None, *, dtype=np.int64):
    """Return a uniform random permutation of ``range(n)``.

    Every one of the ``n!`` orders is equally likely.  Up to 65536 elements the kernel is
    Fisher-Yates; above, a two-pass bucket shuffle whose random accesses stay in cache,
    exactly uniform as well (the proof is in ``fastbatch/_permutation.h``), on up to
    ``get_num_threads()`` threads with the same result for every count.  Random numbers
    come from the bit generator of ``rng``, drawn under its lock with the GIL released.
    Ctrl-C interrupts a long call.

    Parameters
    ----------
    n : int
        Number of elements, ``n >= 0``.
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
    bit_generator = bit_generator_of(rng)
    out = np.empty(n, dtype=dtype)
    permutation_into(bit_generator, out)
    return out
