/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_wan_dit.c - the Wan2.1 DiT (core/wan/dit.c) against the PyTorch
 * reference train/wan/dit.py, and the flash attention it runs on
 * (core/attention.c) against a naive one.
 *
 * tests/fixtures/wan/dit holds two tiny configs ("a": 2 heads of 20, RoPE
 * 8/6/6, in 6 / out 5 channels, 2 layers; "b": 2 heads of 22, RoPE
 * 10/6/6) in F32 and, for "a", BF16 weights, and golden.safetensors with
 * per case the inputs, the time and text embeddings, the tokens after the
 * patch embedding and after block 0, and the velocity, computed in float64
 * from the weights exactly as stored (so the BF16 file gets the same 1e-4
 * tolerance); "b_f32" has no padding (n = text_len), "b_cfg" is the other
 * half of a CFG pair on the same latent; full.* is one 1536-wide
 * self-attention (12 heads of 128, RoPE 44/42/42). The BF16 path
 * (wan_dit_use_bf16) on a_bf16 and on a 1536-wide block within BF16_TOL
 * of the same goldens, bit-identical for 1, 2 and 3 threads. Also: F16 weights
 * (made from a_f32 in memory), independence
 * from the thread count, the refusal of missing, misshapen and fp8
 * tensors by name, and of bad sizes.
 *
 * Opt-in timing at full size: ST2V_WAN_DIT_FULL=FILE (random BF16 weights
 * of the 1.3B, `train/wan/dit.py --full FILE`), ST2V_WAN_DIT_GRID=FxHxW
 * (the latent, default 5x40x64: 3,200 tokens), ST2V_WAN_DIT_LAYERS=N (run
 * only N blocks, default all), ST2V_WAN_DIT_THREADS (default 2): time,
 * GFLOP/s and peak RSS of one forward.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "attention.h"
#include "common.h"
#include "pool.h"
#include "hashed.h"
#include "ops_bf16.h"
#include "test_util.h"
#include "wan/dit.h"

static const wan_dit_config CFG_A = {.dim = 40, .ffn_dim = 56,
                                     .num_heads = 2, .num_layers = 2,
                                     .in_dim = 6, .out_dim = 5,
                                     .text_dim = 24, .freq_dim = 32,
                                     .text_len = 16, .patch = {1, 2, 2},
                                     .eps = 1e-6f};
static const wan_dit_config CFG_B = {.dim = 44, .ffn_dim = 40,
                                     .num_heads = 2, .num_layers = 2,
                                     .in_dim = 4, .out_dim = 4,
                                     .text_dim = 12, .freq_dim = 16,
                                     .text_len = 10, .patch = {1, 2, 2},
                                     .eps = 1e-6f};

/* A case of the golden file: its weights, config and latent grid. */
typedef struct dit_case {
    const char *name, *weights;
    const wan_dit_config *cfg;
    int F, H, W;
} dit_case;

static const dit_case CASES[] = {
    {"a_f32", "wan/dit/a_f32.safetensors", &CFG_A, 3, 8, 12},
    {"a_bf16", "wan/dit/a_bf16.safetensors", &CFG_A, 3, 8, 12},
    {"b_f32", "wan/dit/b_f32.safetensors", &CFG_B, 5, 6, 4},
    {"b_cfg", "wan/dit/b_f32.safetensors", &CFG_B, 5, 6, 4},
};

/* The BF16 path's tolerance (wan_dit_use_bf16: activations rounded to
 * bfloat16, products summed in float32) on the golden velocity: max |got -
 * want| / max |want|, as the world model's (test_dit.c). */
#define BF16_TOL 1e-2

/* ------------------------------------------------------------ helpers */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static float frand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 11) * (1.0 / 9007199254740992.0)) * 2.0f -
           1.0f;
}

/* A golden tensor "<case>.<what>". */
static float *golden(const st_file *g, const char *c, const char *what,
                     size_t *n)
{
    char name[128];
    snprintf(name, sizeof(name), "%s.%s", c, what);
    return tu_tensor(g, name, n);
}

static wan_dit *load(const st_file *f, const wan_dit_config *cfg,
                     const char *prefix)
{
    wan_dit *m = NULL;
    char err[512] = "";
    int st = wan_dit_load(&m, f, prefix, cfg, err, sizeof(err));
    CHECK(st == 0, "wan_dit_load: %d %s", st, err);
    return m;
}

/* What to do to one tensor when rebuilding a file (ALL_F16, ALL_F16_AS_F32:
 * every tensor, which = NULL: stored as F16, or as F32 holding the values
 * F16 rounds them to). */
enum { KEEP, DROP, TRANSPOSE, AS_FP8, ALL_F16, ALL_F16_AS_F32 };

/* float32 -> IEEE half, rounded to nearest even (no NaN here). */
static uint16_t to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof(x));
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    const uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x477ff000u)
        return sign | 0x7c00; /* beyond the largest half: infinity */
    if (ax < 0x38800000u) {   /* below 2^-14: a subnormal step of 2^-24 */
        float a;
        memcpy(&a, &ax, sizeof(a));
        return sign | (uint16_t)lrintf(a * 16777216.0f);
    }
    const uint32_t r = ax + 0xfffu + ((ax >> 13) & 1u) - 0x38000000u;
    return sign | (uint16_t)(r >> 13);
}

/* dst = the n float32 values of src (F32) as F16 (ALL_F16) or as the
 * F32 values of those halves (ALL_F16_AS_F32). */
static void convert_f16(uint8_t *dst, const uint8_t *src, size_t n, int what)
{
    for (size_t i = 0; i < n; i++) {
        float v;
        memcpy(&v, src + 4 * i, sizeof(v));
        const uint16_t h = to_f16(v);
        if (what == ALL_F16) {
            memcpy(dst + 2 * i, &h, sizeof(h));
        } else {
            const float w = st_f16_to_f32(h);
            memcpy(dst + 4 * i, &w, sizeof(w));
        }
    }
}

/* A copy of f as a safetensors image in memory: tensor `which` dropped,
 * its first two dims swapped, or relabelled F8_E4M3 (its first numel
 * bytes); every name prefixed with `prefix`. malloc'ed. */
static uint8_t *rebuild(const st_file *f, const char *which, int what,
                        const char *prefix, size_t *size)
{
    size_t hcap = 256 + (size_t)f->n_tensors * 512, hn = 0, data = 0;
    char *h = malloc(hcap);
    size_t *keep_nb = calloc((size_t)f->n_tensors, sizeof(size_t));
    if (!h || !keep_nb) {
        free(h);
        free(keep_nb);
        return NULL;
    }
    hn += (size_t)snprintf(h + hn, hcap - hn, "{");
    for (int i = 0; i < f->n_tensors; i++) {
        const st_tensor *t = &f->tensors[i];
        const int hit = which && strcmp(t->name, which) == 0;
        if (hit && what == DROP)
            continue;
        int64_t sh[ST_MAX_DIMS];
        memcpy(sh, t->shape, sizeof(sh));
        if (hit && what == TRANSPOSE && t->ndim >= 2) {
            sh[0] = t->shape[1];
            sh[1] = t->shape[0];
        }
        const int fp8 = hit && what == AS_FP8;
        const int f16 = what == ALL_F16 && t->dtype == ST_F32;
        size_t nb = (size_t)t->numel *
                    (fp8 ? 1 : f16 ? 2 : st_dtype_size(t->dtype));
        keep_nb[i] = nb;
        hn += (size_t)snprintf(h + hn, hcap - hn,
                               "%s\"%s%s\":{\"dtype\":\"%s\",\"shape\":[",
                               hn > 1 ? "," : "", prefix ? prefix : "",
                               t->name,
                               fp8   ? "F8_E4M3"
                               : f16 ? "F16"
                                     : st_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++)
            hn += (size_t)snprintf(h + hn, hcap - hn, "%s%lld",
                                   d ? "," : "", (long long)sh[d]);
        hn += (size_t)snprintf(h + hn, hcap - hn,
                               "],\"data_offsets\":[%zu,%zu]}", data,
                               data + nb);
        data += nb;
    }
    hn += (size_t)snprintf(h + hn, hcap - hn, "}");
    while (hn % 8)
        h[hn++] = ' ';
    uint8_t *buf = malloc(8 + hn + data);
    if (buf) {
        for (int i = 0; i < 8; i++)
            buf[i] = (uint8_t)((uint64_t)hn >> (8 * i));
        memcpy(buf + 8, h, hn);
        size_t off = 8 + hn;
        for (int i = 0; i < f->n_tensors; i++) {
            if (!keep_nb[i])
                continue;
            if ((what == ALL_F16 || what == ALL_F16_AS_F32) &&
                f->tensors[i].dtype == ST_F32)
                convert_f16(buf + off, f->tensors[i].data,
                            (size_t)f->tensors[i].numel, what);
            else
                memcpy(buf + off, f->tensors[i].data, keep_nb[i]);
            off += keep_nb[i];
        }
        *size = off;
    }
    free(h);
    free(keep_nb);
    return buf;
}

/* ---------------------------------------------------- flash attention */

/* out = softmax(q k^T / sqrt(hd) + bias) v per head, in double. */
static void naive_attention(float *out, int64_t ldo, const float *q,
                            int64_t ldq, const float *k, int64_t ldk,
                            const float *v, int64_t ldv, int nq, int nk,
                            int heads, int hd, const float *bias)
{
    double *s = malloc((size_t)nk * sizeof(double));
    for (int h = 0; h < heads; h++)
        for (int i = 0; i < nq; i++) {
            double mx = -INFINITY, sum = 0.0;
            for (int j = 0; j < nk; j++) {
                double d = 0.0;
                for (int e = 0; e < hd; e++)
                    d += (double)q[i * ldq + h * hd + e] *
                         k[j * ldk + h * hd + e];
                s[j] = d / sqrt((double)hd) + (bias ? bias[j] : 0.0);
                mx = s[j] > mx ? s[j] : mx;
            }
            for (int j = 0; j < nk; j++)
                sum += (s[j] = exp(s[j] - mx));
            for (int e = 0; e < hd; e++) {
                double o = 0.0;
                for (int j = 0; j < nk; j++)
                    o += s[j] * v[j * ldv + h * hd + e];
                out[i * ldo + h * hd + e] = (float)(o / sum);
            }
        }
    free(s);
}

/* One shape: flash (pool NULL and 2 threads) against the naive form. */
static void flash_case(int nq, int nk, int heads, int hd, int pad, float amp,
                       int with_bias)
{
    const int64_t ld = (int64_t)heads * hd + pad;
    float *q = malloc((size_t)nq * ld * sizeof(float));
    float *k = malloc((size_t)nk * ld * sizeof(float));
    float *v = malloc((size_t)nk * ld * sizeof(float));
    float *bias = malloc((size_t)nk * sizeof(float));
    float *want = calloc((size_t)nq * ld, sizeof(float));
    float *got = calloc((size_t)nq * ld, sizeof(float));
    float *got2 = calloc((size_t)nq * ld, sizeof(float));
    st2v_pool *pool = NULL;
    REQUIRE(q && k && v && bias && want && got && got2 &&
                st2v_pool_new(&pool, 2) == 0,
            "alloc");
    for (int64_t i = 0; i < nq * ld; i++)
        q[i] = amp * frand();
    for (int64_t i = 0; i < nk * ld; i++) {
        k[i] = frand();
        v[i] = frand();
    }
    for (int j = 0; j < nk; j++)
        bias[j] = j % 7 == 3 ? 3.0f * frand() : 0.0f;
    const float *b = with_bias ? bias : NULL;
    naive_attention(want, ld, q, ld, k, ld, v, ld, nq, nk, heads, hd, b);
    float *scr = st2v_alloc_floats(st2v_flash_attention_scratch(pool, hd));
    REQUIRE(scr, "scratch");
    st2v_flash_attention(NULL, got, ld, q, ld, k, ld, v, ld, nq, nk, heads,
                         hd, b, scr);
    st2v_flash_attention(pool, got2, ld, q, ld, k, ld, v, ld, nq, nk, heads,
                         hd, b, scr);
    double e = tu_max_rel_err(got, want, (size_t)nq * ld);
    printf("     flash nq %d nk %d heads %d hd %d amp %g bias %d: max rel "
           "err %.3g\n", nq, nk, heads, hd, (double)amp, with_bias, e);
    CHECK(e < 1e-5, "flash vs naive: %.3g", e);
    CHECK(memcmp(got, got2, (size_t)nq * ld * sizeof(float)) == 0,
          "flash: 2 threads differ from 1");
    st2v_free(scr);
    st2v_pool_free(pool);
    free(q);
    free(k);
    free(v);
    free(bias);
    free(want);
    free(got);
    free(got2);
}

static void flash_attention_matches_naive_attention(void)
{
    /* odd lengths, not multiples of the tiles, several heads, strides
     * wider than the heads, a key bias, sharp logits */
    flash_case(1, 1, 1, 8, 0, 1.0f, 0);
    flash_case(131, 517, 3, 20, 5, 1.0f, 0);
    flash_case(129, 257, 2, 22, 0, 1.0f, 1);
    flash_case(300, 8, 4, 16, 3, 1.0f, 1);
    flash_case(77, 600, 2, 128, 0, 12.0f, 0);
    flash_case(521, 1100, 2, 20, 3, 2.0f, 1); /* 3 x 3 tiles, partial */
}

/* ------------------------------------------------------------- goldens */

static void run_case_parts(const st_file *g, const dit_case *c)
{
    st_file f;
    if (tu_open(&f, c->weights))
        return;
    wan_dit *m = load(&f, c->cfg, NULL);
    size_t nx, nctx, n_e, n_e0, n_c, n_tok;
    float *x = golden(g, c->name, "x", &nx);
    float *t = golden(g, c->name, "t", NULL);
    float *ctx = golden(g, c->name, "context", &nctx);
    float *we = golden(g, c->name, "e", &n_e);
    float *we0 = golden(g, c->name, "e0", &n_e0);
    float *wc = golden(g, c->name, "ctx", &n_c);
    float *wtok = golden(g, c->name, "tokens", &n_tok);
    float *wb0 = golden(g, c->name, "block0", NULL);
    const int D = c->cfg->dim, n = (int)(nctx / (size_t)c->cfg->text_dim);
    float *e = malloc(n_e * sizeof(float)), *e0 = malloc(n_e0 * sizeof(float));
    float *cr = malloc((size_t)(n + 1) * D * sizeof(float));
    float *tok = malloc(n_tok * sizeof(float));
    if (m && x && t && ctx && we && we0 && wc && wtok && wb0 && e && e0 &&
        cr && tok) {
        char what[64];
        CHECK(wan_dit_time_embed(m, t[0], e, e0) == 0, "time_embed");
        snprintf(what, sizeof(what), "%s time e", c->name);
        CHECK_GOLDEN(what, e, we, n_e);
        snprintf(what, sizeof(what), "%s time e0", c->name);
        CHECK_GOLDEN(what, e0, we0, n_e0);
        int rows = 0;
        CHECK(wan_dit_text_embed(m, NULL, ctx, n, cr, &rows) == 0, "text");
        CHECK((size_t)rows * D == n_c, "text rows %d", rows);
        snprintf(what, sizeof(what), "%s text ctx", c->name);
        CHECK_GOLDEN(what, cr, wc, n_c);
        CHECK(wan_dit_tokens(m, NULL, x, c->F, c->H, c->W, t[0], ctx, n, 0,
                             tok) == 0, "tokens 0");
        snprintf(what, sizeof(what), "%s patch tokens", c->name);
        CHECK_GOLDEN(what, tok, wtok, n_tok);
        CHECK(wan_dit_tokens(m, NULL, x, c->F, c->H, c->W, t[0], ctx, n, 1,
                             tok) == 0, "tokens 1");
        snprintf(what, sizeof(what), "%s block 0", c->name);
        CHECK_GOLDEN(what, tok, wb0, n_tok);
    }
    free(x), free(t), free(ctx), free(we), free(we0), free(wc), free(wtok);
    free(wb0), free(e), free(e0), free(cr), free(tok);
    wan_dit_free(m);
    st_close(&f);
}

static void time_text_patch_and_block_match_the_reference(void)
{
    st_file g;
    if (tu_open(&g, "wan/dit/golden.safetensors"))
        return;
    for (size_t i = 0; i < ST2V_ARRAY_SIZE(CASES); i++)
        run_case_parts(&g, &CASES[i]);
    st_close(&g);
}

static void whole_dit_matches_the_reference_f32_and_bf16(void)
{
    st_file g;
    if (tu_open(&g, "wan/dit/golden.safetensors"))
        return;
    st2v_pool *pool = NULL;
    REQUIRE(st2v_pool_new(&pool, 2) == 0, "pool");
    for (size_t i = 0; i < ST2V_ARRAY_SIZE(CASES); i++) {
        const dit_case *c = &CASES[i];
        st_file f;
        if (tu_open(&f, c->weights))
            continue;
        wan_dit *m = load(&f, c->cfg, NULL);
        size_t nctx, nout;
        float *x = golden(&g, c->name, "x", NULL);
        float *t = golden(&g, c->name, "t", NULL);
        float *ctx = golden(&g, c->name, "context", &nctx);
        float *want = golden(&g, c->name, "out", &nout);
        float *got = malloc(nout * sizeof(float));
        float *got2 = malloc(nout * sizeof(float));
        if (m && x && t && ctx && want && got && got2) {
            const int n = (int)(nctx / (size_t)c->cfg->text_dim);
            CHECK(wan_dit_forward(m, NULL, x, c->F, c->H, c->W, t[0], ctx, n,
                                  got) == 0, "forward");
            char what[64];
            snprintf(what, sizeof(what), "%s velocity", c->name);
            CHECK_GOLDEN(what, got, want, nout);
            CHECK(wan_dit_forward(m, pool, x, c->F, c->H, c->W, t[0], ctx, n,
                                  got2) == 0, "forward, pool");
            CHECK(memcmp(got, got2, nout * sizeof(float)) == 0,
                  "%s: 2 threads differ from serial", c->name);
        }
        free(x), free(t), free(ctx), free(want), free(got), free(got2);
        wan_dit_free(m);
        st_close(&f);
    }
    st2v_pool_free(pool);
    st_close(&g);
}

static void cfg_pair_in_one_pass_equals_two_forwards(void)
{
    st_file g, f;
    if (tu_open(&g, "wan/dit/golden.safetensors"))
        return;
    if (tu_open(&f, "wan/dit/b_f32.safetensors")) {
        st_close(&g);
        return;
    }
    wan_dit *m = load(&f, &CFG_B, NULL);
    size_t n0, n1, nout;
    float *x = golden(&g, "b_f32", "x", NULL);
    float *x2 = golden(&g, "b_cfg", "x", NULL);
    float *t = golden(&g, "b_f32", "t", NULL);
    float *c0 = golden(&g, "b_f32", "context", &n0);
    float *c1 = golden(&g, "b_cfg", "context", &n1);
    float *w0 = golden(&g, "b_f32", "out", &nout);
    float *w1 = golden(&g, "b_cfg", "out", NULL);
    float *o0 = malloc(nout * sizeof(float)), *o1 = malloc(nout * sizeof(float));
    float *s0 = malloc(nout * sizeof(float)), *s1 = malloc(nout * sizeof(float));
    if (m && x && x2 && t && c0 && c1 && w0 && w1 && o0 && o1 && s0 && s1) {
        CHECK(memcmp(x, x2, nout * sizeof(float)) == 0, "one latent");
        const float *ctx[2] = {c0, c1};
        const int n[2] = {(int)(n0 / 12), (int)(n1 / 12)};
        float *out[2] = {o0, o1};
        CHECK(wan_dit_forward_multi(m, NULL, x, 5, 6, 4, t[0], 2, ctx, n,
                                    out) == 0, "multi");
        CHECK_GOLDEN("cfg pair cond", o0, w0, nout);
        CHECK_GOLDEN("cfg pair uncond", o1, w1, nout);
        CHECK(wan_dit_forward(m, NULL, x, 5, 6, 4, t[0], c0, n[0], s0) == 0 &&
                  wan_dit_forward(m, NULL, x, 5, 6, 4, t[0], c1, n[1], s1) ==
                      0,
              "single");
        CHECK(memcmp(o0, s0, nout * sizeof(float)) == 0 &&
                  memcmp(o1, s1, nout * sizeof(float)) == 0,
              "the pair differs from two single forwards");
    }
    free(x), free(x2), free(t), free(c0), free(c1), free(w0), free(w1);
    free(o0), free(o1), free(s0), free(s1);
    wan_dit_free(m);
    st_close(&f);
    st_close(&g);
}

static void full_width_self_attention_matches_the_reference(void)
{
    st_file g;
    if (tu_open(&g, "wan/dit/golden.safetensors"))
        return;
    size_t n;
    float *q = tu_tensor(&g, "full.q", &n), *k = tu_tensor(&g, "full.k", NULL);
    float *v = tu_tensor(&g, "full.v", NULL);
    float *wq = tu_tensor(&g, "full.norm_q", NULL);
    float *wk = tu_tensor(&g, "full.norm_k", NULL);
    float *want = tu_tensor(&g, "full.out", NULL);
    float *got = malloc(n * sizeof(float));
    if (q && k && v && wq && wk && want && got) {
        const int grid[3] = {2, 2, 2};
        CHECK(n == 8 * 1536, "size %zu", n);
        CHECK(wan_dit_self_attention(NULL, got, q, k, v, grid, 12, 128, wq,
                                     wk, 1e-6f) == 0, "attention");
        CHECK_GOLDEN("full width 1536 attention", got, want, n);
    }
    free(q), free(k), free(v), free(wq), free(wk), free(want), free(got);
    st_close(&g);
}

/* A whole DiT of the real width (1536, 12 heads of 128, ffn 8960; one
 * block, text_dim 64) in BF16, from hashed weights (hashed.h; 130 MB made
 * in memory, never stored), on 2 x 2 x 3 tokens with 5 context rows,
 * against train/wan/dit.py's float64 velocity with the context padded to
 * 512 rows as Wan pads it. */
static void full_width_block_matches_the_reference(void)
{
    wan_dit_config c = wan_dit_config_1_3b();
    c.num_layers = 1;
    c.text_dim = 64;
    wan_tensor_spec *spec = NULL;
    int n = 0;
    REQUIRE(wan_dit_tensors(&c, &spec, &n) == 0, "tensors");
    hashed_tensor *t = calloc((size_t)n, sizeof(*t));
    REQUIRE(t, "calloc");
    for (int i = 0; i < n; i++) {
        t[i].name = spec[i].name[0];
        t[i].ndim = spec[i].ndim;
        memcpy(t[i].shape, spec[i].shape, sizeof(int64_t) * spec[i].ndim);
        t[i].shift = -1;
    }
    size_t size = 0;
    uint8_t *buf = hashed_file(t, n, &size);
    REQUIRE(buf, "hashed weights");
    st_file f, g;
    char err[512] = "";
    REQUIRE(st_open_memory(&f, buf, size, err, sizeof(err)) == 0, "%s", err);
    REQUIRE(tu_open(&g, "wan/dit/golden.safetensors") == 0, "golden");
    wan_dit *m = NULL;
    CHECK(wan_dit_load(&m, &f, NULL, &c, err, sizeof(err)) == 0, "load: %s",
          err);
    size_t nx = 0, nc = 0, no = 0;
    float *x = tu_tensor(&g, "hashed.x", &nx);
    float *ctx = tu_tensor(&g, "hashed.context", &nc);
    float *tt = tu_tensor(&g, "hashed.t", NULL);
    float *want = tu_tensor(&g, "hashed.out", &no);
    float *got = malloc((no ? no : 1) * sizeof(float));
    if (m && x && ctx && tt && want && got && nx == 16 * 2 * 4 * 6 &&
        nc == 5 * 64 && no == nx) {
        st2v_pool *pool = NULL;
        CHECK(st2v_pool_new(&pool, 2) == 0, "pool");
        CHECK(wan_dit_forward(m, pool, x, 2, 4, 6, tt[0], ctx, 5, got) == 0,
              "forward");
        CHECK_GOLDEN("one 1536-wide DiT block", got, want, no);
        /* the BF16 path on the real widths (k 1536, 8960, text 64) */
        const int bf16 = wan_dit_use_bf16(m, 1);
        CHECK(wan_dit_forward(m, pool, x, 2, 4, 6, tt[0], ctx, 5, got) == 0,
              "forward bf16");
        wan_dit_use_bf16(m, 0);
        const double e = tu_max_rel_err(got, want, no);
        printf("     golden %-28s max rel err %.3g%s\n", "the block, bf16", e,
               bf16 ? "" : " (float32: no AVX512-BF16)");
        CHECK(e <= (bf16 ? BF16_TOL : GOLDEN_TOL), "bf16 block: %.3g", e);
        st2v_pool_free(pool);
    } else {
        CHECK(0, "golden hashed.* missing or misshapen (make fixtures)");
    }
    free(x), free(ctx), free(tt), free(want), free(got);
    wan_dit_free(m);
    st_close(&g);
    st_close(&f);
    free(buf);
    free(t);
    free(spec);
}

/* With compute dtype bf16 (wan_dit_use_bf16) the BF16 weights of a_bf16
 * go through the BF16 path: the golden velocity within BF16_TOL, the same
 * bits for 1, 2 and 3 threads; the F32 weights of a_f32 stay float32 (the
 * same bits as without it). Where the CPU lacks AVX512-BF16 (or ST2V_CPU
 * caps it) everything is float32 and the float32 tolerance holds. */
static void dit_in_bf16_matches_the_reference_within_the_bf16_tolerance(void)
{
    st_file g;
    if (tu_open(&g, "wan/dit/golden.safetensors"))
        return;
    for (int i = 0; i < 2; i++) {
        const dit_case *c = &CASES[i]; /* a_f32, a_bf16 */
        st_file f;
        if (tu_open(&f, c->weights))
            continue;
        wan_dit *m = load(&f, c->cfg, NULL);
        size_t nctx, nout;
        float *x = golden(&g, c->name, "x", NULL);
        float *t = golden(&g, c->name, "t", NULL);
        float *ctx = golden(&g, c->name, "context", &nctx);
        float *want = golden(&g, c->name, "out", &nout);
        float *f32 = malloc(nout * sizeof(float));
        float *got[4];
        for (int j = 0; j < 4; j++)
            got[j] = malloc(nout * sizeof(float));
        if (m && x && t && ctx && want && f32 && got[0] && got[1] &&
            got[2] && got[3]) {
            const int n = (int)(nctx / (size_t)c->cfg->text_dim);
            CHECK(wan_dit_forward(m, NULL, x, c->F, c->H, c->W, t[0], ctx, n,
                                  f32) == 0, "forward f32");
            const int on = wan_dit_use_bf16(m, 1);
            CHECK(on == (i == 1 && st2v_bf16_matmul_supported()),
                  "%s: wan_dit_use_bf16 gave %d", c->name, on);
            for (int j = 0; j < 4; j++) {
                st2v_pool *pool = NULL;
                REQUIRE(j == 0 || st2v_pool_new(&pool, j) == 0, "pool");
                CHECK(wan_dit_forward(m, pool, x, c->F, c->H, c->W, t[0],
                                      ctx, n, got[j]) == 0, "forward bf16");
                st2v_pool_free(pool);
                CHECK(memcmp(got[0], got[j], nout * sizeof(float)) == 0,
                      "%s bf16: %d threads differ from serial", c->name, j);
            }
            const double e = tu_max_rel_err(got[0], want, nout);
            const double ef = tu_max_rel_err(got[0], f32, nout);
            printf("     golden %-28s max rel err %.3g (vs float32 %.3g)%s\n",
                   i ? "a_bf16 velocity, bf16" : "a_f32 velocity, bf16", e,
                   ef, on ? "" : " float32");
            CHECK(e <= (on ? BF16_TOL : GOLDEN_TOL), "%s bf16: %.3g",
                  c->name, e);
            if (!on)
                CHECK(ef == 0.0, "%s: float32 weights changed bits", c->name);
            wan_dit_use_bf16(m, 0);
            CHECK(wan_dit_forward(m, NULL, x, c->F, c->H, c->W, t[0], ctx, n,
                                  got[1]) == 0 &&
                      memcmp(got[1], f32, nout * sizeof(float)) == 0,
                  "%s: float32 again after bf16 off", c->name);
        }
        free(x), free(t), free(ctx), free(want), free(f32);
        for (int j = 0; j < 4; j++)
            free(got[j]);
        wan_dit_free(m);
        st_close(&f);
    }
    st_close(&g);
}

/* F16 weights, used in place, give what F32 weights of the same values
 * give, and the F32 golden within F16's rounding. */
static void f16_weights_are_used_in_place(void)
{
    st_file f, g, h16, h32;
    if (tu_open(&f, "wan/dit/a_f32.safetensors"))
        return;
    if (tu_open(&g, "wan/dit/golden.safetensors")) {
        st_close(&f);
        return;
    }
    size_t s16 = 0, s32 = 0, nctx, nout;
    uint8_t *i16 = rebuild(&f, NULL, ALL_F16, NULL, &s16);
    uint8_t *i32 = rebuild(&f, NULL, ALL_F16_AS_F32, NULL, &s32);
    float *x = golden(&g, "a_f32", "x", NULL);
    float *t = golden(&g, "a_f32", "t", NULL);
    float *ctx = golden(&g, "a_f32", "context", &nctx);
    float *want = golden(&g, "a_f32", "out", &nout);
    float *o16 = malloc(nout * sizeof(float)), *o32 = malloc(nout * sizeof(float));
    char err[256] = "";
    if (i16 && i32 && x && t && ctx && want && o16 && o32 &&
        st_open_memory(&h16, i16, s16, err, sizeof(err)) == 0) {
        if (st_open_memory(&h32, i32, s32, err, sizeof(err)) == 0) {
            CHECK(st_find(&h16, "blocks.1.ffn.2.weight")->dtype == ST_F16,
                  "an F16 file");
            wan_dit *m16 = load(&h16, &CFG_A, NULL);
            wan_dit *m32 = load(&h32, &CFG_A, NULL);
            const int n = (int)(nctx / 24);
            if (m16 && m32 &&
                wan_dit_forward(m16, NULL, x, 3, 8, 12, t[0], ctx, n, o16) ==
                    0 &&
                wan_dit_forward(m32, NULL, x, 3, 8, 12, t[0], ctx, n, o32) ==
                    0) {
                const double same = tu_max_rel_err(o16, o32, nout);
                const double gold = tu_max_rel_err(o16, want, nout);
                printf("     F16 vs F32 of the same values %.3g; vs the F32 "
                       "golden %.3g\n", same, gold);
                CHECK(same == 0.0, "F16 in place differs: %.3g", same);
                CHECK(gold < 1e-2 && gold > 0, "F16 vs golden %.3g", gold);
            } else {
                CHECK(0, "forward");
            }
            wan_dit_free(m16);
            wan_dit_free(m32);
            st_close(&h32);
        }
        st_close(&h16);
    } else {
        CHECK(0, "setup: %s", err);
    }
    free(i16), free(i32), free(x), free(t), free(ctx), free(want);
    free(o16), free(o32);
    st_close(&g);
    st_close(&f);
}

/* ------------------------------------------------------------- errors */

static void config_is_read_from_the_tensor_shapes(void)
{
    st_file f;
    if (tu_open(&f, "wan/dit/a_f32.safetensors"))
        return;
    wan_dit_config c = wan_dit_config_1_3b();
    c.num_heads = 2;
    c.text_len = 16;
    char err[256] = "";
    CHECK(wan_dit_config_from_file(&c, &f, NULL, err, sizeof(err)) == 0, "%s",
          err);
    CHECK(memcmp(&c, &CFG_A, sizeof(c)) == 0,
          "config: dim %d ffn %d layers %d in %d out %d text %d freq %d",
          c.dim, c.ffn_dim, c.num_layers, c.in_dim, c.out_dim, c.text_dim,
          c.freq_dim);
    st_close(&f);
}

/* Load a rebuilt a_f32 and expect status st with `needle` in the error. */
static void expect_refusal(const char *which, int what, int want_st,
                           const char *needle)
{
    st_file f, bad;
    if (tu_open(&f, "wan/dit/a_f32.safetensors"))
        return;
    size_t size = 0;
    uint8_t *img = rebuild(&f, which, what, NULL, &size);
    char err[512] = "";
    if (img && st_open_memory(&bad, img, size, err, sizeof(err)) == 0) {
        wan_dit *m = NULL;
        int st = wan_dit_load(&m, &bad, NULL, &CFG_A, err, sizeof(err));
        CHECK(st == want_st && !m, "%s: status %d, expected %d", which, st,
              want_st);
        CHECK(strstr(err, needle) != NULL, "message \"%s\" lacks \"%s\"", err,
              needle);
        printf("     refused: %s\n", err);
        wan_dit_free(m);
        st_close(&bad);
    } else {
        CHECK(0, "rebuild: %s", err);
    }
    free(img);
    st_close(&f);
}

static void missing_misshapen_and_fp8_tensors_are_refused_by_name(void)
{
    expect_refusal("blocks.1.cross_attn.norm_k.weight", DROP,
                   ST2V_ERR_FORMAT, "blocks.1.cross_attn.norm_k.weight: missing");
    expect_refusal("blocks.0.ffn.2.weight", TRANSPOSE, ST2V_ERR_FORMAT,
                   "blocks.0.ffn.2.weight: shape [56, 40], expected [40, 56]");
    expect_refusal("head.modulation", DROP, ST2V_ERR_FORMAT,
                   "head.modulation: missing");
    expect_refusal("blocks.0.self_attn.q.weight", AS_FP8,
                   ST2V_ERR_UNSUPPORTED, "blocks.0.self_attn.q.weight: F8_E4M3");
}

static void a_prefix_is_honoured(void)
{
    st_file f, pf;
    if (tu_open(&f, "wan/dit/a_f32.safetensors"))
        return;
    size_t size = 0;
    uint8_t *img = rebuild(&f, NULL, KEEP, "model.diffusion_model.", &size);
    char err[256] = "";
    if (img && st_open_memory(&pf, img, size, err, sizeof(err)) == 0) {
        wan_dit *m = load(&pf, &CFG_A, "model.diffusion_model.");
        CHECK(m != NULL, "prefixed load");
        wan_dit_free(m);
        wan_dit *none = NULL;
        CHECK(wan_dit_load(&none, &pf, NULL, &CFG_A, err, sizeof(err)) ==
                      ST2V_ERR_FORMAT &&
                  strstr(err, "patch_embedding.weight: missing"),
              "unprefixed names: %s", err);
        st_close(&pf);
    }
    free(img);
    st_close(&f);
}

static void bad_sizes_are_refused(void)
{
    st_file f;
    if (tu_open(&f, "wan/dit/a_f32.safetensors"))
        return;
    wan_dit *m = load(&f, &CFG_A, NULL);
    float *x = calloc(6 * 3 * 8 * 12, sizeof(float));
    float *ctx = calloc(17 * 24, sizeof(float));
    float *out = calloc(5 * 3 * 8 * 12, sizeof(float));
    if (m && x && ctx && out) {
        CHECK(wan_dit_forward(m, NULL, x, 3, 7, 12, 5, ctx, 4, out) ==
                  ST2V_ERR_INVALID_ARG, "odd H");
        CHECK(wan_dit_forward(m, NULL, x, 3, 8, 12, 5, ctx, 0, out) ==
                  ST2V_ERR_INVALID_ARG, "n 0");
        CHECK(wan_dit_forward(m, NULL, x, 3, 8, 12, 5, ctx, 17, out) ==
                  ST2V_ERR_INVALID_ARG, "n > text_len");
        CHECK(wan_dit_forward(m, NULL, x, 3, 8, 12, 5, ctx, 16, out) == 0,
              "n = text_len");
        wan_dit_config c = CFG_A;
        c.dim = 41;
        wan_dit *bad = NULL;
        char err[256] = "";
        CHECK(wan_dit_load(&bad, &f, NULL, &c, err, sizeof(err)) ==
                      ST2V_ERR_FORMAT && !bad,
              "dim 41 with 2 heads: %s", err);
    }
    free(x), free(ctx), free(out);
    wan_dit_free(m);
    st_close(&f);
}

/* ------------------------------------------------------ full size */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double cpu_seconds(const struct rusage *r)
{
    return (double)r->ru_utime.tv_sec + 1e-6 * (double)r->ru_utime.tv_usec +
           (double)r->ru_stime.tv_sec + 1e-6 * (double)r->ru_stime.tv_usec;
}

/* Multiply-adds x 2 of `layers` blocks at L tokens, R context rows. */
static double block_flops(const wan_dit_config *c, double L, double R,
                          int layers)
{
    const double D = c->dim, Fd = c->ffn_dim;
    const double self = 8 * L * D * D + 4 * L * L * D;
    const double cross = 4 * L * D * D + 4 * R * D * D + 4 * L * R * D;
    return layers * (self + cross + 4 * L * D * Fd);
}

static void full_size_forward_is_timed_when_asked(void)
{
    const char *path = getenv("ST2V_WAN_DIT_FULL");
    if (!path || !*path) {
        printf("     (full size: set ST2V_WAN_DIT_FULL, see train/wan/dit.py)\n");
        return;
    }
    int F = 5, H = 40, W = 64, threads = 2, layers = -1;
    const char *g = getenv("ST2V_WAN_DIT_GRID");
    if (g && sscanf(g, "%dx%dx%d", &F, &H, &W) != 3)
        F = H = W = 0;
    if (getenv("ST2V_WAN_DIT_LAYERS"))
        layers = atoi(getenv("ST2V_WAN_DIT_LAYERS"));
    if (getenv("ST2V_WAN_DIT_THREADS"))
        threads = atoi(getenv("ST2V_WAN_DIT_THREADS"));
    REQUIRE(F > 0 && H > 0 && W > 0 && threads > 0, "bad grid or threads");
    st_file f;
    char err[512] = "";
    REQUIRE(st_open(&f, path, err, sizeof(err)) == 0, "%s", err);
    wan_dit_config c = wan_dit_config_1_3b();
    CHECK(wan_dit_config_from_file(&c, &f, NULL, err, sizeof(err)) == 0, "%s",
          err);
    c.num_heads = c.dim / 128;
    wan_dit *m = load(&f, &c, NULL);
    st2v_pool *pool = NULL;
    const int n = 30; /* a typical prompt's umT5 rows */
    const int64_t nx = (int64_t)c.in_dim * F * H * W;
    const int64_t L = (int64_t)F * H * W / 4;
    float *x = malloc((size_t)nx * sizeof(float));
    float *ctx = malloc((size_t)n * c.text_dim * sizeof(float));
    float *out = malloc((size_t)ST2V_MAX(nx, L * c.dim) * sizeof(float));
    if (m && x && ctx && out && st2v_pool_new(&pool, threads) == 0) {
        for (int64_t i = 0; i < nx; i++)
            x[i] = frand();
        for (int64_t i = 0; i < (int64_t)n * c.text_dim; i++)
            ctx[i] = 0.2f * frand();
        const int nl = layers >= 0 ? layers : c.num_layers;
        struct rusage r0;
        getrusage(RUSAGE_SELF, &r0);
        const double t0 = now();
        int st = layers >= 0
                     ? wan_dit_tokens(m, pool, x, F, H, W, 500.0, ctx, n, nl,
                                      out)
                     : wan_dit_forward(m, pool, x, F, H, W, 500.0, ctx, n,
                                       out);
        const double dt = now() - t0;
        CHECK(st == 0, "forward %d", st);
        int finite = 1;
        for (int64_t i = 0; i < (layers >= 0 ? L * c.dim : nx); i++)
            finite &= isfinite(out[i]) != 0;
        CHECK(finite, "non-finite output");
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        const double cpu = cpu_seconds(&ru) - cpu_seconds(&r0);
        const double fl = block_flops(&c, (double)L, n + 1, nl);
        printf("     full size %dx%dx%d latent, %lld tokens, %d blocks, %d "
               "threads: %.1f s, %.1f GFLOP/s (%.2f TFLOP); %.1f CPU s, "
               "%.1f GFLOP per CPU s; peak RSS %.0f MB\n",
               F, H, W, (long long)L, nl, threads, dt, fl / dt * 1e-9,
               fl * 1e-12, cpu, fl / cpu * 1e-9,
               (double)ru.ru_maxrss / 1024.0);
    } else {
        CHECK(0, "setup");
    }
    free(x), free(ctx), free(out);
    st2v_pool_free(pool);
    wan_dit_free(m);
    st_close(&f);
}

int main(void)
{
    RUN(flash_attention_matches_naive_attention);
    RUN(time_text_patch_and_block_match_the_reference);
    RUN(whole_dit_matches_the_reference_f32_and_bf16);
    RUN(cfg_pair_in_one_pass_equals_two_forwards);
    RUN(full_width_self_attention_matches_the_reference);
    RUN(full_width_block_matches_the_reference);
    RUN(dit_in_bf16_matches_the_reference_within_the_bf16_tolerance);
    RUN(f16_weights_are_used_in_place);
    RUN(config_is_read_from_the_tensor_shapes);
    RUN(missing_misshapen_and_fp8_tensors_are_refused_by_name);
    RUN(a_prefix_is_honoured);
    RUN(bad_sizes_are_refused);
    RUN(full_size_forward_is_timed_when_asked);
    return tu_summary();
}
