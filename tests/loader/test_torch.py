"""PyTorch interop: batch sampler, shared-memory tensors, and two real processes."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastbatch as fb

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from fastbatch.torch_bridge import BatchSampler, as_tensors, iter_tensors  # noqa: E402

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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ranks(script, world_size, *args):
    """Run ``script rank world_size port *args`` as ``world_size`` processes."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(HERE.parents[1])] + os.environ.get("PYTHONPATH", "").split(os.pathsep)))
    procs = [subprocess.Popen(
        [sys.executable, str(HERE / script), str(rank), str(world_size), str(port),
         *map(str, args)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for rank in range(world_size)]
    logs = []
    for p in procs:
        try:
            logs.append(p.communicate(timeout=120)[0].decode())
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail(f"the {script} processes did not finish within 120 s")
    assert all(p.returncode == 0 for p in procs), "\n".join(logs)


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
