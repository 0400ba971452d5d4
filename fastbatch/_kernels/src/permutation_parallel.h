/* A parallel loop with an interrupt check, for the permutation kernels (included by
 * permutation.h), on top of fb_parallel_for (parallel.h).  Returns the status codes of
 * fastbatch/_kernels/status.pxd, whose C block the including module carries.
 */
#ifndef FB_PERMUTATION_PARALLEL_H
#define FB_PERMUTATION_PARALLEL_H

#include <stdint.h>
#include <time.h>

#include "parallel.h"

#ifndef FB_STATUS_CODES
#  error "the status codes come from fastbatch/_kernels/status.pxd: cimport it first"
#endif

/* How often the calling thread runs the interrupt check. */
#define FB_PERM_CHECK_NS 50000000

/* ---- Interrupts ------------------------------------------------------------------- */

/* Called on the calling thread only; nonzero means stop (e.g. a KeyboardInterrupt is
 * pending).  NULL: never interrupted. */
typedef int (*fb_perm_check_fn)(void *ctx);

typedef struct {
    fb_perm_check_fn check;
    void *ctx;
    int stop;            /* set once by thread 0, read by all (atomic) */
    int64_t last_ns;     /* thread 0 only */
} fb_perm_interrupt;

static inline int64_t fb_perm_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void fb_perm_interrupt_init(fb_perm_interrupt *in, fb_perm_check_fn check,
                                   void *ctx)
{
    in->check = check;
    in->ctx = ctx;
    in->stop = 0;
    in->last_ns = check != NULL ? fb_perm_now_ns() : 0;
}

/* Whether the work should stop; thread 0 runs the check when it is due. */
static int fb_perm_stopped(fb_perm_interrupt *in, int t)
{
    int64_t now;
    if (t == 0 && in->check != NULL) {
        now = fb_perm_now_ns();
        if (now - in->last_ns >= FB_PERM_CHECK_NS) {
            in->last_ns = now;
            if (in->check(in->ctx))
                __atomic_store_n(&in->stop, 1, __ATOMIC_RELAXED);
        }
    }
    return __atomic_load_n(&in->stop, __ATOMIC_RELAXED);
}

/* ---- A parallel loop over work items ---------------------------------------------- */

typedef fb_item_fn fb_perm_item_fn;

static int fb_perm_stop(void *interrupt, int t)
{
    return fb_perm_stopped((fb_perm_interrupt *)interrupt, t);
}

/* body(ctx, item, t) for every item < count on up to `threads` threads (fb_parallel_for:
 * items claimed dynamically, no item's result depends on which thread ran it), stopping
 * early once the interrupt check fires. */
static int fb_perm_for(int threads, int64_t count, fb_perm_item_fn body, void *ctx,
                       fb_perm_interrupt *interrupt)
{
    fb_parallel_for(threads, count, body, ctx, fb_perm_stop, interrupt);
    return __atomic_load_n(&interrupt->stop, __ATOMIC_RELAXED) ? FB_EINTR : FB_OK;
}

#endif
