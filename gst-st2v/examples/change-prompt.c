/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * change-prompt.c - steer st2vsrc while it plays: a new prompt every few
 * seconds, the way a control room would (docs/gstreamer.md).
 *
 *   st2v-change-prompt [-i SECONDS] [-t SECONDS] [-s SINK] [PROMPT...]
 *
 * Plays "st2vsrc is-live=true ! videoconvert ! SINK" (SINK: autovideosink)
 * and sets the next prompt (from the arguments, or a built-in list) every
 * -i seconds; stops after -t seconds (0: when the window closes). Each
 * change shows from the next chunk the model renders, continuing smoothly.
 */
#include <gst/gst.h>

typedef struct
{
  GMainLoop *loop;
  GstElement *src;
  gchar **prompts;
  guint n_prompts, next;
  gint last_chunk;
  gboolean failed;
} App;

static gboolean
next_prompt (gpointer data)
{
  App *app = data;
  const gchar *prompt = app->prompts[app->next++ % app->n_prompts];

  g_print ("prompt: %s\n", prompt);
  g_object_set (app->src, "prompt", prompt, NULL);
  return G_SOURCE_CONTINUE;
}

static gboolean
stop (gpointer data)
{
  g_main_loop_quit (((App *) data)->loop);
  return G_SOURCE_REMOVE;
}

static gboolean
on_message (GstBus * bus, GstMessage * msg, gpointer data)
{
  App *app = data;
  const GstStructure *s = gst_message_get_structure (msg);
  GError *err = NULL;
  gint chunk;

  (void) bus;
  switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ERROR:
      gst_message_parse_error (msg, &err, NULL);
      g_printerr ("error: %s\n", err->message);
      g_error_free (err);
      app->failed = TRUE;
      g_main_loop_quit (app->loop);
      break;
    case GST_MESSAGE_WARNING:
      gst_message_parse_warning (msg, &err, NULL);
      g_printerr ("warning: %s\n", err->message);
      g_error_free (err);
      break;
    case GST_MESSAGE_EOS:
      g_main_loop_quit (app->loop);
      break;
    case GST_MESSAGE_ELEMENT:
      /* st2vsrc's progress: one message per sampling step */
      if (gst_structure_has_name (s, "st2vsrc-progress") &&
          gst_structure_get_int (s, "chunk", &chunk) &&
          chunk != app->last_chunk) {
        g_print ("generating chunk %d\n", chunk);
        app->last_chunk = chunk;
      }
      break;
    default:
      break;
  }
  return TRUE;
}

int
main (int argc, char **argv)
{
  static const gchar *builtin[] = { "snow falling at night",
    "a red ball bouncing", "waves on a beach at dawn", NULL
  };
  gint interval = 3, seconds = 0;
  gchar *sink = NULL, *description;
  GOptionEntry entries[] = {
    {"interval", 'i', 0, G_OPTION_ARG_INT, &interval,
        "seconds between prompt changes (3)", "SECONDS"},
    {"time", 't', 0, G_OPTION_ARG_INT, &seconds,
        "stop after this many seconds (0: never)", "SECONDS"},
    {"sink", 's', 0, G_OPTION_ARG_STRING, &sink,
        "where the video goes (autovideosink)", "DESCRIPTION"},
    {NULL}
  };
  GOptionContext *ctx = g_option_context_new ("[PROMPT...]");
  GError *err = NULL;
  GstElement *pipeline;
  GstBus *bus;
  App app = { 0 };

  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  if (!g_option_context_parse (ctx, &argc, &argv, &err) || interval < 1) {
    g_printerr ("%s\n", err ? err->message : "the interval must be >= 1");
    return 2;
  }
  g_option_context_free (ctx);
  app.prompts = argc > 1 ? argv + 1 : (gchar **) builtin;
  app.n_prompts = argc > 1 ? (guint) argc - 1 : G_N_ELEMENTS (builtin) - 1;
  app.last_chunk = -1;

  description = g_strdup_printf ("st2vsrc name=src is-live=true ! "
      "videoconvert ! %s", sink ? sink : "autovideosink");
  pipeline = gst_parse_launch (description, &err);
  if (!pipeline) {
    g_printerr ("%s: %s\n", description, err->message);
    return 1;
  }
  app.src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  app.loop = g_main_loop_new (NULL, FALSE);
  next_prompt (&app);           /* the first prompt, before it starts */

  bus = gst_element_get_bus (pipeline);
  gst_bus_add_watch (bus, on_message, &app);
  g_timeout_add_seconds (interval, next_prompt, &app);
  if (seconds > 0)
    g_timeout_add_seconds (seconds, stop, &app);

  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE)
    app.failed = TRUE;          /* the error message says why */
  g_main_loop_run (app.loop);

  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_bus_remove_watch (bus);
  gst_object_unref (bus);
  gst_object_unref (app.src);
  gst_object_unref (pipeline);
  g_main_loop_unref (app.loop);
  g_free (description);
  g_free (sink);
  return app.failed ? 1 : 0;
}
