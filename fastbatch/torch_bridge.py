"""PyTorch interop (optional extra ``fastbatch[torch]``): a batch sampler and tensors.

Nothing here imports torch until it is used, so ``import fastbatch`` never needs it.
"""

import numbers

import numpy as np

from fastbatch._validation import check_count, shown
from fastbatch.loader import BatchLoader


def _torch():
    try:
        import torch
    except ImportError as exc:
        raise ImportError(
            "this feature needs PyTorch: pip install 'fastbatch[torch]'") from exc
    return torch


class BatchSampler:
    """fastbatch's epochs as a ``batch_sampler`` for ``torch.utils.data.DataLoader``.

    Yields one list of sample indices per batch, with exactly the epochs, shuffles and
    shards of a :class:`fastbatch.BatchLoader` built with the same arguments (fast,
    exactly uniform permutations; ``set_epoch``; ``state_dict`` for exact and elastic
    resume).  No array of ``n`` indices is built: each batch's indices are computed from
    the epoch's order as the batch is cut, so with ``shuffle_method="bijective"`` memory
    stays O(batch_size) for any number of samples.

    ``state_dict()`` / ``load_state_dict()`` follow the protocol of
    ``torchdata.stateful_dataloader.StatefulDataLoader``, which saves and restores a
    batch sampler that has them: stopping such a loader mid-epoch and loading its state
    into a new one continues with the same batches.

    Parameters
    ----------
    data_source : int or sized
        The number of samples (an int ``>= 0``), or anything with ``len()`` (e.g. the
        Dataset).
    batch_size, shuffle, drop_last, rng, rank, world_size, shard_remainder, shuffle_method
        As for :class:`fastbatch.BatchLoader`.
    block_size, shuffle_window
        As for :class:`fastbatch.BatchLoader` with ``shuffle_method="block"``.  A sampler
        never sees the rows, so give ``block_size`` to match a loader of the data: with
        None the blocks are 2**20 samples.

    Examples
    --------
    >>> import torch
    >>> from torch.utils.data import DataLoader, TensorDataset
    >>> from fastbatch.torch_bridge import BatchSampler
    >>> data = TensorDataset(torch.arange(10.0))
    >>> loader = DataLoader(data, batch_sampler=BatchSampler(data, batch_size=4))
    >>> [len(b[0]) for b in loader]
    [4, 4, 2]
    """

    def __init__(self, data_source, batch_size=32, shuffle=False, drop_last=False,
                 rng=None, rank=0, world_size=1, shard_remainder="pad",
                 shuffle_method="exact", block_size=None, shuffle_window=16):
        # A zero-stride placeholder of n rows: the loader's configuration and order, no
        # memory (the rows are never read, see __iter__).
        rows = np.broadcast_to(np.int8(0), (_sample_count(data_source),))
        self._loader = BatchLoader(rows,
                                   batch_size=batch_size, shuffle=shuffle,
                                   drop_last=drop_last, rng=rng, rank=rank,
                                   world_size=world_size, shard_remainder=shard_remainder,
                                   shuffle_method=shuffle_method, block_size=block_size,
                                   shuffle_window=shuffle_window)

    def __iter__(self):
        for indices in self._loader._index_batches():
            yield indices.tolist()

    def __len__(self):
        return len(self._loader)

    def set_epoch(self, epoch):
        """Select the epoch whose permutation the next iteration uses."""
        self._loader.set_epoch(epoch)

    def state_dict(self):
        """See :meth:`fastbatch.BatchLoader.state_dict`.

        One difference: a state saved after the last batch of an epoch, before the
        iteration ended, is at the end of that epoch, not at the start of the next: a
        restored StatefulDataLoader first ends the iteration it was in.
        """
        return self._loader._state_dict(roll_over=False)

    def load_state_dict(self, state):
        """See :meth:`fastbatch.BatchLoader.load_state_dict`."""
        self._loader.load_state_dict(state)


def _sample_count(data_source):
    """The number of samples ``data_source`` stands for: an int count, or its ``len()``."""
    if isinstance(data_source, (numbers.Integral, np.bool_)):
        return check_count(data_source, "data_source")
    try:
        return len(data_source)
    except TypeError:
        raise TypeError(f"data_source must be a sample count or a sized dataset, got "
                        f"{shown(data_source)} of type {type(data_source).__name__}") from None


def as_tensors(batch):
    """A batch (an array or a tuple of arrays) as torch tensors sharing its memory.

    ``torch.from_numpy`` makes no copy: writing to the tensor writes to the array.
    Sequential batches of read-only inputs (e.g. memory-mapped files) are read-only
    views; torch warns about those, so copy them first if you need to write.

    Examples
    --------
    >>> import numpy as np
    >>> from fastbatch.torch_bridge import as_tensors
    >>> x, y = as_tensors((np.zeros((2, 3)), np.arange(2)))
    >>> tuple(x.shape), y.dtype
    ((2, 3), torch.int64)
    """
    torch = _torch()
    if isinstance(batch, tuple):
        return tuple(torch.from_numpy(a) for a in batch)
    return torch.from_numpy(batch)


def iter_tensors(loader):
    """Iterate one epoch of ``loader`` with every batch converted by :func:`as_tensors`."""
    for batch in loader:
        yield as_tensors(batch)
