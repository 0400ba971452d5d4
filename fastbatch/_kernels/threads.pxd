# The process-wide thread count of fastbatch's kernels (fb.get_num_threads()).
# Kernels read it with the GIL released; fastbatch's Python layer and threadpoolctl
# (through the exported C symbols fastbatch_get/set_num_threads) set it.
cdef int num_threads() noexcept nogil
