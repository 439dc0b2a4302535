/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * config.h - the model configuration (docs/model-format.md, section 2):
 * parsed from the JSON in the file's metadata and checked for consistency
 * before any tensor is bound.
 */
#ifndef ST2V_WORLD_CONFIG_H
#define ST2V_WORLD_CONFIG_H

#include <stddef.h>

#define ST2V_MAX_VAE_LEVELS 8
#define ST2V_MAX_SIZES 16

typedef struct st2v_config {
    int format_version;
    char *name;                 /* owned strings */
    char *description;
    char *provenance_json;      /* the provenance object, serialised */

    /* tokenizer */
    int max_length;             /* L */
    int n_pieces;
    char **pieces;              /* n_pieces owned UTF-8 strings; id = 259 + i */
    int vocab_size;             /* V = 259 + n_pieces */

    /* text encoder */
    int text_dim, text_layers, text_heads, text_mlp; /* Dt, -, Ht, Mt */

    /* DiT */
    int dim, layers, heads, mlp;                     /* D, -, H, M */
    int patch[3];                                    /* pt, ph, pw */
    int rope_dims[3];                                /* rt, rh, rw */
    float rope_theta;
    int freq_dim;                                    /* F */
    int text_pool;             /* pooled text added to the timestep embedding */
    int extra_channels;        /* R: channels the DiT denoises beside the
                                  latent (ReDi), dropped before the decoder;
                                  0 where the key is absent */
    int dit_channels;          /* Cz + R: the DiT's and the sampler's latent */

    /* video autoencoder */
    int z_channels;                                  /* Cz */
    int n_levels;                                    /* Lv */
    int channels[ST2V_MAX_VAE_LEVELS];               /* C_i, the encoder's */
    int dec_channels[ST2V_MAX_VAE_LEVELS];           /* Cd_i (default C_i) */
    int res_blocks;
    int time_up[ST2V_MAX_VAE_LEVELS];                /* Lv - 1 entries */
    int space_up[ST2V_MAX_VAE_LEVELS];               /* Lv - 1 entries */
    int kt[ST2V_MAX_VAE_LEVELS];                     /* Lv entries */
    int ft, s;                                       /* temporal, spatial factor */
    float latent_mean[64], latent_std[64];           /* Cz <= 64 */

    /* video */
    int fps;
    int n_sizes;
    int sizes[ST2V_MAX_SIZES][2];                    /* {w, h} */

    /* sampler defaults */
    int steps;
    float guidance;                                  /* classifier-free scale */
    char sampler[16];
    float shift;
    int window, context;                             /* latent frames */
} st2v_config;

/* Parse and check `json`. On failure returns ST2V_ERR_FORMAT with a reason
 * naming the key ("config: dit.rope_dims must sum to head_dim 32, got 30"). */
int st2v_config_parse(st2v_config *c, const char *json, char *err,
                      size_t err_size);
void st2v_config_free(st2v_config *c);

#endif /* ST2V_WORLD_CONFIG_H */
