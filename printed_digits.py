"""Printed digits that training mixes into MNIST: font glyphs, meter windows and 7-segment displays.

MNIST is all handwriting, so a network trained on it alone misreads printed shapes it never
saw: a 1 with a base, a 6 with a short stem, a narrow meter font, a 7 drawn in segments. A
few of these in the training set teach it them. Every image is drawn as a photo of it would
look (a window with its frame, light digits on a dark drum, ghost segments of an unlit LCD,
blur, uneven light) and then goes through ``preprocess.mnist_like`` as a user's image would,
so the network also learns what the preprocessing leaves of such scenes.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from fonts import PRINTED_FONTS, draw_glyph, load_font, resolve_font
from preprocess import find_digit, forked_pool

# The segments each digit lights, in the usual lettering: a top, b upper right, c lower
# right, d bottom, e lower left, f upper left, g middle. Common alternative forms second.
SEGMENTS = {
    0: ("abcdef",), 1: ("bc",), 2: ("abdeg",), 3: ("abcdg",), 4: ("bcfg",),
    5: ("acdfg",), 6: ("acdefg", "cdefg"), 7: ("abc", "abcf"), 8: ("abcdefg",), 9: ("abcdfg", "abcfg"),
}


def printed_digits(per_font: int, seed: int, fonts: Sequence[str] = PRINTED_FONTS,
                   workers: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """For every digit in every font, ``per_font`` plain glyphs (slightly rotated, some drawn
    heavier) and ``per_font`` meter scenes, in turn the glyph in a meter's window and a
    7-segment display in one: uint8 (N, 28, 28), MNIST-like, and int64 labels (N,).

    Each font has its own seeded random stream, so ``workers`` processes (one font each at a
    time) draw exactly what one would."""
    jobs = [(name, per_font, (seed, index)) for index, name in enumerate(fonts)]
    pool = forked_pool(min(workers, len(jobs)))
    if pool is None:
        parts = [_font_digits(job) for job in jobs]
    else:
        with pool:
            parts = pool.map(_font_digits, jobs)
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return images, labels


def _font_digits(job: tuple[str, int, tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    name, per_font, seed = job
    rng = np.random.default_rng(seed)
    font = load_font(resolve_font(name), size=48)  # plenty for a 20-pixel digit, and quick
    images, labels = [], []
    for digit in range(10):
        for k in range(2 * per_font):  # per_font plain glyphs, then as many meter scenes
            images.append(_scene_digit(digit, font, 0 if k < per_font else 1 + k % 2, rng))
            labels.append(digit)
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def _scene_digit(digit: int, font, kind: int, rng: np.random.Generator, tries: int = 5) -> np.ndarray:
    """The MNIST-like picture of one scene: 0 a plain glyph, 1 the glyph in a meter window,
    2 a 7-segment display in one. A scene whose digit the preprocessing misses would teach
    nothing true, so another is drawn; after ``tries`` misses, the plain glyph stands in."""
    for _ in range(tries if kind else 1):
        if kind == 0:
            scene = _plain_glyph(digit, font, rng)
        else:
            scene = meter_window(_glyph(digit, font, rng) if kind == 1 else seven_segment(digit, rng), rng)
        found = find_digit(scene)
        if found is not None and _overlap(found.box, scene.info.get("digit_box")) >= 0.7:
            return found.image
    return _scene_digit(digit, font, 0, rng)


def _overlap(found: tuple[int, int, int, int], truth: tuple[int, int, int, int] | None) -> float:
    """Intersection over union of two (left, top, right, bottom) boxes; 1 where the truth is
    the whole picture."""
    if truth is None:
        return 1.0
    width = min(found[2], truth[2]) - max(found[0], truth[0])
    height = min(found[3], truth[3]) - max(found[1], truth[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
    return inter / (area(found) + area(truth) - inter)


def _glyph(digit: int, font, rng: np.random.Generator) -> Image.Image:
    stroke = float(rng.choice([0.0, rng.uniform(0.0, 0.04)]))
    return draw_glyph(str(digit), font, stroke)


def _plain_glyph(digit: int, font, rng: np.random.Generator) -> Image.Image:
    glyph = _glyph(digit, font, rng)
    return glyph.rotate(float(rng.uniform(-5, 5)), resample=Image.Resampling.BICUBIC, expand=True)


def seven_segment(digit: int, rng: np.random.Generator, height: int = 96) -> Image.Image:
    """A 7-segment digit, white on black, segment by segment: random thickness, gaps and
    slant, one of the digit's usual forms, and sometimes the unlit segments faintly visible."""
    width = int(height * rng.uniform(0.45, 0.65))
    thick = max(3, int(height * rng.uniform(0.07, 0.14)))
    gap = int(rng.integers(1, max(2, thick // 2) + 1))
    m = thick // 2 + 2
    x0, x1, y0, y1, ym = m, width - m, m, height - m, height // 2
    ends = {  # each segment as a line between two points
        "a": ((x0, y0), (x1, y0)), "b": ((x1, y0), (x1, ym)), "c": ((x1, ym), (x1, y1)),
        "d": ((x0, y1), (x1, y1)), "e": ((x0, ym), (x0, y1)), "f": ((x0, y0), (x0, ym)), "g": ((x0, ym), (x1, ym)),
    }
    lit = str(rng.choice(SEGMENTS[digit]))
    ghost = float(rng.choice([0.0, 0.0, rng.uniform(0.08, 0.25)]))
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for name, ((ax, ay), (bx, by)) in ends.items():
        level = 255 if name in lit else round(255 * ghost)
        if level == 0:
            continue
        if ay == by:  # horizontal: shorten by the gap at both ends
            draw.line([(ax + gap, ay), (bx - gap, by)], fill=level, width=thick)
        else:
            draw.line([(ax, ay + gap), (bx, by - gap)], fill=level, width=thick)
    slant = float(rng.uniform(0.0, 0.2))  # displays lean right, if at all: the top moves right
    canvas = canvas.transform((width + int(slant * height), height), Image.Transform.AFFINE,
                              (1, slant, -slant * height, 0, 1, 0), resample=Image.Resampling.BILINEAR)
    return canvas.crop(canvas.point(lambda v: 255 if v > 128 else 0).getbbox())  # the lit segments' box


def meter_window(glyph: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A white-on-black ``glyph`` as a camera sees it in a meter: a drum or display window,
    light digits on dark or dark on light (red drums look dark in grey), narrow faces, the
    frame's edges and scale marks at the sides, uneven light, blur and noise."""
    glyph = glyph.resize((max(2, round(glyph.width * rng.uniform(0.6, 1.0))), glyph.height), Image.Resampling.BILINEAR)
    height = int(glyph.height / rng.uniform(0.55, 0.85))
    width = int(max(glyph.width / rng.uniform(0.5, 0.85), 0.55 * height))
    ink = np.zeros((height, width), np.float32)
    top = int(round((height - glyph.height) * rng.uniform(0.3, 0.7)))
    left = int(round((width - glyph.width) * rng.uniform(0.3, 0.7)))
    margins = (left, width - left - glyph.width, top, height - top - glyph.height)
    ink[top:top + glyph.height, left:left + glyph.width] = np.asarray(glyph, np.float32) / 255
    ground, digit = (rng.uniform(0.05, 0.4), rng.uniform(0.65, 1.0)) if rng.random() < 0.5 \
        else (rng.uniform(0.6, 1.0), rng.uniform(0.0, 0.35))
    scene = ground + (digit - ground) * ink
    frame = ground + (rng.uniform(0.5, 1.0) if ground < 0.5 else -rng.uniform(0.5, 1.0)) * rng.uniform(0.4, 1.0)
    for side in rng.permutation(4)[:int(rng.integers(0, 3))]:  # the window's edges, clear of the digit
        depth = int(rng.uniform(0.3, 0.95) * margins[side])
        if depth < 1:
            continue
        region = (np.s_[:, :depth], np.s_[:, -depth:], np.s_[:depth, :], np.s_[-depth:, :])[side]
        scene[region] = frame
    if rng.random() < 0.3 and margins[1] > 2:  # scale marks beside the digit
        x = width - int(rng.uniform(0.3, 0.9) * margins[1])
        for y in range(int(rng.integers(2, 8)), height, max(3, height // int(rng.integers(6, 12)))):
            scene[y:y + max(1, height // 60) + 1, x:] = digit
    if rng.random() < 0.5:  # a drum curves away from the light at its top and bottom
        curve = np.abs(np.linspace(-1, 1, height, dtype=np.float32))[:, None] ** rng.uniform(2, 6)
        scene = scene * (1 - rng.uniform(0.3, 0.8) * curve)
    light = np.linspace(rng.uniform(-0.15, 0.15), rng.uniform(-0.15, 0.15), height, dtype=np.float32)[:, None]
    scene = np.clip(scene + light + rng.normal(0, rng.uniform(0, 0.04), scene.shape), 0, 1)
    image = Image.fromarray(np.round(scene * 255).astype(np.uint8), mode="L")
    if rng.random() < 0.5:
        image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.5)) * height / 64))
    image.info["digit_box"] = (left, top, left + glyph.width, top + glyph.height)
    return image
