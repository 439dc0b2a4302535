/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * st2vparam.c - numeric property specs whose range st2vsrc checks itself.
 *
 * GObject validates a value against its GParamSpec before set_property
 * sees it, and on failure only prints a GLib warning and keeps the old
 * value: `gst-launch-1.0 st2vsrc steps=100000000` used to run with the
 * default steps and exit 0. These spec types derive from GLib's own
 * (GParamSpecInt, GParamSpecUInt, GParamSpecInt64, GParamSpecFloat:
 * same instance, same range fields, so gst-inspect-1.0 and introspection
 * read them as before) and only replace value_validate with one that
 * leaves the value alone. The element then refuses an out-of-range value
 * itself, with a message and an error code (gstst2vsrc.c).
 */
#include "st2vparam.h"

#include <math.h>

static gboolean
validate_nothing (GParamSpec * pspec, GValue * value)
{
  (void) pspec;
  (void) value;
  return FALSE;                 /* "not modified": GObject passes it on */
}

static void
unchecked_class_init (gpointer klass, gpointer data)
{
  (void) data;
  ((GParamSpecClass *) klass)->value_validate = validate_nothing;
}

/* The derived spec type of a GLib numeric spec type, once. */
static GType
unchecked_type (GType parent, const gchar * name, guint instance_size)
{
  const GTypeInfo info = {
    .class_size = sizeof (GParamSpecClass),
    .class_init = unchecked_class_init,
    .instance_size = instance_size,
  };

  return g_type_register_static (parent, name, &info, 0);
}

#define DEFINE_UNCHECKED_TYPE(fn, parent, name, ctype)                  \
  static GType fn (void)                                                \
  {                                                                     \
    static gsize type;                                                  \
    if (g_once_init_enter (&type))                                      \
      g_once_init_leave (&type,                                         \
          unchecked_type (parent, name, sizeof (ctype)));               \
    return type;                                                        \
  }

DEFINE_UNCHECKED_TYPE (int_type, G_TYPE_PARAM_INT, "GstSt2vParamInt",
    GParamSpecInt)
DEFINE_UNCHECKED_TYPE (uint_type, G_TYPE_PARAM_UINT, "GstSt2vParamUInt",
    GParamSpecUInt)
DEFINE_UNCHECKED_TYPE (int64_type, G_TYPE_PARAM_INT64, "GstSt2vParamInt64",
    GParamSpecInt64)
DEFINE_UNCHECKED_TYPE (float_type, G_TYPE_PARAM_FLOAT, "GstSt2vParamFloat",
    GParamSpecFloat)

#define DEFINE_SPEC(fn, type, cast, ctype)                              \
  GParamSpec *fn (const gchar * name, const gchar * nick,               \
      const gchar * blurb, ctype minimum, ctype maximum,                \
      ctype default_value, GParamFlags flags)                           \
  {                                                                     \
    GParamSpec *pspec;                                                  \
    g_return_val_if_fail (minimum <= default_value &&                   \
        default_value <= maximum, NULL);                                \
    pspec = g_param_spec_internal (type (), name, nick, blurb, flags);  \
    cast (pspec)->minimum = minimum;                                    \
    cast (pspec)->maximum = maximum;                                    \
    cast (pspec)->default_value = default_value;                        \
    return pspec;                                                       \
  }

DEFINE_SPEC (gst_st2v_param_spec_int, int_type, G_PARAM_SPEC_INT, gint)
DEFINE_SPEC (gst_st2v_param_spec_uint, uint_type, G_PARAM_SPEC_UINT, guint)
DEFINE_SPEC (gst_st2v_param_spec_int64, int64_type, G_PARAM_SPEC_INT64,
    gint64)
DEFINE_SPEC (gst_st2v_param_spec_float, float_type, G_PARAM_SPEC_FLOAT,
    gfloat)

gchar *
gst_st2v_param_check (GParamSpec * pspec, const GValue * value)
{
  const gchar *name = g_param_spec_get_name (pspec);

  if (G_IS_PARAM_SPEC_INT (pspec)) {
    GParamSpecInt *s = G_PARAM_SPEC_INT (pspec);
    gint v = g_value_get_int (value);
    if (v < s->minimum || v > s->maximum)
      return g_strdup_printf ("%s %d is out of range %d to %d", name, v,
          s->minimum, s->maximum);
  } else if (G_IS_PARAM_SPEC_UINT (pspec)) {
    GParamSpecUInt *s = G_PARAM_SPEC_UINT (pspec);
    guint v = g_value_get_uint (value);
    if (v < s->minimum || v > s->maximum)
      return g_strdup_printf ("%s %u is out of range %u to %u", name, v,
          s->minimum, s->maximum);
  } else if (G_IS_PARAM_SPEC_INT64 (pspec)) {
    GParamSpecInt64 *s = G_PARAM_SPEC_INT64 (pspec);
    gint64 v = g_value_get_int64 (value);
    if (v < s->minimum || v > s->maximum)
      return g_strdup_printf ("%s %" G_GINT64_FORMAT " is out of range %"
          G_GINT64_FORMAT " to %" G_GINT64_FORMAT, name, v, s->minimum,
          s->maximum);
  } else if (G_IS_PARAM_SPEC_FLOAT (pspec)) {
    GParamSpecFloat *s = G_PARAM_SPEC_FLOAT (pspec);
    gfloat v = g_value_get_float (value);
    if (isnan (v))
      return g_strdup_printf ("%s %g is not a number", name, v);
    if (v < s->minimum || v > s->maximum)
      return g_strdup_printf ("%s %g is out of range %g to %g", name, v,
          s->minimum, s->maximum);
  } else {
    return g_strdup_printf ("%s: not a numeric property", name);
  }
  return NULL;
}
