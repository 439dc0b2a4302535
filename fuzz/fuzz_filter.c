/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz_filter.c - the FFmpeg filter's option string. The input up to its
 * first NUL is ARGS in the filtergraph "st2v=ARGS", parsed by libavfilter
 * itself (avfilter_graph_parse_ptr: the graph's quoting, then the filter's
 * key=value list, positional values, the generic options such as threads
 * and enable) into the st2v filter, whose init() checks the options, loads
 * the model and creates the generator; then avfilter_graph_config
 * (formats, config_props) and, when that succeeds, one or two frames pulled
 * through a buffersink (activate(), the metadata). Optionally the rest of
 * the input is "CMD\0ARG": a runtime command (prompt, negative_prompt, cfg
 * or anything else) sent to the filter between the two frames
 * (process_command(), what sendcmd and zmq reach).
 *
 * The filter (libavfilter_st2v/vsrc_st2v.c) and libst2v are built with the
 * fuzzer's instrumentation; the rest of FFmpeg is make ffmpeg's static
 * libraries, not instrumented (Makefile, fuzz_filter).
 *
 * Bounds, so that an input costs milliseconds and touches nothing else:
 * - ARGS must be one filtergraph token (av_get_token with the graph's
 *   delimiters "[],;", as the graph parser reads a filter's arguments):
 *   an input that would end the st2v filter and add others (movie=,
 *   zmq=, ...) is rejected; the graph is then checked to hold st2v and
 *   the sink alone.
 * - ST2V_MODEL is the tiny test model (tests/fixtures/tiny.safetensors,
 *   32x32 at 16 fps, 4 steps), so st2v without model= loads in
 *   milliseconds; model=, textfile= and image= stay free (a path is an
 *   option value like any other; the files they find are refused or read).
 * - Frames are pulled only when the output is at most 128x128 and at
 *   most 4 sampling steps (the model's default) are asked for, and the
 *   second frame only when the rate is at least 1/16 of the model's: a
 *   valid 8192x8192, steps=1000 or r=0.1 goes through the parser, init()
 *   and avfilter_graph_config, but its frames, whose cost is the model's
 *   and not the option string's, are not rendered.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavutil/avstring.h>
#include <libavutil/frame.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>

#include "st2v.h"

#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_PIXELS (128 * 128)
#define FUZZ_MAX_STEPS 4       /* the tiny model's default */
#define FUZZ_RATE_DIV 16      /* second frame: rate >= the model's / 16 */

static int model_fps;         /* the tiny model's native rate */

/* every message formatted (a bad format argument shows under ASan), none
 * printed */
static void quiet_log(void *avcl, int level, const char *fmt, va_list vl)
{
    char line[1024];
    int print_prefix = 1;
    (void)level;
    av_log_format_line2(avcl, level, fmt, vl, line, sizeof(line), &print_prefix);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *model = fuzz_fixture("tiny.safetensors");
    st2v_model *m = NULL;
    char err[256];
    if (st2v_model_load(&m, model, err, sizeof(err)) < 0) {
        fprintf(stderr, "fuzz_filter: %s: %s\n", model, err);
        abort();
    }
    model_fps = st2v_model_get_info(m)->fps;
    st2v_model_free(m);
    setenv("ST2V_MODEL", model, 1);
    av_log_set_callback(quiet_log);
    return 0;
}

/* the st2v filter of graph, or NULL */
static AVFilterContext *find_st2v(AVFilterGraph *graph)
{
    for (unsigned i = 0; i < graph->nb_filters; i++)
        if (!strcmp(graph->filters[i]->filter->name, "st2v"))
            return graph->filters[i];
    return NULL;
}

/* pull one frame; 1 when one came, 0 at the end or an error */
static int pull(AVFilterContext *sink, AVFrame *frame)
{
    if (av_buffersink_get_frame(sink, frame) < 0)
        return 0;
    /* what the filter promised at config_props */
    if (frame->width != av_buffersink_get_w(sink) ||
        frame->height != av_buffersink_get_h(sink) ||
        (frame->format != AV_PIX_FMT_RGB24 && frame->format != AV_PIX_FMT_RGBA) ||
        !av_dict_get(frame->metadata, "lavfi.st2v.prompt", NULL, 0))
        abort();
    av_frame_unref(frame);
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return -1;
    /* ARGS, then optionally CMD NUL ARG */
    char *buf = malloc(size + 2);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = buf[size + 1] = '\0';
    const char *args = buf;
    const char *cmd = NULL, *cmd_arg = "";
    size_t n = strlen(args);
    if (n < size) {
        cmd = buf + n + 1;
        size_t m = strlen(cmd);
        if (n + 1 + m < size)
            cmd_arg = cmd + m + 1;
    }

    /* one token to the graph parser, or the input is not st2v's alone */
    const char *p = args;
    char *tok = av_get_token(&p, "[],;");
    int one_token = tok && !*p;
    av_free(tok);
    if (!one_token) {
        free(buf);
        return -1;
    }

    char *desc = av_asprintf("st2v=%s", args);
    AVFilterGraph *graph = avfilter_graph_alloc();
    AVFilterContext *sink = NULL;
    AVFilterInOut *inputs = avfilter_inout_alloc();
    AVFrame *frame = av_frame_alloc();
    if (!desc || !graph || !inputs || !frame)
        abort();
    graph->nb_threads = 1; /* libavfilter's slice threads: none here */
    if (avfilter_graph_create_filter(&sink, avfilter_get_by_name("buffersink"),
                                     "out", NULL, NULL, graph) < 0)
        abort();
    inputs->name = av_strdup("out");
    inputs->filter_ctx = sink;
    inputs->pad_idx = 0;
    inputs->next = NULL;

    if (avfilter_graph_parse_ptr(graph, desc, &inputs, NULL, NULL) >= 0) {
        AVFilterContext *st2v = find_st2v(graph);
        if (graph->nb_filters != 2 || !st2v)
            abort(); /* the token check above let another filter in */
        if (avfilter_graph_config(graph, NULL) >= 0) {
            int64_t steps = 0;
            int w = av_buffersink_get_w(sink), h = av_buffersink_get_h(sink);
            AVRational r = av_buffersink_get_frame_rate(sink);
            av_opt_get_int(st2v->priv, "steps", 0, &steps);
            if ((int64_t)w * h <= FUZZ_MAX_PIXELS && steps <= FUZZ_MAX_STEPS &&
                pull(sink, frame)) {
                if (cmd) {
                    char res[64];
                    avfilter_graph_send_command(graph, "st2v", cmd, cmd_arg,
                                                res, sizeof(res), 0);
                }
                if ((int64_t)r.num * FUZZ_RATE_DIV >= (int64_t)model_fps * r.den)
                    pull(sink, frame);
            }
        }
    }

    av_frame_free(&frame);
    avfilter_inout_free(&inputs);
    avfilter_graph_free(&graph);
    av_free(desc);
    free(buf);
    return 0;
}
