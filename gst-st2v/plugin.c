/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * plugin.c - the GStreamer plugin "st2v": registers st2vsrc (gstst2vsrc.c).
 *
 * The plugin links libst2v statically, so libgstst2v.so needs no other
 * st2v file than the model (found as st2v_default_model_path() says).
 */

#include <gst/gst.h>

#include "gstst2vsrc.h"

#define PACKAGE "st2v"
#define VERSION ST2V_VERSION_STRING

static gboolean
plugin_init (GstPlugin * plugin)
{
  return GST_ELEMENT_REGISTER (st2vsrc, plugin);
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR,
    GST_VERSION_MINOR,
    st2v,
    "Video generated from a text prompt (st2v text-to-video)",
    plugin_init, VERSION, "LGPL", PACKAGE, "st2v")
