/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * safetensors.h - a read-only, mmap-based reader for .safetensors files that
 * trusts nothing: every header field, dtype, shape and byte range is checked
 * before any tensor is exposed. It knows nothing about st2v models (see
 * model.h); the golden tests use it to read their fixtures too.
 */
#ifndef ST2V_SAFETENSORS_H
#define ST2V_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIMS 8
#define ST_MAX_NAME 256
#define ST_MAX_HEADER (100u * 1024u * 1024u)

/* The dtypes a file may hold. F8_E4M3 is OCP's E4M3FN (torch's
 * float8_e4m3fn: bias 7, no infinities, S.1111.111 is NaN, largest 448):
 * ComfyUI's "scaled fp8" files store weights in it, each with a scalar
 * float32 `<layer>.scale_weight` (w = fp8 * scale; the scale is the
 * loader's business, not the reader's). U8 and I8 carry bytes, such as the
 * serialised spiece.model inside ComfyUI's text-encoder files; I32 token
 * ids (st2v-parts). */
typedef enum st_dtype {
    ST_F32 = 0,
    ST_F16 = 1,
    ST_BF16 = 2,
    ST_F8_E4M3 = 3,
    ST_U8 = 4,
    ST_I8 = 5,
    ST_I32 = 6
} st_dtype;

typedef struct st_tensor {
    char name[ST_MAX_NAME];
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    uint64_t numel;              /* product of shape (checked for overflow) */
    const uint8_t *data;         /* inside the mapping, numel * sizeof(dtype) bytes */
} st_tensor;

typedef struct st_file {
    void *map;                   /* read-only mapping of the whole file */
    size_t map_size;
    int n_tensors;
    st_tensor *tensors;          /* sorted by name */
    void *metadata;              /* parsed __metadata__ (cJSON *), or NULL */
} st_file;

/* Open and validate. On failure the file is closed and err gets a reason. */
int st_open(st_file *f, const char *path, char *err, size_t err_size);
/* Same, from a caller-owned buffer (not copied; must outlive f). */
int st_open_memory(st_file *f, const void *buf, size_t size, char *err,
                   size_t err_size);
void st_close(st_file *f);

const st_tensor *st_find(const st_file *f, const char *name);

/* Metadata string for `key` in __metadata__, or NULL. Valid until st_close. */
const char *st_metadata(const st_file *f, const char *key);

/* Convert numel elements to float32 (dst must hold t->numel floats),
 * exactly: floats widened, U8/I8/I32 as their integer values (I32 rounded
 * beyond 2^24), F8_E4M3 without
 * any scale. */
void st_to_f32(const st_tensor *t, float *dst);

/* One E4M3FN byte as float32, exactly (0x7F and 0xFF are NaN). */
float st_f8_e4m3_to_f32(uint8_t b);

size_t st_dtype_size(st_dtype d);

/* "F32", "F16", "BF16", "F8_E4M3", "U8", "I8", "I32": the file's
 * spelling. */
const char *st_dtype_name(st_dtype d);

/* A floating-point dtype (F32, F16, BF16, F8_E4M3). */
int st_dtype_is_float(st_dtype d);

/* A shape as "[a, b, c]", for messages. */
void st_format_shape(char *buf, size_t size, const int64_t *shape, int ndim);

/* *out = tensor `name` of f, which must have exactly the ndim sizes of
 * shape; else ST2V_ERR_FORMAT and "tensor NAME: missing" or "tensor NAME:
 * shape [..], expected [..]" in err. The dtype is the caller's to check. */
int st_expect(const st_tensor **out, const st_file *f, const char *name,
              int ndim, const int64_t *shape, char *err, size_t err_size);

/* IEEE half to single, exactly: subnormals normalised, inf and NaN kept. */
float st_f16_to_f32(uint16_t h);

#endif /* ST2V_SAFETENSORS_H */
