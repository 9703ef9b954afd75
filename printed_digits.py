"""Printed digits that training mixes into MNIST: font glyphs, meter drums and 7-segment displays.

MNIST is all handwriting, so a network trained on it alone misreads printed shapes it never
saw: a 1 with a base, a 6 with a short stem, a narrow meter font, a 7 drawn in segments. A
few of these in the training set teach it them. Every image is drawn as a photo of it would
look (a window with its frame, light digits on a dark drum, ghost segments of an unlit LCD,
blur, uneven light) and then goes through ``preprocess.mnist_like`` as a user's image would,
so the network also learns what the preprocessing leaves of such scenes.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np
import PIL
from PIL import Image, ImageDraw, ImageFilter

import fonts as font_files
import preprocess
from artifacts import atomic_write
from fonts import PRINTED_FONTS, draw_glyph, load_font, resolve_font
from batch import map_in_processes
from preprocess import find_digit

# The segments each digit lights, in the usual lettering: a top, b upper right, c lower
# right, d bottom, e lower left, f upper left, g middle. Common alternative forms second.
SEGMENTS = {
    0: ("abcdef",), 1: ("bc",), 2: ("abdeg",), 3: ("abcdg",), 4: ("bcfg",),
    5: ("acdfg",), 6: ("acdefg", "cdefg"), 7: ("abc", "abcf"), 8: ("abcdefg",), 9: ("abcdfg", "abcfg"),
}


METER_SCENES_PER_GLYPH = 3  # meter digits are where print parts most from handwriting, and the hardest to read


CACHE_ENV = "LENET5_CACHE_DIR"
CACHE_FILES_KEPT = 8  # a few seeds' and settings' worth; older ones are removed


def default_cache_dir() -> Path:
    """Where drawn training material is kept between runs: $LENET5_CACHE_DIR, else
    lenet5/ in the user's cache folder ($XDG_CACHE_HOME, else ~/.cache)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lenet5"


def printed_digits(per_font: int, seed: int, fonts: Sequence[str] = PRINTED_FONTS, workers: int = 1,
                   cache_dir: Path | None = None, whole_windows: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """For every digit in every font, ``per_font`` plain glyphs (slightly rotated, some drawn
    heavier) and METER_SCENES_PER_GLYPH times as many meter scenes, two in three a drum's
    window (lettered in the font or in DIN's) and one in three a 7-segment display, with
    ``whole_windows`` each window read whole too where the preprocessing reads it so (see
    ``_scene_pictures``): uint8 (N, 28, 28), MNIST-like, and int64 labels (N,).

    Each font has its own seeded random stream, so ``workers`` processes (one font each at a
    time) draw exactly what one would. Drawing runs every scene through the preprocessing,
    about 25 s on two cores for the default 4,200 scenes; with ``cache_dir`` the result is kept
    there, under a key of everything that shapes it (the settings, this code, the
    preprocessing, the font files and the imaging libraries), and read back in a tenth of a
    second by every later run that would draw the same."""
    key = _cache_key(per_font, seed, fonts, whole_windows)
    cache = None if cache_dir is None else Path(cache_dir) / f"printed_digits_{key}.npz"
    return kept_in(cache, lambda: _draw(per_font, seed, fonts, workers, whole_windows))


def kept_in(cache: Path | None, draw: Callable[[], tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """``draw()``'s images and labels, read from ``cache`` where an earlier run kept them
    there, else drawn and kept (atomically; the oldest files of the same kind beyond
    CACHE_FILES_KEPT are removed). A read-only or full cache folder costs time, nothing else."""
    if cache is not None:
        try:
            with np.load(cache) as saved:
                return saved["images"], saved["labels"]
        except (OSError, KeyError, ValueError):  # not there yet, or unreadable: draw again
            pass
    images, labels = draw()
    if cache is not None:
        buffer = io.BytesIO()
        np.savez(buffer, images=images, labels=labels)
        kind = cache.name.rsplit("_", 1)[0]
        try:
            atomic_write(cache, lambda tmp: tmp.write_bytes(buffer.getvalue()))
            for old in sorted(cache.parent.glob(f"{kind}_*.npz"), key=lambda p: p.stat().st_mtime)[:-CACHE_FILES_KEPT]:
                old.unlink(missing_ok=True)
        except OSError:
            pass
    return images, labels


def _cache_key(per_font: int, seed: int, fonts: Sequence[str], whole_windows: bool) -> str:
    digest = hashlib.sha256(repr((per_font, seed, tuple(fonts), whole_windows, np.__version__, PIL.__version__,
                                  cv2.__version__)).encode())
    for module in (__file__, font_files.__file__, preprocess.__file__):
        digest.update(Path(module).read_bytes())
    for name in fonts:
        path = resolve_font(name)
        digest.update(f"{path}:{path.stat().st_size}:{path.stat().st_mtime_ns}".encode())
    return digest.hexdigest()[:20]


def _draw(per_font: int, seed: int, fonts: Sequence[str], workers: int,
          whole_windows: bool) -> tuple[np.ndarray, np.ndarray]:
    jobs = [(name, per_font, (seed, index), whole_windows) for index, name in enumerate(fonts)]
    parts = map_in_processes(_font_digits, jobs, min(workers, len(jobs)))
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return images, labels


def _font_digits(job: tuple[str, int, tuple[int, int], bool]) -> tuple[np.ndarray, np.ndarray]:
    name, per_font, seed, whole_windows = job
    rng = np.random.default_rng(seed)
    font = load_font(resolve_font(name), size=48)  # plenty for a 20-pixel digit, and quick
    images, labels = [], []
    for digit in range(10):
        kinds = [0] * per_font + [2 if k % 3 == 0 else 1 for k in range(METER_SCENES_PER_GLYPH * per_font)]
        for kind in kinds:
            for image in _scene_pictures(digit, font, kind, rng, whole_windows):
                images.append(image)
                labels.append(digit)
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def _scene_pictures(digit: int, font, kind: int, rng: np.random.Generator, whole_windows: bool = True,
                    tries: int = 5) -> list[np.ndarray]:
    """The MNIST-like pictures of one scene: 0 a plain glyph, 1 the glyph in a meter window,
    2 a 7-segment display in one. A scene whose digit the preprocessing misses would teach
    nothing true, so another is drawn; after ``tries`` misses, the plain glyph stands in.
    With ``whole_windows``, a window that the preprocessing also reads whole, neighbours'
    slivers and all (its last reading is the whole picture, as for a real meter crop), gives
    that reading as a second picture, so the network knows it: the real meter crops 89.0, 90.5
    and 89.0% against 87.0, 87.0 and 85.25% (seeds 1-3, docs/training.md), the real check
    amounts 0.8-1.8 points fewer (so the numbers preset goes without)."""
    for _ in range(tries if kind else 1):
        if kind == 0:
            scene = _plain_glyph(digit, font, rng)
        elif kind == 1:  # a drum, lettered in the font or in DIN's; the digits before and after it may show
            din = rng.random() < 0.5
            scene = drum_window(digit, (lambda d: din_digit(d, rng)) if din else (lambda d: font_glyph(d, font, rng)),
                                rng)
        else:
            scene = meter_window(seven_segment(digit, rng), rng)
        found = find_digit(scene)
        if found is not None and box_overlap(found.box, scene.info.get("digit_box")) >= 0.6:
            whole = found.readings[-1]
            if whole_windows and kind and len(found.readings) > 1 and whole.box == (0, 0, *scene.size):
                return [found.image, whole.image]
            return [found.image]
    return _scene_pictures(digit, font, 0, rng)


def box_overlap(found: tuple[int, int, int, int], truth: tuple[int, int, int, int] | None) -> float:
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


def font_glyph(digit: int, font, rng: np.random.Generator) -> Image.Image:
    """The digit in ``font``, white on black, drawn heavier now and then."""
    stroke = float(rng.choice([0.0, rng.uniform(0.0, 0.04)]))
    return draw_glyph(str(digit), font, stroke)


def _plain_glyph(digit: int, font, rng: np.random.Generator) -> Image.Image:
    glyph = font_glyph(digit, font, rng)
    return glyph.rotate(float(rng.uniform(-5, 5)), resample=Image.Resampling.BICUBIC, expand=True)


def din_digit(digit: int, rng: np.random.Generator, height: int = 96) -> Image.Image:
    """A digit in the manner of DIN 1451, the lettering of most meter drums, drawn stroke by
    stroke (white on black, cropped to its ink): none of matplotlib's fonts has its 1 with a
    long flag and no base, its open 4, or its 6 and 9 with straight stems. Stroke weight,
    width and those forms vary."""
    pen = max(3, int(height * rng.uniform(0.08, 0.14)))
    width = int(height * rng.uniform(0.48, 0.62))
    margin = pen // 2 + 2
    canvas = Image.new("L", (width + 2 * margin, height + 2 * margin), 0)
    draw = ImageDraw.Draw(canvas)
    x0, x1, y0, y1 = margin, margin + width, margin, margin + height
    half = pen / 2

    def line(points):
        draw.line(points, fill=255, width=pen, joint="curve")

    def arc(box, start, end):
        draw.arc(box, start, end, fill=255, width=pen)

    if digit == 0:
        draw.rounded_rectangle([x0 - half, y0 - half, x1 + half, y1 + half], radius=int(width / 2 + half),
                               outline=255, width=pen)
    elif digit == 1:
        stem = x0 + rng.uniform(0.55, 0.75) * width
        line([(stem, y0), (stem, y1)])
        line([(stem, y0 + 0.7 * half), (stem - rng.uniform(0.35, 0.55) * width, y0 + rng.uniform(0.18, 0.32) * height)])
        if rng.random() < 0.15:  # a base, now and then
            line([(x0 + 0.15 * width, y1 - 0.7 * half), (x1 - 0.05 * width, y1 - 0.7 * half)])
    elif digit == 2:
        radius = width / 2
        arc([x0, y0, x1, y0 + 2 * radius], 180, 400)
        angle = np.radians(40)
        line([(x0 + radius * (1 + np.cos(angle)), y0 + radius * (1 + np.sin(angle))),
              (x0, y1 - 0.7 * half), (x1, y1 - 0.7 * half)])
    elif digit == 3:
        middle = (y0 + y1) / 2
        if rng.random() < 0.5:  # a flat top and a diagonal into the lower bowl
            line([(x0 + 0.05 * width, y0), (x1 - 0.05 * width, y0), (x0 + 0.4 * width, middle - 0.05 * height)])
        else:
            arc([x0 + 0.08 * width, y0, x1 - 0.04 * width, middle + 0.5 * half], 190, 450)
        arc([x0, middle - 0.08 * height, x1, y1], 270, 520)
    elif digit == 4:
        stem = x0 + rng.uniform(0.65, 0.8) * width
        bar = y0 + rng.uniform(0.62, 0.72) * height
        if rng.random() < 0.5:  # open: the diagonal stops short of the stem
            line([(x0 + rng.uniform(0.3, 0.5) * width, y0), (x0, bar), (x1, bar)])
            line([(stem, y0 + rng.uniform(0.3, 0.45) * height), (stem, y1)])
        else:
            line([(stem, y1), (stem, y0), (x0, bar), (x1, bar)])
    elif digit == 5:
        waist = y0 + rng.uniform(0.38, 0.45) * height
        line([(x1 - 0.05 * width, y0), (x0 + 0.08 * width, y0), (x0 + 0.02 * width, waist + 0.05 * height)])
        arc([x0 - 0.02 * width, waist, x1, y1], 200, 510)
    elif digit in (6, 9):  # a 9 is a 6 turned round
        bowl_top = y1 - width
        draw.ellipse([x0, bowl_top, x1, y1], outline=255, width=pen)
        if rng.random() < 0.6:  # a straight stem into the bowl
            line([(x0 + 0.12 * width, bowl_top + 0.22 * width), (x0 + rng.uniform(0.55, 0.75) * width, y0)])
        else:
            arc([x0, y0, x1 + 0.6 * width, y1 + 0.4 * height], 180, 250)
        if digit == 9:
            canvas = canvas.rotate(180)
    elif digit == 7:
        line([(x0, y0), (x1, y0), (x0 + rng.uniform(0.15, 0.4) * width, y1)])
    else:  # 8: two bowls, the upper one a little narrower
        waist = y0 + rng.uniform(0.43, 0.48) * height
        draw.ellipse([x0 + 0.08 * width, y0, x1 - 0.08 * width, waist + half], outline=255, width=pen)
        draw.ellipse([x0, waist - half, x1, y1], outline=255, width=pen)
    return canvas.crop(canvas.getbbox())


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


def drum_window(digit: int, draw: Callable[[int], Image.Image], rng: np.random.Generator) -> Image.Image:
    """A meter drum's window showing ``digit`` as ``draw`` letters it, with slivers of the next
    digit up the drum and the one before it below (``meter_window``)."""
    return meter_window(draw(digit), rng, neighbours=(draw((digit + 1) % 10), draw((digit + 9) % 10)))


def meter_window(glyph: Image.Image, rng: np.random.Generator,
                 neighbours: tuple[Image.Image, Image.Image] | None = None) -> Image.Image:
    """A white-on-black ``glyph`` as a camera sees it in a meter: a drum or display window,
    light digits on dark or dark on light (red drums look dark in grey), narrow faces, the
    frame's edges and scale marks at the sides, thin rims beside, above and below the digit
    (often touching it), a sliver of the ``neighbours`` (the digits above and below it on a
    drum), uneven light, blur, noise, and sometimes few pixels (a small crop of a distant
    meter). The digit's box is in ``info["digit_box"]``."""
    glyph = glyph.resize((max(2, round(glyph.width * rng.uniform(0.6, 1.0))), glyph.height), Image.Resampling.BILINEAR)
    height = int(glyph.height / rng.uniform(0.55, 0.85))
    width = int(max(glyph.width / rng.uniform(0.5, 0.85), 0.55 * height))
    ink = np.zeros((height, width), np.float32)
    top = int(round((height - glyph.height) * rng.uniform(0.3, 0.7)))
    left = int(round((width - glyph.width) * rng.uniform(0.3, 0.7)))
    margins = (left, width - left - glyph.width, top, height - top - glyph.height)
    ink[top:top + glyph.height, left:left + glyph.width] = np.asarray(glyph, np.float32) / 255
    if neighbours is not None:  # a sliver of the next digit on the drum above, of the one before below
        for side, neighbour in zip(("top", "bottom"), neighbours):
            margin = top if side == "top" else height - top - glyph.height
            shown = int(rng.uniform(0.03, 0.2) * glyph.height)
            if rng.random() < 0.4 and 3 <= shown < margin - 2:
                strip = np.asarray(neighbour.resize((glyph.width, glyph.height), Image.Resampling.BILINEAR),
                                   np.float32) / 255
                if side == "top":
                    ink[:shown, left:left + glyph.width] = strip[-shown:]
                else:
                    ink[height - shown:, left:left + glyph.width] = strip[:shown]
    for side in ("left", "right"):  # the window's rim: a thin upright line close beside the digit
        margin = left if side == "left" else width - left - glyph.width
        if rng.random() < 0.35 and margin > 3:
            thick = max(1, int(width * rng.uniform(0.02, 0.05)))
            gap = 0 if rng.random() < 0.4 else int(rng.uniform(0.0, 0.7) * (margin - thick))  # often touching it
            x = left - gap - thick if side == "left" else left + glyph.width + gap
            y0, y1 = sorted(rng.integers(0, height // 5, 2) * [1, -1] + [0, height])
            ink[y0:y1, max(0, x):x + thick] = np.maximum(ink[y0:y1, max(0, x):x + thick], rng.uniform(0.5, 1.0))
    if rng.random() < 0.3:  # a thin bright or dark line across the window above or below the digit: a bevel, a rim
        below = bool(rng.random() < 0.5)
        margin = height - top - glyph.height if below else top
        if margin > 4:
            thick = max(1, int(height * rng.uniform(0.01, 0.03)))
            reach = 0.0 if rng.random() < 0.4 else rng.uniform(0.2, 0.8)  # often touching the digit
            y = top + glyph.height + int(reach * (margin - thick)) if below else top - thick - int(reach * (margin - thick))
            ink[y:y + thick, :] = np.maximum(ink[y:y + thick, :], rng.uniform(0.5, 1.0))
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
    box = (left, top, left + glyph.width, top + glyph.height)
    if rng.random() < 0.5:  # a small crop of a distant meter: few pixels, soft
        ratio = rng.uniform(24, 48) / height
        if ratio < 1:
            image = image.resize((max(8, round(width * ratio)), max(8, round(height * ratio))), Image.Resampling.BOX)
            box = tuple(round(v * ratio) for v in box)
    image.info["digit_box"] = box
    return image
