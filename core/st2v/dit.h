/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dit.h - the diffusion transformer over spacetime patches
 * (docs/model-format.md, section 5).
 */
#ifndef ST2V_WORLD_DIT_H
#define ST2V_WORLD_DIT_H

#include "model.h"
#include "pool.h"

/* What the DiT needs of a prompt, computed once per prompt and reused by
 * every sampling step, in one buffer of st2v_dit_text_floats(m, n) floats:
 *   kv (layers, n, 2D)  cross-attention keys and values: for each layer,
 *                       row r holds [k (D), RMS-normalised per head | v (D)]
 *   pooled (D)          text_pool(mean of the n features), with
 *                       dit.text_pool only */
size_t st2v_dit_text_floats(const st2v_world *m, int n);
int st2v_dit_prepare_text(const st2v_world *m, st2v_pool *pool,
                          const float *text, int n, float *kv);

/* nb forward passes of the same z and t under nb prompts (the guidance
 * pair: nb = 2) as one batch: v[b] from kv[b] (n[b] tokens); nb = 1 is
 * one forward pass. Each v[b] equals the pass alone up to rounding (the
 * same bits where the linear kernels' results do not depend on the row
 * count).
 *   v[b] (C, T, Hl, Wl)   output velocity
 *   z    (C, T, Hl, Wl)   normalised latent; C = cfg.dit_channels, the
 *                         autoencoder's Cz then dit.extra_channels
 *   t    (T / pt)         timestep of each temporal patch, in [0, 1]
 *   t0                    RoPE offset of the first temporal patch
 *   kv[b]                 from st2v_dit_prepare_text (n[b] tokens)
 * Returns 0 or a negative status (ST2V_ERR_NOMEM). */
int st2v_dit_forward_batch(const st2v_world *m, st2v_pool *pool, int nb,
                           float *const *v, const float *z, int T, int Hl,
                           int Wl, const float *t, int t0,
                           const float *const *kv, const int *n);

#endif /* ST2V_WORLD_DIT_H */
