"""Per-epoch bit generators and fresh seeds (the ``rng`` checks live in ``_validation``)."""

import numpy as np


def epoch_bit_generator(seed, epoch):
    """Epoch ``epoch``'s bit generator for an int seed: a pure function of (seed, epoch).

    Every process that knows the seed derives the same stream for any epoch without
    talking to the others, so ``set_epoch`` and resuming need no saved permutation.
    """
    return np.random.PCG64(np.random.SeedSequence([int(seed), int(epoch)]))


def fresh_seed():
    """A random 128-bit seed from the OS, for loaders created with ``rng=None``."""
    return int(np.random.SeedSequence().entropy)
