"""Photo-like pages drawn from a physical description, for measuring what the preprocessing
does to kinds of image it was not tuned on: a digit written on squared or ruled paper and
photographed, a digit drawn so large on a canvas that it runs off the edge, and a number
written small on a sheet (plain, squared or ruled) and photographed.

Every page is drawn from parameters taken at random from ranges (line spacing, the grid's
colour and darkness from faint to as dark as the ink, the pen from fine to bold, a few
degrees of rotation, perspective, a lens's barrel or pincushion curve, blur, noise, JPEG,
uneven light and a shadow), so a set of them tests the kind, not a handful of pictures. The
digits are MNIST's (uint8 28x28, white on black), so a page's label is the digit's; the pen
draws them as wide along every part as a pen is, following the stroke's centre line where it
is finer than MNIST's stroke.

Nothing here was derived from ../shared/realworld/: the ranges are what paper, pens and
phone cameras are (5 mm squares, a 0.5 mm ballpoint, a 12-megapixel photo's blur and JPEG).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

import number_pages
import preprocess
from batch import map_in_processes
from preprocess import find_digit, stroke_width
from printed_digits import box_overlap, kept_in

PHOTO_SIZE = (800, 600)  # a phone photo, scaled down; the preprocessing searches at 640 pixels anyway
PAGE_SHARES = {"squared": 4, "ruled": 2, "edge": 3}  # of training's pages, as training_pages shares them
TRAINING_SIZE = (400, 300)  # training's pages: the digit found as in PHOTO_SIZE, drawn and searched in a fifth of the time
# colours as what each lets through of white light (RGB, 0-1): ink and printed lines
PENS = {"black": (0.12, 0.12, 0.14), "blue": (0.16, 0.24, 0.62), "dark blue": (0.1, 0.12, 0.35),
        "pencil": (0.35, 0.35, 0.36)}
GRIDS = {"grey": (0.45, 0.45, 0.45), "light blue": (0.45, 0.7, 0.95), "green": (0.5, 0.8, 0.55),
         "blue": (0.3, 0.5, 0.9)}


def _pen_stroke(digit: np.ndarray, pen: float) -> np.ndarray:
    """The MNIST digit as a pen stroke, 8x larger (float 0-1, 224x224): MNIST's strokes are
    about a seventh of the digit's height; ``pen`` is the wanted width as a share of it
    (a ballpoint's 0.5 mm on a 15 mm digit is 0.03). A pen finer than MNIST's stroke is
    drawn along the stroke's centre line, so the thin parts of a digit (the side of a 0, a
    9's loop) come out as wide as the rest, as a pen draws them; eroding the whole stroke by
    the same amount took them away."""
    big = cv2.resize(digit, (224, 224), interpolation=cv2.INTER_CUBIC)
    stroke = (big > 110).astype(np.uint8)
    rows = np.flatnonzero(stroke.any(1))
    height = rows[-1] - rows[0] + 1 if len(rows) else 160
    width = stroke_width(stroke > 0)
    if pen * height > width:
        change = int(round((pen * height - width) / 2))  # pixels to add each side
        stroke = cv2.dilate(stroke, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * change + 1,) * 2))
    elif stroke.any():
        nib = max(1, int(round(pen * height))) | 1
        stroke = cv2.dilate(_centre_line(stroke), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (nib, nib)))
    return cv2.GaussianBlur(stroke.astype(np.float32), (0, 0), 1.5)


def _centre_line(mask: np.ndarray) -> np.ndarray:
    """The one-pixel centre line of a binary stroke (Zhang and Suen's thinning, 1984): each
    pass takes off the border pixels whose 3x3 neighbourhood says the stroke stays joined
    and no end is lost, looked up by the neighbourhood's 8-bit code."""
    codes = np.arange(256)
    bits = (codes[:, None] >> np.arange(8)) & 1  # north, then clockwise round to north-west
    neighbours = bits.sum(1)
    crossings = ((1 - bits) & np.roll(bits, -1, 1)).sum(1)  # 0 -> 1 steps going round once
    n, e, s, w = bits[:, 0], bits[:, 2], bits[:, 4], bits[:, 6]
    removable = (neighbours >= 2) & (neighbours <= 6) & (crossings == 1)
    passes = [(removable & (n * e * s == 0) & (e * s * w == 0)).astype(np.uint8),
              (removable & (n * e * w == 0) & (n * s * w == 0)).astype(np.uint8)]
    weights = np.array([[128, 1, 2], [64, 0, 4], [32, 16, 8]], np.float32)
    mask = (mask > 0).astype(np.uint8)
    while True:
        before = int(mask.sum())
        for table in passes:
            code = cv2.filter2D(mask.astype(np.float32), -1, weights, borderType=cv2.BORDER_CONSTANT)
            mask &= 1 - table[code.astype(np.int64)]
        if mask.sum() == before:
            return mask


def _camera(page_to_photo: np.ndarray, size: tuple[int, int], curve: float) -> tuple[np.ndarray, np.ndarray]:
    """For each photo pixel, the page point (mm) it sees: through a lens that bends straight
    lines by ``curve`` (barrel below 0, pincushion above), then the page's perspective."""
    w, h = size
    nx = (np.arange(w, dtype=np.float32)[None, :] - w / 2) / (w / 2)
    ny = (np.arange(h, dtype=np.float32)[:, None] - h / 2) / (w / 2)
    bend = 1 + curve * (nx * nx + ny * ny)
    px, py = nx * bend * (w / 2) + w / 2, ny * bend * (w / 2) + h / 2
    inverse = np.linalg.inv(page_to_photo)
    u = inverse[0, 0] * px + inverse[0, 1] * py + inverse[0, 2]
    v = inverse[1, 0] * px + inverse[1, 1] * py + inverse[1, 2]
    z = inverse[2, 0] * px + inverse[2, 1] * py + inverse[2, 2]
    return u / z, v / z


def _lines(coordinate: np.ndarray, spacing: float, width_px: float, mm_per_px: float) -> np.ndarray:
    """How much of each pixel a family of printed lines ``spacing`` mm apart covers (0-1)."""
    offset = np.abs(coordinate - spacing * np.round(coordinate / spacing)) / mm_per_px  # pixels from the nearest
    return np.clip(width_px / 2 + 0.5 - offset, 0, 1)


PATTERNS = ("squared", "ruled", "dots", "engineering")  # what a page has printed on it (page_style's "pattern")


def _printed(across: np.ndarray, down: np.ndarray, style: dict, mm_per_px: float) -> np.ndarray:
    """How much of each pixel the page's printing covers (0-1), at page point (``across``,
    ``down``) mm: its rules; a grid of squares; a dot where the squares' lines would cross,
    twice as wide; or an engineering grid, its squares at half the darkness and every fifth
    line 1.6 times as wide at the full darkness."""
    across, down = across + style["grid_offset"][0], down + style["grid_offset"][1]
    spacing, line_px, pattern = style["spacing"], style["line_mm"] / mm_per_px, style["pattern"]
    if pattern == "ruled":
        return _lines(down, spacing, line_px, mm_per_px)
    if pattern == "dots":
        return _lines(down, spacing, 2 * line_px, mm_per_px) * _lines(across, spacing, 2 * line_px, mm_per_px)
    grid = np.maximum(_lines(down, spacing, line_px, mm_per_px), _lines(across, spacing, line_px, mm_per_px))
    if pattern == "engineering":
        bold = np.maximum(_lines(down, 5 * spacing, 1.6 * line_px, mm_per_px),
                          _lines(across, 5 * spacing, 1.6 * line_px, mm_per_px))
        grid = np.maximum(0.5 * grid, bold)
    return grid


def page_style(rng: np.random.Generator, ruled: bool = False) -> dict:
    """The parameters of one photo of a written page, each drawn from its range: 4-6 mm
    squares (7-9 mm rules), printed grey, light blue, green or blue, from faint to as dark as
    the ink, 0.2-0.35 mm wide; a 0.5-1.2 mm pen; the digit two to four squares tall, a tenth
    to three tenths of the photo's height, anywhere in its middle half; the page turned up to
    6 degrees, seen at a slant (corners moved up to 4% of the frame), bent by the lens
    (barrel or pincushion), lit unevenly and half the time under a soft shadow; blur, sensor
    noise and JPEG quality 50-91. The pattern is squared (or ruled) unless it is fixed to
    another of PATTERNS, which draws nothing more, so a seed draws the same page either way."""
    spacing = rng.uniform(7, 9) if ruled else rng.uniform(4, 6)
    ink = rng.uniform(0.55, 0.95)
    return dict(
        pattern="ruled" if ruled else "squared", spacing=spacing,
        digit_mm=spacing * (rng.uniform(1.2, 2.2) if ruled else rng.uniform(2, 4)),
        digit_share=rng.uniform(0.1, 0.3), turn=rng.uniform(-6, 6), slant=rng.uniform(-0.04, 0.04, (4, 2)),
        curve=rng.uniform(-0.06, 0.06), grid_offset=rng.uniform(0, spacing, 2), ink=ink,
        grid=rng.uniform(0.15, 1.0) * ink, grid_colour=list(GRIDS)[rng.integers(len(GRIDS))],
        line_mm=rng.uniform(0.2, 0.35), pen=list(PENS)[rng.integers(len(PENS))], pen_mm=rng.uniform(0.5, 1.2),
        place=rng.uniform(-0.25, 0.25, 2), light=rng.uniform(0.65, 0.95), ramp=rng.uniform(0, 0.25),
        light_angle=rng.uniform(0, 2 * np.pi), vignette=rng.uniform(0, 0.35),
        shadow=rng.uniform(0.2, 0.5) if rng.random() < 0.5 else 0.0, shadow_edge=rng.uniform(-0.45, 0.45),
        shadow_turn=rng.uniform(-1, 1), shadow_soft=rng.uniform(0.01, 0.06), cast=rng.uniform(0, 0.08, 3),
        blur=rng.uniform(0.6, 1.6), noise=rng.uniform(0.005, 0.025), quality=int(rng.integers(50, 92)))


def paper_photo(digit: np.ndarray, rng: np.random.Generator, ruled: bool = False,
                size: tuple[int, int] = PHOTO_SIZE, **fixed) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A phone photo (RGB uint8, ``size`` wide and high, JPEG-compressed) of ``digit`` written
    in a pen on squared (or ``ruled``) paper, drawn as ``page_style`` says, with any of its
    parameters ``fixed``; and the digit's box in the photo (left, top, right, bottom)."""
    style = page_style(rng, ruled)
    if set(fixed) - set(style):
        raise TypeError(f"unknown page parameters: {sorted(set(fixed) - set(style))}")
    style.update(fixed)
    if style["pattern"] not in PATTERNS:
        raise ValueError(f"pattern must be one of {', '.join(PATTERNS)}, not {style['pattern']!r}")
    w, h = size
    mm_per_px = style["digit_mm"] / (h * style["digit_share"])
    turn = np.radians(style["turn"])
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    frame = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    photo_corners = ((frame - [w / 2, h / 2]) @ rotation.T + [w / 2, h / 2] + style["slant"] * w).astype(np.float32)
    page_to_photo = cv2.getPerspectiveTransform(frame * mm_per_px, photo_corners)
    u, v = _camera(page_to_photo, (w, h), style["curve"])

    grid = _printed(u, v, style, mm_per_px)
    transmit = 1 - (style["grid"] * grid)[..., None] * (1 - np.array(GRIDS[style["grid_colour"]], np.float32))

    stroke = _pen_stroke(digit, style["pen_mm"] / style["digit_mm"])
    centre = (np.array([0.5, 0.5]) + style["place"]) * [w * mm_per_px, h * mm_per_px]
    scale = style["digit_mm"] / 160  # MNIST's digit is 20 of 28 pixels: 160 of the stroke's 224
    ink = cv2.remap(stroke, ((u - centre[0]) / scale + 112).astype(np.float32),
                    ((v - centre[1]) / scale + 112).astype(np.float32), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    transmit *= 1 - (style["ink"] * ink)[..., None] * (1 - np.array(PENS[style["pen"]], np.float32))
    return _photographed(style, transmit, ink, rng)


def number_photo(digits: np.ndarray, rng: np.random.Generator, paper: str = "plain",
                 size: tuple[int, int] = PHOTO_SIZE) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A phone photo (RGB uint8, ``size`` wide and high, JPEG-compressed) of a number written
    on a sheet of ``paper`` ("plain", "squared" or "ruled"): the row
    ``number_pages.number_image`` draws of ``digits`` (MNIST's, uint8 N x 28 x 28), its digits
    a twentieth to a sixth of the photo's height, anywhere in its middle half, two to four
    squares (or one to two rules) tall, in a pen, on a page and under light drawn as
    ``page_style`` draws them (the page and the number on it turned, the lines faint to as
    dark as the ink, uneven light, a shadow half the time, blur, noise, JPEG; no lens curve
    or slant); and the number's box in the photo (left, top, right, bottom)."""
    if paper not in ("plain", "squared", "ruled"):
        raise ValueError(f"paper must be plain, squared or ruled, not {paper!r}")
    style = page_style(rng, ruled=paper == "ruled")
    w, h = size
    row = number_pages.number_image(digits, rng, separators=False, baseline=False)  # digits about 48 px tall
    white = float(np.median(row))
    ink = np.clip((white - row) / max(white - float(row.min()), 1e-3), 0, 1)
    ink[ink < 0.1] = 0  # the row's paper grain: the photo has its own
    digit_px = rng.uniform(h / 20, h / 6)
    ink = cv2.resize(ink, None, fx=digit_px / 48, fy=digit_px / 48, interpolation=cv2.INTER_AREA)[:, :w]
    rh, rw = ink.shape
    left = int(np.clip((0.5 + style["place"][0]) * w - rw / 2, 0, w - rw))
    top = int(np.clip((0.5 + style["place"][1]) * h - rh / 2, 0, h - rh))
    written = np.zeros((h, w), np.float32)
    written[top:top + rh, left:left + rw] = ink
    with_page = cv2.getRotationMatrix2D((left + rw / 2, top + rh / 2), -style["turn"], 1.0)  # turned with the page
    written = cv2.warpAffine(written, with_page, (w, h), flags=cv2.INTER_LINEAR)
    transmit = 1 - (style["ink"] * written)[..., None] * (1 - np.array(PENS[style["pen"]], np.float32))
    if paper != "plain":
        mm_per_px = style["digit_mm"] / digit_px
        turn = np.radians(style["turn"])
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32) * mm_per_px
        across, down = xs * np.cos(turn) + ys * np.sin(turn), ys * np.cos(turn) - xs * np.sin(turn)
        grid = _printed(across, down, style, mm_per_px)
        transmit *= 1 - (style["grid"] * grid)[..., None] * (1 - np.array(GRIDS[style["grid_colour"]], np.float32))
    return _photographed(style, transmit, written, rng)


def _photographed(style: dict, transmit: np.ndarray, ink: np.ndarray,
                  rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The photo ``style`` describes of a page that lets ``transmit`` of the light through
    (RGB, 0-1: its paper, printing and ink): that light (``_light``), blur, sensor noise and
    JPEG; and the box of the pen's ``ink`` (how much of each pixel it covers) in it (left,
    top, right, bottom)."""
    h, w = ink.shape
    rows, cols = np.flatnonzero(ink.max(1) > 0.5), np.flatnonzero(ink.max(0) > 0.5)
    box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1) if len(rows) else (0, 0, 0, 0)
    photo = _light(style, (w, h))[..., None] * (1 - style["cast"]).astype(np.float32) * transmit
    photo = cv2.GaussianBlur(photo, (0, 0), style["blur"])
    photo += style["noise"] * rng.standard_normal(photo.shape, dtype=np.float32)
    return _jpeg(photo, style["quality"]), box


def written_on_white(digit: np.ndarray, rng: np.random.Generator, ruled: bool = False) -> np.ndarray:
    """``digit`` as ``paper_photo`` with the same ``rng`` writes it, in the same pen, but on
    white paper with nothing else (grey uint8, 304x304): what the pen alone leaves of the
    digit. Where MNIST filled a loop in (a bold pen's 8 or 9), the pen's centre line has no
    loop, and the digit then reads as another on any page."""
    style = page_style(rng, ruled)
    stroke = _pen_stroke(digit, style["pen_mm"] / style["digit_mm"])
    return np.pad(np.round(255 * (1 - stroke)).astype(np.uint8), 40, constant_values=255)


def _light(style: dict, size: tuple[int, int]) -> np.ndarray:
    """Brightness across the photo: a ramp, the corners dimmer, and a soft shadow (a hand's
    or the phone's) over part of the page where ``style["shadow"]`` is its depth."""
    w, h = size
    nx = np.arange(w, dtype=np.float32)[None, :] / w - 0.5
    ny = np.arange(h, dtype=np.float32)[:, None] / h - 0.5
    angle = style["light_angle"]
    light = style["light"] + style["ramp"] * (np.cos(angle) * nx + np.sin(angle) * ny)
    light = light * (1 - 2 * style["vignette"] * (nx * nx + ny * ny))
    if style["shadow"]:
        across = angle + style["shadow_turn"]
        cut = np.cos(across) * nx + np.sin(across) * ny - style["shadow_edge"]
        light = light * (1 - style["shadow"] / (1 + np.exp(-cut / style["shadow_soft"])))
    return light


def _jpeg(photo: np.ndarray, quality: int) -> np.ndarray:
    data = io.BytesIO()
    Image.fromarray(np.round(np.clip(photo, 0, 1) * 255).astype(np.uint8)).save(data, "JPEG", quality=quality)
    return np.asarray(Image.open(data).convert("RGB"))


def canvas_drawing(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A digit drawn on a computer canvas so large that it runs off one or two edges: black
    on white (grey uint8), the canvas 28 to 280 pixels, a brush from MNIST's own width to
    twice it, the digit 90-110% of the canvas's height and up to a tenth of it past its top or bottom.
    Half the time a stroke is also broken, as a quick drag leaves it."""
    side = int(rng.choice([28, 64, 128, 200, 280]))
    rows, cols = np.flatnonzero(digit.max(1) > 40), np.flatnonzero(digit.max(0) > 40)
    ink = digit[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].astype(np.float32) / 255
    brush = int(round(rng.uniform(0, 1) * 2 * side / 28)) // 2 * 2 + 1
    height = rng.uniform(0.9, 1.1) * side
    width = max(1, round(ink.shape[1] * height / ink.shape[0]))
    ink = cv2.resize(ink, (width, round(height)), interpolation=cv2.INTER_CUBIC)
    ink = cv2.dilate(ink, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (brush, brush))) if brush > 1 else ink
    if rng.random() < 0.5:  # a gap in a stroke somewhere in its middle, as a quick drag leaves one
        y, x = int(rng.uniform(0.3, 0.7) * ink.shape[0]), int(rng.uniform(0, 0.6) * ink.shape[1])
        ink[y:y + max(1, round(0.06 * ink.shape[0])), x:x + max(1, round(0.4 * ink.shape[1]))] = 0
    past = rng.uniform(0, 0.1) * side  # how far the digit runs off the top or the bottom
    top = -past if rng.random() < 0.5 else side - ink.shape[0] + past
    left = rng.uniform(min(0, side - ink.shape[1]), max(0, side - ink.shape[1]))
    canvas = np.zeros((side, side), np.float32)
    shift = np.float32([[1, 0, left], [0, 1, top]])
    canvas = cv2.warpAffine(ink, shift, (side, side), dst=canvas, borderMode=cv2.BORDER_CONSTANT)
    return np.round(255 * (1 - np.clip(canvas, 0, 1))).astype(np.uint8)


def training_pages(digits: np.ndarray, labels: np.ndarray, count: int, seed: int, workers: int = 1,
                   cache_dir: Path | None = None,
                   kinds: Sequence[str] = tuple(PAGE_SHARES)) -> tuple[np.ndarray, np.ndarray]:
    """``count`` of ``digits`` (the training split's, uint8 28x28) drawn onto pages of ``kinds``,
    shared as PAGE_SHARES has it (of all three: four in nine photographed on squared paper, two
    on ruled paper and three drawn to a canvas's edge), and found again by the preprocessing:
    uint8 (N, 28, 28) and their labels. The network
    learns to read what the preprocessing leaves of a page's lines in the 28x28, and a digit
    whose stroke ran off the canvas. A photo whose found box is not the digit's (the grid or
    a shadow taken for it; about one in fourteen) is left out: its 28x28 holds no digit to learn.
    About 3 minutes on two cores for 9,000; with ``cache_dir`` kept there for every later run
    that would draw the same (printed_digits.kept_in)."""
    if not kinds or set(kinds) - set(PAGE_SHARES):
        raise ValueError(f"kinds must be some of {sorted(PAGE_SHARES)}, got {list(kinds)}")
    cache = None
    if cache_dir is not None:
        digest = hashlib.sha256(repr((count, seed, tuple(kinds), TRAINING_SIZE, np.__version__,
                                      cv2.__version__)).encode())
        for part in (digits, labels, Path(__file__).read_bytes(), Path(preprocess.__file__).read_bytes()):
            digest.update(part if isinstance(part, bytes) else np.ascontiguousarray(part).tobytes())
        cache = Path(cache_dir) / f"photo_pages_{digest.hexdigest()[:20]}.npz"
    return kept_in(cache, lambda: _draw_pages(digits, labels, count, seed, workers, kinds))


def _draw_pages(digits: np.ndarray, labels: np.ndarray, count: int, seed: int, workers: int,
                kinds: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, 5])
    pick = rng.choice(len(digits), count, replace=count > len(digits))
    total = sum(PAGE_SHARES[kind] for kind in kinds)
    each = [kind for kind in kinds[:-1] for _ in range(round(count * PAGE_SHARES[kind] / total))]
    each += [kinds[-1]] * (count - len(each))
    jobs = [(digits[i], kind, (seed, 6, k)) for k, (i, kind) in enumerate(zip(pick, each))]
    found = map_in_processes(_found_on_page, jobs, workers, chunksize=32)
    kept = [k for k, image in enumerate(found) if image is not None]
    images = np.stack([found[k] for k in kept]) if kept else np.zeros((0, 28, 28), np.uint8)
    return images, labels[pick[kept]].astype(np.int64)


def _found_on_page(job: tuple[np.ndarray, str, tuple[int, ...]]) -> np.ndarray | None:
    digit, kind, seed = job
    rng = np.random.default_rng(seed)
    if kind == "edge":
        page, box = canvas_drawing(digit, rng), None
    else:
        page, box = paper_photo(digit, rng, ruled=kind == "ruled", size=TRAINING_SIZE)
    found = find_digit(page)
    if found is None or box_overlap(found.box, box) < 0.5:
        return None
    return found.image

