"""Handwritten forms that MNIST seldom has, drawn onto MNIST's own digits for training.

MNIST's writers were American. Much of the world starts a 1 with a long flag up from the
left and crosses the stem of its 7. A network that never saw these reads such a 1 as 7 or
4 and such a 7 as 4 or 3. Redrawing a few of MNIST's 1s and 7s the European way teaches it
both, while every other stroke stays a real person's handwriting.
"""

from __future__ import annotations

import cv2
import numpy as np

from preprocess import stroke_width

DRAW_SCALE = 4  # strokes are drawn at 4x and shrunk, so their edges are soft like MNIST's
INK = 128  # a pixel at least this bright is ink (MNIST's strokes are 0-255, white on black)
FLAG_LENGTH = (0.3, 0.6)  # the flag's length, as a share of the digit's height
FLAG_ANGLE = (25.0, 60.0)  # how steeply it falls to the left from the stem's top, in degrees
BAR_HALF = (0.2, 0.32)  # half the bar across a 7's stem, as a share of the digit's height
BAR_HEIGHT = (0.45, 0.6)  # where the bar crosses the stem, from the top, as a share of the height


def european_forms(images: np.ndarray, labels: np.ndarray, per_digit: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``per_digit`` of the 1s in ``images`` (uint8, N x 28 x 28, MNIST-like) redrawn
    with a flag and as many 7s with a bar, picked at random: new uint8 images and their
    int64 labels. A digit too small or too odd to draw on is passed over."""
    drawn, drawn_labels = [], []
    for digit, redraw in ((1, flagged_one), (7, barred_seven)):
        made = 0
        for index in rng.permutation(np.flatnonzero(labels == digit)):
            if made == per_digit:
                break
            image = redraw(images[index], rng)
            if image is not None:
                drawn.append(image)
                drawn_labels.append(digit)
                made += 1
    if not drawn:
        return np.zeros((0, *images.shape[1:]), np.uint8), np.zeros(0, np.int64)
    return np.stack(drawn), np.asarray(drawn_labels, dtype=np.int64)


def flagged_one(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """A 1 with a straight flag falling to the left from the top of its stem, in its own pen."""
    extent = _ink_rows(digit)
    if extent is None:
        return None
    top, height = extent
    cols = np.flatnonzero(digit[top + 1] >= INK)
    if len(cols) == 0:
        return None
    start = (cols.mean(), top + 1.0)
    length = height * rng.uniform(*FLAG_LENGTH)
    angle = np.radians(rng.uniform(*FLAG_ANGLE))
    end = (start[0] - length * np.cos(angle), start[1] + length * np.sin(angle))
    if end[0] < 1:  # no room on the left
        return None
    return _with_stroke(digit, start, end)


def barred_seven(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """A 7 with a short, nearly level bar across its stem a little below the middle."""
    extent = _ink_rows(digit)
    if extent is None:
        return None
    top, height = extent
    y = int(round(top + height * rng.uniform(*BAR_HEIGHT)))
    cols = np.flatnonzero(digit[y] >= INK)
    if len(cols) == 0:
        return None
    x, half = cols.mean(), height * rng.uniform(*BAR_HALF)
    tilt = rng.uniform(-0.1, 0.1) * half
    return _with_stroke(digit, (x - half, y + tilt), (x + half, y - tilt))


def _ink_rows(digit: np.ndarray) -> tuple[int, int] | None:
    """The top row of the digit's ink and its height, or None for a digit under 8 rows tall."""
    rows = np.flatnonzero(digit.max(1) >= INK)
    if len(rows) < 8:
        return None
    return int(rows[0]), int(rows[-1] - rows[0])


def _with_stroke(digit: np.ndarray, start: tuple[float, float], end: tuple[float, float]) -> np.ndarray:
    """``digit`` with a straight stroke from ``start`` to ``end`` (x, y) as wide as its own."""
    pen = float(np.clip(stroke_width(digit >= INK), 1.5, 4.0))
    side = digit.shape[0] * DRAW_SCALE
    canvas = np.zeros((side, side), np.uint8)
    point = lambda p: (int(round(p[0] * DRAW_SCALE)), int(round(p[1] * DRAW_SCALE)))  # noqa: E731
    cv2.line(canvas, point(start), point(end), 255, max(1, round(pen * DRAW_SCALE)), cv2.LINE_AA)
    stroke = cv2.resize(canvas, digit.shape[::-1], interpolation=cv2.INTER_AREA)
    return np.maximum(digit, stroke)
