/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cpu.c - the CPU's features, detected once and capped by ST2V_CPU
 * (cpu.h).
 */
#include "cpu.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static unsigned flags;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static unsigned detect(void)
{
    unsigned f = 0;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("f16c"))
        f |= ST2V_CPU_F16C;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        f |= ST2V_CPU_AVX2;
    if (__builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
        f |= ST2V_CPU_AVX512;
    if ((f & ST2V_CPU_AVX512) && __builtin_cpu_supports("avx512bf16"))
        f |= ST2V_CPU_AVX512BF16;
#endif
    return f;
}

/* The features a level of ST2V_CPU allows, or ~0 for an unknown value. */
static unsigned allowed(const char *level)
{
    static const struct { const char *name; unsigned mask; } levels[] = {
        {"generic", 0},
        {"avx2", ST2V_CPU_F16C | ST2V_CPU_AVX2},
        {"avx512", ST2V_CPU_F16C | ST2V_CPU_AVX2 | ST2V_CPU_AVX512},
        {"avx512bf16", ~0u},
    };
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
        if (strcmp(level, levels[i].name) == 0)
            return levels[i].mask;
    return ~0u;
}

static void init(void)
{
    const char *level = getenv("ST2V_CPU");
    flags = detect() & (level ? allowed(level) : ~0u);
}

unsigned st2v_cpu_flags(void)
{
    pthread_once(&once, init);
    return flags;
}
