# SPDX-License-Identifier: LGPL-2.1-or-later
"""`make eval`: generate the held-out prompts with the st2v CLI and score them.

    /usr/bin/python3 -m train.eval.run --st2v build/bin/st2v [--model M] [--n 40] [--seed 0]
                                        [--out docs] [--threads 1] [--keep DIR]
                                        [--sampling "--cfg 6 --sampler dpm++2m"]
    /usr/bin/python3 -m train.eval.run --truth [--n 40] [--seed 0] [--out docs] [--model M]

Generated mode draws N held-out scenes (prompts.py; the same scenes in
English and Czech, captioned per language), generates every caption with
`st2v -p CAPTION -s SEED --frames T --size WxH` at the scene's native size
and length (generation seed = scene seed), reads the 4:2:0 output back,
scores it (score.py on detect.py) and writes OUT/eval.md (the table per
category and language, provenance, per-prompt results) and
OUT/eval-sheet.png (the first 12 prompts, 6 frames each).

--truth scores the world's own renders of the same scenes instead: the
scorer's self-check.  It also scores every clip against wrong prompts (a
different scene's prompt that differs in the category, and the scene's own
prompt with one value changed) and corrupted clips (objects flickering out,
the picture jumping), which must fail, and the renders after a 4:2:0
round trip, and (with the model's autoencoder) the renders encoded and
decoded: the ceiling that the autoencoder leaves to the DiT; written to
OUT/eval-truth.md.
"""
import argparse
import hashlib
import json
import os
import shlex
import subprocess
import sys
import tempfile

import numpy as np

from . import people, prompts
from .detect import detect
from .score import CATEGORIES, TITLES, applicable, claims_from, differs, edited, fmt, score
from .sheet import contact_sheet, fit_width, write_png
from .y4m import read_y4m, roundtrip

SHEET_ROWS = 12
SHEET_COLUMNS = 6
SHEET_WIDTH = 1024           # the sheet is scaled down to this width at most
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ---------------------------------------------------------------- helpers

def tally_by_lang(rows):
    """rows: list of (lang, {category: True/False/None}) -> {cat: {lang|'all': (passed, n)}}."""
    out = {}
    for c in CATEGORIES + ('all',):
        out[c] = {}
        for lang in prompts.LANGS + ('all',):
            vals = [r[c] for l, r in rows if (lang == 'all' or l == lang) and r.get(c) is not None]
            out[c][lang] = (int(sum(vals)), len(vals))
    return out


def fmt_se(passed, n):
    """'12/40 (30% ± 7)': the share with its binomial standard error."""
    if n == 0:
        return '-'
    q = passed / n
    return '%d/%d (%.0f%% ± %.0f)' % (passed, n, 100 * q, 100 * (q * (1 - q) / n) ** 0.5)


def prompt_score(passes):
    """The share of a prompt's applicable categories that passed (None
    when none applies): the per-prompt number behind 'overall'."""
    vals = [passes[c] for c in CATEGORIES if passes.get(c) is not None]
    return sum(vals) / len(vals) if vals else None


def overall(rows):
    """{lang|'all': (mean prompt_score, its standard error over prompts, n)}."""
    out = {}
    for lang in prompts.LANGS + ('all',):
        v = np.array([prompt_score(r) for l, r in rows if lang in ('all', l)
                      and prompt_score(r) is not None], np.float64)
        out[lang] = (v.mean() if len(v) else 0.0,
                     v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0, len(v))
    return out


def with_all(passes):
    """Add 'all': every applicable category passed (None when none applies)."""
    vals = [v for v in passes.values() if v is not None]
    d = dict(passes)
    d['all'] = all(vals) if vals else None
    return d


def table(t, first='category', rows=CATEGORIES + ('all',), title_all='all categories of a prompt',
          cell=fmt, total=None):
    """The markdown table of tallies t; `total` (overall()) adds its row."""
    lines = ['| %s | en | cs | all |' % first, '|---|---|---|---|']
    for c in rows:
        if c not in t:
            continue
        name = title_all if c == 'all' else TITLES.get(c, c)
        lines.append('| %s | %s | %s | %s |' % (name, cell(*t[c]['en']), cell(*t[c]['cs']),
                                                cell(*t[c]['all'])))
    if total:
        lines.append('| overall: share of a prompt\'s categories passed | %s |' % ' | '.join(
            '%.1f%% ± %.1f' % (100 * total[l][0], 100 * total[l][1])
            for l in prompts.LANGS + ('all',)))
    return '\n'.join(lines)


def sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def rel(path):
    p = os.path.abspath(path)
    return os.path.relpath(p, REPO) if p.startswith(REPO + os.sep) else p


def resolve_model(model):
    """The model file to pass with -m: --model, else $ST2V_MODEL, else the
    source tree's models/default.safetensors; None lets the CLI choose."""
    if model:
        return model
    if os.environ.get('ST2V_MODEL'):
        return os.environ['ST2V_MODEL']
    p = os.path.join(REPO, 'models', 'default.safetensors')
    return p if os.path.exists(p) else None


# st2v options that --sampling may pass on: how to sample, not what to show
SAMPLING_OPTIONS = ('--steps', '--cfg', '--sampler', '--shift')


def sampling_args(text):
    """'--cfg 6 --sampler heun' -> ['--cfg', '6', '--sampler', 'heun'];
    ValueError for anything but SAMPLING_OPTIONS, each with one value."""
    words = shlex.split(text or '')
    if len(words) % 2:
        raise ValueError('--sampling: every option needs one value: %r' % text)
    for opt in words[::2]:
        if opt not in SAMPLING_OPTIONS:
            raise ValueError('--sampling: %r is not one of %s' % (opt, ', '.join(SAMPLING_OPTIONS)))
    return words


def generate(st2v, model, scene, path, threads=1, sampling=()):
    """Run the CLI for one scene's caption; returns the RGB clip."""
    W, H = scene.size
    cmd = [st2v, '-q', '-p', scene.caption, '-s', str(scene.seed), '--frames', str(scene.n_frames),
           '--size', '%dx%d' % (W, H), '--fps', str(scene.fps), '-t', str(threads),
           *sampling, '-o', path]
    if model:
        cmd[1:1] = ['-m', model]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise RuntimeError('%s failed (%d): %s' % (' '.join(cmd[:1]), r.returncode,
                                                   r.stderr.decode('utf-8', 'replace').strip()))
    video, _ = read_y4m(path)
    return video


def caption_cell(text):
    return text.replace('|', '\\|').replace('\n', ' ')


def seen_text(det, max_tracks=3):
    """What the detector saw, briefly: background; the biggest tracks."""
    parts = [det['background'].replace('_', ' ')]
    for tr in det['tracks'][:max_tracks]:
        col = tr['colour'] if tr['colour_end'] == tr['colour'] else '%s->%s' % (tr['colour'], tr['colour_end'])
        parts.append('%s %s %s' % (col, tr['shape'], tr['motion']))
    if len(det['tracks']) > max_tracks:
        parts.append('+%d more' % (len(det['tracks']) - max_tracks))
    return '; '.join(parts)


def per_prompt_rows(items):
    """Markdown rows: # | lang | seed | caption | failed categories | seen."""
    lines = ['| # | lang | seed | caption | failed | seen |', '|---|---|---|---|---|---|']
    for k, (lang, seed, caption, res, seen) in enumerate(items):
        failed = [TITLES[c] for c in CATEGORIES if res['pass'][c] is False]
        lines.append('| %d | %s | %d | %s | %s | %s |' % (k + 1, lang, seed, caption_cell(caption),
                                                          ', '.join(failed) or '-', seen))
    return '\n'.join(lines)


def sheet_order(n_scenes):
    """Contact-sheet rows: scene 0 en, scene 0 cs, scene 1 en, ... (first 12)."""
    out = []
    for i in range(n_scenes):
        for lang in prompts.LANGS:
            out.append((lang, i))
    return out[:SHEET_ROWS]


# ---------------------------------------------------------------- generated clips

def run_generated(a):
    st2v = a.st2v
    if not os.path.exists(st2v):
        sys.exit('eval: %s not found (build it with make)' % st2v)
    model = resolve_model(a.model)
    os.makedirs(a.out, exist_ok=True)
    scenes = {lang: people.draw(a.n, lang) if a.split == 'people' else
              prompts.draw(a.n, a.seed, lang, a.split) for lang in prompts.LANGS}
    rows, items, clips = [], [], {}
    tmp = tempfile.TemporaryDirectory(prefix='st2v-eval-')
    keep = a.keep
    if keep:
        os.makedirs(keep, exist_ok=True)
    try:
        for lang in prompts.LANGS:
            for i, (seed, sc) in enumerate(scenes[lang]):
                path = os.path.join(keep or tmp.name, '%s-%05d.y4m' % (lang, seed))
                video = generate(st2v, model, sc, path, a.threads, a.sampling_args)
                if video.shape[0] != sc.n_frames or video.shape[1:3] != (sc.size[1], sc.size[0]):
                    raise RuntimeError('clip %s has shape %s, expected %d frames of %dx%d'
                                       % (path, video.shape, sc.n_frames, sc.size[0], sc.size[1]))
                if not keep:
                    os.remove(path)
                det = detect(video)
                claims = sc.claims if a.split == 'people' else claims_from(prompts.ground_truth(sc))
                res = score(claims, det)
                rows.append((lang, with_all(res['pass'])))
                items.append((lang, seed, sc.caption, res, seen_text(det)))
                if (lang, i) in sheet_order(a.n):
                    clips[(lang, i)] = video
                print('%s %5d %-60s %s' % (lang, seed, sc.caption[:60],
                                          ' '.join(c for c in CATEGORIES if res['pass'][c] is False)
                                          or 'ok'), file=sys.stderr)
    finally:
        tmp.cleanup()
    t = tally_by_lang(rows)
    total = overall(rows)
    with open(os.path.join(a.out, 'eval.json'), 'w') as f:
        json.dump({'model': rel(model) if model else None, 'n': a.n, 'seed': a.seed,
                   'split': a.split, 'sampling': a.sampling,
                   'prompts': [{'lang': l, 'seed': sd, 'caption': cap, 'pass': res['pass'],
                                'score': prompt_score(res['pass'])}
                               for l, sd, cap, res, _ in items]}, f, ensure_ascii=False, indent=0)
    order = sheet_order(a.n)
    sheet = contact_sheet([clips[k] for k in order], labels=[str(r + 1) for r in range(len(order))],
                          columns=SHEET_COLUMNS)
    sheet = fit_width(sheet, SHEET_WIDTH)
    sheet_path = os.path.join(a.out, 'eval-sheet.png')
    write_png(sheet_path, sheet)
    md = os.path.join(a.out, 'eval.md')
    model_desc = 'the CLI\'s default model'
    if model:
        real = os.path.realpath(model)
        model_desc = '`%s`' % rel(model)
        if real != os.path.abspath(model):
            model_desc += ' (-> `%s`)' % os.path.basename(real)
        model_desc += ', sha256 `%s`' % sha256(model)[:16]
        if 'placeholder' in os.path.basename(real):
            model_desc += ' (untrained random weights: scores near 0 are expected)'
    cmd = '/usr/bin/python3 -m train.eval.run --st2v %s%s --n %d --seed %d%s%s --out %s' % (
        rel(st2v), (' --model %s' % rel(a.model)) if a.model else '', a.n, a.seed,
        (' --sampling %s' % shlex.quote(a.sampling)) if a.sampling else '',
        (' --split %s' % a.split) if a.split != 'heldout' else '', rel(a.out))
    split_desc = {'heldout': 'held-out world scenes',
                  'train': 'TRAINING-split world scenes (a diagnostic: these prompts are like '
                           'the training\'s)'}.get(a.split)
    seeds = prompts.scene_seeds(a.n, a.seed)
    st2v_cmd = '`st2v -p CAPTION -s SEED --frames T --size WxH%s`' % (
        (' ' + a.sampling) if a.sampling else '')
    if a.split == 'people':
        prompts_line = ('- prompts: the first %d prompts per language written the way people write '
                        '(`train/eval/people.py`: outside the caption templates and their '
                        'vocabulary, each with what it asks for in the scorer\'s terms), %d in '
                        'all; seeds 500.., sizes 128x128 and 224x128 in turn, %d frames (%s)'
                        % (a.n, 2 * a.n, people.PEOPLE_FRAMES, st2v_cmd))
    else:
        prompts_line = ('- prompts: %d %s (`sample_scene(seed, split="%s")`), scene seeds %d..%d, '
                        'each captioned in English and in Czech (%d prompts); generation seed = '
                        'scene seed, size and length = the scene\'s (%s)'
                        % (a.n, split_desc, a.split, seeds[0], seeds[-1], 2 * a.n, st2v_cmd))
    lines = [
        '# st2v evaluation: held-out prompts scored by a detector',
        '',
        'Written by `make eval` (`train/eval/run.py`); do not edit by hand.',
        '',
        '- model: %s' % model_desc,
        '- command: `%s`' % cmd,
        prompts_line,
        '- scoring: `train/eval/detect.py` reads the frames (no labels), `train/eval/score.py` '
        'compares with the scene\'s ground truth; a category counts only where the prompt '
        'says something about it (relation: relation scenes, count: count and empty scenes, '
        'colour change: colour-change scenes, background: captions that name it). The '
        'scorer\'s self-check on the world\'s own renders is in [eval-truth.md](eval-truth.md).',
        '',
        'Each cell: passed/applicable (share ± its binomial standard error). '
        '"overall" is the mean over prompts of the share of each prompt\'s applicable '
        'categories it passed, ± its standard error over prompts; two models are compared '
        'on it by `train/eval/compare.py` (paired by prompt).',
        '',
        table(t, cell=fmt_se, total=total),
        '',
        '## Contact sheet',
        '',
        '![contact sheet](eval-sheet.png)',
        '',
        'Rows of [eval-sheet.png](eval-sheet.png), 6 frames evenly spaced over each clip:',
        '',
        '| row | lang | seed | caption |',
        '|---|---|---|---|',
    ]
    for r, (lang, i) in enumerate(order):
        seed, sc = scenes[lang][i]
        lines.append('| %d | %s | %d | %s |' % (r + 1, lang, seed, caption_cell(sc.caption)))
    lines += ['', '## Every prompt', '', '"seen": the detected background and the largest '
              'objects tracked (colour, shape, motion).', '', per_prompt_rows(items), '']
    with open(md, 'w') as f:
        f.write('\n'.join(lines))
    print(table(t, cell=fmt_se, total=total))
    print('wrote %s, %s and eval.json' % (md, sheet_path), file=sys.stderr)
    return t


# ---------------------------------------------------------------- self-check on true renders

def corrupt_flicker(scene, video):
    """Objects vanish in every fourth frame (the background alone is drawn there)."""
    from train.world.backgrounds import Background
    W, H = scene.size
    bg = Background(scene.background, W, H, scene.camera, scene.n_frames, scene.fps, scene.bg_seed)
    out = video.copy()
    for t in range(1, scene.n_frames, 4):
        out[t] = np.clip(bg.frame(t) + 0.5, 0, 255).astype(np.uint8)
    return out


def corrupt_jump(scene, video):
    """The second half of the clip is shifted by a third of the frame: objects jump."""
    W, H = scene.size
    out = video.copy()
    h = scene.n_frames // 2
    out[h:] = np.roll(video[h:], (H // 4, W // 3), axis=(1, 2))
    return out


def autoencoder(model_path):
    """The autoencoder of a model file (or of a train_vae.py checkpoint, one
    in training) as a function: clip (T, H, W, 3) uint8 -> the clip decoded
    from its latent (the frames past the last whole latent frame are
    dropped)."""
    import torch
    from train.st2v.config import compression
    sys.path.insert(0, os.path.join(REPO, 'train'))
    import recipe
    vae = recipe.load_vae(model_path)[0]
    ft = compression(vae.dec.v)[0]

    def run(video):
        T = video.shape[0] // ft * ft
        x = torch.from_numpy(video[:T].transpose(3, 0, 1, 2)[None] / 127.5 - 1.0).float()
        with torch.no_grad():
            y = vae.dec(vae.enc(x))[0]                           # (3, T, H, W)
        y = ((y.clamp(-1, 1) + 1) * 127.5).round().byte().numpy()
        return np.ascontiguousarray(y.transpose(1, 2, 3, 0))
    return run


def selfcheck(n, seed, with_roundtrip=True, corrupt_every=1, log=None, vae=None):
    """Score the world's renders of n held-out scenes per language against
    their own prompts, against wrong prompts and as corrupted clips.

    Returns dict of tallies ({cat: {lang: (passed, n)}}): 'truth', 'pairs'
    (another scene's prompt differing in the category), 'edited' (own prompt,
    one value changed), 'corrupt' (temporal only: 'flicker', 'jump'),
    'roundtrip' (truth after 4:2:0), 'vae' (truth through the autoencoder
    `vae`, when given) and 'failures' (text lines)."""
    from train.world import render
    scenes = {lang: prompts.draw(n, seed, lang) for lang in prompts.LANGS}
    dets, dets_rt, dets_vae, corrupt = {}, {}, {}, {}
    for i, (s, sc) in enumerate(scenes['en']):
        video, _ = render(sc, masks=False)
        dets[i] = detect(video)
        if with_roundtrip:
            dets_rt[i] = detect(roundtrip(video))
        if vae:
            dets_vae[i] = detect(vae(video))
        if sc.groups and i % corrupt_every == 0:
            corrupt[i] = {'flicker': detect(corrupt_flicker(sc, video)),
                          'jump': detect(corrupt_jump(sc, video))}
    truth, rt, through_vae, pairs, edits, cor = [], [], [], [], [], []
    failures = []
    for lang in prompts.LANGS:
        claims = [claims_from(prompts.ground_truth(sc)) for s, sc in scenes[lang]]
        for i, (s, sc) in enumerate(scenes[lang]):
            r = score(claims[i], dets[i])
            truth.append((lang, with_all(r['pass'])))
            for c, w in sorted(r['why'].items()):
                failures.append('%s seed %d %s: %s (%s)' % (lang, s, c, w, sc.caption))
            if with_roundtrip:
                rt.append((lang, with_all(score(claims[i], dets_rt[i])['pass'])))
            if vae:
                through_vae.append((lang, with_all(score(claims[i], dets_vae[i])['pass'])))
            prow, erow = {}, {}
            for c in CATEGORIES:
                if c == 'temporal':
                    continue
                for k in range(1, n):
                    j = (i + k) % n
                    if applicable(claims[j], c) and differs(claims[i], claims[j], c):
                        prow[c] = score(claims[j], dets[i])['pass'][c]
                        break
                e = edited(claims[i], c, i)
                if e is not None:
                    erow[c] = score(e, dets[i])['pass'][c]
            pairs.append((lang, prow))
            edits.append((lang, erow))
            if i in corrupt:
                cor.append((lang, {'flicker': score(claims[i], corrupt[i]['flicker'])['pass']['temporal'],
                                   'jump': score(claims[i], corrupt[i]['jump'])['pass']['temporal']}))
    if log:
        for line in failures:
            print(line, file=log)
    out = {'truth': tally_by_lang(truth), 'pairs': tally_by_lang(pairs),
           'edited': tally_by_lang(edits), 'failures': failures}
    ct = {}
    for kind in ('flicker', 'jump'):
        ct[kind] = {}
        for lang in prompts.LANGS + ('all',):
            vals = [r[kind] for l, r in cor if lang in ('all', l)]
            ct[kind][lang] = (int(sum(vals)), len(vals))
    out['corrupt'] = ct
    if with_roundtrip:
        out['roundtrip'] = tally_by_lang(rt)
    if vae:
        out['vae'] = tally_by_lang(through_vae)
    return out


def run_truth(a):
    os.makedirs(a.out, exist_ok=True)
    model = resolve_model(a.model)
    r = selfcheck(a.n, a.seed, log=sys.stderr, vae=autoencoder(model))
    seeds = prompts.scene_seeds(a.n, a.seed)
    cmd = '/usr/bin/python3 -m train.eval.run --truth --n %d --seed %d --out %s' % (a.n, a.seed, rel(a.out))
    if a.model:
        cmd += ' --model %s' % rel(a.model)
    wrong_rows = tuple(c for c in CATEGORIES if c != 'temporal')
    lines = [
        '# st2v evaluation: the scorer\'s self-check on true renders',
        '',
        'Written by `%s` (`train/eval/run.py --truth`); do not edit by hand.' % cmd,
        '',
        'The clips are the world\'s own renders (`train.world.render`) of the held-out scenes '
        'that [eval.md](eval.md) generates (scene seeds %d..%d, the same scenes captioned in '
        'English and in Czech), read by the detector from their RGB frames only.' % (seeds[0], seeds[-1]),
        '',
        '## True clip, its own prompt (should be near 100 %)',
        '',
        table(r['truth']),
        '',
        '## The same after a 4:2:0 full-range YUV round trip (the CLI\'s output format)',
        '',
        table(r['roundtrip']),
        '',
        '## The same through the model\'s autoencoder (the ceiling it leaves to the DiT)',
        '',
        'Each render encoded to a latent and decoded again by the autoencoder of `%s` '
        '(sha256 %s...): a generated clip cannot look better than this.' % (
            rel(os.path.realpath(model)), sha256(model)[:12]),
        '',
        table(r['vae']),
        '',
        '## True clip, a wrong prompt (should be near 0 %)',
        '',
        'Another scene\'s prompt (the next scene in the list whose prompt differs from this '
        'clip in the category: a colour, shape, motion, count, relation, colour change or '
        'background this clip does not show):',
        '',
        table(r['pairs'], rows=wrong_rows),
        '',
        'The clip\'s own prompt with one value changed (first object\'s colour / shape / '
        'motion, the count +-1, the relation\'s two objects swapped, the colour change\'s '
        'final colour, the background):',
        '',
        table(r['edited'], rows=wrong_rows),
        '',
        '## Corrupted clips, temporal consistency (should be near 0 %)',
        '',
        '| corruption | en | cs | all |',
        '|---|---|---|---|',
        '| objects vanish in every 4th frame | %s | %s | %s |' % tuple(
            fmt(*r['corrupt']['flicker'][l]) for l in prompts.LANGS + ('all',)),
        '| picture shifted by a third of the frame mid-clip | %s | %s | %s |' % tuple(
            fmt(*r['corrupt']['jump'][l]) for l in prompts.LANGS + ('all',)),
        '',
    ]
    if r['failures']:
        lines += ['## Failures on true clips', ''] + ['- ' + caption_cell(f) for f in r['failures']] + ['']
    md = os.path.join(a.out, 'eval-truth.md')
    with open(md, 'w') as f:
        f.write('\n'.join(lines))
    print(table(r['truth']))
    print('wrote %s' % md, file=sys.stderr)
    return r


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--st2v', default=os.path.join('build', 'bin', 'st2v'), help='the st2v CLI')
    ap.add_argument('--model', default=None, help='model file (default: the shipped default '
                    'model); with --truth also a train_vae.py checkpoint, whose autoencoder to measure')
    ap.add_argument('--n', type=int, default=100, help='scenes per language (100: the 200 prompts a ship decision needs)')
    ap.add_argument('--seed', type=int, default=0, help='scene seeds are 1000 * seed + i')
    ap.add_argument('--out', default='docs', help='where eval.md and eval-sheet.png go')
    ap.add_argument('--threads', type=int, default=1, help='st2v -t (default 1)')
    ap.add_argument('--keep', default=None, help='keep the generated .y4m clips in this folder')
    ap.add_argument('--sampling', default='', help='sampling options for st2v instead of the '
                    'model\'s defaults, e.g. "--cfg 6 --sampler dpm++2m" (%s)' % ', '.join(SAMPLING_OPTIONS))
    ap.add_argument('--split', choices=('heldout', 'train', 'people'), default='heldout',
                    help='scenes of the training split instead: a diagnostic, not the evaluation')
    ap.add_argument('--truth', action='store_true',
                    help='score the world\'s true renders instead (writes eval-truth.md)')
    a = ap.parse_args(argv)
    if a.n < 1:
        ap.error('--n must be >= 1')
    try:
        a.sampling_args = sampling_args(a.sampling)
    except ValueError as e:
        ap.error(str(e))
    if a.truth:
        run_truth(a)
    else:
        run_generated(a)


if __name__ == '__main__':
    main()
