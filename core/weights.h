/*
 * weights.h - views of one layer's weights, shared by every model family
 * and by the kernels of ops.h that take them. Shapes follow PyTorch: a
 * linear weight is (out, in) and computes y = x W^T + b. The pointers are
 * borrowed from the model that bound them (read-only, float32).
 */
#ifndef ST2V_WEIGHTS_H
#define ST2V_WEIGHTS_H

typedef struct st2v_linear {
    const float *w;            /* (out, in) */
    const float *b;            /* (out) */
    int in, out;
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
