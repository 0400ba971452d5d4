"""Every public count and size parameter, fed the awkward values (issue #19, finding 5).

The rule, per value:

- ``True`` and ``1.0`` (bools and floats) are never counts: TypeError naming the
  parameter.  NumPy integer scalars are ints (``np.int64(3)`` is accepted).
- ``-1`` is below every count's minimum: ValueError naming the parameter.
- ``2**63`` and ``2**64`` do not fit the ``Py_ssize_t`` the C code holds counts in:
  ValueError naming the parameter, raised when the call or the constructor checks its
  arguments, never an OverflowError, nor an error from inside NumPy or pyarrow.
- ``2**31`` and ``2**62`` are accepted where the work they ask for is possible (a
  batch size larger than the data is one whole batch), and rejected up front, naming
  the parameter, where they cannot be (``pad_to=2**62`` asks for a batch larger than
  the largest array the platform allows).  Accepted values are run only where the work
  stays small (a huge ``pad_to`` is only constructed: its batch needs the memory).
- Exceptions to the Py_ssize_t bound, by design: ``num_batches`` is plain integer
  arithmetic (any size), seeds (``rng``, ``random_state``, ``index_shuffle``'s ``seed``)
  are any non-negative int, ``index_shuffle``'s ``epoch`` goes up to ``2**64 - 1``, and
  ``take``'s indices follow NumPy indexing (IndexError out of bounds).
"""

import io
import warnings
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastbatch as fb
from fastbatch import cli

pa = pytest.importorskip("pyarrow")

X = np.zeros((10, 2))
Y = np.arange(10.0)
TABLE = pa.table({"ids": pa.array([[1, 2], [3], []] * 3, pa.list_(pa.int64()))})
MAX = 2**63 - 1

AWKWARD = [2**31, 2**62, 2**63, 2**64, -1, True, 1.0, np.int64(3), np.int32(7),
           np.uint64(2**63), np.int64(-1), np.uint8(2)]


def first_batch(loader):
    next(iter(loader), None)


def fit(**params):
    fb.MiniBatchSGDRegressor(**{"epochs": 1, "random_state": 0, **params}).fit(X, Y)


# name -> (call, the largest accepted value, the largest accepted value cheap to run:
# above it the value is only known to be accepted, e.g. a permutation of 2**31 needs
# 16 GiB; pad_to is checked at construction, which is what is called).
PARAMETERS = {
    "batch_size": (lambda v: first_batch(fb.BatchLoader(X, batch_size=v)), MAX, MAX),
    "world_size": (lambda v: first_batch(fb.BatchLoader(X, world_size=v)), MAX, MAX),
    "rank": (lambda v: first_batch(fb.BatchLoader(X, rank=v, world_size=MAX)), MAX - 1,
             MAX),
    "prefetch": (lambda v: first_batch(fb.BatchLoader(X, prefetch=v)), MAX, MAX),
    "pad_to": (lambda v: fb.BatchLoader(TABLE, pad_to=v, batch_size=3), MAX // (3 * 8),
               MAX),
    "k": (lambda v: fb.BatchLoader(X).epochs(v), MAX, MAX),
    "epoch": (lambda v: fb.BatchLoader(X).set_epoch(v), 2**62, MAX),
    "iter_batches batch_size": (lambda v: list(fb.iter_batches(X, batch_size=v)), MAX, MAX),
    "estimator batch_size": (lambda v: fit(batch_size=v), MAX, MAX),
    "estimator epochs": (lambda v: fit(epochs=v, tol=1e300, n_iter_no_change=1), MAX, MAX),
    "n_iter_no_change": (lambda v: fit(epochs=2, tol=0.0, n_iter_no_change=v), MAX, MAX),
    "verbose": (lambda v: fit(verbose=v), MAX, MAX),
    "linreg_sgd_epoch batch_size": (
        lambda v: fb.linreg_sgd_epoch(X, Y, np.zeros(2), 0.0, batch_size=v), MAX, MAX),
    "permutation n": (lambda v: fb.permutation(v, rng=0), MAX // 8, 10**6),
    "index_shuffle n": (lambda v: fb.index_shuffle(0, v, 0), MAX, MAX),
}
MAY_BE_ZERO = {"rank", "prefetch", "k", "epoch", "verbose", "permutation n"}
# verbose=True is scikit-learn's convention for 1.
BOOL_OK = {"verbose"}


def expected_name(parameter):
    return parameter.split()[-1]


def check(parameter, value):
    call, largest, cheap = PARAMETERS[parameter]
    name = expected_name(parameter)
    if isinstance(value, (bool, np.bool_)):
        if parameter in BOOL_OK:
            call(value)
            return
        with pytest.raises(TypeError, match=name):
            call(value)
        return
    if isinstance(value, float):
        with pytest.raises(TypeError, match=name):
            call(value)
        return
    value_int = int(value)
    minimum = 0 if parameter in MAY_BE_ZERO else 1
    if minimum <= value_int <= largest:
        if value_int > cheap:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            call(value)              # accepted: no exception at all
        return
    with pytest.raises(ValueError, match=name):
        call(value)


@pytest.mark.parametrize("parameter", sorted(PARAMETERS))
@settings(max_examples=25, deadline=None)
@given(value=st.sampled_from(AWKWARD) | st.integers(-2**70, 2**70))
def test_property_every_count_parameter_names_itself_for_awkward_values(parameter, value):
    check(parameter, value)


@pytest.mark.parametrize("parameter", sorted(PARAMETERS))
@pytest.mark.parametrize("value", AWKWARD, ids=repr)
def test_every_count_parameter_and_every_listed_value(parameter, value):
    check(parameter, value)


def test_pad_to_too_large_for_one_batch_is_rejected_at_construction_naming_pad_to():
    with pytest.raises(ValueError, match="pad_to"):
        fb.BatchLoader(TABLE, pad_to=2**62, batch_size=3)
    # The bound is the batch's bytes: the same pad_to fits a smaller batch of int8.
    small = pa.table({"ids": pa.array([[1]], pa.list_(pa.int8()))})
    fb.BatchLoader(small, pad_to=2**40, batch_size=1)


@pytest.mark.parametrize("value", [Fraction(1), Fraction(1, 3), "1", [1], True])
def test_fill_null_that_is_not_an_int_or_float_is_a_type_error_naming_it(value):
    table = pa.table({"x": pa.array([1.0, None], pa.float64())})
    with pytest.raises(TypeError, match="fill_null"):
        fb.BatchLoader(table, fill_null=value)


@pytest.mark.parametrize("dtype, value", [
    (pa.float64(), 2**53 + 1), (pa.float32(), 2**24 + 1), (pa.float16(), 1e6),
    (pa.float16(), 2**11 + 1), (pa.int8(), 128), (pa.int64(), 2**63), (pa.uint8(), -1),
    (pa.int32(), 1.5), (pa.float64(), 2**1100),
])
def test_fill_null_that_the_column_cannot_hold_exactly_names_the_column(dtype, value):
    table = pa.table({"col": pa.array([1, None], dtype)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="fill_null for column 'col'"):
            fb.BatchLoader(table, fill_null=value)


@pytest.mark.parametrize("dtype, value", [
    (pa.float64(), 2**53), (pa.float32(), 0.1), (pa.float16(), 65504), (pa.int8(), -128),
    (pa.float64(), np.float32(1.5)), (pa.int64(), np.int64(2**62)),
])
def test_fill_null_the_column_can_hold_is_used(dtype, value):
    table = pa.table({"col": pa.array([1, None], dtype)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        batch = next(iter(fb.BatchLoader(table, fill_null=value, batch_size=2)))
    assert batch["col"][1] == np.asarray(value).astype(batch["col"].dtype)


CLI_OPTIONS = ["--batch-size", "--epochs"]


@pytest.mark.parametrize("option", CLI_OPTIONS)
@pytest.mark.parametrize("text", [str(2**63), str(2**64), "-1", "True", "1.0", "0"])
def test_cli_count_options_exit_2_naming_the_option(tmp_path, capsys, option, text):
    path = tmp_path / "data.csv"
    path.write_text("a,y\n1,2\n3,4\n")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["fit", str(path), "--target", "y", option, text], out=io.StringIO())
    assert exit_info.value.code == 2
    assert option in capsys.readouterr().err


@pytest.mark.parametrize("text", [str(2**63), str(2**64), str(2**31)])
def test_cli_seed_of_any_size_trains(tmp_path, text):
    path = tmp_path / "data.csv"
    path.write_text("a,y\n1,2\n3,4\n")
    assert cli.main(["fit", str(path), "--target", "y", "--epochs", "1", "--seed", text,
                     "--quiet"], out=io.StringIO()) == 0


def test_cli_negative_seed_exits_2_naming_the_option(tmp_path, capsys):
    path = tmp_path / "data.csv"
    path.write_text("a,y\n1,2\n3,4\n")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["fit", str(path), "--target", "y", "--seed", "-1", "--quiet"],
                 out=io.StringIO())
    assert exit_info.value.code == 2
    assert "--seed" in capsys.readouterr().err
