/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * family.h - a loaded Wan2.1 model (its files and the parts bound to
 * them) and its conditioning, as core/wan/family.c gives them to the
 * table of core/arch.h. Tests and st2v-parts use these directly.
 *
 * Ownership: a wan_model owns its files (mapped) and every part bound to
 * them; it is read-only after wan_model_open, so any number of
 * generators may share it. A wan_cond belongs to one generator.
 */
#ifndef ST2V_WAN_FAMILY_H
#define ST2V_WAN_FAMILY_H

#include <stddef.h>

#include "pool.h"
#include "st2v.h"
#include "wan/dit.h"
#include "wan/files.h"
#include "wan/umt5.h"
#include "wan/vae.h"

/* Wan's default negative prompt, in Chinese as shipped (UTF-8). */
extern const char wan_default_negative[];

typedef struct wan_model {
    wan_files *files;      /* found, checked, mapped (files.h) */
    wan_umt5 *t5;          /* bound to files->t5 */
    wan_dit *dit;          /* bound to files->dit */
    wan_vae *vae;          /* the decoder, widened to float32 */
    char name[64];         /* "Wan2.1-T2V-1.3B", or its config */
    char description[448]; /* what wan_files_open found */
    int64_t n_params;      /* the DiT's */
} wan_model;

/* A prompt as the DiT reads it: the umT5 rows of its real tokens (EOS
 * included); the DiT adds the zero rows up to text_len. */
typedef struct wan_cond {
    int n;                 /* real tokens, 1..512 */
    float *ctx;            /* (n, text_dim) */
} wan_cond;

/* Open the Wan2.1 files at path (files.h) and bind the parts. On failure
 * err says which file or tensor is wrong, in one line. On success err
 * holds what was found ("Wan2.1 T2V 1.3B: DiT official bf16 ..."). */
int wan_model_open(wan_model **out, const char *path, char *err,
                   size_t err_size);
void wan_model_free(wan_model *m);

/* Any bytes of text -> *out: Wan's cleaning and tokenisation (spm.c,
 * cut to 511 tokens and EOS), then umT5 on the real tokens. */
int wan_cond_encode(wan_cond **out, const wan_model *m, st2v_pool *pool,
                    const char *text);
void wan_cond_free(wan_cond *c);

#endif /* ST2V_WAN_FAMILY_H */
