/*
 * default_model.c - where the default model is, so that `st2v`, the FFmpeg
 * filter and the GStreamer element all find it with no option:
 *
 *   1. $ST2V_MODEL, when set and not empty;
 *   2. the source tree's models/default.safetensors, when the code running
 *      (the executable or the shared object that contains libst2v) lies
 *      inside the build tree (ST2V_SRCDIR);
 *   3. next to the installation the code runs from: DIR/../share/st2v/ and
 *      DIR/../../share/st2v/ (a plugin in PREFIX/lib/gstreamer-1.0), so an
 *      installed tree can be moved;
 *   4. the configured ST2V_INSTALL_MODEL (PREFIX/share/st2v/...).
 */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "st2v.h"

#define MODEL_FILE "default.safetensors"

static int is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Copy path into buf; ST2V_ERR_INVALID_ARG when it does not fit. */
static int put_path(char *buf, size_t size, const char *path)
{
    size_t n = strlen(path);
    if (n >= size) {
        buf[0] = '\0';
        return ST2V_ERR_INVALID_ARG;
    }
    memcpy(buf, path, n + 1);
    return ST2V_OK;
}

/* Canonical directory of the file (executable or shared object) that holds
 * this code, or "" when it cannot be told. */
static void code_dir(char *dir, size_t size)
{
    Dl_info info;
    char *real;
    dir[0] = '\0';
    if (!dladdr((void *)&st2v_default_model_path, &info) || !info.dli_fname)
        return;
    real = realpath(info.dli_fname, NULL);
    if (!real)
        return;
    char *slash = strrchr(real, '/');
    if (slash && (size_t)(slash - real) < size) {
        memcpy(dir, real, (size_t)(slash - real));
        dir[slash - real] = '\0';
    }
    free(real);
}

int st2v_default_model_path(char *buf, size_t buf_size)
{
    char dir[4096], path[4200];
    if (!buf || buf_size == 0)
        return ST2V_ERR_INVALID_ARG;
    buf[0] = '\0';

    const char *env = getenv("ST2V_MODEL");
    if (env && *env) {
        int rc = put_path(buf, buf_size, env);
        return rc ? rc : is_file(env) ? ST2V_OK : ST2V_ERR_IO;
    }

    code_dir(dir, sizeof(dir));
#ifdef ST2V_SRCDIR
    size_t n = strlen(ST2V_SRCDIR);
    if (*dir && strncmp(dir, ST2V_SRCDIR, n) == 0 && dir[n] == '/') {
        snprintf(path, sizeof(path), "%s/models/" MODEL_FILE, ST2V_SRCDIR);
        if (is_file(path))
            return put_path(buf, buf_size, path);
    }
#endif
    if (*dir) {
        static const char *const up[] = {"/../share/st2v/", "/../../share/st2v/"};
        for (size_t i = 0; i < sizeof(up) / sizeof(up[0]); i++) {
            snprintf(path, sizeof(path), "%s%s" MODEL_FILE, dir, up[i]);
            if (is_file(path)) {
                char *real = realpath(path, NULL);
                int rc = put_path(buf, buf_size, real ? real : path);
                free(real);
                return rc;
            }
        }
    }
#ifdef ST2V_INSTALL_MODEL
    {
        int rc = put_path(buf, buf_size, ST2V_INSTALL_MODEL);
        return rc ? rc : is_file(ST2V_INSTALL_MODEL) ? ST2V_OK : ST2V_ERR_IO;
    }
#else
    return ST2V_ERR_IO;
#endif
}
