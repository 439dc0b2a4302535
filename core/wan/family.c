/*
 * family.c - Wan2.1 (text to video, 1.3B) as a family of core/arch.h:
 * recognising a folder of the files users download (files.c does the
 * finding and checking, in every layout), loading its parts, and each
 * call of the table mapped onto them:
 *
 *   encode_text  the tokenizer (spm.c) and umT5 (umt5.c): a prompt ->
 *                its n real rows (n, 4096), which the DiT pads to 512
 *
 * The DiT, the VAE decoder and the sampler are part 2 of the Wan work:
 * until they are in, a complete folder is checked and its text encoder
 * bound, then refused with ST2V_ERR_UNSUPPORTED saying what was found.
 * Not here: file layouts (files.c), the mathematics (umt5.c, spm.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "common.h"
#include "escape.h"
#include "wan/files.h"
#include "wan/family.h"

/* Wan's default negative prompt (wan/configs/shared_config.py,
 * sample_neg_prompt): used whenever the user gives none, as the official
 * pipeline does. */
const char wan_default_negative[] =
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，"
    "整体发灰，最差质量，低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，"
    "画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，"
    "静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走";

/* ------------------------------------------------------- the model */

void wan_model_free(wan_model *m)
{
    if (!m)
        return;
    wan_umt5_free(m->t5);
    wan_files_close(m->files); /* after the parts that borrow its files */
    free(m);
}

int wan_model_open(wan_model **out, const char *path, char *err,
                   size_t err_size)
{
    *out = NULL;
    wan_model *m = calloc(1, sizeof(*m));
    if (!m)
        return st2v_fail(err, err_size, ST2V_ERR_NOMEM, "out of memory");
    int rc = wan_files_open(&m->files, path, NULL, err, err_size);
    if (rc == 0)
        rc = wan_umt5_load(&m->t5, &m->files->t5, NULL, &m->files->t5_cfg,
                           err, err_size);
    if (rc != 0) {
        wan_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

/* ------------------------------------------------------ conditioning */

void wan_cond_free(wan_cond *c)
{
    if (!c)
        return;
    st2v_free(c->ctx);
    free(c);
}

int wan_cond_encode(wan_cond **out, const wan_model *m, st2v_pool *pool,
                    const char *text)
{
    *out = NULL;
    if (!text)
        return ST2V_ERR_INVALID_ARG;
    const int dim = m->files->t5_cfg.dim;
    int32_t ids[WAN_UMT5_MAX_TOKENS];
    int n = 0;
    int rc = spm_encode_wan(m->files->tokenizer, text, ids,
                            WAN_UMT5_MAX_TOKENS, &n);
    if (rc != 0)
        return rc;
    wan_cond *c = calloc(1, sizeof(*c));
    if (!c)
        return ST2V_ERR_NOMEM;
    c->n = n;
    c->ctx = st2v_alloc_floats((size_t)n * dim); /* (n, dim) */
    rc = c->ctx ? wan_umt5_encode(m->t5, pool, ids, n, c->ctx)
                : ST2V_ERR_NOMEM;
    if (rc != 0) {
        wan_cond_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* -------------------------------------------------------- the calls */

static void wan_detect(const char *path, const st2v_folder *folder,
                       st2v_detect *out)
{
    (void)folder; /* files.c lists the folder itself, deeper */
    wan_files *w = NULL;
    int parts = 0;
    char msg[sizeof(out->what)];
    int rc = wan_files_open(&w, path, &parts, msg, sizeof(msg));
    wan_files_close(w);
    out->found = parts;
    /* every part present: load says exactly what is wrong, if anything */
    out->complete = rc == 0 || parts == WAN_N_PARTS;
    snprintf(out->what, sizeof(out->what), "%s", msg);
}

static int wan_load(void **impl, const char *path, const st2v_folder *folder,
                    const st2v_model_params *params, st2v_model_info *info,
                    st2v_arch_caps *caps, char *err, size_t err_size)
{
    (void)impl, (void)folder, (void)params, (void)info, (void)caps;
    wan_model *m = NULL;
    char found[400];
    int rc = wan_model_open(&m, path, found, sizeof(found));
    if (rc != 0)
        return st2v_fail(err, err_size, rc, "%s", found);
    wan_model_free(m);
    char q[200];
    return st2v_fail(err, err_size, ST2V_ERR_UNSUPPORTED,
                     "\"%s\" holds %s, which this build cannot run yet: its "
                     "DiT, VAE decoder and sampler are to come",
                     st2v_escape(q, sizeof(q), path), found);
}

static void wan_free(void *impl)
{
    wan_model_free(impl);
}

static int wan_encode_text(const void *impl, st2v_pool *pool,
                           const char *text, void **cond)
{
    return wan_cond_encode((wan_cond **)cond, impl, pool, text);
}

static void wan_cond_free_any(void *cond)
{
    wan_cond_free(cond);
}

/* Part 2 fills in the rest of the table (velocity, decoder, cost);
 * st2v_model_load never returns a Wan model before it does. */
const st2v_arch st2v_arch_wan = {
    .name = "wan2.1",
    .wants = "Wan2.1's diffusion_pytorch_model*.safetensors, "
             "models_t5_umt5-xxl-enc-bf16.pth, Wan2.1_VAE.pth and "
             "google/umt5-xxl/ (or Comfy's or Diffusers' files of them)",
    .default_negative = wan_default_negative,
    .detect = wan_detect,
    .load = wan_load,
    .free = wan_free,
    .encode_text = wan_encode_text,
    .cond_free = wan_cond_free_any,
};
