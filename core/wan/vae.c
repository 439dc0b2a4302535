/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vae.c - Wan2.1's VAE decoder, streaming (vae.h; the reference is
 * train/wan/vae.py). Dimension key: Z = z_dim (16), C a width, T frames of
 * the current chunk at a level (1, 2 or 4), level l = spatial scale 2^l of
 * the latent grid (hl x wl cells), hw = pixels of a frame at that level.
 * Activations are frame-major, (T, C, hw), as st2v_op_conv_causal reads
 * them.
 *
 *   x (1, Z, hw0)  = conv2(z * std + mean)                  (pointwise)
 *   x (1, C0, hw0) = conv1(x)                               (causal 3^3)
 *   middle: ResBlock, AttentionBlock (one frame, one head), ResBlock
 *   stage i (level i): num_res_blocks + 1 ResBlocks; then, but after the
 *     last stage: upsample3d's time_conv (T -> 2T, skipped on chunk 0) and
 *     per frame nearest 2x + 3x3 conv C -> C/2 (level i + 1)
 *   head: RMS norm, SiLU, causal 3^3 conv -> (T, 3, hw) -> rgb (3, T, hw)
 *
 * The stages after the last time_conv (the "tail": stages 2 and 3, at 4x
 * and 8x the latent size) and the head run one frame at a time: their
 * layers are causal convs and per-frame ops, so this is the same
 * arithmetic, bit for bit, with a quarter of the largest activations.
 *
 * Causal caches: every 3-tap conv (conv1, the two of each ResBlock, each
 * time_conv, the head: 32 at the real config; vae.py's 33 slots count the
 * 1x1x1 shortcut too, which never uses its slot) keeps the last 2 frames
 * of its input, (2, cin, hw) at its level, zeros at the start of a clip.
 * A conv's input window is (2 + T, cin, hw): the cache, then the chunk's
 * T frames; afterwards the cache is the window's last 2 frames. The
 * time_conv's cache stays zeros through chunk 0 (where vae.py marks it
 * 'Rep' and does not run the conv), which is exactly its zero padding at
 * chunk 1.
 *
 * Convolutions: 3x3x3 and 3x3 as an im2col of a block of 256 pixels and
 * one sgemm over all output channels (the layout of ops.c's
 * st2v_op_conv_causal, with blocks 8x wider for Wan's 96-384 channels);
 * 1x1 (conv2, shortcuts) and time_conv (3,1,1) as sgemms over pixel
 * blocks; the attention's 1x1 convs as linears
 * over the frame's pixels (st2v_op_linear, st2v_op_attention). Every
 * task's bounds come from the sizes alone: bit-identical for any pool.
 *
 * Not here: the encoder, tiling in space, the DiT, video writing.
 */
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ops.h"
#include "wan/vae.h"
#include "wtensor.h"

/* From OpenBLAS (declared here in case the cblas.h found is another one). */
void openblas_set_num_threads(int num_threads);

#define CACHE_T 2     /* frames a 3-tap causal conv keeps */
#define PIX_BLOCK 256 /* pixels per task of every conv: an im2col block of
                         K x 256 (K = 27 cin, up to 2.7 M floats), so
                         that each sgemm has 256 columns; ops.c's
                         st2v_op_conv_causal cuts blocks of 2^17 floats,
                         32 pixels at these widths, and runs at 55-65% of
                         sgemm's speed here against 85-100% */
#define MAX_FRAMES 16 /* frames per chunk this code allows (4 at the real
                         config: 2 temporal upsamplings) */

/* WanVAE.__init__'s latent statistics (z_dim 16). */
static const float LATENT_MEAN[16] = {
    -0.7571f, -0.7089f, -0.9113f, 0.1075f, -0.1745f, 0.9653f,
    -0.1517f, 1.5508f,  0.4134f,  -0.0715f, 0.5517f, -0.3632f,
    -0.1922f, -0.9497f, 0.2503f,  -0.2921f};
static const float LATENT_STD[16] = {
    2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f, 2.6052f, 2.0743f,
    3.2687f, 2.1526f, 2.8652f, 1.5579f, 1.6382f, 1.1253f, 2.8251f, 1.9160f};

/* ============================================================ model */

/* A 1x1 convolution: out (cout, hw) = w (cout, cin) x (cin, hw) + b. */
typedef struct pw_conv {
    const float *w; /* (cout, cin) */
    const float *b; /* (cout) */
    int cout, cin;
} pw_conv;

typedef struct resblock {
    const float *g1; /* (cin) */
    const float *g2; /* (cout) */
    st2v_conv c1;    /* (cout, cin, 3, 3, 3) */
    st2v_conv c2;    /* (cout, cout, 3, 3, 3) */
    pw_conv sc;      /* (cout, cin); w NULL when cin == cout */
    int slot1, slot2;
} resblock;

typedef struct attnblock {
    const float *g;   /* (C) */
    st2v_linear qkv;  /* (3C, C) */
    st2v_linear proj; /* (C, C) */
    int C;
} attnblock;

enum { UP_NONE = 0, UP_2D, UP_3D };

typedef struct stage {
    int cin, cout; /* widths of its first ResBlock's input, of its output */
    resblock *res; /* (num_res_blocks + 1) */
    int up;        /* UP_NONE (the last stage), UP_2D, UP_3D */
    const float *tw; /* (3, 2 cout, cout): time_conv, tap-major */
    const float *tb; /* (2 cout) */
    int tslot;
    st2v_conv rs; /* (cout / 2, cout, 1, 3, 3): the 3x3 after the 2x */
} stage;

/* A causal cache: (2, cin, hw at level). */
typedef struct slot_info {
    int cin, level;
} slot_info;

struct wan_vae {
    wan_vae_config cfg;
    pw_conv conv2;     /* (Z, Z) */
    st2v_conv conv1;   /* (C0, Z, 3, 3, 3) */
    int conv1_slot;
    resblock mid[2];   /* (C0 -> C0) */
    attnblock attn;    /* (C0) */
    stage st[WAN_VAE_STAGES];
    resblock *res_mem; /* every stage's ResBlocks */
    const float *head_g; /* (C_last) */
    st2v_conv head;      /* (3, C_last, 3, 3, 3) */
    int head_slot;
    slot_info *slots; /* (n_slots) */
    int n_slots;
    int n_up3d;       /* temporal upsamplings */
    int tail;         /* the first stage after the last time_conv: from
                         it on, every layer runs one frame at a time */
    float *mem;       /* every weight, float32 */
};

const wan_vae_config *wan_vae_get_config(const wan_vae *m)
{
    return &m->cfg;
}

int wan_vae_frames_per_latent(const wan_vae *m, int first)
{
    return first ? 1 : 1 << m->n_up3d;
}

/* ============================================================ loading */

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_single_thread(void)
{
    /* libst2v runs its own thread pool: OpenBLAS must not add its own */
    openblas_set_num_threads(1);
}

typedef struct loader {
    const st_file *f;
    const char *prefix;
    float *mem; /* bump allocator over m->mem */
    size_t used, cap;
    char *err;
    size_t es;
    int st;
} loader;

/* The tensor prefix + name with exactly shape (s0, ..) (ndim sizes),
 * widened to float32 into the model's memory; NULL with L->st and the
 * message set otherwise (and on every later call). */
static float *take(loader *L, const char *name, int ndim, int64_t s0,
                   int64_t s1, int64_t s2, int64_t s3, int64_t s4)
{
    if (L->st)
        return NULL;
    char full[ST_MAX_NAME];
    snprintf(full, sizeof(full), "%s%s", L->prefix, name);
    const int64_t want[WAN_MAX_DIMS] = {s0, s1, s2, s3, s4};
    const st_tensor *t;
    if ((L->st = st_expect(&t, L->f, full, ndim, want, L->err, L->es)) != 0)
        return NULL;
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16) {
        L->st = st2v_fail(L->err, L->es, ST2V_ERR_FORMAT,
                          "tensor %s: dtype %s, expected F32, F16 or BF16",
                          full, st_dtype_name(t->dtype));
        return NULL;
    }
    if (t->numel > L->cap - L->used) {
        L->st = st2v_fail(L->err, L->es, ST2V_ERR_INTERNAL,
                          "tensor %s: more weights than the config's", full);
        return NULL;
    }
    float *dst = L->mem + L->used;
    st2v_widen(dst, t->data, t->dtype, (int64_t)t->numel);
    if (L->f->map) /* the file's pages are not read again: out of the RSS */
        st2v_release_pages(t->data, (size_t)t->numel * st_dtype_size(t->dtype));
    L->used += t->numel;
    return dst;
}

/* A conv's weight (cout, cin, kt, 3, 3) (kt 0: a 2-D (cout, cin, 3, 3))
 * and bias under name prefix o. */
static void take_conv(loader *L, st2v_conv *c, const char *o, int cout,
                      int cin, int kt)
{
    char n[WAN_NAME_MAX + 16];
    snprintf(n, sizeof(n), "%s.weight", o);
    c->w = kt ? take(L, n, 5, cout, cin, kt, 3, 3)
              : take(L, n, 4, cout, cin, 3, 3, 0);
    snprintf(n, sizeof(n), "%s.bias", o);
    c->b = take(L, n, 1, cout, 0, 0, 0, 0);
    c->cout = cout;
    c->cin = cin;
    c->kt = kt ? kt : 1;
}

/* A 1x1 conv, 3-D ((cout, cin, 1, 1, 1)) or 2-D ((cout, cin, 1, 1)). */
static void take_pw(loader *L, pw_conv *c, const char *o, int cout, int cin,
                    int video)
{
    char n[WAN_NAME_MAX + 16];
    snprintf(n, sizeof(n), "%s.weight", o);
    c->w = video ? take(L, n, 5, cout, cin, 1, 1, 1)
                 : take(L, n, 4, cout, cin, 1, 1, 0);
    snprintf(n, sizeof(n), "%s.bias", o);
    c->b = take(L, n, 1, cout, 0, 0, 0, 0);
    c->cout = cout;
    c->cin = cin;
}

/* RMS_norm gamma: (ch, 1, 1, 1) over video, (ch, 1, 1) over images. */
static const float *take_gamma(loader *L, const char *o, int ch, int video)
{
    char n[WAN_NAME_MAX + 16];
    snprintf(n, sizeof(n), "%s.gamma", o);
    return video ? take(L, n, 4, ch, 1, 1, 1, 0) : take(L, n, 3, ch, 1, 1, 0, 0);
}

static int add_slot(wan_vae *m, int cin, int level)
{
    m->slots[m->n_slots].cin = cin;
    m->slots[m->n_slots].level = level;
    return m->n_slots++;
}

static void take_resblock(loader *L, wan_vae *m, resblock *r, const char *o,
                          int cin, int cout, int level)
{
    char n[WAN_NAME_MAX];
    snprintf(n, sizeof(n), "%s.residual.0", o);
    r->g1 = take_gamma(L, n, cin, 1);
    snprintf(n, sizeof(n), "%s.residual.2", o);
    take_conv(L, &r->c1, n, cout, cin, 3);
    snprintf(n, sizeof(n), "%s.residual.3", o);
    r->g2 = take_gamma(L, n, cout, 1);
    snprintf(n, sizeof(n), "%s.residual.6", o);
    take_conv(L, &r->c2, n, cout, cout, 3);
    memset(&r->sc, 0, sizeof(r->sc));
    if (cin != cout) {
        snprintf(n, sizeof(n), "%s.shortcut", o);
        take_pw(L, &r->sc, n, cout, cin, 1);
    }
    r->slot1 = add_slot(m, cin, level);
    r->slot2 = add_slot(m, cout, level);
}

/* time_conv (2C, C, 3, 1, 1) -> m's (3, 2C, C), tap-major. */
static int take_time_conv(loader *L, stage *s, const char *o, int C)
{
    char n[WAN_NAME_MAX + 16];
    snprintf(n, sizeof(n), "%s.weight", o);
    float *w = take(L, n, 5, 2 * C, C, 3, 1, 1);
    snprintf(n, sizeof(n), "%s.bias", o);
    s->tb = take(L, n, 1, 2 * C, 0, 0, 0, 0);
    if (!w)
        return L->st;
    const size_t nw = (size_t)6 * C * C;
    float *tmp = malloc(nw * sizeof(float));
    if (!tmp)
        return L->st = ST2V_ERR_NOMEM;
    memcpy(tmp, w, nw * sizeof(float));
    for (int64_t o2 = 0; o2 < 2 * C; o2++)
        for (int64_t i = 0; i < C; i++)
            for (int dt = 0; dt < 3; dt++)
                w[((int64_t)dt * 2 * C + o2) * C + i] = tmp[(o2 * C + i) * 3 + dt];
    free(tmp);
    s->tw = w;
    return ST2V_OK;
}

/* The decoder's widths: dims[0] after conv1, dims[i + 1] of stage i. */
static void stage_dims(const wan_vae_config *c, int dims[WAN_VAE_STAGES + 1])
{
    const int S = WAN_VAE_STAGES;
    dims[0] = c->dim * c->dim_mult[S - 1];
    for (int i = 0; i < S; i++)
        dims[i + 1] = c->dim * c->dim_mult[S - 1 - i];
}

/* Floats of the tensors the decoder reads (conv2 and decoder.*). */
static int decoder_floats(const wan_vae_config *c, size_t *n)
{
    wan_tensor_spec *spec;
    int ns, rc = wan_vae_tensors(c, &spec, &ns);
    if (rc)
        return rc;
    size_t total = 0;
    for (int i = 0; i < ns; i++) {
        const char *nm = spec[i].name[WAN_NAMES_OFFICIAL];
        if (strncmp(nm, "decoder.", 8) != 0 && strncmp(nm, "conv2.", 6) != 0)
            continue;
        size_t e = 1;
        for (int d = 0; d < spec[i].ndim; d++)
            e *= (size_t)spec[i].shape[d];
        total += e;
    }
    free(spec);
    *n = total;
    return ST2V_OK;
}

static int load_all(loader *L, wan_vae *m)
{
    const wan_vae_config *c = &m->cfg;
    const int S = WAN_VAE_STAGES, Z = c->z_dim, R = c->num_res_blocks + 1;
    int dims[WAN_VAE_STAGES + 1];
    stage_dims(c, dims);
    char o[WAN_NAME_MAX];

    take_pw(L, &m->conv2, "conv2", Z, Z, 1);
    take_conv(L, &m->conv1, "decoder.conv1", dims[0], Z, 3);
    m->conv1_slot = add_slot(m, Z, 0);
    take_resblock(L, m, &m->mid[0], "decoder.middle.0", dims[0], dims[0], 0);
    m->attn.C = dims[0];
    m->attn.g = take_gamma(L, "decoder.middle.1.norm", dims[0], 0);
    pw_conv q, p;
    take_pw(L, &q, "decoder.middle.1.to_qkv", 3 * dims[0], dims[0], 0);
    take_pw(L, &p, "decoder.middle.1.proj", dims[0], dims[0], 0);
    m->attn.qkv = (st2v_linear){.w = q.w, .b = q.b, .in = dims[0],
                                .out = 3 * dims[0]};
    m->attn.proj = (st2v_linear){.w = p.w, .b = p.b, .in = dims[0],
                                 .out = dims[0]};
    take_resblock(L, m, &m->mid[1], "decoder.middle.2", dims[0], dims[0], 0);

    int k = 0;
    for (int i = 0; i < S; i++) {
        stage *s = &m->st[i];
        s->cin = i > 0 ? dims[i] / 2 : dims[i];
        s->cout = dims[i + 1];
        s->res = m->res_mem + (size_t)i * R;
        for (int r = 0, cin = s->cin; r < R; r++, k++, cin = s->cout) {
            snprintf(o, sizeof(o), "decoder.upsamples.%d", k);
            take_resblock(L, m, &s->res[r], o, cin, s->cout, i);
        }
        s->up = UP_NONE;
        if (i == S - 1)
            break;
        s->up = c->temporal_down[S - 2 - i] ? UP_3D : UP_2D;
        if (s->up == UP_3D) {
            snprintf(o, sizeof(o), "decoder.upsamples.%d.time_conv", k);
            if (take_time_conv(L, s, o, s->cout))
                return L->st;
            s->tslot = add_slot(m, s->cout, i);
            m->n_up3d++;
            m->tail = i + 1;
        }
        snprintf(o, sizeof(o), "decoder.upsamples.%d.resample.1", k);
        take_conv(L, &s->rs, o, s->cout / 2, s->cout, 0);
        k++;
    }
    m->head_g = take_gamma(L, "decoder.head.0", dims[S], 1);
    take_conv(L, &m->head, "decoder.head.2", 3, dims[S], 3);
    m->head_slot = add_slot(m, dims[S], S - 1);
    return L->st;
}

/* Tensor prefix + name, which must have ndim dimensions; NULL and a
 * message otherwise (quiet: NULL without one). */
static const st_tensor *find_nd(const st_file *f, const char *prefix,
                                const char *name, int ndim, char *err,
                                size_t es, int quiet)
{
    char full[ST_MAX_NAME];
    snprintf(full, sizeof(full), "%s%s", prefix, name);
    const st_tensor *t = st_find(f, full);
    if (t && t->ndim == ndim && t->shape[0] > 0 && t->shape[0] <= INT32_MAX)
        return t;
    if (!quiet)
        st2v_fail(err, es, ST2V_ERR_FORMAT, "tensor %s: %s", full,
                  t ? "not of the expected dimensions" : "missing");
    return NULL;
}

int wan_vae_config_from_file(wan_vae_config *cfg, const st_file *f,
                             const char *prefix, char *err, size_t err_size)
{
    const int S = WAN_VAE_STAGES;
    const char *p = prefix ? prefix : "";
    const st_tensor *t;
    wan_vae_config c = wan_vae_config_default();
    char n[WAN_NAME_MAX];
    if (!(t = find_nd(f, p, "conv2.weight", 5, err, err_size, 0)))
        return ST2V_ERR_FORMAT;
    c.z_dim = (int)t->shape[0];
    /* blocks per stage: the first resample is at index num_res_blocks + 1 */
    int k = 1;
    for (; k < 64; k++) {
        snprintf(n, sizeof(n), "decoder.upsamples.%d.resample.1.weight", k);
        if (find_nd(f, p, n, 4, err, err_size, 1))
            break;
    }
    if (k == 64)
        return st2v_fail(err, err_size, ST2V_ERR_FORMAT,
                         "tensor %sdecoder.upsamples.3.resample.1.weight: "
                         "missing", p);
    c.num_res_blocks = k - 1;
    int dims[WAN_VAE_STAGES + 1];
    for (int i = 0; i < S; i++) {
        snprintf(n, sizeof(n), "decoder.upsamples.%d.residual.2.weight",
                 i * (k + 1));
        if (!(t = find_nd(f, p, n, 5, err, err_size, 0)))
            return ST2V_ERR_FORMAT;
        dims[i + 1] = (int)t->shape[0];
        if (i < S - 1) {
            snprintf(n, sizeof(n), "decoder.upsamples.%d.time_conv.weight",
                     i * (k + 1) + k);
            c.temporal_down[S - 2 - i] =
                find_nd(f, p, n, 5, err, err_size, 1) != NULL;
        }
    }
    c.dim = dims[S];
    for (int j = 0; j < S; j++) {
        if (dims[S - j] % c.dim != 0)
            return st2v_fail(err, err_size, ST2V_ERR_FORMAT,
                             "VAE: stage width %d is not a multiple of the "
                             "last stage's %d",
                             dims[S - j], c.dim);
        c.dim_mult[j] = dims[S - j] / c.dim;
    }
    char why[256];
    if (wan_vae_config_check(&c, why, sizeof(why)) != 0)
        return st2v_fail(err, err_size, ST2V_ERR_FORMAT, "%s", why);
    *cfg = c;
    return ST2V_OK;
}

int wan_vae_load(wan_vae **out, const st_file *f, const char *prefix,
                 const wan_vae_config *cfg, char *err, size_t err_size)
{
    *out = NULL;
    pthread_once(&blas_once, blas_single_thread);
    char why[256];
    if (wan_vae_config_check(cfg, why, sizeof(why)) != 0)
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG, "%s", why);
    if (cfg->z_dim != 16)
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "VAE config: z_dim %d, but Wan's latent mean and std "
                         "are for 16",
                         cfg->z_dim);
    int n_up = 0;
    for (int i = 0; i < WAN_VAE_STAGES - 1; i++)
        n_up += cfg->temporal_down[i] != 0;
    if ((1 << n_up) > MAX_FRAMES)
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "VAE config: too many temporal upsamplings");
    size_t nf;
    int rc = decoder_floats(cfg, &nf);
    if (rc)
        return st2v_fail(err, err_size, rc, "VAE config: invalid");
    const int R = cfg->num_res_blocks + 1;
    /* slots: conv1, 2 per ResBlock (middle 2), a time_conv per stage, head */
    const int max_slots = 1 + 2 * (2 + WAN_VAE_STAGES * R) + WAN_VAE_STAGES + 1;
    wan_vae *m = calloc(1, sizeof(*m));
    if (!m)
        return ST2V_ERR_NOMEM;
    m->cfg = *cfg;
    m->mem = st2v_alloc_floats(nf);
    m->res_mem = calloc((size_t)WAN_VAE_STAGES * R, sizeof(resblock));
    m->slots = calloc((size_t)max_slots, sizeof(slot_info));
    if (!m->mem || !m->res_mem || !m->slots) {
        wan_vae_free(m);
        return ST2V_ERR_NOMEM;
    }
    loader L = {.f = f, .prefix = prefix ? prefix : "", .mem = m->mem,
                .cap = nf, .err = err, .es = err_size};
    rc = load_all(&L, m);
    if (!rc && L.used != nf)
        rc = st2v_fail(err, err_size, ST2V_ERR_INTERNAL,
                       "VAE: %zu weights read, %zu expected", L.used, nf);
    if (rc) {
        if (rc == ST2V_ERR_NOMEM)
            st2v_fail(err, err_size, rc, "out of memory");
        wan_vae_free(m);
        return rc;
    }
    *out = m;
    return ST2V_OK;
}

void wan_vae_free(wan_vae *m)
{
    if (!m)
        return;
    st2v_free(m->mem);
    free(m->res_mem);
    free(m->slots);
    free(m);
}

/* ============================================================ kernels */

typedef struct pw_task {
    float *out;        /* frame f: out + f * ld_out, (cout, hw) */
    int64_t ld_out;
    const float *x;    /* frame f: x + f * ld_x, (cin, hw) */
    int64_t ld_x;
    const float *w;    /* (cout, cin) per tap, taps tap_stride apart */
    const float *b;    /* (cout) */
    int cout, cin, taps;
    int64_t tap_stride, tap_frame; /* floats between taps' weights, inputs */
    int64_t hw, n_pb;
    int accumulate;
} pw_task;

/* out = (accumulate ? out : 0) + b + sum over taps of w_tap x_{f + tap},
 * per (frame, pixel block): one sgemm per tap. */
static void pw_blocks(void *varg, int64_t begin, int64_t end)
{
    const pw_task *a = varg;
    for (int64_t t = begin; t < end; t++) {
        const int64_t f = t / a->n_pb, p0 = (t % a->n_pb) * PIX_BLOCK;
        const int np = (int)ST2V_MIN(a->hw - p0, PIX_BLOCK);
        float *o = a->out + f * a->ld_out + p0; /* (cout, np), ld hw */
        for (int co = 0; co < a->cout; co++) {
            float *d = o + co * a->hw;
            if (a->accumulate)
                for (int p = 0; p < np; p++)
                    d[p] += a->b[co];
            else
                for (int p = 0; p < np; p++)
                    d[p] = a->b[co];
        }
        for (int tap = 0; tap < a->taps; tap++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, a->cout, np,
                        a->cin, 1.0f, a->w + tap * a->tap_stride, a->cin,
                        a->x + f * a->ld_x + tap * a->tap_frame + p0,
                        (int)a->hw, 1.0f, o, (int)a->hw);
    }
}

/* out (T, cout, hw) (=|+=) conv(x (T, cin, hw)), a 1x1 conv per frame. */
static void pointwise(st2v_pool *pool, float *out, const float *x,
                      const pw_conv *c, int T, int64_t hw, int accumulate)
{
    pw_task a = {.out = out, .ld_out = (int64_t)c->cout * hw, .x = x,
                 .ld_x = (int64_t)c->cin * hw, .w = c->w, .b = c->b,
                 .cout = c->cout, .cin = c->cin, .taps = 1, .hw = hw,
                 .n_pb = (hw + PIX_BLOCK - 1) / PIX_BLOCK,
                 .accumulate = accumulate};
    st2v_pool_for(pool, T * a.n_pb, 1, pw_blocks, &a);
}

/* time_conv: out frame j (2C, hw) = b + sum_dt w_dt win_{j + dt}, win
 * (2 + T, C, hw), w (3, 2C, C): out (T, 2C, hw), which is (2T, C, hw)
 * with the halves interleaved in time as vae.py does. */
static void time_conv(st2v_pool *pool, float *out, const float *win,
                      const float *w, const float *b, int C, int T, int64_t hw)
{
    pw_task a = {.out = out, .ld_out = 2 * (int64_t)C * hw, .x = win,
                 .ld_x = (int64_t)C * hw, .w = w, .b = b, .cout = 2 * C,
                 .cin = C, .taps = 3, .tap_stride = 2 * (int64_t)C * C,
                 .tap_frame = (int64_t)C * hw, .hw = hw,
                 .n_pb = (hw + PIX_BLOCK - 1) / PIX_BLOCK, .accumulate = 0};
    st2v_pool_for(pool, T * a.n_pb, 1, pw_blocks, &a);
}

typedef struct conv_task {
    float *out;        /* frame j, channel co at out + j ld_frame + co hw */
    int64_t ld_frame;
    const float *win;  /* (kt - 1 + m, cin, H, W) */
    const st2v_conv *c;
    int H, W;
    int64_t hw, n_pb, K;
    float *col;        /* (threads, K, PIX_BLOCK) */
    int accumulate;
} conv_task;

/* col (K, np): row ((ci kt + dt) 3 + ky) 3 + kx holds, for the pixels
 * p0 .. p0 + np - 1 of an output frame, input frame dt of win, channel
 * ci, at (y + ky - 1, x + kx - 1), zero outside the image: the weight
 * (cout, cin, kt, 3, 3) read as (cout, K) times col is the conv. */
static void im2col(float *col, const float *win, const st2v_conv *c, int H,
                   int W, int64_t p0, int np)
{
    const int64_t hw = (int64_t)H * W;
    float *d = col;
    for (int ci = 0; ci < c->cin; ci++)
        for (int dt = 0; dt < c->kt; dt++) {
            const float *src = win + ((int64_t)dt * c->cin + ci) * hw;
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++, d += np) {
                    int64_t p = p0;
                    while (p < p0 + np) {
                        const int y = (int)(p / W), x0 = (int)(p % W);
                        const int n = (int)ST2V_MIN(W - x0, p0 + np - p);
                        float *o = d + (p - p0); /* o[i]: pixel (y, x0+i) */
                        const int sy = y + ky - 1;
                        if (sy < 0 || sy >= H) {
                            memset(o, 0, (size_t)n * sizeof(float));
                        } else {
                            const float *r = src + (int64_t)sy * W;
                            int a = x0, b = x0 + n; /* x in [a, b) */
                            if (kx == 0 && a == 0)
                                o[a++ - x0] = 0.0f;
                            if (kx == 2 && b == W)
                                o[--b - x0] = 0.0f;
                            if (b > a)
                                memcpy(o + (a - x0), r + a + kx - 1,
                                       (size_t)(b - a) * sizeof(float));
                        }
                        p += n;
                    }
                }
        }
}

static void conv_blocks(void *varg, int64_t begin, int64_t end)
{
    const conv_task *a = varg;
    const st2v_conv *c = a->c;
    float *col = a->col + (size_t)st2v_pool_slot() * a->K * PIX_BLOCK;
    for (int64_t t = begin; t < end; t++) {
        const int64_t j = t / a->n_pb, p0 = (t % a->n_pb) * PIX_BLOCK;
        const int np = (int)ST2V_MIN(a->hw - p0, PIX_BLOCK);
        float *o = a->out + j * a->ld_frame + p0; /* (cout, np), ld hw */
        im2col(col, a->win + j * c->cin * a->hw, c, a->H, a->W, p0, np);
        for (int co = 0; co < c->cout; co++) {
            float *d = o + co * a->hw;
            if (a->accumulate)
                for (int p = 0; p < np; p++)
                    d[p] += c->b[co];
            else
                for (int p = 0; p < np; p++)
                    d[p] = c->b[co];
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c->cout, np,
                    (int)a->K, 1.0f, c->w, (int)a->K, col, np, 1.0f, o,
                    (int)a->hw);
    }
}

/* Causal conv (kt, 3, 3), zero padding 1 in space, over m frames: out
 * frame j (cout, H W) at out + j ld_frame (=|+=) conv of win frames j ..
 * j + kt - 1, win (kt - 1 + m, cin, H, W). col: conv_scratch floats per
 * thread. */
static void conv_causal(st2v_pool *pool, float *out, int64_t ld_frame,
                        const float *win, const st2v_conv *c, int m, int H,
                        int W, float *col, int accumulate)
{
    const int64_t hw = (int64_t)H * W;
    conv_task a = {.out = out, .ld_frame = ld_frame, .win = win, .c = c,
                   .H = H, .W = W, .hw = hw,
                   .n_pb = (hw + PIX_BLOCK - 1) / PIX_BLOCK,
                   .K = (int64_t)c->cin * c->kt * 9, .col = col,
                   .accumulate = accumulate};
    st2v_pool_for(pool, m * a.n_pb, 1, conv_blocks, &a);
}

typedef struct up_task {
    float *out;       /* (C, 2H, 2W) */
    const float *in;  /* (C, H, W) */
    int H, W;
} up_task;

/* Nearest 2x (vae.py's 'nearest-exact' at scale 2), one channel a task. */
static void up_chans(void *varg, int64_t begin, int64_t end)
{
    const up_task *a = varg;
    const int H = a->H, W = a->W;
    for (int64_t c = begin; c < end; c++) {
        const float *s = a->in + c * H * W;
        float *d = a->out + c * 4 * H * W;
        for (int y = 0; y < H; y++) {
            float *r = d + (int64_t)2 * y * 2 * W;
            for (int x = 0; x < W; x++)
                r[2 * x] = r[2 * x + 1] = s[(int64_t)y * W + x];
            memcpy(r + 2 * W, r, (size_t)2 * W * sizeof(float));
        }
    }
}

/* ============================================================ state */

struct wan_vae_state {
    const wan_vae *m;
    int hl, wl;
    int chunk;           /* latent frames decoded since the last reset */
    float **cache;       /* (n_slots) each (2, cin, hw at its level) */
    float *cache_mem;
    size_t cache_floats;
    float *a, *b;        /* (T, C, hw) activations, cap_act floats each */
    float *win;          /* (2 + T, C, hw) conv windows, cap_win */
    float *up;           /* (C, 2H, 2W) one upsampled frame, cap_up */
    float *att;          /* (hw0, 4 C0) attention rows */
    float *tail;         /* (T, C, hw) the input of the tail stages */
    size_t cap_act, cap_win, cap_up, cap_tail;
    size_t col_per_thread, att_per_thread;
    float *col, *att_scr; /* per-thread scratch for `threads` threads */
    int threads;
};

static int64_t level_hw(const wan_vae_state *s, int level)
{
    return ((int64_t)s->hl << level) * ((int64_t)s->wl << level);
}

size_t wan_vae_cache_bytes(const wan_vae *m, int hl, int wl)
{
    size_t n = 0;
    for (int i = 0; i < m->n_slots; i++) {
        const int l = m->slots[i].level;
        n += (size_t)CACHE_T * m->slots[i].cin * ((size_t)hl << l) *
             ((size_t)wl << l);
    }
    return n * sizeof(float);
}

/* Floats of im2col scratch a thread needs for conv c at H x W. */
static void conv_need(size_t *col, const st2v_conv *c, int64_t H, int64_t W)
{
    (void)H, (void)W;
    const size_t n = (size_t)c->cin * c->kt * 9 * PIX_BLOCK;
    *col = ST2V_MAX(*col, n);
}

/* The needs of stage i run on T frames at a time (T of a later chunk,
 * the most): the activations, windows, upsampled frame and im2col
 * scratch; returns the frames it passes on. */
static int stage_needs(const wan_vae_state *s, int i, int T, size_t *act,
                       size_t *win, size_t *up, size_t *col)
{
    const wan_vae *m = s->m;
    const stage *st = &m->st[i];
    const int64_t hw = level_hw(s, i), H = (int64_t)s->hl << i,
                  W = (int64_t)s->wl << i;
    const size_t cm = (size_t)ST2V_MAX(st->cin, st->cout);
    *act = ST2V_MAX(*act, (size_t)T * cm * hw);
    *win = ST2V_MAX(*win, (size_t)(CACHE_T + T) * cm * hw);
    for (int r = 0; r <= m->cfg.num_res_blocks; r++) {
        conv_need(col, &st->res[r].c1, H, W);
        conv_need(col, &st->res[r].c2, H, W);
    }
    if (st->up == UP_NONE) {
        conv_need(col, &m->head, H, W);                /* its window: cm */
        *act = ST2V_MAX(*act, (size_t)T * 3 * hw);     /* the head's RGB */
        return T;
    }
    if (st->up == UP_3D)
        T *= 2;
    *act = ST2V_MAX(*act, (size_t)T * st->cout * hw);            /* time_conv */
    *act = ST2V_MAX(*act, (size_t)T * (st->cout / 2) * 4 * hw);  /* resample */
    *up = ST2V_MAX(*up, (size_t)st->cout * 4 * hw);
    conv_need(col, &st->rs, 2 * H, 2 * W);
    return T;
}

/* The capacities of the chunk buffers: the stages before the tail run on
 * a chunk's frames at once, the tail on one frame at a time. */
static void size_buffers(wan_vae_state *s)
{
    const wan_vae *m = s->m;
    const int S = WAN_VAE_STAGES, Z = m->cfg.z_dim, C0 = m->attn.C;
    size_t act = (size_t)ST2V_MAX(Z, C0) * level_hw(s, 0), up = 0, col = 0;
    size_t win = (size_t)(CACHE_T + 1) * ST2V_MAX(Z, C0) * level_hw(s, 0);
    conv_need(&col, &m->conv1, s->hl, s->wl);
    conv_need(&col, &m->mid[0].c1, s->hl, s->wl);
    int T = 1;
    for (int i = 0; i < m->tail; i++)
        T = stage_needs(s, i, T, &act, &win, &up, &col);
    s->cap_tail = (size_t)T * m->st[m->tail].cin * level_hw(s, m->tail);
    for (int i = m->tail; i < S; i++)
        stage_needs(s, i, 1, &act, &win, &up, &col);
    s->cap_act = act;
    s->cap_win = win;
    s->cap_up = up;
    s->col_per_thread = col;
    s->att_per_thread =
        st2v_op_attention_scratch(NULL, (int)level_hw(s, 0), C0);
}

int wan_vae_state_new(wan_vae_state **out, const wan_vae *m, int hl, int wl)
{
    *out = NULL;
    /* the last level's frame must stay within int pixels for the kernels */
    const int lift = WAN_VAE_STAGES - 1;
    if (hl <= 0 || wl <= 0 || hl > (1 << 12) || wl > (1 << 12) ||
        ((int64_t)hl << lift) * ((int64_t)wl << lift) > (1 << 26))
        return ST2V_ERR_INVALID_ARG;
    wan_vae_state *s = calloc(1, sizeof(*s));
    if (!s)
        return ST2V_ERR_NOMEM;
    s->m = m;
    s->hl = hl;
    s->wl = wl;
    size_buffers(s);
    s->cache_floats = wan_vae_cache_bytes(m, hl, wl) / sizeof(float);
    s->cache = calloc((size_t)m->n_slots, sizeof(float *));
    s->cache_mem = st2v_alloc_floats(s->cache_floats);
    s->a = st2v_alloc_floats(s->cap_act);
    s->b = st2v_alloc_floats(s->cap_act);
    s->win = st2v_alloc_floats(s->cap_win);
    s->up = st2v_alloc_floats(s->cap_up ? s->cap_up : 1);
    s->att = st2v_alloc_floats((size_t)4 * m->attn.C * level_hw(s, 0));
    s->tail = st2v_alloc_floats(s->cap_tail);
    if (!s->cache || !s->cache_mem || !s->a || !s->b || !s->win || !s->up ||
        !s->att || !s->tail) {
        wan_vae_state_free(s);
        return ST2V_ERR_NOMEM;
    }
    float *p = s->cache_mem;
    for (int i = 0; i < m->n_slots; i++) {
        s->cache[i] = p;
        p += (size_t)CACHE_T * m->slots[i].cin * level_hw(s, m->slots[i].level);
    }
    wan_vae_state_reset(s);
    *out = s;
    return ST2V_OK;
}

void wan_vae_state_reset(wan_vae_state *s)
{
    memset(s->cache_mem, 0, s->cache_floats * sizeof(float));
    s->chunk = 0;
}

void wan_vae_state_free(wan_vae_state *s)
{
    if (!s)
        return;
    free(s->cache);
    st2v_free(s->cache_mem);
    st2v_free(s->a);
    st2v_free(s->b);
    st2v_free(s->win);
    st2v_free(s->up);
    st2v_free(s->att);
    st2v_free(s->tail);
    st2v_free(s->col);
    st2v_free(s->att_scr);
    free(s);
}

/* Per-thread scratch for a pool of `threads`. */
static int ensure_scratch(wan_vae_state *s, int threads)
{
    if (threads <= s->threads)
        return ST2V_OK;
    float *col = st2v_alloc_floats(s->col_per_thread * threads);
    float *att = st2v_alloc_floats(s->att_per_thread * threads);
    if (!col || !att) {
        st2v_free(col);
        st2v_free(att);
        return ST2V_ERR_NOMEM;
    }
    st2v_free(s->col);
    st2v_free(s->att_scr);
    s->col = col;
    s->att_scr = att;
    s->threads = threads;
    return ST2V_OK;
}

/* ============================================================ layers */

static void swap_ab(wan_vae_state *s)
{
    float *t = s->a;
    s->a = s->b;
    s->b = t;
}

/* The causal conv c of cache `slot` over the window whose last T frames
 * (cin, hw each) the caller wrote at s->win + 2 cin hw: the cache goes in
 * front, then out (T, cout, hw) (=|+=) conv, then the cache becomes the
 * window's last 2 frames. */
static void conv3(wan_vae_state *s, st2v_pool *pool, const st2v_conv *c,
                  int slot, int T, int level, float *out, int accumulate)
{
    const int64_t hw = level_hw(s, level);
    const size_t fr = (size_t)c->cin * hw; /* floats per window frame */
    memcpy(s->win, s->cache[slot], CACHE_T * fr * sizeof(float));
    conv_causal(pool, out, (int64_t)c->cout * hw, s->win, c, T,
                s->hl << level, s->wl << level, s->col, accumulate);
    memcpy(s->cache[slot], s->win + (size_t)T * fr, CACHE_T * fr * sizeof(float));
}

/* RMS_norm (F.normalize * sqrt(C) * gamma: the eps of F.normalize, 1e-12
 * on the norm, is 1e-24 / C on the mean square) and, when silu, SiLU. */
static void rms(st2v_pool *pool, float *y, const float *x, const float *g,
                int T, int C, int64_t hw, int silu)
{
    st2v_op_channel_rmsnorm(pool, y, x, g, T, C, hw, 1e-24f / (float)C, silu);
}

/* s->a (T, cin, hw) -> s->a (T, cout, hw). */
static void res_block(wan_vae_state *s, st2v_pool *pool, const resblock *r,
                      int T, int level)
{
    const int64_t hw = level_hw(s, level);
    const int cin = r->c1.cin, cout = r->c1.cout;
    rms(pool, s->win + CACHE_T * (size_t)cin * hw, s->a, r->g1, T, cin, hw, 1);
    conv3(s, pool, &r->c1, r->slot1, T, level, s->b, 0);   /* (T, cout, hw) */
    rms(pool, s->win + CACHE_T * (size_t)cout * hw, s->b, r->g2, T, cout, hw,
        1);
    if (r->sc.w) {
        pointwise(pool, s->b, s->a, &r->sc, T, hw, 0);     /* (T, cout, hw) */
        conv3(s, pool, &r->c2, r->slot2, T, level, s->b, 1);
        swap_ab(s);
    } else {
        conv3(s, pool, &r->c2, r->slot2, T, level, s->a, 1);
    }
}

typedef struct tr_task {
    float *dst;        /* (cols, rows) */
    const float *src;  /* (rows, cols) */
    int64_t rows, cols;
    int add;           /* dst += src^T instead of = */
} tr_task;

static void tr_rows(void *varg, int64_t begin, int64_t end)
{
    const tr_task *a = varg;
    for (int64_t c = begin; c < end; c++) /* one destination row each */
        for (int64_t r = 0; r < a->rows; r++) {
            const float v = a->src[r * a->cols + c];
            if (a->add)
                a->dst[c * a->rows + r] += v;
            else
                a->dst[c * a->rows + r] = v;
        }
}

static void transpose(st2v_pool *pool, float *dst, const float *src,
                      int64_t rows, int64_t cols, int add)
{
    tr_task a = {.dst = dst, .src = src, .rows = rows, .cols = cols,
                 .add = add};
    st2v_pool_for(pool, cols, 16, tr_rows, &a);
}

/* s->a (T, C, hw0) += attention over the pixels of each frame. */
static void attention(wan_vae_state *s, st2v_pool *pool, int T)
{
    const attnblock *ab = &s->m->attn;
    const int C = ab->C;
    const int64_t hw = level_hw(s, 0);
    float *nt = s->att;               /* (hw, C) normalised, then attended */
    float *qkv = nt + (size_t)C * hw; /* (hw, 3C), then the projection */
    for (int t = 0; t < T; t++) {
        float *x = s->a + (size_t)t * C * hw; /* (C, hw) */
        rms(pool, s->b, x, ab->g, 1, C, hw, 0);
        transpose(pool, nt, s->b, C, hw, 0);
        st2v_op_linear(pool, qkv, nt, &ab->qkv, hw, ST2V_ACT_NONE);
        st2v_op_attention(pool, nt, C, qkv, 3 * C, qkv + C, 3 * C,
                          qkv + 2 * C, 3 * C, (int)hw, (int)hw, 1, C,
                          s->att_scr);
        st2v_op_linear(pool, qkv, nt, &ab->proj, hw, ST2V_ACT_NONE);
        transpose(pool, x, qkv, hw, C, 1);
    }
}

/* The resampling after stage i: s->a (T, cout, hw_i) -> s->a (T', cout/2,
 * hw_{i+1}); returns T' (2T after a time_conv). */
static int resample(wan_vae_state *s, st2v_pool *pool, const stage *st,
                    int T, int level)
{
    const int C = st->cout;
    const int64_t hw = level_hw(s, level);
    if (st->up == UP_3D && s->chunk > 0) {
        float *w = s->win + CACHE_T * (size_t)C * hw;
        memcpy(w, s->a, (size_t)T * C * hw * sizeof(float));
        memcpy(s->win, s->cache[st->tslot], CACHE_T * (size_t)C * hw *
                                                 sizeof(float));
        time_conv(pool, s->b, s->win, st->tw, st->tb, C, T, hw);
        memcpy(s->cache[st->tslot], s->win + (size_t)T * C * hw,
               CACHE_T * (size_t)C * hw * sizeof(float));
        swap_ab(s);
        T *= 2;                                   /* (2T, C, hw) */
    }
    const int H = s->hl << level, W = s->wl << level;
    const int64_t out_frame = (int64_t)(C / 2) * 4 * hw;
    for (int t = 0; t < T; t++) {
        up_task u = {.out = s->up, .in = s->a + (size_t)t * C * hw, .H = H,
                     .W = W};
        st2v_pool_for(pool, C, 1, up_chans, &u);  /* (C, 2H, 2W) */
        conv_causal(pool, s->b + t * out_frame, out_frame, s->up, &st->rs, 1,
                    2 * H, 2 * W, s->col, 0);
    }
    swap_ab(s);
    return T;
}

/* ============================================================ decode */

int wan_vae_decode_frame_raw(wan_vae_state *s, st2v_pool *pool,
                             const float *z, float *rgb, int *n_out)
{
    const wan_vae *m = s->m;
    if (!z || !rgb || !n_out)
        return ST2V_ERR_INVALID_ARG;
    if (ensure_scratch(s, st2v_pool_threads(pool)))
        return ST2V_ERR_NOMEM;
    const int Z = m->cfg.z_dim, S = WAN_VAE_STAGES;
    const int64_t hw0 = level_hw(s, 0);

    /* x (Z, hw0) = z * std + mean, then conv2 into conv1's window */
    for (int c = 0; c < Z; c++)
        for (int64_t p = 0; p < hw0; p++)
            s->b[c * hw0 + p] = z[c * hw0 + p] * LATENT_STD[c] + LATENT_MEAN[c];
    pointwise(pool, s->win + CACHE_T * (size_t)Z * hw0, s->b, &m->conv2, 1,
              hw0, 0);
    conv3(s, pool, &m->conv1, m->conv1_slot, 1, 0, s->a, 0); /* (1, C0, hw0) */

    int T = 1;
    res_block(s, pool, &m->mid[0], T, 0);
    attention(s, pool, T);
    res_block(s, pool, &m->mid[1], T, 0);
    for (int i = 0; i < m->tail; i++) {
        const stage *st = &m->st[i];
        for (int r = 0; r <= m->cfg.num_res_blocks; r++)
            res_block(s, pool, &st->res[r], T, i);
        T = resample(s, pool, st, T, i);
    }

    /* the tail, one frame at a time (its layers are causal or per frame,
     * so this is the same arithmetic as all T at once): s->tail (T, C,
     * hw) -> each frame through the last stages and the head -> (1, 3,
     * hw_last) -> rgb (3, T, hw_last) */
    const size_t in_frame = (size_t)m->st[m->tail].cin * level_hw(s, m->tail);
    memcpy(s->tail, s->a, (size_t)T * in_frame * sizeof(float));
    const int last = S - 1, C = m->head.cin;
    const int64_t hw = level_hw(s, last);
    for (int t = 0; t < T; t++) {
        memcpy(s->a, s->tail + t * in_frame, in_frame * sizeof(float));
        for (int i = m->tail; i < S; i++) {
            const stage *st = &m->st[i];
            for (int r = 0; r <= m->cfg.num_res_blocks; r++)
                res_block(s, pool, &st->res[r], 1, i);
            if (st->up != UP_NONE)
                resample(s, pool, st, 1, i);
        }
        rms(pool, s->win + CACHE_T * (size_t)C * hw, s->a, m->head_g, 1, C, hw,
            1);
        conv3(s, pool, &m->head, m->head_slot, 1, last, s->b, 0);
        for (int c = 0; c < 3; c++)
            memcpy(rgb + ((size_t)c * T + t) * hw, s->b + (size_t)c * hw,
                   (size_t)hw * sizeof(float));
    }
    s->chunk++;
    *n_out = T;
    return ST2V_OK;
}

int wan_vae_decode_frame(wan_vae_state *s, st2v_pool *pool, const float *z,
                         float *rgb, int *n_out)
{
    int st = wan_vae_decode_frame_raw(s, pool, z, rgb, n_out);
    if (st)
        return st;
    const size_t n = (size_t)3 * *n_out * level_hw(s, WAN_VAE_STAGES - 1);
    for (size_t i = 0; i < n; i++)
        rgb[i] = rgb[i] < -1.0f ? -1.0f : rgb[i] > 1.0f ? 1.0f : rgb[i];
    return ST2V_OK;
}

void wan_vae_to_u8(uint8_t *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float x = src[i];
        x = x < -1.0f ? -1.0f : x > 1.0f ? 1.0f : x;
        if (x != x)
            x = -1.0f; /* NaN: black rather than undefined */
        dst[i] = (uint8_t)((x + 1.0f) / 2.0f * 255.0f);
    }
}
