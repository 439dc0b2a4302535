/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_vae.c - the causal autoencoder against the PyTorch reference
 * (golden_vae.safetensors): the streaming decoder fed one latent frame at a
 * time must equal the reference's whole-sequence decode, the encoder its
 * whole-sequence encode. Also: a reset stream decodes the same frames
 * again, results do not depend on the thread count, bad sizes are refused.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "st2v/model.h"
#include "st2v/vae.h"
#include "test_util.h"

/* Decode z (Cz, T, Hl, Wl) frame by frame through s into rgb
 * (3, T*ft, Hl*s, Wl*s). Returns 0 or the first failing status. */
static int decode_all(st2v_vae_stream *s, const st2v_world *m,
                      st2v_pool *pool, const float *z, int T, int Hl, int Wl,
                      float *rgb)
{
    const int Cz = m->cfg.z_channels, ft = m->cfg.ft, sf = m->cfg.s;
    const size_t lhw = (size_t)Hl * Wl, fhw = lhw * sf * sf;
    float *zf = malloc((size_t)Cz * lhw * sizeof(float));
    float *out = malloc(3 * ft * fhw * sizeof(float));
    int rc = zf && out ? 0 : -1;
    for (int f = 0; f < T && rc == 0; f++) {
        for (int c = 0; c < Cz; c++)
            memcpy(zf + c * lhw, z + ((size_t)c * T + f) * lhw,
                   lhw * sizeof(float));
        rc = st2v_vae_decode_frame(s, pool, zf, out);
        for (int c = 0; c < 3; c++)
            memcpy(rgb + ((size_t)c * T * ft + (size_t)f * ft) * fhw,
                   out + (size_t)c * ft * fhw, ft * fhw * sizeof(float));
    }
    free(zf);
    free(out);
    return rc;
}

typedef struct golden_vae {
    float *z, *rgb, *enc_rgb, *enc_z;
    size_t nz, nrgb, nenc_rgb, nenc_z;
    int T, Hl, Wl, eT, eH, eW;
} golden_vae;

/* Read golden_vae.safetensors; fails (and marks the test failed) unless
 * its shapes are those of model m's geometry, so that no buffer sized from
 * the golden is written past by the model. */
static int load_golden(golden_vae *g, const st2v_world *m)
{
    memset(g, 0, sizeof(*g));
    st_file f;
    if (tu_open(&f, "golden_vae.safetensors") != 0)
        return -1;
    const st_tensor *dz = st_find(&f, "dec.z"), *er = st_find(&f, "enc.rgb");
    if (dz && dz->ndim == 4 && er && er->ndim == 4) {
        g->T = (int)dz->shape[1];
        g->Hl = (int)dz->shape[2];
        g->Wl = (int)dz->shape[3];
        g->eT = (int)er->shape[1];
        g->eH = (int)er->shape[2];
        g->eW = (int)er->shape[3];
    }
    g->z = tu_tensor(&f, "dec.z", &g->nz);
    g->rgb = tu_tensor(&f, "dec.rgb", &g->nrgb);
    g->enc_rgb = tu_tensor(&f, "enc.rgb", &g->nenc_rgb);
    g->enc_z = tu_tensor(&f, "enc.z", &g->nenc_z);
    st_close(&f);
    if (!(g->z && g->rgb && g->enc_rgb && g->enc_z && g->T))
        return -1;
    const size_t Cz = m->cfg.z_channels, ft = m->cfg.ft, sf = m->cfg.s;
    const size_t lhw = (size_t)g->Hl * g->Wl;
    if (g->nz != Cz * g->T * lhw || g->nrgb != 3 * g->T * ft * lhw * sf * sf ||
        g->eT % ft || g->eH % sf || g->eW % sf ||
        g->nenc_rgb != (size_t)3 * g->eT * g->eH * g->eW ||
        g->nenc_z != Cz * (g->eT / ft) * (g->eH / sf) * (g->eW / sf)) {
        fprintf(stderr, "  %s: golden_vae's shapes are not the model's "
                        "geometry (ft %zu, s %zu, Cz %zu)\n",
                tu_current, ft, sf, Cz);
        tu_current_failed = 1;
        return -1;
    }
    return 0;
}

static void free_golden(golden_vae *g)
{
    free(g->z), free(g->rgb), free(g->enc_rgb), free(g->enc_z);
}

static void decoder_stream_matches_reference_frame_by_frame(void)
{
    st2v_model *model = tu_load_model("tiny.safetensors");
    const st2v_world *m = st2v_world_of(model);
    REQUIRE(m, "model");
    golden_vae g;
    if (load_golden(&g, m) == 0) {
        st2v_vae_stream *s = NULL;
        CHECK(st2v_vae_stream_new(&s, m, g.Hl, g.Wl) == 0, "stream");
        float *rgb = calloc(g.nrgb, sizeof(float));
        if (s && rgb) {
            CHECK(decode_all(s, m, NULL, g.z, g.T, g.Hl, g.Wl, rgb) == 0,
                  "decode");
            CHECK_GOLDEN("vae decoder (streamed)", rgb, g.rgb, g.nrgb);
        }
        free(rgb);
        st2v_vae_stream_free(s);
    }
    free_golden(&g);
    st2v_model_free(model);
}

static void encoder_matches_reference(void)
{
    st2v_model *model = tu_load_model("tiny.safetensors");
    const st2v_world *m = st2v_world_of(model);
    REQUIRE(m, "model");
    golden_vae g;
    if (load_golden(&g, m) == 0) {
        const int T = g.eT / m->cfg.ft;
        float *z = calloc(g.nenc_z, sizeof(float));
        CHECK(st2v_vae_encode(m, NULL, g.enc_rgb, T, g.eH, g.eW, z) == 0,
              "encode");
        CHECK_GOLDEN("vae encoder", z, g.enc_z, g.nenc_z);
        free(z);
    }
    free_golden(&g);
    st2v_model_free(model);
}

static void reset_stream_decodes_the_same_frames_again(void)
{
    st2v_model *model = tu_load_model("tiny.safetensors");
    const st2v_world *m = st2v_world_of(model);
    REQUIRE(m, "model");
    golden_vae g;
    if (load_golden(&g, m) == 0) {
        st2v_vae_stream *s = NULL;
        int rc = st2v_vae_stream_new(&s, m, g.Hl, g.Wl);
        REQUIRE(rc == 0, "stream");
        float *a = malloc(g.nrgb * sizeof(float));
        float *b = malloc(g.nrgb * sizeof(float));
        CHECK(decode_all(s, m, NULL, g.z, g.T, g.Hl, g.Wl, a) == 0, "first");
        /* without a reset the history differs: the next frames change */
        CHECK(decode_all(s, m, NULL, g.z, g.T, g.Hl, g.Wl, b) == 0, "cont");
        CHECK(memcmp(a, b, g.nrgb * sizeof(float)) != 0,
              "history carries over without a reset");
        st2v_vae_stream_reset(s);
        CHECK(decode_all(s, m, NULL, g.z, g.T, g.Hl, g.Wl, b) == 0, "second");
        CHECK(memcmp(a, b, g.nrgb * sizeof(float)) == 0,
              "identical after reset");
        free(a), free(b);
        st2v_vae_stream_free(s);
    }
    free_golden(&g);
    st2v_model_free(model);
}

static void vae_gives_identical_bits_for_1_2_and_3_threads(void)
{
    st2v_model *model = tu_load_model("tiny.safetensors");
    const st2v_world *m = st2v_world_of(model);
    REQUIRE(m, "model");
    golden_vae g;
    if (load_golden(&g, m) == 0) {
        const int T = g.eT / m->cfg.ft;
        float *rgb[3], *z[3];
        for (int k = 0; k < 3; k++) {
            st2v_pool *pool = NULL;
            st2v_vae_stream *s = NULL;
            rgb[k] = calloc(g.nrgb, sizeof(float));
            z[k] = calloc(g.nenc_z, sizeof(float));
            CHECK(st2v_pool_new(&pool, k + 1) == 0, "pool");
            CHECK(st2v_vae_stream_new(&s, m, g.Hl, g.Wl) == 0, "stream");
            if (s)
                CHECK(decode_all(s, m, pool, g.z, g.T, g.Hl, g.Wl, rgb[k]) ==
                          0, "decode");
            CHECK(st2v_vae_encode(m, pool, g.enc_rgb, T, g.eH, g.eW, z[k]) ==
                      0, "encode");
            st2v_vae_stream_free(s);
            st2v_pool_free(pool);
        }
        for (int k = 1; k < 3; k++) {
            CHECK(memcmp(rgb[0], rgb[k], g.nrgb * sizeof(float)) == 0,
                  "decoder: 1 vs %d threads", k + 1);
            CHECK(memcmp(z[0], z[k], g.nenc_z * sizeof(float)) == 0,
                  "encoder: 1 vs %d threads", k + 1);
        }
        for (int k = 0; k < 3; k++)
            free(rgb[k]), free(z[k]);
    }
    free_golden(&g);
    st2v_model_free(model);
}

static void vae_rejects_sizes_it_cannot_serve(void)
{
    st2v_model *model = tu_load_model("tiny.safetensors");
    const st2v_world *m = st2v_world_of(model);
    REQUIRE(m, "model");
    st2v_vae_stream *s = (st2v_vae_stream *)1;
    CHECK(st2v_vae_stream_new(&s, m, 0, 4) == ST2V_ERR_INVALID_ARG, "Hl 0");
    CHECK(s == NULL, "out cleared");
    CHECK(st2v_vae_stream_new(&s, m, 4, 1 << 20) == ST2V_ERR_INVALID_ARG,
          "huge width");
    const int sf = m->cfg.s;
    float rgb[3 * 4 * 9 * 9] = {0}, z[64];
    /* s = 4: 9 is not divisible */
    CHECK(st2v_vae_encode(m, NULL, rgb, 1, 9, 8, z) == ST2V_ERR_INVALID_ARG,
          "H 9");
    CHECK(st2v_vae_encode(m, NULL, rgb, 0, sf, sf, z) == ST2V_ERR_INVALID_ARG,
          "T 0");
    CHECK(st2v_vae_encode(m, NULL, rgb, 1, sf, sf, z) == 0, "valid");
    st2v_vae_stream_free(NULL);
    st2v_model_free(model);
}

int main(void)
{
    RUN(decoder_stream_matches_reference_frame_by_frame);
    RUN(encoder_matches_reference);
    RUN(reset_stream_decodes_the_same_frames_again);
    RUN(vae_gives_identical_bits_for_1_2_and_3_threads);
    RUN(vae_rejects_sizes_it_cannot_serve);
    return tu_summary();
}
