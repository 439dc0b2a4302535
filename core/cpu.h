/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cpu.h - what this CPU can run, asked once per process. Every run-time
 * dispatch of libst2v (the vector width of ops.c, the packed float32 and
 * AVX512-BF16 kernels of ops_packed.c, the BF16 product over weights in
 * place of ops_bf16.c, F16C widening in wtensor.c) asks
 * here, so one switch moves them all.
 *
 * The environment variable ST2V_CPU caps what is used, the way x264's
 * --asm and FFmpeg's -cpuflags do: "generic" (scalar and SSE2 only),
 * "avx2" (AVX2, FMA, F16C), "avx512" (AVX-512 F/BW/VL), "avx512bf16"
 * (everything; the default). It can only take features away, never claim
 * one the CPU lacks; an unknown value is ignored. The tests use it to run
 * each fallback on a machine that has more (tests/run-tests.sh).
 */
#ifndef ST2V_CPU_H
#define ST2V_CPU_H

#define ST2V_CPU_F16C 0x1u       /* F16C */
#define ST2V_CPU_AVX2 0x2u       /* AVX2 and FMA */
#define ST2V_CPU_AVX512 0x4u     /* AVX-512 F, BW and VL */
#define ST2V_CPU_AVX512BF16 0x8u /* AVX512-BF16 (vdpbf16ps) */

/* The features this process may use: the CPU's, capped by ST2V_CPU. */
unsigned st2v_cpu_flags(void);

/* Is every feature of mask usable? */
static inline int st2v_cpu_has(unsigned mask)
{
    return (st2v_cpu_flags() & mask) == mask;
}

/* Compilers that build AVX-512 BF16 code in functions of their own
 * (function-level target attributes), so the rest of the library stays
 * portable: ST2V_X86_BF16 says so, ST2V_TARGET_BF16 marks such a function. */
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) &&       \
    (__GNUC__ >= 10 || defined(__clang__))
#define ST2V_X86_BF16 1
#define ST2V_TARGET_BF16                                                      \
    __attribute__((target("avx512f,avx512bf16,avx512bw,avx512vl")))
#endif

#endif /* ST2V_CPU_H */
