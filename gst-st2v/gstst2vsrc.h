/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gstst2vsrc.h - st2vsrc, the GStreamer source element of st2v: video
 * generated from a text prompt by libst2v (see gstst2vsrc.c).
 */
#ifndef __GST_ST2V_SRC_H__
#define __GST_ST2V_SRC_H__

#include <gst/gst.h>
#include <gst/base/gstpushsrc.h>
#include <gst/video/video.h>

#include <st2v.h>

#include "st2vworker.h"

G_BEGIN_DECLS

#define GST_TYPE_ST2V_SRC (gst_st2v_src_get_type ())
G_DECLARE_FINAL_TYPE (GstSt2vSrc, gst_st2v_src, GST, ST2V_SRC, GstPushSrc)

#define GST_TYPE_ST2V_SAMPLER (gst_st2v_sampler_get_type ())
GType gst_st2v_sampler_get_type (void);

#define GST_TYPE_ST2V_DTYPE (gst_st2v_dtype_get_type ())
GType gst_st2v_dtype_get_type (void);

struct _GstSt2vSrc
{
  GstPushSrc parent;

  /* properties, under the object lock */
  gchar *prompt;
  gchar *negative_prompt;
  gint64 seed;                  /* -1: random */
  gint steps;
  gfloat guidance;              /* -1: the model's */
  st2v_sampler sampler;
  gfloat shift;
  gchar *model_path;            /* NULL: the default model */
  gint threads;
  gchar *image_path;
  gboolean alpha;
  guint queue_size;
  st2v_dtype dtype;             /* the model's compute dtype */
  /* per property id: why its last value, out of range, was refused before
   * start (which then fails with it); NULL when its value is good */
  gchar *refused[16];

  /* run-time changes for the generating thread (object lock) */
  gchar *pending_prompt;
  gchar *pending_negative;
  gfloat pending_guidance;
  gboolean guidance_pending;

  gboolean started;             /* between start() and stop() */

  /* set up in start(), freed in stop() */
  st2v_params params;           /* settled settings; the strings below */
  st2v_model *model;
  const st2v_model_info *minfo;
  gchar *model_file;            /* the file loaded */
  guint8 *image;                /* conditioning image, RGB24, or NULL */
  gint image_w, image_h;
  guint64 used_seed;
  gchar *cur_prompt;            /* as given to the model (alpha: + screen) */
  gchar *cur_negative;
  gfloat cur_guidance;
  /* the generator: owned by the streaming thread, or by the worker in live
   * mode; the pointer itself is swapped under the worker's lock */
  st2v_generator *gen;
  st2v_stream_info ginfo;

  /* negotiated in set_caps() */
  GstVideoInfo info;
  GstVideoInfo rgb_info;        /* RGB24 at the same size: converter input */
  GstVideoConverter *convert;   /* NULL when the output is RGB or keyed */
  guint8 *rgb;                  /* scratch frame (height, width * 3) */
  st2v_key key;
  gint last_chunk;              /* chunk of the last frame out, -1 before */

  /* position, streaming thread (and do_seek under the stream lock) */
  gint64 n_frames;              /* slots since the caps or the seek */
  gint64 accum_frames;          /* slots before the last renegotiation */
  GstClockTime accum_rtime;
  gint64 gen_pos;               /* the generator's next frame */
  gint64 gen_target;            /* the frame the next buffer shows */
  GstClockTime seek_position;   /* a seek before the caps, else NONE */
  gboolean discont;             /* the next buffer follows a gap */

  /* live mode: the worker and its bounded queue (st2vworker.c); its lock
   * also guards the generator pointer (unlock() reads it) */
  GstSt2vWorker worker;
  guint64 processed, dropped;   /* QoS statistics, in buffers */
  GstClockTime live_offset;     /* basesrc's shift of a late first buffer */
};

GST_ELEMENT_REGISTER_DECLARE (st2vsrc);

G_END_DECLS

#endif /* __GST_ST2V_SRC_H__ */
