"""PyTorch interop (optional extra ``fastbatch[torch]``): a batch sampler, a dataset of
whole batches, and tensors.

``import fastbatch`` never imports this module.  Importing it imports torch when torch is
installed (the sampler and the dataset then subclass torch's ``BatchSampler`` and
``IterableDataset``, as Lightning and ``DataLoader`` expect); without torch,
:class:`BatchSampler` still works as a plain iterable of index lists.
"""

import numbers

import numpy as np

from fastbatch._validation import check_count, shown
from fastbatch.loader import BatchLoader

try:
    from torch.utils.data import BatchSampler as _TorchBatchSampler
    from torch.utils.data import IterableDataset as _TorchIterableDataset
    from torch.utils.data import Sampler as _TorchSampler
except ImportError:
    _TorchBatchSampler = _TorchIterableDataset = _TorchSampler = object


def _torch():
    try:
        import torch
    except ImportError as exc:
        raise ImportError(
            "this feature needs PyTorch: pip install 'fastbatch[torch]'") from exc
    return torch


def _process_group():
    """``(rank, world_size)`` of torch.distributed's default process group, or None when
    torch.distributed is missing or not initialised."""
    try:
        import torch.distributed as dist
    except ImportError:
        return None
    if not (dist.is_available() and dist.is_initialized()):
        return None
    return dist.get_rank(), dist.get_world_size()


class _Shards:
    """A loader split as torch.distributed says: a ``rank`` or ``world_size`` of None is
    the default process group's, once one is initialised.

    Until then the loader stays as it is and the group is looked up again before every
    epoch (``current``): Lightning and ``torchrun`` scripts often build their data before
    the process group exists.  Re-splitting continues from the loader's state (epoch and
    position), so ``set_epoch`` and ``load_state_dict`` called before carry over.
    """

    def __init__(self, loader, rank, world_size):
        self._loader = loader
        self._wanted = (rank, world_size)
        self._settled = False
        self.current()

    def current(self):
        """The loader of this process's shard, as far as it is known now."""
        if self._settled:
            return self._loader
        rank, world_size = self._wanted
        group = None if None not in self._wanted else _process_group()
        self._settled = group is not None or None not in self._wanted
        if group is not None:
            rank = group[0] if rank is None else rank
            world_size = group[1] if world_size is None else world_size
        else:
            rank = self._loader.rank if rank is None else rank
            world_size = self._loader.world_size if world_size is None else world_size
        if (rank, world_size) != (self._loader.rank, self._loader.world_size):
            self._loader = self._loader._resharded(rank, world_size)
        return self._loader


class _Epochs:
    """``set_epoch`` / ``state_dict`` / ``load_state_dict`` of a loader behind a bridge.

    ``set_epoch(e)`` right after ``load_state_dict`` of a state inside epoch ``e`` keeps
    the restored position, as ``DistributedSampler.set_epoch`` would (Lightning selects
    the epoch after restoring a checkpoint).
    """

    def __init__(self, shards):
        self._shards = shards
        self._restored_epoch = None

    def set_epoch(self, epoch):
        loader = self._shards.current()
        if epoch == self._restored_epoch and epoch == loader.epoch:
            return
        self._restored_epoch = None
        loader.set_epoch(epoch)

    def started(self):
        """An iteration starts: a restored position is used, set_epoch resets again."""
        self._restored_epoch = None
        return self._shards.current()

    def state_dict(self):
        return self._shards.current()._state_dict(roll_over=False)

    def load_state_dict(self, state):
        loader = self._shards.current()
        loader.load_state_dict(state)
        self._restored_epoch = loader.epoch


class BatchSampler(_TorchBatchSampler):
    """fastbatch's epochs as a ``batch_sampler`` for ``torch.utils.data.DataLoader``.

    Yields one list of sample indices per batch, with exactly the epochs, shuffles and
    shards of a :class:`fastbatch.BatchLoader` built with the same arguments (fast,
    exactly uniform permutations; ``set_epoch``; ``state_dict`` for exact and elastic
    resume).  No array of ``n`` indices is built: each batch's indices are computed from
    the epoch's order as the batch is cut, so with ``shuffle_method="bijective"`` memory
    stays O(batch_size) for any number of samples.

    The DataLoader still fetches and collates the batch sample by sample
    (``dataset[i]`` for every index, then ``default_collate``): for arrays in memory,
    :class:`BatchDataset` is one to two orders of magnitude faster.

    **PyTorch's and Lightning's API.** With torch installed this is a
    ``torch.utils.data.BatchSampler`` with its ``sampler``, ``batch_size`` and
    ``drop_last`` (also its positional order: the other arguments are keyword-only),
    and ``BatchSampler(sampler, batch_size=..., drop_last=...)`` works as
    Lightning calls it: given a ``DistributedSampler``, it takes the rank, the world size
    and ``drop_last`` (as ``shard_remainder``) from it, and, where not given here, its
    ``shuffle`` and ``seed``; the sample order stays fastbatch's (no second shuffle on
    top).  ``sampler.set_epoch(e)`` reaches this batch sampler, which is where Lightning
    calls it (``dataloader.batch_sampler.sampler``).

    **torch.distributed.** A ``rank`` or ``world_size`` left at None is taken from
    torch.distributed's default process group when one is initialised (looked up again
    before each epoch until one is), else 0 and 1.

    ``state_dict()`` / ``load_state_dict()`` follow the protocol of
    ``torchdata.stateful_dataloader.StatefulDataLoader``, which saves and restores a
    batch sampler that has them: stopping such a loader mid-epoch and loading its state
    into a new one continues with the same batches (in Lightning too, whose checkpoints
    keep a StatefulDataLoader's state).

    Parameters
    ----------
    data_source : int, sized or torch Sampler
        The number of samples (an int ``>= 0``), anything with ``len()`` (e.g. the
        Dataset), or a sampler as ``torch.utils.data.BatchSampler`` takes (a
        ``DistributedSampler`` counts its dataset; any other sampler gives its length
        only: the order is fastbatch's).
    batch_size : int, default 32
        As for :class:`fastbatch.BatchLoader`.
    drop_last : bool, default False
        As for :class:`fastbatch.BatchLoader`.
    shuffle : bool, optional
        As for :class:`fastbatch.BatchLoader`; None is False, or a given
        DistributedSampler's ``shuffle``.
    rng : None, int, numpy.random.Generator or numpy.random.BitGenerator
        As for :class:`fastbatch.BatchLoader`; None with a DistributedSampler is its
        ``seed`` (every rank agrees on it).
    rank, world_size : int, optional
        As for :class:`fastbatch.BatchLoader`; None: from a given DistributedSampler,
        else from torch.distributed (see above), else 0 and 1.
    shard_remainder, shuffle_method
        As for :class:`fastbatch.BatchLoader`.
    block_size, shuffle_window
        As for :class:`fastbatch.BatchLoader` with ``shuffle_method="block"``.  A sampler
        never sees the rows, so give ``block_size`` to match a loader of the data: with
        None the blocks are 2**20 samples.
    sampler : torch.utils.data.Sampler, optional
        The sampler keyword of ``torch.utils.data.BatchSampler``, read as
        ``data_source`` is (Lightning passes its DistributedSampler here when it
        rebuilds the batch sampler of a DataLoader made in a ``*_dataloader`` hook).

    Attributes
    ----------
    sampler : torch.utils.data.Sampler
        The sample indices of this batch sampler's next epoch, in order; its
        ``set_epoch`` is this batch sampler's.
    batch_size, drop_last : int, bool
        As given.

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

    def __init__(self, data_source=None, batch_size=32, drop_last=False, *, shuffle=None,
                 rng=None, rank=None, world_size=None, shard_remainder="pad",
                 shuffle_method="exact", block_size=None, shuffle_window=16, sampler=None):
        if sampler is None and _is_torch_sampler(data_source):
            sampler = data_source
        distributed = _distributed_sampler(sampler)
        if distributed is not None:
            n = _sample_count(distributed.dataset, "sampler.dataset")
            shuffle = distributed.shuffle if shuffle is None else shuffle
            rng = distributed.seed if rng is None and shuffle else rng
            rank = distributed.rank if rank is None else rank
            world_size = distributed.num_replicas if world_size is None else world_size
            shard_remainder = "drop" if distributed.drop_last else "pad"
        elif sampler is not None:
            n = _sample_count(sampler, "sampler")
        else:
            n = _sample_count(data_source, "data_source")
        # A zero-stride placeholder of n rows: the loader's configuration and order, no
        # memory (the rows are never read, see __iter__).
        rows = np.broadcast_to(np.int8(0), (n,))
        group = _process_group() or (0, 1)
        loader = BatchLoader(rows, batch_size=batch_size,
                             shuffle=False if shuffle is None else shuffle,
                             drop_last=drop_last, rng=rng,
                             rank=group[0] if rank is None else rank,
                             world_size=group[1] if world_size is None else world_size,
                             shard_remainder=shard_remainder,
                             shuffle_method=shuffle_method, block_size=block_size,
                             shuffle_window=shuffle_window)
        self._epochs = _Epochs(_Shards(loader, rank, world_size))
        self._sampler = _EpochSampler(self)

    @property
    def sampler(self):
        """The next epoch's sample indices; ``sampler.set_epoch`` is this one's."""
        return self._sampler

    @property
    def batch_size(self):
        """Samples per batch."""
        return self._epochs._shards.current().batch_size

    @property
    def drop_last(self):
        """Whether the short last batch of an epoch is dropped."""
        return self._epochs._shards.current().drop_last

    def __iter__(self):
        for indices in self._epochs.started()._index_batches():
            yield indices.tolist()

    def __len__(self):
        return len(self._epochs._shards.current())

    def set_epoch(self, epoch):
        """Select the epoch whose permutation the next iteration uses.

        Right after ``load_state_dict`` of a state inside epoch ``epoch``, the restored
        position is kept.
        """
        self._epochs.set_epoch(epoch)

    def state_dict(self):
        """See :meth:`fastbatch.BatchLoader.state_dict`.

        One difference: a state saved after the last batch of an epoch, before the
        iteration ended, is at the end of that epoch, not at the start of the next: a
        restored StatefulDataLoader first ends the iteration it was in.
        """
        return self._epochs.state_dict()

    def load_state_dict(self, state):
        """See :meth:`fastbatch.BatchLoader.load_state_dict`."""
        self._epochs.load_state_dict(state)


class _EpochSampler(_TorchSampler):
    """A batch sampler's ``sampler``: its next epoch's sample indices, one by one.

    ``set_epoch`` is the batch sampler's (Lightning calls it here).  Iterating reads a
    copy of the batch sampler's position: the batch sampler itself does not move.
    """

    def __init__(self, batch_sampler):
        self._batch_sampler = batch_sampler

    def set_epoch(self, epoch):
        """Select the epoch of the batch sampler (see :meth:`BatchSampler.set_epoch`)."""
        self._batch_sampler.set_epoch(epoch)

    def __len__(self):
        return self._batch_sampler._epochs._shards.current().samples_per_epoch

    def __iter__(self):
        loader = self._batch_sampler._epochs._shards.current()
        copy = loader._resharded(loader.rank, loader.world_size)
        for indices in copy._index_batches():
            yield from indices.tolist()


def _is_torch_sampler(value):
    return _TorchSampler is not object and isinstance(value, _TorchSampler)


def _distributed_sampler(sampler):
    """``sampler`` if it is a ``torch.utils.data.DistributedSampler``, else None."""
    if sampler is None or _TorchSampler is object:
        return None
    from torch.utils.data import DistributedSampler
    return sampler if isinstance(sampler, DistributedSampler) else None


def _sample_count(data_source, name="data_source"):
    """The number of samples ``data_source`` stands for: an int count, or its ``len()``."""
    if isinstance(data_source, (numbers.Integral, np.bool_)):
        return check_count(data_source, name)
    try:
        return len(data_source)
    except TypeError:
        raise TypeError(f"{name} must be a sample count or a sized dataset, got "
                        f"{shown(data_source)} of type {type(data_source).__name__}") from None


class BatchDataset(_TorchIterableDataset):
    """A :class:`fastbatch.BatchLoader`'s epochs as a torch ``IterableDataset`` of whole
    batches: the fast way to feed PyTorch and Lightning.

    Use it with ``DataLoader(BatchDataset(loader), batch_size=None)``: the DataLoader then
    passes each batch through as it is, instead of fetching and collating it sample by
    sample (which ``batch_sampler=`` still does).  Every batch is the loader's batch as
    tensors sharing its memory (``torch.from_numpy``, no copy; a tuple of tensors for
    several arrays, a dict for an Arrow table).  ``for batch in dataloader`` runs one
    epoch of the loader; the next ``for`` runs the next epoch.

    **torch.distributed.** A loader built for one process (``world_size=1``) is split
    by torch.distributed's default process group when one is initialised (looked up
    before each epoch until one is): every rank reads its own shard of fastbatch's epoch
    order, as ``BatchLoader(..., rank=dist.get_rank(), world_size=dist.get_world_size())``
    would.  This needs the same int seed on every rank (``rng=0``); the split loader
    continues from the given loader's epoch and position, and the given loader itself is
    left alone.  A loader built with ``world_size > 1`` is used as it is.

    ``set_epoch``, ``state_dict`` and ``load_state_dict`` are the loader's (see
    :class:`BatchSampler` for the one difference); torchdata's ``StatefulDataLoader``
    saves and restores them, also inside Lightning checkpoints, so a restored loader
    continues fastbatch's order mid-epoch.  Lightning calls ``set_epoch`` on samplers,
    never on an iterable dataset, and restores no loader state from a checkpoint saved
    at an epoch's end: call ``dataset.set_epoch(self.current_epoch)`` in the module's
    ``on_train_epoch_start`` (docs/guide/torch.rst has the recipe).

    The batches come from the main process (fastbatch gathers them on its own threads,
    GIL released): use ``num_workers=0``, and the loader's ``prefetch`` to overlap the
    gathering with training.  Iterating in a DataLoader worker raises.

    Parameters
    ----------
    loader : fastbatch.BatchLoader
        The batches.
    rank, world_size : int, optional
        Split the loader for this process: None takes them from the loader when it was
        built with ``world_size > 1``, else from torch.distributed when initialised,
        else 0 and 1.

    Examples
    --------
    >>> import numpy as np, fastbatch as fb
    >>> from torch.utils.data import DataLoader
    >>> from fastbatch.torch_bridge import BatchDataset
    >>> X, y = np.zeros((10, 3), dtype=np.float32), np.arange(10)
    >>> loader = fb.BatchLoader(X, y, batch_size=4, shuffle=True, rng=0)
    >>> data = DataLoader(BatchDataset(loader), batch_size=None)
    >>> [(tuple(xb.shape), yb.dtype) for xb, yb in data]
    [((4, 3), torch.int64), ((4, 3), torch.int64), ((2, 3), torch.int64)]
    """

    def __init__(self, loader, rank=None, world_size=None):
        _torch()
        if not isinstance(loader, BatchLoader):
            raise TypeError(f"loader must be a fastbatch.BatchLoader, got "
                            f"{type(loader).__name__}")
        if rank is None and world_size is None and loader.world_size > 1:
            rank, world_size = loader.rank, loader.world_size
        self._epochs = _Epochs(_Shards(loader, rank, world_size))

    @property
    def loader(self):
        """The loader this process reads (split by torch.distributed once known)."""
        return self._epochs._shards.current()

    def __iter__(self):
        torch = _torch()
        if torch.utils.data.get_worker_info() is not None:
            raise RuntimeError(
                "BatchDataset was iterated in a DataLoader worker process: it yields "
                "whole batches gathered by fastbatch's threads in the main process; use "
                "DataLoader(..., batch_size=None, num_workers=0) (and the BatchLoader's "
                "prefetch= to overlap loading with training)")
        for batch in self._epochs.started():
            yield _tensors(torch, batch)

    def __len__(self):
        return len(self.loader)

    def set_epoch(self, epoch):
        """Select the epoch the next iteration runs (see :meth:`BatchSampler.set_epoch`)."""
        self._epochs.set_epoch(epoch)

    def state_dict(self):
        """See :meth:`BatchSampler.state_dict`."""
        return self._epochs.state_dict()

    def load_state_dict(self, state):
        """See :meth:`fastbatch.BatchLoader.load_state_dict`."""
        self._epochs.load_state_dict(state)


def as_tensors(batch):
    """A batch (an array, a tuple of arrays, or an Arrow loader's dict, ragged columns
    included) as torch tensors sharing its memory.

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
    return _tensors(_torch(), batch)


def _tensors(torch, batch):
    if isinstance(batch, dict):
        return {name: _tensors(torch, value) for name, value in batch.items()}
    if isinstance(batch, tuple):
        parts = [_tensors(torch, value) for value in batch]
        # A named tuple (a RaggedBatch of a list column) keeps its type and fields.
        return type(batch)(*parts) if hasattr(batch, "_fields") else tuple(parts)
    return torch.from_numpy(batch)


def iter_tensors(loader):
    """Iterate one epoch of ``loader`` with every batch converted by :func:`as_tensors`."""
    for batch in loader:
        yield as_tensors(batch)
