"""The sample order of an epoch as a function of position.

Three layers, each answering one question:

- A **global order** says which sample sits at each position ``0 .. n-1`` of an epoch:
  :class:`SequentialOrder` (position ``p`` is sample ``p``) and :class:`ExactOrder` (a
  uniform permutation, held as a table).  A global order has ``n``, ``at(positions)`` and
  two hints the iterator uses to stay in C: ``is_identity`` (batches of consecutive
  positions are views) and ``table`` (an int64 array with ``at(p) == table[p]``, or None).
  A shuffle method is one such class with a ``draw(n, bit_generator)`` classmethod,
  registered in :data:`SHUFFLE_METHODS`, and optionally a ``seeded(n, seed, epoch)``
  classmethod for int seeds (without it, ``draw`` gets epoch ``e``'s bit generator
  ``fastbatch._rng.epoch_bit_generator(seed, e)``, from the one key derivation).
  :class:`BijectiveOrder` is the keyed bijection of
  ``fb.index_shuffle``: ``draw`` takes a key, ``at`` computes the values of the asked
  positions, ``is_identity = False`` and ``table = None``, so no index array exists.
  :class:`~fastbatch.loader.block_order.BlockOrder` (its own module) is the block
  shuffle, read by the iterator through window tables.
- A :class:`Shard` is ``torch.utils.data.DistributedSampler``'s split of the positions
  ``[start, n)`` between ``world_size`` ranks, computed on the fly: rank-local position
  ``t`` is global position ``start + rank + world_size * t``, wrapping around inside
  ``[start, n)`` for "pad".  It maps a rank's consumed samples to the epoch's *global
  position* (samples of the global order consumed by all ranks together) and back, which
  is what a checkpoint records and what a job resumed with another shape starts from.
- A :class:`RankOrder` is a global order seen through a shard: what one loader walks.

:class:`EpochOrders` draws each epoch's global order from the loader's rng.
"""

from typing import NamedTuple

import numpy as np

from fastbatch._kernels.bijection import apply_into
from fastbatch._rng import epoch_bit_generator
from fastbatch._kernels.shuffle import permutation_into
from fastbatch._kernels.threads import get_num_threads
from fastbatch.loader._progress import count_batches
from fastbatch.loader.block_order import BlockOrder
from fastbatch.shuffling import bijection_key

SHARD_REMAINDERS = ("pad", "drop", "keep")


class SequentialOrder:
    """Position ``p`` of the epoch is sample ``p``.

    Examples
    --------
    >>> from fastbatch.loader.order import SequentialOrder
    >>> SequentialOrder(5).at(np.array([3, 1])).tolist()
    [3, 1]
    """

    method = None
    is_identity = True
    table = None

    def __init__(self, n):
        self.n = n

    @classmethod
    def draw(cls, n, bit_generator):
        return cls(n)

    def at(self, positions):
        return np.array(positions, dtype=np.int64)


class ExactOrder:
    """A uniform random permutation of ``range(n)``, held as an int64 table (8n bytes).

    Examples
    --------
    >>> from fastbatch.loader.order import ExactOrder
    >>> order = ExactOrder.draw(5, np.random.PCG64(0))
    >>> sorted(order.at(np.arange(5)).tolist())
    [0, 1, 2, 3, 4]
    """

    method = "exact"
    is_identity = False

    def __init__(self, table):
        self.table = table
        self.n = len(table)

    @classmethod
    def draw(cls, n, bit_generator):
        table = np.empty(n, dtype=np.int64)
        permutation_into(bit_generator, table)
        return cls(table)

    def at(self, positions):
        return self.table[positions]


class BijectiveOrder:
    """The keyed bijection of :func:`fastbatch.index_shuffle`: O(1) memory, no table.

    Position ``p`` holds ``index_shuffle(p, n, key)``, computed when asked (the C
    iterator reads ``key`` and computes its batches' indices itself).  With an int
    seed, epoch ``e`` uses the key of ``(seed, e)``, so the epoch's order is
    ``fb.index_shuffle(np.arange(n), n, seed, epoch=e)``; a bit generator gives a key of
    two 64-bit draws.  Not an exactly uniform permutation (see ``index_shuffle``).

    Examples
    --------
    >>> import fastbatch as fb
    >>> from fastbatch.loader.order import BijectiveOrder
    >>> order = BijectiveOrder.seeded(10, seed=3, epoch=1)
    >>> order.at(np.arange(10)).tolist() == fb.index_shuffle(np.arange(10), 10, 3,
    ...                                                      epoch=1).tolist()
    True
    """

    method = "bijective"
    is_identity = False
    table = None

    def __init__(self, n, key):
        self.n, self.key = n, key

    @classmethod
    def draw(cls, n, bit_generator):
        key0, key1 = bit_generator.random_raw(2).tolist()
        return cls(n, (key0, key1))

    @classmethod
    def seeded(cls, n, seed, epoch):
        return cls(n, bijection_key(seed, epoch))

    def at(self, positions):
        src = np.ascontiguousarray(positions, dtype=np.int64).reshape(-1)
        out = np.empty_like(src)
        if len(src) and not apply_into(src, out, self.n, self.key[0], self.key[1], False,
                                       get_num_threads()):
            raise IndexError(f"positions outside [0, {self.n}) of a bijective order")
        return out


#: shuffle_method name -> global order class.
SHUFFLE_METHODS = {cls.method: cls for cls in (ExactOrder, BijectiveOrder, BlockOrder)}


class Stride(NamedTuple):
    """Rank-local positions ``t < count`` are global positions ``first + step * t``.

    The sample at such a position is ``table[first + step * t]``, or
    ``index_shuffle(first + step * t)`` under ``key`` (two uint64, an order of all the
    input's samples), or read from the window tables of ``windows`` (a
    :class:`BlockOrder`), or the position itself when all are None (then ``count > 0``
    only for the identity order: rows a view can show).  ``count == 0`` means: ask
    :meth:`RankOrder.sample_indices` for every batch.
    """

    table: object
    first: int
    step: int
    count: int
    key: object = None
    windows: object = None


def shard_size(span, world_size, rank, shard_remainder):
    """Samples rank ``rank`` gets from ``span`` positions, with DistributedSampler's counts.

    "pad": ``ceil(span / world_size)`` for every rank; "drop": ``span // world_size``;
    "keep": the first ``span % world_size`` ranks get one sample more than the others.

    Examples
    --------
    >>> [shard_size(10, 4, r, "keep") for r in range(4)]
    [3, 3, 2, 2]
    """
    if shard_remainder == "pad":
        return -(-span // world_size)
    if shard_remainder == "drop":
        return span // world_size
    q, r = divmod(span, world_size)
    return q + (rank < r)


class Shard:
    """Rank ``rank``'s part of the positions ``[start, n)`` of an epoch.

    As in ``torch.utils.data.DistributedSampler``, rank ``r`` takes every
    ``world_size``-th position starting at ``start + r``, after padding by wrapping around
    ("pad") or cutting the tail ("drop"); "keep" does neither.  Strided parts have a useful
    property: the ranks' ``t``-th batches together are the ``t``-th batch of size
    ``batch_size * world_size`` of the whole order.

    Examples
    --------
    >>> from fastbatch.loader.order import Shard
    >>> s = Shard(10, world_size=4, rank=3)          # "pad": 3 each, rank 3 wraps
    >>> s.size, s.positions(0, 3).tolist()
    (3, [3, 7, 1])
    >>> s.global_position(2), s.local_position(8)
    (8, 2)
    """

    __slots__ = ("n", "world_size", "rank", "remainder", "start", "size", "direct")

    def __init__(self, n, world_size=1, rank=0, remainder="pad", start=0):
        self.n, self.world_size, self.rank = n, world_size, rank
        self.remainder, self.start = remainder, start
        span = n - start
        self.size = shard_size(span, world_size, rank, remainder)
        # Rank-local positions below `direct` need no wrapping: start + rank + W*t < n.
        self.direct = min(self.size, max(0, -(-(span - rank) // world_size)))

    def stride(self):
        """``(first, step, count)``: positions ``t < count`` are ``first + step * t``."""
        return self.start + self.rank, self.world_size, self.direct

    def positions(self, i, j):
        """Global positions (int64) of rank-local positions ``[i, j)``, wrapped for "pad"."""
        if j <= self.direct:
            first = self.start + self.rank + self.world_size * i
            # The stop is just past the last position (< n): inside the int64 range.
            stop = first + self.world_size * (j - 1 - i) + 1 if j > i else first
            return np.arange(first, stop, self.world_size, dtype=np.int64)
        t = np.arange(i, j, dtype=np.uint64)
        # rank + W*t < span + W < 2**64: no overflow in uint64 for any valid W and n.
        offset = np.uint64(self.rank) + np.uint64(self.world_size) * t
        if j > self.direct:
            offset %= np.uint64(self.n - self.start)
        return offset.astype(np.int64) + self.start

    def global_position(self, consumed):
        """The epoch's global position once every rank has consumed ``consumed`` samples.

        Ranks move in lockstep (data-parallel training), so positions
        ``[start, start + world_size * consumed)`` are consumed, capped at ``n``.
        """
        return self.start + min(self.world_size * consumed, self.n - self.start)

    def local_position(self, global_position):
        """How many of this rank's samples lie before ``global_position`` (inverse of
        :meth:`global_position`; all of them once the global order is used up)."""
        if global_position >= self.n:
            return self.size
        ahead = global_position - self.start - self.rank
        return min(self.size, max(0, -(-ahead // self.world_size)))


class RankOrder:
    """One rank's part of one epoch: sample indices by rank-local position.

    Examples
    --------
    >>> from fastbatch.loader.order import RankOrder, SequentialOrder, Shard
    >>> order = RankOrder(SequentialOrder(10), Shard(10, world_size=3, rank=1))
    >>> len(order), order.sample_indices(0, 4).tolist(), order.rows(0, 3)
    (4, [1, 4, 7, 0], (1, 3))
    >>> order.rows(2, 4) is None          # wraps around to sample 0: not a stride
    True
    """

    __slots__ = ("order", "shard")

    def __init__(self, order, shard):
        self.order, self.shard = order, shard

    def __len__(self):
        return self.shard.size

    def sample_indices(self, i, j):
        """The sample indices (int64, C-contiguous) at rank-local positions ``[i, j)``."""
        first, step, count = self.shard.stride()
        if self.order.table is not None and i < j <= count:
            # A stop of first + step * j could pass the end of the table (huge steps).
            last = first + step * (j - 1)
            return np.ascontiguousarray(self.order.table[first + step * i:last + 1:step])
        return np.ascontiguousarray(self.order.at(self.shard.positions(i, j)))

    def rows(self, i, j):
        """``(first_row, step)`` when positions ``[i, j)`` are rows ``first_row + step * k``
        of the input (a view can show them), else None."""
        first, step, count = self.shard.stride()
        if self.order.is_identity and j <= count:
            return first + step * i, step
        return None

    def stride(self):
        """The :class:`Stride` hint the C iterator reads batches with."""
        first, step, count = self.shard.stride()
        key = getattr(self.order, "key", None)
        windows = self.order if isinstance(self.order, BlockOrder) else None
        if (self.order.table is None and key is None and windows is None
                and not self.order.is_identity):
            count = 0
        return Stride(self.order.table, first, step, count, key, windows)

    def global_position(self, consumed):
        """See :meth:`Shard.global_position`."""
        return self.shard.global_position(consumed)


class EpochOrders:
    """Each epoch's global order, drawn from a shuffle method and the loader's rng.

    With an int ``seed``, epoch ``e``'s order is a pure function of ``(seed, e)``.  With a
    ``bit_generator``, every epoch draws from it; the generator's state at the start of the
    epoch drawn last is kept, so that epoch can be drawn again (resume) and saved.

    Examples
    --------
    >>> from fastbatch.loader.order import EpochOrders
    >>> orders = EpochOrders(5, "exact", seed=0)
    >>> orders.order(3).at(np.arange(5)).tolist() == orders.order(3).at(np.arange(5)).tolist()
    True
    """

    def __init__(self, n, method=None, *, seed=None, bit_generator=None, options=None):
        self.n = n
        self._kind = SequentialOrder if method is None else SHUFFLE_METHODS[method]
        # Keyword arguments of the method's draw/seeded (a block order's layout).
        self._options = options or {}
        self.seed = seed
        self.bit_generator = bit_generator
        self._start = None       # (epoch, bit generator state at its start)

    def order(self, epoch):
        """The global order of ``epoch`` (draws from the bit generator in Generator mode)."""
        if self._kind is SequentialOrder:
            return SequentialOrder(self.n)
        if self.bit_generator is None:
            if hasattr(self._kind, "seeded"):
                return self._kind.seeded(self.n, self.seed, epoch, **self._options)
            return self._kind.draw(self.n, epoch_bit_generator(self.seed, epoch,
                                                              self._kind.method),
                                   **self._options)
        if self._start is not None and self._start[0] == epoch:
            self.bit_generator.state = self._start[1]
        else:
            self._start = (epoch, self.bit_generator.state)
        return self._kind.draw(self.n, self.bit_generator, **self._options)

    def generator_state(self, epoch):
        """The bit generator state from which ``epoch`` is drawn (Generator mode)."""
        if self._start is not None and self._start[0] == epoch:
            return self._start[1]
        return self.bit_generator.state

    def restart(self, epoch, state):
        """Draw ``epoch`` next from ``state`` (a restored checkpoint)."""
        self.bit_generator.state = state
        self._start = (epoch, self.bit_generator.state)

    def forget(self):
        """The next epoch draws from the generator's current state."""
        self._start = None
