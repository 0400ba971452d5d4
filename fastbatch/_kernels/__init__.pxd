# DEPRECATED alias of fastbatch's 0.1 C-API (fastbatch/_kernels.pxd until 0.2; the kernels'
# room is now the package fastbatch._kernels, and this file keeps the same cimport path
# working).  Write
#
#     from fastbatch cimport fb_permutation_int64, fb_take_rows
#
# instead of ``from fastbatch._kernels cimport ...`` (see fastbatch/__init__.pxd, where
# every function is documented).  The test hook and fb_shuffle_int64 are no longer part of it.
# The linear-regression kernels changed signature in 0.2 (one fb_linreg_data struct instead
# of twelve arguments; see CHANGELOG.md): cimport them from fastbatch.
from fastbatch._kernels.shuffle cimport fb_permutation_int32, fb_permutation_int64, fb_random_bounded
from fastbatch._kernels.status cimport FB_EINTR, FB_ENOMEM, FB_ENONFINITE, FB_OK
from fastbatch._kernels.take cimport fb_take_rows, fb_take_rows_scatter, fb_take_rows_strided
