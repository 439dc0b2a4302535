/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * main.c - the `st2v` command: text (and optionally a first image) to a
 * YUV4MPEG2 video file or pipe, through libst2v.
 *
 *   st2v -p "a red ball bouncing on the sea" -d 4 -o ball.y4m
 *   st2v -p "waves" --frames -1 -o - | ffplay -
 *
 * Exit status: 0 done, 1 runtime failure (model, image, generation,
 * writing), 2 bad usage, 128 + N after signal N (SIGINT, SIGTERM). Every failure is one line `st2v: <reason>` on
 * stderr. A file is written under a temporary name and renamed at the end,
 * so a failure or an interrupt never leaves a truncated .y4m behind.
 * Not here: any model mathematics (libst2v), the YUV conversion (y4m.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "st2v.h"
#include "y4m.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

/* a printf format: %s is st2v_sampler_names() */
static const char usage_text[] =
    "usage: st2v -p PROMPT [options] -o OUT.y4m\n"
    "\n"
    "Generate a video from a text prompt and write it as YUV4MPEG2\n"
    "(4:2:0, full range) to OUT.y4m, or to stdout with -o -.\n"
    "\n"
    "  -p, --prompt TEXT      what to show (required)\n"
    "  -n, --negative TEXT    what to avoid (default: the model's; st2v: nothing)\n"
    "  -s, --seed N           random seed (default: random, printed)\n"
    "  -d, --duration SEC     length in seconds (default 5)\n"
    "      --frames N         length in frames instead; -1 = endless\n"
    "                         (endless needs -o -)\n"
    "      --size WxH         output size, even, 16..8192 (default: native)\n"
    "      --fps R            frame rate: N, N/D or decimal (default: native)\n"
    "      --steps N          sampling steps 1..1000 (default: model's)\n"
    "      --cfg X            guidance scale 0..100 (default: model's)\n"
    "      --sampler NAME     %s (default: model's)\n"
    "      --shift X          schedule shift, > 0 (default: model's)\n"
    "      --dtype f32|bf16   precision of the matrix products: the DiT's, and\n"
    "                         Wan's text encoder's (default f32); bf16: bfloat16\n"
    "                         products, faster, the output within bfloat16\n"
    "                         rounding of f32's; on a CPU without AVX512-BF16\n"
    "                         it computes in float32\n"
    "  -m, --model PATH       model file or folder (default: $ST2V_MODEL or the\n"
    "                         installed model)\n"
    "  -t, --threads N        worker threads, 0 = all cores (default 0)\n"
    "      --image PNG        condition the first frames on an image\n"
    "  -o, --output FILE      OUT.y4m, or - for stdout (required)\n"
    "  -q, --quiet            no progress, seed or warnings on stderr\n"
    "  -v, --verbose          also print the library's log\n"
    "  -h, --help             this help\n"
    "  -V, --version          version\n";

enum {
    OPT_FRAMES = 256,
    OPT_SIZE,
    OPT_FPS,
    OPT_STEPS,
    OPT_CFG,
    OPT_SAMPLER,
    OPT_SHIFT,
    OPT_IMAGE,
    OPT_DTYPE,
};

static const struct option long_options[] = {
    {"prompt", required_argument, NULL, 'p'},
    {"negative", required_argument, NULL, 'n'},
    {"seed", required_argument, NULL, 's'},
    {"duration", required_argument, NULL, 'd'},
    {"frames", required_argument, NULL, OPT_FRAMES},
    {"size", required_argument, NULL, OPT_SIZE},
    {"fps", required_argument, NULL, OPT_FPS},
    {"steps", required_argument, NULL, OPT_STEPS},
    {"cfg", required_argument, NULL, OPT_CFG},
    {"sampler", required_argument, NULL, OPT_SAMPLER},
    {"shift", required_argument, NULL, OPT_SHIFT},
    {"dtype", required_argument, NULL, OPT_DTYPE},
    {"model", required_argument, NULL, 'm'},
    {"threads", required_argument, NULL, 't'},
    {"image", required_argument, NULL, OPT_IMAGE},
    {"output", required_argument, NULL, 'o'},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

typedef struct cli {
    st2v_params params;
    const char *shown;             /* the output as named in messages */
    const char *model_path;
    const char *image_path;
    const char *output;
    st2v_dtype dtype;              /* the model's compute_dtype */
    int seed_given;
    int have_duration, have_frames;
    int quiet, verbose;
    int show_progress;             /* stderr is a terminal and not quiet */
    int64_t frames_total;
    int64_t frames_done;
    int chunk, step, steps;        /* last progress report */
    int bar_open;                  /* the bar is on screen, no newline yet */
} cli;

static volatile sig_atomic_t interrupted;
static st2v_generator *volatile running; /* for the signal handler */

static void die_msg(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void die_msg(const char *fmt, ...)
{
    va_list ap;
    fputs("st2v: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void on_signal(int sig)
{
    interrupted = sig;
    if (running)
        st2v_generator_cancel(running, 1); /* an atomic store */
}

/* ------------------------------------------------------------ options */

/* What a valid value of each option looks like, for the refusal. */
static const char *expected(const char *name)
{
    static const struct {
        const char *name, *what;
    } t[] = {
        {"seed", "an integer 0..18446744073709551615"},
        {"steps", "an integer 1..1000"},
        {"cfg", "a number 0..100"},
        {"shift", "a number > 0 and at most 100"},
        {"size", "WxH with each side even and 16..8192"},
        {"fps", "N, N/D or a decimal, > 0 and at most 1000"},
        {"frames", "a positive integer, or -1 for endless"},
        {"duration", "seconds, > 0 and at most 1e7"},
        {"threads", "an integer 0..256"},
        {"prompt", "non-empty text"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (strcmp(t[i].name, name) == 0)
            return t[i].what;
    if (strcmp(name, "sampler") == 0)
        return st2v_sampler_names();
    return "a valid value";
}

static int set(cli *c, const char *opt, const char *name, const char *value)
{
    if (st2v_params_set(&c->params, name, value) != 0) {
        char why[160];
        if (strcmp(name, "prompt") == 0 ||
            strcmp(name, "negative_prompt") == 0) {
            st2v_prompt_check(value, name[0] == 'n', why, sizeof(why));
            die_msg("invalid %s: %s", opt, why);
        } else if (strcmp(name, "sampler") == 0) {
            die_msg("unknown sampler '%s' (expected %s)", value,
                    expected(name));
        } else {
            die_msg("invalid %s '%s': expected %s", opt, value,
                    expected(name));
        }
        return -1;
    }
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Parse argv into c. Returns 0, or an exit status (with -h/-V: 0 after
 * printing, signalled by *done). */
static int parse_args(cli *c, int argc, char **argv, int *done)
{
    int opt;
    *done = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":p:n:s:d:m:t:o:qvhV",
                              long_options, NULL)) != -1) {
        const char *a = optarg;
        int rc = 0;
        switch (opt) {
        case 'p':
            rc = set(c, "-p", "prompt", a);
            break;
        case 'n':
            rc = set(c, "-n", "negative_prompt", a);
            break;
        case 's':
            rc = set(c, "-s", "seed", a);
            c->seed_given = 1;
            break;
        case 'd':
            rc = set(c, "-d", "duration", a);
            c->have_duration = 1;
            break;
        case OPT_FRAMES:
            rc = set(c, "--frames", "frames", a);
            c->have_frames = 1;
            break;
        case OPT_SIZE:
            rc = set(c, "--size", "size", a);
            break;
        case OPT_FPS:
            rc = set(c, "--fps", "fps", a);
            break;
        case OPT_STEPS:
            rc = set(c, "--steps", "steps", a);
            break;
        case OPT_CFG:
            rc = set(c, "--cfg", "cfg", a);
            break;
        case OPT_SAMPLER:
            rc = set(c, "--sampler", "sampler", a);
            break;
        case OPT_SHIFT:
            rc = set(c, "--shift", "shift", a);
            break;
        case 't':
            rc = set(c, "-t", "threads", a);
            break;
        case 'm':
            c->model_path = a;
            break;
        case OPT_DTYPE:
            if (strcmp(a, "f32") == 0) {
                c->dtype = ST2V_DTYPE_F32;
            } else if (strcmp(a, "bf16") == 0) {
                c->dtype = ST2V_DTYPE_BF16;
            } else {
                die_msg("unknown dtype '%s' (expected f32 or bf16)", a);
                rc = -1;
            }
            break;
        case OPT_IMAGE:
            c->image_path = a;
            break;
        case 'o':
            c->output = a;
            break;
        case 'q':
            c->quiet = 1;
            break;
        case 'v':
            c->verbose = 1;
            break;
        case 'h':
            printf(usage_text, st2v_sampler_names());
            *done = 1;
            return 0;
        case 'V':
            printf("st2v %s\n", st2v_version());
            *done = 1;
            return 0;
        case ':':
            die_msg("option %s needs an argument", argv[optind - 1]);
            return EXIT_USAGE;
        default:
            if (optopt)
                die_msg("unknown option '-%c' (see st2v --help)", optopt);
            else
                die_msg("unknown option '%s' (see st2v --help)",
                        argv[optind - 1]);
            return EXIT_USAGE;
        }
        if (rc != 0)
            return EXIT_USAGE;
    }
    if (optind < argc) {
        die_msg("unexpected argument '%s' (see st2v --help)", argv[optind]);
        return EXIT_USAGE;
    }
    if (!c->params.prompt) {
        die_msg("missing -p PROMPT (see st2v --help)");
        return EXIT_USAGE;
    }
    if (!c->output) {
        die_msg("missing -o OUT.y4m (or -o - for stdout)");
        return EXIT_USAGE;
    }
    if (strcmp(c->output, "-") != 0 &&
        (!ends_with(c->output, ".y4m") || strlen(c->output) <= 4 ||
         ends_with(c->output, "/.y4m"))) {
        die_msg("output '%s' must end in .y4m (or be - for stdout)",
                c->output);
        return EXIT_USAGE;
    }
    if (c->have_duration && c->have_frames) {
        die_msg("use either -d or --frames, not both");
        return EXIT_USAGE;
    }
    if (c->params.frames == -1 && strcmp(c->output, "-") != 0) {
        die_msg("endless output (--frames -1) needs -o - (stdout)");
        return EXIT_USAGE;
    }
    return 0;
}

static uint64_t random_seed(void)
{
    uint64_t s = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, &s, sizeof(s));
        close(fd);
        if (n == (ssize_t)sizeof(s))
            return s;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((uint64_t)ts.tv_sec * 1000000007ull) ^ (uint64_t)ts.tv_nsec ^
           ((uint64_t)getpid() << 32);
}

/* ---------------------------------------------------- progress, logging */

static void draw_progress(cli *c)
{
    const int width = 30;
    double frac = c->frames_total > 0
                      ? (double)c->frames_done / (double)c->frames_total
                      : 0.0;
    int fill = (int)(frac * width);
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    if (c->frames_total > 0)
        fprintf(stderr, "\r[%s] %" PRId64 "/%" PRId64 " frames  chunk %d "
                "step %d/%d ",
                bar, c->frames_done, c->frames_total, c->chunk, c->step,
                c->steps);
    else
        fprintf(stderr, "\r%" PRId64 " frames  chunk %d step %d/%d ",
                c->frames_done, c->chunk, c->step, c->steps);
    fflush(stderr);
    c->bar_open = 1;
}

/* End the progress line, if one is on screen, before other output. */
static void close_bar(cli *c)
{
    if (c->bar_open)
        fputc('\n', stderr);
    c->bar_open = 0;
}

static void on_progress(void *user, const st2v_progress *p)
{
    cli *c = user;
    c->chunk = p->chunk;
    c->step = p->step;
    c->steps = p->steps;
    if (c->show_progress)
        draw_progress(c);
}

static void on_log(void *user, st2v_log_level level, const char *msg)
{
    cli *c = user;
    if (c->quiet || (level >= ST2V_LOG_INFO && !c->verbose))
        return;
    close_bar(c);
    static const char *names[] = {"error", "warning", "info", "debug"};
    fprintf(stderr, "st2v: %s: %s\n",
            (unsigned)level < 4 ? names[level] : "log", msg);
}

/* ---------------------------------------------------------------- run */

/* A temporary file next to `path`; *tmp receives its malloc'ed name. */
static FILE *open_temp(const char *path, char **tmp)
{
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path + 1) : 0;
    const char *base = slash ? slash + 1 : path;
    size_t n = dirlen + strlen(base) + 16;
    char *name = malloc(n);
    if (!name)
        return NULL;
    snprintf(name, n, "%.*s.%s.XXXXXX", (int)dirlen, path, base);
    int fd = mkstemp(name);
    if (fd < 0) {
        free(name);
        return NULL;
    }
    /* mkstemp makes 0600; give the file the usual umask-derived mode. */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    FILE *fp = fdopen(fd, "wb");
    if (!fp) {
        int e = errno;
        close(fd);
        unlink(name);
        free(name);
        errno = e;
        return NULL;
    }
    *tmp = name;
    return fp;
}

static int run(cli *c)
{
    char err[512], path[4096];
    st2v_model *model = NULL;
    st2v_generator *gen = NULL;
    uint8_t *image = NULL, *frame = NULL;
    FILE *fp = NULL;
    char *tmp = NULL;
    y4m_writer yw = {0};
    int status = EXIT_RUNTIME;

    if (c->model_path) {
        snprintf(path, sizeof(path), "%s", c->model_path);
    } else if (st2v_default_model_path(path, sizeof(path)) != 0) {
        die_msg("no model found%s%s (set ST2V_MODEL or use -m FILE)",
                path[0] ? ": " : "", path);
        return EXIT_RUNTIME;
    }
    st2v_model_params mp = st2v_model_default_params();
    mp.compute_dtype = c->dtype;
    if (st2v_model_load_with_params(&model, path, &mp, err, sizeof(err)) !=
        0) {
        die_msg("cannot load model '%s': %s", path, err);
        return EXIT_RUNTIME;
    }
    if (c->image_path) {
        int w, h;
        if (st2v_load_png(c->image_path, &image, &w, &h, err,
                          sizeof(err)) != 0) {
            die_msg("cannot load image '%s': %s", c->image_path, err);
            goto done;
        }
        c->params.image_rgb = image;
        c->params.image_width = w;
        c->params.image_height = h;
        c->params.image_stride = w * 3;
    }
    if (!c->seed_given)
        c->params.seed = random_seed();
    c->params.log = on_log;
    c->params.progress = on_progress;
    c->params.user_data = c;
    int rc = st2v_generator_new(&gen, model, &c->params, err, sizeof(err));
    if (rc != 0) {
        die_msg("%s", err);
        status = rc == ST2V_ERR_INVALID_ARG ? EXIT_USAGE : EXIT_RUNTIME;
        goto done;
    }
    /* the seed to give again, once the options are known to be good: a
     * refusal stays one line */
    if (!c->seed_given && !c->quiet)
        fprintf(stderr, "st2v: seed %" PRIu64 "\n", c->params.seed);
    st2v_stream_info si;
    st2v_generator_get_info(gen, &si);
    c->frames_total = si.frames;

    c->shown = strcmp(c->output, "-") == 0 ? "stdout" : c->output;
    if (strcmp(c->output, "-") == 0) {
        fp = stdout;
    } else if (!(fp = open_temp(c->output, &tmp))) {
        die_msg("cannot create a file next to '%s': %s", c->output,
                strerror(errno));
        goto done;
    }
    if (y4m_open(&yw, fp, si.width, si.height, si.fps_num, si.fps_den) != 0) {
        die_msg("cannot write to %s: %s", c->shown, strerror(errno));
        goto done;
    }
    frame = malloc((size_t)si.width * si.height * 3);
    if (!frame) {
        die_msg("out of memory");
        goto done;
    }

    running = gen;
    for (;;) {
        rc = st2v_generator_next_frame(gen, frame, (ptrdiff_t)si.width * 3,
                                       NULL);
        if (rc == ST2V_EOF)
            break;
        if (rc != 0) {
            close_bar(c);
            if (rc == ST2V_ERR_CANCELLED && interrupted)
                die_msg("interrupted");
            else
                die_msg("generation failed: %s",
                        st2v_generator_last_error(gen));
            goto done;
        }
        if (y4m_write_rgb(&yw, frame, (ptrdiff_t)si.width * 3) != 0) {
            close_bar(c);
            die_msg("cannot write to %s: %s", c->shown, strerror(errno));
            goto done;
        }
        c->frames_done++;
        if (c->show_progress)
            draw_progress(c);
    }
    close_bar(c);
    if (fflush(fp) != 0 || ferror(fp)) {
        die_msg("cannot write to %s: %s", c->shown, strerror(errno));
        goto done;
    }
    if (tmp) {
        FILE *f = fp;
        fp = NULL;
        if (fsync(fileno(f)) != 0 && errno != EINVAL) {
            die_msg("cannot write to %s: %s", c->shown, strerror(errno));
            fclose(f);
            goto done;
        }
        if (fclose(f) != 0) {
            die_msg("cannot write to %s: %s", c->shown, strerror(errno));
            goto done;
        }
        if (rename(tmp, c->output) != 0) {
            die_msg("cannot rename the output to '%s': %s", c->output,
                    strerror(errno));
            goto done;
        }
        free(tmp);
        tmp = NULL;
    }
    if (c->show_progress) {
        fprintf(stderr, "st2v: wrote %" PRId64 " frames to %s\n",
                c->frames_done, c->shown);
    }
    status = 0;
done:
    running = NULL;
    if (fp && fp != stdout)
        fclose(fp);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    y4m_close(&yw);
    free(frame);
    st2v_generator_free(gen);
    free(image);
    st2v_model_free(model);
    return status;
}

int main(int argc, char **argv)
{
    cli c;
    memset(&c, 0, sizeof(c));
    c.params = st2v_default_params();
    c.dtype = ST2V_DTYPE_F32;

    int done;
    int status = parse_args(&c, argc, argv, &done);
    if (status != 0 || done)
        return status;
    c.show_progress = !c.quiet && isatty(STDERR_FILENO);

    /* Write errors come back as EPIPE instead of killing us; an interrupt
     * cancels the generator so that the temporary file is removed. */
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa, old;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    /* A background job of a script keeps ignoring SIGINT, as is the rule. */
    if (sigaction(SIGINT, NULL, &old) == 0 && old.sa_handler != SIG_IGN)
        sigaction(SIGINT, &sa, NULL);

    status = run(&c);
    if (interrupted && status != 0)
        return 128 + interrupted; /* as if killed by the signal */
    return status;
}
