/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ops_packed.c - linear layers over weights packed once at load, in the
 * layout of an AVX-512 micro-kernel, instead of OpenBLAS packing them
 * again on every call:
 *
 * - float32: panels of 16 output columns (in, 16), an 8x32 FMA kernel
 *   that broadcasts the activations straight from their rows;
 * - the BF16 path: the same panels as bfloat16 pairs (ceil(in/2), 16, 2),
 *   the layout of AVX512-BF16's dot product (vdpbf16ps), activations
 *   rounded to bfloat16 eight rows at a time, sums in float32. Twice the
 *   multiply-adds per instruction of float32 and half the weight bytes, at
 *   bfloat16's precision (8 significant bits per input).
 *
 * Chosen at run time: st2v_op_f32_packed_supported() (AVX-512F) and
 * st2v_op_bf16_supported() say whether this CPU has the instructions; the
 * kernels are compiled for them with function-level target attributes, so
 * the rest of the library stays portable. Without them the callers keep
 * the float32 weights and OpenBLAS.
 *
 * Determinism: every output is one dot product over k in a fixed order
 * (pairs of k, in order), whatever the tile, row block or thread, so
 * results are bit-identical for any pool, as in ops.h.
 *
 * Not here: the other kernels (ops.c), the choice of which layers to
 * pack (each family's loader).
 */
#include <stdint.h>
#include <string.h>

#include "common.h"
#include "cpu.h"
#include "ops.h"

#define PANEL 16  /* output columns per packed panel: one vector of floats */
#define ROWS 8    /* activation rows per micro-kernel call */

/* float32 -> bfloat16, round to nearest even (NaN kept a NaN). */
static uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

size_t st2v_op_bf16_pack_size(int out, int in)
{
    return (size_t)((out + PANEL - 1) / PANEL) * PANEL *
           (size_t)((in + 1) / 2) * 2;
}

void st2v_op_bf16_pack(uint16_t *dst, const float *w, int out, int in)
{
    const int k2 = (in + 1) / 2, np = (out + PANEL - 1) / PANEL;
    for (int p = 0; p < np; p++)
        for (int kk = 0; kk < k2; kk++)
            for (int lane = 0; lane < PANEL; lane++)
                for (int j = 0; j < 2; j++) {
                    const int o = p * PANEL + lane, k = 2 * kk + j;
                    dst[(((size_t)p * k2 + kk) * PANEL + lane) * 2 + j] =
                        o < out && k < in
                            ? to_bf16(w[(size_t)o * in + k])
                            : 0;
                }
}

#ifdef ST2V_X86_BF16
#include <immintrin.h>
#define HAVE_BF16_KERNEL 1
#define BF16_TARGET ST2V_TARGET_BF16

/* xb (ROWS, k2) pairs = rows r0 .. r0+nr-1 of x rounded to bfloat16 (the
 * rows past nr zero). */
BF16_TARGET static void round_rows(uint32_t *xb, const float *x, int64_t ldx,
                                   int nr, int in)
{
    const int k2 = (in + 1) / 2;
    for (int r = 0; r < ROWS; r++) {
        uint32_t *d = xb + (size_t)r * k2;
        if (r >= nr) {
            memset(d, 0, (size_t)k2 * sizeof(uint32_t));
            continue;
        }
        const float *s = x + r * ldx;
        int k = 0;
        for (; k + 32 <= in; k += 32) {
            __m512bh h = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(s + k + 16),
                                             _mm512_loadu_ps(s + k));
            _mm512_storeu_si512((void *)(d + k / 2), (__m512i)h);
        }
        for (; k < in; k += 2) {
            uint32_t lo = to_bf16(s[k]);
            uint32_t hi = k + 1 < in ? to_bf16(s[k + 1]) : 0;
            d[k / 2] = lo | hi << 16;
        }
    }
}

/* dst (ROWS of which nr stored, columns of panels p, p+1) += xb . W^T.
 * two: whether panel p+1 is used; m0, m1: the column masks to store. */
BF16_TARGET static void kernel_8x32(float *dst, int64_t ldd,
                                    const uint32_t *xb, int k2,
                                    const uint16_t *w0, const uint16_t *w1,
                                    int nr, __mmask16 m0, __mmask16 m1)
{
    __m512 a0[ROWS], a1[ROWS];
#pragma GCC unroll 8
    for (int r = 0; r < ROWS; r++)
        a0[r] = a1[r] = _mm512_setzero_ps();
    for (int kk = 0; kk < k2; kk++) {
        const __m512bh b0 =
            (__m512bh)_mm512_loadu_si512((const void *)(w0 + kk * 32));
        const __m512bh b1 =
            (__m512bh)_mm512_loadu_si512((const void *)(w1 + kk * 32));
#pragma GCC unroll 8
        for (int r = 0; r < ROWS; r++) {
            const __m512bh x =
                (__m512bh)_mm512_set1_epi32((int)xb[(size_t)r * k2 + kk]);
            a0[r] = _mm512_dpbf16_ps(a0[r], x, b0);
            a1[r] = _mm512_dpbf16_ps(a1[r], x, b1);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < nr; r++) {
        float *d = dst + r * ldd;
        _mm512_mask_storeu_ps(d, m0,
                              _mm512_add_ps(_mm512_maskz_loadu_ps(m0, d), a0[r]));
        if (m1)
            _mm512_mask_storeu_ps(
                d + PANEL, m1,
                _mm512_add_ps(_mm512_maskz_loadu_ps(m1, d + PANEL), a1[r]));
    }
}

BF16_TARGET static void bf16_gemm(float *dst, int64_t ldd, const float *x,
                                  int64_t ldx, int rows, const uint16_t *wp,
                                  int in, int c0, int c1)
{
    const int k2 = (in + 1) / 2;
    uint32_t xb[ROWS * 512]; /* ROWS rows of up to 1024 inputs */
    for (int r0 = 0; r0 < rows; r0 += ROWS) {
        const int nr = ST2V_MIN(ROWS, rows - r0);
        round_rows(xb, x + r0 * ldx, ldx, nr, in);
        for (int c = c0; c < c1; c += 2 * PANEL) {
            const int p = c / PANEL;
            const int n0 = ST2V_MIN(PANEL, c1 - c);
            const int n1 = ST2V_MIN(PANEL, c1 - c - PANEL);
            const __mmask16 m0 = (__mmask16)((1u << n0) - 1u);
            const __mmask16 m1 =
                n1 > 0 ? (__mmask16)((1u << n1) - 1u) : (__mmask16)0;
            const uint16_t *w0 = wp + (size_t)p * k2 * 32;
            kernel_8x32(dst + r0 * ldd + (c - c0), ldd, xb, k2, w0,
                        n1 > 0 ? w0 + (size_t)k2 * 32 : w0, nr, m0, m1);
        }
    }
}

/* dst (ROWS of which nr, columns of panels p, p+1) += x . W^T, float32;
 * rows past nr repeat the last row and are not stored. */
__attribute__((target("avx512f"))) static void
f32_kernel_8x32(float *dst, int64_t ldd, const float *x, int64_t ldx, int in,
                const float *w0, const float *w1, int nr, __mmask16 m0,
                __mmask16 m1, int acc)
{
    const float *xr[ROWS];
#pragma GCC unroll 8
    for (int r = 0; r < ROWS; r++)
        xr[r] = x + (r < nr ? r : nr - 1) * ldx;
    __m512 a0[ROWS], a1[ROWS];
#pragma GCC unroll 8
    for (int r = 0; r < ROWS; r++)
        a0[r] = a1[r] = _mm512_setzero_ps();
    for (int k = 0; k < in; k++) {
        const __m512 b0 = _mm512_loadu_ps(w0 + k * PANEL);
        const __m512 b1 = _mm512_loadu_ps(w1 + k * PANEL);
#pragma GCC unroll 8
        for (int r = 0; r < ROWS; r++) {
            const __m512 v = _mm512_set1_ps(xr[r][k]);
            a0[r] = _mm512_fmadd_ps(v, b0, a0[r]);
            a1[r] = _mm512_fmadd_ps(v, b1, a1[r]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < nr; r++) {
        float *d = dst + r * ldd;
        if (acc) {
            a0[r] = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, d), a0[r]);
            a1[r] = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, d + PANEL), a1[r]);
        }
        _mm512_mask_storeu_ps(d, m0, a0[r]);
        if (m1)
            _mm512_mask_storeu_ps(d + PANEL, m1, a1[r]);
    }
}

__attribute__((target("avx512f"))) static void
f32_gemm(float *dst, int64_t ldd, const float *x, int64_t ldx, int rows,
         const float *wf, int in, int c0, int c1, int acc)
{
    for (int r0 = 0; r0 < rows; r0 += ROWS) {
        const int nr = ST2V_MIN(ROWS, rows - r0);
        for (int c = c0; c < c1; c += 2 * PANEL) {
            const int p = c / PANEL;
            const int n0 = ST2V_MIN(PANEL, c1 - c);
            const int n1 = ST2V_MIN(PANEL, c1 - c - PANEL);
            const __mmask16 m0 = (__mmask16)((1u << n0) - 1u);
            const __mmask16 m1 =
                n1 > 0 ? (__mmask16)((1u << n1) - 1u) : (__mmask16)0;
            const float *w0 = wf + (size_t)p * in * PANEL;
            f32_kernel_8x32(dst + r0 * ldd + (c - c0), ldd, x + r0 * ldx, ldx,
                            in, w0, n1 > 0 ? w0 + (size_t)in * PANEL : w0, nr,
                            m0, m1, acc);
        }
    }
}
#endif

size_t st2v_op_f32_pack_size(int out, int in)
{
    return (size_t)((out + PANEL - 1) / PANEL) * PANEL * (size_t)in;
}

void st2v_op_f32_pack(float *dst, const float *w, int out, int in)
{
    st2v_op_f32_pack_rows(dst, w, in, out, in, 1.0f);
}

void st2v_op_f32_pack_rows(float *dst, const float *w, int64_t ldw, int out,
                           int in, float scale)
{
    const int np = (out + PANEL - 1) / PANEL;
    for (int p = 0; p < np; p++) {
        float *d = dst + (size_t)p * in * PANEL;            /* (in, 16) */
        for (int lane = 0; lane < PANEL; lane++) {
            const int o = p * PANEL + lane;
            const float *row = w + (int64_t)o * ldw;        /* (in) */
            if (o >= out) {
                for (int k = 0; k < in; k++)
                    d[(size_t)k * PANEL + lane] = 0.0f;
            } else if (scale == 1.0f) {
                for (int k = 0; k < in; k++)
                    d[(size_t)k * PANEL + lane] = row[k];
            } else {
                for (int k = 0; k < in; k++)
                    d[(size_t)k * PANEL + lane] = row[k] * scale;
            }
        }
    }
}

void st2v_op_f32_pack_cols(float *dst, const float *v, int64_t ldv, int in,
                           int out)
{
    const int np = (out + PANEL - 1) / PANEL;
    for (int p = 0; p < np; p++) {
        const int n = ST2V_MIN(PANEL, out - p * PANEL);
        for (int k = 0; k < in; k++) {
            float *d = dst + ((size_t)p * in + k) * PANEL;  /* (16) */
            memcpy(d, v + (int64_t)k * ldv + p * PANEL, (size_t)n * sizeof(float));
            if (n < PANEL)
                memset(d + n, 0, (size_t)(PANEL - n) * sizeof(float));
        }
    }
}

int st2v_op_f32_packed_supported(void)
{
#ifdef HAVE_BF16_KERNEL
    return st2v_cpu_has(ST2V_CPU_AVX512);
#else
    return 0;
#endif
}

int st2v_op_f32_packed_linear(float *dst, int64_t ldd, const float *x,
                              int64_t ldx, int rows, const float *wf, int in,
                              int c0, int c1)
{
    return st2v_op_f32_packed_gemm(dst, ldd, x, ldx, rows, wf, in, c0, c1, 1);
}

int st2v_op_f32_packed_gemm(float *dst, int64_t ldd, const float *x,
                            int64_t ldx, int rows, const float *wf, int in,
                            int c0, int c1, int accumulate)
{
#ifdef HAVE_BF16_KERNEL
    if (c0 % PANEL == 0 && st2v_op_f32_packed_supported()) {
        f32_gemm(dst, ldd, x, ldx, rows, wf, in, c0, c1, accumulate);
        return 1;
    }
#endif
    (void)dst, (void)ldd, (void)x, (void)ldx, (void)rows, (void)wf, (void)in;
    (void)c0, (void)c1, (void)accumulate;
    return 0;
}

int st2v_op_bf16_supported(void)
{
#ifdef HAVE_BF16_KERNEL
    return st2v_cpu_has(ST2V_CPU_AVX512 | ST2V_CPU_AVX512BF16);
#else
    return 0;
#endif
}

int st2v_op_bf16_linear(float *dst, int64_t ldd, const float *x, int64_t ldx,
                        int rows, const uint16_t *wp, int in, int c0, int c1)
{
#ifdef HAVE_BF16_KERNEL
    if (in <= 1024 && c0 % PANEL == 0 && st2v_op_bf16_supported()) {
        bf16_gemm(dst, ldd, x, ldx, rows, wp, in, c0, c1);
        return 1;
    }
#endif
    (void)dst, (void)ldd, (void)x, (void)ldx, (void)rows, (void)wp, (void)in;
    (void)c0, (void)c1;
    return 0;
}
