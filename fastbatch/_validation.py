"""Every argument check of the public API, in one place: each message names the argument
and the value it got."""

import functools
import math
import numbers
import operator
import sys
import warnings

import numpy as np

from fastbatch._rng import fresh_seed

# Numeric kinds only: bool, signed and unsigned ints, floats, complex.
NUMERIC_KINDS = "biufc"
# The largest count C code can hold in a Py_ssize_t (2**63 - 1 on 64-bit platforms).
PY_SSIZE_T_MAX = sys.maxsize


def shown(value):
    """``value`` as an error message prints it: its repr, but a NumPy scalar as the plain
    Python value (``-1.0``, not NumPy 2's ``np.float64(-1.0)``)."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def check_int(value, name, *, minimum=None, maximum=None):
    """Return ``value`` as a Python int, rejecting bools, floats and other non-integers.

    ``minimum`` and ``maximum`` bound it inclusively; pass ``maximum=PY_SSIZE_T_MAX`` for
    a count that C code will hold in a ``Py_ssize_t``, so that it is rejected here with
    its name rather than as an OverflowError from deep inside.
    """
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got the bool {shown(value)}")
    if not isinstance(value, numbers.Integral):
        try:
            value = operator.index(value)
        except TypeError:
            raise TypeError(
                f"{name} must be an integer, got {shown(value)} of type {type(value).__name__}"
            ) from None
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_count(value, name, *, minimum=0):
    """An int count that fits a C ``Py_ssize_t`` (at most ``sys.maxsize``)."""
    return check_int(value, name, minimum=minimum, maximum=PY_SSIZE_T_MAX)


def check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {shown(value)}")
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
            f"{name} must be {RNG_TYPES}; got {shown(rng)} of type {type(rng).__name__}{hint}"
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


# -- numeric data and parameters of the linear-regression API ----------------------------
# Messages follow scikit-learn's where its estimator checks look for them.

# Real numbers only (bool, signed and unsigned ints, floats): what a model trains on.
REAL_KINDS = "biuf"


class DataConversionWarning(UserWarning):
    """The input had to be converted (e.g. a column-vector y was raveled)."""


@functools.cache
def sklearn_compatible(cls, sklearn_name):
    """``cls``, or a subclass that is also scikit-learn's class of that name when the caller
    has scikit-learn loaded, so its tooling (check_estimator, ``except NotFittedError``)
    recognises it; fastbatch never imports scikit-learn itself."""
    exceptions = sys.modules.get("sklearn.exceptions")
    other = getattr(exceptions, sklearn_name, None)
    if other is None or issubclass(cls, other):
        return cls
    return type(cls.__name__, (cls, other), {"__module__": cls.__module__})


def _is_sparse(a):
    return type(a).__module__.startswith("scipy.sparse")


def _numeric_object_array(a, name):
    # An object array of numbers converts (scikit-learn accepts those); anything else is
    # reported against the argument, keeping NumPy's reason.
    try:
        return a.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{name} has dtype object with a non-numeric value: {exc}") from None


def _as_real_array(a, name):
    if _is_sparse(a):
        raise TypeError(
            f"sparse input is not supported for {name}; convert it with {name}.toarray()")
    try:
        a = np.asarray(a)
    except ValueError as exc:          # ragged nested sequences
        raise ValueError(f"{name} could not be converted to an array: {exc}") from None
    if a.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {a.dtype}")
    if a.dtype.kind == "O":
        return _numeric_object_array(a, name)
    if a.dtype.kind not in REAL_KINDS:
        raise ValueError(f"{name} must be numeric, got dtype {a.dtype}")
    return a


def as_float_matrix(X, name="X", check_finite=True):
    """X as a 2-d float32/float64 array whose rows are contiguous (copied only if not)."""
    if X is None:
        raise ValueError(f"Expected 2D array for {name}, got None")
    X = _as_real_array(X, name)
    if X.ndim != 2:
        raise ValueError(
            f"Expected 2D array for {name}, got {X.ndim}D array instead (shape {X.shape}). "
            "Reshape your data with X.reshape(-1, 1) for a single feature or "
            "X.reshape(1, -1) for a single sample"
        )
    if X.shape[0] == 0:
        raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a minimum "
                         "of 1 is required.")
    if X.shape[1] == 0:
        raise ValueError(f"Found array with 0 feature(s) (shape={X.shape}) while a minimum "
                         "of 1 is required.")
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    # The kernels read each row as one contiguous run, rows in increasing order; other
    # layouts cost one copy.
    if ((X.shape[1] > 1 and X.strides[1] != X.itemsize) or X.strides[0] % X.itemsize
            or X.strides[0] < 0):
        X = np.ascontiguousarray(X)
    if check_finite:
        check_finite_values(X, name)
    return X


def check_finite_values(a, name):
    """Raise ValueError naming the first NaN/inf of ``a`` (row, and column if 2-d)."""
    # A sum is NaN or infinite whenever an element is (or when finite values overflow,
    # which the exact check below then clears): one fast pass, no boolean temporary.
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.add.reduce(a, axis=None, dtype=np.float64)
    if np.isfinite(total):
        return
    if not np.isfinite(a).all():
        bad = np.argwhere(~np.isfinite(a))[0]
        value = a[tuple(bad)]
        kind = "NaN" if np.isnan(value) else "infinity"
        where = f"row {bad[0]}" + (f", column {bad[1]}" if len(bad) > 1 else "")
        raise ValueError(
            f"Input {name} contains {kind} (first at {where}); fastbatch trains on finite "
            "values only: drop or impute those rows"
        )


def as_target(y, n_samples, check_finite=True, name="y"):
    """y (or another per-sample vector) as a C-contiguous float64 array of n_samples."""
    if y is None:
        raise ValueError("MiniBatchSGDRegressor requires y to be passed, but the target y "
                         "is None")
    y = _as_real_array(y, name)
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please change the "
            "shape of y to (n_samples,), for example using ravel().",
            sklearn_compatible(DataConversionWarning, "DataConversionWarning"), stacklevel=4)
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{name} should be a 1d array, got an array of shape {y.shape} "
                         "instead")
    y = np.ascontiguousarray(y, dtype=np.float64)
    if y.shape[0] != n_samples:
        raise ValueError(
            f"X and {name} have inconsistent numbers of samples: X has {n_samples}, "
            f"{name} has {y.shape[0]}"
        )
    if check_finite:
        check_finite_values(y, name)
    return y


def as_sample_weight(sample_weight, n_samples):
    """None, or non-negative finite float64 weights of n_samples that do not all vanish."""
    if sample_weight is None:
        return None
    w = as_target(sample_weight, n_samples, name="sample_weight")
    if (w < 0).any():
        raise ValueError(f"sample_weight must be non-negative, got {shown(w[w < 0][0])} at "
                         f"row {int(np.argmax(w < 0))}")
    if not w.any():
        raise ValueError("sample_weight is zero for every sample: at least one weight "
                         "must be non-zero")
    return w


# Weights whose largest value lies in this range are used as given.
WEIGHT_RANGE = (2.0**-64, 2.0**64)


def rescaled_weights(w):
    """``w`` (validated weights, or None) brought into a safe range for the fit.

    The fit depends on the weights only through weighted means (gradients, moments,
    the objective), so it is invariant to their scale; but subnormal weights (1e-310)
    lose precision and overflow ``1 / sum(w)``, and huge ones (1e306) overflow
    ``sum(w)``.  Weights whose largest value lies outside :data:`WEIGHT_RANGE` are
    multiplied by the power of two that brings it into ``[1, 2)``: exact, so the fit
    is that of the same weights at any power-of-two scale, bit for bit.  Others are
    returned as they are (the caller's array is never changed).
    """
    if w is None:
        return None
    largest = float(w.max())
    if WEIGHT_RANGE[0] <= largest <= WEIGHT_RANGE[1]:
        return w
    return np.ldexp(w, 1 - math.frexp(largest)[1])


def check_number(value, name, *, minimum, strict=False, maximum=None):
    """A finite real number (not a bool) in [minimum, maximum], as a Python float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {shown(value)}")
    value = float(value)
    too_big = maximum is not None and value >= maximum
    if not np.isfinite(value) or value < minimum or (strict and value == minimum) or too_big:
        bound = f"> {minimum}" if strict else f">= {minimum}"
        if maximum is not None:
            bound += f" and < {maximum}"
        raise ValueError(f"{name} must be a finite number {bound}, got {shown(value)}")
    return value


def as_row_numbers(order, n, name="order"):
    """A 1-d C-contiguous int64 array of row numbers in [0, n)."""
    try:
        order = np.asarray(order)
    except ValueError as exc:          # ragged nested sequences
        raise TypeError(f"{name} must be a 1-d integer array: {exc}") from None
    if order.dtype.kind not in "iu" or order.ndim != 1:
        raise TypeError(f"{name} must be a 1-d integer array, got {order.dtype} "
                        f"with shape {order.shape}")
    order = np.ascontiguousarray(order, dtype=np.int64)
    if order.size and (order.min() < 0 or order.max() >= n):
        raise IndexError(f"{name} has values outside [0, {n})")
    return order


def as_finite_vector(value, d, name):
    """A finite float64 vector of shape (d,)."""
    try:
        a = np.ascontiguousarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of {d} real numbers: {exc}") from None
    if a.shape != (d,):
        raise ValueError(f"{name} must have shape ({d},), got {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinity: {a}")
    return a


def linreg_inputs(X, y, sample_weight, mean, scale, check_input):
    """Validated (X, y, sample_weight, mean, 1 / scale) of the low-level linreg_* API."""
    check_input = check_bool(check_input, "check_input")
    X = as_float_matrix(X, check_finite=check_input)
    y = as_target(y, X.shape[0], check_finite=check_input)
    sample_weight = as_sample_weight(sample_weight, X.shape[0])
    d = X.shape[1]
    mean = np.zeros(d) if mean is None else as_finite_vector(mean, d, "mean")
    scale = np.ones(d) if scale is None else as_finite_vector(scale, d, "scale")
    if not (scale > 0).all():
        raise ValueError(f"scale must be positive (use 1 for constant features), got {scale}")
    return X, y, sample_weight, mean, 1.0 / scale


def seed_of_random_state(rs):
    """An int seed from scikit-learn's random_state convention (a fresh one for None)."""
    if rs is None:
        return fresh_seed()
    if isinstance(rs, (bool, np.bool_)):
        raise TypeError(f"random_state must be None, an int, a RandomState or a "
                        f"Generator, got {shown(rs)}")
    if isinstance(rs, numbers.Integral):
        if rs < 0:
            raise ValueError(f"random_state must be a non-negative int, got {rs}")
        return int(rs)
    if isinstance(rs, np.random.RandomState):
        return int(rs.randint(0, 2**31 - 1))
    if isinstance(rs, np.random.Generator):
        return int(rs.integers(0, 2**63 - 1))
    raise TypeError(f"random_state must be None, an int, a RandomState or a Generator, "
                    f"got {shown(rs)} of type {type(rs).__name__}")


def check_choice(value, name, choices):
    """``value``, or a ValueError naming ``name`` unless it is one of the strings
    ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {shown(value)}")
    return value
