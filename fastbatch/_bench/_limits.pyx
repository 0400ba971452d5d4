"""Bare memory-read loops: the machine's limits that the benchmark report compares with.

Private to ``fastbatch._bench``.  A shuffled epoch cannot go faster than reading its rows
in that random order, nor an unshuffled one faster than reading them in sequence; these
loops do only that (sum the 32-bit words of each row, so the reads cannot be optimised
away) with the GIL released, so that several Python threads run them on several cores at
once.  Python threads rather than C threads: nothing to probe or link at build time, and
the thread start (tens of microseconds) is noise next to reading hundreds of megabytes.
"""
from libc.stdint cimport int64_t, uint32_t, uint64_t


cdef uint64_t _sum_random_rows(const uint32_t[:, ::1] rows, const int64_t[::1] order,
                               Py_ssize_t start, Py_ssize_t stop) noexcept nogil:
    cdef Py_ssize_t i, j, width = rows.shape[1]
    cdef const uint32_t *row
    cdef uint64_t total = 0
    for i in range(start, stop):
        row = &rows[order[i], 0]
        for j in range(width):
            total += row[j]
    return total


cdef uint64_t _sum_words(const uint32_t[::1] words, Py_ssize_t start,
                         Py_ssize_t stop) noexcept nogil:
    cdef Py_ssize_t i
    cdef uint64_t total = 0
    for i in range(start, stop):
        total += words[i]
    return total


def sum_random_rows(const uint32_t[:, ::1] rows, const int64_t[::1] order,
                    Py_ssize_t start, Py_ssize_t stop):
    """Sum the words of ``rows[order[start:stop]]``, reading each row in place.

    The caller guarantees ``0 <= order[i] < len(rows)`` (``fastbatch._bench.limits``
    passes a permutation of ``range(len(rows))``); ``start:stop`` is checked here.
    """
    if not (0 <= start <= stop <= order.shape[0]) or rows.shape[1] == 0:
        raise ValueError(f"start={start}, stop={stop} do not fit an order of "
                         f"{order.shape[0]} positions over rows of width {rows.shape[1]}")
    cdef uint64_t total
    with nogil:
        total = _sum_random_rows(rows, order, start, stop)
    return total


def sum_words(const uint32_t[::1] words, Py_ssize_t start, Py_ssize_t stop):
    """Sum ``words[start:stop]``: a sequential read."""
    if not 0 <= start <= stop <= words.shape[0]:
        raise ValueError(f"start={start}, stop={stop} do not fit {words.shape[0]} words")
    cdef uint64_t total
    with nogil:
        total = _sum_words(words, start, stop)
    return total
