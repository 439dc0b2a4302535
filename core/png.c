/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * png.c - decode a PNG file into packed RGB24 for the conditioning image
 * (st2v_load_png). Every PNG colour type and bit depth is converted with
 * libpng: palette and gray expanded, 16-bit scaled to 8, and alpha (or a
 * tRNS chunk) composited over black. Images over 16384 pixels on a side
 * are refused. libpng's errors are caught (setjmp) and returned as one-line
 * messages; its warnings are dropped, since the library never prints.
 */
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "escape.h"

#define PNG_MAX_SIDE 16384

typedef struct {
    char msg[200];
} png_err_state;

static void on_error(png_structp png, png_const_charp msg)
{
    png_err_state *st = png_get_error_ptr(png);
    if (st)
        snprintf(st->msg, sizeof(st->msg), "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

/* The decoding proper, once the file is open; everything it allocates is
 * freed on both paths. */
static int decode(FILE *fp, const char *path, png_err_state *st,
                  uint8_t **rgb_out, int *w_out, int *h_out, char *err,
                  size_t err_size)
{
    char qpath[240]; /* the path, escaped for messages */
    st2v_escape(qpath, sizeof(qpath), path);
    unsigned char sig[8];
    if (fread(sig, 1, 8, fp) != 8 || png_sig_cmp(sig, 0, 8) != 0)
        return st2v_fail(err, err_size, ST2V_ERR_IMAGE,
                         "\"%s\" is not a PNG file", qpath);

    png_structp png =
        png_create_read_struct(PNG_LIBPNG_VER_STRING, st, on_error, on_warning);
    if (!png)
        return st2v_fail(err, err_size, ST2V_ERR_NOMEM,
                         "out of memory decoding \"%s\"", qpath);
    png_infop info = png_create_info_struct(png);
    /* modified after setjmp: volatile so longjmp keeps their values */
    uint8_t *volatile rows = NULL;  /* (h, rowbytes) decoded image */
    png_bytep *volatile row_ptrs = NULL;
    uint8_t *volatile rgb = NULL;   /* (h, w, 3) result */
    int rc = 0;

    if (!info) {
        rc = st2v_fail(err, err_size, ST2V_ERR_NOMEM,
                       "out of memory decoding \"%s\"", qpath);
        goto out;
    }
    if (setjmp(png_jmpbuf(png))) {
        rc = st2v_fail(err, err_size, ST2V_ERR_IMAGE,
                       "cannot decode \"%s\": %s", qpath,
                       st->msg[0] ? st->msg : "libpng error");
        goto out;
    }
    png_init_io(png, fp);
    png_set_sig_bytes(png, 8);
    png_set_user_limits(png, PNG_MAX_SIDE, PNG_MAX_SIDE);
    png_read_info(png, info);

    png_uint_32 w = png_get_image_width(png, info);
    png_uint_32 h = png_get_image_height(png, info);
    int color = png_get_color_type(png, info);
    int depth = png_get_bit_depth(png, info);
    if (w == 0 || h == 0 || w > PNG_MAX_SIDE || h > PNG_MAX_SIDE) {
        rc = st2v_fail(err, err_size, ST2V_ERR_IMAGE,
                       "\"%s\": %ux%u image is larger than %d pixels on a "
                       "side",
                       qpath, (unsigned)w, (unsigned)h, PNG_MAX_SIDE);
        goto out;
    }

    /* to 8-bit RGB or RGBA */
    if (color == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_tRNS_to_alpha(png);
    if (depth == 16)
        png_set_scale_16(png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int channels = png_get_channels(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if ((channels != 3 && channels != 4) || rowbytes < (size_t)w * channels) {
        rc = st2v_fail(err, err_size, ST2V_ERR_IMAGE,
                       "\"%s\": unexpected PNG layout after conversion",
                       qpath);
        goto out;
    }
    rows = malloc(rowbytes * h);
    row_ptrs = malloc(sizeof(png_bytep) * h);
    rgb = malloc((size_t)w * h * 3);
    if (!rows || !row_ptrs || !rgb) {
        rc = st2v_fail(err, err_size, ST2V_ERR_NOMEM,
                       "out of memory for a %ux%u image", (unsigned)w,
                       (unsigned)h);
        goto out;
    }
    for (png_uint_32 y = 0; y < h; y++)
        row_ptrs[y] = rows + (size_t)y * rowbytes;
    png_read_image(png, row_ptrs);
    png_read_end(png, NULL);

    for (png_uint_32 y = 0; y < h; y++) {
        const uint8_t *src = rows + (size_t)y * rowbytes;
        uint8_t *dst = rgb + (size_t)y * w * 3;
        if (channels == 3) {
            memcpy(dst, src, (size_t)w * 3);
            continue;
        }
        for (png_uint_32 x = 0; x < w; x++) {
            unsigned a = src[4 * x + 3];
            for (int k = 0; k < 3; k++) /* over black: c * a / 255 */
                dst[3 * x + k] = (uint8_t)((src[4 * x + k] * a + 127) / 255);
        }
    }
    *rgb_out = rgb;
    *w_out = (int)w;
    *h_out = (int)h;
    rgb = NULL;

out:
    png_destroy_read_struct(&png, info ? &info : NULL, NULL);
    free(rows);
    free(row_ptrs);
    free(rgb);
    return rc;
}

int st2v_load_png(const char *path, uint8_t **rgb, int *width, int *height,
                  char *err, size_t err_size)
{
    if (!path || !rgb || !width || !height)
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "st2v_load_png: NULL argument");
    *rgb = NULL;
    *width = *height = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        char q[240];
        return st2v_fail(err, err_size, ST2V_ERR_IO, "cannot open \"%s\": %s",
                         st2v_escape(q, sizeof(q), path), strerror(errno));
    }
    /* libpng's message lives here, outside the frame that calls setjmp */
    png_err_state st = {{0}};
    int rc = decode(fp, path, &st, rgb, width, height, err, err_size);
    fclose(fp);
    return rc;
}
