"""BatchLoader / iter_batches / num_batches: epochs, batches and steps as
docs/guide/loading.rst defines them (the vocabulary paragraph) and BatchLoader's docstring."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastbatch as fb
from stats import ALPHA, chi_square_uniform_pvalue


def batch_sizes(loader):
    return [len(b) if not isinstance(b, tuple) else len(b[0]) for b in loader]


# -- the worked examples ----------------------------------------------------------------

def test_10_samples_batch_size_3_gives_batches_of_3_3_3_1():
    loader = fb.BatchLoader(np.arange(10), batch_size=3)
    assert len(loader) == 4
    assert batch_sizes(loader) == [3, 3, 3, 1]


def test_10_samples_batch_size_3_drop_last_gives_3_batches():
    loader = fb.BatchLoader(np.arange(10), batch_size=3, drop_last=True)
    assert len(loader) == 3
    assert batch_sizes(loader) == [3, 3, 3]


def test_1500_samples_batch_size_100_gives_15_steps_and_3_epochs_give_45():
    X, y = np.zeros((1500, 4)), np.zeros(1500)
    loader = fb.BatchLoader(X, y, batch_size=100, shuffle=True, rng=0)
    assert len(loader) == 15
    assert sum(1 for _ in loader.epochs(3)) == 45
    assert loader.step == 45
    assert loader.epoch == 3


def test_num_batches_worked_examples():
    assert fb.num_batches(10, 3) == 4
    assert fb.num_batches(10, 3, drop_last=True) == 3
    assert fb.num_batches(1500, 100) == 15
    assert fb.num_batches(0, 7) == 0


@pytest.mark.parametrize("n", [0, 1, 2, 5, 9, 10, 11, 99, 100, 101, 1000])
@pytest.mark.parametrize("batch_size", [1, 2, 3, 7, 10, 64, 1000, 5000])
@pytest.mark.parametrize("drop_last", [False, True])
def test_len_follows_ceil_or_floor_formula(n, batch_size, drop_last):
    expected = n // batch_size if drop_last else -(-n // batch_size)
    loader = fb.BatchLoader(np.arange(n), batch_size=batch_size, drop_last=drop_last)
    assert len(loader) == expected == fb.num_batches(n, batch_size, drop_last)
    assert len(batch_sizes(loader)) == expected


# -- epochs and steps -------------------------------------------------------------------

def test_epoch_and_step_start_at_zero_and_count_up():
    loader = fb.BatchLoader(np.arange(10), batch_size=4)
    assert (loader.epoch, loader.step) == (0, 0)
    it = iter(loader)
    next(it)
    assert (loader.epoch, loader.step) == (0, 1)
    for _ in it:
        assert loader.epoch == 0
    assert (loader.epoch, loader.step) == (1, 3)
    list(loader)
    assert (loader.epoch, loader.step) == (2, 6)


def test_each_for_loop_is_one_epoch_and_a_break_starts_the_next_one_fresh():
    loader = fb.BatchLoader(np.arange(10), batch_size=2)
    for _ in loader:
        break
    assert loader.step == 1
    assert batch_sizes(loader) == [2] * 5       # a full epoch, not the remainder
    assert loader.epoch == 2
    assert loader.step == 6


def test_n_samples_and_batch_size_attributes():
    loader = fb.BatchLoader(np.zeros((17, 3)), np.zeros(17), batch_size=5)
    assert loader.n_samples == 17
    assert loader.batch_size == 5


def test_epochs_zero_yields_nothing():
    loader = fb.BatchLoader(np.arange(10), batch_size=3)
    assert list(loader.epochs(0)) == []
    assert loader.step == 0


def test_iter_batches_is_one_epoch():
    X = np.arange(10)
    assert [b.tolist() for b in fb.iter_batches(X, batch_size=4)] == [
        [0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_single_array_yields_arrays_and_several_yield_tuples():
    X, y = np.zeros((6, 2)), np.zeros(6)
    single = next(iter(fb.BatchLoader(X, batch_size=4)))
    several = next(iter(fb.BatchLoader(X, y, batch_size=4)))
    assert isinstance(single, np.ndarray) and single.shape == (4, 2)
    assert isinstance(several, tuple) and len(several) == 2


# -- shuffled epochs ----------------------------------------------------------------------

def test_every_shuffled_epoch_is_a_permutation_and_differs_from_the_previous():
    n = 1000
    loader = fb.BatchLoader(np.arange(n), batch_size=64, shuffle=True, rng=1)
    previous = None
    for _ in range(5):
        order = np.concatenate(list(loader))
        np.testing.assert_array_equal(np.sort(order), np.arange(n))
        assert previous is None or not np.array_equal(order, previous)
        previous = order


@pytest.mark.parametrize("n", [5000, 300_000])   # both permutation algorithms
def test_same_seed_reproduces_every_epoch(n):
    a = fb.BatchLoader(np.arange(n), batch_size=256, shuffle=True, rng=42)
    b = fb.BatchLoader(np.arange(n), batch_size=256, shuffle=True, rng=42)
    for batch_a, batch_b in zip(a.epochs(3), b.epochs(3)):
        np.testing.assert_array_equal(batch_a, batch_b)


def test_two_equal_generators_reproduce_every_epoch():
    a = fb.BatchLoader(np.arange(500), batch_size=7, shuffle=True,
                       rng=np.random.default_rng(9))
    b = fb.BatchLoader(np.arange(500), batch_size=7, shuffle=True,
                       rng=np.random.default_rng(9))
    for batch_a, batch_b in zip(a.epochs(3), b.epochs(3)):
        np.testing.assert_array_equal(batch_a, batch_b)


def test_bit_generator_is_accepted_as_rng():
    a = fb.BatchLoader(np.arange(50), batch_size=7, shuffle=True, rng=np.random.PCG64(3))
    b = fb.BatchLoader(np.arange(50), batch_size=7, shuffle=True, rng=np.random.PCG64(3))
    np.testing.assert_array_equal(np.concatenate(list(a)), np.concatenate(list(b)))


def test_different_seeds_give_different_orders():
    a = np.concatenate(list(fb.BatchLoader(np.arange(100), batch_size=10, shuffle=True, rng=1)))
    b = np.concatenate(list(fb.BatchLoader(np.arange(100), batch_size=10, shuffle=True, rng=2)))
    assert not np.array_equal(a, b)


def test_rng_none_shuffles_differently_each_loader():
    a = np.concatenate(list(fb.BatchLoader(np.arange(100), batch_size=10, shuffle=True)))
    b = np.concatenate(list(fb.BatchLoader(np.arange(100), batch_size=10, shuffle=True)))
    assert not np.array_equal(a, b)


def test_shuffled_epochs_make_all_120_orders_of_5_equally_likely():
    loader = fb.BatchLoader(np.arange(5), batch_size=5, shuffle=True, rng=77)
    import itertools
    index = {p: i for i, p in enumerate(itertools.permutations(range(5)))}
    counts = np.zeros(120, dtype=np.int64)
    for batch in loader.epochs(24_000):
        counts[index[tuple(batch.tolist())]] += 1
    assert chi_square_uniform_pvalue(counts) > ALPHA


def test_shuffle_without_drop_last_uses_every_sample_once_and_drop_last_drops_the_tail():
    loader = fb.BatchLoader(np.arange(10), batch_size=3, shuffle=True, drop_last=True, rng=0)
    batches = list(loader)
    assert [len(b) for b in batches] == [3, 3, 3]
    assert len(set(np.concatenate(batches).tolist())) == 9


# -- views and owned arrays ----------------------------------------------------------------

def test_sequential_batches_are_views_of_the_inputs():
    X, y = np.zeros((10, 3)), np.zeros(10)
    for xb, yb in fb.BatchLoader(X, y, batch_size=4):
        assert np.shares_memory(xb, X) and np.shares_memory(yb, y)
    xb, _ = next(iter(fb.BatchLoader(X, y, batch_size=4)))
    xb[0, 0] = 5.0
    assert X[0, 0] == 5.0


def test_sequential_views_of_readonly_input_are_readonly():
    X = np.zeros(10)
    X.flags.writeable = False
    batch = next(iter(fb.BatchLoader(X, batch_size=4)))
    assert not batch.flags.writeable


def test_shuffled_batches_are_new_arrays_the_caller_owns():
    X, y = np.arange(40.0).reshape(20, 2), np.arange(20)
    loader = fb.BatchLoader(X, y, batch_size=4, shuffle=True, rng=0)
    kept = [(xb, xb.copy()) for xb, _ in loader.epochs(3)]
    for batch, snapshot in kept:
        assert not np.shares_memory(batch, X)
        assert batch.flags.owndata and batch.flags.writeable
        np.testing.assert_array_equal(batch, snapshot)   # moving on never changed it
    kept[0][0][:] = -1
    assert (X >= 0).all()


# -- alignment, dtypes, shapes -------------------------------------------------------------

@pytest.mark.parametrize("shuffle", [False, True])
def test_x_y_and_weights_stay_aligned(shuffle):
    n = 1001
    X = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.arange(n, dtype=np.int64) * 10
    w = np.arange(n, dtype=np.float64) / 2
    for xb, yb, wb in fb.BatchLoader(X, y, w, batch_size=64, shuffle=shuffle, rng=3):
        rows = (xb[:, 0] / 3).astype(np.int64)
        np.testing.assert_array_equal(yb, rows * 10)
        np.testing.assert_array_equal(wb, rows / 2)
        np.testing.assert_array_equal(xb, X[rows])


@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.uint16, np.int32, np.int64,
                                   np.float16, np.float32, np.float64, np.complex128])
@pytest.mark.parametrize("shuffle", [False, True])
def test_dtypes_are_kept(dtype, shuffle):
    X = (np.arange(60) % 7).astype(dtype).reshape(20, 3)
    for batch in fb.BatchLoader(X, batch_size=6, shuffle=shuffle, rng=0):
        assert batch.dtype == dtype


@pytest.mark.parametrize("trailing", [(), (1,), (3,), (2, 5), (4, 1, 3), (0,), (2, 0)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_any_trailing_shape(trailing, shuffle):
    n = 23
    X = np.arange(n * int(np.prod(trailing, dtype=int))).reshape((n,) + trailing)
    loader = fb.BatchLoader(X, np.arange(n), batch_size=5, shuffle=shuffle, rng=1)
    for xb, idx in loader:
        assert xb.shape == (len(idx),) + trailing
        np.testing.assert_array_equal(xb, X[idx])


@pytest.mark.parametrize("make", [
    lambda a: a[::2],                    # rows strided
    lambda a: a[:, ::2],                 # columns strided
    lambda a: a.T.copy().T,              # Fortran order
    lambda a: a[::-1],                   # negative stride
    lambda a: a.reshape(-1, 2, 4)[:, :, ::3],  # trailing dims that collapse to one stride
    lambda a: a.reshape(-1, 4, 2)[:, ::2, :],  # trailing dims that do not
], ids=["rows", "cols", "fortran", "reversed", "collapsible", "irregular"])
@pytest.mark.parametrize("shuffle", [False, True])
def test_non_contiguous_inputs_give_correct_batches(make, shuffle):
    base = np.arange(40 * 8, dtype=np.float64).reshape(40, 8)
    X = make(base)
    labels = np.arange(X.shape[0])
    for xb, idx in fb.BatchLoader(X, labels, batch_size=6, shuffle=shuffle, rng=2):
        np.testing.assert_array_equal(xb, X[idx])


def test_memmap_input_works(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.arange(300.0).reshape(100, 3))
    X = np.load(path, mmap_mode="r")
    for xb, idx in fb.BatchLoader(X, np.arange(100), batch_size=16, shuffle=True, rng=0):
        np.testing.assert_array_equal(xb, X[idx])


def test_lists_are_accepted_as_arrays():
    batches = list(fb.BatchLoader([[1, 2], [3, 4], [5, 6]], batch_size=2))
    np.testing.assert_array_equal(batches[0], [[1, 2], [3, 4]])


def test_empty_inputs_give_zero_batches():
    for shuffle in (False, True):
        loader = fb.BatchLoader(np.zeros((0, 3)), np.zeros(0), batch_size=4, shuffle=shuffle)
        assert len(loader) == 0
        assert list(loader) == []
        assert loader.epoch == 1 and loader.step == 0


def test_inputs_are_not_modified_by_iterating():
    X = np.arange(30.0).reshape(10, 3)
    before = X.copy()
    for _ in fb.BatchLoader(X, batch_size=3, shuffle=True, rng=0).epochs(2):
        pass
    np.testing.assert_array_equal(X, before)


# -- property tests ---------------------------------------------------------------------

@settings(max_examples=80, deadline=None)
@given(n=st.integers(0, 300), batch_size=st.integers(1, 70), drop_last=st.booleans(),
       shuffle=st.booleans(), seed=st.integers(0, 2**31))
def test_property_an_epoch_covers_each_sample_at_most_once(n, batch_size, drop_last,
                                                            shuffle, seed):
    loader = fb.BatchLoader(np.arange(n), batch_size=batch_size, drop_last=drop_last,
                            shuffle=shuffle, rng=seed)
    batches = list(loader)
    assert len(batches) == len(loader) == fb.num_batches(n, batch_size, drop_last)
    seen = np.concatenate(batches) if batches else np.zeros(0, dtype=int)
    assert len(np.unique(seen)) == len(seen)
    assert all(len(b) == batch_size for b in batches[:-1])
    if drop_last:
        assert len(seen) == n - n % batch_size
        assert all(len(b) == batch_size for b in batches)
    else:
        assert sorted(seen.tolist()) == list(range(n))
    if not shuffle:
        assert seen.tolist() == list(range(len(seen)))


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 200), batch_size=st.integers(1, 50), k=st.integers(0, 4))
def test_property_step_counts_batches_over_epochs(n, batch_size, k):
    loader = fb.BatchLoader(np.arange(n), batch_size=batch_size, shuffle=True, rng=0)
    assert sum(1 for _ in loader.epochs(k)) == k * len(loader) == loader.step
    assert loader.epoch == k


def test_a_kept_view_of_a_shuffled_batch_never_changes():
    # Batch buffers are recycled only when nothing references them; a view references
    # its base, so keeping just a slice keeps the whole batch safe.
    X = np.arange(4000.0).reshape(1000, 4)
    loader = fb.BatchLoader(X, batch_size=10, shuffle=True, rng=0)
    kept = []
    for i, batch in enumerate(loader.epochs(2)):
        if i % 7 == 0:
            kept.append((batch[:3], batch[:3].copy()))
    for view, snapshot in kept:
        np.testing.assert_array_equal(view, snapshot)


def test_dropped_batches_may_share_memory_but_kept_ones_never_do():
    X = np.zeros((1000, 4))
    batches = list(fb.BatchLoader(X, batch_size=10, shuffle=True, rng=0))
    addresses = {b.__array_interface__["data"][0] for b in batches}
    assert len(addresses) == len(batches)       # all kept: all distinct memory


@pytest.mark.parametrize("shuffle", [False, True])
def test_arrays_with_many_dimensions(shuffle):
    X = np.arange(4.0).reshape((4,) + (1,) * 40)        # NumPy 2 allows up to 64
    batches = list(fb.BatchLoader(X, batch_size=3, shuffle=shuffle, rng=0))
    assert [b.shape for b in batches] == [(3,) + (1,) * 40, (1,) + (1,) * 40]
    assert sorted(np.concatenate(batches).ravel().tolist()) == [0.0, 1.0, 2.0, 3.0]


def test_an_older_iterator_no_longer_moves_the_counters():
    loader = fb.BatchLoader(np.arange(20), batch_size=5)
    old = iter(loader)
    next(old), next(old)
    new = iter(loader)
    next(new)
    rest_of_old = list(old)                  # still yields its batches ...
    assert len(rest_of_old) == 2
    assert loader.state_dict()["position"] == 1    # ... but only `new` counts
    assert loader.step == 3


def test_epochs_validates_k_when_called():
    with pytest.raises(TypeError, match="k must be an integer, got 'x'"):
        fb.BatchLoader(np.arange(5)).epochs("x")


# -- configuration is read-only ------------------------------------------------------------

CONFIGURATION = {"n_samples": 7, "samples_per_epoch": 7, "batch_size": 1, "shuffle": True,
                 "shuffle_method": "exact", "drop_last": True, "rank": 0, "world_size": 2,
                 "shard_remainder": "keep", "prefetch": 3}


@pytest.mark.parametrize("name", sorted(CONFIGURATION))
def test_assigning_a_configuration_attribute_raises_and_changes_nothing(name):
    loader = fb.BatchLoader(np.arange(7), batch_size=2, rng=0)
    before = getattr(loader, name), loader.state_dict(), len(loader)
    with pytest.raises(AttributeError, match=f"BatchLoader.{name} is read-only"):
        setattr(loader, name, CONFIGURATION[name])
    with pytest.raises(AttributeError, match=f"BatchLoader.{name} is read-only"):
        delattr(loader, name)
    assert (getattr(loader, name), loader.state_dict(), len(loader)) == before


@pytest.mark.parametrize("name", ["epoch", "step"])
def test_counters_are_read_only_too(name):
    loader = fb.BatchLoader(np.arange(7))
    with pytest.raises(AttributeError):
        setattr(loader, name, 3)


def test_configuration_attributes_report_the_arguments():
    loader = fb.BatchLoader(np.arange(11), batch_size=3, shuffle=True, drop_last=True,
                            rng=0, rank=1, world_size=2, shard_remainder="keep",
                            prefetch=2)
    assert (loader.n_samples, loader.samples_per_epoch, loader.batch_size, loader.shuffle,
            loader.shuffle_method, loader.drop_last, loader.rank, loader.world_size,
            loader.shard_remainder, loader.prefetch) == (
        11, 5, 3, True, "exact", True, 1, 2, "keep", 2)


# -- counts too large for the platform ------------------------------------------------------

@pytest.mark.parametrize("name, value", [
    ("batch_size", 2**63), ("world_size", 2**70), ("rank", 2**64), ("prefetch", 2**63),
])
def test_counts_too_large_for_the_platform_are_rejected_up_front_by_name(name, value):
    with pytest.raises(ValueError, match=f"{name} must be <= 9223372036854775807, got {value}"):
        fb.BatchLoader(np.arange(5), **{name: value})


def test_the_largest_counts_the_platform_holds_work():
    big = 2**63 - 1
    loader = fb.BatchLoader(np.arange(5), batch_size=big, world_size=big, rank=big - 1)
    assert [b.tolist() for b in loader] == [[(big - 1) % 5]]
    assert [b.tolist() for b in fb.BatchLoader(np.arange(5), batch_size=big)] == [
        [0, 1, 2, 3, 4]]


@pytest.mark.parametrize("call, error", [
    (lambda l: l.set_epoch(2**63), r"epoch must be <= 4611686018427387904"),
    (lambda l: l.epochs(2**63), r"k must be <= 9223372036854775807"),
])
def test_epoch_counts_too_large_are_rejected_by_name(call, error):
    with pytest.raises(ValueError, match=error):
        call(fb.BatchLoader(np.arange(5)))


@pytest.mark.parametrize("value", ["exact ", "bijectiv", None, ["exact"]])
def test_an_unknown_shuffle_method_is_named(value):
    with pytest.raises(ValueError, match="shuffle_method must be one of"):
        fb.BatchLoader(np.arange(5), shuffle=True, rng=0, shuffle_method=value)


# -- torch_bridge.BatchSampler arguments (works without torch) ------------------------------

@pytest.mark.parametrize("value, error, message", [
    (-3, ValueError, "data_source must be >= 0, got -3"),
    (True, TypeError, "data_source must be an integer, got the bool True"),
    (np.True_, TypeError, "data_source must be an integer, got the bool"),
    (2**70, ValueError, "data_source must be <= 9223372036854775807"),
    (object(), TypeError, "data_source must be a sample count or a sized dataset"),
])
def test_batch_sampler_names_a_bad_data_source(value, error, message):
    from fastbatch.torch_bridge import BatchSampler
    with pytest.raises(error, match=message):
        BatchSampler(value)


def test_batch_sampler_takes_a_count_or_anything_sized():
    from fastbatch.torch_bridge import BatchSampler
    assert list(BatchSampler(np.int64(5), batch_size=2)) == [[0, 1], [2, 3], [4]]
    assert list(BatchSampler(range(3), batch_size=2)) == [[0, 1], [2]]
    assert list(BatchSampler(0)) == []
