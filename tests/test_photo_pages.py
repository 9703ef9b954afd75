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
from preprocess import find_digit, mnist_like


@pytest.fixture(scope="module")
def digits():
    """Digits 0-9 in a handwriting-like stroke, as MNIST stores them: 28x28, white on black."""
    font = fonts.load_font(fonts.resolve_font("DejaVuSans"))
    return [np.asarray(gen.render_digit(d, font, 28)) for d in range(10)]


def similarity(a, b):
    """Correlation of two 28x28 digits, the best over shifts of a pixel either way."""
    return max(np.corrcoef(np.roll(a, (dy, dx), (0, 1)).ravel().astype(float), b.ravel().astype(float))[0, 1]
               for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def overlap(a, b):
    width, height = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_a_page_is_the_same_for_the_same_seed_and_differs_between_seeds(digits):
    first, box = photo_pages.paper_photo(digits[3], np.random.default_rng(5))
    again, same_box = photo_pages.paper_photo(digits[3], np.random.default_rng(5))
    other, _ = photo_pages.paper_photo(digits[3], np.random.default_rng(6))
    assert first.shape == (photo_pages.PHOTO_SIZE[1], photo_pages.PHOTO_SIZE[0], 3) and first.dtype == np.uint8
    assert np.array_equal(first, again) and box == same_box
    assert np.abs(first.astype(int) - other.astype(int)).mean() > 5
    with pytest.raises(TypeError, match="unknown page parameters"):
        photo_pages.paper_photo(digits[3], np.random.default_rng(5), tilt=3)


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
    rows, cols = np.flatnonzero(canvas.max(1) > 0.3), np.flatnonzero(canvas.max(0) > 0.3)
    whole = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
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


def test_a_page_whose_grid_is_taken_for_the_digit_is_left_out():
    a, b = (10, 10, 30, 40), (0, 0, 400, 300)  # the digit's box, and a whole page found instead
    assert photo_pages.box_overlap(a, a) == 1.0 and photo_pages.box_overlap(a, b) < 0.5
