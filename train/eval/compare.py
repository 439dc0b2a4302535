# SPDX-License-Identifier: LGPL-2.1-or-later
"""Two evaluations of the same prompts compared, paired by prompt: the
ship decision of issue 19 (a new model ships when it beats the shipped one
by at least two standard errors overall).

    /usr/bin/python3 -m train.eval.compare OLD/eval.json NEW/eval.json

eval.json is what `train.eval.run` writes beside eval.md. Prints, per
language and in all, the mean prompt score of each (the share of a
prompt's applicable categories passed), the mean paired difference with
its standard error, and the difference in standard errors; per category
the pass counts of each. Exits 2 when the two did not score the same
prompts."""
import json
import sys

import numpy as np

from .score import CATEGORIES, TITLES


def load(path):
    with open(path) as f:
        return json.load(f)


def compare(a, b):
    """{lang|'all': (mean a, mean b, mean diff, se diff, n)} over the prompts
    that both scored."""
    key = lambda p: (p['lang'], p['seed'], p['caption'])     # noqa: E731
    pa = {key(p): p for p in a['prompts']}
    pb = {key(p): p for p in b['prompts']}
    if set(pa) != set(pb):
        raise ValueError('the two evaluations scored different prompts')
    out = {}
    for lang in ('en', 'cs', 'all'):
        ks = [k for k in pa if lang in ('all', k[0]) and pa[k]['score'] is not None]
        x = np.array([pa[k]['score'] for k in ks])
        y = np.array([pb[k]['score'] for k in ks])
        d = y - x
        se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else 0.0
        out[lang] = (x.mean(), y.mean(), d.mean(), se, len(d))
    return out


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__.split('\n\n')[1])
    a, b = load(argv[0]), load(argv[1])
    try:
        res = compare(a, b)
    except ValueError as e:
        print('compare: %s' % e, file=sys.stderr)
        sys.exit(2)
    print('| prompts | first | second | second - first | in standard errors |')
    print('|---|---|---|---|---|')
    for lang, (x, y, d, se, n) in res.items():
        print('| %s (%d) | %.1f%% | %.1f%% | %+.1f ± %.1f | %+.1f |'
              % (lang, n, 100 * x, 100 * y, 100 * d, 100 * se, d / se if se else 0.0))
    print()
    print('| category | first | second |')
    print('|---|---|---|')
    for c in CATEGORIES:
        cells = []
        for e in (a, b):
            v = [p['pass'][c] for p in e['prompts'] if p['pass'].get(c) is not None]
            cells.append('%d/%d' % (sum(v), len(v)))
        print('| %s | %s | %s |' % (TITLES.get(c, c), *cells))


if __name__ == '__main__':
    main(sys.argv[1:])
