/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * st2vworker.c - the live mode of st2vsrc: a thread that generates ahead
 * into a bounded queue of frames, and what goes with it: handing frames to
 * create() and back, cancelling the generator on a flush or a stop, and
 * the generation rate that the element's QoS messages and warnings report.
 *
 * The element gives it a callback that makes one frame (the hand-over of
 * a changed prompt or guidance, then libst2v); the worker only knows
 * GLib threads and libst2v's generator.
 *
 * Not here: GObject, GstBaseSrc, caps, the clock, timestamps or the QoS
 * message itself (gstst2vsrc.c); the model (libst2v, core/).
 */

#include "st2vworker.h"

/* ================================================================ setup */

void
gst_st2v_worker_init (GstSt2vWorker * w)
{
  g_mutex_init (&w->lock);
  g_cond_init (&w->cond);
  g_queue_init (&w->filled);
  g_queue_init (&w->spare);
}

void
gst_st2v_worker_clear (GstSt2vWorker * w)
{
  g_mutex_clear (&w->lock);
  g_cond_clear (&w->cond);
}

/* A new run (start()): no flush pending, no rate measured. */
void
gst_st2v_worker_reset (GstSt2vWorker * w)
{
  g_mutex_lock (&w->lock);
  w->busy_us = w->busy_frames = w->busy_since = 0;
  w->last_warning_us = 0;
  w->flushing = FALSE;          /* an unlock() of the last run may linger */
  g_mutex_unlock (&w->lock);
}

/* ================================================================ thread */

static void
free_frame (gpointer data)
{
  GstSt2vFrame *f = data;

  g_free (f->rgb);
  g_free (f);
}

/* The worker: generate ahead into w->filled while it has room. */
static gpointer
worker_loop (gpointer data)
{
  GstSt2vWorker *w = data;
  gsize row = (gsize) w->width * 3;
  gsize size = row * w->height;
  GstSt2vFrame *f;
  gint64 t;
  gint rc;

  g_mutex_lock (&w->lock);
  while (!w->quit) {
    if (w->filled.length >= w->queue_size) {
      g_cond_wait (&w->cond, &w->lock);
      continue;
    }
    f = g_queue_pop_head (&w->spare);
    if (!f) {
      f = g_new0 (GstSt2vFrame, 1);
      f->rgb = g_malloc (size);
      w->n_alloc++;
    }
    w->busy_since = g_get_monotonic_time ();
    g_mutex_unlock (&w->lock);

    rc = w->generate (w->user_data, w->gen, f->rgb, row, &f->fi);

    g_mutex_lock (&w->lock);
    t = g_get_monotonic_time ();
    w->busy_us += t - w->busy_since;
    w->busy_since = 0;
    if (rc == ST2V_OK) {
      g_queue_push_tail (&w->filled, f);
      w->busy_frames++;
      g_cond_broadcast (&w->cond);
    } else {
      g_queue_push_head (&w->spare, f);
      if (rc == ST2V_ERR_CANCELLED)
        continue;               /* gst_st2v_worker_stop(): quit is set */
      w->status = rc;
      w->error = g_strdup (st2v_generator_last_error (w->gen));
      g_cond_broadcast (&w->cond);
      break;
    }
  }
  g_mutex_unlock (&w->lock);
  return NULL;
}

/* Start generating width x height frames of gen (which the worker owns
 * until gst_st2v_worker_stop()) up to queue_size ahead; nothing if it
 * runs already. */
void
gst_st2v_worker_start (GstSt2vWorker * w, st2v_generator * gen, gint width,
    gint height, guint queue_size, GstSt2vGenerateFunc generate,
    gpointer user_data)
{
  if (w->thread)
    return;
  w->gen = gen;
  w->width = width;
  w->height = height;
  w->queue_size = queue_size;
  w->generate = generate;
  w->user_data = user_data;
  w->quit = FALSE;
  w->status = 0;
  w->thread = g_thread_new ("st2vsrc-worker", worker_loop, w);
}

/* Cancel the frame in progress, join the thread and drop the queue. */
void
gst_st2v_worker_stop (GstSt2vWorker * w)
{
  g_mutex_lock (&w->lock);
  if (!w->thread) {
    g_mutex_unlock (&w->lock);
    return;
  }
  w->quit = TRUE;
  st2v_generator_cancel (w->gen, 1);
  g_cond_broadcast (&w->cond);
  g_mutex_unlock (&w->lock);

  g_thread_join (w->thread);
  w->thread = NULL;

  st2v_generator_cancel (w->gen, 0);
  w->gen = NULL;
  g_queue_clear_full (&w->filled, free_frame);
  g_queue_clear_full (&w->spare, free_frame);
  w->n_alloc = 0;
  w->quit = FALSE;
  w->status = 0;
  g_clear_pointer (&w->error, g_free);
}

/* ================================================================ flushing */

/* unlock() (TRUE) and unlock_stop() (FALSE): wake a waiting pop(); with
 * gen (not live: the streaming thread may be inside next_frame()), cancel
 * *gen, read under the lock, or undo that. */
void
gst_st2v_worker_set_flushing (GstSt2vWorker * w, gboolean flushing,
    st2v_generator ** gen)
{
  g_mutex_lock (&w->lock);
  w->flushing = flushing;
  if (gen && *gen)
    st2v_generator_cancel (*gen, flushing);
  if (flushing)
    g_cond_broadcast (&w->cond);
  g_mutex_unlock (&w->lock);
}

/* Free *slot and put gen there under the lock, so that set_flushing()
 * never cancels a freed generator; with cancel, a flush in progress
 * cancels gen at once. */
void
gst_st2v_worker_replace_generator (GstSt2vWorker * w, st2v_generator ** slot,
    st2v_generator * gen, gboolean cancel)
{
  g_mutex_lock (&w->lock);
  st2v_generator_free (*slot);
  *slot = gen;
  if (gen && cancel && w->flushing)
    st2v_generator_cancel (gen, 1);
  g_mutex_unlock (&w->lock);
}

/* ================================================================ frames */

/* The oldest generated frame, waiting for one (*waited then TRUE); hand it
 * back with gst_st2v_worker_recycle(). On GST_ST2V_WORKER_FAILED, *status
 * and *error (g_free it) say why the worker stopped. */
GstSt2vWorkerResult
gst_st2v_worker_pop (GstSt2vWorker * w, GstSt2vFrame ** frame,
    gboolean * waited, gint * status, gchar ** error)
{
  GstSt2vFrame *f;

  *waited = FALSE;
  g_mutex_lock (&w->lock);
  while (!w->flushing && !w->status && !w->filled.length) {
    *waited = TRUE;
    g_cond_wait (&w->cond, &w->lock);
  }
  if (w->flushing) {
    g_mutex_unlock (&w->lock);
    return GST_ST2V_WORKER_FLUSHING;
  }
  f = g_queue_pop_head (&w->filled);
  if (!f) {
    *error = g_strdup (w->error);
    *status = w->status;
    g_mutex_unlock (&w->lock);
    return GST_ST2V_WORKER_FAILED;
  }
  g_cond_broadcast (&w->cond);  /* room for the worker */
  g_mutex_unlock (&w->lock);
  *frame = f;
  return GST_ST2V_WORKER_FRAME;
}

void
gst_st2v_worker_recycle (GstSt2vWorker * w, GstSt2vFrame * frame)
{
  g_mutex_lock (&w->lock);
  g_queue_push_tail (&w->spare, frame);
  g_mutex_unlock (&w->lock);
}

/* ================================================================ rate */

/* The frames per second generated since the last warning into *made (0
 * when unmeasured, the frame in progress counted); TRUE when a warning is
 * due (the first, then at most one per interval_us), which starts a new
 * measurement. */
gboolean
gst_st2v_worker_rate (GstSt2vWorker * w, gint64 interval_us, gdouble * made)
{
  gint64 now = g_get_monotonic_time (), busy;
  gboolean warn;

  *made = 0;
  g_mutex_lock (&w->lock);
  busy = w->busy_us + (w->busy_since ? now - w->busy_since : 0);
  if (busy > 0)
    *made = w->busy_frames * (gdouble) G_USEC_PER_SEC / busy;
  warn = w->last_warning_us == 0 || now - w->last_warning_us >= interval_us;
  if (warn) {
    w->last_warning_us = now;
    w->busy_us = w->busy_frames = 0;
    if (w->busy_since)
      w->busy_since = now;
  }
  g_mutex_unlock (&w->lock);
  return warn;
}
