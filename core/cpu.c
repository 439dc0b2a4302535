/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cpu.c - the CPU's features, detected once and capped by ST2V_CPU
 * (cpu.h).
 */
#include "cpu.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#if defined(__clang__) && (defined(__x86_64__) || defined(__i386__))
#include <cpuid.h>
#endif

static unsigned flags;
static pthread_once_t once = PTHREAD_ONCE_INIT;

#if defined(__clang__) && (defined(__x86_64__) || defined(__i386__))
/* clang before 16 knows neither "f16c" nor "avx512bf16" in
 * __builtin_cpu_supports (the fuzzing build, `make fuzz`): CPUID bits
 * then, each behind a feature whose OS support the builtin checks. */
static int cpu_has(const char *name)
{
    unsigned a, b, c, d;
    if (strcmp(name, "f16c") == 0)
        return __builtin_cpu_supports("avx") && __get_cpuid(1, &a, &b, &c, &d) &&
               (c & (1u << 29));
    return __builtin_cpu_supports("avx512f") &&
           __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 5));
}
#define CPU_F16C cpu_has("f16c")
#define CPU_AVX512BF16 cpu_has("avx512bf16")
#else
#define CPU_F16C __builtin_cpu_supports("f16c")
#define CPU_AVX512BF16 __builtin_cpu_supports("avx512bf16")
#endif

static unsigned detect(void)
{
    unsigned f = 0;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (CPU_F16C)
        f |= ST2V_CPU_F16C;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        f |= ST2V_CPU_AVX2;
    if (__builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
        f |= ST2V_CPU_AVX512;
    if ((f & ST2V_CPU_AVX512) && CPU_AVX512BF16)
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
