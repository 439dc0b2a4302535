/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * escape.h - untrusted text (tensor names, metadata values, paths) made
 * safe to quote in a one-line error message: valid UTF-8 is kept, control
 * characters, quotes, backslashes and invalid bytes become \xNN, and long
 * text is cut with "...". Internal to the loaders (safetensors.c, model.c, wan/files.c).
 */
#ifndef ST2V_ESCAPE_H
#define ST2V_ESCAPE_H

#include <stddef.h>
#include <string.h>

/* Length of the valid UTF-8 sequence of 2..4 bytes at p, or 0. */
static inline size_t st2v_utf8_seq(const unsigned char *p)
{
    unsigned c = p[0];
    size_t len;
    unsigned min;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000;
    else
        return 0;
    unsigned cp = c & (0x7fu >> len);
    for (size_t k = 1; k < len; k++) {
        if ((p[k] & 0xc0) != 0x80) /* also stops at the NUL */
            return 0;
        cp = (cp << 6) | (p[k] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Write the escaped form of src into dst (size >= 8); returns dst. */
static inline char *st2v_escape(char *dst, size_t size, const char *src)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)src;
    size_t o = 0, room = size - 8; /* keeps space for "\xNN" and "..." */
    while (*p) {
        size_t len = *p >= 0x80 ? st2v_utf8_seq(p) : 1;
        int esc = len == 0 || *p < 0x20 || *p == 0x7f || *p == '"' ||
                  *p == '\\';
        size_t need = esc ? 4 : len;
        if (o + need > room) {
            memcpy(dst + o, "...", 4);
            return dst;
        }
        if (esc) {
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[*p >> 4];
            dst[o++] = hex[*p & 15];
            p++;
        } else {
            memcpy(dst + o, p, len);
            o += len;
            p += len;
        }
    }
    dst[o] = '\0';
    return dst;
}

/* An untrusted string escaped into a value, so a message can quote it
 * inline: st2v_quote(name).s. */
typedef struct {
    char s[120];
} st2v_quoted;

static inline st2v_quoted st2v_quote(const char *src)
{
    st2v_quoted q;
    st2v_escape(q.s, sizeof(q.s), src);
    return q;
}

#endif /* ST2V_ESCAPE_H */
