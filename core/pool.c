/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pool.c - the worker pool behind pool.h: n_threads - 1 worker threads plus
 * the calling thread share the blocks of one st2v_pool_for() call, taking
 * them in order from an atomic counter. The blocks themselves are fixed by
 * (n, grain) alone, so which thread runs a block never changes its result.
 *
 * Not here: any numeric work (ops.c), any scheduling across calls.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "common.h"
#include "ops.h"
#include "pool.h"

struct st2v_pool {
    int n_threads;
    int n_workers;              /* threads started (n_threads - 1 once ready) */
    pthread_t *workers;         /* (n_threads - 1) */
    pthread_mutex_t mu;
    pthread_cond_t cv_work;     /* a new job, or stop */
    pthread_cond_t cv_done;     /* the last worker left the job */
    uint64_t generation;        /* bumped for every job, under mu */
    int stop;
    int busy;                   /* workers still inside the current job */

    /* the current job, written under mu before generation is bumped */
    st2v_task_fn fn;
    void *arg;
    int64_t n, grain, n_blocks;
    atomic_int_fast64_t next;   /* next block to take */
};

typedef struct worker_start {
    st2v_pool *pool;
    int slot;
} worker_start;

/* The calling thread's slot in the pool running it, and whether it is
 * inside a pool call (a nested st2v_pool_for then runs serially). */
static _Thread_local int tl_slot;
static _Thread_local int tl_inside;

int st2v_pool_slot(void)
{
    return tl_slot;
}

static void run_blocks(st2v_pool *p)
{
    for (;;) {
        int64_t b = atomic_fetch_add_explicit(&p->next, 1,
                                              memory_order_relaxed);
        if (b >= p->n_blocks)
            break;
        int64_t begin = b * p->grain;
        int64_t end = ST2V_MIN(p->n, begin + p->grain);
        p->fn(p->arg, begin, end);
    }
}

static void *worker_main(void *varg)
{
    worker_start *ws = varg;
    st2v_pool *p = ws->pool;
    tl_slot = ws->slot;
    tl_inside = 1;
    free(ws);

    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->generation == seen)
            pthread_cond_wait(&p->cv_work, &p->mu);
        if (p->stop)
            break;
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);

        run_blocks(p);

        pthread_mutex_lock(&p->mu);
        if (--p->busy == 0)
            pthread_cond_signal(&p->cv_done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int st2v_pool_new(st2v_pool **out, int n_threads)
{
    *out = NULL;
    if (n_threads < 1 || n_threads > 1024)
        return ST2V_ERR_INVALID_ARG;
    st2v_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return ST2V_ERR_NOMEM;
    p->n_threads = n_threads;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return ST2V_ERR_NOMEM;
    }
    if (pthread_cond_init(&p->cv_work, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        free(p);
        return ST2V_ERR_NOMEM;
    }
    if (pthread_cond_init(&p->cv_done, NULL) != 0) {
        pthread_cond_destroy(&p->cv_work);
        pthread_mutex_destroy(&p->mu);
        free(p);
        return ST2V_ERR_NOMEM;
    }
    atomic_init(&p->next, 0);
    if (n_threads > 1) {
        p->workers = calloc((size_t)n_threads - 1, sizeof(*p->workers));
        if (!p->workers) {
            st2v_pool_free(p);
            return ST2V_ERR_NOMEM;
        }
        for (int i = 0; i < n_threads - 1; i++) {
            worker_start *ws = malloc(sizeof(*ws));
            if (!ws) {
                st2v_pool_free(p);
                return ST2V_ERR_NOMEM;
            }
            ws->pool = p;
            ws->slot = i + 1;
            if (pthread_create(&p->workers[i], NULL, worker_main, ws) != 0) {
                free(ws);
                st2v_pool_free(p);
                return ST2V_ERR_NOMEM;
            }
            p->n_workers++;
        }
    }
    *out = p;
    return ST2V_OK;
}

void st2v_pool_free(st2v_pool *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->mu);
    pool->stop = 1;
    pthread_cond_broadcast(&pool->cv_work);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 0; i < pool->n_workers; i++)
        pthread_join(pool->workers[i], NULL);
    free(pool->workers);
    pthread_cond_destroy(&pool->cv_done);
    pthread_cond_destroy(&pool->cv_work);
    pthread_mutex_destroy(&pool->mu);
    free(pool);
}

int st2v_pool_threads(const st2v_pool *pool)
{
    return pool ? pool->n_threads : 1;
}

void st2v_pool_for(st2v_pool *pool, int64_t n, int64_t grain, st2v_task_fn fn,
                   void *arg)
{
    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    int64_t n_blocks = (n + grain - 1) / grain;

    /* Slot 0 is this thread's for the duration of the call (a task may
     * call in again: it then runs serially, as slot 0 of the inner call). */
    const int saved_slot = tl_slot, saved_inside = tl_inside;
    tl_slot = 0;

    /* Serial: the same blocks, in order, on this thread. */
    if (!pool || pool->n_workers == 0 || n_blocks == 1 || saved_inside) {
        for (int64_t b = 0; b < n_blocks; b++)
            fn(arg, b * grain, ST2V_MIN(n, (b + 1) * grain));
        tl_slot = saved_slot;
        return;
    }

    tl_inside = 1;

    pthread_mutex_lock(&pool->mu);
    pool->fn = fn;
    pool->arg = arg;
    pool->n = n;
    pool->grain = grain;
    pool->n_blocks = n_blocks;
    atomic_store_explicit(&pool->next, 0, memory_order_relaxed);
    pool->busy = pool->n_workers;
    pool->generation++;
    pthread_cond_broadcast(&pool->cv_work);
    pthread_mutex_unlock(&pool->mu);

    run_blocks(pool);

    pthread_mutex_lock(&pool->mu);
    while (pool->busy > 0)
        pthread_cond_wait(&pool->cv_done, &pool->mu);
    pthread_mutex_unlock(&pool->mu);

    tl_inside = saved_inside;
    tl_slot = saved_slot;
}
