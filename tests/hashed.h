/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hashed.h - weights computed from a counter hash, as train/wan/hashed.py
 * computes them, for golden tests of full-width parts whose weights are
 * too large to store (one umT5 block of 4096: 285 MB in BF16). Tensor
 * number k of a model (names sorted as strings) holds at flat index i
 * q * 2^-shift, q = (splitmix64(k << 40 | i) >> 56) - 128: exact in BF16.
 * hashed_file() builds a safetensors image of such tensors in memory, in
 * BF16, for st_open_memory().
 */
#ifndef ST2V_TESTS_HASHED_H
#define ST2V_TESTS_HASHED_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HASHED_MAX_DIMS 5

typedef struct hashed_tensor {
    const char *name;
    int ndim;
    int64_t shape[HASHED_MAX_DIMS];
    int shift;                 /* < 0: hashed_fan_in_shift(shape) */
} hashed_tensor;

static inline uint64_t hashed_splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* hashed.py's fan_in_shift: for ndim >= 2 the least s with 2^2s >= 74^2
 * times the product of all dimensions but the first; 9 for vectors. */
static inline int hashed_fan_in_shift(int ndim, const int64_t *shape)
{
    if (ndim < 2)
        return 9;
    int64_t fan_in = 1;
    for (int d = 1; d < ndim; d++)
        fan_in *= shape[d];
    int s = 0;
    while (((int64_t)1 << (2 * s)) < 5476 * fan_in)
        s++;
    return s;
}

/* v (n) = tensor number k's values (float32, exact). */
static inline void hashed_values(float *v, uint64_t k, int64_t n, int shift)
{
    const float step = ldexpf(1.0f, -shift);
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)((int)(hashed_splitmix64(k << 40 | (uint64_t)i) >> 56) -
                       128) *
               step;
}

static int hashed_cmp(const void *a, const void *b)
{
    return strcmp(((const hashed_tensor *)a)->name,
                  ((const hashed_tensor *)b)->name);
}

/* A safetensors image (malloc'ed, *size bytes) of the n tensors t (sorted
 * by name in place: k is the sorted position), in BF16. NULL when out of
 * memory or the header does not fit. */
static uint8_t *hashed_file(hashed_tensor *t, int n, size_t *size)
{
    qsort(t, (size_t)n, sizeof(*t), hashed_cmp);
    size_t hcap = 256 + (size_t)n * 256, hn = 0, data = 0;
    char *h = malloc(hcap);
    if (!h)
        return NULL;
    hn += (size_t)snprintf(h, hcap, "{");
    for (int k = 0; k < n && hn < hcap; k++) {
        int64_t numel = 1;
        for (int d = 0; d < t[k].ndim; d++)
            numel *= t[k].shape[d];
        hn += (size_t)snprintf(h + hn, hcap - hn,
                               "%s\"%s\":{\"dtype\":\"BF16\",\"shape\":[",
                               k ? "," : "", t[k].name);
        for (int d = 0; d < t[k].ndim && hn < hcap; d++)
            hn += (size_t)snprintf(h + hn, hcap - hn, "%s%lld", d ? "," : "",
                                   (long long)t[k].shape[d]);
        if (hn < hcap)
            hn += (size_t)snprintf(h + hn, hcap - hn,
                                   "],\"data_offsets\":[%zu,%zu]}", data,
                                   data + 2 * (size_t)numel);
        data += 2 * (size_t)numel;
    }
    if (hn + 9 >= hcap) {
        free(h);
        return NULL;
    }
    hn += (size_t)snprintf(h + hn, hcap - hn, "}");
    while (hn % 8)
        h[hn++] = ' ';
    uint8_t *buf = malloc(8 + hn + data);
    float *v = NULL;
    if (!buf) {
        free(h);
        return NULL;
    }
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)((uint64_t)hn >> (8 * i));
    memcpy(buf + 8, h, hn);
    free(h);
    uint16_t *w = (uint16_t *)(buf + 8 + hn); /* hn % 8 == 0: aligned */
    for (int k = 0; k < n; k++) {
        int64_t numel = 1;
        for (int d = 0; d < t[k].ndim; d++)
            numel *= t[k].shape[d];
        float *nv = realloc(v, (size_t)numel * sizeof(float));
        if (!nv) {
            free(v);
            free(buf);
            return NULL;
        }
        v = nv;
        int shift = t[k].shift >= 0 ? t[k].shift
                                    : hashed_fan_in_shift(t[k].ndim,
                                                          t[k].shape);
        hashed_values(v, (uint64_t)k, numel, shift);
        for (int64_t i = 0; i < numel; i++) {
            uint32_t bits;
            memcpy(&bits, &v[i], 4);
            w[i] = (uint16_t)(bits >> 16); /* exact: 8 significant bits */
        }
        w += numel;
    }
    free(v);
    *size = 8 + hn + data;
    return buf;
}

#endif /* ST2V_TESTS_HASHED_H */
