/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * text_encoder.c - the prompt encoder (docs/model-format.md, section 4):
 * token and position embeddings, pre-norm transformer blocks with full
 * attention over the prompt, a final LayerNorm.
 *
 * Not here: tokenisation (tokenizer.c), cross-attention keys (dit.c).
 */
#include <string.h>

#include "common.h"
#include "ops.h"
#include "text_encoder.h"

int st2v_text_encode(const st2v_world *m, st2v_pool *pool, const int32_t *ids,
                     int n, float *out)
{
    const st2v_config *cfg = &m->cfg;
    const int Dt = cfg->text_dim, Ht = cfg->text_heads, Mt = cfg->text_mlp;
    const int hdt = Dt / Ht;
    if (n < 1 || n > cfg->max_length)
        return ST2V_ERR_INVALID_ARG;
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= cfg->vocab_size)
            return ST2V_ERR_INVALID_ARG;

    const size_t nd = (size_t)n * Dt;
    const size_t n_att = st2v_op_attention_scratch(pool, n, hdt);
    float *buf = st2v_alloc_floats(2 * nd + (size_t)n * 3 * Dt +
                                   (size_t)n * Mt + n_att);
    if (!buf)
        return ST2V_ERR_NOMEM;
    float *x = buf;                 /* (n, Dt) residual stream */
    float *h = x + nd;              /* (n, Dt) normalised / attention out */
    float *qkv = h + nd;            /* (n, 3Dt) */
    float *mlp = qkv + (size_t)n * 3 * Dt; /* (n, Mt) */
    float *att = mlp + (size_t)n * Mt;     /* attention scratch */

    const st2v_text_weights *tw = &m->text;
    for (int i = 0; i < n; i++) {
        const float *te = tw->tok_emb + (size_t)ids[i] * Dt;
        const float *pe = tw->pos_emb + (size_t)i * Dt;
        for (int c = 0; c < Dt; c++)
            x[(size_t)i * Dt + c] = te[c] + pe[c];
    }

    for (int l = 0; l < cfg->text_layers; l++) {
        const st2v_text_block *b = &tw->blocks[l];
        st2v_op_layernorm(pool, h, x, b->norm1.w, b->norm1.b, n, Dt, 1e-5f);
        st2v_op_linear(pool, qkv, h, &b->qkv, n, ST2V_ACT_NONE);
        st2v_op_attention(pool, h, Dt, qkv, 3 * Dt, qkv + Dt, 3 * Dt,
                          qkv + 2 * Dt, 3 * Dt, n, n, Ht, hdt, att);
        st2v_op_linear_residual(pool, x, h, &b->proj, n, NULL, 0, 1, NULL);
        st2v_op_layernorm(pool, h, x, b->norm2.w, b->norm2.b, n, Dt, 1e-5f);
        st2v_op_linear(pool, mlp, h, &b->fc1, n, ST2V_ACT_GELU);
        st2v_op_linear_residual(pool, x, mlp, &b->fc2, n, NULL, 0, 1, NULL);
    }
    st2v_op_layernorm(pool, out, x, tw->norm.w, tw->norm.b, n, Dt, 1e-5f);
    st2v_free(buf);
    return ST2V_OK;
}
