/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tokenizer.h - prompt text to token ids (docs/model-format.md, section 3):
 * Latin lower-casing, word split, greedy longest match over the pieces in
 * the model file, byte fallback, truncation. Never fails on any input bytes.
 */
#ifndef ST2V_WORLD_TOKENIZER_H
#define ST2V_WORLD_TOKENIZER_H

#include <stdint.h>

#include "config.h"

typedef struct st2v_tokenizer st2v_tokenizer;

/* Build the lookup structure from the config's pieces (owned by the model). */
int st2v_tokenizer_new(st2v_tokenizer **out, const st2v_config *cfg);
void st2v_tokenizer_free(st2v_tokenizer *tok);

/* Encode `text` (NUL-terminated UTF-8, any bytes) into ids (capacity
 * cfg->max_length). Returns the number of ids written (>= 2). */
int st2v_tokenize(const st2v_tokenizer *tok, const char *text, int32_t *ids);

#endif /* ST2V_WORLD_TOKENIZER_H */
