/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vae.h - the causal video autoencoder (docs/model-format.md, section 6).
 * The decoder streams: one latent frame in, ft RGB frames out, each causal
 * convolution keeping its last kt-1 input frames, so memory is bounded for
 * endless video and the result equals decoding the whole sequence at once.
 */
#ifndef ST2V_WORLD_VAE_H
#define ST2V_WORLD_VAE_H

#include "model.h"
#include "pool.h"

typedef struct st2v_vae_stream st2v_vae_stream;

/* A decoder stream for latents of Hl x Wl. */
int st2v_vae_stream_new(st2v_vae_stream **out, const st2v_world *m, int Hl,
                        int Wl);
void st2v_vae_stream_free(st2v_vae_stream *s);
/* Forget all history: the next frame is decoded as the first. */
void st2v_vae_stream_reset(st2v_vae_stream *s);

/* z (Cz, Hl, Wl) not normalised -> rgb (3, ft, Hl*s, Wl*s), nominally in
 * [-1, 1]. Returns 0 or a negative status. */
int st2v_vae_decode_frame(st2v_vae_stream *s, st2v_pool *pool, const float *z,
                          float *rgb);

/* Whole-sequence encoder: rgb (3, T*ft, H, W) in [-1, 1] -> z (Cz, T, H/s,
 * W/s), not normalised. H and W divisible by s. */
int st2v_vae_encode(const st2v_world *m, st2v_pool *pool, const float *rgb,
                    int T, int H, int W, float *z);

#endif /* ST2V_WORLD_VAE_H */
