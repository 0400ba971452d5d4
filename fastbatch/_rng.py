"""The ``rng`` convention (NumPy's) and per-epoch bit generators."""

import numbers

import numpy as np

RNG_TYPES = "None, an int seed, a numpy.random.Generator or a numpy.random.BitGenerator"


def check_rng(rng, name="rng"):
    """Raise TypeError/ValueError unless ``rng`` follows NumPy's convention."""
    if rng is None or isinstance(rng, (np.random.Generator, np.random.BitGenerator)):
        return
    if isinstance(rng, (bool, np.bool_)) or not isinstance(rng, numbers.Integral):
        hint = ""
        if isinstance(rng, np.random.RandomState):
            hint = " (RandomState is legacy: pass np.random.default_rng(seed) instead)"
        raise TypeError(
            f"{name} must be {RNG_TYPES}; got {rng!r} of type {type(rng).__name__}{hint}"
        )
    if rng < 0:
        raise ValueError(f"{name} must be a non-negative int seed, got {rng}")


def bit_generator_of(rng, name="rng"):
    """The BitGenerator that ``rng`` stands for (a fresh PCG64 for None or an int)."""
    check_rng(rng, name)
    if rng is None:
        return np.random.PCG64()
    if isinstance(rng, np.random.Generator):
        return rng.bit_generator
    if isinstance(rng, np.random.BitGenerator):
        return rng
    return np.random.PCG64(int(rng))


def epoch_bit_generator(seed, epoch):
    """Epoch ``epoch``'s bit generator for an int seed: a pure function of (seed, epoch).

    Every process that knows the seed derives the same stream for any epoch without
    talking to the others, so ``set_epoch`` and resuming need no saved permutation.
    """
    return np.random.PCG64(np.random.SeedSequence([int(seed), int(epoch)]))


def fresh_seed():
    """A random 128-bit seed from the OS, for loaders created with ``rng=None``."""
    return int(np.random.SeedSequence().entropy)
