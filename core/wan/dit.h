/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dit.h - the DiT of Wan2.1 text to video (WanModel, model_type 't2v',
 * wan/modules/model.py), computed in float32 from F32, F16 or BF16 weights
 * used in place in the mapped file (wtensor.h): the 2.8 GB bf16 1.3B model
 * is never widened whole. The reference is train/wan/dit.py; its top
 * comment has the mathematics, ../shared/WAN-NOTES.md section 2.1 the
 * facts.
 *
 * Key names are the official ones (core/wan/names.c lists them: 825 for
 * the 1.3B), after an optional prefix; wan_files (files.h) holds a DiT
 * file under exactly those names whatever its layout, and its config.
 * Scaled fp8 (F8_E4M3) weights are refused (not yet supported).
 *
 * The text context: Wan zero-pads the umT5 rows to text_len and attends
 * to all of them without a mask; the padded rows are one and the same
 * key, so this DiT keeps the n real rows and one pad row whose logit gains
 * ln(text_len - n): the same result (train/wan/test_dit.py checks it),
 * cross-attention over n + 1 keys instead of text_len.
 *
 * Self-attention is flash style (attention.h): memory grows with the
 * tokens, not their square.
 *
 * Classifier-free guidance: wan_dit_forward_multi runs B contexts (the
 * prompt and the negative prompt) on the same latent and timestep in one
 * call: one time and patch embedding, one scratch, block by block for all
 * contexts (each block's weights read while they are in cache); each
 * context's rows go through exactly the products of wan_dit_forward, so
 * the results are the same bits.
 *
 * Ownership and threads: a wan_dit borrows the st_file it was loaded from
 * (which must stay open until wan_dit_free) and owns only float32 copies
 * of its vectors (biases, norm weights, modulation tables). It is
 * read-only after load: any number of threads may run it at once, each
 * with its own pool; every call allocates its own scratch. Results are
 * bit-identical for any pool (NULL = serial).
 */
#ifndef ST2V_WAN_DIT_H
#define ST2V_WAN_DIT_H

#include <stddef.h>
#include <stdint.h>

#include "pool.h"
#include "safetensors.h"
#include "wan/names.h"

typedef struct wan_dit wan_dit;

/* The config of the DiT in f (under prefix) from its tensor shapes, over
 * *cfg (which keeps num_heads, text_len and eps, no tensor carries them):
 * dim, in_dim and the patch from patch_embedding, text_dim, freq_dim,
 * ffn_dim from blocks.0, out_dim from the head, the layers counted. */
int wan_dit_config_from_file(wan_dit_config *cfg, const st_file *f,
                             const char *prefix, char *err, size_t err_size);

/* Bind the DiT of config cfg to the tensors of f named prefix + the
 * official names (prefix NULL or "" for none). Every tensor must be
 * present with exactly its shape, in F32, F16 or BF16; otherwise
 * ST2V_ERR_FORMAT (ST2V_ERR_UNSUPPORTED for F8_E4M3) and err names the
 * tensor. ST2V_ERR_FORMAT for a config that fails wan_dit_config_check. */
int wan_dit_load(wan_dit **out, const st_file *f, const char *prefix,
                 const wan_dit_config *cfg, char *err, size_t err_size);
void wan_dit_free(wan_dit *m);

const wan_dit_config *wan_dit_get_config(const wan_dit *m);

/* The BF16 path (on = 1): the linear layers of the blocks (attention q,
 * k, v, o; the feed-forward) and of the text and time embeddings computed
 * in bfloat16 products summed in float32 (ops_bf16.h, AVX512-BF16), over
 * their BF16 weights where they lie, the activations rounded to bfloat16;
 * with them the self and cross attention's products (attention.h's
 * st2v_flash_attention_bf16, for head widths that are multiples of 16);
 * the patch embedding and the head stay float32. F32 and F16 weights stay
 * float32 too: the kernel reads bfloat16 in place, and rounding them would
 * need a copy of the weights. on = 0: float32 again (the default). Returns
 * 1 where the path is used, 0 where nothing changes (no BF16 weights, or
 * a CPU without AVX512-BF16 or capped by ST2V_CPU: float32 there). Call
 * it before any forward, not while one runs. */
int wan_dit_use_bf16(wan_dit *m, int on);

/* The velocity out (out_dim, F, H, W) for the latent x (in_dim, F, H, W)
 * at timestep t (Wan's 0 .. 1000) and the text context ctx (n, text_dim):
 * the n real umT5 rows (EOS included, no padding), 1 <= n <= text_len.
 * F, H, W divisible by the patch. ST2V_ERR_INVALID_ARG for bad sizes,
 * ST2V_ERR_NOMEM. Scratch: about L * (5 dim + ffn_dim) floats for L =
 * F*H*W / (pt*ph*pw) tokens (ffn rows in chunks of at most 2048), plus
 * per thread one weight tile and one attention tile. */
int wan_dit_forward(const wan_dit *m, st2v_pool *pool, const float *x, int F,
                    int H, int W, double t, const float *ctx, int n,
                    float *out);

/* The same for B contexts ctx[b] (n[b], text_dim) on one latent and
 * timestep, e.g. the CFG pair (prompt, negative prompt): out[b] receives
 * what wan_dit_forward(.., ctx[b], n[b], out[b]) gives, bit for bit.
 * 1 <= B <= 8. Scratch grows with B * L. */
int wan_dit_forward_multi(const wan_dit *m, st2v_pool *pool, const float *x,
                          int F, int H, int W, double t, int B,
                          const float *const *ctx, const int *n,
                          float *const *out);

/* ----------------------------------------------- parts, for the tests */

/* e (dim) = time_embedding(sinusoid(t)), e0 (6, dim) = time_projection(e).
 * The sinusoid in float64, cat[cos, sin]. */
int wan_dit_time_embed(const wan_dit *m, double t, float *e, float *e0);

/* out (rows, dim) = text_embedding of the n real rows of ctx, then, when
 * n < text_len, of one zero row (the pad key); *rows = n or n + 1. out
 * holds n + 1 rows. */
int wan_dit_text_embed(const wan_dit *m, st2v_pool *pool, const float *ctx,
                       int n, float *out, int *rows);

/* tokens (L, dim): the token rows after the patch embedding and the first
 * `layers` blocks (0 .. num_layers) for one context. */
int wan_dit_tokens(const wan_dit *m, st2v_pool *pool, const float *x, int F,
                   int H, int W, double t, const float *ctx, int n,
                   int layers, float *tokens);

/* The attention of a self-attention block between its projections, in
 * place on q, k (L, heads*hd) of the tokens of an (f, h, w) grid: q and k
 * each RMS-normed over the full width (weights norm_q, norm_k), split into
 * heads of hd, rotated by the 3D RoPE (hd - 4*(hd/6), 2*(hd/6), 2*(hd/6));
 * then out (L, heads*hd) = attention(q, k, v). ST2V_ERR_NOMEM. */
int wan_dit_self_attention(st2v_pool *pool, float *out, float *q, float *k,
                           const float *v, const int grid[3], int heads,
                           int hd, const float *norm_q, const float *norm_k,
                           float eps);

#endif /* ST2V_WAN_DIT_H */
