/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * params.h - the generator's parameters (st2v_params of st2v.h): their
 * defaults, the name/value setter for option parsers, their limits, and
 * their validation against a model, which settles every default into
 * st2v_settled. Not part of the public API.
 */
#ifndef ST2V_PARAMS_H
#define ST2V_PARAMS_H

#include <stdint.h>

#include "arch.h"
#include "st2v.h"

#define ST2V_MAX_SIDE 8192
#define ST2V_MIN_SIDE 16
#define ST2V_MAX_FPS 1000.0
#define ST2V_MAX_DURATION 1e7
#define ST2V_MAX_FRAMES 10000000000LL /* ST2V_MAX_DURATION at ST2V_MAX_FPS */
#define ST2V_MAX_STEPS 1000
#define ST2V_MAX_CFG 100.0f
#define ST2V_MAX_SHIFT 100.0f
#define ST2V_MAX_THREADS 256
#define ST2V_MAX_IMAGE_SIDE 16384


/* Parameters checked against a model, every default settled. */
typedef struct st2v_settled {
    uint64_t seed;
    st2v_sampler sampler;          /* never DEFAULT */
    int steps;
    float cfg, shift;
    int width, height;             /* output */
    int fps_num, fps_den;          /* output, reduced */
    int64_t frames_total;          /* output frames, -1 endless */
    int64_t latents_total;         /* latent frames needed, -1 endless */
    int native_w, native_h;        /* the native size rendered */
    int Hl, Wl;                    /* its latent size */
    int ft, first, pt;             /* frames per latent (the first: first),
                                      temporal patch */
    int window, context;           /* latent frames */
    int threads;                   /* 1..ST2V_MAX_THREADS */
} st2v_settled;

/* Check p against m; on failure a one-line reason naming the parameter. */
int st2v_params_settle(st2v_settled *s, const st2v_model *m,
                       const st2v_params *p, char *err, size_t err_size);

/* Non-zero when s holds something other than white space. */
int st2v_nonblank(const char *s);

/* Output frame k shows native frame floor(k * native_fps / fps + 1e-9). */
int64_t st2v_native_frame_index(int64_t k, int native_fps, int fps_num,
                                int fps_den);

#endif /* ST2V_PARAMS_H */
