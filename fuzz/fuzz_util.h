/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz_util.h - what the libFuzzer targets share: a per-process scratch
 * folder on tmpfs for the readers that take a path (the PNG reader, the
 * Wan loader), and the one place fixtures are looked up.
 */
#ifndef ST2V_FUZZ_UTIL_H
#define ST2V_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fuzz_dir[64];
static char fuzz_path[256];

/* at exit: the one file in the folder, then the folder */
static void fuzz_tmp_remove(void)
{
    unlink(fuzz_path);
    rmdir(fuzz_dir);
}

/* path of NAME in /dev/shm/st2v-fuzz-PID/ (created on first use, removed
 * at exit; one NAME per target) */
static const char *fuzz_tmp_path(const char *name)
{
    if (!fuzz_dir[0]) {
        snprintf(fuzz_dir, sizeof(fuzz_dir), "/dev/shm/st2v-fuzz-%d", (int)getpid());
        if (mkdir(fuzz_dir, 0700) != 0) {
            snprintf(fuzz_dir, sizeof(fuzz_dir), "/tmp/st2v-fuzz-%d", (int)getpid());
            mkdir(fuzz_dir, 0700);
        }
        atexit(fuzz_tmp_remove);
    }
    snprintf(fuzz_path, sizeof(fuzz_path), "%s/%s", fuzz_dir, name);
    return fuzz_path;
}

/* write data to path; 0 or -1 */
static int fuzz_write_file(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(data, 1, size, f) == size;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* a fixture's path: $ST2V_FIXTURES (default tests/fixtures) / rel */
static const char *fuzz_fixture(const char *rel)
{
    static char path[1024];
    const char *dir = getenv("ST2V_FIXTURES");
    snprintf(path, sizeof(path), "%s/%s", dir ? dir : "tests/fixtures", rel);
    return path;
}

/* the whole file at path, malloc'ed, or NULL */
static uint8_t *fuzz_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = n > 0 ? malloc((size_t)n) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *size = buf ? (size_t)n : 0;
    return buf;
}

#endif /* ST2V_FUZZ_UTIL_H */
