/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * wtensor.h - weights used where they lie. A st2v_wview is a row-major
 * matrix inside a mapped .safetensors file, in F32, F16, BF16 or F8_E4M3
 * (times a scale: ComfyUI's scaled fp8); the
 * matrix product st2v_wmatmul() widens it to float32 one tile of
 * ST2V_WTILE rows at a time, into per-thread scratch, just before the
 * cblas_sgemm that uses the tile. A 16-bit model (the 11 GB umT5-XXL
 * encoder, later the Wan DiT) is thus never copied to float32 whole.
 *
 * Determinism: a tile's bounds come from the matrix alone, and each tile
 * is one sgemm over all input rows, so results are bit-identical for any
 * pool (NULL = serial), as in ops.h.
 *
 * The BF16 path: a BF16 view whose `bf16` is set (by a family's loader
 * when its compute dtype is bf16) is multiplied where it lies in
 * bfloat16 products summed in float32 (ops_bf16.h: AVX512-BF16), its
 * input rounded to bfloat16; on a CPU without the instructions (or capped
 * by ST2V_CPU) the same call widens and uses sgemm as above.
 *
 * Not here: the world model, whose loader widens every weight at load
 * (model.c), and any knowledge of tensor names (each family's loader).
 */
#ifndef ST2V_WTENSOR_H
#define ST2V_WTENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "pool.h"
#include "safetensors.h"

/* Weight rows widened per tile of st2v_wmatmul(): each tile is one sgemm
 * over all input rows, which OpenBLAS packs anew per tile; at 3,200 rows x
 * 1,536 (the Wan DiT) 64-row tiles spent 17 % of a block packing. */
#define ST2V_WTILE 256

/* A (rows, cols) row-major matrix of dtype, times scale; a 1-D tensor of
 * n is (1, n). data points into a mapping the caller keeps open. The
 * values are float32(stored) * scale, rounded once to float32 (scale 1:
 * exactly the stored values). */
typedef struct st2v_wview {
    const void *data;
    st_dtype dtype;
    int64_t rows, cols;
    float scale;                /* 1, or the file's scale_weight */
    int bf16;                   /* 1: st2v_wmatmul() in bfloat16 products
                                   where the CPU allows (BF16, scale 1
                                   only); 0 (the binders' default): float32 */
} st2v_wview;

/* Bind v to tensor `name` of f, which must have exactly the shape
 * (d0, d1) (ndim 2) or (d0) (ndim 1, viewed as (1, d0)) and a floating
 * dtype (F32, F16, BF16, F8_E4M3); scale 1, bf16 0. On failure returns
 * ST2V_ERR_FORMAT with "tensor NAME: missing", "tensor NAME: shape [..],
 * expected [..]" or "tensor NAME: dtype U8, ..." in err. */
int st2v_wview_bind(st2v_wview *v, const st_file *f, const char *name,
                    int ndim, int64_t d0, int64_t d1, char *err,
                    size_t err_size);

/* Set v->scale from tensor `name` of f when the file has it (ComfyUI's
 * `<layer>.scale_weight` beside a F8_E4M3 `<layer>.weight`): a float
 * scalar (shape [] or [1]), finite and non-zero, on an F8_E4M3 view.
 * Absent: v keeps scale 1 (a plain fp8 file). A scale beside a weight of
 * another dtype is refused, as is a bad one; err names the tensor. */
int st2v_wview_bind_scale(st2v_wview *v, const st_file *f, const char *name,
                          char *err, size_t err_size);

/* dst (n) = n elements of dtype at src (any alignment), widened exactly
 * to float32 (a signalling NaN may come out quiet), no scale. SSE2 for
 * BF16, F16C for F16 where the CPU has it, a table for F8_E4M3, else
 * scalar. Floating dtypes only. */
void st2v_widen(float *dst, const void *src, st_dtype dtype, int64_t n);

/* dst (nr, cols) = rows r0 .. r0+nr-1 of v as float32, times v->scale. */
void st2v_wview_rows(float *dst, const st2v_wview *v, int64_t r0, int64_t nr);

/* Drop the calling process's pages of v's whole pages (madvise
 * MADV_DONTNEED): they leave its resident set but stay in the page cache,
 * and the next read maps them again. Only for views into a read-only file
 * mapping (st_open, f->map != NULL), where they reread the file: on the
 * caller's buffer of st_open_memory it would zero them. For weights read
 * once per call, such as the 11 GB text encoder's. */
void st2v_wview_release(const st2v_wview *v);
/* The same for the whole pages inside bytes at data: only for a read-only
 * file mapping (st_file.map != NULL), never for memory the caller owns. */
void st2v_release_pages(const void *data, size_t bytes);

/* Scratch floats st2v_wmatmul() needs with this pool for a matrix of
 * `cols` columns: one tile per thread (none is used for F32 weights, but
 * callers size it once for every dtype), which also holds the BF16 path's
 * rounded rows. */
size_t st2v_wmatmul_scratch(const st2v_pool *pool, int64_t cols);

/* y (n, w->rows), row stride ldy: y = x W^T, or y += x W^T when
 * accumulate; x (n, w->cols), row stride ldx. y and x must not overlap.
 * In bfloat16 products for a view with bf16 set (above), else float32.
 * scratch: st2v_wmatmul_scratch(pool, w->cols) floats. */
void st2v_wmatmul(st2v_pool *pool, float *y, int64_t ldy, const float *x,
                  int64_t ldx, const st2v_wview *w, int64_t n, int accumulate,
                  float *scratch);

#endif /* ST2V_WTENSOR_H */
