/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * st2v.h - public API of libst2v, the st2v text-to-video engine.
 *
 * A model (st2v_model) is loaded once and is read-only afterwards: any number
 * of generators, in any number of threads, may share it. A generator
 * (st2v_generator) holds all per-stream state (prompt encodings, latents,
 * decoder history, scratch) and is used by one thread at a time, except for
 * st2v_generator_cancel(), which any thread may call.
 *
 * Ownership: the caller owns what it passes in; strings and the image pixels
 * in st2v_params are copied by st2v_generator_new(), so they may be freed
 * right after. Objects returned through an out-pointer are freed with the
 * matching *_free() function, which accepts NULL.
 *
 * Errors are values: every function that can fail returns 0 (ST2V_OK) or a
 * negative st2v_status, and writes a one-line message into the caller's
 * buffer (load/new) or keeps it for st2v_generator_last_error(). The library
 * never prints, never calls exit() or abort(); it logs through the callback
 * given in st2v_params.
 */
#ifndef ST2V_H
#define ST2V_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ST2V_VERSION_MAJOR 0
#define ST2V_VERSION_MINOR 2
#define ST2V_VERSION_PATCH 0
#define ST2V_VERSION_STRING "0.2.0"

#if defined(__GNUC__) && __GNUC__ >= 4
#define ST2V_API __attribute__((visibility("default")))
#else
#define ST2V_API
#endif

typedef enum st2v_status {
    ST2V_OK = 0,
    ST2V_EOF = 1,                  /* no more frames (not an error) */
    ST2V_ERR_INVALID_ARG = -1,     /* a parameter is out of range or malformed */
    ST2V_ERR_NOMEM = -2,           /* allocation failed */
    ST2V_ERR_IO = -3,              /* a file could not be opened or read */
    ST2V_ERR_FORMAT = -4,          /* a model file is malformed or inconsistent */
    ST2V_ERR_UNSUPPORTED = -5,     /* a valid file or request this build cannot serve */
    ST2V_ERR_CANCELLED = -6,       /* st2v_generator_cancel() interrupted the call */
    ST2V_ERR_IMAGE = -7,           /* the conditioning image could not be decoded */
    ST2V_ERR_INTERNAL = -8,        /* a bug: please report it */
} st2v_status;

/* A short constant description of a status code ("invalid argument"). */
ST2V_API const char *st2v_strerror(int status);

/* Library version as a string, e.g. "0.2.0". */
ST2V_API const char *st2v_version(void);

/* ------------------------------------------------------------------ log */

typedef enum st2v_log_level {
    ST2V_LOG_ERROR = 0,
    ST2V_LOG_WARNING = 1,
    ST2V_LOG_INFO = 2,
    ST2V_LOG_DEBUG = 3,
} st2v_log_level;

typedef void (*st2v_log_fn)(void *user_data, st2v_log_level level,
                            const char *msg);

/* ---------------------------------------------------------------- model */

typedef struct st2v_model st2v_model;

/* Everything a caller may want to know about a loaded model. Pointers stay
 * valid until st2v_model_free(). */
typedef struct st2v_model_info {
    const char *name;          /* "st2v-world-v1", ... */
    const char *description;
    int fps;                   /* native frame rate */
    int n_sizes;               /* native sizes */
    const int (*sizes)[2];     /* n_sizes x {width, height} */
    int default_steps;
    float default_cfg;
    float default_shift;
    const char *default_sampler;
    int frames_per_latent;     /* temporal compression of the autoencoder */
    int spatial_factor;        /* spatial compression of the autoencoder */
    int64_t n_params;
    double gflop_per_second;   /* compute per second of video at the default
                                  settings, first native size, 5 s clip */
    const char *family;        /* "st2v" (the world model), "wan2.1", ... */
} st2v_model_info;

/* Precision of the weights in the matrix products. */
typedef enum st2v_dtype {
    ST2V_DTYPE_F32 = 0,        /* every weight widened to float32 at load */
    ST2V_DTYPE_BF16 = 1,       /* 16-bit weights stay mapped, widened a tile
                                  at a time (families that support it); the
                                  st2v world model: its DiT's linear layers
                                  in bfloat16 products (AVX512-BF16), float32
                                  on CPUs without them; Wan: its DiT's BF16
                                  linear layers in bfloat16 products where
                                  they lie (F16/F32 files stay float32) */
} st2v_dtype;

/* How to load a model (whisper.cpp's style: take st2v_model_default_params()
 * and change what you need). */
typedef struct st2v_model_params {
    int use_mmap;              /* 1 (default): map the files read-only;
                                  0: read them into memory */
    st2v_dtype compute_dtype;  /* default ST2V_DTYPE_F32 */
    st2v_log_fn log;           /* NULL = silent */
    void *user_data;           /* passed to log */
} st2v_model_params;

ST2V_API st2v_model_params st2v_model_default_params(void);

/* Load a model: a single file (section 1 of docs/model-format.md) or a
 * folder holding a model family's files (the family is told by the file
 * and tensor names). On failure *out is NULL and err (if not NULL)
 * receives a one-line reason naming the file, tensor or key at fault, or,
 * for a folder, what was found and what is missing. params NULL = the
 * defaults. */
ST2V_API int st2v_model_load_with_params(st2v_model **out, const char *path,
                                         const st2v_model_params *params,
                                         char *err, size_t err_size);
/* The same with st2v_model_default_params(). */
ST2V_API int st2v_model_load(st2v_model **out, const char *path,
                             char *err, size_t err_size);
ST2V_API void st2v_model_free(st2v_model *model);
ST2V_API const st2v_model_info *st2v_model_get_info(const st2v_model *model);

/* The default model: $ST2V_MODEL if set, else the build tree's model when
 * running from it, else the installed one (PREFIX/share/st2v/). Writes the
 * path into buf; returns ST2V_ERR_IO when no candidate exists. */
ST2V_API int st2v_default_model_path(char *buf, size_t buf_size);

/* ------------------------------------------------------------ generator */

typedef enum st2v_sampler {
    ST2V_SAMPLER_DEFAULT = 0,      /* the model's default */
    ST2V_SAMPLER_EULER,
    ST2V_SAMPLER_HEUN,
    ST2V_SAMPLER_DPMPP_2M,
    ST2V_SAMPLER_UNIPC,
} st2v_sampler;
#define ST2V_SAMPLER_LAST ST2V_SAMPLER_UNIPC

/* The samplers, named once: X(ID, name, description) for each
 * ST2V_SAMPLER_<ID> but DEFAULT, then the accepted aliases. The library's
 * name table, the CLI, the FFmpeg filter's and the GStreamer element's
 * option tables all expand these. */
#define ST2V_SAMPLERS(X)                                                      \
    X(EULER, "euler", "Euler (first order)")                                  \
    X(HEUN, "heun", "Heun (second order, two model calls a step)")            \
    X(DPMPP_2M, "dpm++2m", "DPM-Solver++(2M) (second order, multistep)")      \
    X(UNIPC, "unipc", "UniPC-bh2 (second order, multistep, corrected)")
#define ST2V_SAMPLER_ALIASES(X) X(DPMPP_2M, "dpmpp_2m", "the same as dpm++2m")

/* Parse a sampler name or alias ("euler", "heun", "dpm++2m", "dpmpp_2m",
 * "unipc", "default"); returns a negative status for an unknown name. */
ST2V_API int st2v_sampler_from_name(const char *name, st2v_sampler *out);
ST2V_API const char *st2v_sampler_name(st2v_sampler s);
/* The sampler names for messages: "euler, heun, dpm++2m or unipc". */
ST2V_API const char *st2v_sampler_names(void);

typedef struct st2v_progress {
    int chunk;                 /* chunk being generated (0-based) */
    int step;                  /* sampling steps done in this chunk */
    int steps;                 /* sampling steps in this chunk */
    int64_t frames_done;       /* frames returned so far */
    int64_t frames_total;      /* -1 when endless */
} st2v_progress;

typedef void (*st2v_progress_fn)(void *user_data, const st2v_progress *p);

typedef struct st2v_params {
    const char *prompt;            /* required, non-empty after trimming */
    const char *negative_prompt;   /* NULL or "" = the model's default
                                      (Wan: its official one; st2v:
                                      unconditional) */
    uint64_t seed;
    int steps;                     /* 0 = model default; 1..1000 */
    float cfg;                     /* < 0 = model default; 0..100 */
    st2v_sampler sampler;
    float shift;                   /* <= 0 = model default; up to 100 */
    int width, height;             /* 0 = native size; 16..8192, even */
    int fps_num, fps_den;          /* 0 = native fps */
    int64_t frames;                /* > 0 frame count, -1 endless, 0 = use duration */
    double duration;               /* seconds, when frames == 0; default 5 */
    int threads;                   /* 0 = all cores; 1..256 */
    /* optional conditioning image: packed RGB24, copied at new() */
    const uint8_t *image_rgb;
    int image_width, image_height, image_stride;

    st2v_log_fn log;               /* NULL = silent */
    st2v_progress_fn progress;     /* NULL = none */
    void *user_data;               /* passed to both callbacks */
} st2v_params;

ST2V_API st2v_params st2v_default_params(void);

/* Set one parameter by name from a string, for option parsers
 * ("prompt", "negative_prompt", "seed", "steps", "cfg", "sampler", "shift",
 * "size" (WxH), "fps" (N or N/D), "frames", "duration", "threads").
 * Strings are not copied: they must outlive the params. */
ST2V_API int st2v_params_set(st2v_params *p, const char *name,
                             const char *value);

/* Longest prompt (or negative prompt) in bytes: far more than any model
 * reads (it keeps its first max_text_tokens tokens). */
#define ST2V_MAX_PROMPT_BYTES 65536

/* Is text usable as a prompt (negative = 0) or a negative prompt
 * (negative = 1, which may be empty)? ST2V_OK, or ST2V_ERR_INVALID_ARG and
 * a one-line reason in err (which never quotes the text): empty or only
 * white space, longer than ST2V_MAX_PROMPT_BYTES, not valid UTF-8, or
 * holding a control character other than tab, newline and carriage
 * return. st2v_params_set, st2v_generator_new and
 * st2v_generator_set_prompt apply it; wrappers call it to say why. */
ST2V_API int st2v_prompt_check(const char *text, int negative, char *err,
                               size_t err_size);

typedef struct st2v_generator st2v_generator;

/* Create a generator. Validates every parameter; on failure *out is NULL
 * and err receives a one-line reason. Generation starts lazily. */
ST2V_API int st2v_generator_new(st2v_generator **out, const st2v_model *model,
                                const st2v_params *params,
                                char *err, size_t err_size);
ST2V_API void st2v_generator_free(st2v_generator *gen);

/* What the generator will output. */
typedef struct st2v_stream_info {
    int width, height;             /* output size */
    int fps_num, fps_den;          /* output frame rate */
    int64_t frames;                /* total frames, -1 when endless */
    int native_width, native_height;
} st2v_stream_info;

ST2V_API void st2v_generator_get_info(const st2v_generator *gen,
                                      st2v_stream_info *info);

typedef struct st2v_frame_info {
    int64_t index;                 /* output frame number, from 0 */
    int chunk;                     /* chunk it came from */
    uint64_t seed;
} st2v_frame_info;

/* Write the next frame as packed RGB24 (width*3 bytes per row, rows
 * `stride` bytes apart) into dst. Generates the next chunk when needed.
 * Returns ST2V_OK, ST2V_EOF after the last frame, or a negative status. */
ST2V_API int st2v_generator_next_frame(st2v_generator *gen, uint8_t *dst,
                                       ptrdiff_t stride,
                                       st2v_frame_info *info);

/* Change the prompt (or negative prompt, when `negative` is non-zero); takes
 * effect from the next chunk, which is conditioned on the end of the last. */
ST2V_API int st2v_generator_set_prompt(st2v_generator *gen, const char *prompt,
                                       int negative);
ST2V_API int st2v_generator_set_cfg(st2v_generator *gen, float cfg);

/* Restart from frame 0: the same frames come again for the same seed. */
ST2V_API int st2v_generator_rewind(st2v_generator *gen);

/* Ask a running next_frame() to stop soon with ST2V_ERR_CANCELLED (on=1),
 * or allow generation again (on=0). Safe from any thread. */
ST2V_API void st2v_generator_cancel(st2v_generator *gen, int on);

/* The message of the last failure of this generator ("" if none). */
ST2V_API const char *st2v_generator_last_error(const st2v_generator *gen);

/* ----------------------------------------------------------------- keyer */

/* The green-screen keyer of the wrappers' alpha mode (core/key.c): the
 * caller asks for its subject "on a green screen", and the keyer turns each
 * packed RGB24 frame into straight RGBA with the screen transparent. The
 * state is a small value the caller owns, one per stream. */
#define ST2V_KEY_DEFAULT_R 0     /* chroma-key green, until one is measured */
#define ST2V_KEY_DEFAULT_G 177
#define ST2V_KEY_DEFAULT_B 64

typedef struct st2v_key {
    int r, g, b;                   /* screen colour, 0..255 */
    int measured;                  /* 0 until a frame's border showed a screen */
} st2v_key;

ST2V_API void st2v_key_init(st2v_key *key);
/* Measure the screen colour on the border of one RGB24 frame and follow it
 * (the first measure as is, later ones a quarter of the way). Returns 1 when
 * the border showed a screen, 0 when not (the key is then unchanged). */
ST2V_API int st2v_key_measure(st2v_key *key, const uint8_t *rgb,
                              ptrdiff_t stride, int w, int h);
/* Key one frame: src packed RGB24 (rows src_stride apart) into dst straight
 * RGBA (rows dst_stride apart); fully transparent pixels are (0,0,0,0). */
ST2V_API void st2v_key_frame(uint8_t *dst, ptrdiff_t dst_stride,
                             const uint8_t *src, ptrdiff_t src_stride,
                             int w, int h, const st2v_key *key);

/* ---------------------------------------------------------------- images */

/* Decode a PNG file into packed RGB24 (alpha is composited over black).
 * *rgb is malloc'ed, freed by the caller with free(). */
ST2V_API int st2v_load_png(const char *path, uint8_t **rgb, int *width,
                           int *height, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif

#endif /* ST2V_H */
