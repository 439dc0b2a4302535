# SPDX-License-Identifier: LGPL-2.1-or-later
"""Czech captions: declension, agreement, verb phrases and templates per scene kind.

Grammar handled here (all that the templates need):
  - hard adjectives (červený, malý, velký ...) and the soft "střední" in the
    nominative, genitive, instrumental and accusative singular and the
    nominative/accusative plural, agreeing with the noun's gender
    (masculine nouns here are all inanimate);
  - numerals jeden/jedna/jedno, dva/dvě, tři with the plural noun;
  - verbs in the 3rd person singular or plural, the reflexive "se" placed
    in the second position of its clause (after the first constituent);
  - relative pronouns který/která/které, "oba"/"obě", the participle
    umístěný/á/é, the pronouns něj/ní/ním after prepositions.
Template ids are "cs.<kind>.<n>".
"""

from .phrasing import PhraseCtx, first_group, first_object

COLOUR_STEMS = {'red': 'červen', 'orange': 'oranžov', 'yellow': 'žlut', 'green': 'zelen',
                'cyan': 'tyrkysov', 'blue': 'modr', 'purple': 'fialov', 'pink': 'růžov',
                'white': 'bíl'}

# (lemma, gender, nominative plural, genitive sg, instrumental sg, accusative sg)
NOUNS = {
    'circle': [('míč', 'm', 'míče', 'míče', 'míčem', 'míč'),
               ('míček', 'm', 'míčky', 'míčku', 'míčkem', 'míček'),
               ('kruh', 'm', 'kruhy', 'kruhu', 'kruhem', 'kruh'),
               ('koule', 'f', 'koule', 'koule', 'koulí', 'kouli'),
               ('kolečko', 'n', 'kolečka', 'kolečka', 'kolečkem', 'kolečko'),
               ('kotouč', 'm', 'kotouče', 'kotouče', 'kotoučem', 'kotouč')],
    'square': [('čtverec', 'm', 'čtverce', 'čtverce', 'čtvercem', 'čtverec'),
               ('čtvereček', 'm', 'čtverečky', 'čtverečku', 'čtverečkem', 'čtvereček'),
               ('krabice', 'f', 'krabice', 'krabice', 'krabicí', 'krabici'),
               ('kostka', 'f', 'kostky', 'kostky', 'kostkou', 'kostku')],
    'triangle': [('trojúhelník', 'm', 'trojúhelníky', 'trojúhelníku', 'trojúhelníkem', 'trojúhelník'),
                 ('trojúhelníček', 'm', 'trojúhelníčky', 'trojúhelníčku', 'trojúhelníčkem',
                  'trojúhelníček')],
    'star': [('hvězda', 'f', 'hvězdy', 'hvězdy', 'hvězdou', 'hvězdu'),
             ('hvězdička', 'f', 'hvězdičky', 'hvězdičky', 'hvězdičkou', 'hvězdičku')],
    'heart': [('srdce', 'n', 'srdce', 'srdce', 'srdcem', 'srdce'),
              ('srdíčko', 'n', 'srdíčka', 'srdíčka', 'srdíčkem', 'srdíčko')],
}

SIZE_STEMS = {'small': [('mal', False), ('drobn', False)],
              'medium': [('středně velk', False), ('středn', True)],
              'large': [('velk', False), ('velik', False)]}

_HARD = {('nom', 'm', 1): 'ý', ('nom', 'f', 1): 'á', ('nom', 'n', 1): 'é',
         ('nom', 'm', 2): 'é', ('nom', 'f', 2): 'é', ('nom', 'n', 2): 'á',
         ('gen', 'm', 1): 'ého', ('gen', 'f', 1): 'é', ('gen', 'n', 1): 'ého',
         ('ins', 'm', 1): 'ým', ('ins', 'f', 1): 'ou', ('ins', 'n', 1): 'ým',
         ('acc', 'm', 1): 'ý', ('acc', 'f', 1): 'ou', ('acc', 'n', 1): 'é',
         ('acc', 'm', 2): 'é', ('acc', 'f', 2): 'é', ('acc', 'n', 2): 'á'}
_SOFT = {('gen', 'm', 1): 'ího', ('gen', 'n', 1): 'ího', ('ins', 'm', 1): 'ím', ('ins', 'n', 1): 'ím'}

NUMERALS = {('nom', 1): {'m': 'jeden', 'f': 'jedna', 'n': 'jedno'},
            ('acc', 1): {'m': 'jeden', 'f': 'jednu', 'n': 'jedno'},
            2: {'m': 'dva', 'f': 'dvě', 'n': 'dvě'},
            3: {'m': 'tři', 'f': 'tři', 'n': 'tři'}}
RELATIVE = {('m', 1): 'který', ('f', 1): 'která', ('n', 1): 'které',
            ('m', 2): 'které', ('f', 2): 'které', ('n', 2): 'která'}
PLACED = {'m': 'umístěný', 'f': 'umístěná', 'n': 'umístěné'}
PRONOUN = {'gen': {'m': 'něj', 'f': 'ní', 'n': 'něj'}, 'ins': {'m': 'ním', 'f': 'ní', 'n': 'ním'}}


def prep(p, word):
    """A one-consonant preposition, vocalised before a clashing consonant: ze zelené, ve fialovou."""
    if p == 'z' and word[:1] in 'szšž':
        return 'ze ' + word
    if p == 'v' and word[:1] in 'vf':
        return 've ' + word
    return p + ' ' + word


def adjective(stem, soft, case, gender, number):
    """Form of an adjective; number is 1 (singular) or 2 (plural)."""
    number = 1 if number == 1 else 2
    if soft:
        return stem + _SOFT.get((case, gender, number), 'í')
    return stem + _HARD[(case, gender, number)]


def colour_adjective(colour, case, gender, number):
    return adjective(COLOUR_STEMS[colour], False, case, gender, number)


def numeral(n, gender, case='nom'):
    if n == 1:
        return NUMERALS[(case, 1)][gender]
    return NUMERALS[n][gender]


def noun_form(entry, case, number):
    lemma, gender, pl, gen, ins, acc = entry
    if number != 1:
        if case in ('nom', 'acc'):
            return pl
        raise ValueError('plural %s not needed' % case)
    return {'nom': lemma, 'gen': gen, 'ins': ins, 'acc': acc}[case]


def noun_phrase(shape, colour, count=1, case='nom', noun_index=0, size=None, numeral_on=None):
    """'červená hvězda', 'dva žluté míčky', 'dvě modrá srdce' ...

    numeral_on: write the numeral (default: when count > 1).
    size: None or (stem, soft) of a size adjective.
    """
    entry = NOUNS[shape][noun_index]
    gender = entry[1]
    words = []
    if numeral_on or (numeral_on is None and count > 1):
        words.append(numeral(count, gender, case))
    if size is not None:
        words.append(adjective(size[0], size[1], case, gender, count))
    if colour is not None:
        words.append(colour_adjective(colour, case, gender, count))
    words.append(noun_form(entry, case, count))
    return ' '.join(words)


# motion -> [(reflexive, 3sg, 3pl, [complements])]
VERBS = {
    'left': [(True, 'pohybuje', 'pohybují', ['doleva', 'zprava doleva']),
             (True, 'posouvá', 'posouvají', ['doleva', 'zprava doleva']),
             (True, 'přesouvá', 'přesouvají', ['doleva', 'na levou stranu']),
             (False, 'putuje', 'putují', ['doleva', 'zprava doleva']),
             (False, 'klouže', 'kloužou', ['doleva'])],
    'right': [(True, 'pohybuje', 'pohybují', ['doprava', 'zleva doprava']),
              (True, 'posouvá', 'posouvají', ['doprava', 'zleva doprava']),
              (True, 'přesouvá', 'přesouvají', ['doprava', 'na pravou stranu']),
              (False, 'putuje', 'putují', ['doprava', 'zleva doprava']),
              (False, 'klouže', 'kloužou', ['doprava'])],
    'up': [(True, 'pohybuje', 'pohybují', ['nahoru', 'vzhůru', 'zdola nahoru']),
           (True, 'posouvá', 'posouvají', ['nahoru', 'vzhůru']),
           (False, 'putuje', 'putují', ['nahoru', 'zdola nahoru'])],
    'down': [(True, 'pohybuje', 'pohybují', ['dolů', 'shora dolů']),
             (True, 'posouvá', 'posouvají', ['dolů', 'shora dolů']),
             (False, 'putuje', 'putují', ['dolů', 'shora dolů']),
             (False, 'sjíždí', 'sjíždějí', ['dolů'])],
    'bounce': [(True, 'odráží', 'odrážejí', ['od okrajů', 'od okrajů obrazu', 'od stěn']),
               (False, 'skáče', 'skáčou', ['od okraje k okraji']),
               (False, 'poskakuje', 'poskakují', ['mezi okraji'])],
    'falls': [(False, 'padá', 'padají', ['', 'dolů', 'k zemi']),
              (True, 'řítí', 'řítí', ['dolů'])],
    'rises': [(False, 'stoupá', 'stoupají', ['', 'vzhůru', 'nahoru']),
              (True, 'vznáší', 'vznášejí', ['vzhůru', 'nahoru']),
              (False, 'vzlétá', 'vzlétají', ['vzhůru'])],
    'spins': [(True, 'otáčí', 'otáčejí', ['', 'dokola', 'na místě']),
              (True, 'točí', 'točí', ['', 'dokola', 'na místě']),
              (False, 'rotuje', 'rotují', ['', 'na místě'])],
    'grows': [(False, 'roste', 'rostou', ['']),
              (True, 'zvětšuje', 'zvětšují', ['']),
              (True, 'nafukuje', 'nafukují', [''])],
    'shrinks': [(True, 'zmenšuje', 'zmenšují', ['']),
                (True, 'scvrkává', 'scvrkávají', ['']),
                (False, 'ubývá', 'ubývají', ['na velikosti'])],
    'still': [(False, 'stojí', 'stojí', ['na místě', 'v klidu']),
              (False, 'zůstává', 'zůstávají', ['na místě', 'v klidu']),
              (True, 'nehýbe', 'nehýbou', ['']),
              (False, 'je', 'jsou', ['v klidu'])],
}
BOUNCE_AXIS = {'x': ['ze strany na stranu', 'sem a tam'], 'y': ['nahoru a dolů'],
               'xy': ['po celém obraze']}
SPIN_DIR = {'cw': 'po směru hodinových ručiček', 'ccw': 'proti směru hodinových ručiček'}
ADVERBS = {'slow': ['pomalu', 'zvolna', 'pozvolna'], 'quick': ['rychle', 'svižně', 'velmi rychle']}

BG_NP = {   # (nominative, accusative)
    'black': [('černé pozadí', 'černé pozadí'), ('čistě černé pozadí', 'čistě černé pozadí')],
    'gray': [('šedé pozadí', 'šedé pozadí'), ('šedivé pozadí', 'šedivé pozadí')],
    'white': [('bílé pozadí', 'bílé pozadí'), ('čistě bílé pozadí', 'čistě bílé pozadí')],
    'green_screen': [('zelené plátno', 'zelené plátno'),
                     ('zelené plátno pro klíčování', 'zelené plátno pro klíčování'),
                     ('green screen', 'green screen')],
    'blue_screen': [('modré plátno', 'modré plátno'),
                    ('modré plátno pro klíčování', 'modré plátno pro klíčování'),
                    ('blue screen', 'blue screen')],
    'day_sky': [('denní obloha s mraky', 'denní oblohu s mraky'),
                ('modrá obloha s bílými mraky', 'modrou oblohu s bílými mraky')],
    'sunset_sea': [('západ slunce nad mořem s vlnami', 'západ slunce nad mořem s vlnami'),
                   ('západ slunce nad mořem', 'západ slunce nad mořem')],
    'night_sky': [('noční obloha s třpytivými hvězdami', 'noční oblohu s třpytivými hvězdami'),
                  ('hvězdná noční obloha', 'hvězdnou noční oblohu')],
    'snowfall': [('sněžení', 'sněžení'), ('padající sníh', 'padající sníh')],
    'rain': [('déšť', 'déšť'), ('deštivý den', 'deštivý den'), ('padající déšť', 'padající déšť')],
    'meadow': [('louka pod oblohou', 'louku pod oblohou'),
               ('zelená louka pod modrou oblohou', 'zelenou louku pod modrou oblohou')],
}
BG_PP = {
    'black': ['na černém pozadí', 'před černým pozadím'],
    'gray': ['na šedém pozadí', 'na šedivém pozadí'],
    'white': ['na bílém pozadí', 'před bílým pozadím'],
    'green_screen': ['na zeleném plátně', 'před zeleným plátnem', 'na green screenu'],
    'blue_screen': ['na modrém plátně', 'před modrým plátnem', 'na blue screenu'],
    'day_sky': ['na denní obloze', 'na obloze s mraky', 'na pozadí modré oblohy'],
    'sunset_sea': ['při západu slunce nad mořem', 'nad mořem při západu slunce'],
    'night_sky': ['na noční obloze', 'pod hvězdnou oblohou', 'na pozadí noční oblohy'],
    'snowfall': ['za sněžení', 'v padajícím sněhu', 'při sněžení'],
    'rain': ['v dešti', 'za deště'],
    'meadow': ['nad loukou', 'na louce pod oblohou', 'nad zelenou loukou'],
}
CAM = {
    'still': ['statická kamera', 'kamera stojí', 'záběr ze stativu'],
    'pan_left': ['kamera se posouvá doleva', 'kamera panoramuje doleva', 'kamera jede doleva'],
    'pan_right': ['kamera se posouvá doprava', 'kamera panoramuje doprava', 'kamera jede doprava'],
    'zoom_in': ['kamera přibližuje', 'kamera najíždí', 'pomalý zoom dovnitř'],
}
CAM_LEAD = {   # opens a sentence, followed by a clause
    'still': ['kamera stojí a', 'kamera se nehýbe a'],
    'pan_left': ['zatímco se kamera posouvá doleva,', 'zatímco kamera panoramuje doleva,'],
    'pan_right': ['zatímco se kamera posouvá doprava,', 'zatímco kamera panoramuje doprava,'],
    'zoom_in': ['zatímco kamera najíždí,', 'zatímco kamera přibližuje,'],
}
FILLERS = ['video: ', 'záběr: ', 'filmový záběr: ', 'animace: ', 'krátké video: ', 'klip: ']
REL_FRONTS = ['video, na kterém', 'záběr, ve kterém', 'animace, ve které', 'scéna, ve které']


class Ctx(PhraseCtx):
    """Random phrase choices for one Czech caption of one scene."""
    CAM = CAM
    FILLERS = FILLERS

    def __init__(self, scene, rng):
        super().__init__(scene, rng)
        self.nouns = {}
        self.sizes = {}

    def _noun(self, o):
        if id(o) not in self.nouns:
            self.nouns[id(o)] = int(self.rng.integers(len(NOUNS[o.shape])))
        return self.nouns[id(o)]

    def gender(self, o):
        return NOUNS[o.shape][self._noun(o)][1]

    def _size(self, o):
        if id(o) not in self.sizes:
            self.sizes[id(o)] = self.pick(SIZE_STEMS[o.size]) if self.maybe(0.35) else None
        return self.sizes[id(o)]

    def np(self, o, case='nom', n=1, colour=True, numeral_on=None):
        col = None if colour is False else (o.colour if colour is True else colour)
        return noun_phrase(o.shape, col, n, case, self._noun(o), self._size(o), numeral_on)

    def colour(self, o, name, case, agree=True):
        """Colour adjective agreeing with the object's noun, or feminine (barva) if not agree."""
        return colour_adjective(name, case, self.gender(o) if agree else 'f', 1)

    def relative(self, o, n=1):
        return RELATIVE[(self.gender(o), 1 if n == 1 else 2)]

    def clause(self, g, subj=None, n=1, front=None, invert=False, clitic_first=False):
        """A clause with the verb phrase of group g.

        Word order: subject se adverb verb complement; with `front` (a
        relative pronoun, "oba", a fronted background phrase) or
        clitic_first (the clause follows "jak", "přitom" written by the
        caller) the reflexive "se" comes first: front se subject adverb verb
        complement; invert puts the complement first and the subject last.
        """
        refl, sg, pl, compls = self.pick(VERBS[g.motion])
        verb = sg if n == 1 else pl
        compl = self.pick(compls)
        if g.motion == 'bounce' and self.maybe(0.4):
            refl, verb = False, 'poskakuje' if n == 1 else 'poskakují'
            compl = self.pick(BOUNCE_AXIS[g.direction or 'xy'])
        if g.motion == 'spins' and self.maybe(0.35):
            compl = SPIN_DIR[g.direction]
        adv = self.pick(ADVERBS[g.speed]) if g.speed and self.maybe(0.8) else ''
        se = ['se'] if refl else []
        if invert and compl and subj:
            words = [compl] + se + [adv, verb, subj]
        elif front or clitic_first:
            words = ([front] if front else []) + se + [subj or '', adv, verb, compl]
        else:
            words = [subj or ''] + se + [adv, verb, compl]
        return ' '.join(w for w in words if w)

    def bg_pp(self, p=0.5, force=False):
        if force or self.maybe(p):
            return ' ' + self.pick(BG_PP[self.scene.background])
        return ''

    def bg_front(self):
        return self.pick(BG_PP[self.scene.background])

    def bg_np(self, case='nom'):
        nom, acc = self.pick(BG_NP[self.scene.background])
        return nom if case == 'nom' else acc

    def cam_lead(self):
        return self.pick(CAM_LEAD[self.scene.camera.kind])


_g, _o = first_group, first_object


# ------------------------------------------------------------ empty
def _e0(c): return c.bg_np()
def _e1(c): return c.filler(0.8) + c.bg_np() + c.cam()
def _e2(c): return c.bg_np() + ' bez objektů' + c.cam()
def _e3(c): return 'prázdná scéna: ' + c.bg_np() + c.cam()
def _e4(c): return 'jen ' + c.bg_np() + c.cam()
def _e5(c): return c.bg_np() + ', nic dalšího' + c.cam()
def _e6(c): return 'pohled na ' + c.bg_np('acc') + c.cam()
def _e7(c): return 'v záběru je jen ' + c.bg_np() + c.cam()
def _e8(c): return 'nic než ' + c.bg_np() + c.cam()
def _e9(c): return c.bg_np() + ' a žádné tvary' + c.cam()


# ------------------------------------------------------------ single object
def _s0(c): return c.filler() + c.clause(_g(c), c.np(_o(c))) + c.bg_pp() + c.cam()
def _s1(c):
    o = _o(c)
    return c.filler() + c.np(o) + ', ' + c.clause(_g(c), front=c.relative(o)) + c.bg_pp() + c.cam()
def _s2(c): return c.clause(_g(c), c.np(_o(c)), front=c.bg_front()) + c.cam()
def _s3(c): return c.clause(_g(c), c.np(_o(c)), invert=True) + c.bg_pp() + c.cam()
def _s4(c): return 'vidíme ' + c.np(_o(c), 'acc') + ', jak ' + c.clause(_g(c), clitic_first=True) + c.bg_pp() + c.cam()
def _s5(c): return c.pick(REL_FRONTS) + ' ' + c.clause(_g(c), c.np(_o(c)), clitic_first=True) + c.bg_pp() + c.cam()
def _s6(c): return c.cam_lead() + ' ' + c.clause(_g(c), c.np(_o(c))) + c.bg_pp()
def _s7(c): return c.bg_np() + '; ' + c.clause(_g(c), c.np(_o(c))) + c.cam()
def _s8(c):
    o = _o(c)
    return 'v záběru je ' + c.np(o) + ', ' + c.clause(_g(c), front=c.relative(o)) + c.bg_pp() + c.cam()
def _s9(c): return 'sledujeme, jak ' + c.clause(_g(c), c.np(_o(c)), clitic_first=True) + c.bg_pp() + c.cam()
def _s10(c): return c.filler() + c.clause(_g(c), c.np(_o(c), numeral_on=True)) + c.bg_pp() + c.cam()


# ------------------------------------------------------------ count
def _cn(c, case='nom'):
    g = _g(c)
    return c.np(g.members[0], case, n=len(g.members))


def _n(c):
    return len(_g(c).members)


def _c0(c): return c.filler() + c.clause(_g(c), _cn(c), _n(c)) + c.bg_pp() + c.cam()
def _c1(c):
    o = _g(c).members[0]
    return c.filler() + _cn(c) + ', ' + c.clause(_g(c), n=_n(c), front=c.relative(o, _n(c))) + c.bg_pp() + c.cam()
def _c2(c): return c.clause(_g(c), _cn(c), _n(c), front=c.bg_front()) + c.cam()
def _c3(c): return c.clause(_g(c), _cn(c), _n(c), invert=True) + c.bg_pp() + c.cam()
def _c4(c): return 'vidíme ' + _cn(c, 'acc') + ', jak ' + c.clause(_g(c), n=_n(c), clitic_first=True) + c.bg_pp() + c.cam()
def _c5(c): return c.pick(REL_FRONTS) + ' ' + c.clause(_g(c), _cn(c), _n(c), clitic_first=True) + c.bg_pp() + c.cam()
def _c6(c): return c.cam_lead() + ' ' + c.clause(_g(c), _cn(c), _n(c)) + c.bg_pp()
def _c7(c): return c.bg_np() + '; ' + c.clause(_g(c), _cn(c), _n(c)) + c.cam()
def _c8(c): return 'přesně ' + c.clause(_g(c), _cn(c), _n(c)) + c.bg_pp() + c.cam()
def _c9(c): return 'sledujeme, jak ' + c.clause(_g(c), _cn(c), _n(c), clitic_first=True) + c.bg_pp() + c.cam()


# ------------------------------------------------------------ relation
REL = {'left_of': [('vlevo od', 'gen'), ('nalevo od', 'gen')],
       'right_of': [('vpravo od', 'gen'), ('napravo od', 'gen')],
       'above': [('nad', 'ins')],
       'below': [('pod', 'ins')]}
INVERSE = {'left_of': 'right_of', 'above': 'below'}
SIDES = {'left_of': ('vlevo', 'vpravo'), 'above': ('nahoře', 'dole')}


def _pair(c):
    g = _g(c)
    return g.members[0], g.members[1], g.relation


def _rel(c, r, other):
    prep, case = c.pick(REL[r])
    return prep + ' ' + c.np(other, case)


def _rmot(c):
    g = _g(c)
    a, b = g.members
    both = 'oba' if 'm' in (c.gender(a), c.gender(b)) else 'obě'
    if g.motion == 'still':
        return c.pick(['', '', ', ' + both + ' stojí na místě', ', ' + both + ' zůstávají v klidu'])
    if c.maybe(0.5):
        return ', ' + c.clause(g, n=2, front=both)
    return ' a ' + c.clause(g, n=2, front='společně')


def _r0(c):
    a, b, r = _pair(c)
    return c.filler() + c.np(a) + ' ' + _rel(c, r, b) + _rmot(c) + c.bg_pp() + c.cam()


def _r1(c):
    a, b, r = _pair(c)
    return c.np(a) + ' je ' + _rel(c, r, b) + _rmot(c) + c.bg_pp() + c.cam()


def _r2(c):
    a, b, r = _pair(c)
    return _rel(c, r, b) + ' je ' + c.np(a) + _rmot(c) + c.bg_pp() + c.cam()


def _r3(c):
    a, b, r = _pair(c)
    prep, case = c.pick(REL[r])
    return c.filler() + c.np(b) + ' a ' + prep + ' ' + PRONOUN[case][c.gender(b)] + ' ' + c.np(a) + _rmot(c) + c.bg_pp() + c.cam()


def _r4(c):
    a, b, r = _pair(c)
    sa, sb = SIDES[r]
    return sa + ' ' + c.np(a) + ', ' + sb + ' ' + c.np(b) + _rmot(c) + c.bg_pp() + c.cam()


def _r5(c):
    a, b, r = _pair(c)
    return c.filler() + c.np(b) + ' ' + _rel(c, INVERSE[r], a) + _rmot(c) + c.bg_pp() + c.cam()


def _r6(c):
    a, b, r = _pair(c)
    return c.np(a) + ' se nachází ' + _rel(c, r, b) + _rmot(c) + c.bg_pp() + c.cam()


def _r7(c):
    a, b, r = _pair(c)
    return 'vidíme ' + c.np(a, 'acc') + ' ' + _rel(c, r, b) + _rmot(c) + c.bg_pp() + c.cam()


def _r8(c):
    a, b, r = _pair(c)
    return 'v záběru je ' + c.np(a) + ' ' + _rel(c, r, b) + _rmot(c) + c.bg_pp() + c.cam()


def _r9(c):
    a, b, r = _pair(c)
    return c.np(a) + ' ' + PLACED[c.gender(a)] + ' ' + _rel(c, r, b) + _rmot(c) + c.bg_pp() + c.cam()


# ------------------------------------------------------------ colour change
def _kmot(c):
    g = _g(c)
    if g.motion == 'still':
        return c.pick(['', '', ' a přitom stojí na místě'])
    return ' a přitom ' + c.clause(g, clitic_first=True) if c.maybe(0.85) else ''


def _k0(c):
    o = _o(c)
    return (c.filler() + c.np(o, colour=False) + ' mění barvu ' + prep('z', c.colour(o, o.colour, 'gen', False))
            + ' na ' + c.colour(o, o.colour_end, 'acc', False) + _kmot(c) + c.bg_pp() + c.cam())


def _k1(c):
    o = _o(c)
    return c.np(o) + ' změní barvu na ' + c.colour(o, o.colour_end, 'acc', False) + _kmot(c) + c.bg_pp() + c.cam()


def _k2(c):
    o = _o(c)
    return (c.filler() + c.np(o, colour=False) + ' přechází ' + prep('z', c.colour(o, o.colour, 'gen', False))
            + ' do ' + c.colour(o, o.colour_end, 'gen', False) + _kmot(c) + c.bg_pp() + c.cam())


def _k3(c):
    o = _o(c)
    return (c.np(o) + ', ' + c.relative(o) + ' se změní na ' + c.colour(o, o.colour_end, 'acc')
            + c.bg_pp() + c.cam())


def _k4(c):
    o = _o(c)
    return (c.np(o, colour=False) + ' je nejdřív ' + c.colour(o, o.colour, 'nom') + ', pak '
            + c.colour(o, o.colour_end, 'nom') + _kmot(c) + c.bg_pp() + c.cam())


def _k5(c):
    o = _o(c)
    return c.filler() + c.np(o) + ' se mění ' + prep('v', c.colour(o, o.colour_end, 'acc')) + _kmot(c) + c.bg_pp() + c.cam()


def _k6(c):
    o = _o(c)
    return ('barva ' + c.np(o, 'gen', colour=False) + ' se mění ' + prep('z', c.colour(o, o.colour, 'gen', False))
            + ' na ' + c.colour(o, o.colour_end, 'acc', False) + c.bg_pp() + c.cam())


def _k7(c):
    o = _o(c)
    return (c.np(o, colour=False) + ' se přebarví ' + prep('z', c.colour(o, o.colour, 'gen', False)) + ' na '
            + c.colour(o, o.colour_end, 'acc', False) + _kmot(c) + c.bg_pp() + c.cam())


def _k8(c):
    o, g = _o(c), _g(c)
    if g.motion == 'still':
        tail = c.pick(['stojí na místě', 'zůstává v klidu'])
    else:
        tail = c.clause(g, clitic_first=True)
    return (c.np(o, colour=False) + ', nejprve ' + c.colour(o, o.colour, 'nom') + ', potom '
            + c.colour(o, o.colour_end, 'nom') + ', ' + tail + c.bg_pp() + c.cam())


def _k9(c):
    o = _o(c)
    return c.np(o) + ' se postupně změní na ' + c.colour(o, o.colour_end, 'acc') + _kmot(c) + c.bg_pp() + c.cam()


# ------------------------------------------------------------ mixed
def _clauses(c, skip_last=False):
    gs = c.scene.groups
    return [c.clause(g, c.np(g.members[0])) for g in (gs[:-1] if skip_last else gs)]


def _join(parts, last=' a '):
    return parts[0] if len(parts) == 1 else ', '.join(parts[:-1]) + last + parts[-1]


def _things(c):
    n = len(c.scene.groups)
    return {2: 'dva', 3: 'tři'}[n] + ' ' + c.pick(['objekty', 'tvary'])


def _last(c, front, clitic_first=False):
    g = c.scene.groups[-1]
    return c.clause(g, c.np(g.members[0]), front=front, clitic_first=clitic_first)


def _m0(c): return c.filler() + _join(_clauses(c)) + c.bg_pp() + c.cam()
def _m1(c): return ', '.join(_clauses(c, True)) + ', ' + _last(c, 'zatímco') + c.bg_pp() + c.cam()
def _m2(c):
    g = c.scene.groups[0]
    first = c.clause(g, c.np(g.members[0]), front=c.bg_front())
    rest = [c.clause(h, c.np(h.members[0])) for h in c.scene.groups[1:]]
    return _join([first] + rest) + c.cam()
def _m3(c): return '; '.join(_clauses(c)) + c.bg_pp() + c.cam()
def _m4(c): return _things(c) + ': ' + _join(_clauses(c)) + c.bg_pp() + c.cam()
def _m5(c): return 'v záběru jsou ' + _things(c) + ': ' + _join(_clauses(c)) + c.bg_pp() + c.cam()
def _m6(c): return c.cam_lead() + ' ' + _join(_clauses(c)) + c.bg_pp()
def _m7(c): return c.bg_np() + '; ' + _join(_clauses(c)) + c.cam()
def _m8(c):
    parts = ['jak ' + c.clause(g, c.np(g.members[0]), clitic_first=True) for g in c.scene.groups]
    return 'sledujeme, ' + _join(parts) + c.bg_pp() + c.cam()
def _m9(c): return _join(_clauses(c, True)) + '. Mezitím ' + _last(c, None, True) + c.bg_pp() + c.cam()


TEMPLATES = {
    'empty': [_e0, _e1, _e2, _e3, _e4, _e5, _e6, _e7, _e8, _e9],
    'single': [_s0, _s1, _s2, _s3, _s4, _s5, _s6, _s7, _s8, _s9, _s10],
    'count': [_c0, _c1, _c2, _c3, _c4, _c5, _c6, _c7, _c8, _c9],
    'relation': [_r0, _r1, _r2, _r3, _r4, _r5, _r6, _r7, _r8, _r9],
    'colour_change': [_k0, _k1, _k2, _k3, _k4, _k5, _k6, _k7, _k8, _k9],
    'mixed': [_m0, _m1, _m2, _m3, _m4, _m5, _m6, _m7, _m8, _m9],
}
