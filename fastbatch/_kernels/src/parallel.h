/* Run one function on several threads: the only threading primitive of fastbatch's kernels.
 *
 * Why plain POSIX threads and not OpenMP: fastbatch runs inside data pipelines that fork
 * (torch DataLoader workers, multiprocessing).  GNU OpenMP's thread pool does not survive
 * a fork (a child that enters a parallel region hangs), and a process that already
 * loaded another OpenMP runtime (PyTorch ships its own) can end up with two.  Threads
 * created per call and joined before it returns leave nothing behind: no pool, no state
 * across fork, no thread alive after an exception.  Creating a thread costs ~20-50 us, so
 * callers only go parallel for work of a millisecond or more (each caller documents its
 * threshold).  Without pthreads (FB_NO_THREADS) everything runs on the calling thread.
 *
 * fb_parallel_run(n, fn, ctx) calls fn(ctx, t, n) for t = 0 .. n-1, t = 0 on the calling
 * thread, and returns when all have returned.  fb_parallel_for runs a body over items
 * that the threads claim one by one.  Work is split by t only, never by timing,
 * so results cannot depend on scheduling.  If a thread cannot be created, its share runs
 * on the calling thread afterwards: fewer threads, same result.
 */
#ifndef FB_PARALLEL_H
#define FB_PARALLEL_H

#include <stddef.h>
#include <stdint.h>

#if !defined(FB_NO_THREADS) && (defined(__unix__) || defined(__APPLE__))
#  include <pthread.h>
#  define FB_HAVE_THREADS 1
#else
#  define FB_HAVE_THREADS 0
#endif

#define FB_MAX_THREADS 256

typedef void (*fb_task_fn)(void *ctx, int t, int n);

typedef struct {
    fb_task_fn fn;
    void *ctx;
    int t;
    int n;
} fb_task;

#if FB_HAVE_THREADS
static inline void *fb_parallel_trampoline(void *arg)
{
    fb_task *task = (fb_task *)arg;
    task->fn(task->ctx, task->t, task->n);
    return NULL;
}
#endif

static inline void fb_parallel_run(int n, fb_task_fn fn, void *ctx)
{
#if FB_HAVE_THREADS
    pthread_t threads[FB_MAX_THREADS];
    fb_task tasks[FB_MAX_THREADS];
    int started[FB_MAX_THREADS];
    int t;
    if (n > FB_MAX_THREADS)
        n = FB_MAX_THREADS;
    if (n <= 1) {
        fn(ctx, 0, 1);
        return;
    }
    for (t = 1; t < n; t++) {
        tasks[t].fn = fn;
        tasks[t].ctx = ctx;
        tasks[t].t = t;
        tasks[t].n = n;
        started[t] = pthread_create(&threads[t], NULL, fb_parallel_trampoline,
                                    &tasks[t]) == 0;
    }
    fn(ctx, 0, n);
    for (t = 1; t < n; t++) {
        if (started[t])
            pthread_join(threads[t], NULL);
        else
            fn(ctx, t, n);
    }
#else
    int t;
    for (t = 0; t < n; t++)
        fn(ctx, t, n);
#endif
}

/* ---- A parallel loop over items ---------------------------------------------------- */

typedef void (*fb_item_fn)(void *ctx, int64_t item, int t);
/* Asked before every claim, on every thread t: nonzero means claim no more items. */
typedef int (*fb_stop_fn)(void *ctx, int t);

typedef struct {
    fb_item_fn body;
    void *ctx;
    int64_t count;
    int64_t next;        /* the next unclaimed item (atomic) */
    fb_stop_fn stop;
    void *stop_ctx;
} fb_item_loop;

static inline void fb_item_loop_task(void *arg, int t, int n)
{
    fb_item_loop *loop = (fb_item_loop *)arg;
    int64_t item;
    (void)n;
    while (loop->stop == NULL || !loop->stop(loop->stop_ctx, t)) {
        item = __atomic_fetch_add(&loop->next, 1, __ATOMIC_RELAXED);
        if (item >= loop->count)
            return;
        loop->body(loop->ctx, item, t);
    }
}

/* body(ctx, item, t) for every item < count, on up to `threads` threads (t says which,
 * for per-thread scratch), until stop (may be NULL) says otherwise.  Items are claimed
 * dynamically: on a shared machine the thread the OS starts late does fewer, and the
 * caller's work must not depend on which thread ran an item. */
static inline void fb_parallel_for(int threads, int64_t count, fb_item_fn body, void *ctx,
                                   fb_stop_fn stop, void *stop_ctx)
{
    fb_item_loop loop;
    loop.body = body;
    loop.ctx = ctx;
    loop.count = count;
    loop.next = 0;
    loop.stop = stop;
    loop.stop_ctx = stop_ctx;
    if ((int64_t)threads > count)
        threads = (int)count;
    fb_parallel_run(threads < 1 ? 1 : threads, fb_item_loop_task, &loop);
}

#endif
