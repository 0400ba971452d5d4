"""The block shuffle's order: blocks of consecutive rows in a keyed order, rows mixed
exactly inside windows of blocks (``shuffle_method="block"``), as a function of position
like the other global orders of :mod:`fastbatch.loader.order`."""

import numpy as np

from fastbatch._kernels.bijection import apply_into
from fastbatch._kernels.shuffle import RunsDraw, run_draws
from fastbatch._rng import epoch_bit_generator, epoch_key


class BlockOrder:
    """The block shuffle: blocks of consecutive rows in a keyed order, rows mixed exactly
    inside windows of ``window`` blocks.

    ``bounds`` (int64, ``n_blocks + 1``) are the blocks' first rows, then ``n``.  Slot
    ``s`` of the epoch holds block ``index_shuffle(s, n_blocks)`` under the epoch's block
    key; window ``w`` is slots ``[w * window, (w + 1) * window)``, and the rows of its
    blocks fill its positions ``[a_w, b_w)`` in an exactly uniform random order drawn
    from the window's own stream.  So positions ``[a_w, b_w)`` hold exactly the rows of
    window ``w``'s blocks, ``window >= n_blocks`` is an exactly uniform permutation of
    all rows, and ``window == 1`` keeps each block's rows together.  Memory: O(n_blocks),
    plus the tables of the windows in use (two are kept).

    ``window_of(p)`` gives the window holding position ``p`` as ``(a_w, b_w, draw)``,
    ``draw`` the :class:`~fastbatch._kernels.shuffle.RunsDraw` whose read-only ``table``
    holds at ``table[i]`` the sample at position ``a_w + i``; the C iterator reads
    batches through it, and tells the source which rows the next window reads
    (read-ahead).  ``draw_ahead(p)`` hands out the next window's draw before it is
    drawn: the iterator draws it on one of the threads gathering the current window's
    rows (it is drawn here if asked for before that).

    Examples
    --------
    >>> from fastbatch.loader.block_order import BlockOrder
    >>> order = BlockOrder.seeded(10, 0, 0, bounds=np.array([0, 4, 8, 10]), window=2)
    >>> sorted(order.at(np.arange(10)).tolist())
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    """

    method = "block"
    is_identity = False
    table = None
    key = None
    KEPT_WINDOWS = 2

    def __init__(self, bounds, window, block_key, window_generator):
        self.bounds = np.asarray(bounds, dtype=np.int64)
        self.n = int(self.bounds[-1])
        self.window = window
        n_blocks = len(self.bounds) - 1
        self.slot_blocks = np.empty(n_blocks, dtype=np.int64)
        if n_blocks:
            apply_into(np.arange(n_blocks, dtype=np.int64), self.slot_blocks, n_blocks,
                       block_key[0], block_key[1], False, 1)
        sizes = np.diff(self.bounds)[self.slot_blocks]
        slot_starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        #: Position of every window's first row, then n.
        self.window_starts = np.append(slot_starts[:-1:window], self.n).astype(np.int64)
        self._window_generator = window_generator
        self._tables, self._draws = {}, {}

    @classmethod
    def seeded(cls, n, seed, epoch, *, bounds, window):
        return cls(bounds, window, epoch_key("block", seed, epoch),
                   lambda w: epoch_bit_generator(seed, epoch, "block", w))

    @classmethod
    def draw(cls, n, bit_generator, *, bounds, window):
        # One 128-bit seed drawn from the caller's generator: the order is then a
        # function of position like the seeded one.
        low, high = bit_generator.random_raw(2).tolist()
        return cls.seeded(n, low | high << 64, 0, bounds=bounds, window=window)

    @property
    def n_windows(self):
        return len(self.window_starts) - 1

    def window_blocks(self, w):
        """``(first_row, stop_row)`` of window ``w``'s blocks, in file order."""
        blocks = np.sort(self.slot_blocks[w * self.window:(w + 1) * self.window])
        return np.stack([self.bounds[blocks], self.bounds[blocks + 1]], axis=1)

    def next_window_blocks(self, position):
        """The blocks of the window after the one holding ``position`` (see
        :meth:`window_blocks`; none after the last window)."""
        w = self.window_index(position) + 1
        if w >= self.n_windows:
            return np.empty((0, 2), dtype=np.int64)
        return self.window_blocks(w)

    def window_table(self, w):
        """Window ``w``'s samples in position order (int64, read-only)."""
        return self._drawn(w).table

    def _drawn(self, w):
        # Window w's draw, drawn (the last KEPT_WINDOWS are kept).
        draw = self._tables.get(w)
        if draw is None:
            draw = self._draws.pop(w, None) or self._draw(w)
            # Draws handed out for windows other than the next are dropped (a jump).
            self._draws = {k: d for k, d in self._draws.items() if k == w + 1}
            draw.result()
            if len(self._tables) >= self.KEPT_WINDOWS:
                del self._tables[max(self._tables, key=lambda k: abs(k - w))]
            self._tables[w] = draw
        return draw

    def draw_ahead(self, position):
        """The :class:`~fastbatch._kernels.shuffle.RunsDraw` of the window after the one
        holding ``position``, set up but not drawn: whoever holds it may draw it on any
        thread, and :meth:`window_of` draws it if nobody has.  None when there is no such
        window, its draw exists already, or it is not ``small`` (a large table is drawn
        when its window is entered, on every thread, where Ctrl-C can stop it)."""
        w = self.window_index(position) + 1
        if w >= self.n_windows or w in self._tables or w in self._draws:
            return None
        draw = self._draw(w)
        if not draw.small:
            return None                 # not kept: set up again when its window is entered
        self._draws[w] = draw
        return draw

    def _draw(self, w):
        # The window's blocks in file order, laid end to end in that order; the table
        # holds the i-th of their rows, i drawn uniformly.  Read-only: its values are
        # rows of the blocks by construction, which is what lets the iterator use it
        # without looking at every one.
        blocks = np.sort(self.slot_blocks[w * self.window:(w + 1) * self.window])
        firsts, sizes = self.bounds[blocks], self.bounds[blocks + 1] - self.bounds[blocks]
        table = np.empty(int(sizes.sum()), np.int64)
        draw = RunsDraw(self._window_generator(w), table, firsts, sizes)
        table.flags.writeable = False
        return draw

    def window_index(self, position):
        return int(np.searchsorted(self.window_starts, position, side="right")) - 1

    def window_of(self, position):
        """``(a_w, b_w, draw)`` of the window holding ``position`` (see the class).  A
        window not drawn yet is drawn now (at the start of an epoch, after a jump, when
        nobody drew the handed-out draw, or a large one), a small one together with the
        next, one per thread."""
        w = self.window_index(position)
        if w not in self._tables:
            draw = self._draws.get(w)
            if draw is None:
                draw = self._draws[w] = self._draw(w)
            if not draw.done:
                ahead = self.draw_ahead(position) if draw.small else None
                run_draws([draw] if ahead is None else [draw, ahead])
        return int(self.window_starts[w]), int(self.window_starts[w + 1]), self._drawn(w)

    def at(self, positions):
        positions = np.asarray(positions, dtype=np.int64)
        out = np.empty(positions.shape, dtype=np.int64)
        windows = np.searchsorted(self.window_starts, positions, side="right") - 1
        for w in np.unique(windows).tolist():
            mask = windows == w
            out[mask] = self.window_table(w)[positions[mask] - self.window_starts[w]]
        return out
