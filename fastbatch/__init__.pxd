# fastbatch's public C-API, for other Cython packages:
#
#     from fastbatch cimport fb_permutation_int64, fb_take_rows, FB_OK
#
# Building against it.  Cython looks for this file as ``fastbatch/__init__.pxd`` on its
# include path.  With fastbatch installed normally (a wheel or an sdist) the package sits in
# site-packages, which Cython searches already.  With an editable install
# (``pip install -e``) it does not: put ``fastbatch.get_include()`` (the folder that
# contains the ``fastbatch`` package) on the include path, for example
#
#     cythonize(extensions, include_path=[fastbatch.get_include()])
#
# and list fastbatch among the build requirements.  numpy's ``bitgen_t`` comes from
# ``numpy.random``; its header needs ``numpy.get_include()`` in the Extension's include_dirs.
#
# The promise.  The names below keep their signatures and meaning across releases (new
# functions may be added).  Every function is ``noexcept nogil``, works on raw pointers and
# lengths, trusts its inputs (validation is the caller's job), never runs Python code and
# never checks for Ctrl-C.  Functions that can fail return an int status: FB_OK (0) or a
# negative FB_E* code (defined, with their C values, by fastbatch/_kernels/status.pxd:
# cimporting them brings the definitions into your module, no header needed).
# Everything else in the package (the other .pxd files, test hooks)
# is private and may change without notice.
from fastbatch._kernels.status cimport FB_EINTR, FB_ENOMEM, FB_ENONFINITE, FB_EOUTOFRANGE, FB_OK

# ---------------------------------------------------------------------------------------
# Random integers and permutations (fastbatch._kernels.shuffle).  ``bitgen`` is numpy's bitgen_t*
# from a BitGenerator's ``capsule`` (check it with PyCapsule_IsValid and keep a reference
# to the bit generator).  THE CALLER HOLDS THE BIT GENERATOR'S LOCK for the whole call:
#
#     with bit_generator.lock, nogil:
#         status = fb_permutation_int64(bitgen, &out[0], n)
#
# fb_random_bounded(bitgen, bound) -> uint64_t
#     A uniform integer in [0, bound), bound >= 1, unbiased (Lemire's nearly divisionless
#     method).  Cannot fail.
# fb_permutation_int64(bitgen, int64_t *out, int64_t n) -> int
# fb_permutation_int32(bitgen, int32_t *out, int64_t n) -> int
#     Fill out[0:n] with a uniform random permutation of 0..n-1 (n >= 0; int32 needs
#     n <= 2**31).  Exactly uniform: Fisher-Yates up to 65536 items, a cache-friendly
#     bucket shuffle above.  Both draw the same random numbers, so the same bit generator
#     state gives the same permutation in either type, equal to ``fastbatch.permutation``.
#     Returns FB_OK, or FB_ENOMEM when a temporary buffer (about 1.5 n bytes) could not be
#     allocated (out is then not a permutation).
from fastbatch._kernels.shuffle cimport fb_permutation_int32, fb_permutation_int64, fb_random_bounded

# ---------------------------------------------------------------------------------------
# Row gathers (fastbatch._kernels.take).  No lock, no allocation, cannot fail; release the GIL
# around them.  Row i of the source starts at src + i * src_stride (any sign); every idx
# value must be a valid row number (0 <= idx[i] < rows); dst must not overlap src or idx.
#
# fb_take_rows(src, src_stride, row_bytes, idx, k, dst)
#     dst row i = src row idx[i] for i < k.  Rows are row_bytes contiguous bytes; dst is
#     C-contiguous (k * row_bytes bytes).  Prefetches upcoming source rows.
# fb_take_rows_scatter(src, src_stride, row_bytes, idx, dst_pos, k, dst)
#     dst row dst_pos[i] = src row idx[i] for i < k: reads in the order of idx (sorted, for
#     memory-mapped files) while the batch keeps its own order.
# fb_take_rows_strided(src, src_stride, ncols, col_stride, itemsize, idx, k, dst)
#     Same as fb_take_rows for rows whose elements are not contiguous: ncols elements of
#     itemsize bytes, col_stride bytes apart.
from fastbatch._kernels.take cimport fb_take_rows, fb_take_rows_scatter, fb_take_rows_strided

# ---------------------------------------------------------------------------------------
# The keyed bijection (fastbatch._kernels.bijection), fb.index_shuffle's kernel.  No lock, no
# allocation; may run on up to num_threads threads (the result never depends on how many).
# The key is the 128 bits fastbatch derives from a seed and an epoch:
# ``fastbatch.shuffling.bijection_key(seed, epoch)``, that is
# ``np.random.SeedSequence(fastbatch._rng.key_entropy("bijective", seed, epoch))
# .generate_state(2, np.uint64)``: a fixed-width uint32 encoding (the magic word
# 0x316B6266, the method tag ``zlib.crc32(b"bijective")``, a window flag, epoch and
# window as two words each, the seed's word count, the seed as at least four words; low
# words first), so that no two (seed, epoch) alias.
#
# fb_index_shuffle(positions, out, count, n, key0, key1, num_threads) -> int
#     out[i] = the value at position positions[i] of the keyed pseudo-random permutation
#     of range(n), for i < count; 1 <= n <= 2**63 - 1.  Returns FB_OK, or FB_EOUTOFRANGE
#     when some positions[i] is outside [0, n) (out is then unspecified).
# fb_index_unshuffle(values, out, count, n, key0, key1, num_threads) -> int
#     The inverse: out[i] = the position of the value values[i].
from fastbatch._kernels.bijection cimport fb_index_shuffle, fb_index_unshuffle

# ---------------------------------------------------------------------------------------
# Linear regression (fastbatch.linear_model._linreg): the fused mini-batch SGD epoch, the objective,
# gradient sums and column moments.  Every kernel reads its data through one
# fb_linreg_data (X as float64 or float32 rows, y, optional sample weights, the folded-in
# standardisation, a thread count) and visits the rows order[0:n] (0..n-1 when order is
# NULL); fb_linreg_step carries an epoch's hyper-parameters.  The fields, the maths and
# the return codes are documented in fastbatch/linear_model/_linreg.pxd.  Pass
# interrupted = NULL unless your hook follows the rules written there.
from fastbatch.linear_model._linreg cimport (
    FB_FLOAT32, FB_FLOAT64, fb_column_moments, fb_linreg_data, fb_linreg_gradient,
    fb_linreg_loss, fb_linreg_sgd_epoch, fb_linreg_step,
)
