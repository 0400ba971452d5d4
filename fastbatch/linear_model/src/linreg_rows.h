/* Row loops of the fused linear-regression kernels (included by _linreg.pyx).
 *
 * Why C and not Cython: these loops are compiled several times, for baseline x86-64,
 * x86-64-v3 (AVX2) and x86-64-v4 (AVX-512), and the best version is picked at load time
 * (GCC/clang target_clones).  A wheel built this way runs on any x86-64 yet uses the wide
 * vectors where they exist; -march=native is not needed.
 *
 * Results are bit-identical whatever version runs: dot products keep 8 partial sums in a
 * fixed order (a vector of 8, 4 or 2 lanes computes exactly the same sums), the build uses
 * -ffp-contract=off (no fused multiply-add), and nothing is reassociated.
 *
 * Only fb_rows_read (and fb_rows_train, read and update fused) touch X, so they are the
 * only loops that exist per dtype (the file includes itself to define the _f64 and _f32
 * versions from one body); every other loop works on the float64 rows fb_rows_read
 * produced.
 *
 * The per-row loops (read, update, and the two fused) are written twice: a plain scalar
 * *reference* loop, and the loop that runs,
 * written on vectors of 4 doubles (GCC/clang vector extensions: two SSE2 registers on
 * baseline x86-64, one AVX register on x86-64-v3).  GCC vectorises the scalar loops
 * poorly (scalar arithmetic and lane shuffles: 177 instructions per row to read and
 * standardise 10 values).  Both compute the same expressions in the same order: value j
 * of a row goes to partial sum j % 8 (vector block q = j / 4 feeds lanes 0-3 when q is
 * even, 4-7 when odd), and a short last block is padded with zeros (adding +0.0 never
 * changes a partial sum, which starts at +0.0 and so is never -0.0).  A test hook
 * (fb_rows_vectors_enabled = 0) runs the reference loops so tests can compare the bits.
 *
 * For d = 1 .. FB_ROWS_SMALL_D the vector loops are also compiled with d a constant,
 * which keeps mean, scale, the parameters and the gradient in registers.  Measured with
 * callgrind on a 5-epoch shuffled fit of 2e5x10 float64, B=32, instructions per row:
 * read 177 (scalar) -> 77; update 155 -> 52; the fit on 2 threads 41 -> 18 ms.
 */
#ifndef FB_ROWS_T

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "prefetch.h"
#include "simd.h"

#if defined(__GNUC__) || defined(__clang__)
#  define FB_ROWS_RESTRICT __restrict__
#  define FB_ROWS_INLINE static inline __attribute__((always_inline))
#else
#  define FB_ROWS_RESTRICT
#  define FB_ROWS_INLINE static inline
#endif


#define FB_ROWS_SMALL_D 16
#define FB_ROWS_EACH_SMALL_D(X) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) \
    X(12) X(13) X(14) X(15) X(16)
/* Wider rows up to FB_ROWS_MEDIUM_D also get loops compiled for their d: the general
 * (memory) loops with d a constant, unrolled, with no loop or short-block tests left,
 * and the gradient's sums of a group of rows in registers (callgrind, the two-stage
 * epoch through an order, reader + update + prefetch: d = 20 231 -> 148, d = 17
 * 261 -> 160, d = 32 224 -> 179 instructions a row).  Same operations in the same order
 * as the general loops: the same bits. */
#define FB_ROWS_MEDIUM_D 32
#define FB_ROWS_EACH_MEDIUM_D(X) X(17) X(18) X(19) X(20) X(21) X(22) X(23) X(24) X(25) \
    X(26) X(27) X(28) X(29) X(30) X(31) X(32)
#define FB_ROWS_EACH_SPECIAL_D(X) FB_ROWS_EACH_SMALL_D(X) FB_ROWS_EACH_MEDIUM_D(X)

/* Test hook: 0 makes the dispatchers below return the scalar reference loops. */
static int fb_rows_vectors_enabled = 1;

/* The losses of a residual r = prediction - target, scikit-learn's SGDRegressor losses:
 * squared error r^2 / 2; Huber (r^2 / 2 within epsilon, linear outside); epsilon-
 * insensitive max(0, |r| - epsilon); squared epsilon-insensitive max(0, |r| - epsilon)^2.
 * The row loops take a `const fb_rows_loss *` (NULL: squared error) and run the squared
 * error's own copy of their body (the loss a constant there, folded away), whose
 * expressions are those written before losses existed: the same bits, the same speed. */
enum {
    FB_LOSS_SQUARED_ERROR = 0,
    FB_LOSS_HUBER = 1,
    FB_LOSS_EPSILON_INSENSITIVE = 2,
    FB_LOSS_SQUARED_EPSILON_INSENSITIVE = 3
};

typedef struct {
    int kind;
    double epsilon;
} fb_rows_loss;

#define FB_LOSS_KIND(loss) ((loss) != NULL ? (loss)->kind : FB_LOSS_SQUARED_ERROR)
#define FB_LOSS_EPSILON(loss) ((loss) != NULL ? (loss)->epsilon : 0.0)

/* a > b ? a : b and a < b ? a : b: one maxsd / minsd each (fmax and fmin are library
 * calls unless NaN rules are relaxed, which this build never does). */
#define FB_ROWS_MAX(a, b) ((a) > (b) ? (a) : (b))
#define FB_ROWS_MIN(a, b) ((a) < (b) ? (a) : (b))

/* dL/dr of a finite r.  Selects, not branches: whether a residual is beyond epsilon is a
 * coin flip the branch predictor loses (measured: Huber's fit took 1.4x the squared
 * error's CPU time with branches here). */
static inline double fb_loss_slope(int kind, double eps, double r)
{
    double lo, hi;
    switch (kind) {
    case FB_LOSS_HUBER:
        lo = FB_ROWS_MAX(r, -eps);
        return FB_ROWS_MIN(lo, eps);
    case FB_LOSS_EPSILON_INSENSITIVE:
        return (double)(r > eps) - (double)(r < -eps);
    case FB_LOSS_SQUARED_EPSILON_INSENSITIVE:
        hi = r - eps;
        lo = r + eps;
        return 2.0 * (FB_ROWS_MAX(hi, 0.0) + FB_ROWS_MIN(lo, 0.0));
    default:
        return r;
    }
}

/* w * 2 L(r): the objective is sum(w 2L) / (2 sum w), as the squared error's
 * sum(w r^2) / (2 sum w).  A NaN or infinite r gives NaN or infinity (never 0), so a
 * diverged model never shows a finite loss: (r - r) is 0 for a finite r, NaN otherwise. */
static inline double fb_loss_twice(int kind, double eps, double w, double r)
{
    double a = fabs(r), m, t;
    switch (kind) {
    case FB_LOSS_HUBER:
        /* r^2 within epsilon, 2 epsilon |r| - epsilon^2 beyond (a NaN a stays NaN). */
        m = a > eps ? eps : a;
        return w * (m * (2.0 * a - m));
    case FB_LOSS_EPSILON_INSENSITIVE:
        t = a - eps;
        return w * (2.0 * (FB_ROWS_MAX(t, 0.0) + (r - r)));
    case FB_LOSS_SQUARED_EPSILON_INSENSITIVE:
        t = a - eps;
        t = FB_ROWS_MAX(t, 0.0) + (r - r);
        return w * (2.0 * t * t);
    default:
        return w * r * r;
    }
}

#if defined(__GNUC__) || defined(__clang__)
#  define FB_ROWS_VECTORS 1
/* The vectors are passed only between always-inline functions, never across a call, so
 * GCC's note that AVX-sized vector arguments change the ABI does not apply. */
#  pragma GCC diagnostic ignored "-Wpsabi"
typedef double fb_v4d __attribute__((vector_size(32)));
typedef float fb_v4f __attribute__((vector_size(16)));
#  define FB_ROWS_BLOCKS(D) (((D) + 3) / 4)

FB_ROWS_INLINE fb_v4d fb_v4d_splat(double v)
{
    fb_v4d r = {v, v, v, v};
    return r;
}

FB_ROWS_INLINE fb_v4d fb_v4d_load(const double *p)
{
    fb_v4d v;
    memcpy(&v, p, sizeof v);
    return v;
}

FB_ROWS_INLINE fb_v4d fb_v4f_load(const float *p)
{
    fb_v4f v;
    memcpy(&v, p, sizeof v);
    return __builtin_convertvector(v, fb_v4d);
}

/* Values j0 .. j0 + 3 of p (as doubles) when D > j0 + 3, else the values below D and
 * zeros: never a read past p[D - 1]. */
#  define FB_ROWS_BLOCK_LOADER(name, T, full)                                          \
    FB_ROWS_INLINE fb_v4d name(const T *p, ptrdiff_t j0, ptrdiff_t D)                  \
    {                                                                                  \
        fb_v4d v = {0.0, 0.0, 0.0, 0.0};                                               \
        if (j0 + 4 <= D)                                                               \
            return full(p + j0);                                                       \
        /* Written out: a loop here makes GCC warn about lane 4 it never reaches. */   \
        if (j0 < D)                                                                    \
            v[0] = (double)p[j0];                                                      \
        if (j0 + 1 < D)                                                                \
            v[1] = (double)p[j0 + 1];                                                  \
        if (j0 + 2 < D)                                                                \
            v[2] = (double)p[j0 + 2];                                                  \
        return v;                                                                      \
    }
FB_ROWS_BLOCK_LOADER(fb_rows_block_f64, double, fb_v4d_load)
FB_ROWS_BLOCK_LOADER(fb_rows_block_f32, float, fb_v4f_load)
#  undef FB_ROWS_BLOCK_LOADER

/* Stores the values below D of block j0 (a whole vector when it is whole). */
FB_ROWS_INLINE void fb_rows_block_store(double *p, ptrdiff_t j0, ptrdiff_t D, fb_v4d v)
{
    if (j0 + 4 <= D) {
        memcpy(p + j0, &v, sizeof v);
        return;
    }
    if (j0 < D)
        p[j0] = v[0];
    if (j0 + 1 < D)
        p[j0 + 1] = v[1];
    if (j0 + 2 < D)
        p[j0 + 2] = v[2];
}

/* The 8 partial sums (lanes 0-3, 4-7) combined in fb_rows_dot's tree. */
FB_ROWS_INLINE double fb_rows_tree(fb_v4d lo, fb_v4d hi)
{
    return ((lo[0] + lo[1]) + (lo[2] + lo[3])) + ((hi[0] + hi[1]) + (hi[2] + hi[3]));
}

/* A vector of D values every row needs (mean, scale, parameters, gradient): held in
 * registers when D <= FB_ROWS_SMALL_D (a constant there, so the test folds away),
 * otherwise read from (or written to) memory, where it stays in L1. */
typedef struct {
    fb_v4d v[FB_ROWS_BLOCKS(FB_ROWS_SMALL_D)];
} fb_rows_held;

FB_ROWS_INLINE void fb_rows_hold(fb_rows_held *h, const double *p, ptrdiff_t D)
{
    ptrdiff_t q;
    if (D > FB_ROWS_SMALL_D)
        return;
    for (q = 0; q < FB_ROWS_BLOCKS(D); q++)
        h->v[q] = p != NULL ? fb_rows_block_f64(p, 4 * q, D) : fb_v4d_splat(0.0);
}

/* Values j .. j + 3 of a held vector (j a multiple of 4); `whole` says they are all
 * below D, so the block is read without the check for a short last block. */
FB_ROWS_INLINE fb_v4d fb_rows_held_block(const fb_rows_held *h, const double *p,
                                         ptrdiff_t j, ptrdiff_t D, int whole)
{
    if (D <= FB_ROWS_SMALL_D)
        return h->v[(j / 4) & 3];
    return whole ? fb_v4d_load(p + j) : fb_rows_block_f64(p, j, D);
}

/* Adds v to values j .. j + 3 of a held vector (written through to p when not held). */
FB_ROWS_INLINE void fb_rows_held_add(fb_rows_held *h, double *p, ptrdiff_t j, ptrdiff_t D,
                                     int whole, fb_v4d v)
{
    fb_v4d sum;
    if (D <= FB_ROWS_SMALL_D) {
        h->v[(j / 4) & 3] += v;
        return;
    }
    if (whole) {
        sum = fb_v4d_load(p + j) + v;
        memcpy(p + j, &sum, sizeof sum);
    } else {
        fb_rows_block_store(p, j, D, fb_rows_block_f64(p, j, D) + v);
    }
}

FB_ROWS_INLINE void fb_rows_unhold(const fb_rows_held *h, double *p, ptrdiff_t D)
{
    ptrdiff_t q;
    if (D > FB_ROWS_SMALL_D)
        return;
    for (q = 0; q < FB_ROWS_BLOCKS(D); q++)
        fb_rows_block_store(p, 4 * q, D, h->v[q]);
}

/* Every loop below walks a row the same way: whole pairs of blocks (8 values: lanes
 * 0-3, then 4-7), then what is left (fewer than 8 values: one or two blocks, the last
 * possibly short). */

/* z . beta for one row of D float64 values, on vectors. */
FB_ROWS_INLINE double fb_rows_dot_vectors(const double *FB_ROWS_RESTRICT z,
                                          const fb_rows_held *beta_h,
                                          const double *beta, ptrdiff_t D)
{
    fb_v4d lo = fb_v4d_splat(0.0), hi = fb_v4d_splat(0.0);
    ptrdiff_t j;
    for (j = 0; j + 8 <= D; j += 8) {
        lo += fb_v4d_load(z + j) * fb_rows_held_block(beta_h, beta, j, D, 1);
        hi += fb_v4d_load(z + j + 4) * fb_rows_held_block(beta_h, beta, j + 4, D, 1);
    }
    if (j < D)
        lo += fb_rows_block_f64(z, j, D) * fb_rows_held_block(beta_h, beta, j, D, 0);
    if (j + 4 < D)
        hi += fb_rows_block_f64(z, j + 4, D) * fb_rows_held_block(beta_h, beta, j + 4, D, 0);
    return fb_rows_tree(lo, hi);
}

/* grad += z * g for one row of D values. */
FB_ROWS_INLINE void fb_rows_add_scaled(fb_rows_held *grad_h, double *grad,
                                       const double *FB_ROWS_RESTRICT z, double g,
                                       ptrdiff_t D)
{
    const fb_v4d gs = fb_v4d_splat(g);
    ptrdiff_t j;
    for (j = 0; j + 4 <= D; j += 4)
        fb_rows_held_add(grad_h, grad, j, D, 1, fb_v4d_load(z + j) * gs);
    if (j < D)
        fb_rows_held_add(grad_h, grad, j, D, 0, fb_rows_block_f64(z, j, D) * gs);
}

/* Rows per group of the two-phase update of wide rows (d > FB_ROWS_SMALL_D): first the
 * residuals of up to this many rows, then grad += z_i g_i over them a strip of columns
 * at a time, the strip's sums in registers (grad[j] still adds the rows in order).  One
 * row at a time, grad would go through memory for every row.  Callers' scratch for
 * staged rows holds FB_ROWS_GROUP rows. */
#define FB_ROWS_GROUP 64

/* grad[j] += z[i * D + j] * g[i] for i = 0 .. k-1, in that order, for every j < D. */
FB_ROWS_INLINE void fb_rows_add_rows(double *FB_ROWS_RESTRICT grad,
                                     const double *FB_ROWS_RESTRICT z, const double *g,
                                     ptrdiff_t k, ptrdiff_t D)
{
    fb_v4d acc[8], gs;
    ptrdiff_t i, j0 = 0;
    int q;
    if (__builtin_constant_p(D) && D < 32) {
        /* A loop compiled for its D: the whole row's sums in registers, one pass over
         * the rows (the same sums in the same order as the strips below).  With D known
         * only at run time the sums would live in memory: the strips are faster. */
        for (q = 0; q < FB_ROWS_BLOCKS(D); q++)
            acc[q] = fb_rows_block_f64(grad, 4 * q, D);
        for (i = 0; i < k; i++) {
            gs = fb_v4d_splat(g[i]);
            for (q = 0; q < FB_ROWS_BLOCKS(D); q++)
                acc[q] += fb_rows_block_f64(z + i * D, 4 * q, D) * gs;
        }
        for (q = 0; q < FB_ROWS_BLOCKS(D); q++)
            fb_rows_block_store(grad, 4 * q, D, acc[q]);
        return;
    }
    for (; j0 + 32 <= D; j0 += 32) {
        for (q = 0; q < 8; q++)
            acc[q] = fb_v4d_load(grad + j0 + 4 * q);
        for (i = 0; i < k; i++) {
            gs = fb_v4d_splat(g[i]);
            for (q = 0; q < 8; q++)
                acc[q] += fb_v4d_load(z + i * D + j0 + 4 * q) * gs;
        }
        for (q = 0; q < 8; q++)
            memcpy(grad + j0 + 4 * q, &acc[q], sizeof acc[q]);
    }
    for (; j0 + 4 <= D; j0 += 4) {
        acc[0] = fb_v4d_load(grad + j0);
        for (i = 0; i < k; i++)
            acc[0] += fb_v4d_load(z + i * D + j0) * fb_v4d_splat(g[i]);
        memcpy(grad + j0, &acc[0], sizeof acc[0]);
    }
    if (j0 < D) {
        acc[0] = fb_rows_block_f64(grad, j0, D);
        for (i = 0; i < k; i++)
            acc[0] += fb_rows_block_f64(z + i * D, j0, D) * fb_v4d_splat(g[i]);
        fb_rows_block_store(grad, j0, D, acc[0]);
    }
}
#endif

#define FB_ROWS_LANES 8
/* Bytes of rows prefetched ahead when reading through an order: enough misses in flight
 * to cover memory latency, not so many that the core drops prefetches. */
#define FB_ROWS_AHEAD_BYTES 8192
#define FB_ROWS_SEQ_AHEAD 16  /* rows prefetched ahead when reading in order */

/* a . b with 8 partial sums combined in a fixed tree. */
static inline double fb_rows_dot(const double *FB_ROWS_RESTRICT a,
                                 const double *FB_ROWS_RESTRICT b, ptrdiff_t d)
{
    double s[FB_ROWS_LANES] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    ptrdiff_t j = 0;
    int l;
    for (; j + FB_ROWS_LANES <= d; j += FB_ROWS_LANES)
        for (l = 0; l < FB_ROWS_LANES; l++)
            s[l] += a[j + l] * b[j + l];
    for (l = 0; l < FB_ROWS_LANES && j < d; j++, l++)
        s[l] += a[j] * b[j];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* Rows to prefetch ahead: FB_ROWS_SEQ_AHEAD when reading in order; through an order,
 * about FB_ROWS_AHEAD_BYTES of rows in flight (more and the core drops prefetches). */
static inline ptrdiff_t fb_rows_ahead(const int64_t *order, ptrdiff_t row_bytes)
{
    if (order == NULL)
        return FB_ROWS_SEQ_AHEAD;
    return row_bytes >= FB_ROWS_AHEAD_BYTES / 2 ? 2 : FB_ROWS_AHEAD_BYTES / row_bytes;
}

/* A random row is a cache miss, and the hardware prefetcher alone leaves bandwidth unused
 * on sequential rows: ask now for the row `ahead` visits after visit i (through order, if
 * any), unless that is at or past prefetch_stop. */
static inline void fb_rows_prefetch(const char *X, ptrdiff_t stride_bytes,
                                    const int64_t *order, ptrdiff_t i, ptrdiff_t ahead,
                                    ptrdiff_t prefetch_stop, ptrdiff_t row_bytes)
{
    if (i + ahead >= prefetch_stop)
        return;
    fb_prefetch_bytes(X + (order != NULL ? order[i + ahead] : i + ahead) * stride_bytes,
                      (size_t)row_bytes);
}

static ptrdiff_t fb_rows_accumulate_reference(
        const double *FB_ROWS_RESTRICT z, const double *y, const double *w, ptrdiff_t k,
        ptrdiff_t d, const double *FB_ROWS_RESTRICT beta, double intercept,
        double *FB_ROWS_RESTRICT grad, double *sums, const fb_rows_loss *loss)
{
    const int kind = FB_LOSS_KIND(loss);
    const double eps = FB_LOSS_EPSILON(loss);
    double r, g, rsum = sums[0], rsq = sums[1], wsum = sums[2];
    ptrdiff_t i, j, bad = -1;
    for (i = 0; i < k; i++, z += d) {
        r = fb_rows_dot(z, beta, d) + intercept - y[i];
        if (!isfinite(r)) {
            bad = i;
            break;
        }
        g = w[i] * fb_loss_slope(kind, eps, r);
        rsum += g;
        rsq += g * r;
        wsum += w[i];
        for (j = 0; j < d; j++)
            grad[j] += z[j] * g;
    }
    sums[0] = rsum;
    sums[1] = rsq;
    sums[2] = wsum;
    return bad;
}

/* The update's half of a batch, on rows fb_rows_read produced (k rows of d values,
 * targets y, weights w): r_i = z_i . beta + intercept - y_i and, with the loss's slope
 * g_i = w_i L'(r_i) (w_i r_i for the squared error): grad[j] += g_i z_ij,
 * sums[0] += g_i, sums[1] += g_i r_i, sums[2] += w_i.  Returns -1, or the index of
 * the first row whose residual is not finite (nothing of that row is added). */
#ifdef FB_ROWS_VECTORS
FB_ROWS_INLINE ptrdiff_t fb_rows_accumulate_vectors(
        const double *FB_ROWS_RESTRICT z, const double *y, const double *w, ptrdiff_t k,
        const ptrdiff_t D, const double *FB_ROWS_RESTRICT beta, double intercept,
        double *FB_ROWS_RESTRICT grad, double *sums, const int kind, const double eps)
{
    fb_rows_held beta_h, grad_h;
    double r, g, rsum = sums[0], rsq = sums[1], wsum = sums[2], gbuf[FB_ROWS_GROUP];
    ptrdiff_t i, i0, n, bad = -1;
    fb_rows_hold(&beta_h, beta, D);
    fb_rows_hold(&grad_h, grad, D);
    if (D > FB_ROWS_SMALL_D) {
        for (i0 = 0; i0 < k && bad < 0; i0 += FB_ROWS_GROUP) {
            n = k - i0 < FB_ROWS_GROUP ? k - i0 : FB_ROWS_GROUP;
            for (i = 0; i < n; i++) {
                r = fb_rows_dot_vectors(z + (i0 + i) * D, &beta_h, beta, D) + intercept
                    - y[i0 + i];
                if (!isfinite(r)) {
                    bad = i0 + i;
                    n = i;
                    break;
                }
                g = w[i0 + i] * fb_loss_slope(kind, eps, r);
                rsum += g;
                rsq += g * r;
                wsum += w[i0 + i];
                gbuf[i] = g;
            }
            fb_rows_add_rows(grad, z + i0 * D, gbuf, n, D);
        }
        sums[0] = rsum;
        sums[1] = rsq;
        sums[2] = wsum;
        return bad;
    }
    for (i = 0; i < k; i++, z += D) {
        r = fb_rows_dot_vectors(z, &beta_h, beta, D) + intercept - y[i];
        if (!isfinite(r)) {
            bad = i;
            break;
        }
        g = w[i] * fb_loss_slope(kind, eps, r);
        rsum += g;
        rsq += g * r;
        wsum += w[i];
        fb_rows_add_scaled(&grad_h, grad, z, g, D);
    }
    fb_rows_unhold(&grad_h, grad, D);
    sums[0] = rsum;
    sums[1] = rsq;
    sums[2] = wsum;
    return bad;
}
#else
#  define fb_rows_accumulate_vectors(z, y, w, k, D, beta, intercept, grad, sums, kind, \
                                     eps)                                              \
    fb_rows_accumulate_reference(z, y, w, k, D, beta, intercept, grad, sums, loss)
#endif

typedef ptrdiff_t (*fb_rows_accumulator)(const double *, const double *, const double *,
                                         ptrdiff_t, ptrdiff_t, const double *, double,
                                         double *, double *, const fb_rows_loss *);

/* The general loops are entered with d > FB_ROWS_SMALL_D (the dispatchers send smaller d
 * to the loops compiled for them; only the direct path, fb_rows_train, also sees d = 16).
 * Saying so lets the compiler drop the registers-or-memory choice from every block. */
#ifdef FB_ROWS_VECTORS
#  define FB_ROWS_LARGE(d) ((d) > FB_ROWS_SMALL_D ? (d) : (__builtin_unreachable(), (d)))
#else
#  define FB_ROWS_LARGE(d) (d)
#endif

#define FB_ROWS_ACCUMULATE(name, D)                                                     \
    FB_CLONES                                                                           \
    static ptrdiff_t name(                                                              \
            const double *FB_ROWS_RESTRICT z, const double *y, const double *w,         \
            ptrdiff_t k, ptrdiff_t d, const double *FB_ROWS_RESTRICT beta,              \
            double intercept, double *FB_ROWS_RESTRICT grad, double *sums,              \
            const fb_rows_loss *loss)                                                   \
    {                                                                                   \
        (void)d;                                                                        \
        if (loss == NULL || loss->kind == FB_LOSS_SQUARED_ERROR)                        \
            return fb_rows_accumulate_vectors(z, y, w, k, D, beta, intercept, grad, sums, \
                                              FB_LOSS_SQUARED_ERROR, 0.0);              \
        return fb_rows_accumulate_vectors(z, y, w, k, D, beta, intercept, grad, sums,   \
                                          loss->kind, loss->epsilon);                   \
    }
FB_ROWS_ACCUMULATE(fb_rows_accumulate, FB_ROWS_LARGE(d))
#define FB_ROWS_ACCUMULATE_D(D) FB_ROWS_ACCUMULATE(fb_rows_accumulate_d##D, D)
FB_ROWS_EACH_SPECIAL_D(FB_ROWS_ACCUMULATE_D)
#undef FB_ROWS_ACCUMULATE_D
#undef FB_ROWS_ACCUMULATE

#define FB_ROWS_ENTRY(D) fb_rows_accumulate_d##D,
static const fb_rows_accumulator fb_rows_accumulate_small[FB_ROWS_MEDIUM_D + 1] = {
    NULL, FB_ROWS_EACH_SPECIAL_D(FB_ROWS_ENTRY)};
#undef FB_ROWS_ENTRY

/* The update's row loop for d features. */
static inline fb_rows_accumulator fb_rows_accumulator_for(ptrdiff_t d)
{
    /* d < 1 (no features: only the C-API can ask) takes the reference loop, which the
     * general loop's promise of d > FB_ROWS_SMALL_D does not cover. */
    if (!fb_rows_vectors_enabled || d < 1)
        return fb_rows_accumulate_reference;
    return d >= 1 && d <= FB_ROWS_MEDIUM_D ? fb_rows_accumulate_small[d]
                                           : fb_rows_accumulate;
}

/* The parameter step of a batch whose sums fb_rows_accumulate added up (grad, and
 * acc = {sum w r, sum w r^2, sum w}): beta -= lr (grad / W + alpha beta) and, with
 * fit_intercept, b -= lr acc[0] / W; no step when W == 0.  The new values go into grad
 * first, so one finite check of their sum guards the whole step, and a step that is not
 * finite leaves beta and b as they were (returns -1).  grad and acc are then zeroed. */
static int fb_rows_step(double *FB_ROWS_RESTRICT beta, double *b,
                        double *FB_ROWS_RESTRICT grad, double *acc, ptrdiff_t d, double lr,
                        double alpha, int fit_intercept)
{
    double inv_w, new_b = *b, step_sum = 0.0;
    ptrdiff_t j;
    if (acc[2] > 0.0) {
        inv_w = 1.0 / acc[2];
        for (j = 0; j < d; j++) {
            grad[j] = beta[j] - lr * (grad[j] * inv_w + alpha * beta[j]);
            step_sum += grad[j];
        }
        if (fit_intercept)
            new_b = *b - lr * acc[0] * inv_w;
        if (!(isfinite(step_sum) && isfinite(new_b))) {
            for (j = 0; j < d; j++)
                if (!isfinite(grad[j]))
                    return -1;
            if (!isfinite(new_b))
                return -1;
        }
        memcpy(beta, grad, (size_t)d * sizeof(double));
        *b = new_b;
    }
    memset(grad, 0, (size_t)d * sizeof(double));
    acc[0] = acc[1] = acc[2] = 0.0;
    return 0;
}

/* The L1 part of a step: scikit-learn's cumulative penalty (Tsuruoka et al. 2009).
 * `total` is the L1 penalty per coefficient so far (the sum of lr * l1 strength over the
 * steps), applied[j] what coefficient j has received of it (negative while it shrinks a
 * positive coefficient): each coefficient moves toward zero by what it has not yet
 * received, and stops at zero, so an irrelevant coefficient ends exactly at 0. */
FB_CLONES
static void fb_rows_l1_clip(double *FB_ROWS_RESTRICT beta, double *FB_ROWS_RESTRICT applied,
                            double total, ptrdiff_t d)
{
    double z, clipped;
    ptrdiff_t j;
    /* Selects, not branches: coefficients near zero change sign often, and the loop
     * vectorises. */
    for (j = 0; j < d; j++) {
        z = beta[j];
        clipped = z > 0.0   ? z - (total + applied[j])
                  : z < 0.0 ? z + (total - applied[j])
                            : 0.0;
        clipped = z > 0.0 ? FB_ROWS_MAX(clipped, 0.0) : FB_ROWS_MIN(clipped, 0.0);
        applied[j] += clipped - z;
        beta[j] = clipped;
    }
}

/* One more value in running means: average += (value - average) / count (as one
 * multiplication by 1 / count). */
FB_CLONES
static void fb_rows_average(double *FB_ROWS_RESTRICT average,
                            const double *FB_ROWS_RESTRICT value, ptrdiff_t d, double count)
{
    const double weight = 1.0 / count;
    ptrdiff_t j;
    for (j = 0; j < d; j++)
        average[j] += (value[j] - average[j]) * weight;
}

/* Weighted mean (shifted by `shift`) and sum of squared deviations of k rows of d values
 * that fb_rows_read produced, in two passes over the (cached) rows.  Shifting by a value
 * of the data makes a constant column come out with a deviation of exactly 0.
 * Returns the weight sum; with a weight sum of 0, mean and m2 are left at 0. */
FB_CLONES
static double fb_rows_moments(const double *FB_ROWS_RESTRICT z, const double *w,
                              ptrdiff_t k, ptrdiff_t d,
                              const double *FB_ROWS_RESTRICT shift,
                              double *FB_ROWS_RESTRICT mean, double *FB_ROWS_RESTRICT m2)
{
    double total = 0.0, dev;
    ptrdiff_t i, j;
    for (j = 0; j < d; j++)
        mean[j] = m2[j] = 0.0;
    for (i = 0; i < k; i++) {
        total += w[i];
        for (j = 0; j < d; j++)
            mean[j] += w[i] * (z[i * d + j] - shift[j]);
    }
    if (total == 0.0) {
        /* Keep a NaN/inf of a zero-weight row visible to the caller's finite check. */
        for (j = 0; j < d; j++)
            mean[j] *= 0.0;
        return total;
    }
    for (j = 0; j < d; j++)
        mean[j] /= total;
    for (i = 0; i < k; i++)
        for (j = 0; j < d; j++) {
            dev = z[i * d + j] - shift[j] - mean[j];
            m2[j] += w[i] * dev * dev;
        }
    return total;
}

typedef void (*fb_rows_reader)(const void *, ptrdiff_t, ptrdiff_t, const double *,
                               const double *, const int64_t *, ptrdiff_t, ptrdiff_t,
                               ptrdiff_t, const double *, const double *, double *,
                               ptrdiff_t, double *, double *, const double *, double,
                               double *, const fb_rows_loss *);

typedef ptrdiff_t (*fb_rows_trainer)(const void *, ptrdiff_t, ptrdiff_t, const double *,
                                     const double *, const int64_t *, ptrdiff_t, ptrdiff_t,
                                     ptrdiff_t, const double *, const double *, double *,
                                     const double *, double, double *, const double *,
                                     double, double *, double *, const fb_rows_loss *);

#define FB_ROWS_T double
#define FB_ROWS_IS_FLOAT 0
#define FB_ROWS_NAME(name) name##_f64
#include "linreg_rows.h"
#undef FB_ROWS_T
#undef FB_ROWS_IS_FLOAT
#undef FB_ROWS_NAME

#define FB_ROWS_T float
#define FB_ROWS_IS_FLOAT 1
#define FB_ROWS_NAME(name) name##_f32
#include "linreg_rows.h"
#undef FB_ROWS_T
#undef FB_ROWS_IS_FLOAT
#undef FB_ROWS_NAME

/* The reader and the trainer for X's dtype and d: the one place the dtype of X
 * matters. */
static inline fb_rows_reader fb_rows_reader_for(int is_float32, ptrdiff_t d)
{
    if (!fb_rows_vectors_enabled || d < 1)
        return is_float32 ? fb_rows_read_reference_f32 : fb_rows_read_reference_f64;
    if (d >= 1 && d <= FB_ROWS_MEDIUM_D)
        return is_float32 ? fb_rows_read_small_f32[d] : fb_rows_read_small_f64[d];
    return is_float32 ? fb_rows_read_f32 : fb_rows_read_f64;
}

static inline fb_rows_trainer fb_rows_trainer_for(int is_float32)
{
    if (!fb_rows_vectors_enabled)
        return is_float32 ? fb_rows_train_reference_f32 : fb_rows_train_reference_f64;
    return is_float32 ? fb_rows_train_f32 : fb_rows_train_f64;
}

#else  /* the body, once per FB_ROWS_T */

/* z = (x - mean) * inv_scale; returns z . beta (0 when beta is NULL), with the partial
 * sums of fb_rows_dot, so it equals fb_rows_dot(z, beta, d) bit for bit. */
static inline double FB_ROWS_NAME(fb_rows_standardize)(
        const FB_ROWS_T *FB_ROWS_RESTRICT x, ptrdiff_t d,
        const double *FB_ROWS_RESTRICT mean, const double *FB_ROWS_RESTRICT inv_scale,
        const double *FB_ROWS_RESTRICT beta, double *FB_ROWS_RESTRICT z)
{
    double s[FB_ROWS_LANES] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    ptrdiff_t j = 0;
    int l;
    if (beta == NULL) {
        for (; j < d; j++)
            z[j] = ((double)x[j] - mean[j]) * inv_scale[j];
        return 0.0;
    }
    for (; j + FB_ROWS_LANES <= d; j += FB_ROWS_LANES)
        for (l = 0; l < FB_ROWS_LANES; l++) {
            z[j + l] = ((double)x[j + l] - mean[j + l]) * inv_scale[j + l];
            s[l] += z[j + l] * beta[j + l];
        }
    for (l = 0; l < FB_ROWS_LANES && j < d; j++, l++) {
        z[j] = ((double)x[j] - mean[j]) * inv_scale[j];
        s[l] += z[j] * beta[j];
    }
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* Reads rows order[start:stop] of X (rows start..stop-1 when order is NULL) into float64:
 * z_i = (x_i - mean) * inv_scale (z_i = x_i when mean is NULL), written to z + i * z_step
 * (z_step 0: one row of scratch); the row's target goes to zy[i] and its weight (1 when
 * w is NULL) to zw[i] unless those are NULL.  When beta is not NULL, also sums the
 * objective's parts for those parameters: sums[0] = sum w_i 2 L(r_i) with
 * r_i = z_i . beta + intercept - y_i (sum w_i r_i^2 for the squared error, or when loss
 * is NULL), sums[1] = sum w_i.  Rows up to order[prefetch_stop - 1] may be prefetched. */
static void FB_ROWS_NAME(fb_rows_read_reference)(
        const void *X_, ptrdiff_t stride, ptrdiff_t d, const double *y, const double *w,
        const int64_t *order, ptrdiff_t start, ptrdiff_t stop, ptrdiff_t prefetch_stop,
        const double *FB_ROWS_RESTRICT mean, const double *FB_ROWS_RESTRICT inv_scale,
        double *FB_ROWS_RESTRICT z, ptrdiff_t z_step, double *FB_ROWS_RESTRICT zy,
        double *FB_ROWS_RESTRICT zw, const double *FB_ROWS_RESTRICT beta, double intercept,
        double *sums, const fb_rows_loss *loss)
{
    const int kind = FB_LOSS_KIND(loss);
    const double eps = FB_LOSS_EPSILON(loss);
    const FB_ROWS_T *X = (const FB_ROWS_T *)X_;
    const ptrdiff_t row_bytes = d * (ptrdiff_t)sizeof(FB_ROWS_T);
    const ptrdiff_t ahead = fb_rows_ahead(order, row_bytes);
    double sq = 0.0, wsum = 0.0, r = 0.0, wi;
    ptrdiff_t i, j, row;
    const FB_ROWS_T *x;
    for (i = start; i < stop; i++, z += z_step) {
        fb_rows_prefetch((const char *)X, stride * (ptrdiff_t)sizeof(FB_ROWS_T), order, i,
                         ahead, prefetch_stop, row_bytes);
        row = order != NULL ? order[i] : i;
        x = X + row * stride;
        if (mean != NULL) {
            r = FB_ROWS_NAME(fb_rows_standardize)(x, d, mean, inv_scale, beta, z);
        } else {
            /* Rows as they are (z = x), and each row's own residual. */
            for (j = 0; j < d; j++)
                z[j] = (double)x[j];
            r = beta != NULL ? fb_rows_dot(z, beta, d) : 0.0;
        }
        wi = w != NULL ? w[row] : 1.0;
        if (zy != NULL)
            zy[i - start] = y[row];
        if (zw != NULL)
            zw[i - start] = wi;
        if (beta != NULL) {
            r += intercept - y[row];
            sq += fb_loss_twice(kind, eps, wi, r);
            wsum += wi;
        }
    }
    if (beta != NULL) {
        sums[0] = sq;
        sums[1] = wsum;
    }
}

#ifdef FB_ROWS_VECTORS
/* Values j .. j + 3 of row x as doubles, standardised (as they are when mean is NULL),
 * stored to z. */
FB_ROWS_INLINE fb_v4d FB_ROWS_NAME(fb_rows_standardize_block)(
        const FB_ROWS_T *FB_ROWS_RESTRICT x, ptrdiff_t j, ptrdiff_t D, int whole,
        const fb_rows_held *mean_h, const double *mean, const fb_rows_held *scale_h,
        const double *inv_scale, double *FB_ROWS_RESTRICT z)
{
    fb_v4d xv, zv;
#  if FB_ROWS_IS_FLOAT
    xv = whole ? fb_v4f_load(x + j) : fb_rows_block_f32(x, j, D);
#  else
    xv = whole ? fb_v4d_load(x + j) : fb_rows_block_f64(x, j, D);
#  endif
    zv = mean == NULL ? xv
                      : (xv - fb_rows_held_block(mean_h, mean, j, D, whole))
                        * fb_rows_held_block(scale_h, inv_scale, j, D, whole);
    if (whole)
        memcpy(z + j, &zv, sizeof zv);
    else
        fb_rows_block_store(z, j, D, zv);
    return zv;
}

/* One row: z = (x - mean) * inv_scale stored to z; returns z . beta (0 without). */
FB_ROWS_INLINE double FB_ROWS_NAME(fb_rows_standardize_vectors)(
        const FB_ROWS_T *FB_ROWS_RESTRICT x, ptrdiff_t D, const fb_rows_held *mean_h,
        const double *mean, const fb_rows_held *scale_h, const double *inv_scale,
        const fb_rows_held *beta_h, const double *beta, double *FB_ROWS_RESTRICT z)
{
    fb_v4d lo = fb_v4d_splat(0.0), hi = fb_v4d_splat(0.0), a, b;
    ptrdiff_t j;
    for (j = 0; j + 8 <= D; j += 8) {
        a = FB_ROWS_NAME(fb_rows_standardize_block)(x, j, D, 1, mean_h, mean, scale_h,
                                                    inv_scale, z);
        b = FB_ROWS_NAME(fb_rows_standardize_block)(x, j + 4, D, 1, mean_h, mean, scale_h,
                                                    inv_scale, z);
        if (beta != NULL) {
            lo += a * fb_rows_held_block(beta_h, beta, j, D, 1);
            hi += b * fb_rows_held_block(beta_h, beta, j + 4, D, 1);
        }
    }
    if (j < D) {
        a = FB_ROWS_NAME(fb_rows_standardize_block)(x, j, D, 0, mean_h, mean, scale_h,
                                                    inv_scale, z);
        if (beta != NULL)
            lo += a * fb_rows_held_block(beta_h, beta, j, D, 0);
    }
    if (j + 4 < D) {
        b = FB_ROWS_NAME(fb_rows_standardize_block)(x, j + 4, D, 0, mean_h, mean, scale_h,
                                                    inv_scale, z);
        if (beta != NULL)
            hi += b * fb_rows_held_block(beta_h, beta, j + 4, D, 0);
    }
    return beta == NULL ? 0.0 : fb_rows_tree(lo, hi);
}

/* fb_rows_read_reference on vectors. */
FB_ROWS_INLINE void FB_ROWS_NAME(fb_rows_read_vectors)(
        const void *X_, ptrdiff_t stride, const ptrdiff_t D, const double *y,
        const double *w, const int64_t *order, ptrdiff_t start, ptrdiff_t stop,
        ptrdiff_t prefetch_stop, const double *FB_ROWS_RESTRICT mean,
        const double *FB_ROWS_RESTRICT inv_scale, double *FB_ROWS_RESTRICT z,
        ptrdiff_t z_step, double *FB_ROWS_RESTRICT zy, double *FB_ROWS_RESTRICT zw,
        const double *FB_ROWS_RESTRICT beta, double intercept, double *sums,
        const int kind, const double eps)
{
    const FB_ROWS_T *X = (const FB_ROWS_T *)X_;
    const ptrdiff_t row_bytes = D * (ptrdiff_t)sizeof(FB_ROWS_T);
    const ptrdiff_t ahead = fb_rows_ahead(order, row_bytes);
    fb_rows_held mean_h, scale_h, beta_h;
    double sq = 0.0, wsum = 0.0, r, wi;
    ptrdiff_t i, row;
    fb_rows_hold(&mean_h, mean, D);
    /* Without a mean the rows are read as they are: inv_scale is not looked at (the
     * moments pass may pass any pointer). */
    fb_rows_hold(&scale_h, mean != NULL ? inv_scale : NULL, D);
    fb_rows_hold(&beta_h, beta, D);
    for (i = start; i < stop; i++, z += z_step) {
        fb_rows_prefetch((const char *)X, stride * (ptrdiff_t)sizeof(FB_ROWS_T), order, i,
                         ahead, prefetch_stop, row_bytes);
        row = order != NULL ? order[i] : i;
        r = FB_ROWS_NAME(fb_rows_standardize_vectors)(X + row * stride, D, &mean_h, mean,
                                                      &scale_h, inv_scale, &beta_h, beta,
                                                      z);
        wi = w != NULL ? w[row] : 1.0;
        if (zy != NULL)
            zy[i - start] = y[row];
        if (zw != NULL)
            zw[i - start] = wi;
        if (beta != NULL) {
            r += intercept - y[row];
            sq += fb_loss_twice(kind, eps, wi, r);
            wsum += wi;
        }
    }
    if (beta != NULL) {
        sums[0] = sq;
        sums[1] = wsum;
    }
}

/* fb_rows_train_reference on vectors. */
FB_ROWS_INLINE ptrdiff_t FB_ROWS_NAME(fb_rows_train_vectors)(
        const void *X_, ptrdiff_t stride, const ptrdiff_t D, const double *y,
        const double *w, const int64_t *order, ptrdiff_t start, ptrdiff_t stop,
        ptrdiff_t prefetch_stop, const double *FB_ROWS_RESTRICT mean,
        const double *FB_ROWS_RESTRICT inv_scale, double *FB_ROWS_RESTRICT z,
        const double *FB_ROWS_RESTRICT beta, double intercept,
        double *FB_ROWS_RESTRICT grad, const double *FB_ROWS_RESTRICT beta_prev,
        double intercept_prev, double *previous, double *sums, const int kind,
        const double eps)
{
    const FB_ROWS_T *X = (const FB_ROWS_T *)X_;
    const ptrdiff_t row_bytes = D * (ptrdiff_t)sizeof(FB_ROWS_T);
    const ptrdiff_t ahead = fb_rows_ahead(order, row_bytes);
    fb_rows_held mean_h, scale_h, prev_h, beta_h, grad_h;
    double sq = previous[0], pw = previous[1];
    double rsum = sums[0], rsq = sums[1], wsum = sums[2], r, g, wi;
    ptrdiff_t i, row, bad = -1;
    fb_rows_hold(&mean_h, mean, D);
    fb_rows_hold(&scale_h, inv_scale, D);
    fb_rows_hold(&prev_h, beta_prev, D);
    fb_rows_hold(&beta_h, beta, D);
    fb_rows_hold(&grad_h, grad, D);
    if (D > FB_ROWS_SMALL_D) {
        /* Two phases per group of rows (see FB_ROWS_GROUP): z holds the group's rows. */
        double gbuf[FB_ROWS_GROUP];
        ptrdiff_t i0, n, u;
        for (i0 = start; i0 < stop && bad < 0; i0 += FB_ROWS_GROUP) {
            n = stop - i0 < FB_ROWS_GROUP ? stop - i0 : FB_ROWS_GROUP;
            for (u = 0; u < n; u++) {
                i = i0 + u;
                fb_rows_prefetch((const char *)X, stride * (ptrdiff_t)sizeof(FB_ROWS_T),
                                 order, i, ahead, prefetch_stop, row_bytes);
                row = order != NULL ? order[i] : i;
                wi = w != NULL ? w[row] : 1.0;
                r = FB_ROWS_NAME(fb_rows_standardize_vectors)(
                    X + row * stride, D, &mean_h, mean, &scale_h, inv_scale, &prev_h,
                    beta_prev, z + u * D);
                if (beta_prev != NULL) {
                    r += intercept_prev - y[row];
                    sq += fb_loss_twice(kind, eps, wi, r);
                    pw += wi;
                }
                r = fb_rows_dot_vectors(z + u * D, &beta_h, beta, D) + intercept - y[row];
                if (!isfinite(r)) {
                    bad = i;
                    n = u;
                    break;
                }
                g = wi * fb_loss_slope(kind, eps, r);
                rsum += g;
                rsq += g * r;
                wsum += wi;
                gbuf[u] = g;
            }
            fb_rows_add_rows(grad, z, gbuf, n, D);
        }
        previous[0] = sq;
        previous[1] = pw;
        sums[0] = rsum;
        sums[1] = rsq;
        sums[2] = wsum;
        return bad;
    }
    for (i = start; i < stop; i++) {
        fb_rows_prefetch((const char *)X, stride * (ptrdiff_t)sizeof(FB_ROWS_T), order, i,
                         ahead, prefetch_stop, row_bytes);
        row = order != NULL ? order[i] : i;
        wi = w != NULL ? w[row] : 1.0;
        r = FB_ROWS_NAME(fb_rows_standardize_vectors)(X + row * stride, D, &mean_h, mean,
                                                      &scale_h, inv_scale, &prev_h,
                                                      beta_prev, z);
        if (beta_prev != NULL) {
            r += intercept_prev - y[row];
            sq += fb_loss_twice(kind, eps, wi, r);
            pw += wi;
        }
        r = fb_rows_dot_vectors(z, &beta_h, beta, D) + intercept - y[row];
        if (!isfinite(r)) {
            bad = i;
            break;
        }
        g = wi * fb_loss_slope(kind, eps, r);
        rsum += g;
        rsq += g * r;
        wsum += wi;
        fb_rows_add_scaled(&grad_h, grad, z, g, D);
    }
    fb_rows_unhold(&grad_h, grad, D);
    previous[0] = sq;
    previous[1] = pw;
    sums[0] = rsum;
    sums[1] = rsq;
    sums[2] = wsum;
    return bad;
}
#endif

/* fb_rows_read followed by fb_rows_accumulate, row by row through one row of scratch z
 * (it stays in L1): the direct path of an epoch on one thread, with no staging buffer
 * written and read back.  Every sum is the same expression in the same order as in the
 * two-stage path, so both give the same bits.  The previous parameters' parts (when
 * beta_prev is not NULL) are added to previous[0..1], the update's to grad and sums as
 * fb_rows_accumulate does.  Returns -1, or the position of the first row whose residual
 * is not finite (nothing of that row goes into grad or sums). */
static ptrdiff_t FB_ROWS_NAME(fb_rows_train_reference)(
        const void *X_, ptrdiff_t stride, ptrdiff_t d, const double *y, const double *w,
        const int64_t *order, ptrdiff_t start, ptrdiff_t stop, ptrdiff_t prefetch_stop,
        const double *FB_ROWS_RESTRICT mean, const double *FB_ROWS_RESTRICT inv_scale,
        double *FB_ROWS_RESTRICT z, const double *FB_ROWS_RESTRICT beta, double intercept,
        double *FB_ROWS_RESTRICT grad, const double *FB_ROWS_RESTRICT beta_prev,
        double intercept_prev, double *previous, double *sums, const fb_rows_loss *loss)
{
    const FB_ROWS_T *X = (const FB_ROWS_T *)X_;
    const ptrdiff_t row_bytes = d * (ptrdiff_t)sizeof(FB_ROWS_T);
    const ptrdiff_t ahead = fb_rows_ahead(order, row_bytes);
    const int kind = FB_LOSS_KIND(loss);
    const double eps = FB_LOSS_EPSILON(loss);
    double sq = previous[0], pw = previous[1];
    double rsum = sums[0], rsq = sums[1], wsum = sums[2], r, g, wi;
    ptrdiff_t i, j, row, bad = -1;
    for (i = start; i < stop; i++) {
        fb_rows_prefetch((const char *)X, stride * (ptrdiff_t)sizeof(FB_ROWS_T), order, i,
                         ahead, prefetch_stop, row_bytes);
        row = order != NULL ? order[i] : i;
        wi = w != NULL ? w[row] : 1.0;
        r = FB_ROWS_NAME(fb_rows_standardize)(X + row * stride, d, mean, inv_scale,
                                              beta_prev, z);
        if (beta_prev != NULL) {
            r += intercept_prev - y[row];
            sq += fb_loss_twice(kind, eps, wi, r);
            pw += wi;
        }
        r = fb_rows_dot(z, beta, d) + intercept - y[row];
        if (!isfinite(r)) {
            bad = i;
            break;
        }
        g = wi * fb_loss_slope(kind, eps, r);
        rsum += g;
        rsq += g * r;
        wsum += wi;
        for (j = 0; j < d; j++)
            grad[j] += z[j] * g;
    }
    previous[0] = sq;
    previous[1] = pw;
    sums[0] = rsum;
    sums[1] = rsq;
    sums[2] = wsum;
    return bad;
}


#define FB_ROWS_READ(name, D)                                                           \
    FB_CLONES                                                                           \
    static void name(                                                                   \
            const void *X_, ptrdiff_t stride, ptrdiff_t d, const double *y,             \
            const double *w, const int64_t *order, ptrdiff_t start, ptrdiff_t stop,     \
            ptrdiff_t prefetch_stop, const double *FB_ROWS_RESTRICT mean,               \
            const double *FB_ROWS_RESTRICT inv_scale, double *FB_ROWS_RESTRICT z,       \
            ptrdiff_t z_step, double *FB_ROWS_RESTRICT zy, double *FB_ROWS_RESTRICT zw, \
            const double *FB_ROWS_RESTRICT beta, double intercept, double *sums,        \
            const fb_rows_loss *loss)                                                   \
    {                                                                                   \
        (void)d;                                                                        \
        FB_ROWS_READ_BODY(D)                                                            \
    }
/* The loss only adds to the previous parameters' sums, once per row of a loop that waits
 * on memory: one copy of the body serves every loss. */
#ifdef FB_ROWS_VECTORS
#  define FB_ROWS_READ_BODY(D)                                                          \
        FB_ROWS_NAME(fb_rows_read_vectors)(X_, stride, D, y, w, order, start, stop,     \
                                           prefetch_stop, mean, inv_scale, z, z_step,   \
                                           zy, zw, beta, intercept, sums,               \
                                           FB_LOSS_KIND(loss), FB_LOSS_EPSILON(loss));
#else
#  define FB_ROWS_READ_BODY(D)                                                          \
        FB_ROWS_NAME(fb_rows_read_reference)(X_, stride, D, y, w, order, start, stop,      \
                                          prefetch_stop, mean, inv_scale, z, z_step,    \
                                          zy, zw, beta, intercept, sums, loss);
#endif
FB_ROWS_READ(FB_ROWS_NAME(fb_rows_read), FB_ROWS_LARGE(d))
#define FB_ROWS_READ_D(D) FB_ROWS_READ(FB_ROWS_NAME(fb_rows_read_d##D), D)
FB_ROWS_EACH_SPECIAL_D(FB_ROWS_READ_D)
#undef FB_ROWS_READ_D
#undef FB_ROWS_READ_BODY
#undef FB_ROWS_READ

#define FB_ROWS_ENTRY(D) FB_ROWS_NAME(fb_rows_read_d##D),
static const fb_rows_reader FB_ROWS_NAME(fb_rows_read_small)[FB_ROWS_MEDIUM_D + 1] = {
    NULL, FB_ROWS_EACH_SPECIAL_D(FB_ROWS_ENTRY)};
#undef FB_ROWS_ENTRY

#ifdef FB_ROWS_VECTORS
FB_CLONES
static ptrdiff_t FB_ROWS_NAME(fb_rows_train)(
        const void *X_, ptrdiff_t stride, ptrdiff_t d, const double *y, const double *w,
        const int64_t *order, ptrdiff_t start, ptrdiff_t stop, ptrdiff_t prefetch_stop,
        const double *FB_ROWS_RESTRICT mean, const double *FB_ROWS_RESTRICT inv_scale,
        double *FB_ROWS_RESTRICT z, const double *FB_ROWS_RESTRICT beta, double intercept,
        double *FB_ROWS_RESTRICT grad, const double *FB_ROWS_RESTRICT beta_prev,
        double intercept_prev, double *previous, double *sums, const fb_rows_loss *loss)
{
    const int squared = loss == NULL || loss->kind == FB_LOSS_SQUARED_ERROR;
    if (d <= FB_ROWS_SMALL_D && squared)
        return FB_ROWS_NAME(fb_rows_train_vectors)(X_, stride, d, y, w, order, start, stop,
                                                   prefetch_stop, mean, inv_scale, z, beta,
                                                   intercept, grad, beta_prev,
                                                   intercept_prev, previous, sums,
                                                   FB_LOSS_SQUARED_ERROR, 0.0);
    if (d <= FB_ROWS_SMALL_D)
        return FB_ROWS_NAME(fb_rows_train_vectors)(X_, stride, d, y, w, order, start, stop,
                                                   prefetch_stop, mean, inv_scale, z, beta,
                                                   intercept, grad, beta_prev,
                                                   intercept_prev, previous, sums,
                                                   loss->kind, loss->epsilon);
    if (squared)
        return FB_ROWS_NAME(fb_rows_train_vectors)(X_, stride, FB_ROWS_LARGE(d), y, w,
                                                   order, start, stop, prefetch_stop, mean,
                                                   inv_scale, z, beta, intercept, grad,
                                                   beta_prev, intercept_prev, previous,
                                                   sums, FB_LOSS_SQUARED_ERROR, 0.0);
    return FB_ROWS_NAME(fb_rows_train_vectors)(X_, stride, FB_ROWS_LARGE(d), y, w, order,
                                               start, stop, prefetch_stop, mean, inv_scale,
                                               z, beta, intercept, grad, beta_prev,
                                               intercept_prev, previous, sums, loss->kind,
                                               loss->epsilon);
}
#else
#  define fb_rows_train_f64 fb_rows_train_reference_f64
#  define fb_rows_train_f32 fb_rows_train_reference_f32
#endif

#endif
