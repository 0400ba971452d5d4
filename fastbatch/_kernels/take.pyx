"""Row gathers, the only ones in fastbatch: contiguous rows by index or by address (with
prefetch), strided rows, sorted-read scatter; the per-array gather plan the sources use;
and the ``take`` entry point."""
cimport numpy as cnp
from libc.stdint cimport int64_t
from libc.string cimport memcpy

from fastbatch._kernels.status cimport (
    FB_OK, fb_interrupt, fb_interrupt_init, fb_interrupt_poll, raise_for_status,
)
from fastbatch._kernels.threads cimport fb_parallel_for, num_threads

import numpy as np

cnp.import_array()

cdef extern from "prefetch.h":
    void FB_PREFETCH(const void *p) noexcept nogil
    void fb_prefetch_bytes(const void *p, size_t nbytes) noexcept nogil
    enum: CACHE_LINE "FB_CACHE_LINE"



# ---------------------------------------------------------------------------------------
# Row gathers.  A random row read is a cache miss; prefetching a few rows ahead keeps
# several misses in flight, which is what lets a gather approach memory bandwidth.

cdef enum:
    PREFETCH_ROWS = 16
    PREFETCH_BYTES = 8192
    # take_into gathers in chunks of about this many bytes (counting a cache line per
    # row), and looks for Ctrl-C every INTERRUPT_EVERY_BYTES: tens of milliseconds.
    TAKE_CHUNK_BYTES = 1 << 22
    INTERRUPT_EVERY_BYTES = 1 << 26
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


# A row is found either by index (src + idx[i] * stride: arrays) or by address (addr[i]:
# rows spread over several buffers, as Arrow chunks are).  The loops below are written
# once; every call site passes a constant `addr` or NULL, so the compiler drops the test.

cdef inline const char *row_at(const char *src, Py_ssize_t stride, const int64_t *idx,
                               const char *const *addr, Py_ssize_t i) noexcept nogil:
    if addr != NULL:
        return addr[i]
    return src + idx[i] * stride


cdef inline void take_fixed(const char *src, Py_ssize_t stride, const char *const *addr,
                            const Py_ssize_t nbytes, const int64_t *idx, Py_ssize_t k,
                            char *dst) noexcept nogil:
    # nbytes is a compile-time constant at every call site, so memcpy becomes a few moves.
    cdef Py_ssize_t i
    cdef Py_ssize_t ahead = k - PREFETCH_ROWS
    for i in range(k):
        if i < ahead:
            FB_PREFETCH(row_at(src, stride, idx, addr, i + PREFETCH_ROWS))
        memcpy(dst + i * nbytes, row_at(src, stride, idx, addr, i), nbytes)


cdef inline void take_large(const char *src, Py_ssize_t stride, const char *const *addr,
                            Py_ssize_t nbytes, const int64_t *idx, Py_ssize_t k,
                            char *dst) noexcept nogil:
    # Keep about PREFETCH_BYTES of rows in flight: the core tracks a limited number of
    # outstanding misses, and prefetches beyond that are dropped.
    cdef Py_ssize_t distance = max(2, PREFETCH_BYTES // nbytes)
    cdef Py_ssize_t i
    cdef Py_ssize_t ahead = k - distance
    for i in range(k):
        if i < ahead:
            fb_prefetch_bytes(row_at(src, stride, idx, addr, i + distance), <size_t>nbytes)
        memcpy(dst + i * nbytes, row_at(src, stride, idx, addr, i), <size_t>nbytes)


cdef inline void take_rows_from(const char *src, Py_ssize_t src_stride,
                                const char *const *addr, Py_ssize_t row_bytes,
                                const int64_t *idx, Py_ssize_t k, char *dst) noexcept nogil:
    if row_bytes == 1:
        take_fixed(src, src_stride, addr, 1, idx, k, dst)
    elif row_bytes == 2:
        take_fixed(src, src_stride, addr, 2, idx, k, dst)
    elif row_bytes == 4:
        take_fixed(src, src_stride, addr, 4, idx, k, dst)
    elif row_bytes == 8:
        take_fixed(src, src_stride, addr, 8, idx, k, dst)
    elif row_bytes == 16:
        take_fixed(src, src_stride, addr, 16, idx, k, dst)
    elif row_bytes == 32:
        take_fixed(src, src_stride, addr, 32, idx, k, dst)
    elif row_bytes == 64:
        take_fixed(src, src_stride, addr, 64, idx, k, dst)
    elif row_bytes <= CACHE_LINE:
        take_fixed(src, src_stride, addr, row_bytes, idx, k, dst)
    else:
        take_large(src, src_stride, addr, row_bytes, idx, k, dst)


cdef void take_rows(const char *src, Py_ssize_t src_stride, Py_ssize_t row_bytes,
                    const int64_t *idx, Py_ssize_t k, char *dst) noexcept nogil:
    take_rows_from(src, src_stride, NULL, row_bytes, idx, k, dst)


cdef void take_rows_at(const char *const *addr, Py_ssize_t row_bytes, Py_ssize_t k,
                       char *dst) noexcept nogil:
    take_rows_from(NULL, 0, addr, row_bytes, NULL, k, dst)


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
    const char *const *addr     # rows by address (then src, idx and strided are unused)
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


cdef void take_block(void *ctx, int64_t block, int t) noexcept nogil:
    cdef TakeTask *task = <TakeTask *>ctx
    cdef Py_ssize_t start = block * task.block_rows
    cdef Py_ssize_t count = min(task.block_rows, task.k - start)
    if task.addr != NULL:
        take_rows_at(task.addr + start, task.dst_row_bytes, count,
                     task.dst + start * task.dst_row_bytes)
    elif task.strided:
        take_rows_strided(task.src, task.src_stride, task.ncols, task.col_stride,
                          task.itemsize, task.idx + start, count,
                          task.dst + start * task.dst_row_bytes)
    else:
        take_rows(task.src, task.src_stride, task.dst_row_bytes, task.idx + start, count,
                  task.dst + start * task.dst_row_bytes)


cdef int take_threads(Py_ssize_t k, Py_ssize_t row_bytes) noexcept nogil:
    cdef Py_ssize_t by_size = k * row_bytes // TAKE_BYTES_PER_THREAD
    cdef int threads = num_threads()
    if by_size < threads:
        return max(<int>by_size, 1)
    return threads


cdef void take_parallel(TakeTask *task, int threads) noexcept nogil:
    # threads >= 2 implies rows of at least one byte (see take_threads).
    task.block_rows = max(1, TAKE_BLOCK_BYTES // task.dst_row_bytes)
    fb_parallel_for(threads, (task.k + task.block_rows - 1) // task.block_rows, take_block,
                    task, NULL, NULL)


cdef void fb_take_rows(const char *src, Py_ssize_t src_stride, Py_ssize_t row_bytes,
                       const int64_t *idx, Py_ssize_t k, char *dst) noexcept nogil:
    cdef int threads = take_threads(k, row_bytes)
    cdef TakeTask task
    if threads == 1:
        take_rows(src, src_stride, row_bytes, idx, k, dst)
        return
    task = TakeTask(src=src, addr=NULL, src_stride=src_stride, dst_row_bytes=row_bytes,
                    strided=False, ncols=0, col_stride=0, itemsize=0, idx=idx, k=k, dst=dst,
                    block_rows=0)
    take_parallel(&task, threads)


cdef void fb_take_rows_at(const char *const *addr, Py_ssize_t row_bytes, Py_ssize_t k,
                          char *dst) noexcept nogil:
    cdef int threads = take_threads(k, row_bytes)
    cdef TakeTask task
    if threads == 1:
        take_rows_at(addr, row_bytes, k, dst)
        return
    task = TakeTask(src=NULL, addr=addr, src_stride=0, dst_row_bytes=row_bytes,
                    strided=False, ncols=0, col_stride=0, itemsize=0, idx=NULL, k=k,
                    dst=dst, block_rows=0)
    take_parallel(&task, threads)


cdef void fb_take_rows_strided(const char *src, Py_ssize_t src_stride, Py_ssize_t ncols,
                               Py_ssize_t col_stride, Py_ssize_t itemsize,
                               const int64_t *idx, Py_ssize_t k, char *dst) noexcept nogil:
    cdef int threads = take_threads(k, ncols * itemsize)
    cdef TakeTask task
    if threads == 1:
        take_rows_strided(src, src_stride, ncols, col_stride, itemsize, idx, k, dst)
        return
    task = TakeTask(src=src, addr=NULL, src_stride=src_stride, dst_row_bytes=ncols * itemsize,
                    strided=True, ncols=ncols, col_stride=col_stride, itemsize=itemsize,
                    idx=idx, k=k, dst=dst, block_rows=0)
    take_parallel(&task, threads)


cdef bint make_plan(cnp.ndarray src, GatherPlan *plan) noexcept:
    cdef int nd = cnp.PyArray_NDIM(src)
    cdef cnp.npy_intp *shape = cnp.PyArray_DIMS(src)
    cdef cnp.npy_intp *strides = cnp.PyArray_STRIDES(src)
    cdef Py_ssize_t itemsize = cnp.PyArray_ITEMSIZE(src)
    cdef Py_ssize_t ncols = 1
    cdef Py_ssize_t expected = itemsize
    cdef bint contiguous = True
    cdef bint collapsible = True
    cdef int d
    for d in range(1, nd):
        ncols *= shape[d]
    plan.base = <const char *>cnp.PyArray_DATA(src)
    plan.stride = strides[0] if nd > 0 else 0
    plan.itemsize = itemsize
    plan.ncols = ncols
    plan.row_bytes = ncols * itemsize
    plan.col_stride = itemsize
    if ncols == 0 or itemsize == 0:
        plan.mode = GATHER_EMPTY
        return True
    # Rows are contiguous when the trailing dimensions are C-ordered (size-1 dims ignored).
    for d in range(nd - 1, 0, -1):
        if shape[d] != 1 and strides[d] != expected:
            contiguous = False
            break
        expected *= shape[d]
    if contiguous:
        plan.mode = GATHER_ROWS
        return True
    # Otherwise the trailing dimensions may still collapse into one strided axis.
    cdef Py_ssize_t inner = 0
    cdef bint found = False
    for d in range(nd - 1, 0, -1):
        if shape[d] == 1:
            continue
        if not found:
            inner = strides[d]
            expected = strides[d] * shape[d]
            found = True
        elif strides[d] != expected:
            collapsible = False
            break
        else:
            expected *= shape[d]
    if collapsible:
        plan.mode = GATHER_STRIDED
        plan.col_stride = inner
        return True
    return False


cdef void run_plan(const GatherPlan *plan, const int64_t *idx, Py_ssize_t k,
                   char *dst) noexcept nogil:
    if plan.mode == GATHER_ROWS:
        fb_take_rows(plan.base, plan.stride, plan.row_bytes, idx, k, dst)
    elif plan.mode == GATHER_STRIDED:
        fb_take_rows_strided(plan.base, plan.stride, plan.ncols, plan.col_stride,
                             plan.itemsize, idx, k, dst)


cdef void run_plan_serial(const GatherPlan *plan, const int64_t *idx, Py_ssize_t k,
                          char *dst) noexcept nogil:
    if plan.mode == GATHER_ROWS:
        take_rows(plan.base, plan.stride, plan.row_bytes, idx, k, dst)
    elif plan.mode == GATHER_STRIDED:
        take_rows_strided(plan.base, plan.stride, plan.ncols, plan.col_stride,
                          plan.itemsize, idx, k, dst)


def take_into(cnp.ndarray src, const int64_t[::1] idx, cnp.ndarray out):
    """``out[:] = src[idx]`` along axis 0; ``idx`` already validated and not overlapping
    ``out``, ``out`` C-contiguous.

    Runs in chunks of about TAKE_CHUNK_BYTES with a poll for Ctrl-C between them: a huge
    gather is interrupted within tens of milliseconds (``out`` then partly written).
    """
    cdef GatherPlan plan
    cdef Py_ssize_t k = idx.shape[0]
    cdef Py_ssize_t start = 0, stop, chunk, cost
    cdef int status = FB_OK
    cdef fb_interrupt intr
    if k == 0:
        return out
    if not make_plan(src, &plan):
        np.take(src, np.asarray(idx), axis=0, out=out)
        return out
    cdef char *dst = <char *>cnp.PyArray_DATA(out)
    # A row costs at least one cache miss whatever its size.
    cost = plan.row_bytes + CACHE_LINE
    chunk = max(1, TAKE_CHUNK_BYTES // cost)
    fb_interrupt_init(&intr, INTERRUPT_EVERY_BYTES)
    with nogil:
        while start < k:
            stop = min(start + chunk, k)
            run_plan(&plan, &idx[start], stop - start, dst + start * plan.row_bytes)
            status = fb_interrupt_poll(&intr, (stop - start) * cost)
            if status != FB_OK:
                break
            start = stop
    raise_for_status(status, &intr)
    return out
