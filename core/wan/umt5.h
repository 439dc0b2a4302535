/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * umt5.h - the umT5-XXL text encoder of Wan2.1 (encoder only), computed in
 * float32 from F32, F16, BF16 or scaled F8_E4M3 weights (ComfyUI's
 * `X.scale_weight` beside `X.weight`) used in place in the mapped file
 * (wtensor.h): the 11 GB bf16 encoder is never widened whole. The
 * reference is train/wan/umt5.py; its top comment has the mathematics.
 *
 * Key names are the official ones (models_t5_umt5-xxl-enc-bf16.pth,
 * wan/modules/t5.py), after an optional prefix:
 *   token_embedding.weight                  (vocab, dim)
 *   blocks.N.norm1.weight                   (dim)
 *   blocks.N.attn.{q,k,v}.weight            (heads*head_dim, dim)
 *   blocks.N.attn.o.weight                  (dim, heads*head_dim)
 *   blocks.N.norm2.weight                   (dim)
 *   blocks.N.ffn.{gate.0,fc1}.weight        (ffn, dim)
 *   blocks.N.ffn.fc2.weight                 (dim, ffn)
 *   blocks.N.pos_embedding.embedding.weight (buckets, heads)
 *   norm.weight                             (dim)
 * or, the same tensors, Hugging Face's UMT5 names (Comfy's umt5_xxl_fp16 and
 * bf16 files): shared.weight (or encoder.embed_tokens.weight),
 * encoder.block.N.layer.0.{layer_norm, SelfAttention.{q,k,v,o},
 * SelfAttention.relative_attention_bias}.weight, encoder.block.N.layer.1.
 * {layer_norm, DenseReluDense.{wi_0 = gate.0, wi_1 = fc1, wo = fc2}}.weight,
 * encoder.final_layer_norm.weight. The layout is told from the names.
 *
 * Wan pads every prompt to 512 tokens and keeps the rows of the real ones
 * (EOS included); those rows never see the padding, so this encoder runs
 * the real tokens alone, which gives the same rows (train/wan/test_umt5.py
 * checks it). wan_umt5_context() adds the zero rows the DiT expects.
 *
 * Ownership: a wan_umt5 borrows the st_file it was loaded from (the file
 * must stay open until wan_umt5_free) and owns only small float32 copies of
 * its norm weights and position-bias tables. It is read-only after load:
 * any number of threads may encode with it at once, each with its own pool.
 *
 * Memory: when f is a file mapping (st_open), each block's pages leave the
 * resident set once the block has run (st2v_wview_release; they stay in
 * the page cache), so an encode holds about one block of weights (0.47 GB
 * in BF16 at full size) plus its scratch, not the 11.4 GB file.
 */
#ifndef ST2V_WAN_UMT5_H
#define ST2V_WAN_UMT5_H

#include <stddef.h>
#include <stdint.h>

#include "pool.h"
#include "safetensors.h"

/* Wan's text length: prompts are cut to this many tokens. */
#define WAN_UMT5_MAX_TOKENS 512

typedef struct wan_umt5_config {
    int vocab;      /* token embedding rows (256384) */
    int dim;        /* model width (4096) */
    int heads;      /* attention heads (64) */
    int head_dim;   /* per head (64); heads * head_dim need not be dim */
    int ffn;        /* width of the gated feed-forward layer (10240) */
    int layers;     /* blocks (24) */
    int buckets;    /* relative-position buckets, both directions (32) */
    int max_dist;   /* distance where the log-spaced buckets end (128) */
} wan_umt5_config;

typedef struct wan_umt5 wan_umt5;

/* The real encoder: umt5_xxl(encoder_only=True) of wan/modules/t5.py. */
wan_umt5_config wan_umt5_xxl_config(void);

/* The config of the encoder in f, from its tensor shapes: vocab and dim
 * from token_embedding, layers from the blocks present, buckets and heads
 * from blocks.0's position embedding, head_dim from its q, ffn from its
 * fc1; max_dist, which no tensor carries, is 128. Checks nothing else
 * (wan_umt5_load checks every tensor). */
int wan_umt5_config_from_file(wan_umt5_config *cfg, const st_file *f,
                              const char *prefix, char *err, size_t err_size);

/* Bind the encoder of config cfg to the tensors of f named prefix + the
 * names above (prefix NULL or "" for none). Every tensor must be present
 * with exactly its shape, in F32, F16, BF16 or F8_E4M3 (times its
 * `.scale_weight` when there is one, see wtensor.h); otherwise returns
 * ST2V_ERR_FORMAT and err names the tensor, its shape and the expected one.
 * ST2V_ERR_INVALID_ARG for a config with a non-positive size. */
int wan_umt5_load(wan_umt5 **out, const st_file *f, const char *prefix,
                  const wan_umt5_config *cfg, char *err, size_t err_size);
void wan_umt5_free(wan_umt5 *m);

const wan_umt5_config *wan_umt5_get_config(const wan_umt5 *m);

/* The BF16 path (on = 1): the blocks' BF16 linear layers (attention q, k,
 * v, o; the gated feed-forward) computed in bfloat16 products summed in
 * float32 over their weights where they lie (ops_bf16.h), the activations
 * rounded to bfloat16; norms, the relative position bias and the
 * attention stay float32, as do F32, F16 and FP8 weights. on = 0: float32
 * again (the default). Returns 1 where the path is used, 0 where nothing
 * changes (no BF16 weights, or a CPU without AVX512-BF16). Call it before
 * any encode, not while one runs. */
int wan_umt5_use_bf16(wan_umt5 *m, int on);

/* out (n, dim) = the encoder's rows for the n real tokens ids (EOS
 * included), 1 <= n <= WAN_UMT5_MAX_TOKENS, 0 <= ids < vocab. Bit-identical
 * for any pool (NULL = serial). ST2V_ERR_INVALID_ARG for bad n or ids,
 * ST2V_ERR_NOMEM. Scratch: about n * (2 dim + 4 heads*head_dim + 2 ffn)
 * floats, n^2 per thread, and one weight tile per thread. */
int wan_umt5_encode(const wan_umt5 *m, st2v_pool *pool, const int32_t *ids,
                    int n, float *out);

/* What the Wan DiT reads: out (text_len, dim) = the n rows of
 * wan_umt5_encode, then text_len - n rows of zeros (n <= text_len). */
int wan_umt5_context(const wan_umt5 *m, st2v_pool *pool, const int32_t *ids,
                     int n, int text_len, float *out);

/* The bucket of relative position rel = key - query: bidirectional, the
 * upper half for keys after the query, |rel| < buckets/4 exact, then
 * log-spaced up to max_dist in float32 as the official code, clamped. */
int wan_umt5_bucket(int rel, int buckets, int max_dist);

#endif /* ST2V_WAN_UMT5_H */
