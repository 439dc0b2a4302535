/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_rng.c - Philox4x32-10 against the Random123 known answers, the
 * normal stream against the PyTorch reference (bit-exact), random access
 * into a stream, and the moments of the normal distribution.
 */
#include <stdint.h>

#include "rng.h"
#include "test_util.h"

static void check_philox(const uint32_t ctr[4], const uint32_t key[2],
                         const uint32_t want[4])
{
    uint32_t out[4];
    st2v_philox4x32_10(ctr, key, out);
    for (int i = 0; i < 4; i++)
        CHECK(out[i] == want[i], "word %d: got %08x, want %08x", i, out[i],
              want[i]);
}

static void philox_matches_random123_for_zero_counter_and_key(void)
{
    const uint32_t ctr[4] = {0, 0, 0, 0};
    const uint32_t key[2] = {0, 0};
    const uint32_t want[4] = {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8};
    check_philox(ctr, key, want);
}

static void philox_matches_random123_for_all_ones(void)
{
    const uint32_t ctr[4] = {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff};
    const uint32_t key[2] = {0xffffffff, 0xffffffff};
    const uint32_t want[4] = {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd};
    check_philox(ctr, key, want);
}

static void philox_matches_random123_for_pi_digits(void)
{
    const uint32_t ctr[4] = {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344};
    const uint32_t key[2] = {0xa4093822, 0x299f31d0};
    const uint32_t want[4] = {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1};
    check_philox(ctr, key, want);
}

static void normals_match_the_reference_bit_for_bit(void)
{
    static const uint64_t seeds[] = {0, 42, 12345678901234567ull};
    static const uint32_t streams[] = {0, 7};
    st_file f;
    if (tu_open(&f, "golden_rng.safetensors") != 0)
        return;
    int compared = 0;
    for (size_t si = 0; si < sizeof(seeds) / sizeof(seeds[0]); si++) {
        for (size_t k = 0; k < sizeof(streams) / sizeof(streams[0]); k++) {
            char name[128];
            snprintf(name, sizeof(name), "seed%llu.stream%u",
                     (unsigned long long)seeds[si], streams[k]);
            size_t n = 0;
            float *want = tu_tensor(&f, name, &n);
            if (!want)
                continue;
            float *got = malloc(n * sizeof(float));
            st2v_normal_fill(got, (int64_t)n, seeds[si], streams[k], 0);
            size_t bad = 0, first_bad = 0;
            for (size_t i = 0; i < n; i++) {
                if (memcmp(&got[i], &want[i], sizeof(float)) != 0) {
                    if (!bad)
                        first_bad = i;
                    bad++;
                }
            }
            CHECK(bad == 0,
                  "%s: %zu of %zu differ, first at %zu: got %.9g want %.9g",
                  name, bad, n, first_bad, got[first_bad], want[first_bad]);
            compared += n == 1000;
            free(got);
            free(want);
        }
    }
    CHECK(compared == 6, "expected 6 streams of 1000 normals, got %d",
          compared);
    st_close(&f);
}

static void fill_from_an_offset_equals_the_tail_of_a_fill_from_zero(void)
{
    enum { N = 1001 };
    static float whole[N], part[N];
    st2v_normal_fill(whole, N, 42, 3, 0);
    /* Both parities of the start, and a start in the middle of a pair. */
    static const uint64_t firsts[] = {1, 2, 7, 500, 999, 1000};
    for (size_t k = 0; k < sizeof(firsts) / sizeof(firsts[0]); k++) {
        uint64_t first = firsts[k];
        int64_t n = N - (int64_t)first;
        st2v_normal_fill(part, n, 42, 3, first);
        CHECK(memcmp(part, whole + first, (size_t)n * sizeof(float)) == 0,
              "fill from %llu differs from the tail",
              (unsigned long long)first);
    }
    /* A short fill of odd length from an odd start. */
    st2v_normal_fill(part, 3, 42, 3, 5);
    CHECK(memcmp(part, whole + 5, 3 * sizeof(float)) == 0,
          "3 normals from 5 differ");
}

static void streams_and_seeds_give_different_numbers(void)
{
    float a[64], b[64], c[64];
    st2v_normal_fill(a, 64, 1, 0, 0);
    st2v_normal_fill(b, 64, 1, 1, 0);
    st2v_normal_fill(c, 64, 2, 0, 0);
    int same_ab = 0, same_ac = 0;
    for (int i = 0; i < 64; i++) {
        same_ab += a[i] == b[i];
        same_ac += a[i] == c[i];
    }
    CHECK(same_ab == 0, "streams 0 and 1 share %d numbers", same_ab);
    CHECK(same_ac == 0, "seeds 1 and 2 share %d numbers", same_ac);
    /* The high word of the seed matters too. */
    st2v_normal_fill(c, 64, 1 | (1ull << 32), 0, 0);
    CHECK(memcmp(a, c, sizeof(a)) != 0, "seed high word is ignored");
}

static void a_million_normals_have_mean_0_and_variance_1(void)
{
    enum { N = 1000000 };
    float *x = malloc(N * sizeof(float));
    REQUIRE(x, "out of memory");
    st2v_normal_fill(x, N, 12345, 0, 0);
    double sum = 0, sum2 = 0;
    int finite = 1;
    for (int i = 0; i < N; i++) {
        finite &= isfinite(x[i]) != 0;
        sum += x[i];
        sum2 += (double)x[i] * x[i];
    }
    double mean = sum / N, var = sum2 / N - mean * mean;
    printf("     mean %.5f variance %.5f\n", mean, var);
    CHECK(finite, "a normal is not finite");
    CHECK(fabs(mean) < 0.01, "mean %g", mean);
    CHECK(fabs(var - 1.0) < 0.02, "variance %g", var);
    free(x);
}

int main(void)
{
    RUN(philox_matches_random123_for_zero_counter_and_key);
    RUN(philox_matches_random123_for_all_ones);
    RUN(philox_matches_random123_for_pi_digits);
    RUN(normals_match_the_reference_bit_for_bit);
    RUN(fill_from_an_offset_equals_the_tail_of_a_fill_from_zero);
    RUN(streams_and_seeds_give_different_numbers);
    RUN(a_million_normals_have_mean_0_and_variance_1);
    return tu_summary();
}
