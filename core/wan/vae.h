/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vae.h - the decoder of Wan2.1's video VAE (WanVAE_.decode of the
 * official wan/modules/vae.py), streaming: one latent frame in, its video
 * frames out (1 for a stream's first latent frame, 4 for every later one),
 * with the causal caches of the convolutions carried in a per-stream state.
 * Memory is the caches plus one chunk's activations whatever the duration
 * (at 320x512: 1.48 GB of caches, the largest stages' activations one
 * frame at a time).
 * The reference is train/wan/vae.py; its top comment has the mathematics,
 * including the chunk-1 special case of the temporal upsampling ('Rep').
 *
 * Key names are the official ones (Wan2.1_VAE, Comfy's wan_2.1_vae), after
 * an optional prefix; core/wan/names.c lists them. Only conv2 and the
 * decoder.* tensors are read: the encoder's may be present or not.
 *
 * Weights: F32, F16 or BF16 in the file; every decoder tensor is widened to
 * float32 once, at load (73 M floats, 0.29 GB, at the real config), so
 * every convolution is a plain sgemm. The file need not stay open after
 * wan_vae_load.
 *
 * Ownership: a wan_vae is read-only after load; any number of
 * wan_vae_state (one per stream) may decode with it at once, each from one
 * thread at a time with its own pool. Nothing prints; errors are values.
 */
#ifndef ST2V_WAN_VAE_H
#define ST2V_WAN_VAE_H

#include <stddef.h>
#include <stdint.h>

#include "pool.h"
#include "safetensors.h"
#include "wan/names.h"

/* Pixels per latent cell, each way; frames per latent frame after the
 * first (at the real config: 2 temporal upsamplings). */
#define WAN_VAE_SCALE 8

typedef struct wan_vae wan_vae;             /* the model, read-only */
typedef struct wan_vae_state wan_vae_state; /* one stream's caches */

/* Bind the decoder of config cfg (names.h; z_dim must be 16, the size of
 * WanVAE's latent mean and std) to the tensors of f named prefix + the
 * official names (prefix NULL or "" for none) and widen them to float32.
 * Every tensor the decoder reads must be present with exactly its shape
 * in F32, F16 or BF16; otherwise ST2V_ERR_FORMAT and err names the tensor,
 * its shape and the expected one. ST2V_ERR_INVALID_ARG for a bad config,
 * ST2V_ERR_NOMEM. */
/* The config of the decoder in f (under prefix), from its tensor shapes:
 * z_dim from conv2, the widths from each stage's first ResBlock, the
 * blocks per stage from where the first resample is, the temporal
 * upsamplings from the time_convs present; dim is the last stage's width
 * (dim_mult[0] = 1, as in every Wan VAE). The encoder is not read.
 * ST2V_ERR_FORMAT naming the tensor that is missing or does not fit.
 * wan_vae_load then checks every tensor. */
int wan_vae_config_from_file(wan_vae_config *cfg, const st_file *f,
                             const char *prefix, char *err, size_t err_size);

int wan_vae_load(wan_vae **out, const st_file *f, const char *prefix,
                 const wan_vae_config *cfg, char *err, size_t err_size);
void wan_vae_free(wan_vae *m);

const wan_vae_config *wan_vae_get_config(const wan_vae *m);

/* Frames a latent frame decodes to: 1 for the first, 1 << (number of
 * temporal upsamplings) = 4 after. */
int wan_vae_frames_per_latent(const wan_vae *m, int first);

/* A stream of latent frames of hl x wl cells (video frames of 8 hl x 8
 * wl pixels): caches allocated (zero) and sized once. ST2V_ERR_INVALID_ARG
 * for a non-positive or huge size, ST2V_ERR_NOMEM. */
int wan_vae_state_new(wan_vae_state **out, const wan_vae *m, int hl, int wl);
/* Start a new clip: caches zeroed, next frame is the first. */
void wan_vae_state_reset(wan_vae_state *s);
void wan_vae_state_free(wan_vae_state *s);

/* Decode the stream's next latent frame z (z_dim, hl, wl) into rgb (3, n,
 * 8 hl, 8 wl), n = *n_out = wan_vae_frames_per_latent(m, first): values
 * clamped to [-1, 1] as WanVAE.decode returns them. rgb must have room for
 * 3 * 4 * 64 hl wl floats. Bit-identical for any pool (NULL = serial).
 * ST2V_ERR_NOMEM (the state is then unchanged). */
int wan_vae_decode_frame(wan_vae_state *s, st2v_pool *pool, const float *z,
                         float *rgb, int *n_out);
/* The same before the clamp (for tests and comparisons). */
int wan_vae_decode_frame_raw(wan_vae_state *s, st2v_pool *pool,
                             const float *z, float *rgb, int *n_out);

/* How Wan saves video (utils.cache_video): dst[i] = uint8((clamp(src[i],
 * -1, 1) + 1) / 2 * 255), computed in float32 and truncated. */
void wan_vae_to_u8(uint8_t *dst, const float *src, size_t n);

/* Bytes of float32 cache a stream of hl x wl latent cells holds (the part
 * of its memory that persists between frames). */
size_t wan_vae_cache_bytes(const wan_vae *m, int hl, int wl);

#endif /* ST2V_WAN_VAE_H */
