# DEPRECATED alias of fastbatch's C-API, kept for one release: write
#
#     from fastbatch cimport fb_permutation_int64, fb_take_rows
#
# instead of ``from fastbatch._kernels cimport ...`` (see fastbatch/__init__.pxd, where every
# function is documented).  The test hook and fb_shuffle_int64 are no longer part of it.
# The linear-regression kernels changed signature in 0.2 (one fb_linreg_data struct instead
# of twelve arguments; see CHANGELOG.md): cimport them from fastbatch.
from fastbatch._shuffle cimport fb_permutation_int32, fb_permutation_int64, fb_random_bounded
from fastbatch._status cimport FB_EINTR, FB_ENOMEM, FB_ENONFINITE, FB_OK
from fastbatch._take cimport fb_take_rows, fb_take_rows_scatter, fb_take_rows_strided
