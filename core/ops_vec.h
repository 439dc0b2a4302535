/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ops_vec.h - the element-wise kernels of ops.c (exp, erf, GELU, SiLU, the
 * exponentials of a softmax row, the channel RMS norm of a pixel block),
 * written once over GCC/Clang vector extensions for a width of VW floats.
 *
 * ops.c includes this file up to three times: VW = 4 (SSE2 on any x86-64,
 * NEON on arm64, plain code elsewhere) and, on x86, VW = 8 in functions
 * compiled for AVX2 and VW = 16 in functions compiled for AVX-512F, chosen
 * at run time. Both widths apply the same float
 * operations to every element in the same order (no FMA contraction: the
 * build is ISO C, so -ffp-contract=off), tails are padded to a full vector,
 * and the softmax sum always runs in 8 fixed lanes: the two widths, and any
 * cut of an array into blocks, give the same bits.
 *
 * Expects VW (4, 8 or 16), VN(name) (the name with a width suffix) and VATTR
 * (function attributes). Internal to ops.c; no include guard on purpose.
 */

#define VF VN(vf)
#define VI VN(vi)
typedef float VF __attribute__((vector_size(VW * 4)));
typedef int32_t VI __attribute__((vector_size(VW * 4)));

static VATTR inline VF VN(load)(const float *p)
{
    VF v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static VATTR inline void VN(store)(float *p, VF v)
{
    memcpy(p, &v, sizeof(v));
}

static VATTR inline VF VN(set1)(float x)
{
    return (VF){0} + x;
}

#if VW == 16
/* The 8-lane halves of a 16-lane vector, for sums kept in 8 fixed lanes. */
#define V8 VN(v8h)
typedef float V8 __attribute__((vector_size(32)));

static VATTR inline V8 VN(lo)(VF v)
{
    return __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7);
}

static VATTR inline V8 VN(hi)(VF v)
{
    return __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
}
#endif

/* m ? a : b, lane by lane (m from a vector comparison: all ones or 0) */
static VATTR inline VF VN(sel)(VI m, VF a, VF b)
{
    return (VF)((m & (VI)a) | (~m & (VI)b));
}

/* exp(x): Cephes' polynomial, relative error below 1 ulp on [-87, 88];
 * the input is clamped to that range. */
static VATTR inline VF VN(exp)(VF x)
{
    const VF lo = VN(set1)(-87.0f), hi = VN(set1)(88.0f);
    x = VN(sel)(x < lo, lo, x);
    x = VN(sel)(x > hi, hi, x);
    /* n = round(x / ln 2) by the 1.5 * 2^23 trick, r = x - n ln 2 */
    VF n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    VF r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    VF p = r * 1.9875691500e-4f + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    VI e = (__builtin_convertvector(n, VI) + 127) << 23;     /* 2^n */
    return p * (VF)e;
}

/* erf(x), absolute error below 1e-7: two minimax polynomials (N. Juffa's
 * erff), the outer one through exp, selected per lane. */
static VATTR inline VF VN(erf)(VF x)
{
    const VI signbit = (VI){0} + INT32_MIN;
    VF t = (VF)((VI)x & ~signbit);              /* |x| */
    VF s = x * x;
    /* |x| > 0.927734375 */
    VF r = t * -1.72853470e-5f + 3.83197126e-4f;
    VF u = t * -3.88396438e-3f + 2.42546219e-2f;
    r = r * s + u;
    r = r * t - 1.06777877e-1f;
    r = r * t - 6.34846687e-1f;
    r = r * t - 1.28717512e-1f;
    r = r * t - t;
    r = 1.0f - VN(exp)(r);
    r = (VF)((VI)r | ((VI)x & signbit));        /* copysign(r, x) */
    /* |x| <= 0.927734375 */
    VF q = s * -5.96761703e-4f + 4.99119423e-3f;
    q = q * s - 2.67681349e-2f;
    q = q * s + 1.12819925e-1f;
    q = q * s - 3.76125336e-1f;
    q = q * s + 1.28379166e-1f;
    q = q * x + x;
    return VN(sel)(t > VN(set1)(0.927734375f), r, q);
}

static VATTR inline VF VN(gelu1)(VF x)
{
    return 0.5f * x * (1.0f + VN(erf)(x * (float)M_SQRT1_2));
}

static VATTR inline VF VN(silu1)(VF x)
{
    return x / (1.0f + VN(exp)(-x));
}

/* x (n) = GELU(x), in place. */
static VATTR void VN(gelu)(float *x, int64_t n)
{
    int64_t i = 0;
    for (; i + VW <= n; i += VW)
        VN(store)(x + i, VN(gelu1)(VN(load)(x + i)));
    if (i < n) {
        float t[VW] = {0};
        memcpy(t, x + i, (size_t)(n - i) * sizeof(float));
        VN(store)(t, VN(gelu1)(VN(load)(t)));
        memcpy(x + i, t, (size_t)(n - i) * sizeof(float));
    }
}

/* x (n) = SiLU(x), in place. */
static VATTR void VN(silu)(float *x, int64_t n)
{
    int64_t i = 0;
    for (; i + VW <= n; i += VW)
        VN(store)(x + i, VN(silu1)(VN(load)(x + i)));
    if (i < n) {
        float t[VW] = {0};
        memcpy(t, x + i, (size_t)(n - i) * sizeof(float));
        VN(store)(t, VN(silu1)(VN(load)(t)));
        memcpy(x + i, t, (size_t)(n - i) * sizeof(float));
    }
}

/* s (n) = exp(s - max(s)), in place; returns the sum: 8 fixed lanes over
 * whole groups of 8, then the rest in order. */
static VATTR float VN(softmax_exp)(float *s, int n)
{
    int j = 0;
    float mx = s[0];
    if (n >= VW) {
        VF m = VN(load)(s);
        for (j = VW; j + VW <= n; j += VW) {
            VF v = VN(load)(s + j);
            m = VN(sel)(v > m, v, m);
        }
        for (int k = 0; k < VW; k++)
            mx = m[k] > mx ? m[k] : mx;
    }
    for (; j < n; j++)
        mx = s[j] > mx ? s[j] : mx;

    const VF vmx = VN(set1)(mx);
    float a[8];
#if VW == 16
    /* 16 at a time, each half added to the 8 lanes in turn: the order of
     * the narrower widths */
    V8 acc8 = {0};
    for (j = 0; j + 16 <= n; j += 16) {
        VF e = VN(exp)(VN(load)(s + j) - vmx);
        VN(store)(s + j, e);
        acc8 += VN(lo)(e);
        acc8 += VN(hi)(e);
    }
    if (j + 8 <= n) {
        float t[16] = {0};
        memcpy(t, s + j, 8 * sizeof(float));
        VF e = VN(exp)(VN(load)(t) - vmx);
        memcpy(s + j, &e, 8 * sizeof(float));
        acc8 += VN(lo)(e);
        j += 8;
    }
    memcpy(a, &acc8, sizeof(a));
#else
    VF acc[8 / VW];
    for (int h = 0; h < 8 / VW; h++)
        acc[h] = VN(set1)(0.0f);
    for (j = 0; j + 8 <= n; j += 8) {
        for (int h = 0; h < 8 / VW; h++) {
            VF e = VN(exp)(VN(load)(s + j + h * VW) - vmx);
            VN(store)(s + j + h * VW, e);
            acc[h] += e;
        }
    }
    memcpy(a, acc, sizeof(a));
#endif
    float sum = ((a[0] + a[1]) + (a[2] + a[3])) +
                ((a[4] + a[5]) + (a[6] + a[7]));
    for (; j < n; j += VW) {
        const int cnt = ST2V_MIN(VW, n - j);
        float t[VW] = {0};
        memcpy(t, s + j, (size_t)cnt * sizeof(float));
        VN(store)(t, VN(exp)(VN(load)(t) - vmx));
        for (int k = 0; k < cnt; k++) {
            s[j + k] = t[k];
            sum += t[k];
        }
    }
    return sum;
}

/* One pixel block of a frame: x, y (C channels of np pixels, channel
 * stride hw); y = x * w / sqrt(mean_c x^2 + eps), then SiLU if silu.
 * inv: np floats of scratch. */
static VATTR void VN(chan_rms)(float *y, const float *x, const float *w,
                               int C, int64_t hw, int np, float eps, int silu,
                               float *inv)
{
    int p;
    memset(inv, 0, (size_t)np * sizeof(float));
    for (int c = 0; c < C; c++) {
        const float *xc = x + c * hw;
        for (p = 0; p + VW <= np; p += VW) {
            VF v = VN(load)(xc + p);
            VN(store)(inv + p, VN(load)(inv + p) + v * v);
        }
        for (; p < np; p++)
            inv[p] += xc[p] * xc[p];
    }
    for (p = 0; p < np; p++)
        inv[p] = 1.0f / sqrtf(inv[p] / (float)C + eps);
    for (int c = 0; c < C; c++) {
        const float *xc = x + c * hw;
        float *yc = y + c * hw;
        const float wc = w[c];
        for (p = 0; p + VW <= np; p += VW)
            VN(store)(yc + p, VN(load)(xc + p) * wc * VN(load)(inv + p));
        for (; p < np; p++)
            yc[p] = xc[p] * wc * inv[p];
        if (silu)
            VN(silu)(yc, np);
    }
}

/* ------------------------------------------------------ row reductions */

/* The sum of x (n), or of (x - c)^2 with sq: 8 fixed lanes over whole
 * groups of 8, then the rest in order. */
static VATTR float VN(row_sum)(const float *x, int n, float c, int sq)
{
    const VF vc = VN(set1)(c);
    float a[8];
    int j = 0;
#if VW == 16
    V8 acc8 = {0};
    for (; j + 16 <= n; j += 16) {
        VF v = VN(load)(x + j);
        if (sq) {
            v -= vc;
            v *= v;
        }
        acc8 += VN(lo)(v);
        acc8 += VN(hi)(v);
    }
    if (j + 8 <= n) {
        float t[16] = {0};
        memcpy(t, x + j, 8 * sizeof(float));
        VF v = VN(load)(t);
        if (sq) {
            v -= vc;
            v *= v;
        }
        acc8 += VN(lo)(v);
        j += 8;
    }
    memcpy(a, &acc8, sizeof(a));
#else
    VF acc[8 / VW];
    for (int h = 0; h < 8 / VW; h++)
        acc[h] = VN(set1)(0.0f);
    for (; j + 8 <= n; j += 8) {
        for (int h = 0; h < 8 / VW; h++) {
            VF v = VN(load)(x + j + h * VW);
            if (sq) {
                v -= vc;
                v *= v;
            }
            acc[h] += v;
        }
    }
    memcpy(a, acc, sizeof(a));
#endif
    float sum = ((a[0] + a[1]) + (a[2] + a[3])) +
                ((a[4] + a[5]) + (a[6] + a[7]));
    for (; j < n; j++) {
        float v = x[j];
        if (sq) {
            v -= c;
            v *= v;
        }
        sum += v;
    }
    return sum;
}

/* y (n) = (x - mean) * rstd * m + b: a LayerNorm's affine map (m = w) or,
 * with one_plus, adaLN's modulation (m = 1 + scale, b = shift); m == NULL
 * means 1 and b == NULL means 0. */
static VATTR void VN(row_norm)(float *y, const float *x, int n, float mean,
                               float rstd, const float *m, const float *b,
                               int one_plus)
{
    const VF vmean = VN(set1)(mean), vrstd = VN(set1)(rstd);
    int j = 0;
    for (; j + VW <= n; j += VW) {
        VF v = (VN(load)(x + j) - vmean) * vrstd;
        if (m)
            v = v * (one_plus ? 1.0f + VN(load)(m + j) : VN(load)(m + j));
        if (b)
            v = v + VN(load)(b + j);
        VN(store)(y + j, v);
    }
    for (; j < n; j++) {
        float v = (x[j] - mean) * rstd;
        if (m)
            v = v * (one_plus ? 1.0f + m[j] : m[j]);
        if (b)
            v = v + b[j];
        y[j] = v;
    }
}

/* x (n) = x * w * inv, in place. */
static VATTR void VN(row_scale)(float *x, int n, const float *w, float inv)
{
    const VF vinv = VN(set1)(inv);
    int j = 0;
    for (; j + VW <= n; j += VW)
        VN(store)(x + j, VN(load)(x + j) * VN(load)(w + j) * vinv);
    for (; j < n; j++)
        x[j] = x[j] * w[j] * inv;
}

#undef VF
#undef VI
#ifdef V8
#undef V8
#endif
