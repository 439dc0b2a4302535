# SPDX-License-Identifier: LGPL-2.1-or-later
"""What is held out of training, to measure composition rather than memory.

Held out entirely from split="train" (neither drawn nor captioned):
  - colour+shape: purple triangle, orange square, cyan circle, pink star,
    yellow heart (an object that changes colour counts with both colours);
  - shape+motion: a triangle moving up (motions "up" and "rises"), a square
    moving left;
  - caption templates: HELDOUT_TEMPLATES per language (the ".8" and ".9"
    template of every scene kind, about 18 % of the templates).
split="heldout" scenes contain at least one of these.
"""

HELDOUT_COLOUR_SHAPE = frozenset({
    ('purple', 'triangle'), ('orange', 'square'), ('cyan', 'circle'),
    ('pink', 'star'), ('yellow', 'heart'),
})
HELDOUT_SHAPE_MOTION = frozenset({
    ('triangle', 'up'), ('triangle', 'rises'), ('square', 'left'),
})

SCENE_KINDS = ('empty', 'single', 'count', 'relation', 'colour_change', 'mixed')

HELDOUT_TEMPLATES = {
    lang: frozenset('%s.%s.%d' % (lang, kind, i) for kind in SCENE_KINDS for i in (8, 9))
    for lang in ('en', 'cs')
}


def object_violations(shape, colours, motion):
    """Held-out combinations one object with these colours and motion shows."""
    out = []
    for c in colours:
        if (c, shape) in HELDOUT_COLOUR_SHAPE:
            out.append('%s %s' % (c, shape))
    if (shape, motion) in HELDOUT_SHAPE_MOTION:
        out.append('%s moving %s' % (shape, 'up' if motion == 'rises' else motion))
    return out


def template_is_heldout(template_id):
    lang = template_id.split('.', 1)[0]
    return template_id in HELDOUT_TEMPLATES.get(lang, ())


def scene_violations(scene):
    """Held-out combinations drawn in the scene (template not included)."""
    out = []
    for g in scene.groups:
        for o in g.members:
            out.extend(object_violations(o.shape, o.colours(), g.motion))
    return out


def heldout_reasons(scene):
    """Everything held out that the scene shows or its caption uses."""
    out = scene_violations(scene)
    if scene.template_id and template_is_heldout(scene.template_id):
        out.append('template ' + scene.template_id)
    return out
