"""Photos of sudoku pages drawn from a physical description, for tests and benchmarks of
``inference.py --sudoku`` on puzzles it was not tuned on.

A page is a printed 9 x 9 grid (thin lines, thicker ones round the 3 x 3 boxes and the
frame) with printed digits in a font, digits written into some cells by hand (MNIST's, in a
pen), small pencilled candidates in others; it is photographed at an angle (perspective), in
uneven light with a shadow across it, with blur and sensor noise, lying on a darker desk.
Every parameter is drawn from a range, seeded. Nothing here was derived from
../shared/realworld/.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageDraw

from fonts import load_font, resolve_font

PHOTO_SIZE = (1600, 1200)  # a phone photo, scaled down
CELL_PX = 90  # the page is drawn at this many pixels a cell, before the camera
FONTS = ("DejaVuSerif", "DejaVuSans", "DejaVuSans-Bold", "cmr10")


def sudoku_page(grid: np.ndarray, rng: np.random.Generator, handwritten: dict[int, np.ndarray] | None = None,
                candidates: tuple[int, ...] = (), ruled: bool = True) -> np.ndarray:
    """A flat page (float 0-1 grey, white paper) holding the puzzle ``grid`` (81 numbers, 0
    blank) in a printed font; cells in ``handwritten`` (index: an MNIST-like 28x28 digit) are
    written in pen instead, and cells in ``candidates`` hold two small pencilled digits.
    Without ``ruled``, the digits are printed on the page with no grid (not a sudoku)."""
    margin = CELL_PX
    side = 9 * CELL_PX + 2 * margin
    page = Image.new("L", (side, side), 255)
    draw = ImageDraw.Draw(page)
    line = int(rng.integers(40, 140))  # the thin lines' grey, from dark to light
    if ruled:
        for k in range(10):
            width = int(rng.integers(5, 8)) if k % 3 == 0 else int(rng.integers(1, 3))
            colour = 0 if k % 3 == 0 else line
            at = margin + k * CELL_PX
            draw.line([(margin, at), (margin + 9 * CELL_PX, at)], fill=colour, width=width)
            draw.line([(at, margin), (at, margin + 9 * CELL_PX)], fill=colour, width=width)
    font = load_font(resolve_font(str(rng.choice(FONTS))), size=int(CELL_PX * rng.uniform(0.6, 0.75)))
    small = load_font(resolve_font("DejaVuSans"), size=int(CELL_PX * 0.28))
    for i, value in enumerate(np.asarray(grid).ravel()):
        row, column = divmod(i, 9)
        x, y = margin + (column + 0.5) * CELL_PX, margin + (row + 0.5) * CELL_PX
        if handwritten and i in handwritten:
            _write(page, handwritten[i], (x, y), rng)
        elif i in candidates:
            pair = "".join(str(v) for v in rng.choice(np.arange(1, 10), 2, replace=False))
            draw.text((x - 0.4 * CELL_PX, y - 0.42 * CELL_PX), pair, fill=int(rng.integers(80, 130)), font=small)
        elif value:
            draw.text((x, y), str(int(value)), fill=0, font=font, anchor="mm")
    return np.asarray(page, dtype=np.float32) / 255


def _write(page: Image.Image, digit: np.ndarray, centre: tuple[float, float], rng: np.random.Generator) -> None:
    """An MNIST digit written in pen into the page at ``centre``, about 0.75 of a cell tall."""
    size = int(CELL_PX * rng.uniform(0.9, 1.05))  # MNIST's digit fills 20 of its 28 pixels
    ink = cv2.resize(digit, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
    darkness = rng.uniform(0.55, 0.85)
    left, top = int(centre[0] - size / 2 + rng.integers(-4, 5)), int(centre[1] - size / 2 + rng.integers(-4, 5))
    area = np.asarray(page, dtype=np.float32)[top:top + size, left:left + size]
    written = area * (1 - darkness * np.clip(ink, 0, 1))
    page.paste(Image.fromarray(np.round(written).astype(np.uint8)), (left, top))


def photograph(page: np.ndarray, rng: np.random.Generator, shadow: bool = True,
               tilt: float = 0.12) -> tuple[np.ndarray, np.ndarray]:
    """The page photographed: lying on a darker desk, seen at an angle (each corner moved up
    to ``tilt`` of the page's side), lit unevenly, with a hard-edged shadow across part of it
    (``shadow``), blurred a little, with noise. Returns the photo (uint8 grey) and the
    puzzle's corners in it (top-left, top-right, bottom-right, bottom-left)."""
    width, height = PHOTO_SIZE
    side = page.shape[0]
    span = rng.uniform(0.6, 0.8) * min(width, height)
    centre = np.array([width / 2, height / 2]) + rng.uniform(-0.12, 0.12, 2) * (width, height)
    square = np.float32([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * span / 2 + centre
    corners = (square + rng.uniform(-tilt, tilt, (4, 2)) * span).astype(np.float32)
    source = np.float32([[0, 0], [side, 0], [side, side], [0, side]])
    warp = cv2.getPerspectiveTransform(source, corners)
    paper = rng.uniform(0.8, 0.95)
    desk = rng.uniform(0.15, 0.45)
    photo = cv2.warpPerspective(page * paper, warp, (width, height), flags=cv2.INTER_AREA, borderValue=-1.0)
    photo = np.where(photo < 0, desk, photo)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    light = 1 + rng.uniform(-0.15, 0.15) * (xs / width - 0.5) + rng.uniform(-0.15, 0.15) * (ys / height - 0.5)
    photo = photo * light
    if shadow:
        angle = rng.uniform(0, np.pi)
        edge = np.cos(angle) * (xs - centre[0]) + np.sin(angle) * (ys - centre[1]) - rng.uniform(0.1, 0.35) * span
        photo = photo * np.where(cv2.GaussianBlur((edge > 0).astype(np.float32), (0, 0), 3) > 0.5,
                                 rng.uniform(0.45, 0.7), 1.0)
    photo = cv2.GaussianBlur(photo, (0, 0), rng.uniform(0.6, 1.4))
    photo = photo + rng.normal(0, 0.015, photo.shape)
    margin = CELL_PX / side  # the puzzle's frame inside the page
    inner = source + (np.float32([[1, 1], [-1, 1], [-1, -1], [1, -1]]) * margin * side)
    puzzle = cv2.perspectiveTransform(inner[None], warp)[0]
    return np.round(np.clip(photo, 0, 1) * 255).astype(np.uint8), puzzle


def random_grid(rng: np.random.Generator, givens: int = 30) -> np.ndarray:
    """A valid solved sudoku, shuffled, with all but ``givens`` cells blanked (81 numbers)."""
    base = np.array([[(3 * (r % 3) + r // 3 + c) % 9 + 1 for c in range(9)] for r in range(9)])
    bands = rng.permutation(3)
    rows = np.concatenate([b * 3 + rng.permutation(3) for b in bands])
    stacks = rng.permutation(3)
    columns = np.concatenate([s * 3 + rng.permutation(3) for s in stacks])
    solved = rng.permutation(np.arange(1, 10))[base[rows][:, columns] - 1]
    grid = solved.ravel().copy()
    grid[rng.permutation(81)[:81 - givens]] = 0
    return grid


def puzzle_photo(rng: np.random.Generator, mnist: tuple[np.ndarray, np.ndarray] | None = None,
                 written: int = 10, candidates: int = 4, shadow: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A photo of a random puzzle: ``written`` of its givens in MNIST's handwriting (where
    ``mnist``, its images and labels, is given), ``candidates`` blank cells holding pencilled
    candidates. Returns the photo, the grid (81 numbers, 0 blank; candidate cells are blank)
    and the puzzle's corners in the photo."""
    grid = random_grid(rng)
    handwritten = {}
    if mnist is not None:
        images, labels = mnist
        for i in rng.choice(np.flatnonzero(grid), written, replace=False):
            handwritten[int(i)] = images[rng.choice(np.flatnonzero(labels == grid[i]))]
    pencilled = tuple(int(i) for i in rng.choice(np.flatnonzero(grid == 0), candidates, replace=False))
    photo, corners = photograph(sudoku_page(grid, rng, handwritten, pencilled), rng, shadow=shadow)
    return photo, grid, corners
