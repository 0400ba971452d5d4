# fastbatch's fused linear-regression kernels: the C-API other Cython libraries cimport.
#
#     from fastbatch cimport fb_linreg_data, fb_linreg_step, fb_linreg_sgd_epoch
#
# Every function here is ``noexcept nogil``, reads its data through one fb_linreg_data
# and trusts it (validation belongs to the caller: shapes, row numbers in range, finite
# mean and inv_scale, non-negative weights).  Functions return an int status: FB_OK (0)
# or a negative code from fastbatch._kernels.status: FB_ENOMEM, FB_ENONFINITE or FB_EINTR.
# Adding a field to a struct is how a new argument arrives; keep existing fields.
from libc.stdint cimport int64_t

from fastbatch._kernels.status cimport FB_EINTR, FB_ENOMEM, FB_ENONFINITE, FB_OK

cdef enum:
    FB_FLOAT64 = 0        # fb_linreg_data.dtype: X holds doubles
    FB_FLOAT32 = 1        # X holds floats (converted to double as each row is read)

# Polled about every 0.1 s from the calling thread only; nonzero stops with FB_EINTR.
# fastbatch's own glue passes fb_signals_raised (fastbatch._kernels.status): it runs
# Python's signal handlers and leaves what one raised set, for the glue to re-raise.
ctypedef int (*fb_interrupted_fn)() noexcept nogil

# The training data, its standardisation and how to run.  Row i of X is d contiguous
# values at X + i * row_stride elements.  z = (x - mean) * inv_scale is what the model
# sees (mean 0 and inv_scale 1 turn it off).  y[i] and sample_weight[i] belong to row i.
ctypedef struct fb_linreg_data:
    const void *X
    int dtype                       # FB_FLOAT64 or FB_FLOAT32
    Py_ssize_t row_stride           # elements between rows, >= 0
    Py_ssize_t d
    const double *y
    const double *sample_weight     # non-negative weights, or NULL: every weight is 1
    const double *mean              # d values
    const double *inv_scale         # d values
    int threads                     # threads a kernel may use; results never depend on it
    fb_interrupted_fn interrupted   # or NULL

# One epoch's hyper-parameters.
ctypedef struct fb_linreg_step:
    Py_ssize_t batch_size
    double learning_rate
    double alpha
    bint fit_intercept              # false: the intercept is left as it is

# Every kernel visits the rows order[0:n] (rows 0..n-1 when order is NULL).

# Fused mini-batch SGD, one epoch.  The rows are cut into batches of batch_size (the last
# may be short); per batch, with r_i = z_i . beta + b - y_i and W = sum w_i:
#     beta -= lr (sum w_i r_i z_i / W + alpha beta),  b -= lr sum w_i r_i / W,
# and a batch with W == 0 makes no update.  When previous_sums is not NULL it receives
# the objective's parts of the parameters as passed in, over the same rows, read in the
# same pass: previous_sums[0] = sum w_i r_i^2, previous_sums[1] = sum w_i (so the loss
# of epoch e comes out of epoch e + 1 without a second read of X).  Returns FB_OK, or
# FB_ENONFINITE as soon as a residual or an updated parameter is not finite (beta and
# intercept keep the last finite step), FB_ENOMEM or FB_EINTR.
cdef int fb_linreg_sgd_epoch(const fb_linreg_data *data, const int64_t *order, Py_ssize_t n,
                             const fb_linreg_step *step, double *beta, double *intercept,
                             double *previous_sums) noexcept nogil

# The objective's parts for (beta, intercept): sums[0] = sum w_i r_i^2 (non-finite if a
# residual is), sums[1] = sum w_i; J = sums[0] / (2 sums[1]) + alpha / 2 ||beta||^2.
cdef int fb_linreg_loss(const fb_linreg_data *data, const int64_t *order, Py_ssize_t n,
                        const double *beta, double intercept, double *sums) noexcept nogil

# Gradient sums of one batch, no update (for data-parallel training: all-reduce the
# sums, then divide by the total weight): grad[j] = sum w_i r_i z_ij, sums[0] =
# sum w_i r_i, sums[1] = sum w_i r_i^2, sums[2] = sum w_i.  Returns FB_OK, FB_ENOMEM or
# FB_ENONFINITE (a residual is not finite).
cdef int fb_linreg_gradient(const fb_linreg_data *data, const int64_t *order, Py_ssize_t n,
                            const double *beta, double intercept, double *grad,
                            double *sums) noexcept nogil

# Weighted per-column mean and sum of squared deviations (m2) of the raw rows (data.mean
# and data.inv_scale are not used), in one pass over X, as accurate as two passes; a
# constant column gets an m2 of exactly 0.  *weight_sum = sum w_i.  A NaN or infinity in
# X shows as a non-finite mean or m2.
cdef int fb_column_moments(const fb_linreg_data *data, const int64_t *order, Py_ssize_t n,
                           double *mean, double *m2, double *weight_sum) noexcept nogil
