/* FB_PREFETCH: the one read prefetch of fastbatch's kernels (row gathers, Arrow columns,
 * the linear-regression row loops, the benchmark's bare reads).  A random row read is a
 * cache miss; asking for rows a few ahead keeps several misses in flight, which is what
 * lets a gather approach the memory's bandwidth.  fb_prefetch_bytes asks for every cache
 * line of a row longer than one.
 */
#ifndef FB_PREFETCH_H
#define FB_PREFETCH_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#  define FB_PREFETCH(p) __builtin_prefetch((const void *)(p), 0, 3)
#else
#  define FB_PREFETCH(p) ((void)(p))
#endif

#define FB_CACHE_LINE 64

/* Every cache line of the bytes [p, p + nbytes). */
static inline void fb_prefetch_bytes(const void *p, size_t nbytes)
{
    uintptr_t line = (uintptr_t)p & ~(uintptr_t)(FB_CACHE_LINE - 1);
    uintptr_t end = (uintptr_t)p + nbytes;
    for (; line < end; line += FB_CACHE_LINE)
        FB_PREFETCH((const void *)line);
}

#endif
