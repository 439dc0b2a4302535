# SPDX-License-Identifier: LGPL-2.1-or-later
"""The data types of a scene: what the sampler decides and the renderer draws.

A Scene is fully determined by these fields (no hidden random state): the
renderer needs nothing else, so a scene can be stored, compared and
re-rendered.  Geometry is in pixels of the native frame.  "World"
coordinates coincide with the screen at the first frame; the camera then
pans (moves its centre along x) or zooms in (scales about the frame centre).
"""
from dataclasses import dataclass, field
from typing import List, Optional, Tuple


@dataclass
class Obj:
    shape: str                          # circle, square, triangle, star, heart
    colour: str                         # palette name (at the first frame)
    size: str                           # small, medium, large (at the first frame)
    size_px: float                      # nominal diameter, world pixels
    offset: Tuple[float, float] = (0.0, 0.0)   # from the group anchor, world pixels
    colour_end: Optional[str] = None    # set when the object changes colour

    def colours(self):
        return (self.colour,) if self.colour_end is None else (self.colour, self.colour_end)


@dataclass
class Group:
    """Objects that move as one: a single object, a counted set of identical
    objects, or a related pair.  Members keep their offsets (scaled by the
    camera zoom) around the anchor; spin and growth act on each member about
    its own centre."""
    role: str                           # single, count, relation, colour_change, mixed
    members: List[Obj]
    motion: str                         # one of palette.MOTIONS
    speed: Optional[str] = None         # slow, quick or None (unspecified)
    direction: Optional[str] = None     # spins: cw/ccw; bounce: x, y or xy
    anchor: Tuple[float, float] = (0.0, 0.0)   # world anchor of a local motion
    path: dict = field(default_factory=dict)   # motion parameters, see motion.py
    relation: Optional[str] = None      # relation groups: members[0] is left_of / above members[1]
    colour_change: Optional[Tuple[float, float]] = None  # transition window, fractions of the clip
    layout: Optional[str] = None        # count groups: row, col, diag


@dataclass
class Camera:
    kind: str = 'still'                 # still, pan_left, pan_right, zoom_in
    amount: float = 0.0                 # pan: total shift in pixels; zoom: final zoom factor


@dataclass
class Scene:
    seed: Optional[int]
    split: str                          # train or heldout
    kind: str                           # empty, single, count, relation, colour_change, mixed
    size: Tuple[int, int]               # (width, height)
    fps: int
    n_frames: int
    background: str
    bg_seed: int
    camera: Camera
    groups: List[Group]
    language: str = 'en'
    caption: str = ''
    template_id: str = ''

    @property
    def objects(self):
        return [o for g in self.groups for o in g.members]

    @property
    def duration_s(self):
        return self.n_frames / float(self.fps)
