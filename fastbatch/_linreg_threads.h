/* Helper threads of the linear-regression kernels (included by _linreg.pyx).
 *
 * Two shapes of parallel work, both assigning work by index, never by which thread is
 * free, so a result never depends on the number of threads:
 *   fb_pipeline  chunks 0..n-1 are produced by helper threads (chunk c by helper
 *                c % helpers) into a ring of slots and consumed in order by the caller;
 *   fb_parallel  blocks 0..n-1 run on `threads` threads (block b on thread b % threads).
 * POSIX threads are used when the build finds <pthread.h> (define FB_NO_THREADS to build
 * without); otherwise, or when a thread cannot be started, the caller does all the work.
 * Waiting spins briefly (the other side is usually microseconds away), then sleeps on a
 * condition variable, so a descheduled partner on a busy machine costs no CPU.
 */
#ifndef FB_LINREG_THREADS_H
#define FB_LINREG_THREADS_H

#include <stddef.h>
#include <time.h>

#if !defined(FB_NO_THREADS) && defined(__has_include)
#  if __has_include(<pthread.h>)
#    include <pthread.h>
#    define FB_THREADS 1
#  endif
#endif

#define FB_MAX_THREADS 64
#define FB_SPIN 2000

/* A task: returns 0, or a nonzero status that stops the whole run. */
typedef int (*fb_task_fn)(void *ctx, ptrdiff_t index, int thread);

static inline long long fb_clock_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static inline int fb_load_flag(const int *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline void fb_store_flag(int *p, int v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }

static inline void fb_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

#ifdef FB_THREADS

typedef struct {
    fb_task_fn produce, consume;
    void *ctx;
    ptrdiff_t n;
    int helpers, n_slots;
    ptrdiff_t consumed;         /* chunks the caller has finished with */
    ptrdiff_t *ready;           /* ready[slot] = 1 + the chunk it holds */
    int stop, waiters;
    pthread_mutex_t lock;
    pthread_cond_t cond;
} fb_pipe;

typedef struct {
    fb_pipe *pipe;
    int helper;
} fb_pipe_helper;

/* Wait until *counter >= target or the run stops.  The sequentially consistent order of
 * "waiters++ then read counter" here and "write counter then read waiters" in
 * fb_pipe_wake means one of the two sides always sees the other. */
static void fb_pipe_wait(fb_pipe *p, const ptrdiff_t *counter, ptrdiff_t target)
{
    int i;
    for (i = 0; i < FB_SPIN; i++) {
        if (__atomic_load_n(counter, __ATOMIC_SEQ_CST) >= target || fb_load_flag(&p->stop))
            return;
        fb_pause();
    }
    pthread_mutex_lock(&p->lock);
    __atomic_add_fetch(&p->waiters, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(counter, __ATOMIC_SEQ_CST) < target && !fb_load_flag(&p->stop))
        pthread_cond_wait(&p->cond, &p->lock);
    __atomic_sub_fetch(&p->waiters, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&p->lock);
}

static void fb_pipe_wake(fb_pipe *p)
{
    if (__atomic_load_n(&p->waiters, __ATOMIC_SEQ_CST) > 0) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
    }
}

static void *fb_pipe_producer(void *arg)
{
    fb_pipe_helper *h = (fb_pipe_helper *)arg;
    fb_pipe *p = h->pipe;
    ptrdiff_t c;
    for (c = h->helper; c < p->n; c += p->helpers) {
        /* The slot is free once the caller is done with the chunk n_slots earlier. */
        fb_pipe_wait(p, &p->consumed, c - p->n_slots + 1);
        if (fb_load_flag(&p->stop))
            break;
        p->produce(p->ctx, c, 1 + h->helper);
        __atomic_store_n(&p->ready[c % p->n_slots], c + 1, __ATOMIC_SEQ_CST);
        fb_pipe_wake(p);
    }
    return NULL;
}

#endif  /* FB_THREADS */

static int fb_pipeline_serial(ptrdiff_t n, fb_task_fn produce, fb_task_fn consume, void *ctx)
{
    ptrdiff_t c;
    int status;
    for (c = 0; c < n; c++) {
        produce(ctx, c, 0);
        status = consume(ctx, c, 0);
        if (status)
            return status;
    }
    return 0;
}

/* produce(ctx, c, helper) fills slot c % n_slots with chunk c, consume(ctx, c, 0) uses
 * it, in order, in the calling thread; a nonzero status from consume stops the run.
 * With threads >= 2, threads - 1 helpers produce while the caller consumes;
 * n_slots >= threads - 1. */
static int fb_pipeline(ptrdiff_t n, int threads, int n_slots, fb_task_fn produce,
                       fb_task_fn consume, void *ctx)
{
#ifdef FB_THREADS
    fb_pipe p;
    fb_pipe_helper helpers[FB_MAX_THREADS];
    pthread_t ids[FB_MAX_THREADS];
    ptrdiff_t ready[2 * FB_MAX_THREADS + 8];
    ptrdiff_t c;
    int h, started = 0, status = 0;
    if (threads > FB_MAX_THREADS)
        threads = FB_MAX_THREADS;
    if (n_slots > 2 * FB_MAX_THREADS + 8)
        n_slots = 2 * FB_MAX_THREADS + 8;
    if (threads < 2 || n < 2 || n_slots < threads - 1)
        return fb_pipeline_serial(n, produce, consume, ctx);
    p.produce = produce;
    p.consume = consume;
    p.ctx = ctx;
    p.n = n;
    p.helpers = threads - 1;
    p.n_slots = n_slots;
    p.consumed = 0;
    p.ready = ready;
    p.stop = 0;
    p.waiters = 0;
    for (h = 0; h < n_slots; h++)
        ready[h] = 0;
    pthread_mutex_init(&p.lock, NULL);
    pthread_cond_init(&p.cond, NULL);
    for (h = 0; h < p.helpers; h++) {
        helpers[h].pipe = &p;
        helpers[h].helper = h;
        if (pthread_create(&ids[h], NULL, fb_pipe_producer, &helpers[h]) != 0)
            break;
        started++;
    }
    if (started < p.helpers) {
        /* Could not start every helper: stop those that did, then work alone. */
        fb_store_flag(&p.stop, 1);
        for (h = 0; h < started; h++)
            pthread_join(ids[h], NULL);
        pthread_cond_destroy(&p.cond);
        pthread_mutex_destroy(&p.lock);
        return fb_pipeline_serial(n, produce, consume, ctx);
    }
    for (c = 0; c < n; c++) {
        fb_pipe_wait(&p, &ready[c % n_slots], c + 1);
        status = consume(ctx, c, 0);
        if (status)
            break;
        __atomic_store_n(&p.consumed, c + 1, __ATOMIC_SEQ_CST);
        fb_pipe_wake(&p);
    }
    fb_store_flag(&p.stop, 1);
    pthread_mutex_lock(&p.lock);
    pthread_cond_broadcast(&p.cond);
    pthread_mutex_unlock(&p.lock);
    for (h = 0; h < started; h++)
        pthread_join(ids[h], NULL);
    pthread_cond_destroy(&p.cond);
    pthread_mutex_destroy(&p.lock);
    return status;
#else
    (void)threads;
    (void)n_slots;
    return fb_pipeline_serial(n, produce, consume, ctx);
#endif
}

typedef struct {
    fb_task_fn fn;
    void *ctx;
    ptrdiff_t n;
    int threads, thread, status;
    int *stop;
} fb_loop;

static void *fb_loop_run(void *arg)
{
    fb_loop *l = (fb_loop *)arg;
    ptrdiff_t b;
    for (b = l->thread; b < l->n; b += l->threads) {
        if (fb_load_flag(l->stop))
            break;
        l->status = l->fn(l->ctx, b, l->thread);
        if (l->status) {
            fb_store_flag(l->stop, 1);
            break;
        }
    }
    return NULL;
}

/* fn(ctx, b, thread) for every block b < n, block b on thread b % threads (thread 0 is
 * the caller).  Returns 0, or the first nonzero status in thread order. */
static int fb_parallel(ptrdiff_t n, int threads, fb_task_fn fn, void *ctx)
{
    fb_loop loops[FB_MAX_THREADS];
    int t, started = 1, stop = 0;
#ifdef FB_THREADS
    pthread_t ids[FB_MAX_THREADS];
#endif
    if (threads > FB_MAX_THREADS)
        threads = FB_MAX_THREADS;
    if (threads > n)
        threads = (int)n;
    if (threads < 1)
        threads = 1;
#ifndef FB_THREADS
    threads = 1;
#endif
    for (t = 0; t < threads; t++) {
        loops[t].fn = fn;
        loops[t].ctx = ctx;
        loops[t].n = n;
        loops[t].threads = threads;
        loops[t].thread = t;
        loops[t].status = 0;
        loops[t].stop = &stop;
    }
#ifdef FB_THREADS
    for (t = 1; t < threads; t++) {
        if (pthread_create(&ids[t], NULL, fb_loop_run, &loops[t]) != 0)
            break;
        started++;
    }
#endif
    /* Blocks of threads that could not start run here, after the caller's own. */
    fb_loop_run(&loops[0]);
    for (t = started; t < threads; t++)
        fb_loop_run(&loops[t]);
#ifdef FB_THREADS
    for (t = 1; t < started; t++)
        pthread_join(ids[t], NULL);
#endif
    for (t = 0; t < threads; t++)
        if (loops[t].status)
            return loops[t].status;
    return 0;
}

#endif  /* FB_LINREG_THREADS_H */
