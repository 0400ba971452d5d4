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
# One epoch: the read / update pipeline (in _epoch.pxi).

include "_epoch.pxi"


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
