/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz_png.c - arbitrary bytes as the conditioning image: st2v_load_png
 * (libpng behind setjmp, every colour type and depth to RGB24, the size
 * limit). It takes a path, so the bytes go to a file in a tmpfs folder.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "st2v.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_tmp_path("image.png");
    if (fuzz_write_file(path, data, size) != 0)
        return 0;
    uint8_t *rgb = NULL;
    int w = 0, h = 0;
    char err[256];
    if (st2v_load_png(path, &rgb, &w, &h, err, sizeof(err)) == 0) {
        volatile uint8_t sum = 0; /* touch every byte for ASan */
        for (size_t i = 0; i < (size_t)w * (size_t)h * 3; i++)
            sum += rgb[i];
        (void)sum;
    }
    free(rgb);
    return 0;
}
