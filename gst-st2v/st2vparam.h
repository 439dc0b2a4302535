/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * st2vparam.h - numeric property specs whose range st2vsrc checks itself
 * (see st2vparam.c).
 *
 * Not here: the element's properties or what it does with a refused value
 * (gstst2vsrc.c).
 */
#ifndef __GST_ST2V_PARAM_H__
#define __GST_ST2V_PARAM_H__

#include <glib-object.h>

G_BEGIN_DECLS

/* Like g_param_spec_int, _uint, _int64 and _float (gst-inspect-1.0 shows
 * the same type, range and default), but GObject hands every value to
 * set_property unchanged, out of range and NaN included: the element
 * checks it with gst_st2v_param_check. */
GParamSpec *gst_st2v_param_spec_int (const gchar * name, const gchar * nick,
    const gchar * blurb, gint minimum, gint maximum, gint default_value,
    GParamFlags flags);
GParamSpec *gst_st2v_param_spec_uint (const gchar * name, const gchar * nick,
    const gchar * blurb, guint minimum, guint maximum, guint default_value,
    GParamFlags flags);
GParamSpec *gst_st2v_param_spec_int64 (const gchar * name,
    const gchar * nick, const gchar * blurb, gint64 minimum, gint64 maximum,
    gint64 default_value, GParamFlags flags);
GParamSpec *gst_st2v_param_spec_float (const gchar * name,
    const gchar * nick, const gchar * blurb, gfloat minimum, gfloat maximum,
    gfloat default_value, GParamFlags flags);

/* NULL when value (of pspec's value type) lies in pspec's range; else a
 * one-line reason to g_free, such as "steps 100000000 is out of range
 * 0 to 1000" or "guidance nan is not a number". Works on any int, uint,
 * int64 or float spec. */
gchar *gst_st2v_param_check (GParamSpec * pspec, const GValue * value);

G_END_DECLS

#endif /* __GST_ST2V_PARAM_H__ */
