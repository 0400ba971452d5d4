"""Pure-NumPy reference for the loader's epochs: DistributedSampler's definition of the
parts, applied to ``fb.permutation`` (or ``arange``), cut into batches."""

import contextlib

import numpy as np
from hypothesis import strategies as st

import fastbatch as fb
from fastbatch._rng import epoch_bit_generator


def loader_configs(max_n, max_world_size, max_seed, **more):
    """Hypothesis strategy: BatchLoader keyword arguments (``n`` for the data size) over
    every sharding mode, rank, ``drop_last`` and prefetch; ``more`` adds strategies for
    other keywords (``shuffle=st.booleans()``)."""
    return st.integers(1, max_world_size).flatmap(lambda world_size: st.fixed_dictionaries({
        "n": st.integers(0, max_n),
        "batch_size": st.integers(1, 9),
        "drop_last": st.booleans(),
        "world_size": st.just(world_size),
        "rank": st.integers(0, world_size - 1),
        "shard_remainder": st.sampled_from(["pad", "drop", "keep"]),
        "prefetch": st.sampled_from([0, 2]),
        "rng": st.integers(0, max_seed),
        **more,
    }))


def distributed_sampler_part(indices, world_size, rank, remainder):
    """torch.utils.data.DistributedSampler's part of ``indices`` for ``rank``, in NumPy.

    "pad" is its drop_last=False (repeat indices from the start, as often as needed),
    "drop" its drop_last=True; "keep" neither pads nor drops.
    """
    indices = list(indices)
    n = len(indices)
    if remainder == "pad":
        total = -(-n // world_size) * world_size
        if n:
            padding = total - n
            indices += (indices * -(-padding // n))[:padding]
    elif remainder == "drop":
        total = n // world_size * world_size
        indices = indices[:total]
    else:
        total = n
    return np.array(indices[rank:total:world_size], dtype=np.int64)


def seeded_permutation(n, seed, epoch):
    """Epoch ``epoch``'s permutation for an int seed: from the bit generator of
    ``(seed, epoch)``'s key, a pure function of ``(seed, epoch)`` (BatchLoader's ``rng``
    parameter; ``fastbatch._rng.epoch_bit_generator``)."""
    return fb.permutation(n, rng=epoch_bit_generator(seed, epoch))


def reference_batches(order, *, batch_size, drop_last=False, world_size=1, rank=0,
                      shard_remainder="pad", **_):
    """The batches of sample indices a loader yields for an epoch of global ``order``."""
    part = distributed_sampler_part(order, world_size, rank, shard_remainder)
    stop = len(part) - len(part) % batch_size if drop_last else len(part)
    return [part[i:i + batch_size] for i in range(0, stop, batch_size)]


def seeded_epochs(epochs, *, n, shuffle, rng, **config):
    """Reference batches of ``epochs`` consecutive epochs of a loader seeded with ``rng``."""
    out = []
    for e in epochs:
        order = seeded_permutation(n, rng, e) if shuffle else np.arange(n)
        out.extend(reference_batches(order, **config))
    return out


@contextlib.contextmanager
def read_ahead(mode, group_bytes=1024):
    """``mode`` "in groups": the batch iterator gathers shuffled batches a read-ahead
    group (of ``group_bytes``) at a time even for small test inputs, the group's batches
    shared out among the threads however little work they are; "batch by batch": its
    defaults, which leave small inputs alone."""
    from fastbatch.loader._read_ahead import _set_read_ahead
    if mode == "batch by batch":
        yield
        return
    previous = _set_read_ahead(group_bytes, 0, 1, 2)
    try:
        yield
    finally:
        _set_read_ahead(*previous)


READ_AHEAD_MODES = ["batch by batch", "in groups"]
