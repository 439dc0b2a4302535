/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * family.h - the st2v world model as a family of core/arch.h
 * (st2v_arch_world), and its pieces that tests drive directly: a prompt's
 * conditioning (token ids to DiT cross-attention keys/values) and the
 * sampling of one window from token ids. Not part of the public API.
 */
#ifndef ST2V_WORLD_FAMILY_H
#define ST2V_WORLD_FAMILY_H

#include <stdint.h>

#include "arch.h"
#include "model.h"
#include "pool.h"

/* One encoded prompt: the family's cond of st2v_velocity_call. */
typedef struct st2v_cond {
    int n;                     /* tokens */
    float *kv;                 /* st2v_dit_prepare_text's (layers, n, 2D) + (D) */
} st2v_cond;

/* Text-encode ids (n), 1 <= n <= L, and prepare the DiT keys/values.
 * Replaces what c held. Returns 0 or a negative status. */
int st2v_cond_encode(st2v_cond *c, const st2v_world *w, st2v_pool *pool,
                     const int32_t *ids, int n);
void st2v_cond_free(st2v_cond *c);

#endif /* ST2V_WORLD_FAMILY_H */
