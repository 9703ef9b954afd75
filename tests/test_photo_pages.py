"""find_digit on photos of written pages that photo_pages.py draws from a physical description
(squared and ruled paper turned in the frame, seen at a slant, bent by the lens), and on
digits drawn so large on a canvas that they run off its edge.

Each case knows where its digit is and what it looks like clean, and checks that the digit
found is that one, in that place.
"""

import cv2
import numpy as np
import pytest

import fonts
import generate_test_digits as gen
import photo_pages
import preprocess
from preprocess import find_digit, mnist_like, stroke_width


@pytest.fixture(scope="module")
def digits():
    """Digits 0-9 in a handwriting-like stroke, as MNIST stores them: 28x28, white on black."""
    font = fonts.load_font(fonts.resolve_font("DejaVuSans"))
    return [np.asarray(gen.render_digit(d, font, 28)) for d in range(10)]


def similarity(a, b):
    """Correlation of two 28x28 digits, the best over shifts of a pixel either way."""
    return max(np.corrcoef(np.roll(a, (dy, dx), (0, 1)).ravel().astype(float), b.ravel().astype(float))[0, 1]
               for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def ink_box(ink, left=0, top=0, level=0.5):
    """The box (left, top, right, bottom) of what in ``ink`` is above ``level``, where ``ink``
    lies at (``left``, ``top``) in a page."""
    rows, cols = np.flatnonzero(ink.max(1) > level), np.flatnonzero(ink.max(0) > level)
    return (left + cols[0], top + rows[0], left + cols[-1] + 1, top + rows[-1] + 1)


def overlap(a, b):
    width, height = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def written_small(page, digit, left, top, size):
    """``page`` (0-1) with ``digit`` (MNIST-like) written ``size`` px tall at (``left``, ``top``)
    in a pen 0.6 dark, as a uint8 photo; and the digit's ink there."""
    small = cv2.resize(digit, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    page = page.copy()
    page[top:top + size, left:left + size] -= 0.6 * small
    return np.round(np.clip(page, 0, 1) * 255).astype(np.uint8), small


def assert_found_at(photo, small, left, top):
    found = find_digit(photo)
    assert found is not None, "no digit found"
    assert overlap(found.box, ink_box(small, left, top)) > 0.6, found.box


def lined_page(rng: np.random.Generator, digit: np.ndarray, left: int, top: int, line: float = 0.5,
               squared: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A 640x480 page (0-1) with a photo's grain and level lines 40 px apart, bent a little by
    the lens (upright ones too where ``squared``), ``line`` bright, and ``digit`` (MNIST-like)
    written 130 px tall with its corner at ``left``, ``top``; and the digit's ink there."""
    page = rng.normal(0.9, 0.01, (480, 640)).astype(np.float32)
    x = np.arange(640)
    for row in range(30, 460, 40):
        y = np.round(row + 10 * ((x - 320) / 320) ** 2).astype(int)
        page[y, x] = page[y + 1, x] = line
    if squared:
        for column in range(25, 640, 40):
            page[:, column:column + 2] = np.minimum(page[:, column:column + 2], line)
    big = cv2.resize(digit, (130, 130), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
    page[top:top + 130, left:left + 130] *= 1 - 0.8 * big
    return page, big


def found_whole(page: np.ndarray, big: np.ndarray, left: int, top: int, digit: np.ndarray) -> bool:
    """Whether ``digit``, written on ``page`` as ``lined_page`` writes it, is found in the
    page photographed (blurred a little, 8 bits) alone: its box, and its shape."""
    photo = np.round(np.clip(cv2.GaussianBlur(page, (0, 0), 0.8), 0, 1) * 255).astype(np.uint8)
    found = find_digit(photo)
    return found is not None and overlap(found.box, ink_box(big, left, top)) > 0.8 \
        and similarity(found.image, mnist_like(digit)) > 0.75


def found_alone(digit: np.ndarray, seed: int, squared: bool, shadow: bool = False) -> bool:
    """Whether ``digit`` (MNIST-like), written large across the lines of a photographed page
    (``lined_page``) whose desk's dark edge at the left joins them into one piece, is found
    alone. With ``shadow``, a hard-edged shadow darkens the page below the digit, its edge a
    little off level and its depth drawn from ``seed``, and the dim part's grain is coarser."""
    rng = np.random.default_rng(seed)
    page, big = lined_page(rng, digit, 260, 180, squared=squared)
    page[:, :20] = 0.25  # the desk
    if shadow:
        depth, slope = rng.uniform(0.6, 0.75), rng.uniform(-0.1, 0.1)
        dim = np.arange(480)[:, None] > 360 + slope * (np.arange(640) - 320)
        page = np.where(dim, page * depth + rng.normal(0, 0.02, page.shape), page).astype(np.float32)
    return found_whole(page, big, 260, 180, digit)


def test_a_page_is_the_same_for_the_same_seed_and_differs_between_seeds(digits):
    first, box = photo_pages.paper_photo(digits[3], np.random.default_rng(5))
    again, same_box = photo_pages.paper_photo(digits[3], np.random.default_rng(5))
    other, _ = photo_pages.paper_photo(digits[3], np.random.default_rng(6))
    assert first.shape == (photo_pages.PHOTO_SIZE[1], photo_pages.PHOTO_SIZE[0], 3) and first.dtype == np.uint8
    assert np.array_equal(first, again) and box == same_box
    assert np.abs(first.astype(int) - other.astype(int)).mean() > 5
    with pytest.raises(TypeError, match="unknown page parameters"):
        photo_pages.paper_photo(digits[3], np.random.default_rng(5), tilt=3)


@pytest.mark.parametrize("seed", [27, 91, 102, 175, 199])
def test_an_engineering_grids_bolder_lines_are_lines_not_a_pen(digits, seed):
    """On engineering paper every fifth line is bolder, about twice as dark as the rest: as
    dark as the lines around it, not as a pen's stroke across them, so it is taken out and
    the digit found (each of these pages lost its digit to a bold line when the pen was told
    from the lines by all the lines' ink at once)."""
    photo, box = photo_pages.paper_photo(digits[seed % 10], np.random.default_rng((seed, 14)),
                                         pattern="engineering", shadow=0.0)
    found = find_digit(photo)
    assert found is not None, "no digit found"
    assert overlap(found.box, box) > 0.6, (found.box, box)


@pytest.mark.parametrize("seed", [42, 134, 278])
def test_a_dot_grids_dots_are_the_page_not_the_digit(digits, seed):
    """Dot-grid paper has no line to trace, only a dot where the squares' lines would cross:
    the dots are the page's printing, and none may be taken with the digit (each of these
    pages had the dots round its digit taken with it while a page without lines was clean)."""
    photo, box = photo_pages.paper_photo(digits[seed % 10], np.random.default_rng((seed, 13)), pattern="dots")
    found = find_digit(photo)
    assert found is not None, "no digit found"
    assert overlap(found.box, box) > 0.6, (found.box, box)


def test_a_page_pattern_must_be_one_the_pages_know(digits):
    with pytest.raises(ValueError, match="pattern must be one of"):
        photo_pages.paper_photo(digits[3], np.random.default_rng(5), pattern="hexagons")


@pytest.mark.parametrize("digit, turn, curve, grid_colour", [
    (1, 5.0, -0.05, "grey"), (4, -5.0, 0.05, "light blue"), (7, 3.0, -0.06, "green"), (5, -2.0, 0.04, "grey"),
])
def test_squared_paper_turned_and_bent_in_a_photo_is_not_ink(digits, digit, turn, curve, grid_colour):
    """Grid lines nearly as dark as the pen, a few degrees off level and curved by the lens:
    none of them may join the digit, so its box is the digit's and it looks like the digit."""
    photo, box = photo_pages.paper_photo(
        digits[digit], np.random.default_rng(digit), turn=turn, curve=curve, grid_colour=grid_colour,
        ink=0.8, grid=0.6, shadow=0.0, pen_mm=1.0, digit_share=0.22, place=np.array([0.1, -0.05]))
    found = find_digit(photo)
    assert found is not None, "no digit found"
    assert overlap(found.box, box) > 0.6, (found.box, box)
    assert similarity(found.image, mnist_like(digits[digit])) > 0.75


@pytest.mark.parametrize("digit", range(10))
def test_a_hard_edged_shadow_across_the_page_is_not_ink(digits, digit):
    """A shadow with a sharp edge across a photographed page, which leaves the page's lit part
    a wedge narrowing into a corner: neither the shadow's tip nor the lit wedge may be taken
    for the digit (or for a light digit on a dark ground)."""
    photo, box = photo_pages.paper_photo(
        digits[digit], np.random.default_rng(digit), shadow=0.5, shadow_soft=0.01, shadow_edge=0.3,
        light_angle=2.2, shadow_turn=0.0, turn=2.0, ink=0.8, grid=0.4, pen_mm=1.0, digit_share=0.2,
        place=np.array([0.0, 0.0]))
    found = find_digit(photo)
    assert found is not None, "no digit found"
    assert overlap(found.box, box) > 0.6, (found.box, box)
    assert similarity(found.image, mnist_like(digits[digit])) > 0.75


def test_the_band_along_a_hard_shadows_edge_is_no_wide_stroke(digits):
    """Ruled pages, each with a hard-edged shadow lighter than the pen across a corner below
    the digit. Over a tenth of the picture the lighting leaves a band along the shadow's
    edge as wide as a bold stroke; judged by all the ink, that made the window half the
    picture, over which the whole shadow is ink and is often taken for the digit. Only the
    ink nearly as dark as the darkest is judged for its strokes' width: 30 of these 40 are
    found, 19 where all the ink was judged."""
    found = 0
    for digit in range(10):
        for seed in range(4):
            rng = np.random.default_rng(seed)
            page, big = lined_page(rng, digits[digit], 200, 120, line=0.6)
            depth, slope = rng.uniform(0.55, 0.8), rng.uniform(0.3, 1.0) * rng.choice([-1, 1])
            page[np.arange(480)[:, None] > 300 + slope * (np.arange(640) - 320)] *= depth
            page += rng.normal(0, 0.01, page.shape).astype(np.float32)
            found += found_whole(page, big, 200, 120, digits[digit])
    assert found >= 27


@pytest.mark.parametrize("digit", range(10))
def test_a_lit_wedge_narrowing_into_the_photos_edge_is_no_light_ink(digits, digit):
    """A digit written small on a page mostly in shadow, the lit part a wedge narrowing into
    the photo's foot: the ink is still dark on a light ground. Judged against a mean over the
    window, which smears the shadow's edge and the wedge's thin tip into what looks like light
    strokes, 5 of these 10 photos were read as light ink on a dark ground."""
    photo, _ = photo_pages.paper_photo(
        digits[digit], np.random.default_rng(digit), shadow=0.4, shadow_edge=-0.36, shadow_turn=-0.21,
        shadow_soft=0.016, light_angle=5.36, digit_share=0.06, place=np.array([0.2, -0.17]))
    gray = cv2.resize(preprocess.to_grayscale(photo), (640, 480), interpolation=cv2.INTER_AREA)  # the search's size
    assert preprocess.ink_polarity(gray)[0]


@pytest.mark.parametrize("digit", range(10))
def test_a_pale_digit_in_a_shadow_over_most_of_the_page(digits, digit):
    """A shadow over most of a dimly lit page, as deep as the pen is dark: the light is still
    judged over a window a few strokes wide (the shadow, lighter than the ink, is no stroke
    wider than that), so the shadow is neither a blot of ink nor the dark ground of a light
    digit (3 of these 10 pages failed so)."""
    photo, box = photo_pages.paper_photo(
        digits[digit], np.random.default_rng(digit), shadow=0.46, shadow_edge=-0.19, shadow_soft=0.016,
        shadow_turn=-0.41, light=0.69, ramp=0.15, light_angle=3.68, vignette=0.07, ink=0.58, pen_mm=1.1,
        grid=0.46, digit_share=0.21, place=np.array([-0.2, 0.2]))
    found = find_digit(photo)
    assert found is not None, "no digit found"
    assert overlap(found.box, box) > 0.6, (found.box, box)
    assert similarity(found.image, mnist_like(digits[digit])) > 0.75


def test_a_fine_pen_photographed_small_in_dim_light_is_found(digits):
    """A 0.5 mm pen, the digit a sixteenth of the photo's height, the page in dim light: the
    stroke, blurred across pixels wider than it, stands out from the paper by less than a
    tenth. It is still a digit (with the least contrast looked at a tenth, 3 of these 10 were
    taken for a blank page; 1, a 4, is fainter than FAINTEST and still is)."""
    found = 0
    for digit in range(10):
        photo, box = photo_pages.paper_photo(
            digits[digit], np.random.default_rng(digit), digit_share=0.06, pen_mm=0.5, ink=0.65, light=0.6,
            blur=1.4, shadow=0.0, vignette=0.0, ramp=0.0, grid=0.1, place=np.array([0.1, 0.1]))
        result = find_digit(photo)
        found += result is not None and overlap(result.box, box) > 0.5
    assert found >= 9


def test_what_a_faint_grid_leaves_in_dim_light_is_no_faint_digit():
    """Blank squared pages in dim light: where the page's lines were found, ink as faint as a
    fine pen's must also be twice as dark as they are, or it is what is left of them. 18 of
    these 20 hold no digit; without that, 15."""
    blank = np.zeros((28, 28), np.uint8)
    pages = (photo_pages.paper_photo(blank, np.random.default_rng((0, 11, i)), light=0.6)[0] for i in range(20))
    assert sum(find_digit(page) is None for page in pages) >= 17


@pytest.mark.parametrize("digit", [1, 4, 7])
def test_strokes_wider_than_a_tenth_of_a_large_drawing_stay_solid(digit):
    """A digit drawn with a brush wider than a tenth of a large canvas: the lighting is judged
    over a window wider than its strokes, so they are ink through and through, not outlines."""
    ink = np.asarray(gen.render_digit(digit, fonts.load_font(fonts.resolve_font("DejaVuSans")), 200), np.uint8)
    bold = cv2.dilate(ink, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (31, 31)))
    canvas = np.full((300, 300), 255, np.uint8)
    canvas[50:250, 50:250] = 255 - bold
    found = find_digit(canvas)
    assert found is not None
    assert similarity(found.image, mnist_like(cv2.resize(canvas, (100, 100), interpolation=cv2.INTER_AREA))) > 0.9


def test_ruled_paper_turned_in_a_photo_is_not_ink(digits):
    photo, box = photo_pages.paper_photo(digits[2], np.random.default_rng(0), ruled=True, turn=-5.0, ink=0.8,
                                         grid=0.7, shadow=0.0, digit_share=0.25, place=np.array([0.0, 0.0]))
    found = find_digit(photo)
    assert overlap(found.box, box) > 0.6, (found.box, box)
    assert similarity(found.image, mnist_like(digits[2])) > 0.75


@pytest.mark.parametrize("digit, cut", [(0, 0.55), (8, 0.5), (3, 0.5), (6, 0.6)])
def test_a_digit_drawn_off_the_canvas_keeps_the_piece_at_the_other_edge(digits, digit, cut):
    """A canvas drawing too large for its canvas, running off its top and its bottom, its
    stroke broken: the piece at the edge that the rest does not reach is the digit's own, not
    a frame or the next digit on a meter's drum, and stays in."""
    ink = np.asarray(gen.render_digit(digit, fonts.load_font(fonts.resolve_font("DejaVuSans")), 220), np.float32) / 255
    rows, cols = np.flatnonzero(ink.max(1) > 0.3), np.flatnonzero(ink.max(0) > 0.3)
    ink = ink[rows[0] + 5:rows[0] + 145, cols[0]:cols[-1] + 1].copy()  # 5 pixels run off the top, more the bottom
    ink[int(cut * 140):int(cut * 140) + 6] = 0  # a break right across the digit
    canvas = np.zeros((140, 140), np.float32)
    canvas[:, 20:20 + ink.shape[1]] = ink
    whole = ink_box(canvas, level=0.3)
    found = find_digit(1 - canvas)
    assert found is not None
    assert overlap(found.box, whole) > 0.9, f"a piece at an edge was left out: {found.box}, not {whole}"


def test_training_pages_are_the_digits_found_again_and_kept_for_the_next_run(digits, tmp_path):
    labels = np.arange(10)
    images, kept = photo_pages.training_pages(np.stack(digits), labels, 18, seed=3, cache_dir=tmp_path)
    assert images.dtype == np.uint8 and images.shape[1:] == (28, 28) and len(images) == len(kept)
    assert 14 <= len(images) <= 18  # a page whose found box is not the digit's is left out, most are kept
    # each is its digit, framed MNIST's way: nearer its own clean 28x28 than any other digit's
    nearer = [similarity(image, mnist_like(digits[label])) > max(
        similarity(image, mnist_like(digits[other])) for other in range(10) if other != label)
        for image, label in zip(images, kept)]
    assert np.mean(nearer) >= 0.8
    cached = list(tmp_path.glob("photo_pages_*.npz"))
    assert len(cached) == 1
    again, again_labels = photo_pages.training_pages(np.stack(digits), labels, 18, seed=3, cache_dir=tmp_path)
    assert np.array_equal(again, images) and np.array_equal(again_labels, kept)
    other, _ = photo_pages.training_pages(np.stack(digits), labels, 18, seed=4)
    assert not np.array_equal(other, images)


def test_training_pages_of_one_kind_are_only_that_kind_and_kept_apart(digits, tmp_path):
    labels = np.arange(10)
    mixed, _ = photo_pages.training_pages(np.stack(digits), labels, 9, seed=3, cache_dir=tmp_path)
    drawn, drawn_labels = photo_pages.training_pages(np.stack(digits), labels, 9, seed=3, cache_dir=tmp_path,
                                                    kinds=("edge",))
    assert len(list(tmp_path.glob("photo_pages_*.npz"))) == 2  # each mix kept under its own name
    assert 7 <= len(drawn) <= 9 and drawn.dtype == np.uint8 and drawn.shape[1:] == (28, 28)
    # drawn to a canvas's edge and nothing else: the same as drawing each with canvas_drawing
    rng = np.random.default_rng([3, 5])
    pick = rng.choice(10, 9, replace=False)
    alone = [photo_pages.find_digit(photo_pages.canvas_drawing(digits[i], np.random.default_rng((3, 6, k))))
             for k, i in enumerate(pick)]
    kept = [k for k, found in enumerate(alone) if found is not None]
    assert np.array_equal(drawn, np.stack([alone[k].image for k in kept]))
    assert np.array_equal(drawn_labels, labels[pick[kept]])
    with pytest.raises(ValueError, match="kinds must be some of"):
        photo_pages.training_pages(np.stack(digits), labels, 9, seed=3, kinds=("hexagons",))


def test_a_blank_ruled_page_photographed_holds_no_digit():
    """Where nothing is written, what a page's lines leave when some are not found is pieces
    of them: flat strips, which no digit is. 7 of these 10 blank ruled pages hold no digit
    (1 did where such a strip was framed as a digit)."""
    blank = np.zeros((28, 28), np.uint8)
    pages = (photo_pages.paper_photo(blank, np.random.default_rng((0, 12, i)), ruled=True)[0] for i in range(10))
    assert sum(find_digit(page) is None for page in pages) >= 6


def test_a_page_whose_grid_is_taken_for_the_digit_is_left_out():
    a, b = (10, 10, 30, 40), (0, 0, 400, 300)  # the digit's box, and a whole page found instead
    assert photo_pages.box_overlap(a, a) == 1.0 and photo_pages.box_overlap(a, b) < 0.5


@pytest.mark.parametrize("digit, offset", [(0, 0.0), (0, 2.0), (2, 1.0), (2, 4.0)])
def test_a_bold_digit_sitting_on_a_ruled_line_leaves_the_line_out(digits, digit, offset):
    """A bold digit written across a ruled line: the line's trace is the curve most of it lies
    on, not one that the digit's ink pulls off it, so the line is taken out on both sides of
    the digit and no stretch of it stays joined to the digit."""
    photo, box = photo_pages.paper_photo(
        digits[digit], np.random.default_rng(digit), ruled=True, turn=3.0, curve=0.04, ink=0.9, grid=0.7,
        shadow=0.0, pen_mm=1.6, spacing=8.0, digit_mm=12.0, digit_share=0.3, place=np.array([0.0, 0.0]),
        grid_offset=np.array([0.0, offset]))
    found = find_digit(photo)
    assert found is not None, "no digit found"
    assert overlap(found.box, box) > 0.8, (found.box, box)
    assert similarity(found.image, mnist_like(digits[digit])) > 0.85


@pytest.mark.parametrize("pale", [0.31, 0.33])
def test_the_pale_part_of_a_stroke_in_a_photo_stays_with_the_digit(digits, pale):
    """A 9 whose loop the pen drew lightly (``pale`` of the tail's darkness, under the 0.35
    that the digit's pieces are found at): the pale ink touching the dark tail is the same
    stroke, so the loop stays in the box and in the 28x28 (dimmer than the tail there)."""
    big = cv2.resize(digits[9], (168, 168), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
    rows = np.flatnonzero(big.max(1) > 0.5)
    darkness = np.full(168, 0.75, np.float32)
    darkness[:rows[0] + (rows[-1] - rows[0]) // 2] = 0.75 * pale  # the loop, and the top of the tail beside it
    page = np.full((480, 640), 0.85, np.float32)
    page[150:318, 240:408] *= 1 - darkness[:, None] * big
    page = cv2.GaussianBlur(page, (0, 0), 1.0) + 0.01 * np.random.default_rng(0).standard_normal(page.shape, np.float32)
    photo = np.round(np.clip(page, 0, 1) * 255).astype(np.uint8)
    whole = ink_box(big, 240, 150)
    found = find_digit(photo)
    assert found is not None, "no digit found"
    assert overlap(found.box, whole) > 0.8, (found.box, whole)
    assert similarity(found.image, mnist_like(digits[9])) > 0.6


def test_pale_ink_touching_a_digit_in_a_small_crop_stays_out(digits):
    """In a crop (a meter's window, a form's cell) pale ink that touches the digit is the
    window's tick marks or edge, not the digit's stroke: only photos join it."""
    crop = np.full((90, 70), 0.85, np.float32)
    big = cv2.resize(digits[1], (60, 60), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
    crop[15:75, 5:65] *= 1 - 0.75 * big
    whole = ink_box(big, 5, 15)
    ticks = np.zeros_like(crop)
    for y in range(10, 85, 8):
        ticks[y:y + 2, whole[2] - 1:70] = 1  # a scale's pale ticks from the digit to the crop's edge
    crop *= 1 - 0.25 * ticks
    photo = np.round(cv2.GaussianBlur(crop, (0, 0), 0.7) * 255).astype(np.uint8)
    found = find_digit(photo)
    assert found is not None, "no digit found"
    assert overlap(found.box, whole) > 0.8, (found.box, whole)


@pytest.mark.parametrize("pen", [0.03, 0.06])
def test_a_fine_pen_draws_the_thin_parts_of_a_digit_too(pen):
    """A 0 whose right side MNIST holds as a hairline: a fine pen draws the whole of it, as
    wide as the pen, and it stays closed (taking the same width off every part of the stroke
    broke it open into a C)."""
    zero = np.zeros((28, 28), np.uint8)
    cv2.ellipse(zero, (14, 14), (6, 9), 0, 0, 360, 255, 1)  # the hairline
    cv2.ellipse(zero, (13, 14), (5, 9), 0, 90, 270, 255, 3)  # the left side, bold
    stroke = photo_pages._pen_stroke(zero, pen) > 0.5
    pieces, labels = cv2.connectedComponents((~stroke).astype(np.uint8), connectivity=4)
    assert pieces - 1 == 2, "the 0 is not closed: its inside joins the outside"
    rows = np.flatnonzero(stroke.any(1))
    assert 0.7 * pen < stroke_width(stroke) / (rows[-1] - rows[0] + 1) < 2 * pen  # about the pen, not MNIST's width


def test_the_digit_on_white_paper_is_written_in_the_photos_pen(digits):
    """real_world_eval.py's control line: each page's digit on white paper, in the pen that
    paper_photo draws it in with the same seed. These seeds' pens run from 0.037 to 0.09 of
    the digit's height; on white each draws the digit about as wide as its own page's pen
    (a little wider, for the pen's soft edge), not as some other seed's."""
    ratios, widths = [], []
    for seed in range(16):
        style = photo_pages.page_style(np.random.default_rng(seed), ruled=seed % 2 == 1)
        white = photo_pages.written_on_white(digits[3], np.random.default_rng(seed), ruled=seed % 2 == 1) < 128
        rows = np.flatnonzero(white.any(1))
        ratios.append(style["pen_mm"] / style["digit_mm"])
        widths.append(stroke_width(white) / (rows[-1] - rows[0] + 1))
    assert max(ratios) > 2 * min(ratios)  # the seeds' pens differ: the test tells them apart
    for ratio, width in zip(ratios, widths):
        assert 0.9 * ratio < width < 1.6 * ratio, (ratios, widths)
    order = np.argsort(ratios)
    assert np.mean(np.array(widths)[order[-5:]]) > 1.4 * np.mean(np.array(widths)[order[:5]])


def test_page_lines_that_something_dark_joins_into_one_piece_are_each_taken_out(digits):
    """Ruled lines, bent a little by the lens, all running into the desk's dark edge at the
    left of the photo, which joins them into one piece of ink: each is still a line of the
    page and is taken out, so the digit written across two of them is found alone. The
    paper has a photo's grain (a page of one flat grey is a scan or a canvas, where no
    page's lines are looked for). All 12 of these are found alone; 10 where lines were
    traced through all the ink, not the thin ink alone (the grain's broad ink beside a line
    stopped the tracing, and a line's piece stayed beside the digit), none where joined
    lines are not traced."""
    alone = sum(found_alone(digits[digit], seed, squared=False) for digit in (3, 5, 7) for seed in range(4))
    assert alone >= 11


def test_a_grid_line_the_digit_crosses_is_taken_out_though_joined_to_others(digits):
    """Squared paper whose level lines the desk's dark edge joins into one piece, and a digit
    written across several of them. Each line of the piece is traced in turn while it
    stands out from what lies beside it, judged along its length: the share of its columns
    with ink a few pixels beside it. The digit's strokes put much ink beside a line it
    crosses, but in few columns, so that line is still taken out and its grid does not
    stay in the digit's 28x28. All 20 of these are found alone; 18 where lines were traced
    through all the ink, not the thin ink alone, and 16 where what lies beside a line was
    counted in pixels, and the digit's strokes stopped the tracing."""
    alone = sum(found_alone(digits[digit], seed, squared=True) for digit in range(10) for seed in range(2))
    assert alone >= 19


def test_lines_that_a_shadows_band_joins_are_traced_through_their_thin_ink(digits):
    """A hard-edged shadow below the digit on a page whose desk joins the lines: the
    flattening leaves a band of broad, faint ink along the shadow's edge and grain in its
    dim part, beside many columns of the lines there, and such a line does not stand out
    from what lies beside it, so the tracing of the piece stopped at it and left the lines
    through the digit. Lines are traced through the thin ink alone (what a 7x7 opening of
    the ink takes away: a line, a stroke): 39 of these 40 are found alone, 21 where lines
    were traced through all the ink."""
    alone = sum(found_alone(digits[digit], seed, squared=squared, shadow=True)
                for digit in range(10) for seed in range(2) for squared in (False, True))
    assert alone >= 36


@pytest.mark.parametrize("size", [(480, 640), (200, 200)])
def test_a_stroke_darker_than_the_lines_it_crosses_keeps_its_ink_in_a_photo(size):
    """The flattened ink of squared paper, its lines 20 px apart and pale beside the pen, and
    a stroke across several of them. In a photo, where the stroke crosses a line the ink is
    the pen's, as a person sees it, and no part of the line (taken with the line, 29% of
    this stroke's pixels went, and a dense grid traced in many places cut a digit written
    small to a crumb). In a crop (under 240 px a side) the lines are a window's rims or a
    cell's borders, and what crosses them is taken with them, as before: training's meter
    scenes are such crops."""
    rng = np.random.default_rng(0)
    ink = np.abs(rng.normal(0, 0.01, size)).astype(np.float32)
    grid = np.zeros(ink.shape, bool)
    grid[10::20] = grid[:, 10::20] = True
    stroke = np.zeros_like(ink)
    h, w = size
    cv2.line(stroke, (w // 2 - 70, h // 2 - 90), (w // 2 + 70, h // 2 + 90), 1.0, 3)
    ink = np.maximum(ink, np.maximum(0.15 * grid, 0.6 * stroke))
    lines = preprocess.page_lines(ink, 0.06, 0.6) > 0
    assert lines[grid & (stroke == 0)].mean() > 0.98
    if min(size) >= preprocess.SHEET_PHOTO_SIDE:
        assert lines[stroke > 0].mean() < 0.02
    else:
        assert lines[stroke > 0].mean() > 0.2


@pytest.mark.parametrize("digit", [2, 6])
def test_the_grain_of_a_noisy_page_is_not_taken_for_its_lines(digits, digit):
    """A small digit on a page of even grey grain: the grain reaches from side to side and
    any gentle curve through it touches many columns, but no line stands out from what lies
    beside it, so none is traced through the digit."""
    rng = np.random.default_rng(digit)
    page = rng.normal(0.8, 0.04, (400, 400))
    big = cv2.resize(digits[digit], (60, 60), interpolation=cv2.INTER_CUBIC).astype(float) / 255
    page[250:310, 80:140] -= 0.6 * big
    whole = ink_box(big, 80, 250)
    found = find_digit((np.clip(page, 0, 1) * 255).astype(np.uint8))
    assert found is not None, "no digit found"
    assert overlap(found.box, whole) > 0.7, (found.box, whole)
    assert similarity(found.image, mnist_like(digits[digit])) > 0.75


@pytest.mark.parametrize("digit", [3, 7])
def test_crumbs_of_a_dense_grid_left_on_the_page_stay_crumbs(digits, digit):
    """A digit written small on a page whose squares are a few pixels at the search's size:
    where the grid's lines are not all found, crumbs of them (here its crossings, 9 pixels
    apart) are left over much of the page. A broken stroke's parts are a few pixels apart;
    crumbs twice as far apart are not one piece, or together they outweigh the digit."""
    rng = np.random.default_rng(digit)
    page = rng.normal(0.9, 0.01, (480, 640)).astype(np.float32)
    left, top = 300, 200
    for y in range(60, 420, 9):
        for x in range(60, 580, 9):
            if not (left - 25 < x < left + 65 and top - 25 < y < top + 65):
                jy, jx = rng.integers(-1, 2, 2)  # not quite periodic: this is the bridge's case, not the notch's
                page[y + jy:y + jy + 2, x + jx:x + jx + 2] = 0.55
    small = cv2.resize(digits[digit], (40, 40), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    page[top:top + 40, left:left + 40] *= 1 - 0.7 * small
    assert_found_at(np.round(np.clip(page, 0, 1) * 255).astype(np.uint8), small, left, top)


@pytest.mark.parametrize("digit", [2, 5])
def test_a_grid_too_fine_and_faint_to_follow_is_notched_out_of_the_ink(digits, digit, monkeypatch):
    """A digit written small on squared paper photographed whole: squares of 6 pixels, lines
    faint in a grain as strong as they are, so that no line can be followed from side to side
    and the grid reads as one mesh larger than the digit. The lines repeat at one spacing, so
    they are sharp peaks in the ink's spectrum, and notched out there the digit stands alone."""
    rng = np.random.default_rng(digit)
    page = rng.normal(0.85, 0.05, (480, 640)).astype(np.float32)
    page[::6] -= 0.25
    page[:, ::6] -= 0.25
    photo, small = written_small(page, digits[digit], 300, 200, 44)
    assert_found_at(photo, small, 300, 200)
    monkeypatch.setattr(preprocess, "GRID_PEAK", float("inf"))  # and without the notch, the grid is the digit
    found = find_digit(photo)
    assert found is None or overlap(found.box, ink_box(small, 300, 200)) < 0.1, found.box


@pytest.mark.parametrize("digit", [3, 7])
def test_ink_that_reaches_three_sides_of_a_photo_is_not_the_digit(digits, digit):
    """A photo's grid left as one web, or a shadow's rim, runs across the page out of the
    picture on three sides, and outweighs a digit written small below it: it is no digit
    written on the page (a digit cut by the edge touches one side, or two at a corner)."""
    rng = np.random.default_rng(digit)
    page = rng.normal(0.85, 0.01, (480, 640)).astype(np.float32)
    rim = np.zeros((480, 640), np.float32)
    cv2.ellipse(rim, (320, 330), (345, 345), 0, 180, 360, 1.0, thickness=40)  # out at the left, top and right
    page -= 0.5 * cv2.GaussianBlur(rim, (0, 0), 3)
    assert_found_at(*written_small(page, digits[digit], 295, 300, 50), 295, 300)


def test_a_photo_without_a_grid_keeps_its_ink(digits):
    """A digit on plain paper lying on a desk, half in a shadow: the sheet's and the shadow's
    straight edges and the digit's own strokes spread their power over many frequencies, and
    nothing is notched."""
    rng = np.random.default_rng(0)
    photo = rng.normal(0.3, 0.02, (480, 640)).astype(np.float32)
    sheet = cv2.warpAffine(np.ones((300, 400), np.float32), cv2.getRotationMatrix2D((200, 150), 8, 1.0), (400, 300))
    photo[90:390, 120:520] = np.where(sheet > 0.5, rng.normal(0.85, 0.02, (300, 400)), photo[90:390, 120:520])
    photo[:, 330:] *= 0.7
    big = cv2.resize(digits[4], (90, 90), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
    photo[190:280, 270:360] -= 0.5 * big
    ink = preprocess.flatten_lighting(np.clip(photo, 0, 1), 31)
    assert preprocess._without_grid(ink) is ink
