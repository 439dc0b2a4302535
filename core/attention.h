/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * attention.h - multi-head softmax attention tiled with an online softmax
 * (flash style): queries in blocks of ST2V_FA_QBLOCK rows meet the keys in
 * blocks, the running row maximum and sum rescaling what was accumulated
 * before. No score matrix larger than one (query block x key block) tile
 * exists, so memory does not grow with nq * nk: the Wan DiT's
 * 14,040-token self-attention needs about 1 MB of scratch per thread.
 *
 * Two kernels, chosen at run time: on CPUs with AVX-512 and heads of a
 * multiple of 16 (Wan's 128, the world model's 48), attention_avx512.c's,
 * with the scores kept transposed and both products on its own FMA
 * micro-kernels (or vdpbf16ps, st2v_flash_attention_bf16); elsewhere
 * attention.c's over OpenBLAS, each block's scores one cblas_sgemm with
 * 256 x 512 tiles (15 % faster than 128 x 256 at 3,200 tokens, 12 heads
 * of 128).
 *
 * Determinism: tasks are (head, query block) pairs, each computed alone
 * from the sizes, so results are bit-identical for any pool (NULL =
 * serial), as in ops.h.
 *
 * Not here: the projections, norms and RoPE around it (each model's file);
 * the AVX-512 kernels' code (attention_avx512.c);
 * ops.h's st2v_op_attention, which holds a whole (rows x nk) score block
 * and suits short key sequences.
 */
#ifndef ST2V_ATTENTION_H
#define ST2V_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

#include "pool.h"

/* Query rows per task, and keys per tile of the OpenBLAS kernel. */
#define ST2V_FA_QBLOCK 256
#define ST2V_FA_KBLOCK 512

/* Scratch floats st2v_flash_attention() and st2v_flash_attention_bf16()
 * need with this pool for heads of hd: per thread, one tile of scores, an
 * accumulator, the transposed queries and two row vectors. */
size_t st2v_flash_attention_scratch(const st2v_pool *pool, int hd);

/* Head j reads columns j*hd .. (j+1)*hd-1 of the rows of q (nq rows,
 * stride ldq), k and v (nk rows, strides ldk, ldv) and writes the same
 * columns of out (nq rows, stride ldo):
 *   out_j = softmax(q_j k_j^T / sqrt(hd) + key_bias) v_j,
 * key_bias (nk) added to every row's logits, or NULL for none. out must
 * not overlap q, k or v. nq, nk >= 1. */
void st2v_flash_attention(st2v_pool *pool, float *out, int64_t ldo,
                          const float *q, int64_t ldq, const float *k,
                          int64_t ldk, const float *v, int64_t ldv, int nq,
                          int nk, int heads, int hd, const float *key_bias,
                          float *scratch);

/* The same attention with bfloat16 products: q, k and v rounded to
 * bfloat16 (nearest even), the products of q k^T and of the probabilities
 * by v summed in float32 by AVX512-BF16's vdpbf16ps; the softmax, its
 * sums and the accumulation across key blocks in float32. Within 2e-2
 * (max abs error / max abs output) of float64 where the logits have a
 * standard deviation of 3 (test_attention: 0.2-1.1e-2), since q and k
 * carry 8 significant bits; a bf16 flash attention on a GPU rounds the
 * same. Scratch as st2v_flash_attention's. Returns 1, or 0 (and does
 * nothing) where this CPU lacks AVX512-BF16 (or ST2V_CPU caps it) or hd
 * is not a multiple of 16 up to 256 (_supported(hd) says which): the
 * caller then uses st2v_flash_attention. Bit-identical for any pool. */
int st2v_flash_attention_bf16_supported(int hd);
int st2v_flash_attention_bf16(st2v_pool *pool, float *out, int64_t ldo,
                              const float *q, int64_t ldq, const float *k,
                              int64_t ldk, const float *v, int64_t ldv, int nq,
                              int nk, int heads, int hd, const float *key_bias,
                              float *scratch);

/* For attention.c: the kernels of attention_avx512.c, float32 (bf16 = 0)
 * or bfloat16 (1), for heads of hd a multiple of 16 up to 256 on CPUs
 * with AVX-512 (and AVX512-BF16 for bf16). st2v_fa_avx512 returns 0 and
 * does nothing where st2v_fa_avx512_supported says no. */
int st2v_fa_avx512_supported(int hd, int bf16);
size_t st2v_fa_avx512_scratch(const st2v_pool *pool, int hd);
int st2v_fa_avx512(st2v_pool *pool, float *out, int64_t ldo, const float *q,
                   int64_t ldq, const float *k, int64_t ldk, const float *v,
                   int64_t ldv, int nq, int nk, int heads, int hd,
                   const float *key_bias, int bf16, float *scratch);

#endif /* ST2V_ATTENTION_H */
