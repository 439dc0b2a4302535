/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gstst2vsrc.c - st2vsrc, the st2v source element: video generated from a
 * text prompt by libst2v, pushed into a GStreamer pipeline buffer by buffer.
 *
 * The element loads a model in start() (READY->PAUSED), creates one
 * libst2v generator, and takes one RGB24 frame from it per buffer at the
 * negotiated size and frame rate (libst2v renders at the model's nearest
 * native size and scales). libst2v renders in chunks, each conditioned on
 * the last frames of the one before, so an endless stream runs in bounded
 * memory and a prompt changed while PLAYING shows from the next chunk on,
 * continuing smoothly. With alpha=true the model renders on a green screen,
 * which libst2v's keyer (st2v_key_*) keys out into RGBA.
 *
 * Not live (the default), create() generates each frame synchronously;
 * live (is-live=true), a worker thread generates ahead into a bounded queue
 * and create() takes the frame that is due, posting a QoS message and a
 * warning when generation falls behind real time.
 *
 * Not here: the live worker thread, its frame queue and its generation
 * rate (st2vworker.c); the numeric property specs whose ranges this
 * checks itself (st2vparam.c); the model and its mathematics (libst2v, core/); the
 * plugin entry point (plugin.c); the FFmpeg filter of the same engine
 * (libavfilter_st2v/vsrc_st2v.c), whose options and messages this mirrors.
 */

/**
 * SECTION:element-st2vsrc
 * @title: st2vsrc
 *
 * The st2vsrc element generates video from a text prompt with libst2v.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 st2vsrc prompt="snow falling at night" ! videoconvert ! autovideosink
 * ]| Shows generated video of snow falling at night.
 * |[
 * gst-launch-1.0 st2vsrc prompt="a red ball bouncing" seed=7 num-buffers=160 ! \
 *     video/x-raw,width=320,height=240 ! videoconvert ! x264enc ! mp4mux ! \
 *     filesink location=ball.mp4
 * ]| Renders ten seconds at 320x240 into an MP4 file.
 */

#include <string.h>
#include <unistd.h>

#include "gstst2vsrc.h"
#include "st2vparam.h"

GST_DEBUG_CATEGORY_STATIC (gst_st2v_src_debug);
#define GST_CAT_DEFAULT gst_st2v_src_debug

/* What alpha mode adds to a prompt that does not mention its screen. */
#define ST2V_SCREEN_SUFFIX ", on a green screen"
/* The slowest frame rate: below it, each frame would cost many chunks. */
#define MIN_FPS_N 1
#define MIN_FPS_D 10
/* At most one "behind real time" warning per this many microseconds. */
#define WARNING_INTERVAL_US G_USEC_PER_SEC

#define DEFAULT_PROMPT NULL
#define DEFAULT_NEGATIVE_PROMPT ""
#define DEFAULT_SEED -1
#define DEFAULT_STEPS 0
#define DEFAULT_GUIDANCE -1.0f
#define DEFAULT_SAMPLER ST2V_SAMPLER_DEFAULT
#define DEFAULT_SHIFT 0.0f
#define DEFAULT_MODEL NULL
#define DEFAULT_THREADS 0
#define DEFAULT_IS_LIVE FALSE
#define DEFAULT_IMAGE NULL
#define DEFAULT_ALPHA FALSE
#define DEFAULT_QUEUE_SIZE 32
#define DEFAULT_DTYPE ST2V_DTYPE_F32

enum
{
  PROP_0,
  PROP_PROMPT,
  PROP_NEGATIVE_PROMPT,
  PROP_SEED,
  PROP_STEPS,
  PROP_GUIDANCE,
  PROP_SAMPLER,
  PROP_SHIFT,
  PROP_MODEL,
  PROP_THREADS,
  PROP_IS_LIVE,
  PROP_IMAGE,
  PROP_ALPHA,
  PROP_QUEUE_SIZE,
  PROP_DTYPE,
  PROP_LAST
};

G_STATIC_ASSERT (PROP_LAST <= G_N_ELEMENTS (((GstSt2vSrc *) NULL)->refused));

#define ST2V_FORMATS "{ RGB, RGBA, BGRx, I420, NV12 }"

static GstStaticPadTemplate gst_st2v_src_template =
GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("video/x-raw, format = (string) " ST2V_FORMATS ", "
        "width = (int) [ 16, 8192 ], height = (int) [ 16, 8192 ], "
        "framerate = (fraction) [ 0/1, 1000/1 ]")
    );

#define gst_st2v_src_parent_class parent_class
G_DEFINE_TYPE (GstSt2vSrc, gst_st2v_src, GST_TYPE_PUSH_SRC);
GST_ELEMENT_REGISTER_DEFINE (st2vsrc, "st2vsrc", GST_RANK_NONE,
    GST_TYPE_ST2V_SRC);

static void gst_st2v_src_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec);
static void gst_st2v_src_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec);
static void gst_st2v_src_finalize (GObject * object);

static GstCaps *gst_st2v_src_get_caps (GstBaseSrc * bsrc, GstCaps * filter);
static GstCaps *gst_st2v_src_fixate (GstBaseSrc * bsrc, GstCaps * caps);
static gboolean gst_st2v_src_set_caps (GstBaseSrc * bsrc, GstCaps * caps);
static gboolean gst_st2v_src_decide_allocation (GstBaseSrc * bsrc,
    GstQuery * query);
static gboolean gst_st2v_src_query (GstBaseSrc * bsrc, GstQuery * query);
static void gst_st2v_src_get_times (GstBaseSrc * bsrc, GstBuffer * buffer,
    GstClockTime * start, GstClockTime * end);
static gboolean gst_st2v_src_is_seekable (GstBaseSrc * bsrc);
static gboolean gst_st2v_src_do_seek (GstBaseSrc * bsrc, GstSegment * segment);
static gboolean gst_st2v_src_start (GstBaseSrc * bsrc);
static gboolean gst_st2v_src_stop (GstBaseSrc * bsrc);
static gboolean gst_st2v_src_unlock (GstBaseSrc * bsrc);
static gboolean gst_st2v_src_unlock_stop (GstBaseSrc * bsrc);
static GstFlowReturn gst_st2v_src_fill (GstPushSrc * psrc, GstBuffer * buffer);

/* ================================================================ sampler */

GType
gst_st2v_sampler_get_type (void)
{
  static GType type = 0;
  /* the names and descriptions of libst2v's one table */
#define SAMPLER_VALUE(id, name, desc) {ST2V_SAMPLER_##id, desc, name},
  static const GEnumValue values[] = {
    {ST2V_SAMPLER_DEFAULT, "The model's default", "default"},
    ST2V_SAMPLERS (SAMPLER_VALUE)
    {0, NULL, NULL},
  };
#undef SAMPLER_VALUE

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstSt2vSampler", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

/* ================================================================ dtype */

GType
gst_st2v_dtype_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {ST2V_DTYPE_F32, "float32", "f32"},
    {ST2V_DTYPE_BF16, "bfloat16 products on a CPU with AVX512-BF16 (float32 "
          "on one without)", "bf16"},
    {0, NULL, NULL},
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstSt2vDtype", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

/* ================================================================ class */

static void
gst_st2v_src_class_init (GstSt2vSrcClass * klass)
{
  GObjectClass *gobject_class = (GObjectClass *) klass;
  GstElementClass *element_class = (GstElementClass *) klass;
  GstBaseSrcClass *basesrc_class = (GstBaseSrcClass *) klass;
  GstPushSrcClass *pushsrc_class = (GstPushSrcClass *) klass;

  GST_DEBUG_CATEGORY_INIT (gst_st2v_src_debug, "st2vsrc", 0,
      "st2v text-to-video source");

  gobject_class->set_property = gst_st2v_src_set_property;
  gobject_class->get_property = gst_st2v_src_get_property;
  gobject_class->finalize = gst_st2v_src_finalize;

  g_object_class_install_property (gobject_class, PROP_PROMPT,
      g_param_spec_string ("prompt", "Prompt",
          "What to show (required); a change while playing shows from the "
          "next chunk, continuing from the last frames", DEFAULT_PROMPT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_NEGATIVE_PROMPT,
      g_param_spec_string ("negative-prompt", "Negative prompt",
          "What to steer away from (empty: nothing)", DEFAULT_NEGATIVE_PROMPT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_SEED,
      gst_st2v_param_spec_int64 ("seed", "Seed",
          "Noise seed: the same seed gives the same frames; -1 = random "
          "(the chosen seed is logged)", -1, G_MAXINT64, DEFAULT_SEED,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_STEPS,
      gst_st2v_param_spec_int ("steps", "Steps",
          "Sampling steps per chunk, 0 = the model's default", 0, 1000,
          DEFAULT_STEPS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_GUIDANCE,
      gst_st2v_param_spec_float ("guidance", "Guidance",
          "Classifier-free guidance scale 0..100, -1 = the model's default",
          -1.0f, 100.0f, DEFAULT_GUIDANCE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_SAMPLER,
      g_param_spec_enum ("sampler", "Sampler", "Sampling method",
          GST_TYPE_ST2V_SAMPLER, DEFAULT_SAMPLER,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_SHIFT,
      gst_st2v_param_spec_float ("shift", "Shift",
          "Timestep shift, 0 = the model's default", 0.0f, 100.0f,
          DEFAULT_SHIFT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model",
          "Model file or folder (default: the installed default model, or "
          "$ST2V_MODEL)", DEFAULT_MODEL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_THREADS,
      gst_st2v_param_spec_int ("threads", "Threads",
          "Worker threads, 0 = all cores", 0, 256, DEFAULT_THREADS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_IS_LIVE,
      g_param_spec_boolean ("is-live", "Is Live",
          "Act as a live source: generate ahead in a worker thread and "
          "push each frame at its time", DEFAULT_IS_LIVE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_IMAGE,
      g_param_spec_string ("image", "Image",
          "PNG image to start from (image to video)", DEFAULT_IMAGE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_ALPHA,
      g_param_spec_boolean ("alpha", "Alpha",
          "Render on a green screen and key it out: RGBA with a "
          "transparent background", DEFAULT_ALPHA,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_QUEUE_SIZE,
      gst_st2v_param_spec_uint ("queue-size", "Queue size",
          "Live mode: frames generated ahead of the one playing", 1, 1024,
          DEFAULT_QUEUE_SIZE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_DTYPE,
      g_param_spec_enum ("dtype", "Compute dtype",
          "Precision of the DiT's matrix products, chosen when the model "
          "loads: bf16 is faster, its frames within bfloat16 rounding of "
          "f32's; without AVX512-BF16 it computes in float32",
          GST_TYPE_ST2V_DTYPE, DEFAULT_DTYPE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  gst_element_class_set_static_metadata (element_class,
      "st2v text-to-video source", "Source/Video",
      "Generates video from a text prompt with libst2v",
      "st2v developers");
  gst_element_class_add_static_pad_template (element_class,
      &gst_st2v_src_template);

  basesrc_class->get_caps = GST_DEBUG_FUNCPTR (gst_st2v_src_get_caps);
  basesrc_class->fixate = GST_DEBUG_FUNCPTR (gst_st2v_src_fixate);
  basesrc_class->set_caps = GST_DEBUG_FUNCPTR (gst_st2v_src_set_caps);
  basesrc_class->decide_allocation =
      GST_DEBUG_FUNCPTR (gst_st2v_src_decide_allocation);
  basesrc_class->query = GST_DEBUG_FUNCPTR (gst_st2v_src_query);
  basesrc_class->get_times = GST_DEBUG_FUNCPTR (gst_st2v_src_get_times);
  basesrc_class->is_seekable = GST_DEBUG_FUNCPTR (gst_st2v_src_is_seekable);
  basesrc_class->do_seek = GST_DEBUG_FUNCPTR (gst_st2v_src_do_seek);
  basesrc_class->start = GST_DEBUG_FUNCPTR (gst_st2v_src_start);
  basesrc_class->stop = GST_DEBUG_FUNCPTR (gst_st2v_src_stop);
  basesrc_class->unlock = GST_DEBUG_FUNCPTR (gst_st2v_src_unlock);
  basesrc_class->unlock_stop = GST_DEBUG_FUNCPTR (gst_st2v_src_unlock_stop);
  pushsrc_class->fill = GST_DEBUG_FUNCPTR (gst_st2v_src_fill);

  gst_type_mark_as_plugin_api (GST_TYPE_ST2V_SAMPLER, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_ST2V_DTYPE, 0);
}

static void
gst_st2v_src_init (GstSt2vSrc * src)
{
  src->prompt = g_strdup (DEFAULT_PROMPT);
  src->negative_prompt = g_strdup (DEFAULT_NEGATIVE_PROMPT);
  src->seed = DEFAULT_SEED;
  src->steps = DEFAULT_STEPS;
  src->guidance = DEFAULT_GUIDANCE;
  src->sampler = DEFAULT_SAMPLER;
  src->shift = DEFAULT_SHIFT;
  src->model_path = g_strdup (DEFAULT_MODEL);
  src->threads = DEFAULT_THREADS;
  src->image_path = g_strdup (DEFAULT_IMAGE);
  src->alpha = DEFAULT_ALPHA;
  src->queue_size = DEFAULT_QUEUE_SIZE;
  src->dtype = DEFAULT_DTYPE;

  gst_st2v_worker_init (&src->worker);
  gst_video_info_init (&src->info);
  src->seek_position = GST_CLOCK_TIME_NONE;

  gst_base_src_set_format (GST_BASE_SRC (src), GST_FORMAT_TIME);
  gst_base_src_set_live (GST_BASE_SRC (src), DEFAULT_IS_LIVE);
}

static void
gst_st2v_src_finalize (GObject * object)
{
  GstSt2vSrc *src = GST_ST2V_SRC (object);

  g_free (src->prompt);
  g_free (src->negative_prompt);
  g_free (src->model_path);
  g_free (src->image_path);
  g_free (src->pending_prompt);
  g_free (src->pending_negative);
  for (guint i = 0; i < G_N_ELEMENTS (src->refused); i++)
    g_free (src->refused[i]);
  gst_st2v_worker_clear (&src->worker);

  G_OBJECT_CLASS (parent_class)->finalize (object);
}

/* ================================================================ helpers */

static gboolean
is_blank (const gchar * s)
{
  for (; s && *s; s++)
    if (!g_ascii_isspace (*s))
      return FALSE;
  return TRUE;
}

/* The prompt the model gets: in alpha mode, the subject on a green screen. */
static gchar *
model_prompt (gboolean alpha, const gchar * prompt)
{
  gchar *lower;
  gboolean has_screen;

  if (!alpha)
    return g_strdup (prompt);
  lower = g_ascii_strdown (prompt, -1);
  has_screen = strstr (lower, "green screen") || strstr (lower, "greenscreen");
  g_free (lower);
  return has_screen ? g_strdup (prompt) :
      g_strconcat (prompt, ST2V_SCREEN_SUFFIX, NULL);
}

/* libst2v's log callback: its messages go to the st2vsrc debug category. */
static void
log_cb (void *user_data, st2v_log_level level, const char *msg)
{
  static const GstDebugLevel levels[] = {
    [ST2V_LOG_ERROR] = GST_LEVEL_ERROR,
    [ST2V_LOG_WARNING] = GST_LEVEL_WARNING,
    [ST2V_LOG_INFO] = GST_LEVEL_INFO,      /* one line per chunk */
    [ST2V_LOG_DEBUG] = GST_LEVEL_DEBUG,
  };
  GstDebugLevel l = (guint) level < G_N_ELEMENTS (levels) ? levels[level] :
      GST_LEVEL_DEBUG;

  GST_CAT_LEVEL_LOG (GST_CAT_DEFAULT, l, user_data, "%s", msg);
}

/* libst2v's progress callback: an element message per sampling step. */
static void
progress_cb (void *user_data, const st2v_progress * p)
{
  GstSt2vSrc *src = user_data;
  gint num_buffers;
  GstStructure *s;

  GST_OBJECT_LOCK (src);
  num_buffers = GST_BASE_SRC (src)->num_buffers;
  GST_OBJECT_UNLOCK (src);

  s = gst_structure_new ("st2vsrc-progress",
      "chunk", G_TYPE_INT, p->chunk,
      "step", G_TYPE_INT, p->step,
      "steps", G_TYPE_INT, p->steps,
      "frames-done", G_TYPE_INT64, (gint64) p->frames_done,
      "frames-total", G_TYPE_INT64, (gint64) num_buffers,
      "seed", G_TYPE_UINT64, (guint64) src->used_seed, NULL);
  gst_element_post_message (GST_ELEMENT (src),
      gst_message_new_element (GST_OBJECT (src), s));
}

/* A property that only changes in NULL or READY: refuse it later on. */
static gboolean
check_not_started (GstSt2vSrc * src, GParamSpec * pspec)
{
  gboolean started;

  GST_OBJECT_LOCK (src);
  started = src->started;
  GST_OBJECT_UNLOCK (src);
  if (started)
    GST_WARNING_OBJECT (src, "%s can only change in the NULL or READY "
        "state; ignored", g_param_spec_get_name (pspec));
  return !started;
}

static void
set_string (gchar ** field, const GValue * value)
{
  g_free (*field);
  *field = g_value_dup_string (value);
}

/* ================================================================ properties */

/* A numeric property's value against its range (st2vparam.c: GObject
 * passes every value on). Before start(): a bad value is kept as the
 * reason start() will fail with, and a good one clears it; while
 * running: a bad value is refused with a warning. TRUE: set it. */
static gboolean
check_range (GstSt2vSrc * src, guint prop_id, GParamSpec * pspec,
    const GValue * value)
{
  gchar *why = gst_st2v_param_check (pspec, value);
  gboolean started;

  GST_OBJECT_LOCK (src);
  started = src->started;
  if (!started) {
    g_free (src->refused[prop_id]);
    src->refused[prop_id] = why ? g_strdup (why) : NULL;
  }
  GST_OBJECT_UNLOCK (src);
  if (why && started)
    GST_ELEMENT_WARNING (src, RESOURCE, SETTINGS,
        ("Ignoring an invalid setting: %s", why), (NULL));
  else if (why)
    GST_WARNING_OBJECT (src, "invalid setting, start will fail: %s", why);
  g_free (why);
  return why == NULL;
}

static void
gst_st2v_src_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstSt2vSrc *src = GST_ST2V_SRC (object);

  switch (prop_id) {
    case PROP_SEED:
    case PROP_STEPS:
    case PROP_GUIDANCE:
    case PROP_SHIFT:
    case PROP_THREADS:
    case PROP_QUEUE_SIZE:
      if (!check_range (src, prop_id, pspec, value))
        return;
      break;
    default:
      break;
  }

  switch (prop_id) {
    case PROP_PROMPT:{
      const gchar *prompt = g_value_get_string (value);
      gboolean refused = FALSE;
      gchar why[160];

      GST_OBJECT_LOCK (src);
      if (src->started && st2v_prompt_check (prompt, 0, why, sizeof (why))) {
        refused = TRUE;
      } else {
        set_string (&src->prompt, value);
        if (src->started) {
          g_free (src->pending_prompt);
          src->pending_prompt = g_strdup (prompt);
        }
      }
      GST_OBJECT_UNLOCK (src);
      if (refused && is_blank (prompt))
        GST_ELEMENT_WARNING (src, RESOURCE, SETTINGS,
            ("Ignoring an empty prompt"), (NULL));
      else if (refused)
        GST_ELEMENT_WARNING (src, RESOURCE, SETTINGS,
            ("Ignoring the prompt: %s", why), (NULL));
      else
        GST_INFO_OBJECT (src, "prompt set to '%s'", GST_STR_NULL (prompt));
      break;
    }
    case PROP_NEGATIVE_PROMPT:{
      gchar why[160];
      gboolean refused = FALSE;

      GST_OBJECT_LOCK (src);
      if (src->started && st2v_prompt_check (g_value_get_string (value), 1,
              why, sizeof (why))) {
        refused = TRUE;
      } else {
        set_string (&src->negative_prompt, value);
        if (src->started) {
          g_free (src->pending_negative);
          src->pending_negative = g_strdup (src->negative_prompt ?
              src->negative_prompt : "");
        }
      }
      GST_OBJECT_UNLOCK (src);
      if (refused)
        GST_ELEMENT_WARNING (src, RESOURCE, SETTINGS,
            ("Ignoring the negative prompt: %s", why), (NULL));
      break;
    }
    case PROP_GUIDANCE:
      GST_OBJECT_LOCK (src);
      src->guidance = g_value_get_float (value);
      if (src->started) {
        src->pending_guidance = src->guidance;
        src->guidance_pending = TRUE;
      }
      GST_OBJECT_UNLOCK (src);
      break;
    case PROP_SEED:
      if (check_not_started (src, pspec)) {
        GST_OBJECT_LOCK (src);
        src->seed = g_value_get_int64 (value);
        GST_OBJECT_UNLOCK (src);
      }
      break;
    case PROP_STEPS:
      if (check_not_started (src, pspec)) {
        GST_OBJECT_LOCK (src);
        src->steps = g_value_get_int (value);
        GST_OBJECT_UNLOCK (src);
      }
      break;
    case PROP_SAMPLER:
      if (check_not_started (src, pspec)) {
        GST_OBJECT_LOCK (src);
        src->sampler = g_value_get_enum (value);
        GST_OBJECT_UNLOCK (src);
      }
      break;
    case PROP_SHIFT:
      if (check_not_started (src, pspec)) {
        GST_OBJECT_LOCK (src);
        src->shift = g_value_get_float (value);
        GST_OBJECT_UNLOCK (src);
      }
      break;
    case PROP_MODEL:
      if (check_not_started (src, pspec)) {
        GST_OBJECT_LOCK (src);
        set_string (&src->model_path, value);
        GST_OBJECT_UNLOCK (src);
      }
      break;
    case PROP_THREADS:
      if (check_not_started (src, pspec)) {
        GST_OBJECT_LOCK (src);
        src->threads = g_value_get_int (value);
        GST_OBJECT_UNLOCK (src);
      }
      break;
    case PROP_IS_LIVE:
      if (check_not_started (src, pspec))
        gst_base_src_set_live (GST_BASE_SRC (src), g_value_get_boolean (value));
      break;
    case PROP_IMAGE:
      if (check_not_started (src, pspec)) {
        GST_OBJECT_LOCK (src);
        set_string (&src->image_path, value);
        GST_OBJECT_UNLOCK (src);
      }
      break;
    case PROP_ALPHA:
      if (check_not_started (src, pspec)) {
        GST_OBJECT_LOCK (src);
        src->alpha = g_value_get_boolean (value);
        GST_OBJECT_UNLOCK (src);
        gst_pad_mark_reconfigure (GST_BASE_SRC_PAD (src));
      }
      break;
    case PROP_QUEUE_SIZE:
      if (check_not_started (src, pspec)) {
        GST_OBJECT_LOCK (src);
        src->queue_size = g_value_get_uint (value);
        GST_OBJECT_UNLOCK (src);
      }
      break;
    case PROP_DTYPE:
      if (check_not_started (src, pspec)) {
        GST_OBJECT_LOCK (src);
        src->dtype = g_value_get_enum (value);
        GST_OBJECT_UNLOCK (src);
      }
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_st2v_src_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstSt2vSrc *src = GST_ST2V_SRC (object);

  if (prop_id == PROP_IS_LIVE) {
    g_value_set_boolean (value, gst_base_src_is_live (GST_BASE_SRC (src)));
    return;
  }
  GST_OBJECT_LOCK (src);
  switch (prop_id) {
    case PROP_PROMPT:
      g_value_set_string (value, src->prompt);
      break;
    case PROP_NEGATIVE_PROMPT:
      g_value_set_string (value, src->negative_prompt);
      break;
    case PROP_SEED:
      g_value_set_int64 (value, src->seed);
      break;
    case PROP_STEPS:
      g_value_set_int (value, src->steps);
      break;
    case PROP_GUIDANCE:
      g_value_set_float (value, src->guidance);
      break;
    case PROP_SAMPLER:
      g_value_set_enum (value, src->sampler);
      break;
    case PROP_SHIFT:
      g_value_set_float (value, src->shift);
      break;
    case PROP_MODEL:
      g_value_set_string (value, src->model_path);
      break;
    case PROP_THREADS:
      g_value_set_int (value, src->threads);
      break;
    case PROP_IMAGE:
      g_value_set_string (value, src->image_path);
      break;
    case PROP_ALPHA:
      g_value_set_boolean (value, src->alpha);
      break;
    case PROP_QUEUE_SIZE:
      g_value_set_uint (value, src->queue_size);
      break;
    case PROP_DTYPE:
      g_value_set_enum (value, src->dtype);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (src);
}

/* ================================================================ start, stop */

/* Load the model: the property's file, else the default model; its
 * compute dtype the dtype property's. */
static gboolean
load_model (GstSt2vSrc * src, const gchar * model_path, st2v_dtype dtype)
{
  st2v_model_params mp = st2v_model_default_params ();
  gchar path[4096], err[512];
  gint rc;

  path[0] = 0;
  if (!model_path || !*model_path) {
    rc = st2v_default_model_path (path, sizeof (path));
    if (rc < 0)
      goto no_default;
    model_path = path;
  }
  src->model_file = g_strdup (model_path);
  mp.compute_dtype = dtype;
  rc = st2v_model_load_with_params (&src->model, model_path, &mp, err,
      sizeof (err));
  if (rc < 0)
    goto load_failed;
  src->minfo = st2v_model_get_info (src->model);
  return TRUE;

  /* ERRORS */
no_default:
  {
    GST_ELEMENT_ERROR (src, RESOURCE, NOT_FOUND,
        ("No default model installed%s%s: set the model property or the "
            "ST2V_MODEL environment variable", *path ? " at " : "", path),
        ("st2v_default_model_path: %s", st2v_strerror (rc)));
    return FALSE;
  }
load_failed:
  {
    if (rc == ST2V_ERR_IO && access (model_path, F_OK) != 0)
      GST_ELEMENT_ERROR (src, RESOURCE, NOT_FOUND,
          ("Cannot load the model '%s': %s", model_path, err),
          ("st2v_model_load_with_params: %s", st2v_strerror (rc)));
    else
      GST_ELEMENT_ERROR (src, RESOURCE, OPEN_READ,
          ("Cannot load the model '%s': %s", model_path, err),
          ("st2v_model_load_with_params: %s", st2v_strerror (rc)));
    return FALSE;
  }
}

/* A generator for the settled settings at w x h and fps_n/fps_d (0: the
 * model's native size and rate). */
static gint
make_generator (GstSt2vSrc * src, gint w, gint h, gint fps_n, gint fps_d,
    st2v_generator ** out, gchar * err, gsize err_size)
{
  st2v_params p = src->params;

  p.prompt = src->cur_prompt;
  p.negative_prompt = src->cur_negative;
  p.cfg = src->cur_guidance;
  p.width = w;
  p.height = h;
  p.fps_num = fps_n;
  p.fps_den = fps_n ? fps_d : 0;
  return st2v_generator_new (out, src->model, &p, err, err_size);
}

static gboolean
gst_st2v_src_start (GstBaseSrc * bsrc)
{
  GstSt2vSrc *src = GST_ST2V_SRC (bsrc);
  st2v_params p = st2v_default_params ();
  gchar *prompt, *negative, *model_path, *image_path, *refused = NULL;
  st2v_dtype dtype;
  gboolean alpha;
  gint64 seed;
  gchar err[512];
  gint rc;

  GST_OBJECT_LOCK (src);
  prompt = g_strdup (src->prompt);
  negative = g_strdup (src->negative_prompt ? src->negative_prompt : "");
  model_path = g_strdup (src->model_path);
  image_path = g_strdup (src->image_path);
  alpha = src->alpha;
  dtype = src->dtype;
  seed = src->seed;
  p.steps = src->steps;
  p.cfg = src->guidance;
  p.sampler = src->sampler;
  p.shift = src->shift;
  p.threads = src->threads;
  for (guint i = 0; i < G_N_ELEMENTS (src->refused) && !refused; i++)
    refused = g_strdup (src->refused[i]);
  g_clear_pointer (&src->pending_prompt, g_free);
  g_clear_pointer (&src->pending_negative, g_free);
  src->guidance_pending = FALSE;
  GST_OBJECT_UNLOCK (src);

  if (refused)
    goto bad_setting;
  if (is_blank (prompt))
    goto empty_prompt;
  if (st2v_prompt_check (prompt, 0, err, sizeof (err)) ||
      st2v_prompt_check (negative, 1, err, sizeof (err)))
    goto bad_prompt;
  if (p.cfg < 0 && p.cfg != -1.0f)
    goto bad_guidance;
  if (!load_model (src, model_path, dtype))
    goto failed;
  if (image_path && *image_path) {
    rc = st2v_load_png (image_path, &src->image, &src->image_w,
        &src->image_h, err, sizeof (err));
    if (rc < 0)
      goto bad_image;
    p.image_rgb = src->image;
    p.image_width = src->image_w;
    p.image_height = src->image_h;
    p.image_stride = src->image_w * 3;
  }

  src->used_seed = seed >= 0 ? (guint64) seed :
      ((guint64) g_random_int () << 32) | g_random_int ();
  p.seed = src->used_seed;
  p.frames = -1;                /* endless: num-buffers or a segment ends it */
  p.log = log_cb;
  p.progress = progress_cb;
  p.user_data = src;
  src->params = p;
  src->cur_prompt = model_prompt (alpha, prompt);
  src->cur_negative = negative;
  negative = NULL;
  src->cur_guidance = p.cfg;

  /* every setting is checked now, at the native size: a bad one fails the
   * state change, not the streaming thread */
  rc = make_generator (src, 0, 0, 0, 0, &src->gen, err, sizeof (err));
  if (rc < 0)
    goto bad_settings;
  st2v_generator_get_info (src->gen, &src->ginfo);

  GST_INFO_OBJECT (src, "model %s (%s), dtype %s, native %dx%d at %d fps, "
      "seed %" G_GUINT64_FORMAT "%s", src->minfo->name, src->model_file,
      dtype == ST2V_DTYPE_BF16 ? "bf16" : "f32", src->ginfo.native_width, src->ginfo.native_height, src->minfo->fps,
      src->used_seed, seed < 0 ? " (random)" : "");

  gst_video_info_init (&src->info);
  src->n_frames = 0;
  src->accum_frames = 0;
  src->accum_rtime = 0;
  src->gen_pos = 0;
  src->gen_target = 0;
  src->seek_position = GST_CLOCK_TIME_NONE;
  src->last_chunk = -1;
  src->discont = FALSE;
  src->processed = src->dropped = 0;
  src->live_offset = 0;
  st2v_key_init (&src->key);
  gst_st2v_worker_reset (&src->worker);

  GST_OBJECT_LOCK (src);
  src->started = TRUE;
  GST_OBJECT_UNLOCK (src);
  g_free (prompt);
  g_free (model_path);
  g_free (image_path);
  return TRUE;

  /* ERRORS */
bad_setting:
  {
    GST_ELEMENT_ERROR (src, RESOURCE, SETTINGS, ("Invalid setting: %s",
            refused), (NULL));
    g_free (refused);
    goto failed;
  }
empty_prompt:
  {
    GST_ELEMENT_ERROR (src, RESOURCE, SETTINGS,
        ("The prompt is empty"),
        ("set the prompt property, e.g. st2vsrc prompt=\"snow falling at "
            "night\""));
    goto failed;
  }
bad_prompt:
  {
    GST_ELEMENT_ERROR (src, RESOURCE, SETTINGS, ("Invalid prompt: %s", err),
        (NULL));
    goto failed;
  }
bad_guidance:
  {
    GST_ELEMENT_ERROR (src, RESOURCE, SETTINGS,
        ("Invalid guidance %g: give 0 to 100, or -1 for the model's default",
            p.cfg), (NULL));
    goto failed;
  }
bad_image:
  {
    GST_ELEMENT_ERROR (src, RESOURCE, OPEN_READ,
        ("Cannot read the image '%s': %s", image_path, err),
        ("st2v_load_png: %s", st2v_strerror (rc)));
    goto failed;
  }
bad_settings:
  {
    GST_ELEMENT_ERROR (src, RESOURCE, SETTINGS,
        ("Invalid settings for the model '%s': %s", src->minfo->name, err),
        ("st2v_generator_new: %s", st2v_strerror (rc)));
    goto failed;
  }
failed:
  {
    g_free (prompt);
    g_free (negative);
    g_free (model_path);
    g_free (image_path);
    gst_st2v_src_stop (bsrc);
    return FALSE;
  }
}

static gboolean
gst_st2v_src_stop (GstBaseSrc * bsrc)
{
  GstSt2vSrc *src = GST_ST2V_SRC (bsrc);

  GST_OBJECT_LOCK (src);
  src->started = FALSE;
  GST_OBJECT_UNLOCK (src);

  gst_st2v_worker_stop (&src->worker);
  gst_st2v_worker_replace_generator (&src->worker, &src->gen, NULL, FALSE);
  st2v_model_free (src->model);
  src->model = NULL;
  src->minfo = NULL;
  g_clear_pointer (&src->model_file, g_free);
  free (src->image);            /* st2v_load_png's buffer */
  src->image = NULL;
  g_clear_pointer (&src->cur_prompt, g_free);
  g_clear_pointer (&src->cur_negative, g_free);
  g_clear_pointer (&src->convert, gst_video_converter_free);
  g_clear_pointer (&src->rgb, g_free);
  gst_video_info_init (&src->info);
  return TRUE;
}

/* ================================================================ caps */

static GstCaps *
gst_st2v_src_get_caps (GstBaseSrc * bsrc, GstCaps * filter)
{
  GstSt2vSrc *src = GST_ST2V_SRC (bsrc);
  GstCaps *caps, *tmp;
  gboolean alpha;

  GST_OBJECT_LOCK (src);
  alpha = src->alpha;
  GST_OBJECT_UNLOCK (src);

  caps = gst_pad_get_pad_template_caps (GST_BASE_SRC_PAD (bsrc));
  if (alpha) {
    caps = gst_caps_make_writable (caps);
    gst_caps_set_simple (caps, "format", G_TYPE_STRING, "RGBA", NULL);
  }
  if (filter) {
    tmp = gst_caps_intersect_full (filter, caps, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (caps);
    caps = tmp;
  }
  return caps;
}

/* Downstream does not care: the model's native size and frame rate. */
static GstCaps *
gst_st2v_src_fixate (GstBaseSrc * bsrc, GstCaps * caps)
{
  GstSt2vSrc *src = GST_ST2V_SRC (bsrc);
  GstStructure *s;
  gint w = 0, h = 0, fps = 0;

  if (src->gen) {
    w = src->ginfo.native_width;
    h = src->ginfo.native_height;
    fps = src->minfo->fps;
  }
  caps = gst_caps_make_writable (caps);
  s = gst_caps_get_structure (caps, 0);
  if (w > 0) {
    gst_structure_fixate_field_nearest_int (s, "width", w);
    gst_structure_fixate_field_nearest_int (s, "height", h);
    gst_structure_fixate_field_nearest_fraction (s, "framerate", fps, 1);
  }
  if (gst_structure_has_field (s, "pixel-aspect-ratio"))
    gst_structure_fixate_field_nearest_fraction (s, "pixel-aspect-ratio", 1,
        1);
  return GST_BASE_SRC_CLASS (parent_class)->fixate (bsrc, caps);
}

static gint worker_generate (gpointer user_data, st2v_generator * gen,
    guint8 * dst, gsize stride, st2v_frame_info * fi);

static gboolean
gst_st2v_src_set_caps (GstBaseSrc * bsrc, GstCaps * caps)
{
  GstSt2vSrc *src = GST_ST2V_SRC (bsrc);
  GstVideoInfo info;
  GstVideoFormat format;
  st2v_generator *gen = NULL;
  gboolean live = gst_base_src_is_live (bsrc);
  gchar err[512];
  gint rc;

  if (!src->gen)
    goto not_started;
  if (!gst_video_info_from_caps (&info, caps))
    goto bad_caps;
  if (info.fps_n <= 0 || info.fps_d <= 0)
    goto no_framerate;
  if (gst_util_fraction_compare (info.fps_n, info.fps_d, MIN_FPS_N,
          MIN_FPS_D) < 0)
    goto slow_framerate;
  if (info.width % 2 || info.height % 2)
    goto odd_size;
  format = GST_VIDEO_INFO_FORMAT (&info);
  if (src->alpha && format != GST_VIDEO_FORMAT_RGBA)
    goto bad_caps;

  /* a new size or rate needs a new generator: it continues at the same
   * frame (non-live: regenerated up to it; live: from the start) */
  if (info.width != src->ginfo.width || info.height != src->ginfo.height ||
      (gint64) info.fps_n * src->ginfo.fps_den !=
      (gint64) src->ginfo.fps_num * info.fps_d) {
    gst_st2v_worker_stop (&src->worker);        /* it may change cur_prompt */
    rc = make_generator (src, info.width, info.height, info.fps_n,
        info.fps_d, &gen, err, sizeof (err));
    if (rc < 0)
      goto bad_settings;
    gst_st2v_worker_replace_generator (&src->worker, &src->gen, gen, !live);
    st2v_generator_get_info (gen, &src->ginfo);
    src->gen_pos = 0;
    src->last_chunk = -1;
    st2v_key_init (&src->key);
    if (live)
      src->gen_target = 0;
  }

  g_clear_pointer (&src->convert, gst_video_converter_free);
  g_free (src->rgb);
  src->rgb = g_malloc ((gsize) info.width * info.height * 3);
  gst_video_info_set_format (&src->rgb_info, GST_VIDEO_FORMAT_RGB,
      info.width, info.height);
  /* packed rows, as libst2v writes them (not rounded up to 4 bytes) */
  src->rgb_info.stride[0] = info.width * 3;
  src->rgb_info.size = (gsize) info.width * 3 * info.height;
  src->rgb_info.fps_n = info.fps_n;
  src->rgb_info.fps_d = info.fps_d;
  src->rgb_info.par_n = info.par_n;
  src->rgb_info.par_d = info.par_d;
  if (format != GST_VIDEO_FORMAT_RGB && !src->alpha) {
    src->convert = gst_video_converter_new (&src->rgb_info, &info, NULL);
    if (!src->convert)
      goto no_converter;
  }

  /* timestamps go on from where they were (a renegotiation) */
  if (src->info.fps_n > 0) {
    src->accum_rtime += gst_util_uint64_scale (src->n_frames,
        (guint64) src->info.fps_d * GST_SECOND, src->info.fps_n);
    src->accum_frames += src->n_frames;
    src->n_frames = 0;
  }
  src->info = info;
  if (GST_CLOCK_TIME_IS_VALID (src->seek_position)) {
    src->n_frames = gst_util_uint64_scale (src->seek_position, info.fps_n,
        (guint64) info.fps_d * GST_SECOND);
    src->gen_target = src->n_frames;
    src->seek_position = GST_CLOCK_TIME_NONE;
  }

  GST_DEBUG_OBJECT (src, "negotiated %s %dx%d at %d/%d fps",
      gst_video_format_to_string (format), info.width, info.height,
      info.fps_n, info.fps_d);
  if (live)
    gst_st2v_worker_start (&src->worker, src->gen, src->ginfo.width,
        src->ginfo.height, src->queue_size, worker_generate, src);
  return TRUE;

  /* ERRORS */
not_started:
  {
    GST_DEBUG_OBJECT (src, "caps before start()");
    return FALSE;
  }
bad_caps:
  {
    GST_DEBUG_OBJECT (src, "cannot use caps %" GST_PTR_FORMAT, caps);
    return FALSE;
  }
no_framerate:
  {
    GST_ELEMENT_ERROR (src, CORE, NEGOTIATION,
        ("st2vsrc needs a frame rate: caps with framerate %d/%d (a still "
            "image) are not supported", info.fps_n, info.fps_d),
        ("caps %" GST_PTR_FORMAT, caps));
    return FALSE;
  }
slow_framerate:
  {
    GST_ELEMENT_ERROR (src, CORE, NEGOTIATION,
        ("Invalid frame rate %d/%d: give a rate from 1/10 to 1000",
            info.fps_n, info.fps_d), ("caps %" GST_PTR_FORMAT, caps));
    return FALSE;
  }
odd_size:
  {
    GST_ELEMENT_ERROR (src, CORE, NEGOTIATION,
        ("Invalid size %dx%d: width and height must be even, from 16 to "
            "8192", info.width, info.height),
        ("caps %" GST_PTR_FORMAT, caps));
    return FALSE;
  }
bad_settings:
  {
    GST_ELEMENT_ERROR (src, CORE, NEGOTIATION,
        ("Invalid settings for the model '%s': %s", src->minfo->name, err),
        ("caps %" GST_PTR_FORMAT, caps));
    return FALSE;
  }
no_converter:
  {
    GST_ELEMENT_ERROR (src, CORE, NEGOTIATION,
        ("Cannot convert RGB to %s", gst_video_format_to_string (format)),
        (NULL));
    return FALSE;
  }
}

static gboolean
gst_st2v_src_decide_allocation (GstBaseSrc * bsrc, GstQuery * query)
{
  GstSt2vSrc *src = GST_ST2V_SRC (bsrc);
  GstBufferPool *pool;
  gboolean update;
  guint size, min, max;
  GstStructure *config;
  GstCaps *caps = NULL;

  if (gst_query_get_n_allocation_pools (query) > 0) {
    gst_query_parse_nth_allocation_pool (query, 0, &pool, &size, &min, &max);
    size = MAX (size, src->info.size);
    update = TRUE;
  } else {
    pool = NULL;
    size = src->info.size;
    min = max = 0;
    update = FALSE;
  }

  if (pool == NULL)
    pool = gst_video_buffer_pool_new ();

  config = gst_buffer_pool_get_config (pool);
  gst_query_parse_allocation (query, &caps, NULL);
  if (caps)
    gst_buffer_pool_config_set_params (config, caps, size, min, max);
  if (gst_query_find_allocation_meta (query, GST_VIDEO_META_API_TYPE, NULL))
    gst_buffer_pool_config_add_option (config,
        GST_BUFFER_POOL_OPTION_VIDEO_META);
  gst_buffer_pool_set_config (pool, config);

  if (update)
    gst_query_set_nth_allocation_pool (query, 0, pool, size, min, max);
  else
    gst_query_add_allocation_pool (query, pool, size, min, max);
  gst_object_unref (pool);

  return GST_BASE_SRC_CLASS (parent_class)->decide_allocation (bsrc, query);
}

/* ================================================================ queries */

static gboolean
gst_st2v_src_query (GstBaseSrc * bsrc, GstQuery * query)
{
  GstSt2vSrc *src = GST_ST2V_SRC (bsrc);
  gboolean res = FALSE;

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_CONVERT:{
      GstFormat src_fmt, dest_fmt;
      gint64 src_val, dest_val;

      GST_OBJECT_LOCK (src);
      gst_query_parse_convert (query, &src_fmt, &src_val, &dest_fmt,
          &dest_val);
      res = gst_video_info_convert (&src->info, src_fmt, src_val, dest_fmt,
          &dest_val);
      gst_query_set_convert (query, src_fmt, src_val, dest_fmt, dest_val);
      GST_OBJECT_UNLOCK (src);
      break;
    }
    case GST_QUERY_LATENCY:{
      GstClockTime latency;

      GST_OBJECT_LOCK (src);
      if (src->info.fps_n > 0) {
        /* a frame is pushed at its time; downstream needs one frame time
         * to show it */
        latency = gst_util_uint64_scale (GST_SECOND, src->info.fps_d,
            src->info.fps_n);
        GST_OBJECT_UNLOCK (src);
        gst_query_set_latency (query, gst_base_src_is_live (bsrc), latency,
            GST_CLOCK_TIME_NONE);
        GST_DEBUG_OBJECT (src, "latency %" GST_TIME_FORMAT,
            GST_TIME_ARGS (latency));
        res = TRUE;
      } else {
        GST_OBJECT_UNLOCK (src);
      }
      break;
    }
    case GST_QUERY_DURATION:{
      GstFormat format;
      gint num_buffers;

      gst_query_parse_duration (query, &format, NULL);
      GST_OBJECT_LOCK (src);
      num_buffers = bsrc->num_buffers;
      if (format == GST_FORMAT_DEFAULT) {
        gst_query_set_duration (query, format,
            num_buffers >= 0 ? num_buffers : -1);
        res = TRUE;
      } else if (format == GST_FORMAT_TIME && num_buffers < 0) {
        gst_query_set_duration (query, format, -1);
        res = TRUE;
      } else if (format == GST_FORMAT_TIME && src->info.fps_n > 0) {
        gst_query_set_duration (query, format,
            gst_util_uint64_scale_int_round ((guint64) num_buffers *
                GST_SECOND, src->info.fps_d, src->info.fps_n));
        res = TRUE;
      }
      GST_OBJECT_UNLOCK (src);
      if (!res)
        res = GST_BASE_SRC_CLASS (parent_class)->query (bsrc, query);
      break;
    }
    default:
      res = GST_BASE_SRC_CLASS (parent_class)->query (bsrc, query);
      break;
  }
  return res;
}

/* Live: basesrc waits for each buffer's time before pushing it. */
static void
gst_st2v_src_get_times (GstBaseSrc * bsrc, GstBuffer * buffer,
    GstClockTime * start, GstClockTime * end)
{
  if (gst_base_src_is_live (bsrc)) {
    GstClockTime ts = GST_BUFFER_PTS (buffer);

    if (GST_CLOCK_TIME_IS_VALID (ts)) {
      if (GST_BUFFER_DURATION_IS_VALID (buffer))
        *end = ts + GST_BUFFER_DURATION (buffer);
      *start = ts;
    }
  } else {
    *start = GST_CLOCK_TIME_NONE;
    *end = GST_CLOCK_TIME_NONE;
  }
}

/* ================================================================ seeking */

static gboolean
gst_st2v_src_is_seekable (GstBaseSrc * bsrc)
{
  return !gst_base_src_is_live (bsrc);
}

/* Any position, rate > 0. Only the target frame is noted here; fill_now()
 * gets there: back (to the start too) it rewinds the generator and
 * regenerates up to the frame, forward it generates the frames in between.
 * libst2v is deterministic, so a seek shows exactly the frames of a
 * straight run; the cost is the generation of the frames skipped over. */
static gboolean
gst_st2v_src_do_seek (GstBaseSrc * bsrc, GstSegment * segment)
{
  GstSt2vSrc *src = GST_ST2V_SRC (bsrc);
  GstClockTime position = segment->position;

  if (segment->rate < 0)
    goto reverse;

  segment->time = segment->start;
  src->accum_frames = 0;
  src->accum_rtime = 0;
  src->discont = TRUE;
  if (src->info.fps_n > 0) {
    src->n_frames = gst_util_uint64_scale (position, src->info.fps_n,
        (guint64) src->info.fps_d * GST_SECOND);
    src->seek_position = GST_CLOCK_TIME_NONE;
  } else {
    /* before the caps: settled in set_caps() */
    src->n_frames = 0;
    src->seek_position = position > 0 ? position : GST_CLOCK_TIME_NONE;
  }
  src->gen_target = src->n_frames;
  GST_DEBUG_OBJECT (src, "seek to %" GST_TIME_FORMAT ": frame %"
      G_GINT64_FORMAT, GST_TIME_ARGS (position), src->n_frames);
  return TRUE;

  /* ERRORS */
reverse:
  {
    GST_WARNING_OBJECT (src, "reverse playback is not supported");
    return FALSE;
  }
}

/* ================================================================ unlock */

static gboolean
gst_st2v_src_unlock (GstBaseSrc * bsrc)
{
  GstSt2vSrc *src = GST_ST2V_SRC (bsrc);

  GST_DEBUG_OBJECT (src, "unlock");
  /* not live, the streaming thread may be inside next_frame(); live, the
   * worker goes on generating ahead and create() waits on the queue */
  gst_st2v_worker_set_flushing (&src->worker, TRUE,
      gst_base_src_is_live (bsrc) ? NULL : &src->gen);
  return TRUE;
}

static gboolean
gst_st2v_src_unlock_stop (GstBaseSrc * bsrc)
{
  GstSt2vSrc *src = GST_ST2V_SRC (bsrc);

  GST_DEBUG_OBJECT (src, "unlock_stop");
  gst_st2v_worker_set_flushing (&src->worker, FALSE,
      gst_base_src_is_live (bsrc) ? NULL : &src->gen);
  return TRUE;
}

/* ================================================================ generation */

/* Apply the prompt, negative prompt and guidance set while running; called
 * by the thread that owns the generator, before each frame. */
static void
apply_changes (GstSt2vSrc * src, st2v_generator * gen)
{
  gchar *prompt, *negative;
  gboolean guidance_pending;
  gfloat guidance;
  gint rc;

  GST_OBJECT_LOCK (src);
  prompt = src->pending_prompt;
  negative = src->pending_negative;
  src->pending_prompt = src->pending_negative = NULL;
  guidance_pending = src->guidance_pending;
  guidance = src->pending_guidance;
  src->guidance_pending = FALSE;
  GST_OBJECT_UNLOCK (src);

  if (prompt) {
    gchar *mp = model_prompt (src->alpha, prompt);

    rc = st2v_generator_set_prompt (gen, mp, 0);
    if (rc < 0) {
      GST_WARNING_OBJECT (src, "cannot set the prompt: %s",
          st2v_generator_last_error (gen));
      g_free (mp);
    } else {
      GST_INFO_OBJECT (src, "prompt '%s' from the next chunk", prompt);
      g_free (src->cur_prompt);
      src->cur_prompt = mp;
    }
    g_free (prompt);
  }
  if (negative) {
    rc = st2v_generator_set_prompt (gen, negative, 1);
    if (rc < 0) {
      GST_WARNING_OBJECT (src, "cannot set the negative prompt: %s",
          st2v_generator_last_error (gen));
      g_free (negative);
    } else {
      g_free (src->cur_negative);
      src->cur_negative = negative;
    }
  }
  if (guidance_pending) {
    gfloat cfg = guidance >= 0 ? guidance : src->minfo->default_cfg;

    rc = st2v_generator_set_cfg (gen, cfg);
    if (rc < 0)
      GST_WARNING_OBJECT (src, "cannot set the guidance: %s",
          st2v_generator_last_error (gen));
    else
      src->cur_guidance = guidance;
  }
}

/* The next frame of gen into dst (packed RGB24, rows stride apart). */
static gint
generate (GstSt2vSrc * src, st2v_generator * gen, guint8 * dst,
    gsize stride, st2v_frame_info * fi)
{
  gint rc;

  apply_changes (src, gen);
  rc = st2v_generator_next_frame (gen, dst, stride, fi);
  if (rc == ST2V_OK)
    src->gen_pos++;
  return rc;
}

/* Alpha mode: measure the screen at each chunk's first frame (every frame
 * goes through here in order, skipped ones too, so a seek is exact). */
static void
follow_key (GstSt2vSrc * src, const guint8 * rgb, const st2v_frame_info * fi)
{
  if (src->alpha && fi->chunk != src->last_chunk)
    st2v_key_measure (&src->key, rgb, (ptrdiff_t) src->info.width * 3,
        src->info.width, src->info.height);
  src->last_chunk = fi->chunk;
}

/* Write the RGB24 frame rgb into buffer in the negotiated format. */
static gboolean
render (GstSt2vSrc * src, const guint8 * rgb, GstBuffer * buffer)
{
  GstVideoFrame out, in;
  GstBuffer *inbuf;
  gint w = src->info.width, h = src->info.height;
  gboolean ok = TRUE;

  if (!gst_video_frame_map (&out, &src->info, buffer, GST_MAP_WRITE))
    return FALSE;
  if (src->alpha) {
    st2v_key_frame (GST_VIDEO_FRAME_PLANE_DATA (&out, 0),
        GST_VIDEO_FRAME_PLANE_STRIDE (&out, 0), rgb, (ptrdiff_t) w * 3, w,
        h, &src->key);
  } else if (!src->convert) {
    guint8 *d = GST_VIDEO_FRAME_PLANE_DATA (&out, 0);
    gint stride = GST_VIDEO_FRAME_PLANE_STRIDE (&out, 0);

    for (gint y = 0; y < h; y++)
      memcpy (d + (gsize) y * stride, rgb + (gsize) y * w * 3, (gsize) w * 3);
  } else {
    inbuf = gst_buffer_new_wrapped_full (GST_MEMORY_FLAG_READONLY,
        (gpointer) rgb, src->rgb_info.size, 0, src->rgb_info.size, NULL, NULL);
    ok = gst_video_frame_map (&in, &src->rgb_info, inbuf, GST_MAP_READ);
    if (ok) {
      gst_video_converter_frame (src->convert, &in, &out);
      gst_video_frame_unmap (&in);
    }
    gst_buffer_unref (inbuf);
  }
  gst_video_frame_unmap (&out);
  return ok;
}

/* fill_now()'s status when the buffer cannot be mapped (not libst2v's) */
#define FILL_MAP_FAILED (-1000)

/* Not live: catch up with a seek, then generate the frame of this buffer. */
static gint
fill_now (GstSt2vSrc * src, GstBuffer * buffer)
{
  st2v_frame_info fi;
  GstVideoFrame out;
  gsize row = (gsize) src->info.width * 3;
  gint rc;

  if (src->gen_target < src->gen_pos) {
    GST_DEBUG_OBJECT (src, "rewinding for frame %" G_GINT64_FORMAT,
        src->gen_target);
    st2v_generator_rewind (src->gen);
    src->gen_pos = 0;
    src->last_chunk = -1;
    st2v_key_init (&src->key);
  }
  while (src->gen_pos < src->gen_target) {
    rc = generate (src, src->gen, src->rgb, row, &fi);
    if (rc != ST2V_OK)
      return rc;
    follow_key (src, src->rgb, &fi);
  }

  if (!src->alpha && !src->convert) {
    /* RGB: straight into the buffer */
    if (!gst_video_frame_map (&out, &src->info, buffer, GST_MAP_WRITE))
      return FILL_MAP_FAILED;
    rc = generate (src, src->gen, GST_VIDEO_FRAME_PLANE_DATA (&out, 0),
        GST_VIDEO_FRAME_PLANE_STRIDE (&out, 0), &fi);
    gst_video_frame_unmap (&out);
    if (rc == ST2V_OK)
      src->last_chunk = fi.chunk;
  } else {
    rc = generate (src, src->gen, src->rgb, row, &fi);
    if (rc == ST2V_OK) {
      follow_key (src, src->rgb, &fi);
      if (!render (src, src->rgb, buffer))
        rc = FILL_MAP_FAILED;
    }
  }
  if (rc == ST2V_OK)
    src->gen_target++;
  return rc;
}

/* ================================================================ live */

/* The worker's frame maker (st2vworker.c), on its thread. */
static gint
worker_generate (gpointer user_data, st2v_generator * gen, guint8 * dst,
    gsize stride, st2v_frame_info * fi)
{
  return generate (user_data, gen, dst, stride, fi);
}

static GstClockTime
running_time_now (GstSt2vSrc * src)
{
  GstClock *clock = gst_element_get_clock (GST_ELEMENT (src));
  GstClockTime now, base;

  if (!clock)
    return GST_CLOCK_TIME_NONE;
  now = gst_clock_get_time (clock);
  base = gst_element_get_base_time (GST_ELEMENT (src));
  gst_object_unref (clock);
  return now > base ? now - base : 0;
}

/* Frame n of this caps period, as running time. */
static GstClockTime
frame_time (GstSt2vSrc * src, gint64 n)
{
  return src->accum_rtime + gst_util_uint64_scale (n,
      (guint64) src->info.fps_d * GST_SECOND, src->info.fps_n);
}

/* Generation fell behind: post a QoS message and (once a second) a
 * warning that says by how much. */
static void
report_late (GstSt2vSrc * src, GstClockTime due, GstClockTime lateness,
    gint64 skipped)
{
  GstBaseSrc *bsrc = GST_BASE_SRC (src);
  GstClockTime duration = frame_time (src, src->n_frames + 1) - due;
  gdouble needed = (gdouble) src->info.fps_n / src->info.fps_d;
  gdouble made;
  GstMessage *msg;
  gboolean warn;

  warn = gst_st2v_worker_rate (&src->worker, WARNING_INTERVAL_US, &made);

  src->dropped += skipped;
  due += src->live_offset;      /* as basesrc timestamps it */
  msg = gst_message_new_qos (GST_OBJECT (src), TRUE, due,
      gst_segment_to_stream_time (&bsrc->segment, GST_FORMAT_TIME, due), due,
      duration);
  gst_message_set_qos_values (msg, (gint64) lateness,
      made > 0 ? needed / made : 0.0,
      made > 0 && made < needed ? (gint) (1000000 * made / needed) : 1000000);
  gst_message_set_qos_stats (msg, GST_FORMAT_BUFFERS, src->processed,
      src->dropped);
  gst_element_post_message (GST_ELEMENT (src), msg);

  if (warn)
    GST_ELEMENT_WARNING (src, CORE, CLOCK,
        ("generation is %" G_GUINT64_FORMAT " ms behind real time (%.1f "
            "frames/s generated, %.1f needed)", lateness / GST_MSECOND, made,
            needed),
        ("%" G_GINT64_FORMAT " frame times skipped so far; fewer steps, a "
            "smaller size, more threads or a larger queue-size help",
            src->dropped));
}

/* Live: take the next generated frame; if generation made it too late for
 * its time (create() had to wait for it), show it at the next frame time
 * still ahead instead. A frame that was ready keeps its time, however late
 * create() came for it: skipping frame times then would leave timestamp
 * gaps that no QoS message explains. */
static GstFlowReturn
fill_live (GstSt2vSrc * src, GstBuffer * buffer)
{
  GstSt2vFrame *f = NULL;
  GstClockTime due, now, dur;
  gboolean waited;
  gboolean ok;
  gchar *msg = NULL;
  gint status = 0;

  switch (gst_st2v_worker_pop (&src->worker, &f, &waited, &status, &msg)) {
    case GST_ST2V_WORKER_FLUSHING:
      return GST_FLOW_FLUSHING;
    case GST_ST2V_WORKER_FAILED:
      GST_ELEMENT_ERROR (src, LIBRARY, FAILED,
          ("Generating frame %" G_GINT64_FORMAT " failed: %s",
              src->gen_pos, msg), ("libst2v: %s", st2v_strerror (status)));
      g_free (msg);
      return GST_FLOW_ERROR;
    case GST_ST2V_WORKER_FRAME:
      break;
  }

  due = frame_time (src, src->n_frames);
  dur = frame_time (src, src->n_frames + 1) - due;
  now = running_time_now (src);
  if (src->processed == 0 && GST_CLOCK_TIME_IS_VALID (now) && now > due) {
    /* basesrc shifts a live stream whose first buffer comes late by that
     * much (its ts-offset): frames are due that much later */
    src->live_offset = now - due;
  } else if (GST_CLOCK_TIME_IS_VALID (now) &&
      now > due + src->live_offset + dur && !waited) {
    /* the frame was ready: this thread (or downstream) was late, not
     * generation; it keeps its time, the frames queued behind it catch
     * up, and the sink's QoS deals with what stays late */
    GST_DEBUG_OBJECT (src, "frame %" G_GINT64_FORMAT " is %" GST_TIME_FORMAT
        " late (not generation's doing): kept at its time", src->n_frames,
        GST_TIME_ARGS (now - due - src->live_offset));
  } else if (GST_CLOCK_TIME_IS_VALID (now) &&
      now > due + src->live_offset + dur) {
    GstClockTime late = now - due - src->live_offset;
    gint64 n = gst_util_uint64_scale_ceil (now - src->live_offset -
        src->accum_rtime, src->info.fps_n,
        (guint64) src->info.fps_d * GST_SECOND);

    report_late (src, due, late, n - src->n_frames);
    src->n_frames = n;
    src->discont = TRUE;
  }

  follow_key (src, f->rgb, &f->fi);
  ok = render (src, f->rgb, buffer);

  gst_st2v_worker_recycle (&src->worker, f);
  if (!ok) {
    GST_ELEMENT_ERROR (src, STREAM, FAILED, ("Cannot write the frame"),
        (NULL));
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

/* ================================================================ fill */

static GstFlowReturn
gst_st2v_src_fill (GstPushSrc * psrc, GstBuffer * buffer)
{
  GstSt2vSrc *src = GST_ST2V_SRC (psrc);
  GstFlowReturn ret;
  GstClockTime pts;
  gint rc;

  if (G_UNLIKELY (GST_VIDEO_INFO_FORMAT (&src->info) ==
          GST_VIDEO_FORMAT_UNKNOWN || src->info.fps_n <= 0))
    return GST_FLOW_NOT_NEGOTIATED;

  if (gst_base_src_is_live (GST_BASE_SRC (src))) {
    ret = fill_live (src, buffer);
    if (ret != GST_FLOW_OK)
      return ret;
  } else {
    rc = fill_now (src, buffer);
    if (rc == ST2V_ERR_CANCELLED)
      return GST_FLOW_FLUSHING;
    if (rc == ST2V_EOF)
      return GST_FLOW_EOS;
    if (rc == FILL_MAP_FAILED)
      goto map_failed;
    if (rc != ST2V_OK)
      goto generation_failed;
  }

  pts = frame_time (src, src->n_frames);
  GST_BUFFER_PTS (buffer) = pts;
  GST_BUFFER_DTS (buffer) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_DURATION (buffer) = frame_time (src, src->n_frames + 1) - pts;
  GST_BUFFER_OFFSET (buffer) = src->accum_frames + src->n_frames;
  GST_BUFFER_OFFSET_END (buffer) = GST_BUFFER_OFFSET (buffer) + 1;
  if (src->discont) {
    GST_BUFFER_FLAG_SET (buffer, GST_BUFFER_FLAG_DISCONT);
    src->discont = FALSE;
  }
  src->n_frames++;
  src->processed++;
  GST_LOG_OBJECT (src, "frame %" G_GUINT64_FORMAT " at %" GST_TIME_FORMAT,
      GST_BUFFER_OFFSET (buffer), GST_TIME_ARGS (pts));
  return GST_FLOW_OK;

  /* ERRORS */
generation_failed:
  {
    GST_ELEMENT_ERROR (src, LIBRARY, FAILED,
        ("Generating frame %" G_GINT64_FORMAT " failed: %s", src->gen_pos,
            st2v_generator_last_error (src->gen)),
        ("libst2v: %s", st2v_strerror (rc)));
    return GST_FLOW_ERROR;
  }
map_failed:
  {
    GST_ELEMENT_ERROR (src, STREAM, FAILED, ("Cannot write the frame"),
        ("gst_video_frame_map failed"));
    return GST_FLOW_ERROR;
  }
}
