/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rng.h - portable counter-based noise: Philox4x32-10 and Box-Muller
 * (docs/model-format.md, section 9). The same (seed, stream, index) gives
 * the same float on any x86-64 machine, whatever the thread count.
 */
#ifndef ST2V_RNG_H
#define ST2V_RNG_H

#include <stdint.h>

void st2v_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2],
                        uint32_t out[4]);

/* dst[i] = normal number (first + i) of `stream` for `seed`, i < n. */
void st2v_normal_fill(float *dst, int64_t n, uint64_t seed, uint32_t stream,
                      uint64_t first);

#endif /* ST2V_RNG_H */
