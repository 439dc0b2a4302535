/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * files.c - finding, checking and mapping the files of a Wan2.1 model
 * (files.h). In order:
 *   listing     the folder's files, three levels down;
 *   headers     each safetensors file mapped and its header checked by
 *               safetensors.c (every dtype, shape, byte range, overlap);
 *   sets        a file, or the shards of a *.safetensors.index.json;
 *   parts       per set, which parts it holds, told by anchor tensors,
 *               in which layout and under which prefix;
 *   checks      each part's config (config.json, else the shapes) and
 *               every expected tensor; the tokenizer loaded;
 *   message     one line of what was found, or of the first fault.
 *
 * Not here: the key lists (names.c), the mathematics of each part.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "escape.h"
#include "wan/files.h"

#define MAX_FILES 4096       /* listed per folder */
#define MAX_DEPTH 3          /* folders below the one given */
#define MAX_SHARDS 256       /* per index.json */
#define MAX_JSON (16u << 20) /* config.json, index.json */
#define MAX_SPIECE (64u << 20)

/* ============================================================ listing */

typedef struct listing {
    char **rel; /* (n) relative paths, '/' between parts, sorted */
    int n, cap, truncated;
} listing;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_add(listing *l, const char *rel)
{
    if (l->n == MAX_FILES) {
        l->truncated = 1;
        return 0;
    }
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        char **r = realloc(l->rel, (size_t)cap * sizeof(*r));
        if (!r)
            return ST2V_ERR_NOMEM;
        l->rel = r;
        l->cap = cap;
    }
    if (!(l->rel[l->n] = strdup(rel)))
        return ST2V_ERR_NOMEM;
    l->n++;
    return 0;
}

/* Regular files under dir/sub (sub "" at the top), hidden ones skipped. */
static int list_dir(listing *l, const char *dir, const char *sub, int depth)
{
    char path[2 * WAN_FILES_PATH_MAX];
    snprintf(path, sizeof(path), "%s%s%s", dir, *sub ? "/" : "", sub);
    DIR *d = opendir(path);
    if (!d)
        return depth == 0 ? ST2V_ERR_IO : 0;
    int rc = 0;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char rel[WAN_FILES_PATH_MAX], full[3 * WAN_FILES_PATH_MAX];
        if ((size_t)snprintf(rel, sizeof(rel), "%s%s%s", sub, *sub ? "/" : "",
                             e->d_name) >= sizeof(rel))
            continue;
        snprintf(full, sizeof(full), "%s/%s", dir, rel);
        struct stat sb;
        if (stat(full, &sb) != 0)
            continue;
        if (S_ISREG(sb.st_mode))
            rc = list_add(l, rel);
        else if (S_ISDIR(sb.st_mode) && depth < MAX_DEPTH)
            rc = list_dir(l, dir, rel, depth + 1);
    }
    closedir(d);
    return rc;
}

static void list_free(listing *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->rel[i]);
    free(l->rel);
}

static const char *base_name(const char *rel)
{
    const char *s = strrchr(rel, '/');
    return s ? s + 1 : rel;
}

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && strcmp(s + n - k, tail) == 0;
}

/* The folder part of rel ("" at the top). */
static void dir_of(char *out, size_t size, const char *rel)
{
    const char *b = base_name(rel);
    snprintf(out, size, "%.*s", b > rel ? (int)(b - rel - 1) : 0, rel);
}

/* "dir/rel" */
static void join(char *out, size_t size, const char *dir, const char *rel)
{
    snprintf(out, size, "%s/%s", dir, rel);
}

/* ============================================================ headers */

/* A mapped file. */
struct wan_files_map {
    char rel[WAN_FILES_PATH_MAX];
    st_file st; /* every header field, dtype, shape and range checked */
};

/* Map dir/rel and check its header into m. */
static int map_file(wan_files_map *m, const char *dir, const char *rel,
                    char *err, size_t es)
{
    char path[2 * WAN_FILES_PATH_MAX], why[400];
    join(path, sizeof(path), dir, rel);
    snprintf(m->rel, sizeof(m->rel), "%s", rel);
    int rc = st_open(&m->st, path, why, sizeof(why));
    if (rc)
        st2v_fail(err, es, rc, "%s: %s", st2v_quote(rel).s, why);
    return rc;
}

static void unmap_file(wan_files_map *m)
{
    st_close(&m->st);
    memset(m, 0, sizeof(*m));
}

static const st_tensor *find(const wan_files_map *m, const char *name)
{
    return st_find(&m->st, name);
}

/* F32, F16 or BF16, what every part's loader reads */
static int is_16_32(st_dtype d)
{
    return d == ST_F32 || d == ST_F16 || d == ST_BF16;
}

/* A new, zeroed map slot at w->maps[w->n_maps] (the array may move). */
static wan_files_map *new_map(wan_files *w)
{
    if ((w->n_maps & (w->n_maps - 1)) == 0 || w->n_maps < 8) {
        size_t cap = w->n_maps < 8 ? 8 : 2 * (size_t)w->n_maps;
        wan_files_map *m = realloc(w->maps, cap * sizeof(*m));
        if (!m)
            return NULL;
        w->maps = m;
    }
    memset(&w->maps[w->n_maps], 0, sizeof(*w->maps));
    return &w->maps[w->n_maps++];
}

/* A whole small file (config.json, index.json, spiece.model) into *out. */
static int read_small(const char *dir, const char *rel, size_t max, char **out,
                      size_t *n, char *err, size_t es)
{
    char path[2 * WAN_FILES_PATH_MAX];
    join(path, sizeof(path), dir, rel);
    /* O_NONBLOCK: a FIFO is refused, not waited on */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (fd >= 0 && !f)
        close(fd);
    struct stat sb;
    if (!f || fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode) ||
        (uint64_t)sb.st_size > max) {
        if (f)
            fclose(f);
        return st2v_fail(err, es, f ? ST2V_ERR_FORMAT : ST2V_ERR_IO,
                         "cannot read %s (or larger than %zu bytes)", st2v_quote(rel).s,
                         max);
    }
    *out = malloc((size_t)sb.st_size + 1);
    *n = *out ? fread(*out, 1, (size_t)sb.st_size, f) : 0;
    fclose(f);
    if (!*out)
        return ST2V_ERR_NOMEM;
    (*out)[*n] = 0;
    return 0;
}

/* =============================================================== sets */

/* A safetensors file, or the shards of an index. */
typedef struct fileset {
    char rel[WAN_FILES_PATH_MAX]; /* the file, or the index.json */
    int first, n;                 /* its maps in the wan_files */
} fileset;

/* The shards an index names: unique plain file names beside it, each of
 * the weight_map's tensors in the shard it names (checked once mapped). */
static int read_index(wan_files *w, fileset *s, char *err, size_t es)
{
    char *text = NULL, dir[WAN_FILES_PATH_MAX];
    size_t n = 0;
    int rc = read_small(w->dir, s->rel, MAX_JSON, &text, &n, err, es);
    if (rc)
        return rc;
    cJSON *root = cJSON_ParseWithLength(text, n);
    free(text);
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(wm) || !wm->child) {
        cJSON_Delete(root);
        return st2v_fail(err, es, ST2V_ERR_FORMAT, "%s: no weight_map object",
                         st2v_quote(s->rel).s);
    }
    dir_of(dir, sizeof(dir), s->rel);
    s->first = w->n_maps;
    for (const cJSON *e = wm->child; !rc && e; e = e->next) {
        const char *shard = cJSON_GetStringValue(e);
        if (!shard || !*shard || strchr(shard, '/') || shard[0] == '.' ||
            !ends_with(shard, ".safetensors")) {
            rc =
                st2v_fail(err, es, ST2V_ERR_FORMAT,
                          "%s: tensor %s is in \"%s\", not a .safetensors "
                          "file beside the index",
                          st2v_quote(s->rel).s, st2v_quote(e->string).s, st2v_quote(shard ? shard : "").s);
            break;
        }
        char rel[WAN_FILES_PATH_MAX];
        if (strlen(dir) + strlen(shard) + 2 > sizeof(rel)) {
            rc = st2v_fail(err, es, ST2V_ERR_FORMAT,
                           "%s: a shard's path is "
                           "too long",
                           st2v_quote(s->rel).s);
            break;
        }
        snprintf(rel, sizeof(rel), "%.500s%s%.500s", dir, *dir ? "/" : "",
                 shard);
        int k = s->first;
        while (k < w->n_maps && strcmp(w->maps[k].rel, rel) != 0)
            k++;
        if (k == w->n_maps) {
            if (w->n_maps - s->first == MAX_SHARDS) {
                rc = st2v_fail(err, es, ST2V_ERR_FORMAT,
                               "%s: more than %d shards", st2v_quote(s->rel).s,
                               MAX_SHARDS);
                break;
            }
            wan_files_map *m = new_map(w);
            rc = m ? map_file(m, w->dir, rel, err, es) : ST2V_ERR_NOMEM;
        }
        const st_tensor *t = rc ? NULL : find(&w->maps[k], e->string);
        if (!rc && !t)
            rc = st2v_fail(err, es, ST2V_ERR_FORMAT,
                           "%s names tensor %s in %s, which lacks it",
                           st2v_quote(s->rel).s, st2v_quote(e->string).s, st2v_quote(rel).s);
    }
    s->n = w->n_maps - s->first;
    /* a tensor in two shards */
    for (int a = s->first; !rc && a < w->n_maps; a++)
        for (int b = a + 1; !rc && b < w->n_maps; b++)
            for (int i = 0; !rc && i < w->maps[a].st.n_tensors; i++)
                if (find(&w->maps[b], w->maps[a].st.tensors[i].name))
                    rc = st2v_fail(err, es, ST2V_ERR_FORMAT,
                                   "tensor %s is in both %s and %s",
                                   st2v_quote(w->maps[a].st.tensors[i].name).s,
                                   st2v_quote(w->maps[a].rel).s, st2v_quote(w->maps[b].rel).s);
    cJSON_Delete(root);
    return rc;
}

/* The tensor of a set with this full name, or NULL. */
static const st_tensor *set_find(const wan_files *w, const fileset *s,
                                 const char *name)
{
    for (int k = s->first; k < s->first + s->n; k++) {
        const st_tensor *t = find(&w->maps[k], name);
        if (t)
            return t;
    }
    return NULL;
}

/* ============================================================== parts */

/* How each layout of a part is told: its anchor tensor. */
static const struct {
    wan_part part;
    wan_layout layout;
    const char *anchor;
} ANCHORS[] = {
    {WAN_PART_DIT, WAN_LAYOUT_OFFICIAL, "blocks.0.self_attn.q.weight"},
    {WAN_PART_DIT, WAN_LAYOUT_DIFFUSERS, "blocks.0.attn1.to_q.weight"},
    {WAN_PART_VAE, WAN_LAYOUT_OFFICIAL, "decoder.conv1.weight"},
    {WAN_PART_VAE, WAN_LAYOUT_DIFFUSERS, "decoder.conv_in.weight"},
    {WAN_PART_T5, WAN_LAYOUT_OFFICIAL, "blocks.0.attn.q.weight"},
    {WAN_PART_T5, WAN_LAYOUT_HF,
     "encoder.block.0.layer.0.SelfAttention.q.weight"},
};

/* What the messages suggest for a missing part. */
static const char *const WANTED[WAN_N_PARTS] = {
    "diffusion_pytorch_model.safetensors or wan2.1_t2v_1.3B_bf16.safetensors",
    "Wan2.1_VAE.safetensors or wan_2.1_vae.safetensors",
    "models_t5_umt5-xxl-enc-bf16.safetensors or umt5_xxl_fp16.safetensors",
    "google/umt5-xxl/spiece.model or tokenizer.json",
};

const char *wan_part_name(wan_part p)
{
    static const char *const names[WAN_N_PARTS] = {
        "DiT", "VAE", "umT5 text encoder", "tokenizer"};
    return (unsigned)p < WAN_N_PARTS ? names[p] : "?";
}

/* Where a part lies: its set, layout and prefix. */
typedef struct place {
    const fileset *set;
    wan_layout layout;
    char prefix[ST_MAX_NAME];
} place;

/* Does set s hold part p? Fills *pl from the first anchor found (the
 * tensor named prefix + anchor, prefix empty or ending in '.'). */
static int holds(const wan_files *w, const fileset *s, wan_part p, place *pl)
{
    for (int k = s->first; k < s->first + s->n; k++) {
        const wan_files_map *m = &w->maps[k];
        for (int i = 0; i < m->st.n_tensors; i++)
            for (size_t a = 0; a < ST2V_ARRAY_SIZE(ANCHORS); a++) {
                const char *name = m->st.tensors[i].name,
                           *anc = ANCHORS[a].anchor;
                size_t n = strlen(name), k2 = strlen(anc);
                if (ANCHORS[a].part != p || n < k2 ||
                    strcmp(name + n - k2, anc) != 0 ||
                    (n > k2 && name[n - k2 - 1] != '.'))
                    continue;
                pl->set = s;
                pl->layout = ANCHORS[a].layout;
                snprintf(pl->prefix, sizeof(pl->prefix), "%.*s", (int)(n - k2),
                         name);
                return 1;
            }
    }
    return 0;
}

/* Does name start with prefix? The rest, or NULL. */
static const char *strip(const char *name, const char *prefix)
{
    size_t k = strlen(prefix);
    return strncmp(name, prefix, k) == 0 ? name + k : NULL;
}

/* The dtype problem of tensor t, if any: F32, F16 and BF16 are read, and
 * F8_E4M3 where fp8 (the umT5 encoder: ComfyUI's scaled fp8, which umt5.c
 * reads with its scale_weight); other F8 is unsupported, any other dtype
 * malformed. */
static int check_dtype(const st_tensor *t, int fp8, const char *part,
                       const char *file, char *err, size_t es)
{
    if (is_16_32(t->dtype) || (fp8 && t->dtype == ST_F8_E4M3))
        return 0;
    if (t->dtype == ST_F8_E4M3)
        return st2v_fail(err, es, ST2V_ERR_UNSUPPORTED,
                         "%s %s: tensor %s is F8_E4M3 (scaled fp8), which "
                         "st2v does not read for this part yet: use the "
                         "fp16 or bf16 file",
                         part, st2v_quote(file).s, st2v_quote(t->name).s);
    return st2v_fail(err, es, ST2V_ERR_FORMAT,
                     "%s %s: tensor %s is %s, expected F32, F16 or BF16", part,
                     st2v_quote(file).s, st2v_quote(t->name).s, st_dtype_name(t->dtype));
}

/* dst = t under `name`. */
static void view(st_tensor *dst, const st_tensor *t, const char *name)
{
    *dst = *t;
    snprintf(dst->name, sizeof(dst->name), "%s", name);
}

static int cmp_st(const void *a, const void *b)
{
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

/* f = a view over n tensors (already in f->tensors), sorted; its map is
 * the set's first file, so that wtensor.h may release pages. */
static void finish_view(st_file *f, const wan_files *w, const fileset *s)
{
    qsort(f->tensors, (size_t)f->n_tensors, sizeof(*f->tensors), cmp_st);
    f->map = w->maps[s->first].st.map;
    f->map_size = w->maps[s->first].st.map_size;
}

/* Every tensor of list spec, found in pl's set under the layout's name,
 * with a float dtype and exactly its shape, into f under its official
 * name. */
static int bind_specs(st_file *f, const wan_files *w, const place *pl,
                      const wan_tensor_spec *spec, int n, wan_part p, char *err,
                      size_t es)
{
    const char *pn = wan_part_name(p), *file = pl->set->rel;
    if (!(f->tensors = calloc((size_t)n, sizeof(*f->tensors))))
        return ST2V_ERR_NOMEM;
    int col = pl->layout == WAN_LAYOUT_DIFFUSERS ? WAN_NAMES_DIFFUSERS
                                                 : WAN_NAMES_OFFICIAL;
    for (int i = 0; i < n; i++) {
        char full[2 * ST_MAX_NAME], want[160], got[160];
        snprintf(full, sizeof(full), "%s%s", pl->prefix, spec[i].name[col]);
        const st_tensor *t = set_find(w, pl->set, full);
        if (!t)
            return st2v_fail(err, es, ST2V_ERR_FORMAT,
                             "%s %s: tensor %s is missing", pn, st2v_quote(file).s,
                             st2v_quote(full).s);
        int rc = check_dtype(t, 0, pn, file, err, es);
        if (rc)
            return rc;
        int same = t->ndim == spec[i].ndim;
        for (int d = 0; same && d < t->ndim; d++)
            same = t->shape[d] == spec[i].shape[d];
        if (!same) {
            st_format_shape(got, sizeof(got), t->shape, t->ndim);
            st_format_shape(want, sizeof(want), spec[i].shape, spec[i].ndim);
            return st2v_fail(err, es, ST2V_ERR_FORMAT,
                             "%s %s: tensor %s has shape %s, expected %s", pn,
                             st2v_quote(file).s, st2v_quote(full).s, got, want);
        }
        view(&f->tensors[f->n_tensors++], t, spec[i].name[WAN_NAMES_OFFICIAL]);
    }
    finish_view(f, w, pl->set);
    return 0;
}

/* bind_specs of the list that status rc says was made, then freed. */
static int bind_list(st_file *f, const wan_files *w, const place *pl, int rc,
                     wan_tensor_spec *spec, int n, wan_part p, char *err,
                     size_t es)
{
    if (!rc)
        rc = bind_specs(f, w, pl, spec, n, p, err, es);
    free(spec);
    return rc;
}

/* A config.json beside the set of kind (1 DiT, 2 VAE), read over *cfg. */
static int read_config(const wan_files *w, const listing *l, const place *pl,
                       int kind, void *cfg, char *err, size_t es)
{
    char dir[WAN_FILES_PATH_MAX], want[WAN_FILES_PATH_MAX + 16];
    dir_of(dir, sizeof(dir), pl->set->rel);
    snprintf(want, sizeof(want), "%s%sconfig.json", dir, *dir ? "/" : "");
    for (int i = 0; i < l->n; i++) {
        if (strcmp(l->rel[i], want) != 0)
            continue;
        char *text = NULL, why[400];
        size_t n = 0;
        int rc = read_small(w->dir, want, MAX_JSON, &text, &n, err, es);
        if (rc)
            return rc;
        if (wan_config_kind(text, n) == kind)
            rc = kind == 1
                     ? wan_dit_config_parse(cfg, text, n, why, sizeof(why))
                     : wan_vae_config_parse(cfg, text, n, why, sizeof(why));
        free(text);
        if (rc)
            return st2v_fail(err, es, rc, "%s: %s", st2v_quote(want).s, why);
    }
    return 0;
}

/* The shape dimension d of the part's tensor `name` (official or
 * Diffusers per layout), or -1. */
static int64_t dim_of(const wan_files *w, const place *pl, const char *off,
                      const char *dif, int ndim, int d)
{
    char full[2 * ST_MAX_NAME];
    snprintf(full, sizeof(full), "%s%s", pl->prefix,
             pl->layout == WAN_LAYOUT_DIFFUSERS ? dif : off);
    const st_tensor *t = set_find(w, pl->set, full);
    return t && t->ndim == ndim && t->shape[d] <= (1 << 20) ? t->shape[d] : -1;
}

/* The DiT's config from its shapes (Comfy's files have no config.json):
 * the width from patch_embedding, the layers from the highest block
 * number, num_heads = dim / 128 (Wan2.1's head width; it shapes no
 * tensor). A size that cannot be read stays at the 1.3B value, and the
 * check of the tensors then names it. */
static void dit_from_shapes(wan_dit_config *c, const wan_files *w,
                            const place *pl)
{
    int64_t v;
#define TAKE(field, off, dif, nd, d)                                           \
    if ((v = dim_of(w, pl, off, dif, nd, d)) > 0)                              \
        c->field = (int)v;
    TAKE(dim, "patch_embedding.weight", "patch_embedding.weight", 5, 0)
    TAKE(in_dim, "patch_embedding.weight", "patch_embedding.weight", 5, 1)
    TAKE(patch[0], "patch_embedding.weight", "patch_embedding.weight", 5, 2)
    TAKE(patch[1], "patch_embedding.weight", "patch_embedding.weight", 5, 3)
    TAKE(patch[2], "patch_embedding.weight", "patch_embedding.weight", 5, 4)
    TAKE(text_dim, "text_embedding.0.weight",
         "condition_embedder.text_embedder.linear_1.weight", 2, 1)
    TAKE(freq_dim, "time_embedding.0.weight",
         "condition_embedder.time_embedder.linear_1.weight", 2, 1)
    TAKE(ffn_dim, "blocks.0.ffn.0.weight", "blocks.0.ffn.net.0.proj.weight", 2,
         0)
#undef TAKE
    int64_t rows = dim_of(w, pl, "head.head.weight", "proj_out.weight", 2, 0);
    int64_t per = (int64_t)c->patch[0] * c->patch[1] * c->patch[2];
    if (rows > 0 && per > 0 && rows % per == 0)
        c->out_dim = (int)(rows / per);
    c->num_heads = c->dim % 128 == 0 ? c->dim / 128 : 1;
    int layers = 0;
    for (int k = pl->set->first; k < pl->set->first + pl->set->n; k++)
        for (int i = 0; i < w->maps[k].st.n_tensors; i++) {
            const char *r = strip(w->maps[k].st.tensors[i].name, pl->prefix);
            char *end;
            if (r && strncmp(r, "blocks.", 7) == 0 && r[7] >= '0' &&
                r[7] <= '9') {
                long b = strtol(r + 7, &end, 10);
                if (*end == '.' && b < 4096 && b + 1 > layers)
                    layers = (int)b + 1;
            }
        }
    if (layers > 0)
        c->num_layers = layers;
}

/* The DiT at pl: config (shapes, then config.json), every tensor. */
static int check_dit(wan_files *w, const listing *l, const place *pl, char *err,
                     size_t es)
{
    wan_dit_config c = wan_dit_config_1_3b();
    dit_from_shapes(&c, w, pl);
    int rc = read_config(w, l, pl, 1, &c, err, es);
    if (rc)
        return rc;
    char why[300];
    if ((rc = wan_dit_config_check(&c, why, sizeof(why))) != 0)
        return st2v_fail(err, es, rc, "DiT %s: %s", st2v_quote(pl->set->rel).s, why);
    char img[2 * ST_MAX_NAME];
    snprintf(img, sizeof(img), "%simg_emb.proj.0.weight", pl->prefix);
    if (set_find(w, pl->set, img))
        return st2v_fail(err, es, ST2V_ERR_UNSUPPORTED,
                         "DiT %s: an image-to-video model, which st2v does "
                         "not run yet",
                         st2v_quote(pl->set->rel).s);
    wan_tensor_spec *spec = NULL;
    int n = 0;
    w->dit_cfg = c;
    rc = wan_dit_tensors(&c, &spec, &n);
    return bind_list(&w->dit, w, pl, rc, spec, n, WAN_PART_DIT, err, es);
}

/* The VAE at pl: the defaults with z_dim and dim from the shapes, then
 * Diffusers' config.json; every tensor. */
static int check_vae(wan_files *w, const listing *l, const place *pl, char *err,
                     size_t es)
{
    wan_vae_config c = wan_vae_config_default();
    int64_t z = dim_of(w, pl, "conv2.weight", "post_quant_conv.weight", 5, 0);
    int64_t d =
        dim_of(w, pl, "decoder.head.2.weight", "decoder.conv_out.weight", 5, 1);
    if (z > 0)
        c.z_dim = (int)z;
    if (d > 0)
        c.dim = (int)d;
    int rc = read_config(w, l, pl, 2, &c, err, es);
    if (rc)
        return rc;
    char why[300];
    if ((rc = wan_vae_config_check(&c, why, sizeof(why))) != 0)
        return st2v_fail(err, es, rc, "VAE %s: %s", st2v_quote(pl->set->rel).s, why);
    wan_tensor_spec *spec = NULL;
    int n = 0;
    w->vae_cfg = c;
    rc = wan_vae_tensors(&c, &spec, &n);
    return bind_list(&w->vae, w, pl, rc, spec, n, WAN_PART_VAE, err, es);
}

/* Tensors a text-encoder file may carry beside the weights. */
static int t5_extra(const char *name)
{
    return strcmp(name, "spiece_model") == 0 || strcmp(name, "scaled_fp8") == 0;
}

/* The umT5 encoder at pl: every tensor under the prefix, float (scaled
 * FP8 refused), checked by umt5.c's own loader. */
static int check_t5(wan_files *w, const place *pl, char *err, size_t es)
{
    const char *pn = wan_part_name(WAN_PART_T5), *file = pl->set->rel;
    int total = 0;
    for (int k = pl->set->first; k < pl->set->first + pl->set->n; k++)
        total += w->maps[k].st.n_tensors;
    st_file *f = &w->t5;
    if (!(f->tensors = calloc((size_t)total + 1, sizeof(*f->tensors))))
        return ST2V_ERR_NOMEM;
    for (int k = pl->set->first; k < pl->set->first + pl->set->n; k++)
        for (int i = 0; i < w->maps[k].st.n_tensors; i++) {
            const st_tensor *t = &w->maps[k].st.tensors[i];
            const char *r = strip(t->name, pl->prefix);
            if (!r || t5_extra(t->name) || t5_extra(r))
                continue;
            int rc = check_dtype(t, 1, pn, file, err, es);
            if (rc)
                return rc;
            view(&f->tensors[f->n_tensors++], t, r);
        }
    finish_view(f, w, pl->set);
    char why[400];
    wan_umt5 *m = NULL;
    int rc = wan_umt5_config_from_file(&w->t5_cfg, f, NULL, why, sizeof(why));
    if (!rc)
        rc = wan_umt5_load(&m, f, NULL, &w->t5_cfg, why, sizeof(why));
    wan_umt5_free(m);
    if (rc)
        return st2v_fail(err, es, rc, "%s %s: %s%s", pn, st2v_quote(file).s,
                         *pl->prefix ? "(after the prefix) " : "", why);
    return 0;
}

/* ========================================================== the folder */

/* What was found where, before the checks. */
typedef struct survey {
    fileset *sets; /* (n_sets) */
    int n_sets;
    place at[WAN_N_PARTS - 1];        /* DiT, VAE, umT5: set NULL = none */
    const char *pth[WAN_N_PARTS - 1]; /* a pickle of the part, or NULL */
    const char *spiece;               /* spiece.model, or NULL */
    const char *tokenizer_json;       /* tokenizer.json, or NULL */
    int bad;           /* the first file that could not be read: */
    char bad_msg[512]; /* its status and message (said when a part
                          is missing: it may have been that part) */
} survey;

/* Is rel a shard of some index in the listing? (shards are read through
 * their index only) */
static int is_shard(const listing *l, const char *rel)
{
    char dir[WAN_FILES_PATH_MAX], d2[WAN_FILES_PATH_MAX];
    dir_of(dir, sizeof(dir), rel);
    for (int i = 0; i < l->n; i++) {
        if (!ends_with(l->rel[i], ".safetensors.index.json"))
            continue;
        dir_of(d2, sizeof(d2), l->rel[i]);
        /* an index claims the shards that share its stem */
        const char *b = base_name(l->rel[i]), *rb = base_name(rel);
        size_t stem = strlen(b) - strlen(".safetensors.index.json");
        if (strcmp(dir, d2) == 0 && strncmp(rb, b, stem) == 0 &&
            (rb[stem] == '-' || rb[stem] == '.'))
            return 1;
    }
    return 0;
}

static int has_word(const char *s, const char *w)
{
    for (size_t k = strlen(w); *s; s++)
        if (strncasecmp(s, w, k) == 0)
            return 1;
    return 0;
}

/* Map every set of the listing and place the parts (the first set in
 * path order holding each). */
static int survey_folder(wan_files *w, const listing *l, survey *sv)
{
    int n_st = 0;
    for (int i = 0; i < l->n; i++)
        n_st += ends_with(l->rel[i], ".safetensors") ||
                ends_with(l->rel[i], ".safetensors.index.json");
    if (!(sv->sets = calloc((size_t)n_st + 1, sizeof(*sv->sets))))
        return ST2V_ERR_NOMEM;
    for (int i = 0; i < l->n; i++) {
        const char *rel = l->rel[i], *b = base_name(rel);
        int rc = 0;
        char why[512] = "";
        if (ends_with(b, ".pth") || ends_with(b, ".pt")) {
            int p = has_word(b, "vae")  ? WAN_PART_VAE
                    : has_word(b, "t5") ? WAN_PART_T5
                                        : WAN_PART_DIT;
            if (!sv->pth[p])
                sv->pth[p] = rel;
        } else if (strcmp(b, "spiece.model") == 0) {
            if (!sv->spiece)
                sv->spiece = rel;
        } else if (strcmp(b, "tokenizer.json") == 0) {
            if (!sv->tokenizer_json)
                sv->tokenizer_json = rel;
        } else if (ends_with(b, ".safetensors.index.json")) {
            fileset *s = &sv->sets[sv->n_sets++];
            snprintf(s->rel, sizeof(s->rel), "%s", rel);
            rc = read_index(w, s, why, sizeof(why));
        } else if (ends_with(b, ".safetensors") && !is_shard(l, rel)) {
            fileset *s = &sv->sets[sv->n_sets++];
            snprintf(s->rel, sizeof(s->rel), "%s", rel);
            s->first = w->n_maps;
            s->n = 1;
            wan_files_map *m = new_map(w);
            rc =
                m ? map_file(m, w->dir, rel, why, sizeof(why)) : ST2V_ERR_NOMEM;
        }
        if (rc == ST2V_ERR_NOMEM)
            return rc;
        if (rc) { /* the set is dropped; its maps are freed at close */
            sv->n_sets--;
            if (!sv->bad) {
                sv->bad = rc;
                snprintf(sv->bad_msg, sizeof(sv->bad_msg), "%s", why);
            }
        }
    }
    for (int p = 0; p < WAN_N_PARTS - 1; p++)
        for (int i = 0; i < sv->n_sets && !sv->at[p].set; i++)
            holds(w, &sv->sets[i], (wan_part)p, &sv->at[p]);
    return 0;
}

/* The tokenizer: spiece.model, else the spiece_model tensor of the umT5
 * file, else Hugging Face's tokenizer.json. */
static int check_tokenizer(wan_files *w, const survey *sv, char *err, size_t es)
{
    const char *pn = wan_part_name(WAN_PART_TOKENIZER);
    char why[400];
    int rc;
    if (sv->spiece) {
        char *buf = NULL;
        size_t n = 0;
        if ((rc = read_small(w->dir, sv->spiece, MAX_SPIECE, &buf, &n, err,
                             es)) != 0)
            return rc;
        rc = spm_load(&w->tokenizer, buf, n, why, sizeof(why));
        free(buf);
        snprintf(w->file[WAN_PART_TOKENIZER], WAN_FILES_PATH_MAX, "%s",
                 sv->spiece);
        if (rc)
            return st2v_fail(err, es, rc, "%s %s: %s", pn, st2v_quote(sv->spiece).s,
                             why);
        return 0;
    }
    const place *t5 = &sv->at[WAN_PART_T5];
    char name[2 * ST_MAX_NAME];
    snprintf(name, sizeof(name), "%sspiece_model", t5->set ? t5->prefix : "");
    const st_tensor *t = t5->set ? set_find(w, t5->set, name) : NULL;
    if (!t && t5->set)
        t = set_find(w, t5->set, "spiece_model");
    if (t) {
        snprintf(w->file[WAN_PART_TOKENIZER], WAN_FILES_PATH_MAX,
                 "%.900s:spiece_model", t5->set->rel);
        if (t->dtype != ST_U8 && t->dtype != ST_I8)
            return st2v_fail(err, es, ST2V_ERR_FORMAT,
                             "%s %s: tensor spiece_model is %s, expected U8",
                             pn, st2v_quote(t5->set->rel).s, st_dtype_name(t->dtype));
        rc = spm_load(&w->tokenizer, t->data, (size_t)t->numel, why,
                      sizeof(why));
        if (rc)
            return st2v_fail(err, es, rc, "%s in %s: %s", pn, st2v_quote(t5->set->rel).s,
                             why);
        return 0;
    }
    if (sv->tokenizer_json) {
        char *buf = NULL;
        size_t n = 0;
        if ((rc = read_small(w->dir, sv->tokenizer_json, MAX_SPIECE, &buf, &n,
                             err, es)) != 0)
            return rc;
        rc = spm_load_hf_json(&w->tokenizer, buf, n, why, sizeof(why));
        free(buf);
        snprintf(w->file[WAN_PART_TOKENIZER], WAN_FILES_PATH_MAX, "%s",
                 sv->tokenizer_json);
        if (rc)
            return st2v_fail(err, es, rc, "%s %s: %s", pn,
                             st2v_quote(sv->tokenizer_json).s, why);
        return 0;
    }
    return 1; /* missing */
}

/* ============================================================ messages */

/* "f32", "f16", "bf16", "scaled fp8" (any F8 weight), else "mixed". */
static const char *dtype_word(const st_file *f)
{
    static const char *const names[] = {"f32", "f16", "bf16"};
    int mixed = 0;
    for (int i = 0; i < f->n_tensors; i++) {
        if (f->tensors[i].dtype == ST_F8_E4M3)
            return "scaled fp8";
        mixed |= f->tensors[i].dtype != f->tensors[0].dtype;
    }
    if (f->n_tensors == 0 || mixed || !is_16_32(f->tensors[0].dtype))
        return "mixed";
    return names[f->tensors[0].dtype];
}

/* "DiT official bf16 (825 tensors)" and the like. */
static size_t describe(char *buf, size_t size, const wan_files *w,
                       const survey *sv, wan_part p)
{
    static const char *const layouts[] = {"official", "Diffusers", "HF names"};
    const st_file *f = p == WAN_PART_DIT   ? &w->dit
                       : p == WAN_PART_VAE ? &w->vae
                                           : &w->t5;
    if (p == WAN_PART_TOKENIZER)
        return (size_t)snprintf(buf, size, "tokenizer %s (%d pieces)",
                                sv->spiece ? "spiece.model"
                                : strchr(w->file[p], ':')
                                    ? "inside the umT5 file"
                                    : "tokenizer.json",
                                spm_vocab_size(w->tokenizer));
    const place *pl = &sv->at[p];
    char shards[32] = "";
    if (pl->set->n > 1)
        snprintf(shards, sizeof(shards), " in %d shards", pl->set->n);
    return (size_t)snprintf(buf, size, "%s %s%s%s %s (%d tensors%s)",
                            p == WAN_PART_T5 ? "umT5" : wan_part_name(p),
                            layouts[w->layout[p]], *pl->prefix ? " under " : "",
                            st2v_quote(pl->prefix).s, dtype_word(f), f->n_tensors,
                            shards);
}

static void model_name(char *buf, size_t size, const wan_dit_config *c)
{
    if (c->dim == 1536 && c->num_layers == 30)
        snprintf(buf, size, "Wan2.1 T2V 1.3B");
    else if (c->dim == 5120 && c->num_layers == 40)
        snprintf(buf, size, "Wan2.1 T2V 14B");
    else
        snprintf(buf, size, "Wan2.1 T2V (dim %d, %d layers)", c->dim,
                 c->num_layers);
}

/* The parts' configs against each other. */
static int cross_check(const wan_files *w, char *err, size_t es)
{
    const wan_dit_config *d = &w->dit_cfg;
    if (d->text_dim != w->t5_cfg.dim)
        return st2v_fail(err, es, ST2V_ERR_FORMAT,
                         "the DiT reads text of width %d but the umT5 "
                         "encoder %s is %d wide",
                         d->text_dim, st2v_quote(w->file[WAN_PART_T5]).s, w->t5_cfg.dim);
    if (d->in_dim != w->vae_cfg.z_dim || d->out_dim != w->vae_cfg.z_dim)
        return st2v_fail(err, es, ST2V_ERR_FORMAT,
                         "the DiT takes %d latent channels and gives %d, but "
                         "the VAE %s has %d",
                         d->in_dim, d->out_dim, st2v_quote(w->file[WAN_PART_VAE]).s,
                         w->vae_cfg.z_dim);
    if (spm_vocab_size(w->tokenizer) > w->t5_cfg.vocab)
        return st2v_fail(err, es, ST2V_ERR_FORMAT,
                         "the tokenizer %s has %d pieces, more than the %d "
                         "rows of the umT5 embedding",
                         st2v_quote(w->file[WAN_PART_TOKENIZER]).s,
                         spm_vocab_size(w->tokenizer), w->t5_cfg.vocab);
    return 0;
}

/* ============================================================== open */

static int check_all(wan_files *w, const listing *l, survey *sv, int *n_parts,
                     char *msg, size_t ms)
{
    int rc = survey_folder(w, l, sv);
    if (rc)
        return rc;
    for (int p = 0; p < WAN_N_PARTS - 1; p++)
        *n_parts += sv->at[p].set || sv->pth[p];
    *n_parts += sv->spiece || sv->tokenizer_json ||
                (sv->at[WAN_PART_T5].set &&
                 set_find(w, sv->at[WAN_PART_T5].set, "spiece_model"));
    int missing[WAN_N_PARTS] = {0};
    for (int p = 0; p < WAN_N_PARTS - 1; p++) {
        const place *pl = &sv->at[p];
        if (!pl->set) {
            if (sv->pth[p])
                return st2v_fail(
                    msg, ms, ST2V_ERR_UNSUPPORTED,
                    "the %s %s is a pickle, which st2v does not read: "
                    "convert it once with st2v-convert '%s/%s' "
                    "(scripts/st2v-convert in the source tree; it "
                    "writes the .safetensors beside it)",
                    wan_part_name((wan_part)p), st2v_quote(sv->pth[p]).s, st2v_quote(w->dir).s,
                    st2v_quote(sv->pth[p]).s);
            missing[p] = 1;
            continue;
        }
        snprintf(w->file[p], WAN_FILES_PATH_MAX, "%s", pl->set->rel);
        w->layout[p] = pl->layout;
        rc = p == WAN_PART_DIT   ? check_dit(w, l, pl, msg, ms)
             : p == WAN_PART_VAE ? check_vae(w, l, pl, msg, ms)
                                 : check_t5(w, pl, msg, ms);
        if (rc)
            return rc;
    }
    rc = check_tokenizer(w, sv, msg, ms);
    if (rc < 0)
        return rc;
    missing[WAN_PART_TOKENIZER] = rc == 1;

    /* what was found, then what is missing */
    char found[1024] = "";
    size_t at = 0;
    for (int p = 0; p < WAN_N_PARTS; p++) {
        if (missing[p] || at >= sizeof(found))
            continue;
        if (at)
            at += (size_t)snprintf(found + at, sizeof(found) - at, ", ");
        if (at < sizeof(found))
            at += describe(found + at, sizeof(found) - at, w, sv, (wan_part)p);
    }
    int n_missing = 0;
    char lack[1024] = "";
    at = 0;
    for (int p = 0; p < WAN_N_PARTS; p++)
        if (missing[p] && at < sizeof(lack))
            at += (size_t)snprintf(lack + at, sizeof(lack) - at, "%s%s (%s)",
                                   n_missing++ ? ", " : "",
                                   wan_part_name((wan_part)p), WANTED[p]);
    if (n_missing && sv->bad)
        return st2v_fail(msg, ms, sv->bad, "%s", sv->bad_msg);
    if (n_missing)
        return st2v_fail(msg, ms, ST2V_ERR_FORMAT, "%s: %s%s; missing the %s",
                         st2v_quote(w->dir).s, *found ? "found " : "no Wan2.1 files",
                         found, lack);
    if ((rc = cross_check(w, msg, ms)) != 0)
        return rc;
    char name[64];
    model_name(name, sizeof(name), &w->dit_cfg);
    snprintf(msg, ms, "%s: %s", name, found);
    return 0;
}

int wan_files_open(wan_files **out, const char *path, int *n_parts, char *msg,
                   size_t msg_size)
{
    int found = 0;
    if (n_parts)
        *n_parts = 0;
    if (!out || !path)
        return st2v_fail(msg, msg_size, ST2V_ERR_INVALID_ARG,
                         "wan_files_open: no path");
    *out = NULL;
    wan_files *w = calloc(1, sizeof(*w));
    if (!w)
        return ST2V_ERR_NOMEM;
    listing l = {0};
    struct stat sb;
    int rc = 0;
    if (stat(path, &sb) != 0) {
        rc = st2v_fail(msg, msg_size, ST2V_ERR_IO, "cannot read %s: %s",
                       st2v_quote(path).s, strerror(errno));
    } else if (S_ISDIR(sb.st_mode)) {
        snprintf(w->dir, sizeof(w->dir), "%s", path);
        if ((rc = list_dir(&l, path, "", 0)) == ST2V_ERR_IO)
            rc = st2v_fail(msg, msg_size, rc, "cannot list %s", st2v_quote(path).s);
    } else { /* one file: its folder, listing only it */
        dir_of(w->dir, sizeof(w->dir), path);
        if (!*w->dir)
            snprintf(w->dir, sizeof(w->dir), ".");
        rc = list_add(&l, base_name(path));
    }
    if (!rc && l.n > 1)
        qsort(l.rel, (size_t)l.n, sizeof(*l.rel), cmp_str);
    survey sv;
    memset(&sv, 0, sizeof(sv));
    if (!rc)
        rc = check_all(w, &l, &sv, &found, msg, msg_size);
    if (n_parts)
        *n_parts = found;
    if (rc == ST2V_ERR_NOMEM)
        st2v_fail(msg, msg_size, rc, "out of memory reading %s", st2v_quote(path).s);
    free(sv.sets);
    list_free(&l);
    if (rc) {
        wan_files_close(w);
        return rc;
    }
    *out = w;
    return 0;
}

void wan_files_close(wan_files *w)
{
    if (!w)
        return;
    free(w->dit.tensors);
    free(w->vae.tensors);
    free(w->t5.tensors);
    spm_free(w->tokenizer);
    for (int i = 0; i < w->n_maps; i++)
        unmap_file(&w->maps[i]);
    free(w->maps);
    free(w);
}
