/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_world.h - what the world model's tests share beyond test_util.h:
 * one window sampled from token ids (the generator does the same from a
 * prompt, with its own conditioning cache).
 */
#ifndef ST2V_TEST_WORLD_H
#define ST2V_TEST_WORLD_H

#include <stdint.h>

#include "guidance.h"
#include "st2v/family.h"
#include "st2v/model.h"

/* Sample one window of the world model m from token ids: encodes ids and
 * neg_ids (neg_ids may be NULL when cfg == 1), then st2v_sample_window.
 * x (Cz, T, Hl, Wl) as there. */
static inline int tw_sample_window_ids(const st2v_model *m, st2v_pool *pool,
                                       const int32_t *ids, int n_ids,
                                       const int32_t *neg_ids, int n_neg,
                                       st2v_sampler sampler, int steps,
                                       float cfg, float shift, int T, int Hl,
                                       int Wl, int n_context, float *x)
{
    const st2v_world *w = st2v_world_of(m);
    if (!w)
        return ST2V_ERR_INVALID_ARG;
    st2v_cond pos = {0}, neg = {0};
    int rc = st2v_cond_encode(&pos, w, pool, ids, n_ids);
    if (rc == 0 && cfg != 1.0f)
        rc = neg_ids ? st2v_cond_encode(&neg, w, pool, neg_ids, n_neg)
                     : ST2V_ERR_INVALID_ARG;
    if (rc == 0) {
        st2v_window_job job = {
            .sampler = sampler, .steps = steps, .guidance = cfg, .shift = shift,
            .T = T, .Hl = Hl, .Wl = Wl, .n_context = n_context,
            .pos = &pos, .neg = &neg,
        };
        rc = st2v_sample_window(m, pool, &job, x);
    }
    st2v_cond_free(&pos);
    st2v_cond_free(&neg);
    return rc;
}

#endif /* ST2V_TEST_WORLD_H */
