/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pool.h - a fixed set of worker threads per generator. Work is cut into
 * blocks whose bounds depend only on the problem size and the grain, never
 * on the number of threads, so results are bit-identical for any thread
 * count. A NULL pool runs everything on the calling thread.
 */
#ifndef ST2V_POOL_H
#define ST2V_POOL_H

#include <stdint.h>

typedef struct st2v_pool st2v_pool;

/* Run fn(arg, begin, end) over [0, n) cut into blocks of `grain` items. */
typedef void (*st2v_task_fn)(void *arg, int64_t begin, int64_t end);

int st2v_pool_new(st2v_pool **out, int n_threads);   /* n_threads >= 1 */
void st2v_pool_free(st2v_pool *pool);
int st2v_pool_threads(const st2v_pool *pool);         /* 1 for NULL */
void st2v_pool_for(st2v_pool *pool, int64_t n, int64_t grain, st2v_task_fn fn,
                   void *arg);

#endif /* ST2V_POOL_H */
