/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vae.c - the causal video autoencoder (docs/model-format.md, section 6).
 *
 * Frames are stored frame-major, (frames, C, H, W). Every causal conv reads
 * a "window" buffer: its kt-1 previous input frames followed by the frames
 * of this call, so a conv's input is written straight into the tail of its
 * window and, in the streaming decoder, the last kt-1 frames are moved to
 * the front afterwards. At the start of a stream the history is zeros,
 * which is exactly the causal zero padding.
 *
 * The decoder takes one latent frame per call; level i then handles T_i
 * frames per call (T_0 = 1, doubling at every temporal up-step), and the
 * last level's T equals ft, the RGB frames emitted. Memory is fixed at
 * st2v_vae_stream_new(). The encoder runs the whole sequence at once with
 * the same building blocks (zero history, no carry-over).
 *
 * Not here: latent normalisation (the generator), pixel conversion.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ops.h"
#include "vae.h"

#define NORM_EPS 1e-6f

/* ======================================================== shared parts */

/* Keep the last `hist` frames of a window of hist + m frames of fs floats. */
static void window_shift(float *win, int hist, int m, int64_t fs)
{
    if (hist > 0)
        memmove(win, win + (int64_t)m * fs,
                (size_t)hist * (size_t)fs * sizeof(float));
}

/* x (T, C, H, W) = ResBlock(x), in place. w1, w2: the windows of conv1 and
 * conv2 (kt-1 + T frames); tmp (T, C, H, W); col: conv scratch. With
 * stream, the windows' histories are carried over (shifted after);
 * without, they are zeroed first. */
static void res_block(st2v_pool *pool, float *x, const st2v_res_block *rb,
                      int T, int C, int H, int W, float *w1, float *w2,
                      float *tmp, float *col, int stream)
{
    const int64_t hw = (int64_t)H * W, fs = (int64_t)C * hw;
    const int h1 = rb->conv1.kt - 1, h2 = rb->conv2.kt - 1;
    if (!stream) {
        memset(w1, 0, (size_t)(h1 * fs) * sizeof(float));
        memset(w2, 0, (size_t)(h2 * fs) * sizeof(float));
    }
    st2v_op_channel_rmsnorm(pool, w1 + h1 * fs, x, rb->norm1, T, C, hw,
                            NORM_EPS, 1);
    st2v_op_conv_causal(pool, tmp, fs, hw, w1, &rb->conv1, T, H, W, col, 0);
    st2v_op_channel_rmsnorm(pool, w2 + h2 * fs, tmp, rb->norm2, T, C, hw,
                            NORM_EPS, 1);
    st2v_op_conv_causal(pool, x, fs, hw, w2, &rb->conv2, T, H, W, col, 1);
    if (stream) {
        window_shift(w1, h1, T, fs);
        window_shift(w2, h2, T, fs);
    }
}

/* a * b * c fits an int (BLAS strides are ints). All positive. */
static int size_ok(int64_t a, int64_t b, int64_t c)
{
    if (a <= 0 || b <= 0 || c <= 0)
        return 0;
    if (a > INT_MAX / b)
        return 0;
    return a * b <= INT_MAX / c;
}

/* ============================================================ decoder */

typedef struct dec_level {
    int C, H, W, T;             /* channels, size, frames per call */
    int a, b;                   /* up factors to the next level (1 if last) */
    int64_t hw, fs;             /* H*W, C*H*W */
    int xhist;                  /* history frames kept before x */
    float *xwin;                /* (xhist + T, C, H, W): the up conv's window,
                                   x (T, C, H, W) at its tail */
    float **w1, **w2;           /* (res_blocks): windows of the res convs */
} dec_level;

struct st2v_vae_stream {
    const st2v_world *m;
    int Hl, Wl;
    int nl;
    dec_level lv[ST2V_MAX_VAE_LEVELS];
    int zhist, ohist;
    float *zwin;                /* (zhist + 1, Cz, Hl, Wl) conv_in window */
    float *owin;                /* (ohist + ft, C_last, H, W) conv_out window */
    float *tmp;                 /* largest (T, C, H, W) or up output */
    float *col;                 /* conv scratch for col_threads threads */
    size_t col_unit;            /* conv scratch floats per thread */
    int col_threads;
    float *mem;                 /* the one allocation behind all the rest */
    size_t mem_floats;
    float **ptrs;               /* storage of the w1, w2 pointer arrays */
};

int st2v_vae_stream_new(st2v_vae_stream **out, const st2v_world *m, int Hl,
                        int Wl)
{
    *out = NULL;
    const st2v_config *cfg = &m->cfg;
    const st2v_vae_weights *vw = &m->vae;
    const int nl = cfg->n_levels, nres = cfg->res_blocks;
    if (Hl < 1 || Wl < 1 || Hl > 65536 || Wl > 65536 || nl < 1 ||
        nl > ST2V_MAX_VAE_LEVELS)
        return ST2V_ERR_INVALID_ARG;
    /* the output's channel stride, ft frames of the finest level */
    if (!size_ok((int64_t)Hl * cfg->s, (int64_t)Wl * cfg->s, cfg->ft))
        return ST2V_ERR_INVALID_ARG;

    st2v_vae_stream *s = calloc(1, sizeof(*s));
    if (!s)
        return ST2V_ERR_NOMEM;
    s->m = m;
    s->Hl = Hl;
    s->Wl = Wl;
    s->nl = nl;
    s->ptrs = calloc((size_t)(2 * nl * (nres > 0 ? nres : 1)), sizeof(float *));
    if (!s->ptrs) {
        free(s);
        return ST2V_ERR_NOMEM;
    }

    /* Shapes, then the sizes of every buffer. */
    size_t total = 0, tmp_sz = 0, col_sz = 0;
    int H = Hl, W = Wl, T = 1;
    for (int i = 0; i < nl; i++) {
        dec_level *L = &s->lv[i];
        L->C = cfg->dec_channels[i];
        L->H = H;
        L->W = W;
        L->T = T;
        L->hw = (int64_t)H * W;
        L->fs = L->C * L->hw;
        L->a = i < nl - 1 ? 1 + cfg->time_up[i] : 1;
        L->b = i < nl - 1 ? 1 + cfg->space_up[i] : 1;
        L->xhist = i < nl - 1 ? vw->dec[i].resample.kt - 1 : 0;
        L->w1 = s->ptrs + (size_t)2 * i * nres;
        L->w2 = L->w1 + nres;
        total += (size_t)(L->xhist + T) * (size_t)L->fs;
        for (int j = 0; j < nres; j++) {
            const st2v_res_block *rb = &vw->dec[i].res[j];
            total += (size_t)(rb->conv1.kt - 1 + T) * (size_t)L->fs;
            total += (size_t)(rb->conv2.kt - 1 + T) * (size_t)L->fs;
            col_sz = ST2V_MAX(col_sz,
                              st2v_op_conv_scratch(1, &rb->conv1, H, W));
            col_sz = ST2V_MAX(col_sz,
                              st2v_op_conv_scratch(1, &rb->conv2, H, W));
        }
        tmp_sz = ST2V_MAX(tmp_sz, (size_t)T * (size_t)L->fs);
        if (i < nl - 1) {
            const st2v_conv *up = &vw->dec[i].resample;
            tmp_sz = ST2V_MAX(tmp_sz, (size_t)T * up->cout * (size_t)L->hw);
            col_sz = ST2V_MAX(col_sz, st2v_op_conv_scratch(1, up, H, W));
        }
        T *= L->a;
        H *= L->b;
        W *= L->b;
    }
    const dec_level *last = &s->lv[nl - 1];
    s->zhist = vw->dec_in.kt - 1;
    s->ohist = vw->dec_out.kt - 1;
    const size_t zsz = (size_t)(s->zhist + 1) * cfg->z_channels * Hl * Wl;
    const size_t osz = (size_t)(s->ohist + last->T) * (size_t)last->fs;
    col_sz = ST2V_MAX(col_sz, st2v_op_conv_scratch(1, &vw->dec_in, Hl, Wl));
    col_sz = ST2V_MAX(col_sz,
                      st2v_op_conv_scratch(1, &vw->dec_out, last->H,
                                           last->W));
    total += zsz + osz + tmp_sz;
    s->col_unit = col_sz;

    s->mem = st2v_alloc_floats(total);
    if (!s->mem) {
        free(s->ptrs);
        free(s);
        return ST2V_ERR_NOMEM;
    }
    s->mem_floats = total;

    float *p = s->mem;
    for (int i = 0; i < nl; i++) {
        dec_level *L = &s->lv[i];
        L->xwin = p;
        p += (size_t)(L->xhist + L->T) * (size_t)L->fs;
        for (int j = 0; j < nres; j++) {
            const st2v_res_block *rb = &vw->dec[i].res[j];
            L->w1[j] = p;
            p += (size_t)(rb->conv1.kt - 1 + L->T) * (size_t)L->fs;
            L->w2[j] = p;
            p += (size_t)(rb->conv2.kt - 1 + L->T) * (size_t)L->fs;
        }
    }
    s->zwin = p;
    p += zsz;
    s->owin = p;
    p += osz;
    s->tmp = p;

    st2v_vae_stream_reset(s);
    *out = s;
    return ST2V_OK;
}

void st2v_vae_stream_free(st2v_vae_stream *s)
{
    if (!s)
        return;
    st2v_free(s->mem);
    st2v_free(s->col);
    free(s->ptrs);
    free(s);
}

void st2v_vae_stream_reset(st2v_vae_stream *s)
{
    /* Zero history = the causal padding before the first frame. */
    memset(s->mem, 0, s->mem_floats * sizeof(float));
}

int st2v_vae_decode_frame(st2v_vae_stream *s, st2v_pool *pool, const float *z,
                          float *rgb)
{
    const st2v_world *m = s->m;
    const st2v_config *cfg = &m->cfg;
    const st2v_vae_weights *vw = &m->vae;
    const int nl = s->nl;

    /* conv scratch: one block per thread, grown to the pool's size once */
    const int nth = st2v_pool_threads(pool);
    if (nth > s->col_threads) {
        float *col = st2v_alloc_floats((size_t)nth * s->col_unit);
        if (!col)
            return ST2V_ERR_NOMEM;
        st2v_free(s->col);
        s->col = col;
        s->col_threads = nth;
    }

    /* conv_in: z (Cz, Hl, Wl) -> x_0 (1, C_0, Hl, Wl) */
    const int64_t zfs = (int64_t)cfg->z_channels * s->Hl * s->Wl;
    dec_level *L0 = &s->lv[0];
    memcpy(s->zwin + s->zhist * zfs, z, (size_t)zfs * sizeof(float));
    st2v_op_conv_causal(pool, L0->xwin + L0->xhist * L0->fs, L0->fs, L0->hw,
                        s->zwin, &vw->dec_in, 1, s->Hl, s->Wl, s->col, 0);
    window_shift(s->zwin, s->zhist, 1, zfs);

    for (int i = 0; i < nl; i++) {
        dec_level *L = &s->lv[i];
        float *x = L->xwin + L->xhist * L->fs;  /* (T, C, H, W) */
        for (int j = 0; j < cfg->res_blocks; j++)
            res_block(pool, x, &vw->dec[i].res[j], L->T, L->C, L->H, L->W,
                      L->w1[j], L->w2[j], s->tmp, s->col, 1);
        if (i == nl - 1)
            break;

        /* up conv, then depth-to-space into the next level's x */
        const st2v_conv *up = &vw->dec[i].resample;
        dec_level *N = &s->lv[i + 1];
        const int64_t ufs = (int64_t)up->cout * L->hw;
        float *nx = N->xwin + N->xhist * N->fs;
        st2v_op_conv_causal(pool, s->tmp, ufs, L->hw, L->xwin, up, L->T,
                            L->H, L->W, s->col, 0);
        for (int f = 0; f < L->T; f++)
            st2v_op_depth_to_space(nx + (int64_t)f * L->a * N->fs, N->fs,
                                   s->tmp + f * ufs, N->C, L->H, L->W, L->a,
                                   L->b);
        window_shift(L->xwin, L->xhist, L->T, L->fs);
    }

    /* rgb (3, ft, H, W) = conv_out(SiLU(norm_out(x))) */
    dec_level *Ll = &s->lv[nl - 1];
    st2v_op_channel_rmsnorm(pool, s->owin + s->ohist * Ll->fs,
                            Ll->xwin + Ll->xhist * Ll->fs,
                            vw->dec_norm_out, Ll->T, Ll->C, Ll->hw, NORM_EPS,
                            1);
    st2v_op_conv_causal(pool, rgb, Ll->hw, Ll->T * Ll->hw, s->owin,
                        &vw->dec_out, Ll->T, Ll->H, Ll->W, s->col, 0);
    window_shift(s->owin, s->ohist, Ll->T, Ll->fs);
    return ST2V_OK;
}

/* ============================================================ encoder */

int st2v_vae_encode(const st2v_world *m, st2v_pool *pool, const float *rgb,
                    int T, int H, int W, float *z)
{
    const st2v_config *cfg = &m->cfg;
    const st2v_vae_weights *vw = &m->vae;
    const int nl = cfg->n_levels, nres = cfg->res_blocks;
    if (T < 1 || H < 1 || W < 1 || H % cfg->s || W % cfg->s)
        return ST2V_ERR_INVALID_ARG;
    if (!size_ok(H, W, (int64_t)T * cfg->ft))
        return ST2V_ERR_INVALID_ARG;

    /* Per level i: frames Ti[i], size Hi[i] x Wi[i] (finest = nl - 1). */
    int Ti[ST2V_MAX_VAE_LEVELS], Hi[ST2V_MAX_VAE_LEVELS],
        Wi[ST2V_MAX_VAE_LEVELS];
    Ti[nl - 1] = T * cfg->ft;
    Hi[nl - 1] = H;
    Wi[nl - 1] = W;
    for (int i = nl - 1; i > 0; i--) {
        Ti[i - 1] = Ti[i] / (1 + cfg->time_up[i - 1]);
        Hi[i - 1] = Hi[i] / (1 + cfg->space_up[i - 1]);
        Wi[i - 1] = Wi[i] / (1 + cfg->space_up[i - 1]);
    }

    /* Buffer sizes: the maximum over levels of each role. */
    const int nth = st2v_pool_threads(pool);
    const int ih = vw->enc_in.kt - 1, oh = vw->enc_out.kt - 1;
    const int64_t hw_in = (int64_t)H * W, hw0 = (int64_t)Hi[0] * Wi[0];
    size_t in_sz = (size_t)(ih + Ti[nl - 1]) * 3 * (size_t)hw_in;
    size_t out_sz = (size_t)(oh + Ti[0]) * cfg->channels[0] * (size_t)hw0;
    size_t x_sz = 0, w_sz = 0, d_sz = 0, col_sz = 0;
    col_sz = ST2V_MAX(col_sz, st2v_op_conv_scratch(nth, &vw->enc_in, H, W));
    col_sz = ST2V_MAX(col_sz,
                      st2v_op_conv_scratch(nth, &vw->enc_out, Hi[0],
                                           Wi[0]));
    for (int i = 0; i < nl; i++) {
        const size_t fs = (size_t)cfg->channels[i] * Hi[i] * Wi[i];
        x_sz = ST2V_MAX(x_sz, (size_t)Ti[i] * fs);
        for (int j = 0; j < nres; j++) {
            const st2v_res_block *rb = &vw->enc[i].res[j];
            int kt = ST2V_MAX(rb->conv1.kt, rb->conv2.kt);
            w_sz = ST2V_MAX(w_sz, (size_t)(kt - 1 + Ti[i]) * fs);
            col_sz = ST2V_MAX(col_sz,
                              st2v_op_conv_scratch(nth, &rb->conv1, Hi[i],
                                                   Wi[i]));
            col_sz = ST2V_MAX(col_sz,
                              st2v_op_conv_scratch(nth, &rb->conv2, Hi[i],
                                                   Wi[i]));
        }
        if (i > 0) {
            const st2v_conv *dn = &vw->enc[i].resample;
            d_sz = ST2V_MAX(d_sz, (size_t)(dn->kt - 1 + Ti[i - 1]) * dn->cin *
                                      Hi[i - 1] * Wi[i - 1]);
            col_sz = ST2V_MAX(col_sz,
                              st2v_op_conv_scratch(nth, dn, Hi[i - 1],
                                                   Wi[i - 1]));
        }
    }
    float *mem = st2v_alloc_floats(in_sz + out_sz + 3 * x_sz + 2 * w_sz +
                                   d_sz + col_sz);
    if (!mem)
        return ST2V_ERR_NOMEM;
    float *inwin = mem;             /* (ih + Tf, 3, H, W) */
    float *owin = inwin + in_sz;    /* (oh + T, C_0, H/s, W/s) */
    float *xa = owin + out_sz;      /* (Ti, C_i, Hi, Wi) current level */
    float *xb = xa + x_sz;          /* the next level (ping-pong) */
    float *tmp = xb + x_sz;         /* (Ti, C_i, Hi, Wi) */
    float *w1 = tmp + x_sz;         /* res conv1 window */
    float *w2 = w1 + w_sz;          /* res conv2 window */
    float *wd = w2 + w_sz;          /* down conv window */
    float *col = wd + d_sz;

    /* conv_in over rgb (3, Tf, H, W), re-laid frame-major */
    const int Tf = Ti[nl - 1];
    memset(inwin, 0, (size_t)ih * 3 * (size_t)hw_in * sizeof(float));
    for (int f = 0; f < Tf; f++)
        for (int c = 0; c < 3; c++)
            memcpy(inwin + ((int64_t)(ih + f) * 3 + c) * hw_in,
                   rgb + ((int64_t)c * Tf + f) * hw_in,
                   (size_t)hw_in * sizeof(float));
    {
        const int64_t hw = hw_in, fs = (int64_t)cfg->channels[nl - 1] * hw;
        st2v_op_conv_causal(pool, xa, fs, hw, inwin, &vw->enc_in, Tf, H, W,
                            col, 0);
    }

    for (int i = nl - 1; i >= 0; i--) {
        const int C = cfg->channels[i];
        const int64_t hw = (int64_t)Hi[i] * Wi[i], fs = C * hw;
        for (int j = 0; j < nres; j++)
            res_block(pool, xa, &vw->enc[i].res[j], Ti[i], C, Hi[i], Wi[i],
                      w1, w2, tmp, col, 0);
        if (i == 0)
            break;

        /* space-to-depth into the down conv's window, then the conv */
        const int a = 1 + cfg->time_up[i - 1], b = 1 + cfg->space_up[i - 1];
        const st2v_conv *dn = &vw->enc[i].resample;
        const int64_t nhw = (int64_t)Hi[i - 1] * Wi[i - 1];
        const int64_t dfs = (int64_t)dn->cin * nhw;
        const int64_t nfs = (int64_t)cfg->channels[i - 1] * nhw;
        const int dh = dn->kt - 1;
        memset(wd, 0, (size_t)(dh * dfs) * sizeof(float));
        for (int f = 0; f < Ti[i - 1]; f++)
            st2v_op_space_to_depth(wd + (dh + f) * dfs, xa + f * a * fs, fs,
                                   C, Hi[i], Wi[i], a, b);
        st2v_op_conv_causal(pool, xb, nfs, nhw, wd, dn, Ti[i - 1], Hi[i - 1],
                            Wi[i - 1], col, 0);
        float *t = xa;
        xa = xb;
        xb = t;
    }

    /* z (Cz, T, H/s, W/s) = conv_out(SiLU(norm_out(x))) */
    const int64_t fs0 = (int64_t)cfg->channels[0] * hw0;
    memset(owin, 0, (size_t)(oh * fs0) * sizeof(float));
    st2v_op_channel_rmsnorm(pool, owin + oh * fs0, xa, vw->enc_norm_out,
                            Ti[0], cfg->channels[0], hw0, NORM_EPS, 1);
    st2v_op_conv_causal(pool, z, hw0, (int64_t)Ti[0] * hw0, owin,
                        &vw->enc_out, Ti[0], Hi[0], Wi[0], col, 0);
    st2v_free(mem);
    return ST2V_OK;
}
