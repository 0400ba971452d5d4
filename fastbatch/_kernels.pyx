"""C-level kernels: bounded random integers, permutations and row gathers.

Everything here is ``noexcept nogil`` on pointers and lengths; the glue modules
(``_random``, ``_gather``, ``_iterator``) validate, hold locks and release the GIL.
"""
from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.string cimport memcpy
from numpy.random cimport bitgen_t

from fastbatch._threads cimport num_threads

cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #  define FB_PREFETCH(p) __builtin_prefetch((const void *)(p), 0, 3)
    #else
    #  define FB_PREFETCH(p) ((void)(p))
    #endif
    """
    void FB_PREFETCH(const void *p) noexcept nogil

cdef extern from "_parallel.h":
    ctypedef void (*fb_task_fn)(void *ctx, int t, int n) noexcept nogil
    void fb_parallel_run(int n, fb_task_fn fn, void *ctx) noexcept nogil

cdef extern from *:
    """
    static inline Py_ssize_t fb_claim(Py_ssize_t *counter) {
        return __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
    }
    """
    Py_ssize_t fb_claim(Py_ssize_t *counter) noexcept nogil


# ---------------------------------------------------------------------------------------
# Bounded random integers and permutations.  The algorithms (Fisher-Yates, the parallel
# bucket shuffle, its uniformity proof) are plain C in _permutation.h; these wrap them
# for the C-API and read the thread count.

cdef extern from "_permutation.h":
    uint64_t fb_perm_bounded(bitgen_t *bitgen, uint64_t bound) noexcept nogil
    int fb_perm_int64(bitgen_t *bitgen, int64_t *out, int64_t n, int threads,
                      fb_interrupt_check check, void *ctx) noexcept nogil
    int fb_perm_int32(bitgen_t *bitgen, int32_t *out, int64_t n, int threads,
                      fb_interrupt_check check, void *ctx) noexcept nogil
    void fb_perm_shuffle_int64(bitgen_t *bitgen, int64_t *a, int64_t n) noexcept nogil
    int fb_perm_forced_buckets_int64(bitgen_t *bitgen, int64_t *out, int64_t n,
                                     int64_t bucket_bytes, int64_t chunk,
                                     int threads) noexcept nogil


cdef uint64_t fb_random_bounded(bitgen_t *bitgen, uint64_t bound) noexcept nogil:
    return fb_perm_bounded(bitgen, bound)


cdef int fb_permutation_int64(bitgen_t *bitgen, int64_t *out, int64_t n) noexcept nogil:
    return fb_perm_int64(bitgen, out, n, num_threads(), NULL, NULL)


cdef int fb_permutation_int32(bitgen_t *bitgen, int32_t *out, int64_t n) noexcept nogil:
    return fb_perm_int32(bitgen, out, n, num_threads(), NULL, NULL)


cdef int fb_permutation_interruptible_int64(bitgen_t *bitgen, int64_t *out, int64_t n,
                                            fb_interrupt_check check,
                                            void *ctx) noexcept nogil:
    return fb_perm_int64(bitgen, out, n, num_threads(), check, ctx)


cdef int fb_permutation_interruptible_int32(bitgen_t *bitgen, int32_t *out, int64_t n,
                                            fb_interrupt_check check,
                                            void *ctx) noexcept nogil:
    return fb_perm_int32(bitgen, out, n, num_threads(), check, ctx)


cdef void fb_shuffle_int64(bitgen_t *bitgen, int64_t *a, int64_t n) noexcept nogil:
    fb_perm_shuffle_int64(bitgen, a, n)


cdef int permutation_buckets_int64(bitgen_t *bitgen, int64_t *out, int64_t n,
                                   int64_t bucket_bytes, int64_t chunk) noexcept nogil:
    # The large-n algorithm at any n, bucket and chunk size, on every thread allowed
    # whatever n: for tests (see _random._buckets_py).
    return fb_perm_forced_buckets_int64(bitgen, out, n, bucket_bytes, chunk, num_threads())


# ---------------------------------------------------------------------------------------
# Row gathers.  A random row read is a cache miss; prefetching a few rows ahead keeps
# several misses in flight, which is what lets a gather approach memory bandwidth.

cdef enum:
    PREFETCH_ROWS = 16
    PREFETCH_BYTES = 8192
    CACHE_LINE = 64
    # A gather runs on several threads only when every thread gets at least this many
    # bytes (so 2 threads from 512 KiB): starting and joining a thread costs ~20 us, a
    # 64 KiB batch ~20-45 us.  Measured with 1 vs 2 threads, same process, 201 reps,
    # random rows of a 512 MB array on the shared 2-core machine (load ~5, so noisy):
    # 2 threads lose up to 128 KiB, break even at ~256 KiB (best-of: 16-byte rows 1.29x,
    # 256-byte 0.98x, 800-byte 0.96x) and win from 512 KiB (1.46x, 1.12x, 1.27x) and
    # 1 MiB (1.47x, 1.15x, 1.67x).
    TAKE_BYTES_PER_THREAD = 1 << 18
    # Threads claim rows in blocks of about this many bytes (each block restarts the
    # prefetch pipeline: ~16 rows not prefetched ahead, a few % at this size).
    TAKE_BLOCK_BYTES = 1 << 18


cdef inline void take_fixed(const char *src, Py_ssize_t stride, const Py_ssize_t nbytes,
                            const int64_t *idx, Py_ssize_t k, char *dst) noexcept nogil:
    # nbytes is a compile-time constant at every call site, so memcpy becomes a few moves.
    cdef Py_ssize_t i
    cdef Py_ssize_t ahead = k - PREFETCH_ROWS
    for i in range(k):
        if i < ahead:
            FB_PREFETCH(src + idx[i + PREFETCH_ROWS] * stride)
        memcpy(dst + i * nbytes, src + idx[i] * stride, nbytes)


cdef inline void take_large(const char *src, Py_ssize_t stride, Py_ssize_t nbytes,
                            const int64_t *idx, Py_ssize_t k, char *dst) noexcept nogil:
    # Keep about PREFETCH_BYTES of rows in flight: the core tracks a limited number of
    # outstanding misses, and prefetches beyond that are dropped.
    cdef Py_ssize_t distance = max(2, PREFETCH_BYTES // nbytes)
    cdef Py_ssize_t i, off
    cdef Py_ssize_t ahead = k - distance
    cdef const char *row
    for i in range(k):
        if i < ahead:
            row = src + idx[i + distance] * stride
            off = 0
            while off < nbytes:
                FB_PREFETCH(row + off)
                off += CACHE_LINE
        memcpy(dst + i * nbytes, src + idx[i] * stride, <size_t>nbytes)


cdef void take_rows(const char *src, Py_ssize_t src_stride, Py_ssize_t row_bytes,
                    const int64_t *idx, Py_ssize_t k, char *dst) noexcept nogil:
    if row_bytes == 4:
        take_fixed(src, src_stride, 4, idx, k, dst)
    elif row_bytes == 8:
        take_fixed(src, src_stride, 8, idx, k, dst)
    elif row_bytes == 16:
        take_fixed(src, src_stride, 16, idx, k, dst)
    elif row_bytes == 32:
        take_fixed(src, src_stride, 32, idx, k, dst)
    elif row_bytes == 64:
        take_fixed(src, src_stride, 64, idx, k, dst)
    elif row_bytes <= CACHE_LINE:
        take_fixed(src, src_stride, row_bytes, idx, k, dst)
    else:
        take_large(src, src_stride, row_bytes, idx, k, dst)


cdef void fb_take_rows_scatter(const char *src, Py_ssize_t src_stride, Py_ssize_t row_bytes,
                               const int64_t *idx, const int64_t *dst_pos, Py_ssize_t k,
                               char *dst) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(k):
        memcpy(dst + dst_pos[i] * row_bytes, src + idx[i] * src_stride, <size_t>row_bytes)


cdef inline void take_strided_fixed(const char *src, Py_ssize_t stride, Py_ssize_t ncols,
                                    Py_ssize_t col_stride, const Py_ssize_t itemsize,
                                    const int64_t *idx, Py_ssize_t k,
                                    char *dst) noexcept nogil:
    cdef Py_ssize_t i, c
    cdef const char *row
    for i in range(k):
        if i + 1 < k:
            FB_PREFETCH(src + idx[i + 1] * stride)
        row = src + idx[i] * stride
        for c in range(ncols):
            memcpy(dst, row + c * col_stride, itemsize)
            dst += itemsize


cdef void take_rows_strided(const char *src, Py_ssize_t src_stride, Py_ssize_t ncols,
                            Py_ssize_t col_stride, Py_ssize_t itemsize,
                            const int64_t *idx, Py_ssize_t k, char *dst) noexcept nogil:
    if itemsize == 4:
        take_strided_fixed(src, src_stride, ncols, col_stride, 4, idx, k, dst)
    elif itemsize == 8:
        take_strided_fixed(src, src_stride, ncols, col_stride, 8, idx, k, dst)
    else:
        take_strided_fixed(src, src_stride, ncols, col_stride, itemsize, idx, k, dst)


# Parallel gathers: threads claim blocks of rows in turn and copy each with the serial
# loop above; a block's rows land at its own place, so the bytes are the same whatever
# the thread count.  Claiming (not a fixed split) lets the running threads take over the
# share of one the OS starts late.  A random-row read is bound by the cache misses one
# core keeps in flight, so a second core nearly doubles it -- if it is free: on a machine
# with more runnable threads than cores, the join still waits for the late thread to be
# scheduled (measured at load 5 on 2 cores: an 8 MiB gather 1.6 ms on 1 thread, median
# 9 ms on 2, best 0.95 ms); set_num_threads(1) is the cure there.

cdef struct TakeTask:
    const char *src
    Py_ssize_t src_stride
    Py_ssize_t dst_row_bytes
    bint strided
    Py_ssize_t ncols
    Py_ssize_t col_stride
    Py_ssize_t itemsize
    const int64_t *idx
    Py_ssize_t k
    char *dst
    Py_ssize_t block_rows
    Py_ssize_t next_block       # the next unclaimed block (atomic)


cdef void take_task(void *ctx, int t, int n) noexcept nogil:
    cdef TakeTask *task = <TakeTask *>ctx
    cdef Py_ssize_t start, count
    while True:
        start = fb_claim(&task.next_block) * task.block_rows
        if start >= task.k:
            return
        count = min(task.block_rows, task.k - start)
        if task.strided:
            take_rows_strided(task.src, task.src_stride, task.ncols, task.col_stride,
                              task.itemsize, task.idx + start, count,
                              task.dst + start * task.dst_row_bytes)
        else:
            take_rows(task.src, task.src_stride, task.dst_row_bytes, task.idx + start,
                      count, task.dst + start * task.dst_row_bytes)


cdef int take_threads(Py_ssize_t k, Py_ssize_t row_bytes) noexcept nogil:
    cdef Py_ssize_t by_size = k * row_bytes // TAKE_BYTES_PER_THREAD
    cdef int threads = num_threads()
    if by_size < threads:
        return max(<int>by_size, 1)
    return threads


cdef void fb_take_rows(const char *src, Py_ssize_t src_stride, Py_ssize_t row_bytes,
                       const int64_t *idx, Py_ssize_t k, char *dst) noexcept nogil:
    cdef int threads = take_threads(k, row_bytes)
    cdef TakeTask task
    if threads == 1:
        take_rows(src, src_stride, row_bytes, idx, k, dst)
        return
    task = TakeTask(src=src, src_stride=src_stride, dst_row_bytes=row_bytes, strided=False,
                    ncols=0, col_stride=0, itemsize=0, idx=idx, k=k, dst=dst,
                    block_rows=max(1, TAKE_BLOCK_BYTES // row_bytes), next_block=0)
    fb_parallel_run(threads, take_task, &task)


cdef void fb_take_rows_strided(const char *src, Py_ssize_t src_stride, Py_ssize_t ncols,
                               Py_ssize_t col_stride, Py_ssize_t itemsize,
                               const int64_t *idx, Py_ssize_t k, char *dst) noexcept nogil:
    cdef int threads = take_threads(k, ncols * itemsize)
    cdef TakeTask task
    if threads == 1:
        take_rows_strided(src, src_stride, ncols, col_stride, itemsize, idx, k, dst)
        return
    task = TakeTask(src=src, src_stride=src_stride, dst_row_bytes=ncols * itemsize,
                    strided=True, ncols=ncols, col_stride=col_stride, itemsize=itemsize,
                    idx=idx, k=k, dst=dst,
                    block_rows=max(1, TAKE_BLOCK_BYTES // (ncols * itemsize)), next_block=0)
    fb_parallel_run(threads, take_task, &task)


# ---------------------------------------------------------------------------------------
# Fused mini-batch SGD for linear regression.
#
# Standardisation is folded in: z_j = (x_j - mean_j) * inv_scale_j is formed per row in a
# small buffer and never stored for the data set (mean 0 and inv_scale 1 when it is off).
# For a batch of k rows:  r_i = z_i . beta + b - y_i,   g = Z^T r / k + alpha * beta,
# g_b = sum(r) / k,  beta -= lr * g,  b -= lr * g_b.  Each row is read once, in place
# through the permutation, with the rows a few positions ahead prefetched.

from libc.math cimport isfinite

ctypedef fused floating:
    float
    double

cdef extern from "_linreg_rows.h":
    # The row loops, compiled per instruction set and dispatched at load time.
    int fb_rows_gradient_f64(const double *X, Py_ssize_t stride, Py_ssize_t d,
                             const double *y, const int64_t *order, Py_ssize_t start,
                             Py_ssize_t stop, Py_ssize_t prefetch_stop, const double *mean,
                             const double *inv_scale,
                             const double *beta, double intercept, double *grad,
                             double *rsum, double *rsq, double *z) noexcept nogil
    int fb_rows_gradient_f32(const float *X, Py_ssize_t stride, Py_ssize_t d,
                             const double *y, const int64_t *order, Py_ssize_t start,
                             Py_ssize_t stop, Py_ssize_t prefetch_stop, const double *mean,
                             const double *inv_scale,
                             const double *beta, double intercept, double *grad,
                             double *rsum, double *rsq, double *z) noexcept nogil
    double fb_rows_squared_residuals_f64(const double *X, Py_ssize_t stride, Py_ssize_t d,
                                         const double *y, Py_ssize_t n, const double *mean,
                                         const double *inv_scale, const double *beta,
                                         double intercept, double *z) noexcept nogil
    double fb_rows_squared_residuals_f32(const float *X, Py_ssize_t stride, Py_ssize_t d,
                                         const double *y, Py_ssize_t n, const double *mean,
                                         const double *inv_scale, const double *beta,
                                         double intercept, double *z) noexcept nogil


cdef extern from "_linreg_rows.h":
    void fb_rows_moments_f64(const double *X, Py_ssize_t stride, Py_ssize_t d, Py_ssize_t n,
                             double *mean, double *m2, double *scratch) noexcept nogil
    void fb_rows_moments_f32(const float *X, Py_ssize_t stride, Py_ssize_t d, Py_ssize_t n,
                             double *mean, double *m2, double *scratch) noexcept nogil


cdef void fb_column_moments_f64(const double *X, Py_ssize_t row_stride, Py_ssize_t d,
                                Py_ssize_t n, double *mean, double *m2,
                                double *scratch) noexcept nogil:
    fb_rows_moments_f64(X, row_stride, d, n, mean, m2, scratch)


cdef void fb_column_moments_f32(const float *X, Py_ssize_t row_stride, Py_ssize_t d,
                                Py_ssize_t n, double *mean, double *m2,
                                double *scratch) noexcept nogil:
    fb_rows_moments_f32(X, row_stride, d, n, mean, m2, scratch)


cdef inline int batch_gradient(const floating *X, Py_ssize_t row_stride, Py_ssize_t d,
                               const double *y, const int64_t *order, Py_ssize_t start,
                               Py_ssize_t stop, Py_ssize_t prefetch_stop,
                               const double *mean, const double *inv_scale,
                               const double *beta, double intercept, double *grad,
                               double *residual_sum, double *squared_sum,
                               double *z) noexcept nogil:
    # grad[j] = sum_i z_ij r_i over rows start..stop-1 of the order (unnormalised).
    cdef int status
    if floating is double:
        status = fb_rows_gradient_f64(X, row_stride, d, y, order, start, stop, prefetch_stop,
                                      mean,
                                      inv_scale, beta, intercept, grad, residual_sum,
                                      squared_sum, z)
    else:
        status = fb_rows_gradient_f32(X, row_stride, d, y, order, start, stop, prefetch_stop,
                                      mean,
                                      inv_scale, beta, intercept, grad, residual_sum,
                                      squared_sum, z)
    return FB_OK if status == 0 else FB_ENONFINITE


cdef int linreg_sgd_epoch(const floating *X, Py_ssize_t row_stride, Py_ssize_t d,
                          const double *y, const int64_t *order, Py_ssize_t n,
                          Py_ssize_t batch_size, const double *mean,
                          const double *inv_scale, double *beta, double *intercept,
                          double lr, double alpha, double *work) noexcept nogil:
    # work holds 2 * d doubles.  Returns FB_OK, or FB_ENONFINITE as soon as a residual
    # or an updated parameter is not finite, with beta / intercept left at the last
    # finite step (each update is checked before it is applied).
    cdef double *grad = work
    cdef double *z = work + d
    cdef Py_ssize_t start = 0, stop, j, k
    cdef double rsum, rsq, b = intercept[0], inv_k, new_b, step_sum
    cdef int status
    while start < n:
        stop = start + batch_size
        if stop > n:
            stop = n
        k = stop - start
        status = batch_gradient(X, row_stride, d, y, order, start, stop, n, mean,
                                inv_scale, beta, b, grad, &rsum, &rsq, z)
        if status != FB_OK:
            intercept[0] = b
            return status
        inv_k = 1.0 / <double>k       # the short last batch divides by its own size
        # The new parameters go into grad first; a non-finite one makes their sum
        # non-finite, so one check guards the whole update.
        step_sum = 0.0
        for j in range(d):
            grad[j] = beta[j] - lr * (grad[j] * inv_k + alpha * beta[j])
            step_sum += grad[j]
        new_b = b - lr * rsum * inv_k
        if not (isfinite(step_sum) and isfinite(new_b)):
            for j in range(d):
                if not isfinite(grad[j]):
                    intercept[0] = b
                    return FB_ENONFINITE
            if not isfinite(new_b):
                intercept[0] = b
                return FB_ENONFINITE
        for j in range(d):
            beta[j] = grad[j]
        b = new_b
        start = stop
    intercept[0] = b
    return FB_OK


cdef double linreg_loss(const floating *X, Py_ssize_t row_stride, Py_ssize_t d,
                        const double *y, Py_ssize_t n, const double *mean,
                        const double *inv_scale, const double *beta, double intercept,
                        double alpha, double *z) noexcept nogil:
    # J = sum(r^2) / (2n) + alpha / 2 * ||beta||^2 in one sequential pass; NaN/inf
    # propagate to the result, which the caller checks.
    cdef double squares, penalty = 0.0
    cdef Py_ssize_t j
    if floating is double:
        squares = fb_rows_squared_residuals_f64(X, row_stride, d, y, n, mean, inv_scale,
                                                beta, intercept, z)
    else:
        squares = fb_rows_squared_residuals_f32(X, row_stride, d, y, n, mean, inv_scale,
                                                beta, intercept, z)
    for j in range(d):
        penalty += beta[j] * beta[j]
    if n == 0:
        return 0.5 * alpha * penalty
    return squares / (2.0 * n) + 0.5 * alpha * penalty


cdef int fb_linreg_sgd_epoch_f64(const double *X, Py_ssize_t row_stride, Py_ssize_t d,
                                 const double *y, const int64_t *order, Py_ssize_t n,
                                 Py_ssize_t batch_size, const double *mean,
                                 const double *inv_scale, double *beta, double *intercept,
                                 double lr, double alpha, double *work) noexcept nogil:
    return linreg_sgd_epoch(X, row_stride, d, y, order, n, batch_size, mean, inv_scale,
                            beta, intercept, lr, alpha, work)


cdef int fb_linreg_sgd_epoch_f32(const float *X, Py_ssize_t row_stride, Py_ssize_t d,
                                 const double *y, const int64_t *order, Py_ssize_t n,
                                 Py_ssize_t batch_size, const double *mean,
                                 const double *inv_scale, double *beta, double *intercept,
                                 double lr, double alpha, double *work) noexcept nogil:
    return linreg_sgd_epoch(X, row_stride, d, y, order, n, batch_size, mean, inv_scale,
                            beta, intercept, lr, alpha, work)


cdef double fb_linreg_loss_f64(const double *X, Py_ssize_t row_stride, Py_ssize_t d,
                               const double *y, Py_ssize_t n, const double *mean,
                               const double *inv_scale, const double *beta,
                               double intercept, double alpha, double *z) noexcept nogil:
    return linreg_loss(X, row_stride, d, y, n, mean, inv_scale, beta, intercept, alpha, z)


cdef double fb_linreg_loss_f32(const float *X, Py_ssize_t row_stride, Py_ssize_t d,
                               const double *y, Py_ssize_t n, const double *mean,
                               const double *inv_scale, const double *beta,
                               double intercept, double alpha, double *z) noexcept nogil:
    return linreg_loss(X, row_stride, d, y, n, mean, inv_scale, beta, intercept, alpha, z)


cdef int fb_linreg_gradient_f64(const double *X, Py_ssize_t row_stride, Py_ssize_t d,
                                const double *y, const int64_t *idx, Py_ssize_t k,
                                const double *mean, const double *inv_scale,
                                const double *beta, double intercept, double *grad,
                                double *residual_sum, double *squared_sum,
                                double *z) noexcept nogil:
    return batch_gradient(X, row_stride, d, y, idx, 0, k, k, mean, inv_scale, beta,
                          intercept, grad, residual_sum, squared_sum, z)


cdef int fb_linreg_gradient_f32(const float *X, Py_ssize_t row_stride, Py_ssize_t d,
                                const double *y, const int64_t *idx, Py_ssize_t k,
                                const double *mean, const double *inv_scale,
                                const double *beta, double intercept, double *grad,
                                double *residual_sum, double *squared_sum,
                                double *z) noexcept nogil:
    return batch_gradient(X, row_stride, d, y, idx, 0, k, k, mean, inv_scale, beta,
                          intercept, grad, residual_sum, squared_sum, z)
