"""Fused linear-regression kernels: one SGD epoch, the objective, batch gradient sums and
column moments (C-API in ``_linreg.pxd``), and ``LinregData``, the Python glue.

Each kernel is written once, on float64 rows: only the C row readers (``_linreg_rows.h``)
exist per dtype, and ``source_of`` below is the one place that picks them.  An epoch is a
two-stage pipeline over chunks of rows: *read* (gather the chunk's rows through the order,
standardise them into a float64 buffer, and add up the previous parameters' residuals)
and *update* (the batches' gradients and parameter steps, in order).  With two or more
threads, helpers read the coming chunks while the caller updates (``fb_pipeline`` of
``_kernels/src/parallel.h``, the one thread runtime); the update order and every sum's
order are the same for any thread count, so the results are bit-identical.  The whole
passes (loss, moments, gradient sums) are C in ``src/linreg_passes.h``.  Status codes and
Ctrl-C go through ``fastbatch._kernels.status`` like every other kernel's.
"""
cimport numpy as cnp
from libc.math cimport pow
from libc.stdint cimport int64_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy, memset
from cpython.exc cimport PyErr_SetObject

from fastbatch._kernels.status cimport fb_signals_raised, raise_for_status
from fastbatch._kernels.take cimport GATHER_ROWS, GatherPlan
from fastbatch._kernels.threads cimport FB_MAX_THREADS, fb_block_fn, fb_pipeline
from fastbatch.sources._source cimport ArraySource


import warnings

import numpy as np

cnp.import_array()

cdef extern from "linreg_rows.h":
    ctypedef struct fb_rows_loss:
        int kind
        double epsilon
    ctypedef void (*fb_rows_reader)(const void *X, Py_ssize_t stride, Py_ssize_t d,
                                    const double *y, const double *w, const int64_t *order,
                                    Py_ssize_t start, Py_ssize_t stop,
                                    Py_ssize_t prefetch_stop, const double *mean,
                                    const double *inv_scale, double *z, Py_ssize_t z_step,
                                    double *zy, double *zw, const double *beta,
                                    double intercept, double *sums,
                                    const fb_rows_loss *loss) noexcept nogil
    fb_rows_reader fb_rows_reader_for(int is_float32, Py_ssize_t d) noexcept nogil
    ctypedef Py_ssize_t (*fb_rows_trainer)(
        const void *X, Py_ssize_t stride, Py_ssize_t d, const double *y, const double *w,
        const int64_t *order, Py_ssize_t start, Py_ssize_t stop, Py_ssize_t prefetch_stop,
        const double *mean, const double *inv_scale, double *z, const double *beta,
        double intercept, double *grad, const double *beta_prev, double intercept_prev,
        double *previous, double *sums, const fb_rows_loss *loss) noexcept nogil
    fb_rows_trainer fb_rows_trainer_for(int is_float32) noexcept nogil
    int fb_rows_step(double *beta, double *b, double *grad, double *acc, Py_ssize_t d,
                     double lr, double alpha, int fit_intercept) noexcept nogil
    void fb_rows_l1_clip(double *beta, double *applied, double total,
                         Py_ssize_t d) noexcept nogil
    void fb_rows_average(double *average, const double *value, Py_ssize_t d,
                         double count) noexcept nogil
    ctypedef Py_ssize_t (*fb_rows_accumulator)(
        const double *z, const double *y, const double *w, Py_ssize_t k, Py_ssize_t d,
        const double *beta, double intercept, double *grad, double *sums,
        const fb_rows_loss *loss) noexcept nogil
    fb_rows_accumulator fb_rows_accumulator_for(Py_ssize_t d) noexcept nogil
    int fb_rows_vectors_enabled
    int FB_ROWS_GROUP

cdef extern from "linreg_passes.h":
    ctypedef struct fb_rows_source:
        fb_rows_reader read
        const void *X
        Py_ssize_t stride, d
        const double *y
        const double *w
        const double *mean
        const double *inv_scale
        const fb_rows_loss *loss
        int threads
        fb_interrupted_fn interrupted
    int FB_POLL_MS, FB_CHUNK_BYTES
    long long fb_clock_ms() noexcept nogil
    int fb_poll_interrupt(fb_interrupted_fn interrupted, long long *next_poll) noexcept nogil
    int fb_pass_loss(const fb_rows_source *src, const int64_t *order, Py_ssize_t n,
                     const double *beta, double b, double *sums) noexcept nogil
    int fb_pass_moments(const fb_rows_source *src, const int64_t *order, Py_ssize_t n,
                        double *mean, double *m2, double *weight_sum) noexcept nogil
    int fb_pass_gradient(const fb_rows_source *src, const int64_t *order, Py_ssize_t n,
                         const double *beta, double b, double *grad,
                         double *sums) noexcept nogil

cdef enum:
    # Below this many values a thread hand-off costs more than it saves.
    PIPELINE_MIN_VALUES = 1 << 15
    PARALLEL_MIN_VALUES = 1 << 17
    # Sequential epochs on one thread skip the staging buffer from this many features.
    DIRECT_MIN_D = 16


cdef inline int threads_for(const fb_linreg_data *data, Py_ssize_t n,
                            Py_ssize_t min_values) noexcept nogil:
    if data.threads < 2 or n * data.d < min_values:
        return 1
    return min(data.threads, FB_MAX_THREADS)


# ---------------------------------------------------------------------------------------
# One epoch: the read / update pipeline.

# What MiniBatchSGDRegressor's epochs run beyond plain mini-batch SGD (the loss, the L1
# step, the invscaling schedule, averaging) and the state they carry from step to step,
# updated in place by an epoch.  Private: the C-API's fb_linreg_sgd_epoch runs without.
cdef struct SGDOptions:
    fb_rows_loss loss
    double l1               # L1 strength (alpha * l1_ratio); 0: no L1 step
    double *l1_applied      # d values: the L1 penalty each coefficient has received
    double l1_total         # the L1 penalty per coefficient so far (sum of lr * l1)
    double power_t          # nonzero: step t's rate is learning_rate / t**power_t
    int64_t steps           # steps taken so far (t of the next step is steps + 1)
    int64_t average_from    # 0: no averaging; else average the iterates of steps >= it
    double *average_coef    # d values: the running means
    double average_intercept


cdef struct Epoch:
    const fb_linreg_step *step
    SGDOptions *options    # or NULL: squared error, L2 only, one rate, no averaging
    const int64_t *order
    Py_ssize_t n, chunk, n_slots
    double *z              # n_slots chunks of rows, d values each
    double *zy
    double *zw
    double *slot_sums      # the previous parameters' sums of each slot's rows
    double *beta_prev      # the parameters at entry (NULL: no previous sums wanted)
    double b_prev
    double *beta
    double b
    double *grad
    double acc[3]          # sum w r, sum w r^2, sum w of the current batch
    double previous[2]
    bint direct            # one thread: rows go straight from X into the update
    fb_rows_source src     # X's rows and their reader
    fb_rows_trainer train  # the direct path's row loop
    fb_rows_accumulator accumulate  # the update's row loop
    Py_ssize_t batch_end
    long long next_poll
    # The block shuffle's windows (positions where each begins, then n; NULL: none) and
    # a Python callable told, on the calling thread, when the update enters window w
    # (read-ahead of the data at rest: it never changes a result).
    const int64_t *window_starts
    Py_ssize_t n_windows, window
    void *on_window


cdef int announce(object on_window, Py_ssize_t w) noexcept:
    # on_window(w): FB_OK, or FB_EINTR with the exception left set (KeyboardInterrupt:
    # the kernel stops and its caller raises it), or -1 when the hint itself failed.
    try:
        on_window(w)
    except Exception as error:
        # A hint that failed costs speed only: said once, and no more asked this epoch.
        warnings.warn(f"read-ahead stopped for this epoch: {error!r}", RuntimeWarning,
                      stacklevel=2)
        return -1
    except BaseException as error:
        PyErr_SetObject(type(error), error)
        return FB_EINTR
    return FB_OK


cdef int enter_windows(Epoch *e, Py_ssize_t position) noexcept nogil:
    # Announce every window begun at or before `position`, in order.
    cdef int status
    while e.window < e.n_windows and e.window_starts[e.window] <= position:
        with gil:
            status = announce(<object>e.on_window, e.window)
        if status == FB_EINTR:
            return status
        e.window = e.n_windows if status != FB_OK else e.window + 1
    return FB_OK


cdef int epoch_read(void *ctx, Py_ssize_t c, int thread) noexcept nogil:
    cdef Epoch *e = <Epoch *>ctx
    cdef Py_ssize_t slot = c % e.n_slots, start = c * e.chunk
    cdef Py_ssize_t stop = min(start + e.chunk, e.n)
    e.src.read(e.src.X, e.src.stride, e.src.d, e.src.y, e.src.w, e.order, start, stop, e.n,
               e.src.mean, e.src.inv_scale, e.z + slot * e.chunk * e.src.d, e.src.d,
               e.zy + slot * e.chunk, e.zw + slot * e.chunk, e.beta_prev, e.b_prev,
               e.slot_sums + 2 * slot, e.src.loss)
    return FB_OK


cdef int batch_step(Epoch *e) noexcept nogil:
    # The parameter step at the end of a batch, then the options' L1 step and averages.
    cdef SGDOptions *o = e.options
    cdef Py_ssize_t d = e.src.d
    cdef double lr = e.step.learning_rate, count
    cdef bint updates = e.acc[2] > 0.0       # a batch of weight 0 makes no update
    if o != NULL:
        o.steps += 1
        if o.power_t != 0.0:
            lr = lr / pow(<double>o.steps, o.power_t)
    if fb_rows_step(e.beta, &e.b, e.grad, e.acc, d, lr, e.step.alpha,
                    e.step.fit_intercept) != 0:
        return FB_ENONFINITE
    if o == NULL:
        return FB_OK
    if o.l1 > 0.0 and updates:
        o.l1_total += lr * o.l1
        fb_rows_l1_clip(e.beta, o.l1_applied, o.l1_total, d)
    if o.average_from > 0 and o.steps >= o.average_from:
        count = <double>(o.steps - o.average_from + 1)
        fb_rows_average(o.average_coef, e.beta, d, count)
        o.average_intercept += (e.b - o.average_intercept) / count
    return FB_OK


cdef int epoch_update(void *ctx, Py_ssize_t c, int thread) noexcept nogil:
    cdef Epoch *e = <Epoch *>ctx
    cdef Py_ssize_t d = e.src.d, slot = c % e.n_slots, start = c * e.chunk
    cdef Py_ssize_t stop = min(start + e.chunk, e.n), pos = start, end
    cdef double *z = e.z + slot * e.chunk * d
    cdef double *zy = e.zy + slot * e.chunk
    cdef double *zw = e.zw + slot * e.chunk
    cdef double *chunk_sums = e.slot_sums + 2 * slot
    cdef Py_ssize_t bad
    if e.on_window != NULL:
        # Rows the readers fetch next (up to a ring of chunks ahead) are announced too.
        if enter_windows(e, min(e.n - 1, stop + (e.n_slots - 1) * e.chunk)) != FB_OK:
            return FB_EINTR
    if e.direct:
        chunk_sums[0] = chunk_sums[1] = 0.0
    elif e.beta_prev != NULL:
        e.previous[0] += chunk_sums[0]
        e.previous[1] += chunk_sums[1]
    while pos < stop:
        end = min(stop, e.batch_end)
        if e.direct:
            bad = e.train(e.src.X, e.src.stride, d, e.src.y, e.src.w, e.order, pos, end, e.n,
                          e.src.mean, e.src.inv_scale, z, e.beta, e.b, e.grad, e.beta_prev,
                          e.b_prev, chunk_sums, e.acc, e.src.loss)
        else:
            bad = e.accumulate(z + (pos - start) * d, zy + (pos - start),
                                     zw + (pos - start), end - pos, d, e.beta, e.b, e.grad,
                                     e.acc, e.src.loss)
        if bad >= 0:
            return FB_ENONFINITE
        pos = end
        if pos == e.batch_end:
            if batch_step(e) != FB_OK:
                return FB_ENONFINITE
            e.batch_end = min(pos + e.step.batch_size, e.n)
    if e.direct and e.beta_prev != NULL:
        # Added once per chunk, as the two-stage path adds each read chunk's sums.
        e.previous[0] += chunk_sums[0]
        e.previous[1] += chunk_sums[1]
    if fb_poll_interrupt(e.src.interrupted, &e.next_poll):
        return FB_EINTR
    return FB_OK


cdef int fb_linreg_sgd_epoch(const fb_linreg_data *data, const int64_t *order, Py_ssize_t n,
                             const fb_linreg_step *step, double *beta, double *intercept,
                             double *previous_sums) noexcept nogil:
    return run_epoch(data, order, n, step, NULL, beta, intercept, previous_sums, NULL, 0,
                     NULL)


cdef int run_epoch(const fb_linreg_data *data, const int64_t *order, Py_ssize_t n,
                   const fb_linreg_step *step, SGDOptions *options, double *beta,
                   double *intercept, double *previous_sums, const int64_t *window_starts,
                   Py_ssize_t n_windows, void *on_window) noexcept nogil:
    # fb_linreg_sgd_epoch with options (NULL: none) and the block shuffle's windows
    # (read-ahead).  With averaging under way, the previous sums are those of the
    # averages: the parameters the model is as fitted.
    cdef Epoch e
    cdef Py_ssize_t d = data.d, c
    cdef int threads = threads_for(data, n, PIPELINE_MIN_VALUES), status
    cdef const double *fitted = beta
    cdef double fitted_b = intercept[0]
    memset(&e, 0, sizeof(e))
    e.step, e.order, e.n, e.options = step, order, n, options
    e.window_starts, e.n_windows, e.on_window = window_starts, n_windows, on_window
    source_of(data, n, &e.src)
    if options != NULL:
        e.src.loss = &options.loss
        if options.average_from > 0 and options.steps >= options.average_from:
            fitted, fitted_b = options.average_coef, options.average_intercept
    e.train = fb_rows_trainer_for(data.dtype == FB_FLOAT32)
    e.accumulate = fb_rows_accumulator_for(d)
    # The chunks are cut the same way on one thread, where they only pace the sums of
    # the previous parameters and the interrupt polls, so the results match.
    e.chunk = max(1, FB_CHUNK_BYTES // (8 * (d + 2)))
    # Measured (one thread, same process): through an order, reading a chunk of random
    # rows in one tight loop keeps more cache misses in flight than reading each row
    # where the update needs it (d = 32: 84 vs 116 ns/row), so the two stages stay; in
    # sequence, the staging buffer is the extra cost (d = 100: 108 vs 80 ns/row) except
    # for short rows.
    e.direct = threads < 2 and order == NULL and d >= DIRECT_MIN_D
    e.n_slots = 1 if threads < 2 else 2 * threads + 2
    # The direct path's scratch: one group of rows (FB_ROWS_GROUP, _linreg_rows.h).
    e.z = <double *>malloc((FB_ROWS_GROUP * d if e.direct else e.n_slots * e.chunk * d)
                           * sizeof(double))
    e.zy = <double *>malloc(e.n_slots * e.chunk * sizeof(double))
    e.zw = <double *>malloc(e.n_slots * e.chunk * sizeof(double))
    e.slot_sums = <double *>calloc(2 * e.n_slots, sizeof(double))
    e.grad = <double *>calloc(d, sizeof(double))
    if previous_sums != NULL:
        e.beta_prev = <double *>malloc(d * sizeof(double))
    status = FB_ENOMEM
    if (e.z != NULL and e.zy != NULL and e.zw != NULL and e.slot_sums != NULL
            and e.grad != NULL and (previous_sums == NULL or e.beta_prev != NULL)):
        if e.beta_prev != NULL:
            # A snapshot: the helpers read it while the caller updates beta.
            memcpy(e.beta_prev, fitted, d * sizeof(double))
            e.b_prev = fitted_b
        e.beta, e.b = beta, intercept[0]
        e.batch_end = min(step.batch_size, n)
        e.next_poll = fb_clock_ms() + FB_POLL_MS
        status = FB_OK
        if e.on_window != NULL:
            status = enter_windows(&e, 0)       # before any row is read
        if status != FB_OK:
            pass
        elif e.direct:
            for c in range((n + e.chunk - 1) // e.chunk):
                status = epoch_update(&e, c, 0)
                if status != FB_OK:
                    break
        else:
            status = fb_pipeline((n + e.chunk - 1) // e.chunk, threads, <int>e.n_slots,
                                 epoch_read, epoch_update, &e)
        intercept[0] = e.b
        if previous_sums != NULL:
            previous_sums[0], previous_sums[1] = e.previous[0], e.previous[1]
    free(e.z)
    free(e.zy)
    free(e.zw)
    free(e.slot_sums)
    free(e.grad)
    free(e.beta_prev)
    return status


# ---------------------------------------------------------------------------------------
# Whole passes (loss, moments): C in linreg_passes.h, over the rows of an fb_rows_source.

cdef inline void source_of(const fb_linreg_data *data, Py_ssize_t n,
                           fb_rows_source *src) noexcept nogil:
    src.read = fb_rows_reader_for(data.dtype == FB_FLOAT32, data.d)
    src.X, src.stride, src.d = data.X, data.row_stride, data.d
    src.y, src.w = data.y, data.sample_weight
    src.mean, src.inv_scale = data.mean, data.inv_scale
    src.loss = NULL
    src.threads = threads_for(data, n, PARALLEL_MIN_VALUES)
    src.interrupted = data.interrupted


cdef int fb_linreg_loss(const fb_linreg_data *data, const int64_t *order, Py_ssize_t n,
                        const double *beta, double intercept, double *sums) noexcept nogil:
    cdef fb_rows_source src
    source_of(data, n, &src)
    return fb_pass_loss(&src, order, n, beta, intercept, sums)


cdef int fb_column_moments(const fb_linreg_data *data, const int64_t *order, Py_ssize_t n,
                           double *mean, double *m2, double *weight_sum) noexcept nogil:
    cdef fb_rows_source src
    source_of(data, n, &src)
    return fb_pass_moments(&src, order, n, mean, m2, weight_sum)


# ---------------------------------------------------------------------------------------
# Gradient sums of one batch (one thread: a batch is small).

cdef int fb_linreg_gradient(const fb_linreg_data *data, const int64_t *order, Py_ssize_t n,
                            const double *beta, double intercept, double *grad,
                            double *sums) noexcept nogil:
    cdef fb_rows_source src
    source_of(data, n, &src)
    return fb_pass_gradient(&src, order, n, beta, intercept, grad, sums)


# ---------------------------------------------------------------------------------------
# Python glue.

def _use_vector_loops(bint enabled):
    """Test hook: with False, the kernels run the scalar reference row loops instead of
    the vector ones (which must give the same bits).  Returns the previous setting.  Not
    thread-safe: for tests only."""
    global fb_rows_vectors_enabled
    previous = fb_rows_vectors_enabled != 0
    fb_rows_vectors_enabled = 1 if enabled else 0
    return previous


LOSSES = {"squared_error": 0, "huber": 1, "epsilon_insensitive": 2,
          "squared_epsilon_insensitive": 3}


cdef class EpochOptions:
    """What an epoch runs beyond plain mini-batch SGD, and the state that carries from
    step to step (updated in place by :meth:`LinregData.sgd_epoch`).

    ``loss`` is a key of ``LOSSES`` (with ``epsilon``); ``l1`` the L1 strength (the
    cumulative penalty's step, ``l1_applied`` and ``l1_total`` its state); ``power_t``
    nonzero makes step t's rate ``learning_rate / t**power_t``; ``steps`` counts the steps
    taken; ``average_from`` (0: none) starts running means of the iterates of steps
    ``>= average_from`` (``average_coef``, ``average_intercept``).  Arrays are copied in.
    """
    cdef SGDOptions c
    cdef readonly object l1_applied, average_coef

    def __cinit__(self, Py_ssize_t d, *, str loss="squared_error", double epsilon=0.0,
                  double l1=0.0, double power_t=0.0, int64_t steps=0,
                  int64_t average_from=0, l1_applied=None, double l1_total=0.0,
                  average_coef=None, double average_intercept=0.0):
        cdef double[::1] applied, average
        if d < 1 or steps < 0 or average_from < 0:
            raise ValueError("d must be >= 1, steps and average_from >= 0")
        self.l1_applied = (np.zeros(d) if l1_applied is None
                           else np.array(l1_applied, dtype=np.float64, copy=True))
        self.average_coef = (np.zeros(d) if average_coef is None
                             else np.array(average_coef, dtype=np.float64, copy=True))
        if self.l1_applied.shape != (d,) or self.average_coef.shape != (d,):
            raise ValueError(f"l1_applied and average_coef must have shape ({d},)")
        applied, average = self.l1_applied, self.average_coef
        self.c.loss.kind, self.c.loss.epsilon = LOSSES[loss], epsilon
        self.c.l1, self.c.l1_applied, self.c.l1_total = l1, &applied[0], l1_total
        self.c.power_t, self.c.steps = power_t, steps
        self.c.average_from, self.c.average_coef = average_from, &average[0]
        self.c.average_intercept = average_intercept

    @property
    def steps(self):
        return self.c.steps

    @property
    def l1_total(self):
        return self.c.l1_total

    @property
    def average_intercept(self):
        return self.c.average_intercept

    @property
    def average_from(self):
        return self.c.average_from

    @property
    def averaging(self):
        """Whether the averages are the model: averaging has started."""
        return self.c.average_from > 0 and self.c.steps >= self.c.average_from

    def copy(self):
        """An independent copy (the arrays copied)."""
        return EpochOptions(self.l1_applied.shape[0],
                            loss=[k for k, v in LOSSES.items() if v == self.c.loss.kind][0],
                            epsilon=self.c.loss.epsilon, l1=self.c.l1,
                            power_t=self.c.power_t, steps=self.c.steps,
                            average_from=self.c.average_from, l1_applied=self.l1_applied,
                            l1_total=self.c.l1_total, average_coef=self.average_coef,
                            average_intercept=self.c.average_intercept)


cdef class LinregData:
    """Training data as the kernels read it: X, an ``ArraySource`` of one float32 or
    float64 array of contiguous-value rows (at least one row and one column), y,
    optional sample weights, standardisation and the thread count.

    The caller validates; this checks only what memory safety needs (shapes, layout).
    ``order`` arguments are None (all rows in order) or C-contiguous int64 arrays of row
    numbers in range.  Kernel methods release the GIL, return a status (0, or a negative
    ``FB_E*`` code when a value became non-finite) and raise ``KeyboardInterrupt`` (or
    what a signal handler raised) when interrupted.
    """
    cdef fb_linreg_data data
    cdef readonly object X, y, sample_weight, mean, inv_scale, source

    def __cinit__(self, ArraySource source not None, const double[::1] y, sample_weight,
                  const double[::1] mean, const double[::1] inv_scale, int threads):
        # X's rows are read where its source's gather plan says they are: the same
        # description of the rows the batch iterator reads through.
        cdef const double[::1] w = y if sample_weight is None else sample_weight
        cdef const GatherPlan *plan = &source.plans[0]
        if source.n_outputs != 1:
            raise ValueError("the source must hold X alone")
        X = source.arrays[0]
        size = X.itemsize
        if (X.ndim != 2 or X.dtype not in (np.float32, np.float64) or plan.stride < 0
                or plan.stride % size or plan.mode != GATHER_ROWS):
            raise ValueError("X must be a 2-d float32 or float64 array of contiguous rows")
        if not (X.shape[0] == y.shape[0] == w.shape[0] > 0
                and X.shape[1] == mean.shape[0] == inv_scale.shape[0] > 0):
            raise ValueError("X, y, sample_weight, mean and inv_scale do not match")
        self.X, self.y, self.sample_weight = X, y, sample_weight
        self.mean, self.inv_scale = mean, inv_scale
        self.source = source
        self.data.X = plan.base
        self.data.dtype = FB_FLOAT32 if X.dtype == np.float32 else FB_FLOAT64
        self.data.row_stride, self.data.d = plan.stride // size, X.shape[1]
        self.data.y, self.data.mean, self.data.inv_scale = &y[0], &mean[0], &inv_scale[0]
        self.data.sample_weight = NULL
        if sample_weight is not None:
            self.data.sample_weight = &w[0]
        self.data.threads = max(1, threads)
        # A raised handler's exception stays set until raise_for_status re-raises it.
        self.data.interrupted = fb_signals_raised

    cdef const int64_t *rows(self, order, Py_ssize_t *n) except? NULL:
        cdef const int64_t[::1] view
        if order is None:
            n[0] = self.X.shape[0]
            return NULL
        view = order
        n[0] = view.shape[0]
        return &view[0] if n[0] else NULL

    cdef const double *vector(self, const double[::1] a) except NULL:
        if a.shape[0] != self.data.d:
            raise ValueError(f"expected {self.data.d} parameters, got {a.shape[0]}")
        return &a[0]

    def sgd_epoch(self, order, double[::1] beta, double intercept, Py_ssize_t batch_size,
                  double learning_rate, double alpha, bint fit_intercept, bint previous,
                  windows=None, on_window=None, EpochOptions options=None):
        """One epoch in place on ``beta`` (and ``options``' state): ``(status,
        intercept, previous_sums)``, the latter ``(sum w 2L(r), sum w)`` of the parameters
        passed in (the averages once averaging has started), or None.

        ``windows`` (int64: the position where each window of a block order begins) and
        ``on_window``: ``on_window(w)`` is called, on this thread with the GIL, before the
        epoch reads the rows of window ``w`` (read-ahead; results do not change)."""
        cdef Py_ssize_t n
        cdef const int64_t *rows = self.rows(order, &n)
        cdef const int64_t[::1] starts = None
        cdef const int64_t *starts_ptr = NULL
        cdef Py_ssize_t n_windows = 0
        if on_window is not None:
            starts = np.ascontiguousarray(windows, dtype=np.int64)
            n_windows = starts.shape[0]
            if n_windows:
                starts_ptr = &starts[0]
        cdef double *b = <double *>self.vector(beta)
        cdef fb_linreg_step step
        cdef SGDOptions *extra = NULL
        cdef double sums[2]
        cdef int status
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if options is not None:
            if options.l1_applied.shape[0] != self.data.d:
                raise ValueError(f"options are for {options.l1_applied.shape[0]} features, "
                                 f"not {self.data.d}")
            extra = &options.c
        step.batch_size, step.learning_rate, step.alpha = batch_size, learning_rate, alpha
        step.fit_intercept = fit_intercept
        with nogil:
            status = run_epoch(&self.data, rows, n, &step, extra, b, &intercept,
                               sums if previous else NULL, starts_ptr, n_windows,
                               <void *>on_window if n_windows else NULL)
        if status != FB_ENONFINITE:  # an answer (training diverged), not an error
            raise_for_status(status, NULL)
        return status, intercept, ((sums[0], sums[1]) if previous else None)

    def loss_sums(self, order, const double[::1] beta, double intercept,
                  str loss="squared_error", double epsilon=0.0):
        """``(sum w 2L(r), sum w)`` of the rows for these parameters: ``sum w r^2`` for
        the squared error (NaN/inf propagate)."""
        cdef Py_ssize_t n
        cdef const int64_t *rows = self.rows(order, &n)
        cdef const double *b = self.vector(beta)
        cdef double sums[2]
        cdef int status
        cdef fb_rows_loss kind
        cdef fb_rows_source src
        kind.kind, kind.epsilon = LOSSES[loss], epsilon
        source_of(&self.data, n, &src)
        src.loss = &kind
        with nogil:
            status = fb_pass_loss(&src, rows, n, b, intercept, sums)
        raise_for_status(status, NULL)
        return sums[0], sums[1]

    def gradient(self, order, const double[::1] beta, double intercept):
        """``(status, grad_sum, (sum w r, sum w r^2, sum w))`` of the rows, no update."""
        cdef Py_ssize_t n
        cdef const int64_t *rows = self.rows(order, &n)
        cdef const double *b = self.vector(beta)
        cdef double sums[3]
        cdef int status
        grad = np.zeros(self.data.d)
        cdef double[::1] g = grad
        with nogil:
            status = fb_linreg_gradient(&self.data, rows, n, b, intercept, &g[0], sums)
        if status != FB_ENONFINITE:
            raise_for_status(status, NULL)
        return status, grad, (sums[0], sums[1], sums[2])

    def moments(self, order=None):
        """``(mean, m2, weight_sum)`` of the raw columns (weighted)."""
        cdef Py_ssize_t n
        cdef const int64_t *rows = self.rows(order, &n)
        cdef double weight_sum
        cdef int status
        mean, m2 = np.zeros(self.data.d), np.zeros(self.data.d)
        cdef double[::1] mv = mean
        cdef double[::1] m2v = m2
        with nogil:
            status = fb_column_moments(&self.data, rows, n, &mv[0], &m2v[0], &weight_sum)
        raise_for_status(status, NULL)
        return mean, m2, weight_sum
