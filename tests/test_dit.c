/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_dit.c - the diffusion transformer against the PyTorch reference
 * (golden_dit.safetensors: mixed per-frame timesteps, clean context frames,
 * a RoPE offset), its independence from the thread count, and its refusal
 * of latents that do not tile into patches.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "pool.h"
#include "st2v/dit.h"
#include "st2v/model.h"
#include "test_util.h"

/* v = DiT(z, t, text) through st2v_dit_prepare_text; returns 0 or status. */
/* One forward pass: st2v_dit_forward_batch with nb = 1. */
static int dit_forward(const st2v_world *m, st2v_pool *pool, float *v,
                       const float *z, int T, int Hl, int Wl, const float *t,
                       int t0, const float *kv, int n)
{
    return st2v_dit_forward_batch(m, pool, 1, &v, z, T, Hl, Wl, t, t0, &kv,
                                  &n);
}

static int run_dit(const st2v_world *m, st2v_pool *pool, float *v,
                   const float *z, int T, int Hl, int Wl, const float *t,
                   int t0, const float *text, int n)
{
    float *kv = malloc(st2v_dit_text_floats(m, n) * sizeof(float));
    if (!kv)
        return -1;
    int rc = st2v_dit_prepare_text(m, pool, text, n, kv);
    if (rc == 0)
        rc = dit_forward(m, pool, v, z, T, Hl, Wl, t, t0, kv, n);
    free(kv);
    return rc;
}

/* The BF16 path's tolerance on the golden cases: max |got - want| over
 * max |want|. Weights and activations of the token-wise linear layers are
 * rounded to bfloat16 (8 significant bits, relative error up to 2^-9 each),
 * sums stay float32; over the tiny model's depth it measures 0.4-0.55 %
 * (both geometries), and the bound is 1 %. */
#define BF16_TOL 1e-2

static void check_case(const st2v_world *m, const st_file *f, int k,
                       double tol)
{
    char name[64];
    const st_tensor *zt;
    snprintf(name, sizeof(name), "case%d.z", k);
    zt = st_find(f, name);
    REQUIRE(zt && zt->ndim == 4, "%s shape", name);
    const int T = (int)zt->shape[1], Hl = (int)zt->shape[2],
              Wl = (int)zt->shape[3];
    size_t nz, nt, ntext, nv, nt0;
    float *z = tu_tensor(f, name, &nz);
    snprintf(name, sizeof(name), "case%d.t", k);
    float *t = tu_tensor(f, name, &nt);
    snprintf(name, sizeof(name), "case%d.text", k);
    float *text = tu_tensor(f, name, &ntext);
    snprintf(name, sizeof(name), "case%d.v", k);
    float *want = tu_tensor(f, name, &nv);
    snprintf(name, sizeof(name), "case%d.t0", k);
    float *t0 = tu_tensor(f, name, &nt0);
    if (z && t && text && want && t0) {
        const int n = (int)(ntext / (size_t)m->cfg.text_dim);
        float *v = malloc(nz * sizeof(float));
        CHECK(nv == nz && nt == (size_t)T / m->cfg.patch[0], "sizes");
        CHECK(run_dit(m, NULL, v, z, T, Hl, Wl, t, (int)t0[0], text, n) == 0,
              "forward case %d", k);
        snprintf(name, sizeof(name), "dit case%d%s", k,
                 tol > GOLDEN_TOL ? " bf16" : "");
        if (tol > GOLDEN_TOL) {
            double e = tu_max_rel_err(v, want, nz);
            printf("     golden %-28s max rel err %.3g\n", name, e);
            CHECK(e <= tol, "%s: max rel err %.3g > %g", name, e, tol);
        } else {
            CHECK_GOLDEN(name, v, want, nz);
        }
        free(v);
    }
    free(z), free(t), free(text), free(want), free(t0);
}

static void dit_matches_reference_on_golden_cases(void)
{
    st2v_model *model = tu_load_model("tiny.safetensors");
    const st2v_world *m = st2v_world_of(model);
    REQUIRE(m, "model");
    st_file f;
    if (tu_open(&f, "golden_dit.safetensors") == 0) {
        check_case(m, &f, 0, GOLDEN_TOL);
        check_case(m, &f, 1, GOLDEN_TOL);
        st_close(&f);
    }
    st2v_model_free(model);
}

/* The tiny model loaded with compute dtype bf16 (where the CPU lacks
 * AVX512-BF16 it computes in float32, and the float32 tolerance holds). */
static st2v_model *load_bf16(void)
{
    st2v_model_params p = st2v_model_default_params();
    p.compute_dtype = ST2V_DTYPE_BF16;
    st2v_model *model = NULL;
    char err[256] = "";
    st2v_model_load_with_params(&model, tu_fixture("tiny.safetensors"), &p,
                                err, sizeof(err));
    CHECK(model, "load bf16: %s", err);
    return model;
}

static void dit_matches_reference_in_bf16_within_the_bf16_tolerance(void)
{
    if (!st2v_op_bf16_supported())
        printf("     (no AVX512-BF16 here: bf16 computes in float32)\n");
    st2v_model *model = load_bf16();
    const st2v_world *m = st2v_world_of(model);
    REQUIRE(m, "model");
    CHECK(!st2v_op_bf16_supported() || m->packed, "weights packed");
    st_file f;
    if (tu_open(&f, "golden_dit.safetensors") == 0) {
        const double tol = st2v_op_bf16_supported() ? BF16_TOL : GOLDEN_TOL;
        check_case(m, &f, 0, tol);
        check_case(m, &f, 1, tol);
        st_close(&f);
    }
    st2v_model_free(model);
}

static void packed_linears_bf16_and_f32_match_and_pack_odd_shapes(void)
{
    /* out 37 (a partial panel), in 45 (odd, a tail past 32), 11 rows */
    const int out = 37, in = 45, rows = 11;
    float *w = malloc(sizeof(float) * out * in);
    float *x = malloc(sizeof(float) * rows * in);
    float *y = calloc((size_t)rows * 48, sizeof(float));
    uint16_t *wp = malloc(st2v_op_bf16_pack_size(out, in) * sizeof(uint16_t));
    REQUIRE(w && x && y && wp, "alloc");
    for (int i = 0; i < out * in; i++)
        w[i] = sinf(0.37f * i);
    for (int i = 0; i < rows * in; i++)
        x[i] = cosf(0.11f * i);
    st2v_op_bf16_pack(wp, w, out, in);
    if (!st2v_op_bf16_linear(y, 48, x, in, rows, wp, in, 0, out)) {
        CHECK(!st2v_op_bf16_supported(), "refused where supported");
        printf("     (no AVX512-BF16 here: the kernel declines)\n");
    } else {
        double err = 0, ref_max = 0;
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < 48; o++) {
                double ref = 0;
                for (int k = 0; o < out && k < in; k++)
                    ref += (double)x[r * in + k] * w[o * in + k];
                err = fmax(err, fabs(y[r * 48 + o] - ref));
                ref_max = fmax(ref_max, fabs(ref));
            }
        /* columns past out stay untouched (0); the rest within bf16 */
        CHECK(err / ref_max < 1e-2, "rel err %g", err / ref_max);
    }
    /* the float32 packed kernel: float32 accuracy, rows past a block of 8 */
    float *wf = malloc(st2v_op_f32_pack_size(out, in) * sizeof(float));
    REQUIRE(wf, "alloc");
    memset(y, 0, (size_t)rows * 48 * sizeof(float));
    st2v_op_f32_pack(wf, w, out, in);
    if (!st2v_op_f32_packed_linear(y, 48, x, in, rows, wf, in, 0, out)) {
        CHECK(!st2v_op_f32_packed_supported(), "refused where supported");
        printf("     (no AVX-512F here: the float32 kernel declines)\n");
    } else {
        double err = 0, ref_max = 0;
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < 48; o++) {
                double ref = 0;
                for (int k = 0; o < out && k < in; k++)
                    ref += (double)x[r * in + k] * w[o * in + k];
                err = fmax(err, fabs(y[r * 48 + o] - ref));
                ref_max = fmax(ref_max, fabs(ref));
            }
        CHECK(err / ref_max < 1e-6, "f32 rel err %g", err / ref_max);
    }
    free(w), free(x), free(y), free(wp), free(wf);
}

static void dit_gives_identical_bits_for_1_2_and_3_threads(void)
{
    st2v_model *model = tu_load_model("tiny.safetensors");
    const st2v_world *m = st2v_world_of(model);
    REQUIRE(m, "model");
    const st2v_config *c = &m->cfg;
    /* 4 x 12 x 14 latent: 4 * 6 * 7 = 168 tokens, not a multiple of the
     * row block */
    const int T = 4, Hl = 12, Wl = 14, n = 7;
    const size_t nz = (size_t)c->dit_channels * T * Hl * Wl;
    float *z = malloc(nz * sizeof(float));
    float *text = malloc((size_t)n * c->text_dim * sizeof(float));
    float t[4] = {0.0f, 0.25f, 0.8f, 1.0f};
    for (size_t i = 0; i < nz; i++)
        z[i] = sinf(0.37f * (float)i);
    for (int i = 0; i < n * c->text_dim; i++)
        text[i] = cosf(0.11f * (float)i);
    float *v[3];
    for (int k = 0; k < 3; k++) {
        st2v_pool *pool = NULL;
        v[k] = calloc(nz, sizeof(float));
        CHECK(st2v_pool_new(&pool, k + 1) == 0, "pool");
        CHECK(run_dit(m, pool, v[k], z, T, Hl, Wl, t, 2, text, n) == 0,
              "forward with %d threads", k + 1);
        st2v_pool_free(pool);
    }
    CHECK(memcmp(v[0], v[1], nz * sizeof(float)) == 0, "1 vs 2 threads");
    CHECK(memcmp(v[0], v[2], nz * sizeof(float)) == 0, "1 vs 3 threads");
    int finite = 1;
    for (size_t i = 0; i < nz; i++)
        finite &= isfinite(v[0][i]);
    CHECK(finite, "finite output");
    for (int k = 0; k < 3; k++)
        free(v[k]);
    free(z), free(text);
    st2v_model_free(model);
}

static void dit_rope_offset_changes_the_output(void)
{
    st2v_model *model = tu_load_model("tiny.safetensors");
    const st2v_world *m = st2v_world_of(model);
    REQUIRE(m, "model");
    const st2v_config *c = &m->cfg;
    const int T = 2, Hl = 4, Wl = 4, n = 3;
    const size_t nz = (size_t)c->dit_channels * T * Hl * Wl;
    float *z = malloc(nz * sizeof(float)), *a = malloc(nz * sizeof(float)),
          *b = malloc(nz * sizeof(float));
    float *text = malloc((size_t)n * c->text_dim * sizeof(float));
    float t[2] = {0.5f, 0.5f};
    for (size_t i = 0; i < nz; i++)
        z[i] = sinf(1.3f * (float)i);
    for (int i = 0; i < n * c->text_dim; i++)
        text[i] = cosf(0.7f * (float)i);
    CHECK(run_dit(m, NULL, a, z, T, Hl, Wl, t, 0, text, n) == 0, "t0 0");
    CHECK(run_dit(m, NULL, b, z, T, Hl, Wl, t, 5, text, n) == 0, "t0 5");
    CHECK(memcmp(a, b, nz * sizeof(float)) != 0, "t0 is used");
    free(z), free(a), free(b), free(text);
    st2v_model_free(model);
}

static void dit_rejects_latents_that_do_not_tile_into_patches(void)
{
    st2v_model *model = tu_load_model("tiny.safetensors");
    const st2v_world *m = st2v_world_of(model);
    REQUIRE(m, "model");
    /* (C, 2, 9, 9) at most, C = Cz + the DiT's extra channels */
    const size_t C = (size_t)m->cfg.z_channels + m->cfg.extra_channels;
    float *z = calloc(C * 2 * 9 * 9, sizeof(float));
    float *v = calloc(C * 2 * 9 * 9, sizeof(float)), t[2] = {0};
    float *kv = calloc(st2v_dit_text_floats(m, 1), sizeof(float));
    REQUIRE(z && v && kv, "calloc");
    /* patch [1, 2, 2]: Hl = 9 and Wl = 9 are not divisible by 2 */
    CHECK(dit_forward(m, NULL, v, z, 2, 9, 8, t, 0, kv, 1) ==
              ST2V_ERR_INVALID_ARG, "Hl 9");
    CHECK(dit_forward(m, NULL, v, z, 2, 8, 9, t, 0, kv, 1) ==
              ST2V_ERR_INVALID_ARG, "Wl 9");
    CHECK(dit_forward(m, NULL, v, z, 0, 8, 8, t, 0, kv, 1) ==
              ST2V_ERR_INVALID_ARG, "T 0");
    CHECK(dit_forward(m, NULL, v, z, 2, 8, 8, t, 0, kv, 0) ==
              ST2V_ERR_INVALID_ARG, "no text tokens");
    CHECK(dit_forward(m, NULL, v, z, 2, 8, 8, t, 0, kv, 1) == 0,
          "a valid call passes");
    free(z), free(v), free(kv);
    st2v_model_free(model);
}

int main(void)
{
    RUN(dit_matches_reference_on_golden_cases);
    RUN(dit_gives_identical_bits_for_1_2_and_3_threads);
    RUN(dit_matches_reference_in_bf16_within_the_bf16_tolerance);
    RUN(packed_linears_bf16_and_f32_match_and_pack_odd_shapes);
    RUN(dit_rope_offset_changes_the_output);
    RUN(dit_rejects_latents_that_do_not_tile_into_patches);
    return tu_summary();
}
