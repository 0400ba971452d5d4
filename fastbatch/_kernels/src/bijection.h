/* The keyed bijection of range(n) behind fb.index_shuffle (included by _kernels/bijection.pyx).
 *
 * Construction.  x in [0, 2**bits), bits = bit length of n - 1 (at least 1), is split into
 * a high part A (wa = bits / 2 bits) and a low part B (wb = bits - wa bits, at most 32).
 * Round j replaces A by A ^ F_j(B) (even j) or B by B ^ F_j(A) (odd j), truncated to the
 * part's width: a Feistel network with alternating, possibly unequal halves (as in
 * NIST FF1), invertible by running the rounds backwards.  F_j(x) = mix32(x ^ k_j), where
 * mix32 is Wellons' "lowbias32" integer hash (two 32-bit multiplies) and k_j a 32-bit
 * round key expanded from the 128-bit key with splitmix64.  Cycle walking maps the
 * domain onto range(n): apply the network again while the value is >= n.  As
 * 2**bits < 2n, the expected number of passes is below 2 for every n, and the walk always
 * ends (it follows the cycle of a permutation back to the start, which is < n).
 *
 * Why 32-bit halves: every round is the same few 32-bit operations on arrays of halves,
 * which compile to 8- or 16-lane vector code (target_clones below); integer arithmetic
 * gives identical results in every version.
 *
 * Round count, measured with the NumPy reference of tests/test_index_shuffle.py run at
 * other round counts (chi-square p-values, uniform random round keys, 2e5+ keys per
 * column; two power tests there re-check the rejections at 3 and at 8 rounds).  The joint law of the images of the first t positions
 * against the exact law of a uniform permutation:
 *
 *     rounds       n=3,t=2  n=5,t=4  n=7,t=4  n=12,t=3  n=24,t=2  n=48,t=2  n=100,t=2
 *       4           5e-69     0        0        0         0        2e-103    1e-85
 *       6           3e-04     0        0        4e-222    5e-65    0.7       0.8
 *       8           0.6       0        0        1e-04     0.02     0.5       0.3
 *      12           0.1     6e-265   2e-174     0.3       0.7      0.4       0.3
 *      16           0.4      2e-16    6e-06     0.7       0.8      0.8       0.3
 *      20           0.1      0.6      0.04      0.2       0.6      0.2       0.5
 *      24           0.8      0.09     0.3       0.7       0.5      0.1       0.9
 *
 * and at n = 1000 (2e4 keys; fixed points against Poisson(1), adjacent outputs' low 4
 * bits against the exact pair law) and n = 2**20 + 7 (2e5 sampled adjacent pairs):
 *
 *     rounds   fixed points  pairs low4  pairs (bits 5-7, 0-1)  n=2**20+7 pairs, xor diff
 *       3          0            0            0                  > 0.06
 *       4         1e-05        2e-05        1e-03               > 0.1
 *       5         6e-05        2e-04        0.7                 > 0.4
 *       6          0.9          0.9          1.0                > 0.4
 *       8          0.09         1.0          0.9                > 0.2
 *
 * A round can only inject wa * 2**wb key bits, so narrow halves mix slowly: 3-bit domains
 * need 20 rounds, 4- and 5-bit ones 10, 6 bits and wider 6.  We use the smallest passing
 * count plus a margin: 24 rounds when n <= 32 (those permutations are tiny anyway) and
 * 8 rounds above.
 *
 * It is not an exactly uniform permutation: 2**(32 * rounds) keys cannot reach all n!
 * orders, and for n a power of two >= 16 every round, hence the result, is an even
 * permutation.  The tests above and in tests/test_index_shuffle.py are what it promises.
 */
#ifndef FB_BIJECTION_H
#define FB_BIJECTION_H

#include <stddef.h>
#include <stdint.h>

#include "parallel.h"

#include "simd.h"

#define FB_BIJ_SMALL_N 32         /* n up to this gets the small-domain round count */
#define FB_BIJ_ROUNDS_SMALL 24
#define FB_BIJ_ROUNDS 8
#define FB_BIJ_BLOCK 512          /* values per block: the halves stay in L1 */
#define FB_BIJ_MIN_PER_THREAD 65536  /* below, a thread hand-off costs more than it saves */

typedef struct {
    uint64_t n;
    int wb;                       /* width of the low half B; A has the bits above */
    int rounds;
    uint32_t ma, mb;              /* masks of the two halves */
    uint32_t rk[FB_BIJ_ROUNDS_SMALL];
} fb_bijection;

static inline uint64_t fb_bij_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static inline uint32_t fb_bij_mix32(uint32_t x) {
    x ^= x >> 16;
    x *= UINT32_C(0x7FEB352D);
    x ^= x >> 15;
    x *= UINT32_C(0x846CA68B);
    return x ^ (x >> 16);
}

/* The key schedule: n >= 1, (k0, k1) the 128-bit key. */
static inline void fb_bij_init(fb_bijection *f, uint64_t n, uint64_t k0, uint64_t k1) {
    int bits = 1, wa, j;
    while (bits < 64 && (n - 1) >> bits)
        bits++;
    wa = bits / 2;
    f->n = n;
    f->wb = bits - wa;
    f->ma = (uint32_t)((UINT64_C(1) << wa) - 1);
    f->mb = (uint32_t)((UINT64_C(1) << f->wb) - 1);
    f->rounds = n <= FB_BIJ_SMALL_N ? FB_BIJ_ROUNDS_SMALL : FB_BIJ_ROUNDS;
    for (j = 0; j < f->rounds; j++)
        f->rk[j] = (uint32_t)(fb_bij_mix64(
            fb_bij_mix64(k0 + (uint64_t)(j + 1) * UINT64_C(0x9E3779B97F4A7C15)) ^ k1) >> 32);
}

/* All rounds on m split values, in place. */
static inline void fb_bij_network(const fb_bijection *f, uint32_t *a, uint32_t *b, size_t m,
                                  int inverse) {
    size_t i;
    int r, j;
    for (r = 0; r < f->rounds; r++) {
        uint32_t k;
        j = inverse ? f->rounds - 1 - r : r;
        k = f->rk[j];
        if (j % 2 == 0) {
            const uint32_t ma = f->ma;
            for (i = 0; i < m; i++)
                a[i] ^= fb_bij_mix32(b[i] ^ k) & ma;
        } else {
            const uint32_t mb = f->mb;
            for (i = 0; i < m; i++)
                b[i] ^= fb_bij_mix32(a[i] ^ k) & mb;
        }
    }
}

/* One value (n >= 1, 0 <= x < n): the reference for the block version below. */
static inline uint64_t fb_bij_one(const fb_bijection *f, uint64_t x, int inverse) {
    do {
        uint32_t a = (uint32_t)(x >> f->wb), b = (uint32_t)x & f->mb;
        fb_bij_network(f, &a, &b, 1, inverse);
        x = ((uint64_t)a << f->wb) | b;
    } while (x >= f->n);
    return x;
}

/* out[i] = the bijection (or its inverse) of in[i] for i < m <= FB_BIJ_BLOCK.  Returns 1
 * if some in[i] is outside [0, n) (out is then unspecified), else 0.  The network runs on
 * every value of the block at once (vector code); the values that leave range(n) are
 * gathered and walked on together until none is left. */
FB_CLONES
static int fb_bij_block(const fb_bijection *f, const int64_t *in, int64_t *out, size_t m,
                        int inverse) {
    uint32_t a[FB_BIJ_BLOCK], b[FB_BIJ_BLOCK];
    uint32_t where[FB_BIJ_BLOCK];
    const uint64_t n = f->n;
    const int wb = f->wb;
    const uint32_t mb = f->mb;
    uint64_t bad = 0;
    size_t i, left = 0;
    for (i = 0; i < m; i++) {
        uint64_t x = (uint64_t)in[i];
        bad |= x >= n;
        a[i] = (uint32_t)(x >> wb);
        b[i] = (uint32_t)x & mb;
    }
    if (bad)
        return 1;
    fb_bij_network(f, a, b, m, inverse);
    /* Two loops: the first is vector code, the second a branch-free scan. */
    for (i = 0; i < m; i++)
        out[i] = (int64_t)(((uint64_t)a[i] << wb) | b[i]);
    for (i = 0; i < m; i++) {
        where[left] = (uint32_t)i;
        left += (uint64_t)out[i] >= n;
    }
    while (left) {
        size_t still = 0;
        for (i = 0; i < left; i++) {
            uint64_t x = (uint64_t)out[where[i]];
            a[i] = (uint32_t)(x >> wb);
            b[i] = (uint32_t)x & mb;
        }
        fb_bij_network(f, a, b, left, inverse);
        for (i = 0; i < left; i++) {
            uint64_t x = ((uint64_t)a[i] << wb) | b[i];
            out[where[i]] = (int64_t)x;
            if (x >= n)
                where[still++] = where[i];
        }
        left = still;
    }
    return 0;
}

typedef struct {
    const fb_bijection *f;
    const int64_t *in;
    int64_t *out;
    int64_t count;
    int inverse;
    int bad[FB_MAX_THREADS];
} fb_bij_job;

/* Thread t of n takes the t-th contiguous slice: the result does not depend on n. */
static void fb_bij_run_slice(void *ctx, int t, int n) {
    fb_bij_job *job = (fb_bij_job *)ctx;
    int64_t i = job->count / n * t;
    int64_t end = t == n - 1 ? job->count : job->count / n * (t + 1);
    int bad = 0;
    while (i < end && !bad) {
        int64_t m = end - i < FB_BIJ_BLOCK ? end - i : FB_BIJ_BLOCK;
        bad = fb_bij_block(job->f, job->in + i, job->out + i, (size_t)m, job->inverse);
        i += m;
    }
    job->bad[t] = bad;
}

/* out[i] = bijection(in[i]) (or the inverse) for i < count, on up to num_threads threads.
 * Returns 1 if some in[i] is outside [0, n) (out is then unspecified), else 0. */
static int fb_bij_apply(const fb_bijection *f, const int64_t *in, int64_t *out,
                        int64_t count, int inverse, int num_threads) {
    fb_bij_job job;
    int t, used = 1, bad = 0;
    while (used < num_threads && used < FB_MAX_THREADS
           && count / (used + 1) >= FB_BIJ_MIN_PER_THREAD)
        used++;
    job.f = f;
    job.in = in;
    job.out = out;
    job.count = count;
    job.inverse = inverse;
    fb_parallel_run(used, fb_bij_run_slice, &job);
    for (t = 0; t < used; t++)
        bad |= job.bad[t];
    return bad;
}

#endif /* FB_BIJECTION_H */
