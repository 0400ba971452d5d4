"""C-level kernels: bounded random integers, permutations and row gathers.

Everything here is ``noexcept nogil`` on pointers and lengths; the glue modules
(``_random``, ``_gather``, ``_iterator``) validate, hold locks and release the GIL.
"""
from libc.stdint cimport INT32_MAX, int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset
from numpy.random cimport bitgen_t

cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #  define FB_PREFETCH(p) __builtin_prefetch((const void *)(p), 0, 3)
    #else
    #  define FB_PREFETCH(p) ((void)(p))
    #endif
    static inline uint64_t fb_mul128(uint64_t a, uint64_t b, uint64_t *lo) {
        __uint128_t m = (__uint128_t)a * (__uint128_t)b;
        *lo = (uint64_t)m;
        return (uint64_t)(m >> 64);
    }
    """
    void FB_PREFETCH(const void *p) noexcept nogil
    uint64_t fb_mul128(uint64_t a, uint64_t b, uint64_t *lo) noexcept nogil


# ---------------------------------------------------------------------------------------
# Bounded random integers.


cdef inline uint64_t bounded64(bitgen_t *bitgen, uint64_t s) noexcept nogil:
    # The same method on 64-bit words with a 128-bit product.
    cdef uint64_t low
    cdef uint64_t high = fb_mul128(bitgen.next_uint64(bitgen.state), s, &low)
    cdef uint64_t threshold
    if low < s:
        threshold = (<uint64_t>0 - s) % s
        while low < threshold:
            high = fb_mul128(bitgen.next_uint64(bitgen.state), s, &low)
    return high


cdef uint64_t fb_random_bounded(bitgen_t *bitgen, uint64_t bound) noexcept nogil:
    return bounded64(bitgen, bound)


# ---------------------------------------------------------------------------------------
# Permutations.

ctypedef fused index_t:
    int32_t
    int64_t

cdef enum:
    # Up to SMALL_N elements the whole array stays in L2 and plain Fisher-Yates wins;
    # above it, Fisher-Yates' random swaps miss the cache on almost every step.
    SMALL_N = 1 << 16
    # The bucket shuffle aims for buckets of about BUCKET_BYTES, and shuffles a bucket
    # directly once it is at most LEAF_BYTES (it sits in L2, 2 MiB here); only larger
    # buckets (n above ~2**25) are split again.  Measured on this project's machine.
    BUCKET_BYTES = 1 << 16
    LEAF_BYTES = 1 << 19
    # int64 permutations of at least this many elements are built as int32 and widened.
    NARROW_MIN = 1 << 21
    # At most 256 buckets per level: every stream's current cache line stays in L1.
    MAX_BUCKET_BITS = 8
    MAX_BUCKETS = 1 << MAX_BUCKET_BITS
    # Bucket sizes are computed for 8-byte items whatever the index type, so int32 and
    # int64 results draw the same random numbers and agree for the same seed.
    KEY_BYTES = 8


cdef inline int batch_for(uint64_t max_bound) noexcept nogil:
    # How many bounded draws one 64-bit word can serve: the product of the bounds must stay
    # below 2**64 (see draw_batch).
    if max_bound <= (1 << 12):
        return 5
    if max_bound < (1 << 16):
        return 4
    if max_bound <= (1 << 21):
        return 3
    if max_bound < (<uint64_t>1 << 32):
        return 2
    return 1


cdef inline void draw_batch(bitgen_t *bitgen, uint64_t *bounds, int k,
                            uint64_t *out) noexcept nogil:
    # Batched ranged random integers (Brackett-Rozinsky & Lemire, 2024): k uniform draws,
    # out[m] in [0, bounds[m]), from one 64-bit word x.  Multiplying through,
    #     x * b_0 * ... * b_{k-1} = R * 2**64 + low,
    # where R = mixed-radix number (out[0], ..., out[k-1]) in [0, P), P = prod(bounds).
    # This is Lemire's method for the single bound P: rejecting low < 2**64 mod P makes R
    # exactly uniform on [0, P), hence its digits independent and uniform.
    cdef uint64_t product = bounds[0]
    cdef uint64_t x, low, threshold
    cdef int m
    for m in range(1, k):
        product *= bounds[m]
    while True:
        x = bitgen.next_uint64(bitgen.state)
        for m in range(k):
            out[m] = fb_mul128(x, bounds[m], &low)
            x = low
        if low >= product:
            return
        threshold = (<uint64_t>0 - product) % product
        if low >= threshold:
            return


cdef inline void shuffle_inplace(bitgen_t *bitgen, index_t *a, int64_t n) noexcept nogil:
    # Durstenfeld's Fisher-Yates: a[i] swaps with a uniform a[j], j <= i, from the top
    # down; the j for several consecutive i come from one random word.
    cdef int64_t i = n - 1
    cdef int k, m
    cdef uint64_t bounds[5]
    cdef uint64_t js[5]
    cdef index_t t
    cdef int64_t j
    while i > 0:
        k = batch_for(<uint64_t>(i + 1))
        if k > i:
            k = <int>i
        for m in range(k):
            bounds[m] = <uint64_t>(i + 1 - m)
        draw_batch(bitgen, bounds, k, js)
        for m in range(k):
            j = <int64_t>js[m]
            t = a[i]; a[i] = a[j]; a[j] = t
            i -= 1


cdef inline void permutation_small(bitgen_t *bitgen, index_t *out, int64_t n) noexcept nogil:
    # "Inside-out" Fisher-Yates: builds the permutation of 0..n-1 in one pass, no init;
    # step i places i at a uniform j <= i.  Draws are batched as in shuffle_inplace.
    cdef int64_t i = 1
    cdef int k, m
    cdef uint64_t bounds[5]
    cdef uint64_t js[5]
    cdef int64_t j
    if n <= 0:
        return
    out[0] = 0
    while i < n:
        k = batch_for(<uint64_t>(i + 5))
        if k > n - i:
            k = <int>(n - i)
        for m in range(k):
            bounds[m] = <uint64_t>(i + 1 + m)
        draw_batch(bitgen, bounds, k, js)
        for m in range(k):
            j = <int64_t>js[m]
            out[i] = out[j]
            out[j] = <index_t>i
            i += 1


cdef inline int bucket_bits(int64_t n, Py_ssize_t itemsize, int64_t bucket_bytes) noexcept nogil:
    # Enough buckets (at most 2**MAX_BUCKET_BITS) to cut n items into buckets of about
    # bucket_bytes.
    cdef int bits = 1
    while bits < MAX_BUCKET_BITS and (n >> bits) * itemsize > bucket_bytes:
        bits += 1
    return bits


cdef inline void draw_bucket_ids(bitgen_t *bitgen, uint8_t *ids, int64_t n, int bits,
                                 int64_t *counts) noexcept nogil:
    # Buckets are whole bit fields of 64-bit words: the bucket count is a power of two,
    # so every field is exactly uniform.  Fields are 8 bits apart (bits <= 8), 8 per
    # word, so the loop over a word unrolls; two count tables, merged at the end, keep
    # consecutive increments of the same bucket from waiting on each other.
    cdef uint64_t mask = ((<uint64_t>1) << bits) - 1
    cdef int64_t i = 0, b
    cdef uint64_t word
    cdef int f
    cdef int64_t other[MAX_BUCKETS]
    memset(other, 0, sizeof(other))
    while i + 8 <= n:
        word = bitgen.next_uint64(bitgen.state)
        for f in range(0, 8, 2):
            b = <int64_t>((word >> (8 * f)) & mask)
            ids[i + f] = <uint8_t>b
            counts[b] += 1
            b = <int64_t>((word >> (8 * f + 8)) & mask)
            ids[i + f + 1] = <uint8_t>b
            other[b] += 1
        i += 8
    if i < n:
        word = bitgen.next_uint64(bitgen.state)
        while i < n:
            b = <int64_t>(word & mask)
            word >>= 8
            ids[i] = <uint8_t>b
            counts[b] += 1
            i += 1
    for b in range(1 << bits):
        counts[b] += other[b]


cdef inline void starts_from_counts(int64_t *counts, int64_t n_buckets) noexcept nogil:
    # counts[b] becomes the start of bucket b (an exclusive prefix sum).
    cdef int64_t b, total = 0, c
    for b in range(n_buckets):
        c = counts[b]
        counts[b] = total
        total += c


cdef void shuffle_buckets(bitgen_t *bitgen, index_t *a, int64_t n, index_t *tmp,
                          uint8_t *ids, int64_t bucket_bytes,
                          int64_t leaf_bytes) noexcept nogil:
    # Uniform in-place shuffle of a[0:n] by recursive bucketing (see permutation_buckets);
    # tmp and ids hold at least n items.  Each level scatters into at most 256 streams,
    # few enough that every stream's current cache line stays in L1.
    if n * KEY_BYTES <= leaf_bytes:
        shuffle_inplace(bitgen, a, n)
        return
    cdef int bits = bucket_bits(n, KEY_BYTES, bucket_bytes)
    cdef int64_t n_buckets = (<int64_t>1) << bits
    cdef int64_t offsets[MAX_BUCKETS + 1]
    cdef int64_t i, b, start
    memset(offsets, 0, sizeof(offsets))
    draw_bucket_ids(bitgen, ids, n, bits, offsets)
    starts_from_counts(offsets, n_buckets)
    memcpy(tmp, a, <size_t>n * sizeof(index_t))
    for i in range(n):
        b = ids[i]
        a[offsets[b]] = tmp[i]
        offsets[b] += 1
    start = 0
    for b in range(n_buckets):
        shuffle_buckets(bitgen, a + start, offsets[b] - start, tmp, ids, bucket_bytes,
                        leaf_bytes)
        start = offsets[b]


cdef int permutation_buckets(bitgen_t *bitgen, index_t *out, int64_t n,
                             int64_t bucket_bytes, int64_t leaf_bytes) noexcept nogil:
    # Rao-Sandelius shuffle: the cache-friendly, exactly uniform algorithm for large n.
    #   1. Every value i gets a bucket drawn uniformly and independently from K = 2**bits
    #      buckets; values are scattered, in order, into their bucket's segment of `out`.
    #   2. Every bucket is shuffled uniformly (recursively, until it fits in L1, where
    #      Fisher-Yates runs).
    # Why the result is exactly uniform: fix any target permutation p. Given the bucket
    # sizes (n_1..n_K), p arises from exactly one assignment of values to buckets (the
    # values p puts in bucket b's segment), whose probability given the sizes is
    # prod(n_b!) / n!, times exactly one within-bucket order per bucket, probability
    # prod(1 / n_b!) when each bucket's shuffle is uniform. The product is 1/n! whatever
    # the sizes, so P(p) = 1/n!; by induction this holds at every level of recursion.
    cdef int bits = bucket_bits(n, KEY_BYTES, bucket_bytes)
    cdef int64_t n_buckets = (<int64_t>1) << bits
    cdef int64_t offsets[MAX_BUCKETS + 1]
    cdef int64_t i, b, start, largest = 0
    cdef uint8_t *ids = <uint8_t *>malloc(<size_t>n)
    cdef index_t *tmp
    if ids == NULL:
        return FB_ENOMEM
    memset(offsets, 0, sizeof(offsets))
    draw_bucket_ids(bitgen, ids, n, bits, offsets)
    for b in range(n_buckets):
        if offsets[b] > largest:
            largest = offsets[b]
    starts_from_counts(offsets, n_buckets)
    for i in range(n):
        b = ids[i]
        out[offsets[b]] = <index_t>i
        offsets[b] += 1
    tmp = <index_t *>malloc(<size_t>max(largest, 1) * sizeof(index_t))
    if tmp == NULL:
        free(ids)
        return FB_ENOMEM
    start = 0
    for b in range(n_buckets):
        shuffle_buckets(bitgen, out + start, offsets[b] - start, tmp, ids, bucket_bytes,
                        leaf_bytes)
        start = offsets[b]
    free(tmp)
    free(ids)
    return FB_OK


cdef inline int permutation_impl(bitgen_t *bitgen, index_t *out, int64_t n) noexcept nogil:
    if n <= SMALL_N:
        permutation_small(bitgen, out, n)
        return 0
    return permutation_buckets(bitgen, out, n, BUCKET_BYTES, LEAF_BYTES)


cdef int fb_permutation_int64(bitgen_t *bitgen, int64_t *out, int64_t n) noexcept nogil:
    # Large permutations are memory-bound: shuffle 4-byte indices (half the traffic of
    # the scatter and bucket passes) and widen them in one sequential pass.  Same random
    # draws, so the result equals the int32 one for the same seed.  Below NARROW_MIN the
    # data stays in cache anyway and the extra buffer only costs page faults.
    cdef int32_t *narrow
    cdef int64_t i
    cdef int status
    if n < NARROW_MIN or n > INT32_MAX:
        return permutation_impl(bitgen, out, n)
    narrow = <int32_t *>malloc(<size_t>n * sizeof(int32_t))
    if narrow == NULL:
        return permutation_impl(bitgen, out, n)
    status = permutation_impl(bitgen, narrow, n)
    if status == FB_OK:
        for i in range(n):
            out[i] = narrow[i]
    free(narrow)
    return status


cdef int fb_permutation_int32(bitgen_t *bitgen, int32_t *out, int64_t n) noexcept nogil:
    return permutation_impl(bitgen, out, n)


cdef void fb_shuffle_int64(bitgen_t *bitgen, int64_t *a, int64_t n) noexcept nogil:
    shuffle_inplace(bitgen, a, n)


# ---------------------------------------------------------------------------------------
# Row gathers.  A random row read is a cache miss; prefetching a few rows ahead keeps
# several misses in flight, which is what lets a gather approach memory bandwidth.

cdef enum:
    PREFETCH_ROWS = 16
    PREFETCH_BYTES = 8192
    CACHE_LINE = 64


cdef inline void take_fixed(const char *src, Py_ssize_t stride, const Py_ssize_t nbytes,
                            const int64_t *idx, Py_ssize_t k, char *dst) noexcept nogil:
    # nbytes is a compile-time constant at every call site, so memcpy becomes a few moves.
    cdef Py_ssize_t i
    cdef Py_ssize_t ahead = k - PREFETCH_ROWS
    for i in range(k):
        if i < ahead:
            FB_PREFETCH(src + idx[i + PREFETCH_ROWS] * stride)
        memcpy(dst + i * nbytes, src + idx[i] * stride, nbytes)


cdef inline void take_large(const char *src, Py_ssize_t stride, Py_ssize_t nbytes,
                            const int64_t *idx, Py_ssize_t k, char *dst) noexcept nogil:
    # Keep about PREFETCH_BYTES of rows in flight: the core tracks a limited number of
    # outstanding misses, and prefetches beyond that are dropped.
    cdef Py_ssize_t distance = max(2, PREFETCH_BYTES // nbytes)
    cdef Py_ssize_t i, off
    cdef Py_ssize_t ahead = k - distance
    cdef const char *row
    for i in range(k):
        if i < ahead:
            row = src + idx[i + distance] * stride
            off = 0
            while off < nbytes:
                FB_PREFETCH(row + off)
                off += CACHE_LINE
        memcpy(dst + i * nbytes, src + idx[i] * stride, <size_t>nbytes)


cdef void fb_take_rows(const char *src, Py_ssize_t src_stride, Py_ssize_t row_bytes,
                       const int64_t *idx, Py_ssize_t k, char *dst) noexcept nogil:
    if row_bytes == 4:
        take_fixed(src, src_stride, 4, idx, k, dst)
    elif row_bytes == 8:
        take_fixed(src, src_stride, 8, idx, k, dst)
    elif row_bytes == 16:
        take_fixed(src, src_stride, 16, idx, k, dst)
    elif row_bytes == 32:
        take_fixed(src, src_stride, 32, idx, k, dst)
    elif row_bytes == 64:
        take_fixed(src, src_stride, 64, idx, k, dst)
    elif row_bytes <= CACHE_LINE:
        take_fixed(src, src_stride, row_bytes, idx, k, dst)
    else:
        take_large(src, src_stride, row_bytes, idx, k, dst)


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


cdef void fb_take_rows_strided(const char *src, Py_ssize_t src_stride, Py_ssize_t ncols,
                               Py_ssize_t col_stride, Py_ssize_t itemsize,
                               const int64_t *idx, Py_ssize_t k, char *dst) noexcept nogil:
    if itemsize == 4:
        take_strided_fixed(src, src_stride, ncols, col_stride, 4, idx, k, dst)
    elif itemsize == 8:
        take_strided_fixed(src, src_stride, ncols, col_stride, 8, idx, k, dst)
    else:
        take_strided_fixed(src, src_stride, ncols, col_stride, itemsize, idx, k, dst)


cdef int permutation_buckets_int64(bitgen_t *bitgen, int64_t *out, int64_t n,
                                   int64_t bucket_bytes) noexcept nogil:
    # The large-n algorithm at any n and bucket size, for tests (see _random._buckets_py).
    return permutation_buckets(bitgen, out, n, bucket_bytes, bucket_bytes)
