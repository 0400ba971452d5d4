/* Whole passes of the linear-regression kernels (included by _linreg.pyx): the objective's
 * sums and the weighted column moments over rows order[0:n].
 *
 * A pass is cut into at most FB_PASS_MAX_BLOCKS fixed blocks of whole chunks, spread over
 * the threads by fb_parallel_blocks; each block's sums are combined in block order, so the
 * result is the same on any thread count.  Plain C beside the row loops it calls: the
 * pass knows the data only through an fb_rows_source (the Cython glue fills one from its
 * fb_linreg_data), and returns FB_OK, FB_ENOMEM or FB_EINTR (the codes of
 * fastbatch/_kernels/status.pxd, whose C block the including module carries).
 */
#ifndef FB_LINREG_PASSES_H
#define FB_LINREG_PASSES_H

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Included after linreg_rows.h (fb_rows_reader, fb_rows_moments). */
#include "parallel.h"

#ifndef FB_STATUS_CODES
#  error "the status codes come from fastbatch/_kernels/status.pxd: cimport it first"
#endif
/* Rows a pass reads at a time; its rows are not kept, only added up. */
#define FB_PASS_CHUNK_ROWS 1024
/* The moments pass reads this many values at a time, so its second pass over them finds
 * them in L1. */
#define FB_PASS_MOMENT_VALUES 4096
#define FB_PASS_MAX_BLOCKS 64
/* The interrupt hook is polled at most this often (it may take the GIL). */
#define FB_POLL_MS 100
/* A chunk of staged rows is about this many bytes of float64: a few of them stay in L2
 * (the epoch's slots between the reading and the updating core, a gradient's chunk). */
#define FB_CHUNK_BYTES (1 << 16)

/* The rows a pass reads: X (through `read`, the row reader for its dtype), targets,
 * weights (NULL: all 1), standardisation, and the loss their residuals are summed in. */
typedef struct {
    fb_rows_reader read;
    const void *X;
    ptrdiff_t stride, d;
    const double *y, *w, *mean, *inv_scale;
    const fb_rows_loss *loss;       /* NULL: the squared error */
    int threads;                    /* threads this pass may use, >= 1 */
    int (*interrupted)(void);       /* nonzero: stop; called from the calling thread */
} fb_rows_source;

typedef struct {
    const fb_rows_source *src;
    const int64_t *order;
    ptrdiff_t n, n_chunks, n_blocks, width;
    const double *beta;             /* loss: the parameters */
    double b;
    const double *shift;            /* moments: a row of the data, subtracted first */
    double *scratch;                /* per thread: FB_PASS_CHUNK_ROWS rows, weights, 2 d */
    ptrdiff_t scratch_size;
    double *out;                    /* per block: width doubles */
    long long next_poll;
    int stop;
} fb_pass;

static inline void fb_pass_read(const fb_pass *p, ptrdiff_t start, ptrdiff_t stop,
                                ptrdiff_t prefetch_stop, int standardize, double *z,
                                ptrdiff_t z_step, double *zw, const double *beta,
                                double *sums)
{
    const fb_rows_source *s = p->src;
    s->read(s->X, s->stride, s->d, s->y, s->w, p->order, start, stop, prefetch_stop,
            standardize ? s->mean : NULL, s->inv_scale, z, z_step, NULL, zw, beta, p->b,
            sums, s->loss);
}

static inline long long fb_clock_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Runs the interrupt hook (NULL: none) if FB_POLL_MS have passed since the last look;
 * nonzero when it asks to stop.  Only ever called from the calling thread. */
static inline int fb_poll_interrupt(int (*interrupted)(void), long long *next_poll)
{
    long long now;
    if (interrupted == NULL)
        return 0;
    now = fb_clock_ms();
    if (now < *next_poll)
        return 0;
    *next_poll = now + FB_POLL_MS;
    return interrupted() != 0;
}

/* Only the calling thread may run the interrupt hook; it tells the others. */
static inline int fb_pass_poll(fb_pass *p, int thread)
{
    if (thread == 0 && fb_poll_interrupt(p->src->interrupted, &p->next_poll))
        __atomic_store_n(&p->stop, 1, __ATOMIC_SEQ_CST);
    return __atomic_load_n(&p->stop, __ATOMIC_SEQ_CST) ? FB_EINTR : FB_OK;
}

static inline ptrdiff_t fb_pass_block_start(const fb_pass *p, ptrdiff_t b)
{
    return b * p->n_chunks / p->n_blocks * FB_PASS_CHUNK_ROWS;
}

/* Allocates p's buffers and runs block(b) for every block; the caller reads p->out and
 * frees both buffers (also on failure). */
static int fb_pass_run(fb_pass *p, const fb_rows_source *src, const int64_t *order,
                       ptrdiff_t n, ptrdiff_t width, fb_block_fn block)
{
    int threads = src->threads;
    p->src = src;
    p->order = order;
    p->n = n;
    p->width = width;
    p->n_chunks = (n + FB_PASS_CHUNK_ROWS - 1) / FB_PASS_CHUNK_ROWS;
    p->n_blocks = p->n_chunks < FB_PASS_MAX_BLOCKS ? p->n_chunks : FB_PASS_MAX_BLOCKS;
    if (threads > p->n_blocks)
        threads = (int)p->n_blocks;
    if (threads < 1)
        threads = 1;
    p->scratch_size = FB_PASS_CHUNK_ROWS * (src->d + 1) + 2 * src->d;
    p->scratch = (double *)malloc((size_t)(threads * p->scratch_size) * sizeof(double));
    p->out = (double *)calloc((size_t)((p->n_blocks > 1 ? p->n_blocks : 1) * width),
                              sizeof(double));
    p->next_poll = fb_clock_ms() + FB_POLL_MS;
    p->stop = 0;
    if (p->scratch == NULL || p->out == NULL)
        return FB_ENOMEM;
    return fb_parallel_blocks(p->n_blocks, threads, block, p);
}

static int fb_pass_loss_block(void *ctx, ptrdiff_t b, int thread)
{
    fb_pass *p = (fb_pass *)ctx;
    double *out = p->out + b * p->width;
    double *z = p->scratch + thread * p->scratch_size;
    double sums[2];
    ptrdiff_t start = fb_pass_block_start(p, b), end;
    ptrdiff_t stop = fb_pass_block_start(p, b + 1);
    if (stop > p->n)
        stop = p->n;
    while (start < stop) {
        if (fb_pass_poll(p, thread))
            return FB_EINTR;
        end = start + FB_PASS_CHUNK_ROWS < stop ? start + FB_PASS_CHUNK_ROWS : stop;
        fb_pass_read(p, start, end, stop, 1, z, 0, NULL, p->beta, sums);
        out[0] += sums[0];
        out[1] += sums[1];
        start = end;
    }
    return FB_OK;
}

/* sums[0] = sum w 2 L(r) (sum w r^2 for the squared error), sums[1] = sum w for the
 * parameters (beta, b). */
static int fb_pass_loss(const fb_rows_source *src, const int64_t *order, ptrdiff_t n,
                        const double *beta, double b, double *sums)
{
    fb_pass p;
    ptrdiff_t k;
    int status;
    p.beta = beta;
    p.b = b;
    status = fb_pass_run(&p, src, order, n, 2, fb_pass_loss_block);
    sums[0] = sums[1] = 0.0;
    if (status == 0)
        for (k = 0; k < p.n_blocks; k++) {
            sums[0] += p.out[2 * k];
            sums[1] += p.out[2 * k + 1];
        }
    free(p.scratch);
    free(p.out);
    return status;
}

/* Chan et al.'s pairwise update, weighted.  A part of weight 0 only passes on NaN/inf. */
static inline void fb_pass_combine(double *mean, double *m2, double *weight,
                                   const double *part_mean, const double *part_m2,
                                   double part_weight, ptrdiff_t d)
{
    double total = *weight + part_weight, delta;
    ptrdiff_t j;
    if (part_weight == 0.0) {
        for (j = 0; j < d; j++)
            mean[j] += part_mean[j];
        return;
    }
    for (j = 0; j < d; j++) {
        delta = part_mean[j] - mean[j];
        mean[j] += delta * (part_weight / total);
        m2[j] += part_m2[j] + delta * delta * (*weight * part_weight / total);
    }
    *weight = total;
}

static int fb_pass_moments_block(void *ctx, ptrdiff_t b, int thread)
{
    fb_pass *p = (fb_pass *)ctx;
    ptrdiff_t d = p->src->d;
    double *out = p->out + b * p->width;
    double *z = p->scratch + thread * p->scratch_size;
    double *zw = z + FB_PASS_CHUNK_ROWS * d;
    double *part = zw + FB_PASS_CHUNK_ROWS;
    double part_weight;
    ptrdiff_t rows = FB_PASS_MOMENT_VALUES / d, end;
    ptrdiff_t start = fb_pass_block_start(p, b), stop = fb_pass_block_start(p, b + 1);
    if (stop > p->n)
        stop = p->n;
    rows = rows < 1 ? 1 : rows > FB_PASS_CHUNK_ROWS ? FB_PASS_CHUNK_ROWS : rows;
    while (start < stop) {
        if (fb_pass_poll(p, thread))
            return FB_EINTR;
        end = start + rows < stop ? start + rows : stop;
        fb_pass_read(p, start, end, stop, 0, z, d, zw, NULL, NULL);
        part_weight = fb_rows_moments(z, zw, end - start, d, p->shift, part, part + d);
        fb_pass_combine(out, out + d, out + 2 * d, part, part + d, part_weight, d);
        start = end;
    }
    return FB_OK;
}

/* Weighted mean and m2 of the raw columns (see fb_column_moments in _linreg.pxd). */
static int fb_pass_moments(const fb_rows_source *src, const int64_t *order, ptrdiff_t n,
                           double *mean, double *m2, double *weight_sum)
{
    fb_pass p;
    ptrdiff_t k, j, d = src->d, width = 2 * d + 1, first = 0;
    double *shift = (double *)calloc((size_t)(d > 0 ? d : 1), sizeof(double));
    int status;
    memset(mean, 0, (size_t)d * sizeof(double));
    memset(m2, 0, (size_t)d * sizeof(double));
    *weight_sum = 0.0;
    if (shift == NULL)
        return FB_ENOMEM;
    /* Shift by the first row that counts: rows of weight 0 must not change the result. */
    while (src->w != NULL && first < n - 1
           && src->w[order != NULL ? order[first] : first] == 0.0)
        first++;
    p.src = src;
    p.order = order;
    p.b = 0.0;
    if (n > 0)
        fb_pass_read(&p, first, first + 1, 0, 0, shift, d, NULL, NULL, NULL);
    p.shift = shift;
    status = fb_pass_run(&p, src, order, n, width, fb_pass_moments_block);
    if (status == 0) {
        for (k = 0; k < p.n_blocks; k++)
            fb_pass_combine(mean, m2, weight_sum, p.out + k * width, p.out + k * width + d,
                            p.out[k * width + 2 * d], d);
        for (j = 0; j < d; j++)
            mean[j] += shift[j];
    }
    free(p.scratch);
    free(p.out);
    free(shift);
    return status;
}

/* Gradient sums of rows order[0:n], no update (one thread: a batch is small):
 * fb_rows_accumulate's grad and sums over staged chunks.  Returns FB_OK, FB_ENOMEM, or
 * FB_ENONFINITE when a residual is not finite. */
static int fb_pass_gradient(const fb_rows_source *src, const int64_t *order, ptrdiff_t n,
                            const double *beta, double b, double *grad, double *sums)
{
    ptrdiff_t d = src->d, chunk = FB_CHUNK_BYTES / (8 * (d + 2)), start = 0, end;
    double *z;
    chunk = chunk < 1 ? 1 : chunk;
    z = (double *)malloc((size_t)(chunk * (d + 2)) * sizeof(double));
    int status = FB_OK;
    memset(grad, 0, (size_t)d * sizeof(double));
    sums[0] = sums[1] = sums[2] = 0.0;
    if (z == NULL)
        return FB_ENOMEM;
    while (start < n) {
        end = start + chunk < n ? start + chunk : n;
        src->read(src->X, src->stride, d, src->y, src->w, order, start, end, n, src->mean,
                  src->inv_scale, z, d, z + chunk * d, z + chunk * (d + 1), NULL, 0.0, NULL,
                  NULL);
        if (fb_rows_accumulator_for(d)(z, z + chunk * d, z + chunk * (d + 1), end - start, d, beta,
                               b, grad, sums, NULL) >= 0) {
            status = FB_ENONFINITE;
            break;
        }
        start = end;
    }
    free(z);
    return status;
}

#endif  /* FB_LINREG_PASSES_H */
