/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * folder.h - the files of a model folder, listed once so that each model
 * family can recognise its own by name (core/arch.h, detect). Files only,
 * hidden entries skipped, paths relative to the folder with '/' between
 * parts, sorted. Not part of the public API.
 */
#ifndef ST2V_FOLDER_H
#define ST2V_FOLDER_H

#include <stddef.h>
#include <stdint.h>

#define ST2V_FOLDER_MAX_FILES 4096

typedef struct st2v_folder_file {
    char *path;                /* relative: "google/umt5-xxl/spiece.model" */
    uint64_t size;             /* bytes */
} st2v_folder_file;

typedef struct st2v_folder {
    char *dir;                 /* the folder as given */
    st2v_folder_file *files;   /* (n) sorted by path */
    int n;
    int truncated;             /* more than ST2V_FOLDER_MAX_FILES */
} st2v_folder;

/* List dir and its subfolders down to max_depth levels (0 = dir only).
 * Returns 0, ST2V_ERR_IO when dir cannot be read, or ST2V_ERR_NOMEM. */
int st2v_folder_scan(st2v_folder *f, const char *dir, int max_depth);
void st2v_folder_free(st2v_folder *f);

/* "dir/rel" into buf; returns buf, or NULL when it does not fit. */
char *st2v_folder_join(char *buf, size_t size, const char *dir,
                       const char *rel);

/* The folder part of a relative path ("" at the top), into buf. */
void st2v_folder_dirname(char *buf, size_t size, const char *rel);

/* One line for messages: "3 files: a.txt, b/c.bin, d.json" (the first few). */
void st2v_folder_summary(const st2v_folder *f, char *buf, size_t size);

#endif /* ST2V_FOLDER_H */
