/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * text_encoder.h - token ids to per-token features (docs/model-format.md,
 * section 4).
 */
#ifndef ST2V_WORLD_TEXT_ENCODER_H
#define ST2V_WORLD_TEXT_ENCODER_H

#include <stdint.h>

#include "model.h"
#include "pool.h"

/* ids (n) -> out (n, Dt). 1 <= n <= L. Returns 0 or a negative status. */
int st2v_text_encode(const st2v_world *m, st2v_pool *pool, const int32_t *ids,
                     int n, float *out);

#endif /* ST2V_WORLD_TEXT_ENCODER_H */
