/* fastbatch's one thread runtime: every thread the kernels start is started and joined by
 * fb_parallel_run; the loops below are built on it.
 *
 * Why plain POSIX threads and not OpenMP: fastbatch runs inside data pipelines that fork
 * (torch DataLoader workers, multiprocessing).  GNU OpenMP's thread pool does not survive
 * a fork (a child that enters a parallel region hangs), and a process that already
 * loaded another OpenMP runtime (PyTorch ships its own) can end up with two.  Threads
 * created per call and joined before it returns leave nothing behind: no pool, no state
 * across fork, no thread alive after an exception.  Creating a thread costs ~20-50 us, so
 * callers only go parallel for work of a millisecond or more (each caller documents its
 * threshold).  Without pthreads (FB_NO_THREADS, or FB_HAVE_THREADS 0) everything runs on
 * the calling thread, with the same results.
 *
 * fb_parallel_run(n, fn, ctx) calls fn(ctx, t, n) for t = 0 .. n-1, t = 0 on the calling
 * thread, and returns when all have returned.  If a thread cannot be created, its share
 * runs on the calling thread afterwards: fewer threads, same result.  On top of it:
 *   fb_parallel_for     items claimed one by one by whichever thread is free, with an
 *                       optional stop check;
 *   fb_parallel_blocks  blocks 0..n-1, block b on thread b % threads, each returning a
 *                       status; the first failure stops the others;
 *   fb_pipeline         chunks produced into a ring of slots by threads t >= 1 (and by
 *                       the caller when it would wait) and consumed in order by t = 0.
 * Work is assigned by index, never by timing, and where timing decides which thread does
 * a piece of work the piece must not depend on it: results never depend on scheduling or
 * on the number of threads.
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

/* ---- Blocks with a status ---------------------------------------------------------- */

/* Works on block (or chunk) `index` on thread t; returns 0, or a nonzero status (an
 * FB_E* code) that stops the run. */
typedef int (*fb_block_fn)(void *ctx, ptrdiff_t index, int t);

typedef struct {
    fb_block_fn fn;
    void *ctx;
    ptrdiff_t n;
    int stop;                        /* set by the first failing block (atomic) */
    int status[FB_MAX_THREADS];      /* per thread: 0, or the status that stopped it */
} fb_block_loop;

static inline void fb_block_loop_task(void *arg, int t, int n)
{
    fb_block_loop *loop = (fb_block_loop *)arg;
    ptrdiff_t b;
    int status = 0;
    for (b = t; b < loop->n; b += n) {
        if (__atomic_load_n(&loop->stop, __ATOMIC_SEQ_CST))
            break;
        status = loop->fn(loop->ctx, b, t);
        if (status) {
            __atomic_store_n(&loop->stop, 1, __ATOMIC_SEQ_CST);
            break;
        }
    }
    loop->status[t] = status;
}

/* fn(ctx, b, t) for every block b < n, block b on thread t = b % threads (t = 0 is the
 * caller; a thread that cannot start has its blocks run by the caller afterwards).
 * Returns 0, or the first nonzero status in thread order. */
static inline int fb_parallel_blocks(ptrdiff_t n, int threads, fb_block_fn fn, void *ctx)
{
    fb_block_loop loop;
    int t;
    if (threads > FB_MAX_THREADS)
        threads = FB_MAX_THREADS;
    if (threads > n)
        threads = (int)n;
    /* Without threads, one run in block order: the caller is the only one polling for
     * Ctrl-C (t = 0), so it must not be left with idle shares of other t's. */
    if (threads < 1 || !FB_HAVE_THREADS)
        threads = 1;
    loop.fn = fn;
    loop.ctx = ctx;
    loop.n = n;
    loop.stop = 0;
    fb_parallel_run(threads, fb_block_loop_task, &loop);
    for (t = 0; t < threads; t++)
        if (loop.status[t])
            return loop.status[t];
    return 0;
}

/* ---- A producer / consumer pipeline ------------------------------------------------ */

#define FB_PIPE_SPIN 2000

#if FB_HAVE_THREADS

typedef struct {
    fb_block_fn produce, consume;
    void *ctx;
    ptrdiff_t n;
    int n_slots;
    ptrdiff_t claimed;          /* chunks some thread has taken to produce */
    ptrdiff_t consumed;         /* chunks the caller has finished with */
    ptrdiff_t *ready;           /* ready[slot] = 1 + the chunk it holds */
    int stop, waiters, status;
    pthread_mutex_t lock;
    pthread_cond_t cond;
} fb_pipe;

static inline void fb_pipe_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Wait until *counter >= target or the run stops: spin briefly (the other side is
 * usually microseconds away), then sleep on the condition variable, so a descheduled
 * partner on a busy machine costs no CPU.  The sequentially consistent order of
 * "waiters++ then read counter" here and "write counter then read waiters" in
 * fb_pipe_wake means one of the two sides always sees the other. */
static inline void fb_pipe_wait(fb_pipe *p, const ptrdiff_t *counter, ptrdiff_t target)
{
    int i;
    for (i = 0; i < FB_PIPE_SPIN; i++) {
        if (__atomic_load_n(counter, __ATOMIC_SEQ_CST) >= target
                || __atomic_load_n(&p->stop, __ATOMIC_SEQ_CST))
            return;
        fb_pipe_pause();
    }
    pthread_mutex_lock(&p->lock);
    __atomic_add_fetch(&p->waiters, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(counter, __ATOMIC_SEQ_CST) < target
           && !__atomic_load_n(&p->stop, __ATOMIC_SEQ_CST))
        pthread_cond_wait(&p->cond, &p->lock);
    __atomic_sub_fetch(&p->waiters, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&p->lock);
}

static inline void fb_pipe_wake(fb_pipe *p)
{
    if (__atomic_load_n(&p->waiters, __ATOMIC_SEQ_CST) > 0) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
    }
}

/* Takes the next chunk to produce if it is below `limit`; returns it, or -1. */
static inline ptrdiff_t fb_pipe_claim(fb_pipe *p, ptrdiff_t limit)
{
    ptrdiff_t c = __atomic_load_n(&p->claimed, __ATOMIC_SEQ_CST);
    while (c < limit && c < p->n) {
        if (__atomic_compare_exchange_n(&p->claimed, &c, c + 1, 0, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST))
            return c;
    }
    return -1;
}

static inline void fb_pipe_produce(fb_pipe *p, ptrdiff_t c, int t)
{
    p->produce(p->ctx, c, t);
    __atomic_store_n(&p->ready[c % p->n_slots], c + 1, __ATOMIC_SEQ_CST);
    fb_pipe_wake(p);
}

/* Threads t >= 1: produce whichever chunk is next while a slot is free. */
static inline void fb_pipe_producer(fb_pipe *p, int t)
{
    ptrdiff_t c, next;
    while (!__atomic_load_n(&p->stop, __ATOMIC_SEQ_CST)) {
        next = __atomic_load_n(&p->claimed, __ATOMIC_SEQ_CST);
        if (next >= p->n)
            break;
        /* A slot is free once the caller is done with the chunk n_slots before. */
        c = fb_pipe_claim(p, __atomic_load_n(&p->consumed, __ATOMIC_SEQ_CST) + p->n_slots);
        if (c >= 0)
            fb_pipe_produce(p, c, t);
        else
            fb_pipe_wait(p, &p->consumed, next - p->n_slots + 1);
    }
}

/* Thread 0, the caller: consume the chunks in order, producing one itself whenever the
 * next is not ready; then stop the producers. */
static inline void fb_pipe_consumer(fb_pipe *p)
{
    ptrdiff_t c, k;
    int status = 0;
    for (c = 0; c < p->n && status == 0; c++) {
        while (__atomic_load_n(&p->ready[c % p->n_slots], __ATOMIC_SEQ_CST) < c + 1) {
            k = fb_pipe_claim(p, c + p->n_slots);
            if (k >= 0)
                fb_pipe_produce(p, k, 0);
            else
                fb_pipe_wait(p, &p->ready[c % p->n_slots], c + 1);
        }
        status = p->consume(p->ctx, c, 0);
        __atomic_store_n(&p->consumed, c + 1, __ATOMIC_SEQ_CST);
        fb_pipe_wake(p);
    }
    p->status = status;
    __atomic_store_n(&p->stop, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_lock(&p->lock);
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

static inline void fb_pipe_task(void *arg, int t, int n)
{
    (void)n;
    /* A producer that could not start runs here after the consumer: it finds the run
     * stopped and returns, the caller having produced its chunks. */
    if (t == 0)
        fb_pipe_consumer((fb_pipe *)arg);
    else
        fb_pipe_producer((fb_pipe *)arg, t);
}

#endif  /* FB_HAVE_THREADS */

/* consume(ctx, c, 0) for c = 0..n-1, in order, on the calling thread, each after
 * produce(ctx, c, t) has filled slot c % n_slots (produce's status is not looked at); a
 * nonzero status from consume stops the run and is returned.  With threads >= 2,
 * threads t = 1..threads-1 produce the coming chunks while the caller consumes, and the
 * caller produces too whenever its next chunk is not ready: which thread produces a
 * chunk must not matter to the result.  n_slots >= 2 * threads. */
static inline int fb_pipeline(ptrdiff_t n, int threads, int n_slots, fb_block_fn produce,
                              fb_block_fn consume, void *ctx)
{
    ptrdiff_t c;
    int status = 0;
#if FB_HAVE_THREADS
    fb_pipe p;
    ptrdiff_t ready[2 * FB_MAX_THREADS + 8];
    int s;
    if (threads > FB_MAX_THREADS)
        threads = FB_MAX_THREADS;
    if (threads >= 2 && n >= 2 && n_slots <= 2 * FB_MAX_THREADS + 8) {
        p.produce = produce;
        p.consume = consume;
        p.ctx = ctx;
        p.n = n;
        p.n_slots = n_slots;
        p.claimed = p.consumed = 0;
        p.ready = ready;
        p.stop = p.waiters = p.status = 0;
        for (s = 0; s < n_slots; s++)
            ready[s] = 0;
        pthread_mutex_init(&p.lock, NULL);
        pthread_cond_init(&p.cond, NULL);
        fb_parallel_run(threads, fb_pipe_task, &p);
        pthread_cond_destroy(&p.cond);
        pthread_mutex_destroy(&p.lock);
        return p.status;
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

#endif  /* FB_PARALLEL_H */
