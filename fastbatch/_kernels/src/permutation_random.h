/* Random words for the permutation kernels (included by permutation.h): unbiased
 * bounded integers, several per 64-bit word, from any numpy bitgen_t; and keyed random
 * streams (xoshiro256**, see permutation.h for the choice) exposed as bitgen_t.
 */
#ifndef FB_PERMUTATION_RANDOM_H
#define FB_PERMUTATION_RANDOM_H

#include <stdint.h>

#include "numpy/random/bitgen.h"

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

#endif
