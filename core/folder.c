/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * folder.c - list a model folder's files (folder.h). Bounded: at most
 * ST2V_FOLDER_MAX_FILES files and max_depth levels, symbolic links to
 * files followed, to folders not (no cycles). Nothing is opened but the
 * folders themselves.
 */
#include "folder.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common.h"

static int add_file(st2v_folder *f, int *cap, const char *rel, uint64_t size)
{
    if (f->n == ST2V_FOLDER_MAX_FILES) {
        f->truncated = 1;
        return 0;
    }
    if (f->n == *cap) {
        int nc = *cap ? 2 * *cap : 32;
        st2v_folder_file *nf = realloc(f->files, (size_t)nc * sizeof(*nf));
        if (!nf)
            return ST2V_ERR_NOMEM;
        f->files = nf;
        *cap = nc;
    }
    size_t len = strlen(rel) + 1;
    char *p = malloc(len);
    if (!p)
        return ST2V_ERR_NOMEM;
    memcpy(p, rel, len);
    f->files[f->n].path = p;
    f->files[f->n].size = size;
    f->n++;
    return 0;
}

/* List dir/rel (rel "" at the top). */
static int scan(st2v_folder *f, int *cap, const char *rel, int depth)
{
    char path[4096];
    if (!st2v_folder_join(path, sizeof(path), f->dir, rel))
        return 0; /* too deep to name: skipped */
    DIR *d = opendir(path);
    if (!d)
        return *rel ? 0 : ST2V_ERR_IO;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char sub[4096], full[4096];
        if (snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "",
                     e->d_name) >= (int)sizeof(sub) ||
            !st2v_folder_join(full, sizeof(full), f->dir, sub))
            continue;
        struct stat sb, lsb;
        if (stat(full, &sb) != 0)
            continue;
        if (S_ISREG(sb.st_mode))
            rc = add_file(f, cap, sub, (uint64_t)sb.st_size);
        else if (S_ISDIR(sb.st_mode) && depth > 0 &&
                 lstat(full, &lsb) == 0 && S_ISDIR(lsb.st_mode))
            rc = scan(f, cap, sub, depth - 1);
    }
    closedir(d);
    return rc;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const st2v_folder_file *)a)->path,
                  ((const st2v_folder_file *)b)->path);
}

int st2v_folder_scan(st2v_folder *f, const char *dir, int max_depth)
{
    memset(f, 0, sizeof(*f));
    size_t len = strlen(dir) + 1;
    f->dir = malloc(len);
    if (!f->dir)
        return ST2V_ERR_NOMEM;
    memcpy(f->dir, dir, len);
    int cap = 0;
    int rc = scan(f, &cap, "", max_depth);
    if (rc != 0) {
        st2v_folder_free(f);
        return rc;
    }
    if (f->n > 1)
        qsort(f->files, (size_t)f->n, sizeof(*f->files), by_path);
    return 0;
}

void st2v_folder_free(st2v_folder *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->n; i++)
        free(f->files[i].path);
    free(f->files);
    free(f->dir);
    memset(f, 0, sizeof(*f));
}

char *st2v_folder_join(char *buf, size_t size, const char *dir,
                       const char *rel)
{
    size_t n = strlen(dir);
    int slash = n > 0 && dir[n - 1] != '/' && *rel;
    int w = snprintf(buf, size, "%s%s%s", dir, slash ? "/" : "", rel);
    return w >= 0 && (size_t)w < size ? buf : NULL;
}

void st2v_folder_dirname(char *buf, size_t size, const char *rel)
{
    const char *slash = strrchr(rel, '/');
    size_t n = slash ? (size_t)(slash - rel) : 0;
    if (n >= size)
        n = size - 1;
    memcpy(buf, rel, n);
    buf[n] = 0;
}

void st2v_folder_summary(const st2v_folder *f, char *buf, size_t size)
{
    enum { SHOWN = 6 };
    size_t at = 0;
    int w = snprintf(buf, size, "%s%d file%s", f->truncated ? "over " : "",
                     f->n, f->n == 1 ? "" : "s");
    for (int i = 0; i < f->n && i < SHOWN && w >= 0; i++) {
        at += (size_t)w;
        if (at >= size)
            return;
        w = snprintf(buf + at, size - at, "%s%s", i ? ", " : ": ",
                     f->files[i].path);
    }
    at += w >= 0 ? (size_t)w : 0;
    if (f->n > SHOWN && at < size)
        snprintf(buf + at, size - at, ", ...");
}
