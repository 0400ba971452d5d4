from libc.stdint cimport int64_t

# The process-wide thread count of fastbatch's kernels (fb.get_num_threads()).
# Kernels read it with the GIL released; fastbatch's Python layer and threadpoolctl
# (through the exported C symbols fastbatch_get/set_num_threads) set it.
cdef int num_threads() noexcept nogil

# The one thread runtime (src/parallel.h): every parallel kernel runs through these.
cdef extern from "parallel.h":
    int FB_MAX_THREADS
    # fb_parallel_for: body(ctx, item, t) for every item < count, claimed by up to
    # `threads` threads (t: which thread, for scratch), until stop (may be NULL) says so.
    ctypedef void (*fb_item_fn)(void *ctx, int64_t item, int t) noexcept nogil
    ctypedef int (*fb_stop_fn)(void *ctx, int t) noexcept nogil
    void fb_parallel_for(int threads, int64_t count, fb_item_fn body, void *ctx,
                         fb_stop_fn stop, void *stop_ctx) noexcept nogil
    # fb_pipeline: consume(ctx, c, 0) in order on the caller while helpers produce the
    # coming chunks (see parallel.h); a nonzero status stops it.
    ctypedef int (*fb_block_fn)(void *ctx, Py_ssize_t index, int t) noexcept nogil
    int fb_pipeline(Py_ssize_t n, int threads, int n_slots, fb_block_fn produce,
                    fb_block_fn consume, void *ctx) noexcept nogil
