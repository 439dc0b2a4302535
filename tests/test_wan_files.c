/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_wan_files.c - the Wan2.1 file layer (core/wan/names.c, files.c) on
 * the tiny fake folders of tests/fixtures/wan/files, written by
 * train/wan/files_fixtures.py with names derived there independently:
 * the official, Comfy and Diffusers layouts open with the right config,
 * every tensor under its official name, and the summary line; broken
 * files and folders (missing, misshapen or mistyped tensors, truncated
 * files, lying offsets, a .pth, no tokenizer, an empty
 * folder, a lying config.json, parts of different widths) are refused
 * with one line naming the file or tensor; and a few thousand damaged headers
 * never crash the loader.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.h"
#include "wan/files.h"
#include "wan/names.h"
#include "wan/umt5.h"

/* The tiny configs of files_fixtures.py. */
static const wan_dit_config TINY_DIT = {.dim = 8,
                                        .ffn_dim = 16,
                                        .num_heads = 2,
                                        .num_layers = 2,
                                        .in_dim = 4,
                                        .out_dim = 4,
                                        .text_dim = 8,
                                        .freq_dim = 8,
                                        .text_len = 8,
                                        .patch = {1, 2, 2},
                                        .eps = 1e-6f};
#define TINY_DIT_TENSORS (12 + 2 * 27 + 3)
#define TINY_T5_TENSORS (1 + 2 * 10 + 1)

/* ---------------------------------------------------------- helpers */

static char tmp_dir[64];

static int make_dir(void)
{
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/st2v-wanfiles-XXXXXX");
    return mkdtemp(tmp_dir) ? 0 : -1;
}

static const char *at(const char *rel)
{
    static char buf[512];
    snprintf(buf, sizeof(buf), "%s/%s", tmp_dir, rel);
    return buf;
}

/* tmp_dir/rel -> the fixture file (absolute), parents made. */
static int link_fixture(const char *fixture, const char *rel)
{
    char real[PATH_MAX], dir[512];
    if (!realpath(tu_fixture(fixture), real))
        return -1;
    snprintf(dir, sizeof(dir), "%s", at(rel));
    for (char *s = dir + strlen(tmp_dir) + 1; (s = strchr(s, '/')); s++) {
        *s = 0;
        mkdir(dir, 0700);
        *s = '/';
    }
    return symlink(real, at(rel));
}

static int write_file(const char *rel, const void *data, size_t n)
{
    FILE *f = fopen(at(rel), "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

static void remove_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "  could not remove %s\n", tmp_dir);
}

/* The official folder linked into tmp_dir, but for `skip` (a relative
 * path, or NULL). */
static int link_official(const char *skip)
{
    static const char *const files[] = {
        "config.json", "diffusion_pytorch_model.safetensors",
        "Wan2.1_VAE.safetensors", "models_t5_umt5-xxl-enc-bf16.safetensors",
        "google/umt5-xxl/spiece.model"};
    char fx[256];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (skip && strcmp(skip, files[i]) == 0)
            continue;
        snprintf(fx, sizeof(fx), "wan/files/official/%s", files[i]);
        if (link_fixture(fx, files[i]) != 0)
            return -1;
    }
    return 0;
}

/* Open path; expect status want (0 = success) and every piece of
 * `needles` ('|'-separated) in the message; returns the files on
 * success. */
static int last_parts; /* *n_parts of the last expect() */

static wan_files *expect(const char *path, int want, const char *needles)
{
    wan_files *w = NULL;
    char msg[1024] = "";
    int rc = wan_files_open(&w, path, &last_parts, msg, sizeof(msg));
    CHECK(rc != 0 || last_parts == WAN_N_PARTS, "success with %d parts",
          last_parts);
    CHECK(rc == want, "%s: status %d, expected %d: %s", path, rc, want, msg);
    CHECK(strchr(msg, '\n') == NULL && strlen(msg) > 0,
          "message is not one line: %s", msg);
    CHECK((rc == 0) == (w != NULL), "files set iff success");
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", needles ? needles : "");
    for (char *s = strtok(buf, "|"); s; s = strtok(NULL, "|"))
        CHECK(strstr(msg, s) != NULL, "message lacks \"%s\": %s", s, msg);
    printf("     %s\n", msg);
    return w;
}

static int same_dit(const wan_dit_config *a, const wan_dit_config *b)
{
    return a->dim == b->dim && a->ffn_dim == b->ffn_dim &&
           a->num_layers == b->num_layers && a->in_dim == b->in_dim &&
           a->out_dim == b->out_dim && a->text_dim == b->text_dim &&
           a->freq_dim == b->freq_dim && a->patch[0] == b->patch[0] &&
           a->patch[1] == b->patch[1] && a->patch[2] == b->patch[2];
}

/* The tensor name of f has shape (s0, s1...) (ndim given). */
static int has_shape(const st_file *f, const char *name, int ndim, int64_t s0,
                     int64_t s1)
{
    const st_tensor *t = st_find(f, name);
    return t && t->ndim == ndim && t->shape[0] == s0 &&
           (ndim < 2 || t->shape[1] == s1);
}

/* The umT5 encoder of w loads and encodes three ids. */
static void check_t5_runs(const wan_files *w)
{
    wan_umt5 *m = NULL;
    char err[256];
    int rc = wan_umt5_load(&m, &w->t5, NULL, &w->t5_cfg, err, sizeof(err));
    CHECK(rc == 0, "umT5 load: %s", err);
    if (rc)
        return;
    const int32_t ids[3] = {5, 17, 1};
    float out[3 * 8];
    CHECK(w->t5_cfg.dim == 8, "umT5 width %d", w->t5_cfg.dim);
    CHECK(wan_umt5_encode(m, NULL, ids, 3, out) == 0, "encode");
    for (int i = 0; i < 3 * 8; i++)
        CHECK(isfinite(out[i]), "row value %d not finite", i);
    wan_umt5_free(m);
}

/* --------------------------------------------------------------- names */

static void names_list_825_dit_and_194_vae_tensors_at_full_size(void)
{
    wan_tensor_spec *t = NULL;
    int n = 0;
    wan_dit_config c = wan_dit_config_1_3b();
    REQUIRE(wan_dit_tensors(&c, &t, &n) == 0, "1.3B list");
    CHECK(n == 825, "1.3B DiT: %d tensors, expected 825", n);
    int found = 0;
    for (int i = 0; i < n; i++)
        if (strcmp(t[i].name[0], "blocks.29.norm3.weight") == 0) {
            found = 1;
            CHECK(strcmp(t[i].name[1], "blocks.29.norm2.weight") == 0,
                  "norm3 is Diffusers' norm2, got %s", t[i].name[1]);
        } else if (strcmp(t[i].name[0], "head.head.weight") == 0) {
            CHECK(t[i].ndim == 2 && t[i].shape[0] == 64 &&
                      t[i].shape[1] == 1536,
                  "head.head.weight shape");
            CHECK(strcmp(t[i].name[1], "proj_out.weight") == 0, "proj_out");
        }
    CHECK(found, "blocks.29.norm3.weight listed");
    free(t);

    c.dim = 5120, c.ffn_dim = 13824, c.num_heads = 40, c.num_layers = 40;
    REQUIRE(wan_dit_tensors(&c, &t, &n) == 0, "14B list");
    CHECK(n == 12 + 40 * 27 + 3, "14B DiT: %d tensors", n);
    free(t);

    wan_vae_config v = wan_vae_config_default();
    REQUIRE(wan_vae_tensors(&v, &t, &n) == 0, "VAE list");
    CHECK(n == 194, "VAE: %d tensors, expected 194", n);
    for (int i = 0; i < n; i++)
        if (strcmp(t[i].name[0], "decoder.upsamples.4.shortcut.weight") == 0)
            CHECK(strcmp(t[i].name[1],
                         "decoder.up_blocks.1.resnets.0.conv_shortcut."
                         "weight") == 0 &&
                      t[i].ndim == 5 && t[i].shape[0] == 384 &&
                      t[i].shape[1] == 192,
                  "decoder shortcut: %s", t[i].name[1]);
    free(t);
}

static void names_refuse_configs_that_cannot_be(void)
{
    wan_tensor_spec *t = NULL;
    int n = 0;
    wan_dit_config c = wan_dit_config_1_3b();
    c.num_heads = 7; /* 1536 / 7 is no head width */
    CHECK(wan_dit_tensors(&c, &t, &n) == ST2V_ERR_FORMAT, "heads 7");
    c = wan_dit_config_1_3b();
    c.dim = -4;
    CHECK(wan_dit_tensors(&c, &t, &n) == ST2V_ERR_FORMAT, "dim -4");
    wan_vae_config v = wan_vae_config_default();
    v.dim = 1, v.dim_mult[0] = 1, v.dim_mult[1] = 1;
    CHECK(wan_vae_tensors(&v, &t, &n) == ST2V_ERR_FORMAT,
          "a width of 1 cannot be halved");
}

static void dit_config_reads_official_and_diffusers_keys(void)
{
    static const char official[] =
        "{\"dim\": 5120, \"ffn_dim\": 13824, \"num_heads\": 40, "
        "\"num_layers\": 40, \"model_type\": \"t2v\"}";
    static const char diffusers[] =
        "{\"attention_head_dim\": 128, \"num_attention_heads\": 12, "
        "\"in_channels\": 16, \"out_channels\": 16, \"num_layers\": 30, "
        "\"patch_size\": [1, 2, 2], \"image_dim\": null}";
    char err[256];
    wan_dit_config c = wan_dit_config_1_3b();
    CHECK(wan_dit_config_parse(&c, official, strlen(official), err,
                               sizeof(err)) == 0,
          "official: %s", err);
    CHECK(c.dim == 5120 && c.num_layers == 40 && c.text_dim == 4096,
          "official keys read");
    c = wan_dit_config_1_3b();
    c.dim = 0;
    CHECK(wan_dit_config_parse(&c, diffusers, strlen(diffusers), err,
                               sizeof(err)) == 0,
          "diffusers: %s", err);
    CHECK(c.dim == 1536 && c.num_heads == 12, "dim = heads x head width");
    static const char i2v[] = "{\"model_type\": \"i2v\", \"in_dim\": 36}";
    c = wan_dit_config_1_3b();
    CHECK(wan_dit_config_parse(&c, i2v, strlen(i2v), err, sizeof(err)) ==
              ST2V_ERR_UNSUPPORTED,
          "i2v refused");
    static const char bad[] = "{\"dim\": 1.5}";
    CHECK(wan_dit_config_parse(&c, bad, strlen(bad), err, sizeof(err)) ==
              ST2V_ERR_FORMAT,
          "fractional dim refused");
    CHECK(wan_dit_config_parse(&c, "[", 1, err, sizeof(err)) == ST2V_ERR_FORMAT,
          "not JSON");
}

/* ------------------------------------------------------------- layouts */

static void official_folder_opens_under_official_names(void)
{
    wan_files *w =
        expect(tu_fixture("wan/files/official"), 0,
               "Wan2.1 T2V (dim 8, 2 layers): DiT official f32 (69 tensors)|"
               "VAE official f32 (194 tensors)|umT5 official bf16 (22 tensors)|"
               "tokenizer spiece.model");
    if (!w)
        return;
    CHECK(same_dit(&w->dit_cfg, &TINY_DIT), "DiT config from config.json");
    CHECK(w->dit_cfg.text_len == 8, "text_len %d", w->dit_cfg.text_len);
    CHECK(w->dit.n_tensors == TINY_DIT_TENSORS, "DiT tensors");
    CHECK(has_shape(&w->dit, "blocks.1.ffn.0.weight", 2, 16, 8), "ffn.0");
    CHECK(has_shape(&w->dit, "head.head.weight", 2, 16, 8), "head");
    CHECK(w->vae_cfg.dim == 1 && w->vae_cfg.z_dim == 4, "VAE dim/z");
    CHECK(has_shape(&w->vae, "decoder.upsamples.4.shortcut.weight", 5, 4, 2),
          "VAE shortcut");
    CHECK(w->t5.n_tensors == TINY_T5_TENSORS, "T5 tensors %d", w->t5.n_tensors);
    CHECK(w->layout[WAN_PART_T5] == WAN_LAYOUT_OFFICIAL, "T5 layout");
    CHECK(strcmp(w->file[WAN_PART_TOKENIZER], "google/umt5-xxl/spiece.model") ==
              0,
          "tokenizer file %s", w->file[WAN_PART_TOKENIZER]);
    CHECK(spm_vocab_size(w->tokenizer) <= w->t5_cfg.vocab, "vocab");
    check_t5_runs(w);
    wan_files_close(w);
}

static void comfy_folder_opens_with_prefix_stripped_and_tokenizer_inside(void)
{
    wan_files *w =
        expect(tu_fixture("wan/files/comfy"), 0,
               "DiT official under model.diffusion_model. bf16 (69 tensors)|"
               "VAE official f16 (194 tensors)|umT5 HF names f16 (22 tensors)|"
               "tokenizer inside the umT5 file");
    if (!w)
        return;
    /* no config: the shapes give it, and text_len stays Wan's 512 */
    CHECK(same_dit(&w->dit_cfg, &TINY_DIT), "DiT config from the shapes");
    CHECK(w->dit_cfg.text_len == 512, "text_len %d", w->dit_cfg.text_len);
    CHECK(st_find(&w->dit, "blocks.0.self_attn.q.weight") != NULL,
          "prefix stripped");
    CHECK(w->layout[WAN_PART_T5] == WAN_LAYOUT_HF, "HF names");
    CHECK(st_find(&w->t5, "spiece_model") == NULL,
          "the U8 tokenizer is not a weight");
    CHECK(w->tokenizer != NULL, "tokenizer from spiece_model");
    check_t5_runs(w);
    wan_files_close(w);
}

static void diffusers_folder_opens_sharded_under_official_names(void)
{
    wan_files *w = expect(tu_fixture("wan/files/diffusers"), 0,
                          "DiT Diffusers bf16 (69 tensors in 2 shards)|"
                          "VAE Diffusers f16|umT5 HF names bf16");
    if (!w)
        return;
    CHECK(same_dit(&w->dit_cfg, &TINY_DIT), "DiT config from config.json");
    CHECK(w->vae_cfg.dim == 2 && w->vae_cfg.num_res_blocks == 1 &&
              w->vae_cfg.dim_mult[1] == 1 && w->vae_cfg.dim_mult[3] == 2,
          "VAE config from vae/config.json");
    /* with one residual block per stage, upsamples.2 is an upsampler */
    CHECK(has_shape(&w->vae, "decoder.upsamples.2.resample.1.weight", 4, 2, 4),
          "decoder.upsamples.2.resample.1.weight");
    /* Diffusers' norm2 is the official norm3: the same bytes */
    st_file shard;
    if (tu_open(&shard, "wan/files/diffusers/transformer/"
                        "diffusion_pytorch_model-00001-of-00002."
                        "safetensors") == 0) {
        const st_tensor *a = st_find(&shard, "blocks.0.norm2.weight");
        const st_tensor *b = st_find(&w->dit, "blocks.0.norm3.weight");
        CHECK(a && b && a->numel == b->numel &&
                  memcmp(a->data, b->data, 2 * (size_t)a->numel) == 0,
              "norm2 -> norm3");
        CHECK(st_find(&w->dit, "blocks.0.norm2.weight") == NULL,
              "no official norm2 (it has no weights)");
        st_close(&shard);
    }
    wan_files_close(w);
}

static void one_valid_file_says_what_it_is_and_what_is_missing(void)
{
    wan_files *w = expect(
        tu_fixture("wan/files/official/diffusion_pytorch_model.safetensors"),
        ST2V_ERR_FORMAT,
        "found DiT official f32 (69 tensors); missing the VAE|umT5 text "
        "encoder|tokenizer");
    CHECK(last_parts == 1, "one part recognised, got %d", last_parts);
    wan_files_close(w);
}

/* -------------------------------------------------------------- broken */

static void broken_files_are_named_with_their_tensor(void)
{
    static const struct {
        const char *file;
        int status;
        const char *needles;
    } cases[] = {
        {"dit_missing_tensor", ST2V_ERR_FORMAT,
         "DiT dit_missing_tensor.safetensors: tensor blocks.1.ffn.2.bias is "
         "missing"},
        {"dit_wrong_shape", ST2V_ERR_FORMAT,
         "tensor blocks.1.cross_attn.k.weight has shape [8, 9], expected "
         "[8, 8]"},
        {"dit_wrong_dtype", ST2V_ERR_FORMAT,
         "tensor head.head.bias is I32, expected F32, F16 or BF16"},
        {"t5_truncated", ST2V_ERR_FORMAT,
         "t5_truncated.safetensors: tensor|data_offsets"},
        {"t5_overlap", ST2V_ERR_FORMAT, "t5_overlap.safetensors|overlap"},
        {"t5_past_end", ST2V_ERR_FORMAT, "t5_past_end.safetensors|data"},
        /* not broken: umt5.c reads Comfy's scaled fp8 */
        {"t5_fp8", ST2V_ERR_FORMAT,
         "found umT5 HF names scaled fp8 (36 tensors); missing the DiT"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char name[128];
        snprintf(name, sizeof(name), "wan/files/broken/%s.safetensors",
                 cases[i].file);
        wan_files_close(
            expect(tu_fixture(name), cases[i].status, cases[i].needles));
    }
}

static void an_empty_folder_lists_every_part_wanted(void)
{
    REQUIRE(make_dir() == 0, "mkdtemp");
    wan_files_close(
        expect(tmp_dir, ST2V_ERR_FORMAT,
               "no Wan2.1 files|DiT (|VAE (|umT5 text encoder (|"
               "tokenizer (google/umt5-xxl/spiece.model or tokenizer.json)"));
    CHECK(last_parts == 0, "nothing of Wan2.1: %d parts", last_parts);
    remove_dir();
}

static void a_missing_path_is_an_io_error(void)
{
    wan_files_close(expect("/nonexistent/wan", ST2V_ERR_IO, "cannot read"));
}

static void a_pth_vae_is_refused_with_the_converter_command(void)
{
    REQUIRE(make_dir() == 0, "mkdtemp");
    REQUIRE(link_official("Wan2.1_VAE.safetensors") == 0, "links");
    CHECK(write_file("Wan2.1_VAE.pth", "PK\3\4 not read", 14) == 0, "pth");
    char want[512];
    snprintf(want, sizeof(want),
             "VAE Wan2.1_VAE.pth is a pickle|st2v-convert "
             "'%s/Wan2.1_VAE.pth'",
             tmp_dir);
    wan_files_close(expect(tmp_dir, ST2V_ERR_UNSUPPORTED, want));
    CHECK(last_parts == 4, "the .pth counts as the VAE: %d", last_parts);
    /* once converted, the safetensors beside it wins */
    CHECK(link_fixture("wan/files/official/Wan2.1_VAE.safetensors",
                       "Wan2.1_VAE.safetensors") == 0,
          "link");
    wan_files_close(expect(tmp_dir, 0, "VAE official f32"));
    remove_dir();
}

static void a_folder_without_tokenizer_says_so(void)
{
    REQUIRE(make_dir() == 0, "mkdtemp");
    REQUIRE(link_official("google/umt5-xxl/spiece.model") == 0, "links");
    wan_files_close(expect(tmp_dir, ST2V_ERR_FORMAT,
                           "found DiT official|missing the tokenizer"));
    CHECK(write_file("tokenizer.json", "{}", 2) == 0, "tokenizer.json");
    wan_files_close(
        expect(tmp_dir, ST2V_ERR_FORMAT, "tokenizer tokenizer.json: "));
    /* a real one (320 pieces) is read, and is too large for this umT5 */
    unlink(at("tokenizer.json"));
    CHECK(link_fixture("wan/spm/nfkc.json", "tokenizer.json") == 0, "link");
    wan_files_close(expect(tmp_dir, ST2V_ERR_FORMAT,
                           "the tokenizer tokenizer.json has|pieces, more "
                           "than the 200 rows of the umT5 embedding"));
    remove_dir();
}

static void a_lying_config_json_is_caught_by_the_tensors(void)
{
    REQUIRE(make_dir() == 0, "mkdtemp");
    REQUIRE(link_official("config.json") == 0, "links");
    static const char layers[] =
        "{\"dim\": 8, \"ffn_dim\": 16, \"num_heads\": 2, \"num_layers\": 3, "
        "\"in_dim\": 4, \"out_dim\": 4, \"text_dim\": 8, \"freq_dim\": 8}";
    CHECK(write_file("config.json", layers, strlen(layers)) == 0, "write");
    wan_files_close(expect(tmp_dir, ST2V_ERR_FORMAT,
                           "tensor blocks.2.self_attn.q.weight is missing"));
    static const char width[] =
        "{\"dim\": 16, \"ffn_dim\": 16, \"num_heads\": 2, \"num_layers\": 2, "
        "\"in_dim\": 4, \"out_dim\": 4, \"text_dim\": 8, \"freq_dim\": 8}";
    unlink(at("config.json"));
    CHECK(write_file("config.json", width, strlen(width)) == 0, "write");
    wan_files_close(expect(tmp_dir, ST2V_ERR_FORMAT,
                           "patch_embedding.weight has shape [8, 4, 1, 2, "
                           "2], expected [16, 4, 1, 2, 2]"));
    remove_dir();
}

static void a_shard_missing_from_its_index_is_named(void)
{
    REQUIRE(make_dir() == 0, "mkdtemp");
    const char *d = "wan/files/diffusers/transformer/";
    char fx[256];
    snprintf(fx, sizeof(fx),
             "%sdiffusion_pytorch_model.safetensors."
             "index.json",
             d);
    CHECK(link_fixture(fx, "t/diffusion_pytorch_model.safetensors."
                           "index.json") == 0,
          "index");
    snprintf(fx, sizeof(fx),
             "%sdiffusion_pytorch_model-00001-of-00002."
             "safetensors",
             d);
    CHECK(link_fixture(fx, "t/diffusion_pytorch_model-00001-of-00002."
                           "safetensors") == 0,
          "shard 1");
    wan_files_close(expect(tmp_dir, ST2V_ERR_IO,
                           "t/diffusion_pytorch_model-00002-of-00002."
                           "safetensors: cannot open"));
    remove_dir();
}

static void a_broken_extra_file_is_said_only_when_a_part_is_missing(void)
{
    REQUIRE(make_dir() == 0, "mkdtemp");
    REQUIRE(link_official(NULL) == 0, "links");
    CHECK(link_fixture("wan/files/broken/t5_truncated.safetensors",
                       "loras/x.safetensors") == 0,
          "link");
    wan_files_close(expect(tmp_dir, 0, "Wan2.1 T2V"));
    unlink(at("models_t5_umt5-xxl-enc-bf16.safetensors"));
    wan_files_close(
        expect(tmp_dir, ST2V_ERR_FORMAT, "loras/x.safetensors: tensor"));
    remove_dir();
}

static void parts_that_do_not_fit_together_are_refused(void)
{
    REQUIRE(make_dir() == 0, "mkdtemp");
    REQUIRE(link_official("models_t5_umt5-xxl-enc-bf16.safetensors") == 0,
            "links");
    CHECK(link_fixture("wan/files/broken/t5_width12.safetensors",
                       "umt5.safetensors") == 0,
          "link");
    wan_files_close(expect(tmp_dir, ST2V_ERR_FORMAT,
                           "the DiT reads text of width 8 but the umT5 "
                           "encoder umt5.safetensors is 12 wide"));
    remove_dir();
}

/* ---------------------------------------------------------------- fuzz */

static void damaged_headers_never_crash_the_loader(void)
{
    FILE *f = fopen(tu_fixture("wan/files/official/"
                               "models_t5_umt5-xxl-enc-bf16.safetensors"),
                    "rb");
    REQUIRE(f, "fixture");
    static unsigned char orig[16384], buf[16384];
    size_t n = fread(orig, 1, sizeof(orig), f);
    fclose(f);
    REQUIRE(n > 1000 && n < sizeof(orig), "size %zu", n);
    REQUIRE(make_dir() == 0, "mkdtemp");
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = (hl << 8) | orig[i];
    uint32_t s = 12345;
    int opened = 0, refused = 0;
    for (int iter = 0; iter < 2000; iter++) {
        memcpy(buf, orig, n);
        size_t len = n;
        int flips = 1 + iter % 4;
        for (int k = 0; k < flips; k++) {
            s = s * 1664525u + 1013904223u;
            size_t pos = (s >> 8) % (8 + hl); /* the length and the header */
            s = s * 1664525u + 1013904223u;
            buf[pos] =
                iter % 3
                    ? (unsigned char)(s >> 24)
                    : (unsigned char)("0123456789[]{},:\"-e"[(s >> 24) % 19]);
        }
        if (iter % 5 == 0)
            len = (s >> 4) % n; /* truncated too */
        unlink(at("t.safetensors"));
        REQUIRE(write_file("t.safetensors", buf, len) == 0, "write");
        wan_files *w = NULL;
        char msg[512];
        int rc =
            wan_files_open(&w, at("t.safetensors"), NULL, msg, sizeof(msg));
        CHECK(rc < 0 && w == NULL, "a lone umT5 file never opens complete");
        CHECK(strchr(msg, '\n') == NULL, "one line: %s", msg);
        opened += strstr(msg, "found umT5") != NULL;
        refused += strstr(msg, "found umT5") == NULL;
        wan_files_close(w);
    }
    printf("     2000 damaged files: %d still read as umT5, %d refused\n",
           opened, refused);
    CHECK(refused > 1000, "most damaged headers refused");
    remove_dir();
}

int main(void)
{
    RUN(names_list_825_dit_and_194_vae_tensors_at_full_size);
    RUN(names_refuse_configs_that_cannot_be);
    RUN(dit_config_reads_official_and_diffusers_keys);
    RUN(official_folder_opens_under_official_names);
    RUN(comfy_folder_opens_with_prefix_stripped_and_tokenizer_inside);
    RUN(diffusers_folder_opens_sharded_under_official_names);
    RUN(one_valid_file_says_what_it_is_and_what_is_missing);
    RUN(broken_files_are_named_with_their_tensor);
    RUN(an_empty_folder_lists_every_part_wanted);
    RUN(a_missing_path_is_an_io_error);
    RUN(a_pth_vae_is_refused_with_the_converter_command);
    RUN(a_folder_without_tokenizer_says_so);
    RUN(a_lying_config_json_is_caught_by_the_tensors);
    RUN(a_shard_missing_from_its_index_is_named);
    RUN(a_broken_extra_file_is_said_only_when_a_part_is_missing);
    RUN(parts_that_do_not_fit_together_are_refused);
    RUN(damaged_headers_never_crash_the_loader);
    return tu_summary();
}
