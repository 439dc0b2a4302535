/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rng.c - the portable noise source (docs/model-format.md, section 9):
 * Philox4x32-10 as in Random123, and the Box-Muller transform that turns
 * its words into normal numbers. Counter-based, so any slice of any stream
 * can be produced on its own: the generator fills a chunk's noise without
 * drawing what comes before it, and the result never depends on threads.
 *
 * Not for cryptography; not a general RNG API (see rng.h).
 */
#include "rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u
#define ST2V_STREAM_TAG 0x53543256u /* "ST2V" */

static inline void mulhilo32(uint32_t a, uint32_t b, uint32_t *hi,
                             uint32_t *lo)
{
    uint64_t p = (uint64_t)a * (uint64_t)b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

void st2v_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2],
                        uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];

    for (int round = 0; round < 10; round++) {
        if (round > 0) {
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        uint32_t hi0, lo0, hi1, lo1;
        mulhilo32(PHILOX_M0, c0, &hi0, &lo0);
        mulhilo32(PHILOX_M1, c2, &hi1, &lo1);
        uint32_t n0 = hi1 ^ c1 ^ k0;
        uint32_t n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* The normal pair (2p, 2p + 1) of the stream. */
static void normal_pair(uint64_t p, uint32_t stream, const uint32_t key[2],
                        float pair[2])
{
    const uint32_t ctr[4] = {(uint32_t)(p & 0xffffffffu), (uint32_t)(p >> 32),
                             stream, ST2V_STREAM_TAG};
    uint32_t w[4];
    st2v_philox4x32_10(ctr, key, w);

    const double two_m24 = 1.0 / 16777216.0;
    double u1 = ((double)(w[0] >> 8) + 1.0) * two_m24; /* (0, 1] */
    double u2 = (double)(w[1] >> 8) * two_m24;         /* [0, 1) */
    double r = sqrt(-2.0 * log(u1));
    double a = 2.0 * M_PI * u2;
    pair[0] = (float)(r * cos(a));
    pair[1] = (float)(r * sin(a));
}

void st2v_normal_fill(float *dst, int64_t n, uint64_t seed, uint32_t stream,
                      uint64_t first)
{
    const uint32_t key[2] = {(uint32_t)(seed & 0xffffffffu),
                             (uint32_t)(seed >> 32)};
    float pair[2];
    int64_t i = 0;

    if (n <= 0)
        return;
    /* An odd start takes the second half of its pair. */
    if (first & 1) {
        normal_pair(first / 2, stream, key, pair);
        dst[i++] = pair[1];
    }
    for (; i + 1 < n; i += 2) {
        normal_pair((first + (uint64_t)i) / 2, stream, key, pair);
        dst[i] = pair[0];
        dst[i + 1] = pair[1];
    }
    if (i < n) {
        normal_pair((first + (uint64_t)i) / 2, stream, key, pair);
        dst[i] = pair[0];
    }
}
