/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ops_bf16.c - the bfloat16 matrix product of ops_bf16.h, an inner-product
 * kernel over weights in their file layout.
 *
 * Both operands are contiguous along k in their native layouts: a row of
 * x (rounded to bfloat16 into per-thread scratch) and a row of W (the
 * mapped tensor). The micro-kernel takes MR rows of x and NR rows of W and
 * keeps MR x NR accumulators of 16 float32 lanes, each vdpbf16ps adding
 * 32 products (16 pairs) into one of them, over one block of KC values of
 * k (the last chunk of 32 masked); then the accumulators are reduced 16
 * at a time (a group of 4 x 4 sums) by a transpose-and-add tree (4 levels
 * of shuffles and adds, 15 vectors in all) into one vector holding the 16
 * sums, which are added to y. The blocks of k follow in order.
 *
 * Work is cut into tasks of MB rows of x by NB rows of W, from the shape
 * alone; a task rounds its rows of x (all of k) into its thread's scratch
 * unless they are there from the thread's previous task, then walks its
 * rows of W NR at a time, each NR x KC panel (a few KB, in L1) used for
 * all MB rows.
 *
 * Not here: the dispatch (wtensor.c), float32 paths (ops.c, OpenBLAS).
 */
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "common.h"
#include "cpu.h"
#include "ops.h"
#include "ops_bf16.h"

#define MR 4       /* rows of x per micro-kernel */
#define NR 6       /* rows of W (outputs) per micro-kernel */
#define KC 2048    /* values of k per block: one reduction per block */
#define MB 128     /* rows of x per task */
#define NB 256     /* rows of W per task */

/* Values of k per row of rounded x: in, rounded up to whole chunks of 32
 * (the padding zero), so that every row starts 64-byte aligned. */
static int64_t padded(int64_t in)
{
    return (in + 31) / 32 * 32;
}

/* Floats of scratch per thread: MB rows of padded(in) bfloat16 (two per
 * float), and 16 to align them to 64 bytes whatever the caller's. */
static size_t slot_floats(int64_t in)
{
    return MB * (size_t)padded(in) / 2 + 16;
}

size_t st2v_bf16_matmul_scratch(const st2v_pool *pool, int64_t in)
{
    return (size_t)st2v_pool_threads(pool) * slot_floats(in);
}

#ifdef ST2V_X86_BF16
#include <immintrin.h>
#define HAVE_BF16_MATMUL 1
#define BF16_TARGET ST2V_TARGET_BF16

/* xb (nr, padded(in)) = x (nr, in), stride ldx, rounded to bfloat16
 * (vcvtne2ps2bf16: nearest even), zero past in. */
BF16_TARGET static void round_rows(uint16_t *xb, const float *x, int64_t ldx,
                                   int64_t nr, int64_t in)
{
    const int64_t kp = padded(in);
    for (int64_t r = 0; r < nr; r++) {
        const float *s = x + r * ldx;
        uint16_t *d = xb + r * kp;
        for (int64_t k = 0; k < kp; k += 32) {
            const int64_t left = in - k;
            const __mmask16 m0 =
                left >= 16 ? (__mmask16)0xffff
                : left > 0 ? (__mmask16)((1u << left) - 1u)
                           : (__mmask16)0;
            const __mmask16 m1 =
                left >= 32 ? (__mmask16)0xffff
                : left > 16 ? (__mmask16)((1u << (left - 16)) - 1u)
                            : (__mmask16)0;
            const __m512 lo = _mm512_maskz_loadu_ps(m0, s + k);
            const __m512 hi = _mm512_maskz_loadu_ps(m1, s + k + 16);
            _mm512_store_si512((void *)(d + k),
                               (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
        }
    }
}

/* The 16 accumulators a[r + MR c] (row r of x, row c of W) reduced to
 * one vector: lanes 4r .. 4r+3 = the sums of row r, columns 0..3. Every
 * sum is the same tree over its 16 lanes: (l, l+8), then (l, l+4),
 * (l, l+2), (l, l+1). */
BF16_TARGET static inline __attribute__((always_inline)) __m512
reduce16(const __m512 a[16])
{
    __m512 c[8], e[4], g[2];
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) /* halves: a_2j in q0,q1, a_2j+1 in q2,q3 */
        c[j] = _mm512_add_ps(
            _mm512_shuffle_f32x4(a[2 * j], a[2 * j + 1], 0x44),
            _mm512_shuffle_f32x4(a[2 * j], a[2 * j + 1], 0xee));
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) /* quarters: quadrant q holds a_4j+q */
        e[j] = _mm512_add_ps(
            _mm512_shuffle_f32x4(c[2 * j], c[2 * j + 1],
                                 _MM_SHUFFLE(2, 0, 2, 0)),
            _mm512_shuffle_f32x4(c[2 * j], c[2 * j + 1],
                                 _MM_SHUFFLE(3, 1, 3, 1)));
#pragma GCC unroll 2
    for (int j = 0; j < 2; j++) /* pairs: quadrant q holds a_8j+q, a_8j+4+q */
        g[j] = _mm512_add_ps(
            _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(e[2 * j]),
                                                _mm512_castps_pd(e[2 * j + 1]))),
            _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(e[2 * j]),
                                                _mm512_castps_pd(e[2 * j + 1]))));
    /* singles: lane 4q + i holds a_q+4i */
    return _mm512_add_ps(_mm512_shuffle_ps(g[0], g[1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_ps(g[0], g[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

/* y (nr of MR rows, nc of NR columns), stride ldy, = (add ? y : 0) + the
 * sums over kc values of k of xr[r] . wr[c] (kc a multiple of 32 but for
 * the last block of k, whose tail is masked). xr[r]: a row of rounded x
 * (64-byte aligned, zero past in); wr[c]: a row of W at the same k.
 * Rows and columns past nr, nc repeat the last and are not stored. The
 * sums are reduced 4 rows by 4 columns at a time (reduce16), zero
 * accumulators filling a partial group. */
BF16_TARGET static void kernel(float *y, int64_t ldy,
                               const uint16_t *const xr[MR],
                               const uint8_t *const wr[NR], int64_t kc,
                               int nr, int nc, int add)
{
    __m512 a[MR][NR];
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 8
        for (int c = 0; c < NR; c++)
            a[r][c] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kc; k += 32) {
        /* the tail: W masked (x is zero there) */
        const __mmask32 m = kc - k >= 32
                                ? (__mmask32)0xffffffffu
                                : (__mmask32)((1ull << (kc - k)) - 1u);
        __m512bh xv[MR];
#pragma GCC unroll 8
        for (int r = 0; r < MR; r++)
            xv[r] = (__m512bh)_mm512_load_si512((const void *)(xr[r] + k));
#pragma GCC unroll 8
        for (int c = 0; c < NR; c++) {
            const __m512bh wv = (__m512bh)_mm512_maskz_loadu_epi16(
                m, (const void *)(wr[c] + 2 * k));
#pragma GCC unroll 8
            for (int r = 0; r < MR; r++)
                a[r][c] = _mm512_dpbf16_ps(a[r][c], xv[r], wv);
        }
    }
#pragma GCC unroll 4
    for (int r0 = 0; r0 < MR; r0 += 4)
#pragma GCC unroll 4
        for (int c0 = 0; c0 < NR; c0 += 4) {
            __m512 g[16];
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
                for (int c = 0; c < 4; c++)
                    g[r + 4 * c] = r0 + r < MR && c0 + c < NR
                                       ? a[r0 + r][c0 + c]
                                       : _mm512_setzero_ps();
            const __m512 s = reduce16(g);
            const int ncg = nc - c0 < 4 ? nc - c0 : 4;
            if (ncg <= 0)
                continue;
            const __mmask8 mc = (__mmask8)((1u << ncg) - 1u);
            for (int r = 0; r < 4 && r0 + r < nr; r++) {
                float *d = y + (r0 + r) * ldy + c0;
                __m128 v = _mm512_extractf32x4_ps(s, 0);
                switch (r) { /* the lane index is an immediate */
                case 1: v = _mm512_extractf32x4_ps(s, 1); break;
                case 2: v = _mm512_extractf32x4_ps(s, 2); break;
                case 3: v = _mm512_extractf32x4_ps(s, 3); break;
                default: break;
                }
                if (add)
                    v = _mm_add_ps(_mm_maskz_loadu_ps(mc, d), v);
                _mm_mask_storeu_ps(d, mc, v);
            }
        }
}

typedef struct bmm_task {
    float *y;                   /* (n, out), stride ldy */
    int64_t ldy;
    const float *x;             /* (n, in), stride ldx */
    int64_t ldx;
    const uint8_t *w;           /* (out, in) bfloat16 */
    int64_t out, in, n;
    int64_t n_cb;               /* tasks along out */
    int accumulate;
    uint64_t call;              /* this call's number, for memo */
    float *scratch;             /* per slot: slot_floats(in) */
} bmm_task;

/* Which rows of x the calling thread's scratch holds rounded: those from
 * m0 of call `call` (every call has a number of its own). Tasks are
 * numbered row block first, so a thread mostly takes several tasks of one
 * row block in turn and rounds it once. */
static _Thread_local struct {
    uint64_t call;
    int64_t m0;
} memo;
static atomic_uint_fast64_t calls = 1;

/* One task: rows [m0, m0 + mb) of x by rows [c0, c1) of W. */
BF16_TARGET static void bmm_block(const bmm_task *a, uint16_t *xb,
                                  int64_t m0, int64_t mb, int64_t c0,
                                  int64_t c1)
{
    const int64_t kp = padded(a->in), in = a->in;
    if (memo.call != a->call || memo.m0 != m0) { /* not rounded yet */
        round_rows(xb, a->x + m0 * a->ldx, a->ldx, mb, in);
        memo.call = a->call;
        memo.m0 = m0;
    }
    for (int64_t k0 = 0; k0 < in; k0 += KC) {
        const int64_t kc = ST2V_MIN(KC, in - k0);
        const int add = k0 > 0 || a->accumulate;
        for (int64_t c = c0; c < c1; c += NR) {
            const int nc = (int)ST2V_MIN(NR, c1 - c);
            const uint8_t *wr[NR];
            for (int j = 0; j < NR; j++)
                wr[j] = a->w + ((c + ST2V_MIN(j, nc - 1)) * in + k0) * 2;
            for (int64_t r = 0; r < mb; r += MR) {
                const int nr = (int)ST2V_MIN(MR, mb - r);
                const uint16_t *xr[MR];
                for (int i = 0; i < MR; i++)
                    xr[i] = xb + (r + ST2V_MIN(i, nr - 1)) * kp + k0;
                kernel(a->y + (m0 + r) * a->ldy + c, a->ldy, xr, wr, kc, nr,
                       nc, add);
            }
        }
    }
}

static void bmm_tasks(void *varg, int64_t begin, int64_t end)
{
    const bmm_task *a = varg;
    /* (MB, padded(in)) bfloat16, 64-byte aligned */
    const uintptr_t p = (uintptr_t)(a->scratch + (size_t)st2v_pool_slot() *
                                                     slot_floats(a->in));
    uint16_t *xb = (uint16_t *)((p + 63) & ~(uintptr_t)63);
    for (int64_t t = begin; t < end; t++) {
        const int64_t m0 = t / a->n_cb * MB, c0 = t % a->n_cb * NB;
        bmm_block(a, xb, m0, ST2V_MIN(MB, a->n - m0), c0,
                  ST2V_MIN(a->out, c0 + NB));
    }
}
#endif

int st2v_bf16_matmul_supported(void)
{
#ifdef HAVE_BF16_MATMUL
    return st2v_cpu_has(ST2V_CPU_AVX512 | ST2V_CPU_AVX512BF16);
#else
    return 0;
#endif
}

#ifdef ST2V_X86_BF16
/* Either product over the pool, in tasks of MB rows of x by NB rows of W
 * (fixed by the shape alone); returns 1 (done). */
static int run_tasks(st2v_pool *pool, float *y, int64_t ldy, const float *x,
                     int64_t ldx, const void *w, int64_t out, int64_t in,
                     int64_t n, int accumulate, float *scratch,
                     st2v_task_fn tasks)
{
    if (n <= 0 || out <= 0)
        return 1;
    if (in <= 0) { /* an empty sum */
        for (int64_t r = 0; !accumulate && r < n; r++)
            memset(y + r * ldy, 0, (size_t)out * sizeof(float));
        return 1;
    }
    bmm_task a = {.y = y, .ldy = ldy, .x = x, .ldx = ldx, .w = w,
                  .out = out, .in = in, .n = n,
                  .n_cb = (out + NB - 1) / NB, .accumulate = accumulate,
                  .call = atomic_fetch_add(&calls, 1), .scratch = scratch};
    st2v_pool_for(pool, (n + MB - 1) / MB * a.n_cb, 1, tasks, &a);
    return 1;
}
#endif

int st2v_bf16_matmul(st2v_pool *pool, float *y, int64_t ldy, const float *x,
                     int64_t ldx, const void *w, int64_t out, int64_t in,
                     int64_t n, int accumulate, float *scratch)
{
#ifdef HAVE_BF16_MATMUL
    if (!st2v_bf16_matmul_supported())
        return 0;
    return run_tasks(pool, y, ldy, x, ldx, w, out, in, n, accumulate,
                     scratch, bmm_tasks);
#else
    (void)pool, (void)y, (void)ldy, (void)x, (void)ldx, (void)w, (void)out;
    (void)in, (void)n, (void)accumulate, (void)scratch;
    return 0;
#endif
}

/* ------------------------------------------------------------------------
 * The float32 product over the same bfloat16 weights: x stays float32,
 * each bfloat16 of W is widened exactly in registers. A chunk of 32 values
 * of k of a row of W, loaded as 16 pairs, gives the 16 even values (the
 * low halves shifted up 16 bits) and the 16 odd ones (the high halves, the
 * low bits masked off): two integer operations per 32 values. Rows of x
 * are copied into per-thread scratch the same way split, each chunk of 32
 * as its 16 even then 16 odd values (zero past in), so that the kernel
 * multiplies lane by lane. The micro-kernel holds the widened W of FNR
 * rows in registers and takes the rows of x as memory operands of the
 * FMAs; the sums are reduced, blocked and tasked as above.
 */

#define FMR 6      /* rows of x per micro-kernel */
#define FNR 4      /* rows of W (outputs) per micro-kernel */
#define FKC 1024   /* values of k per block: one reduction per block */

/* Floats of scratch per thread: MB rows of padded(in) float32, and 16 to
 * align them to 64 bytes whatever the caller's. */
static size_t fslot_floats(int64_t in)
{
    return MB * (size_t)padded(in) + 16;
}

size_t st2v_bf16w_matmul_f32_scratch(const st2v_pool *pool, int64_t in)
{
    return (size_t)st2v_pool_threads(pool) * fslot_floats(in);
}

#ifdef ST2V_X86_BF16
#define HAVE_BF16W_F32 1
#define F32W_TARGET __attribute__((target("avx512f,avx512bw,avx512vl")))

/* xs (nr, padded(in)) = x (nr, in), stride ldx, each chunk of 32 as its
 * even then its odd values, zero past in. */
F32W_TARGET static void split_rows(float *xs, const float *x, int64_t ldx,
                                   int64_t nr, int64_t in)
{
    const int64_t kp = padded(in);
    const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14,
                                        12, 10, 8, 6, 4, 2, 0);
    const __m512i io = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15,
                                        13, 11, 9, 7, 5, 3, 1);
    for (int64_t r = 0; r < nr; r++) {
        const float *s = x + r * ldx;
        float *d = xs + r * kp;
        for (int64_t k = 0; k < kp; k += 32) {
            const int64_t left = in - k;
            const __mmask16 m0 =
                left >= 16 ? (__mmask16)0xffff
                : left > 0 ? (__mmask16)((1u << left) - 1u)
                           : (__mmask16)0;
            const __mmask16 m1 =
                left >= 32 ? (__mmask16)0xffff
                : left > 16 ? (__mmask16)((1u << (left - 16)) - 1u)
                            : (__mmask16)0;
            const __m512 lo = _mm512_maskz_loadu_ps(m0, s + k);
            const __m512 hi = _mm512_maskz_loadu_ps(m1, s + k + 16);
            _mm512_store_ps(d + k, _mm512_permutex2var_ps(lo, ie, hi));
            _mm512_store_ps(d + k + 16, _mm512_permutex2var_ps(lo, io, hi));
        }
    }
}

/* As reduce16 (the same tree), for this target. */
F32W_TARGET static inline __attribute__((always_inline)) __m512
freduce16(const __m512 a[16])
{
    __m512 c[8], e[4], g[2];
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++)
        c[j] = _mm512_add_ps(
            _mm512_shuffle_f32x4(a[2 * j], a[2 * j + 1], 0x44),
            _mm512_shuffle_f32x4(a[2 * j], a[2 * j + 1], 0xee));
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++)
        e[j] = _mm512_add_ps(
            _mm512_shuffle_f32x4(c[2 * j], c[2 * j + 1],
                                 _MM_SHUFFLE(2, 0, 2, 0)),
            _mm512_shuffle_f32x4(c[2 * j], c[2 * j + 1],
                                 _MM_SHUFFLE(3, 1, 3, 1)));
#pragma GCC unroll 2
    for (int j = 0; j < 2; j++)
        g[j] = _mm512_add_ps(
            _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(e[2 * j]),
                                                _mm512_castps_pd(e[2 * j + 1]))),
            _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(e[2 * j]),
                                                _mm512_castps_pd(e[2 * j + 1]))));
    return _mm512_add_ps(_mm512_shuffle_ps(g[0], g[1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_ps(g[0], g[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

/* y (nr of FMR rows, nc of FNR columns), stride ldy, = (add ? y : 0) + the
 * sums over kc values of k of xr[r] . wr[c]: xr[r] a row of split x
 * (64-byte aligned, zero past in), wr[c] a row of W at the same k (the
 * last chunk masked). Rows and columns past nr, nc repeat the last and
 * are not stored. */
F32W_TARGET static void fkernel(float *y, int64_t ldy,
                                const float *const xr[FMR],
                                const uint8_t *const wr[FNR], int64_t kc,
                                int nr, int nc, int add)
{
    const __m512i hi16 = _mm512_set1_epi32((int)0xffff0000u);
    __m512 a[FMR][FNR];
#pragma GCC unroll 8
    for (int r = 0; r < FMR; r++)
#pragma GCC unroll 8
        for (int c = 0; c < FNR; c++)
            a[r][c] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kc; k += 32) {
        const __mmask32 m = kc - k >= 32
                                ? (__mmask32)0xffffffffu
                                : (__mmask32)((1ull << (kc - k)) - 1u);
        __m512 we[FNR], wo[FNR];
#pragma GCC unroll 8
        for (int c = 0; c < FNR; c++) {
            const __m512i v =
                _mm512_maskz_loadu_epi16(m, (const void *)(wr[c] + 2 * k));
            we[c] = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
            wo[c] = _mm512_castsi512_ps(_mm512_and_si512(v, hi16));
        }
#pragma GCC unroll 8
        for (int r = 0; r < FMR; r++) {
            const __m512 xe = _mm512_load_ps(xr[r] + k);
            const __m512 xo = _mm512_load_ps(xr[r] + k + 16);
#pragma GCC unroll 8
            for (int c = 0; c < FNR; c++)
                a[r][c] = _mm512_fmadd_ps(xo, wo[c],
                                          _mm512_fmadd_ps(xe, we[c], a[r][c]));
        }
    }
#pragma GCC unroll 4
    for (int r0 = 0; r0 < FMR; r0 += 4)
#pragma GCC unroll 4
        for (int c0 = 0; c0 < FNR; c0 += 4) {
            __m512 g[16];
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
                for (int c = 0; c < 4; c++)
                    g[r + 4 * c] = r0 + r < FMR && c0 + c < FNR
                                       ? a[r0 + r][c0 + c]
                                       : _mm512_setzero_ps();
            const __m512 s = freduce16(g);
            const int ncg = nc - c0 < 4 ? nc - c0 : 4;
            if (ncg <= 0)
                continue;
            const __mmask8 mc = (__mmask8)((1u << ncg) - 1u);
            for (int r = 0; r < 4 && r0 + r < nr; r++) {
                float *d = y + (r0 + r) * ldy + c0;
                __m128 v = _mm512_extractf32x4_ps(s, 0);
                switch (r) { /* the lane index is an immediate */
                case 1: v = _mm512_extractf32x4_ps(s, 1); break;
                case 2: v = _mm512_extractf32x4_ps(s, 2); break;
                case 3: v = _mm512_extractf32x4_ps(s, 3); break;
                default: break;
                }
                if (add)
                    v = _mm_add_ps(_mm_maskz_loadu_ps(mc, d), v);
                _mm_mask_storeu_ps(d, mc, v);
            }
        }
}

/* Which rows of x the calling thread's scratch holds split (as memo). */
static _Thread_local struct {
    uint64_t call;
    int64_t m0;
} fmemo;

/* One task: rows [m0, m0 + mb) of x by rows [c0, c1) of W. */
F32W_TARGET static void fmm_block(const bmm_task *a, float *xs, int64_t m0,
                                  int64_t mb, int64_t c0, int64_t c1)
{
    const int64_t kp = padded(a->in), in = a->in;
    if (fmemo.call != a->call || fmemo.m0 != m0) { /* not split yet */
        split_rows(xs, a->x + m0 * a->ldx, a->ldx, mb, in);
        fmemo.call = a->call;
        fmemo.m0 = m0;
    }
    for (int64_t k0 = 0; k0 < in; k0 += FKC) {
        const int64_t kc = ST2V_MIN(FKC, in - k0);
        const int add = k0 > 0 || a->accumulate;
        for (int64_t c = c0; c < c1; c += FNR) {
            const int nc = (int)ST2V_MIN(FNR, c1 - c);
            const uint8_t *wr[FNR];
            for (int j = 0; j < FNR; j++)
                wr[j] = a->w + ((c + ST2V_MIN(j, nc - 1)) * in + k0) * 2;
            for (int64_t r = 0; r < mb; r += FMR) {
                const int nr = (int)ST2V_MIN(FMR, mb - r);
                const float *xr[FMR];
                for (int i = 0; i < FMR; i++)
                    xr[i] = xs + (r + ST2V_MIN(i, nr - 1)) * kp + k0;
                fkernel(a->y + (m0 + r) * a->ldy + c, a->ldy, xr, wr, kc, nr,
                        nc, add);
            }
        }
    }
}

static void fmm_tasks(void *varg, int64_t begin, int64_t end)
{
    const bmm_task *a = varg;
    /* (MB, padded(in)) float32, 64-byte aligned */
    const uintptr_t p = (uintptr_t)(a->scratch + (size_t)st2v_pool_slot() *
                                                     fslot_floats(a->in));
    float *xs = (float *)((p + 63) & ~(uintptr_t)63);
    for (int64_t t = begin; t < end; t++) {
        const int64_t m0 = t / a->n_cb * MB, c0 = t % a->n_cb * NB;
        fmm_block(a, xs, m0, ST2V_MIN(MB, a->n - m0), c0,
                  ST2V_MIN(a->out, c0 + NB));
    }
}
#endif

int st2v_bf16w_matmul_f32_supported(void)
{
#ifdef HAVE_BF16W_F32
    return st2v_cpu_has(ST2V_CPU_AVX512);
#else
    return 0;
#endif
}

int st2v_bf16w_matmul_f32(st2v_pool *pool, float *y, int64_t ldy,
                          const float *x, int64_t ldx, const void *w,
                          int64_t out, int64_t in, int64_t n, int accumulate,
                          float *scratch)
{
#ifdef HAVE_BF16W_F32
    if (!st2v_bf16w_matmul_f32_supported())
        return 0;
    return run_tasks(pool, y, ldy, x, ldx, w, out, in, n, accumulate,
                     scratch, fmm_tasks);
#else
    (void)pool, (void)y, (void)ldy, (void)x, (void)ldx, (void)w, (void)out;
    (void)in, (void)n, (void)accumulate, (void)scratch;
    return 0;
#endif
}
