"""A Lightning script for test_lightning.py: a 2-process CPU DDP ``Trainer`` with
Lightning's defaults (gloo, ``use_distributed_sampler=True``), fed by fastbatch through
``route`` ("sampler": ``StatefulDataLoader(batch_sampler=BatchSampler)``, made in the
``train_dataloader`` hook; "dataset": ``StatefulDataLoader(BatchDataset(loader),
batch_size=None)``, made before the process group exists).

Every rank writes ``<out>/<tag>-rank<r>.json``: the sample ids of each training step, by
epoch.  ``--save-at E,K`` saves ``<out>/mid.ckpt`` after batch K of epoch E and
``<out>/epoch-end.ckpt`` at the end of epoch 0, and trains on.  ``--resume PATH`` continues
from a checkpoint.

Usage: lightning_worker.py OUT TAG ROUTE [--resume PATH] [--save-at E,K]
"""

import argparse
import json
import os

import lightning as L
import numpy as np
import torch
from torchdata.stateful_dataloader import StatefulDataLoader
from torch.utils.data import TensorDataset

import fastbatch as fb
from fastbatch.torch_bridge import BatchDataset, BatchSampler

N, B, SEED, EPOCHS = 101, 8, 11, 3


def data():
    return torch.linspace(-1, 1, N).unsqueeze(1), torch.arange(N)


class Recorder(L.LightningModule):
    def __init__(self, route):
        super().__init__()
        self.route = route
        self.layer = torch.nn.Linear(1, 1)
        self.seen = {}
        self.dataset_loader = None
        if route == "dataset":
            x, ids = data()
            self.dataset_loader = StatefulDataLoader(BatchDataset(fb.BatchLoader(
                x.numpy(), ids.numpy(), batch_size=B, shuffle=True, rng=SEED)),
                batch_size=None)

    def train_dataloader(self):
        if self.route == "dataset":
            return self.dataset_loader
        dataset = TensorDataset(*data())
        return StatefulDataLoader(dataset, batch_sampler=BatchSampler(
            dataset, batch_size=B, shuffle=True, rng=SEED))

    def on_train_epoch_start(self):
        # Lightning calls set_epoch only on samplers; an iterable dataset gets it here
        # (after a restore mid-epoch this hook is not called, and the state goes on).
        if self.route == "dataset":
            self.trainer.train_dataloader.dataset.set_epoch(self.current_epoch)

    def training_step(self, batch, batch_idx):
        x, ids = batch
        self.seen.setdefault(str(self.current_epoch), []).append(ids.tolist())
        return self.layer(x).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


class Checkpoints(L.Callback):
    def __init__(self, out, stop_at):
        self.out, self.stop_at = out, stop_at

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if self.stop_at == (trainer.current_epoch, batch_idx):
            trainer.save_checkpoint(os.path.join(self.out, "mid.ckpt"))

    def on_train_epoch_end(self, trainer, module):
        if self.stop_at is not None and trainer.current_epoch == 0:
            trainer.save_checkpoint(os.path.join(self.out, "epoch-end.ckpt"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("tag")
    parser.add_argument("route", choices=("sampler", "dataset"))
    parser.add_argument("--resume")
    parser.add_argument("--save-at")
    args = parser.parse_args()
    stop_at = tuple(map(int, args.save_at.split(","))) if args.save_at else None
    module = Recorder(args.route)
    trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_epochs=EPOCHS,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False,
                        callbacks=[Checkpoints(args.out, stop_at)])
    trainer.fit(module, ckpt_path=args.resume)
    with open(os.path.join(args.out, f"{args.tag}-rank{trainer.global_rank}.json"), "w") as f:
        json.dump(module.seen, f)


if __name__ == "__main__":
    main()
