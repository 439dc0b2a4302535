/* SPDX-License-Identifier: LGPL-2.1-or-later */
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
 *
 * "The code running" is the file that holds this function: the executable
 * itself when libst2v is linked statically (st2v, ffmpeg), or a shared
 * object (libst2v.so, the GStreamer plugin). Its location must not depend
 * on how the program was started (a relative path, a PATH search, a
 * symlink): see code_file().
 */
#define _GNU_SOURCE /* dladdr, dl_iterate_phdr */
#include <dlfcn.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* ------------------------------------------------ where this code lives */

struct main_probe {
    uintptr_t addr;      /* an address in this code */
    const void *at_phdr; /* the main program's program headers (AT_PHDR) */
    int in_main;         /* out: the object holding addr is the main program */
    const char *interp;  /* out: then its PT_INTERP (the dynamic loader), or NULL */
};

/* dl_iterate_phdr callback: stop at the object one of whose PT_LOAD
 * segments holds p->addr, and tell whether it is the main program. */
static int probe_object(struct dl_phdr_info *info, size_t size, void *data)
{
    struct main_probe *p = data;
    (void)size;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = (uintptr_t)info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && p->addr - start < ph->p_memsz) {
            p->in_main = (const void *)info->dlpi_phdr == p->at_phdr;
            for (int j = 0; p->in_main && j < info->dlpi_phnum; j++)
                if (info->dlpi_phdr[j].p_type == PT_INTERP)
                    p->interp = (const char *)(info->dlpi_addr +
                                               info->dlpi_phdr[j].p_vaddr);
            return 1;
        }
    }
    return 0;
}

/* Whether this code is part of the main executable (libst2v linked in
 * statically) rather than of a shared object.
 *
 * dladdr() cannot say where the main executable is: glibc reports argv[0]
 * for it, as it was typed ("st2v" after a PATH search, a path relative to
 * a directory since left). So the object that holds this function is found
 * with dl_iterate_phdr() (the loaded objects and their segments), and it is
 * the main program when its program headers are the ones the kernel mapped
 * for the program (getauxval(AT_PHDR)). That compares addresses only: no
 * file names, no reliance on the order of the list. *interp is set to the
 * main program's dynamic loader (PT_INTERP), or NULL. */
static int in_main_program(const char **interp)
{
    struct main_probe p = {
        .addr = (uintptr_t)&st2v_default_model_path,
        .at_phdr = (const void *)getauxval(AT_PHDR),
    };
    *interp = NULL;
    if (!p.at_phdr)
        return 0;
    dl_iterate_phdr(probe_object, &p);
    *interp = p.interp;
    return p.in_main;
}

/* Whether the two paths name the same file. */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* The canonical path (malloc'd) of the file that holds this code, or NULL
 * when it cannot be told: /proc/self/exe for the main executable (the file
 * the kernel exec'd, symlinks resolved, whatever argv[0] was), else the
 * shared object's name from dladdr() (the path the dynamic loader opened:
 * absolute, unless the library was found through a relative search path
 * such as LD_LIBRARY_PATH=lib, and then right while the program stays in
 * the directory it started in). One exception: a program started through its
 * dynamic loader ("/lib64/ld-linux-x86-64.so.2 ./st2v"), where the kernel
 * exec'd the loader, so /proc/self/exe names the loader; dladdr()'s
 * argv[0] is then the program as the loader was given it. */
static char *code_file(void)
{
    const char *interp;
    if (in_main_program(&interp)) {
        char exe[4096];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n > 0) {
            exe[n] = '\0';
            char *real = realpath(exe, NULL);
            if (real && !(interp && same_file(real, interp)))
                return real;
            free(real);
        }
        /* no /proc, or the loader was exec'd: dladdr's argv[0] below */
    }
    Dl_info info;
    if (!dladdr((void *)&st2v_default_model_path, &info) || !info.dli_fname ||
        !*info.dli_fname)
        return NULL;
    return realpath(info.dli_fname, NULL);
}

/* Canonical directory of the file (executable or shared object) that holds
 * this code, or "" when it cannot be told. */
static void code_dir(char *dir, size_t size)
{
    char *real = code_file();
    dir[0] = '\0';
    if (!real)
        return;
    char *slash = strrchr(real, '/');
    if (slash && (size_t)(slash - real) < size) {
        memcpy(dir, real, (size_t)(slash - real));
        dir[slash - real] = '\0';
    }
    free(real);
}

/* ------------------------------------------------------------ the search */

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
