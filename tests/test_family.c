/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_family.c - the model families behind st2v_model_load (core/arch.h):
 * a file or a folder is told apart by its file and tensor names, a folder
 * that is no model says what it holds and what is missing, Wan2.1's
 * layouts are recognised (and refused until part 2 of issue 20 loads
 * them), the load options, the capabilities the generator obeys, and the
 * one table of sampler names. Folders are made under $TMPDIR with tiny
 * stand-in files.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch.h"
#include "wan/family.h"
#include "wan/spm.h"
#include "test_util.h"

/* ------------------------------------------------------------ folders */

static char tmp_dir[512];

static int make_dir(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(tmp_dir, sizeof(tmp_dir), "%s/st2v-family.XXXXXX",
             t && *t ? t : "/tmp");
    return mkdtemp(tmp_dir) ? 0 : -1;
}

static void remove_dir(void)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "  cannot remove %s\n", tmp_dir);
}

/* tmp_dir/rel, with its folders made. */
static const char *at(const char *rel)
{
    static char path[1024];
    snprintf(path, sizeof(path), "%s/%s", tmp_dir, rel);
    for (char *p = path + strlen(tmp_dir) + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            mkdir(path, 0755);
            *p = '/';
        }
    }
    return path;
}

static int write_bytes(const char *rel, const void *data, size_t n)
{
    FILE *f = fopen(at(rel), "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

/* A safetensors file holding one F32 scalar under each of the names. */
static int write_safetensors(const char *rel, const char *const *names)
{
    char hdr[4096];
    size_t at_ = 0;
    int n = 0;
    at_ += (size_t)snprintf(hdr, sizeof(hdr), "{");
    for (; names[n]; n++)
        at_ += (size_t)snprintf(hdr + at_, sizeof(hdr) - at_,
                                "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[1],"
                                "\"data_offsets\":[%d,%d]}",
                                n ? "," : "", names[n], 4 * n, 4 * n + 4);
    at_ += (size_t)snprintf(hdr + at_, sizeof(hdr) - at_, "}");
    while (at_ % 8)
        hdr[at_++] = ' ';
    size_t total = 8 + at_ + 4 * (size_t)n;
    uint8_t *buf = calloc(1, total);
    if (!buf)
        return -1;
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)((uint64_t)at_ >> (8 * i));
    memcpy(buf + 8, hdr, at_);
    int rc = write_bytes(rel, buf, total);
    free(buf);
    return rc;
}

static const char *const stand_in_dit[] = {
    "blocks.0.self_attn.q.weight", "patch_embedding.weight", NULL};

static int load(const char *path, st2v_model **m, char *err, size_t n)
{
    *m = NULL;
    return st2v_model_load(m, path, err, n);
}

/* --------------------------------------------------------- detection */

static void a_folder_with_one_st2v_model_file_loads_as_the_st2v_family(void)
{
    REQUIRE(make_dir() == 0, "mkdtemp");
    char real[4096];
    REQUIRE(realpath(tu_fixture("tiny.safetensors"), real), "realpath");
    CHECK(symlink(real, at("model.safetensors")) == 0, "symlink");
    CHECK(write_bytes("README.md", "tiny", 4) == 0, "write");
    st2v_model *m;
    char err[1024] = "";
    int rc = load(tmp_dir, &m, err, sizeof(err));
    CHECK(rc == 0, "rc %d: %s", rc, err);
    if (m) {
        const st2v_model_info *info = st2v_model_get_info(m);
        CHECK(strcmp(info->family, "st2v") == 0, "family %s", info->family);
        CHECK(info->n_params == 292903, "n_params %lld",
              (long long)info->n_params);
    }
    st2v_model_free(m);
    remove_dir();
}

static void a_single_st2v_file_is_the_st2v_family(void)
{
    st2v_model *m = tu_load_model("tiny.safetensors");
    REQUIRE(m, "model");
    CHECK(strcmp(st2v_model_get_info(m)->family, "st2v") == 0, "family %s",
          st2v_model_get_info(m)->family);
    st2v_model_free(m);
}

static void a_folder_without_a_model_says_what_it_holds_and_what_is_wanted(void)
{
    REQUIRE(make_dir() == 0, "mkdtemp");
    CHECK(write_bytes("notes.txt", "hello", 5) == 0, "write");
    st2v_model *m = (st2v_model *)1;
    char err[2048] = "";
    int rc = load(tmp_dir, &m, err, sizeof(err));
    CHECK(rc == ST2V_ERR_IO, "rc %d: %s", rc, err);
    CHECK(m == NULL, "out not cleared");
    CHECK(strstr(err, "holds no model") && strstr(err, "1 file: notes.txt"),
          "what was found: %s", err);
    CHECK(strstr(err, "st2v:") && strstr(err, "wan2.1:") &&
              strstr(err, "Wan2.1_VAE.pth"),
          "what is wanted: %s", err);
    CHECK(!strchr(err, '\n'), "not one line: %s", err);
    remove_dir();
}

/* A fixture folder of train/wan/files_fixtures.py, copied so that its
 * parts can be removed or replaced. */
static int copy_fixture_folder(const char *name)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "cp -r '%s'/. '%s'",
             tu_fixture(name), tmp_dir);
    return system(cmd);
}

/* The loader binds every part and says the first that does not fit: the
 * files fixtures are stand-ins whose VAE has 4 latent channels. */
static void a_wan_folder_whose_vae_cannot_run_names_it(void)
{
    st2v_model *m;
    char err[2048] = "";
    int rc = load(tu_fixture("wan/files/official"), &m, err, sizeof(err));
    CHECK(rc == ST2V_ERR_FORMAT, "rc %d: %s", rc, err);
    CHECK(m == NULL, "a model came back");
    CHECK(strstr(err, "VAE") && strstr(err, "z_dim 4"), "names the VAE: %s",
          err);
    CHECK(!strchr(err, '\n'), "not one line: %s", err);
}

static void a_wan_folder_with_pickles_and_no_vae_names_both(void)
{
    REQUIRE(make_dir() == 0, "mkdtemp");
    REQUIRE(copy_fixture_folder("wan/files/official") == 0, "copy");
    static const char pickle[] = "PK\003\004 not really a torch zip";
    REQUIRE(unlink(at("Wan2.1_VAE.safetensors")) == 0 &&
                write_bytes("models_t5_umt5-xxl-enc-bf16.pth", pickle,
                            sizeof(pickle)) == 0,
            "replace");
    st2v_model *m;
    char err[2048] = "";
    int rc = load(tmp_dir, &m, err, sizeof(err));
    CHECK(rc < 0 && m == NULL, "rc %d: %s", rc, err);
    CHECK(strstr(err, "VAE"), "the missing VAE: %s", err);
    CHECK(!strchr(err, '\n'), "not one line: %s", err);
    REQUIRE(copy_fixture_folder("wan/files/official") == 0, "copy");
    rc = load(tmp_dir, &m, err, sizeof(err));
    /* a .pth beside its converted .safetensors is ignored */
    CHECK(rc == ST2V_ERR_FORMAT && strstr(err, "z_dim 4"), "rc %d: %s", rc,
          err);
    REQUIRE(unlink(at("models_t5_umt5-xxl-enc-bf16.safetensors")) == 0,
            "unlink");
    rc = load(tmp_dir, &m, err, sizeof(err));
    CHECK(rc == ST2V_ERR_UNSUPPORTED && strstr(err, "scripts/st2v-convert"),
          "how to convert .pth: rc %d: %s", rc, err);
    remove_dir();
}

static void a_wan_folder_of_wrong_shapes_names_the_tensor(void)
{
    REQUIRE(make_dir() == 0, "mkdtemp");
    REQUIRE(copy_fixture_folder("wan/files/official") == 0, "copy");
    REQUIRE(unlink(at("diffusion_pytorch_model.safetensors")) == 0 &&
                write_safetensors("diffusion_pytorch_model.safetensors",
                                  stand_in_dit) == 0,
            "replace");
    st2v_model *m;
    char err[2048] = "";
    int rc = load(tmp_dir, &m, err, sizeof(err));
    CHECK(rc == ST2V_ERR_FORMAT && m == NULL, "rc %d: %s", rc, err);
    CHECK(strstr(err, "diffusion_pytorch_model.safetensors") &&
              strstr(err, "patch_embedding.weight") && strstr(err, "shape"),
          "names the file and tensor: %s", err);
    remove_dir();
}

static void comfy_files_are_recognised_with_the_tokenizer_inside(void)
{
    char err[2048] = "";
    wan_files *w = NULL;
    int rc = wan_files_open(&w, tu_fixture("wan/files/comfy"), NULL, err,
                            sizeof(err));
    CHECK(rc == 0, "rc %d: %s", rc, err);
    wan_files_close(w);
    CHECK(strstr(err, "tokenizer inside the umT5 file"),
          "the tokenizer inside the text encoder: %s", err);
    CHECK(!strstr(err, "st2v-convert"), "nothing to convert: %s", err);
}

static void a_single_wan_file_is_named_and_refused(void)
{
    st2v_model *m;
    char err[2048] = "";
    int rc = load(tu_fixture("wan/files/comfy/split_files/diffusion_models/"
                             "wan2.1_t2v_tiny_bf16.safetensors"),
                  &m, err, sizeof(err));
    CHECK(rc < 0 && m == NULL, "rc %d: %s", rc, err);
    CHECK(strstr(err, "VAE") && strstr(err, "tokenizer"),
          "names the parts a lone DiT lacks: %s", err);
    CHECK(!strchr(err, '\n'), "not one line: %s", err);
}

/* The family's encode_text is the tokenizer then umT5 on the real tokens;
 * the default negative prompt (Chinese, with full-width commas) encodes. */
static void wan_text_goes_through_the_tokenizer_and_umt5(void)
{
    /* the files fixture's text encoder and tokenizer (its VAE is a
     * stand-in that cannot run) */
    wan_model wm, *w = &wm;
    memset(&wm, 0, sizeof(wm));
    char err[1024] = "";
    int rc = wan_files_open(&wm.files, tu_fixture("wan/files/official"),
                            NULL, err, sizeof(err));
    REQUIRE(rc == 0, "rc %d: %s", rc, err);
    rc = wan_umt5_load(&wm.t5, &wm.files->t5, NULL, &wm.files->t5_cfg, err,
                       sizeof(err));
    REQUIRE(rc == 0, "rc %d: %s", rc, err);
    const char *texts[] = {"a red ball rolls  left &amp; right",
                           wan_default_negative, ""};
    for (int k = 0; k < 3; k++) {
        void *cond = NULL;
        rc = st2v_arch_wan.encode_text(w, NULL, texts[k], &cond);
        CHECK(rc == 0 && cond, "encode %d: rc %d", k, rc);
        if (!cond)
            continue;
        const wan_cond *c = cond;
        int32_t ids[WAN_UMT5_MAX_TOKENS];
        int n = 0;
        int len = w->files->dit_cfg.text_len; /* the family cuts here */
        len = len < WAN_UMT5_MAX_TOKENS ? len : WAN_UMT5_MAX_TOKENS;
        CHECK(spm_encode_wan(w->files->tokenizer, texts[k], ids, len, &n) ==
                      0 &&
                  n == c->n,
              "%d: %d tokens, cond has %d", k, n, c->n);
        const int dim = w->files->t5_cfg.dim;
        float *ref = malloc(sizeof(float) * (size_t)n * dim);
        REQUIRE(ref, "malloc");
        CHECK(wan_umt5_encode(w->t5, NULL, ids, n, ref) == 0, "umt5");
        CHECK(memcmp(ref, c->ctx, sizeof(float) * (size_t)n * dim) == 0,
              "%d: the rows are umT5's of the tokens", k);
        free(ref);
        st2v_arch_wan.cond_free(cond);
    }
    CHECK(st2v_arch_wan.default_negative == wan_default_negative &&
              strstr(wan_default_negative, "最差质量"),
          "Wan's default negative prompt is the official one");
    CHECK(st2v_arch_world.default_negative == NULL,
          "the world model's stays unconditional");
    wan_umt5_free(wm.t5);
    wan_files_close(wm.files);
}

static void a_file_of_no_family_gets_the_st2v_loaders_reason(void)
{
    REQUIRE(make_dir() == 0, "mkdtemp");
    static const char *const other[] = {"foo.weight", NULL};
    REQUIRE(write_safetensors("other.safetensors", other) == 0, "write");
    st2v_model *m;
    char err[2048] = "";
    int rc = load(at("other.safetensors"), &m, err, sizeof(err));
    CHECK(rc == ST2V_ERR_FORMAT && strstr(err, "not an st2v model"),
          "rc %d: %s", rc, err);
    remove_dir();
}

/* ------------------------------------------------------------ options */

static int n_logged;
static char last_log[512];

static void log_cb(void *user, st2v_log_level level, const char *msg)
{
    (void)level;
    (*(int *)user)++;
    snprintf(last_log, sizeof(last_log), "%s", msg);
}

static int first_frames(const st2v_model *m, uint8_t *rgb, int w, int h)
{
    st2v_params p = st2v_default_params();
    p.prompt = "a red ball";
    p.seed = 5;
    p.frames = 2;
    p.steps = 2;
    p.threads = 1;
    p.width = w;
    p.height = h;
    st2v_generator *g = NULL;
    int rc = st2v_generator_new(&g, m, &p, NULL, 0);
    for (int i = 0; rc == 0 && i < 2; i++)
        rc = st2v_generator_next_frame(g, rgb + (size_t)i * w * h * 3,
                                       (ptrdiff_t)w * 3, NULL);
    st2v_generator_free(g);
    return rc;
}

static void load_params_default_to_mapped_f32_and_in_memory_loads_the_same(void)
{
    st2v_model_params p = st2v_model_default_params();
    CHECK(p.use_mmap == 1 && p.compute_dtype == ST2V_DTYPE_F32 && !p.log,
          "defaults");
    st2v_model *a = tu_load_model("tiny.safetensors"), *b = NULL;
    p.use_mmap = 0;
    p.log = log_cb;
    p.user_data = &n_logged;
    char err[512] = "";
    int rc = st2v_model_load_with_params(&b, tu_fixture("tiny.safetensors"), &p,
                                         err, sizeof(err));
    CHECK(rc == 0, "rc %d: %s", rc, err);
    CHECK(n_logged == 1 && strstr(last_log, "read into memory"), "log: %s",
          last_log);
    if (a && b) {
        const st2v_model_info *ia = st2v_model_get_info(a);
        enum { W = 32, H = 32 };
        uint8_t *fa = calloc(2, W * H * 3), *fb = calloc(2, W * H * 3);
        if (fa && fb) {
            CHECK(first_frames(a, fa, W, H) == 0 &&
                      first_frames(b, fb, W, H) == 0,
                  "generate");
            CHECK(memcmp(fa, fb, 2 * W * H * 3) == 0,
                  "read and mapped models render different frames");
        }
        free(fa);
        free(fb);
        CHECK(ia->n_params == st2v_model_get_info(b)->n_params, "n_params");
    }
    st2v_model_free(a);
    st2v_model_free(b);
}

static void bf16_compute_loads_the_st2v_family_and_a_bad_dtype_is_refused(void)
{
    st2v_model_params p = st2v_model_default_params();
    p.compute_dtype = ST2V_DTYPE_BF16;
    st2v_model *m = NULL;
    char err[512] = "";
    /* bf16: the BF16 path where the CPU has AVX512-BF16, else float32 */
    int rc = st2v_model_load_with_params(&m, tu_fixture("tiny.safetensors"), &p,
                                         err, sizeof(err));
    CHECK(rc == 0 && m, "rc %d: %s", rc, err);
    st2v_model_free(m);
    m = NULL;
    p.compute_dtype = (st2v_dtype)7;
    rc = st2v_model_load_with_params(&m, tu_fixture("tiny.safetensors"), &p,
                                     err, sizeof(err));
    CHECK(rc == ST2V_ERR_INVALID_ARG, "rc %d: %s", rc, err);
}

/* ------------------------------------------------------- capabilities */

static void the_st2v_family_declares_its_capabilities(void)
{
    st2v_model *m = tu_load_model("tiny.safetensors");
    REQUIRE(m, "model");
    const st2v_model_info *info = st2v_model_get_info(m);
    const st2v_arch_caps *c = &m->caps;
    CHECK(c->frames_per_latent == info->frames_per_latent &&
              c->first_frames == c->frames_per_latent,
          "frames per latent %d, first %d", c->frames_per_latent,
          c->first_frames);
    CHECK(c->spatial_factor == info->spatial_factor, "spatial factor");
    CHECK(c->window > c->context && c->context >= 0 &&
              c->window % c->temporal_patch == 0,
          "window %d context %d pt %d", c->window, c->context,
          c->temporal_patch);
    CHECK(c->flags & ST2V_ARCH_ENDLESS, "not endless");
    CHECK(!!(c->flags & ST2V_ARCH_IMAGE) == (c->temporal_patch == 1),
          "image flag");
    CHECK(c->latent_channels > 0 && c->max_text_tokens > 1, "sizes");
    st2v_model_free(m);
}

static void the_generator_obeys_the_capabilities_it_is_given(void)
{
    st2v_model *m = tu_load_model("tiny.safetensors");
    REQUIRE(m, "model");
    static const uint8_t px[4 * 4 * 3];
    st2v_params p = st2v_default_params();
    p.prompt = "a ball";
    st2v_generator *g = NULL;
    char err[512] = "";

    m->caps.flags &= ~ST2V_ARCH_ENDLESS;
    p.frames = -1;
    int rc = st2v_generator_new(&g, m, &p, err, sizeof(err));
    CHECK(rc == ST2V_ERR_UNSUPPORTED && strstr(err, "endless"), "rc %d: %s",
          rc, err);
    st2v_generator_free(g);

    m->caps.flags &= ~ST2V_ARCH_IMAGE;
    p.frames = 2;
    p.image_rgb = px;
    p.image_width = p.image_height = 4;
    rc = st2v_generator_new(&g, m, &p, err, sizeof(err));
    CHECK(rc == ST2V_ERR_UNSUPPORTED && strstr(err, "image"), "rc %d: %s", rc,
          err);
    st2v_generator_free(g);
    st2v_model_free(m);
}

/* ------------------------------------------------------------ samplers */

static void sampler_names_come_from_one_table(void)
{
    CHECK(strcmp(st2v_sampler_names(), "euler, heun, dpm++2m or unipc") == 0,
          "%s", st2v_sampler_names());
    int n = 0;
#define ROUND_TRIP(id, name, desc)                                            \
    do {                                                                      \
        st2v_sampler s_;                                                      \
        CHECK(st2v_sampler_from_name(name, &s_) == 0 &&                       \
                  s_ == ST2V_SAMPLER_##id &&                                  \
                  strcmp(st2v_sampler_name(s_), name) == 0 && *desc,          \
              "%s", name);                                                    \
        n++;                                                                  \
    } while (0);
    ST2V_SAMPLERS(ROUND_TRIP)
#undef ROUND_TRIP
    CHECK(n == ST2V_SAMPLER_LAST, "%d samplers in the table, enum ends at %d",
          n, ST2V_SAMPLER_LAST);
}

int main(void)
{
    RUN(a_single_st2v_file_is_the_st2v_family);
    RUN(a_folder_with_one_st2v_model_file_loads_as_the_st2v_family);
    RUN(a_folder_without_a_model_says_what_it_holds_and_what_is_wanted);
    RUN(a_wan_folder_whose_vae_cannot_run_names_it);
    RUN(a_wan_folder_with_pickles_and_no_vae_names_both);
    RUN(a_wan_folder_of_wrong_shapes_names_the_tensor);
    RUN(comfy_files_are_recognised_with_the_tokenizer_inside);
    RUN(a_single_wan_file_is_named_and_refused);
    RUN(wan_text_goes_through_the_tokenizer_and_umt5);
    RUN(a_file_of_no_family_gets_the_st2v_loaders_reason);
    RUN(load_params_default_to_mapped_f32_and_in_memory_loads_the_same);
    RUN(bf16_compute_loads_the_st2v_family_and_a_bad_dtype_is_refused);
    RUN(the_st2v_family_declares_its_capabilities);
    RUN(the_generator_obeys_the_capabilities_it_is_given);
    RUN(sampler_names_come_from_one_table);
    return tu_summary();
}
