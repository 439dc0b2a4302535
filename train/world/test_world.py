# SPDX-License-Identifier: LGPL-2.1-or-later
"""Unit tests of the st2v training world (train/world).

Run from the repository root:
    /usr/bin/python3 -m train.world.test_world
    /usr/bin/python3 train/world/test_world.py
Prints a line per test and "N passed, N failed" (train/testing.py); exits
non-zero on failure.  About half a minute on one core.  The tests are
unittest.TestCase methods, for its assertion methods.
"""
import collections
import os
import re
import sys
import unittest

import numpy as np

if __package__ in (None, ''):       # run as train/world/test_world.py
    sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))
    __package__ = 'train.world'

from train import testing  # noqa: E402
from train.world import captions_cs, captions_en, holdout  # noqa: E402
from train.world.captions import MODULES, template_ids  # noqa: E402
from train.world.motion import camera_track  # noqa: E402
from train.world.palette import (BACKGROUNDS, CAMERAS, COLOUR_NAMES, COLOURS, FRAME_CHOICES,  # noqa: E402
                                 MOTIONS, NATIVE_SIZES, PLAIN_BACKGROUNDS, SHAPES, SIZE_NAMES)
from train.world.render import render  # noqa: E402
from train.world.scene import describe, sample_scene, validate  # noqa: E402
from train.world.spec import Camera, Group, Obj, Scene  # noqa: E402

_CACHE = {}


# ------------------------------------------------------------------ shared samples

def train_samples():
    """20 000 training scenes (no rendering), shared by several tests."""
    if 'train' not in _CACHE:
        _CACHE['train'] = [sample_scene(s, split='train') for s in range(20000)]
    return _CACHE['train']


def rendered(kind_filter, n, seed0, **kw):
    """n rendered scenes (scene, video, labels) whose kind is in kind_filter."""
    out = []
    s = seed0
    while len(out) < n:
        sc = sample_scene(s, **kw)
        s += 1
        if sc.kind in kind_filter:
            v, lab = render(sc)
            out.append((sc, v, lab))
    return out


def motion_clips():
    """Rendered one-object clips, at least two per motion (EN and CS captions)."""
    if 'motion' not in _CACHE:
        need = collections.Counter({m: 2 for m in MOTIONS})
        out = []
        s = 7000
        while sum(need.values()) > 0 and s < 10000:
            sc = sample_scene(s, complexity=1)
            s += 1
            m = sc.groups[0].motion
            if need[m] > 0:
                need[m] -= 1
                v, lab = render(sc)
                out.append((sc, v, lab))
        _CACHE['motion'] = out
    return _CACHE['motion']


def centroids(mask):
    """(T, 2) mask centroids (x, y) in pixel-centre coordinates."""
    T = mask.shape[0]
    out = np.zeros((T, 2))
    for t in range(T):
        ys, xs = np.nonzero(mask[t])
        out[t] = (xs.mean() + 0.5, ys.mean() + 0.5)
    return out


def components(mask):
    """Number of 4-connected components of a 2-D boolean mask."""
    seen = np.zeros_like(mask)
    H, W = mask.shape
    n = 0
    for y0, x0 in zip(*np.nonzero(mask)):
        if seen[y0, x0]:
            continue
        n += 1
        stack = [(y0, x0)]
        seen[y0, x0] = True
        while stack:
            y, x = stack.pop()
            for yy, xx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                if 0 <= yy < H and 0 <= xx < W and mask[yy, xx] and not seen[yy, xx]:
                    seen[yy, xx] = True
                    stack.append((yy, xx))
    return n


def erode(m, k=2):
    for _ in range(k):
        e = m.copy()
        e[1:] &= m[:-1]
        e[:-1] &= m[1:]
        e[:, 1:] &= m[:, :-1]
        e[:, :-1] &= m[:, 1:]
        m = e
    return m


# ------------------------------------------------------------------ determinism, sizes

class Determinism(unittest.TestCase):
    def test_same_seed_gives_same_scene_caption_and_pixels(self):
        for seed in (3, 17, 101):
            a, b = sample_scene(seed), sample_scene(seed)
            self.assertEqual(describe(a), describe(b))
            va, la = render(a)
            vb, lb = render(b)
            self.assertTrue(np.array_equal(va, vb))
            for oa, ob in zip(la['objects'], lb['objects']):
                self.assertTrue(np.array_equal(oa['mask'], ob['mask']))

    def test_a_generator_and_its_seed_give_the_same_scene(self):
        a = sample_scene(42)
        b = sample_scene(np.random.Generator(np.random.PCG64(42)))
        self.assertEqual(a.caption, b.caption)
        self.assertEqual(a.groups, b.groups)

    def test_different_seeds_give_different_scenes(self):
        caps = {sample_scene(s).caption for s in range(50)}
        self.assertGreater(len(caps), 45)


class ClipFormat(unittest.TestCase):
    def test_clip_sizes_lengths_and_frame_rate_are_native(self):
        for sc in train_samples()[:3000]:
            self.assertIn(tuple(sc.size), NATIVE_SIZES)
            self.assertIn(sc.n_frames, FRAME_CHOICES)
            self.assertEqual(sc.fps, 16)
            self.assertTrue(2.0 <= sc.duration_s <= 4.0)
        seen = collections.Counter(tuple(sc.size) for sc in train_samples()[:3000])
        self.assertEqual(set(seen), set(NATIVE_SIZES))

    def test_requested_size_duration_language_and_complexity_are_obeyed(self):
        for k in range(40):
            size = NATIVE_SIZES[k % 2]
            d = (2.0, 2.5, 3.0, 3.5, 4.0)[k % 5]
            lang = ('en', 'cs')[k % 2]
            sc = sample_scene(900 + k, size=size, duration_s=d, lang=lang, complexity=k % 4)
            self.assertEqual(tuple(sc.size), size)
            self.assertEqual(sc.n_frames, int(d * 16))
            self.assertEqual(sc.language, lang)
            self.assertTrue(sc.template_id.startswith(lang + '.'))
            self.assertEqual(len(sc.objects), k % 4)

    def test_rendered_video_has_the_scene_shape(self):
        sc = sample_scene(5, size=(224, 128), duration_s=3.0)
        v, lab = render(sc)
        self.assertEqual(v.shape, (48, 128, 224, 3))
        self.assertEqual(v.dtype, np.uint8)
        for o in lab['objects']:
            self.assertEqual(o['mask'].shape, (48, 128, 224))
            self.assertEqual(o['bbox'].shape, (48, 4))
            self.assertEqual(o['colour'].shape, (48, 3))
            self.assertEqual(o['velocity'].shape, (48, 2))

    def test_bad_arguments_are_refused(self):
        with self.assertRaises(ValueError):
            sample_scene(1, split='test')
        with self.assertRaises(ValueError):
            sample_scene(1, size=(100, 100))
        with self.assertRaises(ValueError):
            sample_scene(1, duration_s=5)
        with self.assertRaises(ValueError):
            sample_scene(1, lang='de')
        with self.assertRaises(ValueError):
            sample_scene(1, complexity=4)


# ------------------------------------------------------------------ pictures agree with the scene

class DrawnAsDescribed(unittest.TestCase):
    def test_each_object_is_drawn_in_its_palette_colour(self):
        clips = motion_clips() + rendered(('count', 'relation', 'mixed'), 8, 300)
        for sc, v, lab in clips:
            d = describe(sc)
            T = sc.n_frames
            for o, lo in zip(d['objects'], lab['objects']):
                self.assertTrue(np.array_equal(lo['colour'][0], COLOURS[o['colour']]), sc.caption)
                end = o['colour_end'] or o['colour']
                self.assertTrue(np.array_equal(lo['colour'][-1], COLOURS[end]), sc.caption)
                for t in (0, T // 2, T - 1):
                    inner = erode(lo['mask'][t], 2)
                    if inner.sum() < 5:       # a small shape: one pixel in from the edge
                        inner = erode(lo['mask'][t], 1)
                    self.assertGreater(inner.sum(), 0, sc.caption)
                    px = v[t][inner].astype(int)
                    err = np.abs(px - lo['colour'][t].astype(int)).max(axis=1)
                    self.assertGreater((err <= 1).mean(), 0.97, (sc.caption, t))

    def test_travel_motions_cross_the_frame_in_the_captioned_direction(self):
        for sc, v, lab in motion_clips():
            g = sc.groups[0]
            c = centroids(lab['objects'][0]['mask'])
            W, H = sc.size
            dx, dy = c[-1] - c[0]
            if g.motion == 'left':
                self.assertLess(dx, -0.38 * W, sc.caption)
            elif g.motion == 'right':
                self.assertGreater(dx, 0.38 * W, sc.caption)
            elif g.motion in ('up', 'rises'):
                self.assertLess(dy, -0.38 * H, sc.caption)
            elif g.motion in ('down', 'falls'):
                self.assertGreater(dy, 0.38 * H, sc.caption)
            if g.motion in ('left', 'right', 'up', 'down'):
                axis = 0 if g.motion in ('left', 'right') else 1
                other = c[:, 1 - axis]
                self.assertLess(np.ptp(other), 2.0, sc.caption)

    def test_falling_accelerates_and_rising_goes_up(self):
        n = 0
        for sc, v, lab in motion_clips():
            g = sc.groups[0]
            if g.motion not in ('falls', 'rises'):
                continue
            n += 1
            y = centroids(lab['objects'][0]['mask'])[:, 1]
            vel = np.diff(y)
            if g.motion == 'falls':
                self.assertTrue((vel > -0.3).all(), sc.caption)
                q = len(vel) // 3
                self.assertGreater(vel[q:2 * q].mean(), vel[:q].mean() + 0.2, sc.caption)
            else:
                self.assertTrue((vel < 0.3).all(), sc.caption)
        self.assertGreaterEqual(n, 4)

    def test_bouncing_reverses_at_an_edge(self):
        n = 0
        for sc, v, lab in motion_clips():
            if sc.groups[0].motion != 'bounce':
                continue
            n += 1
            W, H = sc.size
            o = lab['objects'][0]
            c = o['centre']
            flips = 0
            for axis, lim in ((0, W), (1, H)):
                vel = np.diff(c[:, axis])
                for t in np.nonzero(np.sign(vel[1:]) * np.sign(vel[:-1]) < 0)[0] + 1:
                    flips += 1
                    b = o['bbox'][t]
                    near = min(b[axis], lim - b[axis + 2])
                    self.assertLessEqual(near, abs(vel[t - 1]) + 3.0, sc.caption)
            self.assertGreaterEqual(flips, 1, sc.caption)
        self.assertGreaterEqual(n, 2)

    def test_spinning_visibly_rotates_and_circles_never_spin(self):
        n = 0
        for sc, v, lab in motion_clips():
            if sc.groups[0].motion != 'spins':
                continue
            n += 1
            self.assertNotEqual(sc.objects[0].shape, 'circle')
            m = lab['objects'][0]['mask']
            c = centroids(m)
            ious = []
            for t in range(1, sc.n_frames):
                a = np.roll(m[0], (int(round(c[t, 1] - c[0, 1])), int(round(c[t, 0] - c[0, 0]))), (0, 1))
                ious.append((a & m[t]).sum() / float((a | m[t]).sum()))
            self.assertLess(min(ious), 0.85, sc.caption)
            self.assertGreater(abs(lab['objects'][0]['angle'][-1]), np.pi * 0.9)
        self.assertGreaterEqual(n, 2)
        for sc in train_samples():
            for g in sc.groups:
                if g.motion == 'spins':
                    self.assertNotIn('circle', [o.shape for o in g.members])

    def test_growing_and_shrinking_change_the_drawn_area(self):
        n = 0
        for sc, v, lab in motion_clips():
            m = sc.groups[0].motion
            if m not in ('grows', 'shrinks'):
                continue
            n += 1
            area = lab['objects'][0]['mask'].sum(axis=(1, 2))
            ratio = area[-1] / float(area[0])
            if m == 'grows':
                self.assertGreater(ratio, 2.0, sc.caption)
            else:
                self.assertLess(ratio, 0.55, sc.caption)
        self.assertGreaterEqual(n, 4)

    def test_still_objects_move_only_with_the_camera(self):
        n = 0
        for sc in [s for s in train_samples()[:2000] if s.kind == 'single' and s.groups[0].motion == 'still'][:8]:
            n += 1
            v, lab = render(sc)
            c = centroids(lab['objects'][0]['mask'])
            W, H = sc.size
            cx, z = camera_track(sc.camera, W, H, sc.n_frames)
            P = np.array(sc.groups[0].anchor)
            expect = np.stack([(P[0] - cx) * z + W / 2.0, (P[1] - H / 2.0) * z + H / 2.0], axis=1)
            moved = (c - c[0]) - (expect - expect[0])
            self.assertLess(np.abs(moved).max(), 1.5, sc.caption)
            if sc.camera.kind == 'still':
                self.assertLess(np.abs(c - c[0]).max(), 0.01)
        self.assertGreaterEqual(n, 4)

    def test_objects_stay_inside_the_frame(self):
        for sc, v, lab in motion_clips():
            W, H = sc.size
            for o in lab['objects']:
                area = o['mask'].sum(axis=(1, 2))
                self.assertTrue((area > 0).all(), sc.caption)
                self.assertTrue((o['bbox'][:, 0] >= 0).all() and (o['bbox'][:, 2] <= W).all())

    def test_counted_objects_are_exactly_that_many_separate_shapes(self):
        clips = rendered(('count',), 6, 1200)
        for sc, v, lab in clips:
            d = describe(sc)
            g = d['groups'][0]
            self.assertEqual(g['count'], len(sc.objects))
            self.assertIn(g['count'], (2, 3))
            union = np.zeros(lab['objects'][0]['mask'].shape, dtype=bool)
            for o in lab['objects']:
                self.assertFalse((union & o['mask']).any(), sc.caption)
                union |= o['mask']
            for t in (0, sc.n_frames // 2, sc.n_frames - 1):
                self.assertEqual(components(union[t]), g['count'], sc.caption)
            words = {'en': {2: ('two', 'pair'), 3: ('three',)}, 'cs': {2: ('dva', 'dvě'), 3: ('tři',)}}
            cap = sc.caption.lower()
            self.assertTrue(any(re.search(r'\b%s\b' % w, cap) for w in words[sc.language][g['count']]), cap)

    def test_relations_hold_in_every_frame(self):
        clips = rendered(('relation',), 8, 1500)
        for sc, v, lab in clips:
            rel = describe(sc)['relations'][0]
            a, b = lab['objects'][rel['a']]['bbox'], lab['objects'][rel['b']]['bbox']
            if rel['relation'] == 'left_of':
                self.assertTrue((a[:, 2] <= b[:, 0]).all(), sc.caption)
            else:
                self.assertTrue((a[:, 3] <= b[:, 1]).all(), sc.caption)

    def test_plain_backgrounds_show_their_colour_in_the_corners(self):
        n = 0
        for seed in range(2000, 2400):
            sc = sample_scene(seed)
            if sc.background not in PLAIN_BACKGROUNDS:
                continue
            n += 1
            v, lab = render(sc)
            covered = np.zeros(v.shape[:3], dtype=bool)
            for o in lab['objects']:
                covered |= o['mask']
            for y, x in ((0, 0), (0, -1), (-1, 0), (-1, -1)):
                free = ~covered[:, y, x]
                self.assertTrue((v[free, y, x] == PLAIN_BACKGROUNDS[sc.background]).all())
            if n >= 10:
                break
        self.assertEqual(n, 10)

    def test_textured_background_slides_with_a_camera_pan(self):
        for bg in ('meadow', 'day_sky', 'night_sky'):
            sc = Scene(None, 'train', 'empty', (224, 128), 16, 32, bg, 5, Camera('pan_left', 40.0), [])
            v, _ = render(sc)
            a, b = v[0].astype(float), v[-1].astype(float)
            # pan left: the picture slides right by 40 px
            err_shift = np.abs(a[:, :-40] - b[:, 40:]).mean()
            err_none = np.abs(a - b).mean()
            self.assertLess(err_shift, 0.6 * err_none, bg)

    def test_zoom_in_magnifies_objects(self):
        for seed in range(3000, 3400):
            sc = sample_scene(seed, complexity=1)
            if sc.camera.kind == 'zoom_in' and sc.groups[0].motion == 'still':
                break
        v, lab = render(sc)
        area = lab['objects'][0]['mask'].sum(axis=(1, 2))
        self.assertGreater(area[-1] / float(area[0]), sc.camera.amount ** 2 * 0.85)


# ------------------------------------------------------------------ captions agree with the scene

def _strip_background_and_camera(text, lang):
    mod = MODULES[lang]
    phrases = []
    for d in (mod.BG_PP, mod.CAM, getattr(mod, 'CAM_AS', {}), getattr(mod, 'CAM_LEAD', {})):
        for v in d.values():
            phrases.extend(v)
    for v in mod.BG_NP.values():
        for p in v:
            phrases.extend(p if isinstance(p, tuple) else [p])
    for p in sorted(set(phrases), key=len, reverse=True):
        text = text.replace(p, ' ')
    return text


def _colour_forms(colour, lang):
    if lang == 'en':
        return captions_en.COLOUR_WORDS[colour]
    return [captions_cs.COLOUR_STEMS[colour]]


def _noun_forms(shape, lang):
    if lang == 'en':
        return [w for e in captions_en.NOUNS[shape] for w in e]
    return [w for e in captions_cs.NOUNS[shape] for w in (e[0],) + e[2:]]


class CaptionsAgree(unittest.TestCase):
    def test_captions_name_every_object_with_its_colours_and_shape(self):
        for sc in train_samples()[:4000]:
            cap = sc.caption.lower()
            for o in sc.objects:
                for col in o.colours():
                    self.assertTrue(any(re.search(r'\b' + f, cap) for f in _colour_forms(col, sc.language)),
                                    (col, cap))
                self.assertTrue(any(re.search(r'\b' + f + r'\b', cap) for f in _noun_forms(o.shape, sc.language)),
                                (o.shape, cap))

    def test_captions_name_no_colour_that_is_not_drawn(self):
        for sc in train_samples()[:4000]:
            lang = sc.language
            cap = _strip_background_and_camera(sc.caption.lower(), lang)
            drawn = {c for o in sc.objects for c in o.colours()}
            for col in COLOUR_NAMES:
                if col in drawn:
                    continue
                for f in _colour_forms(col, lang):
                    self.assertIsNone(re.search(r'\b' + f, cap), (col, sc.caption))

    def test_captions_name_no_shape_that_is_not_drawn(self):
        for sc in train_samples()[:4000]:
            lang = sc.language
            cap = _strip_background_and_camera(sc.caption.lower(), lang)
            drawn = {o.shape for o in sc.objects}
            for sh in SHAPES:
                if sh in drawn:
                    continue
                for f in _noun_forms(sh, lang):
                    if sh == 'star' and 'hvězd' in f and lang == 'cs':
                        continue     # "hvězdná obloha" belongs to the night sky
                    self.assertIsNone(re.search(r'\b' + f + r'\b', cap), (sh, sc.caption))

    def test_captions_say_the_motion_with_a_verb_of_that_motion(self):
        for sc in train_samples()[:4000]:
            if sc.kind not in ('single', 'count', 'mixed'):
                continue
            cap = sc.caption.lower()
            for g in sc.groups:
                if sc.language == 'en':
                    forms = [f for e in captions_en.VERBS[g.motion] for f in e[:3]]
                else:
                    forms = [f for e in captions_cs.VERBS[g.motion] for f in e[1:3]]
                    if g.motion == 'bounce':
                        forms += ['poskakuje', 'poskakují']
                self.assertTrue(any(re.search(r'\b' + f + r'\b', cap) for f in forms), (g.motion, cap))

    def test_speed_words_only_for_the_drawn_speed(self):
        for sc in train_samples()[:4000]:
            cap = _strip_background_and_camera(sc.caption.lower(), sc.language)
            speeds = {g.speed for g in sc.groups}
            mod = MODULES[sc.language]
            for sp in ('slow', 'quick'):
                if sp in speeds:
                    continue
                for w in mod.ADVERBS[sp]:
                    self.assertIsNone(re.search(r'\b' + w + r'\b', cap), (sp, sc.caption))

    def test_linear_speed_labels_match_the_drawn_speed(self):
        seen = collections.Counter()
        for sc in train_samples()[:4000]:
            for g in sc.groups:
                if g.motion not in ('left', 'right', 'up', 'down') or g.speed is None:
                    continue
                axis = 0 if g.motion in ('left', 'right') else 1
                dist = abs(g.path['p1'][axis] - g.path['p0'][axis]) / sc.size[axis]
                rate = dist / sc.duration_s
                seen[g.speed] += 1
                if g.speed == 'slow':
                    self.assertLessEqual(rate, 0.18 + 1e-9)
                else:
                    self.assertGreaterEqual(rate, 0.30 - 1e-9)
        self.assertGreater(seen['slow'], 10)
        self.assertGreater(seen['quick'], 10)

    def test_czech_agreement_of_number_gender_and_colour(self):
        np_ = captions_cs.noun_phrase
        idx = {name: i for shape in captions_cs.NOUNS for i, e in enumerate(captions_cs.NOUNS[shape])
               for name in [e[0]]}
        table = [
            (('star', 'red', 1, 'nom', 'hvězda'), 'červená hvězda'),
            (('circle', 'yellow', 2, 'nom', 'míček'), 'dva žluté míčky'),
            (('heart', 'blue', 2, 'nom', 'srdce'), 'dvě modrá srdce'),
            (('star', 'red', 3, 'nom', 'hvězda'), 'tři červené hvězdy'),
            (('circle', 'white', 1, 'nom', 'koule'), 'bílá koule'),
            (('circle', 'green', 1, 'nom', 'míč'), 'zelený míč'),
            (('square', 'pink', 2, 'nom', 'krabice'), 'dvě růžové krabice'),
            (('square', 'blue', 2, 'nom', 'čtverec'), 'dva modré čtverce'),
            (('triangle', 'orange', 3, 'nom', 'trojúhelník'), 'tři oranžové trojúhelníky'),
            (('heart', 'white', 3, 'nom', 'srdíčko'), 'tři bílá srdíčka'),
            (('circle', 'purple', 2, 'nom', 'koule'), 'dvě fialové koule'),
            (('circle', 'cyan', 2, 'nom', 'kolečko'), 'dvě tyrkysová kolečka'),
            (('star', 'blue', 1, 'gen', 'hvězda'), 'modré hvězdy'),
            (('circle', 'red', 1, 'gen', 'míč'), 'červeného míče'),
            (('heart', 'green', 1, 'ins', 'srdce'), 'zeleným srdcem'),
            (('star', 'blue', 1, 'ins', 'hvězda'), 'modrou hvězdou'),
            (('square', 'yellow', 1, 'acc', 'kostka'), 'žlutou kostku'),
            (('triangle', 'red', 1, 'acc', 'trojúhelník'), 'červený trojúhelník'),
        ]
        for (shape, colour, n, case, noun), want in table:
            self.assertEqual(np_(shape, colour, n, case, idx[noun]), want)
        self.assertEqual(np_('star', 'red', 1, 'nom', idx['hvězda'], numeral_on=True), 'jedna červená hvězda')
        self.assertEqual(np_('heart', 'red', 1, 'nom', idx['srdce'], numeral_on=True), 'jedno červené srdce')
        self.assertEqual(np_('circle', 'red', 1, 'nom', idx['míč'], numeral_on=True), 'jeden červený míč')
        self.assertEqual(np_('circle', 'red', 1, 'acc', idx['koule'], numeral_on=True), 'jednu červenou kouli')
        self.assertEqual(np_('star', 'red', 2, 'nom', idx['hvězda'], size=('mal', False)), 'dvě malé červené hvězdy')
        self.assertEqual(np_('circle', 'red', 1, 'gen', idx['míč'], size=('středn', True)), 'středního červeného míče')

    def test_czech_verb_forms_and_clause_word_order(self):
        pairs = {'pohybuje': 'pohybují', 'posouvá': 'posouvají', 'putuje': 'putují', 'klouže': 'kloužou',
                 'odráží': 'odrážejí', 'skáče': 'skáčou', 'padá': 'padají', 'stoupá': 'stoupají',
                 'otáčí': 'otáčejí', 'točí': 'točí', 'rotuje': 'rotují', 'roste': 'rostou',
                 'zvětšuje': 'zvětšují', 'zmenšuje': 'zmenšují', 'stojí': 'stojí', 'zůstává': 'zůstávají',
                 'nehýbe': 'nehýbou', 'je': 'jsou'}
        table = {e[1]: e[2] for v in captions_cs.VERBS.values() for e in v}
        for sg, pl in pairs.items():
            self.assertEqual(table[sg], pl, sg)

        class FirstChoice:          # picks the first option, never the optional extras
            def integers(self, n):
                return 0

            def random(self, size=None):
                return 0.99

        g = Group('single', [Obj('circle', 'red', 'small', 19.0)], 'left')
        sc = Scene(None, 'train', 'single', (128, 128), 16, 32, 'black', 1, Camera(), [g])
        c = captions_cs.Ctx(sc, FirstChoice())
        self.assertEqual(c.clause(g, 'červený míč'), 'červený míč se pohybuje doleva')
        self.assertEqual(c.clause(g, 'dva žluté míčky', 2), 'dva žluté míčky se pohybují doleva')
        self.assertEqual(c.clause(g, n=2, front='které'), 'které se pohybují doleva')
        self.assertEqual(c.clause(g, 'modrá hvězda', front='na černém pozadí'),
                         'na černém pozadí se modrá hvězda pohybuje doleva')
        self.assertEqual(c.clause(g, 'červený míč', invert=True), 'doleva se pohybuje červený míč')
        self.assertEqual(c.clause(g, clitic_first=True), 'se pohybuje doleva')
        self.assertEqual(c.relative(g.members[0]), 'který')
        g.motion, g.speed = 'falls', None
        self.assertEqual(c.clause(g, 'tři bílá srdce', 3), 'tři bílá srdce padají')

    def test_czech_prepositions_are_vocalised(self):
        self.assertEqual(captions_cs.prep('z', 'zelené'), 'ze zelené')
        self.assertEqual(captions_cs.prep('z', 'žluté'), 'ze žluté')
        self.assertEqual(captions_cs.prep('z', 'červené'), 'z červené')
        self.assertEqual(captions_cs.prep('v', 'fialovou'), 've fialovou')
        self.assertEqual(captions_cs.prep('v', 'modrou'), 'v modrou')
        bad = re.compile(r'(^|\s)(z [szšž]|v [vf])', re.IGNORECASE)
        n = 0
        for sc in train_samples():
            if sc.language == 'cs':
                self.assertIsNone(bad.search(sc.caption), sc.caption)
                n += 'ze ' in sc.caption
        self.assertGreater(n, 10)

    def test_czech_count_and_gender_combinations_are_all_well_formed(self):
        # every count x noun x colour: numeral gender, adjective ending, plural noun
        endings = {('m', 1): 'ý', ('f', 1): 'á', ('n', 1): 'é', ('m', 2): 'é', ('f', 2): 'é', ('n', 2): 'á'}
        for shape, entries in captions_cs.NOUNS.items():
            for i, (lemma, gender, pl, gen, ins, acc) in enumerate(entries):
                for colour in COLOUR_NAMES:
                    for n in (1, 2, 3):
                        words = captions_cs.noun_phrase(shape, colour, n, 'nom', i, numeral_on=True).split()
                        self.assertEqual(words[0], {1: {'m': 'jeden', 'f': 'jedna', 'n': 'jedno'},
                                                    2: {'m': 'dva', 'f': 'dvě', 'n': 'dvě'},
                                                    3: {'m': 'tři', 'f': 'tři', 'n': 'tři'}}[n][gender])
                        self.assertEqual(words[1], captions_cs.COLOUR_STEMS[colour]
                                         + endings[(gender, 1 if n == 1 else 2)])
                        self.assertEqual(words[2], lemma if n == 1 else pl)

    def test_czech_verbs_agree_with_the_subject_number(self):
        n = 0
        for sc in train_samples()[:6000]:
            if sc.language != 'cs' or sc.kind not in ('single', 'count'):
                continue
            g = sc.groups[0]
            sg = {e[1] for e in captions_cs.VERBS[g.motion]}
            pl = {e[2] for e in captions_cs.VERBS[g.motion]}
            if g.motion == 'bounce':
                sg.add('poskakuje')
                pl.add('poskakují')
            want, other = (sg, pl - sg) if sc.kind == 'single' else (pl, sg - pl)
            cap = _strip_background_and_camera(sc.caption.lower(), 'cs')
            self.assertTrue(any(re.search(r'\b' + w + r'\b', cap) for w in want), cap)
            self.assertFalse(any(re.search(r'\b' + w + r'\b', cap) for w in other), cap)
            n += 1
        self.assertGreater(n, 500)

    def test_every_template_produces_text_for_its_scenes(self):
        by_kind = collections.defaultdict(list)
        for sc in train_samples()[:3000]:
            if len(by_kind[sc.kind]) < 40:
                by_kind[sc.kind].append(sc)
        for lang, mod in MODULES.items():
            for kind, fns in mod.TEMPLATES.items():
                self.assertGreaterEqual(len(fns), 8, (lang, kind))
                for i, fn in enumerate(fns):
                    for j, sc in enumerate(by_kind[kind]):
                        text = fn(mod.Ctx(sc, np.random.Generator(np.random.PCG64(j))))
                        self.assertGreater(len(text), 2, (lang, kind, i))
                        self.assertNotIn('  ', text.strip())
                        self.assertNotIn('None', text)

    def test_every_scene_kind_has_its_share_of_held_out_templates(self):
        for lang in ('en', 'cs'):
            ids = template_ids(lang)
            held = holdout.HELDOUT_TEMPLATES[lang]
            self.assertTrue(held <= set(ids))
            self.assertTrue(0.15 <= len(held) / float(len(ids)) <= 0.25, len(held) / float(len(ids)))
            for kind in holdout.SCENE_KINDS:
                kid = set(template_ids(lang, kind))
                self.assertGreaterEqual(len(kid - held), 8)
                self.assertGreaterEqual(len(kid & held), 1)


# ------------------------------------------------------------------ held out

class HeldOut(unittest.TestCase):
    def test_train_split_never_shows_a_held_out_combination_or_template_in_20000_scenes(self):
        for sc in train_samples():
            self.assertEqual(holdout.heldout_reasons(sc), [], sc.caption)
            for g in sc.groups:
                for o in g.members:
                    for c in o.colours():
                        self.assertNotIn((c, o.shape), holdout.HELDOUT_COLOUR_SHAPE)
                    self.assertNotIn((o.shape, g.motion), holdout.HELDOUT_SHAPE_MOTION)
                    # a right pan would slide a world-fixed square to the left
                    if sc.camera.kind == 'pan_right' and g.motion in ('still', 'spins', 'grows', 'shrinks'):
                        self.assertNotEqual(o.shape, 'square')
            self.assertFalse(holdout.template_is_heldout(sc.template_id))

    def test_heldout_split_always_contains_something_held_out(self):
        kinds = collections.Counter()
        for seed in range(1500):
            sc = sample_scene(seed, split='heldout')
            reasons = holdout.heldout_reasons(sc)
            self.assertTrue(reasons, sc.caption)
            for r in reasons:
                kinds[r.split()[0] if r.startswith('template') else r] += 1
            self.assertEqual(validate(sc), [])
        for c, s in holdout.HELDOUT_COLOUR_SHAPE:
            self.assertGreater(kinds['%s %s' % (c, s)], 0, (c, s))
        for want in ('triangle moving up', 'square moving left', 'template'):
            self.assertGreater(kinds[want], 0, want)

    def test_recaptioning_in_train_mode_uses_only_training_templates(self):
        from train.world.captions import caption_and_template
        rng = np.random.Generator(np.random.PCG64(9))
        for sc in train_samples()[:500]:
            for lang in ('en', 'cs'):
                _, tid = caption_and_template(sc, lang, rng)
                self.assertFalse(holdout.template_is_heldout(tid))
                _, tid = caption_and_template(sc, lang, rng, heldout_templates=True)
                self.assertTrue(holdout.template_is_heldout(tid))


# ------------------------------------------------------------------ coverage of the world

class Reachable(unittest.TestCase):
    def test_all_motions_backgrounds_cameras_shapes_colours_sizes_and_kinds_are_reachable(self):
        seen = collections.defaultdict(set)
        for sc in train_samples():
            seen['background'].add(sc.background)
            seen['camera'].add(sc.camera.kind)
            seen['kind'].add(sc.kind)
            seen['language'].add(sc.language)
            for g in sc.groups:
                seen['motion'].add(g.motion)
                seen['speed'].add(g.speed)
                for o in g.members:
                    seen['shape'].add(o.shape)
                    seen['colour'].add(o.colour)
                    seen['size'].add(o.size)
                    seen['count'].add(len(g.members) if g.role == 'count' else 1)
                if g.relation:
                    seen['relation'].add(g.relation)
        self.assertEqual(seen['background'], set(BACKGROUNDS))
        self.assertEqual(seen['camera'], set(CAMERAS))
        self.assertEqual(seen['kind'], set(holdout.SCENE_KINDS))
        self.assertEqual(seen['language'], {'en', 'cs'})
        self.assertEqual(seen['motion'], set(MOTIONS))
        self.assertEqual(seen['speed'], {None, 'slow', 'quick'})
        self.assertEqual(seen['shape'], set(SHAPES))
        self.assertEqual(seen['colour'], set(COLOUR_NAMES))
        self.assertEqual(seen['size'], set(SIZE_NAMES))
        self.assertEqual(seen['count'], {1, 2, 3})
        self.assertEqual(seen['relation'], {'left_of', 'above'})

    def test_every_motion_occurs_with_every_shape_it_is_allowed_with(self):
        pairs = {(o.shape, g.motion) for sc in train_samples() for g in sc.groups for o in g.members}
        for s in SHAPES:
            for m in MOTIONS:
                if (s, m) in holdout.HELDOUT_SHAPE_MOTION or (s, m) == ('circle', 'spins'):
                    self.assertNotIn((s, m), pairs)
                else:
                    self.assertIn((s, m), pairs)

    def test_all_scenes_pass_validation_and_describe_is_consistent(self):
        for sc in train_samples()[:1500]:
            self.assertEqual(validate(sc), [])
            d = describe(sc)
            self.assertEqual(d['n_objects'], len(sc.objects))
            self.assertEqual(sum(c['count'] for c in d['counts']), d['n_objects'])
            self.assertEqual(len(d['relations']), int(sc.kind == 'relation'))
            self.assertEqual(len(d['colour_changes']), int(sc.kind == 'colour_change'))
            for o in d['objects']:
                self.assertIn(o['colour'], COLOURS)
                self.assertIn(o['motion'], MOTIONS)

    def test_validate_catches_an_object_outside_the_frame_and_a_broken_relation(self):
        o = Obj('star', 'red', 'large', 42.0)
        g = Group('single', [o], 'still', anchor=(5.0, 64.0))
        sc = Scene(None, 'train', 'single', (128, 128), 16, 32, 'black', 1, Camera(), [g])
        self.assertIn('object leaves the frame', validate(sc))
        a = Obj('circle', 'red', 'small', 19.0, offset=(10.0, 0.0))
        b = Obj('square', 'blue', 'small', 19.0, offset=(-10.0, 0.0))
        g = Group('relation', [a, b], 'still', anchor=(64.0, 64.0), relation='left_of')
        sc = Scene(None, 'train', 'relation', (128, 128), 16, 32, 'black', 1, Camera(), [g])
        self.assertIn('relation broken', validate(sc))


class TrainingLabels(unittest.TestCase):
    """The per-token labels that train/cache_latents.py derives from the
    world's ground truth for the DiT's auxiliary heads."""

    def test_token_labels_name_the_colour_shape_and_direction_of_a_travelling_object(self):
        from train.cache_latents import COLOUR_INDEX, MOTION_CLASSES, token_labels
        from train.recipe import token_geometry
        ft, tok = token_geometry()
        self.assertEqual((ft, tok), (4, 16))
        direction = {'left': 'left', 'right': 'right', 'up': 'up', 'rises': 'up',
                     'down': 'down', 'falls': 'down', 'still': 'still'}
        need, s = set(direction), 20000
        seen = set()
        while need and s < 30000:
            sc = sample_scene(s, complexity=1)
            s += 1
            g = sc.groups[0]
            if g.motion not in need or sc.camera.kind != 'still' or sc.kind != 'single':
                continue
            need.discard(g.motion)
            v, lab = render(sc)
            o = lab['objects'][0]
            T, H, W = v.shape[0] // ft, v.shape[1], v.shape[2]
            colour, shape, motion = token_labels(lab, T, H, W, ft, tok)
            self.assertEqual(colour.shape, (T, H // tok, W // tok))
            on = colour > 0
            self.assertTrue(on.any(), sc.caption)
            self.assertTrue(np.array_equal(on, shape > 0) and np.array_equal(on, motion > 0))
            self.assertEqual(set(colour[on].tolist()), {COLOUR_INDEX[tuple(int(x) for x in o['colour'][0])]})
            self.assertEqual(set(shape[on].tolist()), {1 + SHAPES.index(o['shape'])})
            want = 1 + MOTION_CLASSES.index(direction[g.motion])
            got = set(motion[on].tolist())
            if g.motion in ('falls', 'rises'):
                # these start from rest, and a fall ends on the floor: those
                # latent frames read "still"
                self.assertIn(want, got, sc.caption)
                self.assertLessEqual(got, {want, 1}, sc.caption)
            else:
                self.assertEqual(got, {want}, sc.caption)
            seen.add(direction[g.motion])
        self.assertEqual(seen, set(MOTION_CLASSES))

    def test_a_cache_shard_is_the_same_whichever_job_writes_it(self):
        # cache_latents.py --jobs N writes shards in any order and only the
        # missing ones: shard i must depend on i alone
        import torch
        import train.cache_latents as cl

        class StubVae:
            class dec:                          # the geometry encode_shard reads: v1's
                v = cl.recipe.vae_section("v1")

            def enc(self, x):                   # (1, 3, T, H, W) -> (1, 8, T/4, H/8, W/8)
                return x[:, :1, ::4, ::8, ::8].repeat(1, 8, 1, 1, 1)

        shard = cl.SHARD
        cl.SHARD = 2
        try:
            first = cl.encode_shard(StubVae(), 3)
            again = cl.encode_shard(StubVae(), 3)
        finally:
            cl.SHARD = shard
        self.assertEqual([it['seed'] for it in first], [cl.BASE_SEED + 6, cl.BASE_SEED + 7])
        for a, b in zip(first, again):
            self.assertEqual(a['captions'], b['captions'])
            self.assertTrue(torch.equal(a['z'], b['z']) and torch.equal(a['motion'], b['motion']))
        self.assertEqual(first[0]['z'].shape[0], 8)


TESTS = testing.cases(Determinism, ClipFormat, DrawnAsDescribed, CaptionsAgree, HeldOut,
                      Reachable, TrainingLabels)

if __name__ == '__main__':
    sys.exit(testing.run(TESTS))
