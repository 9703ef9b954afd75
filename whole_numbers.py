"""A row of handwritten digits (a check amount, a number on a form) cut into candidate digits
the 1998 way: no torch here, the network is the caller's.

    line = whole_numbers.number_line(gray)       # the number's ink, upright, baseline and specks out
    pieces = whole_numbers.candidates(line)      # every piece and run of neighbours to read
    probabilities = read(np.stack([p.digit for p in pieces]))
    path = whole_numbers.best_path(line, pieces, probabilities, classes)

The ink is cut into atoms: its connected pieces, and where a piece is wider than a digit,
the parts between the places where its column holds least ink or its outline has a notch
(two touching digits join there). Every run of up to MAX_ATOMS neighbouring atoms is a
candidate digit; the network scores each, and dynamic programming takes the split of the
atoms into candidates that the network is surest of, each read as a digit or, where it is
low or flat, as a separator (a dot, comma, dash or "=" that is no digit).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from preprocess import (SHEET_PHOTO_SIDE, WORK_SIDE, across_removed_lines, flatten_lighting, frame_ink, ink_polarity,
                        locate_ink, page_lines)

LINE_HEIGHT = 64  # the image is read at this height: the digits of a check amount are 30-60 pixels tall there
MAX_ATOMS = 5  # a digit is at most this many neighbouring atoms (a 5 in three strokes, one cut too many)
WIDEST_DIGIT = 1.4  # a candidate digit is at most this many times the line's digit height wide
MIN_DIGIT = 0.25  # the digits are at least this share of the image's height
CUT_FROM = 0.7  # a piece wider than this many digit heights may be two or more touching digits
CUT_SPACING = 0.2  # cuts in one piece are at least this many digit heights apart
LOOP = 0.15  # a hole in the ink this many digit heights across is a loop (a 0's, a 6's), not a speck of paper
SEPARATOR_HEIGHT = 0.45  # ink lower than this many digit heights is a dot, comma or dash, not a digit
FLAT = 0.4  # and ink this much wider than tall is a dash or an "=" however long
# Atoms this many digit heights apart, no column of ink between them, in two groups at least
# DIGIT_TALL digit heights high, are two digits side by side, never one (see _side_by_side)
APART = 0.1
DIGIT_TALL = 0.6
SHEARS = np.linspace(-0.8, 0.8, 17)  # the slants tried: up to about 40 degrees either way
SPECK = 0.01  # a piece of ink smaller than this many square digit heights is a speck of the paper's pattern
DIGIT_CLASSES = tuple("0123456789")
MIN_CONTRAST = 0.15  # the pen differs from the paper by at least this much (0-1)


@dataclass
class Line:
    """A line of ink, deslanted: ``ink`` 0-1 (dark ink bright), ``atoms`` a label per pixel
    (0 none, 1.. the atoms left to right), ``height`` the digits' height in pixels, and how to
    map back to the image: ``scale`` (line pixels per image pixel), ``shear`` and ``origin``
    (where in the image the part read begins, x and y)."""

    ink: np.ndarray
    atoms: np.ndarray
    boxes: list[tuple[int, int, int, int]]
    height: float
    scale: float
    shear: float
    origin: tuple[int, int] = (0, 0)


@dataclass
class Candidate:
    """The atoms ``first`` up to ``last`` (inclusive) read as one digit, framed MNIST's way."""

    first: int
    last: int
    digit: np.ndarray
    box: tuple[int, int, int, int]  # x, y, w, h in the line
    separator: bool = False  # low or flat: a dot, comma, dash or "=", not a digit


@dataclass
class Read:
    """One digit of the number: the class read, its probability and its box in the image."""

    value: str
    confidence: float
    box: tuple[int, int, int, int]
    candidate: Candidate = field(repr=False)


def number_line(gray: np.ndarray) -> Line | None:
    """``ink_line`` of the number in an image (grey, 0-1): the image itself where it is a crop
    (a check's amount, a line cropped to its number), else the number's own line. A photo or
    a page in which the number is small (the ink the single-digit search finds, any width,
    under MIN_DIGIT of the height) would be shrunk to LINE_HEIGHT whole and its digits lost
    to specks; a person looks at that ink and reads along its line (``_number_strip``). Light
    ink on a dark ground (chalk, a screen) is read as dark ink on light, as the single-digit
    search tells them apart (``preprocess.ink_polarity``, on the picture at most WORK_SIDE
    pixels long)."""
    shrink = min(1.0, WORK_SIDE / max(gray.shape))
    if not ink_polarity(cv2.resize(gray, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA))[0]:
        gray = 1 - gray
    strip = _number_strip(gray)
    if strip is None:
        return ink_line(gray)
    even, (x0, y0) = strip
    line = ink_line(even)
    if line is not None:
        line.origin = (x0, y0)
    return line


def _number_strip(gray: np.ndarray) -> tuple[np.ndarray, tuple[int, int]] | None:
    """The number's line in an image whose digits are small in it, and where it begins (x, y);
    None where the image is a crop or its digits fill it (see ``number_line``). The band of the
    ink found, its height and half again above and below, its light evened out (each pixel
    over the paper's brightness around it: a digit in a shadow is then as dark as one in the
    light) and a squared or ruled page's printed lines taken out (``preprocess.page_lines``;
    where a line crossed a stroke, the stroke goes on through it), followed left and right
    while ink lies within a digit's height. real_world_eval.py's photographed pages (--seed 0,
    1 and 2; seed 1's numbers model) read 94.25, 94.25 and 94.50% exactly; without the printed
    lines taken out 94.00, 93.75 and 93.75%; without the light evened out either, 81.50%."""
    h, w = gray.shape
    if min(h, w) < SHEET_PHOTO_SIDE:
        return None  # a crop, as the single-digit search tells one from a photo: read whole
    found = locate_ink(gray, flattest=np.inf)
    if not found:
        return None
    left, top, right, bottom = found[0][1]
    tall = bottom - top
    if tall >= MIN_DIGIT * h:
        return None
    y0, y1 = max(0, top - tall // 2), min(h, bottom + tall // 2)
    band = gray[y0:y1]
    window = cv2.getStructuringElement(cv2.MORPH_RECT, (max(3, (y1 - y0) // 4) | 1,) * 2)
    paper = cv2.morphologyEx(band, cv2.MORPH_CLOSE, window, borderType=cv2.BORDER_REPLICATE)
    even = np.clip(band / np.maximum(paper, 1e-3), 0, 1)
    ink = 1 - even
    peak = float(cv2.blur(ink, (3, 3)).max())
    lines = page_lines(ink, max(0.04, 0.15 * peak), 0.6)
    strokes = ((ink > 0.35 * peak) & (lines == 0)).astype(np.uint8)
    printed = (lines > 0) & (across_removed_lines(strokes) == 0)
    even[printed], ink[printed] = 1.0, 0.0
    digit_rows = ink[top - y0:bottom - y0]
    mask = (digit_rows > 0.35 * max(float(digit_rows[:, left:right].max()), MIN_CONTRAST)).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    kept = 1 + np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= SPECK * tall * tall)  # not the paper's grain
    inked = np.isin(labels, kept).any(0)
    x0, x1 = left, right
    while x0 > 0 and inked[max(0, x0 - tall):x0].any():  # on while ink lies within a digit's height
        x0 = max(0, x0 - tall) + int(np.argmax(inked[max(0, x0 - tall):x0]))
    while x1 < w and inked[x1:x1 + tall].any():
        x1 += int(np.flatnonzero(inked[x1:x1 + tall])[-1]) + 1
    x0, x1 = max(0, x0 - tall // 2), min(w, x1 + tall // 2)
    return even[:, x0:x1].astype(np.float32), (x0, y0)


def ink_line(gray: np.ndarray) -> Line | None:
    """The ink of an image that holds a row of digits (grey, 0-1), upright, cut into atoms and
    measured; None where it holds no ink."""
    h, w = gray.shape
    scale = LINE_HEIGHT / h
    paper = cv2.resize(gray.astype(np.float32), (max(1, round(w * scale)), LINE_HEIGHT),
                       interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    ink = flatten_lighting(paper, LINE_HEIGHT // 2 | 1)
    if float(ink.max()) < MIN_CONTRAST:
        return None
    mask = _ink_mask(np.round(np.clip(ink / ink.max(), 0, 1) * 255).astype(np.uint8))
    mask &= 1 - _baseline(mask)
    shear = _slant(mask)
    ink, mask = _deslant(ink, shear), (_deslant(mask.astype(np.float32), shear) > 0.5).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count < 2:
        return None
    height = _digit_height(stats[1:])
    pieces = [i for i in range(1, count) if stats[i, 4] >= SPECK * height * height]
    atoms = np.zeros(labels.shape, np.int32)
    boxes = []
    for i in pieces:
        x, y, pw, ph = stats[i, :4]
        piece = labels[y:y + ph, x:x + pw] == i
        for left, right in _cuts(piece, height):
            part = np.zeros_like(piece)
            part[:, left:right] = piece[:, left:right]
            ys, xs = np.nonzero(part)
            if len(ys) < 6:
                continue
            atoms[y:y + ph, x:x + pw][part] = len(boxes) + 1
            boxes.append((int(x + xs.min()), int(y + ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)))
    if not boxes:
        return None
    order = np.argsort([bx + bw / 2 for bx, _, bw, _ in boxes], kind="stable")  # left to right by their middles
    relabel = np.zeros(len(boxes) + 1, np.int32)
    relabel[order + 1] = np.arange(1, len(boxes) + 1)
    atoms = relabel[atoms]
    return Line(np.where(atoms > 0, ink, 0).astype(np.float32), atoms, [boxes[i] for i in order], height, scale, shear)


def _ink_mask(ink: np.ndarray) -> np.ndarray:
    """Which pixels of ``ink`` (uint8, bright ink) are the pen's. A check's security pattern is
    ink too, fainter than the pen: Otsu's threshold splits paper from pattern and pen, a second
    Otsu among what is above it splits the pen from the pattern. The pen is what is above the
    second, and what above the first is joined to it (hysteresis), so a stroke that fades
    stays whole while the pattern apart from it stays out. Measured with the numbers model
    (seed 1): development check amounts 59% read exactly, against 48% with one Otsu threshold
    joined down to 0.7 of it; drawn numbers (no pattern) read the same either way."""
    low, _ = cv2.threshold(ink, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    above = ink[ink > low]
    if above.size < 2:
        return (ink > low).astype(np.uint8)
    high, _ = cv2.threshold(above.reshape(1, -1), 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    count, labels = cv2.connectedComponents((ink > low).astype(np.uint8), connectivity=8)
    joined = np.zeros(count, bool)
    joined[labels[ink > high]] = True
    joined[0] = False
    return joined[labels].astype(np.uint8)


def _baseline(mask: np.ndarray) -> np.ndarray:
    """A printed baseline or underline: a straight horizontal run longer than two digits are wide."""
    run = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (2 * LINE_HEIGHT, 1)))
    return cv2.dilate(run, np.ones((3, 1), np.uint8))


def _slant(mask: np.ndarray) -> float:
    """How far the strokes lean (x moves this much per pixel up): the shear that stands them
    most upright, where the ink piles up into the fewest, fullest columns."""
    best, best_score = 0.0, -1.0
    for shear in SHEARS:
        columns = _deslant(mask.astype(np.float32), shear).sum(0)
        score = float(np.dot(columns, columns))
        if score > best_score:
            best, best_score = shear, score
    return best


def _deslant(image: np.ndarray, shear: float, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    h, w = image.shape
    pad = int(np.ceil(abs(shear) * h))  # x moves by shear * (y - h / 2): the middle row stays, the rest leans back
    matrix = np.float32([[1, shear, -shear * h / 2 + pad / 2], [0, 1, 0]])
    return cv2.warpAffine(image, matrix, (w + pad, h), flags=interpolation)


def _digit_height(stats: np.ndarray) -> float:
    """The height of the line's digits: the median height of its ink, pixel by pixel (the digits
    hold most of it; a dot or a dash little), and a quarter of the image's at least (an image
    cropped to a number is not four times taller than its digits; one with only dots and
    dashes holds none)."""
    order = np.argsort(stats[:, 3])
    weight = np.cumsum(stats[order, 4])
    return float(max(MIN_DIGIT * LINE_HEIGHT, stats[order[np.searchsorted(weight, weight[-1] / 2)], 3]))


def _cuts(piece: np.ndarray, height: float) -> list[tuple[int, int]]:
    """The column spans a piece (a boolean mask cropped to it) is cut into: itself, unless it
    is wider than a digit, when it is cut where two touching digits may meet: where its column
    holds least ink, or its upper outline dips or its lower one rises (two round digits meet in
    such a notch), and between two loops side by side (``_between_loops``)."""
    w = piece.shape[1]
    if w < CUT_FROM * height:
        return [(0, w)]
    filled = piece.any(0)
    rows = np.arange(piece.shape[0])[:, None]
    top = np.where(piece, rows, piece.shape[0]).min(0).astype(np.float32)
    bottom = np.where(piece, rows, -1).max(0).astype(np.float32)
    count = piece.sum(0).astype(np.float32)
    margin = max(2, int(CUT_SPACING * height))
    found: list[tuple[float, int]] = []
    for profile in (count, -top, bottom):
        smooth = np.convolve(np.where(filled, profile, profile.min()), np.ones(3) / 3, mode="same")
        for c in range(margin, w - margin):
            window = smooth[max(0, c - margin // 2):c + margin // 2 + 1]
            if smooth[c] == window.min() and smooth[c] < window.max():
                found.append((float(count[c]), c))  # the thinnest first
    chosen: list[int] = []
    for _, c in sorted(found):
        if all(abs(c - d) >= margin for d in chosen):
            chosen.append(c)
    bounds = [0, w] + chosen
    for c in _between_loops(piece, height):
        if all(abs(c - d) >= max(2, margin // 2) for d in bounds):
            bounds.append(c)
    bounds.sort()
    return list(zip(bounds[:-1], bounds[1:]))


def _between_loops(piece: np.ndarray, height: float) -> list[int]:
    """The columns halfway between two loops side by side in a piece: zeros written in one
    stroke ("1.000" with the pen never lifted), each a loop that leans into the next, where
    no column is thin. Offered as cuts, they read 1.0-1.3 points more of the development
    check amounts exactly and 0-1.75 more of each kind of drawn row (real_world_eval.py's
    and another seed's), for each of three numbers models; LOOP from 0.08 to 0.25 alike."""
    contours, hierarchy = cv2.findContours(piece.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return []
    loops = sorted((x, x + w) for (x, _, w, h), (*_, parent) in zip(map(cv2.boundingRect, contours), hierarchy[0])
                   if parent >= 0 and max(w, h) >= LOOP * height)  # a hole, not a speck of paper in a stroke
    return [round((r0 + l1) / 2) if l1 >= r0 else round((l0 + r0 + l1 + r1) / 4)  # apart, or the middles' middle
            for (l0, r0), (l1, r1) in zip(loops, loops[1:])]


def candidates(line: Line) -> list[Candidate]:
    """Every run of up to MAX_ATOMS neighbouring atoms no wider than a digit, framed to read."""
    found = []
    n = len(line.boxes)
    for first in range(n):
        for last in range(first, min(n, first + MAX_ATOMS)):
            x0 = min(b[0] for b in line.boxes[first:last + 1])
            y0 = min(b[1] for b in line.boxes[first:last + 1])
            x1 = max(b[0] + b[2] for b in line.boxes[first:last + 1])
            y1 = max(b[1] + b[3] for b in line.boxes[first:last + 1])
            if last > first and x1 - x0 > WIDEST_DIGIT * line.height:
                break
            inside = (line.atoms[y0:y1, x0:x1] >= first + 1) & (line.atoms[y0:y1, x0:x1] <= last + 1)
            ink = np.where(inside, line.ink[y0:y1, x0:x1], 0)
            ink = ink / max(float(ink.max()), 1e-6)
            h, w = y1 - y0, x1 - x0
            separator = h < SEPARATOR_HEIGHT * line.height or h < FLAT * w
            found.append(Candidate(first, last, frame_ink(ink), (x0, y0, w, h), separator))
    return found


def best_path(line: Line, found: list[Candidate], probabilities: np.ndarray, classes: tuple[str, ...]) -> list[Read]:
    """The digits of the line: of the ways to split its atoms into runs that ``found`` offers,
    the one whose digits the network is surest of (the highest sum of the log-probabilities of
    each run's likeliest digit), by dynamic programming over the cuts. A network with a
    "none" class (train.py --not-a-digit) gives a run that is half a digit, or two, little
    probability for any digit. A separator (a dot, a comma, a dash, an "=") is no digit: it is
    left out of the number."""
    digits = np.array([c in DIGIT_CLASSES for c in classes])
    n = len(line.boxes)
    best = np.full(n + 1, -np.inf)
    best[0] = 0.0
    back: list[tuple[int, int, bool] | None] = [None] * (n + 1)
    for index, candidate in enumerate(found):
        start, end = candidate.first, candidate.last + 1
        if end - start > 1 and _side_by_side(line.boxes[start:end], line.height):
            continue
        score = 0.0 if candidate.separator else float(np.log(max(probabilities[index][digits].max(), 1e-12)))
        if best[start] + score > best[end]:
            best[end] = best[start] + score
            back[end] = (index, start, candidate.separator)
    reads: list[Read] = []
    end = n
    while end > 0 and back[end] is not None:
        index, start, skipped = back[end]
        if not skipped:
            p = probabilities[index]
            k = int(np.flatnonzero(digits)[p[digits].argmax()])
            reads.append(Read(classes[k], float(p[k]), to_image_box(line, found[index].box), found[index]))
        end = start
    return reads[::-1]


def _side_by_side(boxes: list[tuple[int, int, int, int]], height: float) -> bool:
    """Whether atoms (boxes x, y, w, h) fall into groups with APART digit heights of empty
    columns between them, two of the groups or more digit-tall (DIGIT_TALL): two digits side by
    side, as a person sees them, however surely the network reads them as one (a thin 1 beside
    a 0 reads as the 0, a 1 or 6 beside it as a slice of its neighbour). A dot or a comma beside
    a digit is not tall and may join it: alone, a comma reads as a 1. Measured with the numbers
    models of seeds 1-3, in reading only (docs/inference.md): the real check amounts 0.17-0.5
    points more exactly, the drawn rows 0.5-1.75 points more, every seed and kind up."""
    groups: list[list[tuple[int, int, int, int]]] = []
    for box in sorted(boxes):
        if groups and box[0] - max(x + w for x, _, w, _ in groups[-1]) < APART * height:
            groups[-1].append(box)
        else:
            groups.append([box])
    tall = [max(y + h for _, y, _, h in group) - min(y for _, y, _, _ in group) >= DIGIT_TALL * height
            for group in groups]
    return sum(tall) >= 2


def to_line(line: Line, labels: np.ndarray) -> np.ndarray:
    """A map of labels over the image (int, the image's shape) over the line instead: scaled
    and stood upright as the ink was, each pixel the label nearest."""
    h, w = labels.shape
    scaled = cv2.resize(labels.astype(np.float32), (max(1, round(w * line.scale)), LINE_HEIGHT),
                        interpolation=cv2.INTER_NEAREST)
    return _deslant(scaled, line.shear, cv2.INTER_NEAREST).astype(np.int32)


def to_image_box(line: Line, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """A box in the deslanted line as the upright box around it in the image."""
    x, y, w, h = box
    pad = np.ceil(abs(line.shear) * line.ink.shape[0])
    corners = []
    for cx, cy in ((x, y), (x + w, y), (x, y + h), (x + w, y + h)):
        corners.append((cx + line.shear * line.ink.shape[0] / 2 - pad / 2 - line.shear * cy, cy))
    xs = [c[0] / line.scale + line.origin[0] for c in corners]
    ys = [c[1] / line.scale + line.origin[1] for c in corners]
    return (int(min(xs)), int(min(ys)), int(np.ceil(max(xs) - min(xs))), int(np.ceil(max(ys) - min(ys))))
