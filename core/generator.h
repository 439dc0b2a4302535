/*
 * generator.h - internals of the generator (generator.c) that tests use:
 * a prompt's conditioning (token ids to DiT cross-attention keys/values)
 * and the sampling of one latent window with guidance. The generator
 * itself runs exactly these functions, chunk after chunk.
 * Not part of the public API.
 */
#ifndef ST2V_GENERATOR_H
#define ST2V_GENERATOR_H

#include <stdatomic.h>
#include <stdint.h>

#include "model.h"
#include "pool.h"
#include "st2v.h"

/* One encoded prompt. */
typedef struct st2v_cond {
    int n;                     /* tokens */
    float *kv;                 /* st2v_dit_prepare_text's (layers, n, 2D) + (D) */
} st2v_cond;

/* Text-encode ids (n), 1 <= n <= L, and prepare the DiT keys/values.
 * Replaces what c held. Returns 0 or a negative status. */
int st2v_cond_encode(st2v_cond *c, const st2v_model *m, st2v_pool *pool,
                     const int32_t *ids, int n);
void st2v_cond_free(st2v_cond *c);

/* One latent window to sample. */
typedef struct st2v_window_job {
    st2v_sampler sampler;      /* EULER, HEUN or DPMPP_2M */
    int steps;
    float cfg;                 /* 1 = conditional pass only */
    float shift;
    int T, Hl, Wl;             /* window: (Cz, T, Hl, Wl), T % pt == 0 */
    int n_context;             /* clean leading frames, multiple of pt */
    const st2v_cond *pos;      /* the prompt */
    const st2v_cond *neg;      /* the negative prompt; unused when cfg == 1 */
    atomic_int *cancel;        /* checked before every DiT call; may be NULL */
    /* after each step; a non-zero return cancels. May be NULL. */
    int (*on_step)(void *user, int step, int steps);
    void *user;
} st2v_window_job;

/* Sample x (Cz, T, Hl, Wl), normalised latent with clean context in its
 * first n_context frames and noise in the rest, in place from t = 1 to 0.
 * RoPE positions are relative to the window (t0 = 0). */
int st2v_sample_window(const st2v_model *m, st2v_pool *pool,
                       const st2v_window_job *job, float *x);

/* The same from token ids: encodes ids and neg_ids (neg_ids may be NULL
 * when cfg == 1), then st2v_sample_window. */
int st2v_sample_window_ids(const st2v_model *m, st2v_pool *pool,
                           const int32_t *ids, int n_ids,
                           const int32_t *neg_ids, int n_neg,
                           st2v_sampler sampler, int steps, float cfg,
                           float shift, int T, int Hl, int Wl, int n_context,
                           float *x);

/* Output frame k shows native frame floor(k * native_fps / fps + 1e-9). */
int64_t st2v_native_frame_index(int64_t k, int native_fps, int fps_num,
                                int fps_den);

#endif /* ST2V_GENERATOR_H */
