/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * names.h - the tensors of Wan2.1's DiT and VAE as data: for a config (the
 * DiT's config.json, the VAE's defaults or Diffusers' vae/config.json), the
 * complete list of tensors the official code (wan/modules/model.py,
 * vae.py) holds, each with its official name, its name in the Diffusers
 * layout, and its shape. A 1.3B config gives the 825 DiT tensors of
 * Wan2.1-T2V-1.3B, a 14B config its own list; the default VAE gives the
 * 194 tensors of Wan2.1_VAE.pth.
 *
 * Layouts (../shared/WAN-NOTES.md section 3):
 *   official   Wan-AI's files and Comfy-Org's repackaged ones (the same
 *              names, the latter under an optional prefix that files.c
 *              strips): blocks.N.self_attn.q.weight, decoder.upsamples.K..
 *   Diffusers  Wan-AI/Wan2.1-T2V-*-Diffusers: condition_embedder.*,
 *              attn1/attn2.to_q .. to_out.0, scale_shift_table, proj_out,
 *              ffn.net.0.proj, and norm2 for the official norm3 (the
 *              affine norm before cross-attention; the official norm2
 *              has no weights);
 *              decoder.up_blocks.I.resnets.J, mid_block, conv_in, ...
 * The umT5 encoder's two layouts (official, Hugging Face's UMT5) are
 * umt5.c's business; the tokenizer has no tensors.
 *
 * Not here: reading files (files.c), the mathematics (part 2: dit.c,
 * vae.c). Every function returns 0 or a negative st2v_status; the config
 * readers leave a one-line message in err.
 */
#ifndef ST2V_WAN_NAMES_H
#define ST2V_WAN_NAMES_H

#include <stddef.h>
#include <stdint.h>

#define WAN_NAME_MAX 96 /* longest name + NUL, both layouts */
#define WAN_MAX_DIMS 5
#define WAN_VAE_STAGES 4 /* len(dim_mult): vae.py hard-codes 4 stages */

/* The two names of a tensor. */
enum { WAN_NAMES_OFFICIAL = 0, WAN_NAMES_DIFFUSERS = 1, WAN_N_NAMES = 2 };

/* One tensor a component must hold. */
typedef struct wan_tensor_spec {
    char name[WAN_N_NAMES][WAN_NAME_MAX]; /* official, Diffusers */
    int ndim;
    int64_t shape[WAN_MAX_DIMS];
} wan_tensor_spec;

/* The DiT of model.py (WanModel), text to video. */
typedef struct wan_dit_config {
    int dim;        /* model width D (1536) */
    int ffn_dim;    /* feed-forward width F (8960) */
    int num_heads;  /* 12; no tensor shape depends on it */
    int num_layers; /* 30 */
    int in_dim;     /* latent channels in (16) */
    int out_dim;    /* latent channels out (16) */
    int text_dim;   /* umT5 width (4096) */
    int freq_dim;   /* sinusoidal time embedding width (256) */
    int text_len;   /* context rows the DiT reads (512) */
    int patch[3];   /* (pt, ph, pw) = (1, 2, 2) */
    float eps;      /* norms' epsilon (1e-6) */
} wan_dit_config;

/* The VAE of vae.py (WanVAE_): attn_scales = [] (attention in the middle
 * blocks only), temporal upsampling the reverse of the downsampling. */
typedef struct wan_vae_config {
    int dim;                               /* base width (96) */
    int z_dim;                             /* latent channels (16) */
    int dim_mult[WAN_VAE_STAGES];          /* 1, 2, 4, 4 */
    int num_res_blocks;                    /* 2 (decoder: 3 per stage) */
    int temporal_down[WAN_VAE_STAGES - 1]; /* 0, 1, 1 */
} wan_vae_config;

/* Wan2.1-T2V-1.3B (wan/configs/wan_t2v_1_3B.py). */
wan_dit_config wan_dit_config_1_3b(void);
/* _video_vae's defaults with z_dim 16. */
wan_vae_config wan_vae_config_default(void);

/* 0 when every size is positive and consistent (dim divisible by
 * num_heads, 2 <= dim / num_heads, small enough that no shape product
 * overflows); else ST2V_ERR_FORMAT and a message naming the field. */
int wan_dit_config_check(const wan_dit_config *c, char *err, size_t err_size);
int wan_vae_config_check(const wan_vae_config *c, char *err, size_t err_size);

/* Read a DiT config.json over *c (which holds the defaults for absent
 * keys): the official keys (dim, ffn_dim, num_heads, num_layers, in_dim,
 * out_dim, text_dim, freq_dim, text_len, patch_size, eps, model_type) or
 * Diffusers' (num_attention_heads x attention_head_dim, in_channels,
 * out_channels, ...). A model_type other than "t2v", or Diffusers'
 * image_dim / added_kv_proj_dim, is ST2V_ERR_UNSUPPORTED (image to video
 * is not done yet). The result is checked. json need not be NUL-terminated. */
int wan_dit_config_parse(wan_dit_config *c, const char *json, size_t n,
                         char *err, size_t err_size);
/* Read Diffusers' vae/config.json (base_dim, z_dim, dim_mult,
 * num_res_blocks, temperal_downsample, attn_scales) over *c. */
int wan_vae_config_parse(wan_vae_config *c, const char *json, size_t n,
                         char *err, size_t err_size);

/* Is this JSON a DiT's config (1), a VAE's (2), or neither (0)? By its keys:
 * num_layers, or base_dim / z_dim. */
int wan_config_kind(const char *json, size_t n);

/* *out (malloc'ed, free()) = the *n tensors of the DiT / VAE of config c,
 * the same set of names and shapes as the official modules' state_dict
 * (checked against them), in an order of their own. ST2V_ERR_NOMEM, or
 * ST2V_ERR_FORMAT for a config that fails its check. */
int wan_dit_tensors(const wan_dit_config *c, wan_tensor_spec **out, int *n);
int wan_vae_tensors(const wan_vae_config *c, wan_tensor_spec **out, int *n);

#endif /* ST2V_WAN_NAMES_H */
