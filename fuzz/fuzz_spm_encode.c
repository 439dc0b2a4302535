/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz_spm_encode.c - the SentencePiece tokenizer on arbitrary text (any
 * bytes, NULs included): normalisation, Viterbi segmentation, byte
 * fallback, Wan's cleaning, EOS and padding; with the tiny fixture's
 * spiece.model ($ST2V_FIXTURES/wan/tiny/google/umt5-xxl/spiece.model)
 * loaded once.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "wan/spm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static spm *model;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!model) {
        size_t n;
        char err[256];
        const char *path = fuzz_fixture("wan/tiny/google/umt5-xxl/spiece.model");
        uint8_t *buf = fuzz_read_file(path, &n);
        if (!buf || spm_load(&model, buf, n, err, sizeof(err)) != 0) {
            fprintf(stderr, "fuzz_spm_encode: cannot load %s\n", path);
            abort();
        }
        free(buf);
    }
    const char *text = (const char *)data;
    int32_t ids[64];
    int n = 0;
    if (spm_encode(model, text, size, ids, 64, &n) == 0 && n < 0)
        abort();
    char *norm = NULL;
    size_t norm_n = 0;
    if (spm_normalize(model, text, size, &norm, &norm_n) == 0)
        free(norm);
    /* Wan's path takes a NUL-terminated prompt */
    char *z = malloc(size + 1);
    if (!z)
        abort();
    memcpy(z, data, size);
    z[size] = '\0';
    int32_t wan_ids[SPM_WAN_TEXT_LEN];
    int n_tok = 0;
    if (spm_encode_wan(model, z, wan_ids, SPM_WAN_TEXT_LEN, &n_tok) == 0 &&
        (n_tok < 1 || n_tok > SPM_WAN_TEXT_LEN))
        abort();
    free(z);
    return 0;
}
