/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_gst_st2vsrc.c - the GStreamer element st2vsrc (gst-st2v/) under
 * gst-check: caps and frame sizes, the frames against libst2v's own,
 * timestamps and queries, determinism, prompt changes while PLAYING,
 * seeking, errors at READY->PAUSED, interruption, live mode, progress
 * messages, state cycles (valgrind: make check-valgrind), two sources;
 * and the tiny Wan2.1 folder (wan_*): its frames against libst2v's, a
 * prompt change, a size not divisible by 16, a missing or cut file.
 *
 * The element is compiled into this program and registered statically, so
 * no registry entry is needed; the tiny test model stands in for the
 * default one. Each test runs in its own process (check's fork mode);
 * GST_CHECKS=name runs one. The last line is "N passed, N failed".
 */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>

#include "gstst2vsrc.h"

#define PROMPT "a red ball moving right"
#define SEED 7
/* The tiny runnable Wan2.1 folder (official layout): sides divisible by
 * 16, 16 fps, a first window of 81 frames, then chunks of 76; its native
 * size is 832x480, so its tests always set a size, and 2 steps. */
#define WAN "wan/tiny"
#define WAN_STEPS 2
#define WAN_WINDOW 81

static const gchar *
fixture (const gchar * name)
{
  static gchar path[4096];
  const gchar *dir = g_getenv ("ST2V_FIXTURES");

  g_snprintf (path, sizeof (path), "%s/%s", dir && *dir ? dir :
      "tests/fixtures", name);
  return path;
}

/* ================================================================ helpers */

/* A harness around st2vsrc on a model of the fixtures (steps 0: the
 * model's default), with downstream caps. */
static GstHarness *
model_harness (const gchar * model, gint steps, const gchar * caps)
{
  GstHarness *h = gst_harness_new_with_padnames ("st2vsrc", NULL, "src");

  g_object_set (h->element, "model", fixture (model), "steps", steps,
      "prompt", PROMPT, "seed", (gint64) SEED, "threads", 1, NULL);
  if (caps)
    gst_harness_set_sink_caps_str (h, caps);
  return h;
}

/* A harness around st2vsrc on the tiny model, with downstream caps. */
static GstHarness *
tiny_harness (const gchar * caps)
{
  return model_harness ("tiny.safetensors", 0, caps);
}

/* Pull n buffers (the harness owns none of them afterwards). */
static GstBuffer **
pull_n (GstHarness * h, gint n)
{
  GstBuffer **bufs = g_new0 (GstBuffer *, n);

  for (gint i = 0; i < n; i++) {
    bufs[i] = gst_harness_pull (h);
    fail_unless (bufs[i] != NULL, "no buffer %d", i);
  }
  return bufs;
}

static void
free_n (GstBuffer ** bufs, gint n)
{
  for (gint i = 0; i < n; i++)
    gst_clear_buffer (&bufs[i]);
  g_free (bufs);
}

static gboolean
same_bytes (GstBuffer * a, GstBuffer * b)
{
  GstMapInfo ma, mb;
  gboolean same;

  fail_unless (gst_buffer_map (a, &ma, GST_MAP_READ));
  fail_unless (gst_buffer_map (b, &mb, GST_MAP_READ));
  same = ma.size == mb.size && memcmp (ma.data, mb.data, ma.size) == 0;
  gst_buffer_unmap (a, &ma);
  gst_buffer_unmap (b, &mb);
  return same;
}

/* libst2v's own frames for model_harness (model, steps) with the model
 * loaded in compute dtype dtype: n RGB24 frames of w x h at fps/1, prompt
 * as the model gets it. */
static guint8 *
model_frames_in (const gchar * model_name, gint steps, st2v_dtype dtype,
    const gchar * prompt, gint w, gint h, gint fps, gint n)
{
  st2v_model *model = NULL;
  st2v_generator *gen = NULL;
  st2v_model_params mp = st2v_model_default_params ();
  st2v_params p = st2v_default_params ();
  gsize size = (gsize) w * h * 3;
  guint8 *rgb = g_malloc (size * n);
  gchar err[512];

  mp.compute_dtype = dtype;
  fail_unless (st2v_model_load_with_params (&model, fixture (model_name),
          &mp, err, sizeof (err)) == 0, "%s", err);
  p.prompt = prompt;
  p.seed = SEED;
  p.steps = steps;
  p.width = w;
  p.height = h;
  p.fps_num = fps;
  p.fps_den = 1;
  p.frames = -1;
  p.threads = 1;
  fail_unless (st2v_generator_new (&gen, model, &p, err, sizeof (err)) == 0,
      "%s", err);
  for (gint i = 0; i < n; i++)
    fail_unless (st2v_generator_next_frame (gen, rgb + i * size, w * 3,
            NULL) == 0);
  st2v_generator_free (gen);
  st2v_model_free (model);
  return rgb;
}

/* The same in the default compute dtype (f32). */
static guint8 *
model_frames (const gchar * model_name, gint steps, const gchar * prompt,
    gint w, gint h, gint fps, gint n)
{
  return model_frames_in (model_name, steps, ST2V_DTYPE_F32, prompt, w, h,
      fps, n);
}

/* libst2v's own frames for tiny_harness. */
static guint8 *
reference_frames (const gchar * prompt, gint w, gint h, gint fps, gint n)
{
  return model_frames ("tiny.safetensors", 0, prompt, w, h, fps, n);
}

/* A pipeline from a description; fails the test when it does not parse. */
static GstElement *
pipeline (const gchar * description)
{
  GError *error = NULL;
  GstElement *p = gst_parse_launch (description, &error);

  fail_unless (p != NULL && error == NULL, "%s: %s", description,
      error ? error->message : "?");
  return p;
}

/* Buffers that reach a fakesink (signal-handoffs=true), collected. */
typedef struct
{
  GMutex lock;
  GPtrArray *bufs;
} Collect;

static void
on_handoff (GstElement * sink, GstBuffer * buf, GstPad * pad, Collect * c)
{
  (void) sink;
  (void) pad;
  g_mutex_lock (&c->lock);
  g_ptr_array_add (c->bufs, gst_buffer_ref (buf));
  g_mutex_unlock (&c->lock);
}

static Collect *
collect (GstElement * pipe, const gchar * sink_name)
{
  Collect *c = g_new0 (Collect, 1);
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipe), sink_name);

  fail_unless (sink != NULL);
  g_mutex_init (&c->lock);
  c->bufs = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_buffer_unref);
  g_signal_connect (sink, "handoff", G_CALLBACK (on_handoff), c);
  gst_object_unref (sink);
  return c;
}

static guint
collected (Collect * c)
{
  guint n;

  g_mutex_lock (&c->lock);
  n = c->bufs->len;
  g_mutex_unlock (&c->lock);
  return n;
}

static void
collect_free (Collect * c)
{
  g_ptr_array_unref (c->bufs);
  g_mutex_clear (&c->lock);
  g_free (c);
}

/* Wait up to timeout for a message of the types; NULL if none came. */
static GstMessage *
wait_message (GstElement * pipe, GstMessageType types, GstClockTime timeout)
{
  GstBus *bus = gst_element_get_bus (pipe);
  GstMessage *m = gst_bus_timed_pop_filtered (bus, timeout, types);

  gst_object_unref (bus);
  return m;
}

/* Run a pipeline to EOS (fails on an error or a timeout). */
static void
run_to_eos (GstElement * pipe)
{
  GstMessage *m;

  gst_element_set_state (pipe, GST_STATE_PLAYING);
  m = wait_message (pipe, GST_MESSAGE_EOS | GST_MESSAGE_ERROR,
      60 * GST_SECOND);
  fail_unless (m != NULL, "no EOS within 60 s");
  if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR) {
    GError *err;
    gchar *dbg;

    gst_message_parse_error (m, &err, &dbg);
    fail ("error: %s (%s)", err->message, dbg);
  }
  gst_message_unref (m);
}

/* Bring a pipeline to PAUSED; expect failure with an error message
 * matching want; returns the error's message. */
static void
expect_start_error (const gchar * description, GQuark domain, gint code,
    const gchar * want)
{
  GstElement *pipe = pipeline (description);
  GstStateChangeReturn ret;
  GstMessage *m;
  GError *err = NULL;
  gchar *dbg = NULL;

  ret = gst_element_set_state (pipe, GST_STATE_PAUSED);
  if (ret == GST_STATE_CHANGE_ASYNC)
    ret = gst_element_get_state (pipe, NULL, NULL, 30 * GST_SECOND);
  fail_unless_equals_int (ret, GST_STATE_CHANGE_FAILURE);
  m = wait_message (pipe, GST_MESSAGE_ERROR, 0);
  fail_unless (m != NULL, "no error message for %s", description);
  gst_message_parse_error (m, &err, &dbg);
  GST_INFO ("error: %s (%s)", err->message, dbg);
  fail_unless (strstr (err->message, want) != NULL,
      "'%s' does not say '%s'", err->message, want);
  if (domain)
    fail_unless (g_error_matches (err, domain, code),
        "error %s:%d, expected %s:%d", g_quark_to_string (err->domain),
        err->code, g_quark_to_string (domain), code);
  g_error_free (err);
  g_free (dbg);
  gst_message_unref (m);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (pipe);
}

static gchar *
tiny_src (const gchar * extra)
{
  return g_strdup_printf ("st2vsrc name=src model=\"%s\" prompt=\"" PROMPT
      "\" seed=%d threads=1 %s", fixture ("tiny.safetensors"), SEED,
      extra ? extra : "");
}

/* ================================================================ properties */

GST_START_TEST (properties_have_their_documented_defaults_and_ranges)
{
  GstElement *e = gst_element_factory_make ("st2vsrc", NULL);
  GObjectClass *k = G_OBJECT_GET_CLASS (e);
  gchar *prompt, *negative, *model, *image;
  gint64 seed;
  gint steps, threads, sampler;
  gfloat guidance, shift;
  gboolean live, alpha;
  guint queue;
  GParamSpecInt *ps;

  fail_unless (e != NULL);
  g_object_get (e, "prompt", &prompt, "negative-prompt", &negative,
      "seed", &seed, "steps", &steps, "guidance", &guidance, "sampler",
      &sampler, "shift", &shift, "model", &model, "threads", &threads,
      "is-live", &live, "image", &image, "alpha", &alpha, "queue-size",
      &queue, NULL);
  fail_unless (prompt == NULL && model == NULL && image == NULL);
  fail_unless_equals_string (negative, "");
  fail_unless (seed == -1 && steps == 0 && guidance == -1.0f && shift == 0);
  fail_unless (sampler == ST2V_SAMPLER_DEFAULT && threads == 0);
  fail_unless (!live && !alpha && queue == 32);
  ps = G_PARAM_SPEC_INT (g_object_class_find_property (k, "steps"));
  fail_unless (ps->minimum == 0 && ps->maximum == 1000);
  fail_unless (g_object_class_find_property (k, "prompt")->flags &
      GST_PARAM_MUTABLE_PLAYING);
  fail_unless (g_object_class_find_property (k, "guidance")->flags &
      GST_PARAM_MUTABLE_PLAYING);
  fail_unless (g_object_class_find_property (k, "model")->flags &
      GST_PARAM_MUTABLE_READY);
  fail_unless_equals_string (gst_element_class_get_metadata
      (GST_ELEMENT_GET_CLASS (e), GST_ELEMENT_METADATA_KLASS), "Source/Video");
  g_free (negative);
  gst_object_unref (e);
}

GST_END_TEST;

/* ================================================================ caps */

GST_START_TEST (every_caps_format_negotiates_and_gives_the_right_frame_size)
{
  static const gchar *formats[] = { "RGB", "RGBA", "BGRx", "I420", "NV12" };
  /* native, scaled, and rows of 3 * 34 bytes (not a multiple of 4) */
  static const gint sizes[][2] = { {32, 32}, {48, 32}, {34, 26}, {100, 60} };

  for (guint f = 0; f < G_N_ELEMENTS (formats); f++) {
    for (guint s = 0; s < G_N_ELEMENTS (sizes); s++) {
      gchar *caps = g_strdup_printf ("video/x-raw,format=%s,width=%d,"
          "height=%d,framerate=25/1", formats[f], sizes[s][0], sizes[s][1]);
      GstHarness *h = tiny_harness (caps);
      GstBuffer *buf;
      GstCaps *got;
      GstVideoInfo info;

      gst_harness_play (h);
      buf = gst_harness_pull (h);
      fail_unless (buf != NULL, "%s: no buffer", caps);
      got = gst_pad_get_current_caps (h->sinkpad);
      fail_unless (got && gst_video_info_from_caps (&info, got));
      fail_unless_equals_string (gst_video_format_to_string
          (GST_VIDEO_INFO_FORMAT (&info)), formats[f]);
      fail_unless_equals_int (info.width, sizes[s][0]);
      fail_unless_equals_int (info.height, sizes[s][1]);
      fail_unless_equals_int (info.fps_n, 25);
      fail_unless_equals_int (gst_buffer_get_size (buf), info.size);
      gst_caps_unref (got);
      gst_buffer_unref (buf);
      gst_harness_teardown (h);
      g_free (caps);
    }
  }
}

GST_END_TEST;

GST_START_TEST (a_downstream_that_does_not_care_gets_the_native_size_and_rate)
{
  GstHarness *h = tiny_harness ("video/x-raw");
  GstBuffer *buf;
  GstCaps *got;
  GstVideoInfo info;

  gst_harness_play (h);
  buf = gst_harness_pull (h);
  got = gst_pad_get_current_caps (h->sinkpad);
  fail_unless (gst_video_info_from_caps (&info, got));
  /* the tiny model: 32x32 (its first native size) at 16 fps */
  fail_unless_equals_int (info.width, 32);
  fail_unless_equals_int (info.height, 32);
  fail_unless_equals_int (info.fps_n, 16);
  fail_unless_equals_int (info.fps_d, 1);
  fail_unless_equals_int (GST_VIDEO_INFO_FORMAT (&info),
      GST_VIDEO_FORMAT_RGB);
  gst_caps_unref (got);
  gst_buffer_unref (buf);
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (rgb_buffers_are_exactly_libst2v_frames)
{
  GstHarness *h = tiny_harness ("video/x-raw,format=RGB,width=48,height=32,"
      "framerate=16/1");
  const gint n = 20;            /* the first chunk (16 frames) and more */
  guint8 *want = reference_frames (PROMPT, 48, 32, 16, n);
  GstBuffer **bufs;

  gst_harness_play (h);
  bufs = pull_n (h, n);
  for (gint i = 0; i < n; i++)
    fail_unless (gst_buffer_memcmp (bufs[i], 0, want + i * 48 * 32 * 3,
            48 * 32 * 3) == 0, "frame %d differs from libst2v's", i);
  free_n (bufs, n);
  g_free (want);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* dtype (issue 21) loads the model in that compute dtype: with bf16 the
 * buffers are libst2v's bf16 frames (on a CPU with AVX512-BF16 not its f32
 * ones); it changes only in NULL or READY. */
GST_START_TEST (dtype_bf16_gives_libst2v_bf16_frames_and_is_fixed_once_started)
{
  GstHarness *h = tiny_harness ("video/x-raw,format=RGB,width=48,height=32,"
      "framerate=16/1");
  const gint n = 20;
  const gsize size = 48 * 32 * 3;
  guint8 *want = model_frames_in ("tiny.safetensors", 0, ST2V_DTYPE_BF16,
      PROMPT, 48, 32, 16, n);
  guint8 *f32 = reference_frames (PROMPT, 48, 32, 16, n);
  const gchar *cpu = g_getenv ("ST2V_CPU");
  GstBuffer **bufs;
  gint dtype = -1;

  g_object_get (h->element, "dtype", &dtype, NULL);
  fail_unless_equals_int (dtype, ST2V_DTYPE_F32);
  fail_unless (G_PARAM_SPEC_VALUE_TYPE (g_object_class_find_property
          (G_OBJECT_GET_CLASS (h->element), "dtype")) == GST_TYPE_ST2V_DTYPE);
  g_object_set (h->element, "dtype", ST2V_DTYPE_BF16, NULL);
  gst_harness_play (h);
  bufs = pull_n (h, n);
  for (gint i = 0; i < n; i++)
    fail_unless (gst_buffer_memcmp (bufs[i], 0, want + i * size, size) == 0,
        "frame %d differs from libst2v's bf16 frame", i);
  if (__builtin_cpu_supports ("avx512bf16") && (!cpu || !*cpu ||
          strcmp (cpu, "avx512bf16") == 0))
    fail_unless (memcmp (want, f32, size * n) != 0,
        "AVX512-BF16: bf16 frames equal to f32's");
  /* while PLAYING: ignored, the model keeps its dtype */
  g_object_set (h->element, "dtype", ST2V_DTYPE_F32, NULL);
  g_object_get (h->element, "dtype", &dtype, NULL);
  fail_unless_equals_int (dtype, ST2V_DTYPE_BF16);
  free_n (bufs, n);
  g_free (want);
  g_free (f32);
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (wan_rgb_buffers_are_exactly_libst2v_frames)
{
  /* the first window (81 frames) and 4 frames of the next chunk */
  GstHarness *h = model_harness (WAN, WAN_STEPS,
      "video/x-raw,format=RGB,width=48,height=32,framerate=16/1");
  const gint n = WAN_WINDOW + 4;
  guint8 *want = model_frames (WAN, WAN_STEPS, PROMPT, 48, 32, 16, n);
  GstBuffer **bufs;

  gst_harness_play (h);
  bufs = pull_n (h, n);
  for (gint i = 0; i < n; i++) {
    fail_unless_equals_int (gst_buffer_get_size (bufs[i]), 48 * 32 * 3);
    fail_unless (gst_buffer_memcmp (bufs[i], 0, want + i * 48 * 32 * 3,
            48 * 32 * 3) == 0, "frame %d differs from libst2v's", i);
  }
  free_n (bufs, n);
  g_free (want);
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (rgba_and_bgrx_are_the_same_picture_and_opaque)
{
  static const gint sizes[][2] = { {32, 32}, {34, 26} };

  for (guint s = 0; s < G_N_ELEMENTS (sizes); s++) {
    for (gint bgr = 0; bgr < 2; bgr++) {
      gint w = sizes[s][0], hh = sizes[s][1];
      gchar *caps = g_strdup_printf ("video/x-raw,format=%s,width=%d,"
          "height=%d,framerate=16/1", bgr ? "BGRx" : "RGBA", w, hh);
      GstHarness *h = tiny_harness (caps);
      guint8 *want = reference_frames (PROMPT, w, hh, 16, 1);
      GstBuffer *buf;
      GstMapInfo map;

      gst_harness_play (h);
      buf = gst_harness_pull (h);
      fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
      for (gint i = 0; i < w * hh; i++) {
        const guint8 *p = map.data + 4 * i, *q = want + 3 * i;

        fail_unless (p[bgr ? 2 : 0] == q[0] && p[1] == q[1] &&
            p[bgr ? 0 : 2] == q[2], "%s: pixel %d", caps, i);
        if (!bgr)
          fail_unless_equals_int (p[3], 255);
      }
      gst_buffer_unmap (buf, &map);
      gst_buffer_unref (buf);
      g_free (want);
      gst_harness_teardown (h);
      g_free (caps);
    }
  }
}

GST_END_TEST;

GST_START_TEST (alpha_gives_rgba_keyed_from_a_green_screen_prompt)
{
  GstHarness *h = tiny_harness ("video/x-raw,width=32,height=32,"
      "framerate=16/1");
  const gint n = 20, w = 32, hh = 32;
  guint8 *rgb = reference_frames (PROMPT ", on a green screen", w, hh, 16, n);
  guint8 *rgba = g_malloc (w * hh * 4);
  GstCaps *caps, *want;
  GstVideoInfo info;
  GstBuffer **bufs;
  st2v_key key;

  g_object_set (h->element, "alpha", TRUE, NULL);
  caps = gst_pad_query_caps (GST_BASE_SRC_PAD (h->element), NULL);
  want = gst_caps_from_string ("video/x-raw,format=RGBA,width=[16,8192],"
      "height=[16,8192],framerate=[0/1,1000/1]");
  fail_unless (gst_caps_is_equal (caps, want), "%" GST_PTR_FORMAT, caps);
  gst_caps_unref (caps);
  gst_caps_unref (want);

  gst_harness_play (h);
  bufs = pull_n (h, n);
  caps = gst_pad_get_current_caps (h->sinkpad);
  fail_unless (gst_video_info_from_caps (&info, caps));
  fail_unless_equals_int (GST_VIDEO_INFO_FORMAT (&info),
      GST_VIDEO_FORMAT_RGBA);
  gst_caps_unref (caps);
  /* the keyer measures the screen at each chunk's first frame: 0 and 16 */
  st2v_key_init (&key);
  for (gint i = 0; i < n; i++) {
    const guint8 *f = rgb + (gsize) i * w * hh * 3;

    if (i == 0 || i == 16)
      st2v_key_measure (&key, f, w * 3, w, hh);
    st2v_key_frame (rgba, w * 4, f, w * 3, w, hh, &key);
    fail_unless (gst_buffer_memcmp (bufs[i], 0, rgba, w * hh * 4) == 0,
        "frame %d is not libst2v's keyed frame", i);
  }
  free_n (bufs, n);
  g_free (rgb);
  g_free (rgba);
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (a_framerate_of_zero_or_an_odd_size_is_refused_clearly)
{
  gchar *src = tiny_src (NULL);
  gchar *d = g_strdup_printf ("%s ! video/x-raw,framerate=0/1 ! fakesink",
      src);
  GstElement *pipe = pipeline (d);
  GstMessage *m;
  GError *err;

  gst_element_set_state (pipe, GST_STATE_PLAYING);
  m = wait_message (pipe, GST_MESSAGE_ERROR, 30 * GST_SECOND);
  fail_unless (m != NULL);
  gst_message_parse_error (m, &err, NULL);
  fail_unless (strstr (err->message, "needs a frame rate") != NULL, "%s",
      err->message);
  fail_unless (g_error_matches (err, GST_CORE_ERROR,
          GST_CORE_ERROR_NEGOTIATION));
  g_error_free (err);
  gst_message_unref (m);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (pipe);
  g_free (d);

  d = g_strdup_printf ("%s ! video/x-raw,width=33,height=32 ! fakesink", src);
  pipe = pipeline (d);
  gst_element_set_state (pipe, GST_STATE_PLAYING);
  m = wait_message (pipe, GST_MESSAGE_ERROR, 30 * GST_SECOND);
  fail_unless (m != NULL);
  gst_message_parse_error (m, &err, NULL);
  fail_unless (strstr (err->message, "Invalid size 33x32") != NULL, "%s",
      err->message);
  g_error_free (err);
  gst_message_unref (m);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (pipe);
  g_free (d);

  /* issue 23: odd in I420, whose chroma planes halve each side */
  d = g_strdup_printf ("%s ! video/x-raw,format=I420,width=33,height=31 ! "
      "fakesink", src);
  pipe = pipeline (d);
  gst_element_set_state (pipe, GST_STATE_PLAYING);
  m = wait_message (pipe, GST_MESSAGE_ERROR, 30 * GST_SECOND);
  fail_unless (m != NULL);
  gst_message_parse_error (m, &err, NULL);
  fail_unless (strstr (err->message, "Invalid size 33x31") != NULL, "%s",
      err->message);
  g_error_free (err);
  gst_message_unref (m);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (pipe);
  g_free (d);
  g_free (src);
}

GST_END_TEST;

GST_START_TEST (wan_a_size_not_divisible_by_16_is_refused_naming_16)
{
  /* 40x32 is even (the element's own check passes): the model refuses */
  gchar *d = g_strdup_printf ("st2vsrc model=\"%s\" prompt=sea steps=%d "
      "! video/x-raw,width=40,height=32 ! fakesink", fixture (WAN),
      WAN_STEPS);
  GstElement *pipe = pipeline (d);
  GstMessage *m;
  GError *err;

  gst_element_set_state (pipe, GST_STATE_PLAYING);
  m = wait_message (pipe, GST_MESSAGE_ERROR, 30 * GST_SECOND);
  fail_unless (m != NULL);
  gst_message_parse_error (m, &err, NULL);
  fail_unless (strstr (err->message, "40x32") != NULL &&
      strstr (err->message, "divisible by 16") != NULL &&
      strchr (err->message, '\n') == NULL, "%s", err->message);
  g_error_free (err);
  gst_message_unref (m);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (pipe);
  g_free (d);
}

GST_END_TEST;

/* ================================================================ time */

GST_START_TEST (timestamps_durations_and_offsets_follow_num_buffers)
{
  GstHarness *h = tiny_harness ("video/x-raw,width=32,height=32,"
      "framerate=30000/1001");
  const gint n = 20;
  GstBuffer *buf = NULL;
  gint64 dur;
  gint count = 0;

  g_object_set (h->element, "num-buffers", n, NULL);
  gst_harness_play (h);
  while (gst_harness_pull_until_eos (h, &buf) && buf) {
    GstClockTime pts = gst_util_uint64_scale (count, 1001 * GST_SECOND,
        30000);
    GstClockTime next = gst_util_uint64_scale (count + 1, 1001 * GST_SECOND,
        30000);

    fail_unless_equals_uint64 (GST_BUFFER_PTS (buf), pts);
    fail_unless_equals_uint64 (GST_BUFFER_DURATION (buf), next - pts);
    fail_unless_equals_uint64 (GST_BUFFER_OFFSET (buf), count);
    fail_unless_equals_uint64 (GST_BUFFER_OFFSET_END (buf), count + 1);
    gst_buffer_unref (buf);
    buf = NULL;
    count++;
  }
  fail_unless_equals_int (count, n);

  fail_unless (gst_element_query_duration (h->element, GST_FORMAT_TIME,
          &dur));
  fail_unless_equals_int64 (dur,
      gst_util_uint64_scale_int_round (n * GST_SECOND, 1001, 30000));
  fail_unless (gst_element_query_duration (h->element, GST_FORMAT_DEFAULT,
          &dur));
  fail_unless_equals_int64 (dur, n);
  gst_harness_teardown (h);

  /* endless: unknown */
  h = tiny_harness (NULL);
  gst_harness_play (h);
  gst_buffer_unref (gst_harness_pull (h));
  fail_unless (gst_element_query_duration (h->element, GST_FORMAT_TIME,
          &dur));
  fail_unless_equals_int64 (dur, -1);
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (the_same_seed_gives_the_same_buffers_in_two_harnesses)
{
  const gchar *caps = "video/x-raw,format=I420,width=48,height=32,"
      "framerate=16/1";
  const gint n = 24;
  GstHarness *a = tiny_harness (caps), *b = tiny_harness (caps);
  GstHarness *c = tiny_harness (caps);
  GstBuffer **ba, **bb, **bc;
  gint differ = 0;

  g_object_set (b->element, "threads", 2, NULL);
  g_object_set (c->element, "seed", (gint64) SEED + 1, NULL);
  gst_harness_play (a);
  gst_harness_play (b);
  gst_harness_play (c);
  ba = pull_n (a, n);
  bb = pull_n (b, n);
  bc = pull_n (c, n);
  for (gint i = 0; i < n; i++) {
    fail_unless (same_bytes (ba[i], bb[i]), "frame %d differs", i);
    differ += !same_bytes (ba[i], bc[i]);
  }
  fail_unless_equals_int (differ, n);
  free_n (ba, n);
  free_n (bb, n);
  free_n (bc, n);
  gst_harness_teardown (a);
  gst_harness_teardown (b);
  gst_harness_teardown (c);
}

GST_END_TEST;

/* ================================================================ changes */

typedef struct
{
  const gchar *property;
  GValue value;
  guint64 at;                   /* set it after the buffer with this offset */
} Change;

static GstPadProbeReturn
change_after (GstPad * pad, GstPadProbeInfo * info, Change * ch)
{
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);

  if (GST_BUFFER_OFFSET (buf) == ch->at)
    g_object_set_property (G_OBJECT (GST_PAD_PARENT (pad)), ch->property,
        &ch->value);
  return GST_PAD_PROBE_OK;
}

/* On model_harness (model, steps, caps): the frames of the first chunk
 * (first of them) stay; the n - first later ones follow the change.
 * Returns how many of them changed. */
static gint
check_change_shows_from_the_next_chunk_of (const gchar * model, gint steps,
    const gchar * caps, gint first, gint n, const gchar * property,
    const GValue * value)
{
  GstHarness *ref = model_harness (model, steps, caps);
  GstHarness *h = model_harness (model, steps, caps);
  Change ch = { property, G_VALUE_INIT, 4 };
  GstBuffer **a, **b;
  gint differ = 0;

  g_value_init (&ch.value, G_VALUE_TYPE (value));
  g_value_copy (value, &ch.value);
  gst_pad_add_probe (GST_BASE_SRC_PAD (h->element), GST_PAD_PROBE_TYPE_BUFFER,
      (GstPadProbeCallback) change_after, &ch, NULL);
  gst_harness_play (ref);
  gst_harness_play (h);
  fail_unless_equals_int (GST_STATE (h->element), GST_STATE_PLAYING);
  a = pull_n (ref, n);
  b = pull_n (h, n);
  for (gint i = 0; i < first; i++)
    fail_unless (same_bytes (a[i], b[i]), "%s: frame %d of the chunk "
        "playing changed", property, i);
  for (gint i = first; i < n; i++)
    differ += !same_bytes (a[i], b[i]);
  fail_unless (differ > 0, "%s: the frames after the chunk did not change",
      property);
  GST_INFO ("%s: %d of %d later frames changed", property, differ, n - first);
  free_n (a, n);
  free_n (b, n);
  g_value_unset (&ch.value);
  gst_harness_teardown (ref);
  gst_harness_teardown (h);
  return differ;
}

/* Frames of the tiny model's first chunk (16) stay; later ones follow. */
static void
check_change_shows_from_the_next_chunk (const gchar * property,
    const GValue * value)
{
  check_change_shows_from_the_next_chunk_of ("tiny.safetensors", 0,
      "video/x-raw,width=32,height=32,framerate=16/1", 16, 40, property,
      value);
}

GST_START_TEST (a_prompt_change_while_playing_changes_later_buffers_only)
{
  GValue v = G_VALUE_INIT;

  g_value_init (&v, G_TYPE_STRING);
  g_value_set_string (&v, "snow falling at night");
  check_change_shows_from_the_next_chunk ("prompt", &v);
  g_value_unset (&v);
}

GST_END_TEST;

GST_START_TEST (a_guidance_change_while_playing_changes_later_buffers_only)
{
  GValue v = G_VALUE_INIT;

  g_value_init (&v, G_TYPE_FLOAT);
  g_value_set_float (&v, 9.0f);
  check_change_shows_from_the_next_chunk ("guidance", &v);
  g_value_unset (&v);
}

GST_END_TEST;

GST_START_TEST (wan_a_prompt_change_while_playing_changes_the_next_chunk)
{
  /* set after buffer 4: the first window (81 frames) stays, every frame
   * of the next chunk (76 frames; 15 of them here) changes */
  GValue v = G_VALUE_INIT;
  const gint n = WAN_WINDOW + 15;

  g_value_init (&v, G_TYPE_STRING);
  g_value_set_string (&v, "snow falling at night");
  fail_unless_equals_int (check_change_shows_from_the_next_chunk_of (WAN,
          WAN_STEPS, "video/x-raw,width=48,height=32,framerate=16/1",
          WAN_WINDOW, n, "prompt", &v), n - WAN_WINDOW);
  g_value_unset (&v);
}

GST_END_TEST;

GST_START_TEST (an_empty_prompt_while_playing_is_ignored_with_a_warning)
{
  gchar *src = tiny_src (NULL);
  gchar *d = g_strdup_printf ("%s ! fakesink", src);
  GstElement *pipe = pipeline (d);
  GstElement *e = gst_bin_get_by_name (GST_BIN (pipe), "src");
  GstMessage *m;
  gchar *prompt;

  fail_unless (gst_element_set_state (pipe, GST_STATE_PAUSED) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless (gst_element_get_state (pipe, NULL, NULL, 30 * GST_SECOND) ==
      GST_STATE_CHANGE_SUCCESS);
  g_object_set (e, "prompt", "  ", NULL);
  m = wait_message (pipe, GST_MESSAGE_WARNING, GST_SECOND);
  fail_unless (m != NULL, "no warning");
  gst_message_unref (m);
  g_object_get (e, "prompt", &prompt, NULL);
  fail_unless_equals_string (prompt, PROMPT);
  g_free (prompt);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (e);
  gst_object_unref (pipe);
  g_free (d);
  g_free (src);
}

GST_END_TEST;

/* ================================================================ seeking */

static void
seek_frames (GstElement * pipe, gint from, gint to)
{
  fail_unless (gst_element_seek (pipe, 1.0, GST_FORMAT_TIME,
          GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_ACCURATE, GST_SEEK_TYPE_SET,
          gst_util_uint64_scale (from, GST_SECOND, 16), GST_SEEK_TYPE_SET,
          gst_util_uint64_scale (to, GST_SECOND, 16)));
}

GST_START_TEST (seeking_back_to_the_start_regenerates_the_same_frames)
{
  gchar *src = tiny_src (NULL);
  gchar *d = g_strdup_printf ("%s ! video/x-raw,width=32,height=32,"
      "framerate=16/1 ! fakesink name=sink sync=false signal-handoffs=true",
      src);
  GstElement *pipe = pipeline (d);
  Collect *c = collect (pipe, "sink");
  GPtrArray *first;
  GstQuery *q;
  gboolean seekable;

  gst_element_set_state (pipe, GST_STATE_PAUSED);
  fail_unless (gst_element_get_state (pipe, NULL, NULL, 30 * GST_SECOND) ==
      GST_STATE_CHANGE_SUCCESS);
  q = gst_query_new_seeking (GST_FORMAT_TIME);
  fail_unless (gst_element_query (pipe, q));
  gst_query_parse_seeking (q, NULL, &seekable, NULL, NULL);
  fail_unless (seekable);
  gst_query_unref (q);

  /* frames 0..27 */
  seek_frames (pipe, 0, 28);
  run_to_eos (pipe);
  fail_unless_equals_int (collected (c), 28);
  first = c->bufs;
  c->bufs = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_buffer_unref);

  /* back to the start: the same 28 frames */
  seek_frames (pipe, 0, 28);
  run_to_eos (pipe);
  fail_unless_equals_int (collected (c), 28);
  for (guint i = 0; i < 28; i++) {
    GstBuffer *a = g_ptr_array_index (first, i), *b =
        g_ptr_array_index (c->bufs, i);
    fail_unless (same_bytes (a, b), "frame %u differs after the seek", i);
    fail_unless_equals_uint64 (GST_BUFFER_PTS (a), GST_BUFFER_PTS (b));
  }
  g_ptr_array_set_size (c->bufs, 0);

  /* into the second chunk: frames 20..23, regenerated up to them */
  seek_frames (pipe, 20, 24);
  run_to_eos (pipe);
  fail_unless_equals_int (collected (c), 4);
  for (guint i = 0; i < 4; i++) {
    GstBuffer *a = g_ptr_array_index (first, 20 + i), *b =
        g_ptr_array_index (c->bufs, i);
    fail_unless (same_bytes (a, b), "frame %u differs after the seek",
        20 + i);
    fail_unless_equals_uint64 (GST_BUFFER_PTS (b), GST_BUFFER_PTS (a));
    fail_unless_equals_uint64 (GST_BUFFER_OFFSET (b), 20 + i);
  }

  gst_element_set_state (pipe, GST_STATE_NULL);
  g_ptr_array_unref (first);
  collect_free (c);
  gst_object_unref (pipe);
  g_free (d);
  g_free (src);
}

GST_END_TEST;

/* ================================================================ errors */

GST_START_TEST (a_missing_model_fails_ready_to_paused_naming_the_file)
{
  gchar *d = g_strdup_printf ("st2vsrc prompt=sea model=%s ! fakesink",
      "/nonexistent/nope.safetensors");

  expect_start_error (d, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND,
      "Cannot load the model '/nonexistent/nope.safetensors'");
  g_free (d);
}

GST_END_TEST;

GST_START_TEST (a_corrupt_or_incompatible_model_fails_ready_to_paused)
{
  gchar *path = g_build_filename (g_get_tmp_dir (), "st2v-corrupt-XXXXXX",
      NULL);
  gint fd = g_mkstemp (path);
  gchar *d;

  fail_unless (fd >= 0);
  fail_unless (write (fd, "not a model", 11) == 11);
  close (fd);
  d = g_strdup_printf ("st2vsrc prompt=sea model=\"%s\" ! fakesink", path);
  expect_start_error (d, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ,
      path);
  g_free (d);
  g_unlink (path);
  g_free (path);

  /* valid safetensors, not a model: golden data */
  d = g_strdup_printf ("st2vsrc prompt=sea model=\"%s\" ! fakesink",
      fixture ("golden_rng.safetensors"));
  expect_start_error (d, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ,
      "Cannot load the model");
  g_free (d);
}

GST_END_TEST;

/* A copy of the tiny Wan2.1 folder in a new temporary folder: links to
 * the fixture's files, but for skip (left out) and cut (a copy of its
 * first cut_to bytes). */
static gchar *
wan_copy (const gchar * skip, const gchar * cut, gsize cut_to)
{
  static const gchar *files[] = { "config.json",
    "diffusion_pytorch_model.safetensors", "Wan2.1_VAE.safetensors",
    "models_t5_umt5-xxl-enc-bf16.safetensors", "google/umt5-xxl/spiece.model"
  };
  gchar *src = g_canonicalize_filename (fixture (WAN), NULL);
  gchar *dir = g_dir_make_tmp ("st2v-wan-XXXXXX", NULL);

  fail_unless (dir != NULL);
  for (guint i = 0; i < G_N_ELEMENTS (files); i++) {
    gchar *from = g_build_filename (src, files[i], NULL);
    gchar *to = g_build_filename (dir, files[i], NULL);
    gchar *parent = g_path_get_dirname (to);

    fail_unless (g_mkdir_with_parents (parent, 0755) == 0);
    if (cut && strcmp (files[i], cut) == 0) {
      gchar *data;
      gsize len;

      fail_unless (g_file_get_contents (from, &data, &len, NULL));
      fail_unless (cut_to < len);
      fail_unless (g_file_set_contents (to, data, cut_to, NULL));
      g_free (data);
    } else if (!skip || strcmp (files[i], skip) != 0) {
      fail_unless (symlink (from, to) == 0, "symlink %s", to);
    }
    g_free (parent);
    g_free (to);
    g_free (from);
  }
  g_free (src);
  return dir;
}

static void
wan_copy_remove (gchar * dir)
{
  gchar *cmd = g_strdup_printf ("rm -rf '%s'", dir);

  fail_unless (system (cmd) == 0);
  g_free (cmd);
  g_free (dir);
}

GST_START_TEST (wan_a_folder_missing_a_file_or_cut_short_fails_ready_to_paused)
{
  gchar *dir = wan_copy ("Wan2.1_VAE.safetensors", NULL, 0);
  gchar *d = g_strdup_printf ("st2vsrc prompt=sea model=\"%s\" ! fakesink",
      dir);

  expect_start_error (d, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ,
      "missing the VAE (Wan2.1_VAE.safetensors");
  g_free (d);
  wan_copy_remove (dir);

  dir = wan_copy (NULL, "diffusion_pytorch_model.safetensors", 20000);
  d = g_strdup_printf ("st2vsrc prompt=sea model=\"%s\" ! fakesink", dir);
  expect_start_error (d, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ,
      "diffusion_pytorch_model.safetensors: tensor");
  g_free (d);
  wan_copy_remove (dir);
}

GST_END_TEST;

GST_START_TEST (an_empty_prompt_fails_ready_to_paused)
{
  gchar *d = g_strdup_printf ("st2vsrc model=\"%s\" ! fakesink",
      fixture ("tiny.safetensors"));

  expect_start_error (d, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
      "prompt is empty");
  g_free (d);
  d = g_strdup_printf ("st2vsrc model=\"%s\" prompt=\"  \" ! fakesink",
      fixture ("tiny.safetensors"));
  expect_start_error (d, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
      "prompt is empty");
  g_free (d);
}

GST_END_TEST;

/* A prompt property set to value (as an application can: gst-launch-1.0
 * refuses invalid UTF-8 itself) fails READY->PAUSED with an error saying
 * want. */
static void
expect_prompt_refused (const gchar * prop, const gchar * value,
    const gchar * want)
{
  gchar *src = tiny_src (NULL);
  gchar *d = g_strdup_printf ("%s ! fakesink", src);
  GstElement *pipe = pipeline (d);
  GstElement *e = gst_bin_get_by_name (GST_BIN (pipe), "src");
  GstStateChangeReturn ret;
  GstMessage *m;
  GError *err = NULL;

  g_object_set (e, prop, value, NULL);
  ret = gst_element_set_state (pipe, GST_STATE_PAUSED);
  if (ret == GST_STATE_CHANGE_ASYNC)
    ret = gst_element_get_state (pipe, NULL, NULL, 30 * GST_SECOND);
  fail_unless_equals_int (ret, GST_STATE_CHANGE_FAILURE);
  m = wait_message (pipe, GST_MESSAGE_ERROR, 0);
  fail_unless (m != NULL, "no error message for %s", want);
  gst_message_parse_error (m, &err, NULL);
  fail_unless (strstr (err->message, want) != NULL,
      "'%s' does not say '%s'", err->message, want);
  fail_unless (g_error_matches (err, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_SETTINGS));
  fail_unless (strchr (err->message, '\n') == NULL, "not one line: %s",
      err->message);
  g_error_free (err);
  gst_message_unref (m);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (e);
  gst_object_unref (pipe);
  g_free (d);
  g_free (src);
}

/* issue 23: hostile prompts */
GST_START_TEST (an_invalid_or_huge_prompt_fails_ready_to_paused)
{
  gchar *big = g_strnfill (100000, 'a');

  expect_prompt_refused ("prompt", "a red \xff ball",
      "Invalid prompt: prompt is not valid UTF-8");
  expect_prompt_refused ("prompt", "a red \x01 ball",
      "Invalid prompt: prompt holds the control character U+0001");
  expect_prompt_refused ("prompt", big,
      "Invalid prompt: prompt is 100000 bytes long");
  expect_prompt_refused ("negative-prompt", "blurry\x1b[31m",
      "Invalid prompt: negative prompt holds the control character U+001B");
  g_free (big);
}

GST_END_TEST;

GST_START_TEST (an_invalid_or_huge_prompt_while_playing_is_ignored_with_a_warning)
{
  gchar *src = tiny_src (NULL);
  gchar *d = g_strdup_printf ("%s ! fakesink", src);
  GstElement *pipe = pipeline (d);
  GstElement *e = gst_bin_get_by_name (GST_BIN (pipe), "src");
  gchar *big = g_strnfill (1 << 20, 'a');
  const gchar *bad[] = { "a\xc0\xaf", "a\x7f", big };
  GstMessage *m;
  GError *err;
  gchar *prompt;

  fail_unless (gst_element_set_state (pipe, GST_STATE_PAUSED) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless (gst_element_get_state (pipe, NULL, NULL, 30 * GST_SECOND) ==
      GST_STATE_CHANGE_SUCCESS);
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_object_set (e, "prompt", bad[i], NULL);
    m = wait_message (pipe, GST_MESSAGE_WARNING, GST_SECOND);
    fail_unless (m != NULL, "no warning for prompt %u", i);
    gst_message_parse_warning (m, &err, NULL);
    fail_unless (strstr (err->message, "Ignoring the prompt: prompt ") != NULL,
        "%s", err->message);
    g_error_free (err);
    gst_message_unref (m);
    g_object_get (e, "prompt", &prompt, NULL);
    fail_unless_equals_string (prompt, PROMPT);
    g_free (prompt);
  }
  g_object_set (e, "negative-prompt", "x\xff", NULL);
  m = wait_message (pipe, GST_MESSAGE_WARNING, GST_SECOND);
  fail_unless (m != NULL, "no warning for the negative prompt");
  gst_message_unref (m);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (e);
  gst_object_unref (pipe);
  g_free (big);
  g_free (d);
  g_free (src);
}

GST_END_TEST;

GST_START_TEST (a_bad_image_or_guidance_fails_ready_to_paused)
{
  gchar *src = tiny_src ("image=/nonexistent/start.png");
  gchar *d = g_strdup_printf ("%s ! fakesink", src);

  expect_start_error (d, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ,
      "Cannot read the image '/nonexistent/start.png'");
  g_free (d);
  g_free (src);
  src = tiny_src ("guidance=-0.5");
  d = g_strdup_printf ("%s ! fakesink", src);
  expect_start_error (d, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
      "Invalid guidance");
  g_free (d);
  g_free (src);
}

GST_END_TEST;

/* A numeric property out of its range or NaN (issue 23's hostile inputs):
 * GObject hands it on (st2vparam.c), the element keeps it as the reason
 * and READY->PAUSED fails with it; a good value set afterwards clears it,
 * and the value read back is the last good one. */
GST_START_TEST (an_out_of_range_or_nan_setting_fails_ready_to_paused)
{
  const struct
  {
    const gchar *prop;
    const gchar *want;
  } bad[] = {
    {"steps=100000000", "Invalid setting: steps 100000000 is out of range 0 "
          "to 1000"},
    {"guidance=nan", "Invalid setting: guidance nan is not a number"},
    {"guidance=-3", "Invalid setting: guidance -3 is out of range -1 to 100"},
    {"shift=101", "Invalid setting: shift 101 is out of range 0 to 100"},
    {"threads=-1", "Invalid setting: threads -1 is out of range 0 to 256"},
    {"queue-size=0", "Invalid setting: queue-size 0 is out of range 1 to "
          "1024"},
    {"seed=-2", "Invalid setting: seed -2 is out of range -1 to "},
  };
  GstElement *e;
  GstHarness *h;
  gint steps;
  gfloat guidance;

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    gchar *src = tiny_src (bad[i].prop);
    gchar *d = g_strdup_printf ("%s ! fakesink", src);

    expect_start_error (d, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
        bad[i].want);
    g_free (d);
    g_free (src);
  }

  /* the bad value is not taken; a good one afterwards clears the refusal */
  e = gst_element_factory_make ("st2vsrc", NULL);
  g_object_set (e, "steps", 100000000, "guidance", (gfloat) NAN, NULL);
  g_object_get (e, "steps", &steps, "guidance", &guidance, NULL);
  fail_unless (steps == 0 && guidance == -1.0f, "%d %g", steps, guidance);
  gst_object_unref (e);
  h = tiny_harness ("video/x-raw,width=32,height=32");
  g_object_set (h->element, "steps", 100000000, NULL);
  g_object_set (h->element, "steps", 2, NULL);
  gst_harness_play (h);
  gst_buffer_unref (gst_harness_pull (h));
  gst_harness_teardown (h);
}

GST_END_TEST;

/* While playing, a bad guidance (the one numeric property that changes
 * then) is refused with a warning and the old value kept. */
GST_START_TEST (a_nan_guidance_while_playing_is_ignored_with_a_warning)
{
  gchar *src = tiny_src ("guidance=2");
  gchar *d = g_strdup_printf ("%s ! fakesink", src);
  GstElement *pipe = pipeline (d);
  GstElement *e = gst_bin_get_by_name (GST_BIN (pipe), "src");
  const gfloat bad[] = { NAN, -3.0f, 1000.0f };
  GstMessage *m;
  GError *err;
  gfloat guidance;

  fail_unless (gst_element_set_state (pipe, GST_STATE_PAUSED) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless (gst_element_get_state (pipe, NULL, NULL, 30 * GST_SECOND) ==
      GST_STATE_CHANGE_SUCCESS);
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_object_set (e, "guidance", bad[i], NULL);
    m = wait_message (pipe, GST_MESSAGE_WARNING, GST_SECOND);
    fail_unless (m != NULL, "no warning for guidance %g", bad[i]);
    gst_message_parse_warning (m, &err, NULL);
    fail_unless (strstr (err->message, "Ignoring an invalid setting: "
            "guidance ") != NULL, "%s", err->message);
    g_error_free (err);
    gst_message_unref (m);
    g_object_get (e, "guidance", &guidance, NULL);
    fail_unless (guidance == 2.0f, "guidance now %g", guidance);
  }
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (e);
  gst_object_unref (pipe);
  g_free (d);
  g_free (src);
}

GST_END_TEST;

/* ================================================================ image */

GST_START_TEST (an_image_conditions_the_first_frames)
{
  gchar *png = g_build_filename (g_get_tmp_dir (), "st2v-start-XXXXXX",
      NULL);
  gint fd = g_mkstemp (png);
  gchar *d = g_strdup_printf ("videotestsrc num-buffers=1 ! "
      "video/x-raw,width=64,height=48 ! videoconvert ! pngenc ! "
      "filesink location=\"%s\"", png);
  GstElement *pipe;
  GstHarness *a = tiny_harness ("video/x-raw,width=32,height=32");
  GstHarness *b = tiny_harness ("video/x-raw,width=32,height=32");
  GstBuffer **ba, **bb;

  close (fd);
  pipe = pipeline (d);
  run_to_eos (pipe);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (pipe);

  g_object_set (b->element, "image", png, NULL);
  gst_harness_play (a);
  gst_harness_play (b);
  ba = pull_n (a, 4);
  bb = pull_n (b, 4);
  fail_unless (!same_bytes (ba[0], bb[0]), "the image changed nothing");
  free_n (ba, 4);
  free_n (bb, 4);
  gst_harness_teardown (a);
  gst_harness_teardown (b);
  g_unlink (png);
  g_free (png);
  g_free (d);
}

GST_END_TEST;

GST_START_TEST (every_sampler_renders_frames)
{
  GEnumClass *k = g_type_class_ref (GST_TYPE_ST2V_SAMPLER);
  GstBuffer *first[8] = { NULL };

  fail_unless (k->n_values == 5);
  for (guint i = 0; i < k->n_values; i++) {
    GstHarness *h = tiny_harness ("video/x-raw,width=32,height=32");

    gst_util_set_object_arg (G_OBJECT (h->element), "sampler",
        k->values[i].value_nick);
    gst_harness_play (h);
    first[i] = gst_harness_pull (h);
    fail_unless (first[i] != NULL, "%s", k->values[i].value_nick);
    gst_harness_teardown (h);
  }
  /* the tiny model's default is euler; heun, dpm++2m and unipc differ
   * from it */
  fail_unless (same_bytes (first[0], first[1]));
  fail_unless (!same_bytes (first[1], first[2]));
  fail_unless (!same_bytes (first[1], first[3]));
  fail_unless (!same_bytes (first[1], first[4]));
  for (guint i = 0; i < k->n_values; i++)
    gst_buffer_unref (first[i]);
  g_type_class_unref (k);
}

GST_END_TEST;

/* ================================================================ interruption */

GST_START_TEST (a_state_change_or_a_flush_interrupts_a_slow_chunk_promptly)
{
  /* The default model with 1000 Heun steps a chunk: about a minute of work
   * for the first frame, so "promptly" (5 s, generous for a loaded
   * machine) cannot be met by waiting for the chunk. */
  gchar *src = g_strdup_printf ("st2vsrc name=src prompt=\"" PROMPT
      "\" seed=%d threads=1 steps=1000 sampler=heun", SEED);
  gchar *d = g_strdup_printf ("%s ! fakesink name=sink signal-handoffs=true",
      src);
  GstElement *pipe = pipeline (d);
  Collect *c = collect (pipe, "sink");
  gint64 t0;

  fail_unless_equals_int (gst_element_set_state (pipe, GST_STATE_PLAYING),
      GST_STATE_CHANGE_ASYNC);
  g_usleep (300 * 1000);
  fail_unless_equals_int (collected (c), 0);

  /* a flushing seek cancels the chunk and starts it again */
  t0 = g_get_monotonic_time ();
  fail_unless (gst_element_seek_simple (pipe, GST_FORMAT_TIME,
          GST_SEEK_FLAG_FLUSH, 0));
  GST_INFO ("flushing seek took %" G_GINT64_FORMAT " us",
      g_get_monotonic_time () - t0);
  fail_unless (g_get_monotonic_time () - t0 < 5 * G_USEC_PER_SEC,
      "the seek waited for the chunk");
  g_usleep (200 * 1000);

  /* and going to NULL does not wait for it either */
  t0 = g_get_monotonic_time ();
  fail_unless_equals_int (gst_element_set_state (pipe, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  GST_INFO ("PLAYING->NULL took %" G_GINT64_FORMAT " us",
      g_get_monotonic_time () - t0);
  fail_unless (g_get_monotonic_time () - t0 < 5 * G_USEC_PER_SEC,
      "the state change waited for the chunk");
  collect_free (c);
  gst_object_unref (pipe);
  g_free (d);
  g_free (src);
}

GST_END_TEST;

/* ================================================================ live */

GST_START_TEST (live_mode_reports_its_latency_and_keeps_time)
{
  gchar *src = tiny_src ("is-live=true");
  gchar *d = g_strdup_printf ("%s ! video/x-raw,width=32,height=32,"
      "framerate=16/1 ! fakesink name=sink signal-handoffs=true", src);
  GstElement *pipe = pipeline (d);
  GstElement *e = gst_bin_get_by_name (GST_BIN (pipe), "src");
  Collect *c = collect (pipe, "sink");
  GstQuery *q;
  gboolean live, seekable;
  GstClockTime min, max;
  guint n;

  gint64 t0, t1;

  fail_unless_equals_int (gst_element_set_state (pipe, GST_STATE_PAUSED),
      GST_STATE_CHANGE_NO_PREROLL);
  t0 = g_get_monotonic_time ();
  gst_element_set_state (pipe, GST_STATE_PLAYING);
  g_usleep (G_USEC_PER_SEC);

  q = gst_query_new_latency ();
  fail_unless (gst_element_query (e, q));
  gst_query_parse_latency (q, &live, &min, &max);
  fail_unless (live);
  fail_unless_equals_uint64 (min, GST_SECOND / 16);
  gst_query_unref (q);
  q = gst_query_new_seeking (GST_FORMAT_TIME);
  gst_element_query (e, q);
  gst_query_parse_seeking (q, NULL, &seekable, NULL, NULL);
  fail_unless (!seekable);
  gst_query_unref (q);
  gst_object_unref (e);

  gst_element_set_state (pipe, GST_STATE_NULL);
  t1 = g_get_monotonic_time ();
  /* paced by the clock: never more than 16 frames a second of playing
   * (+2 for the rounding at both ends; a loaded machine may give fewer),
   * each one a frame time after the last (basesrc shifts them all by the
   * first one's delay) */
  n = c->bufs->len;
  GST_INFO ("%u buffers in %.2f s", n, (t1 - t0) / 1e6);
  fail_unless (n >= 1, "no buffer in a second of PLAYING");
  fail_unless (n <= 16 * (t1 - t0) / G_USEC_PER_SEC + 2,
      "%u buffers in %.2f s: faster than real time", n, (t1 - t0) / 1e6);
  for (guint i = 1; i < n; i++) {
    GstBuffer *a = g_ptr_array_index (c->bufs, i - 1), *b =
        g_ptr_array_index (c->bufs, i);
    fail_unless (GST_BUFFER_PTS (b) > GST_BUFFER_PTS (a));
    fail_unless_equals_uint64 ((GST_BUFFER_PTS (b) - GST_BUFFER_PTS (a)) %
        (GST_SECOND / 16), 0);
    fail_unless_equals_uint64 (GST_BUFFER_DURATION (b), GST_SECOND / 16);
  }
  collect_free (c);
  gst_object_unref (pipe);
  g_free (d);
  g_free (src);
}

GST_END_TEST;

GST_START_TEST (live_mode_posts_qos_and_a_warning_when_generation_falls_behind)
{
  /* 1000 frames a second, each scaled up to 512x512: some 4 ms of work a
   * frame where 1 ms is all there is, even on a fast machine */
  gchar *src = tiny_src ("is-live=true queue-size=2");
  gchar *d = g_strdup_printf ("%s ! video/x-raw,width=512,height=512,"
      "framerate=1000/1 ! fakesink", src);
  GstElement *pipe = pipeline (d);
  GstMessage *m;
  GstFormat fmt;
  guint64 processed, dropped;
  gint64 jitter;
  GError *err;
  gboolean qos = FALSE, warning = FALSE;

  gst_element_set_state (pipe, GST_STATE_PLAYING);
  while ((!qos || !warning) && (m = wait_message (pipe, GST_MESSAGE_QOS |
              GST_MESSAGE_WARNING | GST_MESSAGE_ERROR, 30 * GST_SECOND))) {
    fail_if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR);
    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_QOS) {
      gboolean live;

      gst_message_parse_qos (m, &live, NULL, NULL, NULL, NULL);
      gst_message_parse_qos_values (m, &jitter, NULL, NULL);
      gst_message_parse_qos_stats (m, &fmt, &processed, &dropped);
      fail_unless (live && jitter > 0 && fmt == GST_FORMAT_BUFFERS);
      fail_unless (dropped > 0);
      qos = TRUE;
    } else {
      gst_message_parse_warning (m, &err, NULL);
      GST_INFO ("warning: %s", err->message);
      fail_unless (g_regex_match_simple ("generation is [0-9]+ ms behind "
              "real time \\([0-9.]+ frames/s generated, 1000.0 needed\\)",
              err->message, 0, 0), "%s", err->message);
      g_error_free (err);
      warning = TRUE;
    }
    gst_message_unref (m);
  }
  fail_unless (qos, "no QoS message");
  fail_unless (warning, "no warning");
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (pipe);
  g_free (d);
  g_free (src);
}

GST_END_TEST;

/* Holds st2vsrc's streaming thread after buffer HOLD_AT for HOLD_US, and
 * then until the worker has a frame queued: the next create() comes late
 * for a frame that was ready (as on a loaded machine, where the thread is
 * scheduled late), not because generation fell behind. */
#define HOLD_AT 8
#define HOLD_US (300 * 1000)

typedef struct
{
  GstSt2vSrc *src;
  guint n;
} Hold;

static GstPadProbeReturn
hold_streaming_thread (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  Hold *h = data;
  guint queued = 0;

  (void) pad;
  (void) info;
  if (h->n++ != HOLD_AT)
    return GST_PAD_PROBE_OK;
  g_usleep (HOLD_US);
  while (!queued) {
    g_mutex_lock (&h->src->worker.lock);
    queued = h->src->worker.filled.length;
    g_mutex_unlock (&h->src->worker.lock);
    if (!queued)
      g_usleep (1000);
  }
  return GST_PAD_PROBE_OK;
}

GST_START_TEST (live_mode_a_late_streaming_thread_leaves_no_timestamp_gap)
{
  gchar *src = tiny_src ("is-live=true");
  gchar *d = g_strdup_printf ("%s ! video/x-raw,width=32,height=32,"
      "framerate=16/1 ! fakesink name=sink sync=true signal-handoffs=true",
      src);
  GstElement *pipe = pipeline (d);
  GstElement *e = gst_bin_get_by_name (GST_BIN (pipe), "src");
  GstPad *pad = gst_element_get_static_pad (e, "src");
  Collect *c = collect (pipe, "sink");
  Hold h = { GST_ST2V_SRC (e), 0 };
  gint64 t0 = g_get_monotonic_time ();
  GstMessage *m;
  guint n;

  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, hold_streaming_thread,
      &h, NULL);
  gst_element_set_state (pipe, GST_STATE_PLAYING);
  while (collected (c) < HOLD_AT + 16 &&
      g_get_monotonic_time () - t0 < 60 * G_USEC_PER_SEC)
    g_usleep (10 * 1000);
  m = wait_message (pipe, GST_MESSAGE_ERROR, 0);
  fail_if (m != NULL, "an error message");
  gst_element_set_state (pipe, GST_STATE_NULL);

  /* every buffer one frame time after the last, none flagged DISCONT
   * after the first (before the fix, the frame after the hold was moved
   * 5 frame times on and flagged DISCONT, with no QoS message) */
  n = c->bufs->len;
  fail_unless (n >= HOLD_AT + 16, "%u buffers in 60 s", n);
  for (guint i = 1; i < n; i++) {
    GstBuffer *a = g_ptr_array_index (c->bufs, i - 1), *b =
        g_ptr_array_index (c->bufs, i);

    fail_unless_equals_uint64 (GST_BUFFER_PTS (b),
        GST_BUFFER_PTS (a) + GST_BUFFER_DURATION (a));
    fail_if (GST_BUFFER_FLAG_IS_SET (b, GST_BUFFER_FLAG_DISCONT),
        "buffer %u flagged DISCONT", i);
  }
  gst_object_unref (pad);
  gst_object_unref (e);
  collect_free (c);
  gst_object_unref (pipe);
  g_free (d);
  g_free (src);
}

GST_END_TEST;

/* ================================================================ messages */

GST_START_TEST (progress_messages_report_the_chunk_being_generated)
{
  gchar *src = tiny_src ("num-buffers=20");
  gchar *d = g_strdup_printf ("%s ! fakesink sync=false", src);
  GstElement *pipe = pipeline (d);
  GstMessage *m;
  gint chunks_seen = 0, last_chunk = -1;

  gst_element_set_state (pipe, GST_STATE_PLAYING);
  while ((m = wait_message (pipe, GST_MESSAGE_ELEMENT | GST_MESSAGE_EOS |
              GST_MESSAGE_ERROR, 30 * GST_SECOND))) {
    const GstStructure *s = gst_message_get_structure (m);
    gint chunk, step, steps;
    gint64 done, total;

    if (GST_MESSAGE_TYPE (m) != GST_MESSAGE_ELEMENT) {
      fail_unless (GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS);
      gst_message_unref (m);
      break;
    }
    fail_unless (gst_structure_has_name (s, "st2vsrc-progress"));
    fail_unless (gst_structure_get (s, "chunk", G_TYPE_INT, &chunk, "step",
            G_TYPE_INT, &step, "steps", G_TYPE_INT, &steps, "frames-done",
            G_TYPE_INT64, &done, "frames-total", G_TYPE_INT64, &total, NULL));
    fail_unless_equals_int (steps, 4);  /* the tiny model's default */
    fail_unless (step >= 0 && step <= steps);
    fail_unless_equals_int64 (total, 20);
    if (chunk != last_chunk) {
      fail_unless_equals_int (chunk, last_chunk + 1);
      /* chunk 0 makes frames 0..15, chunk 1 from frame 16 */
      fail_unless_equals_int64 (done, chunk == 0 ? 0 : 16);
      chunks_seen++;
      last_chunk = chunk;
    }
    gst_message_unref (m);
  }
  fail_unless_equals_int (chunks_seen, 2);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (pipe);
  g_free (d);
  g_free (src);
}

GST_END_TEST;

/* ================================================================ lifecycle */

GST_START_TEST (state_cycles_fifty_times_without_leaks)
{
  /* one chunk a cycle (valgrind runs this test: keep each cycle small) */
  gchar *src = tiny_src ("steps=1 num-buffers=2 queue-size=2");
  gchar *d = g_strdup_printf ("%s ! fakesink name=sink signal-handoffs=true",
      src);
  GstElement *pipe = pipeline (d);
  GstElement *e = gst_bin_get_by_name (GST_BIN (pipe), "src");
  Collect *c = collect (pipe, "sink");

  for (gint i = 0; i < 50; i++) {
    GstMessage *m;

    /* every other cycle live: the worker thread starts and stops too */
    g_object_set (e, "is-live", i % 2 == 1, NULL);
    fail_if (gst_element_set_state (pipe, GST_STATE_PLAYING) ==
        GST_STATE_CHANGE_FAILURE);
    m = wait_message (pipe, GST_MESSAGE_EOS | GST_MESSAGE_ERROR |
        GST_MESSAGE_WARNING, 60 * GST_SECOND);
    fail_unless (m && GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS,
        "cycle %d: %" GST_PTR_FORMAT, i, m);
    gst_message_unref (m);
    fail_unless_equals_int (gst_element_set_state (pipe, GST_STATE_NULL),
        GST_STATE_CHANGE_SUCCESS);
    fail_unless_equals_int (collected (c), 2 * (i + 1));
  }
  collect_free (c);
  gst_object_unref (e);
  ASSERT_OBJECT_REFCOUNT (pipe, "pipeline", 1);
  gst_object_unref (pipe);
  g_free (d);
  g_free (src);
}

GST_END_TEST;

GST_START_TEST (two_st2vsrc_run_side_by_side_in_one_pipeline)
{
  gchar *d = g_strdup_printf ("st2vsrc name=a model=\"%s\" prompt=sea seed=1 "
      "threads=1 num-buffers=20 ! video/x-raw,width=32,height=32 ! fakesink "
      "name=sa sync=false signal-handoffs=true "
      "st2vsrc name=b model=\"%s\" prompt=\"a sunset\" seed=2 threads=1 "
      "num-buffers=30 ! video/x-raw,format=I420,width=48,height=32 ! "
      "fakesink name=sb sync=false signal-handoffs=true",
      fixture ("tiny.safetensors"), fixture ("tiny.safetensors"));
  GstElement *pipe = pipeline (d);
  Collect *a = collect (pipe, "sa"), *b = collect (pipe, "sb");

  run_to_eos (pipe);
  fail_unless_equals_int (collected (a), 20);
  fail_unless_equals_int (collected (b), 30);
  fail_unless_equals_int (gst_buffer_get_size (g_ptr_array_index (a->bufs,
              0)), 32 * 32 * 3);
  fail_unless_equals_int (gst_buffer_get_size (g_ptr_array_index (b->bufs,
              0)), 48 * 32 * 3 / 2);
  for (guint i = 0; i < 30; i++)
    fail_unless_equals_uint64 (GST_BUFFER_PTS (g_ptr_array_index (b->bufs,
                i)), gst_util_uint64_scale (i, GST_SECOND, 16));
  gst_element_set_state (pipe, GST_STATE_NULL);
  collect_free (a);
  collect_free (b);
  gst_object_unref (pipe);
  g_free (d);
}

GST_END_TEST;

/* ================================================================ main */

static Suite *
st2vsrc_suite (void)
{
  Suite *s = suite_create ("st2vsrc");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 120);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, properties_have_their_documented_defaults_and_ranges);
  tcase_add_test (tc,
      every_caps_format_negotiates_and_gives_the_right_frame_size);
  tcase_add_test (tc,
      a_downstream_that_does_not_care_gets_the_native_size_and_rate);
  tcase_add_test (tc, rgb_buffers_are_exactly_libst2v_frames);
  tcase_add_test (tc,
      dtype_bf16_gives_libst2v_bf16_frames_and_is_fixed_once_started);
  tcase_add_test (tc, wan_rgb_buffers_are_exactly_libst2v_frames);
  tcase_add_test (tc, rgba_and_bgrx_are_the_same_picture_and_opaque);
  tcase_add_test (tc, alpha_gives_rgba_keyed_from_a_green_screen_prompt);
  tcase_add_test (tc, a_framerate_of_zero_or_an_odd_size_is_refused_clearly);
  tcase_add_test (tc, wan_a_size_not_divisible_by_16_is_refused_naming_16);
  tcase_add_test (tc, timestamps_durations_and_offsets_follow_num_buffers);
  tcase_add_test (tc, the_same_seed_gives_the_same_buffers_in_two_harnesses);
  tcase_add_test (tc,
      a_prompt_change_while_playing_changes_later_buffers_only);
  tcase_add_test (tc,
      a_guidance_change_while_playing_changes_later_buffers_only);
  tcase_add_test (tc,
      wan_a_prompt_change_while_playing_changes_the_next_chunk);
  tcase_add_test (tc, an_empty_prompt_while_playing_is_ignored_with_a_warning);
  tcase_add_test (tc, seeking_back_to_the_start_regenerates_the_same_frames);
  tcase_add_test (tc, a_missing_model_fails_ready_to_paused_naming_the_file);
  tcase_add_test (tc, a_corrupt_or_incompatible_model_fails_ready_to_paused);
  tcase_add_test (tc,
      wan_a_folder_missing_a_file_or_cut_short_fails_ready_to_paused);
  tcase_add_test (tc, an_empty_prompt_fails_ready_to_paused);
  tcase_add_test (tc, a_bad_image_or_guidance_fails_ready_to_paused);
  tcase_add_test (tc, an_out_of_range_or_nan_setting_fails_ready_to_paused);
  tcase_add_test (tc, a_nan_guidance_while_playing_is_ignored_with_a_warning);
  tcase_add_test (tc, an_invalid_or_huge_prompt_fails_ready_to_paused);
  tcase_add_test (tc,
      an_invalid_or_huge_prompt_while_playing_is_ignored_with_a_warning);
  tcase_add_test (tc, an_image_conditions_the_first_frames);
  tcase_add_test (tc, every_sampler_renders_frames);
  tcase_add_test (tc,
      a_state_change_or_a_flush_interrupts_a_slow_chunk_promptly);
  tcase_add_test (tc, live_mode_reports_its_latency_and_keeps_time);
  tcase_add_test (tc,
      live_mode_posts_qos_and_a_warning_when_generation_falls_behind);
  tcase_add_test (tc,
      live_mode_a_late_streaming_thread_leaves_no_timestamp_gap);
  tcase_add_test (tc, progress_messages_report_the_chunk_being_generated);
  tcase_add_test (tc, state_cycles_fifty_times_without_leaks);
  tcase_add_test (tc, two_st2vsrc_run_side_by_side_in_one_pipeline);
  return s;
}

int
main (int argc, char **argv)
{
  SRunner *sr;
  gint run, failed;

  /* the element is compiled in: keep a built plugin of it out */
  g_unsetenv ("GST_PLUGIN_PATH");
  gst_check_init (&argc, &argv);
  if (!GST_ELEMENT_REGISTER (st2vsrc, NULL)) {
    printf ("FAIL cannot register st2vsrc\n0 passed, 1 failed\n");
    return 1;
  }

  sr = srunner_create (st2vsrc_suite ());
  srunner_run_all (sr, CK_VERBOSE);
  run = srunner_ntests_run (sr);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  printf ("%d passed, %d failed\n", run - failed, failed);
  return failed ? 1 : 0;
}
