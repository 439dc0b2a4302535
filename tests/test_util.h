/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_util.h - the tiny harness every C test uses: named checks that print
 * one line each, fixture loading through the engine's own safetensors
 * reader, and the error measure of the golden tests.
 *
 * A test program is a list of functions named as sentences, run by
 * RUN(test_fn); main() ends with `return tu_summary();`, which prints
 * "N passed, N failed" and returns non-zero when anything failed.
 */
#ifndef ST2V_TEST_UTIL_H
#define ST2V_TEST_UTIL_H

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"
#include "st2v.h"

static int tu_passed, tu_failed, tu_current_failed;
static const char *tu_current;

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "  %s:%d: %s: ", __FILE__, __LINE__, tu_current); \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
            tu_current_failed = 1;                                            \
        }                                                                     \
    } while (0)

/* Abort the current test function (not the program) when cond fails. */
#define REQUIRE(cond, ...)                                                    \
    do {                                                                      \
        int ok_ = !!(cond);                                                   \
        CHECK(ok_, __VA_ARGS__);                                              \
        if (!ok_)                                                             \
            return;                                                           \
    } while (0)

#define RUN(fn)                                                               \
    do {                                                                      \
        tu_current = #fn;                                                     \
        tu_current_failed = 0;                                                \
        fn();                                                                 \
        if (tu_current_failed) {                                              \
            tu_failed++;                                                      \
            printf("FAIL %s\n", #fn);                                         \
        } else {                                                              \
            tu_passed++;                                                      \
            printf("ok   %s\n", #fn);                                         \
        }                                                                     \
        fflush(stdout);                                                       \
    } while (0)

static inline int tu_summary(void)
{
    printf("%d passed, %d failed\n", tu_passed, tu_failed);
    return tu_failed ? 1 : 0;
}

/* Path of a fixture: $ST2V_FIXTURES (set by the Makefile) or tests/fixtures. */
static inline const char *tu_fixture(const char *name)
{
    static char buf[4096];
    const char *dir = getenv("ST2V_FIXTURES");
    snprintf(buf, sizeof(buf), "%s/%s", dir && *dir ? dir : "tests/fixtures",
             name);
    return buf;
}

/* Open a fixture file; on failure report and return non-zero. */
/* The whole file at path in a malloc'ed buffer with a NUL after its size
 * bytes (so a text file is a string); NULL if it cannot be read. */
static inline uint8_t *tu_read_file(const char *path, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    long n = fseek(fp, 0, SEEK_END) == 0 ? ftell(fp) : -1;
    uint8_t *buf = n >= 0 && fseek(fp, 0, SEEK_SET) == 0
                       ? malloc((size_t)n + 1)
                       : NULL;
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    if (buf) {
        buf[n] = 0;
        if (size)
            *size = (size_t)n;
    }
    return buf;
}

static inline int tu_open(st_file *f, const char *name)
{
    char err[512];
    if (st_open(f, tu_fixture(name), err, sizeof(err)) != 0) {
        fprintf(stderr, "  cannot open fixture %s: %s\n", name, err);
        tu_current_failed = 1;
        return -1;
    }
    return 0;
}

/* A malloc'ed float32 copy of tensor `name` (NULL and a failure if absent).
 * If numel is not NULL it receives the element count. */
static inline float *tu_tensor(const st_file *f, const char *name,
                               size_t *numel)
{
    const st_tensor *t = st_find(f, name);
    if (!t) {
        fprintf(stderr, "  fixture tensor %s missing\n", name);
        tu_current_failed = 1;
        return NULL;
    }
    float *dst = malloc(t->numel ? t->numel * sizeof(float) : 1);
    if (!dst)
        return NULL;
    st_to_f32(t, dst);
    if (numel)
        *numel = (size_t)t->numel;
    return dst;
}

/* Load a fixture model; on failure report and return NULL. */
static inline st2v_model *tu_load_model(const char *name)
{
    st2v_model *m = NULL;
    char err[512] = "";
    if (st2v_model_load(&m, tu_fixture(name), err, sizeof(err)) != 0) {
        fprintf(stderr, "  cannot load %s: %s\n", name, err);
        tu_current_failed = 1;
        return NULL;
    }
    return m;
}

/* The golden error measure: max |got - want| / max |want| (want not all 0). */
static inline double tu_max_rel_err(const float *got, const float *want,
                                    size_t n)
{
    double maxdiff = 0.0, maxref = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (!(d <= maxdiff))
            maxdiff = d; /* also catches NaN */
        if (fabs((double)want[i]) > maxref)
            maxref = fabs((double)want[i]);
    }
    return maxdiff / (maxref > 0 ? maxref : 1.0);
}

#define GOLDEN_TOL 1e-4

/* Check a golden comparison and print its error for the closing report. */
#define CHECK_GOLDEN(what, got, want, n)                                      \
    do {                                                                      \
        double e_ = tu_max_rel_err((got), (want), (n));                       \
        printf("     golden %-28s max rel err %.3g\n", (what), e_);           \
        CHECK(e_ <= GOLDEN_TOL, "%s: max rel err %.3g > %g", (what), e_,      \
              GOLDEN_TOL);                                                    \
    } while (0)

/* The golden's cases: its `cases` metadata, a JSON list of at least min
 * objects (cJSON_Delete it), or NULL with the reason on stderr. */
static inline cJSON *tu_golden_cases(const st_file *golden, int min)
{
    const char *json = st_metadata(golden, "cases");
    cJSON *cases = json ? cJSON_Parse(json) : NULL;
    if (!cJSON_IsArray(cases) || cJSON_GetArraySize(cases) < min) {
        fprintf(stderr, "  the golden has no `cases` list of %d\n", min);
        cJSON_Delete(cases);
        return NULL;
    }
    return cases;
}

/* A case's string or number field: NULL or NaN when absent. */
static inline const char *tu_case_str(const cJSON *c, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(c, key);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

static inline double tu_case_num(const cJSON *c, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(c, key);
    return cJSON_IsNumber(it) ? it->valuedouble : NAN;
}

#endif /* ST2V_TEST_UTIL_H */
