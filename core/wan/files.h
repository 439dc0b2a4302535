/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * files.h - the files of a Wan2.1 model as users download them, found,
 * checked and mapped: given a folder (or one file), wan_files_open finds
 * the DiT, the VAE, the umT5 text encoder and its tokenizer, tells each
 * file's layout from its tensor names, strips known prefixes, checks every
 * expected tensor's presence, dtype and shape against the config, and says
 * in one line what it found ("Wan2.1 T2V 1.3B: DiT official bf16 (825
 * tensors), VAE official f32 (194), umT5 HF names bf16 (242), tokenizer
 * spiece.model (256000 pieces)") or exactly which file or tensor is
 * missing or wrong. The loaders of each part then bind the weights where
 * they lie (wtensor.h).
 *
 * Layouts (../shared/WAN-NOTES.md section 3):
 *   official   Wan-AI/Wan2.1-T2V-1.3B: diffusion_pytorch_model.safetensors
 *              (or shards with diffusion_pytorch_model.safetensors.
 *              index.json) beside config.json; Wan2.1_VAE and
 *              models_t5_umt5-xxl-enc-bf16 as safetensors (the .pth
 *              pickles are refused with the command that converts them,
 *              scripts/st2v-convert); google/umt5-xxl/spiece.model.
 *   Comfy-Org  split_files/{diffusion_models,vae,text_encoders}: official
 *              DiT and VAE names under optional prefixes
 *              (model.diffusion_model., first_stage_model., ...), umT5
 *              with Hugging Face's names carrying the tokenizer as the U8
 *              tensor spiece_model; no config (it is read from the shapes,
 *              num_heads = dim / 128).
 *   Diffusers  transformer/, vae/, text_encoder/ (sharded or not, each
 *              with its config.json), tokenizer/spiece.model.
 * Any file may sit anywhere down to three folders deep; a file holding
 * several parts serves each. dtypes: F32, F16, BF16, mixed within a file.
 * Comfy's scaled fp8 umT5 (umt5_xxl_fp8_e4m3fn_scaled: F8_E4M3 weights
 * with their scale_weight) is read by umt5.c. Refused with a message:
 * scaled fp8 in the DiT or the VAE (not yet), any other dtype in a part,
 * image-to-video configs. The tokenizer: spiece.model, else the umT5
 * file's spiece_model, else Hugging Face's tokenizer.json.
 *
 * The loader trusts nothing: every header is checked by st_open (every
 * count, size, dtype, byte range and overlap), every name, dtype and
 * shape against the config, the index of a sharded set against its
 * shards, and the configs of the parts against each other (DiT text_dim
 * = umT5 width, DiT in_dim = out_dim = VAE z_dim, tokenizer no larger
 * than the embedding).
 *
 * Ownership: wan_files owns its mappings; the st_file views inside it are
 * valid until wan_files_close and must not be passed to st_close. Nothing
 * prints; errors are values (0 or a negative st2v_status) and one line.
 */
#ifndef ST2V_WAN_FILES_H
#define ST2V_WAN_FILES_H

#include <stddef.h>

#include "safetensors.h"
#include "wan/names.h"
#include "wan/spm.h"
#include "wan/umt5.h"

#define WAN_FILES_PATH_MAX 1024

/* The parts of a Wan2.1 model. */
typedef enum wan_part {
    WAN_PART_DIT = 0,
    WAN_PART_VAE,
    WAN_PART_T5,
    WAN_PART_TOKENIZER,
    WAN_N_PARTS
} wan_part;

/* The layout a part's file came in. */
typedef enum wan_layout {
    WAN_LAYOUT_OFFICIAL = 0, /* Wan-AI's names (Comfy's DiT and VAE too) */
    WAN_LAYOUT_DIFFUSERS,    /* Diffusers' DiT and VAE names */
    WAN_LAYOUT_HF            /* Hugging Face's UMT5 names (umT5 only) */
} wan_layout;

typedef struct wan_files_map wan_files_map; /* a mapped file (files.c) */

typedef struct wan_files {
    char dir[WAN_FILES_PATH_MAX];               /* the folder searched */
    char file[WAN_N_PARTS][WAN_FILES_PATH_MAX]; /* each part's file, relative
                                            (a sharded part: its index) */
    wan_layout layout[WAN_N_PARTS - 1];         /* DiT, VAE, umT5 */
    wan_dit_config dit_cfg;
    wan_vae_config vae_cfg;
    wan_umt5_config t5_cfg;

    /* The weights, in place in the mapped files. dit and vae hold exactly
     * the tensors of wan_dit_tensors / wan_vae_tensors under their
     * official names; t5 holds the float tensors of the encoder's file
     * under their names there, prefix stripped (wan_umt5_load reads the
     * official and the Hugging Face names; load it with prefix NULL). */
    st_file dit, vae, t5;
    spm *tokenizer;

    /* private */
    wan_files_map *maps;
    int n_maps;
} wan_files;

/* Find and check the Wan2.1 files at path (a folder, or one file, which
 * then must hold every part). On success *out is the model's files and msg
 * says what was found; on failure *out is NULL and msg says, in one line,
 * which part, file or tensor is missing or wrong, and returns
 * ST2V_ERR_IO (path unreadable), ST2V_ERR_FORMAT (missing, malformed or
 * inconsistent), ST2V_ERR_UNSUPPORTED (a pickle, scaled fp8 in the DiT
 * or VAE, image to video) or ST2V_ERR_NOMEM. *n_parts (may
 * be NULL) receives, success or not, how many of the four parts were
 * recognised by their names (a .pth counts): 0 means "not Wan2.1 files",
 * what a family's detect needs. */
int wan_files_open(wan_files **out, const char *path, int *n_parts, char *msg,
                   size_t msg_size);
void wan_files_close(wan_files *w);

/* "DiT", "VAE", "umT5 text encoder", "tokenizer" */
const char *wan_part_name(wan_part p);

#endif /* ST2V_WAN_FILES_H */
