#!/usr/bin/python3
"""Write models/st2v-placeholder-random.safetensors: the default model until
a trained one exists. Random weights (the same initialisation as the tiny
test model), correctly shaped for the configuration below, stored as F16.
Its output is coloured noise, not pictures. Deterministic: the same bytes on
every run.

    /usr/bin/python3 train/make_placeholder.py [OUT]"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from st2v.config import derived  # noqa: E402
from st2v.model import St2vModel, init_random, save_model  # noqa: E402

SEED = 20240601
DEFAULT_OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models",
                           "st2v-placeholder-random.safetensors"))

EN = """
a an the of on in at with and is are to from into by it its very big small large tiny
little long short round tall flat soft shiny glowing happy
red orange yellow green blue purple violet pink brown black white grey gray gold silver
cyan magenta dark light bright colour color colourful colorful
ball balls sphere cube cubes box square circle triangle star stars heart ring line lines
dot dots cone pyramid cylinder shape shapes block blocks
move moves moving rolling rolls bouncing bounces spinning rotating falling rising flying
sliding jumping running walking swimming floating growing shrinking turning waving
left right up down slowly fast quickly around across over under through toward away
background sky sea ocean water waves grass field forest tree trees desert sand snow night
day sun sunset moon clouds cloud rain city street road room wall floor space mountain
mountains river beach fire smoke
one two three four five six seven eight nine ten
cat dog horse bird fish car boat train man woman person
"""

CS = """
a na v ve s se z do je jsou k u po pod nad přes kolem velký velká velké malý malá malé
červený červená červené oranžový oranžová žlutý žlutá žluté zelený zelená zelené
modrý modrá modré fialový fialová růžový růžová hnědý hnědá černý černá černé bílý bílá
bílé šedý šedá zlatý zlatá stříbrný stříbrná tmavý tmavá světlý světlá barevný barevná
míč míče koule kostka kostky krychle krabice čtverec kruh trojúhelník hvězda hvězdy
srdce prsten čára čáry tečka tečky kužel pyramida válec tvar tvary
pohybuje kutálí skáče odráží točí otáčí padá padající stoupá letí letí klouže běží jde
plave vznáší roste zmenšuje doleva doprava nahoru dolů pomalu rychle
pozadí nebe obloze obloha moře moři oceán voda vlny tráva trávě pole les lese strom
stromy poušť písek sníh noc noci den slunce západ měsíc mraky mrak déšť město městě
ulice silnice pokoj zeď podlaha vesmír hora hory řeka pláž oheň kouř
jeden jedna jedno dva dvě tři čtyři pět šest sedm osm devět deset
kočka pes kůň pták ryba auto loď vlak muž žena
"""

SUBWORDS = (
    list("abcdefghijklmnopqrstuvwxyz") + list("áčďéěíňóřšťúůýž") +
    ["s", "es", "ed", "ing", "ly", "er", "est", "ou", "ch", "ého", "ému", "ým", "ými",
     "ami", "ech", "ách", "ovi", "ové", "ní", "ně", "ová", "ový", "ek", "ka", "ky"] +
    [str(i) for i in range(10)]
)


def pieces():
    out = ["▁"]
    for w in (EN + CS).split():
        p = "▁" + w
        if p not in out:
            out.append(p)
    for p in SUBWORDS:
        if p not in out:
            out.append(p)
    return out


def placeholder_config():
    return {
        "format_version": 1,
        "name": "st2v-placeholder-random",
        "description": "UNTRAINED placeholder: random weights with the right shapes, so "
                       "the engine runs end to end; its output is coloured noise, not "
                       "pictures. Replace it with a trained model.",
        "provenance": {"script": "train/make_placeholder.py", "seed": SEED,
                       "init": "linear/conv N(0, 1/fan_in), biases N(0, 0.01), norm "
                               "weights 1 + N(0, 0.01), embeddings N(0, 1)",
                       "trained": False},
        "tokenizer": {"max_length": 48, "pieces": pieces()},
        "text": {"dim": 128, "layers": 2, "heads": 4, "mlp_dim": 512},
        "dit": {"dim": 192, "layers": 4, "heads": 4, "mlp_dim": 768,
                "patch": [1, 2, 2], "rope_dims": [16, 16, 16],
                "rope_theta": 10000.0, "freq_dim": 256},
        "vae": {"z_channels": 8, "channels": [64, 32, 16, 16], "res_blocks": 1,
                "time_up": [1, 1, 0], "space_up": [1, 1, 1], "kt": [3, 3, 2, 1],
                "latent_mean": [0.0] * 8, "latent_std": [1.0] * 8},
        "video": {"fps": 16, "sizes": [[128, 128], [224, 128]]},
        "sampler": {"steps": 8, "cfg": 4.0, "sampler": "euler", "shift": 3.0,
                    "window": 8, "context": 2},
    }


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT
    torch.set_num_threads(1)
    cfg = placeholder_config()
    derived(cfg)
    model = St2vModel(cfg)
    init_random(model, SEED)
    save_model(out, model, "F16")
    n = sum(p.numel() for p in model.parameters())
    print("%s: %d pieces, %d parameters, %d bytes" % (out, len(cfg["tokenizer"]["pieces"]), n,
                                                       os.path.getsize(out)))


if __name__ == "__main__":
    main()
