/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_concurrency.c - one model shared by generators in several threads
 * (docs/robustness.md, "Concurrency and cancellation"): four generators on
 * the tiny model (and two on the Wan tiny folder) run at once in four
 * threads give, byte for byte, the frames of the same four run one after
 * the other, with 1 and with 2 threads each; and a generator cancelled
 * from another thread in the middle of a chunk stops with
 * ST2V_ERR_CANCELLED and is freed with everything it holds (the Makefile's
 * check-valgrind runs `test_concurrency cancel` under valgrind).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "test_util.h"

#define MAX_FRAMES 64

/* One generator's run: its settings in, a hash of every frame out. */
typedef struct job {
    const st2v_model *model;
    st2v_params p;
    int64_t frames;                /* frames to pull (the stream's count) */
    uint64_t hash[MAX_FRAMES];     /* FNV-1a 64 of each frame's bytes */
    int64_t got;                   /* frames returned */
    int rc;                        /* 0, or the failing status */
    char err[256];
} job;

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static void *run_job(void *arg)
{
    job *j = arg;
    st2v_generator *g = NULL;
    j->got = 0;
    j->rc = st2v_generator_new(&g, j->model, &j->p, j->err, sizeof(j->err));
    if (j->rc)
        return NULL;
    st2v_stream_info si;
    st2v_generator_get_info(g, &si);
    size_t fsz = (size_t)si.width * si.height * 3;
    uint8_t *px = malloc(fsz);
    while (px && j->got < j->frames && j->got < MAX_FRAMES) {
        int rc = st2v_generator_next_frame(g, px, si.width * 3, NULL);
        if (rc == ST2V_EOF)
            break;
        if (rc) {
            j->rc = rc;
            snprintf(j->err, sizeof(j->err), "frame %lld: %s",
                     (long long)j->got, st2v_generator_last_error(g));
            break;
        }
        j->hash[j->got++] = fnv1a(px, fsz);
    }
    if (!px)
        j->rc = ST2V_ERR_NOMEM;
    free(px);
    st2v_generator_free(g);
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Run jobs a[0..n) one after the other, then b[0..n) (the same settings)
 * at once in n threads, and compare every frame's hash. */
static void sequential_equals_concurrent(job *a, job *b, int n,
                                         const char *what)
{
    double t0 = now_s();
    for (int i = 0; i < n; i++)
        run_job(&a[i]);
    double t1 = now_s();
    pthread_t th[8];
    int started[8] = {0};
    for (int i = 0; i < n; i++)
        started[i] = pthread_create(&th[i], NULL, run_job, &b[i]) == 0;
    for (int i = 0; i < n; i++)
        if (started[i])
            pthread_join(th[i], NULL);
        else
            CHECK(0, "%s: thread %d not started", what, i);
    double t2 = now_s();
    int64_t frames = 0, differ = 0;
    for (int i = 0; i < n; i++) {
        CHECK(a[i].rc == 0, "%s: sequential run %d: %s (%s)", what, i,
              st2v_strerror(a[i].rc), a[i].err);
        CHECK(b[i].rc == 0, "%s: thread %d: %s (%s)", what, i,
              st2v_strerror(b[i].rc), b[i].err);
        CHECK(a[i].got == a[i].frames && b[i].got == a[i].got,
              "%s: run %d: %lld frames sequential, %lld in a thread, %lld "
              "wanted", what, i, (long long)a[i].got, (long long)b[i].got,
              (long long)a[i].frames);
        for (int64_t f = 0; f < a[i].got && f < b[i].got; f++) {
            frames++;
            if (a[i].hash[f] != b[i].hash[f]) {
                if (!differ)
                    CHECK(0, "%s: run %d frame %lld differs", what, i,
                          (long long)f);
                differ++;
            }
        }
    }
    /* distinct settings must give distinct streams, or the test proves
     * nothing */
    for (int i = 1; i < n; i++)
        CHECK(a[i].got == 0 || a[0].got == 0 || a[i].hash[0] != a[0].hash[0],
              "%s: runs 0 and %d made the same first frame", what, i);
    printf("     %s: %d generators, %lld frames, %lld differ; sequential "
           "%.2f s, concurrent %.2f s\n",
           what, n, (long long)frames, (long long)differ, t1 - t0, t2 - t1);
}

static const char *const prompts[4] = {
    "a red ball on the sea", "a cat in the snow at night",
    "green hills under a grey sky", "a city street in the rain",
};

/* ------------------------------------------------------------ tiny model */

static st2v_model *tiny;

static void fill_tiny_jobs(job *jobs, int threads)
{
    for (int i = 0; i < 4; i++) {
        memset(&jobs[i], 0, sizeof(jobs[i]));
        jobs[i].model = tiny;
        jobs[i].p = st2v_default_params();
        jobs[i].p.prompt = prompts[i];
        jobs[i].p.seed = 7 + 1000 * (uint64_t)i;
        jobs[i].p.steps = 2;
        jobs[i].p.frames = 40;     /* three chunks */
        jobs[i].p.threads = threads;
        jobs[i].frames = 40;
    }
    jobs[3].p.sampler = ST2V_SAMPLER_HEUN;
    jobs[2].p.width = 48;          /* the model's other native size */
    jobs[2].p.height = 32;
}

static void four_threads_one_thread_each_match_four_sequential_runs(void)
{
    REQUIRE(tiny, "no tiny model");
    static job a[4], b[4];
    fill_tiny_jobs(a, 1);
    fill_tiny_jobs(b, 1);
    sequential_equals_concurrent(a, b, 4, "tiny, 1 thread each");
}

static void four_threads_two_threads_each_match_four_sequential_runs(void)
{
    REQUIRE(tiny, "no tiny model");
    static job a[4], b[4];
    fill_tiny_jobs(a, 2);
    fill_tiny_jobs(b, 2);
    sequential_equals_concurrent(a, b, 4, "tiny, 2 threads each");
}

/* -------------------------------------------------------- Wan tiny folder */

static st2v_model *wan;

static void fill_wan_jobs(job *jobs, int threads)
{
    for (int i = 0; i < 2; i++) {
        memset(&jobs[i], 0, sizeof(jobs[i]));
        jobs[i].model = wan;
        jobs[i].p = st2v_default_params();
        jobs[i].p.prompt = prompts[i];
        jobs[i].p.seed = 11 + 31 * (uint64_t)i;
        jobs[i].p.steps = 2;
        jobs[i].p.width = 32;
        jobs[i].p.height = 32;
        jobs[i].p.frames = 9;
        jobs[i].p.threads = threads;
        jobs[i].frames = 9;
    }
}

static void two_wan_threads_match_two_sequential_runs(void)
{
    REQUIRE(wan, "no Wan tiny model");
    static job a[2], b[2];
    fill_wan_jobs(a, 1);
    fill_wan_jobs(b, 1);
    sequential_equals_concurrent(a, b, 2, "wan tiny, 1 thread each");
    fill_wan_jobs(a, 2);
    fill_wan_jobs(b, 2);
    sequential_equals_concurrent(a, b, 2, "wan tiny, 2 threads each");
}

/* ------------------------------------------------------------ cancellation */

/* A generator pulled in a thread; its progress callback tells the main
 * thread when sampling step `at` of chunk `chunk` is done, then waits there
 * until the main thread has called st2v_generator_cancel(), so the cancel
 * lands in the middle of that chunk's sampling. */
typedef struct cancel_run {
    st2v_generator *g;
    int chunk, at;
    atomic_int reached;            /* the callback is at the cancel point */
    atomic_int cancelled;          /* the main thread has cancelled */
    int64_t frames_before;         /* frames returned before the cancel */
    int rc;                        /* next_frame's status at the end */
    int steps_after;               /* progress calls after the cancel */
} cancel_run;

static void on_progress(void *user, const st2v_progress *pr)
{
    cancel_run *c = user;
    if (atomic_load(&c->cancelled)) {
        c->steps_after++;
        return;
    }
    if (pr->chunk == c->chunk && pr->step == c->at) {
        atomic_store(&c->reached, 1);
        while (!atomic_load(&c->cancelled))
            nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
}

static void *pull_until_error(void *arg)
{
    cancel_run *c = arg;
    st2v_stream_info si;
    st2v_generator_get_info(c->g, &si);
    uint8_t *px = malloc((size_t)si.width * si.height * 3);
    c->rc = px ? ST2V_OK : ST2V_ERR_NOMEM;
    while (px && c->rc == ST2V_OK) {
        c->rc = st2v_generator_next_frame(c->g, px, si.width * 3, NULL);
        if (c->rc == ST2V_OK)
            c->frames_before++;
    }
    free(px);
    return NULL;
}

/* Cancel g's stream during step `at` of chunk `chunk`, from this thread. */
static void cancel_mid_chunk(const st2v_model *m, st2v_params p, int chunk,
                             int at, const char *what)
{
    cancel_run c = {.chunk = chunk, .at = at};
    atomic_init(&c.reached, 0);
    atomic_init(&c.cancelled, 0);
    p.progress = on_progress;
    p.user_data = &c;
    char err[256];
    int rc = st2v_generator_new(&c.g, m, &p, err, sizeof(err));
    REQUIRE(rc == 0 && c.g, "%s: st2v_generator_new: %s", what, err);
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, pull_until_error, &c) == 0,
            "%s: no thread", what);
    double t0 = now_s();
    while (!atomic_load(&c.reached) && now_s() - t0 < 300)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    int reached = atomic_load(&c.reached);
    st2v_generator_cancel(c.g, 1);
    atomic_store(&c.cancelled, 1);
    pthread_join(th, NULL);
    CHECK(reached, "%s: chunk %d step %d never reported", what, chunk, at);
    CHECK(c.rc == ST2V_ERR_CANCELLED, "%s: next_frame gave %s (%s), not "
          "cancelled", what, st2v_strerror(c.rc),
          st2v_generator_last_error(c.g));
    CHECK(c.steps_after == 0, "%s: %d more steps ran after the cancel", what,
          c.steps_after);
    printf("     %s: cancelled in chunk %d after step %d, %lld frames "
           "before\n", what, chunk, at, (long long)c.frames_before);
    st2v_generator_free(c.g);
}

static void cancel_from_another_thread_mid_chunk_stops_and_frees(void)
{
    REQUIRE(tiny, "no tiny model");
    st2v_params p = st2v_default_params();
    p.prompt = prompts[0];
    p.seed = 3;
    p.steps = 3;
    p.frames = -1;                 /* endless: only the cancel ends it */
    p.threads = 2;
    cancel_mid_chunk(tiny, p, 0, 1, "tiny, first chunk");
    cancel_mid_chunk(tiny, p, 1, 2, "tiny, second chunk");
}

static void cancel_of_a_wan_generator_mid_chunk_stops_and_frees(void)
{
    REQUIRE(wan, "no Wan tiny model");
    st2v_params p = st2v_default_params();
    p.prompt = prompts[1];
    p.seed = 5;
    p.steps = 3;
    p.width = 32;
    p.height = 32;
    p.frames = 9;
    p.threads = 2;
    cancel_mid_chunk(wan, p, 0, 1, "wan tiny");
}

int main(int argc, char **argv)
{
    /* `test_concurrency cancel`: only the cancellation tests (the ones
     * check-valgrind runs) */
    int only_cancel = argc > 1 && strcmp(argv[1], "cancel") == 0;
    char err[512];
    if (st2v_model_load(&tiny, tu_fixture("tiny.safetensors"), err,
                        sizeof(err))) {
        printf("FAIL load_tiny_model (%s)\n", err);
        tiny = NULL;
    }
    if (st2v_model_load(&wan, tu_fixture("wan/tiny"), err, sizeof(err))) {
        printf("FAIL load_wan_tiny (%s)\n", err);
        wan = NULL;
    }
    if (!only_cancel) {
        RUN(four_threads_one_thread_each_match_four_sequential_runs);
        RUN(four_threads_two_threads_each_match_four_sequential_runs);
        RUN(two_wan_threads_match_two_sequential_runs);
    }
    RUN(cancel_from_another_thread_mid_chunk_stops_and_frees);
    RUN(cancel_of_a_wan_generator_mid_chunk_stops_and_frees);
    st2v_model_free(tiny);
    st2v_model_free(wan);
    if (!tiny || !wan)
        tu_failed++;
    return tu_summary();
}
