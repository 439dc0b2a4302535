# SPDX-License-Identifier: LGPL-2.1-or-later
"""The procedural training world of st2v: captioned clips of simple shapes.

    from train.world import sample_scene, render, caption, describe
    scene = sample_scene(1234, split="train", lang="cs")
    video, labels = render(scene)        # uint8 (T, H, W, 3), per-object masks/boxes/colours
    scene.caption, describe(scene)       # the caption and its structured ground truth

Clips are 16 fps, 2 to 4 s, 128x128 or 224x128; 0 to 3 objects (circle,
square, triangle, star, heart) in a nine-colour palette that move, spin,
grow, shrink, fall, rise, bounce, change colour or stand still, over plain,
keying or textured backgrounds, under a still, panning or zooming camera.
Captions in English or Czech.  Held-out combinations and caption templates
(holdout.py) never appear in split="train".  Everything is deterministic
from the seed.  See README.md.
"""
from .captions import caption, caption_and_template, template_ids
from .holdout import (HELDOUT_COLOUR_SHAPE, HELDOUT_SHAPE_MOTION, HELDOUT_TEMPLATES,
                      heldout_reasons)
from .palette import (BACKGROUNDS, CAMERAS, COLOURS, FPS, MOTIONS, NATIVE_SIZES, SHAPES,
                      SIZES)
from .render import render
from .scene import describe, sample_scene, validate
from .spec import Camera, Group, Obj, Scene

__all__ = ['sample_scene', 'render', 'caption', 'caption_and_template', 'describe', 'validate',
           'template_ids', 'heldout_reasons', 'Scene', 'Group', 'Obj', 'Camera',
           'HELDOUT_COLOUR_SHAPE', 'HELDOUT_SHAPE_MOTION', 'HELDOUT_TEMPLATES', 'BACKGROUNDS',
           'CAMERAS', 'COLOURS', 'FPS', 'MOTIONS', 'NATIVE_SIZES', 'SHAPES', 'SIZES']
