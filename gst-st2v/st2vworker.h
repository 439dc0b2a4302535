/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * st2vworker.h - the live mode of st2vsrc: a thread that generates ahead
 * into a bounded frame queue (see st2vworker.c).
 *
 * Not here: anything of GObject, GstBaseSrc or the clock (gstst2vsrc.c).
 */
#ifndef __GST_ST2V_WORKER_H__
#define __GST_ST2V_WORKER_H__

#include <glib.h>

#include <st2v.h>

G_BEGIN_DECLS

/* One generated frame on its way from the worker to create(). */
typedef struct
{
  guint8 *rgb;                  /* (height, width * 3) packed RGB24 */
  st2v_frame_info fi;
} GstSt2vFrame;

/* Makes the next frame of gen into rgb (packed RGB24, rows stride apart) on the
 * worker thread: the element's hand-over of a changed prompt, then
 * st2v_generator_next_frame(). Returns a libst2v status. */
typedef gint (*GstSt2vGenerateFunc) (gpointer user_data, st2v_generator * gen,
    guint8 * rgb, gsize stride, st2v_frame_info * fi);

/* What gst_st2v_worker_pop() found. */
typedef enum
{
  GST_ST2V_WORKER_FRAME,        /* a frame */
  GST_ST2V_WORKER_FLUSHING,     /* between set_flushing TRUE and FALSE */
  GST_ST2V_WORKER_FAILED,       /* the worker stopped on an error */
} GstSt2vWorkerResult;

/* Embedded in the element; every field under lock unless said otherwise. */
typedef struct
{
  GMutex lock;                  /* also guards the element's generator
                                 * pointer: see replace_generator() */
  GCond cond;
  GThread *thread;
  GQueue filled;                /* GstSt2vFrame, oldest first */
  GQueue spare;                 /* GstSt2vFrame ready for reuse */
  guint n_alloc;                /* frames allocated (filled + spare + 1) */
  gboolean flushing;            /* between unlock() and unlock_stop() */
  gboolean quit;
  gint status;                  /* libst2v status of a failure, else 0 */
  gchar *error;

  /* the rate bookkeeping for QoS */
  gint64 busy_us;               /* time in next_frame since the last report */
  gint64 busy_frames;           /* frames made in that time */
  gint64 busy_since;            /* when the running next_frame began, or 0 */
  gint64 last_warning_us;

  /* fixed while the thread runs */
  st2v_generator *gen;
  gint width, height;
  guint queue_size;
  GstSt2vGenerateFunc generate;
  gpointer user_data;
} GstSt2vWorker;

void gst_st2v_worker_init (GstSt2vWorker * w);
void gst_st2v_worker_clear (GstSt2vWorker * w);
void gst_st2v_worker_reset (GstSt2vWorker * w);

void gst_st2v_worker_start (GstSt2vWorker * w, st2v_generator * gen,
    gint width, gint height, guint queue_size, GstSt2vGenerateFunc generate,
    gpointer user_data);
void gst_st2v_worker_stop (GstSt2vWorker * w);

void gst_st2v_worker_set_flushing (GstSt2vWorker * w, gboolean flushing,
    st2v_generator ** gen);
void gst_st2v_worker_replace_generator (GstSt2vWorker * w,
    st2v_generator ** slot, st2v_generator * gen, gboolean cancel);

GstSt2vWorkerResult gst_st2v_worker_pop (GstSt2vWorker * w,
    GstSt2vFrame ** frame, gboolean * waited, gint * status, gchar ** error);
void gst_st2v_worker_recycle (GstSt2vWorker * w, GstSt2vFrame * frame);

gboolean gst_st2v_worker_rate (GstSt2vWorker * w, gint64 interval_us,
    gdouble * made);

G_END_DECLS

#endif /* __GST_ST2V_WORKER_H__ */
