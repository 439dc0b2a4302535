/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * model.c - st2v_model_load and its options: find the model family of a
 * file or a folder (core/arch.h), let that family load it, and keep the
 * result behind the public st2v_model. Also here: st2v_strerror() and
 * st2v_version(). Not here: any family's file format or mathematics
 * (core/st2v/, core/wan/).
 */
#include "arch.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common.h"
#include "escape.h"

/* From OpenBLAS (declared here in case the cblas.h found is another one). */
void openblas_set_num_threads(int num_threads);

/* The families, in the order they are asked. The first is the default:
 * a file no family recognises is given to it, so that its loader says
 * what is wrong with it. */
static const st2v_arch *const families[] = {
    &st2v_arch_world,
    &st2v_arch_wan,
};

#define N_FAMILIES ((int)ST2V_ARRAY_SIZE(families))

/* A model folder's files lie at most this deep (Wan's
 * google/umt5-xxl/spiece.model, Comfy's split_files/vae/...). */
#define FOLDER_DEPTH 2

/* ----------------------------------------------------------- options */

st2v_model_params st2v_model_default_params(void)
{
    st2v_model_params p;
    memset(&p, 0, sizeof(p));
    p.use_mmap = 1;
    p.compute_dtype = ST2V_DTYPE_F32;
    return p;
}

const char *st2v_dtype_name(st2v_dtype d)
{
    switch (d) {
    case ST2V_DTYPE_F32:
        return "f32";
    case ST2V_DTYPE_BF16:
        return "bf16";
    }
    return "unknown";
}

/* ------------------------------------------------------------ finding */

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_single_thread(void)
{
    /* libst2v runs its own thread pool: OpenBLAS must not add its own */
    openblas_set_num_threads(1);
}

/* The family of a folder, or a one-line refusal: the family with most
 * parts found, when it has them all. */
static int pick_for_folder(const st2v_arch **out, const char *path,
                           const st2v_folder *folder, char *err,
                           size_t err_size)
{
    st2v_detect d[N_FAMILIES];
    int best = -1;
    for (int i = 0; i < N_FAMILIES; i++) {
        memset(&d[i], 0, sizeof(d[i]));
        families[i]->detect(path, folder, &d[i]);
        if (d[i].found > 0 &&
            (best < 0 || d[i].complete > d[best].complete ||
             (d[i].complete == d[best].complete &&
              d[i].found > d[best].found)))
            best = i;
    }
    char q[200];
    st2v_escape(q, sizeof(q), path);
    if (best < 0) {
        char seen[400], wants[600] = "";
        st2v_folder_summary(folder, seen, sizeof(seen));
        size_t at = 0;
        for (int i = 0; i < N_FAMILIES && at < sizeof(wants); i++)
            at += (size_t)snprintf(wants + at, sizeof(wants) - at, "%s%s: %s",
                                   i ? "; or " : "", families[i]->name,
                                   families[i]->wants);
        return st2v_fail(err, err_size, ST2V_ERR_IO,
                         "\"%s\" holds no model: found %s; a model folder "
                         "holds %s",
                         q, seen, wants);
    }
    /* parts of two families: which one was meant is a guess (a world
     * model under a Wan DiT's name, say), so neither is loaded */
    for (int i = 0; i < N_FAMILIES; i++)
        if (i != best && d[i].found > 0)
            return st2v_fail(err, err_size, ST2V_ERR_FORMAT,
                             "\"%s\" mixes two model families, give a folder "
                             "of one: %s: %.200s; %s: %.200s",
                             q, families[best]->name, d[best].what,
                             families[i]->name, d[i].what);
    if (!d[best].complete) /* the path once, whether or not what names it */
        return st2v_fail(err, err_size, ST2V_ERR_IO, "%s%s%s%s",
                         strstr(d[best].what, path) ? "" : "\"",
                         strstr(d[best].what, path) ? "" : q,
                         strstr(d[best].what, path) ? "" : "\": ",
                         d[best].what);
    *out = families[best];
    return 0;
}

/* The family of a single file: the first that recognises it (a complete
 * model, or a part of one that it can name), else the default. */
static const st2v_arch *pick_for_file(const char *path)
{
    for (int i = 0; i < N_FAMILIES; i++) {
        st2v_detect d;
        memset(&d, 0, sizeof(d));
        families[i]->detect(path, NULL, &d);
        if (d.found > 0)
            return families[i];
    }
    return families[0];
}

/* ------------------------------------------------------------ loading */

int st2v_model_load_with_params(st2v_model **out, const char *path,
                                const st2v_model_params *params, char *err,
                                size_t err_size)
{
    if (err && err_size)
        err[0] = 0;
    if (!out)
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "st2v_model_load: out is NULL");
    *out = NULL;
    if (!path)
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "st2v_model_load: path is NULL");
    st2v_model_params p = params ? *params : st2v_model_default_params();
    if (p.compute_dtype != ST2V_DTYPE_F32 && p.compute_dtype != ST2V_DTYPE_BF16)
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "compute_dtype %d is neither f32 nor bf16",
                         (int)p.compute_dtype);

    struct stat sb;
    int is_dir = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
    st2v_folder folder;
    memset(&folder, 0, sizeof(folder));
    const st2v_arch *arch = NULL;
    int rc = 0;
    if (is_dir) {
        char q[200];
        rc = st2v_folder_scan(&folder, path, FOLDER_DEPTH);
        if (rc != 0)
            return st2v_fail(err, err_size, rc, "cannot list the folder "
                             "\"%s\"", st2v_escape(q, sizeof(q), path));
        rc = pick_for_folder(&arch, path, &folder, err, err_size);
    } else {
        arch = pick_for_file(path);
    }

    void *impl = NULL;
    st2v_model_info info;
    st2v_arch_caps caps;
    memset(&info, 0, sizeof(info));
    memset(&caps, 0, sizeof(caps));
    if (rc == 0)
        rc = arch->load(&impl, path, is_dir ? &folder : NULL, &p, &info, &caps,
                        err, err_size);
    st2v_folder_free(&folder);
    if (rc == 0 && (rc = st2v_model_adopt(out, arch, impl, &p, &info, &caps)))
        st2v_fail(err, err_size, rc, "out of memory");
    if (rc != 0)
        return rc;
    st2v_logf(p.log, p.user_data, ST2V_LOG_INFO,
              "loaded %s (%s family, %lld parameters, %s)", info.name,
              arch->name, (long long)info.n_params,
              p.use_mmap ? "mapped" : "read into memory");
    return 0;
}

int st2v_model_adopt(st2v_model **out, const st2v_arch *arch, void *impl,
                     const st2v_model_params *params,
                     const st2v_model_info *info, const st2v_arch_caps *caps)
{
    st2v_model *m = calloc(1, sizeof(*m));
    if (!m) {
        arch->free(impl);
        return ST2V_ERR_NOMEM;
    }
    m->arch = arch;
    m->impl = impl;
    m->params = params ? *params : st2v_model_default_params();
    m->info = *info;
    m->info.family = arch->name;
    m->caps = *caps;
    pthread_once(&blas_once, blas_single_thread);
    *out = m;
    return 0;
}

int st2v_model_load(st2v_model **out, const char *path, char *err,
                    size_t err_size)
{
    return st2v_model_load_with_params(out, path, NULL, err, err_size);
}

void st2v_model_free(st2v_model *model)
{
    if (!model)
        return;
    if (model->arch && model->impl)
        model->arch->free(model->impl);
    free(model);
}

const st2v_model_info *st2v_model_get_info(const st2v_model *model)
{
    return model ? &model->info : NULL;
}

/* ------------------------------------------------------------- status */

const char *st2v_strerror(int status)
{
    switch (status) {
    case ST2V_OK:
        return "success";
    case ST2V_EOF:
        return "end of stream";
    case ST2V_ERR_INVALID_ARG:
        return "invalid argument";
    case ST2V_ERR_NOMEM:
        return "out of memory";
    case ST2V_ERR_IO:
        return "input/output error";
    case ST2V_ERR_FORMAT:
        return "malformed or inconsistent model file";
    case ST2V_ERR_UNSUPPORTED:
        return "unsupported";
    case ST2V_ERR_CANCELLED:
        return "cancelled";
    case ST2V_ERR_IMAGE:
        return "image could not be decoded";
    case ST2V_ERR_INTERNAL:
        return "internal error (a bug: please report it)";
    default:
        return "unknown status";
    }
}

const char *st2v_version(void)
{
    return ST2V_VERSION_STRING;
}
