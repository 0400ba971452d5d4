"""Batch iteration: ``num_batches``, ``BatchLoader`` and ``iter_batches``.  Wiring only:
arguments are checked in ``config``, an epoch's order is ``order``'s, batches are cut by
the C iterator (``_iterator``), prefetched in ``prefetch``, checkpointed in ``state``."""

import copy
import threading
import zlib

from fastbatch.loader import state as _state
from fastbatch.loader.config import ConfigField, LoaderConfig, checked_arguments
from fastbatch.loader._iterator import BatchIterator
from fastbatch.loader._progress import Progress
from fastbatch.sources import source_for
from fastbatch.sources._source import IndexSource
from fastbatch.loader.order import EpochOrders, RankOrder, Shard, count_batches
from fastbatch.loader.prefetch import PrefetchIterator
from fastbatch._validation import check_bool, check_count, check_int


def num_batches(n_samples, batch_size, drop_last=False):
    """Number of batches in one epoch: ``ceil(n / B)``, or ``n // B`` with ``drop_last``.

    The same count as ``len(torch.utils.data.DataLoader(...))``.

    Parameters
    ----------
    n_samples : int
        Samples in the epoch, ``>= 0``.
    batch_size : int
        Samples per batch, ``>= 1``.
    drop_last : bool, default False
        Drop the final batch when it is shorter than ``batch_size``.

    Returns
    -------
    int

    Examples
    --------
    >>> import fastbatch as fb
    >>> fb.num_batches(10, 3), fb.num_batches(10, 3, drop_last=True)
    (4, 3)
    >>> fb.num_batches(1500, 100)
    15
    """
    n_samples = check_int(n_samples, "n_samples", minimum=0)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    return count_batches(n_samples, batch_size, check_bool(drop_last, "drop_last"))


class BatchLoader:
    """Aligned mini-batches of one or more arrays, epoch after epoch.

    ``for batch in loader`` runs **one epoch**: every sample once (unless ``drop_last``
    drops the short tail), cut into ``len(loader)`` batches.  A batch is a tuple with one
    array per input array, or the array itself when a single array was given.

    Sequential batches (``shuffle=False``) are **views** of the inputs: no copy, and
    writing to one writes to the input.  Shuffled batches are **new arrays** the caller
    owns, filled in one gather pass: a kept batch never changes when the loader moves on.
    Arrays keep their dtype and trailing shape; non-contiguous inputs are gathered with a
    strided kernel (or ``numpy.take`` for layouts no single stride describes).  When the
    inputs exceed 32 MiB and a batch is at most 2 MiB, shuffled batches are gathered a
    group at a time (about 4 MiB, at least 8 batches), on all of fastbatch's threads,
    when the group's first batch is asked for; an input changed in place during an epoch may therefore show in a batch
    only from the next group on (the same on any thread count).

    Parameters
    ----------
    *arrays : array_like
        Numeric arrays, at least 1-d, sharing their first dimension (the samples).
        ``np.memmap`` and ``np.load(..., mmap_mode="r")`` arrays are read in place.
    batch_size : int, default 32
        Samples per batch (``>= 1``).  The last batch may be shorter.
    shuffle : bool, default False
        Draw a new permutation for every epoch.
    drop_last : bool, default False
        Drop the last batch of an epoch when it is shorter than ``batch_size``.
    rng : None, int, numpy.random.Generator or numpy.random.BitGenerator
        Source of the shuffles, following NumPy's convention.  With an int seed (or
        ``None``, which picks a random seed), epoch ``e``'s permutation is a pure
        function of ``(seed, e)``: ``set_epoch`` and ``load_state_dict`` need nothing
        else.  With a Generator or BitGenerator, every epoch draws from it in turn.
    rank, world_size : int, default 0 and 1
        Split every epoch between ``world_size`` processes; this loader yields the part
        of process ``rank``: positions ``rank, rank + world_size, ...`` of the epoch
        order, as in ``torch.utils.data.DistributedSampler``.  All ranks must use the
        same int seed so they agree on the permutation without talking.  The ranks'
        ``t``-th batches together are the ``t``-th batch of size
        ``batch_size * world_size`` of one process, so data-parallel training matches
        single-process training with the combined batch size.  With ``shuffle=False``
        a rank's batches are strided views of the inputs, except batches holding samples
        that "pad" wrapped around from the start (those are gathered copies; with fewer
        samples than ranks, rank ``r`` gets sample ``r % n``).
    shard_remainder : {"pad", "drop", "keep"}, default "pad"
        What to do when ``world_size`` does not divide the sample count: "pad" repeats
        samples from the start of the epoch order so every rank gets
        ``ceil(n / world_size)``, "drop" gives each ``n // world_size``, "keep" neither
        pads nor drops (part sizes differ by at most one).  "pad" and "drop" are
        DistributedSampler's ``drop_last=False`` and ``drop_last=True``.  The batch-level
        ``drop_last`` then applies within each rank's part.
    prefetch : int, default 0
        Gather this many batches ahead in a background thread (the gather kernels
        release the GIL) while your code works on the current one.  Same batches, same
        order; an error in the thread is raised in your loop; ``break`` or dropping the
        iterator stops the thread.  Useful when the per-batch work releases the GIL too
        (NumPy, PyTorch, I/O) or when the data is memory-mapped from disk.
    shuffle_method : {"exact", "bijective"}, default "exact"
        "exact" draws an exactly uniform permutation, an index array of 8 bytes per
        sample.  "bijective" builds none: each batch's samples are computed as it is
        cut, by :func:`fastbatch.index_shuffle` (epoch ``e`` of an int seed is
        ``index_shuffle(positions, n, seed, epoch=e)``), so memory is O(batch_size) for
        any ``n``; not exactly uniform (see ``index_shuffle``).  "block" reads data at
        rest at the disk's speed: blocks of consecutive rows (``block_size``) come in a
        keyed order and the rows of each window of ``shuffle_window`` blocks are mixed
        exactly (see ``fastbatch.loader.order.BlockOrder``); while a window is served,
        the next one's rows of memory-mapped inputs are read ahead, in file order.
        Sharding, ``set_epoch``, prefetch and checkpoints work with all three.  Checked,
        but no effect, unshuffled.
    block_size : int, optional
        "block" only: rows per block; None takes the input's natural unit (an Arrow
        record batch, about 1 MiB of rows of arrays).
    shuffle_window : int, default 16
        "block" only: blocks whose rows are mixed together.  ``shuffle_window`` at least
        the number of blocks is an exactly uniform shuffle of all rows; 1 keeps each
        block's rows together (in a random order).
    columns, pad_to, pad_value, fill_null
        Only when the single input is an Arrow table, record batch or Hugging Face
        ``Dataset``: then every batch is a dict {column name: array}; these select the
        columns and say how list columns are padded and nulls filled (see
        ``fastbatch.sources.arrow.ArrowSource``).

    **Elastic resume.** ``load_state_dict`` accepts a state saved with another ``rank``,
    ``world_size`` or ``batch_size`` and continues the same epoch (see there).

    Memory-mapped inputs (``np.load(path, mmap_mode="r")``, ``np.memmap``) are read in
    place: only the rows of the batches you ask for are touched, and within a batch the
    rows are read in increasing file order (the page cache reads ahead) while the batch
    keeps its random order.

    **Threads.** Every ``iter(loader)`` (each ``for`` loop) starts a whole epoch of its
    own, atomically: the selected epoch from the selected position if no iteration has
    started it yet (a new loader, after ``set_epoch``, ``load_state_dict`` or the end of
    an epoch), otherwise the next epoch.  So several threads each running their own
    ``for`` over one loader get distinct, complete epochs.  ``epoch``, ``step`` and
    ``state_dict()`` follow the iteration started last; older iterations still yield all
    their batches.  One iterator must not be advanced by two threads at once: the second
    gets a RuntimeError (handing an iterator from thread to thread is fine).

    Attributes
    ----------
    n_samples : int
        Samples in the inputs (rows along axis 0).
    samples_per_epoch : int
        Samples this rank sees per epoch (``n_samples`` when ``world_size == 1``).
    batch_size, shuffle, shuffle_method, drop_last, rank, world_size, shard_remainder, prefetch
        As given; read-only (assigning raises AttributeError: build a new loader).
    epoch : int
        Completed epochs: 0 before the first; increases when an epoch's iteration ends.
    step : int
        Batches yielded so far over all epochs (the global step).

    Examples
    --------
    >>> import numpy as np, fastbatch as fb
    >>> X, y = np.arange(20.0).reshape(10, 2), np.arange(10)
    >>> loader = fb.BatchLoader(X, y, batch_size=3)
    >>> [len(xb) for xb, yb in loader]
    [3, 3, 3, 1]
    >>> len(loader), loader.epoch, loader.step
    (4, 1, 4)
    >>> sum(1 for _ in loader.epochs(3)), loader.epoch
    (12, 4)
    """

    n_samples = ConfigField()
    samples_per_epoch = ConfigField()
    batch_size = ConfigField()
    shuffle = ConfigField()
    shuffle_method = ConfigField()
    block_size = ConfigField()
    shuffle_window = ConfigField()
    drop_last = ConfigField()
    rank = ConfigField()
    world_size = ConfigField()
    shard_remainder = ConfigField()
    prefetch = ConfigField()

    def __init__(self, *arrays, batch_size=32, shuffle=False, drop_last=False, rng=None,
                 rank=0, world_size=1, shard_remainder="pad", prefetch=0,
                 shuffle_method="exact", block_size=None, shuffle_window=16, columns=None,
                 pad_to=None, pad_value=0, fill_null=None):
        # What built this loader, for a copy with another shard (``_resharded``).
        self._arguments = (arrays, dict(
            batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
            shard_remainder=shard_remainder, prefetch=prefetch,
            shuffle_method=shuffle_method, block_size=block_size,
            shuffle_window=shuffle_window, columns=columns, pad_to=pad_to,
            pad_value=pad_value, fill_null=fill_null))
        self._source, self._inputs = source_for(arrays, columns=columns, pad_to=pad_to,
                                                pad_value=pad_value, fill_null=fill_null)
        n_samples = self._source.n_samples
        (batch_size, shuffle, drop_last, rank, world_size, prefetch, block_size,
         shuffle_window, seed, bit_generator) = checked_arguments(
            batch_size, shuffle, drop_last, rng, rank, world_size, shard_remainder,
            prefetch, shuffle_method, block_size, shuffle_window)
        # A seed the caller chose must match a checkpoint's; a drawn one gives way to it.
        self._fixed_seed = None if rng is None else seed

        self._shard = Shard(n_samples, world_size, rank, shard_remainder)
        options, layout = {}, None
        if shuffle and shuffle_method == "block":
            bounds = self._source.block_bounds(block_size)
            options = {"bounds": bounds, "window": shuffle_window}
            layout = [len(bounds) - 1, shuffle_window, zlib.crc32(bounds.tobytes())]
        self._config = LoaderConfig(
            n_samples=n_samples, batch_size=batch_size, shuffle=shuffle,
            shuffle_method=shuffle_method, drop_last=drop_last, rank=rank,
            world_size=world_size, shard_remainder=shard_remainder, prefetch=prefetch,
            samples_per_epoch=self._shard.size, block_size=block_size,
            shuffle_window=shuffle_window, block_layout=layout)
        self._source.check_batch_rows(min(batch_size, self._shard.size))
        if shuffle:
            self._source.check_shuffle_method(shuffle_method)
        self._orders = EpochOrders(n_samples, shuffle_method if shuffle else None,
                                   seed=seed, bit_generator=bit_generator, options=options)
        self._n_batches = count_batches(self._shard.size, batch_size, drop_last)
        self._progress = Progress()
        # (epoch, start) while an elastically resumed epoch splits positions [start, n).
        self._resumed = None
        # Starting an iteration, set_epoch and checkpoints each see the counters and the
        # rng in one consistent state, whatever other threads do.
        self._lock = threading.Lock()

    # -- counters --------------------------------------------------------------------
    def __len__(self):
        return self._n_batches

    @property
    def epoch(self):
        return self._progress.epoch

    @property
    def step(self):
        return self._progress.step

    def __repr__(self):
        return (
            f"BatchLoader(<{self._inputs} of {self.n_samples} samples>, "
            f"batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"drop_last={self.drop_last}, epoch={self.epoch}, step={self.step})"
        )

    # -- epochs ----------------------------------------------------------------------
    def set_epoch(self, epoch):
        """Make the next iteration run epoch ``epoch`` (as ``DistributedSampler.set_epoch``).

        With an int seed the permutation of epoch ``e`` depends only on ``(seed, e)``, so
        every rank that calls ``set_epoch(e)`` iterates the same epoch.  With a Generator
        only the counter changes: the next epoch draws from the generator as usual.

        Examples
        --------
        >>> import numpy as np, fastbatch as fb
        >>> loader = fb.BatchLoader(np.arange(6), batch_size=6, shuffle=True, rng=0)
        >>> first = [b.tolist() for b in loader.epochs(3)][2]
        >>> loader.set_epoch(2)
        >>> [b.tolist() for b in loader] == [first]
        True
        """
        epoch = check_int(epoch, "epoch", minimum=0, maximum=_state.MAX_COUNTER)
        with self._lock:
            self._progress.select(epoch)
            self._orders.forget()
            self._resumed = None

    def _split(self, epoch):
        """This rank's shard of ``epoch`` (part of the rest, for a resumed epoch)."""
        if self._resumed is None or self._resumed[0] != epoch:
            return self._shard
        return Shard(self.n_samples, self.world_size, self.rank, self.shard_remainder,
                     self._resumed[1])

    def _claim(self):
        """Start an iteration: ``(its RankOrder, first batch, generation)``."""
        with self._lock:
            epoch, first = self._progress.upcoming()
            order = RankOrder(self._orders.order(epoch), self._split(epoch))
            return order, first, self._progress.claim()

    def __iter__(self):
        order, first, generation = self._claim()
        if self.prefetch == 0:
            return BatchIterator(self._source, order, self.batch_size, self.drop_last, first,
                                 progress=self._progress, generation=generation)
        # The worker thread's iterator moves no counters; the caller's side does, when a
        # batch is handed over.
        return PrefetchIterator(
            BatchIterator(self._source, order, self.batch_size, self.drop_last, first),
            self.prefetch, self._progress, generation)

    def _index_batches(self):
        """Like ``iter(self)``, but each batch is its sample indices (int64): the arrays
        are never read (``torch_bridge.BatchSampler``)."""
        order, first, generation = self._claim()
        return BatchIterator(IndexSource(self.n_samples), order, self.batch_size,
                             self.drop_last, first, progress=self._progress,
                             generation=generation)

    def _resharded(self, rank, world_size):
        """A loader of the same inputs and configuration for ``rank`` of ``world_size``,
        continuing from this loader's ``state_dict()`` (elastically, see
        ``load_state_dict``): ``torch_bridge`` shards by ``torch.distributed`` this way.

        A Generator is copied: drawing the copy's epochs leaves this loader's alone.  A
        loader with a drawn seed (``rng=None``) cannot be split when shuffled: each rank
        would have its own seed.
        """
        arrays, options = self._arguments
        bit_generator = self._orders.bit_generator
        rng = copy.deepcopy(bit_generator) if bit_generator is not None else self._fixed_seed
        loader = BatchLoader(*arrays, rng=rng, rank=rank, world_size=world_size, **options)
        loader.load_state_dict(self.state_dict())
        return loader

    def epochs(self, k):
        """Iterate ``k`` epochs in a row (``k * len(self)`` batches).

        Examples
        --------
        >>> import numpy as np, fastbatch as fb
        >>> loader = fb.BatchLoader(np.zeros((1500, 4)), batch_size=100, shuffle=True, rng=0)
        >>> sum(1 for _ in loader.epochs(3)), loader.step, loader.epoch
        (45, 45, 3)
        """
        return self._epochs(check_count(k, "k"))

    def _epochs(self, k):
        for _ in range(k):
            yield from self

    # -- checkpointing ---------------------------------------------------------------
    def state_dict(self):
        """The loader's position as a small JSON-serialisable dict.

        It holds the configuration, the seed (or, for a Generator, its state at the start
        of the current epoch), the epoch, the batches already yielded in it
        (``position``) and the epoch's global position (samples of the epoch's order
        consumed by all ranks together, ranks moving in lockstep) — not a permutation.
        It names the next epoch's start only once the whole epoch is consumed: a rank
        whose part ended before rank 0's ("keep") still saves this epoch, so a state
        from any rank continues the same epoch.
        ``load_state_dict`` on a loader built the same way continues exactly here; on a
        loader with another ``world_size`` or ``batch_size`` it continues the epoch
        from the global position.

        Examples
        --------
        >>> import numpy as np, fastbatch as fb
        >>> loader = fb.BatchLoader(np.arange(10), batch_size=4, shuffle=True, rng=0,
        ...                         world_size=2)
        >>> _ = next(iter(loader))
        >>> state = loader.state_dict()
        >>> state["epoch"], state["position"], state["global_position"], state["step"]
        (0, 1, 8, 1)
        """
        return self._state_dict(roll_over=True)

    def _state_dict(self, roll_over):
        """The state; ``roll_over``: at the end of the epoch's batches of *every* rank,
        the next epoch's start (where the next ``iter(self)`` begins) rather than that
        epoch's end.

        Ranks move in lockstep, and rank 0's part is the longest ("keep" gives the first
        ``n % world_size`` ranks one sample more): a rank that has used up its shorter
        part is still in the epoch while rank 0 has a batch left, so its state keeps the
        epoch and its global position, from which any job goes on (issue #19).
        """
        with self._lock:
            epoch, position, step = self._progress.snapshot()
            shard = self._split(epoch)
            longest = Shard(self.n_samples, self.world_size, 0, self.shard_remainder,
                            shard.start)
            lockstep_batches = count_batches(longest.size, self.batch_size, self.drop_last)
            if roll_over and position >= lockstep_batches and position > 0:
                epoch, position, shard = epoch + 1, 0, self._shard
            raw = None
            if self._orders.bit_generator is not None:
                raw = self._orders.generator_state(epoch)
        return _state.encode(self._config, epoch=epoch, position=position, step=step,
                             seed=self._orders.seed, shard_start=shard.start,
                             bit_generator_state=raw)

    def load_state_dict(self, state):
        """Continue from ``state`` (from ``state_dict``); the next iteration resumes there.

        The whole state is checked first (types, ranges, the configuration it was saved
        with); a bad state raises TypeError or ValueError naming the field and changes
        nothing.  ``n_samples``, ``shuffle``, ``shuffle_method`` (when shuffled),
        ``drop_last``, ``shard_remainder`` and the kind of rng must match; so must an
        int seed this loader was given (a loader built with ``rng=None`` takes the
        state's seed; a Generator is set to the state's generator state).

        The state may come from any rank, ``world_size`` and ``batch_size`` (ranks move
        in lockstep, as in data-parallel training).  With the saver's ``world_size`` and
        ``batch_size`` the epoch goes on exactly as the saver's job would have.  Else it
        continues from its global position ``g``: positions ``[g, n)`` of the epoch's
        order are split between this loader's ranks as DistributedSampler splits
        ``n - g`` samples ("keep": every sample of the epoch used exactly once across
        the restart; "pad": ``ceil((n - g) / world_size)`` each, repeating positions
        from ``g`` on; "drop": ``(n - g) // world_size`` each), batches cut from the
        start of each part.  Later epochs are whole epochs at this loader's shape.  With
        a Generator the epoch is redrawn from the generator state saved at its start.

        Examples
        --------
        >>> import numpy as np, fastbatch as fb
        >>> a = fb.BatchLoader(np.arange(10), batch_size=4, shuffle=True, rng=0)
        >>> it = iter(a); _ = next(it)
        >>> b = fb.BatchLoader(np.arange(10), batch_size=4, shuffle=True, rng=0)
        >>> b.load_state_dict(a.state_dict())
        >>> [x.tolist() for x in b] == [x.tolist() for x in it]
        True
        """
        restore = _state.decode(state, self._config, self._orders.bit_generator,
                                self._fixed_seed)
        with self._lock:
            if restore.seed is not None:
                self._orders.seed = restore.seed
            else:
                self._orders.restart(restore.epoch, restore.bit_generator_state)
            self._progress.select(restore.epoch, restore.position, restore.step)
            self._resumed = (restore.epoch, restore.shard_start)


def iter_batches(*arrays, batch_size=32, shuffle=False, drop_last=False, rng=None):
    """Iterate one epoch of aligned batches; shorthand for ``iter(BatchLoader(...))``.

    Arguments are checked when this is called, before any batch is produced.

    Examples
    --------
    >>> import numpy as np, fastbatch as fb
    >>> [b.tolist() for b in fb.iter_batches(np.arange(5), batch_size=2)]
    [[0, 1], [2, 3], [4]]
    """
    return iter(BatchLoader(*arrays, batch_size=batch_size, shuffle=shuffle,
                            drop_last=drop_last, rng=rng))
