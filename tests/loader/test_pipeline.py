"""Pipeline features: prefetch, exact resume, sharding, memory-mapped input."""

import gc
import json
import threading
import time

import numpy as np
import pytest

import fastbatch as fb
from procfs import status_bytes


def prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "fastbatch-prefetch"]


def wait_for_no_prefetch_threads(timeout=5.0):
    deadline = time.monotonic() + timeout
    while prefetch_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    return prefetch_threads()


def as_list(batches):
    return [tuple(np.copy(a) for a in b) if isinstance(b, tuple) else np.copy(b)
            for b in batches]


def assert_same_batches(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        if isinstance(x, tuple):
            for u, v in zip(x, y):
                np.testing.assert_array_equal(u, v)
        else:
            np.testing.assert_array_equal(x, y)


# -- prefetch ---------------------------------------------------------------------------

@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("depth", [1, 2, 8])
def test_prefetch_yields_the_same_batches_in_the_same_order(shuffle, depth):
    X, y = np.arange(2000.0).reshape(1000, 2), np.arange(1000)
    plain = fb.BatchLoader(X, y, batch_size=64, shuffle=shuffle, rng=5)
    ahead = fb.BatchLoader(X, y, batch_size=64, shuffle=shuffle, rng=5, prefetch=depth)
    assert_same_batches(as_list(plain.epochs(3)), as_list(ahead.epochs(3)))
    assert (ahead.epoch, ahead.step) == (plain.epoch, plain.step) == (3, 48)
    assert not wait_for_no_prefetch_threads()


def test_prefetch_counts_only_batches_handed_out():
    loader = fb.BatchLoader(np.arange(100), batch_size=10, prefetch=4)
    it = iter(loader)
    next(it)
    time.sleep(0.05)        # the worker has gathered ahead by now
    assert loader.step == 1
    it.close()


def test_prefetch_error_in_the_thread_reaches_the_caller_at_that_batch():
    from fastbatch.loader._progress import Progress
    from fastbatch.loader.prefetch import PrefetchIterator

    def failing():
        yield np.zeros(1)
        raise RuntimeError("disk on fire")

    progress = Progress()
    it = PrefetchIterator(failing(), 2, progress, progress.claim())
    assert next(it).shape == (1,)
    with pytest.raises(RuntimeError, match="disk on fire"):
        next(it)
    assert progress.step == 1
    assert not wait_for_no_prefetch_threads()


def test_break_then_drop_stops_the_thread():
    loader = fb.BatchLoader(np.zeros((10_000, 4)), batch_size=10, shuffle=True, rng=0,
                            prefetch=3)
    for i, _ in enumerate(loader):
        if i == 2:
            break
    gc.collect()
    assert not wait_for_no_prefetch_threads()


def test_dropping_the_loader_mid_epoch_stops_the_thread():
    loader = fb.BatchLoader(np.zeros((10_000, 4)), batch_size=10, prefetch=3)
    it = iter(loader)
    next(it)
    del loader, it
    gc.collect()
    assert not wait_for_no_prefetch_threads()


def test_bad_prefetch_is_rejected():
    with pytest.raises(ValueError, match="prefetch must be >= 0, got -1"):
        fb.BatchLoader(np.arange(5), prefetch=-1)


# -- exact resume -----------------------------------------------------------------------

def make_loader(rng=7, **kwargs):
    X, y = np.arange(300.0).reshape(100, 3), np.arange(100)
    return fb.BatchLoader(X, y, batch_size=8, shuffle=True, rng=rng, **kwargs)


@pytest.mark.parametrize("stop_after", [0, 1, 5, 13, 14, 20, 39])
def test_resume_from_any_point_yields_exactly_the_remaining_batches(stop_after):
    reference = as_list(make_loader().epochs(3))        # 13 batches per epoch
    loader = make_loader()
    it = loader.epochs(3)
    seen = [next(it) for _ in range(stop_after)]
    state = json.loads(json.dumps(loader.state_dict()))   # JSON round trip
    restored = make_loader(rng=None)                      # seed comes from the state
    restored.load_state_dict(state)
    rest = []
    while len(seen) + len(rest) < len(reference):
        rest.extend(as_list(restored))
    assert_same_batches(as_list(seen) + rest, reference)
    assert restored.step == len(reference)


def test_resume_with_a_generator_rng():
    reference = as_list(make_loader(rng=np.random.default_rng(3)).epochs(3))
    loader = make_loader(rng=np.random.default_rng(3))
    it = loader.epochs(3)
    seen = [next(it) for _ in range(17)]
    state = json.loads(json.dumps(loader.state_dict()))
    restored = make_loader(rng=np.random.default_rng(999))
    restored.load_state_dict(state)
    rest = []
    while len(seen) + len(rest) < len(reference):
        rest.extend(as_list(restored))
    assert_same_batches(as_list(seen) + rest, reference)


def test_resume_with_prefetch_and_sharding():
    def loader(**kw):
        return make_loader(world_size=3, rank=1, prefetch=2, **kw)
    reference = as_list(loader().epochs(2))
    first = loader()
    it = iter(first)
    seen = [next(it) for _ in range(2)]
    state = first.state_dict()
    it.close()
    restored = loader()
    restored.load_state_dict(state)
    rest = as_list(restored) + as_list(restored)
    assert_same_batches(as_list(seen) + rest, reference)


def test_state_is_small_plain_data_without_a_permutation():
    loader = fb.BatchLoader(np.zeros((1_000_000, 2)), batch_size=100, shuffle=True, rng=1)
    it = iter(loader)
    next(it)
    state = loader.state_dict()
    assert len(json.dumps(state)) < 1000
    assert state["epoch"] == 0 and state["position"] == 1 and state["step"] == 1


def test_load_state_rejects_a_different_configuration():
    state = make_loader().state_dict()
    with pytest.raises(ValueError, match="n_samples=100 but this loader has n_samples=99"):
        fb.BatchLoader(np.arange(99), batch_size=8, shuffle=True, rng=7).load_state_dict(
            state)
    with pytest.raises(ValueError, match="kind of rng"):
        make_loader(rng=np.random.default_rng(0)).load_state_dict(state)


def test_set_epoch_selects_the_permutation_of_that_epoch():
    a, b = make_loader(), make_loader()
    list(a.epochs(4))
    fourth = as_list(a)                 # epoch 4
    b.set_epoch(4)
    assert_same_batches(as_list(b), fourth)
    assert b.epoch == 5


# -- sharding ---------------------------------------------------------------------------

def rank_parts(n, world_size, remainder, epoch=0, shuffle=True, batch_size=4):
    parts = []
    for rank in range(world_size):
        loader = fb.BatchLoader(np.arange(n), batch_size=batch_size, shuffle=shuffle, rng=11,
                                rank=rank, world_size=world_size, shard_remainder=remainder)
        loader.set_epoch(epoch)
        batches = list(loader)
        parts.append(np.concatenate(batches) if batches else np.zeros(0, dtype=int))
    return parts


@pytest.mark.parametrize("n", [0, 1, 7, 10, 11, 12, 100, 101])
@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
def test_shard_sizes_follow_distributed_sampler(n, world_size):
    pad = rank_parts(n, world_size, "pad")
    drop = rank_parts(n, world_size, "drop")
    keep = rank_parts(n, world_size, "keep")
    assert all(len(p) == -(-n // world_size) for p in pad)
    assert all(len(p) == n // world_size for p in drop)
    sizes = sorted(len(p) for p in keep)
    assert sum(sizes) == n and sizes[-1] - sizes[0] <= (1 if n else 0)


@pytest.mark.parametrize("epoch", [0, 1, 5])
def test_ranks_parts_are_disjoint_and_cover_the_data(epoch):
    n, world_size = 103, 4
    keep = rank_parts(n, world_size, "keep", epoch)
    assert sorted(np.concatenate(keep).tolist()) == list(range(n))
    drop = np.concatenate(rank_parts(n, world_size, "drop", epoch))
    assert len(set(drop.tolist())) == len(drop) == 100
    pad = np.concatenate(rank_parts(n, world_size, "pad", epoch))
    assert set(pad.tolist()) == set(range(n)) and len(pad) == 104   # one sample repeated


def test_every_rank_sees_the_same_permutation_and_epochs_differ():
    e0 = rank_parts(40, 2, "pad", epoch=0)
    e1 = rank_parts(40, 2, "pad", epoch=1)
    assert not np.array_equal(e0[0], e1[0])
    assert sorted(np.concatenate(e0).tolist()) == list(range(40))


def test_union_of_rank_batches_is_the_combined_batch_of_one_process():
    n, world_size, B = 64, 2, 4
    single = list(fb.BatchLoader(np.arange(n), batch_size=B * world_size, shuffle=True,
                                 rng=11))
    per_rank = [list(fb.BatchLoader(np.arange(n), batch_size=B, shuffle=True, rng=11,
                                    rank=r, world_size=world_size)) for r in range(2)]
    for t, combined in enumerate(single):
        union = np.concatenate([per_rank[r][t] for r in range(world_size)])
        assert sorted(union.tolist()) == sorted(combined.tolist())


def test_counts_match_torch_distributed_sampler():
    torch_data = pytest.importorskip("torch.utils.data")
    for n in (10, 11, 13):
        for world_size in (2, 3):
            for drop_last, remainder in ((False, "pad"), (True, "drop")):
                sampler = torch_data.DistributedSampler(
                    range(n), num_replicas=world_size, rank=0, shuffle=True,
                    drop_last=drop_last)
                loader = fb.BatchLoader(np.arange(n), batch_size=1, shuffle=True, rng=0,
                                        world_size=world_size, shard_remainder=remainder)
                assert len(sampler) == loader.samples_per_epoch == len(loader)


@pytest.mark.parametrize("rank, world_size, remainder, error", [
    (2, 2, "pad", "rank must be < world_size=2, got 2"),
    (0, 0, "pad", "world_size must be >= 1, got 0"),
    (-1, 2, "pad", "rank must be >= 0, got -1"),
    (0, 2, "wrap", "shard_remainder must be one of"),
])
def test_bad_sharding_arguments(rank, world_size, remainder, error):
    with pytest.raises(ValueError, match=error):
        fb.BatchLoader(np.arange(10), rank=rank, world_size=world_size,
                       shard_remainder=remainder)


# -- memory-mapped input ------------------------------------------------------------------

def rss_file_bytes():
    return status_bytes("RssFile")


def test_memmap_batches_read_only_what_they_need(tmp_path):
    path = tmp_path / "big.npy"
    n, d = 400_000, 64                                 # 204.8 MB of float64
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(n, d))
    for start in range(0, n, 50_000):
        out[start:start + 50_000] = np.arange(start, start + 50_000)[:, None]
    out.flush()
    del out
    import os
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)   # drop it from the page cache
    os.close(fd)
    X = np.load(path, mmap_mode="r")
    before = rss_file_bytes()
    loader = fb.BatchLoader(X, np.arange(n), batch_size=32, shuffle=True, rng=0)
    it = iter(loader)
    for _ in range(10):
        xb, idx = next(it)
        np.testing.assert_array_equal(xb[:, 0], idx)       # each row is its own index
        np.testing.assert_array_equal(xb, X[idx])
    grown = rss_file_bytes() - before
    # 320 random rows; the kernel maps up to 64 KiB around each faulting page, so about
    # 20 MB get mapped: a tenth of the file, not all of it.
    assert grown < X.nbytes / 5, f"mapped {grown} bytes of a {X.nbytes}-byte file"


def test_sorted_reads_keep_the_batch_order(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.arange(5000.0).reshape(1000, 5))
    X = np.load(path, mmap_mode="r")
    plain = np.load(path)
    a = as_list(fb.BatchLoader(X, batch_size=50, shuffle=True, rng=3))
    b = as_list(fb.BatchLoader(plain, batch_size=50, shuffle=True, rng=3))
    assert_same_batches(a, b)


def test_sharded_shuffling_without_a_seed_is_rejected():
    with pytest.raises(ValueError, match="pass the same int seed"):
        fb.BatchLoader(np.arange(10), shuffle=True, world_size=2, rank=0)


def test_a_bad_state_changes_nothing():
    loader = make_loader()
    reference = make_loader()
    good = loader.state_dict()
    for bad in ({**good, "seed": 999, "epoch": -1}, {**good, "seed": 999, "step": "x"},
                {k: v for k, v in good.items() if k != "position"}):
        with pytest.raises((TypeError, ValueError)):
            loader.load_state_dict(bad)
    assert_same_batches(as_list(loader), as_list(reference))


def test_missing_keys_are_named():
    state = make_loader().state_dict()
    del state["epoch"]
    with pytest.raises(ValueError, match="state is missing 'epoch'"):
        make_loader().load_state_dict(state)


def test_memory_mapped_inputs_use_sorted_reads(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((10, 2)))
    X = np.load(tmp_path / "x.npy", mmap_mode="r")
    loader = fb.BatchLoader(X, np.zeros(10), np.asarray(X)[:, :1], batch_size=2)
    assert loader._source.sorted_reads == [True, False, True]


@pytest.mark.parametrize("n, remainder, views", [
    (10, "drop", True), (11, "drop", True), (11, "keep", True), (12, "pad", True),
    (11, "pad", False),          # rank 1's share wraps around to sample 0: gathered
])
def test_unshuffled_shards_are_strided_views_unless_padding_wraps(n, remainder, views):
    X = np.arange(n * 2.0).reshape(n, 2)
    for rank in range(2):
        loader = fb.BatchLoader(X, batch_size=2, rank=rank, world_size=2,
                                shard_remainder=remainder)
        batches = list(loader)
        rows = (np.concatenate(batches)[:, 0] / 2).astype(int)
        positions = rank + 2 * np.arange(loader.samples_per_epoch)
        if remainder == "pad":
            positions %= n
        np.testing.assert_array_equal(rows, positions)
        expect_views = views or rank == 0      # with n=11 "pad", only rank 1 wraps
        assert all(np.shares_memory(b, X) for b in batches) == expect_views
