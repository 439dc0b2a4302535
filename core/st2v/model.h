/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * model.h - the world model family's loaded model (st2v_world): the file,
 * its config, and every weight bound to a named field with its shape in a
 * comment. Shapes follow PyTorch: a linear weight is (out, in) and computes
 * y = x W^T + b. Read-only once loaded; shared by all generators. The
 * family's entry in the table of core/arch.h is in family.c.
 */
#ifndef ST2V_WORLD_MODEL_H
#define ST2V_WORLD_MODEL_H

#include "config.h"
#include "safetensors.h"
#include "st2v.h"
#include "tokenizer.h"
#include "weights.h"

/* ------------------------------------------------------- text encoder */

typedef struct st2v_text_block {
    st2v_norm norm1;           /* LayerNorm (Dt) */
    st2v_linear qkv;           /* (3Dt, Dt) */
    st2v_linear proj;          /* (Dt, Dt) */
    st2v_norm norm2;           /* LayerNorm (Dt) */
    st2v_linear fc1;           /* (Mt, Dt) */
    st2v_linear fc2;           /* (Dt, Mt) */
} st2v_text_block;

typedef struct st2v_text_weights {
    const float *tok_emb;      /* (V, Dt) */
    const float *pos_emb;      /* (L, Dt) */
    st2v_text_block *blocks;   /* (text_layers) */
    st2v_norm norm;            /* LayerNorm (Dt) */
} st2v_text_weights;

/* ---------------------------------------------------------------- DiT */

typedef struct st2v_dit_block {
    st2v_linear ada;           /* (6D, D) */
    st2v_linear qkv;           /* (3D, D) */
    const float *q_norm;       /* (hd) */
    const float *k_norm;       /* (hd) */
    st2v_linear proj;          /* (D, D) */
    st2v_norm norm_cross;      /* LayerNorm (D) with affine */
    st2v_linear cross_q;       /* (D, D) */
    st2v_linear cross_kv;      /* (2D, Dt) */
    const float *cross_q_norm; /* (hd) */
    const float *cross_k_norm; /* (hd) */
    st2v_linear cross_proj;    /* (D, D) */
    st2v_linear fc1;           /* (M, D) */
    st2v_linear fc2;           /* (D, M) */
} st2v_dit_block;

typedef struct st2v_dit_weights {
    st2v_linear patch_embed;   /* (D, P) */
    st2v_linear t_fc1;         /* (D, F) */
    st2v_linear t_fc2;         /* (D, D) */
    st2v_linear text_pool;     /* (D, Dt); weight NULL without dit.text_pool */
    st2v_dit_block *blocks;    /* (layers) */
    st2v_linear final_ada;     /* (2D, D) */
    st2v_linear final_linear;  /* (P, D) */
} st2v_dit_weights;

/* ---------------------------------------------------- video autoencoder */

typedef struct st2v_res_block {
    const float *norm1;        /* (C) */
    st2v_conv conv1;           /* (C, C, kt, 3, 3) */
    const float *norm2;        /* (C) */
    st2v_conv conv2;           /* (C, C, kt, 3, 3) */
} st2v_res_block;

typedef struct st2v_vae_level {
    st2v_res_block *res;       /* (res_blocks) */
    st2v_conv resample;        /* decoder: up (i < Lv-1); encoder: down (i > 0);
                                  w == NULL where the level has none */
} st2v_vae_level;

typedef struct st2v_vae_weights {
    st2v_conv dec_in;          /* (C_0, Cz, kt_0, 3, 3) */
    st2v_vae_level dec[ST2V_MAX_VAE_LEVELS];
    const float *dec_norm_out; /* (C_{Lv-1}) */
    st2v_conv dec_out;         /* (3, C_{Lv-1}, 1, 3, 3) */
    st2v_conv enc_in;          /* (C_{Lv-1}, 3, kt_{Lv-1}, 3, 3) */
    st2v_vae_level enc[ST2V_MAX_VAE_LEVELS];
    const float *enc_norm_out; /* (C_0) */
    st2v_conv enc_out;         /* (Cz, C_0, 1, 3, 3) */
} st2v_vae_weights;

/* -------------------------------------------------------------- model */

/* The world model: its file, config and bound weights, and the tokenizer
 * built from its pieces. Read-only once loaded; a st2v_model of this
 * family holds one (st2v_world_of). */
typedef struct st2v_world {
    st_file file;              /* the mapping; F32 tensors point into it */
    void *file_buf;            /* the file read into memory when use_mmap
                                  is 0 (file points into it), else NULL */
    st2v_config cfg;
    float **owned;             /* converted (F16/BF16/unaligned) tensors */
    int n_owned;
    void *bind_storage;        /* block arrays, freed with the model */
    void *packed;              /* the DiT's token-wise linears packed at
                                  load (st2v_world_pack): their wp (bf16 on
                                  a CPU with AVX512-BF16) or wf (f32 on one
                                  with AVX-512F), or NULL */
    st2v_tokenizer *tok;       /* read-only, shared by all generators */

    st2v_text_weights text;
    st2v_dit_weights dit;
    st2v_vae_weights vae;

    st2v_model_info info;
    int info_sizes[ST2V_MAX_SIZES][2];
    int64_t n_params;
} st2v_world;

/* Load a world model file (params may be NULL: the defaults). */
int st2v_world_load(st2v_world **out, const char *path,
                    const st2v_model_params *params, char *err,
                    size_t err_size);
/* Load from a caller-owned buffer (tests craft bad files in memory). */
int st2v_world_load_memory(st2v_world **out, const void *buf, size_t size,
                           char *err, size_t err_size);
void st2v_world_free(st2v_world *w);

/* Pack the DiT's token-wise linear layers (attention, cross-attention,
 * MLP, patch embedding, final projection) for the BF16 path or the float32
 * AVX-512 kernel (ops.h), keeping the float32 weights. st2v_world_load
 * does it for the compute dtype where the CPU has the kernel's
 * instructions (st2v_op_bf16_supported, st2v_op_f32_packed_supported). */
int st2v_world_pack(st2v_world *w, st2v_dtype dtype);

/* The world model behind a loaded model, or NULL for another family. */
const st2v_world *st2v_world_of(const st2v_model *m);

/* Load from a caller-owned buffer into a st2v_model of this family. */
int st2v_model_load_memory(st2v_model **out, const void *buf, size_t size,
                           char *err, size_t err_size);

#endif /* ST2V_WORLD_MODEL_H */
