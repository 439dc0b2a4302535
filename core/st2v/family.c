/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * family.c - the st2v world model (docs/model-format.md) as a family of
 * core/arch.h: how it is recognised (one .safetensors file whose
 * __metadata__.format is "st2v", alone or as the only such file of a
 * folder), its capabilities, and each call of the table mapped onto its
 * tokenizer, text encoder, DiT and autoencoder. Not here: the loader
 * (model.c) and the mathematics (text_encoder.c, dit.c, vae.c).
 */
#include "family.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "cost.h"
#include "dit.h"
#include "escape.h"
#include "guidance.h"
#include "text_encoder.h"
#include "tokenizer.h"
#include "vae.h"

/* ======================================================= conditioning */

void st2v_cond_free(st2v_cond *c)
{
    if (!c)
        return;
    st2v_free(c->kv);
    c->kv = NULL;
    c->n = 0;
}

int st2v_cond_encode(st2v_cond *c, const st2v_world *m, st2v_pool *pool,
                     const int32_t *ids, int n)
{
    const st2v_config *cf = &m->cfg;
    if (n < 1 || n > cf->max_length)
        return ST2V_ERR_INVALID_ARG;
    float *text = st2v_alloc_floats((size_t)n * cf->text_dim); /* (n, Dt) */
    float *kv = st2v_alloc_floats(st2v_dit_text_floats(m, n));
    /* kv: (layers, n, 2D), then pooled (D) with dit.text_pool */
    int rc = ST2V_ERR_NOMEM;
    if (text && kv) {
        rc = st2v_text_encode(m, pool, ids, n, text);
        if (rc == 0)
            rc = st2v_dit_prepare_text(m, pool, text, n, kv);
    }
    st2v_free(text);
    if (rc != 0) {
        st2v_free(kv);
        return rc;
    }
    st2v_cond_free(c);
    c->kv = kv;
    c->n = n;
    return 0;
}

const st2v_world *st2v_world_of(const st2v_model *m)
{
    return m && m->arch == &st2v_arch_world ? m->impl : NULL;
}

int st2v_model_load_memory(st2v_model **out, const void *buf, size_t size,
                           char *err, size_t err_size)
{
    if (!out)
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "st2v_model_load_memory: out is NULL");
    *out = NULL;
    st2v_world *w = NULL;
    int rc = st2v_world_load_memory(&w, buf, size, err, err_size);
    if (rc != 0)
        return rc;
    st2v_arch_caps caps;
    const st2v_arch *a = &st2v_arch_world;
    void *impl = w;
    st2v_model_info info;
    st2v_model_params p = st2v_model_default_params();
    if ((rc = a->load(&impl, NULL, NULL, &p, &info, &caps, err, err_size)))
        return rc;
    if ((rc = st2v_model_adopt(out, a, impl, &p, &info, &caps)))
        return st2v_fail(err, err_size, rc, "out of memory");
    return 0;
}

/* ========================================================= detection */

/* Is path a safetensors file of format "st2v"? (Its loader checks the
 * rest.) */
static int is_world_file(const char *path)
{
    st_file f;
    if (st_open(&f, path, NULL, 0) != 0)
        return 0;
    const char *format = st_metadata(&f, "format");
    int yes = format && strcmp(format, "st2v") == 0;
    st_close(&f);
    return yes;
}

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && strcmp(s + n - k, tail) == 0;
}

/* The st2v model files at the top of a folder: their count, and the
 * first one's relative path in first. */
static int world_files(const st2v_folder *folder, const char **first)
{
    int n = 0;
    for (int i = 0; i < folder->n; i++) {
        const char *rel = folder->files[i].path;
        char full[4096];
        if (strchr(rel, '/') || !ends_with(rel, ".safetensors") ||
            !st2v_folder_join(full, sizeof(full), folder->dir, rel) ||
            !is_world_file(full))
            continue;
        if (n++ == 0)
            *first = rel;
    }
    return n;
}

static void world_detect(const char *path, const st2v_folder *folder,
                         st2v_detect *out)
{
    if (!folder) {
        out->found = out->complete = is_world_file(path);
        snprintf(out->what, sizeof(out->what), "an st2v model file");
        return;
    }
    const char *first = NULL;
    int n = world_files(folder, &first);
    char q[160];
    out->found = n;
    out->complete = n == 1;
    if (n == 1)
        snprintf(out->what, sizeof(out->what), "the st2v model file %s",
                 st2v_escape(q, sizeof(q), first));
    else if (n > 1)
        snprintf(out->what, sizeof(out->what),
                 "%d st2v model files (%s, ...): give the one to load", n,
                 st2v_escape(q, sizeof(q), first));
}

/* ============================================================ the calls */

static void world_caps(const st2v_world *w, st2v_arch_caps *caps)
{
    const st2v_config *c = &w->cfg;
    memset(caps, 0, sizeof(*caps));
    /* the DiT's latent: the autoencoder's channels, then dit.extra_channels
     * (sampled with them, dropped by decode_frame) */
    caps->latent_channels = c->dit_channels;
    caps->spatial_factor = c->s;
    caps->frames_per_latent = c->ft;
    caps->first_frames = c->ft;
    caps->temporal_patch = c->patch[0];
    caps->window = c->window;
    caps->context = c->context;
    caps->max_text_tokens = c->max_length;
    /* an image is one clean latent frame: it needs patches 1 frame deep */
    caps->flags = ST2V_ARCH_ENDLESS | (c->patch[0] == 1 ? ST2V_ARCH_IMAGE : 0);
}

/* Loads path (or the st2v file of a folder); with path NULL, *impl is an
 * already loaded st2v_world to describe (st2v_model_load_memory). */
static int world_load(void **impl, const char *path, const st2v_folder *folder,
                      const st2v_model_params *params, st2v_model_info *info,
                      st2v_arch_caps *caps, char *err, size_t err_size)
{
    st2v_world *w = path ? NULL : *impl;
    if (path) {
        char full[4096];
        const char *first = NULL;
        if (folder && (world_files(folder, &first) != 1 ||
                       !st2v_folder_join(full, sizeof(full), folder->dir,
                                         first)))
            return st2v_fail(err, err_size, ST2V_ERR_INTERNAL,
                             "the st2v model file of the folder is gone");
        int rc = st2v_world_load(&w, folder ? full : path, params, err,
                                 err_size);
        if (rc != 0)
            return rc;
    }
    *impl = w;
    *info = w->info;
    world_caps(w, caps);
    return 0;
}

static void world_free(void *impl)
{
    st2v_world_free(impl);
}

static int world_encode_text(const void *impl, st2v_pool *pool,
                             const char *text, void **cond)
{
    const st2v_world *w = impl;
    int32_t *ids = malloc((size_t)w->cfg.max_length * sizeof(int32_t));
    st2v_cond *c = calloc(1, sizeof(*c));
    int rc = ST2V_ERR_NOMEM;
    if (ids && c) {
        int n = st2v_tokenize(w->tok, text, ids);
        rc = st2v_cond_encode(c, w, pool, ids, n);
    }
    free(ids);
    if (rc != 0) {
        free(c);
        return rc;
    }
    *cond = c;
    return 0;
}

static void world_cond_free(void *cond)
{
    st2v_cond_free(cond);
    free(cond);
}

/* The guidance pair as one batched DiT forward. */
static int world_velocity(const void *impl, st2v_pool *pool,
                          const st2v_velocity_call *c)
{
    const st2v_world *w = impl;
    const float *kv[2];
    int n[2];
    if (c->n < 1 || c->n > 2)
        return ST2V_ERR_INVALID_ARG;
    if (c->cancel && atomic_load(c->cancel) != 0)
        return ST2V_ERR_CANCELLED;
    for (int i = 0; i < c->n; i++) {
        const st2v_cond *cd = c->cond[i];
        if (!cd || !cd->kv)
            return ST2V_ERR_INVALID_ARG;
        kv[i] = cd->kv;
        n[i] = cd->n;
    }
    return st2v_dit_forward_batch(w, pool, c->n, c->v, c->x, c->T, c->Hl,
                                  c->Wl, c->t, 0, kv, n);
}

/* --------------------------------------------------------- decoding */

typedef struct world_decoder {
    const st2v_world *w;
    st2v_vae_stream *s;
    int Hl, Wl;
} world_decoder;

static void world_decoder_free(void *dec)
{
    world_decoder *d = dec;
    if (!d)
        return;
    st2v_vae_stream_free(d->s);
    free(d);
}

static int world_decoder_new(void **dec, const void *impl, int Hl, int Wl)
{
    world_decoder *d = calloc(1, sizeof(*d));
    if (!d)
        return ST2V_ERR_NOMEM;
    d->w = impl;
    d->Hl = Hl;
    d->Wl = Wl;
    int rc = st2v_vae_stream_new(&d->s, d->w, Hl, Wl);
    if (rc != 0) {
        world_decoder_free(d);
        return rc;
    }
    *dec = d;
    return 0;
}

static void world_decoder_reset(void *dec)
{
    st2v_vae_stream_reset(((world_decoder *)dec)->s);
}

/* z (Cz + R, Hl, Wl) normalised: its first Cz channels denormalised in
 * place, then decoded; the R extra channels (dit.extra_channels) are not
 * read. */
static int world_decode_frame(void *dec, st2v_pool *pool, float *z,
                              float *rgb, int *n_frames)
{
    world_decoder *d = dec;
    const st2v_config *cf = &d->w->cfg;
    const size_t frame = (size_t)d->Hl * d->Wl;
    for (int c = 0; c < cf->z_channels; c++)
        for (size_t i = 0; i < frame; i++)
            z[c * frame + i] = z[c * frame + i] * cf->latent_std[c] +
                               cf->latent_mean[c];
    *n_frames = cf->ft;
    return st2v_vae_decode_frame(d->s, pool, z, rgb);
}

/* The image repeated over the ft frames of one latent frame, encoded and
 * normalised: z (Cz + R, Hl, Wl), the R extra channels (dit.extra_channels,
 * which an image does not tell) at 0, their mean in training. */
static int world_encode_image(const void *impl, st2v_pool *pool,
                              const uint8_t *px, int W, int H, float *z)
{
    const st2v_world *w = impl;
    const st2v_config *cf = &w->cfg;
    const size_t npix = (size_t)W * H;
    float *rgb = st2v_alloc_floats((size_t)3 * cf->ft * npix); /* (3, ft, H, W) */
    if (!rgb)
        return ST2V_ERR_NOMEM;
    for (int c = 0; c < 3; c++)
        for (int f = 0; f < cf->ft; f++)
            for (size_t i = 0; i < npix; i++)
                rgb[((size_t)c * cf->ft + f) * npix + i] =
                    (float)px[3 * i + c] / 127.5f - 1.0f;
    int rc = st2v_vae_encode(w, pool, rgb, 1, H, W, z);
    st2v_free(rgb);
    if (rc != 0)
        return rc;
    const size_t frame = (size_t)(H / cf->s) * (W / cf->s);
    for (int c = 0; c < cf->z_channels; c++)
        for (size_t i = 0; i < frame; i++)
            z[c * frame + i] = (z[c * frame + i] - cf->latent_mean[c]) /
                               cf->latent_std[c];
    memset(z + (size_t)cf->z_channels * frame, 0,
           (size_t)cf->extra_channels * frame * sizeof(float));
    return 0;
}

static void world_cost(const void *impl, int W, int H, int64_t frames,
                       int calls, int passes, int n_text, st2v_cost *out)
{
    const st2v_world *w = impl;
    st2v_cost_estimate(&w->cfg, W, H, frames, calls, passes, n_text, out);
}

const st2v_arch st2v_arch_world = {
    .name = "st2v",
    .wants = "one .safetensors file of format \"st2v\"",
    .detect = world_detect,
    .load = world_load,
    .free = world_free,
    .encode_text = world_encode_text,
    .cond_free = world_cond_free,
    .velocity = world_velocity,
    .decoder_new = world_decoder_new,
    .decoder_reset = world_decoder_reset,
    .decoder_free = world_decoder_free,
    .decode_frame = world_decode_frame,
    .encode_image = world_encode_image,
    .cost = world_cost,
};
