"""A sudoku in a photo: find the puzzle, straighten it, cut its 81 cells and say which hold a
digit; and check and solve the grid that was read.

A person finds the puzzle by its outer square, the largest four-sided frame in the photo
whose inside is ruled into 9 x 9 cells; straightens it; and reads each cell for one large
digit, passing over the grid's lines, the small pencilled candidates some solvers write in a
corner and the faint marks of rubbed-out ones. ``find_puzzle`` and ``cells`` do that here,
with OpenCV; the digits themselves are read by the network (``inference.Predictor.read_sudoku``),
framed MNIST's way by ``preprocess.frame_ink``. Like preprocess.py, this imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from preprocess import MIN_CONTRAST, flatten_lighting, frame_ink

SEARCH_SIDE = 1000  # the frame is looked for at this size: its lines are still several pixels wide
CELL = 64  # the straightened puzzle's cells, in pixels: the digits come out 30-45 pixels tall
MIN_PUZZLE = 0.15  # the puzzle's side is at least this share of the photo's shorter side
LINE_FOUND = 0.8  # a grid's lines are ink along this share of their length, on average; each along half that
NESTED = 0.3  # a ruled frame inside another and at least this share of its area is the puzzle (the other a page)
MIDDLES_INKED = 0.7  # the rows and columns through its cells cross digits, but are not ink along most of them
PENCIL = 0.2  # a digit in pencil is at least this dark against the paper, as a share of the printed lines
DIGIT_HEIGHT = 0.4  # a cell's digit is at least this share of the cell tall; candidates are smaller,
CANDIDATE_HEIGHT = 0.5  # or a row of small digits side by side, each less than this share of the cell tall
BLURRED = 0.06  # edges softer than this: the development photos measure 0.19-0.50, blurred 4 px at 2000 px 0.03-0.05


@dataclass
class Cell:
    """What a cell holds: ``ink`` (the digit framed MNIST's way, uint8 28x28) where it holds
    one large digit; None where it is blank or holds only small ``candidates`` (pencilled
    notes); ``box`` is the digit's box in the straightened puzzle."""

    ink: np.ndarray | None = None
    box: tuple[int, int, int, int] | None = None
    candidates: bool = False


@dataclass
class Puzzle:
    """A puzzle found in a photo: its corners (top-left, top-right, bottom-right, bottom-left,
    in the photo's pixels), the puzzle straightened to 9 x CELL pixels a side (grey, 0-1), its
    81 cells row by row, and how sharp it is (below BLURRED is reported as blurred)."""

    corners: np.ndarray
    straightened: np.ndarray
    cells: list[Cell]
    sharpness: float

    @property
    def blurred(self) -> bool:
        return self.sharpness < BLURRED


def find_puzzle(gray: np.ndarray) -> Puzzle | None:
    """The sudoku in a grey photo (0-1), straightened and cut into cells; None where the photo
    holds no 9 x 9 grid whose frame is whole in the picture."""
    gray = np.asarray(gray, dtype=np.float32)
    corners = find_corners(gray)
    if corners is None:
        return None
    straight = straighten(gray, corners)
    return Puzzle(corners, straight, cells(straight), _sharpness(straight))


def find_corners(gray: np.ndarray) -> np.ndarray | None:
    """The corners of the largest four-sided frame in the photo that is ruled into 9 x 9
    cells: float32 (4, 2), top-left first, clockwise. A page's edge or a box on it is a
    four-sided frame too, but not a ruled one; a cut-off puzzle has no four-sided frame."""
    h, w = gray.shape
    scale = min(1.0, SEARCH_SIDE / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))  # a sliver of a picture stays a pixel wide
    small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA) if scale < 1 else gray
    u8 = np.round(small * 255).astype(np.uint8)
    mask = cv2.adaptiveThreshold(cv2.GaussianBlur(u8, (5, 5), 0), 1, cv2.ADAPTIVE_THRESH_MEAN_C,
                                 cv2.THRESH_BINARY_INV, 31, 7)
    frames = []
    # the puzzle's frame is an outline in the ink as thresholded, unless a dark desk touches it; then
    # it is one in the ink less what is thicker than a line. A shadow's hard edge across the frame is
    # "ink" in both, but not in what is darker than the paper within 15 pixels (a black-hat): that view
    # finds 8 more of 80 drawn photos with such a shadow, and one real photo (34 cells), for 0.01 s
    thin = mask & (1 - cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((9, 9), np.uint8)))
    hat = cv2.morphologyEx(cv2.GaussianBlur(u8, (3, 3), 0), cv2.MORPH_BLACKHAT, np.ones((15, 15), np.uint8))
    _, lines_only = cv2.threshold(hat, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    for ink in (mask, thin, lines_only):
        frames += _frames(ink, (MIN_PUZZLE * min(small.shape)) ** 2)
    frames.sort(key=lambda frame: -frame[0])
    ruled = [(area, quad, fit) for area, quad in frames if (fit := _ruled(mask, quad))]
    if not ruled:
        return None
    area, quad, fit = ruled[0]
    for inner_area, inner, inner_fit in ruled[1:]:  # a page whose margin is about a cell can pass for a ruled
        if inner_area >= NESTED * area and _inside(inner, quad) and inner_fit > fit:  # frame: the puzzle is the
            area, quad, fit = inner_area, inner, inner_fit  # ruled frame inside it that lies on its lines better
    return quad / scale


def _inside(inner: np.ndarray, outer: np.ndarray) -> bool:
    """Whether every corner of ``inner`` lies within the quadrilateral ``outer``."""
    contour = outer.reshape(-1, 1, 2)
    return all(cv2.pointPolygonTest(contour, (float(x), float(y)), False) >= 0 for x, y in inner)


def _frames(mask: np.ndarray, smallest: float) -> list[tuple[float, np.ndarray]]:
    """Four-sided outlines in the ink of at least ``smallest`` area: (area, corners)."""
    frames = []
    for contour in cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)[0]:
        hull = cv2.convexHull(contour)
        area = cv2.contourArea(hull)
        if area < smallest:
            continue
        for tolerance in (0.02, 0.04, 0.08):  # ink touching the frame (a note, a smudge) bends its outline
            quad = cv2.approxPolyDP(hull, tolerance * cv2.arcLength(hull, True), True)
            if len(quad) == 4 and cv2.isContourConvex(quad):
                frames.append((area, _clockwise(quad.reshape(4, 2).astype(np.float32))))
                break
        else:  # or rounds a corner off: the outline's points furthest towards each corner of the photo
            points = hull.reshape(-1, 2).astype(np.float32)
            total, difference = points.sum(1), points[:, 0] - points[:, 1]
            frames.append((area, points[[total.argmin(), difference.argmax(), total.argmax(), difference.argmin()]]))
    return frames


def _clockwise(quad: np.ndarray) -> np.ndarray:
    """A convex quadrilateral's corners as top-left, top-right, bottom-right, bottom-left
    (clockwise as the photo shows it, starting nearest its top-left corner)."""
    x, y = quad[:, 0], quad[:, 1]
    if float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)) < 0:  # anticlockwise on screen
        quad = quad[::-1]
    return np.roll(quad, -int(quad.sum(1).argmin()), axis=0)


def _ruled(mask: np.ndarray, quad: np.ndarray) -> float:
    """How well the frame ``quad`` is ruled into 9 x 9 cells: the share of its 10 + 10 lines'
    length that is ink (``ruling``); 0 unless that is LINE_FOUND on average, none less than
    half that, and the cells between them are not ink (a shadow's dark side is all "ink" in a
    threshold). A page holding the puzzle is a frame too, but its ninths fall between the
    puzzle's lines; a frame a row short (its side along a line inside the puzzle, where a
    shadow or a digit cut the outer line off) has its middle lines between the puzzle's."""
    lines, middles = ruling(mask, quad)
    fit = float(lines.mean())
    ruled = fit >= LINE_FOUND and float(lines.min()) >= LINE_FOUND / 2 and float(middles.mean()) < MIDDLES_INKED
    return fit if ruled else 0.0


def ruling(mask: np.ndarray, quad: np.ndarray, cell: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """How much of each of the 20 lines of a 9 x 9 grid in ``quad`` is ink (0-1), with the
    frame straightened, and how much of each of the 18 rows and columns through the cells'
    middles. A bent page moves a line by a few pixels, differently from cell to
    cell, so along each cell's side the line is looked for a quarter of a cell either way."""
    side = 9 * cell
    target = np.float32([[0, 0], [side, 0], [side, side], [0, side]])
    straight = cv2.warpPerspective(mask.astype(np.float32), cv2.getPerspectiveTransform(quad, target),
                                   (side + 1, side + 1), flags=cv2.INTER_LINEAR) > 0.25  # thin lines too
    reach = cell // 4
    lines, middles = [], []
    for view in (straight, straight.T):
        view = cv2.dilate(view.astype(np.uint8), np.ones((3, 1), np.uint8))  # a line wavers by a pixel
        for k in range(10):
            band = view[max(0, k * cell - reach):k * cell + reach + 1, :side].reshape(-1, 9, cell)
            lines.append(float(band.mean(2).max(0).mean()))  # the best row along each side, the sides' mean
        middles += [float(view[k * cell + cell // 2, :side].mean()) for k in range(9)]
    return np.array(lines), np.array(middles)


def straighten(gray: np.ndarray, corners: np.ndarray, cell: int = CELL) -> np.ndarray:
    """The puzzle inside ``corners`` warped to a square of 9 x ``cell`` pixels."""
    side = 9 * cell
    target = np.float32([[0, 0], [side, 0], [side, side], [0, side]])
    return cv2.warpPerspective(gray, cv2.getPerspectiveTransform(np.float32(corners), target), (side, side),
                               flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def cells(straight: np.ndarray, cell: int = CELL) -> list[Cell]:
    """The 81 cells of a straightened puzzle, row by row. The grid's lines are the long
    straight runs of ink (a cell's side or more); what is left near each cell's middle is
    its digit if it stands DIGIT_HEIGHT of the cell tall, candidates if it is smaller."""
    ink = flatten_lighting(straight, cell // 2 | 1)
    strong = float(np.percentile(ink, 99))  # the grid's lines and the printed digits
    mask = (ink > max(MIN_CONTRAST / 2, PENCIL * strong)).astype(np.uint8)
    lines = np.zeros_like(mask)
    bent = cv2.dilate(mask, np.ones((3, 3), np.uint8))  # a bent page's line wanders a pixel or two
    for length in ((cell, 1), (1, cell)):
        lines |= cv2.morphologyEx(bent, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, length))
    digits = mask & (1 - cv2.dilate(lines, np.ones((3, 3), np.uint8)))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(digits, connectivity=8)
    found = []
    middle = cell // 4
    for row in range(9):
        for column in range(9):
            top, left = row * cell, column * cell
            centre = (slice(top + middle, top + cell - middle), slice(left + middle, left + cell - middle))
            members = [i for i in np.unique(labels[centre]) if i and stats[i, 4] >= 6]
            if not members:
                found.append(Cell())
                continue
            x0 = min(stats[i, 0] for i in members)
            y0 = min(stats[i, 1] for i in members)
            x1 = max(stats[i, 0] + stats[i, 2] for i in members)
            y1 = max(stats[i, 1] + stats[i, 3] for i in members)
            several_small = len(members) > 1 and max(stats[i, 3] for i in members) < CANDIDATE_HEIGHT * cell
            if y1 - y0 < DIGIT_HEIGHT * cell or (several_small and x1 - x0 > y1 - y0):
                found.append(Cell(candidates=True))
                continue
            own = np.isin(labels[y0:y1, x0:x1], members)
            own = cv2.dilate(own.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0  # its soft edge
            found.append(Cell(frame_ink(np.where(own, ink[y0:y1, x0:x1], 0)), (x0, y0, x1, y1)))
    return found


def _sharpness(straight: np.ndarray) -> float:
    """How sharp the straightened puzzle is: the 99th percentile of its edges' steepness
    (brightness change per pixel). Its printed lines make steep edges unless it is blurred."""
    return float(np.percentile(np.abs(cv2.Laplacian(straight, cv2.CV_32F)), 99))


# --------------------------------------------------------------------------- the grid


def conflicts(grid: np.ndarray) -> list[tuple[int, int]]:
    """The cells (row, column) whose digit is also in their row, column or box: the
    likeliest misreads where a grid read from a photo is not a valid sudoku."""
    grid = np.asarray(grid).reshape(9, 9)
    clashing = set()
    for r in range(9):
        for c in range(9):
            v = grid[r, c]
            if not v:
                continue
            br, bc = r // 3 * 3, c // 3 * 3
            peers = {(r, k) for k in range(9)} | {(k, c) for k in range(9)} | \
                {(br + i, bc + j) for i in range(3) for j in range(3)}
            if any(grid[p] == v for p in peers - {(r, c)}):
                clashing.add((r, c))
    return sorted(clashing)


def solve(grid: np.ndarray) -> np.ndarray | None:
    """The solution of a 9 x 9 sudoku (0 for blank), or None where it has none. Depth-first,
    always filling the cell with the fewest possible digits: any newspaper puzzle in
    milliseconds."""
    grid = np.array(grid, dtype=np.int64).reshape(9, 9)
    if conflicts(grid):
        return None
    rows = [set(grid[r][grid[r] > 0]) for r in range(9)]
    cols = [set(grid[:, c][grid[:, c] > 0]) for c in range(9)]
    boxes = [set(grid[r:r + 3, c:c + 3].ravel()) - {0} for r in (0, 3, 6) for c in (0, 3, 6)]
    empty = [(r, c) for r in range(9) for c in range(9) if not grid[r, c]]

    def fill() -> bool:
        if not empty:
            return True
        best, options = None, None
        for r, c in empty:
            possible = set(range(1, 10)) - rows[r] - cols[c] - boxes[r // 3 * 3 + c // 3]
            if options is None or len(possible) < len(options):
                best, options = (r, c), possible
                if len(possible) <= 1:
                    break
        r, c = best
        empty.remove(best)
        b = r // 3 * 3 + c // 3
        for v in options:
            grid[r, c] = v
            rows[r].add(v), cols[c].add(v), boxes[b].add(v)
            if fill():
                return True
            rows[r].discard(v), cols[c].discard(v), boxes[b].discard(v)
        grid[r, c] = 0
        empty.append(best)
        return False

    return grid if fill() else None
