"""The machine's limits, timed in the same run as the cases: bare loops that only read.

A shuffled epoch cannot beat reading its rows in a random order; an unshuffled one, or
an epoch of SGD, cannot beat reading them in sequence.  The report times the bare loops of
:mod:`fastbatch._bench._limits` next to the cases: a table of limits (random 256- and 800-byte
rows with 1 and 2 threads, a sequential read) and, for every case with a
:class:`~fastbatch._bench.registry.Traffic`, the same loops on arrays of that case's shape,
which give its efficiency row.
"""

import threading

import numpy as np

import fastbatch as fb
from fastbatch._bench.registry import SEED, format_count
from fastbatch._bench.timing import median_seconds
from fastbatch._bench._limits import sum_random_rows, sum_words

# The contract's bound: rows read at random by two threads (two cores keep twice as many
# cache misses in flight as one).
BOUND_THREADS = 2
WORD_BYTES = 4
UINT64_MASK = 2**64 - 1


def _in_threads(work, n, threads):
    # Contiguous parts, one per thread; this thread does the first.  The sum of the parts
    # modulo 2**64 does not depend on the split.
    bounds = np.linspace(0, n, threads + 1).astype(np.int64).tolist()
    results = [0] * threads

    def run(i):
        results[i] = work(bounds[i], bounds[i + 1])

    helpers = [threading.Thread(target=run, args=(i,)) for i in range(1, threads)]
    for thread in helpers:
        thread.start()
    run(0)
    for thread in helpers:
        thread.join()
    return sum(results) & UINT64_MASK


class BareRead:
    """Read ``rows`` rows of ``row_bytes`` bytes, in a random order or in sequence.

    The table is filled (its pages are real) and, for a random read, the order is a
    permutation drawn once: a call times the reading only.  ``row_bytes`` is rounded up
    to whole 4-byte words.

    Parameters
    ----------
    rows, row_bytes : int
        Shape of the table.
    threads : int, default 1
        Python threads, each running the loop on its part with the GIL released.
    random : bool, default True
        Rows in the order of a permutation (as a shuffled epoch reads them), or in
        sequence.

    Examples
    --------
    >>> read = BareRead(1000, 256, threads=2)
    >>> read(), read.bytes
    (0, 256000)
    """

    def __init__(self, rows, row_bytes, threads=1, random=True):
        words = max(1, -(-row_bytes // WORD_BYTES))
        # Zeros written explicitly: np.zeros could map the untouched zero page.
        self.table = np.empty((rows, words), dtype=np.uint32)
        self.table.fill(0)
        self.order = fb.permutation(rows, SEED) if random else None
        self.threads = threads
        self.bytes = self.table.nbytes

    def __call__(self):
        if self.order is None:
            words = self.table.reshape(-1)
            return _in_threads(lambda i, j: sum_words(words, i, j), len(words), self.threads)
        return _in_threads(lambda i, j: sum_random_rows(self.table, self.order, i, j),
                           len(self.order), self.threads)


# The limits table: (label, row bytes, threads, random).
LIMITS = (
    ("random 256-byte rows, 1 thread", 256, 1, True),
    ("random 256-byte rows, 2 threads", 256, 2, True),
    ("random 800-byte rows, 1 thread", 800, 1, True),
    ("random 800-byte rows, 2 threads", 800, 2, True),
    ("sequential read, 1 thread", 256, 1, False),
    ("sequential read, 2 threads", 256, 2, False),
)
LIMIT_ROWS, QUICK_LIMIT_ROWS = 10**6, 10**5


def measure_limits(quick, rounds, min_time):
    """Time the bare loops of :data:`LIMITS`: one dict per row with its bytes per second.

    Examples
    --------
    >>> rows = measure_limits(quick=True, rounds=1, min_time=0)
    >>> [row["name"] for row in rows][:2]
    ['random 256-byte rows, 1 thread (1e5 rows)', 'random 256-byte rows, 2 threads (1e5 rows)']
    """
    n = QUICK_LIMIT_ROWS if quick else LIMIT_ROWS
    out = []
    for label, row_bytes, threads, random in LIMITS:
        read = BareRead(n, row_bytes, threads, random)
        seconds = median_seconds(read, rounds, min_time)
        out.append({"name": f"{label} ({format_count(n)} rows)", "row_bytes": row_bytes,
                    "threads": threads, "random": random, "bytes": read.bytes,
                    "seconds": seconds, "bytes_per_second": read.bytes / seconds})
    return out


class Bounds:
    """The bare-read time of a case's traffic, remembered by shape within one run.

    Examples
    --------
    >>> from fastbatch._bench.registry import Traffic
    >>> bounds = Bounds(rounds=1, min_time=0)
    >>> times = bounds.seconds(Traffic(((1000, 64), (1000, 8)), passes=2))
    >>> sorted(times)
    ['random', 'sequential']
    """

    def __init__(self, rounds, min_time):
        self.rounds, self.min_time, self.cache = rounds, min_time, {}

    def _piece(self, rows, row_bytes):
        key = (rows, row_bytes)
        if key not in self.cache:
            random = BareRead(rows, row_bytes, BOUND_THREADS, random=True)
            sequential = BareRead(rows, row_bytes, 1, random=False)
            self.cache[key] = {
                "random": median_seconds(random, self.rounds, self.min_time),
                "sequential": median_seconds(sequential, self.rounds, self.min_time),
            }
        return self.cache[key]

    def seconds(self, traffic):
        """``{"random": s, "sequential": s}``: bare-read seconds of one call's traffic."""
        pieces = [self._piece(rows, row_bytes) for rows, row_bytes in traffic.pieces]
        return {kind: traffic.passes * sum(p[kind] for p in pieces)
                for kind in ("random", "sequential")}
