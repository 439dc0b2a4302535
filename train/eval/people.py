# SPDX-License-Identifier: LGPL-2.1-or-later
"""Prompts written the way people write them, outside the caption templates
and their vocabulary: the "people" split of the evaluation (issue 19: the
model must come within 10 points of the templated split on these).

Each entry is (prompt, spec); the spec is what the prompt asks for, in the
scorer's terms:

    "N COLOUR SHAPE MOTION [+ N COLOUR SHAPE MOTION] [; count] [; bg BACKGROUND]"

COLOUR may be FROM>TO (a colour change); "; count" makes the number a
claim (the prompt says how many); "; bg" names the background the prompt
asks for (none: the prompt says nothing of it, so it is not scored). The
words are the world's (train/world/palette.py). Written by hand, not drawn
from the templates: lower case, fragments, other words ("ball", "box",
"chroma key", "drifting"), Czech with and without diacritics and in
capitals. Generated at the sizes and lengths of world clips (PEOPLE_SIZES,
PEOPLE_FRAMES), generation seed 500 + index."""
from types import SimpleNamespace

from train.world import BACKGROUNDS, COLOURS, MOTIONS, SHAPES

PEOPLE_SIZES = ((128, 128), (224, 128))
PEOPLE_FRAMES = 48
FPS = 16

EN = [
    ("red ball moving to the right, black background", "1 red circle right; bg black"),
    ("a little blue box sliding left on a white backdrop", "1 blue square left; bg white"),
    ("yellow star spinning on green screen for a logo sting", "1 yellow star spins; bg green_screen"),
    ("pink heart floating up into the night sky", "1 pink heart rises; bg night_sky"),
    ("bouncing orange ball", "1 orange circle bounce"),
    ("two green squares just sitting there", "2 green square still; count"),
    ("three white dots drifting down through the rain", "3 white circle down; count; bg rain"),
    ("purple triangle getting bigger", "1 purple triangle grows"),
    ("a cyan circle shrinking away over a grey background", "1 cyan circle shrinks; bg gray"),
    ("chroma key blue, red heart going left", "1 red heart left; bg blue_screen"),
    ("purple star falling in a snowstorm", "1 purple star falls; bg snowfall"),
    ("a ball that changes from red to blue", "1 red>blue circle still"),
    ("green triangle climbing up the screen", "1 green triangle up"),
    ("red circle on a sunny sky background, not moving", "1 red circle still; bg day_sky"),
    ("orange square rotating slowly", "1 orange square spins"),
    ("yellow heart dropping onto a meadow", "1 yellow heart falls; bg meadow"),
    ("4 red stars, black bg", "4 red star still; count; bg black"),
    ("one pink square moving right over the sea at sunset", "1 pink square right; bg sunset_sea"),
    ("purple ball drifting left", "1 purple circle left"),
    ("cyan star going down", "1 cyan star down"),
    ("a white box that turns yellow", "1 white>yellow square still"),
    ("a red triangle and a blue ball", "1 red triangle still + 1 blue circle still"),
    ("big green heart pulsing bigger on a white background", "1 green heart grows; bg white"),
    ("yellow triangle sliding right across a green screen", "1 yellow triangle right; bg green_screen"),
    ("two orange hearts bouncing around", "2 orange heart bounce; count"),
    ("blue star slowly rising", "1 blue star rises"),
    ("a black screen with a single white ball moving left", "1 white circle left; bg black"),
    ("red square shrinking", "1 red square shrinks"),
    ("pink ball spinning in the rain", "1 pink circle spins; bg rain"),
    ("green circle drifting right through falling snow", "1 green circle right; bg snowfall"),
]

CS = [
    ("červený míček jede doprava, černé pozadí", "1 red circle right; bg black"),
    ("modrá kostka se posouvá doleva na bílém", "1 blue square left; bg white"),
    ("žlutá hvězda se točí na zeleném plátně", "1 yellow star spins; bg green_screen"),
    ("ruzove srdce stoupa do nocni oblohy", "1 pink heart rises; bg night_sky"),
    ("skákající oranžový míč", "1 orange circle bounce"),
    ("dva zelené čtverečky, nic se nehýbe", "2 green square still; count"),
    ("tři bílé kuličky padají v dešti", "3 white circle down; count; bg rain"),
    ("fialový trojúhelník se zvětšuje", "1 purple triangle grows"),
    ("tyrkysové kolečko se zmenšuje na šedém pozadí", "1 cyan circle shrinks; bg gray"),
    ("ČERVENÉ SRDCE JEDE DOLEVA NA MODRÉM KLÍČOVACÍM POZADÍ", "1 red heart left; bg blue_screen"),
    ("fialová hvězda padá ve sněhu", "1 purple star falls; bg snowfall"),
    ("micek ktery zmeni barvu z cervene na modrou", "1 red>blue circle still"),
    ("zelený trojúhelník leze nahoru", "1 green triangle up"),
    ("červené kolo na obloze, stojí na místě", "1 red circle still; bg day_sky"),
    ("oranžový čtverec se pomalu otáčí", "1 orange square spins"),
    ("žluté srdíčko padá na louku", "1 yellow heart falls; bg meadow"),
    ("4 červené hvězdy, černé pozadí", "4 red star still; count; bg black"),
    ("jeden růžový čtverec jede doprava nad mořem při západu slunce",
     "1 pink square right; bg sunset_sea"),
    ("fialova koule pluje doleva", "1 purple circle left"),
    ("tyrkysová hvězdička jde dolů", "1 cyan star down"),
    ("bílá krabička, která zežloutne", "1 white>yellow square still"),
    ("červený trojúhelník a modrý míč", "1 red triangle still + 1 blue circle still"),
    ("velké zelené srdce roste na bílém pozadí", "1 green heart grows; bg white"),
    ("žlutý trojúhelník jede doprava přes zelené plátno", "1 yellow triangle right; bg green_screen"),
    ("dvě oranžová srdce poskakují", "2 orange heart bounce; count"),
    ("modrá hvězda pomalu stoupá", "1 blue star rises"),
    ("černá obrazovka a jedna bílá kulička jede doleva", "1 white circle left; bg black"),
    ("cerveny ctverec se zmensuje", "1 red square shrinks"),
    ("růžový míček se točí v dešti", "1 pink circle spins; bg rain"),
    ("zelené kolečko pluje doprava padajícím sněhem", "1 green circle right; bg snowfall"),
]

PROMPTS = {"en": EN, "cs": CS}


def parse_spec(spec):
    """The scorer's claims (score.claims_from's form) of a spec string;
    ValueError naming the word at fault."""
    parts = [p.strip() for p in spec.split(";")]
    entities, count_claim, background = [], False, None
    for p in parts[1:]:
        if p == "count":
            count_claim = True
        elif p.startswith("bg "):
            background = p[3:].strip()
            if background not in BACKGROUNDS:
                raise ValueError("unknown background %r in %r" % (background, spec))
        else:
            raise ValueError("unknown clause %r in %r" % (p, spec))
    for e in parts[0].split("+"):
        words = e.split()
        if len(words) != 4:
            raise ValueError("an object is N COLOUR SHAPE MOTION, got %r" % e)
        n, colour, shape, motion = words
        c0, _, c1 = colour.partition(">")
        for c in (c0, c1) if c1 else (c0,):
            if c not in COLOURS:
                raise ValueError("unknown colour %r in %r" % (c, spec))
        if shape not in SHAPES or motion not in MOTIONS or not n.isdigit():
            raise ValueError("bad object %r in %r" % (e, spec))
        entities.append({"colour": c0, "colour_end": c1 or None, "shape": shape,
                         "motion": motion, "n": int(n)})
    changes = [{"entity": i, "from": e["colour"], "to": e["colour_end"]}
               for i, e in enumerate(entities) if e["colour_end"]]
    count = ({"colour": entities[0]["colour"], "n": entities[0]["n"]}
             if count_claim else None)
    kind = ("colour_change" if changes else "count" if count_claim else
            "single" if len(entities) == 1 else "multi")
    return {"kind": kind, "entities": entities, "relations": [], "changes": changes,
            "count": count, "background": background,
            "background_mentioned": background is not None}


def draw(n, lang):
    """The first n people-written prompts of `lang` as eval scenes: list of
    (seed, scene) where scene has what run.generate reads (caption, seed,
    n_frames, size, fps) and the claims to score against."""
    items = PROMPTS[lang]
    if n > len(items):
        raise ValueError("the people split has %d prompts per language, asked for %d"
                         % (len(items), n))
    out = []
    for i, (text, spec) in enumerate(items[:n]):
        seed = 500 + i
        out.append((seed, SimpleNamespace(caption=text, seed=seed, n_frames=PEOPLE_FRAMES,
                                          size=PEOPLE_SIZES[i % 2], fps=FPS, language=lang,
                                          claims=parse_spec(spec))))
    return out
