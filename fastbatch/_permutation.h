/* Exact uniform permutations of range(n), serial and parallel (included by _kernels.pyx).
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
 * FB_PERM_EINTERRUPTED with `out` in an unspecified state.
 *
 * The file includes itself twice to define the int32 (_int32) and int64 (_int64)
 * versions from one body.
 */
#ifndef FB_PERM_T

#ifndef FB_PERMUTATION_H
#define FB_PERMUTATION_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "numpy/random/bitgen.h"
#include "_parallel.h"

/* Status codes: the same values as FB_OK / FB_ENOMEM / FB_EINTERRUPTED in _kernels.pxd. */
#define FB_PERM_OK 0
#define FB_PERM_ENOMEM (-1)
#define FB_PERM_EINTERRUPTED (-3)

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
/* How often the calling thread runs the interrupt check. */
#define FB_PERM_CHECK_NS 50000000

static inline uint64_t fb_perm_mul128(uint64_t a, uint64_t b, uint64_t *lo)
{
    __uint128_t m = (__uint128_t)a * (__uint128_t)b;
    *lo = (uint64_t)m;
    return (uint64_t)(m >> 64);
}

/* ---- Bounded random integers ------------------------------------------------------ */

/* Uniform integer in [0, s), s >= 1 (Lemire's nearly divisionless method). */
static uint64_t fb_perm_bounded(bitgen_t *bitgen, uint64_t s)
{
    uint64_t low, threshold;
    uint64_t high = fb_perm_mul128(bitgen->next_uint64(bitgen->state), s, &low);
    if (low < s) {
        threshold = (0 - s) % s;
        while (low < threshold)
            high = fb_perm_mul128(bitgen->next_uint64(bitgen->state), s, &low);
    }
    return high;
}

/* How many bounded draws one 64-bit word can serve: the product of the bounds must stay
 * below 2**64 (see fb_perm_draw_batch). */
static inline int fb_perm_batch_for(uint64_t max_bound)
{
    if (max_bound <= (1 << 12))
        return 5;
    if (max_bound < (1 << 16))
        return 4;
    if (max_bound <= (1 << 21))
        return 3;
    if (max_bound < ((uint64_t)1 << 32))
        return 2;
    return 1;
}

/* Batched ranged random integers (Brackett-Rozinsky & Lemire, 2024): k uniform draws,
 * out[m] in [0, bounds[m]), from one 64-bit word x.  Multiplying through,
 *     x * b_0 * ... * b_{k-1} = R * 2**64 + low,
 * where R = mixed-radix number (out[0], ..., out[k-1]) in [0, P), P = prod(bounds).
 * This is Lemire's method for the single bound P: rejecting low < 2**64 mod P makes R
 * exactly uniform on [0, P), hence its digits independent and uniform. */
static inline void fb_perm_draw_batch(bitgen_t *bitgen, const uint64_t *bounds, int k,
                                      uint64_t *out)
{
    uint64_t product = bounds[0], x, low = 0, threshold;
    int m;
    for (m = 1; m < k; m++)
        product *= bounds[m];
    for (;;) {
        x = bitgen->next_uint64(bitgen->state);
        for (m = 0; m < k; m++) {
            out[m] = fb_perm_mul128(x, bounds[m], &low);
            x = low;
        }
        if (low >= product)
            return;
        threshold = (0 - product) % product;
        if (low >= threshold)
            return;
    }
}

/* ---- Random streams: xoshiro256** keyed by (key, stream) -------------------------- */

typedef struct {
    uint64_t s[4];
} fb_perm_xoshiro;

static inline uint64_t fb_perm_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t fb_perm_xoshiro_next(void *state)
{
    uint64_t *s = ((fb_perm_xoshiro *)state)->s;
    uint64_t result = fb_perm_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = fb_perm_rotl(s[3], 45);
    return result;
}

static uint32_t fb_perm_xoshiro_next32(void *state)
{
    return (uint32_t)(fb_perm_xoshiro_next(state) >> 32);
}

static double fb_perm_xoshiro_next_double(void *state)
{
    return (double)(fb_perm_xoshiro_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

/* SplitMix64's output function: a bijection of 64-bit words with full avalanche. */
static inline uint64_t fb_perm_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Stream `stream` of `key` as a bitgen_t (whose state is *g).  Distinct streams start
 * SplitMix64 at distinct points (mix64 and adding an odd multiple are bijections), and
 * the four state words are consecutive SplitMix64 outputs, never all zero. */
static void fb_perm_stream(fb_perm_xoshiro *g, bitgen_t *bitgen, const uint64_t key[2],
                           uint64_t stream)
{
    const uint64_t golden = 0x9e3779b97f4a7c15ULL;
    uint64_t x = key[0] ^ fb_perm_mix64(key[1] + stream * golden);
    int w;
    for (w = 0; w < 4; w++) {
        x += golden;
        g->s[w] = fb_perm_mix64(x);
    }
    bitgen->state = g;
    bitgen->next_uint64 = fb_perm_xoshiro_next;
    bitgen->next_uint32 = fb_perm_xoshiro_next32;
    bitgen->next_double = fb_perm_xoshiro_next_double;
    bitgen->next_raw = fb_perm_xoshiro_next;
}

/* ---- Interrupts ------------------------------------------------------------------- */

/* Called on the calling thread only; nonzero means stop (e.g. a KeyboardInterrupt is
 * pending).  NULL: never interrupted. */
typedef int (*fb_perm_check_fn)(void *ctx);

typedef struct {
    fb_perm_check_fn check;
    void *ctx;
    int stop;            /* set once by thread 0, read by all (atomic) */
    int64_t last_ns;     /* thread 0 only */
} fb_perm_interrupt;

static inline int64_t fb_perm_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void fb_perm_interrupt_init(fb_perm_interrupt *in, fb_perm_check_fn check,
                                   void *ctx)
{
    in->check = check;
    in->ctx = ctx;
    in->stop = 0;
    in->last_ns = check != NULL ? fb_perm_now_ns() : 0;
}

/* Whether the work should stop; thread 0 runs the check when it is due. */
static int fb_perm_stopped(fb_perm_interrupt *in, int t)
{
    int64_t now;
    if (t == 0 && in->check != NULL) {
        now = fb_perm_now_ns();
        if (now - in->last_ns >= FB_PERM_CHECK_NS) {
            in->last_ns = now;
            if (in->check(in->ctx))
                __atomic_store_n(&in->stop, 1, __ATOMIC_RELAXED);
        }
    }
    return __atomic_load_n(&in->stop, __ATOMIC_RELAXED);
}

/* ---- A parallel loop over work items ---------------------------------------------- */

typedef void (*fb_perm_item_fn)(void *ctx, int64_t item, int t);

typedef struct {
    fb_perm_item_fn body;
    void *ctx;
    int64_t count;
    int64_t next;        /* the next unclaimed item (atomic) */
    fb_perm_interrupt *interrupt;
} fb_perm_loop;

static void fb_perm_loop_task(void *arg, int t, int n)
{
    fb_perm_loop *loop = (fb_perm_loop *)arg;
    int64_t item;
    (void)n;
    while (!fb_perm_stopped(loop->interrupt, t)) {
        item = __atomic_fetch_add(&loop->next, 1, __ATOMIC_RELAXED);
        if (item >= loop->count)
            return;
        loop->body(loop->ctx, item, t);
    }
}

/* body(ctx, item, t) for every item < count, on up to `threads` threads (t says which,
 * for per-thread scratch).  Items are claimed dynamically: on a shared machine a slow
 * thread does fewer, and no item's result depends on which thread ran it. */
static int fb_perm_for(int threads, int64_t count, fb_perm_item_fn body, void *ctx,
                       fb_perm_interrupt *interrupt)
{
    fb_perm_loop loop;
    loop.body = body;
    loop.ctx = ctx;
    loop.count = count;
    loop.next = 0;
    loop.interrupt = interrupt;
    if ((int64_t)threads > count)
        threads = (int)count;
    fb_parallel_run(threads < 1 ? 1 : threads, fb_perm_loop_task, &loop);
    return __atomic_load_n(&interrupt->stop, __ATOMIC_RELAXED) ? FB_PERM_EINTERRUPTED
                                                                 : FB_PERM_OK;
}

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
    int status = FB_PERM_OK;
    job.out = out;
    job.n = n;
    job.lo = 0;
    while (status == FB_PERM_OK && n - job.lo > FB_PERM_WIDEN_CHUNK) {
        job.hi = (job.lo + n) / 2;
        status = fb_perm_for(threads, (job.hi - job.lo + FB_PERM_WIDEN_CHUNK - 1)
                                          / FB_PERM_WIDEN_CHUNK,
                             fb_perm_widen_chunk, &job, interrupt);
        job.lo = job.hi;
    }
    if (status == FB_PERM_OK)
        fb_perm_widen_range(out, n, job.lo, n);
    return status;
}

/* ---- Both index types ------------------------------------------------------------- */

#define FB_PERM_T int32_t
#define FB_PERM_NAME(name) name##_int32
#include "_permutation.h"
#undef FB_PERM_T
#undef FB_PERM_NAME

#define FB_PERM_T int64_t
#define FB_PERM_NAME(name) name##_int64
#include "_permutation.h"
#undef FB_PERM_T
#undef FB_PERM_NAME

/* ---- Entry points ----------------------------------------------------------------- */

/* Fill out[0:n] with a uniform random permutation of 0..n-1, on up to `threads` threads
 * (the result does not depend on how many).  The caller holds bitgen's lock.  check:
 * see fb_perm_interrupt (NULL: never interrupted).  Returns FB_PERM_OK, FB_PERM_ENOMEM
 * or FB_PERM_EINTERRUPTED. */
static int fb_perm_int32(bitgen_t *bitgen, int32_t *out, int64_t n, int threads,
                         fb_perm_check_fn check, void *ctx)
{
    fb_perm_interrupt interrupt;
    fb_perm_interrupt_init(&interrupt, check, ctx);
    return fb_perm_run_int32(bitgen, out, n, &fb_perm_default_sizes, threads, &interrupt);
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
                                 &interrupt);
    status = fb_perm_run_int32(bitgen, (int32_t *)out + n, n, &fb_perm_default_sizes,
                               threads, &interrupt);
    if (status == FB_PERM_OK)
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
    return fb_perm_parallel_int64(bitgen, out, n, &sizes, threads, &interrupt);
}

#endif  /* FB_PERMUTATION_H */

#else  /* the body, once per FB_PERM_T */

/* Durstenfeld's Fisher-Yates: a[i] swaps with a uniform a[j], j <= i, from the top down;
 * the j for several consecutive i come from one random word. */
static void FB_PERM_NAME(fb_perm_shuffle)(bitgen_t *bitgen, FB_PERM_T *a, int64_t n)
{
    int64_t i = n - 1, j;
    int k, m;
    uint64_t bounds[5], js[5];
    FB_PERM_T t;
    while (i > 0) {
        k = fb_perm_batch_for((uint64_t)(i + 1));
        if (k > i)
            k = (int)i;
        for (m = 0; m < k; m++)
            bounds[m] = (uint64_t)(i + 1 - m);
        fb_perm_draw_batch(bitgen, bounds, k, js);
        for (m = 0; m < k; m++) {
            j = (int64_t)js[m];
            t = a[i];
            a[i] = a[j];
            a[j] = t;
            i--;
        }
    }
}

/* "Inside-out" Fisher-Yates: builds the permutation of 0..n-1 in one pass, no init;
 * step i places i at a uniform j <= i.  Draws are batched as in fb_perm_shuffle. */
static void FB_PERM_NAME(fb_perm_small)(bitgen_t *bitgen, FB_PERM_T *out, int64_t n)
{
    int64_t i = 1, j;
    int k, m;
    uint64_t bounds[5], js[5];
    if (n <= 0)
        return;
    out[0] = 0;
    while (i < n) {
        k = fb_perm_batch_for((uint64_t)(i + 5));
        if (k > n - i)
            k = (int)(n - i);
        for (m = 0; m < k; m++)
            bounds[m] = (uint64_t)(i + 1 + m);
        fb_perm_draw_batch(bitgen, bounds, k, js);
        for (m = 0; m < k; m++) {
            j = (int64_t)js[m];
            out[i] = out[j];
            out[j] = (FB_PERM_T)i;
            i++;
        }
    }
}

/* Uniform in-place shuffle of a[0:n] by recursive bucketing (one thread, one stream);
 * tmp and ids hold at least n items.  Each level scatters into at most 256 streams, few
 * enough that every stream's current cache line stays in L1. */
static void FB_PERM_NAME(fb_perm_shuffle_buckets)(bitgen_t *bitgen, FB_PERM_T *a,
                                                  int64_t n, FB_PERM_T *tmp, uint8_t *ids,
                                                  const fb_perm_sizes *sizes,
                                                  fb_perm_interrupt *interrupt, int t)
{
    int64_t offsets[FB_PERM_MAX_BUCKETS], i, b, start, n_buckets;
    int bits;
    if (n <= sizes->leaf_bytes / FB_PERM_KEY_BYTES) {
        FB_PERM_NAME(fb_perm_shuffle)(bitgen, a, n);
        return;
    }
    bits = fb_perm_bucket_bits(n, sizes->bucket_bytes);
    n_buckets = (int64_t)1 << bits;
    memset(offsets, 0, sizeof(offsets));
    fb_perm_draw_ids(bitgen, ids, n, bits, offsets);
    fb_perm_starts_from_counts(offsets, n_buckets);
    memcpy(tmp, a, (size_t)n * sizeof(FB_PERM_T));
    for (i = 0; i < n; i++)
        a[offsets[ids[i]]++] = tmp[i];
    start = 0;
    for (b = 0; b < n_buckets; b++) {
        if (fb_perm_stopped(interrupt, t))
            return;
        FB_PERM_NAME(fb_perm_shuffle_buckets)(bitgen, a + start, offsets[b] - start, tmp,
                                              ids, sizes, interrupt, t);
        start = offsets[b];
    }
}

static void FB_PERM_NAME(fb_perm_scatter_chunk)(void *arg, int64_t c, int t)
{
    fb_perm_job *job = (fb_perm_job *)arg;
    FB_PERM_T *out = (FB_PERM_T *)job->out;
    int64_t start = c * job->sizes->chunk;
    int64_t stop = job->n - start < job->sizes->chunk ? job->n : start + job->sizes->chunk;
    int64_t *next = job->table + c * ((int64_t)1 << job->bits);
    const uint8_t *ids = job->ids;
    int64_t i;
    (void)t;
    for (i = start; i < stop; i++)
        out[next[ids[i]]++] = (FB_PERM_T)i;
}

static void FB_PERM_NAME(fb_perm_bucket_task)(void *arg, int64_t b, int t)
{
    fb_perm_job *job = (fb_perm_job *)arg;
    int64_t start = job->starts[b];
    fb_perm_xoshiro state;
    bitgen_t stream;
    fb_perm_stream(&state, &stream, job->key, FB_PERM_BUCKET_STREAM + (uint64_t)b);
    FB_PERM_NAME(fb_perm_shuffle_buckets)(
        &stream, (FB_PERM_T *)job->out + start, job->starts[b + 1] - start,
        job->tmp == NULL ? NULL : (FB_PERM_T *)job->tmp + (int64_t)t * job->tmp_items,
        job->ids + start, job->sizes, job->interrupt, t);
}

/* The bucket shuffle, top level in parallel (see the top of this file).  Memory: n bytes
 * of bucket ids, the count table (1/32 byte per value), and a largest bucket of scratch
 * per thread when buckets are split again. */
static int FB_PERM_NAME(fb_perm_parallel)(bitgen_t *bitgen, FB_PERM_T *out, int64_t n,
                                          const fb_perm_sizes *sizes, int threads,
                                          fb_perm_interrupt *interrupt)
{
    fb_perm_job job;
    int64_t n_buckets, largest = 0;
    int status, bucket_threads = 1;
    job.key[0] = bitgen->next_uint64(bitgen->state);
    job.key[1] = bitgen->next_uint64(bitgen->state);
    job.out = out;
    job.itemsize = sizeof(FB_PERM_T);
    job.n = n;
    job.bits = fb_perm_bucket_bits(n, sizes->bucket_bytes);
    job.n_chunks = (n + sizes->chunk - 1) / sizes->chunk;
    job.sizes = sizes;
    job.interrupt = interrupt;
    job.tmp = NULL;
    job.tmp_items = 0;
    n_buckets = (int64_t)1 << job.bits;
    if (n < sizes->parallel_min)
        threads = 1;
    job.ids = (uint8_t *)malloc((size_t)n);
    job.table = (int64_t *)malloc((size_t)(job.n_chunks * n_buckets) * sizeof(int64_t));
    status = job.ids != NULL && job.table != NULL ? FB_PERM_OK : FB_PERM_ENOMEM;
    if (status == FB_PERM_OK)
        status = fb_perm_for(threads, job.n_chunks, fb_perm_count_chunk, &job, interrupt);
    if (status == FB_PERM_OK) {
        largest = fb_perm_place_chunks(&job);
        status = fb_perm_for(threads, job.n_chunks, FB_PERM_NAME(fb_perm_scatter_chunk),
                             &job, interrupt);
    }
    free(job.table);
    job.table = NULL;
    if (status == FB_PERM_OK) {
        bucket_threads = (int64_t)threads < n_buckets ? threads : (int)n_buckets;
        if (largest > sizes->leaf_bytes / FB_PERM_KEY_BYTES) {
            job.tmp_items = largest;
            job.tmp = malloc((size_t)(largest * bucket_threads) * sizeof(FB_PERM_T));
            if (job.tmp == NULL)
                status = FB_PERM_ENOMEM;
        }
    }
    if (status == FB_PERM_OK)
        status = fb_perm_for(bucket_threads, n_buckets, FB_PERM_NAME(fb_perm_bucket_task), &job,
                             interrupt);
    free(job.tmp);
    free(job.ids);
    return status;
}

static int FB_PERM_NAME(fb_perm_run)(bitgen_t *bitgen, FB_PERM_T *out, int64_t n,
                                     const fb_perm_sizes *sizes, int threads,
                                     fb_perm_interrupt *interrupt)
{
    if (n <= FB_PERM_SMALL_N) {
        FB_PERM_NAME(fb_perm_small)(bitgen, out, n);
        return FB_PERM_OK;
    }
    return FB_PERM_NAME(fb_perm_parallel)(bitgen, out, n, sizes, threads, interrupt);
}

#endif
