# SPDX-License-Identifier: LGPL-2.1-or-later
"""Tests of the evaluation: the detector and scorer on the world's own renders.

    /usr/bin/python3 train/eval/test_eval.py        (or -m train.eval.test_eval)

The scorer must pass true renders of held-out scenes (>= 90 % per category),
reject wrong prompts and corrupted clips (<= 15 %), and survive the 4:2:0
round trip of the CLI's output.  Prints one line per test and
"N passed, N failed"; exits non-zero on failure.  About 30 s on one core.
"""
import os
import sys

if __package__ in (None, ''):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    __package__ = 'train.eval'

__import__("train.eval")     # one BLAS thread: set before numpy is imported

import math  # noqa: E402
import tempfile  # noqa: E402
import zlib  # noqa: E402

import numpy as np  # noqa: E402

from train import testing  # noqa: E402
from train.eval import prompts  # noqa: E402
from train.eval.components import label  # noqa: E402
from train.eval.detect import (classify_background, classify_motion, classify_shape,  # noqa: E402
                               detect)
from train.eval.components import features  # noqa: E402
from train.eval.run import sampling_args, selfcheck  # noqa: E402
from train.eval.score import CATEGORIES, claims_from, score  # noqa: E402
from train.eval.sheet import contact_sheet, fit_width, read_png_size, write_png  # noqa: E402
from train.eval.y4m import read_y4m, roundtrip, write_y4m  # noqa: E402
from train.world.preview import png_filter_rows  # noqa: E402

N_SCENES = 40           # per language (the same scenes in both)
TRUE_MIN = 0.90
WRONG_MAX = 0.15

_CHECK = {}


def check():
    """The self-check on N_SCENES held-out scenes, computed once."""
    if not _CHECK:
        _CHECK.update(selfcheck(N_SCENES, seed=0, with_roundtrip=True, corrupt_every=2))
    return _CHECK


def _rates(tally, cats):
    out = {}
    for c in cats:
        p, n = tally[c]['all']
        if n:
            out[c] = (p / float(n), p, n)
    return out


# ---------------------------------------------------------------- the scorer on true and wrong clips

def true_renders_pass_every_category_at_least_90_percent():
    r = _rates(check()['truth'], CATEGORIES + ('all',))
    for c in CATEGORIES:
        assert c in r, 'no scene exercises %s' % c
    low = {c: v for c, v in r.items() if v[0] < TRUE_MIN}
    assert not low, 'below %.0f%%: %s; failures: %s' % (100 * TRUE_MIN, low, check()['failures'][:5])
    print('    true renders: ' + ', '.join('%s %d/%d' % (c, v[1], v[2]) for c, v in r.items()))


def true_renders_pass_in_both_languages():
    for lang in prompts.LANGS:
        for c in CATEGORIES:
            p, n = check()['truth'][c][lang]
            assert n == 0 or p >= TRUE_MIN * n, '%s %s: %d/%d' % (lang, c, p, n)


def true_renders_still_pass_after_the_420_round_trip():
    r = _rates(check()['roundtrip'], CATEGORIES)
    low = {c: v for c, v in r.items() if v[0] < TRUE_MIN}
    assert not low, 'below %.0f%% after 4:2:0: %s' % (100 * TRUE_MIN, low)


def another_scenes_prompt_that_differs_is_rejected():
    cats = tuple(c for c in CATEGORIES if c != 'temporal')
    r = _rates(check()['pairs'], cats)
    for c in cats:
        assert c in r, 'no mismatched pair for %s' % c
    high = {c: v for c, v in r.items() if v[0] > WRONG_MAX}
    assert not high, 'wrong prompts accepted: %s' % high
    print('    mismatched pairs accepted: ' + ', '.join('%s %d/%d' % (c, v[1], v[2]) for c, v in r.items()))


def own_prompt_with_one_value_changed_is_rejected():
    cats = tuple(c for c in CATEGORIES if c != 'temporal')
    r = _rates(check()['edited'], cats)
    for c in cats:
        assert c in r, 'no edited prompt for %s' % c
    high = {c: v for c, v in r.items() if v[0] > WRONG_MAX}
    assert not high, 'edited prompts accepted: %s' % high
    print('    edited prompts accepted: ' + ', '.join('%s %d/%d' % (c, v[1], v[2]) for c, v in r.items()))


def flickering_or_jumping_clips_fail_temporal_consistency():
    for kind in ('flicker', 'jump'):
        p, n = check()['corrupt'][kind]['all']
        assert n >= 10, 'too few corrupted clips (%d)' % n
        assert p <= WRONG_MAX * n, '%s: %d/%d corrupted clips pass' % (kind, p, n)


# ---------------------------------------------------------------- parts

def label_joins_4_neighbours_but_not_diagonal_ones():
    m = np.zeros((6, 8), bool)
    m[0, 0:3] = True
    m[1, 2] = True           # joined below the run
    m[2, 3] = True           # touches only diagonally: separate
    m[4:6, 5:8] = True
    comps = sorted(label(m), key=lambda c: (c[0].min(), c[1].min()))
    assert [len(c[0]) for c in comps] == [4, 1, 6], [len(c[0]) for c in comps]
    assert label(np.zeros((3, 3), bool)) == []


def shape_classifier_names_every_world_shape_at_any_size_and_angle():
    from train.world.shapes import coverage
    rng = np.random.default_rng(1)
    bad = []
    for shape in ('circle', 'square', 'triangle', 'star', 'heart'):
        for size in (12, 19, 29, 42, 60):
            for ang in rng.random(4) * 2 * math.pi:
                y0, x0, cov = coverage(shape, 64 + rng.random(), 64 + rng.random(), size,
                                       float(ang), 128, 128)
                m = np.zeros((128, 128), bool)
                m[y0:y0 + cov.shape[0], x0:x0 + cov.shape[1]] = cov >= 0.5
                comp = max(label(m), key=lambda c: len(c[0]))
                got, _ = classify_shape(features(*comp))
                if got != shape:
                    bad.append((shape, size, round(float(ang), 2), got))
    assert not bad, bad
    yy, xx = np.mgrid[0:64, 0:64]
    ellipse = ((xx - 32) / 28.0) ** 2 + ((yy - 32) / 12.0) ** 2 <= 1
    ring = ellipse.copy()
    ring[:] = ((xx - 32) ** 2 + (yy - 32) ** 2 <= 20 ** 2) & ((xx - 32) ** 2 + (yy - 32) ** 2 > 12 ** 2)
    for name, m in (('ellipse', ellipse), ('ring', ring)):
        got, _ = classify_shape(features(*max(label(m), key=lambda c: len(c[0]))))
        assert got == 'other', '%s seen as %s' % (name, got)


def background_classifier_names_every_background():
    from train.world.backgrounds import Background
    from train.world.palette import BACKGROUNDS
    from train.world.spec import Camera
    bad = []
    for k, name in enumerate(BACKGROUNDS):
        for (W, H), cam in (((128, 128), Camera()), ((224, 128), Camera('pan_left', 30.0))):
            bg = Background(name, W, H, cam, 16, 16, 100 + k)
            video = np.stack([np.clip(bg.frame(t) + 0.5, 0, 255).astype(np.uint8) for t in range(0, 16, 2)])
            got, info = classify_background(video)
            if got != name:
                bad.append((name, W, got, info))
    assert not bad, bad


def motion_classifier_tells_a_fall_from_a_steady_descent():
    T, W, H = 48, 128, 128
    ts = list(range(T))
    u = np.linspace(0, 1, T)
    size = np.full(T, 20.0)
    steady = np.stack([np.full(T, 60.0), 20 + 80 * u], axis=1)
    fall = np.stack([np.full(T, 60.0), 20 + 80 * np.clip(u / 0.9, 0, 1) ** 2], axis=1)
    rise = np.stack([np.full(T, 60.0), 100 - 80 * (0.4 * u + 0.6 * u * u)], axis=1)
    bounce = np.stack([20 + 80 * np.abs(np.sin(np.pi * u * 1.2)), np.full(T, 60.0)], axis=1)
    still = np.stack([np.full(T, 60.0), np.full(T, 60.0)], axis=1)
    assert classify_motion(ts, steady, size, 0.0, W, H)[0] == 'down'
    assert classify_motion(ts, fall, size, 0.0, W, H)[0] == 'falls'
    assert classify_motion(ts, rise, size, 0.0, W, H)[0] == 'rises'
    assert classify_motion(ts, bounce, size, 0.0, W, H)[0] == 'bounce'
    assert classify_motion(ts, still, size, 0.0, W, H)[0] == 'still'
    assert classify_motion(ts, still, size * np.linspace(1, 1.8, T), 0.0, W, H)[0] == 'grows'
    assert classify_motion(ts, still, size * np.linspace(1, 0.5, T), 0.0, W, H)[0] == 'shrinks'
    assert classify_motion(ts, still, size, 200.0, W, H)[0] == 'spins'
    pan = np.stack([40 + 25 * u, np.full(T, 60.0)], axis=1)      # a still object under a pan
    assert classify_motion(ts, pan, size, 0.0, W, H)[0] == 'still'


def a_category_counts_only_where_the_prompt_says_something_about_it():
    from train.world import render
    found = set()
    for s, sc in prompts.draw(12, 0, 'en'):
        gt = prompts.ground_truth(sc)
        claims = claims_from(gt)
        res = score(claims, detect(render(sc, masks=False)[0]))['pass']
        assert (res['relation'] is None) == (not gt['relations'])
        assert (res['colour_change'] is None) == (not gt['colour_changes'])
        assert (res['count'] is None) == (sc.kind not in ('count', 'empty'))
        assert (res['background'] is None) == (not gt['background_mentioned'])
        assert (res['colour'] is None) == (not gt['objects'])
        found.add(res['relation'] is None)
    assert found == {True, False}, 'sample without both relation and non-relation scenes'


def the_evaluation_is_held_out_and_the_training_split_is_only_asked_for():
    from train.world.holdout import heldout_reasons
    for lang in prompts.LANGS:
        held = prompts.draw(10, 0, lang)
        assert all(heldout_reasons(sc) for _, sc in held), 'a default prompt is not held out'
        seen = prompts.draw(10, 0, lang, 'train')
        assert all(sc.split == 'train' and not heldout_reasons(sc) for _, sc in seen)
        assert [s for s, _ in seen] == [s for s, _ in held], 'the two splits use other seeds'


def background_mentions_are_found_in_english_and_czech():
    from train.world import sample_scene
    sc = sample_scene(5, split='heldout', lang='en')
    sc.background = 'rain'
    sc.caption = 'A red ball moving left on a rainy day'
    assert prompts.mentions_background(sc)
    sc.caption = 'A red ball moving left'
    assert not prompts.mentions_background(sc)
    sc.language = 'cs'
    sc.caption = 'Červený míč se pohybuje doleva v dešti'
    assert prompts.mentions_background(sc)
    sc.background = 'meadow'
    sc.caption = 'Vidíme zelenou louku pod modrou oblohou'
    assert prompts.mentions_background(sc)


def y4m_files_round_trip_size_frames_and_palette_colours():
    from train.world.palette import COLOURS
    T, H, W = 3, 16, 24
    video = np.zeros((T, H, W, 3), np.uint8)
    for k, rgb in enumerate(COLOURS.values()):
        video[:, :, (k * 2) % W:(k * 2) % W + 2] = rgb
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, 'x.y4m')
        write_y4m(p, video)
        back, h = read_y4m(p)
    assert back.shape == video.shape and h['W'] == W and h['H'] == H
    assert h['C'].startswith('420')
    err = np.abs(back.astype(int) - video.astype(int)).max()
    assert err <= 3, 'palette colours off by %d after YUV' % err
    assert np.array_equal(roundtrip(video), back)


def contact_sheet_is_a_png_with_one_row_per_clip():
    clips = [np.full((8, 32, 32, 3), 200, np.uint8), np.full((8, 32, 56, 3), 90, np.uint8)]
    img = contact_sheet(clips, labels=['1', '2'], columns=6)
    assert img.shape[0] == 2 * (32 + 4) + 4
    assert (img[4 + 4:4 + 14, 4:12] == 235).any(), 'row number not drawn'
    small = fit_width(img, 100)
    assert small.shape[1] == 100 and abs(small.shape[0] - img.shape[0] * 100 / img.shape[1]) <= 1
    assert abs(float(small.mean()) - float(img.mean())) < 2.0, 'area average changed the brightness'
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, 's.png')
        write_png(p, img)
        assert read_png_size(p) == (img.shape[1], img.shape[0])
        # the zlib writer too (used when PIL is absent)
        import builtins
        real_import = builtins.__import__

        def no_pil(name, *a, **k):
            if name == 'PIL' or name.startswith('PIL.'):
                raise ImportError(name)
            return real_import(name, *a, **k)
        builtins.__import__ = no_pil
        try:
            write_png(p, img)
        finally:
            builtins.__import__ = real_import
        data = open(p, 'rb').read()
        i = data.index(b'IDAT')
        n = int.from_bytes(data[i - 4:i], 'big')
        raw = zlib.decompress(data[i + 4:i + 4 + n])
        assert len(raw) == img.shape[0] * (img.shape[1] * 3 + 1)
        assert np.array_equal(png_unfilter(raw, *img.shape[:2]), img)
    # every filter type is chosen somewhere and each one decodes exactly
    g = np.random.default_rng(3)
    noisy = np.concatenate([g.integers(0, 256, (6, 40, 3)),
                            np.tile(np.arange(40)[None, :, None] * 6, (6, 1, 3)),
                            np.tile(np.arange(6)[:, None, None] * 40, (1, 40, 3)),
                            (np.arange(6)[:, None, None] * 20 + np.arange(40)[None, :, None] * 5 +
                             np.array([0, 30, 60])) % 256]).astype(np.uint8)
    raw = png_filter_rows(noisy)
    assert set(raw[:, 0].tolist()) >= {0, 1, 2}, sorted(set(raw[:, 0].tolist()))
    assert np.array_equal(png_unfilter(raw.tobytes(), *noisy.shape[:2]), noisy)
    for kind in range(5):
        raw = png_filter_rows(noisy, only=kind)
        assert np.array_equal(png_unfilter(raw.tobytes(), *noisy.shape[:2]), noisy), kind


def png_unfilter(raw, h, w):
    """Undo PNG filtering row by row, pixel by pixel, as a decoder does
    (an independent check of png_filter_rows): -> uint8 (h, w, 3)."""
    rows = np.frombuffer(raw, np.uint8).reshape(h, 1 + 3 * w)
    out = np.zeros((h, 3 * w), np.int64)
    for y in range(h):
        kind, f = int(rows[y, 0]), rows[y, 1:].astype(np.int64)
        for i in range(3 * w):
            a = int(out[y, i - 3]) if i >= 3 else 0
            b = int(out[y - 1, i]) if y else 0
            c = int(out[y - 1, i - 3]) if y and i >= 3 else 0
            if kind == 0:
                pred = 0
            elif kind == 1:
                pred = a
            elif kind == 2:
                pred = b
            elif kind == 3:
                pred = (a + b) // 2
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            else:
                raise AssertionError('filter type %d' % kind)
            out[y, i] = (int(f[i]) + pred) & 0xFF
    return out.reshape(h, w, 3).astype(np.uint8)


def cli_clip_is_generated_read_and_scored_when_the_cli_is_built():
    from train.eval.run import REPO, generate, resolve_model
    st2v = os.path.join(REPO, 'build', 'bin', 'st2v')
    model = resolve_model(None)
    if not os.access(st2v, os.X_OK) or model is None:
        print('    (skipped: no build/bin/st2v or model)')
        return
    seed, sc = prompts.draw(1, 0, 'en')[0]
    with tempfile.TemporaryDirectory() as d:
        video = generate(st2v, model, sc, os.path.join(d, 'c.y4m'))
        # sampling options reach the CLI: one step with no guidance is another clip
        other = generate(st2v, model, sc, os.path.join(d, 'd.y4m'),
                         sampling=sampling_args('--steps 1 --cfg 1'))
    assert video.shape == (sc.n_frames, sc.size[1], sc.size[0], 3), video.shape
    assert other.shape == video.shape and not np.array_equal(other, video)
    res = score(claims_from(prompts.ground_truth(sc)), detect(video))
    assert set(res['pass']) == set(CATEGORIES)


def sampling_options_are_checked_before_they_reach_the_cli():
    assert sampling_args('') == []
    assert sampling_args('--cfg 6 --sampler "dpm++2m"') == ['--cfg', '6', '--sampler', 'dpm++2m']
    for bad in ('--cfg', '-p hello', '--model x.safetensors', '--steps 4 --frames 9', '--cfg 6 7'):
        try:
            sampling_args(bad)
        except ValueError as e:
            assert str(e).startswith('--sampling: '), e
        else:
            raise AssertionError('accepted %r' % bad)


def overall_score_and_paired_comparison_count_only_applicable_categories():
    """run.prompt_score is the share of a prompt's applicable categories
    passed; compare.compare pairs two evaluations by prompt and refuses
    two that scored different prompts."""
    from . import compare, run
    p1 = {'colour': True, 'shape': False, 'motion': None, 'count': None, 'relation': None,
          'colour_change': None, 'background': True, 'temporal': True}
    assert run.prompt_score(p1) == 0.75
    assert run.prompt_score({c: None for c in p1}) is None
    rows = [('en', p1), ('cs', dict(p1, shape=True))]
    tot = run.overall(rows)
    assert abs(tot['en'][0] - 0.75) < 1e-12 and abs(tot['cs'][0] - 1.0) < 1e-12
    assert tot['all'][2] == 2 and abs(tot['all'][1] - 0.125) < 1e-12     # std 0.1768 / sqrt 2
    mk = lambda scores: {'prompts': [{'lang': l, 'seed': i, 'caption': 'c%d' % i, 'score': v,
                                      'pass': {}} for i, (l, v) in enumerate(scores)]}  # noqa
    a = mk([('en', 0.5), ('en', 0.25), ('cs', 1.0)])
    b = mk([('en', 0.75), ('en', 0.75), ('cs', 1.0)])
    res = compare.compare(a, b)
    assert abs(res['en'][2] - 0.375) < 1e-12 and res['cs'][2] == 0.0
    assert abs(res['en'][3] - 0.125) < 1e-12            # paired: std of (0.25, 0.5) / sqrt 2
    b['prompts'][0]['seed'] = 99
    try:
        compare.compare(a, b)
    except ValueError:
        return
    raise AssertionError('prompts that differ were compared')


def people_split_specs_parse_and_stay_outside_the_templates():
    """Every people-written prompt's spec parses into claims; both languages
    have as many; none of the prompts is a caption the templates could
    write for the training or held-out split (checked on the exact text of
    10,000 drawn captions per language); bad specs are refused."""
    from . import people
    from train.world import sample_scene
    assert len(people.EN) == len(people.CS)
    for lang in prompts.LANGS:
        for seed, sc in people.draw(len(people.PROMPTS[lang]), lang):
            c = sc.claims
            assert c['entities'] and all(e['n'] >= 1 for e in c['entities']), sc.caption
            assert (c['count'] is not None) == ('; count' in dict(people.PROMPTS[lang])[sc.caption])
        seen = set()
        for split in ('train', 'heldout'):
            for s in range(5000):
                seen.add(sample_scene(s, split=split, lang=lang).caption.lower().strip(' .'))
        clash = [t for t, _ in people.PROMPTS[lang] if t.lower().strip(' .') in seen]
        assert not clash, clash
    c = people.parse_spec('1 red>blue circle still; bg black')
    assert c['changes'] == [{'entity': 0, 'from': 'red', 'to': 'blue'}] and c['background'] == 'black'
    for bad in ('1 red cube still', '1 red circle moonwalks', 'x red circle still',
                '1 red circle still; bg mars', '1 red circle still; loud'):
        try:
            people.parse_spec(bad)
        except ValueError:
            continue
        raise AssertionError('accepted %r' % bad)


TESTS = [
    the_evaluation_is_held_out_and_the_training_split_is_only_asked_for,
    label_joins_4_neighbours_but_not_diagonal_ones,
    shape_classifier_names_every_world_shape_at_any_size_and_angle,
    background_classifier_names_every_background,
    motion_classifier_tells_a_fall_from_a_steady_descent,
    background_mentions_are_found_in_english_and_czech,
    y4m_files_round_trip_size_frames_and_palette_colours,
    contact_sheet_is_a_png_with_one_row_per_clip,
    sampling_options_are_checked_before_they_reach_the_cli,
    overall_score_and_paired_comparison_count_only_applicable_categories,
    people_split_specs_parse_and_stay_outside_the_templates,
    a_category_counts_only_where_the_prompt_says_something_about_it,
    true_renders_pass_every_category_at_least_90_percent,
    true_renders_pass_in_both_languages,
    true_renders_still_pass_after_the_420_round_trip,
    another_scenes_prompt_that_differs_is_rejected,
    own_prompt_with_one_value_changed_is_rejected,
    flickering_or_jumping_clips_fail_temporal_consistency,
    cli_clip_is_generated_read_and_scored_when_the_cli_is_built,
]


if __name__ == '__main__':
    sys.exit(testing.run(TESTS))
