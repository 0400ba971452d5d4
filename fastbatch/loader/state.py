"""A loader's checkpoint: the ``state_dict()`` codec and ``load_state_dict()`` validation.

A state is small plain data (JSON-serialisable): the configuration it was saved with, the
seed or the bit generator's state at the start of the epoch, and where in the epoch the
loader was, both as this rank's batch position and as the epoch's *global position*
(samples of the epoch's global order consumed by all ranks together).  :func:`decode`
checks every field, C-size limits included, and returns what to apply; it changes nothing.

**Elastic resume.**  Within an epoch, the positions ``[shard_start, n)`` of the global
order are split between the ranks (``shard_start`` is 0 unless the epoch was itself
resumed elastically).  A state loaded into a loader with the saver's ``world_size`` and
``batch_size`` continues that split exactly, on any rank.  Any other shape re-splits the
rest of the epoch, positions ``[global_position, n)``, as DistributedSampler splits
``n - global_position`` samples: "keep" uses each remaining sample once, "pad" gives every
rank ``ceil(rest / world_size)`` (wrapping around to ``global_position``), "drop"
``rest // world_size``; the batch-level ``drop_last`` then applies within each rank's
part.  Following epochs are whole epochs at the loader's own shape.
"""

import copy
from typing import NamedTuple

import numpy as np

from fastbatch.loader.order import SHUFFLE_METHODS, Shard, count_batches
from fastbatch._validation import PY_SSIZE_T_MAX, check_bool, check_int, shown

STATE_VERSION = 1
# The counters are 64-bit integers in C; this leaves room to count on from any state.
MAX_COUNTER = 2**62
# Fields a state must match exactly, with the check that reads each.
MATCHED = (("n_samples", check_int), ("shuffle", check_bool), ("drop_last", check_bool))
REQUIRED = ("epoch", "position", "step", "seed", "rank", "world_size", "batch_size",
            "shard_remainder") + tuple(key for key, _ in MATCHED)


class Restore(NamedTuple):
    """What a validated state sets: the next iteration runs ``epoch`` from ``position``."""

    epoch: int
    position: int
    step: int
    seed: object
    bit_generator_state: object
    shard_start: int


def encode(config, *, epoch, position, step, seed, shard_start=0,
           bit_generator_state=None):
    """The state of a loader with ``config`` at batch ``position`` of ``epoch``, whose
    positions ``[shard_start, n)`` are split between the ranks."""
    shard = Shard(config.n_samples, config.world_size, config.rank, config.shard_remainder,
                  shard_start)
    consumed = min(position * config.batch_size, shard.size)
    state = {
        "version": STATE_VERSION,
        "epoch": epoch,
        "position": position,
        "global_position": shard.global_position(consumed),
        "shard_start": shard_start,
        "step": step,
        "seed": seed,
        "n_samples": config.n_samples,
        "batch_size": config.batch_size,
        "shuffle": config.shuffle,
        "shuffle_method": config.shuffle_method,
        "drop_last": config.drop_last,
        "rank": config.rank,
        "world_size": config.world_size,
        "shard_remainder": config.shard_remainder,
    }
    if config.block_layout is not None:
        state["block_layout"] = list(config.block_layout)
    if bit_generator_state is not None:
        state["bit_generator_state"] = _to_plain(bit_generator_state)
    return state


def decode(state, config, bit_generator=None, seed=None):
    """Validate ``state`` for a loader with ``config``; return the :class:`Restore`.

    ``bit_generator`` is the loader's (None when it is seeded); ``seed`` is the int seed
    the loader was given, which the state's must equal (None: the loader drew a random
    seed, and takes the state's).  Raises TypeError or ValueError naming the field.  The
    state may come from any rank, world size or batch size (ranks move in lockstep).
    """
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict from state_dict(), got {type(state).__name__}")
    if "version" in state and _field(check_int, state["version"], "version") != STATE_VERSION:
        raise ValueError(f"unsupported state version {shown(state['version'])}")
    _require(state, ("version",) + REQUIRED)
    for key, check in MATCHED:
        _match(state, key, _field(check, state[key], key), getattr(config, key))
    _match(state, "shard_remainder", state["shard_remainder"], config.shard_remainder)
    if config.shuffle:
        _match(state, "shuffle_method", state.get("shuffle_method", "exact"),
               config.shuffle_method)
    if config.block_layout is not None:
        # A block order is a function of the blocks and the window: the same data cut
        # into other blocks is another order.
        _require(state, ("block_layout",))
        layout = state["block_layout"]
        if (not isinstance(layout, list) or len(layout) != 3
                or [type(v) for v in layout] != [int] * 3):
            raise ValueError("state['block_layout'] must be a list of 3 ints, got "
                             f"{shown(layout)}")
        _match(state, "block_layout", layout, list(config.block_layout))
    if (state["seed"] is None) != (bit_generator is not None):
        raise ValueError(
            "state and loader disagree on the kind of rng: one was built with a seed, "
            "the other with a Generator/BitGenerator")
    if bit_generator is not None:
        _require(state, ("bit_generator_state",))
    saved_seed = None
    if state["seed"] is not None:
        saved_seed = _field(check_int, state["seed"], "seed", 0)
        if seed is not None:
            _match(state, "seed", saved_seed, seed)
    epoch = _field(check_int, state["epoch"], "epoch", 0, MAX_COUNTER)
    step = _field(check_int, state["step"], "step", 0, MAX_COUNTER)
    shard_start, position = _resume_point(state, config)
    raw = None
    if bit_generator is not None:
        raw = _bit_generator_state(state["bit_generator_state"], bit_generator)
    return Restore(epoch, position, step, saved_seed, raw, shard_start)


def _require(state, keys):
    missing = [key for key in keys if key not in state]
    if missing:
        raise ValueError(f"state is missing {', '.join(map(repr, missing))}")


def _field(check, value, key, minimum=None, maximum=None):
    name = f"state[{key!r}]"
    if check is check_bool:
        return check_bool(value, name)
    return check(value, name, minimum=minimum, maximum=maximum)


def _match(state, key, value, expected):
    if value != expected or type(value) is not type(expected):
        raise ValueError(f"state was saved with {key}={shown(state.get(key, value))} but "
                         f"this loader has {key}={shown(expected)}")


def _resume_point(state, config):
    """``(shard_start, batch position)`` from which this loader continues the saver's
    epoch: the saver's split if it has this loader's shape, else the rest of the epoch."""
    n = config.n_samples
    world_size = _field(check_int, state["world_size"], "world_size", 1, PY_SSIZE_T_MAX)
    batch_size = _field(check_int, state["batch_size"], "batch_size", 1, PY_SSIZE_T_MAX)
    rank = _field(check_int, state["rank"], "rank", 0, world_size - 1)
    start = _field(check_int, state.get("shard_start", 0), "shard_start", 0, n)
    saver = Shard(n, world_size, rank, config.shard_remainder, start)
    saver_batches = count_batches(saver.size, batch_size, config.drop_last)
    position = _field(check_int, state["position"], "position", 0, saver_batches)
    reached = saver.global_position(min(position * batch_size, saver.size))
    if "global_position" in state:
        recorded = _field(check_int, state["global_position"], "global_position", 0, n)
        if recorded != reached:
            raise ValueError(f"state['global_position']={recorded} does not match "
                             f"state['position']={position} (global position {reached})")
    if (world_size, batch_size) != (config.world_size, config.batch_size):
        return reached, 0
    mine = Shard(n, world_size, config.rank, config.shard_remainder, start)
    consumed = mine.local_position(reached)
    return start, min(-(-consumed // config.batch_size),
                      count_batches(mine.size, config.batch_size, config.drop_last))


def _bit_generator_state(plain, bit_generator):
    """The decoded state, checked by loading it into a copy of the loader's generator."""
    probe = copy.deepcopy(bit_generator)
    try:
        probe.state = _from_plain(plain)
        raw = probe.state
        _check_buffer_index(raw)
    except (TypeError, ValueError, KeyError, IndexError, OverflowError, AttributeError) as exc:
        raise ValueError(f"state['bit_generator_state'] does not fit this loader's "
                         f"{type(bit_generator).__name__}: {exc}") from None
    return raw


# NumPy's setters take these buffer indices as given, and the next draw reads
# buffer[index]: a tampered index would read outside the generator's buffer.
BUFFER_INDICES = {"MT19937": (("state", "pos"), 624), "Philox": (("buffer_pos",), 4)}


def _check_buffer_index(raw):
    path, limit = BUFFER_INDICES.get(raw.get("bit_generator"), ((), None))
    value = raw
    for key in path:
        value = value[key]
    if limit is not None and not 0 <= value <= limit:
        raise ValueError(f"{'/'.join(path)}={value} is outside [0, {limit}]")


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
