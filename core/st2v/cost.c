/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cost.c - analytic FLOP count of text encoding, DiT sampling and decoding
 * (see cost.h). It mirrors the loops of text_encoder.c, dit.c and vae.c and
 * the chunking of generator.c: change them together.
 */
#include <string.h>

#include "cost.h"

#include "sampler.h"

/* ---------------------------------------------------------- components */

static double linear_flops(double rows, double in, double out)
{
    return 2.0 * rows * in * out;
}

static double text_flops(const st2v_config *c, int n)
{
    double D = c->text_dim, M = c->text_mlp, per_block;
    per_block = linear_flops(n, D, 3 * D) + 2.0 * 2.0 * n * n * D +
                linear_flops(n, D, D) + linear_flops(n, D, M) +
                linear_flops(n, M, D);
    return per_block * c->text_layers;
}

/* One DiT forward over a window of T latent frames of Hl x Wl. The
 * cross-attention keys and values are computed once per prompt (counted by
 * dit_text_kv_flops), not per forward. */
static double dit_flops(const st2v_config *c, int T, int Hl, int Wl, int n)
{
    double D = c->dim, M = c->mlp;
    /* the token's width: the latent's channels and dit.extra_channels */
    double P = (double)c->dit_channels * c->patch[0] * c->patch[1] * c->patch[2];
    double Tp = T / c->patch[0];
    double N = Tp * (Hl / c->patch[1]) * (Wl / c->patch[2]);
    double per_block = linear_flops(Tp, D, 6 * D)      /* ada, per frame */
                       + linear_flops(N, D, 3 * D)     /* qkv */
                       + 2.0 * 2.0 * N * N * D         /* scores, values */
                       + linear_flops(N, D, D)         /* proj */
                       + linear_flops(N, D, D)         /* cross q */
                       + 2.0 * 2.0 * N * n * D         /* cross attention */
                       + linear_flops(N, D, D)         /* cross proj */
                       + linear_flops(N, D, M) + linear_flops(N, M, D);
    return linear_flops(N, P, D) +
           linear_flops(Tp, c->freq_dim, D) + linear_flops(Tp, D, D) +
           per_block * c->layers + linear_flops(Tp, D, 2 * D) +
           linear_flops(N, D, P);
}

static double dit_text_kv_flops(const st2v_config *c, int n)
{
    return linear_flops(n, c->text_dim, 2.0 * c->dim) * c->layers +
           (c->text_pool ? linear_flops(1, c->text_dim, c->dim) : 0.0);
}

static double conv_flops(double cout, double cin, double kt, double h,
                         double w)
{
    return 2.0 * cout * cin * kt * 9.0 * h * w;
}

/* Decoder cost of one latent frame of Hl x Wl (ft output frames). */
static double decoder_frame_flops(const st2v_config *c, int Hl, int Wl)
{
    double h = Hl, w = Wl, frames = 1, sum;
    sum = conv_flops(c->dec_channels[0], c->z_channels, c->kt[0], h, w);
    for (int i = 0; i < c->n_levels; i++) {
        double ch = c->dec_channels[i];
        sum += frames * c->res_blocks * 2 *
               conv_flops(ch, ch, c->kt[i], h, w);
        if (i < c->n_levels - 1) {
            int a = 1 + c->time_up[i], b = 1 + c->space_up[i];
            sum += frames * conv_flops(c->dec_channels[i + 1] * a * b * b, ch,
                                       c->kt[i], h, w);
            frames *= a;
            h *= b;
            w *= b;
        }
    }
    sum += frames * conv_flops(3, c->dec_channels[c->n_levels - 1], 1, h, w);
    return sum;
}

/* --------------------------------------------------------------- public */

int st2v_cost_sampler_calls(const char *sampler, int steps)
{
    st2v_sampler s;
    if (!sampler || st2v_sampler_from_name(sampler, &s) != 0)
        return steps;
    return st2v_sampler_calls(s, steps);
}

void st2v_cost_estimate(const st2v_config *c, int w, int h, int64_t frames,
                        int calls, int passes, int n_text, st2v_cost *out)
{
    int Hl = h / c->s, Wl = w / c->s;
    int64_t latents = (frames + c->ft - 1) / c->ft;
    memset(out, 0, sizeof(*out));

    /* chunk 0: up to `window` frames; then window - context new ones */
    int64_t done = 0;
    for (int chunk = 0; done < latents; chunk++) {
        int64_t fresh = chunk == 0 ? c->window : c->window - c->context;
        int64_t ctx = chunk == 0 ? 0 : c->context;
        if (fresh > latents - done)
            fresh = latents - done;
        int64_t T = ctx + fresh;
        T = (T + c->patch[0] - 1) / c->patch[0] * c->patch[0];
        if (chunk == 0) { /* prompts are encoded once unless they change */
            out->text = passes * (text_flops(c, n_text) +
                                  dit_text_kv_flops(c, n_text));
        }
        out->dit += (double)calls * passes * dit_flops(c, (int)T, Hl, Wl, n_text);
        done += fresh;
    }
    out->decoder = (double)latents * decoder_frame_flops(c, Hl, Wl);
    out->total = out->text + out->dit + out->decoder;
    out->per_second = frames > 0 ? out->total * c->fps / (double)frames : 0;
}
