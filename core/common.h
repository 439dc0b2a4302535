/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * common.h - small helpers shared by every file of libst2v: error messages,
 * logging through the caller's callback, checked size arithmetic.
 * Not part of the public API.
 */
#ifndef ST2V_COMMON_H
#define ST2V_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "st2v.h"

#define ST2V_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ST2V_MIN(a, b) ((a) < (b) ? (a) : (b))
#define ST2V_MAX(a, b) ((a) > (b) ? (a) : (b))

#if defined(__GNUC__)
#define ST2V_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define ST2V_PRINTF(f, a)
#endif

/* Format a one-line message into buf (if buf is not NULL) and return
 * `status`, so that callers can write `return st2v_fail(err, n, ST2V_ERR_FORMAT,
 * "tensor %s: ...", name);`. */
int st2v_fail(char *buf, size_t size, int status, const char *fmt, ...)
    ST2V_PRINTF(4, 5);

/* Log through a st2v_log_fn if it is not NULL. */
void st2v_logf(st2v_log_fn fn, void *user_data, st2v_log_level level,
               const char *fmt, ...) ST2V_PRINTF(4, 5);

/* *out = a * b; returns 0, or -1 on overflow (all operands non-negative). */
int st2v_mul_overflow(uint64_t a, uint64_t b, uint64_t *out);

/* Allocations of float scratch: 64-byte aligned, freed with st2v_free(). */
float *st2v_alloc_floats(size_t n);
void st2v_free(void *p);

#endif /* ST2V_COMMON_H */
