/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz_wan_files.c - arbitrary bytes as a one-file Wan2.1 model: the
 * bytes are written to a file in a tmpfs folder (wan_files_open takes
 * only paths) and opened; the loader tells the parts by their tensor
 * names, checks every dtype and shape against the config it reads from
 * the shapes, and the tokenizer from the U8 tensor spiece_model.
 */
#include <stdint.h>

#include "fuzz_util.h"
#include "wan/files.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_tmp_path("model.safetensors");
    if (fuzz_write_file(path, data, size) != 0)
        return 0;
    char msg[512];
    int n_parts = 0;
    wan_files *w = NULL;
    if (wan_files_open(&w, path, &n_parts, msg, sizeof(msg)) == 0)
        wan_files_close(w);
    return 0;
}
