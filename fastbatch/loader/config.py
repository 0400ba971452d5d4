"""A loader's configuration: checked and fixed when the loader is built, read-only
afterwards."""

from typing import NamedTuple

import numpy as np

from fastbatch.loader.order import SHARD_REMAINDERS, SHUFFLE_METHODS
from fastbatch._rng import fresh_seed
from fastbatch._validation import check_bool, check_choice, check_count, check_rng


def checked_arguments(batch_size, shuffle, drop_last, rng, rank, world_size,
                      shard_remainder, prefetch, shuffle_method, block_size,
                      shuffle_window):
    """``BatchLoader``'s arguments checked, each error naming its argument, before any
    work: ``(batch_size, shuffle, drop_last, rank, world_size, prefetch, block_size,
    shuffle_window, seed, bit_generator)``, the rng as an int seed (drawn for None) or
    a bit generator (of a Generator or BitGenerator; seed None)."""
    batch_size = check_count(batch_size, "batch_size", minimum=1)
    shuffle = check_bool(shuffle, "shuffle")
    drop_last = check_bool(drop_last, "drop_last")
    check_rng(rng)
    world_size = check_count(world_size, "world_size", minimum=1)
    rank = check_count(rank, "rank")
    if rank >= world_size:
        raise ValueError(f"rank must be < world_size={world_size}, got {rank}")
    check_choice(shard_remainder, "shard_remainder", SHARD_REMAINDERS)
    check_choice(shuffle_method, "shuffle_method", tuple(SHUFFLE_METHODS))
    prefetch = check_count(prefetch, "prefetch")
    if block_size is not None:
        block_size = check_count(block_size, "block_size", minimum=1)
    shuffle_window = check_count(shuffle_window, "shuffle_window", minimum=1)
    if world_size > 1 and shuffle and rng is None:
        raise ValueError(
            f"rng=None with world_size={world_size}: every rank would draw its own "
            "random seed and the ranks' parts would overlap; pass the same int seed "
            "(e.g. rng=0) on every rank")
    if isinstance(rng, np.random.Generator):
        rng = rng.bit_generator
    if isinstance(rng, np.random.BitGenerator):
        seed, bit_generator = None, rng
    else:
        seed, bit_generator = (fresh_seed() if rng is None else int(rng)), None
    return (batch_size, shuffle, drop_last, rank, world_size, prefetch, block_size,
            shuffle_window, seed, bit_generator)


class LoaderConfig(NamedTuple):
    """A loader's configuration, fixed when it is built."""

    n_samples: int
    batch_size: int
    shuffle: bool
    shuffle_method: str
    drop_last: bool
    rank: int
    world_size: int
    shard_remainder: str
    prefetch: int
    samples_per_epoch: int
    block_size: object = None
    shuffle_window: int = 16
    #: A block shuffle's layout: [blocks, shuffle_window, CRC-32 of the block bounds].
    block_layout: object = None


class ConfigField:
    """One read-only field of the loader's configuration (assigning raises)."""

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, loader, owner=None):
        if loader is None:
            return self
        return getattr(loader._config, self.name)

    def __set__(self, loader, value):
        raise AttributeError(
            f"{type(loader).__name__}.{self.name} is read-only: a loader's configuration "
            "is fixed when it is built; make a new loader to change it")

    def __delete__(self, loader):
        self.__set__(loader, None)
