/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * safetensors.c - a read-only .safetensors reader that trusts nothing
 * (docs/model-format.md, section 1). The file is mmapped (st_open) or read
 * from a caller-owned buffer (st_open_memory); every header field, dtype,
 * shape and byte range is checked before any tensor is exposed, and every
 * refusal is one line naming the tensor at fault. It knows nothing about
 * st2v models: model.c binds the tensors, the golden tests read fixtures.
 *
 * Memory-opened files have f->map == NULL (nothing to unmap); f->map_size
 * is the buffer size in both cases.
 */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "escape.h"

/* More tensors than any st2v model has by far; bounds the memory a hostile
 * header can make us allocate (st_tensor is ~330 bytes). */
#define ST_MAX_TENSORS 65536

/* ------------------------------------------------------------ helpers */

/* Every dtype the reader accepts, with its file spelling and size. */
static const struct {
    const char *name;
    st_dtype dtype;
    size_t size;
} DTYPES[] = {
    {"F32", ST_F32, 4},       {"F16", ST_F16, 2}, {"BF16", ST_BF16, 2},
    {"F8_E4M3", ST_F8_E4M3, 1}, {"U8", ST_U8, 1},   {"I8", ST_I8, 1},
    {"I32", ST_I32, 4},
};
#define N_DTYPES (sizeof(DTYPES) / sizeof(DTYPES[0]))

size_t st_dtype_size(st_dtype d)
{
    for (size_t i = 0; i < N_DTYPES; i++)
        if (DTYPES[i].dtype == d)
            return DTYPES[i].size;
    return 0;
}

const char *st_dtype_name(st_dtype d)
{
    for (size_t i = 0; i < N_DTYPES; i++)
        if (DTYPES[i].dtype == d)
            return DTYPES[i].name;
    return "?";
}

int st_dtype_is_float(st_dtype d)
{
    return d == ST_F32 || d == ST_F16 || d == ST_BF16 || d == ST_F8_E4M3;
}

void st_format_shape(char *buf, size_t size, const int64_t *shape, int ndim)
{
    size_t o = 0;
    o += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, "%s%" PRId64, i ? ", " : "",
                              shape[i]);
    if (o < size)
        snprintf(buf + o, size - o, "]");
}

int st_expect(const st_tensor **out, const st_file *f, const char *name,
              int ndim, const int64_t *shape, char *err, size_t err_size)
{
    const st_tensor *t = st_find(f, name);
    *out = NULL;
    if (!t)
        return st2v_fail(err, err_size, ST2V_ERR_FORMAT, "tensor %s: missing",
                         name);
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = t->shape[i] == shape[i];
    if (!ok) {
        char got_s[96], want_s[96];
        st_format_shape(got_s, sizeof(got_s), t->shape, t->ndim);
        st_format_shape(want_s, sizeof(want_s), shape, ndim);
        return st2v_fail(err, err_size, ST2V_ERR_FORMAT,
                         "tensor %s: shape %s, expected %s", name, got_s,
                         want_s);
    }
    *out = t;
    return 0;
}

/* A JSON number that is a non-negative integer exactly representable in a
 * double (<= 2^53); anything else (fractions, negatives, huge values,
 * non-numbers) is refused. */
static int json_u64(const cJSON *item, uint64_t *out)
{
    if (!cJSON_IsNumber(item))
        return -1;
    double v = item->valuedouble;
    if (!(v >= 0.0 && v <= 9007199254740992.0) || v != floor(v))
        return -1;
    *out = (uint64_t)v;
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

typedef struct {
    const st_tensor *t;
    uint64_t begin, end;
} range;

static int cmp_range(const void *a, const void *b)
{
    const range *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

/* ------------------------------------------------------- one tensor */

/* Validate the header entry of tensor `name` and fill t. data_base is the
 * start of the data section, data_size its length. */
static int parse_tensor(st_tensor *t, const char *name, const cJSON *entry,
                        const uint8_t *data_base, uint64_t data_size,
                        char *err, size_t err_size)
{
    size_t len = strlen(name);
    if (len == 0)
        return st2v_fail(err, err_size, ST2V_ERR_FORMAT,
                         "header: a tensor has an empty name");
    if (len >= ST_MAX_NAME)
        return st2v_fail(err, err_size, ST2V_ERR_FORMAT,
                         "tensor \"%s\": name is %zu bytes, longer than %d",
                         st2v_quote(name).s, len, ST_MAX_NAME - 1);
    memcpy(t->name, name, len + 1);
#define FAIL(...) st2v_fail(err, err_size, ST2V_ERR_FORMAT, __VA_ARGS__)

    if (!cJSON_IsObject(entry))
        return FAIL("tensor \"%s\": header entry is not an object",
                    st2v_quote(name).s);

    const cJSON *dtype = NULL, *shape = NULL, *offsets = NULL;
    for (const cJSON *c = entry->child; c; c = c->next) {
        const cJSON **slot = NULL;
        if (strcmp(c->string, "dtype") == 0)
            slot = &dtype;
        else if (strcmp(c->string, "shape") == 0)
            slot = &shape;
        else if (strcmp(c->string, "data_offsets") == 0)
            slot = &offsets;
        else
            return FAIL("tensor \"%s\": unknown key \"%s\" (expected dtype, "
                        "shape, data_offsets)",
                        st2v_quote(name).s, st2v_quote(c->string).s);
        if (*slot)
            return FAIL("tensor \"%s\": key \"%s\" appears twice",
                        st2v_quote(name).s, c->string);
        *slot = c;
    }

    /* dtype */
    if (!dtype || !cJSON_IsString(dtype))
        return FAIL("tensor \"%s\": dtype is missing or not a string",
                    st2v_quote(name).s);
    size_t k = 0;
    while (k < N_DTYPES && strcmp(dtype->valuestring, DTYPES[k].name) != 0)
        k++;
    if (k == N_DTYPES)
        return FAIL("tensor \"%s\": unknown dtype \"%s\" (expected F32, F16, "
                    "BF16, F8_E4M3, U8, I8 or I32)",
                    st2v_quote(name).s, st2v_quote(dtype->valuestring).s);
    t->dtype = DTYPES[k].dtype;

    /* shape */
    if (!shape || !cJSON_IsArray(shape))
        return FAIL("tensor \"%s\": shape is missing or not an array",
                    st2v_quote(name).s);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > ST_MAX_DIMS)
        return FAIL("tensor \"%s\": shape has %d dimensions, more than %d",
                    st2v_quote(name).s, ndim, ST_MAX_DIMS);
    t->ndim = ndim;
    uint64_t numel = 1;
    int overflow = 0, i = 0;
    for (const cJSON *d = shape->child; d; d = d->next, i++) {
        uint64_t v;
        if (json_u64(d, &v) != 0)
            return FAIL("tensor \"%s\": shape entry %d is not a non-negative "
                        "integer",
                        st2v_quote(name).s, i);
        t->shape[i] = (int64_t)v;
        if (st2v_mul_overflow(numel, v, &numel) != 0)
            overflow = 1;
    }
    /* a zero dimension makes the product 0 even after an overflow */
    for (i = 0; i < ndim; i++)
        if (t->shape[i] == 0)
            overflow = 0, numel = 0;
    char sh[160];
    st_format_shape(sh, sizeof(sh), t->shape, ndim);
    uint64_t nbytes = 0;
    if (overflow || st2v_mul_overflow(numel, st_dtype_size(t->dtype), &nbytes))
        return FAIL("tensor \"%s\": the size of shape %s overflows 64 bits",
                    st2v_quote(name).s, sh);
    t->numel = numel;

    /* data_offsets */
    uint64_t begin, end;
    if (!offsets || !cJSON_IsArray(offsets) ||
        cJSON_GetArraySize(offsets) != 2 ||
        json_u64(offsets->child, &begin) != 0 ||
        json_u64(offsets->child->next, &end) != 0)
        return FAIL("tensor \"%s\": data_offsets must be two non-negative "
                    "integers",
                    st2v_quote(name).s);
    if (begin > end)
        return FAIL("tensor \"%s\": data_offsets [%" PRIu64 ", %" PRIu64
                    "] are reversed",
                    st2v_quote(name).s, begin, end);
    if (end > data_size)
        return FAIL("tensor \"%s\": data_offsets [%" PRIu64 ", %" PRIu64
                    "] lie outside the data section (%" PRIu64 " bytes)",
                    st2v_quote(name).s, begin, end, data_size);
    if (end - begin != nbytes)
        return FAIL("tensor \"%s\": data_offsets [%" PRIu64 ", %" PRIu64
                    "] hold %" PRIu64 " bytes but shape %s of %s needs %" PRIu64,
                    st2v_quote(name).s, begin, end, end - begin, sh,
                    st_dtype_name(t->dtype), nbytes);
    t->data = data_base + begin;
    return 0;
#undef FAIL
}

/* ------------------------------------------------------- the header */

static int parse_image(st_file *f, const uint8_t *base, size_t size, char *err,
                       size_t err_size)
{
#define FAIL(...) st2v_fail(err, err_size, ST2V_ERR_FORMAT, __VA_ARGS__)
    if (size < 8)
        return FAIL("file is %zu bytes, shorter than the 8-byte header length",
                    size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | base[i];
    if (n > ST_MAX_HEADER)
        return FAIL("header length %" PRIu64 " is larger than the %u-byte "
                    "limit",
                    n, ST_MAX_HEADER);
    if (n > size - 8)
        return FAIL("header length %" PRIu64 " is larger than the file "
                    "(%zu bytes)",
                    n, size);

    /* cJSON gets a NUL-terminated private copy: no read can run past it,
     * and an embedded NUL shows up below as trailing garbage. */
    char *text = malloc((size_t)n + 1); /* (n + 1) */
    if (!text)
        return st2v_fail(err, err_size, ST2V_ERR_NOMEM,
                         "out of memory for a %" PRIu64 "-byte header", n);
    memcpy(text, base + 8, (size_t)n);
    text[n] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 0);
    int rc = 0;
    if (!root) {
        rc = FAIL("header is not valid JSON (error at byte %zu of %" PRIu64 ")",
                  end ? (size_t)(end - text) : (size_t)0, n);
        goto out;
    }
    for (const char *p = end; p < text + n; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            rc = FAIL("header has unexpected bytes after the JSON value "
                      "(at byte %zu of %" PRIu64 ")",
                      (size_t)(p - text), n);
            goto out;
        }
    }
    if (!cJSON_IsObject(root)) {
        rc = FAIL("header is not a JSON object");
        goto out;
    }

    const uint8_t *data_base = base + 8 + n;
    uint64_t data_size = (uint64_t)size - 8 - n;
    cJSON *meta = NULL;
    int count = 0;
    for (cJSON *c = root->child; c; c = c->next) {
        if (strcmp(c->string, "__metadata__") == 0) {
            if (meta) {
                rc = FAIL("header: __metadata__ appears twice");
                goto out;
            }
            if (!cJSON_IsObject(c)) {
                rc = FAIL("header: __metadata__ is not an object");
                goto out;
            }
            for (const cJSON *m = c->child; m; m = m->next) {
                if (!cJSON_IsString(m)) {
                    rc = FAIL("header: __metadata__ value \"%s\" is not a "
                              "string",
                              st2v_quote(m->string).s);
                    goto out;
                }
            }
            meta = c;
        } else if (++count > ST_MAX_TENSORS) {
            rc = FAIL("header: more than %d tensors", ST_MAX_TENSORS);
            goto out;
        }
    }

    /* (count) each; ranges: byte ranges of the non-empty tensors */
    st_tensor *tensors = calloc(count ? (size_t)count : 1, sizeof(*tensors));
    range *ranges = calloc(count ? (size_t)count : 1, sizeof(*ranges));
    if (!tensors || !ranges) {
        free(tensors);
        free(ranges);
        rc = st2v_fail(err, err_size, ST2V_ERR_NOMEM,
                       "out of memory for %d tensors", count);
        goto out;
    }
    f->tensors = tensors;
    f->n_tensors = 0;
    for (cJSON *c = root->child; c; c = c->next) {
        if (c == meta)
            continue;
        rc = parse_tensor(&tensors[f->n_tensors], c->string, c, data_base,
                          data_size, err, err_size);
        if (rc != 0) {
            free(ranges);
            goto out;
        }
        f->n_tensors++;
    }

    /* sorted by name, for st_find; equal neighbours are duplicates */
    qsort(tensors, (size_t)count, sizeof(*tensors), cmp_name);
    for (int i = 1; i < count; i++) {
        if (strcmp(tensors[i - 1].name, tensors[i].name) == 0) {
            free(ranges);
            rc = FAIL("tensor \"%s\" appears twice in the header",
                      st2v_quote(tensors[i].name).s);
            goto out;
        }
    }

    /* byte ranges must not overlap (empty tensors overlap nothing) */
    int nr = 0;
    for (int i = 0; i < count; i++) {
        if (tensors[i].numel == 0)
            continue;
        ranges[nr].t = &tensors[i];
        ranges[nr].begin = (uint64_t)(tensors[i].data - data_base);
        ranges[nr].end = ranges[nr].begin +
                         tensors[i].numel * st_dtype_size(tensors[i].dtype);
        nr++;
    }
    qsort(ranges, (size_t)nr, sizeof(*ranges), cmp_range);
    const range *reach = NULL; /* the range that ends last so far */
    for (int i = 0; i < nr; i++) {
        if (reach && reach->end > ranges[i].begin) {
            rc = FAIL("tensor \"%s\": data_offsets [%" PRIu64 ", %" PRIu64
                      "] overlap tensor \"%s\" [%" PRIu64 ", %" PRIu64 "]",
                      st2v_quote(ranges[i].t->name).s, ranges[i].begin,
                      ranges[i].end, st2v_quote(reach->t->name).s, reach->begin,
                      reach->end);
            free(ranges);
            goto out;
        }
        if (!reach || ranges[i].end > reach->end)
            reach = &ranges[i];
    }
    free(ranges);

    if (meta)
        f->metadata = cJSON_DetachItemViaPointer(root, meta);
out:
    cJSON_Delete(root);
    free(text);
    return rc;
#undef FAIL
}

/* ---------------------------------------------------------- public */

int st_open_memory(st_file *f, const void *buf, size_t size, char *err,
                   size_t err_size)
{
    memset(f, 0, sizeof(*f));
    if (!buf && size)
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "st_open_memory: NULL buffer");
    f->map_size = size;
    int rc = parse_image(f, buf, size, err, err_size);
    if (rc != 0)
        st_close(f);
    return rc;
}

int st_open(st_file *f, const char *path, char *err, size_t err_size)
{
    memset(f, 0, sizeof(*f));
    /* O_NONBLOCK: a FIFO fails the check below instead of waiting for a
     * writer (regular files ignore the flag; mmap reads them) */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return st2v_fail(err, err_size, ST2V_ERR_IO, "cannot open \"%s\": %s",
                         st2v_quote(path).s, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return st2v_fail(err, err_size, ST2V_ERR_IO,
                         "\"%s\" is not a regular file", st2v_quote(path).s);
    }
    size_t size = (size_t)sb.st_size;
    if (size < 8) {
        close(fd);
        return st2v_fail(err, err_size, ST2V_ERR_FORMAT,
                         "\"%s\": file is %zu bytes, shorter than the 8-byte "
                         "header length",
                         st2v_quote(path).s, size);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd);
    if (map == MAP_FAILED)
        return st2v_fail(err, err_size, ST2V_ERR_IO, "cannot map \"%s\": %s",
                         st2v_quote(path).s, strerror(map_errno));
    f->map = map;
    f->map_size = size;
    int rc = parse_image(f, map, size, err, err_size);
    if (rc != 0)
        st_close(f);
    return rc;
}

void st_close(st_file *f)
{
    if (!f)
        return;
    if (f->map)
        munmap(f->map, f->map_size);
    free(f->tensors);
    cJSON_Delete(f->metadata);
    memset(f, 0, sizeof(*f));
}

const st_tensor *st_find(const st_file *f, const char *name)
{
    if (!f || !name || f->n_tensors <= 0 || strlen(name) >= ST_MAX_NAME)
        return NULL;
    st_tensor key;
    strcpy(key.name, name);
    return bsearch(&key, f->tensors, (size_t)f->n_tensors, sizeof(st_tensor),
                   cmp_name);
}

const char *st_metadata(const st_file *f, const char *key)
{
    if (!f || !f->metadata || !key)
        return NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(f->metadata, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ------------------------------------------------------ conversion */

float st_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {
            uint32_t e = 113; /* 127 - 15 + 1 */
            while (!(mant & 0x400)) {
                mant <<= 1;
                e--;
            }
            bits = sign | (e << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    }
    float out;
    memcpy(&out, &bits, sizeof(out));
    return out;
}

float st_f8_e4m3_to_f32(uint8_t b)
{
    const uint32_t sign = (uint32_t)(b & 0x80) << 24;
    const uint32_t exp = (b >> 3) & 0xf, mant = b & 0x7;
    uint32_t bits;
    if (exp == 0xf && mant == 0x7) {
        bits = sign | 0x7fc00000u; /* the only NaN; no infinities */
    } else if (exp == 0) {
        float v = (float)mant * 0x1p-9f; /* subnormal: mant/8 * 2^-6, exact */
        return sign ? -v : v;
    } else {
        bits = sign | ((exp + 120) << 23) | (mant << 20); /* 127 - 7 */
    }
    float out;
    memcpy(&out, &bits, sizeof(out));
    return out;
}

void st_to_f32(const st_tensor *t, float *dst)
{
    const uint8_t *p = t->data;
    size_t n = (size_t)t->numel;
    switch (t->dtype) {
    case ST_F32:
        memcpy(dst, p, n * sizeof(float)); /* the host is little-endian */
        break;
    case ST_F16:
        for (size_t i = 0; i < n; i++)
            dst[i] = st_f16_to_f32((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
        break;
    case ST_BF16:
        for (size_t i = 0; i < n; i++) {
            uint32_t bits = (uint32_t)(p[2 * i] | (p[2 * i + 1] << 8)) << 16;
            memcpy(&dst[i], &bits, sizeof(float));
        }
        break;
    case ST_F8_E4M3:
        for (size_t i = 0; i < n; i++)
            dst[i] = st_f8_e4m3_to_f32(p[i]);
        break;
    case ST_U8:
        for (size_t i = 0; i < n; i++)
            dst[i] = (float)p[i];
        break;
    case ST_I8:
        for (size_t i = 0; i < n; i++)
            dst[i] = (float)(int8_t)p[i];
        break;
    case ST_I32:
        for (size_t i = 0; i < n; i++) {
            int32_t v;
            memcpy(&v, p + 4 * i, sizeof(v)); /* little-endian host */
            dst[i] = (float)v;
        }
        break;
    }
}
