# SPDX-License-Identifier: LGPL-2.1-or-later
"""Tests of the TokenCompose lever (train/token_compose.py, train_dit.py
--token-compose, CrossAttention.keep_probs): the lexicon finds every
object word of the world's captions in both languages and nothing of the
backgrounds; the positions are the word's pieces; the loss is 0 for
attention inside the mask and 1 outside, and its gradient reaches the
cross-attention it reads; keeping the probabilities changes no output;
a sitting with it off (or switched off) is bit-identical to one without
it. Seconds.

    /usr/bin/python3 -m train.test_token_compose    (or train/test_token_compose.py)
"""
import argparse
import os
import sys
import tempfile

if __package__ in (None, ""):      # run as train/test_token_compose.py: the repository root on the path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from train import loop, testing, token_compose as tc  # noqa: E402
from train.cache_latents import COLOUR_INDEX  # noqa: E402
from train.st2v.config import tiny_config  # noqa: E402
from train.st2v.layers import attention, attention_probs  # noqa: E402
from train.st2v.model import St2vModel, init_random  # noqa: E402
from train.st2v.tokenizer import BOS, EOS, WORD_PREFIX, Tokenizer  # noqa: E402
from train.st2v.textenc import pad_batch  # noqa: E402
from train.world import (COLOURS, HELDOUT_TEMPLATES, SHAPES, caption, sample_scene,  # noqa: E402
                         template_ids)

torch.set_num_threads(1)
LEX = tc.Lexicon()


def the_classes_are_the_caches():
    """Shape class 1 + index into SHAPES, colour class the cache's
    COLOUR_INDEX of the palette colour (cache_latents.token_labels)."""
    for i, s in enumerate(SHAPES):
        assert LEX.find("a " + {"circle": "ball", "square": "box", "triangle": "triangle",
                                "star": "star", "heart": "heart"}[s]) == [("shape", 1 + i, 1, 2)]
    for name, rgb in COLOURS.items():
        assert LEX.find(name) == [("colour", COLOUR_INDEX[tuple(rgb)], 0, 1)], name
    # Czech forms and multi-word phrases
    assert LEX.find("Vidíme modrou hvězdičku") == [("colour", 6, 1, 2), ("shape", 4, 2, 3)]
    assert LEX.find("a five-pointed star") == [("shape", 4, 1, 5)]
    assert LEX.find("two love hearts, one triangle shape") == [("shape", 5, 1, 3),
                                                              ("shape", 3, 5, 7)]


def scenes(n, split):
    for seed in range(n):
        yield sample_scene(seed, split=split)


def the_lexicon_finds_every_object_word_of_generated_captions():
    """Every caption of 150 training and 150 held-out scenes, in English and
    Czech, from the training and the held-out templates, 3 draws each: the
    shapes found are the scene's, the colours its objects' (start and end),
    and every word of the caption that is an object word somewhere is found
    or inside a skipped phrase (a background's "white", "twinkling stars");
    nothing in an empty scene."""
    kinds, checked = set(), 0
    single = {w[0] for w in LEX.objects if len(w) == 1}
    for split in ("train", "heldout"):
        for sc in scenes(150, split):
            for lang in ("en", "cs"):
                for held in (False, True):
                    if not [t for t in template_ids(lang, sc.kind)
                            if (t in HELDOUT_TEMPLATES[lang]) == held]:
                        continue
                    for draw in range(3):
                        text = caption(sc, lang, np.random.default_rng(1000 * sc.seed + draw),
                                       heldout_templates=held)
                        found = LEX.find(text)
                        want_s = {1 + SHAPES.index(o.shape) for g in sc.groups for o in g.members}
                        want_c = {1 + list(COLOURS).index(c) for g in sc.groups
                                  for o in g.members for c in o.colours()}
                        got_s = {k for lab, k, a, b in found if lab == "shape"}
                        got_c = {k for lab, k, a, b in found if lab == "colour"}
                        assert got_s == want_s and got_c == want_c, (text, got_s, want_s,
                                                                     got_c, want_c)
                        words = tc.split_words(tc.lowercase_bytes(text.encode()))
                        covered = {i for _, _, a, b in found for i in range(a, b)}
                        for i, w in enumerate(words):
                            if w in single and i not in covered:
                                inside_skip = any(
                                    tuple(words[j:j + len(p)]) == p and j <= i < j + len(p)
                                    for p in LEX.skip for j in range(max(0, i - len(p) + 1), i + 1))
                                assert inside_skip, (text, w)
                        kinds.add((sc.kind, lang))
                        checked += 1
    assert len(kinds) == 12 and checked > 1500, (sorted(kinds), checked)
    assert LEX.find("A plain white background, a blue screen, twinkling stars in the night "
                    "sky; zelené plátno před bílým pozadím") == []


def positions_are_the_pieces_of_the_object_words():
    """word_pieces gives tok.encode's ids and each word's pieces; targets
    names the pieces of the object words (several where a word is several
    pieces, the hyphen of "five-pointed" left out), also under truncation."""
    tok = Tokenizer(["▁red", "▁ba", "ll", "▁five", "▁pointed", "▁star", "▁a", "▁č", "erven",
                     "á", "▁kostka"], 48)
    for text in ("A red ball", "a five-pointed star", "Červená kostka, a red ball!", "",
                 "a" * 200, "a red ball " * 20):
        ids, spans, words = tc.word_pieces(tok, text)
        assert ids == tok.encode(text), text
        for (a, b), w in zip(spans, words):
            if b < len(ids) - 1:
                piece_bytes = b"".join(_piece(tok, i) for i in ids[a:b])
                assert piece_bytes == WORD_PREFIX + w, (text, w)
    ids = tok.encode("A red ball")
    assert ids[0] == BOS and ids[-1] == EOS
    t = tc.targets(tok, LEX, "A red ball")
    assert t == ((1, 1, 2), (0, 1, 3), (0, 1, 4)), t          # red: 1 piece; ball: ▁ba ll
    t = tc.targets(tok, LEX, "a five-pointed star")
    # <bos> ▁a ▁five, "▁-" as 4 byte tokens (3..6, left out), ▁pointed ▁star
    assert [j for _, _, j in t] == [2, 7, 8] and {k for _, k, _ in t} == {4}, t
    t = tc.targets(tok, LEX, "Červená kostka")
    assert t == ((1, 1, 1), (1, 1, 2), (1, 1, 3), (0, 2, 4)), t
    short = Tokenizer(["▁a", "▁red", "▁ball"], 4)                   # <bos> ▁a red <eos>: ball cut
    ids, spans, words = tc.word_pieces(short, "a red ball")
    assert ids == short.encode("a red ball") == [BOS, 259, 260, EOS], ids
    t = tc.targets(short, LEX, "a red ball")
    assert t == ((1, 1, 2),), (ids, t)                      # red; ball past the cut


def _piece(tok, i):
    if i >= 259:
        return next(p for p, v in tok.piece_ids.items() if v == i)
    return bytes([i - 3])


def _probs_for(inside, B=2, H=2, N=6, n=4, j=1):
    """probs (B, H, N, n) whose column j puts all its mass where inside[b]
    (N,) is True."""
    p = torch.full((B, H, N, n), 1.0 / n)
    for b in range(B):
        col = inside[b].float()
        p[b, :, :, j] = col[None, :] / col.sum() * 0.3
    return p


def the_loss_is_0_inside_the_mask_and_1_outside():
    shape = torch.zeros(2, 2, 1, 3, dtype=torch.long)       # (B, Tp, Hp, Wp): N = 6
    shape[0, 0, 0, 1] = 1
    shape[0, 1, 0, 2] = 1                                   # sample 0: circle on tokens 1 and 5
    shape[1, 1, 0, 0] = 4                                   # sample 1: star on token 3
    colour = torch.zeros_like(shape)
    labels = {"shape": shape, "colour": colour}
    in0 = shape.reshape(2, -1) == torch.tensor([[1], [4]])
    tg = tc.batch_targets([((0, 1, 1),), ((0, 4, 1),)])     # word at position 1, its class
    loss, n = tc.grounding_loss([_probs_for(in0)], tg, labels)
    assert n == 2 and abs(float(loss)) < 1e-6, loss
    loss, n = tc.grounding_loss([_probs_for(~in0)], tg, labels)
    assert n == 2 and abs(float(loss) - 1) < 1e-6, loss
    half = _probs_for(in0) + _probs_for(~in0)               # half the mass inside
    half[0, :, :, 1] = (in0[0].float() / 2 + (~in0[0]).float() / 4)[None]   # 2 in, 4 out
    loss, _ = tc.grounding_loss([half], tg, labels)
    assert abs(float(loss) - 0.5) < 1e-6, loss
    # two blocks: their mean; heads averaged before the share is taken
    loss, _ = tc.grounding_loss([_probs_for(in0), _probs_for(~in0)], tg, labels)
    assert abs(float(loss) - 0.5) < 1e-6, loss
    mixed = _probs_for(in0)
    mixed[:, 1] = _probs_for(~in0)[:, 1]                    # head 1 all outside
    loss, _ = tc.grounding_loss([mixed], tg, labels)
    assert abs(float(loss) - 0.5) < 1e-6, loss
    # a class absent from the sample, and a colour word with no colour labels: nothing
    tg2 = tc.batch_targets([((0, 3, 2), (1, 5, 2)), ()])
    assert tc.grounding_loss([_probs_for(in0)], tg2, labels) == (None, 0)
    assert tc.grounding_loss([_probs_for(in0)], tc.batch_targets([(), ()]), labels) == (None, 0)
    # with them beside a word that counts: the mean is over the counted one
    tg3 = tc.batch_targets([((0, 1, 1), (0, 3, 2)), ()])
    loss, n = tc.grounding_loss([_probs_for(~in0)], tg3, labels)
    assert n == 1 and abs(float(loss) - 1) < 1e-6


def keeping_the_probabilities_changes_no_output():
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 3, 5, 8, generator=g) for _ in range(3))
    m = torch.tensor([[True] * 5, [True, True, False, False, False]])
    assert torch.equal(attention(q, k, v, m), torch.matmul(attention_probs(q, k, m), v))
    model = St2vModel(tiny_config()).eval()
    init_random(model, 1)
    z = torch.randn(2, 4, 2, 4, 6, generator=g)
    t = torch.tensor([[0.3, 0.3], [0.0, 0.8]])
    ids = torch.tensor([[1, 259, 260, 2], [1, 259, 2, 0]])
    mask = ids > 0
    with torch.no_grad():
        want = model.dit(z, t, model.text(ids, mask), mask)
        for blk in model.dit.blocks:
            blk.cross.keep_probs = True
        got = model.dit(z, t, model.text(ids, mask), mask)
    assert torch.equal(got, want)
    p = model.dit.blocks[1].cross.probs
    assert p.shape == (2, 2, 2 * 2 * 3, 4), p.shape               # (B, H, Tp*S, n)
    assert torch.allclose(p.sum(-1), torch.ones(2, 2, 12)) and float(p[1, :, :, 3].abs().max()) == 0


def the_gradient_reaches_the_cross_attention_it_reads():
    """The loss read at block 0 of the tiny DiT: gradients on block 0's
    cross-attention query and key weights and the text encoder, none on a
    later block's (the loss does not depend on it)."""
    cfg = tiny_config()
    model = St2vModel(cfg)
    init_random(model, 2)
    tok = Tokenizer.from_config(cfg)
    reader = tc.Reader(model.dit, [0], tok)
    caps = ["a red ball", "modrá kostka"]
    ids, mask = pad_batch([tok.encode(c) for c in caps])
    g = torch.Generator().manual_seed(4)
    z = torch.randn(2, 4, 2, 4, 6, generator=g)
    shape = torch.zeros(2, 2, 2, 3, dtype=torch.long)
    shape[0, :, 0, :2] = 1                                  # the ball
    shape[1, :, 1, 1:] = 2                                  # the box
    colour = torch.zeros_like(shape)
    colour[0][shape[0] > 0] = 1                             # red
    colour[1][shape[1] > 0] = 6                             # blue
    reader.enable(True)
    model.dit(z, torch.full((2, 2), 0.5), model.text(ids, mask), mask)
    loss, n = reader.loss(caps, {"shape": shape, "colour": colour})
    assert n >= 4 and 0 < float(loss) < 1, (loss, n)        # red, ball, modrá, kostka (pieces)
    assert model.dit.blocks[0].cross.probs is None          # let go
    loss.backward()
    c0, c1 = model.dit.blocks[0].cross, model.dit.blocks[1].cross
    for w in (c0.q.weight, c0.kv.weight, model.text.tok_emb):
        assert w.grad is not None and float(w.grad.abs().sum()) > 0
    assert c1.q.weight.grad is None or float(c1.q.weight.grad.abs().sum()) == 0
    assert float(c0.kv.weight.grad[48:].abs().sum()) == 0   # values: not in the probabilities
    # gradient descent on it alone raises the attention inside the masks
    opt = torch.optim.SGD([p for p in model.parameters()], lr=0.5)
    first = float(loss)
    for _ in range(20):
        opt.zero_grad()
        reader.enable(True)
        model.dit(z, torch.full((2, 2), 0.5), model.text(ids, mask), mask)
        loss, _ = reader.loss(caps, {"shape": shape, "colour": colour})
        loss.backward()
        opt.step()
    assert float(loss) < 0.8 * first, (first, float(loss))


def tiny_cache(directory, clips=6, seed=0):
    """A latent cache of the tiny geometry whose captions name what its
    labels hold: a red ball (colour 1, shape 1) or a blue box (6, 2)."""
    g = torch.Generator().manual_seed(seed)
    items = []
    for i in range(clips):
        shape = torch.zeros(6, 2, 3, dtype=torch.uint8)             # (T_lat, Hp, Wp)
        shape[:, i % 2, i % 3] = 1 + i % 2
        colour = torch.where(shape == 1, 1, torch.where(shape == 2, 6, 0)).to(torch.uint8)
        caps = (["a red ball", "červený míč", "a red ball", "červený míč"] if i % 2 == 0 else
                ["a blue box", "modrá kostka", "a blue box", "modrá kostka"])
        items.append({"seed": i, "z": torch.randn(4, 6, 4, 6, generator=g).half(),
                      "captions": caps, "colour": colour, "shape": shape, "motion": shape.clone()})
    os.makedirs(directory)
    torch.save(items, os.path.join(directory, "shard_00000.pt"))
    torch.save({"mean": torch.zeros(4), "std": torch.ones(4), "vae_config": tiny_config()["vae"]},
               os.path.join(directory, "stats.pt"))


def sitting(directory, cache, until_step, **tc_args):
    """A train_dit.py sitting on the tiny recipe; tc_args (token_compose,
    token_compose_blocks, token_compose_until) left out as a caller from
    before the lever leaves them."""
    from train import train_dit
    args = argparse.Namespace(minutes=10.0, until_step=until_step, lr=1e-3, cooldown=0,
                              cooldown_minutes=0.0, batch=2, aux_steps=None, aux_weight=0.5,
                              single_frames=0.0, threads=1, dir=directory, cache=cache,
                              init_from=None, pairs=None, redi=None, redi_weight=1.0,
                              log_every=1, **tc_args)
    os.makedirs(directory, exist_ok=True)
    train_dit.sitting(args, torch.device("cpu"))
    return loop.load_checkpoint(directory)


def _same(a, b):
    return all(torch.equal(a[part][k], b[part][k]) for part in ("model", "aux", "ema")
               for k in a[part])


def off_is_a_bit_identical_step():
    """Sittings of 4 steps: without the flags (a caller from before), with
    --token-compose 0, and with --token-compose 0.5 switched off from step
    0 end in the same weights bit for bit; on, the weights differ, the log
    has its term, and --token-compose-until 2 drops it after step 2."""
    from train.test_redi import tiny_recipe

    def body():
        with tempfile.TemporaryDirectory() as d:
            cache = os.path.join(d, "cache")
            tiny_cache(cache)
            base = sitting(os.path.join(d, "base"), cache, 4)
            zero = sitting(os.path.join(d, "zero"), cache, 4, token_compose=0.0,
                           token_compose_blocks=[1], token_compose_until=None)
            gone = sitting(os.path.join(d, "gone"), cache, 4, token_compose=0.5,
                           token_compose_blocks=[0], token_compose_until=0)
            on = sitting(os.path.join(d, "on"), cache, 4, token_compose=0.5,
                         token_compose_blocks=[0, 1], token_compose_until=2)
            assert _same(base, zero) and _same(base, gone)
            assert not _same(base, on)
            log = open(os.path.join(d, "base", "log.txt")).read().splitlines()
            assert len(log) == 4 and all(" tc " not in ln for ln in log), log
            log = open(os.path.join(d, "on", "log.txt")).read().splitlines()
            assert [" tc " in ln for ln in log] == [True, True, False, False], log
            try:
                sitting(os.path.join(d, "bad"), cache, 1, token_compose=0.5,
                        token_compose_blocks=[2], token_compose_until=None)
            except SystemExit as e:
                assert "blocks 0..1" in str(e), e
            else:
                raise AssertionError("block 2 of a 2-block DiT was taken")
    tiny_recipe(body)


def the_instrument_reads_a_checkpoint():
    """measure() on a tiny run's checkpoint: a loss per block and t in
    [0, 1], uniform attention's level below 1, the same numbers twice."""
    from train.test_redi import tiny_recipe
    from train.train_dit import LatentCache

    def body():
        with tempfile.TemporaryDirectory() as d:
            cache = os.path.join(d, "cache")
            tiny_cache(cache)
            ck = sitting(os.path.join(d, "run"), cache, 2)
            model = St2vModel(ck["config"])
            del model.vae
            model.load_state_dict(ck["ema"], strict=False)
            runs = [tc.measure(model.eval(), LatentCache(cache), [0, 1], batches=2, batch=4)
                    for _ in range(2)]
            assert runs[0] == runs[1]
            res, uniform, n = runs[0]
            assert n > 0 and 0.5 < uniform < 1, (uniform, n)    # 1 token of 6 per clip
            assert sorted(res) == [0.5, 0.9] and all(
                len(v) == 2 and all(0 <= x <= 1 for x in v) for v in res.values()), res
    tiny_recipe(body)


TESTS = [
    the_classes_are_the_caches,
    the_lexicon_finds_every_object_word_of_generated_captions,
    positions_are_the_pieces_of_the_object_words,
    the_loss_is_0_inside_the_mask_and_1_outside,
    keeping_the_probabilities_changes_no_output,
    the_gradient_reaches_the_cross_attention_it_reads,
    off_is_a_bit_identical_step,
    the_instrument_reads_a_checkpoint,
]

if __name__ == "__main__":
    sys.exit(testing.run(TESTS))
