"""torchdata's StatefulDataLoader driving torch_bridge.BatchSampler through its
state_dict protocol: stop mid-epoch, save, load into a new loader, same batches."""

import pytest

torch = pytest.importorskip("torch")
stateful_dataloader = pytest.importorskip("torchdata.stateful_dataloader")
from torch.utils.data import TensorDataset  # noqa: E402

from fastbatch.torch_bridge import BatchSampler  # noqa: E402

# torchdata 0.11 calls torch.set_vital, which torch 2.13 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:'set_vital' is deprecated:UserWarning")

N, B = 100, 8
DATA = TensorDataset(torch.arange(N))


def make(num_workers, method, rng=3):
    sampler = BatchSampler(N, batch_size=B, shuffle=True, rng=rng, shuffle_method=method)
    return stateful_dataloader.StatefulDataLoader(DATA, batch_sampler=sampler,
                                                  num_workers=num_workers)


def epochs(loader, k):
    return [b[0].tolist() for _ in range(k) for b in loader]


def sampler_state(state):
    """The batch sampler's state inside a StatefulDataLoader state."""
    main = state.get("_snapshot", {}).get("_main_snapshot", state)
    return main["_index_sampler_state"]


@pytest.mark.parametrize("num_workers", [0, 2])
@pytest.mark.parametrize("method", ["exact", "bijective"])
@pytest.mark.parametrize("stop", [0, 1, 6, 13])
def test_a_loaded_state_dict_continues_with_the_uninterrupted_runs_batches(
        num_workers, method, stop):
    whole = epochs(make(num_workers, method), 2)
    loader = make(num_workers, method)
    it = iter(loader)
    seen = [next(it)[0].tolist() for _ in range(stop)]
    state = loader.state_dict()
    del it
    assert sampler_state(state)["seed"] == 3
    # A sampler with a drawn seed takes the state's: fast-forwarding it could not work.
    resumed = make(num_workers, method, rng=None)
    resumed.load_state_dict(state)
    assert seen + epochs(resumed, 2) == whole


@pytest.mark.parametrize("num_workers", [0, 2])
def test_a_state_saved_after_an_epoch_ended_resumes_with_the_next_epoch(num_workers):
    whole = epochs(make(num_workers, "bijective"), 3)
    loader = make(num_workers, "bijective")
    seen = epochs(loader, 1)
    state = loader.state_dict()
    resumed = make(num_workers, "bijective", rng=None)
    resumed.load_state_dict(state)
    assert seen + epochs(resumed, 2) == whole


# -- BatchDataset: the dataset's state_dict inside the loader's -----------------------------

def dataset_loader(rng=3):
    import numpy as np

    import fastbatch as fb
    from fastbatch.torch_bridge import BatchDataset
    return stateful_dataloader.StatefulDataLoader(
        BatchDataset(fb.BatchLoader(np.arange(N), batch_size=B, shuffle=True, rng=rng)),
        batch_size=None)


def batches(loader, k):
    return [b.tolist() for _ in range(k) for b in loader]


@pytest.mark.parametrize("stop", [0, 1, 6, 13])
def test_a_batch_dataset_resumes_where_the_loaders_state_was_saved(stop):
    whole = batches(dataset_loader(), 2)
    loader = dataset_loader()
    it = iter(loader)
    seen = [next(it).tolist() for _ in range(stop)]
    state = loader.state_dict()
    resumed = dataset_loader(rng=None)
    resumed.load_state_dict(state)
    assert seen + batches(resumed, 2) == whole


def test_a_batch_dataset_state_saved_after_an_epoch_resumes_with_the_next():
    whole = batches(dataset_loader(), 3)
    loader = dataset_loader()
    seen = batches(loader, 1)
    resumed = dataset_loader(rng=None)
    resumed.load_state_dict(loader.state_dict())
    assert seen + batches(resumed, 2) == whole
