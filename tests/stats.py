"""Small statistics helpers for the uniformity tests (scipy is a test dependency)."""

import numpy as np
from scipy import stats

# A fixed seed makes each test deterministic; the threshold keeps false alarms rare
# if someone changes the seed.
ALPHA = 1e-4


def chi_square_uniform_pvalue(counts):
    counts = np.asarray(counts, dtype=float)
    expected = np.full_like(counts, counts.sum() / counts.size)
    return stats.chisquare(counts, expected).pvalue
