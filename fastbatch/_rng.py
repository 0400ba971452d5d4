"""Every key fastbatch derives from an int seed, and fresh seeds (the ``rng`` checks live in
``_validation``).

One function, :func:`key_entropy`, turns ``(method, seed, epoch[, window])`` into the
entropy of a ``numpy.random.SeedSequence``; every per-epoch stream and key comes from it.
The encoding is fixed-width and domain-separated, so that different arguments can never
give the same entropy: ``SeedSequence([seed, epoch])`` splits a big int into 32-bit words
and treats a short entropy as if padded with zero words, so there ``seed = 7 + 5 * 2**32``
at epoch 0 and ``seed = 7`` at epoch 5 were one stream, and so were ``(2**32, 0)`` and
``(0, 1)``.  Here every field has its own words, whatever its value:

====  =========================================================================
word  content
====  =========================================================================
0     :data:`KEY_MAGIC` (fastbatch's key derivation, version 1)
1     the method tag: the CRC-32 of the method's name (``b"exact"``,
      ``b"bijective"``, ``b"block"``, ``b"validation"`` for the estimator's
      early-stopping split, or a newly registered shuffle method's name)
2     1 when a window index is given, else 0
3-4   epoch, low word first (``0 <= epoch < 2**64``)
5-6   window, low word first (``0 <= window < 2**64``; 0 when absent)
7     ``m``, the number of seed words: 4, or more for a seed of 2**128 or more
8-    the seed, ``m`` words, low word first
====  =========================================================================

so seeds below 2**128 always give 12 words (SeedSequence mixes every word in: a list
longer than its 4-word pool has no implicit zero padding), and larger seeds, accepted as
before, say how many words they take.
"""

import functools
import zlib

import numpy as np

#: Word 0 of every key's entropy: b"fbk1" as a little-endian uint32.
KEY_MAGIC = 0x316B6266
SEED_WORDS = 4
WORD = 2**32
FIELD_LIMIT = 2**64


def _words(value, count):
    return [(value >> (32 * i)) & (WORD - 1) for i in range(count)]


def key_entropy(method, seed, epoch, window=None):
    """The SeedSequence entropy (uint32 words) of ``(method, seed, epoch[, window])``.

    An injective, fixed-width encoding (see the module docstring).  Arguments are
    trusted ints: callers validate them; a value outside its field is a bug here.

    Examples
    --------
    >>> from fastbatch._rng import key_entropy
    >>> len(key_entropy("exact", 7 + 5 * 2**32, 0)), len(key_entropy("exact", 7, 5))
    (12, 12)
    >>> bool((key_entropy("exact", 7 + 5 * 2**32, 0) == key_entropy("exact", 7, 5)).all())
    False
    """
    seed, epoch = int(seed), int(epoch)
    if not (0 <= seed and 0 <= epoch < FIELD_LIMIT
            and (window is None or 0 <= int(window) < FIELD_LIMIT)):
        raise ValueError(f"key fields out of range: seed={seed}, epoch={epoch}, "
                         f"window={window}")
    seed_words = max(SEED_WORDS, -(-seed.bit_length() // 32))
    words = [KEY_MAGIC, zlib.crc32(method.encode()), int(window is not None),
             *_words(epoch, 2), *_words(0 if window is None else int(window), 2),
             seed_words, *_words(seed, seed_words)]
    return np.array(words, dtype=np.uint32)


def seed_sequence(method, seed, epoch, window=None):
    """The ``numpy.random.SeedSequence`` of ``(method, seed, epoch[, window])``."""
    return np.random.SeedSequence(key_entropy(method, seed, epoch, window))


def epoch_bit_generator(seed, epoch, method="exact", window=None):
    """Epoch ``epoch``'s bit generator for an int seed: a pure function of its arguments.

    Every process that knows the seed derives the same stream for any epoch without
    talking to the others, so ``set_epoch`` and resuming need no saved permutation.
    """
    return np.random.PCG64(seed_sequence(method, seed, epoch, window))


# SeedSequence costs ~10-20 us: calls that ask for a few positions at a time (a loader's
# batches) reuse the key of their (seed, epoch).
@functools.lru_cache(maxsize=64)
def epoch_key(method, seed, epoch, window=None):
    """The 128-bit key of ``(method, seed, epoch[, window])``, as two uint64 ints."""
    key0, key1 = seed_sequence(method, seed, epoch, window).generate_state(2, np.uint64)
    return int(key0), int(key1)


def fresh_seed():
    """A random 128-bit seed from the OS, for loaders created with ``rng=None``."""
    return int(np.random.SeedSequence().entropy)
