# SPDX-License-Identifier: LGPL-2.1-or-later
"""English captions: vocabulary, phrase builders and templates per scene kind.

A template is a function of a Ctx (the scene plus the random choices made
while captioning it) returning the caption text.  Template ids are
"en.<kind>.<n>"; holdout.HELDOUT_TEMPLATES lists the ones kept out of
training.  Every phrase a template can produce is true of the scene: a
speed, a size, the background or the camera are mentioned only as drawn
(or left out).
"""

from .phrasing import PhraseCtx, first_group, first_object

COLOUR_WORDS = {
    'red': ['red'], 'orange': ['orange'], 'yellow': ['yellow'], 'green': ['green'],
    'cyan': ['cyan', 'turquoise'], 'blue': ['blue'], 'purple': ['purple', 'violet'],
    'pink': ['pink'], 'white': ['white'],
}
NOUNS = {   # (singular, plural)
    'circle': [('ball', 'balls'), ('circle', 'circles'), ('disc', 'discs'), ('disk', 'disks')],
    'square': [('square', 'squares'), ('box', 'boxes'), ('block', 'blocks'), ('tile', 'tiles')],
    'triangle': [('triangle', 'triangles'), ('triangle shape', 'triangle shapes'),
                 ('triangular shape', 'triangular shapes')],
    'star': [('star', 'stars'), ('five-pointed star', 'five-pointed stars'),
             ('star shape', 'star shapes')],
    'heart': [('heart', 'hearts'), ('heart shape', 'heart shapes'), ('love heart', 'love hearts')],
}
SIZE_WORDS = {'small': ['small', 'little', 'tiny'], 'medium': ['medium-sized', 'mid-sized'],
              'large': ['large', 'big']}
NUMBER_WORDS = {1: 'one', 2: 'two', 3: 'three'}

# motion -> [(base, third person singular, -ing, [complements])]
VERBS = {
    'left': [('move', 'moves', 'moving', ['left', 'to the left', 'leftward', 'from right to left']),
             ('slide', 'slides', 'sliding', ['left', 'to the left', 'from right to left']),
             ('travel', 'travels', 'travelling', ['left', 'to the left', 'leftward']),
             ('glide', 'glides', 'gliding', ['left', 'to the left'])],
    'right': [('move', 'moves', 'moving', ['right', 'to the right', 'rightward', 'from left to right']),
              ('slide', 'slides', 'sliding', ['right', 'to the right', 'from left to right']),
              ('travel', 'travels', 'travelling', ['right', 'to the right', 'rightward']),
              ('glide', 'glides', 'gliding', ['right', 'to the right'])],
    'up': [('move', 'moves', 'moving', ['up', 'upward', 'from bottom to top']),
           ('slide', 'slides', 'sliding', ['up', 'upward']),
           ('travel', 'travels', 'travelling', ['up', 'upward', 'towards the top'])],
    'down': [('move', 'moves', 'moving', ['down', 'downward', 'from top to bottom']),
             ('slide', 'slides', 'sliding', ['down', 'downward']),
             ('travel', 'travels', 'travelling', ['down', 'downward', 'towards the bottom'])],
    'bounce': [('bounce', 'bounces', 'bouncing', ['off the edges', 'off the walls', 'between the edges']),
               ('ricochet', 'ricochets', 'ricocheting', ['off the edges', 'off the walls'])],
    'falls': [('fall', 'falls', 'falling', ['', 'down', 'to the bottom']),
              ('drop', 'drops', 'dropping', ['', 'down', 'to the bottom'])],
    'rises': [('rise', 'rises', 'rising', ['', 'up', 'upward', 'to the top']),
              ('float up', 'floats up', 'floating up', ['', 'to the top']),
              ('ascend', 'ascends', 'ascending', [''])],
    'spins': [('spin', 'spins', 'spinning', ['', 'in place', 'around']),
              ('rotate', 'rotates', 'rotating', ['', 'in place']),
              ('twirl', 'twirls', 'twirling', ['', 'in place'])],
    'grows': [('grow', 'grows', 'growing', ['', 'bigger', 'larger', 'in size']),
              ('expand', 'expands', 'expanding', ['']),
              ('get bigger', 'gets bigger', 'getting bigger', ['']),
              ('scale up', 'scales up', 'scaling up', [''])],
    'shrinks': [('shrink', 'shrinks', 'shrinking', ['', 'in size']),
                ('get smaller', 'gets smaller', 'getting smaller', ['']),
                ('contract', 'contracts', 'contracting', ['']),
                ('scale down', 'scales down', 'scaling down', [''])],
    'still': [('stay still', 'stays still', 'staying still', ['']),
              ('sit still', 'sits still', 'sitting still', ['']),
              ('remain still', 'remains still', 'remaining still', ['']),
              ('stay in place', 'stays in place', 'staying in place', ['']),
              ('hold still', 'holds still', 'holding still', [''])],
}
BOUNCE_AXIS = {'x': ['back and forth', 'from side to side'], 'y': ['up and down'],
               'xy': ['around the frame', 'around the screen']}
SPIN_DIR = {'cw': ['clockwise'], 'ccw': ['counterclockwise', 'anticlockwise']}
ADVERBS = {'slow': ['slowly', 'gently', 'at a slow pace'],
           'quick': ['quickly', 'fast', 'rapidly', 'swiftly', 'at high speed']}
PRE_ADVERBS = {'slowly', 'gently', 'quickly', 'rapidly', 'swiftly'}

BG_NP = {
    'black': ['a plain black background', 'a black screen', 'a solid black backdrop'],
    'gray': ['a plain gray background', 'a grey backdrop', 'a neutral gray screen'],
    'white': ['a plain white background', 'a white backdrop', 'a blank white screen'],
    'green_screen': ['a green screen', 'a chroma key green background', 'a green screen backdrop'],
    'blue_screen': ['a blue screen', 'a chroma key blue background', 'a blue screen backdrop'],
    'day_sky': ['a blue day sky with clouds', 'a daytime sky', 'a clear sky with white clouds'],
    'sunset_sea': ['a sunset over the sea with waves', 'the sun setting over the ocean',
                   'a sunset over the waves'],
    'night_sky': ['a night sky with twinkling stars', 'a starry night sky',
                  'twinkling stars in the night sky'],
    'snowfall': ['falling snow', 'a snowfall', 'snow falling on a winter day'],
    'rain': ['rain', 'a rainy day', 'rain falling from a gray sky'],
    'meadow': ['a meadow under the sky', 'a green meadow under a blue sky',
               'a grassy field under the sky'],
}
BG_PP = {
    'black': ['on a plain black background', 'against a black backdrop', 'on black'],
    'gray': ['on a plain gray background', 'against a grey backdrop', 'on gray'],
    'white': ['on a plain white background', 'against a white backdrop', 'on white'],
    'green_screen': ['in front of a green screen', 'on a green screen', 'on a chroma key green background'],
    'blue_screen': ['in front of a blue screen', 'on a blue screen', 'on a chroma key blue background'],
    'day_sky': ['in a blue sky with clouds', 'against a daytime sky', 'in the sky on a clear day'],
    'sunset_sea': ['at sunset over the sea', 'over the sea at sunset', 'against a sunset over the waves'],
    'night_sky': ['in a night sky with twinkling stars', 'under a starry night sky',
                  'against the starry night sky'],
    'snowfall': ['in the falling snow', 'while snow falls', 'in a snowfall'],
    'rain': ['in the rain', 'on a rainy day', 'while it rains'],
    'meadow': ['over a meadow', 'above a green meadow under the sky', 'over a grassy field'],
}
CAM = {
    'still': ['static camera', 'locked-off shot', 'fixed camera', 'the camera is still'],
    'pan_left': ['the camera pans left', 'camera panning left', 'the camera pans to the left',
                 'slow pan to the left'],
    'pan_right': ['the camera pans right', 'camera panning right', 'the camera pans to the right',
                  'slow pan to the right'],
    'zoom_in': ['the camera zooms in', 'zooming in', 'slow zoom in', 'the camera pushes in'],
}
CAM_AS = {
    'still': ['with a static camera', 'from a fixed camera', 'in a locked-off shot'],
    'pan_left': ['as the camera pans left', 'while the camera pans to the left'],
    'pan_right': ['as the camera pans right', 'while the camera pans to the right'],
    'zoom_in': ['as the camera zooms in', 'while the camera gradually zooms in'],
}
NP_FILLERS = ['a video of ', 'video of ', 'cinematic shot of ', 'a cinematic shot of ', 'footage of ',
              'an animation of ', 'a clip of ', 'a short clip of ', 'a simple animation of ']


def article(word):
    return 'an' if word[:1].lower() in 'aeio' else 'a'


class Ctx(PhraseCtx):
    """Random phrase choices for one caption of one scene."""
    CAM = CAM
    FILLERS = NP_FILLERS

    def __init__(self, scene, rng):
        super().__init__(scene, rng)
        self.nouns = {}
        self.colour_words = {}
        self.size_on = {}

    # -- noun phrases
    def _noun(self, o):
        if id(o) not in self.nouns:
            self.nouns[id(o)] = self.pick(NOUNS[o.shape])
        return self.nouns[id(o)]

    def colour(self, name):
        if name not in self.colour_words:
            self.colour_words[name] = self.pick(COLOUR_WORDS[name])
        return self.colour_words[name]

    def _size(self, o):
        if id(o) not in self.size_on:
            self.size_on[id(o)] = self.pick(SIZE_WORDS[o.size]) if self.maybe(0.35) else None
        return self.size_on[id(o)]

    def np(self, o, det='a', colour=True, n=1):
        """'a small red ball' / 'the red ball' / 'two red balls' / 'a ball' (colour=False)."""
        words = []
        size = self._size(o)
        if size:
            words.append(size)
        if colour:
            words.append(self.colour(o.colour if colour is True else colour))
        sg, pl = self._noun(o)
        words.append(sg if n == 1 else pl)
        body = ' '.join(words)
        if det == 'a':
            return '%s %s' % (article(body), body)
        if det in (None, ''):
            return body
        return '%s %s' % (det, body)

    def noun(self, o, n=1):
        sg, pl = self._noun(o)
        return sg if n == 1 else pl

    def number(self, n):
        if n == 2 and self.maybe(0.15):
            return 'a pair of'
        return NUMBER_WORDS[n]

    # -- verb phrases
    def vp(self, g, form):
        """form: 'base', '3sg' or 'ing'.  Includes direction and (maybe) speed."""
        base, third, ing, compls = self.pick(VERBS[g.motion])
        verb = {'base': base, '3sg': third, 'ing': ing}[form]
        compl = self.pick(compls)
        if g.motion == 'bounce' and self.maybe(0.5):
            compl = self.pick(BOUNCE_AXIS[g.direction or 'xy'])
        if g.motion == 'spins' and self.maybe(0.35):
            compl = self.pick(SPIN_DIR[g.direction])
        words = [verb] + ([compl] if compl else [])
        if g.speed and self.maybe(0.8):
            adv = self.pick(ADVERBS[g.speed])
            if adv in PRE_ADVERBS and self.maybe(0.4):
                words.insert(0, adv)
            else:
                words.append(adv)
        return ' '.join(words)

    # -- background, camera, fillers
    def bg_pp(self, p=0.5, force=False):
        if force or self.maybe(p):
            return ' ' + self.pick(BG_PP[self.scene.background])
        return ''

    def bg_front(self):
        return self.pick(BG_PP[self.scene.background])

    def bg_np(self):
        return self.pick(BG_NP[self.scene.background])

    def cam_as(self):
        return self.pick(CAM_AS[self.scene.camera.kind])


_g, _o = first_group, first_object


# ------------------------------------------------------------ empty
def _e0(c): return c.bg_np()
def _e1(c): return c.filler(0.8) + c.bg_np() + c.cam()
def _e2(c): return c.bg_np() + ' with no objects' + c.cam()
def _e3(c): return 'an empty scene: ' + c.bg_np() + c.cam()
def _e4(c): return 'just ' + c.bg_np() + c.cam()
def _e5(c): return c.bg_np() + ', nothing else' + c.cam()
def _e6(c): return c.filler() + c.bg_np() + ', an empty frame' + c.cam()
def _e7(c): return c.cam_as() + ', ' + c.bg_np() + ' fills the frame'
def _e8(c): return 'nothing but ' + c.bg_np() + c.cam()
def _e9(c): return c.bg_np() + ' and no shapes at all' + c.cam()


# ------------------------------------------------------------ single object
def _s0(c): return c.filler() + c.np(_o(c)) + ' ' + c.vp(_g(c), 'ing') + c.bg_pp() + c.cam()
def _s1(c): return c.np(_o(c)) + ' ' + c.vp(_g(c), '3sg') + c.bg_pp() + c.cam()
def _s2(c): return c.bg_front() + ', ' + c.np(_o(c)) + ' ' + c.vp(_g(c), '3sg') + c.cam()
def _s3(c): return c.filler() + c.np(_o(c)) + ' that ' + c.vp(_g(c), '3sg') + c.bg_pp() + c.cam()
def _s4(c): return 'there is ' + c.np(_o(c)) + ' ' + c.vp(_g(c), 'ing') + c.bg_pp() + c.cam()
def _s5(c): return c.bg_np() + '; ' + c.np(_o(c)) + ' ' + c.vp(_g(c), '3sg') + c.cam()
def _s6(c): return c.np(_o(c)) + ', ' + c.vp(_g(c), 'ing') + c.bg_pp(0.3) + c.cam()
def _s7(c): return c.cam_as() + ', ' + c.np(_o(c)) + ' ' + c.vp(_g(c), '3sg') + c.bg_pp()
def _s8(c): return 'we see ' + c.np(_o(c)) + ' ' + c.vp(_g(c), 'ing') + c.bg_pp() + c.cam()
def _s9(c): return 'watch as ' + c.np(_o(c)) + ' ' + c.vp(_g(c), '3sg') + c.bg_pp() + c.cam()
def _s10(c): return c.filler() + c.np(_o(c), det='one') + ' ' + c.vp(_g(c), 'ing') + c.bg_pp() + c.cam()


# ------------------------------------------------------------ count
def _cnp(c, det=None):
    g = _g(c)
    return (det or c.number(len(g.members))) + ' ' + c.np(g.members[0], det=None, n=len(g.members))


def _c0(c): return c.filler() + _cnp(c) + ' ' + c.vp(_g(c), 'ing') + c.bg_pp() + c.cam()
def _c1(c): return _cnp(c) + ' ' + c.vp(_g(c), 'base') + c.bg_pp() + c.cam()
def _c2(c): return c.bg_front() + ', ' + _cnp(c, NUMBER_WORDS[len(_g(c).members)]) + ' ' + c.vp(_g(c), 'base') + c.cam()
def _c3(c): return 'there are ' + _cnp(c, NUMBER_WORDS[len(_g(c).members)]) + ' ' + c.vp(_g(c), 'ing') + c.bg_pp() + c.cam()
def _c4(c): return c.filler() + _cnp(c) + ' that ' + c.vp(_g(c), 'base') + c.bg_pp() + c.cam()
def _c5(c): return c.filler() + 'a group of ' + _cnp(c, NUMBER_WORDS[len(_g(c).members)]) + ' ' + c.vp(_g(c), 'ing') + c.bg_pp() + c.cam()
def _c6(c): return NUMBER_WORDS[len(_g(c).members)] + ' identical ' + c.np(_g(c).members[0], None, n=2) + ', all ' + c.vp(_g(c), 'ing') + c.bg_pp() + c.cam()
def _c7(c): return c.cam_as() + ', ' + _cnp(c) + ' ' + c.vp(_g(c), 'base') + c.bg_pp()
def _c8(c): return c.filler() + 'exactly ' + _cnp(c, NUMBER_WORDS[len(_g(c).members)]) + ' ' + c.vp(_g(c), 'ing') + c.bg_pp() + c.cam()
def _c9(c): return 'we see ' + _cnp(c, NUMBER_WORDS[len(_g(c).members)]) + ' ' + c.vp(_g(c), 'ing') + c.bg_pp() + c.cam()


# ------------------------------------------------------------ relation
REL = {'left_of': ['to the left of', 'left of', 'on the left of'],
       'right_of': ['to the right of', 'right of', 'on the right of'],
       'above': ['above', 'over'],
       'below': ['below', 'beneath', 'under', 'underneath']}
REL_POSS = {'left_of': ['to its left', 'on its left'], 'right_of': ['to its right', 'on its right'],
            'above': ['above it', 'over it'], 'below': ['below it', 'beneath it', 'under it']}
INVERSE = {'left_of': 'right_of', 'above': 'below'}
SIDES = {'left_of': ('on the left', 'on the right'), 'above': ('at the top', 'at the bottom')}


def _pair(c):
    g = _g(c)
    return g.members[0], g.members[1], g.relation


def _rmot(c):
    g = _g(c)
    if g.motion == 'still':
        return c.pick(['', '', ', both staying still', ', both motionless'])
    form = c.pick(['both', 'together', 'as'])
    if form == 'both':
        return ', both ' + c.vp(g, 'ing')
    if form == 'together':
        return ', ' + c.vp(g, 'ing') + ' together'
    return ' as they both ' + c.vp(g, 'base')


def _r0(c):
    a, b, r = _pair(c)
    return c.filler() + c.np(a) + ' ' + c.pick(REL[r]) + ' ' + c.np(b) + _rmot(c) + c.bg_pp() + c.cam()


def _r1(c):
    a, b, r = _pair(c)
    return c.np(a) + ' is ' + c.pick(REL[r]) + ' ' + c.np(b) + _rmot(c) + c.bg_pp() + c.cam()


def _r2(c):
    a, b, r = _pair(c)
    return c.filler() + c.np(b) + ' with ' + c.np(a) + ' ' + c.pick(REL_POSS[r]) + _rmot(c) + c.bg_pp() + c.cam()


def _r3(c):
    a, b, r = _pair(c)
    sa, sb = SIDES[r]
    return sa + ' ' + c.np(a) + ', ' + sb + ' ' + c.np(b) + _rmot(c) + c.bg_pp() + c.cam()


def _r4(c):
    a, b, r = _pair(c)
    return c.filler() + c.np(b) + ' ' + c.pick(REL[INVERSE[r]]) + ' ' + c.np(a) + _rmot(c) + c.bg_pp() + c.cam()


def _r5(c):
    a, b, r = _pair(c)
    return 'there is ' + c.np(a) + ' ' + c.pick(REL[r]) + ' ' + c.np(b) + _rmot(c) + c.bg_pp() + c.cam()


def _r6(c):
    a, b, r = _pair(c)
    return c.filler() + c.np(a) + ' placed ' + c.pick(REL[r]) + ' ' + c.np(b) + _rmot(c) + c.bg_pp() + c.cam()


def _r7(c):
    a, b, r = _pair(c)
    return (c.np(a) + ' and ' + c.np(b) + ', with the ' + c.np(a, det=None) + ' ' + c.pick(REL[r])
            + ' the ' + c.np(b, det=None) + _rmot(c) + c.bg_pp() + c.cam())


def _r8(c):
    a, b, r = _pair(c)
    return 'we see ' + c.np(a) + ' ' + c.pick(REL[r]) + ' ' + c.np(b) + _rmot(c) + c.bg_pp() + c.cam()


def _r9(c):
    a, b, r = _pair(c)
    return c.np(a) + ' positioned ' + c.pick(REL[r]) + ' ' + c.np(b) + _rmot(c) + c.bg_pp() + c.cam()


# ------------------------------------------------------------ colour change
def _kmot(c):
    g = _g(c)
    if g.motion == 'still':
        return c.pick(['', '', ' while staying still'])
    return ' while ' + c.vp(g, 'ing') if c.maybe(0.85) else ''


def _cc(c):
    o = _o(c)
    return c.colour(o.colour), c.colour(o.colour_end)


def _colour_word(c):
    return c.pick(['colour', 'color'])


def _k0(c):
    c1, c2 = _cc(c)
    return c.filler() + c.np(_o(c), colour=False) + ' turning from %s to %s' % (c1, c2) + _kmot(c) + c.bg_pp() + c.cam()


def _k1(c):
    c1, c2 = _cc(c)
    return c.np(_o(c), colour=False) + ' turns from %s to %s' % (c1, c2) + _kmot(c) + c.bg_pp() + c.cam()


def _k2(c):
    c1, c2 = _cc(c)
    return c.filler() + c.np(_o(c)) + ' turning ' + c2 + _kmot(c) + c.bg_pp() + c.cam()


def _k3(c):
    c1, c2 = _cc(c)
    return c.np(_o(c)) + ' changes %s to %s' % (_colour_word(c), c2) + _kmot(c) + c.bg_pp() + c.cam()


def _k4(c):
    c1, c2 = _cc(c)
    return c.filler() + c.np(_o(c), colour=False) + ' changing %s from %s to %s' % (_colour_word(c), c1, c2) + _kmot(c) + c.bg_pp() + c.cam()


def _k5(c):
    c1, c2 = _cc(c)
    return c.np(_o(c), colour=False) + ' that is %s at first and then %s' % (c1, c2) + _kmot(c) + c.bg_pp() + c.cam()


def _k6(c):
    c1, c2 = _cc(c)
    return c.filler() + c.np(_o(c)) + ' that becomes ' + c2 + _kmot(c) + c.bg_pp() + c.cam()


def _k7(c):
    c1, c2 = _cc(c)
    return c.np(_o(c), colour=False) + ' going from %s to %s' % (c1, c2) + _kmot(c) + c.bg_pp() + c.cam()


def _k8(c):
    c1, c2 = _cc(c)
    return c.np(_o(c), colour=False) + ', first %s, then %s, ' % (c1, c2) + c.vp(_g(c), '3sg') + c.bg_pp() + c.cam()


def _k9(c):
    c1, c2 = _cc(c)
    return c.np(_o(c)) + ' fades to ' + c2 + _kmot(c) + c.bg_pp() + c.cam()


# ------------------------------------------------------------ mixed
def _clauses(c, form):
    return [c.np(g.members[0]) + ' ' + c.vp(g, form) for g in c.scene.groups]


def _join(parts, last=' and '):
    return parts[0] if len(parts) == 1 else ', '.join(parts[:-1]) + last + parts[-1]


def _n_things(c):
    return NUMBER_WORDS[len(c.scene.groups)] + ' ' + c.pick(['objects', 'shapes'])


def _m0(c): return c.filler() + _join(_clauses(c, 'ing')) + c.bg_pp() + c.cam()
def _m1(c): return _join(_clauses(c, '3sg')) + c.bg_pp() + c.cam()
def _m2(c): return _join(_clauses(c, '3sg'), ', while ') + c.bg_pp() + c.cam()
def _m3(c): return c.bg_front() + ', ' + _join(_clauses(c, '3sg')) + c.cam()
def _m4(c): return 'there are ' + _n_things(c) + ': ' + _join(_clauses(c, 'ing')) + c.bg_pp() + c.cam()
def _m5(c): return '; '.join(_clauses(c, '3sg')) + c.bg_pp() + c.cam()
def _m6(c): return c.filler() + _join(_clauses(c, 'ing'), ' together with ') + c.bg_pp() + c.cam()
def _m7(c): return _n_things(c) + ': ' + ', '.join(_clauses(c, 'ing')) + c.bg_pp() + c.cam()
def _m8(c): return 'we see ' + _join(_clauses(c, 'ing')) + c.bg_pp() + c.cam()
def _m9(c):
    parts = _clauses(c, '3sg')
    return _join(parts[:-1]) + '. Meanwhile, ' + parts[-1] + c.bg_pp() + c.cam()


TEMPLATES = {
    'empty': [_e0, _e1, _e2, _e3, _e4, _e5, _e6, _e7, _e8, _e9],
    'single': [_s0, _s1, _s2, _s3, _s4, _s5, _s6, _s7, _s8, _s9, _s10],
    'count': [_c0, _c1, _c2, _c3, _c4, _c5, _c6, _c7, _c8, _c9],
    'relation': [_r0, _r1, _r2, _r3, _r4, _r5, _r6, _r7, _r8, _r9],
    'colour_change': [_k0, _k1, _k2, _k3, _k4, _k5, _k6, _k7, _k8, _k9],
    'mixed': [_m0, _m1, _m2, _m3, _m4, _m5, _m6, _m7, _m8, _m9],
}
