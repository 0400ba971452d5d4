"""Batch iteration: ``num_batches``, ``BatchLoader`` and ``iter_batches``."""

import copy
import mmap
import queue
import threading
import weakref

import numpy as np

from fastbatch._arrow import SourceBatches, source_for
from fastbatch._validation import as_sample_arrays, check_bool, check_int, check_rng
from fastbatch._iterator import BatchIterator, Progress
from fastbatch._random import permutation_into
from fastbatch._rng import epoch_bit_generator, fresh_seed

SHARD_REMAINDERS = ("pad", "drop", "keep")
STATE_VERSION = 1


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
    drop_last = check_bool(drop_last, "drop_last")
    if drop_last:
        return n_samples // batch_size
    return -(-n_samples // batch_size)


def shard_size(n_samples, world_size, rank, shard_remainder):
    """Samples rank ``rank`` gets per epoch, with the counts of DistributedSampler.

    "pad": ``ceil(n / world_size)`` for every rank (the order wraps around); "drop":
    ``n // world_size`` (the tail of the order is dropped); "keep": the first
    ``n % world_size`` ranks get one sample more than the others.
    """
    if shard_remainder == "pad":
        return -(-n_samples // world_size)
    if shard_remainder == "drop":
        return n_samples // world_size
    q, r = divmod(n_samples, world_size)
    return q + (rank < r)


def shard_positions(n_samples, world_size, rank, shard_remainder):
    """Positions in the epoch order that make up rank's part (``None``: all of them).

    As in ``torch.utils.data.DistributedSampler``, rank ``r`` takes every
    ``world_size``-th position starting at ``r``, after padding the order by wrapping
    around ("pad") or cutting its tail ("drop").  Strided parts have a useful property:
    the ranks' ``t``-th batches together are exactly the ``t``-th batch of size
    ``batch_size * world_size`` of the whole order, so data-parallel training matches
    single-process training with the combined batch size.
    """
    if world_size == 1:
        return None
    size = shard_size(n_samples, world_size, rank, shard_remainder)
    positions = rank + world_size * np.arange(size, dtype=np.int64)
    if n_samples and shard_remainder == "pad":
        positions %= n_samples
    return positions


class BatchLoader:
    """Aligned mini-batches of one or more arrays, epoch after epoch.

    ``for batch in loader`` runs **one epoch**: every sample once (unless ``drop_last``
    drops the short tail), cut into ``len(loader)`` batches.  A batch is a tuple with one
    array per input array, or the array itself when a single array was given.

    Sequential batches (``shuffle=False``) are **views** of the inputs: no copy, and
    writing to one writes to the input.  Shuffled batches are **new arrays** the caller
    owns, filled in one gather pass: a kept batch never changes when the loader moves on.
    Arrays keep their dtype and trailing shape; non-contiguous inputs are gathered with a
    strided kernel (or ``numpy.take`` for layouts no single stride describes).

    Parameters
    ----------
    *arrays : array_like
        Numeric arrays, at least 1-d, sharing their first dimension (the samples).
        ``np.memmap`` and ``np.load(..., mmap_mode="r")`` arrays are read in place.
    batch_size : int, default 32
        Samples per batch (``>= 1``).  The last batch may be shorter.
    shuffle : bool, default False
        Draw a new uniform permutation for every epoch.
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
        a rank's batches are strided views of the inputs, except when "pad" wraps around
        the end of the data (then they are gathered copies).
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
    columns, pad_to, pad_value, fill_null
        Only when the single input is an Arrow table, record batch or Hugging Face
        ``Dataset``: then every batch is a dict {column name: array}; these select the
        columns and say how list columns are padded and nulls filled (see
        ``fastbatch._arrow.ArrowSource``).

    Memory-mapped inputs (``np.load(path, mmap_mode="r")``, ``np.memmap``) are read in
    place: only the rows of the batches you ask for are touched, and within a batch the
    rows are read in increasing file order (the page cache reads ahead) while the batch
    keeps its random order.

    Attributes
    ----------
    n_samples : int
        Samples in the inputs (rows along axis 0).
    samples_per_epoch : int
        Samples this rank sees per epoch (``n_samples`` when ``world_size == 1``).
    rank, world_size, shard_remainder, shuffle, drop_last, prefetch
        As given.
    batch_size : int
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

    def __init__(self, *arrays, batch_size=32, shuffle=False, drop_last=False, rng=None,
                 rank=0, world_size=1, shard_remainder="pad", prefetch=0, columns=None,
                 pad_to=None, pad_value=0, fill_null=None):
        self._source = source_for(arrays, columns=columns, pad_to=pad_to,
                                  pad_value=pad_value, fill_null=fill_null)
        self._arrays = [] if self._source is not None else as_sample_arrays(arrays)
        self._single = len(self._arrays) == 1
        self.n_samples = (self._source.n_samples if self._source is not None
                          else self._arrays[0].shape[0])
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.shuffle = check_bool(shuffle, "shuffle")
        self.drop_last = check_bool(drop_last, "drop_last")
        check_rng(rng)
        self.world_size = check_int(world_size, "world_size", minimum=1)
        self.rank = check_int(rank, "rank", minimum=0)
        if self.rank >= self.world_size:
            raise ValueError(f"rank must be < world_size={self.world_size}, got {self.rank}")
        if shard_remainder not in SHARD_REMAINDERS:
            raise ValueError(
                f"shard_remainder must be one of {SHARD_REMAINDERS}, got {shard_remainder!r}"
            )
        self.shard_remainder = shard_remainder
        self.prefetch = check_int(prefetch, "prefetch", minimum=0)
        self._sorted_reads = [_is_memory_mapped(a) for a in self._arrays]
        if self.world_size > 1 and self.shuffle and rng is None:
            raise ValueError(
                f"rng=None with world_size={self.world_size}: every rank would draw its own "
                "random seed and the ranks' parts would overlap; pass the same int seed "
                "(e.g. rng=0) on every rank")
        if isinstance(rng, np.random.Generator):
            rng = rng.bit_generator
        if isinstance(rng, np.random.BitGenerator):
            self._seed, self._bit_generator = None, rng
        else:
            self._seed = fresh_seed() if rng is None else int(rng)
            self._bit_generator = None
        self._positions = shard_positions(self.n_samples, self.world_size, self.rank,
                                          self.shard_remainder)
        self.samples_per_epoch = (self.n_samples if self._positions is None
                                  else len(self._positions))
        # A rank's unshuffled share rank, rank + world_size, ... is a strided view of the
        # inputs unless "pad" wraps around the end of the data.
        self._views_step = None
        if self._positions is not None and (
                len(self._positions) < 2 or
                np.all(np.diff(self._positions) == self.world_size)):
            self._views_step = self.world_size
        self._n_batches = num_batches(self.samples_per_epoch, self.batch_size, self.drop_last)
        self._progress = Progress()
        self._epoch = 0            # the epoch in progress, or the next one to start
        self._resume = False       # the next iteration continues a restored epoch
        self._epoch_start_state = None  # Generator mode: bit generator state at epoch start

    # -- counters --------------------------------------------------------------------
    def __len__(self):
        return self._n_batches

    @property
    def epoch(self):
        return self._epoch

    @property
    def step(self):
        return self._progress.step

    def __repr__(self):
        return (
            f"BatchLoader(<{len(self._arrays)} array(s) of {self.n_samples} samples>, "
            f"batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"drop_last={self.drop_last}, epoch={self.epoch}, step={self.step})"
        )

    # -- epochs ----------------------------------------------------------------------
    def set_epoch(self, epoch):
        """Make the next iteration run epoch ``epoch`` (as ``DistributedSampler.set_epoch``).

        With an int seed the permutation of epoch ``e`` depends only on ``(seed, e)``, so
        every rank that calls ``set_epoch(e)`` iterates the same epoch.  With a Generator
        only the counter changes: the next epoch draws from the generator as usual.
        """
        self._epoch = check_int(epoch, "epoch", minimum=0)
        self._progress.position = 0
        self._resume = False
        self._progress.generation += 1

    def _epoch_order(self, epoch):
        """This rank's sample order for ``epoch``: an index array, or None for views."""
        if not self.shuffle:
            if self._positions is None or self._views_step is not None:
                return None              # all rows, or rank's strided rows: views
            return self._positions       # padding wraps around: gathered
        if self._bit_generator is None:
            bit_generator = epoch_bit_generator(self._seed, epoch)
        else:
            bit_generator = self._bit_generator
            self._epoch_start_state = copy.deepcopy(bit_generator.state)
        order = np.empty(self.n_samples, dtype=np.int64)
        permutation_into(bit_generator, order)
        if self._positions is None:
            return order
        return order[self._positions]

    def _begin_epoch(self):
        if self._resume:
            self._resume = False
            if self._bit_generator is not None and self._epoch_start_state is not None:
                self._bit_generator.state = self._epoch_start_state
        elif self._progress.position > 0:
            # The previous epoch was left (break) or fully read without its end being
            # seen: the next iteration is the next epoch.
            self._epoch += 1
            self._progress.position = 0
        self._progress.generation += 1
        return self._epoch_order(self._epoch), self._progress.position

    def _end_epoch(self, generation):
        if generation == self._progress.generation:
            self._epoch += 1
            self._progress.position = 0

    def __iter__(self):
        order, first = self._begin_epoch()
        generation = self._progress.generation
        end = _EpochEnd(self, generation)
        if self.prefetch == 0:
            return self._batches(order, first, self._progress, end)
        # The worker thread gathers into a private counter; the caller's counters move
        # only when a batch is handed over.
        batches = self._batches(order, first, Progress(), _ignore)
        return PrefetchIterator(batches, self.prefetch, self._progress, end)

    def _batches(self, order, first, progress, end):
        rows = (0, 1) if self._views_step is None else (self.rank, self._views_step)
        if self._source is not None:
            return SourceBatches(self._source, order, self.samples_per_epoch,
                                 self.batch_size, self._n_batches, first, progress, end,
                                 *rows)
        return BatchIterator(
            self._arrays, order, self.samples_per_epoch, self.batch_size, self._n_batches,
            first, self._single, progress, end, self._sorted_reads, *rows)

    def epochs(self, k):
        """Iterate ``k`` epochs in a row (``k * len(self)`` batches).

        Examples
        --------
        >>> import numpy as np, fastbatch as fb
        >>> loader = fb.BatchLoader(np.zeros((1500, 4)), batch_size=100, shuffle=True, rng=0)
        >>> sum(1 for _ in loader.epochs(3)), loader.step, loader.epoch
        (45, 45, 3)
        """
        return self._epochs(check_int(k, "k", minimum=0))

    def _epochs(self, k):
        for _ in range(k):
            yield from self

    # -- checkpointing ---------------------------------------------------------------
    def state_dict(self):
        """The loader's position as a small JSON-serialisable dict.

        It holds the seed (or, for a Generator, its state at the start of the current
        epoch), the epoch and the batches already yielded in it — not a permutation.
        ``load_state_dict`` on a loader built the same way continues exactly here.
        """
        epoch, position = self._epoch, self._progress.position
        if position >= self._n_batches and position > 0:
            epoch, position = epoch + 1, 0
        state = {
            "version": STATE_VERSION,
            "epoch": epoch,
            "position": position,
            "step": self._progress.step,
            "seed": self._seed,
            "n_samples": self.n_samples,
            "batch_size": self.batch_size,
            "shuffle": self.shuffle,
            "drop_last": self.drop_last,
            "rank": self.rank,
            "world_size": self.world_size,
            "shard_remainder": self.shard_remainder,
        }
        if self._bit_generator is not None:
            mid_epoch = position > 0 and self._epoch_start_state is not None
            raw = self._epoch_start_state if mid_epoch else self._bit_generator.state
            state["bit_generator_state"] = _to_plain(raw)
        return state

    def load_state_dict(self, state):
        """Continue from ``state`` (from ``state_dict``); the next iteration resumes there.

        The whole state is checked first: a bad state raises and changes nothing.
        """
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict from state_dict(), got {type(state).__name__}")
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported state version {state.get('version')!r}")
        required = ["epoch", "position", "step", "seed", "n_samples", "batch_size", "shuffle",
                    "drop_last", "world_size", "shard_remainder"]
        if self._seed is None and state.get("seed") is None:
            required.append("bit_generator_state")
        missing = [key for key in required if key not in state]
        if missing:
            raise ValueError(f"state is missing {', '.join(map(repr, missing))}")
        for key in ("n_samples", "batch_size", "shuffle", "drop_last", "world_size",
                    "shard_remainder"):
            if state[key] != getattr(self, key):
                raise ValueError(
                    f"state was saved with {key}={state[key]!r} but this loader has "
                    f"{key}={getattr(self, key)!r}"
                )
        if (state["seed"] is None) != (self._seed is None):
            raise ValueError(
                "state and loader disagree on the kind of rng: one was built with a seed, "
                "the other with a Generator/BitGenerator"
            )
        epoch = check_int(state["epoch"], "state['epoch']", minimum=0)
        step = check_int(state["step"], "state['step']", minimum=0)
        position = check_int(state["position"], "state['position']", minimum=0)
        if position > self._n_batches:
            raise ValueError(f"state['position']={position} exceeds len(loader)={len(self)}")
        if self._seed is not None:
            seed = check_int(state["seed"], "state['seed']", minimum=0)
        else:
            raw = _from_plain(state["bit_generator_state"])
            probe = type(self._bit_generator)()
            try:
                probe.state = raw      # rejects a state of another kind of bit generator
            except (TypeError, ValueError, KeyError) as exc:
                raise ValueError(f"state['bit_generator_state'] does not fit this loader's "
                                 f"{type(self._bit_generator).__name__}: {exc}") from None
        # Everything checked: now change the loader.
        if self._seed is not None:
            self._seed = seed
        else:
            self._bit_generator.state = raw
            self._epoch_start_state = copy.deepcopy(self._bit_generator.state)
        self._epoch = epoch
        self._progress.step = step
        self._progress.position = position
        self._resume = True
        self._progress.generation += 1


class _EpochEnd:
    """Tells the loader that epoch ``generation`` was read to its end.

    Holds the loader weakly so a live iterator does not keep a dropped loader alive.
    """

    __slots__ = ("loader", "generation")

    def __init__(self, loader, generation):
        self.loader = weakref.ref(loader)
        self.generation = generation

    def __call__(self):
        loader = self.loader()
        if loader is not None:
            loader._end_epoch(self.generation)


def _ignore():
    pass


def _is_memory_mapped(array):
    """True for np.memmap arrays and views whose memory belongs to an mmap."""
    while isinstance(array, np.ndarray):
        if isinstance(array, np.memmap):
            return True
        array = array.base
    return isinstance(array, mmap.mmap)


_DONE = object()


class PrefetchIterator:
    """One epoch of batches gathered ``depth`` batches ahead by a background thread.

    The gather kernels release the GIL, so the thread fills the next batches while the
    caller computes.  Batches come in the same order as without prefetching; an exception
    in the thread is raised in the caller at the batch where it happened; leaving the
    loop (``break``) or dropping the iterator stops the thread (``close()`` does so
    explicitly and waits for it).
    """

    def __init__(self, batches, depth, progress, on_exhausted):
        self._queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._progress = progress
        self._generation = progress.generation
        self._on_exhausted = on_exhausted
        self._finished = False
        self._thread = threading.Thread(
            target=_prefetch_worker, args=(batches, self._queue, self._stop),
            name="fastbatch-prefetch", daemon=True)
        self._thread.start()

    def __iter__(self):
        return self

    def __next__(self):
        if self._finished:
            raise StopIteration
        item = self._queue.get()
        if item is _DONE:
            self._finished = True
            self._thread.join()
            self._on_exhausted()
            raise StopIteration
        if isinstance(item, _Failure):
            self._finished = True
            self._thread.join()
            raise item.error
        if self._progress.generation == self._generation:
            self._progress.step += 1
            self._progress.position += 1
        return item

    def close(self):
        """Stop the background thread and wait for it to end."""
        self._finished = True
        self._stop.set()
        while self._thread.is_alive():
            try:                      # unblock a worker waiting for room in the queue
                self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(timeout=0.01)

    def __del__(self):
        if hasattr(self, "_thread"):
            self.close()


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error):
        self.error = error


def _prefetch_worker(batches, out, stop):
    # Runs in the background thread; it never touches the loader or the caller's state.
    try:
        for batch in batches:
            while not stop.is_set():
                try:
                    out.put(batch, timeout=0.05)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
        item = _DONE
    except BaseException as error:   # handed to the caller, raised there
        item = _Failure(error)
    while not stop.is_set():
        try:
            out.put(item, timeout=0.05)
            return
        except queue.Full:
            continue


def _to_plain(value):
    """A bit generator state with arrays turned into lists (JSON-serialisable)."""
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _from_plain(value):
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return np.asarray(value["__ndarray__"], dtype=value["dtype"])
        return {k: _from_plain(v) for k, v in value.items()}
    return value


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
