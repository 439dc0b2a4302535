/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cost.h - analytic compute cost of generating video with a model: the
 * floating-point operations (a multiply-add counts 2) of every matrix
 * product and convolution, as the engine performs them. Used for the model
 * info, the benchmark, and the real-time budget of the default model.
 * The st2v_cost it fills is the family-neutral one of core/arch.h.
 */
#ifndef ST2V_WORLD_COST_H
#define ST2V_WORLD_COST_H

#include <stdint.h>

#include "arch.h"
#include "config.h"

/* Cost of `frames` native frames at native size (w, h), with `calls` DiT
 * evaluations per chunk (st2v_cost_sampler_calls), `passes` DiT forwards
 * per evaluation (2 with guidance, else 1) and `n_text` tokens per prompt. */
void st2v_cost_estimate(const st2v_config *c, int w, int h, int64_t frames,
                        int calls, int passes, int n_text, st2v_cost *out);

/* DiT evaluations of one chunk for a sampler ("euler", "heun", "dpm++2m")
 * and step count: Heun needs 2 steps - 1, the others one per step. */
int st2v_cost_sampler_calls(const char *sampler, int steps);

#endif /* ST2V_WORLD_COST_H */
