/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz_tokenizer.c - the world model's tokenizer on arbitrary text (any
 * bytes up to the first NUL), with the vocabulary of the default model
 * (models/default.safetensors, or $ST2V_FUZZ_MODEL) loaded once.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st2v/model.h"
#include "st2v/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static st2v_world *world;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!world) {
        const char *path = getenv("ST2V_FUZZ_MODEL");
        char err[256];
        if (st2v_world_load(&world, path ? path : "models/default.safetensors",
                            NULL, err, sizeof(err)) != 0) {
            fprintf(stderr, "fuzz_tokenizer: %s\n", err);
            abort();
        }
    }
    char *text = malloc(size + 1);
    int32_t *ids = malloc((size_t)world->cfg.max_length * sizeof(int32_t));
    if (!text || !ids)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    int n = st2v_tokenize(world->tok, text, ids);
    if (n < 2 || n > world->cfg.max_length)
        abort(); /* the contract: 2..max_length ids */
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= world->cfg.vocab_size)
            abort();
    free(text);
    free(ids);
    return 0;
}
