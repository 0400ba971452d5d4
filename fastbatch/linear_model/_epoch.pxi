# The fused SGD epoch (included by _linreg.pyx, whose cimports and declarations it
# uses): the read / update pipeline, SGDOptions' per-batch step, and the block shuffle's
# read-ahead windows.

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
