/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * scale.h - resizing native frames to the requested size: scale to cover,
 * centre-crop, separable Lanczos-3 on 8-bit sRGB values.
 */
#ifndef ST2V_SCALE_H
#define ST2V_SCALE_H

#include <stddef.h>
#include <stdint.h>

typedef struct st2v_scaler st2v_scaler;

/* Precompute filter taps for src (sw x sh) -> dst (dw x dh) RGB24. */
int st2v_scaler_new(st2v_scaler **out, int sw, int sh, int dw, int dh);
void st2v_scaler_free(st2v_scaler *s);
void st2v_scaler_run(const st2v_scaler *s, uint8_t *dst, ptrdiff_t dst_stride,
                     const uint8_t *src, ptrdiff_t src_stride);

#endif /* ST2V_SCALE_H */
