"""Every argument check of the public API, in one place: each message names the argument
and the value it got."""

import numbers
import operator
import sys

import numpy as np

# Numeric kinds only: bool, signed and unsigned ints, floats, complex.
NUMERIC_KINDS = "biufc"


def check_int(value, name, *, minimum=None, maximum=None):
    """Return ``value`` as a Python int, rejecting bools, floats and other non-integers.

    ``maximum`` rejects values too large for the platform (a C size) up front, with the
    argument named, instead of an OverflowError from deep inside.
    """
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got the bool {value!r}")
    if not isinstance(value, numbers.Integral):
        try:
            value = operator.index(value)
        except TypeError:
            raise TypeError(
                f"{name} must be an integer, got {value!r} of type {type(value).__name__}"
            ) from None
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_count(value, name, *, minimum=0):
    """An int count that fits a C ``Py_ssize_t`` (at most ``sys.maxsize``)."""
    return check_int(value, name, minimum=minimum, maximum=sys.maxsize)


def check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def as_sample_array(array, name):
    """``array`` as an ndarray (subclasses such as np.memmap kept) with samples on axis 0."""
    if not isinstance(array, np.ndarray):
        try:
            array = np.asarray(array)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} could not be converted to a NumPy array: {exc}") from exc
    if array.ndim == 0:
        raise ValueError(
            f"{name} is 0-dimensional ({array!r}); batching needs samples along axis 0"
        )
    if array.dtype.kind not in NUMERIC_KINDS:
        raise TypeError(
            f"{name} has dtype {array.dtype} (kind {array.dtype.kind!r}); fastbatch batches "
            "numeric arrays only (bool, integer, float, complex)"
        )
    return array


def as_sample_arrays(arrays, names=None):
    """Validate several arrays that share their first dimension; return them as a list."""
    if len(arrays) == 0:
        raise TypeError("at least one array is required")
    if names is None:
        names = [f"array {i}" if len(arrays) > 1 else "array" for i in range(len(arrays))]
    out = [as_sample_array(a, name) for a, name in zip(arrays, names)]
    n = out[0].shape[0]
    for a, name in zip(out[1:], names[1:]):
        if a.shape[0] != n:
            raise ValueError(
                "all arrays must have the same length along axis 0: "
                f"{names[0]} has {n} samples but {name} has {a.shape[0]}"
            )
    return out


RNG_TYPES = "None, an int seed, a numpy.random.Generator or a numpy.random.BitGenerator"


def check_rng(rng, name="rng"):
    """Raise TypeError/ValueError unless ``rng`` follows NumPy's convention."""
    if rng is None or isinstance(rng, (np.random.Generator, np.random.BitGenerator)):
        return
    if isinstance(rng, (bool, np.bool_)) or not isinstance(rng, numbers.Integral):
        hint = ""
        if isinstance(rng, np.random.RandomState):
            hint = " (RandomState is legacy: pass np.random.default_rng(seed) instead)"
        raise TypeError(
            f"{name} must be {RNG_TYPES}; got {rng!r} of type {type(rng).__name__}{hint}"
        )
    if rng < 0:
        raise ValueError(f"{name} must be a non-negative int seed, got {rng}")


def bit_generator_of(rng, name="rng"):
    """The BitGenerator that ``rng`` stands for (a fresh PCG64 for None or an int)."""
    check_rng(rng, name)
    if rng is None:
        return np.random.PCG64()
    if isinstance(rng, np.random.Generator):
        return rng.bit_generator
    if isinstance(rng, np.random.BitGenerator):
        return rng
    return np.random.PCG64(int(rng))
