"""MNIST digits composed into numbers, and the pieces of numbers that are no digit.

``number_image`` writes a row of MNIST digits as a person writes an amount: uneven spacing,
some pairs touching or overlapping, a separator or two, a trailing dash, a printed baseline,
a grey paper; seeded, for tests and benchmarks. ``not_digits`` draws what cutting such a row
offers the network that is not one digit: two touching digits as one, a digit cut in half,
a digit with a slice of its neighbour; train.py --not-a-digit teaches them as "none".
"""

from __future__ import annotations

import cv2
import numpy as np

from preprocess import frame_ink

INK = 0.3  # an MNIST pixel above this (0-1) is ink


def _cropped(digit: np.ndarray) -> np.ndarray:
    """An MNIST digit (uint8 28x28) as 0-1 ink cropped to its strokes (whole, where it has none)."""
    ink = digit.astype(np.float32) / 255
    cropped = _tight(ink, rows=1, cols=1)
    return ink if cropped is None else cropped


def _side_by_side(left: np.ndarray, right: np.ndarray, gap: int, drop: int = 0) -> np.ndarray:
    """Two inks on one canvas, ``right`` ``gap`` pixels after ``left`` (negative: overlapping)
    and ``drop`` pixels lower; where they overlap the darker ink wins."""
    h = max(left.shape[0], right.shape[0] + max(drop, 0)) + max(-drop, 0)
    x = max(0, left.shape[1] + gap)
    w = max(left.shape[1], x + right.shape[1])
    canvas = np.zeros((h, w), np.float32)
    top_left, top_right = max(-drop, 0), max(drop, 0)
    canvas[top_left:top_left + left.shape[0], :left.shape[1]] = left
    region = canvas[top_right:top_right + right.shape[0], x:x + right.shape[1]]
    np.maximum(region, right, out=region)
    return canvas


def _tight(ink: np.ndarray, rows: int = 3, cols: int = 2) -> np.ndarray | None:
    """0-1 ink cropped to its strokes, or None where they span fewer than ``rows`` rows or
    ``cols`` columns (too little left to be anything)."""
    inked_rows, inked_cols = np.flatnonzero(ink.max(1) > INK), np.flatnonzero(ink.max(0) > INK)
    if len(inked_rows) < rows or len(inked_cols) < cols:
        return None
    return ink[inked_rows[0]:inked_rows[-1] + 1, inked_cols[0]:inked_cols[-1] + 1]


def not_digits(images: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` MNIST-like images (uint8, count x 28 x 28) of what is not one digit, drawn
    from ``images`` (MNIST-like digits): two digits touching or overlapping read as one, a
    digit's left or right part, a digit with a slice of its neighbour, two slices."""
    made = []
    while len(made) < count:
        a, b = (_cropped(images[i]) for i in rng.integers(0, len(images), 2))
        kind = rng.integers(4)
        if kind == 0:  # touching or overlapping pair
            ink = _side_by_side(a, b, int(rng.uniform(-0.35, 0.1) * b.shape[1]), int(rng.integers(-3, 4)))
        elif kind == 1:  # a digit cut in two, one side kept
            if a.shape[1] < 0.5 * a.shape[0]:
                continue  # a 1 cut lengthwise is still a 1
            cut = int(rng.uniform(0.3, 0.7) * a.shape[1])
            ink = a[:, :cut] if rng.random() < 0.5 else a[:, cut:]
        elif kind == 2:  # a digit with a slice of its neighbour
            if b.shape[1] < 0.5 * b.shape[0]:
                continue
            cut = int(rng.uniform(0.25, 0.5) * b.shape[1])
            if rng.random() < 0.5:
                ink = _side_by_side(a, b[:, :cut], int(rng.integers(-2, 2)))
            else:
                ink = _side_by_side(b[:, -cut:], a, int(rng.integers(-2, 2)))
        else:  # the right part of one digit and the left part of the next
            if min(a.shape[1] / a.shape[0], b.shape[1] / b.shape[0]) < 0.5:
                continue
            ca, cb = int(rng.uniform(0.3, 0.6) * a.shape[1]), int(rng.uniform(0.3, 0.6) * b.shape[1])
            ink = _side_by_side(a[:, ca:], b[:, :cb], int(rng.integers(-2, 3)))
        ink = _tight(ink)
        if ink is not None:
            made.append(frame_ink(ink))
    return np.stack(made) if made else np.zeros((0, 28, 28), np.uint8)


def number_image(digits: np.ndarray, rng: np.random.Generator, touching: bool = False, broken: bool = False,
                 separators: bool = True, baseline: bool = True, height: int = 48) -> np.ndarray:
    """A grey image (0-1, dark ink on light paper) of the MNIST digits ``digits`` (uint8,
    N x 28 x 28) written left to right at about ``height`` pixels: spacing varies, one pair
    touches where ``touching``, one digit's strokes are broken across its middle where
    ``broken`` (a pen that skipped), and with ``separators`` there may be a thousands dot
    and a trailing dash or "=", with ``baseline`` a printed line under it all."""
    scale = height / 20 * rng.uniform(0.9, 1.1)
    pieces = [cv2.resize(_cropped(d), None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR) for d in digits]
    if broken:
        piece = pieces[int(rng.integers(0, len(pieces)))]
        gap = int(rng.uniform(0.4, 0.6) * piece.shape[0])
        piece[gap:gap + max(2, height // 16)] = 0
    touch = int(rng.integers(0, len(pieces) - 1)) if touching and len(pieces) > 1 else -1
    pad = int(0.4 * height)
    width = sum(p.shape[1] for p in pieces) + pad * (len(pieces) + 4)
    canvas = np.zeros((height * 2, width), np.float32)
    x, base = pad, int(1.5 * height)
    dot_after = len(pieces) - 4 if separators and len(pieces) > 3 and rng.random() < 0.6 else -1
    for i, piece in enumerate(pieces):
        top = base - piece.shape[0] + int(rng.integers(-2, 3))
        region = canvas[top:top + piece.shape[0], x:x + piece.shape[1]]
        np.maximum(region, piece, out=region)
        x += piece.shape[1]
        if i == touch:
            x -= int(rng.uniform(0.05, 0.2) * piece.shape[1])  # the next digit's stroke meets this one's
        elif i == dot_after:
            dot = max(2, height // 12)
            cv2.circle(canvas, (x + pad // 2, base - dot), dot, 1.0, -1)
            x += pad
        else:
            x += int(rng.uniform(0.12, 0.45) * height)
    if separators and rng.random() < 0.5:
        y = base - height // 2
        cv2.line(canvas, (x + pad // 2, y), (x + pad // 2 + height // 2, y), 1.0, max(2, height // 14))
        if rng.random() < 0.4:
            cv2.line(canvas, (x + pad // 2, y + height // 5), (x + pad // 2 + height // 2, y + height // 5), 1.0,
                     max(2, height // 14))
        x += pad + height // 2
    canvas = canvas[:, :x + pad]
    if baseline:
        cv2.line(canvas, (0, base + 3), (canvas.shape[1] - 1, base + 3), 0.6, 1)
    paper = rng.uniform(0.75, 0.95)
    image = paper - canvas * (paper - rng.uniform(0.05, 0.3))
    image += rng.normal(0, 0.02, image.shape)
    return np.clip(image, 0, 1).astype(np.float32)
