/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * weights.h - views of one layer's weights, shared by every model family
 * and by the kernels of ops.h that take them. Shapes follow PyTorch: a
 * linear weight is (out, in) and computes y = x W^T + b. The pointers are
 * borrowed from the model that bound them (read-only, float32, and for
 * the BF16 path a packed bfloat16 copy).
 */
#ifndef ST2V_WEIGHTS_H
#define ST2V_WEIGHTS_H

#include <stdint.h>

typedef struct st2v_linear {
    const float *w;            /* (out, in) */
    const float *b;            /* (out) */
    int in, out;
    const uint16_t *wp;        /* NULL, or w packed as bfloat16 for the BF16
                                  path (st2v_op_bf16_pack): used instead of
                                  w where the CPU has AVX512-BF16 */
    const float *wf;           /* NULL, or w packed for the float32 AVX-512
                                  kernel (st2v_op_f32_pack): used instead
                                  of w where the CPU has AVX-512F */
} st2v_linear;

typedef struct st2v_norm {
    const float *w;            /* (dim) */
    const float *b;            /* (dim), NULL for RMS norms */
} st2v_norm;

typedef struct st2v_conv {
    const float *w;            /* (cout, cin, kt, 3, 3) */
    const float *b;            /* (cout) */
    int cout, cin, kt;
} st2v_conv;

#endif /* ST2V_WEIGHTS_H */
