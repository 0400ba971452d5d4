/* Row loops of the fused linear-regression kernels (included by _kernels.pyx).
 *
 * Why C and not Cython: these loops are compiled several times, for baseline x86-64,
 * x86-64-v3 (AVX2) and x86-64-v4 (AVX-512), and the best version is picked at load time
 * (GCC/clang target_clones).  A wheel built this way runs on any x86-64 yet uses the wide
 * vectors where they exist; -march=native is not needed.
 *
 * Results are bit-identical whatever version runs: the dot product keeps 8 partial sums
 * in a fixed order (a vector of 8, 4 or 2 lanes computes exactly the same sums), the build
 * uses -ffp-contract=off (no fused multiply-add), and nothing is reassociated.
 *
 * The file includes itself twice to define the float64 (_f64) and float32 (_f32)
 * versions from one body.
 */
#ifndef FB_ROWS_T

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__) && defined(__GNUC__) && defined(__has_attribute) \
    && defined(__linux__) && !defined(FB_NO_TARGET_CLONES)
#  if __has_attribute(target_clones)
#    define FB_ROWS_CLONES \
        __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#  endif
#endif
#ifndef FB_ROWS_CLONES
#  define FB_ROWS_CLONES
#endif

#if defined(__GNUC__) || defined(__clang__)
#  define FB_ROWS_PREFETCH(p) __builtin_prefetch((const void *)(p), 0, 3)
#  define FB_ROWS_RESTRICT __restrict__
#else
#  define FB_ROWS_PREFETCH(p) ((void)(p))
#  define FB_ROWS_RESTRICT
#endif

#define FB_ROWS_LANES 8
/* Bytes of rows prefetched ahead when reading through an order: enough misses in flight
 * to cover memory latency, not so many that the core drops prefetches. */
#define FB_ROWS_AHEAD_BYTES 8192
#define FB_ROWS_SEQ_AHEAD 16  /* rows prefetched ahead when reading in order */
#define FB_ROWS_LINE 64
#define FB_ROWS_CHUNK_BYTES (256 * 1024)  /* rows per moments chunk: they stay in L2 */

#define FB_ROWS_T double
#define FB_ROWS_NAME(name) name##_f64
#include "_linreg_rows.h"
#undef FB_ROWS_T
#undef FB_ROWS_NAME

#define FB_ROWS_T float
#define FB_ROWS_NAME(name) name##_f32
#include "_linreg_rows.h"
#undef FB_ROWS_T
#undef FB_ROWS_NAME

#else  /* the body, once per FB_ROWS_T */

/* z = (x - mean) * inv_scale; returns z . beta + intercept - target. */
static inline double FB_ROWS_NAME(fb_row_residual)(
        const FB_ROWS_T *FB_ROWS_RESTRICT x, ptrdiff_t d,
        const double *FB_ROWS_RESTRICT mean, const double *FB_ROWS_RESTRICT inv_scale,
        const double *FB_ROWS_RESTRICT beta, double intercept, double target,
        double *FB_ROWS_RESTRICT z)
{
    double s[FB_ROWS_LANES] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    ptrdiff_t j = 0;
    int l;
    for (; j + FB_ROWS_LANES <= d; j += FB_ROWS_LANES) {
        for (l = 0; l < FB_ROWS_LANES; l++) {
            z[j + l] = ((double)x[j + l] - mean[j + l]) * inv_scale[j + l];
            s[l] += z[j + l] * beta[j + l];
        }
    }
    for (l = 0; j < d; j++, l++) {
        z[j] = ((double)x[j] - mean[j]) * inv_scale[j];
        s[l] += z[j] * beta[j];
    }
    return (((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])))
           + intercept - target;
}

/* Sequential rows: the hardware prefetcher alone leaves bandwidth unused here (it
 * tracks few streams and stops at page boundaries), so ask for the bytes
 * FB_ROWS_SEQ_AHEAD ahead of the row being read. */
static inline void FB_ROWS_NAME(fb_rows_prefetch_ahead)(
        const FB_ROWS_T *X, ptrdiff_t stride, ptrdiff_t row_bytes, ptrdiff_t i,
        ptrdiff_t stop)
{
    ptrdiff_t off;
    const char *row;
    if (i + FB_ROWS_SEQ_AHEAD >= stop)
        return;
    row = (const char *)(X + (i + FB_ROWS_SEQ_AHEAD) * stride);
    for (off = 0; off < row_bytes; off += FB_ROWS_LINE)
        FB_ROWS_PREFETCH(row + off);
}

/* Gradient sums over rows order[start:stop] (rows start..stop-1 when order is NULL):
 * grad[j] = sum z_ij r_i, *rsum = sum r_i, *rsq = sum r_i^2.  Returns 0, or -1 as soon
 * as a residual is not finite.  Rows up to order[prefetch_stop - 1] may be prefetched:
 * an epoch passes its end, so small batches prefetch into the next ones. */
FB_ROWS_CLONES
static int FB_ROWS_NAME(fb_rows_gradient)(
        const FB_ROWS_T *X, ptrdiff_t stride, ptrdiff_t d, const double *y,
        const int64_t *order, ptrdiff_t start, ptrdiff_t stop, ptrdiff_t prefetch_stop,
        const double *FB_ROWS_RESTRICT mean, const double *FB_ROWS_RESTRICT inv_scale,
        const double *FB_ROWS_RESTRICT beta, double intercept,
        double *FB_ROWS_RESTRICT grad, double *rsum, double *rsq,
        double *FB_ROWS_RESTRICT z)
{
    const ptrdiff_t row_bytes = d * (ptrdiff_t)sizeof(FB_ROWS_T);
    const ptrdiff_t ahead_rows = row_bytes >= FB_ROWS_AHEAD_BYTES / 2
                                 ? 2 : FB_ROWS_AHEAD_BYTES / row_bytes;
    double r, sum = 0.0, sq = 0.0;
    ptrdiff_t i, j, row, off;
    for (j = 0; j < d; j++)
        grad[j] = 0.0;
    for (i = start; i < stop; i++) {
        if (order != NULL) {
            /* A random row is a cache miss: ask for the row a few positions ahead now. */
            if (i + ahead_rows < prefetch_stop) {
                const char *ahead = (const char *)(X + order[i + ahead_rows] * stride);
                for (off = 0; off < row_bytes; off += FB_ROWS_LINE)
                    FB_ROWS_PREFETCH(ahead + off);
            }
            row = order[i];
        } else {
            row = i;
            FB_ROWS_NAME(fb_rows_prefetch_ahead)(X, stride, row_bytes, i, prefetch_stop);
        }
        r = FB_ROWS_NAME(fb_row_residual)(X + row * stride, d, mean, inv_scale, beta,
                                          intercept, y[row], z);
        if (!isfinite(r))
            return -1;
        sum += r;
        sq += r * r;
        for (j = 0; j < d; j++)
            grad[j] += z[j] * r;
    }
    *rsum = sum;
    *rsq = sq;
    return 0;
}

/* sum of r_i^2 over rows 0..n-1, in one sequential pass (two partial sums). */
FB_ROWS_CLONES
static double FB_ROWS_NAME(fb_rows_squared_residuals)(
        const FB_ROWS_T *X, ptrdiff_t stride, ptrdiff_t d, const double *y, ptrdiff_t n,
        const double *FB_ROWS_RESTRICT mean, const double *FB_ROWS_RESTRICT inv_scale,
        const double *FB_ROWS_RESTRICT beta, double intercept,
        double *FB_ROWS_RESTRICT z)
{
    const ptrdiff_t row_bytes = d * (ptrdiff_t)sizeof(FB_ROWS_T);
    double s0 = 0.0, s1 = 0.0, r;
    ptrdiff_t i;
    for (i = 0; i < n; i++) {
        FB_ROWS_NAME(fb_rows_prefetch_ahead)(X, stride, row_bytes, i, n);
        r = FB_ROWS_NAME(fb_row_residual)(X + i * stride, d, mean, inv_scale, beta,
                                          intercept, y[i], z);
        if (i & 1)
            s1 += r * r;
        else
            s0 += r * r;
    }
    return s0 + s1;
}

/* Per-column mean and sum of squared deviations (m2) of rows 0..n-1, in one pass over
 * the data: each chunk of rows (cache-sized) gets its own mean and m2 in two passes over
 * the cached chunk, then chunks are combined with Chan et al.'s pairwise update, as
 * accurate as the two-pass formula.  mean, m2: d outputs; scratch: 2 * d doubles. */
FB_ROWS_CLONES
static void FB_ROWS_NAME(fb_rows_moments)(
        const FB_ROWS_T *X, ptrdiff_t stride, ptrdiff_t d, ptrdiff_t n,
        double *FB_ROWS_RESTRICT mean, double *FB_ROWS_RESTRICT m2,
        double *FB_ROWS_RESTRICT scratch)
{
    const ptrdiff_t row_bytes = d * (ptrdiff_t)sizeof(FB_ROWS_T);
    const ptrdiff_t chunk = row_bytes >= FB_ROWS_CHUNK_BYTES ? 1 : FB_ROWS_CHUNK_BYTES / row_bytes;
    double *FB_ROWS_RESTRICT cmean = scratch;
    double *FB_ROWS_RESTRICT cm2 = scratch + d;
    ptrdiff_t start, stop, i, j, count = 0;
    for (j = 0; j < d; j++)
        mean[j] = m2[j] = 0.0;
    for (start = 0; start < n; start = stop) {
        const FB_ROWS_T *x;
        double k, total, delta;
        stop = start + chunk < n ? start + chunk : n;
        k = (double)(stop - start);
        for (j = 0; j < d; j++)
            cmean[j] = cm2[j] = 0.0;
        for (i = start; i < stop; i++) {
            x = X + i * stride;
            FB_ROWS_NAME(fb_rows_prefetch_ahead)(X, stride, row_bytes, i, n);
            for (j = 0; j < d; j++)
                cmean[j] += (double)x[j];
        }
        for (j = 0; j < d; j++)
            cmean[j] /= k;
        for (i = start; i < stop; i++) {
            x = X + i * stride;
            for (j = 0; j < d; j++) {
                double dev = (double)x[j] - cmean[j];
                cm2[j] += dev * dev;
            }
        }
        total = (double)count + k;
        for (j = 0; j < d; j++) {
            delta = cmean[j] - mean[j];
            mean[j] += delta * (k / total);
            m2[j] += cm2[j] + delta * delta * ((double)count * k / total);
        }
        count += stop - start;
    }
}

#endif
