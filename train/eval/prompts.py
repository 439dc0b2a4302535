# SPDX-License-Identifier: LGPL-2.1-or-later
"""The evaluation prompts: held-out world scenes, their captions and ground truth.

draw(n, seed, lang) samples n held-out scenes (split="heldout": built only
from held-out combinations or caption templates) with scene seeds
1000 * seed + i, so both languages get the same scenes with different
captions.  mentions_background(scene) tells whether the caption names the
background (a background is scored only where the prompt asks for one).
"""
from train.world import captions_cs, captions_en
from train.world import describe, sample_scene

LANGS = ('en', 'cs')


def scene_seeds(n, seed):
    return [1000 * int(seed) + i for i in range(int(n))]


def draw(n, seed=0, lang='en', split='heldout'):
    """n scenes of `split` in `lang`: list of (scene seed, Scene).  The
    evaluation proper is held out; split="train" tells whether a failure
    is the held-out prompts' or the model's on prompts like its training's."""
    return [(s, sample_scene(s, split=split, lang=lang)) for s in scene_seeds(n, seed)]


def _bg_phrases(lang, background):
    if lang == 'en':
        out = list(captions_en.BG_NP[background]) + list(captions_en.BG_PP[background])
    else:
        out = [w for pair in captions_cs.BG_NP[background] for w in pair]
        out += list(captions_cs.BG_PP[background])
    return sorted(set(p.lower() for p in out), key=len, reverse=True)


def mentions_background(scene):
    """True when the scene's caption names its background."""
    text = scene.caption.lower()
    return any(p in text for p in _bg_phrases(scene.language, scene.background))


def ground_truth(scene):
    """describe(scene) plus whether the caption names the background."""
    gt = describe(scene)
    gt['background_mentioned'] = mentions_background(scene)
    return gt
