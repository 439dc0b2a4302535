# SPDX-License-Identifier: LGPL-2.1-or-later
"""What both caption languages share: the random phrase choices of one
caption (pick, maybe, the camera clause, the filler prefix) and the
accessors of a scene's first group and object. Each language's Ctx
subclasses PhraseCtx and names its own CAM and FILLERS tables."""


class PhraseCtx:
    CAM = {}         # camera kind -> phrases
    FILLERS = ()     # optional caption prefixes

    def __init__(self, scene, rng):
        self.scene = scene
        self.rng = rng

    def pick(self, items):
        return items[int(self.rng.integers(len(items)))]

    def maybe(self, p):
        return bool(self.rng.random() < p)

    def cam(self):
        kind = self.scene.camera.kind
        if self.maybe(0.6 if kind != 'still' else 0.15):
            return ', ' + self.pick(self.CAM[kind])
        return ''

    def filler(self, p=0.45):
        return self.pick(self.FILLERS) if self.maybe(p) else ''


def first_group(c):
    return c.scene.groups[0]


def first_object(c):
    return c.scene.groups[0].members[0]
