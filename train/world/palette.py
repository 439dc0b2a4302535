# SPDX-License-Identifier: LGPL-2.1-or-later
"""Colours, shapes, sizes and backgrounds of the st2v training world: the fixed vocabulary.

Everything here is data.  Colour values are sRGB 0..255 as listed in the
issue; sizes are fractions of the frame height (both native sizes are 128
pixels tall).
"""

FPS = 16
NATIVE_SIZES = ((128, 128), (224, 128))          # (width, height)
FRAME_CHOICES = (32, 40, 48, 56, 64)              # 2, 2.5, 3, 3.5, 4 s at 16 fps
MIN_FRAMES, MAX_FRAMES = 32, 64

COLOURS = {
    'red': (224, 32, 32),
    'orange': (240, 128, 32),
    'yellow': (240, 224, 32),
    'green': (32, 176, 64),
    'cyan': (32, 208, 224),
    'blue': (32, 64, 224),
    'purple': (144, 48, 208),
    'pink': (240, 112, 176),
    'white': (240, 240, 240),
}
COLOUR_NAMES = tuple(COLOURS)

SHAPES = ('circle', 'square', 'triangle', 'star', 'heart')

# Nominal object "diameter" as a fraction of the frame height.
SIZES = {'small': 0.15, 'medium': 0.23, 'large': 0.33}
SIZE_NAMES = tuple(SIZES)

MOTIONS = ('left', 'right', 'up', 'down', 'bounce', 'falls', 'rises',
           'spins', 'grows', 'shrinks', 'still')
# Motions whose path is laid out in screen space (the object travels across
# the frame); the others keep the object at a fixed place in the world, so it
# moves with the background when the camera pans or zooms.
TRAVEL_MOTIONS = ('left', 'right', 'up', 'down', 'bounce', 'falls', 'rises')
LOCAL_MOTIONS = ('spins', 'grows', 'shrinks', 'still')
SPEEDS = ('slow', 'quick')

PLAIN_BACKGROUNDS = {
    'black': (16, 16, 16),
    'gray': (128, 128, 128),
    'white': (240, 240, 240),
    'green_screen': (0, 177, 64),
    'blue_screen': (0, 71, 187),
}
TEXTURED_BACKGROUNDS = ('day_sky', 'sunset_sea', 'night_sky', 'snowfall', 'rain', 'meadow')
BACKGROUNDS = tuple(PLAIN_BACKGROUNDS) + TEXTURED_BACKGROUNDS

# Colours that make up each background, used to keep objects visible (and,
# on the keying screens, keyable): an object colour closer than
# MIN_CONTRAST to any of them is never drawn on that background.
BACKGROUND_TONES = {
    'black': [(16, 16, 16)],
    'gray': [(128, 128, 128)],
    'white': [(240, 240, 240)],
    'green_screen': [(0, 177, 64)],
    'blue_screen': [(0, 71, 187)],
    'day_sky': [(80, 150, 230), (180, 215, 245), (250, 250, 252)],
    'sunset_sea': [(250, 130, 60), (255, 200, 110), (70, 40, 110), (30, 35, 80)],
    'night_sky': [(6, 8, 30), (20, 30, 70)],
    'snowfall': [(120, 130, 150), (185, 190, 200), (245, 245, 250)],
    'rain': [(60, 65, 75), (105, 110, 120)],
    'meadow': [(90, 150, 230), (180, 215, 245), (60, 140, 50), (30, 100, 30)],
}
MIN_CONTRAST = 75.0

CAMERAS = ('still', 'pan_left', 'pan_right', 'zoom_in')


def colour_distance(a, b):
    return sum((float(x) - float(y)) ** 2 for x, y in zip(a, b)) ** 0.5


def colour_ok_on(colour, background):
    """True when `colour` stands out from every tone of `background`."""
    rgb = COLOURS[colour]
    return all(colour_distance(rgb, t) >= MIN_CONTRAST for t in BACKGROUND_TONES[background])
