/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dit.c - the diffusion transformer (docs/model-format.md, section 5):
 * patchify, timestep embedding, adaLN-modulated blocks with 3D-RoPE
 * self-attention, cross-attention to the prompt and a GELU MLP, then the
 * modulated final projection and unpatchify.
 *
 * Per-frame work is done once per temporal patch (timestep embedding, the
 * ada vectors of every block), the RoPE table once per forward, and the
 * prompt's cross-attention keys and values once per prompt
 * (st2v_dit_prepare_text). All scratch is one allocation per forward.
 * The passes of a guidance pair run as one batch: every linear layer is
 * one call over the tokens of both passes; attention stays per pass.
 *
 * Not here: the sampler loop and guidance (sampler.c, generator).
 */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "common.h"
#include "dit.h"
#include "ops.h"

#define LN_EPS 1e-6f
#define QK_EPS 1e-6f

size_t st2v_dit_text_floats(const st2v_world *m, int n)
{
    const st2v_config *cfg = &m->cfg;
    return (size_t)cfg->layers * n * 2 * cfg->dim +
           (cfg->text_pool ? (size_t)cfg->dim : 0);
}

int st2v_dit_prepare_text(const st2v_world *m, st2v_pool *pool,
                          const float *text, int n, float *kv)
{
    const st2v_config *cfg = &m->cfg;
    const int D = cfg->dim, H = cfg->heads, hd = D / H, Dt = cfg->text_dim;
    if (n < 1)
        return ST2V_ERR_INVALID_ARG;
    for (int l = 0; l < cfg->layers; l++) {
        const st2v_dit_block *b = &m->dit.blocks[l];
        float *kvl = kv + (size_t)l * n * 2 * D;  /* (n, 2D) */
        st2v_op_linear(pool, kvl, text, &b->cross_kv, n, ST2V_ACT_NONE);
        st2v_op_head_rmsnorm(pool, kvl, 2 * D, b->cross_k_norm, n, H, hd,
                             QK_EPS);
    }
    if (cfg->text_pool) {
        float *pooled = kv + (size_t)cfg->layers * n * 2 * D; /* (D) */
        float *mean = st2v_alloc_floats((size_t)Dt);          /* (Dt) */
        if (!mean)
            return ST2V_ERR_NOMEM;
        for (int k = 0; k < Dt; k++) {
            double acc = 0.0;
            for (int j = 0; j < n; j++)
                acc += text[(size_t)j * Dt + k];
            mean[k] = (float)(acc / n);
        }
        st2v_op_linear(pool, pooled, mean, &m->dit.text_pool, 1,
                       ST2V_ACT_NONE);
        st2v_free(mean);
    }
    return ST2V_OK;
}

/* ============================================================ patches */

/* The patch map between the latent z (Cz + R, T, Hl, Wl) (R =
 * dit.extra_channels) and the tokens tok (N, P): element ((ch*pt + i)*ph + j)*pw + k of token (a, b, c) is
 * z[ch, a*pt+i, b*ph+j, c*pw+k]. to_tokens: tok <- z (patchify), else
 * z <- tok (unpatchify). */
static void patch_map(float *tok, float *z, const st2v_config *cfg, int T,
                      int Hl, int Wl, int to_tokens)
{
    const int pt = cfg->patch[0], ph = cfg->patch[1], pw = cfg->patch[2];
    const int Tp = T / pt, Hp = Hl / ph, Wp = Wl / pw;
    const int P = cfg->dit_channels * pt * ph * pw;
    for (int a = 0; a < Tp; a++)
        for (int b = 0; b < Hp; b++)
            for (int c = 0; c < Wp; c++) {
                float *t = tok + (((int64_t)a * Hp + b) * Wp + c) * P;
                for (int ch = 0; ch < cfg->dit_channels; ch++)
                    for (int i = 0; i < pt; i++)
                        for (int j = 0; j < ph; j++) {
                            float *zr = z + (((int64_t)ch * T + a * pt + i) *
                                             Hl + b * ph + j) * Wl + c * pw;
                            if (to_tokens)
                                memcpy(t, zr, sizeof(float) * pw);
                            else
                                memcpy(zr, t, sizeof(float) * pw);
                            t += pw;
                        }
            }
}

/* e (Tp, F) = [cos(arg), sin(arg)], arg_k = 1000 t exp(-ln(10000) k / half),
 * computed in double as the reference does, rounded once to float. */
static void timestep_features(float *e, const float *t, int Tp, int F)
{
    const int half = F / 2;
    for (int a = 0; a < Tp; a++) {
        float *row = e + (int64_t)a * F;
        for (int k = 0; k < half; k++) {
            double freq = exp(-log(10000.0) * k / half);
            double arg = 1000.0 * (double)t[a] * freq;
            row[k] = (float)cos(arg);
            row[half + k] = (float)sin(arg);
        }
    }
}

/* ============================================================ forward */

int st2v_dit_forward_batch(const st2v_world *m, st2v_pool *pool, int nb,
                           float *const *v, const float *z, int T, int Hl,
                           int Wl, const float *t, int t0,
                           const float *const *kv, const int *n)
{
    const st2v_config *cfg = &m->cfg;
    const st2v_dit_weights *w = &m->dit;
    const int D = cfg->dim, H = cfg->heads, hd = D / H, M = cfg->mlp;
    const int pt = cfg->patch[0], ph = cfg->patch[1], pw = cfg->patch[2];
    const int F = cfg->freq_dim;
    const int P = cfg->dit_channels * pt * ph * pw;
    if (nb < 1 || T < 1 || Hl < 1 || Wl < 1 || T % pt || Hl % ph || Wl % pw)
        return ST2V_ERR_INVALID_ARG;
    int n_max = 0;
    for (int b = 0; b < nb; b++) {
        if (n[b] < 1)
            return ST2V_ERR_INVALID_ARG;
        n_max = ST2V_MAX(n_max, n[b]);
    }
    const int Tp = T / pt, Hp = Hl / ph, Wp = Wl / pw;
    const int64_t group = (int64_t)Hp * Wp;      /* tokens per temporal patch */
    const int64_t N = (int64_t)Tp * group;       /* tokens of one pass */
    const int64_t NB = N * nb;                   /* rows of every pass */
    const int wide = ST2V_MAX(3 * D, M);
    if (NB > INT_MAX / wide)
        return ST2V_ERR_INVALID_ARG;

    const size_t sz_tok = (size_t)NB * P, sz_nd = (size_t)NB * D;
    const size_t sz_wide = (size_t)NB * wide, sz_cs = (size_t)N * hd;
    const size_t sz_e = (size_t)Tp * F, sz_td = (size_t)nb * Tp * D;
    const size_t sz_mod = (size_t)nb * Tp * 6 * D;
    const size_t sz_att =
        st2v_op_attention_scratch(pool, (int)ST2V_MAX(N, n_max), hd);
    float *buf = st2v_alloc_floats(sz_tok + 4 * sz_nd + sz_wide + sz_cs +
                                   sz_e + 3 * sz_td + sz_mod + sz_att);
    if (!buf)
        return ST2V_ERR_NOMEM;
    float *tok = buf;                 /* (NB, P) patches, then the output */
    float *x = tok + sz_tok;          /* (NB, D) residual stream */
    float *h = x + sz_nd;             /* (NB, D) modulated input of a branch */
    float *att = h + sz_nd;           /* (NB, D) attention output */
    float *tmp = att + sz_nd;         /* (NB, D) gated branch output */
    float *wbuf = tmp + sz_nd;        /* (NB, 3D) qkv / (NB, D) q / (NB, M) */
    float *cs = wbuf + sz_wide;       /* (N, hd/2, 2) RoPE cos, sin */
    float *e = cs + sz_cs;            /* (Tp, F) timestep features */
    float *y = e + sz_e;              /* (nb, Tp, D) timestep embedding */
    float *sy = y + sz_td;            /* (nb, Tp, D) SiLU(y) */
    float *ty = sy + sz_td;           /* (Tp, D) t_embed hidden */
    float *mod = ty + sz_td;          /* (nb, Tp, 6D) ada vectors of a block */
    float *sc = mod + sz_mod;         /* attention scratch */

    /* Embeddings: patches and timesteps once (every pass sees the same z
     * and t), the prompt's pooled vector per pass, RoPE once. Row r of the
     * NB rows is token r % N of pass r / N; group r / group is temporal
     * patch (r / group) % Tp of that pass. */
    patch_map(tok, (float *)z, cfg, T, Hl, Wl, 1); /* reads z only */
    st2v_op_linear(pool, x, tok, &w->patch_embed, N, ST2V_ACT_NONE);
    for (int b = 1; b < nb; b++)
        memcpy(x + (size_t)b * N * D, x, (size_t)N * D * sizeof(float));
    timestep_features(e, t, Tp, F);
    st2v_op_linear(pool, ty, e, &w->t_fc1, Tp, ST2V_ACT_SILU);
    st2v_op_linear(pool, y, ty, &w->t_fc2, Tp, ST2V_ACT_NONE);
    for (int b = 1; b < nb; b++)
        memcpy(y + (size_t)b * Tp * D, y, (size_t)Tp * D * sizeof(float));
    if (cfg->text_pool) {
        for (int b = 0; b < nb; b++) {
            const float *pooled =
                kv[b] + (size_t)cfg->layers * n[b] * 2 * D; /* (D) */
            for (int a = 0; a < Tp; a++)
                for (int k = 0; k < D; k++)
                    y[((size_t)b * Tp + a) * D + k] += pooled[k];
        }
    }
    memcpy(sy, y, sz_td * sizeof(float));
    st2v_op_silu(sy, (int64_t)sz_td);
    st2v_op_rope_table(cs, Tp, Hp, Wp, t0, cfg->rope_dims, cfg->rope_theta);

    for (int l = 0; l < cfg->layers; l++) {
        const st2v_dit_block *bl = &w->blocks[l];
        const int64_t ldm = 6 * D;
        /* mod rows: shift1, scale1, gate1, shift2, scale2, gate2 */
        st2v_op_linear(pool, mod, sy, &bl->ada, (int64_t)nb * Tp,
                       ST2V_ACT_NONE);

        /* self-attention, each pass over its own tokens */
        st2v_op_layernorm_modulate(pool, h, x, mod, mod + D, ldm, group, NB,
                                   D, LN_EPS);
        st2v_op_linear(pool, wbuf, h, &bl->qkv, NB, ST2V_ACT_NONE);
        st2v_op_head_rmsnorm(pool, wbuf, 3 * D, bl->q_norm, NB, H, hd, QK_EPS);
        st2v_op_head_rmsnorm(pool, wbuf + D, 3 * D, bl->k_norm, NB, H, hd,
                             QK_EPS);
        for (int b = 0; b < nb; b++) {
            float *q = wbuf + (size_t)b * N * 3 * D; /* (N, 3D) */
            st2v_op_rope(pool, q, 3 * D, cs, N, H, hd);
            st2v_op_rope(pool, q + D, 3 * D, cs, N, H, hd);
            st2v_op_attention(pool, att + (size_t)b * N * D, D, q, 3 * D,
                              q + D, 3 * D, q + 2 * D, 3 * D, (int)N, (int)N,
                              H, hd, sc);
        }
        st2v_op_linear_residual(pool, x, att, &bl->proj, NB, mod + 2 * D, ldm,
                                group, tmp);

        /* cross-attention, each pass to its own prompt */
        st2v_op_layernorm(pool, h, x, bl->norm_cross.w, bl->norm_cross.b, NB,
                          D, LN_EPS);
        st2v_op_linear(pool, wbuf, h, &bl->cross_q, NB, ST2V_ACT_NONE);
        st2v_op_head_rmsnorm(pool, wbuf, D, bl->cross_q_norm, NB, H, hd,
                             QK_EPS);
        for (int b = 0; b < nb; b++) {
            const float *kvl = kv[b] + (size_t)l * n[b] * 2 * D; /* (n, 2D) */
            st2v_op_attention(pool, att + (size_t)b * N * D, D,
                              wbuf + (size_t)b * N * D, D, kvl, 2 * D,
                              kvl + D, 2 * D, (int)N, n[b], H, hd, sc);
        }
        st2v_op_linear_residual(pool, x, att, &bl->cross_proj, NB, NULL, 0, 1,
                                NULL);

        /* MLP */
        st2v_op_layernorm_modulate(pool, h, x, mod + 3 * D, mod + 4 * D,
                                   ldm, group, NB, D, LN_EPS);
        st2v_op_linear(pool, wbuf, h, &bl->fc1, NB, ST2V_ACT_GELU);
        st2v_op_linear_residual(pool, x, wbuf, &bl->fc2, NB, mod + 5 * D, ldm,
                                group, tmp);
    }

    /* final layer: shift, scale = final.ada(SiLU(y)) */
    st2v_op_linear(pool, mod, sy, &w->final_ada, (int64_t)nb * Tp,
                   ST2V_ACT_NONE);
    st2v_op_layernorm_modulate(pool, h, x, mod, mod + D, 2 * D, group, NB, D,
                               LN_EPS);
    st2v_op_linear(pool, tok, h, &w->final_linear, NB, ST2V_ACT_NONE);
    for (int b = 0; b < nb; b++)
        patch_map(tok + (size_t)b * N * P, v[b], cfg, T, Hl, Wl, 0);

    st2v_free(buf);
    return ST2V_OK;
}
