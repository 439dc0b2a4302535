/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ops_bf16.h - the matrix product of a linear layer over bfloat16 weights
 * read where they lie: y = x W^T with W a row-major (out, in) matrix of
 * bfloat16 (a tensor of a mapped .safetensors file, e.g. the Wan DiT's),
 * products of bfloat16 values (x rounded to bfloat16, nearest even) summed
 * in float32 by AVX512-BF16's vdpbf16ps. No copy of the weights is made,
 * packed or widened; any `in` (K-blocked).
 *
 * Determinism: every output is one sum in a fixed order (32-wide chunks
 * of k in order within a fixed block of k, the 16 lanes reduced by a fixed
 * tree, the blocks of k added in order), whatever the tile, task or
 * thread: bit-identical for any pool (NULL = serial), as in ops.h.
 *
 * Chosen at run time: where the CPU lacks AVX512-BF16 (or ST2V_CPU caps
 * it, cpu.h) st2v_bf16_matmul() declines and callers compute in float32.
 * Not here: the choice of which layers take this path (wtensor.h's
 * st2v_wview.bf16, set by each family's loader), the world model's packed
 * BF16 path (ops_packed.c, ops.h).
 */
#ifndef ST2V_OPS_BF16_H
#define ST2V_OPS_BF16_H

#include <stddef.h>
#include <stdint.h>

#include "pool.h"

/* Whether this CPU runs st2v_bf16_matmul() (AVX512-BF16, F, BW, VL). */
int st2v_bf16_matmul_supported(void);

/* Scratch floats st2v_bf16_matmul() needs with this pool for `in` inputs:
 * per thread, one block of rows of x rounded to bfloat16. */
size_t st2v_bf16_matmul_scratch(const st2v_pool *pool, int64_t in);

/* y (n, out), row stride ldy: y = x W^T, or y += x W^T when accumulate;
 * x (n, in), row stride ldx, float32; w (out, in) row-major bfloat16
 * (any alignment). y and x must not overlap. scratch:
 * st2v_bf16_matmul_scratch(pool, in) floats (any alignment). Returns 1,
 * or 0 (and does nothing) where the CPU lacks the instructions. */
int st2v_bf16_matmul(st2v_pool *pool, float *y, int64_t ldy, const float *x,
                     int64_t ldx, const void *w, int64_t out, int64_t in,
                     int64_t n, int accumulate, float *scratch);

/* The float32 sibling: y = x W^T with x float32 (not rounded) and each
 * bfloat16 of W (out, in, where it lies) widened exactly to float32 in
 * registers, products summed in float32 by FMA. Same blocking, tasks and
 * determinism as above (bit-identical for any pool). Needs AVX-512 (F, BW,
 * VL; ST2V_CPU may cap it); otherwise declines (returns 0) and callers
 * widen tiles for OpenBLAS. scratch: st2v_bf16w_matmul_f32_scratch(pool,
 * in) floats (any alignment): per thread, one block of rows of x. */
int st2v_bf16w_matmul_f32_supported(void);
size_t st2v_bf16w_matmul_f32_scratch(const st2v_pool *pool, int64_t in);
int st2v_bf16w_matmul_f32(st2v_pool *pool, float *y, int64_t ldy,
                          const float *x, int64_t ldx, const void *w,
                          int64_t out, int64_t in, int64_t n, int accumulate,
                          float *scratch);

#endif /* ST2V_OPS_BF16_H */
