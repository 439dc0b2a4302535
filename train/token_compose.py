# SPDX-License-Identifier: LGPL-2.1-or-later
"""The TokenCompose lever (issue 19, section 3, "spatial, early,
time-limited alignment"): tie the cross-attention of the caption's object
words to the world's object masks (TokenCompose, Wang et al. 2024,
arXiv 2312.03626, its token-level grounding term).

What is here:
- Lexicon: every word the caption templates (world/captions_en.py,
  world/captions_cs.py) write for a shape or a palette colour, in both
  languages, derived from their tables (English singulars and plurals,
  Czech cases of every noun and every declined form of the colour
  adjectives), each mapped to its class in the latent cache's "shape" and
  "colour" label maps (cache_latents.token_labels: 1 + index into
  world.SHAPES / world.COLOURS, 0 background). Phrases of the other tables
  (backgrounds, camera, fillers) that contain such a word -- "a plain white
  background", "twinkling stars", "zelené plátno" -- are skipped, so only
  the objects' words count.
- targets(): for a caption, which text-token positions (of the st2v
  tokenizer's ids, st2v/tokenizer.py, a word possibly several pieces) name
  which class.
- grounding_loss(): for each such token j of class k in sample b, its
  cross-attention over the image tokens (probabilities averaged over
  heads, then normalised over the image tokens), A_j; the loss is the mean
  over (b, j) of 1 - sum_{i in M_k} A_j[i], M_k the image tokens whose
  label at their temporal patch is k. Words whose class covers no token of
  the sample, captions without object words (the empty prompt of CFG, the
  empty scenes) contribute nothing.
- measure(): that loss on fixed batches of a cache, per block, for a
  checkpoint or two (python3 -m train.token_compose): the instrument of
  the A/B (docs/training.md, "Lever: TokenCompose"):

    /usr/bin/python3 -m train.token_compose CHECKPOINT [CHECKPOINT...] \
        --cache RUN_DIR/latents_v3

The attention probabilities come from st2v/dit.py's CrossAttention with
keep_probs set (same operations, same outputs). train_dit.py
--token-compose W adds W times the loss, read at --token-compose-blocks
(an early block), until --token-compose-until.

Not here: TokenCompose's pixel-level term (a cross-entropy of the
attention map against the mask); per-instance masks (the cache keeps one
label per token, so two red balls share one "red" mask). The paper's code
squares (1 - mass) and averages the per-head ratio; here the mass is of
the head-averaged map and the loss linear in it (a constant pull toward
the mask, strongest where the map is far from it).
"""
import argparse
import functools
import os
import sys

if __package__ in (None, ""):      # run as train/token_compose.py: the repository root on the path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from train.st2v.tokenizer import (BOS, EOS, PUNCT, WORD_PREFIX, lowercase_bytes,  # noqa: E402
                                  split_words)
from train.world import COLOURS, SHAPES  # noqa: E402
from train.world import captions_cs, captions_en  # noqa: E402

LABELS = ("shape", "colour")        # the cache's label maps the words name, in targets' order


# ---------------------------------------------------------------- lexicon

def _words(text):
    """A phrase as the tokenizer splits it: a tuple of lower-cased byte words."""
    return tuple(split_words(lowercase_bytes(text.encode("utf-8"))))


def _strings(value):
    """Every string inside nested dicts, lists and tuples."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for v in value:
            yield from _strings(v)


def _contains(phrase, part):
    n = len(part)
    return any(phrase[i:i + n] == part for i in range(len(phrase) - n + 1))


# the caption modules' tables of object words (every other table of theirs
# is searched for phrases to skip)
OBJECT_TABLES = {"en": ("NOUNS", "COLOUR_WORDS"), "cs": ("NOUNS", "COLOUR_STEMS")}


def object_words():
    """{(label, class): set of phrases (str)}: what both languages' templates
    write for each shape class (1 + index into SHAPES) and colour class
    (1 + index into COLOURS)."""
    out = {}
    for i, s in enumerate(SHAPES):
        en = {w for pair in captions_en.NOUNS[s] for w in pair}           # singular, plural
        cs = {f for e in captions_cs.NOUNS[s] for f in (e[0],) + e[2:]}   # lemma, pl, gen, ins, acc
        out[("shape", 1 + i)] = en | cs
    for i, c in enumerate(COLOURS):
        en = set(captions_en.COLOUR_WORDS[c])
        # every form of the declension table (case, gender, number) the templates use
        cs = {captions_cs.colour_adjective(c, case, g, n) for case, g, n in captions_cs._HARD}
        out[("colour", 1 + i)] = en | cs
    return out


class Lexicon:
    """The object words of both languages and the phrases to skip.

    find(text) -> [(label, class, first word, end word)], the word spans
    (in the tokenizer's split of the lower-cased text) of the object words,
    left to right, the longest phrase first where several start at a word."""

    def __init__(self):
        self.words = object_words()
        objects = {}
        for (label, cls), phrases in self.words.items():
            for p in phrases:
                w = _words(p)
                if objects.get(w, (label, cls)) != (label, cls):
                    raise ValueError(f"token_compose: {p!r} names two classes")
                objects[w] = (label, cls)
        skip = set()
        for lang, mod in (("en", captions_en), ("cs", captions_cs)):
            for name, value in vars(mod).items():
                if not name.isupper() or name in OBJECT_TABLES[lang]:
                    continue
                for s in _strings(value):
                    w = _words(s)
                    if w not in objects and any(_contains(w, o) for o in objects):
                        skip.add(w)
        self.objects, self.skip = objects, skip
        self._starting = {}             # first word -> [(phrase, (label, class) or None)], longest first
        for w, v in list(objects.items()) + [(w, None) for w in skip]:
            self._starting.setdefault(w[0], []).append((w, v))
        for v in self._starting.values():
            v.sort(key=lambda e: -len(e[0]))

    def find_words(self, words):
        """find() on a list of byte words."""
        out, i = [], 0
        while i < len(words):
            for phrase, v in self._starting.get(words[i], ()):
                if tuple(words[i:i + len(phrase)]) == phrase:
                    if v is not None:
                        out.append((v[0], v[1], i, i + len(phrase)))
                    i += len(phrase)
                    break
            else:
                i += 1
        return out

    def find(self, text):
        return self.find_words(split_words(lowercase_bytes(text.encode("utf-8"))))


# -------------------------------------------------------------- positions

def word_pieces(tok, text):
    """(ids, spans): tok.encode(text)'s ids and, for each word of the
    tokenizer's split, the [start, end) of its pieces among them (past
    the truncation: an empty span at the cut)."""
    words = split_words(lowercase_bytes(text.encode("utf-8")))
    ids, spans = [BOS], []
    for w in words:
        start = len(ids)
        ids += tok.encode_word(WORD_PREFIX + w)
        spans.append((start, len(ids)))
    ids.append(EOS)
    L = tok.max_length
    if len(ids) > L:                    # as Tokenizer.encode cuts: the first L - 1 and <eos>
        ids = ids[:L - 1] + [EOS]
        spans = [(min(a, L - 1), min(b, L - 1)) for a, b in spans]
    return ids, spans, words


def targets(tok, lex, text):
    """((label index into LABELS, class, token position), ...) of the pieces
    of the caption's object words (punctuation inside a phrase, the hyphen
    of "five-pointed star", left out)."""
    _, spans, words = word_pieces(tok, text)
    out = []
    for label, cls, a, b in lex.find_words(words):
        for w in range(a, b):
            if len(words[w]) == 1 and words[w][0] in PUNCT:
                continue
            out += [(LABELS.index(label), cls, j) for j in range(*spans[w])]
    return tuple(out)


def batch_targets(per_caption):
    """targets() of a batch's captions -> (M, 4) long: sample, token
    position, label index, class."""
    rows = [(b, j, li, k) for b, t in enumerate(per_caption) for li, k, j in t]
    return torch.tensor(rows, dtype=torch.long).reshape(-1, 4)


# ------------------------------------------------------------------- loss

def grounding_loss(probs, tg, labels):
    """probs: [(B, H, N, n)] the cross-attention probabilities of the chosen
    blocks (N = Tp*S image tokens in raster order, n text tokens); tg:
    batch_targets (M, 4); labels {label: (B, Tp, Hp, Wp)} -> (loss, count):
    the mean over blocks and over the (sample, token) pairs whose class
    covers at least one image token of the sample of 1 - the share of the
    token's head-averaged attention map inside that class's tokens; (None,
    0) where there are none."""
    B = probs[0].shape[0]
    lab = torch.stack([labels[k].reshape(B, -1) for k in LABELS], 1)       # (B, 2, N)
    b, j, li, k = tg.to(lab.device).unbind(1)
    inside = lab[b, li] == k[:, None]                                      # (M, N)
    keep = inside.any(1)
    if not bool(keep.any()):
        return None, 0
    b, j, inside = b[keep], j[keep], inside[keep].float()
    losses = []
    for p in probs:
        a = p[b, :, :, j].float().mean(1)                                  # (M', N) over heads
        a = a / a.sum(1, keepdim=True).clamp_min(1e-30)
        losses.append(1 - (a * inside).sum(1))
    return torch.stack(losses).mean(), int(b.numel())


class Reader:
    """The loss in a training step: reads the cross-attention of `blocks`
    of a DiT (keep_probs set while enabled) and the object words of the
    captions (targets of each caption computed once)."""

    def __init__(self, dit, blocks, tok):
        self.cross = [dit.blocks[i].cross for i in blocks]
        self.lex = Lexicon()
        self.targets = functools.lru_cache(maxsize=None)(
            lambda text: targets(tok, self.lex, text))

    def enable(self, on):
        for c in self.cross:
            c.keep_probs, c.probs = bool(on), None

    def loss(self, captions, labels):
        """After the forward of the batch of `captions`: (loss, count) as
        grounding_loss; the kept probabilities are let go."""
        probs = [c.probs for c in self.cross]
        for c in self.cross:
            c.probs = None
        if any(p is None for p in probs):
            raise RuntimeError("token_compose: no attention kept (enable() before the forward)")
        return grounding_loss(probs, batch_targets([self.targets(c) for c in captions]), labels)


# ------------------------------------------------------------ instrument

def measure(model, cache, blocks, t_values=(0.5, 0.9), batches=4, batch=16, seed=7):
    """({t: [loss per block]}, the loss of uniform attention, word tokens
    counted) of a model (St2vModel, the DiT's training weights or EMA as
    loaded) on `batches` fixed batches of a LatentCache: windows, captions
    (no empty prompt), noise and t the same for every model given the same
    cache and seed. Uniform attention's loss is 1 - the mean share of the
    image tokens a word's class covers: the level of a map that ignores
    the word."""
    import numpy as np
    from train import recipe
    from train.st2v.textenc import pad_batch
    from train.st2v.tokenizer import Tokenizer
    from train.train_dit import latent_norm
    cfg = model.config
    tok = Tokenizer.from_config(cfg)
    mean, std = latent_norm(cfg)
    window, pt = cfg["sampler"]["window"], cfg["dit"]["patch"][0]
    reader = Reader(model.dit, blocks, tok)
    rng = np.random.default_rng(seed)
    g = torch.Generator().manual_seed(seed)
    sums = {t: torch.zeros(len(blocks), dtype=torch.float64) for t in t_values}
    counts = {t: 0 for t in t_values}
    uniform = 0.0
    for _ in range(batches):
        z, caps, labels = cache.batch(rng, batch, window, pt)
        x0 = (z - mean) / std
        e = torch.randn(x0.shape, generator=g)
        ids, mask = pad_batch([tok.encode(c) for c in caps])
        tg = batch_targets([reader.targets(c) for c in caps])
        N = labels["shape"][0].numel()
        loss, n = grounding_loss([torch.ones(batch, 1, N, ids.shape[1])], tg, labels)
        uniform += float(loss) * n if loss is not None else 0.0
        for t in t_values:
            reader.enable(True)
            with torch.no_grad(), recipe.autocast("cpu"):
                model.dit((1 - t) * x0 + t * e, torch.full((batch, window // pt), t),
                          model.text(ids, mask), mask)
            probs = [c.probs for c in reader.cross]
            reader.enable(False)
            for i, p in enumerate(probs):
                loss, n = grounding_loss([p], tg, labels)
                if loss is not None:
                    sums[t][i] += float(loss) * n
                    if i == 0:
                        counts[t] += n
    n = counts[t_values[0]]
    return {t: (sums[t] / max(counts[t], 1)).tolist() for t in t_values}, uniform / max(n, 1), n


def main():
    ap = argparse.ArgumentParser(description="the TokenCompose grounding loss (1 - the object "
                                 "words' attention inside their masks) of train_dit.py "
                                 "checkpoints on fixed batches of a latent cache")
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--cache", required=True)
    ap.add_argument("--pattern", default="shard_0000[0-3].pt",
                    help="the cache's shard files to load (default the first 4)")
    ap.add_argument("--blocks", default="0,1,2,3,4,5,6,7")
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--weights", choices=("ema", "model"), default="ema")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from train.st2v.model import St2vModel
    from train.train_dit import LatentCache
    cache = LatentCache(args.cache, args.pattern)
    blocks = [int(b) for b in args.blocks.split(",")]
    for path in args.checkpoints:
        ck = torch.load(path, map_location="cpu")
        model = St2vModel(ck["config"])
        del model.vae
        model.load_state_dict(ck[args.weights], strict=False)
        model.eval()
        res, uniform, n = measure(model, cache, blocks, batches=args.batches)
        for t, losses in res.items():
            print(f"{path} step {ck['step']} t {t}: " + " ".join(
                f"block {b} {v:.4f}" for b, v in zip(blocks, losses)) +
                f" (uniform attention {uniform:.4f}; {n} word tokens)", flush=True)


if __name__ == "__main__":
    main()
