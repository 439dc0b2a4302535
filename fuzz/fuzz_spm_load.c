/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz_spm_load.c - arbitrary bytes as a serialised SentencePiece
 * ModelProto (spiece.model): the protobuf reader, the pieces, the
 * trainer and normaliser specs, the precompiled charsmap. A model that
 * loads then encodes a fixed prompt through Wan's path.
 */
#include <stdint.h>

#include "wan/spm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    spm *m = NULL;
    if (spm_load(&m, data, size, err, sizeof(err)) != 0)
        return 0;
    int32_t ids[32];
    int n = 0;
    spm_encode_wan(m, "A cat &amp; a dog\xc2\xa0 walk \xe2\x80\x94 caf\xc3\xa9 \xff.",
                   ids, 32, &n);
    spm_free(m);
    return 0;
}
