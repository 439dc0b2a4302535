/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * arch.h - the seam between libst2v and its model families. A family (an
 * architecture with its file layout: the st2v world model in core/st2v/,
 * Wan2.1 in core/wan/) is one table of functions, st2v_arch; everything
 * above it (st2v_model_load, the generator, guidance, samplers, scaling)
 * is shared and asks the family only through this table and the
 * capabilities it declares at load, never through fixed assumptions.
 *
 * A third family: a folder core/<family>/ with its loader and mathematics,
 * one `const st2v_arch st2v_arch_<family>` in it, and one line in the
 * list of core/model.c. Not part of the public API.
 *
 * Dimension key: Cz latent channels, T latent frames, Hl x Wl latent
 * cells, H x W native pixels, ft RGB frames per latent frame, pt latent
 * frames per temporal patch (they share a timestep).
 */
#ifndef ST2V_ARCH_H
#define ST2V_ARCH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "folder.h"
#include "pool.h"
#include "sampler.h"
#include "st2v.h"

/* --------------------------------------------------------- capabilities */

#define ST2V_ARCH_ENDLESS 0x1u /* frames = -1: chunk after chunk, forever */
#define ST2V_ARCH_IMAGE 0x2u   /* a conditioning image (encode_image) */
#define ST2V_ARCH_ANY_SIZE 0x4u /* renders any size divisible by
                                   size_multiple, not only its native ones */
#define ST2V_ARCH_TRUNCATE_U8 0x8u /* bytes as the family saves video:
                                      (x + 1) / 2 * 255 truncated (Wan's
                                      cache_video), not rounded */

/* What the generator may assume of a loaded model: filled by load. */
typedef struct st2v_arch_caps {
    int latent_channels;       /* Cz */
    int spatial_factor;        /* native pixels per latent cell side */
    int frames_per_latent;     /* ft: RGB frames of each latent frame ... */
    int first_frames;          /* ... but the first, which gives this many
                                  (ft; 1 for Wan's causal VAE) */
    int temporal_patch;        /* pt; windows are multiples of it */
    int window;                /* latent frames sampled at once; 0 = the
                                  whole video is one window */
    int context;               /* clean latent frames carried from one
                                  window into the next (< window) */
    int max_text_tokens;       /* context window of the text encoder */
    unsigned flags;            /* ST2V_ARCH_* */
    int size_multiple;         /* with ST2V_ARCH_ANY_SIZE: sides divisible
                                  by this (Wan: 16) */
    st2v_schedule_kind schedule; /* the samplers' sigmas and model times
                                    (sampler.h); 0: the world model's */
} st2v_arch_caps;

/* --------------------------------------------------------- the calls */

/* What detect found at a path, for choosing a family and for the one-line
 * message when nothing loads. */
typedef struct st2v_detect {
    int found;                 /* parts of this family found; 0 = none */
    int complete;              /* every part that load needs is there */
    char what[512];            /* one line: what was found, what is missing */
} st2v_detect;

/* One model call of a sampling step: the velocity of the same x at the
 * same timesteps under one prompt, or under the guidance pair (prompt and
 * negative prompt) in one batched call. */
typedef struct st2v_velocity_call {
    int T, Hl, Wl;
    const float *x;            /* (Cz, T, Hl, Wl) normalised latent */
    const float *t;            /* (T / pt) timestep per temporal patch, 0..1
                                  (caps.schedule says which) */
    int n;                     /* 1: cond[0] only; 2: the guidance pair */
    const void *cond[2];       /* from encode_text: prompt, negative prompt */
    float *v[2];               /* (Cz, T, Hl, Wl) velocity under cond[i] */
    atomic_int *cancel;        /* non-zero: stop with ST2V_ERR_CANCELLED
                                  between passes; may be NULL */
} st2v_velocity_call;

/* Analytic compute of a video (a multiply-add counts 2). */
typedef struct st2v_cost {
    double text;               /* text encoder, all prompts of the video */
    double dit;                /* every DiT forward of every chunk */
    double decoder;            /* the autoencoder's decoder */
    double total;
    double per_second;         /* total / seconds of video */
} st2v_cost;

/* A family. impl is the family's read-only model (its weights); cond and
 * dec are its per-generator objects. Every int function returns 0 or a
 * negative st2v_status; load and detect write one-line messages. */
typedef struct st2v_arch {
    const char *name;          /* "st2v", "wan2.1": in messages and info */
    const char *wants;         /* what a path of this family holds */
    const char *default_negative; /* the negative prompt when the user
                                     gives none (NULL: unconditional) */

    /* Look at path without loading: a file (folder NULL), or a folder
     * and its listing. */
    void (*detect)(const char *path, const st2v_folder *folder,
                   st2v_detect *out);
    /* Load what detect found complete: *impl, *info (its pointers into
     * impl) and *caps. */
    int (*load)(void **impl, const char *path, const st2v_folder *folder,
                const st2v_model_params *params, st2v_model_info *info,
                st2v_arch_caps *caps, char *err, size_t err_size);
    void (*free)(void *impl);

    /* Prompt text (any bytes) -> *cond, which velocity reads. */
    int (*encode_text)(const void *impl, st2v_pool *pool, const char *text,
                       void **cond);
    void (*cond_free)(void *cond);

    int (*velocity)(const void *impl, st2v_pool *pool,
                    const st2v_velocity_call *call);

    /* A streaming decoder of Hl x Wl latents: z (Cz, Hl, Wl) normalised,
     * overwritten -> rgb (3, *n_frames, H, W) in [-1, 1], *n_frames
     * first_frames for the first latent frame, frames_per_latent after. */
    int (*decoder_new)(void **dec, const void *impl, int Hl, int Wl);
    void (*decoder_reset)(void *dec);
    void (*decoder_free)(void *dec);
    int (*decode_frame)(void *dec, st2v_pool *pool, float *z, float *rgb,
                        int *n_frames);

    /* rgb (H, W, 3) packed at native size -> z (Cz, Hl, Wl) normalised;
     * NULL without ST2V_ARCH_IMAGE. */
    int (*encode_image)(const void *impl, st2v_pool *pool, const uint8_t *rgb,
                        int W, int H, float *z);

    /* Compute of `frames` native frames at (W, H): `calls` model calls per
     * window, `passes` prompts per call, `n_text` tokens per prompt. */
    void (*cost)(const void *impl, int W, int H, int64_t frames, int calls,
                 int passes, int n_text, st2v_cost *out);
} st2v_arch;

/* The families (each in its folder). */
extern const st2v_arch st2v_arch_world;  /* core/st2v/family.c */
extern const st2v_arch st2v_arch_wan;    /* core/wan/family.c */

/* ------------------------------------------------------------ a model */

/* What st2v_model_load returns: a family and its weights. */
struct st2v_model {
    const st2v_arch *arch;
    void *impl;                /* the family's model (st2v_world, ...) */
    st2v_model_info info;
    st2v_arch_caps caps;
    st2v_model_params params;
};

/* Wrap a family's loaded model into *out (the loader's last step; tests
 * that load from memory use it too). Takes impl; frees it on failure. */
int st2v_model_adopt(st2v_model **out, const st2v_arch *arch, void *impl,
                     const st2v_model_params *params,
                     const st2v_model_info *info, const st2v_arch_caps *caps);

/* "f32", "bf16" */
const char *st2v_dtype_name(st2v_dtype d);

#endif /* ST2V_ARCH_H */
