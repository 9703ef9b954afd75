"""Any image of a digit to an MNIST digit: find the digit as a person would, then frame it
MNIST's way.

MNIST digits are white ink on black, cropped to their ink, scaled so the longer side is 20
pixels and centred by centre of mass in a 28x28 frame. A user's photo is none of that: paper
with shadows, grid lines and cell borders, a small digit in a large frame, a meter's window
with light digits on a dark drum. ``find_digit`` flattens the lighting, thresholds the ink,
splits it into connected pieces, drops what is not the digit (lines, the frame, specks) and
keeps the pieces that are; ``mnist_like`` frames what it kept.

This module imports neither torch nor matplotlib, so every script can use it, an ONNX-only
inference path included. The image work is OpenCV's (its headless build).
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Union

import cv2
import numpy as np
from PIL import Image, ImageFilter, ImageOps

MNIST_SIZE = 28
DIGIT_BOX = 20  # MNIST's digit size inside its 28x28 frame
# The most pixels decoded, against decompression bombs. A JPEG read for a digit is decoded
# at a reduced scale first, so a 48- or 108-megapixel phone photo is read; a PNG that size is not.
MAX_IMAGE_PIXELS = 40_000_000
WORK_SIDE = 640  # the digit is looked for at this size at most: a phone photo is 4000x3000
MIN_SIDE = 64  # smaller images are enlarged to this for the search, so morphology has room
# A photo that may show a sheet of paper lying on a desk has at least this many pixels a side;
# a smaller image is a crop (a meter's window, a sudoku cell, a box on a form), searched whole.
SHEET_PHOTO_SIDE = 240
WORK_BOX = 4 * DIGIT_BOX  # stroke width is judged and adjusted at 4x the final resolution
# Stroke widths at WORK_BOX scale. MNIST's own digits measure 6.3 at their 1st percentile and
# 10.6 at the median: only a pen thinner than almost all of MNIST's is thickened, the finest
# (FINE_PEN or less) to about its median. Thickening a pen MNIST has too closes a narrow digit's
# counters and a curl's gap to its loop: a meter's 6, or a 6 written with a curl, reads as 8.
FINE_PEN, THIN_PEN, TARGET_PEN = 3, 6, 11
NUDGES = ((1, 0), (-1, 0), (0, 1), (0, -1))  # a pixel down, up, right, left; see nudged()
MIN_CONTRAST = 0.2  # a digit's ink differs from its paper by at least this much (0-1 scale)
FAINTEST = 0.08  # a stroke's least contrast (0-1, over 3x3): a fine pen's, photographed small in dim light (_best_digit)
FAINT = 0.22  # of the peak: in a photo, ink this pale joins a stroke it touches (_cut_out; docs/preprocessing.md)
FLAT_GROUND = 0.5  # of the paper at one grey level exactly: a computer's canvas or a scan's clipped white (_flat_ground)
FLAT_LEVELS = 8  # grey levels (of 255) that one flat colour spans: a brush's soft edge, ink a few levels apart
# No digit is wider than this many times its height (none of MNIST's 60,000; 5 are over twice):
# flatter ink is a piece of a page's line, and a blank squared or ruled page then holds no digit
# (preprocess_ablation.py: 179 of 200 rather than 114; real_world_eval.py's fine pen, 2 of 2,000 fewer).
FLATTEST = 2.5
# Pieces of ink fewer than this many pixels apart at the search's size are one (in a small image,
# fewer than 2.4% of its shorter side; _pieces): a stroke broken by a dry pen or by a line taken out
# across it. Further apart, the crumbs a dense grid leaves where its lines were not found are one web
# that outweighs a small digit (docs/preprocessing.md, step 8).
MAX_BRIDGE = 7
# A peak of the ink's spectrum this many times the median power 3 to 6 bins around it is a grid's
# lines, repeating at one spacing (_without_grid); a digit's, a shadow's or a sheet edge's is spread.
GRID_PEAK = 10.0
# In a photo, ink this many times as dark as the median of the page's line it lies on (page_lines)
# is a stroke across that line, and keeps its ink there; in a crop, the lines are a window's rims
# or a cell's borders, and what they cross goes with them (docs/preprocessing.md, step 7).
PEN_OVER_LINES = 2.0
DOTS = 20  # specks alike and apart that make a page dot-grid paper (_printed_dots)
FALLOFF_INK = 0.4  # the most "ink" that a blank photo's dim corners leave (80% of the light lost there)
NO_DIGIT = "no digit found: the image is blank or has almost no contrast"

ImageInput = Union[str, Path, Image.Image, np.ndarray]  # what mnist_like and the Predictor take


class ImageReadError(ValueError):
    """A file that is not a readable image, or one too large to open safely."""


@dataclass
class Digit:
    """A digit found in an image: the MNIST-like 28x28 picture of it (uint8, white on black)
    and its box (left, top, right, bottom) in the image's own pixels after EXIF rotation.

    ``alternatives`` are other readings of the same ink (the central piece alone, where pieces
    were joined to it; last, a crop taller than wide whole, as ``whole_digit`` reads it):
    whether a window's bar or the next drum's sliver belongs to a digit is often plainest
    from what the digit then reads as, so a reader weighs each with its network
    (``inference.surest_reading``). ``preview`` is ``batch.examine``'s picture with the box drawn."""

    image: np.ndarray
    box: tuple[int, int, int, int]
    alternatives: tuple[Digit, ...] = ()
    preview: np.ndarray | None = None

    @property
    def readings(self) -> tuple[Digit, ...]:
        """This reading first, then its alternatives."""
        return (self, *self.alternatives)


# --------------------------------------------------------------------------- reading


HEIF_SUFFIXES = (".heic", ".heif")  # how iPhones save photos


@functools.cache
def _heif_readable() -> bool:
    """Let Pillow open HEIC/HEIF photos through pillow-heif's plugin, where it is installed:
    registered when the first such file is read, so importing this module (and reading any
    other image) costs nothing."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


def read_image(path: Path, max_pixels: int = MAX_IMAGE_PIXELS, longest: int | None = None) -> Image.Image:
    """Open and fully decode an image file, refusing empty, truncated and oversized ones.
    Pillow's warnings (a corrupt EXIF block, a possible bomb) are kept from the terminal:
    an image it can decode is read, and one it cannot is an ImageReadError.

    With ``longest``, a JPEG is decoded at a reduced scale whose longer side is still at
    least that (a 4000x3000 photo in a fraction of the time), and ``max_pixels`` bounds what
    is decoded, not the size on disk, which ``info["full_size"]`` keeps."""
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise ImageReadError("empty file (0 bytes)")
        if path.suffix.lower() in HEIF_SUFFIXES and not _heif_readable():
            raise ImageReadError("a HEIC/HEIF photo: pip install pillow-heif to read it, or save it as JPEG")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                width, height = image.size
                if longest and max(width, height) > 2 * longest:  # a JPEG shrinks; other formats decode whole
                    ratio = longest / max(width, height)
                    image.draft(image.mode, (max(1, round(width * ratio)), max(1, round(height * ratio))))
                if image.size[0] * image.size[1] > max_pixels:
                    raise ImageReadError(f"{width}x{height} pixels is more than the {max_pixels:,} allowed; "
                                         "scale it down")
                image.load()
                upright = ImageOps.exif_transpose(image)
                turned = upright.size != image.size  # a quarter turn swaps the sides
                upright.info["full_size"] = (height, width) if turned else (width, height)
                return upright
    except ImageReadError:
        raise
    except Image.DecompressionBombError:
        raise ImageReadError("refused as a possible decompression bomb: more pixels than Pillow opens; "
                             "scale it down") from None
    except FileNotFoundError:
        raise ImageReadError("no such file") from None
    except IsADirectoryError:
        raise ImageReadError("is a folder") from None
    except Image.UnidentifiedImageError:
        raise ImageReadError("not an image file PIL can read") from None
    except (OSError, SyntaxError, ValueError, TypeError) as exc:  # truncated data, bad headers, bad EXIF
        raise ImageReadError(f"broken or truncated image ({exc})") from None


def to_grayscale(image: Image.Image | np.ndarray) -> np.ndarray:
    """Any PIL mode or array as float32 brightness in 0-1. Transparent pixels become white
    paper; EXIF orientation is applied, so a phone photo is the right way up."""
    if isinstance(image, np.ndarray):
        return _array_to_grayscale(image)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = ImageOps.exif_transpose(image)
        if image.mode == "P":
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
            return _array_to_grayscale(np.asarray(image))
        if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
            rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255
            return _composite_on_white(_luma(rgba[..., :3]), rgba[..., 3])
        return np.asarray(image.convert("L"), dtype=np.float32) / 255
    except (ValueError, OSError, TypeError) as exc:  # modes PIL cannot turn into grey, such as LAB
        raise ImageReadError(f"cannot read a {image.mode} image as grey ({exc})") from None


def _array_to_grayscale(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.size == 0:
        raise ImageReadError(f"empty array of shape {array.shape}")
    if array.dtype == bool:
        values = array.astype(np.float32)
    elif np.issubdtype(array.dtype, np.integer):
        if array.dtype == np.uint16:  # 16-bit scans
            top = 65535.0
        else:  # uint8, or 8- or 16-bit values held in a wider integer type
            peak = int(array.max())
            top = 255.0 if peak <= 255 else 65535.0 if peak <= 65535 else float(peak)
        values = array.astype(np.float32) / top
    else:
        values = np.nan_to_num(array.astype(np.float32))
        if values.max(initial=0) > 2:  # 0-255; a 0-1 picture may overshoot 1 a little (a cubic resize)
            values = values / 255
    if values.ndim == 3 and values.shape[-1] == 1:
        values = values[..., 0]
    if values.ndim == 3 and values.shape[-1] in (3, 4):
        gray = _luma(values[..., :3])
        return _composite_on_white(gray, values[..., 3]) if values.shape[-1] == 4 else gray
    if values.ndim != 2:
        raise ImageReadError(f"array of shape {array.shape} is not an image (need HxW, HxWx3 or HxWx4)")
    return np.clip(values, 0, 1)


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _composite_on_white(gray: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Ink drawn on a transparent canvas sits on white paper; if that leaves nothing visible
    (white ink on transparency), the alpha channel itself is the drawing."""
    composed = gray * alpha + (1 - alpha)
    if np.ptp(composed) < MIN_CONTRAST and np.ptp(alpha) >= MIN_CONTRAST:
        return 1 - alpha
    return composed


# --------------------------------------------------------------------------- the whole path


def mnist_like(image: ImageInput) -> np.ndarray | None:
    """A user's image as an MNIST digit: uint8 28x28, white ink on black, the longer side of
    the ink 20 pixels, centred by centre of mass. None when the image holds no digit. This is
    ``find_digit``'s first reading; a reader with a network weighs its alternatives too."""
    found = find_digit(image)
    return None if found is None else found.image


def find_digit(image: ImageInput) -> Digit | None:
    """The digit in a file, PIL image or array, framed MNIST's way, and where it was found.
    None when the image holds no digit (blank, or no contrast)."""
    if isinstance(image, (str, Path)):
        image = read_image(image, longest=2 * WORK_SIDE)
    gray = to_grayscale(image)
    located = locate_ink(gray)
    if not located:
        return None
    full = image.info.get("full_size") if isinstance(image, Image.Image) else None
    if full is not None and full != (gray.shape[1], gray.shape[0]):  # decoded at a reduced scale
        sx, sy = full[0] / gray.shape[1], full[1] / gray.shape[0]
        located = [(ink, (int(box[0] * sx), int(box[1] * sy), min(full[0], round(box[2] * sx)),
                          min(full[1], round(box[3] * sy)))) for ink, box in located]
    first, *others = (Digit(frame_ink(ink), box) for ink, box in located)
    h, w = gray.shape
    # a crop taller than wide is shaped like a digit's box (a meter's window): read whole too, a model fine-tuned on
    # such crops goes by it where the search frames a bar. finetune.py's 5-fold figures, seeds 1-8: the real meter
    # crops 92.4% against 91.6%, meters drawn in unseen fonts 93.0-95.4% against 92.6-94.2% (three draws); the
    # default model reads one real meter crop fewer (seed 1)
    if w < min(h, SHEET_PHOTO_SIDE):
        others.append(_whole(gray, full or (w, h)))
    return replace(first, alternatives=tuple(others))


def whole_digit(image: ImageInput) -> Digit:
    """A tight crop (a meter's window, a form's cell) taken whole as the digit's box, for a
    model fine-tuned on such crops (finetune.py --whole-image): what the crop holds besides the
    digit is the model's to learn. Lighting and polarity are taken out as for any image, and the
    crop is stretched to the 20x20 box (4-12 points better after fine-tuning than its shape kept)."""
    if isinstance(image, (str, Path)):
        image = read_image(image, longest=2 * WORK_SIDE)
    gray = to_grayscale(image)
    return _whole(gray, image.info.get("full_size") if isinstance(image, Image.Image) else None)


def _whole(gray: np.ndarray, full: tuple[int, int] | None) -> Digit:
    """``whole_digit`` of a grey image whose full size (width, height) is ``full``."""
    h, w = gray.shape
    ratio = WORK_BOX / max(h, w)
    work = cv2.resize(gray, (max(1, round(w * ratio)), max(1, round(h * ratio))),
                      interpolation=cv2.INTER_AREA if ratio < 1 else cv2.INTER_CUBIC).clip(0, 1)
    window = _window(work, dark_ink=True)
    ink = flatten_lighting(work if _ink_is_dark(work, window) else 1 - work, window)
    ink /= max(float(ink.max()), MIN_CONTRAST)  # a blank crop's grain stays faint
    margin = (MNIST_SIZE - DIGIT_BOX) // 2
    frame = np.pad(cv2.resize(ink, (DIGIT_BOX, DIGIT_BOX), interpolation=cv2.INTER_AREA), margin)
    return Digit(np.round(frame * 255).astype(np.uint8), (0, 0, *(full or (w, h))))


# --------------------------------------------------------------------------- finding the digit


def locate_ink(gray: np.ndarray, flattest: float | None = None) -> Found:
    """The digit's ink (white on black, 0-1, cropped to it) and its box in ``gray``'s pixels,
    then the same for each alternative reading (see ``Digit``); empty where there is no digit.
    A photo of a sheet on a darker desk is searched on the sheet alone, in dark ink: whole, the
    sheet would pass for one large light digit. Ink more than ``flattest`` (FLATTEST where None)
    times as wide as tall is no digit (a number's reader, looking for a row of them, takes any)."""
    flattest = FLATTEST if flattest is None else flattest  # read when called: preprocess_ablation.py sets it
    h, w = gray.shape
    scale = min(WORK_SIDE / max(h, w), 1.0)
    if min(h, w) * scale < MIN_SIDE:  # tiny images are searched enlarged
        scale = min(MIN_SIDE / min(h, w), 8.0)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    work = cv2.resize(gray, size, interpolation=interpolation) if scale != 1 else gray
    work = np.clip(work, 0, 1, dtype=np.float32)  # cubic enlargement overshoots at edges
    sheet = _sheet(work) if min(h, w) >= SHEET_PHOTO_SIDE else None
    if sheet is not None:  # a sheet of paper on a darker desk: the digit is on the sheet, in dark ink
        x, y, sw, sh = cv2.boundingRect(sheet)
        paper = np.where(sheet > 0, work, float(np.median(work[sheet > 0])))[y:y + sh, x:x + sw]
        found = [(ink, (left + x, top + y, right + x, bottom + y)) for ink, (left, top, right, bottom)
                 in _best_digit(paper, _window(paper, dark_ink=True), 0.0, flattest)]
    else:
        dark_ink, window = ink_polarity(work)
        found = _best_digit(work if dark_ink else 1 - work, window, scale if scale > 1 else 0.0, flattest)
    return [(ink, (int(np.floor(left / scale)), int(np.floor(top / scale)),
                   min(w, int(np.ceil(right / scale))), min(h, int(np.ceil(bottom / scale)))))
            for ink, (left, top, right, bottom) in found]


def ink_polarity(gray: np.ndarray) -> tuple[bool, int]:
    """Whether the ink is darker than its ground, and the window the lighting is judged over
    (``_window``): light strokes set their own (a chalk digit, a meter's drum)."""
    window = _window(gray, dark_ink=True)
    if _ink_is_dark(gray, window):
        return True, window
    window = _window(gray, dark_ink=False)
    return _ink_is_dark(gray, window), window


def _sheet(gray: np.ndarray) -> np.ndarray | None:
    """Where a photo shows a sheet of paper lying on a darker desk, the sheet's inside (uint8
    mask, its edge left out); else None. A sheet is large without filling the frame, bright,
    convex, four-sided, and its outline is a step of brightness, not a shadow's gradual fall
    (docs/preprocessing.md, step 3). Without it the desk photos of preprocess_ablation.py lose
    63 of 200; nothing else moves."""
    h, w = gray.shape
    if min(h, w) < MIN_SIDE:
        return None
    smooth = cv2.blur(gray, (5, 5))
    small = cv2.resize(smooth, (max(1, w // 8), max(1, h // 8)), interpolation=cv2.INTER_AREA)  # for speed
    light = cv2.resize(cv2.GaussianBlur(small, (0, 0), min(h, w) / 24), (w, h), interpolation=cv2.INTER_LINEAR)
    even = smooth / np.maximum(light, 1e-3)  # the light across the photo, desk and sheet alike, taken out
    even = np.clip(even / max(float(np.percentile(even, 99.5)), 1e-3), 0, 1)
    _, bright = cv2.threshold(np.round(even * 255).astype(np.uint8), 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(bright, connectivity=4)
    if count < 2:
        return None
    index = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    sides = _sides(stats[index], (w, h))
    if not 0.08 * h * w <= stats[index, 2] * stats[index, 3] <= 0.7 * h * w or len(sides) > 2:
        return None  # small, or filling the frame or a band across it: then the paper is the photo
    component = (labels == index).astype(np.uint8)
    contours, _ = cv2.findContours(component, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    outline = max(contours, key=cv2.contourArea)
    tolerance = 0.02 * cv2.arcLength(outline, True)
    corners = cv2.approxPolyDP(outline, tolerance, True)
    hull = cv2.approxPolyDP(cv2.convexHull(outline), tolerance, True)[:, 0]
    margin = 0.02 * min(h, w)
    own_corner = ((hull > margin) & (hull < np.array([w, h]) - 1 - margin)).all(1).any()
    if not own_corner and len(sides) == 2 and sides not in ({"left", "right"}, {"top", "bottom"}):
        return None  # a corner of the frame cut off by one straight edge: a shadow's, across a page
    filled = np.zeros((h, w), np.uint8)
    cv2.drawContours(filled, [outline], -1, 1, thickness=-1)
    if not 4 <= len(corners) <= 5 or filled.sum() < 0.9 * cv2.contourArea(cv2.convexHull(outline)):
        return None  # not four-sided (one corner may be cut off by the frame), or not convex
    edge = max(2, round(0.01 * min(h, w)))
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * edge + 1, 2 * edge + 1))
    within = cv2.erode(filled, kernel)
    beyond = cv2.dilate(filled, kernel) ^ 1
    if _two_flat_colours(np.round(gray[beyond > 0] * 255).astype(np.uint8)):
        return None  # no desk: a bold stroke in flat colours that cut a canvas's white in two
    paper, desk = float(np.median(gray[within > 0])), float(np.median(gray[beyond > 0]))
    inner_ring = within ^ cv2.erode(within, kernel)
    outer_ring = beyond ^ cv2.erode(beyond, kernel)
    step = float(np.median(gray[inner_ring > 0])) - float(np.median(gray[outer_ring > 0]))
    if paper - desk < MIN_CONTRAST / 2 or step < 0.6 * (paper - desk):
        return None  # too alike, or the brightness falls off gradually: light, not an edge
    if _edge_share(gray, filled, inner_ring, outer_ring, edge) < 0.45 * (paper - desk) / paper:
        return None  # much of its outline is no edge: the lit part of a page the light falls off across
    return cv2.erode(within, kernel, iterations=2)  # clear of the edge's soft fringe


def _edge_share(gray: np.ndarray, filled: np.ndarray, inner_ring: np.ndarray, outer_ring: np.ndarray,
                edge: int) -> float:
    """The step of brightness across a sheet's outline, as a share of the brightness inside
    it, that seven tenths of the outline (off the photo's frame) reach. A sheet's edge is a
    step nearly all round, in shadow too, where the step is as much smaller as the light is;
    the lit part of a page, thresholded off the rest, has no step along its dim side."""
    window = (4 * edge + 1, 4 * edge + 1)
    inner, outer = inner_ring.astype(np.float32), outer_ring.astype(np.float32)
    near_inner, near_outer = cv2.blur(inner, window), cv2.blur(outer, window)
    inside = cv2.blur(gray * inner, window) / np.maximum(near_inner, 1e-3)  # the mean of each ring nearby
    outside = cv2.blur(gray * outer, window) / np.maximum(near_outer, 1e-3)
    outline = filled ^ cv2.erode(filled, np.ones((3, 3), np.uint8))
    outline[:2 * edge], outline[-2 * edge:], outline[:, :2 * edge], outline[:, -2 * edge:] = 0, 0, 0, 0
    points = (outline > 0) & (near_inner > 0.05) & (near_outer > 0.05)
    if not points.any():
        return 1.0
    share = (inside - outside)[points] / np.maximum(inside[points], 1e-3)
    return float(np.percentile(share, 30))


def _window(gray: np.ndarray, dark_ink: bool) -> int:
    """The side of the window the lighting is judged over: wider than the strokes, so that
    what is narrower is ink and what is wider is light. A crop: half its side, as its digit may
    fill it. A photo: a tenth, unless ink nearly as dark as the darkest is in strokes about that
    wide (a drawing that fills its canvas; a shadow is lighter than the pen): then half, where a
    hard shadow's tip passes for a blot (docs/preprocessing.md, step 4). Without the tenth, the
    photographed squared and ruled paper of preprocess_ablation.py lose 8 and 8 of 200."""
    h, w = gray.shape
    half = max(5, min(h, w) // 2) | 1
    if min(h, w) < SHEET_PHOTO_SIDE:
        return half
    tenth = max(5, min(h, w) // 10) | 1
    inner = (slice(h // 4, h - h // 4), slice(w // 4, w - w // 4))
    found = []  # each window's ink mask and smoothed ink
    for k in (tenth, half):
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
        if dark_ink:
            ink = cv2.morphologyEx(gray, cv2.MORPH_CLOSE, kernel) - gray
        else:
            ink = gray - cv2.morphologyEx(gray, cv2.MORPH_OPEN, kernel)
        smooth = cv2.blur(ink, (3, 3))
        mask = smooth > max(0.04, 0.35 * float(smooth.max()))
        if k == tenth and stroke_width(smooth > 0.6 * float(smooth.max())) > 0.2 * tenth:
            return half  # strokes nearly as wide as the window outline themselves in it
        found.append((mask, smooth))
    (tenth_mask, _), (half_mask, half_ink) = found
    wider = half_mask & ~tenth_mask  # strokes wider than a tenth are left out of it; so is a shadow, lighter than ink
    strokes = (half_mask[inner].sum() > 1.5 * tenth_mask[inner].sum()
               and np.median(half_ink[wider]) >= 0.6 * half_ink.max())
    return half if strokes else tenth


def _ink_is_dark(gray: np.ndarray, window: int) -> bool:
    """Whether the ink is darker than its ground. With the lighting taken out over ``window``,
    dark ink leaves a long dark tail and light digits on a dark drum a long light one: the
    skew's sign (without it the meter crops lose 180 of 400). A drawing in two flat colours may
    be as much ink as canvas (a 0 drawn past its edges): there the canvas is the colour of three
    corners or four, and where two and two, the ink is the colour whose parts are of even width
    (docs/preprocessing.md, step 5: 6-13 of 2,000 drawings off a canvas more, 19-24 UCI digits)."""
    u8 = np.round(np.clip(gray, 0, 1) * 255).astype(np.uint8)
    if _two_flat_colours(u8):
        dark = u8 <= cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[0]
        if 0.3 <= dark.mean() <= 0.7:
            corners = int(dark[[0, 0, -1, -1], [0, -1, 0, -1]].sum())
            if corners != 2:  # three corners or four of one colour: the canvas's, which a digit leaves
                return corners < 2
            return _stroke_evenness(dark.astype(np.uint8)) <= _stroke_evenness((~dark).astype(np.uint8))
    centred = _detail(gray, u8, window)
    centred -= centred.mean()
    return float(np.dot(centred.ravel() * centred.ravel(), centred.ravel())) <= 0


def _detail(gray: np.ndarray, u8: np.ndarray, window: int) -> np.ndarray:
    """What in ``gray`` (``u8`` as uint8) is narrower than ``window``: strokes, not the light.
    In a photo (not a drawing in two flat colours) the paper around each pixel is the median,
    which keeps a shadow's straight edge where a mean smears it into a band as dark as ink, and
    a twentieth of the picture along its edge is left out, where a lit wedge narrowing into it
    is as thin as a stroke. With a mean, a digit written small on a page mostly in shadow was
    taken for light ink: real_world_eval.py's small squared photos read 96.30% with the median
    and 96.10% without, drawn with --seed 1 95.80% and 95.10% (seed 1's model; step 5 of
    docs/preprocessing.md)."""
    if min(gray.shape) < SHEET_PHOTO_SIDE or _two_flat_colours(u8):  # a crop, or a drawing
        return gray - cv2.blur(cv2.blur(gray, (window, window)), (window, window))
    k = min(window, 255)  # OpenCV's median takes ten times as long past 255
    pad = k // 2
    paper = cv2.medianBlur(cv2.copyMakeBorder(u8, pad, pad, pad, pad, cv2.BORDER_REFLECT_101), k)
    detail = gray - paper[pad:-pad, pad:-pad].astype(np.float32) / 255
    margin = min(gray.shape) // 20
    return detail[margin:-margin, margin:-margin]


def _two_flat_colours(u8: np.ndarray) -> bool:
    """Whether half of these grey levels (uint8) or more lie within FLAT_LEVELS of their darkest
    or brightest, a twentieth or more at each: a drawing in two flat colours, a brush's soft
    edge aside (274 of the 300 real canvas drawings, none of the other real sets)."""
    if u8.size == 0:
        return False
    dark, light = np.mean(u8 <= int(u8.min()) + FLAT_LEVELS), np.mean(u8 >= int(u8.max()) - FLAT_LEVELS)
    return bool(min(dark, light) >= 0.05 and dark + light >= 0.5)


def _stroke_evenness(mask: np.ndarray) -> float:
    """How unevenly wide ``mask``'s parts are: the spread of the distance to their edge along
    their middles, over its mean. A pen's strokes are near 0; the paper between them is wide
    here and narrow there."""
    distance = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
    middles = distance[(distance > 0) & (distance >= cv2.dilate(distance, np.ones((3, 3), np.uint8)))]
    return float(np.std(middles) / np.mean(middles)) if len(middles) >= 5 else np.inf


def flatten_lighting(paper: np.ndarray, window: int) -> np.ndarray:
    """Dark ink as bright values on a zero background: the paper's brightness (a closing over
    ``window``, which wipes out strokes narrower than it) minus the image, so shadows,
    gradients and colour casts vanish."""
    k = window
    background = cv2.morphologyEx(paper, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)),
                                  borderType=cv2.BORDER_REPLICATE)  # the paper goes on past the edge
    background = cv2.blur(background, (k // 4 | 1, k // 4 | 1))  # smooth, and true to a ramp up to the edges
    background = np.maximum(background, paper)
    return background - paper


def _paper_surface(paper: np.ndarray, rounds: int = 3) -> np.ndarray:
    """The paper's brightness as a smooth quadratic surface, fitted to the pixels not much darker
    than it (ink is). A closing's window reaches from a photo's dim corners into its brighter
    middle and takes them for brighter than they are; this surface bends with the light falling
    off towards them (without it, 76 of preprocess_ablation.py's 200 blank pages read as a digit)."""
    h, w = paper.shape
    step = max(1, round(np.sqrt(h * w / 1024)))  # about 1,000 points are plenty for six numbers
    ys, xs = np.mgrid[0:h:step, 0:w:step]
    y, x = ys.ravel() / h - 0.5, xs.ravel() / w - 0.5
    values = paper[::step, ::step].ravel().astype(np.float64)
    terms = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], 1)
    keep = np.ones(len(values), bool)
    for _ in range(rounds):  # least squares by its normal equations: no BLAS threads in the forked workers
        kept = terms[keep]
        coefficients = np.linalg.solve(np.einsum("ij,ik->jk", kept, kept) + 1e-9 * np.eye(6),
                                       np.einsum("ij,i->j", kept, values[keep]))
        residual = values - np.einsum("ij,j->i", terms, coefficients)
        spread = 1.4826 * float(np.median(np.abs(residual[keep])))
        keep = residual > -max(3 * spread, 0.02)  # darker than the surface by more than the grain: ink
    c = coefficients.astype(np.float32)
    x = np.arange(w, dtype=np.float32) / w - 0.5
    y = np.arange(h, dtype=np.float32) / h - 0.5
    return (c[0] + c[2] * y + c[5] * y * y)[:, None] + (c[1] * x + c[3] * x * x)[None, :] + c[4] * np.outer(y, x)


def _noise_level(image: np.ndarray) -> float:
    """The paper's grain, from the median absolute difference to a 3x3 median."""
    u8 = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
    residual = np.abs(u8.astype(np.int16) - cv2.medianBlur(u8, 3).astype(np.int16))
    return 1.4826 * float(np.median(residual)) / 255


def _flat_ground(paper: np.ndarray, ink: np.ndarray) -> float | None:
    """The paper's grey (0-1) where FLAT_GROUND of the paper around the ink (``ink`` 0) is at
    one level exactly, else None: a computer's canvas (85-98% of real drawings) or a scan's
    clipped white, never a photo (36% at most). Such a picture is the whole canvas: no frame,
    no page's lines, and a stroke run off its edge stays the digit's (preprocess_ablation.py:
    the drawings run off a canvas's edge lose 9 of 200 without it). A drawing in two flat colours
    is such a canvas too where a broad brush's soft edge, magnified, covers more of it than its
    white does: its white is then the ground, and the strokes' middles are not left grey (9
    more of 12,000 readings of real_world_eval.py's drawings run off a canvas, three models
    and two seeds; nothing else moves; docs/preprocessing.md, step 6)."""
    u8 = np.round(paper * 255).astype(np.uint8)
    counts = np.bincount(u8[ink == 0], minlength=256)
    if counts.max() >= FLAT_GROUND * max(counts.sum(), 1):
        return float(counts.argmax()) / 255
    if _two_flat_colours(u8):
        return float(np.bincount(u8[u8 >= int(u8.max()) - FLAT_LEVELS]).argmax()) / 255
    return None


def _remove_lines(mask: np.ndarray, reach: float, frames: bool = True) -> np.ndarray:
    """Long, thin, straight level and upright runs (grid lines, cell borders, box edges): a
    digit's stroke is shorter than ``reach`` of the side, or thicker. With ``frames`` (not on a
    flat ground, where such a run is a stroke run off the canvas), also a run along a side in
    the outer band, of any thickness (a meter's window). Without it the meter crops of
    preprocess_ablation.py lose 14 of 400 and the sudoku cells 2 of 270."""
    h, w = mask.shape
    thin = max(3, min(h, w) // 16)
    lines = np.zeros_like(mask)
    for length, across in (((max(3, int(reach * w)), 1), (1, thin)), ((1, max(3, int(reach * h))), (thin, 1))):
        run = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, length))
        thick = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, across))
        lines |= run & (1 - thick)
    if frames:  # a frame's edge: a run along one side, in the outer band
        band_h, band_w = max(1, int(0.12 * h)), max(1, int(0.12 * w))
        rows = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (max(3, int(0.85 * w)), 1)))
        cols = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, max(3, int(0.85 * h)))))
        lines[:band_h] |= rows[:band_h]
        lines[-band_h:] |= rows[-band_h:]
        lines[:, :band_w] |= cols[:, :band_w]
        lines[:, -band_w:] |= cols[:, -band_w:]
    return cv2.dilate(lines, np.ones((3, 3), np.uint8))


def page_lines(ink: np.ndarray, faint: float, reach: float, joined: bool = True) -> np.ndarray:
    """The printed lines of squared or ruled paper in a photo: thin, from side to side, at the
    page's tilt (``_tilt``, up to 15 degrees) and bent a little by the lens. Each is traced
    along its course (``_course``) and only its own width is taken, so a stroke that touches it
    keeps its ink. Where a shadow or the grain joins lines into one piece (``joined``; a tight
    crop is one trace), each is traced in turn through the thin ink, not the broad, faint ink
    that joins them. In a photo, ink PEN_OVER_LINES times as dark as the line it lies on (its
    own median ink, or all the lines' where that is darker) is a stroke across it and stays:
    many lines traced through a digit written small on a dense grid took much of it
    (real_world_eval.py's small squared photos: 96.30% with it, 95.30% without, seed 1's
    model); judged by all the lines' ink, the bolder fifth lines of engineering paper passed
    for a pen and joined the digit to the grid (its line there: 98.40% by each line's ink,
    96.00% by all of them). Without page_lines the photographed squared and ruled paper of
    preprocess_ablation.py lose 2 and 9 of 200 (36 and 23 before _without_grid), its blank
    squared or ruled pages 35; each part's figure is in docs/preprocessing.md, step 7."""
    mask = (ink > faint).astype(np.uint8)
    thin = (cv2.morphologyEx(ink, cv2.MORPH_TOPHAT, np.ones((7, 7), np.uint8)) > faint).astype(np.uint8) if joined else mask
    h, w = mask.shape
    traced, number = np.zeros(mask.shape, np.uint16), 0  # each line its own number, for its own ink below
    for turned in (False, True):  # the page's level lines, then its upright ones (turned level)
        view = mask.T if turned else mask
        vh, vw = view.shape
        edge = (1 - reach) / 4 * vw  # it may fade or bend out near the picture's sides
        spans = cv2.connectedComponentsWithStats(cv2.dilate(view, np.ones((7, 5), np.uint8)), connectivity=8)[2]
        if (spans[1:, 2] < (vw - 2 * edge) * np.cos(np.radians(15)) - 4).all():
            continue  # no piece reaches across the picture at a line's tilt: no line (112x112 scans 15% sooner)
        turn = cv2.getRotationMatrix2D((vw / 2, vh / 2), _tilt(view), 1.0)
        level = cv2.warpAffine(view, turn, (vw, vh), flags=cv2.INTER_NEAREST)
        runs = cv2.morphologyEx(cv2.dilate(level, np.ones((5, 3), np.uint8)), cv2.MORPH_OPEN,  # 2 px of bend
                                cv2.getStructuringElement(cv2.MORPH_RECT, (max(3, min(h, w) // 16), 1)),
                                borderType=cv2.BORDER_REPLICATE)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(runs, connectivity=8)
        across = np.flatnonzero((stats[:, 0] <= edge) & (stats[:, 0] + stats[:, 2] >= vw - edge))[1:]
        if not len(across):
            continue  # nothing level runs across: no line
        level_thin = cv2.warpAffine(thin.T if turned else thin, turn, (vw, vh), flags=cv2.INTER_NEAREST)
        found = np.zeros(level.shape, np.uint16)
        for i in across:
            x, y, bw, bh = stats[i][:4]
            ys, xs = np.nonzero((labels[y:y + bh, x:x + bw] == i) & (level_thin[y:y + bh, x:x + bw] > 0))
            for _ in range(len(xs) if joined else 1):  # a photo's shadow or grain may join lines: each in turn
                if np.count_nonzero(np.bincount(xs)) < reach / 2 * vw:
                    break
                course = _course(xs, ys, 0.05 * vw)
                on = np.abs(course(xs) - ys) <= 2
                columns = np.unique(xs[on])
                if len(columns) < reach / 2 * vw:  # a line runs on unbroken for much of the picture
                    break
                points = np.stack([np.arange(bw) + x, course(np.arange(bw)) + y], 1)
                number += 1
                cv2.polylines(found, [np.round(points).astype(np.int32)], False, number, thickness=1)
                xs, ys = xs[~on], ys[~on]
        thick = cv2.morphologyEx(level, cv2.MORPH_OPEN, np.ones((max(3, min(h, w) // 16), 1), np.uint8))
        found = np.where(level & (1 - thick) > 0, found, 0).astype(np.uint16)
        found = cv2.warpAffine(found, turn, (vw, vh), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
        traced = np.maximum(traced, found.T if turned else found)
    nearest = cv2.dilate(traced, np.ones((3, 3), np.uint8))  # each line and a pixel either side
    on = traced > 0
    if not on.any() or min(h, w) < SHEET_PHOTO_SIDE:
        return (nearest > 0).astype(np.uint8)
    numbers, values = traced[on], ink[on]  # in a photo, ink much darker than its line's own
    order = np.lexsort((values, numbers))  # is a stroke that crosses the line: the pen's
    numbers, values = numbers[order], values[order]
    first = np.searchsorted(numbers, np.arange(number + 2))
    middle = np.minimum((first[:-1] + first[1:]) // 2, len(values) - 1)
    own = np.maximum(values[middle], float(np.median(values)))  # each line's median ink, all the lines' at least
    return ((nearest > 0) & (ink <= PEN_OVER_LINES * own[nearest])).astype(np.uint8)


def _course(xs: np.ndarray, ys: np.ndarray, band: float, trials: int = 32):
    """The quadratic y(x) that points lie within 2 px of along the most columns, as a function: the best of
    ``trials`` drawn through a point from each third of their span, the later two within ``band`` rows
    of the first (a stroke, or other lines joined to a line through a shadow or the grain, pull a
    least-squares fit off it), that strays no more than ``band`` from level (a 0's side is no page
    line), refitted to each column's mean height near it. Solved on x scaled to -1..1 by the
    normal equations: no BLAS threads in forked workers."""
    mid, half = (float(xs.max()) + float(xs.min())) / 2, max((float(xs.max()) - float(xs.min())) / 2, 1.0)

    def terms(x: np.ndarray) -> np.ndarray:
        t = (np.asarray(x, np.float64) - mid) / half
        return np.stack([np.ones_like(t), t, t * t], -1)

    order = np.argsort(xs)
    rng = np.random.default_rng(0)
    thirds = np.split(order, np.searchsorted(xs[order], mid + half * np.array([-1, 1]) / 3))
    first, *later = thirds if all(len(third) for third in thirds) else np.array_split(order, 3)
    picks = [rng.choice(first, trials)]
    for third in later:
        third = third[::max(1, len(third) // 500)]
        near_first = np.abs(ys[third][None, :] - ys[picks[0]][:, None]) <= band
        picks.append(third[np.argmax(near_first * rng.random(near_first.shape), 1)])  # at random among them
    picks = np.stack(picks, 1)
    drawn = np.linalg.solve(terms(xs[picks]) + 1e-6 * np.eye(3), ys[picks][..., None].astype(np.float64))[..., 0]
    sample = order[::max(1, len(order) // 300)]  # a few hundred points tell the best apart
    near = np.abs(np.einsum("ik,jk->ij", terms(xs[sample]), drawn) - ys[sample, None]) <= 2
    trial, point = np.nonzero(near.T)
    hit = np.zeros((trials, int(xs.max()) + 1), bool)  # columns, not pixels: a thick stroke beside
    hit[trial, xs[sample][point]] = True  # the line holds many pixels in few columns
    gentle = np.abs(drawn[:, 1]) + np.abs(drawn[:, 2]) <= band  # level, bent by a lens: not a stroke's curve
    best = drawn[int(np.argmax(hit.sum(1) * gentle))]
    on = np.abs(np.einsum("ik,k->i", terms(xs), best) - ys) <= 2
    columns, column = np.unique(xs[on], return_inverse=True)  # each column once: a bold stroke on the
    heights = np.bincount(column, ys[on]) / np.bincount(column)  # line holds many points in few columns
    known = terms(columns)
    c = np.linalg.solve(np.einsum("ij,ik->jk", known, known) + 1e-6 * np.eye(3), np.einsum("ij,i->j", known, heights))
    return lambda x: np.einsum("...k,k->...", terms(x), c)


def _tilt(mask: np.ndarray) -> float:
    """How far (degrees, as cv2.getRotationMatrix2D takes them) to turn ``mask`` to make its
    longest nearly level straight lines level, from their Hough transform; 0 where it has none."""
    found = cv2.HoughLines(mask, 1, np.pi / 720, max(10, mask.shape[1] // 3), min_theta=np.radians(75), max_theta=np.radians(105))
    if found is None or not len(found):
        return 0.0
    return float(np.median(np.degrees(found[:10, 0, 1])) - 90)


def _pieces(mask: np.ndarray, bridge: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """Connected pieces of ink, as cv2.connectedComponentsWithStats gives them, except that
    pieces less than ``bridge`` pixels apart are one: a stroke broken by a fine or dry pen,
    or by a line taken out across it. Boxes, areas and centroids are the ink's own."""
    n, parts, part_stats, part_centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    specks = part_stats[:, 4] < 3  # grain: dropped, so it bridges nothing to the digit
    specks[0] = True
    mask = np.where(specks[parts], 0, mask).astype(np.uint8)
    joined = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (bridge, bridge)))
    count, labels = cv2.connectedComponents(joined, connectivity=8)
    labels[mask == 0] = 0
    group = np.zeros(n, np.int64)
    group[parts.ravel()] = labels.ravel()  # the joined piece each part lies in (0: background, specks)
    stats = np.zeros((count, 5), np.int64)
    stats[:, 0] = stats[:, 1] = np.iinfo(np.int64).max
    right, bottom = np.zeros(count, np.int64), np.zeros(count, np.int64)
    np.minimum.at(stats[:, 0], group[1:], part_stats[1:, 0])
    np.minimum.at(stats[:, 1], group[1:], part_stats[1:, 1])
    np.maximum.at(right, group[1:], part_stats[1:, 0] + part_stats[1:, 2])
    np.maximum.at(bottom, group[1:], part_stats[1:, 1] + part_stats[1:, 3])
    np.add.at(stats[:, 4], group[1:], part_stats[1:, 4])
    stats[:, 2], stats[:, 3] = right - stats[:, 0], bottom - stats[:, 1]
    centroids = np.zeros((count, 2))
    np.add.at(centroids, group[1:], part_centroids[1:] * part_stats[1:, 4:5])
    centroids /= np.maximum(stats[:, 4:5], 1)
    stats[0] = (0, 0, mask.shape[1], mask.shape[0], int((mask == 0).sum()))
    return count, labels, stats, centroids


Found = list[tuple[np.ndarray, tuple[int, int, int, int]]]  # ink cropped to a digit, and its box


def _best_digit(paper: np.ndarray, window: int, enlarged: float, flattest: float) -> Found:
    """The ink of the most digit-like group of pieces for dark ink on ``paper``, cropped to it,
    white on black, and its box in ``paper``'s pixels; then, where pieces were joined to a
    central one off a clean page, that piece alone (a reading to weigh); empty if none. A small
    image ``enlarged`` for the search is a tight crop: only lines that cross all of it are
    lines, and a stroke's soft edge is a whole pixel of the original wide."""
    tight = enlarged > 0
    h, w = paper.shape
    ink = flatten_lighting(paper, window)
    noise = _noise_level(paper)
    smooth, dark = _dark_strokes(ink, noise)
    ground = _flat_ground(paper, dark)  # a computer's canvas or a scan: no frame, no photographed page
    flat = ground is not None
    if flat:  # the ink is what is darker than its one grey: a brush broader than the window
        ink = np.maximum(np.float32(ground) - paper, 0)  # keeps its middle (docs/preprocessing.md, step 6)
        smooth, dark = _dark_strokes(ink, noise)
    lines = _remove_lines(dark, 0.9 if tight else 0.6, frames=not flat)
    if not flat:  # the page's lines are looked for in all the ink, where straight runs were taken too
        lines |= page_lines(ink, max(4 * noise, 0.04, 0.15 * float(smooth.max())), 0.9 if tight else 0.6,
                             joined=not tight)
    original, original_smooth = ink, smooth  # before a photo's grid is notched out
    photo = not flat and min(h, w) >= SHEET_PHOTO_SIDE
    if photo:  # a grid too fine to follow is notched out
        ink = _without_grid(ink)
        smooth = cv2.blur(ink, (3, 3))
    peak = float(smooth[lines == 0].max(initial=0))  # the digit's contrast, not the grid's
    if peak < FAINTEST or peak < 8 * noise:
        return []  # blank: nothing stands out from the paper's grain
    if peak < MIN_CONTRAST / 2 and lines.any() and peak < PEN_OVER_LINES * float(np.median(original_smooth[lines > 0])):
        return []  # faint ink no darker than the page's lines is what is left of them (docs/preprocessing.md, step 6)
    if peak < FALLOFF_INK:  # faint: measured again against a smooth surface fitted to the paper, which bends
        faint = np.minimum(ink, np.maximum(_paper_surface(paper) - paper, 0))  # with light falling off to the corners
        if float(cv2.blur(faint, (3, 3))[lines == 0].max(initial=0)) < MIN_CONTRAST / 4:
            return []  # blank: what stood out was the light falling off towards the corners
    low = max(4 * noise, 0.04, 0.35 * peak)
    mask = (ink > low).astype(np.uint8) & (1 - lines)
    bridge = min(2 * max(1, round(0.012 * min(h, w))) + 1, MAX_BRIDGE)
    count, labels, stats, centroids = _pieces(mask, bridge)
    if count <= 1:
        return []
    # a piece weighs its ink above the mask's threshold, squared: a pen's stroke stands well above it, a web of
    # a faint grid that just crosses it hardly at all, however many pixels. real_world_eval.py's small squared
    # photos 97.60% against 97.30% by ink alone (seed 1's model); no real image boxed otherwise (docs, step 8)
    mass = np.bincount(labels.ravel(), weights=(np.maximum(ink - low, 0) ** 2).ravel(), minlength=count)
    strong = np.bincount(labels.ravel(), weights=(ink > max(low, 0.5 * peak)).ravel(), minlength=count)
    inked = labels > 0
    brightest = np.zeros(count)
    np.maximum.at(brightest, labels[inked], ink[inked])
    diagonal = float(np.hypot(h, w))
    scores = np.zeros(count)
    for i in range(1, count):
        bw, bh, area = stats[i][2:]
        if strong[i] == 0 or area < 3:
            continue  # faint, or a speck
        distance = np.hypot(centroids[i][0] - w / 2, centroids[i][1] - h / 2) / diagonal
        score = mass[i] * np.exp(-(distance / 0.25) ** 2)
        sides = _sides(stats[i], (w, h))
        if len(sides) >= 3 and photo:
            continue  # ink across a photo to three of its sides: a web of the page's grid, a shadow
        if sides:  # a piece the picture's edge cuts is seldom the digit
            score *= 0.3
        fill = area / (bw * bh)
        if fill > 0.7 and bh < 2.5 * bw:  # a solid block: a window, a shadow, not a stroke
            score *= 0.1
        scores[i] = score
    dots = _printed_dots(stats, centroids, (w, h)) if photo else np.zeros(count, bool)
    scores[dots] = 0  # the page's printing: neither the digit nor joined to it
    candidates = np.flatnonzero(scores)
    if not len(candidates):
        return []
    seed = int(candidates[np.argmax(scores[candidates])])
    if len(candidates) > 1:  # most clean images hold one piece: nothing to tell apart
        scores[_not_the_digit(seed, labels, stats, _stroke_widths(mask, labels, stats))] = 0
    members = _group(seed, stats, scores, brightest, (w, h))
    if not lines.any() and not dots.any() and not _sides(stats[seed], (w, h)):  # a clean page: all its ink is the digit,
        readings = [_whole_page(members, stats, scores, brightest, (w, h), flat)]  # a dry pen's broken strokes too
    else:
        readings = [members, [seed]] if len(members) > 1 else [members]
    pale = None  # in a photo, ink as light as a pen's light touch joins a stroke it touches; in a crop,
    if min(h, w) >= SHEET_PHOTO_SIDE:  # what is near the digit is its window or its neighbours (meters)
        pale = (smooth > max(4 * noise, 0.04, FAINT * peak)).astype(np.uint8)
        pale &= 1 - cv2.dilate(lines, np.ones((3, 3), np.uint8))
    cut = (_cut_out(original, labels, stats, group, lines, enlarged, pale) for group in readings)
    return [(crop, box) for crop, box in cut if crop.shape[1] <= flattest * crop.shape[0]]


def _printed_dots(stats: np.ndarray, centroids: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Which pieces are the printed dots of a dot-grid page: DOTS or more small round specks
    alike in size, each three of its widths or more from the next, beside a stroke ten times
    their size. No page lines are found on such a page, so it passed for a clean one (step 9)
    and every dot as dark as the digit was taken with it: real_world_eval.py's dot-grid photos
    read 98.40% with it and 97.00% without (seed 1's model), a draw it was not set on 97.80%
    and 95.80%; no other line moves. A digit drawn in dots alone (a dry pen) has no such
    stroke beside them, and stays whole. A lattice denser than 2,000 dots is step 7's notch's.
    docs/preprocessing.md, step 8."""
    none = np.zeros(len(stats), bool)
    sides = stats[:, 2:4]
    small = (sides.max(1) <= 0.03 * min(size)) & (sides.max(1) <= 2 * sides.min(1)) & (stats[:, 4] >= 3)
    small[0] = False
    if small.sum() < DOTS:
        return none
    area = float(np.median(stats[small, 4]))
    alike = np.flatnonzero(small & (stats[:, 4] >= area / 2) & (stats[:, 4] <= 2 * area))
    if not DOTS <= len(alike) <= 2000 or stats[1:, 4].max() < 10 * area:
        return none
    points = centroids[alike].astype(np.float32)
    gaps = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1))
    np.fill_diagonal(gaps, np.inf)
    apart = alike[gaps.min(1) >= 3 * np.sqrt(area)]
    return np.isin(np.arange(len(stats)), apart) if len(apart) >= DOTS else none


def _without_grid(ink: np.ndarray) -> np.ndarray:
    """``ink`` with a squared or ruled page's grid notched out of its spectrum: for a digit
    written small on a page photographed whole, whose squares are a few pixels and whose faint
    lines the grain breaks up, so that page_lines cannot follow them and a block of the grid
    is taken for the digit. The lines repeat at one spacing across the photo, so their power
    stands in sharp peaks, GRID_PEAK times the median 3 to 6 bins around; a digit's, a
    shadow's or a sheet edge's is spread. Ink is only taken away: the notch rings, and beside
    a stroke that would add some. About 15 ms a photo (docs/preprocessing.md, step 7)."""
    h, w = ink.shape
    spectrum = np.fft.fftshift(np.fft.fft2(ink))
    power = np.abs(spectrum).astype(np.float32)
    frequency = np.hypot(np.fft.fftshift(np.fft.fftfreq(h))[:, None], np.fft.fftshift(np.fft.fftfreq(w)))
    band = frequency > 1 / 30  # lines up to 30 pixels apart, and their harmonics
    local_max = power >= cv2.dilate(power, np.ones((5, 5), np.uint8))
    ring_sum = cv2.boxFilter(power, -1, (13, 13), normalize=False) - cv2.boxFilter(power, -1, (5, 5), normalize=False)
    # the median round every maximum took most of the time; one under a quarter of the bar over
    # the ring's mean was sharp in none of 1,704 photos (docs/preprocessing.md, step 7)
    ys, xs = np.nonzero(band & local_max & (power > GRID_PEAK / 4 * ring_sum / 144))
    dy, dx = np.mgrid[-6:7, -6:7]
    ring = np.maximum(abs(dy), abs(dx)) >= 3
    around = np.median(power[(ys[:, None] + dy[ring]) % h, (xs[:, None] + dx[ring]) % w], axis=1)
    sharp = power[ys, xs] > GRID_PEAK * around
    if not sharp.any():
        return ink
    notch = np.zeros((h, w), np.uint8)
    notch[ys[sharp], xs[sharp]] = 1
    spectrum[cv2.dilate(notch, np.ones((9, 9), np.uint8)) > 0] = 0
    return np.clip(np.real(np.fft.ifft2(np.fft.ifftshift(spectrum))), 0, ink).astype(np.float32)


def _dark_strokes(ink: np.ndarray, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """``ink`` smoothed over 3x3 (a speck of one pixel is not the peak), and where it is dark
    enough to be a stroke (uint8 mask): 0.35 of that peak, and clear of the paper's grain."""
    smooth = cv2.blur(ink, (3, 3))
    return smooth, (ink > max(4 * noise, 0.04, 0.35 * float(smooth.max()))).astype(np.uint8)


def _cut_out(ink: np.ndarray, labels: np.ndarray, stats: np.ndarray, members: list[int], lines: np.ndarray,
             enlarged: float, pale: np.ndarray | None = None) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The ink of the pieces ``members``, cropped to them, and their box; with the pieces of
    ``pale`` ink that touch them, where given (FAINT)."""
    h, w = ink.shape
    soft = max(1, round(enlarged / 2))  # a stroke's soft edge: a pixel of the original
    left = max(0, min(stats[i][0] for i in members) - soft)
    top = max(0, min(stats[i][1] for i in members) - soft)
    right = min(w, max(stats[i][0] + stats[i][2] for i in members) + soft)
    bottom = min(h, max(stats[i][1] + stats[i][3] for i in members) + soft)
    if pale is not None:  # the pale rest of a stroke may reach a little past its dark part
        margin = (bottom - top + right - left) // 8
        left, top = max(0, left - margin), max(0, top - margin)
        right, bottom = min(w, right + margin), min(h, bottom + margin)
    keep = np.isin(labels[top:bottom, left:right], members).astype(np.uint8)
    if pale is not None:
        _, parts = cv2.connectedComponents(pale[top:bottom, left:right], connectivity=8)
        keep |= np.isin(parts, parts[(keep > 0) & (parts > 0)]).astype(np.uint8)
    if lines.any():  # where a line crossed a stroke, the stroke goes on through it
        keep |= across_removed_lines(keep) & lines[top:bottom, left:right]
    keep = cv2.dilate(keep, np.ones((2 * soft + 1, 2 * soft + 1), np.uint8))
    crop = ink[top:bottom, left:right] * keep
    level = float(np.percentile(crop[keep > 0], 90))
    crop = np.clip(crop / max(level, 1e-6), 0, 1)
    rows, cols = np.flatnonzero(crop.max(1) > 0.2), np.flatnonzero(crop.max(0) > 0.2)  # not the faint fringe
    crop = crop[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    left, top, right, bottom = left + cols[0], top + rows[0], left + cols[-1] + 1, top + rows[-1] + 1
    return crop, (left, top, right, bottom)


def across_removed_lines(strokes: np.ndarray) -> np.ndarray:
    """``strokes`` (uint8 mask) closed across the gap a removed line leaves, level or upright
    (its width, and a pixel either side): where a line crossed a stroke, the stroke goes on."""
    span = 7
    return cv2.morphologyEx(strokes, cv2.MORPH_CLOSE, np.ones((span, 1), np.uint8)) | \
        cv2.morphologyEx(strokes, cv2.MORPH_CLOSE, np.ones((1, span), np.uint8))


def _sides(stat: np.ndarray, size: tuple[int, int]) -> set[str]:
    """Which of the image's sides a piece touches."""
    x, y, bw, bh = stat[:4]
    return {side for side, hit in (("left", x <= 0), ("top", y <= 0), ("right", x + bw >= size[0]),
                                   ("bottom", y + bh >= size[1])) if hit}


def _spans_like_a_bar(stat: np.ndarray, size: tuple[int, int]) -> bool:
    """A thin piece from one side of the image to the opposite one: a window's frame, a
    drum's edge. (A 1 in a tight crop spans the height too, but as the digit itself.)"""
    sides = _sides(stat, size)
    bw, bh = stat[2:4]
    return ({"top", "bottom"} <= sides and bw < 0.25 * bh) or ({"left", "right"} <= sides and bh < 0.25 * bw)


def _stroke_widths(mask: np.ndarray, labels: np.ndarray, stats: np.ndarray) -> np.ndarray:
    """Each piece's stroke width: the width of the strip (a rectangle) with the piece's area
    and outline, so that a short bar measures as thick as a long stroke of the same pen."""
    edge = (labels > 0) & (cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))) == 0)
    half_outline = np.bincount(labels[edge], minlength=len(stats)) / 2 + 2  # length + width, corners counted
    area = stats[:, 4].astype(float)
    return (half_outline - np.sqrt(np.maximum(half_outline ** 2 - 4 * area, 0))) / 2


def _not_the_digit(seed: int, labels: np.ndarray, stats: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """The pieces a person sees are not part of the digit around ``seed``: an outline round
    it (a window, a cell), and straight upright or level bars outside it drawn with a
    thinner pen than the digit's (a window's rim, a scale's strip). A digit's own loose
    pieces have its pen, or lie within it: a 5's flag, a 4's stem, a display's segments."""
    x, y, bw, bh = stats[seed][:4]
    sides = stats[:, 2:4].astype(float)
    overlap = (np.clip(np.minimum(stats[:, 0] + stats[:, 2], x + bw) - np.maximum(stats[:, 0], x), 0, None)
               * np.clip(np.minimum(stats[:, 1] + stats[:, 3], y + bh) - np.maximum(stats[:, 1], y), 0, None))
    bar = ((overlap < 0.5 * sides.prod(1)) & (sides.max(1) >= 0.2 * max(bw, bh))
           & (sides.max(1) >= 3 * np.maximum(sides.min(1), 1)) & (stats[:, 4] >= 0.6 * sides.prod(1))
           & (widths < 0.8 * widths[seed]))
    around = _surrounds(stats, stats[seed])
    around[around] = [_is_outline(labels, i, stats[i]) for i in np.flatnonzero(around)]
    out = bar | around
    out[[0, seed]] = False
    return out


def _is_outline(labels: np.ndarray, index: int, stat: np.ndarray) -> bool:
    """Whether a piece runs along the edges of its own box, as a frame does, rather than
    through it, as a digit's curve or diagonal does."""
    x, y, bw, bh = stat[:4]
    piece = labels[y:y + bh, x:x + bw] == index
    band = max(2, round(0.15 * min(bw, bh)))
    inner = piece[band:bh - band, band:bw - band]
    return bool(inner.sum() <= 0.2 * piece.sum())


def _surrounds(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Whether each of the ``outer`` pieces (stats rows) is a thin piece whose box holds the
    box of the ``inner`` one (a stats row), reaching past it on three sides or four, as a
    window's or a cell's outline around a digit does. A piece never surrounds itself."""
    o_left, o_top = outer[:, 0], outer[:, 1]
    o_right, o_bottom = o_left + outer[:, 2], o_top + outer[:, 3]
    i_left, i_top = inner[0], inner[1]
    i_right, i_bottom = i_left + inner[2], i_top + inner[3]
    holds = (o_left <= i_left) & (o_top <= i_top) & (o_right >= i_right) & (o_bottom >= i_bottom)
    past = (o_left < i_left).astype(int) + (o_top < i_top) + (o_right > i_right) + (o_bottom > i_bottom)
    thin = outer[:, 4] < 0.35 * np.maximum(outer[:, 2] * outer[:, 3], 1)
    return holds & (past >= 3) & thin


def _whole_page(members: list[int], stats: np.ndarray, scores: np.ndarray, brightest: np.ndarray,
                size: tuple[int, int], canvas: bool = False) -> list[int]:
    """On a clean page (no lines, the digit clear of the edges) all the ink that is neither a
    speck nor much fainter is the digit, however far apart its pieces lie (a dry pen), and
    crumbs join where they lie inside its box. On a
    ``canvas`` so is a stroke ``_group`` joined that reaches the edge (a 7's bar drawn off the
    top above a broken stem). docs/preprocessing.md, step 9, has the figures."""
    seed = members[0]
    height = max(stats[i][1] + stats[i][3] for i in members) - min(stats[i][1] for i in members)
    clear = [i for i in range(1, len(stats)) if (canvas and i in members and max(stats[i][2:4]) >= 0.3 * height)
             or (scores[i] > 0 and brightest[i] >= 0.6 * brightest[seed] and not _sides(stats[i], size))]
    counts = [max(stats[i][2], stats[i][3]) >= 0.05 * height for i in clear]  # big enough on its own
    everything = [i for i, big in zip(clear, counts) if big]
    if seed not in everything:
        return members
    left = min(stats[i][0] for i in everything)
    right = max(stats[i][0] + stats[i][2] for i in everything)
    top = min(stats[i][1] for i in everything)
    bottom = max(stats[i][1] + stats[i][3] for i in everything)
    crumbs = [i for i, big in zip(clear, counts) if not big and left <= stats[i][0] and top <= stats[i][1]
              and stats[i][0] + stats[i][2] <= right and stats[i][1] + stats[i][3] <= bottom]
    return everything + crumbs


def _group(seed: int, stats: np.ndarray, scores: np.ndarray, brightest: np.ndarray, size: tuple[int, int]) -> list[int]:
    """The seed and the pieces near it that belong to the same digit: a 5's flag, a broken
    or dotted stroke, the segments of a 7-segment display, a stroke that runs off the edge.
    Not joined: one much fainter than the digit (shading, an unlit segment), crumbs, bars from
    side to side, small marks beside it (a scale's ticks), and what would make it wider than tall."""
    members = [seed]
    left, top, width, height = stats[seed][:4]
    right, bottom = left + width, top + height
    changed = True
    while changed:
        changed = False
        reach = 0.25 * max(bottom - top, right - left)
        for i in range(1, len(stats)):
            if i in members or scores[i] == 0 or brightest[i] < 0.6 * brightest[seed]:
                continue
            x, y, bw, bh = stats[i][:4]
            if max(bw, bh) < 0.05 * (bottom - top):
                continue  # a crumb: joined to a flat piece of a blank page's grid, it made a box read as a digit
            if _spans_like_a_bar(stats[i], size):
                continue
            beside = x >= right - 1 or x + bw <= left + 1
            if beside and max(bw, bh) < 0.3 * (bottom - top):
                continue  # a small mark beside the digit, not above or below it: a scale's tick, a speck
            if max(left - (x + bw), x - right, top - (y + bh), y - bottom) > reach:
                continue
            new = (min(left, x), min(top, y), max(right, x + bw), max(bottom, y + bh))
            wider = new[2] - new[0] > right - left
            if wider and new[2] - new[0] > 1.3 * (new[3] - new[1]) + 2:  # digits are taller than wide
                continue
            members.append(i)
            left, top, right, bottom = new
            changed = True
    return members


# --------------------------------------------------------------------------- framing


def frame_ink(ink: np.ndarray) -> np.ndarray:
    """Ink cropped to a digit (white on black, 0-1) framed MNIST's way: uint8 28x28, the
    longer side 20 pixels, centred by centre of mass."""
    return _centre_in_frame(_scale_to_box(ink))


def _scale_to_box(box: np.ndarray) -> np.ndarray:
    """Longer side to 20 pixels, aspect ratio kept. Strokes too thin to survive the shrink
    (a fine pen on a large scan) are thickened first, at 4x the final size, to MNIST's
    usual pen."""
    h, w = box.shape
    work = Image.fromarray(np.round(box * 255).astype(np.uint8), mode="L")
    ratio = WORK_BOX / max(h, w)
    size = (max(1, round(w * ratio)), max(1, round(h * ratio)))
    work = work.resize(size, Image.Resampling.BOX if ratio < 1 else Image.Resampling.BICUBIC)
    pixels = np.asarray(work)
    width = stroke_width(pixels > pixels.max() / 2)
    # the finest pens are thickened to TARGET_PEN, and less so towards THIN_PEN, so that two
    # nearly equal pens come out nearly equal, not one thin and one bold
    target = np.interp(width, [FINE_PEN, THIN_PEN], [TARGET_PEN, THIN_PEN])
    if target - width > 1:
        k = int(np.clip(round(target - width), 3, 11)) | 1  # odd MaxFilter size: the pen becomes ~target
        work = work.filter(ImageFilter.MaxFilter(k))
    ratio = DIGIT_BOX / WORK_BOX
    final = work.resize((max(1, round(work.width * ratio)), max(1, round(work.height * ratio))), Image.Resampling.BOX)
    digit = np.asarray(final, dtype=np.float32)
    return digit / max(float(digit.max()), 1.0)


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width in pixels of the ink in ``mask``: area over half the boundary length."""
    area = int(mask.sum())
    if area == 0:
        return 0.0
    padded = np.pad(mask, 1)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:] & mask
    boundary = area - int(interior.sum())
    return 2 * area / max(boundary, 1)


def nudged(digits: np.ndarray) -> np.ndarray:
    """MNIST-like digits (N, 28, 28) moved a pixel each way (NUDGES), one move after the other:
    (len(NUDGES) * N, 28, 28). Centring by the centre of mass rounds to a whole pixel, and a
    network's reading can turn on that pixel (see ``inference.placed_probabilities``)."""
    return np.concatenate([np.roll(digits, shift, axis=(1, 2)) for shift in NUDGES])


def _centre_in_frame(digit: np.ndarray) -> np.ndarray:
    """Paste into 28x28 so the centre of mass lands where MNIST's does, at (14, 14)."""
    h, w = digit.shape
    mass = digit.sum()
    cy = float((digit.sum(1) * np.arange(h)).sum() / mass)
    cx = float((digit.sum(0) * np.arange(w)).sum() / mass)
    top = int(np.clip(round(MNIST_SIZE / 2 - cy), 0, MNIST_SIZE - h))
    left = int(np.clip(round(MNIST_SIZE / 2 - cx), 0, MNIST_SIZE - w))
    frame = np.zeros((MNIST_SIZE, MNIST_SIZE), dtype=np.float32)
    frame[top:top + h, left:left + w] = digit
    return np.round(frame * 255).astype(np.uint8)
