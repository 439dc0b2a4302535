/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * attention_bf16.c - flash attention with bfloat16 products (attention.h's
 * st2v_flash_attention_bf16): the two matrix products of each tile on
 * AVX512-BF16's vdpbf16ps, the softmax in float32.
 *
 * Per task, one head and a block of up to QB query rows (the rows padded
 * with zeros to a multiple of 64), the keys in blocks of up to KB:
 *
 *   qp (hd/2, QB) pairs   = q * scale, rounded; a pair of dimensions per
 *                           32-bit word, the query rows along the lanes
 *   acc (QB, hd) = 0, m (QB) = -inf, l (QB) = 0
 *   for each key block (kn keys):
 *       kb (kn, hd/2) pairs = k, rounded (its own row-major layout)
 *       st (kn, QB) = kb qp + key_bias              scores, transposed
 *       per query lane: m' = max(m, max_j st), a = exp(m - m'),
 *           st = exp(st - m'), l = l a + sum_j st, acc *= a, m = m'
 *       pi (kn/2, QB) pairs = st, two keys per word  (in place of st)
 *       vp (kn/2, hd) pairs = v, two keys per word
 *       acc += pi^T vp
 *   out = acc / l
 *
 * The scores are kept transposed, keys by query rows, so that every
 * product broadcasts one 32-bit pair and multiplies it by 16 lanes of the
 * packed other side, and the softmax runs down columns with vector
 * maxima and sums: no horizontal reduction anywhere. Every packing is a
 * rounding of rows or an interleave of two rows, but for q (a transpose,
 * once per task). Products are of bfloat16 values (8 significant bits)
 * summed in float32, as a bf16 flash attention kernel on a GPU computes
 * them; the softmax, its sums and the accumulator are float32.
 *
 * Determinism: tasks are (head, query block) pairs, each computed alone
 * from the sizes in a fixed order: bit-identical for any pool.
 *
 * Not here: the float32 kernel (attention.c), the choice between them
 * (each family's forward).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "attention.h"
#include "common.h"
#include "cpu.h"
#include "ops.h"

#define QB ST2V_FA_QBLOCK       /* query rows per task */
#define KB 256                  /* keys per block */
#define HD_MAX 256              /* widest head */

/* Floats of one thread's scratch for heads of hd: qp, kb, vp, st, acc,
 * m, l, and 16 to align the start to 64 bytes. */
static size_t slot_floats(int hd)
{
    const size_t h2 = (size_t)hd / 2;
    return h2 * QB + KB * h2 + KB / 2 * (size_t)hd + (size_t)KB * QB +
           (size_t)QB * hd + 2 * QB + 16;
}

size_t st2v_flash_attention_bf16_scratch(const st2v_pool *pool, int hd)
{
    return (size_t)st2v_pool_threads(pool) * slot_floats(hd);
}

#ifdef ST2V_X86_BF16
#include <immintrin.h>
#define HAVE_BF16_ATTENTION 1
#define T ST2V_TARGET_BF16
#define INLINE inline __attribute__((always_inline))

/* The vector exp of ops_vec.h, 16 wide. */
#define VW 16
#define VN(name) name##_bf
#define VATTR T __attribute__((unused))
#include "ops_vec.h"
#undef VW
#undef VN
#undef VATTR

typedef struct fab_task {
    float *out;
    const float *q, *k, *v, *bias;
    int64_t ldo, ldq, ldk, ldv;
    int nq, nk, hd, n_qb;
    float scale;
    float *scratch;
} fab_task;

/* The word of (a, b) rounded to bfloat16 (nearest even) for 16 lanes:
 * word i = a[i] | b[i] << 16, the order of a pair in memory. */
T static INLINE __m512i pair16(__m512 a, __m512 b)
{
    const __m512i ab = (__m512i)_mm512_cvtne2ps_pbh(b, a); /* a0..15 b0..15 */
    static const uint16_t order[32] = {0,  16, 1,  17, 2,  18, 3,  19,
                                       4,  20, 5,  21, 6,  22, 7,  23,
                                       8,  24, 9,  25, 10, 26, 11, 27,
                                       12, 28, 13, 29, 14, 30, 15, 31};
    return _mm512_permutexvar_epi16(_mm512_loadu_si512((const void *)order),
                                    ab);
}

/* d (hd/2 words) = row x (hd floats) * scale, rounded; hd % 16 == 0. */
T static void round_row(uint32_t *d, const float *x, int hd, float scale)
{
    const __m512 s = _mm512_set1_ps(scale);
    int e = 0;
    for (; e + 32 <= hd; e += 32)
        _mm512_storeu_si512(
            (void *)(d + e / 2),
            (__m512i)_mm512_cvtne2ps_pbh(
                _mm512_mul_ps(_mm512_loadu_ps(x + e + 16), s),
                _mm512_mul_ps(_mm512_loadu_ps(x + e), s)));
    if (e < hd)
        _mm256_storeu_si256((void *)(d + e / 2),
                            (__m256i)_mm512_cvtneps_pbh(
                                _mm512_mul_ps(_mm512_loadu_ps(x + e), s)));
}

/* st (kn, QB) rows j, lanes r0 .. r0+64: sum_p kb[j][p] . qp[p][r], plus
 * bias[j]. MK keys at a time, the last group's missing keys repeating its
 * last (computed, not stored). */
#define MK 6
T static void scores(float *st, const uint32_t *qp, const uint32_t *kb,
                     int kn, int h2, int r0, const float *bias)
{
    for (int j = 0; j < kn; j += MK) {
        const uint32_t *kr[MK];
        for (int i = 0; i < MK; i++)
            kr[i] = kb + (size_t)ST2V_MIN(j + i, kn - 1) * h2;
        __m512 a[MK][4];
#pragma GCC unroll 8
        for (int i = 0; i < MK; i++)
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++)
                a[i][c] = _mm512_setzero_ps();
        for (int p = 0; p < h2; p++) {
            __m512bh qv[4];
            const uint32_t *qr = qp + (size_t)p * QB + r0;
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++)
                qv[c] = (__m512bh)_mm512_load_si512((const void *)(qr + 16 * c));
#pragma GCC unroll 8
            for (int i = 0; i < MK; i++) {
                const __m512bh b =
                    (__m512bh)_mm512_set1_epi32((int)kr[i][p]);
#pragma GCC unroll 4
                for (int c = 0; c < 4; c++)
                    a[i][c] = _mm512_dpbf16_ps(a[i][c], b, qv[c]);
            }
        }
        for (int i = 0; i < MK && j + i < kn; i++) {
            const __m512 bj = _mm512_set1_ps(bias ? bias[j + i] : 0.0f);
            float *d = st + (size_t)(j + i) * QB + r0;
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++)
                _mm512_store_ps(d + 16 * c, _mm512_add_ps(a[i][c], bj));
        }
    }
}

/* acc rows r0 .. r0+MR (of QB, stride hd), columns e0 .. e0+16 ne:
 * += sum_jp pi[jp][r] . vp[jp][e]. Rows past nr repeat the last (not
 * stored). */
#define MR 6
T static INLINE void accumulate(float *acc, int hd, const uint32_t *pi,
                                const uint32_t *vp, int kn2, int r0, int nr,
                                int e0, const int ne)
{
    int rr[MR];
    for (int i = 0; i < MR; i++)
        rr[i] = r0 + ST2V_MIN(i, nr - 1);
    __m512 a[MR][4];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int c = 0; c < ne; c++)
            a[i][c] = _mm512_load_ps(acc + (size_t)rr[i] * hd + e0 + 16 * c);
    for (int jp = 0; jp < kn2; jp++) {
        __m512bh vv[4];
        const uint32_t *vr = vp + (size_t)jp * hd + e0;
        const uint32_t *pr = pi + (size_t)jp * QB;
#pragma GCC unroll 4
        for (int c = 0; c < ne; c++)
            vv[c] = (__m512bh)_mm512_load_si512((const void *)(vr + 16 * c));
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            const __m512bh b = (__m512bh)_mm512_set1_epi32((int)pr[rr[i]]);
#pragma GCC unroll 4
            for (int c = 0; c < ne; c++)
                a[i][c] = _mm512_dpbf16_ps(a[i][c], b, vv[c]);
        }
    }
    for (int i = 0; i < MR && i < nr; i++)
#pragma GCC unroll 4
        for (int c = 0; c < ne; c++)
            _mm512_store_ps(acc + (size_t)(r0 + i) * hd + e0 + 16 * c,
                            a[i][c]);
}

T static void accumulate_all(float *acc, int hd, const uint32_t *pi,
                             const uint32_t *vp, int kn2, int rows)
{
    for (int r0 = 0; r0 < rows; r0 += MR) {
        const int nr = ST2V_MIN(rows - r0, MR);
        int e0 = 0;
        for (; e0 + 64 <= hd; e0 += 64)
            accumulate(acc, hd, pi, vp, kn2, r0, nr, e0, 4);
        switch ((hd - e0) / 16) {
        case 3: accumulate(acc, hd, pi, vp, kn2, r0, nr, e0, 3); break;
        case 2: accumulate(acc, hd, pi, vp, kn2, r0, nr, e0, 2); break;
        case 1: accumulate(acc, hd, pi, vp, kn2, r0, nr, e0, 1); break;
        default: break;
        }
    }
}

/* The online softmax of one key block over lanes of 16 query rows (rows16
 * of them): st (kn, QB) becomes exp(st - m'), then the pairs pi (kn2, QB)
 * in its place; m, l updated; alpha (rows16) the factor of acc. */
T static void softmax_block(float *st, int kn, int rows16, float *m, float *l,
                            float *alpha)
{
    const int kn2 = (kn + 1) / 2;
    for (int r = 0; r < rows16; r += 16) {
        __m512 bm = _mm512_set1_ps(-INFINITY);
        for (int j = 0; j < kn; j++)
            bm = _mm512_max_ps(bm, _mm512_load_ps(st + (size_t)j * QB + r));
        const __m512 mo = _mm512_load_ps(m + r);
        const __m512 mn = _mm512_max_ps(mo, bm);
        /* a lane with no finite logit yet subtracts 0, not -inf */
        const __mmask16 ninf =
            _mm512_cmp_ps_mask(mn, _mm512_set1_ps(-INFINITY), _CMP_EQ_OQ);
        const __m512 ms = _mm512_mask_mov_ps(mn, ninf, _mm512_setzero_ps());
        const __m512 a = (__m512)exp_bf((vf_bf)_mm512_sub_ps(mo, ms));
        __m512 s = _mm512_setzero_ps();
        for (int j = 0; j < kn; j++) {
            float *d = st + (size_t)j * QB + r;
            const __m512 p = (__m512)exp_bf((vf_bf)_mm512_sub_ps(_mm512_load_ps(d), ms));
            _mm512_store_ps(d, p);
            s = _mm512_add_ps(s, p);
        }
        _mm512_store_ps(l + r, _mm512_add_ps(_mm512_mul_ps(_mm512_load_ps(l + r), a), s));
        _mm512_store_ps(m + r, mn);
        _mm512_store_ps(alpha + r, a);
    }
    /* pairs of keys, in place: row jp of pi lies where row jp of st did,
     * read before (jp <= 2 jp) */
    for (int jp = 0; jp < kn2; jp++) {
        const float *s0 = st + (size_t)(2 * jp) * QB;
        const float *s1 = 2 * jp + 1 < kn ? s0 + QB : NULL;
        uint32_t *d = (uint32_t *)(st + (size_t)jp * QB);
        for (int r = 0; r < rows16; r += 16) {
            const __m512 lo = _mm512_load_ps(s0 + r);
            const __m512 hi = s1 ? _mm512_load_ps(s1 + r) : _mm512_setzero_ps();
            _mm512_store_si512((void *)(d + r), pair16(lo, hi));
        }
    }
}

T static void fab_tasks(void *varg, int64_t begin, int64_t end)
{
    const fab_task *a = varg;
    const int hd = a->hd, h2 = hd / 2;
    float *base = a->scratch + (size_t)st2v_pool_slot() * slot_floats(hd);
    base += (16 - ((uintptr_t)base / sizeof(float)) % 16) % 16;
    uint32_t *qp = (uint32_t *)base;                     /* (h2, QB) */
    uint32_t *kb = qp + (size_t)h2 * QB;                 /* (KB, h2) */
    uint32_t *vp = kb + (size_t)KB * h2;                 /* (KB/2, hd) */
    float *st = (float *)(vp + (size_t)KB / 2 * hd);     /* (KB, QB) */
    float *acc = st + (size_t)KB * QB;                   /* (QB, hd) */
    float *m = acc + (size_t)QB * hd;                    /* (QB) */
    float *l = m + QB;                                   /* (QB) */
    float alpha[QB] __attribute__((aligned(64)));
    for (int64_t t = begin; t < end; t++) {
        const int h = (int)(t / a->n_qb);
        const int q0 = (int)(t % a->n_qb) * QB;
        const int rows = ST2V_MIN(a->nq - q0, QB);
        const int rows64 = (rows + 63) / 64 * 64;
        const int64_t col = (int64_t)h * hd;
        /* qp: the block's rows transposed into pairs, zero past rows */
        for (int r = 0; r < rows64; r++) {
            uint32_t w[HD_MAX / 2];
            if (r < rows)
                round_row(w, a->q + (q0 + r) * a->ldq + col, hd, a->scale);
            else
                memset(w, 0, sizeof(w));
            for (int p = 0; p < h2; p++)
                qp[(size_t)p * QB + r] = w[p];
        }
        for (int r = 0; r < rows64; r++) {
            m[r] = -INFINITY;
            l[r] = 0.0f;
        }
        memset(acc, 0, (size_t)rows * hd * sizeof(float));
        for (int k0 = 0; k0 < a->nk; k0 += KB) {
            const int kn = ST2V_MIN(a->nk - k0, KB), kn2 = (kn + 1) / 2;
            for (int j = 0; j < kn; j++)
                round_row(kb + (size_t)j * h2, a->k + (k0 + j) * a->ldk + col,
                          hd, 1.0f);
            for (int jp = 0; jp < kn2; jp++) {
                const float *v0 = a->v + (k0 + 2 * jp) * a->ldv + col;
                const float *v1 = 2 * jp + 1 < kn ? v0 + a->ldv : NULL;
                for (int e = 0; e < hd; e += 16)
                    _mm512_store_si512(
                        (void *)(vp + (size_t)jp * hd + e),
                        pair16(_mm512_loadu_ps(v0 + e),
                               v1 ? _mm512_loadu_ps(v1 + e)
                                  : _mm512_setzero_ps()));
            }
            for (int r0 = 0; r0 < rows64; r0 += 64)
                scores(st, qp, kb, kn, h2, r0, a->bias ? a->bias + k0 : NULL);
            softmax_block(st, kn, rows64, m, l, alpha);
            for (int r = 0; r < rows; r++) {
                float *ar = acc + (size_t)r * hd;
                const __m512 f = _mm512_set1_ps(alpha[r]);
                for (int e = 0; e < hd; e += 16)
                    _mm512_store_ps(ar + e, _mm512_mul_ps(_mm512_load_ps(ar + e), f));
            }
            accumulate_all(acc, hd, (const uint32_t *)st, vp, kn2, rows);
        }
        for (int r = 0; r < rows; r++) {
            const __m512 inv = _mm512_set1_ps(1.0f / l[r]);
            float *o = a->out + (q0 + r) * a->ldo + col;
            const float *ar = acc + (size_t)r * hd;
            for (int e = 0; e < hd; e += 16)
                _mm512_storeu_ps(o + e, _mm512_mul_ps(_mm512_load_ps(ar + e), inv));
        }
    }
}
#endif

int st2v_flash_attention_bf16_supported(int hd)
{
#ifdef HAVE_BF16_ATTENTION
    return hd >= 16 && hd <= HD_MAX && hd % 16 == 0 &&
           st2v_cpu_has(ST2V_CPU_AVX512 | ST2V_CPU_AVX512BF16);
#else
    (void)hd;
    return 0;
#endif
}

int st2v_flash_attention_bf16(st2v_pool *pool, float *out, int64_t ldo,
                              const float *q, int64_t ldq, const float *k,
                              int64_t ldk, const float *v, int64_t ldv, int nq,
                              int nk, int heads, int hd, const float *key_bias,
                              float *scratch)
{
    if (!st2v_flash_attention_bf16_supported(hd))
        return 0;
#ifdef HAVE_BF16_ATTENTION
    if (nq <= 0 || nk <= 0 || heads <= 0)
        return 1;
    fab_task a = {.out = out, .q = q, .k = k, .v = v, .bias = key_bias,
                  .ldo = ldo, .ldq = ldq, .ldk = ldk, .ldv = ldv, .nq = nq,
                  .nk = nk, .hd = hd, .n_qb = (nq + QB - 1) / QB,
                  .scale = 1.0f / sqrtf((float)hd), .scratch = scratch};
    st2v_pool_for(pool, (int64_t)heads * a.n_qb, 1, fab_tasks, &a);
#else
    (void)pool, (void)out, (void)ldo, (void)q, (void)ldq, (void)k, (void)ldk;
    (void)v, (void)ldv, (void)nq, (void)nk, (void)heads, (void)key_bias;
    (void)scratch;
#endif
    return 1;
}
