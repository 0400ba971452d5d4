"""Small statistics helpers for the uniformity tests (scipy is a test dependency)."""

import itertools

import numpy as np
from scipy import stats

# A fixed seed makes each test deterministic; the threshold keeps false alarms rare
# if someone changes the seed.
ALPHA = 1e-4


def chi_square_uniform_pvalue(counts):
    counts = np.asarray(counts, dtype=float)
    expected = np.full_like(counts, counts.sum() / counts.size)
    return stats.chisquare(counts, expected).pvalue


def order_counts(draw, n, trials):
    """How often each of the n! orders of range(n) came out of ``trials`` calls of draw()."""
    index = {p: i for i, p in enumerate(itertools.permutations(range(n)))}
    counts = np.zeros(len(index), dtype=np.int64)
    for _ in range(trials):
        counts[index[tuple(draw().tolist())]] += 1
    return counts
