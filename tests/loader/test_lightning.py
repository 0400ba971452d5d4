"""Lightning as a real client: a 2-process CPU DDP ``Trainer`` (gloo) with Lightning's
defaults, fed through ``BatchSampler`` and through ``BatchDataset``.  Each rank trains on
its own shard of fastbatch's epoch order (disjoint, covering the data), epoch after
epoch, and a run resumed from a checkpoint saved mid-epoch or at an epoch's end goes on
with the batches the uninterrupted run had."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import fastbatch as fb

pytest.importorskip("torch")
pytest.importorskip("torchdata.stateful_dataloader")
pytest.importorskip("lightning")

import lightning_worker as worker  # noqa: E402
from ranks import HELPERS, free_port  # noqa: E402

WORLD, SAVED_AT = 2, (1, 2)          # mid.ckpt: after batch 2 of epoch 1


def fit(out, tag, route, *options):
    """Run the Lightning script (it launches its second rank itself); per-rank steps."""
    out.mkdir(exist_ok=True)
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()),
               PYTHONWARNINGS="ignore")
    try:
        done = subprocess.run([sys.executable, str(HELPERS / "lightning_worker.py"),
                               str(out), tag, route, *options], env=env, cwd=out,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=300)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the Lightning run {tag!r} did not finish within 300 s")
    assert done.returncode == 0, done.stdout.decode()[-5000:]
    return [{int(e): steps for e, steps in
             json.loads((out / f"{tag}-rank{rank}.json").read_text()).items()}
            for rank in range(WORLD)]


def fastbatch_epoch(rank, epoch):
    loader = fb.BatchLoader(np.arange(worker.N), batch_size=worker.B, shuffle=True,
                            rng=worker.SEED, rank=rank, world_size=WORLD)
    loader.set_epoch(epoch)
    return [batch.tolist() for batch in loader]


@pytest.fixture(scope="module", params=["sampler", "dataset"])
def runs(request, tmp_path_factory):
    """The uninterrupted run (saving both checkpoints) and the two resumed runs."""
    route, out = request.param, tmp_path_factory.mktemp(request.param)
    whole = fit(out, "whole", route, "--save-at", ",".join(map(str, SAVED_AT)))
    mid = fit(out / "mid", "mid", route, "--resume", str(out / "mid.ckpt"))
    end = fit(out / "end", "end", route, "--resume", str(out / "epoch-end.ckpt"))
    return whole, mid, end


@pytest.mark.slow
def test_each_epochs_shards_are_disjoint_and_cover_the_data(runs):
    whole = runs[0]
    padding = WORLD * -(-worker.N // WORLD) - worker.N       # "pad", as DistributedSampler
    for epoch in range(worker.EPOCHS):
        parts = [[i for step in whole[rank][epoch] for i in step] for rank in range(WORLD)]
        assert set(parts[0]) | set(parts[1]) == set(range(worker.N))
        assert len(set(parts[0]) & set(parts[1])) == padding
        assert len(parts[0]) == len(parts[1]) == -(-worker.N // WORLD)


@pytest.mark.slow
def test_every_epoch_is_fastbatchs_epoch_and_epoch_1_is_a_new_order(runs):
    whole = runs[0]
    for rank in range(WORLD):
        assert whole[rank][1] != whole[rank][0]
        for epoch in range(worker.EPOCHS):
            assert whole[rank][epoch] == fastbatch_epoch(rank, epoch)


@pytest.mark.slow
def test_a_checkpoint_saved_mid_epoch_resumes_with_the_next_batch(runs):
    whole, mid, _ = runs
    epoch, batch = SAVED_AT
    for rank in range(WORLD):
        assert sorted(mid[rank]) == list(range(epoch, worker.EPOCHS))
        assert mid[rank][epoch] == whole[rank][epoch][batch + 1:]
        assert mid[rank][epoch + 1] == whole[rank][epoch + 1]


@pytest.mark.slow
def test_a_checkpoint_saved_at_an_epochs_end_resumes_with_the_next_epoch(runs):
    whole, _, end = runs
    for rank in range(WORLD):
        assert end[rank] == {e: whole[rank][e] for e in range(1, worker.EPOCHS)}
