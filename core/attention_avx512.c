/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * attention_avx512.c - flash attention on AVX-512 with the scores kept
 * transposed: float32 products by FMA (st2v_flash_attention's kernel
 * where the CPU has AVX-512) and bfloat16 products by AVX512-BF16's
 * vdpbf16ps (st2v_flash_attention_bf16). One task is one head and a block
 * of up to QB query rows (padded with zeros to a multiple of 64); the keys
 * come in blocks of up to KB:
 *
 *   qt (hd, QB) = (q * scale)^T, the query rows along the lanes
 *   acc (QB, hd) = 0, m (QB) = -inf, l (QB) = 0
 *   for each key block (kn keys):
 *       st (kn, QB) = k qt + key_bias                scores, transposed
 *       per query lane: m' = max(m, max_j st), a = exp(m - m'),
 *           st = exp(st - m'), l = l a + sum_j st, acc *= a, m = m'
 *       acc += st^T v
 *   out = acc / l
 *
 * Keeping the scores keys by query rows makes both products broadcast one
 * value (a key's element, a probability) against 16 lanes of the other
 * side, read where it lies (float32: k and v in place), and runs the
 * softmax down columns with vector maxima and sums: no horizontal
 * reduction and no packing of k or v in float32; only q is transposed,
 * once per task.
 *
 * In bfloat16 a lane holds a pair: qt (hd/2, QB) pairs of dimensions, k
 * rounded row by row (a row's pairs are its own layout), st rounded into
 * pairs of keys (pi (kn/2, QB), in place) and v into pairs of keys
 * (vp (kn/2, hd)): each vdpbf16ps adds 32 products. Products are of
 * bfloat16 values (8 significant bits) summed in float32, as a bf16 flash
 * attention kernel on a GPU computes them; the softmax, its sums and the
 * accumulator are float32.
 *
 * Determinism: tasks are (head, query block) pairs, each computed alone
 * from the sizes in a fixed order: bit-identical for any pool.
 *
 * Not here: the portable float32 kernel over OpenBLAS and the dispatch
 * (attention.c).
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

/* Floats of one thread's scratch for heads of hd: qt (hd, QB) (float32;
 * half of it in bfloat16), kb (KB, hd/2) and vp (KB/2, hd) words (bfloat16
 * only), st (KB, QB), acc (QB, hd), m and l (QB), and 16 to align the
 * start to 64 bytes. */
static size_t slot_floats(int hd)
{
    const size_t h = (size_t)hd;
    return h * QB + KB * h / 2 + KB / 2 * h + (size_t)KB * QB + QB * h +
           2 * QB + 16;
}

size_t st2v_fa_avx512_scratch(const st2v_pool *pool, int hd)
{
    return (size_t)st2v_pool_threads(pool) * slot_floats(hd);
}

#ifdef ST2V_X86_BF16
#include <immintrin.h>
#define HAVE_AVX512_ATTENTION 1
#define TF __attribute__((target("avx512f,avx512bw,avx512vl")))
#define TB ST2V_TARGET_BF16
#define INLINE inline __attribute__((always_inline))

/* The vector exp of ops_vec.h, 16 wide. */
#define VW 16
#define VN(name) name##_fa
#define VATTR TF __attribute__((unused))
#include "ops_vec.h"
#undef VW
#undef VN
#undef VATTR

typedef struct fa_task {
    float *out;
    const float *q, *k, *v, *bias;
    int64_t ldo, ldq, ldk, ldv;
    int nq, nk, hd, n_qb, bf16;
    float scale;
    float *scratch;
} fa_task;

/* The per-thread buffers of fa_task. */
typedef struct fa_slot {
    float *qt;                  /* (hd, QB); bfloat16: (hd/2, QB) words */
    uint32_t *kb;               /* (KB, hd/2) words */
    uint32_t *vp;               /* (KB/2, hd) words */
    float *st;                  /* (KB, QB); bfloat16: then pi (KB/2, QB) */
    float *acc;                 /* (QB, hd) */
    float *m, *l;               /* (QB) */
} fa_slot;

/* -------------------------------------------- the two products, twice */

/* Both products are written once over 32-bit lanes, for either kind of
 * multiply-add: float32 (a lane is a float; FMA) or bfloat16 (a lane is
 * a pair; vdpbf16ps, 32 products an instruction). MADD(acc, b, x): acc +
 * b * x lane by lane (b a broadcast lane, x a loaded vector). */
#define MADD_F32(a, b, x)                                                     \
    _mm512_fmadd_ps(_mm512_castsi512_ps(b), _mm512_castsi512_ps(x), (a))
#define MADD_BF16(a, b, x) _mm512_dpbf16_ps((a), (__m512bh)(b), (__m512bh)(x))

/* SCORES: st (kn, QB) rows j, lanes r0 .. r0+64 = sum_p k[j][p] qt[p][r]
 * plus bias[j], over n lanes p: k rows of stride ldk lanes (float32: k
 * where it lies; bfloat16: kb), qt (n, QB). MK keys at a time, the last
 * group's missing keys repeating its last (computed, not stored). */
#define MK 6
#define DEFINE_SCORES(NAME, TARGET, MADD)                                     \
    TARGET static void NAME(float *st, const uint32_t *qt, const uint32_t *k, \
                            int64_t ldk, int kn, int n, int r0,               \
                            const float *bias)                                \
    {                                                                         \
        for (int j = 0; j < kn; j += MK) {                                    \
            const uint32_t *kr[MK];                                           \
            for (int i = 0; i < MK; i++)                                      \
                kr[i] = k + ST2V_MIN(j + i, kn - 1) * ldk;                    \
            __m512 a[MK][4];                                                  \
            _Pragma("GCC unroll 8") for (int i = 0; i < MK; i++)              \
                _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++)           \
                    a[i][c] = _mm512_setzero_ps();                            \
            for (int p = 0; p < n; p++) {                                     \
                __m512i qv[4];                                                \
                const uint32_t *qr = qt + (size_t)p * QB + r0;                \
                _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++)           \
                    qv[c] = _mm512_load_si512((const void *)(qr + 16 * c));   \
                _Pragma("GCC unroll 8") for (int i = 0; i < MK; i++)          \
                {                                                             \
                    const __m512i b = _mm512_set1_epi32((int)kr[i][p]);       \
                    _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++)       \
                        a[i][c] = MADD(a[i][c], b, qv[c]);                    \
                }                                                             \
            }                                                                 \
            for (int i = 0; i < MK && j + i < kn; i++) {                      \
                const __m512 bj = _mm512_set1_ps(bias ? bias[j + i] : 0.0f);  \
                float *d = st + (size_t)(j + i) * QB + r0;                    \
                _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++)           \
                    _mm512_store_ps(d + 16 * c, _mm512_add_ps(a[i][c], bj));  \
            }                                                                 \
        }                                                                     \
    }

/* ACCUMULATE: acc (rows, hd) += sum_j p[j][r] v[j][e], over m rows j: p
 * (m, QB) lanes (float32: the probabilities st; bfloat16: their pairs of
 * keys pi), v rows of stride ldv lanes (float32: v where it lies;
 * bfloat16: vp). MR rows of acc by 16 ne columns at a time; rows past the
 * last repeat it (computed, not stored). */
#define MR 6
#define DEFINE_ACCUMULATE(NAME, TARGET, MADD)                                 \
    TARGET static inline __attribute__((always_inline)) void NAME##_tile(     \
        float *acc, int hd, const uint32_t *pj, const uint32_t *v,            \
        int64_t ldv, int m, int r0, int nr, int e0, const int ne)             \
    {                                                                         \
        int rr[MR];                                                           \
        for (int i = 0; i < MR; i++)                                          \
            rr[i] = r0 + ST2V_MIN(i, nr - 1);                                 \
        __m512 a[MR][4];                                                      \
        _Pragma("GCC unroll 8") for (int i = 0; i < MR; i++)                  \
            _Pragma("GCC unroll 4") for (int c = 0; c < ne; c++)              \
                a[i][c] = _mm512_load_ps(acc + (size_t)rr[i] * hd + e0 +      \
                                         16 * c);                             \
        for (int j = 0; j < m; j++) {                                         \
            __m512i vv[4];                                                    \
            const uint32_t *vr = v + j * ldv + e0;                            \
            const uint32_t *pr = pj + (size_t)j * QB;                         \
            _Pragma("GCC unroll 4") for (int c = 0; c < ne; c++)              \
                vv[c] = _mm512_loadu_si512((const void *)(vr + 16 * c));      \
            _Pragma("GCC unroll 8") for (int i = 0; i < MR; i++)              \
            {                                                                 \
                const __m512i b = _mm512_set1_epi32((int)pr[rr[i]]);          \
                _Pragma("GCC unroll 4") for (int c = 0; c < ne; c++)          \
                    a[i][c] = MADD(a[i][c], b, vv[c]);                        \
            }                                                                 \
        }                                                                     \
        for (int i = 0; i < MR && i < nr; i++)                                \
            _Pragma("GCC unroll 4") for (int c = 0; c < ne; c++)              \
                _mm512_store_ps(acc + (size_t)(r0 + i) * hd + e0 + 16 * c,    \
                                a[i][c]);                                     \
    }                                                                         \
    TARGET static void NAME(float *acc, int hd, const uint32_t *pj,           \
                            const uint32_t *v, int64_t ldv, int m, int rows)  \
    {                                                                         \
        for (int r0 = 0; r0 < rows; r0 += MR) {                               \
            const int nr = ST2V_MIN(rows - r0, MR);                           \
            int e0 = 0;                                                       \
            for (; e0 + 64 <= hd; e0 += 64)                                   \
                NAME##_tile(acc, hd, pj, v, ldv, m, r0, nr, e0, 4);           \
            switch ((hd - e0) / 16) { /* the widths as constants */           \
            case 3: NAME##_tile(acc, hd, pj, v, ldv, m, r0, nr, e0, 3); break; \
            case 2: NAME##_tile(acc, hd, pj, v, ldv, m, r0, nr, e0, 2); break; \
            case 1: NAME##_tile(acc, hd, pj, v, ldv, m, r0, nr, e0, 1); break; \
            default: break;                                                   \
            }                                                                 \
        }                                                                     \
    }

DEFINE_SCORES(scores_f32, TF, MADD_F32)
DEFINE_SCORES(scores_bf16, TB, MADD_BF16)
DEFINE_ACCUMULATE(accumulate_f32, TF, MADD_F32)
DEFINE_ACCUMULATE(accumulate_bf16, TB, MADD_BF16)

/* ----------------------------------------------------------- bfloat16 */

/* The word of (a, b) rounded to bfloat16 (nearest even) for 16 lanes:
 * word i = a[i] | b[i] << 16, the order of a pair in memory. */
TB static INLINE __m512i pair16(__m512 a, __m512 b)
{
    static const uint16_t order[32] = {0,  16, 1,  17, 2,  18, 3,  19,
                                       4,  20, 5,  21, 6,  22, 7,  23,
                                       8,  24, 9,  25, 10, 26, 11, 27,
                                       12, 28, 13, 29, 14, 30, 15, 31};
    const __m512i ab = (__m512i)_mm512_cvtne2ps_pbh(b, a); /* a0..15 b0..15 */
    return _mm512_permutexvar_epi16(_mm512_loadu_si512((const void *)order),
                                    ab);
}

/* d (hd/2 words) = row x (hd floats) * scale, rounded; hd % 16 == 0. */
TB static void round_row(uint32_t *d, const float *x, int hd, float scale)
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

/* The rounded operands of one key block: kb (kn, hd/2) the rows of k,
 * vp (kn2, hd) pairs of rows of v (the last one's second zero when kn is
 * odd). */
TB static void pack_block(uint32_t *kb, uint32_t *vp, const float *k,
                          int64_t ldk, const float *v, int64_t ldv, int kn,
                          int hd)
{
    for (int j = 0; j < kn; j++)
        round_row(kb + (size_t)j * (hd / 2), k + j * ldk, hd, 1.0f);
    for (int jp = 0; jp < (kn + 1) / 2; jp++) {
        const float *v0 = v + 2 * jp * ldv;
        const float *v1 = 2 * jp + 1 < kn ? v0 + ldv : NULL;
        for (int e = 0; e < hd; e += 16)
            _mm512_store_si512(
                (void *)(vp + (size_t)jp * hd + e),
                pair16(_mm512_loadu_ps(v0 + e),
                       v1 ? _mm512_loadu_ps(v1 + e) : _mm512_setzero_ps()));
    }
}

/* st (kn, QB) of probabilities -> pi (kn2, QB) pairs of keys, in place:
 * row jp of pi lies where row jp of st did, read before (jp <= 2 jp). */
TB static void pair_keys(float *st, int kn, int rows16)
{
    for (int jp = 0; jp < (kn + 1) / 2; jp++) {
        const float *s0 = st + (size_t)(2 * jp) * QB;
        const float *s1 = 2 * jp + 1 < kn ? s0 + QB : NULL;
        uint32_t *d = (uint32_t *)(st + (size_t)jp * QB);
        for (int r = 0; r < rows16; r += 16)
            _mm512_store_si512(
                (void *)(d + r),
                pair16(_mm512_load_ps(s0 + r),
                       s1 ? _mm512_load_ps(s1 + r) : _mm512_setzero_ps()));
    }
}

/* ------------------------------------------------------------- shared */

/* The online softmax of one key block over lanes of 16 query rows (rows16
 * of them): st (kn, QB) becomes exp(st - m'); m and l updated; alpha
 * (rows16) the factor of acc. */
TF static void softmax_block(float *st, int kn, int rows16, float *m, float *l,
                             float *alpha)
{
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
        const __m512 a = (__m512)exp_fa((vf_fa)_mm512_sub_ps(mo, ms));
        __m512 s = _mm512_setzero_ps();
        for (int j = 0; j < kn; j++) {
            float *d = st + (size_t)j * QB + r;
            const __m512 p =
                (__m512)exp_fa((vf_fa)_mm512_sub_ps(_mm512_load_ps(d), ms));
            _mm512_store_ps(d, p);
            s = _mm512_add_ps(s, p);
        }
        _mm512_store_ps(l + r,
                        _mm512_add_ps(_mm512_mul_ps(_mm512_load_ps(l + r), a), s));
        _mm512_store_ps(m + r, mn);
        _mm512_store_ps(alpha + r, a);
    }
}

/* acc (rows, hd) *= alpha per row. */
TF static void rescale(float *acc, int rows, int hd, const float *alpha)
{
    for (int r = 0; r < rows; r++) {
        float *ar = acc + (size_t)r * hd;
        const __m512 f = _mm512_set1_ps(alpha[r]);
        for (int e = 0; e < hd; e += 16)
            _mm512_store_ps(ar + e, _mm512_mul_ps(_mm512_load_ps(ar + e), f));
    }
}

/* One key block of a task: st, then acc += its probabilities times v.
 * (float32 reads k and v as 32-bit lanes where they lie.) */
TF static void block_f32(const fa_task *a, const fa_slot *s, int64_t col,
                         int k0, int kn, int rows, int rows64, float *alpha)
{
    const int hd = a->hd;
    for (int r0 = 0; r0 < rows64; r0 += 64)
        scores_f32(s->st, (const uint32_t *)s->qt,
                   (const uint32_t *)(a->k + k0 * a->ldk + col), a->ldk, kn,
                   hd, r0, a->bias ? a->bias + k0 : NULL);
    softmax_block(s->st, kn, rows64, s->m, s->l, alpha);
    rescale(s->acc, rows, hd, alpha);
    accumulate_f32(s->acc, hd, (const uint32_t *)s->st,
                   (const uint32_t *)(a->v + k0 * a->ldv + col), a->ldv, kn,
                   rows);
}

TB static void block_bf16(const fa_task *a, const fa_slot *s, int64_t col,
                          int k0, int kn, int rows, int rows64, float *alpha)
{
    const int hd = a->hd;
    pack_block(s->kb, s->vp, a->k + k0 * a->ldk + col, a->ldk,
               a->v + k0 * a->ldv + col, a->ldv, kn, hd);
    for (int r0 = 0; r0 < rows64; r0 += 64)
        scores_bf16(s->st, (const uint32_t *)s->qt, s->kb, hd / 2, kn, hd / 2,
                    r0, a->bias ? a->bias + k0 : NULL);
    softmax_block(s->st, kn, rows64, s->m, s->l, alpha);
    rescale(s->acc, rows, hd, alpha);
    pair_keys(s->st, kn, rows64);
    accumulate_bf16(s->acc, hd, (const uint32_t *)s->st, s->vp, hd,
                    (kn + 1) / 2, rows);
}

/* qt (hd/2, QB) words = the task's rows of q times scale, rounded into
 * pairs and transposed (zero past rows). */
TB static void transpose_q_bf16(const fa_task *a, uint32_t *qt,
                                const float *q, int rows, int rows64)
{
    for (int r = 0; r < rows64; r++) {
        uint32_t w[HD_MAX / 2] = {0};
        if (r < rows)
            round_row(w, q + r * a->ldq, a->hd, a->scale);
        for (int p = 0; p < a->hd / 2; p++)
            qt[(size_t)p * QB + r] = w[p];
    }
}

/* The same in float32: qt (hd, QB). */
TF static void transpose_q_f32(const fa_task *a, float *qt, const float *q,
                               int rows, int rows64)
{
    for (int r = 0; r < rows64; r++)
        for (int e = 0; e < a->hd; e++)
            qt[(size_t)e * QB + r] = r < rows ? q[r * a->ldq + e] * a->scale
                                              : 0.0f;
}

TF static void fa_tasks(void *varg, int64_t begin, int64_t end)
{
    const fa_task *a = varg;
    const int hd = a->hd;
    float *p = a->scratch + (size_t)st2v_pool_slot() * slot_floats(hd);
    p += (16 - ((uintptr_t)p / sizeof(float)) % 16) % 16;
    fa_slot s;
    s.qt = p, p += (size_t)hd * QB;
    s.kb = (uint32_t *)p, p += (size_t)KB * hd / 2;
    s.vp = (uint32_t *)p, p += (size_t)KB / 2 * hd;
    s.st = p, p += (size_t)KB * QB;
    s.acc = p, p += (size_t)QB * hd;
    s.m = p, p += QB;
    s.l = p;
    float alpha[QB] __attribute__((aligned(64)));
    for (int64_t t = begin; t < end; t++) {
        const int h = (int)(t / a->n_qb);
        const int q0 = (int)(t % a->n_qb) * QB;
        const int rows = ST2V_MIN(a->nq - q0, QB);
        const int rows64 = (rows + 63) / 64 * 64;
        const int64_t col = (int64_t)h * hd;
        if (a->bf16)
            transpose_q_bf16(a, (uint32_t *)s.qt, a->q + q0 * a->ldq + col,
                             rows, rows64);
        else
            transpose_q_f32(a, s.qt, a->q + q0 * a->ldq + col, rows, rows64);
        for (int r = 0; r < rows64; r++) {
            s.m[r] = -INFINITY;
            s.l[r] = 0.0f;
        }
        memset(s.acc, 0, (size_t)rows * hd * sizeof(float));
        for (int k0 = 0; k0 < a->nk; k0 += KB) {
            const int kn = ST2V_MIN(a->nk - k0, KB);
            if (a->bf16)
                block_bf16(a, &s, col, k0, kn, rows, rows64, alpha);
            else
                block_f32(a, &s, col, k0, kn, rows, rows64, alpha);
        }
        for (int r = 0; r < rows; r++) {
            const __m512 inv = _mm512_set1_ps(1.0f / s.l[r]);
            float *o = a->out + (q0 + r) * a->ldo + col;
            const float *ar = s.acc + (size_t)r * hd;
            for (int e = 0; e < hd; e += 16)
                _mm512_storeu_ps(o + e, _mm512_mul_ps(_mm512_load_ps(ar + e), inv));
        }
    }
}
#endif

int st2v_fa_avx512_supported(int hd, int bf16)
{
#ifdef HAVE_AVX512_ATTENTION
    const unsigned need =
        ST2V_CPU_AVX512 | (bf16 ? ST2V_CPU_AVX512BF16 : 0u);
    return hd >= 16 && hd <= HD_MAX && hd % 16 == 0 && st2v_cpu_has(need);
#else
    (void)hd, (void)bf16;
    return 0;
#endif
}

int st2v_fa_avx512(st2v_pool *pool, float *out, int64_t ldo, const float *q,
                   int64_t ldq, const float *k, int64_t ldk, const float *v,
                   int64_t ldv, int nq, int nk, int heads, int hd,
                   const float *key_bias, int bf16, float *scratch)
{
    if (!st2v_fa_avx512_supported(hd, bf16))
        return 0;
#ifdef HAVE_AVX512_ATTENTION
    if (nq <= 0 || nk <= 0 || heads <= 0)
        return 1;
    fa_task a = {.out = out, .q = q, .k = k, .v = v, .bias = key_bias,
                 .ldo = ldo, .ldq = ldq, .ldk = ldk, .ldv = ldv, .nq = nq,
                 .nk = nk, .hd = hd, .n_qb = (nq + QB - 1) / QB,
                 .bf16 = bf16, .scale = 1.0f / sqrtf((float)hd),
                 .scratch = scratch};
    st2v_pool_for(pool, (int64_t)heads * a.n_qb, 1, fa_tasks, &a);
#else
    (void)pool, (void)out, (void)ldo, (void)q, (void)ldq, (void)k, (void)ldk;
    (void)v, (void)ldv, (void)nq, (void)nk, (void)heads, (void)key_bias;
    (void)scratch;
#endif
    return 1;
}
