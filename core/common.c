/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * common.c - small helpers shared by every file of libst2v (common.h):
 * one-line error messages, logging through the caller's callback, checked
 * size arithmetic and aligned float scratch. Nothing here prints or exits.
 */
#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Replace line breaks and other control characters so that a message is
 * always exactly one line, whatever untrusted text went into it. */
static void one_line(char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f)
            *s = ' ';
    }
}

int st2v_fail(char *buf, size_t size, int status, const char *fmt, ...)
{
    if (buf && size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, size, fmt, ap);
        va_end(ap);
        one_line(buf);
    }
    return status;
}

void st2v_logf(st2v_log_fn fn, void *user_data, st2v_log_level level,
               const char *fmt, ...)
{
    if (!fn)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fn(user_data, level, msg);
}

int st2v_mul_overflow(uint64_t a, uint64_t b, uint64_t *out)
{
    if (a != 0 && b > UINT64_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}

float *st2v_alloc_floats(size_t n)
{
    if (n > (SIZE_MAX - 63) / sizeof(float))
        return NULL;
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
    if (bytes == 0)
        bytes = 64;
    return aligned_alloc(64, bytes);
}

void st2v_free(void *p)
{
    free(p);
}
