/*
 * family.c - Wan2.1 (text to video, 1.3B) as a family of core/arch.h:
 * recognising the files users download (../shared/WAN-NOTES.md, section
 * 3) in the layouts they come in, by file and tensor names:
 *
 *   official    diffusion_pytorch_model*.safetensors, Wan2.1_VAE.pth,
 *               models_t5_umt5-xxl-enc-bf16.pth, google/umt5-xxl/
 *   Comfy-Org   split_files/{diffusion_models,text_encoders,vae}/ or the
 *               same files side by side (the tokenizer rides inside the
 *               text encoder as spiece_model)
 *   Diffusers   transformer/, text_encoder/, vae/, tokenizer/
 *
 * The loader itself (DiT, VAE decoder, sampler) is part 2 of issue 20:
 * until then a complete folder is refused with ST2V_ERR_UNSUPPORTED,
 * saying what was found. Not here: the tokenizer (spm.c) and the text
 * encoder (umt5.c).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "arch.h"
#include "common.h"
#include "escape.h"
#include "safetensors.h"

/* ------------------------------------------------------- the parts */

enum { PART_DIT, PART_TEXT, PART_VAE, PART_TOKENIZER, N_PARTS };

static const char *const part_names[N_PARTS] = {
    "DiT", "text encoder", "VAE", "tokenizer",
};

/* What the message suggests for a missing part. */
static const char *const part_files[N_PARTS] = {
    "diffusion_pytorch_model*.safetensors or wan2.1_t2v_1.3B_*.safetensors",
    "models_t5_umt5-xxl-enc-bf16.pth or umt5_xxl_*.safetensors",
    "Wan2.1_VAE.pth or wan_2.1_vae.safetensors",
    "google/umt5-xxl/spiece.model or tokenizer.json",
};

/* The folders a part may lie in, relative to the model folder. */
static const char *const part_dirs[] = {
    "", "google/umt5-xxl", "transformer", "text_encoder", "vae",
    "tokenizer", "split_files/diffusion_models", "split_files/text_encoders",
    "split_files/vae", "diffusion_models", "text_encoders",
};

typedef struct found {
    const char *file[N_PARTS]; /* relative path of each part, or NULL */
    int pth;                   /* some part is a pickle (.pth) */
    int spiece_inside;         /* the text encoder carries its tokenizer */
} found;

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && strcasecmp(s + n - k, tail) == 0;
}

static const char *base_name(const char *rel)
{
    const char *slash = strrchr(rel, '/');
    return slash ? slash + 1 : rel;
}

static int in_part_dir(const char *rel)
{
    char dir[512];
    st2v_folder_dirname(dir, sizeof(dir), rel);
    for (size_t i = 0; i < ST2V_ARRAY_SIZE(part_dirs); i++)
        if (strcmp(dir, part_dirs[i]) == 0)
            return 1;
    return 0;
}

/* Is name the key, or the key under a prefix ("model.diffusion_model.")? */
static int is_key(const char *name, const char *key)
{
    size_t n = strlen(name), k = strlen(key);
    return n >= k && strcmp(name + n - k, key) == 0 &&
           (n == k || name[n - k - 1] == '.');
}

/* Does any tensor have one of the keys? */
static int has_tensor(const st_file *f, const char *const *keys)
{
    for (int i = 0; i < f->n_tensors; i++)
        for (const char *const *k = keys; *k; k++)
            if (is_key(f->tensors[i].name, *k))
                return 1;
    return 0;
}

/* Does s contain part, ignoring ASCII case? */
static int has_word(const char *s, const char *part)
{
    size_t k = strlen(part);
    for (; *s; s++)
        if (strncasecmp(s, part, k) == 0)
            return 1;
    return 0;
}

/* The part a safetensors file holds, by its tensor names (official,
 * Comfy and Diffusers names; ../shared/WAN-NOTES.md section 3), or -1. */
static int classify_safetensors(const char *path, int *spiece)
{
    static const char *const dit[] = {
        "blocks.0.self_attn.q.weight", "blocks.0.attn1.to_q.weight",
        "patch_embedding.weight", NULL,
    };
    static const char *const text[] = {
        "blocks.0.attn.q.weight", "encoder.block.0.layer.0.SelfAttention.q.weight",
        "token_embedding.weight", NULL,
    };
    static const char *const vae[] = {
        "decoder.conv1.weight", "decoder.conv_in.weight",
        "decoder.head.2.weight", NULL,
    };
    static const char *const tok[] = {"spiece_model", NULL};
    st_file f;
    if (st_open(&f, path, NULL, 0) != 0)
        return -1;
    int part = -1;
    if (has_tensor(&f, dit))
        part = PART_DIT;
    else if (has_tensor(&f, text))
        part = PART_TEXT;
    else if (has_tensor(&f, vae))
        part = PART_VAE;
    *spiece = part == PART_TEXT && has_tensor(&f, tok);
    st_close(&f);
    return part;
}

/* The part a file is, by name alone (pickles and tokenizer files), or -1. */
static int classify_by_name(const char *rel)
{
    const char *b = base_name(rel);
    if (ends_with(b, ".pth")) {
        if (has_word(b, "t5"))
            return PART_TEXT;
        if (has_word(b, "vae"))
            return PART_VAE;
        return -1;
    }
    if (strcmp(b, "spiece.model") == 0 || strcmp(b, "tokenizer.json") == 0)
        return PART_TOKENIZER;
    return -1;
}

static void note(found *fd, int part, const char *rel)
{
    if (part >= 0 && !fd->file[part]) {
        fd->file[part] = rel;
        fd->pth |= ends_with(rel, ".pth");
    }
}

static void find_parts(const st2v_folder *folder, found *fd)
{
    memset(fd, 0, sizeof(*fd));
    for (int i = 0; i < folder->n; i++) {
        const char *rel = folder->files[i].path;
        if (!in_part_dir(rel))
            continue;
        int part = classify_by_name(rel);
        if (part < 0 && ends_with(rel, ".safetensors")) {
            char full[4096];
            int spiece = 0;
            if (st2v_folder_join(full, sizeof(full), folder->dir, rel))
                part = classify_safetensors(full, &spiece);
            if (spiece && !fd->spiece_inside) {
                fd->spiece_inside = 1;
                note(fd, PART_TOKENIZER, rel);
            }
        }
        note(fd, part, rel);
    }
}

/* "DiT x, text encoder y" of the parts found (want 1) or missing (0). */
static void list_parts(char *buf, size_t size, const found *fd, int want)
{
    size_t at = 0;
    buf[0] = 0;
    for (int p = 0; p < N_PARTS && at < size; p++) {
        if ((fd->file[p] != NULL) != want)
            continue;
        char q[200];
        at += (size_t)snprintf(buf + at, size - at, "%s%s %s",
                               at ? ", " : "", part_names[p],
                               st2v_escape(q, sizeof(q),
                                           want ? fd->file[p]
                                                : part_files[p]));
    }
}

/* -------------------------------------------------------- the calls */

static void wan_detect(const char *path, const st2v_folder *folder,
                       st2v_detect *out)
{
    if (!folder) {
        int spiece = 0;
        if (access(path, R_OK) != 0)
            return;
        int part = ends_with(path, ".safetensors")
                       ? classify_safetensors(path, &spiece)
                       : classify_by_name(path);
        if (part < 0)
            return;
        out->found = 1;
        snprintf(out->what, sizeof(out->what),
                 "a Wan2.1 %s: load the folder that holds it with the rest "
                 "of Wan2.1 (DiT, text encoder, VAE, tokenizer)",
                 part_names[part]);
        return;
    }
    found fd;
    find_parts(folder, &fd);
    char have[1024], miss[1024];
    list_parts(have, sizeof(have), &fd, 1);
    list_parts(miss, sizeof(miss), &fd, 0);
    for (int p = 0; p < N_PARTS; p++)
        out->found += fd.file[p] != NULL;
    out->complete = out->found == N_PARTS;
    if (out->complete)
        snprintf(out->what, sizeof(out->what), "Wan2.1 (%.490s)", have);
    else if (out->found)
        snprintf(out->what, sizeof(out->what),
                 "a Wan2.1 folder (found %.220s) lacks its %.240s", have,
                 miss);
}

static int wan_load(void **impl, const char *path, const st2v_folder *folder,
                    const st2v_model_params *params, st2v_model_info *info,
                    st2v_arch_caps *caps, char *err, size_t err_size)
{
    (void)impl, (void)params, (void)info, (void)caps;
    char q[200];
    st2v_escape(q, sizeof(q), path);
    if (!folder) {
        st2v_detect d;
        memset(&d, 0, sizeof(d));
        wan_detect(path, NULL, &d);
        return st2v_fail(err, err_size, ST2V_ERR_UNSUPPORTED, "\"%s\" is %s",
                         q, d.what);
    }
    found fd;
    char have[1024];
    find_parts(folder, &fd);
    list_parts(have, sizeof(have), &fd, 1);
    return st2v_fail(err, err_size, ST2V_ERR_UNSUPPORTED,
                     "\"%s\" holds Wan2.1 (%s), which this build cannot run "
                     "yet: its DiT, VAE decoder and sampler are to come "
                     "(issue 20, part 2)%s",
                     q, have,
                     fd.pth ? "; convert its .pth files to safetensors with "
                              "scripts/st2v-convert"
                            : "");
}

static void wan_free(void *impl)
{
    (void)impl;
}

/* Part 2 fills in the rest of the table (encode_text, velocity, decoder,
 * cost); st2v_model_load never returns a Wan model before it does. */
const st2v_arch st2v_arch_wan = {
    .name = "wan2.1",
    .wants = "Wan2.1's diffusion_pytorch_model*.safetensors, "
             "models_t5_umt5-xxl-enc-bf16.pth, Wan2.1_VAE.pth and "
             "google/umt5-xxl/ (or Comfy's or Diffusers' files of them)",
    .detect = wan_detect,
    .load = wan_load,
    .free = wan_free,
};
