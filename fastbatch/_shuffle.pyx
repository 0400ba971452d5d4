"""Bounded random integers and exact permutations, drawn from a numpy bit generator.

The C kernels are ``noexcept nogil`` on pointers and lengths; the Python entry points below
them (``permutation_into`` and the ``_*_py`` test hooks) check, hold the bit generator's
lock and release the GIL.
"""
from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_IsValid
from libc.stdint cimport INT32_MAX, int32_t, int64_t, uint8_t, uint64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset
from numpy.random cimport bitgen_t

from fastbatch._status cimport (
    FB_ENOMEM, FB_OK, fb_interrupt, fb_interrupt_init, fb_interrupt_poll, raise_for_status,
)

import numpy as np

cdef extern from *:
    """
    static inline uint64_t fb_mul128(uint64_t a, uint64_t b, uint64_t *lo) {
        __uint128_t m = (__uint128_t)a * (__uint128_t)b;
        *lo = (uint64_t)m;
        return (uint64_t)(m >> 64);
    }
    """
    uint64_t fb_mul128(uint64_t a, uint64_t b, uint64_t *lo) noexcept nogil


# ---------------------------------------------------------------------------------------
# Bounded random integers.

cdef uint64_t fb_random_bounded(bitgen_t *bitgen, uint64_t bound) noexcept nogil:
    # Lemire's nearly divisionless method on 64-bit words with a 128-bit product.
    cdef uint64_t low
    cdef uint64_t high = fb_mul128(bitgen.next_uint64(bitgen.state), bound, &low)
    cdef uint64_t threshold
    if low < bound:
        threshold = (<uint64_t>0 - bound) % bound
        while low < threshold:
            high = fb_mul128(bitgen.next_uint64(bitgen.state), bound, &low)
    return high


# ---------------------------------------------------------------------------------------
# Permutations.

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
    # The passes over all n items run in chunks of CHUNK items, with a poll for Ctrl-C
    # between chunks; a multiple of 8, so chunked bucket draws consume the random stream
    # exactly as one pass does (draw_bucket_ids takes 8 ids per word).
    CHUNK = 1 << 20
    # Items moved between two looks at the signal handlers: tens of milliseconds.
    INTERRUPT_EVERY = 1 << 22


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


cdef int shuffle_buckets(bitgen_t *bitgen, index_t *a, int64_t n, index_t *tmp,
                         uint8_t *ids, int64_t bucket_bytes, int64_t leaf_bytes,
                         fb_interrupt *intr) noexcept nogil:
    # Uniform in-place shuffle of a[0:n] by recursive bucketing (see permutation_buckets);
    # tmp and ids hold at least n items.  Each level scatters into at most 256 streams,
    # few enough that every stream's current cache line stays in L1.  Polls intr after
    # every bucket (not inside the leaf: that slows Fisher-Yates): FB_OK or FB_EINTR.
    if n * KEY_BYTES <= leaf_bytes:
        shuffle_inplace(bitgen, a, n)
        return FB_OK
    cdef int bits = bucket_bits(n, KEY_BYTES, bucket_bytes)
    cdef int64_t n_buckets = (<int64_t>1) << bits
    cdef int64_t offsets[MAX_BUCKETS + 1]
    cdef int64_t i, b, start
    cdef int status
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
        status = shuffle_buckets(bitgen, a + start, offsets[b] - start, tmp, ids,
                                 bucket_bytes, leaf_bytes, intr)
        if status == FB_OK:
            status = fb_interrupt_poll(intr, offsets[b] - start)
        if status != FB_OK:
            return status
        start = offsets[b]
    return FB_OK


cdef int first_pass(bitgen_t *bitgen, index_t *out, int64_t n, uint8_t *ids, int bits,
                    int64_t *ends, fb_interrupt *intr) noexcept nogil:
    # Step 1 of permutation_buckets, in chunks with a poll between them: every value
    # gets its bucket, then goes, in order, to its bucket's segment of out.  On return,
    # ends[b] is the end of bucket b.  The offsets live in a local array: through a
    # pointer the compiler would have to assume the stores into out may change them.
    cdef int64_t offsets[MAX_BUCKETS + 1]
    cdef int64_t start, stop, i, b
    cdef int64_t n_buckets = (<int64_t>1) << bits
    cdef int status
    memset(offsets, 0, sizeof(offsets))
    start = 0
    while start < n:
        stop = min(start + CHUNK, n)
        draw_bucket_ids(bitgen, ids + start, stop - start, bits, offsets)
        status = fb_interrupt_poll(intr, stop - start)
        if status != FB_OK:
            return status
        start = stop
    starts_from_counts(offsets, n_buckets)
    start = 0
    while start < n:
        stop = min(start + CHUNK, n)
        for i in range(start, stop):
            b = ids[i]
            out[offsets[b]] = <index_t>i
            offsets[b] += 1
        status = fb_interrupt_poll(intr, stop - start)
        if status != FB_OK:
            return status
        start = stop
    memcpy(ends, offsets, sizeof(offsets))
    return FB_OK


cdef int permutation_buckets(bitgen_t *bitgen, index_t *out, int64_t n,
                             int64_t bucket_bytes, int64_t leaf_bytes,
                             fb_interrupt *intr) noexcept nogil:
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
    cdef int64_t b, start, largest = 0
    cdef int status
    cdef uint8_t *ids = <uint8_t *>malloc(<size_t>n)
    cdef index_t *tmp
    if ids == NULL:
        return FB_ENOMEM
    status = first_pass(bitgen, out, n, ids, bits, offsets, intr)
    if status != FB_OK:
        free(ids)
        return status
    start = 0
    for b in range(n_buckets):
        largest = max(largest, offsets[b] - start)
        start = offsets[b]
    tmp = <index_t *>malloc(<size_t>max(largest, 1) * sizeof(index_t))
    if tmp == NULL:
        free(ids)
        return FB_ENOMEM
    start = 0
    for b in range(n_buckets):
        status = shuffle_buckets(bitgen, out + start, offsets[b] - start, tmp, ids,
                                 bucket_bytes, leaf_bytes, intr)
        if status == FB_OK:
            status = fb_interrupt_poll(intr, offsets[b] - start)
        if status != FB_OK:
            break
        start = offsets[b]
    free(tmp)
    free(ids)
    return status


cdef inline int permutation_impl(bitgen_t *bitgen, index_t *out, int64_t n,
                                 fb_interrupt *intr) noexcept nogil:
    if n <= SMALL_N:
        permutation_small(bitgen, out, n)
        return FB_OK
    return permutation_buckets(bitgen, out, n, BUCKET_BYTES, LEAF_BYTES, intr)


cdef int permutation_widened(bitgen_t *bitgen, int64_t *out, int64_t n,
                             fb_interrupt *intr) noexcept nogil:
    # Large int64 permutations are memory-bound: shuffle 4-byte indices (half the traffic
    # of the scatter and bucket passes) and widen them in one sequential pass.  Same
    # random draws, so the result equals the int32 one for the same seed.
    cdef int32_t *narrow = <int32_t *>malloc(<size_t>n * sizeof(int32_t))
    cdef int64_t start = 0, stop, i
    cdef int status
    if narrow == NULL:
        return permutation_impl(bitgen, out, n, intr)
    status = permutation_impl(bitgen, narrow, n, intr)
    while status == FB_OK and start < n:
        stop = min(start + CHUNK, n)
        for i in range(start, stop):
            out[i] = narrow[i]
        status = fb_interrupt_poll(intr, stop - start)
        start = stop
    free(narrow)
    return status


cdef int permutation_any(bitgen_t *bitgen, index_t *out, int64_t n,
                         fb_interrupt *intr) noexcept nogil:
    # Below NARROW_MIN the data stays in cache anyway and the narrow buffer of
    # permutation_widened would only cost page faults.
    if index_t is int64_t:
        if NARROW_MIN <= n <= INT32_MAX:
            return permutation_widened(bitgen, out, n, intr)
    return permutation_impl(bitgen, out, n, intr)


cdef int fb_permutation_int64(bitgen_t *bitgen, int64_t *out, int64_t n) noexcept nogil:
    return permutation_any(bitgen, out, n, NULL)


cdef int fb_permutation_int32(bitgen_t *bitgen, int32_t *out, int64_t n) noexcept nogil:
    return permutation_any(bitgen, out, n, NULL)




# ---------------------------------------------------------------------------------------
# Python entry points.

cdef const char *CAPSULE_NAME = "BitGenerator"


cdef bitgen_t *bitgen_of(object bit_generator) except NULL:
    capsule = bit_generator.capsule
    if not PyCapsule_IsValid(capsule, CAPSULE_NAME):
        raise ValueError(f"{bit_generator!r} does not expose a valid BitGenerator capsule")
    return <bitgen_t *>PyCapsule_GetPointer(capsule, CAPSULE_NAME)


def permutation_into(object bit_generator, index_t[::1] out):
    """Fill ``out`` (int32 or int64, contiguous) with a uniform permutation of its range.

    Ctrl-C (any exception a signal handler raises) interrupts it within tens of
    milliseconds; ``out`` then holds no permutation.
    """
    cdef bitgen_t *bitgen = bitgen_of(bit_generator)
    cdef int64_t n = out.shape[0]
    cdef int status
    cdef fb_interrupt intr
    if n == 0:
        return
    fb_interrupt_init(&intr, INTERRUPT_EVERY)
    with bit_generator.lock, nogil:
        status = permutation_any(bitgen, &out[0], n, &intr)
    raise_for_status(status, &intr)


def _bounded_py(object bit_generator, uint64_t bound, Py_ssize_t size):
    """Test hook: ``size`` draws of the bounded-integer kernel on [0, bound)."""
    if bound < 1:
        raise ValueError(f"bound must be >= 1, got {bound}")
    cdef bitgen_t *bitgen = bitgen_of(bit_generator)
    result = np.empty(size, dtype=np.uint64)
    cdef uint64_t[::1] out = result
    cdef Py_ssize_t i
    with bit_generator.lock, nogil:
        for i in range(size):
            out[i] = fb_random_bounded(bitgen, bound)
    return result


def _shuffle_py(object bit_generator, int64_t[::1] a):
    """Test hook: in-place Fisher-Yates shuffle of ``a``."""
    cdef bitgen_t *bitgen = bitgen_of(bit_generator)
    if a.shape[0] == 0:
        return
    with bit_generator.lock, nogil:
        shuffle_inplace(bitgen, &a[0], a.shape[0])


def _buckets_py(object bit_generator, int64_t[::1] out, int64_t bucket_bytes):
    """Test hook: the large-n (bucket) permutation at any size and bucket size."""
    cdef bitgen_t *bitgen = bitgen_of(bit_generator)
    cdef int status
    if bucket_bytes < 8:
        raise ValueError(f"bucket_bytes must be >= 8, got {bucket_bytes}")
    if out.shape[0] == 0:
        return
    with bit_generator.lock, nogil:
        status = permutation_buckets(bitgen, &out[0], out.shape[0], bucket_bytes,
                                     bucket_bytes, NULL)
    raise_for_status(status, NULL)
