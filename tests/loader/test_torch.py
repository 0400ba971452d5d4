"""PyTorch interop: batch sampler, shared-memory tensors, and two real processes."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import fastbatch as fb

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from fastbatch.torch_bridge import BatchSampler, as_tensors, iter_tensors  # noqa: E402
from ranks import run_ranks  # noqa: E402

HERE = Path(__file__).resolve().parents[1] / "helpers"


def test_batch_sampler_plugs_into_dataloader_with_fastbatch_epochs():
    data = TensorDataset(torch.arange(50.0), torch.arange(50))
    sampler = BatchSampler(data, batch_size=8, shuffle=True, rng=3)
    loader = DataLoader(data, batch_sampler=sampler)
    assert len(loader) == 7
    got = [b[1].numpy() for b in loader]
    expected = list(fb.BatchLoader(np.arange(50), batch_size=8, shuffle=True, rng=3))
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


def test_batch_sampler_set_epoch_and_resume():
    sampler = BatchSampler(40, batch_size=8, shuffle=True, rng=1)
    sampler.set_epoch(2)
    first = list(sampler)
    sampler.set_epoch(2)
    it = iter(sampler)
    next(it)
    state = sampler.state_dict()
    restored = BatchSampler(40, batch_size=8, shuffle=True, rng=1)
    restored.load_state_dict(state)
    assert list(restored) == first[1:]


def test_tensors_share_memory_with_the_numpy_batch():
    X = np.zeros((10, 3), dtype=np.float32)
    xb, yb = next(iter(fb.BatchLoader(X, np.arange(10), batch_size=4, shuffle=True, rng=0)))
    tx, ty = as_tensors((xb, yb))
    tx[0, 0] = 7.0
    assert xb[0, 0] == 7.0 and tx.dtype == torch.float32 and ty.dtype == torch.int64
    view = next(iter_tensors(fb.BatchLoader(X, batch_size=4)))
    view[1, 1] = 5.0
    assert X[1, 1] == 5.0          # sequential batch -> view -> tensor: all one memory


def test_two_processes_with_torch_distributed(tmp_path):
    sys.path.insert(0, str(HERE))
    import distributed_worker as worker
    out = tmp_path / "rank0.json"
    run_ranks("distributed_worker.py", 2, out)
    result = json.loads(out.read_text())

    n = worker.N + 3                          # 1003 samples, 2 ranks, "pad"
    for everyone in result["seen"]:
        assert all(len(part) == 502 for part in everyone)
        union = set(everyone[0]) | set(everyone[1])
        assert union == set(range(n))         # together they cover the data ...
        assert len(set(everyone[0]) & set(everyone[1])) == 1   # ... up to the padding
    assert result["seen"][0] != result["seen"][1]             # a new permutation per epoch

    # The block-shuffled file: the ranks' parts interleave to one process's block order.
    for epoch, everyone in enumerate(result["block_seen"]):
        single = fb.BatchLoader(np.arange(n), batch_size=n, shuffle=True, rng=worker.SEED,
                                **worker.BLOCK)
        single.set_epoch(epoch)
        order = next(iter(single)).tolist()
        assert [everyone[r] for r in range(2)] == [order[0::2], order[1::2]]
    assert result["block_seen"][0] != result["block_seen"][1]

    # One process with the combined batch size, same permutations, same updates.
    X, y = worker.dataset()
    mean, scale = X.mean(axis=0), X.std(axis=0)
    coef, intercept = np.zeros(worker.D), 0.0
    orders = fb.BatchLoader(np.arange(worker.N), batch_size=worker.N, shuffle=True,
                            rng=worker.SEED)
    for _ in range(worker.EPOCHS):
        (order,) = list(orders)
        intercept = fb.linreg_sgd_epoch(X, y, coef, intercept, order=order,
                                        batch_size=2 * worker.B, learning_rate=worker.LR,
                                        alpha=worker.ALPHA, mean=mean, scale=scale)
    np.testing.assert_allclose(result["coef"], coef, rtol=1e-10, atol=1e-12)
    assert result["intercept"] == pytest.approx(intercept, rel=1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["exact", "bijective"])
def test_two_ranks_stop_mid_epoch_and_three_ranks_finish_it_exactly_once(tmp_path, method):
    sys.path.insert(0, str(HERE))
    import elastic_worker as worker
    state, before, after = (tmp_path / name for name in ("state.json", "2.json", "3.json"))
    run_ranks("elastic_worker.py", 2, state, before, method)
    run_ranks("elastic_worker.py", 3, state, after, method)
    seen = [i for path in (before, after) for part in json.loads(path.read_text())
            for batch in part for i in batch]
    assert json.loads(state.read_text())["global_position"] == 2 * worker.STOP_AFTER * worker.B
    assert sorted(seen) == list(range(worker.N))


def test_batch_sampler_block_shuffle_matches_the_loader_of_the_same_blocks():
    X = np.arange(300.0)
    sampler = BatchSampler(300, batch_size=16, shuffle=True, rng=4, shuffle_method="block",
                           block_size=25, shuffle_window=3)
    loader = fb.BatchLoader(X, batch_size=16, shuffle=True, rng=4, shuffle_method="block",
                            block_size=25, shuffle_window=3)
    assert list(sampler) == [b.astype(int).tolist() for b in loader]


# -- BatchSampler as PyTorch and Lightning expect ---------------------------------------

def loader_batches(n, epoch=0, **config):
    loader = fb.BatchLoader(np.arange(n), **config)
    loader.set_epoch(epoch)
    return [b.tolist() for b in loader]


def test_batch_sampler_is_a_torch_batch_sampler_with_its_attributes():
    sampler = BatchSampler(30, batch_size=4, shuffle=True, rng=2, drop_last=True)
    assert isinstance(sampler, torch.utils.data.BatchSampler)
    assert isinstance(sampler.sampler, torch.utils.data.Sampler)
    assert (sampler.batch_size, sampler.drop_last) == (4, True)
    assert len(sampler.sampler) == 30 and len(sampler) == 7


@pytest.mark.parametrize("drop_last", [False, True])
def test_torchs_positional_arguments_mean_what_they_mean_for_torch(drop_last):
    ordered = torch.utils.data.SequentialSampler(range(10))
    assert list(BatchSampler(ordered, 3, drop_last)) == \
        list(torch.utils.data.BatchSampler(ordered, 3, drop_last))


def test_the_sampler_lists_the_next_epoch_without_moving_the_batch_sampler():
    sampler = BatchSampler(30, batch_size=4, shuffle=True, rng=2)
    upcoming = list(sampler.sampler)
    assert upcoming == [i for b in loader_batches(30, batch_size=4, shuffle=True, rng=2)
                        for i in b]
    assert [i for b in sampler for i in b] == upcoming


def test_listing_the_sampler_does_not_draw_from_a_generator():
    sampler = BatchSampler(30, batch_size=4, shuffle=True, rng=np.random.default_rng(8))
    listed = list(sampler.sampler)
    batches = list(sampler)
    assert [i for b in batches for i in b] == listed
    assert batches == [b.tolist() for b in fb.BatchLoader(
        np.arange(30), batch_size=4, shuffle=True, rng=np.random.default_rng(8))]


def test_set_epoch_reaches_fastbatch_through_the_sampler_as_lightning_calls_it():
    sampler = BatchSampler(30, batch_size=4, shuffle=True, rng=2)
    sampler.sampler.set_epoch(3)
    assert list(sampler) == loader_batches(30, 3, batch_size=4, shuffle=True, rng=2)


@pytest.mark.parametrize("drop_last, remainder", [(False, "pad"), (True, "drop")])
def test_given_a_distributed_sampler_it_shards_with_fastbatchs_order(drop_last, remainder):
    # Lightning rebuilds a batch sampler made outside its hooks as cls(sampler, ...).
    data = TensorDataset(torch.arange(25))
    distributed = torch.utils.data.DistributedSampler(data, num_replicas=2, rank=1, seed=6,
                                                      drop_last=drop_last)
    sampler = BatchSampler(distributed, batch_size=4, drop_last=False)
    assert list(sampler) == loader_batches(25, batch_size=4, shuffle=True, rng=6, rank=1,
                                           world_size=2, shard_remainder=remainder)


def test_a_sampler_keyword_keeps_the_arguments_given_and_takes_the_shard():
    # Lightning rebuilds one made in a *_dataloader hook with its arguments + sampler=.
    data = TensorDataset(torch.arange(25))
    distributed = torch.utils.data.DistributedSampler(data, num_replicas=3, rank=2, seed=6)
    sampler = BatchSampler(data, batch_size=4, shuffle=True, rng=9, sampler=distributed)
    assert list(sampler) == loader_batches(25, batch_size=4, shuffle=True, rng=9, rank=2,
                                           world_size=3)


def test_set_epoch_right_after_a_restore_keeps_the_restored_position():
    whole = loader_batches(40, 1, batch_size=8, shuffle=True, rng=1)
    sampler = BatchSampler(40, batch_size=8, shuffle=True, rng=1)
    sampler.set_epoch(1)
    it = iter(sampler)
    next(it), next(it)
    restored = BatchSampler(40, batch_size=8, shuffle=True, rng=1)
    restored.load_state_dict(sampler.state_dict())
    restored.set_epoch(1)
    assert list(restored) == whole[2:]
    restored.load_state_dict(sampler.state_dict())
    restored.set_epoch(2)
    assert list(restored) == loader_batches(40, 2, batch_size=8, shuffle=True, rng=1)


# -- BatchDataset -------------------------------------------------------------------------

from fastbatch.torch_bridge import BatchDataset  # noqa: E402


def test_batch_dataset_yields_the_loaders_epochs_as_whole_batches_of_tensors():
    X = np.arange(60, dtype=np.float32).reshape(20, 3)
    y = np.arange(20)
    data = DataLoader(BatchDataset(fb.BatchLoader(X, y, batch_size=6, shuffle=True, rng=5)),
                      batch_size=None)
    assert len(data) == 4
    got = [(xb, yb) for _ in range(2) for xb, yb in data]
    expected = list(fb.BatchLoader(X, y, batch_size=6, shuffle=True, rng=5).epochs(2))
    assert len(got) == len(expected) == 8
    for (xb, yb), (xe, ye) in zip(got, expected):
        assert isinstance(xb, torch.Tensor) and xb.dtype == torch.float32
        np.testing.assert_array_equal(xb.numpy(), xe)
        np.testing.assert_array_equal(yb.numpy(), ye)


def test_batch_dataset_tensors_are_the_loaders_memory():
    X = np.zeros((10, 2))
    (first, *_) = DataLoader(BatchDataset(fb.BatchLoader(X, batch_size=4)), batch_size=None)
    first[1, 1] = 3.0
    assert X[1, 1] == 3.0       # sequential batches are views, and so are their tensors


@pytest.mark.filterwarnings("ignore:The given NumPy array is not writable")
def test_batch_dataset_converts_dict_batches():
    pa = pytest.importorskip("pyarrow")
    table = pa.table({"a": np.arange(7.0), "ids": pa.array([[1], [], [2, 3]] * 2 + [[4]])})
    (batch,) = DataLoader(BatchDataset(fb.BatchLoader(table, batch_size=8)), batch_size=None)
    assert torch.equal(batch["a"], torch.arange(7.0, dtype=torch.float64))
    assert batch["ids"].values.tolist() == [1, 2, 3, 1, 2, 3, 4]
    assert batch["ids"].offsets.tolist() == [0, 1, 1, 3, 4, 4, 6, 7]


def test_batch_dataset_state_and_set_epoch_are_the_loaders():
    whole = loader_batches(50, 2, batch_size=8, shuffle=True, rng=4)
    dataset = BatchDataset(fb.BatchLoader(np.arange(50), batch_size=8, shuffle=True, rng=4))
    dataset.set_epoch(2)
    it = iter(dataset)
    assert [next(it).tolist() for _ in range(3)] == whole[:3]
    restored = BatchDataset(fb.BatchLoader(np.arange(50), batch_size=8, shuffle=True, rng=4))
    restored.load_state_dict(dataset.state_dict())
    restored.set_epoch(2)
    assert [b.tolist() for b in restored] == whole[3:]


def test_batch_dataset_with_an_explicit_shard_leaves_the_given_loader_alone():
    loader = fb.BatchLoader(np.arange(25), batch_size=4, shuffle=True, rng=3)
    dataset = BatchDataset(loader, rank=1, world_size=2)
    assert [b.tolist() for b in dataset] == loader_batches(
        25, batch_size=4, shuffle=True, rng=3, rank=1, world_size=2)
    assert (loader.world_size, loader.step, dataset.loader.world_size) == (1, 0, 2)


def test_batch_dataset_cannot_split_a_loader_with_a_drawn_seed():
    loader = fb.BatchLoader(np.arange(25), batch_size=4, shuffle=True)
    with pytest.raises(ValueError, match="rng=None with world_size=2"):
        BatchDataset(loader, rank=0, world_size=2)


def test_batch_dataset_names_a_wrong_loader():
    with pytest.raises(TypeError, match="loader must be a fastbatch.BatchLoader, got list"):
        BatchDataset([1, 2, 3])


def test_batch_dataset_in_a_worker_process_says_to_use_the_main_process():
    dataset = BatchDataset(fb.BatchLoader(np.arange(10), batch_size=4))
    with pytest.raises(RuntimeError, match="num_workers=0"):
        list(DataLoader(dataset, batch_size=None, num_workers=1))


def test_two_processes_through_batch_dataset_and_batch_sampler_with_stateful_resume(
        tmp_path):
    import batch_dataset_worker as worker
    pytest.importorskip("torchdata.stateful_dataloader")
    out = tmp_path / "runs.json"
    run_ranks("batch_dataset_worker.py", 2, out)
    everyone = json.loads(out.read_text())
    n, padding = worker.N, 1                     # 203 samples, 2 ranks, "pad"
    for rank, runs in enumerate(everyone):
        whole = {int(e): steps for e, steps in runs["whole"].items()}
        for epoch in range(worker.EPOCHS):
            assert whole[epoch] == loader_batches(n, epoch, batch_size=worker.B, shuffle=True,
                                                  rng=worker.SEED, rank=rank, world_size=2)
        assert whole[1] != whole[0]
        assert runs["sampler"] == whole[0]
        mid = {int(e): steps for e, steps in runs["mid"].items()}
        assert mid == {1: whole[1][worker.STOP_AFTER:], 2: whole[2]}
        end = {int(e): steps for e, steps in runs["end"].items()}
        assert end == {1: whole[1], 2: whole[2]}
    for epoch in map(str, range(worker.EPOCHS)):
        parts = [{i for step in runs["whole"][epoch] for i in step} for runs in everyone]
        assert parts[0] | parts[1] == set(range(n))
        assert len(parts[0] & parts[1]) == padding
