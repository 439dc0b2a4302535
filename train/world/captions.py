# SPDX-License-Identifier: LGPL-2.1-or-later
"""Caption a scene in English or Czech with a template for its kind.

caption(scene, lang, rng, heldout_templates=False) draws a template of the
scene's kind among the training templates (or, with heldout_templates=True,
among the held-out ones) and fills it with random synonyms; every choice
comes from `rng`.
"""
import re

import numpy as np

from . import captions_cs, captions_en
from .holdout import HELDOUT_TEMPLATES

MODULES = {'en': captions_en, 'cs': captions_cs}

# Captions are kept to at most this many words and punctuation marks (the
# model's tokenizer splits text the same way, and a word is at least one
# token; the default model reads 32 tokens including <bos> and <eos>).
MAX_WORDS = 30
_WORD = re.compile(r'[^\s!-/:-@\[-`{-~]+|[!-/:-@\[-`{-~]')


def word_count(text):
    """Words and ASCII punctuation marks, as the st2v tokenizer splits them."""
    return len(_WORD.findall(text))


def template_ids(lang, kind=None):
    """All template ids of a language (optionally of one scene kind)."""
    t = MODULES[lang].TEMPLATES
    return ['%s.%s.%d' % (lang, k, i) for k in t if kind in (None, k) for i in range(len(t[k]))]


def _finish(text):
    text = ' '.join(text.split())
    text = text.replace(' ,', ',')
    return text[:1].upper() + text[1:]


def caption_and_template(scene, lang, rng, heldout_templates=False):
    """(caption text, template id)."""
    if isinstance(rng, (int, np.integer)) or rng is None:
        rng = np.random.Generator(np.random.PCG64(rng))
    mod = MODULES[lang]
    fns = mod.TEMPLATES[scene.kind]
    held = HELDOUT_TEMPLATES[lang]
    ids = ['%s.%s.%d' % (lang, scene.kind, i) for i in range(len(fns))]
    allowed = [i for i, tid in enumerate(ids) if (tid in held) == bool(heldout_templates)]
    i = allowed[int(rng.integers(len(allowed)))]
    best = None
    for _ in range(8):      # optional phrases are random: redraw an overlong caption
        text = _finish(fns[i](mod.Ctx(scene, rng)))
        if best is None or word_count(text) < word_count(best):
            best = text
        if word_count(best) <= MAX_WORDS:
            break
    return best, ids[i]


def caption(scene, lang, rng, heldout_templates=False):
    """A caption of `scene` in `lang` ("en" or "cs")."""
    return caption_and_template(scene, lang, rng, heldout_templates)[0]
