/* Helper threads of the linear-regression kernels (included by _linreg.pyx).
 *
 * Two shapes of parallel work, both assigning work by index, never by which thread is
 * free, so a result never depends on the number of threads:
 *   fb_pipeline  chunks 0..n-1 are produced into a ring of slots by whichever thread
 *                is free (producing must give the same chunk whoever does it) and
 *                consumed in order by the caller;
 *   fb_parallel  blocks 0..n-1 run on `threads` threads (block b on thread b % threads).
 * POSIX threads are used when the build finds <pthread.h> (define FB_NO_THREADS to build
 * without); otherwise, or when a thread cannot be started, the caller does all the work.
 * Waiting spins briefly (the other side is usually microseconds away), then sleeps on a
 * condition variable, so a descheduled partner on a busy machine costs no CPU.
 *
 * Why not fastbatch/_parallel.h: its fb_parallel_run is a parallel-for (n equal shares,
 * joined at the end); the epoch needs a pipeline, helpers filling a ring of slots while
 * the caller consumes them in order, with waiting both ways and a stop flag.
 * fb_parallel below is the passes' parallel-for with a per-block status and an early
 * stop (Ctrl-C), which fb_parallel_run does not carry.
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
    fb_task_fn produce;
    void *ctx;
    ptrdiff_t n;
    int n_slots;
    ptrdiff_t claimed;          /* chunks some thread has taken to produce */
    ptrdiff_t consumed;         /* chunks the caller has finished with */
    ptrdiff_t *ready;           /* ready[slot] = 1 + the chunk it holds */
    int stop, waiters;
    pthread_mutex_t lock;
    pthread_cond_t cond;
} fb_pipe;

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

/* Takes the next chunk to produce if it is below `limit`; returns it, or -1. */
static ptrdiff_t fb_pipe_claim(fb_pipe *p, ptrdiff_t limit)
{
    ptrdiff_t c = __atomic_load_n(&p->claimed, __ATOMIC_SEQ_CST);
    while (c < limit && c < p->n) {
        if (__atomic_compare_exchange_n(&p->claimed, &c, c + 1, 0, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST))
            return c;
    }
    return -1;
}

static void fb_pipe_produce(fb_pipe *p, ptrdiff_t c, int thread)
{
    p->produce(p->ctx, c, thread);
    __atomic_store_n(&p->ready[c % p->n_slots], c + 1, __ATOMIC_SEQ_CST);
    fb_pipe_wake(p);
}

typedef struct {
    fb_pipe *pipe;
    int thread;
} fb_pipe_helper;

static void *fb_pipe_producer(void *arg)
{
    fb_pipe_helper *h = (fb_pipe_helper *)arg;
    fb_pipe *p = h->pipe;
    ptrdiff_t c, next;
    while (!fb_load_flag(&p->stop)) {
        next = __atomic_load_n(&p->claimed, __ATOMIC_SEQ_CST);
        if (next >= p->n)
            break;
        /* A slot is free once the caller is done with the chunk n_slots before. */
        c = fb_pipe_claim(p, __atomic_load_n(&p->consumed, __ATOMIC_SEQ_CST) + p->n_slots);
        if (c >= 0)
            fb_pipe_produce(p, c, h->thread);
        else
            fb_pipe_wait(p, &p->consumed, next - p->n_slots + 1);
    }
    return NULL;
}

#endif  /* FB_THREADS */

/* consume(ctx, c, 0) for c = 0..n-1, in order, in the calling thread, each after
 * produce(ctx, c, thread) has filled slot c % n_slots; a nonzero status from consume
 * stops the run.  With threads >= 2, threads - 1 helpers produce the coming chunks while
 * the caller consumes, and the caller produces too whenever its next chunk is not ready:
 * which thread produces a chunk must not matter to the result.  n_slots >= 2 * threads. */
static int fb_pipeline(ptrdiff_t n, int threads, int n_slots, fb_task_fn produce,
                       fb_task_fn consume, void *ctx)
{
    ptrdiff_t c;
    int status = 0;
#ifdef FB_THREADS
    fb_pipe p;
    fb_pipe_helper helpers[FB_MAX_THREADS];
    pthread_t ids[FB_MAX_THREADS];
    ptrdiff_t ready[2 * FB_MAX_THREADS + 8], k;
    int h, started = 0;
    if (threads > FB_MAX_THREADS)
        threads = FB_MAX_THREADS;
    if (threads >= 2 && n >= 2 && n_slots <= 2 * FB_MAX_THREADS + 8) {
        p.produce = produce;
        p.ctx = ctx;
        p.n = n;
        p.n_slots = n_slots;
        p.claimed = p.consumed = 0;
        p.ready = ready;
        p.stop = p.waiters = 0;
        for (h = 0; h < n_slots; h++)
            ready[h] = 0;
        pthread_mutex_init(&p.lock, NULL);
        pthread_cond_init(&p.cond, NULL);
        /* A helper that cannot start is simply missing: the caller produces as well. */
        for (h = 0; h < threads - 1; h++) {
            helpers[started].pipe = &p;
            helpers[started].thread = started + 1;
            if (pthread_create(&ids[started], NULL, fb_pipe_producer, &helpers[started]) == 0)
                started++;
        }
        for (c = 0; c < n && status == 0; c++) {
            while (__atomic_load_n(&ready[c % n_slots], __ATOMIC_SEQ_CST) < c + 1) {
                k = fb_pipe_claim(&p, c + n_slots);
                if (k >= 0)
                    fb_pipe_produce(&p, k, 0);
                else
                    fb_pipe_wait(&p, &ready[c % n_slots], c + 1);
            }
            status = consume(ctx, c, 0);
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
    }
#endif
    (void)threads;
    (void)n_slots;
    for (c = 0; c < n && status == 0; c++) {
        produce(ctx, c, 0);
        status = consume(ctx, c, 0);
    }
    return status;
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
