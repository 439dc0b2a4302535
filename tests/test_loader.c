/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_loader.c - the model loader (core/safetensors.c, config.c, model.c):
 * the tiny fixtures load with the right info and weights, mixed dtypes
 * convert exactly, and every check of docs/model-format.md sections 1-2 is
 * made: each bad file is crafted in memory from tiny.safetensors (its JSON
 * header mutated with cJSON, its data section kept) and must be refused
 * with ST2V_ERR_FORMAT and a one-line message naming the tensor or key.
 * Truncated files and random header corruption must never crash.
 */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch.h"
#include "st2v/cost.h"
#include "st2v/model.h"
#include "test_util.h"

/* ------------------------------------------------------------ helpers */

/* tiny.safetensors split into its parsed header and its data section. */
typedef struct {
    uint8_t *file;             /* (file_size) the original bytes */
    size_t file_size;
    cJSON *hdr;                /* parsed header, mutated by the tests */
    const uint8_t *data;       /* data section inside file */
    size_t data_size;
} parts;

static int tiny_parts(parts *p)
{
    memset(p, 0, sizeof(*p));
    p->file = tu_read_file(tu_fixture("tiny.safetensors"), &p->file_size);
    if (!p->file || p->file_size < 8) {
        fprintf(stderr, "  cannot read tiny.safetensors\n");
        tu_current_failed = 1;
        return -1;
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | p->file[i];
    p->hdr = cJSON_ParseWithLength((const char *)p->file + 8, (size_t)n);
    p->data = p->file + 8 + n;
    p->data_size = p->file_size - 8 - (size_t)n;
    if (!p->hdr) {
        fprintf(stderr, "  cannot parse the header of tiny.safetensors\n");
        tu_current_failed = 1;
        return -1;
    }
    return 0;
}

/* Back to the unmodified header, between the steps of one test. */
static void reset_parts(parts *p)
{
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | p->file[i];
    cJSON_Delete(p->hdr);
    p->hdr = cJSON_ParseWithLength((const char *)p->file + 8, (size_t)n);
}

static void free_parts(parts *p)
{
    cJSON_Delete(p->hdr);
    free(p->file);
}

/* A file image: u64 length | header JSON padded to 8 | data. */
static uint8_t *build_raw(const char *json, const uint8_t *data,
                          size_t data_size, size_t *size)
{
    size_t n = strlen(json), padded = (n + 7) & ~(size_t)7;
    *size = 8 + padded + data_size;
    uint8_t *buf = malloc(*size);
    if (!buf)
        return NULL;
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    memcpy(buf + 8, json, n);
    memset(buf + 8 + n, ' ', padded - n);
    if (data_size)
        memcpy(buf + 8 + padded, data, data_size);
    return buf;
}

static uint8_t *build(const parts *p, size_t *size)
{
    char *json = cJSON_PrintUnformatted(p->hdr);
    uint8_t *buf = build_raw(json, p->data, p->data_size, size);
    cJSON_free(json);
    return buf;
}

/* Load an image from memory; frees the model if it loads. */
static int load_image(const uint8_t *buf, size_t size, char *err,
                      size_t err_size)
{
    st2v_model *m = NULL;
    err[0] = '\0';
    int rc = st2v_model_load_memory(&m, buf, size, err, err_size);
    if (rc == 0 && !m)
        rc = 999;
    if (rc != 0 && m)
        rc = 998; /* a failure must leave *out NULL */
    st2v_model_free(m);
    return rc;
}

/* Check that the image of p is refused with `want` and a one-line message
 * containing every needle (NULL-terminated list). */
static void expect_refusal_buf(const uint8_t *buf, size_t size, int want,
                               const char *const *needles)
{
    char err[1024];
    int rc = load_image(buf, size, err, sizeof(err));
    CHECK(rc == want, "rc %d, want %d (message: %s)", rc, want, err);
    CHECK(err[0] != '\0', "empty message");
    CHECK(!strchr(err, '\n'), "message has a line break: %s", err);
    for (int i = 0; needles[i]; i++)
        CHECK(strstr(err, needles[i]), "message \"%s\" lacks \"%s\"", err,
              needles[i]);
}

#define EXPECT_REFUSED(p, ...)                                                \
    do {                                                                      \
        size_t size_;                                                         \
        uint8_t *buf_ = build((p), &size_);                                   \
        const char *needles_[] = {__VA_ARGS__, NULL};                        \
        expect_refusal_buf(buf_, size_, ST2V_ERR_FORMAT, needles_);           \
        free(buf_);                                                           \
    } while (0)

#define EXPECT_REFUSED_RAW(json, ...)                                         \
    do {                                                                      \
        size_t size_;                                                         \
        uint8_t *buf_ = build_raw((json), NULL, 0, &size_);                   \
        const char *needles_[] = {__VA_ARGS__, NULL};                        \
        expect_refusal_buf(buf_, size_, ST2V_ERR_FORMAT, needles_);           \
        free(buf_);                                                           \
    } while (0)

static cJSON *entry(const parts *p, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(p->hdr, name);
}

static void set_array(cJSON *obj, const char *key, const double *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    if (cJSON_HasObjectItem(obj, key))
        cJSON_ReplaceItemInObjectCaseSensitive(obj, key, a);
    else
        cJSON_AddItemToObject(obj, key, a);
}

static void set_offsets(const parts *p, const char *name, double b, double e)
{
    const double v[2] = {b, e};
    set_array(entry(p, name), "data_offsets", v, 2);
}

/* The st2v_config of the header, parsed (caller deletes), and back. */
static cJSON *get_config(const parts *p)
{
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(p->hdr, "__metadata__");
    cJSON *s = cJSON_GetObjectItemCaseSensitive(meta, "st2v_config");
    return cJSON_Parse(cJSON_GetStringValue(s));
}

static void put_config(const parts *p, cJSON *cfg)
{
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(p->hdr, "__metadata__");
    char *json = cJSON_PrintUnformatted(cfg);
    cJSON_ReplaceItemInObjectCaseSensitive(meta, "st2v_config",
                                           cJSON_CreateString(json));
    cJSON_free(json);
    cJSON_Delete(cfg);
}

static void set_config_raw(const parts *p, const char *json)
{
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(p->hdr, "__metadata__");
    cJSON_ReplaceItemInObjectCaseSensitive(meta, "st2v_config",
                                           cJSON_CreateString(json));
}

static cJSON *section(cJSON *cfg, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(cfg, name);
}

static void set_number(cJSON *obj, const char *key, double v)
{
    cJSON_ReplaceItemInObjectCaseSensitive(obj, key, cJSON_CreateNumber(v));
}

/* --------------------------------------------------- loading fixtures */

/* Parameter count from the spec tables of sections 4-6, independent of
 * the loader's own sum. */
static int64_t spec_params(const st2v_config *c)
{
    int64_t V = c->vocab_size, L = c->max_length, Dt = c->text_dim,
            Mt = c->text_mlp, D = c->dim, M = c->mlp, hd = c->dim / c->heads,
            F = c->freq_dim, Cz = c->z_channels,
            P = (Cz + c->extra_channels) * c->patch[0] * c->patch[1] *
                c->patch[2];
    int64_t n = V * Dt + L * Dt + 2 * Dt;
    n += c->text_layers * (2 * Dt + 3 * Dt * Dt + 3 * Dt + Dt * Dt + Dt +
                           2 * Dt + Mt * Dt + Mt + Dt * Mt + Dt);
    n += D * P + D + D * F + D + D * D + D;
    if (c->text_pool)
        n += D * Dt + D;                                  /* text_pool */
    n += c->layers * (6 * D * D + 6 * D + 3 * D * D + 3 * D + 2 * hd +
                      D * D + D + 2 * D + D * D + D + 2 * D * Dt + 2 * D +
                      2 * hd + D * D + D + M * D + M + D * M + D);
    n += 2 * D * D + 2 * D + P * D + P;
    const int *C = c->channels, *Cd = c->dec_channels, *kt = c->kt;
    int Lv = c->n_levels;
    for (int part = 0; part < 2; part++) { /* decoder, encoder */
        const int *W = part == 0 ? Cd : C;
        for (int i = 0; i < Lv; i++)
            n += (int64_t)c->res_blocks *
                 (2 * W[i] + 2 * ((int64_t)W[i] * W[i] * kt[i] * 9 + W[i]));
    }
    for (int i = 0; i + 1 < Lv; i++) {
        int64_t a = 1 + c->time_up[i], b = 1 + c->space_up[i];
        n += Cd[i + 1] * a * b * b * Cd[i] * kt[i] * 9 + Cd[i + 1] * a * b * b;
        n += C[i] * C[i + 1] * a * b * b * kt[i] * 9 + C[i];
    }
    n += (int64_t)Cd[0] * Cz * kt[0] * 9 + Cd[0];               /* dec in */
    n += Cd[Lv - 1] + 3 * Cd[Lv - 1] * 9 + 3;                  /* dec out */
    n += (int64_t)C[Lv - 1] * 3 * kt[Lv - 1] * 9 + C[Lv - 1];  /* enc in */
    n += C[0] + Cz * C[0] * 9 + Cz;                            /* enc out */
    return n;
}

static void loader_loads_tiny_model_with_its_info(void)
{
    st2v_model *m = NULL;
    char err[512] = "";
    int rc = st2v_model_load(&m, tu_fixture("tiny.safetensors"), err,
                             sizeof(err));
    REQUIRE(rc == 0 && m, "load failed: %d %s", rc, err);
    const st2v_model_info *info = st2v_model_get_info(m);
    CHECK(strcmp(info->name, "st2v-tiny-test") == 0, "name %s", info->name);
    CHECK(info->description && info->description[0], "no description");
    CHECK(info->fps == 16, "fps %d", info->fps);
    CHECK(info->n_sizes == 2, "n_sizes %d", info->n_sizes);
    if (info->n_sizes == 2) {
        CHECK(info->sizes[0][0] == 32 && info->sizes[0][1] == 32,
              "size 0 %dx%d", info->sizes[0][0], info->sizes[0][1]);
        CHECK(info->sizes[1][0] == 48 && info->sizes[1][1] == 32,
              "size 1 %dx%d", info->sizes[1][0], info->sizes[1][1]);
    }
    CHECK(info->default_steps == 4, "steps %d", info->default_steps);
    CHECK(info->default_cfg == 3.0f, "cfg %g", info->default_cfg);
    CHECK(info->default_shift == 2.0f, "shift %g", info->default_shift);
    CHECK(strcmp(info->default_sampler, "euler") == 0, "sampler %s",
          info->default_sampler);
    CHECK(info->frames_per_latent == 4, "ft %d", info->frames_per_latent);
    CHECK(info->spatial_factor == 4, "s %d", info->spatial_factor);
    CHECK(info->gflop_per_second > 0, "gflop/s %g", info->gflop_per_second);

    const st2v_config *c = &st2v_world_of(m)->cfg;
    CHECK(c->text_dim == 32 && c->text_heads == 2 && c->text_mlp == 64 &&
              c->text_layers == 2 && c->max_length == 16,
          "text config");
    CHECK(c->dim == 48 && c->heads == 2 && c->mlp == 96 && c->layers == 2 &&
              c->freq_dim == 32 && c->text_pool == 1,
          "dit config");
    CHECK(c->rope_dims[0] == 8 && c->rope_dims[1] == 8 && c->rope_dims[2] == 8,
          "rope dims");
    CHECK(c->n_levels == 3 && c->channels[0] == 16 &&
              c->dec_channels[0] == 24 && c->dec_channels[1] == 12 &&
              c->dec_channels[2] == 8 && c->kt[0] == 3 &&
              c->kt[2] == 1 && c->z_channels == 4,
          "vae config");
    CHECK(c->latent_mean[1] == -0.25f && c->latent_std[3] == 0.75f,
          "latent stats");
    CHECK(c->window == 4 && c->context == 1, "window %d context %d",
          c->window, c->context);
    CHECK(c->vocab_size == 259 + c->n_pieces, "V %d", c->vocab_size);

    int64_t want = spec_params(c);
    CHECK(info->n_params == want, "n_params %lld, the spec tables give %lld",
          (long long)info->n_params, (long long)want);
    CHECK(info->n_params == 292903, "n_params %lld, the fixture holds 292903",
          (long long)info->n_params);

    /* weights bound, with the sizes of the config */
    CHECK(st2v_world_of(m)->dit.blocks[1].fc2.w && st2v_world_of(m)->dit.blocks[1].fc2.in == 96 &&
              st2v_world_of(m)->dit.blocks[1].fc2.out == 48,
          "dit fc2");
    CHECK(st2v_world_of(m)->vae.dec[0].resample.w && st2v_world_of(m)->vae.dec[0].resample.cout == 12 * 2 * 4 &&
              st2v_world_of(m)->vae.dec[0].resample.cin == 24,
          "dec up 0 cout %d", st2v_world_of(m)->vae.dec[0].resample.cout);
    CHECK(st2v_world_of(m)->vae.dec[2].resample.w == NULL, "finest decoder level has no up");
    CHECK(st2v_world_of(m)->vae.enc[0].resample.w == NULL, "coarsest encoder level has no "
                                            "down");
    CHECK(st2v_world_of(m)->vae.enc[1].resample.cin == 8 * 2 * 4, "enc down 1 cin %d",
          st2v_world_of(m)->vae.enc[1].resample.cin);
    st2v_model_free(m);
}

static void loader_uses_aligned_f32_tensors_in_place(void)
{
    st2v_model *m = NULL;
    char err[512];
    int rc = st2v_model_load(&m, tu_fixture("tiny.safetensors"), err,
                             sizeof(err));
    REQUIRE(rc == 0, "%s", err);
    CHECK(st2v_world_of(m)->n_owned == 0, "%d tensors copied", st2v_world_of(m)->n_owned);
    const uint8_t *lo = st2v_world_of(m)->file.map, *hi = lo + st2v_world_of(m)->file.map_size;
    const uint8_t *p = (const uint8_t *)st2v_world_of(m)->text.tok_emb;
    CHECK(p >= lo && p < hi, "tok_emb is not inside the mapping");
    const st_tensor *t = st_find(&st2v_world_of(m)->file, "text.tok_emb");
    CHECK(t && (const float *)(const void *)t->data == st2v_world_of(m)->text.tok_emb,
          "tok_emb is not the tensor's data");
    st2v_model_free(m);
}

static void loader_converts_unaligned_f32_tensors(void)
{
    size_t size;
    uint8_t *file = tu_read_file(tu_fixture("tiny.safetensors"), &size);
    REQUIRE(file, "cannot read tiny.safetensors");
    uint8_t *shifted = malloc(size + 1);
    memcpy(shifted + 1, file, size);
    st2v_model *a = NULL, *b = NULL;
    char err[512];
    int rc1 = st2v_model_load_memory(&a, file, size, err, sizeof(err));
    int rc2 = st2v_model_load_memory(&b, shifted + 1, size, err, sizeof(err));
    CHECK(rc1 == 0 && rc2 == 0, "load: %d %d %s", rc1, rc2, err);
    if (rc1 == 0 && rc2 == 0) {
        CHECK(st2v_world_of(b)->n_owned == st2v_world_of(b)->file.n_tensors, "%d of %d converted",
              st2v_world_of(b)->n_owned, st2v_world_of(b)->file.n_tensors);
        CHECK(((uintptr_t)st2v_world_of(b)->text.tok_emb & 3) == 0, "not aligned");
        size_t n = (size_t)st2v_world_of(a)->cfg.vocab_size * st2v_world_of(a)->cfg.text_dim;
        CHECK(memcmp(st2v_world_of(a)->text.tok_emb, st2v_world_of(b)->text.tok_emb, n * 4) == 0,
              "tok_emb differs");
        n = (size_t)st2v_world_of(a)->cfg.dim * st2v_world_of(a)->cfg.dim;
        CHECK(memcmp(st2v_world_of(a)->dit.blocks[1].cross_proj.w,
                     st2v_world_of(b)->dit.blocks[1].cross_proj.w, n * 4) == 0,
              "cross_proj differs");
    }
    st2v_model_free(a);
    st2v_model_free(b);
    free(shifted);
    free(file);
}

static void loader_converts_mixed_dtypes_to_within_their_precision(void)
{
    st_file f32, mix;
    if (tu_open(&f32, "tiny.safetensors") != 0)
        return;
    if (tu_open(&mix, "tiny_mixed.safetensors") != 0) {
        st_close(&f32);
        return;
    }
    CHECK(f32.n_tensors == mix.n_tensors, "%d vs %d tensors", f32.n_tensors,
          mix.n_tensors);
    int count[3] = {0, 0, 0};
    for (int i = 0; i < mix.n_tensors; i++) {
        const st_tensor *m = &mix.tensors[i];
        const st_tensor *r = st_find(&f32, m->name);
        if (!r || r->numel != m->numel) {
            CHECK(0, "tensor %s missing or resized in tiny.safetensors",
                  m->name);
            continue;
        }
        count[m->dtype]++;
        /* relative half-ulp of the stored type, plus F16's subnormal step */
        double rel = m->dtype == ST_F16 ? 0x1p-11 : m->dtype == ST_BF16
                                                        ? 0x1p-8
                                                        : 0.0;
        double abs_tol = m->dtype == ST_F16 ? 0x1p-25 : 0.0;
        float *got = malloc(m->numel * sizeof(float) + 4);
        float *want = malloc(r->numel * sizeof(float) + 4);
        st_to_f32(m, got);
        st_to_f32(r, want);
        for (uint64_t k = 0; k < m->numel; k++) {
            double d = fabs((double)got[k] - (double)want[k]);
            if (!(d <= rel * fabs((double)want[k]) + abs_tol)) {
                CHECK(0, "%s[%llu]: %s gives %.9g, F32 %.9g", m->name,
                      (unsigned long long)k,
                      m->dtype == ST_F16 ? "F16" : "BF16", got[k], want[k]);
                break;
            }
        }
        free(got);
        free(want);
    }
    CHECK(count[ST_F16] > 0 && count[ST_BF16] > 0 && count[ST_F32] > 0,
          "dtypes F32 %d F16 %d BF16 %d", count[0], count[1], count[2]);
    st_close(&f32);
    st_close(&mix);

    /* and through the model: bound weights agree as well */
    st2v_model *a = NULL, *b = NULL;
    char err[512];
    int rc1 = st2v_model_load(&a, tu_fixture("tiny.safetensors"), err,
                              sizeof(err));
    int rc2 = st2v_model_load(&b, tu_fixture("tiny_mixed.safetensors"), err,
                              sizeof(err));
    CHECK(rc1 == 0 && rc2 == 0, "load %d %d: %s", rc1, rc2, err);
    if (rc1 == 0 && rc2 == 0) {
        /* F16, BF16 and the F32 tensors that the 2-byte ones unalign */
        int want = count[ST_F16] + count[ST_BF16], unaligned = 0;
        for (int i = 0; i < st2v_world_of(b)->file.n_tensors; i++)
            if (st2v_world_of(b)->file.tensors[i].dtype == ST_F32 &&
                ((uintptr_t)st2v_world_of(b)->file.tensors[i].data & 3) != 0)
                unaligned++;
        CHECK(st2v_world_of(b)->n_owned == want + unaligned, "%d converted, want %d + %d",
              st2v_world_of(b)->n_owned, want, unaligned);
        CHECK(st2v_model_get_info(a)->n_params == st2v_model_get_info(b)->n_params, "n_params differ");
        size_t n = (size_t)st2v_world_of(a)->cfg.vocab_size * st2v_world_of(a)->cfg.text_dim;
        CHECK(tu_max_rel_err(st2v_world_of(b)->text.tok_emb, st2v_world_of(a)->text.tok_emb, n) < 0x1p-7,
              "tok_emb differs by %g",
              tu_max_rel_err(st2v_world_of(b)->text.tok_emb, st2v_world_of(a)->text.tok_emb, n));
    }
    st2v_model_free(a);
    st2v_model_free(b);
}

/* F16 value by definition, in double. */
static double f16_ref(unsigned h)
{
    int s = h >> 15, e = (h >> 10) & 31, mant = h & 1023;
    double v = e == 0 ? ldexp(mant, -24) : ldexp(1024 + mant, e - 25);
    return s ? -v : v;
}

static void conversion_of_f16_and_bf16_is_exact(void)
{
    /* every F16 bit pattern */
    uint8_t *raw = malloc(65536 * 2);
    float *out = malloc(65536 * sizeof(float));
    for (unsigned i = 0; i < 65536; i++) {
        raw[2 * i] = (uint8_t)(i & 0xff);
        raw[2 * i + 1] = (uint8_t)(i >> 8);
    }
    st_tensor t;
    memset(&t, 0, sizeof(t));
    t.dtype = ST_F16;
    t.ndim = 1;
    t.shape[0] = 65536;
    t.numel = 65536;
    t.data = raw;
    st_to_f32(&t, out);
    int bad = 0;
    for (unsigned h = 0; h < 65536 && bad < 5; h++) {
        int e = (h >> 10) & 31, mant = h & 1023;
        float v = out[h];
        int ok;
        if (e == 31 && mant == 0)
            ok = isinf(v) && (signbit(v) != 0) == (h >> 15);
        else if (e == 31)
            ok = isnan(v);
        else
            ok = (double)v == f16_ref(h) && (signbit(v) != 0) == (h >> 15);
        if (!ok) {
            CHECK(0, "F16 0x%04x -> %.9g, want %.9g", h, v, f16_ref(h));
            bad++;
        }
    }
    /* BF16: the top half of the F32 bits, sampled every 7th pattern */
    t.dtype = ST_BF16;
    st_to_f32(&t, out);
    for (unsigned h = 0; h < 65536 && bad < 10; h++) {
        uint32_t bits;
        memcpy(&bits, &out[h], 4);
        if (bits != (uint32_t)h << 16) {
            CHECK(0, "BF16 0x%04x -> bits 0x%08x", h, (unsigned)bits);
            bad++;
        }
    }
    CHECK(out[0x3f80] == 1.0f && isinf(out[0x7f80]) && isnan(out[0x7fc0]),
          "BF16 specials");
    free(raw);
    free(out);
}

static void reader_finds_every_tensor_by_name_in_sorted_order(void)
{
    st_file f;
    if (tu_open(&f, "tiny.safetensors") != 0)
        return;
    CHECK(f.n_tensors == 138, "%d tensors", f.n_tensors);
    for (int i = 0; i < f.n_tensors; i++) {
        if (i > 0)
            CHECK(strcmp(f.tensors[i - 1].name, f.tensors[i].name) < 0,
                  "not sorted at %d", i);
        CHECK(st_find(&f, f.tensors[i].name) == &f.tensors[i],
              "st_find(%s)", f.tensors[i].name);
    }
    CHECK(st_find(&f, "text.blocks.9.norm1.weight") == NULL, "found absent");
    CHECK(st_find(&f, "") == NULL, "found empty name");
    CHECK(st_find(&f, "zzz") == NULL && st_find(&f, "a") == NULL,
          "found beyond the ends");
    const char *fmt = st_metadata(&f, "format");
    CHECK(fmt && strcmp(fmt, "st2v") == 0, "format %s", fmt ? fmt : "NULL");
    CHECK(st_metadata(&f, "nothing") == NULL, "absent metadata key");
    const st_tensor *t = st_find(&f, "text.pos_emb");
    CHECK(t && t->ndim == 2 && t->shape[0] == 16 && t->shape[1] == 32 &&
              t->numel == 512 && t->dtype == ST_F32,
          "text.pos_emb");
    st_close(&f);
}

/* ------------------------------------------------- section 1: the file */

static void loader_rejects_a_missing_file_with_an_io_error(void)
{
    st2v_model *m = (st2v_model *)1;
    char err[512] = "";
    int rc = st2v_model_load(&m, "/nonexistent/dir/model.safetensors", err,
                             sizeof(err));
    CHECK(rc == ST2V_ERR_IO, "rc %d", rc);
    CHECK(m == NULL, "out not cleared");
    CHECK(strstr(err, "/nonexistent/dir/model.safetensors"),
          "message lacks the path: %s", err);
}

/* A folder holding no model (a fresh one: any folder may hold one). */
static void loader_rejects_a_directory_with_an_io_error(void)
{
    st2v_model *m = NULL;
    char err[512] = "", dir[] = "/tmp/st2v-empty.XXXXXX";
    REQUIRE(mkdtemp(dir), "mkdtemp");
    int rc = st2v_model_load(&m, dir, err, sizeof(err));
    CHECK(rc == ST2V_ERR_IO, "rc %d: %s", rc, err);
    rmdir(dir);
}

/* Issue 23: a FIFO or a device is refused at once, without waiting for a
 * writer or reading forever (an alarm ends the test if it hangs). */
static void loader_refuses_a_fifo_or_a_device_without_waiting(void)
{
    char dir[] = "/tmp/st2v-fifo.XXXXXX", path[64];
    REQUIRE(mkdtemp(dir), "mkdtemp");
    snprintf(path, sizeof(path), "%s/model.safetensors", dir);
    REQUIRE(mkfifo(path, 0600) == 0, "mkfifo");
    const char *paths[] = {path, "/dev/zero", "/dev/null"};
    alarm(20);
    for (int i = 0; i < 3; i++) {
        st2v_model *m = NULL;
        char err[512] = "";
        int rc = st2v_model_load(&m, paths[i], err, sizeof(err));
        CHECK(rc == ST2V_ERR_IO && m == NULL &&
                  strstr(err, "is not a regular file"),
              "%s: rc %d: %s", paths[i], rc, err);
    }
    alarm(0);
    unlink(path);
    rmdir(dir);
}

/* Issue 23: a folder with parts of two families (here the world model
 * under the Wan DiT's file name, beside Wan's VAE, umT5 and tokenizer) is
 * refused, naming both, instead of loading one of them by a guess. */
static void loader_refuses_a_folder_mixing_two_families(void)
{
    char dir[] = "/tmp/st2v-mixed.XXXXXX", a[1024], b[512];
    REQUIRE(mkdtemp(dir), "mkdtemp");
    char cwd[400];
    REQUIRE(getcwd(cwd, sizeof(cwd)), "getcwd");
    const char *fix = tu_fixture("");
    char absfix[600];
    snprintf(absfix, sizeof(absfix), "%s%s%s", fix[0] == '/' ? "" : cwd,
             fix[0] == '/' ? "" : "/", fix);
    static const char *links[][2] = {
        {"tiny.safetensors", "diffusion_pytorch_model.safetensors"},
        {"wan/tiny/Wan2.1_VAE.safetensors", "Wan2.1_VAE.safetensors"},
        {"wan/tiny/models_t5_umt5-xxl-enc-bf16.safetensors",
         "models_t5_umt5-xxl-enc-bf16.safetensors"},
        {"wan/tiny/config.json", "config.json"},
        {"wan/tiny/google/umt5-xxl/spiece.model", "google/umt5-xxl/spiece.model"},
    };
    snprintf(a, sizeof(a), "%s/google", dir);
    mkdir(a, 0700);
    snprintf(a, sizeof(a), "%s/google/umt5-xxl", dir);
    mkdir(a, 0700);
    for (int i = 0; i < 5; i++) {
        snprintf(a, sizeof(a), "%s%s", absfix, links[i][0]);
        snprintf(b, sizeof(b), "%s/%s", dir, links[i][1]);
        REQUIRE(symlink(a, b) == 0, "symlink %s", b);
    }
    st2v_model *m = NULL;
    char err[1024] = "";
    int rc = st2v_model_load(&m, dir, err, sizeof(err));
    CHECK(rc == ST2V_ERR_FORMAT && m == NULL &&
              strstr(err, "mixes two model families") &&
              strstr(err, "diffusion_pytorch_model.safetensors") &&
              strstr(err, "missing the DiT") && !strchr(err, '\n'),
          "rc %d: %s", rc, err);
    st2v_model_free(m);
    for (int i = 4; i >= 0; i--) {
        snprintf(b, sizeof(b), "%s/%s", dir, links[i][1]);
        unlink(b);
    }
    snprintf(a, sizeof(a), "%s/google/umt5-xxl", dir);
    rmdir(a);
    snprintf(a, sizeof(a), "%s/google", dir);
    rmdir(a);
    rmdir(dir);
}

static void loader_rejects_a_file_shorter_than_8_bytes(void)
{
    static const uint8_t five[5] = {1, 2, 3, 4, 5};
    const char *needles[] = {"5 bytes", "8-byte", NULL};
    expect_refusal_buf(five, sizeof(five), ST2V_ERR_FORMAT, needles);

    /* and the same on disk, through st2v_model_load */
    const char *path = "/tmp/st2v_test_short.safetensors";
    FILE *fp = fopen(path, "wb");
    REQUIRE(fp, "cannot write %s", path);
    fwrite(five, 1, 5, fp);
    fclose(fp);
    st2v_model *m = NULL;
    char err[512] = "";
    int rc = st2v_model_load(&m, path, err, sizeof(err));
    CHECK(rc == ST2V_ERR_FORMAT && strstr(err, "8-byte"), "rc %d: %s", rc,
          err);
    remove(path);
}

static void loader_rejects_a_header_length_larger_than_the_file(void)
{
    uint8_t buf[64];
    memset(buf, ' ', sizeof(buf));
    buf[0] = 57; /* 8 + 57 > 64 */
    memset(buf + 1, 0, 7);
    const char *needles[] = {"header length 57", "larger than the file",
                             NULL};
    expect_refusal_buf(buf, sizeof(buf), ST2V_ERR_FORMAT, needles);
}

static void loader_rejects_a_header_length_over_100_mb(void)
{
    uint8_t buf[64];
    memset(buf, ' ', sizeof(buf));
    uint64_t n = 100u * 1024u * 1024u + 1;
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)(n >> (8 * i));
    const char *needles[] = {"104857601", "limit", NULL};
    expect_refusal_buf(buf, sizeof(buf), ST2V_ERR_FORMAT, needles);
    for (int i = 0; i < 8; i++)
        buf[i] = 0xff; /* 2^64 - 1: must not wrap around */
    expect_refusal_buf(buf, sizeof(buf), ST2V_ERR_FORMAT, needles + 1);
}

static void loader_rejects_a_header_that_is_not_json(void)
{
    EXPECT_REFUSED_RAW("{\"a\": [1, 2", "not valid JSON");
    EXPECT_REFUSED_RAW("", "not valid JSON");
}

static void loader_rejects_a_header_that_is_not_an_object(void)
{
    EXPECT_REFUSED_RAW("[1, 2, 3]", "not a JSON object");
    EXPECT_REFUSED_RAW("\"st2v\"", "not a JSON object");
}

static void loader_rejects_bytes_after_the_header_object(void)
{
    EXPECT_REFUSED_RAW("{} x", "after the JSON value");
    /* an embedded NUL cannot hide the rest of the header */
    size_t size;
    uint8_t *buf = build_raw("{}   {\"x\": 1}", NULL, 0, &size);
    buf[8 + 2] = '\0';
    const char *needles[] = {"after the JSON value", NULL};
    expect_refusal_buf(buf, size, ST2V_ERR_FORMAT, needles);
    free(buf);
}

static void loader_rejects_a_missing_metadata_format(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    cJSON_DeleteItemFromObjectCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(p.hdr, "__metadata__"), "format");
    EXPECT_REFUSED(&p, "__metadata__.format", "missing");
    cJSON_DeleteItemFromObjectCaseSensitive(p.hdr, "__metadata__");
    EXPECT_REFUSED(&p, "__metadata__.format", "missing");
    free_parts(&p);
}

static void loader_rejects_a_wrong_metadata_format(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(p.hdr, "__metadata__");
    cJSON_ReplaceItemInObjectCaseSensitive(meta, "format",
                                           cJSON_CreateString("gguf"));
    EXPECT_REFUSED(&p, "__metadata__.format", "\"gguf\"", "\"st2v\"");
    free_parts(&p);
}

static void loader_rejects_metadata_values_that_are_not_strings(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(p.hdr, "__metadata__");
    cJSON_AddItemToObject(meta, "epoch", cJSON_CreateNumber(3));
    EXPECT_REFUSED(&p, "__metadata__", "\"epoch\"", "not a string");
    cJSON_ReplaceItemInObjectCaseSensitive(p.hdr, "__metadata__",
                                           cJSON_CreateArray());
    EXPECT_REFUSED(&p, "__metadata__", "not an object");
    free_parts(&p);
}

static void loader_rejects_a_missing_config(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    cJSON_DeleteItemFromObjectCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(p.hdr, "__metadata__"),
        "st2v_config");
    EXPECT_REFUSED(&p, "__metadata__.st2v_config", "missing");
    free_parts(&p);
}

static void loader_rejects_an_unknown_dtype(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    cJSON_ReplaceItemInObjectCaseSensitive(entry(&p, "text.norm.bias"),
                                           "dtype", cJSON_CreateString("I64"));
    EXPECT_REFUSED(&p, "tensor \"text.norm.bias\"", "unknown dtype \"I64\"");
    /* a dtype the reader knows but the world model cannot use */
    cJSON_ReplaceItemInObjectCaseSensitive(entry(&p, "text.norm.bias"),
                                           "dtype", cJSON_CreateString("I32"));
    EXPECT_REFUSED(&p, "tensor \"text.norm.bias\"",
                   "dtype I32, expected F32, F16 or BF16");
    cJSON_ReplaceItemInObjectCaseSensitive(entry(&p, "text.norm.bias"),
                                           "dtype", cJSON_CreateNumber(1));
    EXPECT_REFUSED(&p, "tensor \"text.norm.bias\"", "dtype");
    free_parts(&p);
}

static void loader_rejects_a_shape_that_is_not_an_array(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    cJSON_ReplaceItemInObjectCaseSensitive(entry(&p, "text.norm.bias"),
                                           "shape", cJSON_CreateNumber(32));
    EXPECT_REFUSED(&p, "tensor \"text.norm.bias\"", "shape",
                   "not an array");
    free_parts(&p);
}

static void loader_rejects_a_negative_or_fractional_dimension(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    const double neg[2] = {-16, -32};
    set_array(entry(&p, "text.pos_emb"), "shape", neg, 2);
    EXPECT_REFUSED(&p, "tensor \"text.pos_emb\"",
                   "not a non-negative integer");
    const double frac[2] = {16, 31.5};
    set_array(entry(&p, "text.pos_emb"), "shape", frac, 2);
    EXPECT_REFUSED(&p, "tensor \"text.pos_emb\"", "shape entry 1",
                   "not a non-negative integer");
    cJSON *shape = cJSON_CreateArray();
    cJSON_AddItemToArray(shape, cJSON_CreateString("16"));
    cJSON_ReplaceItemInObjectCaseSensitive(entry(&p, "text.pos_emb"), "shape",
                                           shape);
    EXPECT_REFUSED(&p, "tensor \"text.pos_emb\"",
                   "not a non-negative integer");
    free_parts(&p);
}

static void loader_rejects_more_than_8_dimensions(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    const double nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 32};
    set_array(entry(&p, "text.norm.bias"), "shape", nine, 9);
    EXPECT_REFUSED(&p, "tensor \"text.norm.bias\"", "9 dimensions");
    free_parts(&p);
}

static void loader_rejects_a_shape_whose_size_overflows_64_bits(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    const double big[3] = {4294967296.0, 4294967296.0, 16};
    set_array(entry(&p, "text.norm.bias"), "shape", big, 3);
    EXPECT_REFUSED(&p, "tensor \"text.norm.bias\"", "overflows 64 bits");
    /* numel fits but numel * sizeof(F32) does not */
    const double bytes[2] = {4294967296.0, 1073741824.0};
    set_array(entry(&p, "text.norm.bias"), "shape", bytes, 2);
    EXPECT_REFUSED(&p, "tensor \"text.norm.bias\"", "overflows 64 bits");
    free_parts(&p);
}

static void loader_rejects_data_offsets_that_are_not_two_integers(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    const char *name = "dit.blocks.0.ada.weight";
    const double one[1] = {0};
    set_array(entry(&p, name), "data_offsets", one, 1);
    EXPECT_REFUSED(&p, "tensor \"dit.blocks.0.ada.weight\"", "data_offsets",
                   "two non-negative integers");
    set_offsets(&p, name, -4, 1000);
    EXPECT_REFUSED(&p, "tensor \"dit.blocks.0.ada.weight\"", "data_offsets");
    cJSON_DeleteItemFromObjectCaseSensitive(entry(&p, name), "data_offsets");
    EXPECT_REFUSED(&p, "tensor \"dit.blocks.0.ada.weight\"", "data_offsets");
    free_parts(&p);
}

static void loader_rejects_reversed_data_offsets(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    set_offsets(&p, "dit.blocks.0.ada.weight", 100, 90);
    EXPECT_REFUSED(&p, "tensor \"dit.blocks.0.ada.weight\": data_offsets "
                       "[100, 90] are reversed");
    free_parts(&p);
}

static void loader_rejects_a_tensor_past_the_end_of_the_file(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    double end = (double)p.data_size;
    set_offsets(&p, "dit.blocks.0.ada.bias", end - 1152 + 4, end + 4);
    EXPECT_REFUSED(&p, "tensor \"dit.blocks.0.ada.bias\"",
                   "outside the data section");
    free_parts(&p);
}

static void loader_rejects_data_offsets_that_disagree_with_the_shape(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    const double shape[1] = {31};
    set_array(entry(&p, "text.norm.bias"), "shape", shape, 1);
    EXPECT_REFUSED(&p, "tensor \"text.norm.bias\"", "hold 128 bytes",
                   "needs 124");
    free_parts(&p);
}

static void loader_rejects_overlapping_tensors(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    /* text.norm.bias [436864, 436992] and text.norm.weight are both (32) */
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(
        entry(&p, "text.norm.bias"), "data_offsets");
    double b = cJSON_GetArrayItem(off, 0)->valuedouble;
    set_offsets(&p, "text.norm.weight", b + 64, b + 64 + 128);
    EXPECT_REFUSED(&p, "text.norm.weight", "text.norm.bias", "overlap");
    free_parts(&p);
}

static void loader_rejects_a_duplicate_tensor_name(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    /* cJSON keeps both keys, as a hostile writer could */
    cJSON *dup = cJSON_Duplicate(entry(&p, "text.norm.bias"), 1);
    set_offsets(&p, "text.norm.bias", 0, 0);
    const double zero[1] = {0};
    set_array(entry(&p, "text.norm.bias"), "shape", zero, 1);
    cJSON_AddItemToObject(p.hdr, "text.norm.bias", dup);
    EXPECT_REFUSED(&p, "tensor \"text.norm.bias\"", "appears twice");
    free_parts(&p);
}

static void loader_rejects_a_tensor_name_longer_than_255_bytes(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    char name[301];
    memset(name, 'w', 300);
    name[300] = '\0';
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "dtype", "F32");
    const double shape[1] = {0}, off[2] = {0, 0};
    set_array(e, "shape", shape, 1);
    set_array(e, "data_offsets", off, 2);
    cJSON_AddItemToObject(p.hdr, name, e);
    EXPECT_REFUSED(&p, "wwwwwwww", "300 bytes", "longer than 255");
    free_parts(&p);
}

static void loader_rejects_unknown_keys_in_a_tensor_entry(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    cJSON_AddStringToObject(entry(&p, "text.norm.bias"), "dtypes", "F32");
    EXPECT_REFUSED(&p, "tensor \"text.norm.bias\"", "unknown key \"dtypes\"");
    free_parts(&p);
}

static void loader_rejects_a_missing_tensor(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    cJSON_DeleteItemFromObjectCaseSensitive(p.hdr,
                                            "vae.enc.levels.1.down.weight");
    EXPECT_REFUSED(&p, "tensor \"vae.enc.levels.1.down.weight\" is missing",
                   "[16, 64, 3, 3, 3]");
    free_parts(&p);
}

static void loader_rejects_an_unexpected_tensor(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "dtype", "F32");
    const double shape[1] = {0}, off[2] = {0, 0};
    cJSON_AddItemToObject(p.hdr, "dit.blocks.2.ada.weight", e);
    set_array(e, "shape", shape, 1);
    set_array(e, "data_offsets", off, 2);
    EXPECT_REFUSED(&p, "unexpected tensor \"dit.blocks.2.ada.weight\"");

    /* a hostile name is escaped: still one line, valid UTF-8 */
    reset_parts(&p);
    e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "dtype", "F32");
    set_array(e, "shape", shape, 1);
    set_array(e, "data_offsets", off, 2);
    cJSON_AddItemToObject(p.hdr, "bad\n\"\xff\xc4\x8d", e);
    EXPECT_REFUSED(&p, "unexpected tensor \"bad\\x0a\\x22\\xff\xc4\x8d\"");
    free_parts(&p);
}

static void loader_rejects_a_shape_that_disagrees_with_the_config(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    const double shape[2] = {32, 16}; /* same bytes, transposed */
    set_array(entry(&p, "text.pos_emb"), "shape", shape, 2);
    EXPECT_REFUSED(&p, "tensor \"text.pos_emb\": shape [32, 16] but the "
                       "config expects [16, 32]");
    free_parts(&p);

    if (tiny_parts(&p) != 0)
        return;
    const double flat[1] = {512};
    set_array(entry(&p, "text.pos_emb"), "shape", flat, 1);
    EXPECT_REFUSED(&p, "tensor \"text.pos_emb\": shape [512] but the config "
                       "expects [16, 32]");
    free_parts(&p);
}

/* ------------------------------------------ section 2: the configuration */

static void loader_rejects_a_config_that_is_not_json(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    set_config_raw(&p, "{\"format_version\": 1,");
    EXPECT_REFUSED(&p, "config: not valid JSON");
    set_config_raw(&p, "[1]");
    EXPECT_REFUSED(&p, "config: not a JSON object");
    free_parts(&p);
}

static void loader_rejects_a_config_missing_a_key(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    cJSON *cfg = get_config(&p);
    cJSON_DeleteItemFromObjectCaseSensitive(section(cfg, "dit"), "freq_dim");
    put_config(&p, cfg);
    EXPECT_REFUSED(&p, "config: missing key dit.freq_dim");
    reset_parts(&p);
    cfg = get_config(&p);
    cJSON_DeleteItemFromObjectCaseSensitive(cfg, "sampler");
    put_config(&p, cfg);
    EXPECT_REFUSED(&p, "config: missing key sampler");
    free_parts(&p);
}

static void loader_rejects_a_config_value_of_the_wrong_type(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    cJSON *cfg = get_config(&p);
    cJSON_ReplaceItemInObjectCaseSensitive(section(cfg, "dit"), "dim",
                                           cJSON_CreateString("48"));
    put_config(&p, cfg);
    EXPECT_REFUSED(&p, "config: dit.dim must be an integer");
    free_parts(&p);
}

static void loader_takes_text_pool_as_an_optional_boolean_with_its_tensors(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    cJSON *cfg = get_config(&p);
    cJSON_ReplaceItemInObjectCaseSensitive(section(cfg, "dit"), "text_pool",
                                           cJSON_CreateNumber(1));
    put_config(&p, cfg);
    EXPECT_REFUSED(&p, "config: dit.text_pool must be true or false");
    /* without the key (an older file), the pooled text tensors are extra */
    reset_parts(&p);
    cfg = get_config(&p);
    cJSON_DeleteItemFromObjectCaseSensitive(section(cfg, "dit"), "text_pool");
    put_config(&p, cfg);
    EXPECT_REFUSED(&p, "unexpected tensor \"dit.text_pool.bias\"");
    free_parts(&p);
}

/* dit.extra_channels (ReDi): optional, absent = 0, an integer 0..64; the
 * DiT's token-wide tensors take Cz + R channels, the decoder Cz. */
static void put_number(cJSON *obj, const char *key, double v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
    cJSON_AddNumberToObject(obj, key, v);
}

static void loader_takes_extra_channels_as_an_optional_integer_0_to_64(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    cJSON *cfg = get_config(&p);
    put_number(section(cfg, "dit"), "extra_channels", 65);
    put_config(&p, cfg);
    EXPECT_REFUSED(&p, "config: dit.extra_channels must be an integer in "
                       "0..64, got 65");
    reset_parts(&p);
    cfg = get_config(&p);
    put_number(section(cfg, "dit"), "extra_channels", -1);
    put_config(&p, cfg);
    EXPECT_REFUSED(&p, "config: dit.extra_channels must be an integer in "
                       "0..64, got -1");
    reset_parts(&p);
    cfg = get_config(&p);
    put_number(section(cfg, "dit"), "extra_channels", 1.5);
    put_config(&p, cfg);
    EXPECT_REFUSED(&p, "config: dit.extra_channels must be an integer");
    /* the tiny model's tensors are of a DiT without them: 4 channels x
     * patch 1x2x2 = 16 inputs, the key asks for (4 + 3) x 4 = 28 */
    reset_parts(&p);
    cfg = get_config(&p);
    put_number(section(cfg, "dit"), "extra_channels", 3);
    put_config(&p, cfg);
    EXPECT_REFUSED(&p, "tensor \"dit.patch_embed.weight\": shape [48, 16] "
                       "but the config expects [48, 28]");
    /* 0 is the same as no key */
    reset_parts(&p);
    cfg = get_config(&p);
    put_number(section(cfg, "dit"), "extra_channels", 0);
    put_config(&p, cfg);
    size_t size;
    uint8_t *buf = build(&p, &size);
    st2v_model *m = NULL;
    char err[512] = "";
    int rc = st2v_model_load_memory(&m, buf, size, err, sizeof(err));
    CHECK(rc == 0, "extra_channels 0 refused: %s", err);
    st2v_model_free(m);
    free(buf);
    free_parts(&p);

    /* the ReDi fixture (tests/fixtures/redi): 3 extra channels */
    char path[4096];
    snprintf(path, sizeof(path), "%s/redi/tiny.safetensors",
             getenv("ST2V_FIXTURES") ? getenv("ST2V_FIXTURES")
                                     : "tests/fixtures");
    rc = st2v_model_load(&m, path, err, sizeof(err));
    REQUIRE(rc == 0 && m, "load %s: %s", path, err);
    const st2v_config *c = &st2v_world_of(m)->cfg;
    CHECK(c->z_channels == 4 && c->extra_channels == 3 &&
              c->dit_channels == 7,
          "channels %d + %d = %d", c->z_channels, c->extra_channels,
          c->dit_channels);
    CHECK(m->caps.latent_channels == 7, "the sampled latent has %d channels",
          m->caps.latent_channels);
    CHECK(st2v_model_get_info(m)->n_params == spec_params(c),
          "n_params %lld, the spec tables give %lld",
          (long long)st2v_model_get_info(m)->n_params,
          (long long)spec_params(c));
    /* the compute counts them: one forward over one window of 32x32 (4 x
     * 4x4 tokens = 64) costs the patch embedding's and the head's 3 x 4
     * more columns, 2 x 2 x 64 x 12 x 48 FLOPs, more than without */
    st2v_model *plain = NULL;
    rc = st2v_model_load(&plain, tu_fixture("tiny.safetensors"), err,
                         sizeof(err));
    REQUIRE(rc == 0 && plain, "load tiny: %s", err);
    st2v_cost a, b;
    st2v_cost_estimate(&st2v_world_of(plain)->cfg, 32, 32, 16, 1, 1, 5, &a);
    st2v_cost_estimate(c, 32, 32, 16, 1, 1, 5, &b);
    CHECK(b.dit - a.dit == 2.0 * 2 * 64 * 12 * 48 && b.text == a.text &&
              b.decoder == a.decoder,
          "DiT %.0f vs %.0f FLOPs, text %.0f vs %.0f, decoder %.0f vs %.0f",
          b.dit, a.dit, b.text, a.text, b.decoder, a.decoder);
    st2v_model_free(plain);
    st2v_model_free(m);
}

static void loader_rejects_rope_dims_that_do_not_sum_to_the_head_dim(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    cJSON *cfg = get_config(&p);
    const double rope[3] = {8, 8, 6};
    set_array(section(cfg, "dit"), "rope_dims", rope, 3);
    put_config(&p, cfg);
    EXPECT_REFUSED(&p, "config: dit.rope_dims must sum to head_dim 24, got 22");
    reset_parts(&p);
    cfg = get_config(&p);
    const double odd[3] = {7, 9, 8};
    set_array(section(cfg, "dit"), "rope_dims", odd, 3);
    put_config(&p, cfg);
    EXPECT_REFUSED(&p, "dit.rope_dims[0] must be even");
    free_parts(&p);
}

static void loader_rejects_a_max_length_out_of_range(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    cJSON *cfg = get_config(&p);
    set_number(section(cfg, "tokenizer"), "max_length", 1);
    put_config(&p, cfg);
    EXPECT_REFUSED(&p, "tokenizer.max_length", "2..1024");
    reset_parts(&p);
    cfg = get_config(&p);
    set_number(section(cfg, "tokenizer"), "max_length", 1025);
    put_config(&p, cfg);
    EXPECT_REFUSED(&p, "tokenizer.max_length", "1025");
    free_parts(&p);
}

static void loader_rejects_duplicate_or_oversized_pieces(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    cJSON *cfg = get_config(&p);
    cJSON *pieces = cJSON_GetObjectItemCaseSensitive(section(cfg, "tokenizer"),
                                                     "pieces");
    cJSON_AddItemToArray(pieces, cJSON_CreateString("\xe2\x96\x81red"));
    put_config(&p, cfg);
    EXPECT_REFUSED(&p, "config: tokenizer.pieces[", "repeats");

    reset_parts(&p);
    cfg = get_config(&p);
    pieces = cJSON_GetObjectItemCaseSensitive(section(cfg, "tokenizer"),
                                              "pieces");
    char big[66];
    memset(big, 'q', 65);
    big[65] = '\0';
    cJSON_ReplaceItemInArray(pieces, 0, cJSON_CreateString(big));
    put_config(&p, cfg);
    EXPECT_REFUSED(&p, "config: tokenizer.pieces[0] is 65 bytes");

    reset_parts(&p);
    cfg = get_config(&p);
    pieces = cJSON_GetObjectItemCaseSensitive(section(cfg, "tokenizer"),
                                              "pieces");
    cJSON_ReplaceItemInArray(pieces, 0, cJSON_CreateString("\xc3("));
    put_config(&p, cfg);
    EXPECT_REFUSED(&p, "config: tokenizer.pieces[0] is not valid UTF-8");

    reset_parts(&p);
    cfg = get_config(&p);
    pieces = cJSON_GetObjectItemCaseSensitive(section(cfg, "tokenizer"),
                                              "pieces");
    cJSON_ReplaceItemInArray(pieces, 0, cJSON_CreateString(""));
    put_config(&p, cfg);
    EXPECT_REFUSED(&p, "config: tokenizer.pieces[0] is empty");
    free_parts(&p);
}

static void loader_rejects_text_heads_that_do_not_divide_the_dim(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    cJSON *cfg = get_config(&p);
    set_number(section(cfg, "text"), "heads", 3);
    put_config(&p, cfg);
    EXPECT_REFUSED(&p, "config: text.dim 32 is not divisible by text.heads 3");
    reset_parts(&p);
    cfg = get_config(&p);
    set_number(section(cfg, "text"), "heads", 32); /* head dim 1: odd */
    put_config(&p, cfg);
    EXPECT_REFUSED(&p, "config: text head dim", "even");
    free_parts(&p);
}

static void loader_rejects_vae_lists_of_the_wrong_length(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    cJSON *cfg = get_config(&p);
    const double up[3] = {1, 1, 0};
    set_array(section(cfg, "vae"), "time_up", up, 3);
    put_config(&p, cfg);
    EXPECT_REFUSED(&p, "config: vae.time_up must have 2 entries");
    reset_parts(&p);
    cfg = get_config(&p);
    const double two[2] = {1, 2};
    set_array(section(cfg, "vae"), "space_up", two, 2);
    put_config(&p, cfg);
    EXPECT_REFUSED(&p, "config: vae.space_up[1]", "0..1");
    reset_parts(&p);
    cfg = get_config(&p);
    const double std[3] = {1, 1, 1};
    set_array(section(cfg, "vae"), "latent_std", std, 3);
    put_config(&p, cfg);
    EXPECT_REFUSED(&p, "config: vae.latent_std must have 4 entries");
    reset_parts(&p);
    cfg = get_config(&p);
    const double dec2[2] = {24, 12};
    set_array(section(cfg, "vae"), "dec_channels", dec2, 2);
    put_config(&p, cfg);
    EXPECT_REFUSED(&p, "config: vae.dec_channels must have 3 entries");
    reset_parts(&p);
    cfg = get_config(&p);
    /* the encoder's widths: the tensors are those of the wider decoder */
    cJSON_DeleteItemFromObjectCaseSensitive(section(cfg, "vae"), "dec_channels");
    put_config(&p, cfg);
    EXPECT_REFUSED(&p, "tensor \"vae.dec.conv_in.weight\"", "shape");
    free_parts(&p);
}

static void loader_rejects_a_latent_std_that_is_not_positive(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    cJSON *cfg = get_config(&p);
    const double std[4] = {1, 1, 0, 1};
    set_array(section(cfg, "vae"), "latent_std", std, 4);
    put_config(&p, cfg);
    EXPECT_REFUSED(&p, "config: vae.latent_std[2]", "got 0");
    free_parts(&p);
}

static void loader_rejects_a_size_not_divisible_by_the_spatial_factor(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    cJSON *cfg = get_config(&p);
    cJSON *sizes = cJSON_CreateArray();
    const int wh[2] = {36, 32};
    cJSON_AddItemToArray(sizes, cJSON_CreateIntArray(wh, 2));
    cJSON_ReplaceItemInObjectCaseSensitive(section(cfg, "video"), "sizes",
                                           sizes);
    put_config(&p, cfg);
    EXPECT_REFUSED(&p, "config: video.sizes[0] 36x32", "divisible by 8");
    free_parts(&p);
}

static void loader_rejects_a_window_not_larger_than_the_context(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    cJSON *cfg = get_config(&p);
    set_number(section(cfg, "sampler"), "context", 4);
    put_config(&p, cfg);
    EXPECT_REFUSED(&p, "config: sampler.window 4 must be greater than "
                       "sampler.context 4");
    free_parts(&p);
}

static void loader_rejects_absurd_sizes_before_allocating(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    cJSON *cfg = get_config(&p);
    set_number(section(cfg, "dit"), "layers", 1e9);
    put_config(&p, cfg);
    EXPECT_REFUSED(&p, "config: dit.layers", "1..256");
    reset_parts(&p);
    cfg = get_config(&p);
    set_number(section(cfg, "dit"), "dim", 65536);
    put_config(&p, cfg);
    EXPECT_REFUSED(&p, "config: dit.dim", "1..8192");
    free_parts(&p);
}

static void loader_rejects_an_unknown_sampler_or_format_version(void)
{
    parts p;
    if (tiny_parts(&p) != 0)
        return;
    cJSON *cfg = get_config(&p);
    cJSON_ReplaceItemInObjectCaseSensitive(section(cfg, "sampler"), "sampler",
                                           cJSON_CreateString("ddim"));
    put_config(&p, cfg);
    EXPECT_REFUSED(&p, "config: sampler.sampler");
    reset_parts(&p);
    cfg = get_config(&p);
    set_number(cfg, "format_version", 2);
    put_config(&p, cfg);
    EXPECT_REFUSED(&p, "config: format_version must be 1, got 2");
    free_parts(&p);
}

/* ------------------------------------------------------- robustness */

static void loader_refuses_a_file_truncated_at_every_eighth(void)
{
    size_t size;
    uint8_t *file = tu_read_file(tu_fixture("tiny.safetensors"), &size);
    REQUIRE(file, "cannot read tiny.safetensors");
    for (int k = 0; k < 8; k++) {
        size_t n = size * (size_t)k / 8;
        uint8_t *cut = malloc(n ? n : 1); /* exact size: ASan sees overruns */
        memcpy(cut, file, n);
        char err[512];
        int rc = load_image(cut, n, err, sizeof(err));
        CHECK(rc == ST2V_ERR_FORMAT, "cut at %zu/%zu: rc %d (%s)", n, size,
              rc, err);
        free(cut);
    }
    /* one byte short: the last tensor lies outside the data section */
    uint8_t *cut = malloc(size - 1);
    memcpy(cut, file, size - 1);
    char err[512];
    int rc = load_image(cut, size - 1, err, sizeof(err));
    CHECK(rc == ST2V_ERR_FORMAT && strstr(err, "outside the data section"),
          "one byte short: rc %d (%s)", rc, err);
    free(cut);
    free(file);
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void loader_survives_random_byte_flips_in_the_header(void)
{
    size_t size;
    uint8_t *file = tu_read_file(tu_fixture("tiny.safetensors"), &size);
    REQUIRE(file && size > 16, "cannot read tiny.safetensors");
    uint64_t hdr = 0;
    for (int i = 7; i >= 0; i--)
        hdr = (hdr << 8) | file[i];
    uint8_t *buf = malloc(size);
    uint64_t seed = 0x5eed5eed12345ull;
    int refused = 0, loaded = 0;
    for (int trial = 0; trial < 200; trial++) {
        memcpy(buf, file, size);
        int flips = 1 + (int)(rng_next(&seed) % 4);
        for (int f = 0; f < flips; f++) {
            /* mostly inside the JSON, sometimes in the length itself */
            uint64_t pos = rng_next(&seed) % 16 == 0
                               ? rng_next(&seed) % 8
                               : 8 + rng_next(&seed) % hdr;
            buf[pos] = (uint8_t)rng_next(&seed);
        }
        char err[512];
        int rc = load_image(buf, size, err, sizeof(err));
        if (rc == 0) {
            loaded++;
        } else {
            refused++;
            CHECK(rc < 0 && rc >= ST2V_ERR_INTERNAL, "trial %d: rc %d", trial,
                  rc);
            CHECK(err[0] && !strchr(err, '\n'), "trial %d: message \"%s\"",
                  trial, err);
        }
    }
    printf("     %d of 200 corrupted headers refused, %d still valid\n",
           refused, loaded);
    CHECK(refused > 100, "only %d refused", refused);
    free(buf);
    free(file);
}

/* --------------------------------------------------------- the rest */

static int is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static void default_model_path_follows_the_environment_then_the_build(void)
{
    char buf[4096], want[4096];
    snprintf(want, sizeof(want), "%s", tu_fixture("tiny.safetensors"));
    setenv("ST2V_MODEL", want, 1);
    int rc = st2v_default_model_path(buf, sizeof(buf));
    CHECK(rc == 0 && strcmp(buf, want) == 0, "env: rc %d path %s", rc, buf);

    setenv("ST2V_MODEL", "/nonexistent/x.safetensors", 1);
    rc = st2v_default_model_path(buf, sizeof(buf));
    CHECK(rc == ST2V_ERR_IO && strcmp(buf, "/nonexistent/x.safetensors") == 0,
          "missing env file: rc %d path %s", rc, buf);

    char tiny[4];
    setenv("ST2V_MODEL", want, 1);
    rc = st2v_default_model_path(tiny, sizeof(tiny));
    CHECK(rc == ST2V_ERR_INVALID_ARG, "small buffer: rc %d", rc);

    unsetenv("ST2V_MODEL");
    rc = st2v_default_model_path(buf, sizeof(buf));
#if defined(ST2V_SRCDIR)
    /* this test runs from the build tree, so the tree's model comes first */
    snprintf(want, sizeof(want), "%s/models/default.safetensors", ST2V_SRCDIR);
    if (is_file(want)) {
        CHECK(rc == 0 && strcmp(buf, want) == 0, "build model: rc %d path %s",
              rc, buf);
        return;
    }
#endif
#if defined(ST2V_INSTALL_MODEL)
    CHECK(strcmp(buf, ST2V_INSTALL_MODEL) == 0, "path %s", buf);
    CHECK(rc == (is_file(ST2V_INSTALL_MODEL) ? 0 : ST2V_ERR_IO), "rc %d", rc);
#else
    CHECK(rc == ST2V_ERR_IO, "rc %d with no candidate", rc);
#endif
}

static void strerror_and_version_describe_every_status(void)
{
    CHECK(strcmp(st2v_version(), ST2V_VERSION_STRING) == 0, "version %s",
          st2v_version());
    const char *seen[16];
    int n = 0;
    for (int s = ST2V_ERR_INTERNAL; s <= ST2V_EOF; s++) {
        const char *m = st2v_strerror(s);
        CHECK(m && m[0], "status %d has no text", s);
        for (int i = 0; i < n; i++)
            CHECK(strcmp(seen[i], m) != 0, "status %d repeats \"%s\"", s, m);
        seen[n++] = m;
    }
    CHECK(strcmp(st2v_strerror(-1000), "unknown status") == 0, "unknown");
}

int main(void)
{
    RUN(loader_loads_tiny_model_with_its_info);
    RUN(loader_uses_aligned_f32_tensors_in_place);
    RUN(loader_converts_unaligned_f32_tensors);
    RUN(loader_converts_mixed_dtypes_to_within_their_precision);
    RUN(conversion_of_f16_and_bf16_is_exact);
    RUN(reader_finds_every_tensor_by_name_in_sorted_order);

    RUN(loader_rejects_a_missing_file_with_an_io_error);
    RUN(loader_rejects_a_directory_with_an_io_error);
    RUN(loader_refuses_a_fifo_or_a_device_without_waiting);
    RUN(loader_refuses_a_folder_mixing_two_families);
    RUN(loader_rejects_a_file_shorter_than_8_bytes);
    RUN(loader_rejects_a_header_length_larger_than_the_file);
    RUN(loader_rejects_a_header_length_over_100_mb);
    RUN(loader_rejects_a_header_that_is_not_json);
    RUN(loader_rejects_a_header_that_is_not_an_object);
    RUN(loader_rejects_bytes_after_the_header_object);
    RUN(loader_rejects_a_missing_metadata_format);
    RUN(loader_rejects_a_wrong_metadata_format);
    RUN(loader_rejects_metadata_values_that_are_not_strings);
    RUN(loader_rejects_a_missing_config);
    RUN(loader_rejects_an_unknown_dtype);
    RUN(loader_rejects_a_shape_that_is_not_an_array);
    RUN(loader_rejects_a_negative_or_fractional_dimension);
    RUN(loader_rejects_more_than_8_dimensions);
    RUN(loader_rejects_a_shape_whose_size_overflows_64_bits);
    RUN(loader_rejects_data_offsets_that_are_not_two_integers);
    RUN(loader_rejects_reversed_data_offsets);
    RUN(loader_rejects_a_tensor_past_the_end_of_the_file);
    RUN(loader_rejects_data_offsets_that_disagree_with_the_shape);
    RUN(loader_rejects_overlapping_tensors);
    RUN(loader_rejects_a_duplicate_tensor_name);
    RUN(loader_rejects_a_tensor_name_longer_than_255_bytes);
    RUN(loader_rejects_unknown_keys_in_a_tensor_entry);
    RUN(loader_rejects_a_missing_tensor);
    RUN(loader_rejects_an_unexpected_tensor);
    RUN(loader_rejects_a_shape_that_disagrees_with_the_config);

    RUN(loader_rejects_a_config_that_is_not_json);
    RUN(loader_rejects_a_config_missing_a_key);
    RUN(loader_rejects_a_config_value_of_the_wrong_type);
    RUN(loader_takes_text_pool_as_an_optional_boolean_with_its_tensors);
    RUN(loader_rejects_rope_dims_that_do_not_sum_to_the_head_dim);
    RUN(loader_takes_extra_channels_as_an_optional_integer_0_to_64);
    RUN(loader_rejects_a_max_length_out_of_range);
    RUN(loader_rejects_duplicate_or_oversized_pieces);
    RUN(loader_rejects_text_heads_that_do_not_divide_the_dim);
    RUN(loader_rejects_vae_lists_of_the_wrong_length);
    RUN(loader_rejects_a_latent_std_that_is_not_positive);
    RUN(loader_rejects_a_size_not_divisible_by_the_spatial_factor);
    RUN(loader_rejects_a_window_not_larger_than_the_context);
    RUN(loader_rejects_absurd_sizes_before_allocating);
    RUN(loader_rejects_an_unknown_sampler_or_format_version);

    RUN(loader_refuses_a_file_truncated_at_every_eighth);
    RUN(loader_survives_random_byte_flips_in_the_header);
    RUN(default_model_path_follows_the_environment_then_the_build);
    RUN(strerror_and_version_describe_every_status);
    return tu_summary();
}
