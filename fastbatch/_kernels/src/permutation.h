/* Exact uniform permutations of range(n), serial and parallel (included by _kernels/shuffle.pyx).
 *
 * Small n (<= FB_PERM_SMALL_N): Fisher-Yates from the caller's bit generator; the whole
 * array stays in L2.  Larger n: the Rao-Sandelius bucket shuffle, whose random accesses
 * stay in cache:
 *   1. every value i gets a bucket drawn uniformly and independently from K = 2**bits
 *      buckets; values are scattered, in order, into their bucket's segment of `out`;
 *   2. every bucket is shuffled uniformly (recursively, until it fits in cache, where
 *      Fisher-Yates runs).
 * Why the result is exactly uniform: fix any target permutation p.  Given the bucket
 * sizes (n_1..n_K), p arises from exactly one assignment of values to buckets (the values
 * p puts in bucket b's segment), whose probability given the sizes is prod(n_b!) / n!,
 * times exactly one within-bucket order per bucket, probability prod(1 / n_b!) when each
 * bucket's shuffle is uniform.  The product is 1/n! whatever the sizes, so P(p) = 1/n!;
 * by induction this holds at every level of recursion.
 *
 * Parallel and yet independent of the thread count: the caller's bit generator gives only
 * a 128-bit key (two words, under its lock).  The values are cut into chunks of a fixed
 * size; chunk c draws its values' bucket ids from random stream c, bucket b shuffles
 * itself from stream FB_PERM_BUCKET_STREAM + b.  Every stream is a function of (key,
 * stream index) alone and every output position of (key, n) alone (a serial prefix sum
 * over (bucket, chunk) gives each chunk its place inside each bucket), so which thread
 * runs which chunk or bucket, and how many threads there are, cannot change the result.
 * The ids within a chunk and across chunks are iid uniform and each bucket's shuffle is
 * uniform, so the proof above applies unchanged.
 *
 * The streams are xoshiro256** (Blackman & Vigna), seeded from (key, stream) through
 * SplitMix64 as its authors recommend: ~1 ns per 64-bit word, passes BigCrush and
 * PractRand, and its 2**256 - 1 period makes overlap between streams started at
 * unrelated points negligible (Julia derives its per-task streams the same way).
 * PCG64-DXSM would be as good but needs 128-bit multiplies per word and a 256-bit state
 * to seed; a counter-based generator (Philox) is several times slower per word.  A stream
 * is wrapped as a numpy bitgen_t, so the bounded draws and Fisher-Yates below serve the
 * caller's generator and the streams alike.
 *
 * Interrupts: long calls poll a caller-supplied check (e.g. Python's signal handlers) on
 * the calling thread (t = 0) only, at most every FB_PERM_CHECK_NS, between chunks and
 * buckets; it raises a shared flag the other threads read, and the call returns
 * FB_EINTR with `out` in an unspecified state.
 *
 * Parts: permutation_random.h (bounded draws, keyed streams), permutation_parallel.h
 * (the parallel loop and its interrupt check), permutation_body.h (the code written once
 * for both index types, included twice: _int32 and _int64 versions).
 */
#ifndef FB_PERMUTATION_H
#define FB_PERMUTATION_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "numpy/random/bitgen.h"
#include "permutation_parallel.h"
#include "permutation_random.h"

/* Up to FB_PERM_SMALL_N elements the whole array stays in L2 and plain Fisher-Yates
 * wins; above it, Fisher-Yates' random swaps miss the cache on almost every step. */
#define FB_PERM_SMALL_N ((int64_t)1 << 16)
/* The bucket shuffle aims for buckets of about BUCKET_BYTES (in L1: 32 KiB per core
 * here; 2**15 beat 2**16 by ~8% at n = 1e6, same-process medians of CPU time), and
 * shuffles a bucket directly once it is at most LEAF_BYTES (it sits in L2, 2 MiB here);
 * only larger buckets (n above ~2**24) are split again. */
#define FB_PERM_BUCKET_BYTES ((int64_t)1 << 15)
#define FB_PERM_LEAF_BYTES ((int64_t)1 << 19)
/* Values per chunk of the parallel scatter: every bucket receives ~256 consecutive
 * values from a chunk (whole cache lines), the count table costs 1/32 byte per value,
 * and a chunk takes well under a millisecond (the interrupt and load-balancing grain). */
#define FB_PERM_CHUNK ((int64_t)1 << 16)
/* Smaller permutations stay on one thread: each of the three phases starts and joins
 * its threads (~25-50 us each here).  Measured, 1 vs 2 threads in one process, best of
 * 201 (the shared 2-core machine was at load ~5, so medians were noise): 2**16 0.74x,
 * 2**17 1.18x, 2**18 0.94x, 2**19 1.21x, 2**20 1.22x; crossover ~2**18. */
#define FB_PERM_PARALLEL_MIN ((int64_t)1 << 18)
/* int64 permutations of at least this many elements are built as int32 and widened in
 * place.  Measured (CPU time, medians of 31-101 runs, builds alternated): from 2**19 on
 * narrowing saves 25-30% (1e6: 4.0 vs 5.8 ms, 2e6: 9.8 vs 13.4 ms); below, the
 * widening pass costs what the smaller items save (70000 to 2e5: 5% slower). */
#define FB_PERM_NARROW_MIN ((int64_t)1 << 19)
/* Window tables of the block shuffle up to this many rows are drawn by the inside-out
 * Fisher-Yates of fb_perm_runs_small (as int32 when every row fits, widened in place),
 * larger ones by the buckets.  Measured here (L2 2 MiB, L3 32 MiB; one thread, medians
 * of 30-60, same binary), buckets vs Fisher-Yates: 2**17 0.35 vs 0.19 ms, 2**18 0.73
 * vs 0.37 (through the bitgen_t interface: 0.53), 2**19 1.5 vs 0.85, 2**20 3.1 vs 1.8,
 * 2**21 8.8 vs 4.9.  Up to 2**20 the int32 array (4 MiB) stays in any server's
 * last-level cache; a smaller cache than that would favour the buckets.  A constant of
 * the algorithm, not of the machine: the same seed gives the same table everywhere (a
 * variable only so tests can move it, _set_runs_small_max). */
static int64_t fb_perm_runs_small_max = (int64_t)1 << 20;
/* At most 256 buckets per level: every stream's current cache line stays in L1. */
#define FB_PERM_MAX_BUCKET_BITS 8
#define FB_PERM_MAX_BUCKETS (1 << FB_PERM_MAX_BUCKET_BITS)
/* Bucket sizes are computed for 8-byte items whatever the index type, so int32 and int64
 * results draw the same random numbers and agree for the same seed. */
#define FB_PERM_KEY_BYTES 8
/* Stream indices of the buckets; chunks use 0, 1, 2, ... (far below this). */
#define FB_PERM_BUCKET_STREAM ((uint64_t)1 << 63)
/* Values widened from int32 to int64 per work item. */
#define FB_PERM_WIDEN_CHUNK ((int64_t)1 << 20)
/* The smallest page size: first-touch granularity. */
#define FB_PERM_PAGE 4096

/* ---- Bucket ids ------------------------------------------------------------------- */

typedef struct {
    int64_t chunk;          /* values per chunk of the top-level scatter */
    int64_t bucket_bytes;   /* target bucket size (in FB_PERM_KEY_BYTES items) */
    int64_t leaf_bytes;     /* buckets at most this big are shuffled directly */
    int64_t parallel_min;   /* smaller n run on one thread */
} fb_perm_sizes;

static const fb_perm_sizes fb_perm_default_sizes = {
    FB_PERM_CHUNK, FB_PERM_BUCKET_BYTES, FB_PERM_LEAF_BYTES, FB_PERM_PARALLEL_MIN};

/* Enough buckets (at most 2**MAX_BUCKET_BITS) to cut n items into buckets of about
 * bucket_bytes. */
static inline int fb_perm_bucket_bits(int64_t n, int64_t bucket_bytes)
{
    int bits = 1;
    while (bits < FB_PERM_MAX_BUCKET_BITS && (n >> bits) > bucket_bytes / FB_PERM_KEY_BYTES)
        bits++;
    return bits;
}

/* Buckets are whole bit fields of 64-bit words: the bucket count is a power of two, so
 * every field is exactly uniform.  Fields are 8 bits apart (bits <= 8), 8 per word, so
 * the loop over a word unrolls; two count tables, merged at the end, keep consecutive
 * increments of the same bucket from waiting on each other.  Adds to counts[]. */
static void fb_perm_draw_ids(bitgen_t *bitgen, uint8_t *ids, int64_t n, int bits,
                             int64_t *counts)
{
    uint64_t mask = ((uint64_t)1 << bits) - 1, word;
    int64_t i = 0, b, other[FB_PERM_MAX_BUCKETS];
    int f;
    memset(other, 0, sizeof(other));
    for (; i + 8 <= n; i += 8) {
        word = bitgen->next_uint64(bitgen->state);
        for (f = 0; f < 8; f += 2) {
            b = (int64_t)((word >> (8 * f)) & mask);
            ids[i + f] = (uint8_t)b;
            counts[b] += 1;
            b = (int64_t)((word >> (8 * f + 8)) & mask);
            ids[i + f + 1] = (uint8_t)b;
            other[b] += 1;
        }
    }
    if (i < n) {
        word = bitgen->next_uint64(bitgen->state);
        for (; i < n; i++) {
            b = (int64_t)(word & mask);
            word >>= 8;
            ids[i] = (uint8_t)b;
            counts[b] += 1;
        }
    }
    for (b = 0; b < ((int64_t)1 << bits); b++)
        counts[b] += other[b];
}

/* counts[b] becomes the start of bucket b (an exclusive prefix sum). */
static inline void fb_perm_starts_from_counts(int64_t *counts, int64_t n_buckets)
{
    int64_t b, total = 0, c;
    for (b = 0; b < n_buckets; b++) {
        c = counts[b];
        counts[b] = total;
        total += c;
    }
}

/* ---- The top level, shared by both index types ------------------------------------ */

/* Values other than 0..n-1: value i becomes the i-th row of runs of consecutive rows laid
 * end to end (run r: rows firsts[r] .. firsts[r] + ends[r] - ends[r - 1] - 1).  The
 * shuffles only move values, so the result is the plain permutation with every value
 * mapped: the block shuffle's window table in one pass instead of two. */
typedef struct {
    const int64_t *firsts;
    const int64_t *ends;      /* cumulative run sizes; ends[n_runs - 1] == n */
    int64_t n_runs;
} fb_perm_runs;

/* The run holding value i (the first whose end is past it). */
static inline int64_t fb_perm_run_of(const fb_perm_runs *runs, int64_t i)
{
    int64_t lo = 0, hi = runs->n_runs - 1, mid;
    while (lo < hi) {
        mid = (lo + hi) >> 1;
        if (runs->ends[mid] <= i)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Value i's row, walking i upward one at a time: *r is i's run (advanced here). */
static inline int64_t fb_perm_run_value(const fb_perm_runs *runs, int64_t i, int64_t *r)
{
    while (runs->ends[*r] <= i)
        (*r)++;
    return runs->firsts[*r] + i - (*r > 0 ? runs->ends[*r - 1] : 0);
}

/* One large permutation in progress.  table[c * K + b]: chunk c's count of bucket b,
 * then (after fb_perm_place_chunks) its first output position in bucket b. */
typedef struct {
    void *out;
    int64_t itemsize;
    int64_t n;
    uint64_t key[2];
    int bits;
    int64_t n_chunks;
    uint8_t *ids;             /* n bytes: every value's bucket, then sub-level scratch */
    int64_t *table;
    int64_t starts[FB_PERM_MAX_BUCKETS + 1];
    void *tmp;                /* per-thread scratch of tmp_items items (or NULL) */
    int64_t tmp_items;
    const fb_perm_sizes *sizes;
    fb_perm_interrupt *interrupt;
    const fb_perm_runs *runs; /* values mapped to rows (NULL: 0..n-1) */
} fb_perm_job;

/* Chunk c's bucket ids and counts.  It also writes one byte per page of its share of
 * `out`: a fresh output (numpy's, with transparent huge pages) is zeroed by the kernel
 * on first touch, and here that happens in order, a few pages per chunk.  Left to the
 * scatter, the first chunks would fault in a page for each of 256 buckets at once
 * (measured: 1.3 s in one chunk of a 4e8 permutation, during which no interrupt is
 * seen).  The scatter overwrites every byte. */
static void fb_perm_count_chunk(void *arg, int64_t c, int t)
{
    fb_perm_job *job = (fb_perm_job *)arg;
    int64_t start = c * job->sizes->chunk;
    int64_t len = job->n - start < job->sizes->chunk ? job->n - start : job->sizes->chunk;
    int64_t *counts = job->table + c * ((int64_t)1 << job->bits);
    char *share = (char *)job->out + start * job->itemsize;
    int64_t off;
    fb_perm_xoshiro state;
    bitgen_t stream;
    (void)t;
    for (off = 0; off < len * job->itemsize; off += FB_PERM_PAGE)
        share[off] = 0;
    fb_perm_stream(&state, &stream, job->key, (uint64_t)c);
    memset(counts, 0, sizeof(int64_t) << job->bits);
    fb_perm_draw_ids(&stream, job->ids + start, len, job->bits, counts);
}

/* The serial prefix sum over (bucket, chunk): bucket b starts at starts[b], and inside
 * it chunk c's values follow those of chunks 0..c-1.  Returns the largest bucket. */
static int64_t fb_perm_place_chunks(fb_perm_job *job)
{
    int64_t n_buckets = (int64_t)1 << job->bits, b, c, count, largest = 0;
    int64_t *row;
    memset(job->starts, 0, sizeof(job->starts));
    for (c = 0; c < job->n_chunks; c++) {
        row = job->table + c * n_buckets;
        for (b = 0; b < n_buckets; b++)
            job->starts[b] += row[b];
    }
    for (b = 0; b < n_buckets; b++)
        if (job->starts[b] > largest)
            largest = job->starts[b];
    fb_perm_starts_from_counts(job->starts, n_buckets);
    job->starts[n_buckets] = job->n;
    {
        int64_t next[FB_PERM_MAX_BUCKETS];
        memcpy(next, job->starts, sizeof(next));
        for (c = 0; c < job->n_chunks; c++) {
            row = job->table + c * n_buckets;
            for (b = 0; b < n_buckets; b++) {
                count = row[b];
                row[b] = next[b];
                next[b] += count;
            }
        }
    }
    return largest;
}

/* Widening in place.  The int32 permutation is built in the upper half of out's bytes:
 * narrow[j] = ((int32_t *)out)[n + j].  Writing out[i] overwrites narrow[2i - n] and
 * narrow[2i - n + 1] only, so out[lo:hi] may be written in any order (in parallel) once
 * narrow[0:lo] has been read, as long as 2 * hi <= lo + n: every narrow[j] it overwrites
 * has j < lo, and the narrow[lo:hi] it reads are untouched.  Rounds [lo, hi) with
 * hi = (lo + n) / 2 halve what is left; the small rest goes forward on one thread. */
typedef struct {
    int64_t *out;
    int64_t n;
    int64_t lo;
    int64_t hi;
} fb_perm_widen_job;

/* The narrow values share memory with the int64 results; may_alias keeps the compiler
 * from moving a write to out[i] before the reads it could overlap. */
#if defined(__GNUC__) || defined(__clang__)
typedef int32_t __attribute__((may_alias)) fb_perm_narrow_t;
#else
typedef int32_t fb_perm_narrow_t;
#endif

static void fb_perm_widen_range(int64_t *out, int64_t n, int64_t start, int64_t stop)
{
    const fb_perm_narrow_t *narrow = (const fb_perm_narrow_t *)out + n;
    int64_t i, value;
    for (i = start; i < stop; i++) {
        value = narrow[i];          /* read before the write that may overlap it */
        out[i] = value;
    }
}

static void fb_perm_widen_chunk(void *arg, int64_t c, int t)
{
    fb_perm_widen_job *job = (fb_perm_widen_job *)arg;
    int64_t start = job->lo + c * FB_PERM_WIDEN_CHUNK;
    int64_t stop = job->hi - start < FB_PERM_WIDEN_CHUNK ? job->hi : start + FB_PERM_WIDEN_CHUNK;
    (void)t;
    fb_perm_widen_range(job->out, job->n, start, stop);
}

static int fb_perm_widen(int64_t *out, int64_t n, int threads, fb_perm_interrupt *interrupt)
{
    fb_perm_widen_job job;
    int status = FB_OK;
    job.out = out;
    job.n = n;
    job.lo = 0;
    while (status == FB_OK && n - job.lo > FB_PERM_WIDEN_CHUNK) {
        job.hi = (job.lo + n) / 2;
        status = fb_perm_for(threads, (job.hi - job.lo + FB_PERM_WIDEN_CHUNK - 1)
                                          / FB_PERM_WIDEN_CHUNK,
                             fb_perm_widen_chunk, &job, interrupt);
        job.lo = job.hi;
    }
    if (status == FB_OK)
        fb_perm_widen_range(out, n, job.lo, n);
    return status;
}

/* ---- Both index types ------------------------------------------------------------- */

#define FB_PERM_T int32_t
#define FB_PERM_NAME(name) name##_int32
#include "permutation_body.h"
#undef FB_PERM_T
#undef FB_PERM_NAME

#define FB_PERM_T int64_t
#define FB_PERM_NAME(name) name##_int64
#include "permutation_body.h"
#undef FB_PERM_T
#undef FB_PERM_NAME

/* ---- Entry points ----------------------------------------------------------------- */

/* Fill out[0:n] with a uniform random permutation of 0..n-1, on up to `threads` threads
 * (the result does not depend on how many).  The caller holds bitgen's lock.  check:
 * see fb_perm_interrupt (NULL: never interrupted).  Returns FB_OK, FB_ENOMEM or
 * FB_EINTR. */
static int fb_perm_int32(bitgen_t *bitgen, int32_t *out, int64_t n, int threads,
                         fb_perm_check_fn check, void *ctx)
{
    fb_perm_interrupt interrupt;
    fb_perm_interrupt_init(&interrupt, check, ctx);
    return fb_perm_run_int32(bitgen, out, n, &fb_perm_default_sizes, threads, &interrupt,
                             NULL);
}

/* Large permutations are memory-bound: shuffle 4-byte indices (half the traffic of the
 * scatter and bucket passes), in the upper half of out, and widen them in place (see
 * fb_perm_widen: no extra buffer, so no extra pages for the kernel to zero).  Same random
 * draws, so the result equals the int32 one for the same seed. */
static int fb_perm_int64(bitgen_t *bitgen, int64_t *out, int64_t n, int threads,
                         fb_perm_check_fn check, void *ctx)
{
    fb_perm_interrupt interrupt;
    int status;
    fb_perm_interrupt_init(&interrupt, check, ctx);
    if (n < FB_PERM_NARROW_MIN || n > INT32_MAX)
        return fb_perm_run_int64(bitgen, out, n, &fb_perm_default_sizes, threads,
                                 &interrupt, NULL);
    status = fb_perm_run_int32(bitgen, (int32_t *)out + n, n, &fb_perm_default_sizes,
                               threads, &interrupt, NULL);
    if (status == FB_OK)
        status = fb_perm_widen(out, n, threads, &interrupt);
    return status;
}

/* Test hook: the large-n (bucket) algorithm at any n >= 1, with buckets of about
 * bucket_bytes (also the leaf size) and chunks of `chunk` values, on `threads` threads
 * whatever n. */
static int fb_perm_forced_buckets_int64(bitgen_t *bitgen, int64_t *out, int64_t n,
                                        int64_t bucket_bytes, int64_t chunk, int threads)
{
    fb_perm_interrupt interrupt;
    fb_perm_sizes sizes;
    sizes.chunk = chunk;
    sizes.bucket_bytes = bucket_bytes;
    sizes.leaf_bytes = bucket_bytes;
    sizes.parallel_min = 0;
    fb_perm_interrupt_init(&interrupt, NULL, NULL);
    return fb_perm_parallel_int64(bitgen, out, n, &sizes, threads, &interrupt, NULL);
}

/* out[0:n] = the rows of `runs` (n_runs runs, `ends` cumulative, ends[n_runs-1] == n) in
 * a uniform random order.  Up to fb_perm_runs_small_max rows: fb_perm_runs_small keyed
 * by two words of bitgen (one thread whatever `threads`).  Above: the order of the
 * uniform permutation fb_perm_int64 draws with the same bitgen state, out[k] = the
 * perm[k]-th row of the runs laid end to end (same draws, same threads rule, same
 * statuses). */
static int fb_perm_runs_int64(bitgen_t *bitgen, int64_t *out, int64_t n,
                              const int64_t *firsts, const int64_t *ends, int64_t n_runs,
                              int threads, fb_perm_check_fn check, void *ctx)
{
    fb_perm_interrupt interrupt;
    fb_perm_runs runs;
    int64_t r, last = -1;
    int status;
    runs.firsts = firsts;
    runs.ends = ends;
    runs.n_runs = n_runs;
    fb_perm_interrupt_init(&interrupt, check, ctx);
    /* Built as int32 and widened in place when every row fits (and, for the buckets,
     * from FB_PERM_NARROW_MIN rows, as fb_perm_int64): the same draws, the same result. */
    for (r = 0; r < n_runs; r++) {
        int64_t size = ends[r] - (r > 0 ? ends[r - 1] : 0);
        if (size > 0 && firsts[r] + (size - 1) > last)
            last = firsts[r] + (size - 1);
    }
    if (n >= 1 && n <= fb_perm_runs_small_max) {
        /* Two words of the caller's generator key the stream, as for the buckets. */
        uint64_t key[2];
        key[0] = bitgen->next_uint64(bitgen->state);
        key[1] = bitgen->next_uint64(bitgen->state);
        if (last > INT32_MAX) {
            fb_perm_runs_small_int64(key, out, n, &runs);
            return FB_OK;
        }
        fb_perm_runs_small_int32(key, (int32_t *)out + n, n, &runs);
        return fb_perm_widen(out, n, threads, &interrupt);
    }
    if (n < FB_PERM_NARROW_MIN || n > INT32_MAX || last > INT32_MAX)
        return fb_perm_run_int64(bitgen, out, n, &fb_perm_default_sizes, threads,
                                 &interrupt, n_runs > 0 ? &runs : NULL);
    status = fb_perm_run_int32(bitgen, (int32_t *)out + n, n, &fb_perm_default_sizes,
                               threads, &interrupt, n_runs > 0 ? &runs : NULL);
    if (status == FB_OK)
        status = fb_perm_widen(out, n, threads, &interrupt);
    return status;
}

#endif
