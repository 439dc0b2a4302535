# SPDX-License-Identifier: LGPL-2.1-or-later
"""Scorer: does a clip (read by detect.py) show what its prompt's ground truth says?

    claims = claims_from(ground_truth)            # prompts.ground_truth(scene)
    result = score(claims, detect(video))         # {category: True / False / None}

Categories (None where the ground truth says nothing about it):
  colour         every object's (start) colour is on screen
  shape          the objects of each colour have the stated shape
  motion         ... and move as stated (left/right/up/down, falls, rises,
                 bounce, spins, grows, shrinks, still); "moves down" also
                 accepts an accelerating fall, "moves up" a rise
  count          count scenes: the median number of components of that colour
                 per frame equals the number; empty scenes: no component
  relation       relation scenes: A left of / above B (centroids, dominant
                 axis) in >= 80 % of the frames where both are seen
  colour_change  colour-change scenes: the tracked object starts in one
                 colour and ends in the other
  background     where the caption names the background: the detected one
  temporal       every matched object is tracked in >= 90 % of the frames
                 without jumps, flicker or sudden size changes

Matching: the ground truth is grouped into entities (a counted group of n
identical objects is one entity with n members, every other object is its
own entity).  Each entity takes up to n tracks of its start colour,
preferring the stated shape and motion and the longest tracks; an entity
whose colour is absent takes the best leftover tracks instead (so shape and
motion are still judged, and colour fails).  A scene passes a category when
every entity / relation / change in it passes.
"""
import copy

CATEGORIES = ('colour', 'shape', 'motion', 'count', 'relation', 'colour_change', 'background',
              'temporal')
TITLES = {'colour': 'colour', 'shape': 'shape', 'motion': 'motion direction', 'count': 'count',
          'relation': 'spatial relation', 'colour_change': 'colour change',
          'background': 'background', 'temporal': 'temporal consistency'}

MOTION_ACCEPT = {'down': ('down', 'falls'), 'up': ('up', 'rises')}
RELATION_FRAC = 0.8


def accepts(stated, seen):
    """True when a detected motion `seen` satisfies the stated motion."""
    return seen in MOTION_ACCEPT.get(stated, (stated,))


def claims_from(gt):
    """What a prompt claims, from describe(scene) (+ 'background_mentioned')."""
    entities, ent_of = [], {}
    for g_i, g in enumerate(gt['groups']):
        members = g['members']
        if g['role'] == 'count':
            o = gt['objects'][members[0]]
            ent_of.update({m: len(entities) for m in members})
            entities.append({'colour': o['colour'], 'colour_end': o['colour_end'],
                             'shape': o['shape'], 'motion': g['motion'], 'n': len(members)})
        else:
            for m in members:
                o = gt['objects'][m]
                ent_of[m] = len(entities)
                entities.append({'colour': o['colour'], 'colour_end': o['colour_end'],
                                 'shape': o['shape'], 'motion': g['motion'], 'n': 1})
    count = None
    if gt['kind'] == 'count':
        g = [g for g in gt['groups'] if g['role'] == 'count'][0]
        count = {'colour': gt['objects'][g['members'][0]]['colour'], 'n': g['count']}
    elif gt['kind'] == 'empty':
        count = {'colour': None, 'n': 0}
    return {
        'kind': gt['kind'],
        'entities': entities,
        'relations': [{'a': ent_of[r['a']], 'relation': r['relation'], 'b': ent_of[r['b']]}
                      for r in gt['relations']],
        'changes': [{'entity': ent_of[c['object']], 'from': c['from'], 'to': c['to']}
                    for c in gt['colour_changes']],
        'count': count,
        'background': gt['background'],
        'background_mentioned': bool(gt.get('background_mentioned', True)),
    }


def _rank(e, tr):
    return (tr['shape'] == e['shape'], accepts(e['motion'], tr['motion']), tr['n_frames'],
            tr['mean_area'])


def match(claims, det):
    """Tracks of each entity: list (per entity) of (tracks, matched_by_colour)."""
    tracks = det['tracks']
    used = set()
    out = [None] * len(claims['entities'])
    for ei, e in enumerate(claims['entities']):
        cand = [i for i, tr in enumerate(tracks) if i not in used and tr['colour'] == e['colour']]
        cand.sort(key=lambda i: _rank(e, tracks[i]), reverse=True)
        if cand:
            pick = cand[:e['n']]
            used.update(pick)
            out[ei] = ([tracks[i] for i in pick], True)
    for ei, e in enumerate(claims['entities']):
        if out[ei] is not None:
            continue
        cand = [i for i, tr in enumerate(tracks) if i not in used]
        cand.sort(key=lambda i: _rank(e, tracks[i]), reverse=True)
        pick = cand[:e['n']]
        used.update(pick)
        out[ei] = ([tracks[i] for i in pick], False)
    return out


def _relation_holds(ta, tb, relation):
    fa = {t: i for i, t in enumerate(ta['frames'])}
    common = [t for t in tb['frames'] if t in fa]
    if not common:
        return False, 0.0
    ok = 0
    for t in common:
        ca = ta['centre'][fa[t]]
        cb = tb['centre'][tb['frames'].index(t)]
        dx, dy = cb[0] - ca[0], cb[1] - ca[1]
        if relation == 'left_of':
            ok += dx > 0 and dx >= abs(dy)
        else:
            ok += dy > 0 and dy >= abs(dx)
    frac = ok / float(len(common))
    return frac >= RELATION_FRAC, frac


def score(claims, det):
    """{'pass': {category: True/False/None}, 'why': {category: text}}."""
    res = {c: None for c in CATEGORIES}
    why = {}
    ents = claims['entities']
    m = match(claims, det)
    if ents:
        bad = [e['colour'] for e, (trs, by) in zip(ents, m) if not by]
        res['colour'] = not bad
        if bad:
            why['colour'] = 'missing ' + ', '.join(bad)
        bad = []
        for e, (trs, by) in zip(ents, m):
            if not trs or any(tr['shape'] != e['shape'] for tr in trs):
                bad.append('%s %s seen as %s' % (e['colour'], e['shape'],
                                                 '/'.join(tr['shape'] for tr in trs) or 'nothing'))
        res['shape'] = not bad
        if bad:
            why['shape'] = '; '.join(bad)
        bad = []
        for e, (trs, by) in zip(ents, m):
            if not trs or not all(accepts(e['motion'], tr['motion']) for tr in trs):
                bad.append('%s %s %s seen as %s' % (e['colour'], e['shape'], e['motion'],
                                                    '/'.join(tr['motion'] for tr in trs) or 'nothing'))
        res['motion'] = not bad
        if bad:
            why['motion'] = '; '.join(bad)
        bad = []
        for e, (trs, by) in zip(ents, m):
            if not trs:
                bad.append('%s %s not found' % (e['colour'], e['shape']))
            for tr in trs:
                if not tr['consistent']:
                    bad.append('%s %s %s' % (e['colour'], e['shape'], tr['consistency']))
        res['temporal'] = not bad
        if bad:
            why['temporal'] = '; '.join(bad)
    if claims['count'] is not None:
        c = claims['count']
        if c['colour'] is None:
            seen = det['n_components']
        else:
            seen = det['counts'].get(c['colour'], 0)
        res['count'] = seen == c['n']
        if not res['count']:
            why['count'] = 'expected %d %s, saw %d' % (c['n'], c['colour'] or 'objects', seen)
    if claims['relations']:
        bad = []
        for r in claims['relations']:
            (ta, ba), (tb, bb) = m[r['a']], m[r['b']]
            if not (ba and bb and ta and tb):
                bad.append('objects not found')
                continue
            ok, frac = _relation_holds(ta[0], tb[0], r['relation'])
            if not ok:
                bad.append('%s holds in %.0f%% of frames' % (r['relation'], 100 * frac))
        res['relation'] = not bad
        if bad:
            why['relation'] = '; '.join(bad)
    if claims['changes']:
        bad = []
        for ch in claims['changes']:
            trs, by = m[ch['entity']]
            if not (by and trs) or trs[0]['colour'] != ch['from'] or trs[0]['colour_end'] != ch['to']:
                got = '%s->%s' % (trs[0]['colour'], trs[0]['colour_end']) if trs else 'nothing'
                bad.append('expected %s->%s, saw %s' % (ch['from'], ch['to'], got))
        res['colour_change'] = not bad
        if bad:
            why['colour_change'] = '; '.join(bad)
    if claims['background_mentioned']:
        res['background'] = det['background'] == claims['background']
        if not res['background']:
            why['background'] = 'expected %s, saw %s' % (claims['background'], det['background'])
    return {'pass': res, 'why': why}


# ---------------------------------------------------------------- tallies

def tally(results):
    """{category: (passed, applicable)} over a list of score() results."""
    out = {}
    for c in CATEGORIES:
        app = [r['pass'][c] for r in results if r['pass'][c] is not None]
        out[c] = (int(sum(app)), len(app))
    return out


def fmt(passed, total):
    if total == 0:
        return '-'
    return '%d/%d (%.0f%%)' % (passed, total, 100.0 * passed / total)


def edited(claims, category, rng_index=0):
    """A copy of `claims` with one value of `category` changed so that the
    original scene no longer satisfies it (None when the category has no
    value to change).  Used to prove the scorer rejects wrong prompts."""
    from train.world.palette import BACKGROUNDS, COLOUR_NAMES, MOTIONS, SHAPES, colour_ok_on
    c = copy.deepcopy(claims)
    ents = c['entities']
    k = rng_index
    if category == 'colour':
        if not ents:
            return None
        present = {e['colour'] for e in ents} | {e['colour_end'] for e in ents}
        opts = [x for x in COLOUR_NAMES if x not in present and colour_ok_on(x, c['background'])]
        if not opts:
            return None
        new = opts[k % len(opts)]
        old = ents[0]['colour']
        ents[0]['colour'] = new
        for ch in c['changes']:
            if ch['entity'] == 0:
                ch['from'] = new
        if c['count'] is not None and c['count']['colour'] == old:
            c['count']['colour'] = new
        return c
    if category == 'shape':
        if not ents:
            return None
        taken = {e['shape'] for e in ents}
        opts = [s for s in SHAPES if s not in taken]
        if not opts:
            return None
        ents[0]['shape'] = opts[k % len(opts)]
        return c
    if category == 'motion':
        if not ents:
            return None
        true = ents[0]['motion']
        opts = [x for x in MOTIONS if x != true and not accepts(x, true)]
        ents[0]['motion'] = opts[k % len(opts)]
        return c
    if category == 'count':
        if c['count'] is None:
            return None
        n = c['count']['n']
        c['count']['n'] = n + 1 if n < 3 else n - 1      # empty scenes: 0 -> 1
        return c
    if category == 'relation':
        if not c['relations']:
            return None
        for r in c['relations']:
            r['a'], r['b'] = r['b'], r['a']
        return c
    if category == 'colour_change':
        if not c['changes']:
            return None
        ch = c['changes'][0]
        opts = [x for x in COLOUR_NAMES if x not in (ch['from'], ch['to'])
                and colour_ok_on(x, c['background'])]
        ch['to'] = opts[k % len(opts)]
        ents[ch['entity']]['colour_end'] = ch['to']
        return c
    if category == 'background':
        opts = [b for b in BACKGROUNDS if b != c['background']]
        c['background'] = opts[k % len(opts)]
        c['background_mentioned'] = True
        return c
    return None


def differs(ci, cj, category):
    """True when the truth of scene i (claims ci) cannot satisfy the claims cj of
    scene j in `category`: j's prompt is wrong for i's clip there."""
    ei, ej = ci['entities'], cj['entities']
    if category == 'colour':
        return bool(ej) and not {e['colour'] for e in ej} <= {e['colour'] for e in ei}
    if category == 'shape':
        return bool(ej) and not {e['shape'] for e in ej} <= {e['shape'] for e in ei}
    if category == 'motion':
        return bool(ej) and any(not any(accepts(b['motion'], a['motion']) for a in ei) for b in ej)
    if category == 'count':
        if cj['count'] is None:
            return False
        col, n = cj['count']['colour'], cj['count']['n']
        have = sum(e['n'] for e in ei) if col is None else sum(e['n'] for e in ei if e['colour'] == col)
        return have != n
    if category == 'relation':
        if not cj['relations']:
            return False
        for r in cj['relations']:
            a, b = cj['entities'][r['a']], cj['entities'][r['b']]
            for q in ci['relations']:
                qa, qb = ci['entities'][q['a']], ci['entities'][q['b']]
                if (qa['colour'], qb['colour'], q['relation']) == (a['colour'], b['colour'], r['relation']):
                    return False
        return True
    if category == 'colour_change':
        if not cj['changes']:
            return False
        have = {(ch['from'], ch['to']) for ch in ci['changes']}
        return any((ch['from'], ch['to']) not in have for ch in cj['changes'])
    if category == 'background':
        return ci['background'] != cj['background']
    return False


def applicable(claims, category):
    """Whether score() judges `category` for these claims."""
    if category in ('colour', 'shape', 'motion', 'temporal'):
        return bool(claims['entities'])
    if category == 'count':
        return claims['count'] is not None
    if category == 'relation':
        return bool(claims['relations'])
    if category == 'colour_change':
        return bool(claims['changes'])
    if category == 'background':
        return claims['background_mentioned']
    return False


def summary_line(results):
    t = tally(results)
    return ', '.join('%s %s' % (c, fmt(*t[c])) for c in CATEGORIES)
