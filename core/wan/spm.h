/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * spm.h - the SentencePiece unigram tokenizer of umT5 (Wan2.1's text
 * encoder), read from the user's `spiece.model` and matching the
 * `sentencepiece` library's encode() id for id (docs/wan.md, "Tokenizer").
 *
 * What it does: parse the serialised ModelProto (pieces, scores, types,
 * trainer and normalizer specs with the precompiled charsmap); normalise a
 * prompt as sentencepiece does (charsmap longest match, invalid UTF-8 as
 * U+FFFD, whitespace removal, "▁" escaping, dummy prefix); segment it with
 * the Viterbi unigram search (unknown characters merged into one <unk>, or
 * spelled as <0xXX> byte pieces under byte_fallback). On top of that,
 * Wan's use of it: the prompt cleaning of wan/modules/tokenizers.py, then
 * EOS `</s>`, truncation and padding with `<pad>` to a fixed length.
 *
 * Also read from Hugging Face's `tokenizer.json` (spm_json.c), which HF's
 * converter makes from the same model.
 *
 * What it is not: a trainer, a decoder (ids to text), BPE/WORD/CHAR models.
 *
 * Ownership: spm_load() copies what it keeps, so the caller's buffer may be
 * freed right after it returns. One spm is read-only after loading and may
 * be used by many threads at once. Every function returns 0 (ST2V_OK) or a
 * negative st2v_status; loaders also leave a one-line message in err.
 */
#ifndef ST2V_WAN_SPM_H
#define ST2V_WAN_SPM_H

#include <stddef.h>
#include <stdint.h>

typedef struct spm spm;

/* ModelProto.SentencePiece.Type */
typedef enum spm_piece_type {
    SPM_NORMAL = 1,
    SPM_UNKNOWN = 2,
    SPM_CONTROL = 3,
    SPM_USER_DEFINED = 4,
    SPM_UNUSED = 5,
    SPM_BYTE = 6
} spm_piece_type;

/* Wan2.1's text length: umT5 sees 512 ids (EOS and padding included). */
#define SPM_WAN_TEXT_LEN 512

/* Load a serialised ModelProto (the bytes of spiece.model). Refuses, with
 * a one-line message, anything malformed or that sentencepiece itself
 * would refuse to load (no <unk>, duplicate pieces, byte_fallback without
 * the 256 byte pieces, a broken charsmap, a model type other than unigram). */
int spm_load(spm **out, const void *buf, size_t n, char *err, size_t errsz);

/* Load the tokenizer that ComfyUI's text-encoder files carry: the whole
 * safetensors file is in buf, and its uint8 tensor `spiece_model` holds a
 * serialised spiece.model. ST2V_ERR_FORMAT with "no tensor spiece_model"
 * when the file has none. */
int spm_load_safetensors(spm **out, const void *buf, size_t n, char *err,
                         size_t errsz);

/* Load Hugging Face's tokenizer.json of a SentencePiece unigram model (a
 * Unigram model with Metaspace, Precompiled charsmap and Replace/Strip of
 * runs of spaces, as HF's converter writes for T5 and umT5): the same spm
 * as from the spiece.model it was converted from, so encoding gives
 * sentencepiece's ids. Pieces: unk_id UNKNOWN, special added tokens
 * CONTROL, other added tokens USER_DEFINED, "<0xXX>" BYTE under
 * byte_fallback. Anything else (BPE, other normalisers or pre-tokenizers)
 * is refused with a one-line message naming it. */
int spm_load_hf_json(spm **out, const void *buf, size_t n, char *err,
                     size_t errsz);

void spm_free(spm *m);

/* The vocabulary. spm_piece returns the piece's bytes (not NUL-terminated:
 * *len says how many) or NULL for an id out of range. */
int spm_vocab_size(const spm *m);
const char *spm_piece(const spm *m, int id, size_t *len);
spm_piece_type spm_type(const spm *m, int id);
float spm_score(const spm *m, int id);
/* Id of a piece (any type), or -1. */
int spm_piece_id(const spm *m, const char *piece, size_t len);
int spm_unk_id(const spm *m);
/* Ids of the pieces "</s>" and "<pad>" (the trainer spec's eos_piece and
 * pad_piece), or -1 when the vocabulary lacks them. */
int spm_eos_id(const spm *m);
int spm_pad_id(const spm *m);

/* sentencepiece's normaliser alone: *out (malloc'ed, NUL-terminated, free
 * with free()) receives the normalised text of text[0..n), *out_n its
 * length. */
int spm_normalize(const spm *m, const char *text, size_t n, char **out,
                  size_t *out_n);

/* sentencepiece's encode(text[0..n)) without BOS or EOS: writes the first
 * min(count, max) ids to ids and sets *n_out to count, the full number, so
 * count > max says the output was cut. ids may be NULL when max is 0. */
int spm_encode(const spm *m, const char *text, size_t n, int32_t *ids, int max,
               int *n_out);

/* Wan's prompt cleaning (clean='whitespace' in wan/modules/tokenizers.py):
 * HTML entities unescaped twice, every run of Unicode whitespace made one
 * space, both ends stripped. *out is malloc'ed and NUL-terminated.
 * docs/wan.md lists what of ftfy.fix_text is done and what is not. */
int spm_wan_clean(const char *text, size_t n, char **out);

/* The ids Wan2.1 feeds umT5: spm_wan_clean, encode, cut to len - 1 ids,
 * EOS, then <pad> up to len (transformers' padding="max_length",
 * truncation=True). *n_tokens receives the number of real ids, EOS
 * included (the attention mask's ones). len >= 1. */
int spm_encode_wan(const spm *m, const char *prompt, int32_t *ids, int len,
                   int *n_tokens);

#endif /* ST2V_WAN_SPM_H */
