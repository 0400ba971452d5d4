/* The per-index-type part of the permutation kernels: included by permutation.h once
 * with FB_PERM_T = int32_t and once with int64_t (FB_PERM_NAME adds the suffix).  No
 * include guard, on purpose.
 */
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
static void FB_PERM_NAME(fb_perm_small)(bitgen_t *bitgen, FB_PERM_T *out, int64_t n,
                                        const fb_perm_runs *runs)
{
    int64_t i = 1, j, r = 0;
    int k, m;
    uint64_t bounds[5], js[5];
    if (n <= 0)
        return;
    out[0] = runs == NULL ? 0 : (FB_PERM_T)fb_perm_run_value(runs, 0, &r);
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
            out[j] = runs == NULL ? (FB_PERM_T)i : (FB_PERM_T)fb_perm_run_value(runs, i, &r);
            i++;
        }
    }
}

/* The rows of runs (runs->n_runs >= 1, runs->ends[n_runs - 1] == n >= 1) in a uniform
 * random order, by inside-out Fisher-Yates from the keyed stream (key, 0): step i puts
 * the i-th row at out[i], then swaps it with out[j], j uniform in [0, i].  The block
 * shuffle's window tables up to FB_PERM_RUNS_SMALL_MAX rows: the array stays in L2 and
 * the stream's state in registers (xoshiro called directly, not through a bitgen_t);
 * three consecutive bounds share one 64-bit word (fb_perm_draw_batch's method, written
 * out for k = 3 while every bound is at most 2**21). */
static void FB_PERM_NAME(fb_perm_runs_small)(const uint64_t key[2], FB_PERM_T *out,
                                             int64_t n, const fb_perm_runs *runs)
{
    fb_perm_xoshiro g;
    bitgen_t unused;
    int64_t i, r = 0, run_end, value;
    uint64_t b0, b1, b2, product, low, x, j0, j1, j2;
    fb_perm_stream(&g, &unused, key, 0);
    while (runs->ends[r] == 0)
        r++;
    run_end = runs->ends[r];
    value = runs->firsts[r];
    out[0] = (FB_PERM_T)value++;
    for (i = 1; i < n;) {
        if (i == run_end) {
            while (runs->ends[r] == i)
                r++;
            run_end = runs->ends[r];
            value = runs->firsts[r];
        }
        b0 = (uint64_t)i + 1;
        if (i + 3 <= run_end && i + 3 <= ((int64_t)1 << 21)) {
            b1 = b0 + 1;
            b2 = b0 + 2;
            product = b0 * b1 * b2;
            for (;;) {
                x = fb_perm_xoshiro_next(&g);
                j0 = fb_perm_mul128(x, b0, &low);
                j1 = fb_perm_mul128(low, b1, &low);
                j2 = fb_perm_mul128(low, b2, &low);
                if (low >= product || low >= (0 - product) % product)
                    break;
            }
            out[i] = out[j0];
            out[j0] = (FB_PERM_T)value++;
            out[i + 1] = out[j1];
            out[j1] = (FB_PERM_T)value++;
            out[i + 2] = out[j2];
            out[j2] = (FB_PERM_T)value++;
            i += 3;
        } else {
            for (;;) {
                j0 = fb_perm_mul128(fb_perm_xoshiro_next(&g), b0, &low);
                if (low >= b0 || low >= (0 - b0) % b0)
                    break;
            }
            out[i] = out[j0];
            out[j0] = (FB_PERM_T)value++;
            i += 1;
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
    int64_t i, r;
    (void)t;
    if (job->runs == NULL) {
        for (i = start; i < stop; i++)
            out[next[ids[i]]++] = (FB_PERM_T)i;
        return;
    }
    r = fb_perm_run_of(job->runs, start);
    for (i = start; i < stop; i++)
        out[next[ids[i]]++] = (FB_PERM_T)fb_perm_run_value(job->runs, i, &r);
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
                                          fb_perm_interrupt *interrupt,
                                          const fb_perm_runs *runs)
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
    job.runs = runs;
    n_buckets = (int64_t)1 << job.bits;
    if (n < sizes->parallel_min)
        threads = 1;
    job.ids = (uint8_t *)malloc((size_t)n);
    job.table = (int64_t *)malloc((size_t)(job.n_chunks * n_buckets) * sizeof(int64_t));
    status = job.ids != NULL && job.table != NULL ? FB_OK : FB_ENOMEM;
    if (status == FB_OK)
        status = fb_perm_for(threads, job.n_chunks, fb_perm_count_chunk, &job, interrupt);
    if (status == FB_OK) {
        largest = fb_perm_place_chunks(&job);
        status = fb_perm_for(threads, job.n_chunks, FB_PERM_NAME(fb_perm_scatter_chunk),
                             &job, interrupt);
    }
    free(job.table);
    job.table = NULL;
    if (status == FB_OK) {
        bucket_threads = (int64_t)threads < n_buckets ? threads : (int)n_buckets;
        if (largest > sizes->leaf_bytes / FB_PERM_KEY_BYTES) {
            job.tmp_items = largest;
            job.tmp = malloc((size_t)(largest * bucket_threads) * sizeof(FB_PERM_T));
            if (job.tmp == NULL)
                status = FB_ENOMEM;
        }
    }
    if (status == FB_OK)
        status = fb_perm_for(bucket_threads, n_buckets, FB_PERM_NAME(fb_perm_bucket_task), &job,
                             interrupt);
    free(job.tmp);
    free(job.ids);
    return status;
}

/* runs: values mapped to rows (NULL: 0..n-1; int64 only, see fb_perm_runs). */
static int FB_PERM_NAME(fb_perm_run)(bitgen_t *bitgen, FB_PERM_T *out, int64_t n,
                                     const fb_perm_sizes *sizes, int threads,
                                     fb_perm_interrupt *interrupt, const fb_perm_runs *runs)
{
    if (n <= FB_PERM_SMALL_N) {
        FB_PERM_NAME(fb_perm_small)(bitgen, out, n, runs);
        return FB_OK;
    }
    return FB_PERM_NAME(fb_perm_parallel)(bitgen, out, n, sizes, threads, interrupt, runs);
}
