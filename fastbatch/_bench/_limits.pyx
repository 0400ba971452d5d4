"""Bare memory-read loops: the machine's limits that the benchmark report compares with.

Private to ``fastbatch._bench``.  A shuffled epoch cannot go faster than reading its rows
in that random order, nor an unshuffled one faster than reading them in sequence; these
loops do only that (sum the 32-bit words of each row, so the reads cannot be optimised
away) with the GIL released, so that several Python threads run them on several cores at
once.  Python threads rather than C threads: nothing to probe or link at build time, and
the thread start (tens of microseconds) is noise next to reading hundreds of megabytes.

To be limits, they read as fast as this machine can:

- the random read prefetches every cache line of a row at least as far ahead as
  fastbatch's best gather does (``fastbatch/_kernels/take.pyx``: about 8 KiB of rows
  ahead for rows longer than a cache line; 64 rows for shorter ones, where take prefetches
  16: measured faster), so at least as many rows are in flight on every thread;
- the sum is wide and unrolled (eight independent 4 x 64-bit accumulators over 128-byte
  steps, compiled for every instruction set of ``FB_CLONES``, the project's one
  multiversioning macro, and picked at load time) so that summing never slows the read: a
  sequential read outruns ``memcpy`` of the same bytes.

``sum_random_rows_simple`` (one row at a time, no prefetch: the loop this replaced) stays
as the reference the tests compare the fast loop's sums with.
"""
from libc.stdint cimport int64_t, uint32_t, uint64_t

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>

    #include "prefetch.h"
    #include "simd.h"

    enum { FB_LIM_PREFETCH_ROWS = 16, FB_LIM_PREFETCH_BYTES = 8192 };

    /* Rows ahead to prefetch: take.pyx's take_large distance (about 8 KiB of rows) for
       rows longer than a cache line; for shorter rows 64, four times take_fixed's 16
       (measured, 1e6 random 64-byte rows, one thread: 16 rows ahead 4.9 GB/s, 64 rows
       10 GB/s, 128 and 256 no better; fastbatch's take 7.3). */
    static inline size_t fb_lim_distance(size_t nbytes) {
        size_t d;
        if (nbytes <= FB_CACHE_LINE)
            return 4 * FB_LIM_PREFETCH_ROWS;
        d = FB_LIM_PREFETCH_BYTES / nbytes;
        return d < 2 ? 2 : d;
    }

    /* The sum of 32-bit words modulo 2**64.  Wide: 64-bit words are summed (s) with their
       high halves (h); since w = lo + 2**32 hi, the words' sum is s - 2**32 h + h.  Eight
       vector accumulators keep the adds off one dependency chain; they live across rows
       (a row's words are added by FB_LIM_ADD, the total taken once by FB_LIM_TOTAL). */
    #if defined(__GNUC__) || defined(__clang__)
    typedef uint64_t fb_lim_v4 __attribute__((vector_size(32)));
    #  define FB_LIM_ACCUMULATORS                                                     \
        fb_lim_v4 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};                              \
        fb_lim_v4 h0 = {0}, h1 = {0}, h2 = {0}, h3 = {0};                              \
        fb_lim_v4 a, b, c, d, s, h;                                                    \
        uint64_t tail = 0, total, hi;                                                  \
        size_t j
    #  define FB_LIM_ADD(W, N) do {                                                    \
            const uint32_t *w_ = (W); size_t n_ = (N);                                 \
            for (j = 0; j + 32 <= n_; j += 32) {                                       \
                memcpy(&a, w_ + j, 32); memcpy(&b, w_ + j + 8, 32);                    \
                memcpy(&c, w_ + j + 16, 32); memcpy(&d, w_ + j + 24, 32);              \
                s0 += a; s1 += b; s2 += c; s3 += d;                                    \
                h0 += a >> 32; h1 += b >> 32; h2 += c >> 32; h3 += d >> 32;            \
            }                                                                          \
            for (; j + 8 <= n_; j += 8) {                                              \
                memcpy(&a, w_ + j, 32);                                                \
                s0 += a; h0 += a >> 32;                                                \
            }                                                                          \
            for (; j < n_; j++)                                                        \
                tail += w_[j];                                                         \
        } while (0)
    #  define FB_LIM_TOTAL()                                                           \
        (s = (s0 + s1) + (s2 + s3), h = (h0 + h1) + (h2 + h3),                         \
         total = s[0] + s[1] + s[2] + s[3], hi = h[0] + h[1] + h[2] + h[3],            \
         total - (hi << 32) + hi + tail)
    #else
    #  define FB_LIM_ACCUMULATORS uint64_t t0 = 0, t1 = 0, t2 = 0, t3 = 0; size_t j
    #  define FB_LIM_ADD(W, N) do {                                                    \
            const uint32_t *w_ = (W); size_t n_ = (N);                                 \
            for (j = 0; j + 4 <= n_; j += 4) {                                         \
                t0 += w_[j]; t1 += w_[j + 1]; t2 += w_[j + 2]; t3 += w_[j + 3];        \
            }                                                                          \
            for (; j < n_; j++)                                                        \
                t0 += w_[j];                                                           \
        } while (0)
    #  define FB_LIM_TOTAL() ((t0 + t1) + (t2 + t3))
    #endif

    /* The loops, each compiled for every instruction set FB_CLONES names (simd.h). */
    FB_CLONES static uint64_t fb_lim_sum_words(const uint32_t *w, size_t n) {
        FB_LIM_ACCUMULATORS;
        FB_LIM_ADD(w, n);
        return FB_LIM_TOTAL();
    }

    /* The row loop; width is a constant for the narrowest rows (y's 4 and 8 bytes, a
       64-byte row), as take.pyx's take_fixed is: per-row work stays small. */
    #if defined(__GNUC__) || defined(__clang__)
    __attribute__((always_inline))
    #endif
    static inline uint64_t fb_lim_rows_w(const uint32_t *rows, const size_t width,
                                         const int64_t *order, size_t k) {
        size_t i, nbytes = width * sizeof(uint32_t);
        size_t distance = fb_lim_distance(nbytes);
        size_t ahead = k > distance ? k - distance : 0;
        FB_LIM_ACCUMULATORS;
        for (i = 0; i < k; i++) {
            if (i < ahead)
                fb_prefetch_bytes(rows + order[i + distance] * width, nbytes);
            FB_LIM_ADD(rows + order[i] * width, width);
        }
        return FB_LIM_TOTAL();
    }

    FB_CLONES static uint64_t fb_lim_sum_rows(const uint32_t *rows, size_t width,
                                              const int64_t *order, size_t k) {
        switch (width) {
        case 1: return fb_lim_rows_w(rows, 1, order, k);
        case 2: return fb_lim_rows_w(rows, 2, order, k);
        case 16: return fb_lim_rows_w(rows, 16, order, k);
        default: return fb_lim_rows_w(rows, width, order, k);
        }
    }
    """
    uint64_t fb_lim_sum_words(const uint32_t *w, size_t n) noexcept nogil
    uint64_t fb_lim_sum_rows(const uint32_t *rows, size_t width, const int64_t *order,
                             size_t k) noexcept nogil


cdef uint64_t _sum_random_rows_simple(const uint32_t[:, ::1] rows, const int64_t[::1] order,
                                      Py_ssize_t start, Py_ssize_t stop) noexcept nogil:
    cdef Py_ssize_t i, j, width = rows.shape[1]
    cdef const uint32_t *row
    cdef uint64_t total = 0
    for i in range(start, stop):
        row = &rows[order[i], 0]
        for j in range(width):
            total += row[j]
    return total


def _check_rows(const uint32_t[:, ::1] rows, const int64_t[::1] order, Py_ssize_t start,
                Py_ssize_t stop):
    if not (0 <= start <= stop <= order.shape[0]) or rows.shape[1] == 0:
        raise ValueError(f"start={start}, stop={stop} do not fit an order of "
                         f"{order.shape[0]} positions over rows of width {rows.shape[1]}")


def sum_random_rows(const uint32_t[:, ::1] rows, const int64_t[::1] order,
                    Py_ssize_t start, Py_ssize_t stop):
    """Sum the words of ``rows[order[start:stop]]``, reading each row in place, with
    every cache line of the rows a prefetch distance ahead requested first.

    The caller guarantees ``0 <= order[i] < len(rows)`` (``fastbatch._bench.limits``
    passes a permutation of ``range(len(rows))``); ``start:stop`` is checked here.
    """
    _check_rows(rows, order, start, stop)
    cdef uint64_t total
    cdef const int64_t *at = &order[0] + start if stop > start else NULL
    with nogil:
        total = fb_lim_sum_rows(&rows[0, 0], rows.shape[1], at, stop - start) \
            if stop > start else 0
    return total


def sum_random_rows_simple(const uint32_t[:, ::1] rows, const int64_t[::1] order,
                           Py_ssize_t start, Py_ssize_t stop):
    """:func:`sum_random_rows` one row at a time, without prefetch: the reference."""
    _check_rows(rows, order, start, stop)
    cdef uint64_t total
    with nogil:
        total = _sum_random_rows_simple(rows, order, start, stop)
    return total


def sum_words(const uint32_t[::1] words, Py_ssize_t start, Py_ssize_t stop):
    """Sum ``words[start:stop]``: a sequential read."""
    if not 0 <= start <= stop <= words.shape[0]:
        raise ValueError(f"start={start}, stop={stop} do not fit {words.shape[0]} words")
    cdef uint64_t total = 0
    if stop > start:
        with nogil:
            total = fb_lim_sum_words(&words[start], stop - start)
    return total
