/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * wtensor.c - weight views over mapped tensors and the tile-widening
 * matrix product of wtensor.h.
 */
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common.h"
#include "cpu.h"
#include "ops.h"
#include "ops_bf16.h"
#include "wtensor.h"

/* ============================================================ binding */

int st2v_wview_bind(st2v_wview *v, const st_file *f, const char *name,
                    int ndim, int64_t d0, int64_t d1, char *err,
                    size_t err_size)
{
    const int64_t want[2] = {d0, d1};
    const st_tensor *t;
    int rc = st_expect(&t, f, name, ndim, want, err, err_size);
    if (rc != 0)
        return rc;
    if (!st_dtype_is_float(t->dtype))
        return st2v_fail(err, err_size, ST2V_ERR_FORMAT,
                         "tensor %s: dtype %s, expected F32, F16, BF16 or "
                         "F8_E4M3",
                         name, st_dtype_name(t->dtype));
    v->data = t->data;
    v->dtype = t->dtype;
    v->rows = ndim == 2 ? d0 : 1;
    v->cols = ndim == 2 ? d1 : d0;
    v->scale = 1.0f;
    v->bf16 = 0;
    return ST2V_OK;
}

int st2v_wview_bind_scale(st2v_wview *v, const st_file *f, const char *name,
                          char *err, size_t err_size)
{
    const st_tensor *t = st_find(f, name);
    if (!t)
        return ST2V_OK;
    if (v->dtype != ST_F8_E4M3)
        return st2v_fail(err, err_size, ST2V_ERR_FORMAT,
                         "tensor %s: a scale for a %s weight (only F8_E4M3 "
                         "weights are scaled)",
                         name, st_dtype_name(v->dtype));
    if (!(t->ndim == 0 || (t->ndim == 1 && t->shape[0] == 1)) ||
        (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16)) {
        char sh[96];
        st_format_shape(sh, sizeof(sh), t->shape, t->ndim);
        return st2v_fail(err, err_size, ST2V_ERR_FORMAT,
                         "tensor %s: %s %s, expected a float scalar", name,
                         st_dtype_name(t->dtype), sh);
    }
    float s;
    st_to_f32(t, &s);
    if (!isfinite(s) || s == 0.0f)
        return st2v_fail(err, err_size, ST2V_ERR_FORMAT,
                         "tensor %s: scale %g is not finite and non-zero",
                         name, (double)s);
    v->scale = s;
    return ST2V_OK;
}

/* ========================================================== widening */


#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86_WIDEN 1

/* 8 halves at a time with F16C (exact, as half_to_float), where the CPU
 * has it (checked at run time). */
__attribute__((target("avx,f16c"))) static int64_t
widen_f16_f16c(float *dst, const uint8_t *src, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(
                                      (const __m128i *)(src + 2 * i))));
    return i;
}

/* 8 bf16 at a time: interleaving zeros below each value is the shift. */
static int64_t widen_bf16_sse2(float *dst, const uint8_t *src, int64_t n)
{
    const __m128i z = _mm_setzero_si128();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(src + 2 * i));
        _mm_storeu_si128((__m128i *)(dst + i), _mm_unpacklo_epi16(z, h));
        _mm_storeu_si128((__m128i *)(dst + i + 4), _mm_unpackhi_epi16(z, h));
    }
    return i;
}
#endif

/* E4M3FN as float32, one entry per byte (st_f8_e4m3_to_f32). */
static float e4m3_table[256];
static pthread_once_t e4m3_once = PTHREAD_ONCE_INIT;

static void e4m3_init(void)
{
    for (int b = 0; b < 256; b++)
        e4m3_table[b] = st_f8_e4m3_to_f32((uint8_t)b);
}

void st2v_widen(float *dst, const void *src, st_dtype dtype, int64_t n)
{
    const uint8_t *s = src; /* the file's bytes need not be aligned */
    int64_t i = 0;
    switch (dtype) {
    case ST_F32:
        memcpy(dst, src, (size_t)n * sizeof(float)); /* little-endian host */
        break;
    case ST_F16:
#ifdef HAVE_X86_WIDEN
        if (st2v_cpu_has(ST2V_CPU_F16C))
            i = widen_f16_f16c(dst, s, n);
#endif
        for (; i < n; i++) {
            uint16_t h;
            memcpy(&h, s + 2 * i, sizeof(h));
            dst[i] = st_f16_to_f32(h);
        }
        break;
    case ST_BF16:
        /* bf16 is the top half of a float32 */
#ifdef HAVE_X86_WIDEN
        i = widen_bf16_sse2(dst, s, n);
#endif
        for (; i < n; i++) {
            uint16_t h;
            memcpy(&h, s + 2 * i, sizeof(h));
            uint32_t bits = (uint32_t)h << 16;
            memcpy(&dst[i], &bits, sizeof(float));
        }
        break;
    case ST_F8_E4M3:
        pthread_once(&e4m3_once, e4m3_init);
        for (; i < n; i++)
            dst[i] = e4m3_table[s[i]];
        break;
    case ST_U8:
    case ST_I8:
    case ST_I32:
        break; /* not weights: st2v_wview_bind refuses them */
    }
}

void st2v_wview_rows(float *dst, const st2v_wview *v, int64_t r0, int64_t nr)
{
    const size_t off = (size_t)(r0 * v->cols) * st_dtype_size(v->dtype);
    const int64_t n = nr * v->cols;
    st2v_widen(dst, (const uint8_t *)v->data + off, v->dtype, n);
    if (v->scale != 1.0f) {
        const float sc = v->scale;
        for (int64_t i = 0; i < n; i++)
            dst[i] *= sc;
    }
}

void st2v_release_pages(const void *data, size_t bytes)
{
    const long ps = sysconf(_SC_PAGESIZE);
    const uintptr_t page = ps > 0 ? (uintptr_t)ps : 4096;
    uintptr_t b = (uintptr_t)data, e = b + bytes;
    b = (b + page - 1) / page * page;
    e = e / page * page;
    if (e > b)
        madvise((void *)b, e - b, MADV_DONTNEED); /* advice: failure is harmless */
}

void st2v_wview_release(const st2v_wview *v)
{
    st2v_release_pages(v->data, (size_t)(v->rows * v->cols) *
                                    st_dtype_size(v->dtype));
}

/* ====================================================== matrix product */

typedef struct wmm_task {
    float *y;
    int64_t ldy;
    const float *x;
    int64_t ldx;
    const st2v_wview *w;
    int64_t n;
    int accumulate;
    float *scratch;             /* ST2V_WTILE * cols floats per pool slot */
} wmm_task;

static void wmm_tiles(void *varg, int64_t begin, int64_t end)
{
    const wmm_task *a = varg;
    const st2v_wview *w = a->w;
    float *tile = a->scratch +
                  (size_t)st2v_pool_slot() * ST2V_WTILE * (size_t)w->cols;
    for (int64_t t = begin; t < end; t++) {
        const int64_t r0 = t * ST2V_WTILE;
        const int64_t nr = ST2V_MIN(w->rows - r0, ST2V_WTILE);
        const float *wt; /* (nr, cols) */
        if (w->dtype == ST_F32 && w->scale == 1.0f &&
            (uintptr_t)w->data % sizeof(float) == 0) {
            wt = (const float *)w->data + r0 * w->cols;
        } else {
            st2v_wview_rows(tile, w, r0, nr);
            wt = tile;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)a->n,
                    (int)nr, (int)w->cols, 1.0f, a->x, (int)a->ldx, wt,
                    (int)w->cols, a->accumulate ? 1.0f : 0.0f, a->y + r0,
                    (int)a->ldy);
    }
}

size_t st2v_wmatmul_scratch(const st2v_pool *pool, int64_t cols)
{
    const size_t tiles = (size_t)st2v_pool_threads(pool) * ST2V_WTILE *
                         (size_t)cols;
    return ST2V_MAX(ST2V_MAX(tiles, st2v_bf16_matmul_scratch(pool, cols)),
                    st2v_bf16w_matmul_f32_scratch(pool, cols));
}

void st2v_wmatmul(st2v_pool *pool, float *y, int64_t ldy, const float *x,
                  int64_t ldx, const st2v_wview *w, int64_t n, int accumulate,
                  float *scratch)
{
    if (n <= 0 || w->rows <= 0)
        return;
    if (w->bf16 && w->dtype == ST_BF16 && w->scale == 1.0f &&
        st2v_bf16_matmul(pool, y, ldy, x, ldx, w->data, w->rows, w->cols, n,
                         accumulate, scratch))
        return;
    /* float32 over the bfloat16 weights in place, widened in registers */
    if (w->dtype == ST_BF16 && w->scale == 1.0f &&
        st2v_bf16w_matmul_f32(pool, y, ldy, x, ldx, w->data, w->rows,
                              w->cols, n, accumulate, scratch))
        return;
    wmm_task a = {.y = y, .ldy = ldy, .x = x, .ldx = ldx, .w = w, .n = n,
                  .accumulate = accumulate, .scratch = scratch};
    st2v_pool_for(pool, (w->rows + ST2V_WTILE - 1) / ST2V_WTILE, 1, wmm_tiles,
                  &a);
}
