/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * family.c - Wan2.1 (text to video, 1.3B) as a family of core/arch.h:
 * recognising a folder of the files users download (files.c does the
 * finding and checking, in every layout), loading its parts, and each
 * call of the table mapped onto them:
 *
 *   encode_text  the tokenizer (spm.c) and umT5 (umt5.c): a prompt ->
 *                its n real rows (n, 4096), which the DiT pads to 512
 *   velocity     the DiT (dit.c), the guidance pair in one call
 *   decoder      the streaming VAE decoder (vae.c): 1 frame, then 4
 *
 * and what the generator may assume: 16 latent channels, 8 pixels per
 * cell, any size divisible by 16, windows of up to 21 latent frames (81
 * video frames, what the 1.3B model was trained on) continued chunk by
 * chunk, Wan's schedule (sampler.h), UniPC by default.
 *
 * Longer video: each chunk after the first starts with the last latent
 * frames of the one before (caps.context). Wan2.1's DiT takes one
 * timestep for all its tokens, so those clean frames are given to it
 * noised to the current noise level with noise of their own, fixed per
 * chunk, and their velocity is ignored (the sampler holds them): the
 * replacement method of inpainting, in time. Not here: file layouts
 * (files.c), the mathematics (umt5.c, spm.c, dit.c, vae.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "common.h"
#include "escape.h"
#include "rng.h"
#include "sampler.h"
#include "wan/family.h"
#include "wan/files.h"

/* Wan's default negative prompt (wan/configs/shared_config.py,
 * sample_neg_prompt): used whenever the user gives none, as the official
 * pipeline does. */
const char wan_default_negative[] =
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，"
    "整体发灰，最差质量，低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，"
    "画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，"
    "静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走";

/* The defaults for a CPU (docs/wan.md, "Sampling"): the official
 * sampler, shift and guidance, 20 steps instead of 50. */
#define WAN_DEFAULT_STEPS 20
#define WAN_DEFAULT_CFG 5.0f
#define WAN_DEFAULT_SHIFT 5.0f
#define WAN_FPS 16
#define WAN_WINDOW 21   /* latent frames: 81 video frames */
#define WAN_CONTEXT 2   /* latent frames carried into the next chunk */
#define WAN_SIZE_MULTIPLE 16

/* Native sizes, the first the default: Wan's 480p both ways, and two
 * smaller ones of the same shapes that a CPU renders ~2.4x sooner. */
static const int wan_sizes[][2] = {
    {832, 480}, {480, 832}, {512, 320}, {320, 512},
};

/* ------------------------------------------------------- the model */

void wan_model_free(wan_model *m)
{
    if (!m)
        return;
    wan_vae_free(m->vae);
    wan_dit_free(m->dit);
    wan_umt5_free(m->t5);
    wan_files_close(m->files); /* after the parts that borrow its files */
    free(m);
}

int wan_model_open(wan_model **out, const char *path, char *err,
                   size_t err_size)
{
    *out = NULL;
    wan_model *m = calloc(1, sizeof(*m));
    if (!m)
        return st2v_fail(err, err_size, ST2V_ERR_NOMEM, "out of memory");
    int rc = wan_files_open(&m->files, path, NULL, err, err_size);
    char found[400] = "";
    if (rc == 0) {
        snprintf(found, sizeof(found), "%s", err);
        rc = wan_umt5_load(&m->t5, &m->files->t5, NULL, &m->files->t5_cfg,
                           err, err_size);
    }
    wan_part part = WAN_PART_T5;
    if (rc == 0) {
        part = WAN_PART_DIT;
        rc = wan_dit_load(&m->dit, &m->files->dit, NULL, &m->files->dit_cfg,
                          err, err_size);
    }
    if (rc == 0) {
        part = WAN_PART_VAE;
        rc = wan_vae_load(&m->vae, &m->files->vae, NULL, &m->files->vae_cfg,
                          err, err_size);
    }
    if (rc != 0 && m->files) {
        /* a part the files hold that cannot run: the file's fault */
        char why[300], q[200];
        snprintf(why, sizeof(why), "%s", err);
        rc = rc == ST2V_ERR_INVALID_ARG ? ST2V_ERR_FORMAT : rc;
        st2v_fail(err, err_size, rc, "%s %s: %s", wan_part_name(part),
                  st2v_escape(q, sizeof(q), m->files->file[part]), why);
    }
    if (rc != 0) {
        wan_model_free(m);
        return rc;
    }
    snprintf(err, err_size, "%s", found);
    *out = m;
    return 0;
}

/* ------------------------------------------------------ conditioning */

void wan_cond_free(wan_cond *c)
{
    if (!c)
        return;
    st2v_free(c->ctx);
    free(c);
}

int wan_cond_encode(wan_cond **out, const wan_model *m, st2v_pool *pool,
                    const char *text)
{
    *out = NULL;
    if (!text)
        return ST2V_ERR_INVALID_ARG;
    const int dim = m->files->t5_cfg.dim;
    int32_t ids[WAN_UMT5_MAX_TOKENS];
    int n = 0;
    /* Wan's text_len (512) bounds the tokenizer and the DiT alike */
    int len = m->files->dit_cfg.text_len;
    len = len < WAN_UMT5_MAX_TOKENS ? len : WAN_UMT5_MAX_TOKENS;
    int rc = spm_encode_wan(m->files->tokenizer, text, ids, len, &n);
    if (rc != 0)
        return rc;
    wan_cond *c = calloc(1, sizeof(*c));
    if (!c)
        return ST2V_ERR_NOMEM;
    c->n = n;
    c->ctx = st2v_alloc_floats((size_t)n * dim); /* (n, dim) */
    rc = c->ctx ? wan_umt5_encode(m->t5, pool, ids, n, c->ctx)
                : ST2V_ERR_NOMEM;
    if (rc != 0) {
        wan_cond_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* -------------------------------------------------------- the calls */

static void wan_detect(const char *path, const st2v_folder *folder,
                       st2v_detect *out)
{
    (void)folder; /* files.c lists the folder itself, deeper */
    wan_files *w = NULL;
    int parts = 0;
    char msg[sizeof(out->what)];
    int rc = wan_files_open(&w, path, &parts, msg, sizeof(msg));
    wan_files_close(w);
    out->found = parts;
    /* every part present: load says exactly what is wrong, if anything */
    out->complete = rc == 0 || parts == WAN_N_PARTS;
    snprintf(out->what, sizeof(out->what), "%s", msg);
}

/* What the generator may assume (arch.h). */
static void wan_caps(const wan_model *m, st2v_arch_caps *caps)
{
    memset(caps, 0, sizeof(*caps));
    caps->latent_channels = m->files->dit_cfg.in_dim;
    caps->spatial_factor = WAN_VAE_SCALE;
    caps->frames_per_latent = wan_vae_frames_per_latent(m->vae, 0);
    caps->first_frames = wan_vae_frames_per_latent(m->vae, 1);
    caps->temporal_patch = m->files->dit_cfg.patch[0];
    caps->window = WAN_WINDOW;
    caps->context = WAN_CONTEXT;
    caps->max_text_tokens = WAN_UMT5_MAX_TOKENS;
    caps->size_multiple = WAN_SIZE_MULTIPLE;
    caps->schedule = ST2V_SCHEDULE_WAN;
    caps->flags = ST2V_ARCH_ENDLESS | ST2V_ARCH_ANY_SIZE |
                  ST2V_ARCH_TRUNCATE_U8;
}

/* The DiT's parameters, from the config (names.h lists the tensors). */
static int64_t dit_params(const wan_dit_config *c)
{
    wan_tensor_spec *t = NULL;
    int n = 0;
    int64_t total = 0;
    if (wan_dit_tensors(c, &t, &n) != 0)
        return 0;
    for (int i = 0; i < n; i++) {
        int64_t e = 1;
        for (int d = 0; d < t[i].ndim; d++)
            e *= t[i].shape[d];
        total += e;
    }
    free(t);
    return total;
}

static void wan_cost(const void *impl, int W, int H, int64_t frames,
                     int calls, int passes, int n_text, st2v_cost *out);

static int wan_load(void **impl, const char *path, const st2v_folder *folder,
                    const st2v_model_params *params, st2v_model_info *info,
                    st2v_arch_caps *caps, char *err, size_t err_size)
{
    (void)folder; /* weights are used where they lie: compute dtype bf16
                     puts the BF16 linears of umT5 and the DiT on the BF16
                     path */
    wan_model *m = NULL;
    char found[400];
    int rc = wan_model_open(&m, path, found, sizeof(found));
    if (rc != 0)
        return st2v_fail(err, err_size, rc, "%s", found);
    if (params && params->compute_dtype == ST2V_DTYPE_BF16) {
        wan_umt5_use_bf16(m->t5, 1);
        wan_dit_use_bf16(m->dit, 1);
    }
    const wan_dit_config *c = &m->files->dit_cfg;
    if (c->dim == 1536 && c->num_layers == 30)
        snprintf(m->name, sizeof(m->name), "Wan2.1-T2V-1.3B");
    else
        snprintf(m->name, sizeof(m->name), "Wan2.1-T2V (dim %d, %d layers)",
                 c->dim, c->num_layers);
    snprintf(m->description, sizeof(m->description), "%s", found);
    m->n_params = dit_params(c);
    memset(info, 0, sizeof(*info));
    info->name = m->name;
    info->description = m->description;
    info->fps = WAN_FPS;
    info->n_sizes = (int)ST2V_ARRAY_SIZE(wan_sizes);
    info->sizes = wan_sizes;
    info->default_steps = WAN_DEFAULT_STEPS;
    info->default_cfg = WAN_DEFAULT_CFG;
    info->default_shift = WAN_DEFAULT_SHIFT;
    info->default_sampler = "unipc";
    info->frames_per_latent = wan_vae_frames_per_latent(m->vae, 0);
    info->spatial_factor = WAN_VAE_SCALE;
    info->n_params = m->n_params;
    st2v_cost cost;
    wan_cost(m, wan_sizes[0][0], wan_sizes[0][1], 5 * WAN_FPS,
             st2v_sampler_calls(ST2V_SAMPLER_UNIPC, WAN_DEFAULT_STEPS), 2,
             32, &cost);
    info->gflop_per_second = cost.per_second / 1e9;
    wan_caps(m, caps);
    *impl = m;
    return 0;
}

static void wan_free(void *impl)
{
    wan_model_free(impl);
}

static int wan_encode_text(const void *impl, st2v_pool *pool,
                           const char *text, void **cond)
{
    return wan_cond_encode((wan_cond **)cond, impl, pool, text);
}

static void wan_cond_free_any(void *cond)
{
    wan_cond_free(cond);
}

/* ------------------------------------------------------- the velocity */

/* Wan's DiT on the window x (Cz, T, Hl, Wl). The sampler's times are
 * Wan's truncated timesteps / 1000 (ST2V_SCHEDULE_WAN): lrintf(1000 t)
 * gives the integer back exactly. Context frames (time 0 while the rest
 * is at t > 0) are noised to t first (the replacement method, see the
 * top of this file). */
static int wan_velocity(const void *impl, st2v_pool *pool,
                        const st2v_velocity_call *c)
{
    const wan_model *m = impl;
    const int Cz = m->files->dit_cfg.in_dim, pt = m->files->dit_cfg.patch[0];
    const int T = c->T, np = c->T / pt;
    const size_t frame = (size_t)c->Hl * c->Wl;
    float tmax = 0.0f;
    for (int i = 0; i < np; i++)
        tmax = c->t[i] > tmax ? c->t[i] : tmax;
    const double ts = (double)lrintf(1000.0f * tmax);

    const float *x = c->x;
    float *xr = NULL;                                  /* (Cz, T, Hl, Wl) */
    for (int i = 0; i < np; i++) {
        if (c->t[i] == tmax)
            continue;
        if (!xr) {
            xr = st2v_alloc_floats((size_t)Cz * T * frame);
            if (!xr)
                return ST2V_ERR_NOMEM;
            memcpy(xr, c->x, sizeof(float) * (size_t)Cz * T * frame);
        }
        /* frames i*pt .. : (1 - t) x + t e, e fixed for the window */
        float *e = st2v_alloc_floats((size_t)Cz * pt * frame);
        if (!e) {
            st2v_free(xr);
            return ST2V_ERR_NOMEM;
        }
        st2v_normal_fill(e, (int64_t)Cz * pt * (int64_t)frame, 0x57414e,
                         (uint32_t)i, 0);
        const float s = tmax - c->t[i];
        for (int ch = 0; ch < Cz; ch++)
            for (size_t k = 0; k < (size_t)pt * frame; k++) {
                float *v = &xr[((size_t)ch * T + (size_t)i * pt) * frame + k];
                *v = (1.0f - s) * *v + s * e[(size_t)ch * pt * frame + k];
            }
        st2v_free(e);
    }
    if (xr)
        x = xr;

    const float *ctx[2];
    int n[2];
    for (int b = 0; b < c->n; b++) {
        const wan_cond *cond = c->cond[b];
        ctx[b] = cond->ctx;
        n[b] = cond->n;
    }
    int rc = c->cancel && atomic_load(c->cancel) ? ST2V_ERR_CANCELLED : 0;
    if (rc == 0)
        rc = wan_dit_forward_multi(m->dit, pool, x, T, c->Hl, c->Wl, ts, c->n,
                                   ctx, n, c->v);
    st2v_free(xr);
    return rc;
}

/* -------------------------------------------------------- the decoder */

static int wan_decoder_new(void **dec, const void *impl, int Hl, int Wl)
{
    const wan_model *m = impl;
    return wan_vae_state_new((wan_vae_state **)dec, m->vae, Hl, Wl);
}

static void wan_decoder_reset(void *dec)
{
    wan_vae_state_reset(dec);
}

static void wan_decoder_free(void *dec)
{
    wan_vae_state_free(dec);
}

static int wan_decode_frame(void *dec, st2v_pool *pool, float *z, float *rgb,
                            int *n_frames)
{
    return wan_vae_decode_frame(dec, pool, z, rgb, n_frames);
}

/* ------------------------------------------------------------ the cost */

/* The decoder's multiply-adds per latent cell of one latent frame after
 * the first (4 video frames): its convolutions at each stage's size, as
 * vae.py's Decoder3d builds them from the config (the attention's
 * pixel-to-pixel products left out). */
static double decoder_macs_per_cell(const wan_vae_config *c)
{
    const int S = WAN_VAE_STAGES;
    int dims[WAN_VAE_STAGES + 1];
    dims[0] = c->dim * c->dim_mult[S - 1];
    for (int k = 0; k < S; k++)
        dims[k + 1] = c->dim * c->dim_mult[S - 1 - k];
    double px = 1;                        /* pixels x frames per cell */
    double macs = (double)c->z_dim * c->z_dim + 27.0 * c->z_dim * dims[0];
    macs += 2 * 2 * 27.0 * dims[0] * dims[0] + 4.0 * dims[0] * dims[0];
    for (int i = 0; i < S; i++) {
        int in = i > 0 ? dims[i] / 2 : dims[i], out = dims[i + 1];
        for (int r = 0; r < c->num_res_blocks + 1; r++) {
            macs += px * 27.0 * ((double)in * out + (double)out * out);
            if (in != out)
                macs += px * (double)in * out;          /* shortcut */
            in = out;
        }
        if (i == S - 1)
            break;
        if (c->temporal_down[S - 2 - i]) {                /* upsample3d */
            macs += px * 3.0 * out * 2.0 * out;           /* time_conv */
            px *= 2;
        }
        px *= 4;
        macs += px * 9.0 * out * (out / 2);               /* 2D conv */
    }
    return macs + px * 27.0 * dims[S] * 3;                /* head */
}

static void wan_cost(const void *impl, int W, int H, int64_t frames,
                     int calls, int passes, int n_text, st2v_cost *out)
{
    const wan_model *m = impl;
    const wan_dit_config *c = &m->files->dit_cfg;
    const wan_umt5_config *t5 = &m->files->t5_cfg;
    memset(out, 0, sizeof(*out));
    if (frames < 1)
        frames = 1;
    const int64_t latents = 1 + (frames - 1 + 3) / 4;
    const int64_t windows = latents <= WAN_WINDOW
                                ? 1
                                : 1 + (latents - WAN_WINDOW +
                                       (WAN_WINDOW - WAN_CONTEXT) - 1) /
                                          (WAN_WINDOW - WAN_CONTEXT);
    const int64_t Tw = latents < WAN_WINDOW ? latents : WAN_WINDOW;
    const double L = (double)Tw * (H / 16) * (W / 16); /* tokens a window */
    const double D = c->dim, F = c->ffn_dim, nt = n_text + 1;
    const double block = L * (4 * D * D + 2 * D * D + 2 * D * F) /* proj */
                         + 2 * L * L * D                  /* self-attention */
                         + 2 * L * nt * D;               /* cross-attention */
    const double text_kv = 2 * nt * c->text_dim * D + 2 * nt * D * D * 2;
    const double dit = 2.0 * (c->num_layers * (block + text_kv) +
                              L * D * (c->in_dim * 4 + c->out_dim * 4));
    out->dit = dit * calls * passes * windows;
    const double t5_tok = t5->layers * (4.0 * t5->dim * t5->heads *
                                            t5->head_dim +
                                        3.0 * t5->dim * t5->ffn);
    out->text = 2.0 * t5_tok * n_text * passes;
    out->decoder = 2.0 * decoder_macs_per_cell(&m->files->vae_cfg) *
                   (H / 8.0) * (W / 8.0) * (double)latents;
    out->total = out->text + out->dit + out->decoder;
    out->per_second = out->total / ((double)frames / WAN_FPS);
}

const st2v_arch st2v_arch_wan = {
    .name = "wan2.1",
    .wants = "Wan2.1's diffusion_pytorch_model*.safetensors, "
             "models_t5_umt5-xxl-enc-bf16.pth, Wan2.1_VAE.pth and "
             "google/umt5-xxl/ (or Comfy's or Diffusers' files of them)",
    .default_negative = wan_default_negative,
    .detect = wan_detect,
    .load = wan_load,
    .free = wan_free,
    .encode_text = wan_encode_text,
    .cond_free = wan_cond_free_any,
    .velocity = wan_velocity,
    .decoder_new = wan_decoder_new,
    .decoder_reset = wan_decoder_reset,
    .decoder_free = wan_decoder_free,
    .decode_frame = wan_decode_frame,
    .cost = wan_cost,
};
