/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * st2v-soak-gst.c - the checker of a long live st2vsrc stream (issue 23,
 * docs/robustness.md "Long runs"): plays
 *
 *   st2vsrc name=src is-live=true ! fakesink sync=true qos=true
 *
 * for -t seconds, sets the next prompt every -i seconds, and counts what a
 * live stream must get right:
 *
 *   - timestamps: a pad probe on st2vsrc's src pad checks that each
 *     buffer's PTS is the previous PTS plus the previous duration; a gap
 *     (frame times skipped) must come with the element's QoS message, posted
 *     just before the buffer, and so must a DISCONT flag after the first
 *     buffer: the element skips only when generation fell behind, and says
 *     so; a gap or DISCONT without one is "unexplained";
 *   - QoS messages on the bus, from the element and from the sink, in
 *     total and the most in any 10 seconds (a storm is many a second);
 *   - the element's errors and warnings (bus messages, and its own
 *     warning-level log lines), and its prompt changes: set, and applied
 *     (its "prompt '...' from the next chunk" info line, read through a
 *     GStreamer log function; nothing is printed by GStreamer itself),
 *     and the frames it found late with the queue not empty (its debug
 *     line "... late (not generation's doing)": the streaming thread,
 *     not the generator, was late).
 *
 * Ends with one line "summary key=value ..." on stdout (tools/soak.py
 * reads it, and samples this process's memory); exits 1 on an error
 * message, an unexplained gap or DISCONT, or no buffer; 2 on bad
 * arguments.
 *
 *   st2v-soak-gst [-t SECONDS] [-i SECONDS] [-m MODEL] [PROMPT...]
 *
 * Not here: the memory sampling and the verdict on it (tools/soak.py);
 * the element's own tests (tests/test_gst_st2vsrc.c).
 */
#include <string.h>

#include <gst/gst.h>
#include <gst/base/gstbasesink.h>

#define QOS_WINDOW_S 10

typedef struct
{
  GMainLoop *loop;
  GstElement *src;
  gchar **prompts;
  guint n_prompts, next;

  GMutex lock;                  /* the counters below: probe, log, bus */
  guint64 buffers;
  GstClockTime first_pts, next_pts, last_end;
  gint64 first_buffer_us;
  guint64 gaps, gap_frames, discont, unexplained;
  guint64 qos_posted, qos_posted_at_last;  /* the element's, as posted */
  GstClockTime max_gap;
  guint64 prompts_set, prompts_applied;
  guint64 qos_src, qos_sink, qos_other, dropped;
  guint *qos_windows;
  guint n_windows;
  guint64 errors, warnings, log_warnings, chunks, late_not_generation;
  gint last_chunk;
  gint fps_n, fps_d;
  gint64 start_us;
} Soak;

static gboolean
next_prompt (gpointer data)
{
  Soak *s = data;
  const gchar *prompt = s->prompts[s->next++ % s->n_prompts];

  g_object_set (s->src, "prompt", prompt, NULL);
  g_mutex_lock (&s->lock);
  if (s->start_us)              /* a change while playing, not the first */
    s->prompts_set++;
  g_mutex_unlock (&s->lock);
  return G_SOURCE_CONTINUE;
}

static gboolean
stop (gpointer data)
{
  g_main_loop_quit (((Soak *) data)->loop);
  return G_SOURCE_REMOVE;
}

/* Every buffer st2vsrc pushes: continuous timestamps, no DISCONT after
 * the first. */
static GstPadProbeReturn
on_buffer (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  Soak *s = data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  GstClockTime pts = GST_BUFFER_PTS (buf);
  GstClockTime dur = GST_BUFFER_DURATION (buf);

  (void) pad;
  g_mutex_lock (&s->lock);
  if (s->buffers == 0) {
    s->first_pts = pts;
    s->first_buffer_us = g_get_monotonic_time ();
  } else {
    if (!GST_CLOCK_TIME_IS_VALID (pts) || pts != s->next_pts) {
      GstClockTime gap = GST_CLOCK_TIME_IS_VALID (pts) && pts > s->next_pts ?
          pts - s->next_pts : 0;

      s->gaps++;
      /* the element skips frame times when generation fell behind, and
       * then posts a QoS message first, from this thread */
      if (s->qos_posted == s->qos_posted_at_last)
        s->unexplained++;
      if (gap > s->max_gap)
        s->max_gap = gap;
      if (GST_CLOCK_TIME_IS_VALID (dur) && dur > 0)
        s->gap_frames += (gap + dur / 2) / dur;
      g_print ("gap: buffer %" G_GUINT64_FORMAT " at %" GST_TIME_FORMAT
          ", expected %" GST_TIME_FORMAT "\n", s->buffers,
          GST_TIME_ARGS (pts), GST_TIME_ARGS (s->next_pts));
    }
    if (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DISCONT) &&
        s->qos_posted == s->qos_posted_at_last)
      s->discont++;
  }
  s->qos_posted_at_last = s->qos_posted;
  s->buffers++;
  s->next_pts = GST_CLOCK_TIME_IS_VALID (pts) && GST_CLOCK_TIME_IS_VALID (dur)
      ? pts + dur : GST_CLOCK_TIME_NONE;
  if (GST_CLOCK_TIME_IS_VALID (s->next_pts))
    s->last_end = s->next_pts;
  g_mutex_unlock (&s->lock);
  return GST_PAD_PROBE_OK;
}

/* st2vsrc's own log lines: the prompt it applied, and its warnings. */
static void
on_log (GstDebugCategory * category, GstDebugLevel level, const gchar * file,
    const gchar * function, gint line, GObject * object,
    GstDebugMessage * message, gpointer data)
{
  Soak *s = data;
  const gchar *text;

  (void) file;
  (void) function;
  (void) line;
  (void) object;
  if (strcmp (gst_debug_category_get_name (category), "st2vsrc") != 0)
    return;
  text = gst_debug_message_get (message);
  g_mutex_lock (&s->lock);
  if (level == GST_LEVEL_INFO && text && g_str_has_prefix (text, "prompt '"))
    s->prompts_applied++;
  else if (level == GST_LEVEL_DEBUG && text &&
      strstr (text, "(not generation's doing)")) {
    s->late_not_generation++;
    g_print ("st2vsrc: %s\n", text);
  }
  else if (level <= GST_LEVEL_WARNING && level > GST_LEVEL_NONE) {
    s->log_warnings++;
    g_print ("st2vsrc log: %s\n", text ? text : "");
  }
  g_mutex_unlock (&s->lock);
}

static void
count_qos (Soak * s, GstMessage * msg)
{
  guint w = (guint) ((g_get_monotonic_time () - s->start_us) /
      (QOS_WINDOW_S * G_USEC_PER_SEC));
  guint64 processed, dropped;
  GstFormat fmt;

  if (GST_MESSAGE_SRC (msg) == GST_OBJECT (s->src)) {
    s->qos_src++;
    gst_message_parse_qos_stats (msg, &fmt, &processed, &dropped);
    if (fmt == GST_FORMAT_BUFFERS && dropped > s->dropped)
      s->dropped = dropped;
  } else if (GST_IS_BASE_SINK (GST_MESSAGE_SRC (msg)))
    s->qos_sink++;
  else
    s->qos_other++;
  if (w < s->n_windows)
    s->qos_windows[w]++;
}

/* QoS messages of the element as it posts them (its streaming thread,
 * before the buffer they concern), so that on_buffer can tell an
 * announced gap from a silent one. */
static GstBusSyncReply
on_sync_message (GstBus * bus, GstMessage * msg, gpointer data)
{
  Soak *s = data;

  (void) bus;
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_QOS &&
      GST_MESSAGE_SRC (msg) == GST_OBJECT (s->src)) {
    g_mutex_lock (&s->lock);
    s->qos_posted++;
    g_mutex_unlock (&s->lock);
  }
  return GST_BUS_PASS;
}

static gboolean
on_message (GstBus * bus, GstMessage * msg, gpointer data)
{
  Soak *s = data;
  const GstStructure *st = gst_message_get_structure (msg);
  GError *err = NULL;
  gint chunk;

  (void) bus;
  g_mutex_lock (&s->lock);
  switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ERROR:
      gst_message_parse_error (msg, &err, NULL);
      g_print ("error: %s\n", err->message);
      g_error_free (err);
      s->errors++;
      g_main_loop_quit (s->loop);
      break;
    case GST_MESSAGE_WARNING:
      gst_message_parse_warning (msg, &err, NULL);
      g_print ("warning: %s\n", err->message);
      g_error_free (err);
      s->warnings++;
      break;
    case GST_MESSAGE_EOS:
      g_print ("error: end of stream from a live, endless source\n");
      s->errors++;
      g_main_loop_quit (s->loop);
      break;
    case GST_MESSAGE_QOS:
      count_qos (s, msg);
      break;
    case GST_MESSAGE_ELEMENT:
      if (gst_structure_has_name (st, "st2vsrc-progress") &&
          gst_structure_get_int (st, "chunk", &chunk) &&
          chunk != s->last_chunk) {
        s->chunks++;
        s->last_chunk = chunk;
      }
      break;
    default:
      break;
  }
  g_mutex_unlock (&s->lock);
  return TRUE;
}

int
main (int argc, char **argv)
{
  static const gchar *builtin[] = { "snow falling at night",
    "a red ball bouncing", "waves on a beach at dawn", NULL
  };
  gint interval = 5, seconds = 600;
  gchar *model = NULL, *description;
  GOptionEntry entries[] = {
    {"time", 't', 0, G_OPTION_ARG_INT, &seconds,
        "how long to play, in seconds (600)", "SECONDS"},
    {"interval", 'i', 0, G_OPTION_ARG_INT, &interval,
        "seconds between prompt changes (5)", "SECONDS"},
    {"model", 'm', 0, G_OPTION_ARG_FILENAME, &model,
        "the model (the default model)", "PATH"},
    {NULL}
  };
  GOptionContext *ctx = g_option_context_new ("[PROMPT...]");
  GError *err = NULL;
  GstElement *pipeline;
  GstPad *pad;
  GstBus *bus;
  GstCaps *caps;
  GstStructure *cs;
  Soak s = { 0 };
  guint max_window = 0, i;
  gdouble played, expected;
  gint64 end_us;

  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    g_printerr ("st2v-soak-gst: %s\n", err->message);
    return 2;
  }
  g_option_context_free (ctx);
  if (seconds < 1 || interval < 1) {
    g_printerr ("st2v-soak-gst: -t and -i must be at least 1 second\n");
    return 2;
  }
  s.prompts = argc > 1 ? argv + 1 : (gchar **) builtin;
  s.n_prompts = argc > 1 ? (guint) argc - 1 : G_N_ELEMENTS (builtin) - 1;
  s.last_chunk = -1;
  s.first_pts = s.next_pts = s.last_end = GST_CLOCK_TIME_NONE;
  s.n_windows = (guint) seconds / QOS_WINDOW_S + 2;
  s.qos_windows = g_new0 (guint, s.n_windows);
  g_mutex_init (&s.lock);

  /* st2vsrc's info lines come to on_log only; GStreamer prints nothing */
  gst_debug_remove_log_function (gst_debug_log_default);
  gst_debug_add_log_function (on_log, &s, NULL);
  gst_debug_set_threshold_for_name ("st2vsrc", GST_LEVEL_DEBUG);

  description = g_strdup_printf ("st2vsrc name=src is-live=true%s%s%s ! "
      "fakesink name=sink sync=true qos=true", model ? " model=\"" : "",
      model ? model : "", model ? "\"" : "");
  pipeline = gst_parse_launch (description, &err);
  if (!pipeline) {
    g_printerr ("st2v-soak-gst: %s: %s\n", description, err->message);
    return 1;
  }
  s.src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  pad = gst_element_get_static_pad (s.src, "src");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, on_buffer, &s, NULL);
  s.loop = g_main_loop_new (NULL, FALSE);
  next_prompt (&s);             /* the first prompt, before it starts */

  bus = gst_element_get_bus (pipeline);
  gst_bus_set_sync_handler (bus, on_sync_message, &s, NULL);
  gst_bus_add_watch (bus, on_message, &s);
  g_timeout_add_seconds ((guint) interval, next_prompt, &s);
  g_timeout_add_seconds ((guint) seconds, stop, &s);

  s.start_us = g_get_monotonic_time ();
  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE)
    s.errors++;                 /* the error message says why */
  g_main_loop_run (s.loop);
  end_us = g_get_monotonic_time ();

  caps = gst_pad_get_current_caps (pad);
  if (caps) {
    cs = gst_caps_get_structure (caps, 0);
    gst_structure_get_fraction (cs, "framerate", &s.fps_n, &s.fps_d);
    gst_caps_unref (caps);
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);

  for (i = 0; i < s.n_windows; i++)
    max_window = MAX (max_window, s.qos_windows[i]);
  played = s.buffers ? (end_us - s.first_buffer_us) / 1e6 : 0.0;
  expected = s.fps_d > 0 ? played * s.fps_n / s.fps_d : 0.0;
  g_print ("summary seconds=%d fps=%d/%d played_s=%.2f buffers=%"
      G_GUINT64_FORMAT " expected=%.0f pts_span_s=%.3f gaps=%"
      G_GUINT64_FORMAT " gap_frames=%" G_GUINT64_FORMAT " unexplained_gaps=%"
      G_GUINT64_FORMAT " max_gap_ms=%"
      G_GUINT64_FORMAT " unexplained_discont=%" G_GUINT64_FORMAT " qos_src=%"
      G_GUINT64_FORMAT " qos_sink=%" G_GUINT64_FORMAT " qos_other=%"
      G_GUINT64_FORMAT " qos_max_per_%ds=%u dropped=%" G_GUINT64_FORMAT
      " prompts_set=%" G_GUINT64_FORMAT " prompts_applied=%" G_GUINT64_FORMAT
      " chunks=%" G_GUINT64_FORMAT " errors=%" G_GUINT64_FORMAT " warnings=%"
      G_GUINT64_FORMAT " log_warnings=%" G_GUINT64_FORMAT
      " late_not_generation=%" G_GUINT64_FORMAT "\n", seconds,
      s.fps_n, s.fps_d, played, s.buffers, expected,
      s.buffers ? (s.last_end - s.first_pts) / 1e9 : 0.0, s.gaps, s.gap_frames,
      s.unexplained,
      s.max_gap / GST_MSECOND, s.discont, s.qos_src, s.qos_sink, s.qos_other,
      QOS_WINDOW_S, max_window, s.dropped, s.prompts_set, s.prompts_applied,
      s.chunks, s.errors, s.warnings, s.log_warnings, s.late_not_generation);

  gst_bus_remove_watch (bus);
  gst_bus_set_sync_handler (bus, NULL, NULL, NULL);
  gst_object_unref (bus);
  gst_object_unref (pad);
  gst_object_unref (s.src);
  gst_object_unref (pipeline);
  g_main_loop_unref (s.loop);
  g_mutex_clear (&s.lock);
  g_free (s.qos_windows);
  g_free (description);
  g_free (model);
  return s.errors || s.unexplained || s.discont || !s.buffers ? 1 : 0;
}
