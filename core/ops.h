/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ops.h - the numeric kernels shared by the text encoder, the DiT and the
 * autoencoder: linear layers, norms, activations, attention, RoPE, causal
 * 3x3 convolutions and depth/space rearrangements.
 *
 * Conventions: kernels take the output first, then the inputs, then sizes.
 * Every matrix product is one cblas_sgemm per fixed-size block; blocks are
 * cut from the problem size alone (never from the thread count), so every
 * kernel gives bit-identical results for any pool (NULL = serial).
 * Strides (ld*) are in floats. Nothing here allocates, prints or fails:
 * callers size their scratch with the *_scratch() helpers.
 */
#ifndef ST2V_OPS_H
#define ST2V_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "weights.h"
#include "pool.h"

/* Rows per block of the row-parallel kernels; the least rows per tile of
 * a linear layer. */
#define ST2V_ROW_BLOCK 64
/* Output columns per block of a linear layer. */
#define ST2V_COL_BLOCK 256

/* The slot (0 .. threads-1) of the calling thread inside the pool call that
 * runs it; 0 outside any pool. Tasks use it to pick per-thread scratch. */
int st2v_pool_slot(void);

/* ------------------------------------------------------------ linear */

typedef enum st2v_act {
    ST2V_ACT_NONE = 0,
    ST2V_ACT_GELU,             /* exact: 0.5 x (1 + erf(x / sqrt 2)) */
    ST2V_ACT_SILU,             /* x / (1 + exp(-x)) */
} st2v_act;

/* y (n, out) = act(x (n, in) W^T + b). y and x must not overlap. */
void st2v_op_linear(st2v_pool *pool, float *y, const float *x,
                    const st2v_linear *lin, int64_t n, st2v_act act);

/* Float32 weights packed for the AVX-512F kernel (ops_packed.c): whether
 * this CPU has it; the floats of a packed (out, in) weight: panels of 16
 * output columns, each (in, 16), zero padded; the packing; and
 * dst (rows, c1 - c0), stride ldd, += x (rows, in) . W[c0..c1)^T with c0 a
 * multiple of 16, returning 0 (and doing nothing) where the CPU lacks it. */
int st2v_op_f32_packed_supported(void);
size_t st2v_op_f32_pack_size(int out, int in);
void st2v_op_f32_pack(float *dst, const float *w, int out, int in);
int st2v_op_f32_packed_linear(float *dst, int64_t ldd, const float *x,
                              int64_t ldx, int rows, const float *wf, int in,
                              int c0, int c1);
/* The same, dst = (accumulate = 0) or += (1) the product. */
int st2v_op_f32_packed_gemm(float *dst, int64_t ldd, const float *x,
                            int64_t ldx, int rows, const float *wf, int in,
                            int c0, int c1, int accumulate);
/* Packing from strided rows: W (out, in) = scale * w, rows ldw apart; and
 * W (out, in) = v^T for v (in, out), rows ldv apart (the values of an
 * attention, as the weight of the product by its probabilities). */
void st2v_op_f32_pack_rows(float *dst, const float *w, int64_t ldw, int out,
                           int in, float scale);
void st2v_op_f32_pack_cols(float *dst, const float *v, int64_t ldv, int in,
                           int out);

/* The BF16 path (ops_packed.c). Whether this CPU has AVX512-BF16 (and
 * AVX512-F/BW/VL): only then is a linear's packed wp used. */
int st2v_op_bf16_supported(void);
/* bfloat16 elements of a (out, in) weight packed for the BF16 path:
 * panels of 16 output columns, each (ceil(in/2), 16, 2), zero padded. */
size_t st2v_op_bf16_pack_size(int out, int in);
/* dst = w (out, in) rounded to bfloat16 (nearest even) in that layout. */
void st2v_op_bf16_pack(uint16_t *dst, const float *w, int out, int in);
/* dst (rows, c1 - c0), stride ldd, += x (rows, in) . W[c0..c1)^T in
 * bfloat16 products summed in float32, with x rounded to bfloat16. c0 a
 * multiple of 16, in <= 1024. Returns 0 (and does nothing) where the CPU
 * or the shape does not allow it: the caller then uses float32. */
int st2v_op_bf16_linear(float *dst, int64_t ldd, const float *x, int64_t ldx,
                        int rows, const uint16_t *wp, int in, int c0, int c1);

/* Residual linear: x (n, out) += gate[r / group] * (in (n, in) W^T + b),
 * gate rows of `out` floats with stride ld_gate. With gate == NULL it is
 * x += in W^T + b and tmp is unused; otherwise tmp (n, out) is scratch. */
void st2v_op_linear_residual(st2v_pool *pool, float *x, const float *in,
                             const st2v_linear *lin, int64_t n,
                             const float *gate, int64_t ld_gate,
                             int64_t group, float *tmp);

/* --------------------------------------------------- norms, activations */

/* y (n, d) = LayerNorm(x (n, d)) * w + b; w and b may be NULL (no affine).
 * y may equal x. */
void st2v_op_layernorm(st2v_pool *pool, float *y, const float *x,
                       const float *w, const float *b, int64_t n, int d,
                       float eps);

/* adaLN: y (n, d) = LayerNorm(x) * (1 + scale) + shift, LayerNorm without
 * affine; row r uses the shift and scale rows r / group (d floats each,
 * stride ld). y may equal x. */
void st2v_op_layernorm_modulate(st2v_pool *pool, float *y, const float *x,
                                const float *shift, const float *scale,
                                int64_t ld, int64_t group, int64_t n, int d,
                                float eps);

/* In place on rows of x with stride ld: each of the `heads` segments of hd
 * floats becomes seg * w / sqrt(mean(seg^2) + eps), w (hd). */
void st2v_op_head_rmsnorm(st2v_pool *pool, float *x, int64_t ld,
                          const float *w, int64_t n, int heads, int hd,
                          float eps);

/* In place, x (n). */
void st2v_op_gelu(float *x, int64_t n);
void st2v_op_silu(float *x, int64_t n);

/* The element-wise kernels run on vectors of 16 floats where the CPU has
 * AVX-512F, 8 where it has AVX2 (chosen at run time), else 4; every width
 * gives the same bits. */
int st2v_op_vector_width(void);
/* The same kernels at a given width (8 and 16 only where supported), for
 * tests that compare the widths. softmax_exp: s (n) = exp(s - max s), in place,
 * returning the sum. */
void st2v_op_gelu_w(float *x, int64_t n, int width);
void st2v_op_silu_w(float *x, int64_t n, int width);
float st2v_op_softmax_exp_w(float *s, int n, int width);

/* One frame x (C, hw) -> y (C, hw): y[c,p] = x[c,p] * w[c] / sqrt(mean_c
 * x[.,p]^2 + eps), followed by SiLU when silu != 0. For m frames laid out
 * one after another (frame stride C*hw). y may equal x. */
void st2v_op_channel_rmsnorm(st2v_pool *pool, float *y, const float *x,
                             const float *w, int m, int C, int64_t hw,
                             float eps, int silu);

/* ---------------------------------------------------------- attention */

/* Scratch floats st2v_op_attention() needs for this pool, key count and
 * head width. */
size_t st2v_op_attention_scratch(const st2v_pool *pool, int nk, int hd);

/* Multi-head softmax attention. Head j reads columns j*hd .. (j+1)*hd-1 of
 * the rows of q (nq rows, stride ldq), k and v (nk rows, strides ldk, ldv)
 * and writes the same columns of out (nq rows, stride ldo):
 * out_j = softmax(q_j k_j^T / sqrt(hd)) v_j. */
void st2v_op_attention(st2v_pool *pool, float *out, int64_t ldo,
                       const float *q, int64_t ldq, const float *k,
                       int64_t ldk, const float *v, int64_t ldv, int nq,
                       int nk, int heads, int hd, float *scratch);

/* --------------------------------------------------------------- RoPE */

/* cs (Tp*Hp*Wp, hd/2, 2): cos and sin of every rotation pair of a head for
 * the tokens of a (Tp, Hp, Wp) grid in raster order at positions
 * (a + t0, b, c); dims = {rt, rh, rw}, hd = rt + rh + rw. */
void st2v_op_rope_table(float *cs, int Tp, int Hp, int Wp, int t0,
                        const int dims[3], float theta);

/* Rotate, in place, every head of the n rows of x (stride ld). */
void st2v_op_rope(st2v_pool *pool, float *x, int64_t ld, const float *cs,
                  int64_t n, int heads, int hd);

/* ------------------------------------------------------- convolutions */

/* Scratch floats st2v_op_conv_causal() needs with a pool of `threads`
 * (st2v_pool_threads()): one im2col block per thread. */
size_t st2v_op_conv_scratch(int threads, const st2v_conv *c, int H, int W);

/* Causal conv (kt, 3, 3), stride 1, spatial zero padding 1, over m frames.
 * win (kt-1+m, cin, H, W): the kt-1 frames before the first output frame
 *   (zeros before the start of a sequence), then the m input frames.
 * Output frame j, channel co lies at out + j*ld_frame + co*ld_chan (H*W
 * floats); it sees win frames j .. j+kt-1. With accumulate the result is
 * added to out instead of stored. col: st2v_op_conv_scratch() floats.
 * Work is cut into (frame, pixel block) tasks, each an im2col of its
 * pixels and one sgemm over all output channels. */
void st2v_op_conv_causal(st2v_pool *pool, float *out, int64_t ld_frame,
                         int64_t ld_chan, const float *win,
                         const st2v_conv *c, int m, int H, int W, float *col,
                         int accumulate);

/* One frame in (C*a*b*b, H, W) -> a frames out (C, H*b, W*b) at out +
 * dt*ld_frame: input channel ((c*a + dt)*b + dy)*b + dx at (y, x) goes to
 * frame dt, channel c, pixel (y*b + dy, x*b + dx). */
void st2v_op_depth_to_space(float *out, int64_t ld_frame, const float *in,
                            int C, int H, int W, int a, int b);

/* The exact inverse: a frames in (C, H, W) at in + dt*ld_frame -> one
 * frame out (C*a*b*b, H/b, W/b). H and W divisible by b. */
void st2v_op_space_to_depth(float *out, const float *in, int64_t ld_frame,
                            int C, int H, int W, int a, int b);

#endif /* ST2V_OPS_H */
