"""find_digit on photo-like pages these tests draw themselves: grid lines, a box around the
digit, a shadow, a small digit far off-centre, a digit touching a line, a meter's window with
its rims, outline, scale and the next drum digit's sliver.

Each case puts a known digit at a known place and checks that the digit found is that one
(the same picture as the clean digit gives) and that its box is where the digit was put.
"""

import cv2
import numpy as np
import pytest
from PIL import Image

import fonts
import generate_test_digits as gen
from batch import examine, preview_with_box
from preprocess import find_digit, mnist_like


@pytest.fixture(scope="module")
def font():
    return fonts.load_font(fonts.resolve_font("DejaVuSans"))


def glyph(font, digit, size):
    """White-on-black ink, 0-1, of a digit filling about 60% of a size x size square."""
    return np.asarray(gen.render_digit(digit, font, size), dtype=np.float32) / 255


def cropped_glyph(font, digit, size):
    """The glyph cut to its ink."""
    ink = glyph(font, digit, size)
    rows, cols = np.flatnonzero(ink.max(1) > 0.1), np.flatnonzero(ink.max(0) > 0.1)
    return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def similarity(a, b):
    """Correlation of two 28x28 digits, the best over shifts of a pixel either way: framing by
    the centre of mass may round a thin stroke a pixel off, and that is still the same picture."""
    return max(np.corrcoef(np.roll(a, (dy, dx), (0, 1)).ravel().astype(float), b.ravel().astype(float))[0, 1]
               for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def ink_bounds(ink, top, left):
    rows, cols = np.flatnonzero(ink.max(1) > 0.3), np.flatnonzero(ink.max(0) > 0.3)
    return left + cols[0], top + rows[0], left + cols[-1] + 1, top + rows[-1] + 1


def overlap(a, b):
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def paper(height, width, level=0.85, seed=0):
    rng = np.random.default_rng(seed)
    return np.full((height, width), level, np.float32) + rng.normal(0, 0.015, (height, width)).astype(np.float32)


def put(page, ink, top, left, strength=0.7):
    page[top:top + ink.shape[0], left:left + ink.shape[1]] -= strength * ink
    return ink_bounds(ink, top, left)


def tight_drum(ink, pad_x, pad_y, level=0.75):
    """A meter's crop: drum paper a little larger than the digit, the digit put in its middle."""
    drum = paper(ink.shape[0] + 2 * pad_y, ink.shape[1] + 2 * pad_x, level=level)
    return drum, put(drum, ink, pad_y, pad_x, strength=0.6)


def assert_reads(page, font, digit, bounds, min_similarity=0.85):
    found = find_digit(np.clip(page, 0, 1))
    assert found is not None, "no digit found"
    reference = mnist_like(glyph(font, digit, 64))
    assert similarity(found.image, reference) > min_similarity
    assert overlap(found.box, bounds) > 0.7, (found.box, bounds)


@pytest.mark.parametrize("digit", [1, 4, 7])
def test_squared_paper_grid_is_not_ink(font, digit):
    page = paper(400, 400)
    page[::25, :] -= 0.35  # the printed grid of squared paper, every 25 pixels
    page[:, ::25] -= 0.35
    bounds = put(page, glyph(font, digit, 120), 130, 150)
    assert_reads(page, font, digit, bounds)


@pytest.mark.parametrize("digit", [2, 5, 8])
def test_box_around_the_digit_is_dropped(font, digit):
    page = paper(200, 200)
    page[20:24, 20:180] = page[176:180, 20:180] = 0.1  # a form's printed box, darker than the pen
    page[20:180, 20:24] = page[20:180, 176:180] = 0.1
    bounds = put(page, glyph(font, digit, 120), 40, 40)
    assert_reads(page, font, digit, bounds)


def test_sudoku_cell_with_borders_at_the_edges(font):
    cell = paper(128, 128)
    cell[:5, :] = cell[:, :4] = 0.15  # thick lines of the grid, cut through by the crop
    cell[-2:, :] = 0.3
    bounds = put(cell, glyph(font, 6, 100), 14, 14, strength=0.75)
    assert_reads(cell, font, 6, bounds)


def test_shadow_across_the_page(font):
    page = paper(480, 640)
    page *= np.linspace(0.35, 1.0, 640, dtype=np.float32)[None, :]  # a hand's shadow darkens the left
    ink = glyph(font, 3, 100)
    page[200:300, 150:250] *= 1 - 0.7 * ink  # ink darkens what light falls on it
    assert_reads(page, font, 3, ink_bounds(ink, 200, 150))


def test_small_digit_far_off_centre_in_a_large_photo(font):
    page = paper(1500, 2000, level=0.75)
    page[1400:1500, :] = 0.35  # the table beneath the sheet, along one edge
    bounds = put(page, glyph(font, 9, 80), 150, 1700)  # about 50 pixels tall in a 2000-pixel photo
    assert_reads(page, font, 9, bounds)


def test_a_pale_web_of_strokes_beside_a_small_digit_is_not_the_digit(font):
    """Wavy strokes crossing one another (a doodle, a stain's rings, what a bent grid leaves)
    about 0.42 times as dark as the pen, in many times the digit's pixels, beside a small
    digit near the centre. A person goes by the dark digit; weighing each piece by its ink
    above the mask's threshold, squared, finds it in all 10, by its ink alone in none."""
    found = 0
    for digit in range(10):
        rng = np.random.default_rng(digit)
        page = paper(480, 640, level=0.85, seed=digit)
        web = np.zeros((480, 640), np.float32)
        x = np.arange(330, 600)
        for _ in range(14):
            height, period, y = rng.uniform(10, 30), rng.uniform(30, 80), rng.uniform(150, 380)
            across = np.stack([x, y + height * np.sin(x / period + rng.uniform(0, 6))], 1)
            down = np.stack([y + 180 + height * np.sin(x / period), x - 200], 1)
            cv2.polylines(web, [across.astype(np.int32), down.astype(np.int32)], False, 1.0, 2)
        page -= 0.42 * 0.6 * cv2.GaussianBlur(web, (0, 0), 0.7)
        bounds = put(page, glyph(font, digit, 80), 200, 230, strength=0.6)
        result = find_digit(np.round(np.clip(page, 0, 1) * 255).astype(np.uint8))
        found += result is not None and overlap(result.box, bounds) > 0.5
    assert found >= 8


def bare_desk(height, width, level, seed):
    """A desk's surface, darker than paper, with its own grain."""
    grain = np.random.default_rng(seed).normal(0, 0.02, (height, width)).astype(np.float32)
    return np.full((height, width), level, np.float32) + grain


def sheet_on_a_desk(height, width, desk, angle):
    """A photo of a sheet of paper lying on a darker desk that shows all round it, the sheet
    turned by ``angle`` degrees and a little off-centre."""
    page = bare_desk(height, width, desk, seed=3)
    corners = cv2.boxPoints(((0.55 * width, 0.5 * height), (0.5 * width, 0.6 * height), angle))
    sheet = np.zeros((height, width), np.uint8)
    cv2.fillConvexPoly(sheet, np.round(corners).astype(np.int32), 1)
    return np.where(sheet > 0, paper(height, width, seed=5), page)


@pytest.mark.parametrize("desk, angle", [(0.3, 0), (0.3, 8), (0.6, 0), (0.6, -8)])
def test_a_sheet_of_paper_on_a_darker_desk_is_the_page(font, desk, angle):
    page = sheet_on_a_desk(480, 640, desk, angle)  # a light shape on a dark ground, as a light digit would be
    bounds = put(page, glyph(font, 4, 120), 170, 290)
    assert_reads(page, font, 4, bounds)


def test_a_sheet_on_a_desk_under_a_hand_s_shadow(font):
    page = sheet_on_a_desk(480, 640, 0.5, 5)
    bounds = put(page, glyph(font, 3, 120), 170, 290)
    page *= np.clip(np.linspace(0.3, 1.2, 640, dtype=np.float32), 0.3, 1.0)[None, :]  # darker to the left, desk and sheet
    assert_reads(page, font, 3, bounds)


def test_a_sheet_running_off_two_edges_of_the_photo(font):
    page = bare_desk(480, 640, 0.25, seed=4)
    page[100:, 150:] = paper(380, 490)  # the desk shows above and to the left of the sheet only
    bounds = put(page, glyph(font, 2, 110), 235, 340)
    assert_reads(page, font, 2, bounds)


@pytest.mark.parametrize("angle", [7, -7])
def test_a_page_lit_brighter_at_its_top_is_not_a_sheet_of_its_own(font, angle):
    """A page filling a tilted photo, the desk only in its corners, the light falling off
    across the middle of the page: the lit upper part is as bright against the desk as a
    sheet would be, but below it the page dims gradually, with no edge. The digit is below."""
    rows = np.arange(640, dtype=np.float32)[:, None]
    page = paper(640, 480, level=1.0, seed=5) * (0.75 - 0.2 / (1 + np.exp(-(rows - 224) / 60)))
    ink = np.zeros_like(page)
    ink[380:490, 200:310] = glyph(font, 5, 110)
    page -= 0.3 * ink

    def turned(picture, fill):
        return np.asarray(Image.fromarray(picture).rotate(angle, Image.Resampling.BICUBIC, expand=True, fillcolor=fill))

    photo, ink = turned(page, 0.6), np.clip(turned(ink, 0.0), 0, 1)
    found = find_digit(np.clip(photo, 0, 1))
    assert found is not None, "no digit found"
    assert similarity(found.image, mnist_like(ink)) > 0.85
    assert overlap(found.box, ink_bounds(ink, 0, 0)) > 0.7, found.box


def test_a_shadow_s_straight_edge_across_a_corner_of_squared_paper_makes_no_sheet(font):
    """Squared paper filling the photo, in shadow but for one corner that the shadow's
    straight edge cuts off: that lit wedge is bright, convex and sharp-edged as a sheet on a
    desk is, but it has no corner of its own inside the photo, and the grid runs on under the
    shadow. The digit in the shadow is read, not a square of the grid on the "sheet"."""
    page = paper(480, 640, level=0.9, seed=2)
    page[::24, :] -= 0.25  # the grid
    page[:, ::24] -= 0.25
    rows, cols = np.mgrid[0:480, 0:640]
    page *= np.where(rows < 350 - 0.6 * cols, 1.0, 0.5).astype(np.float32)  # the lit wedge at the top left
    bounds = put(page, glyph(font, 4, 110), 300, 400, strength=0.5)
    assert_reads(page, font, 4, bounds)


def test_a_blank_sheet_on_a_desk_holds_no_digit():
    assert find_digit(np.clip(sheet_on_a_desk(480, 640, 0.3, 5), 0, 1)) is None


def test_a_pool_of_lamplight_on_the_page_is_not_a_sheet(font):
    light = np.full((480, 640), 0.7, np.float32)
    light[100:380, 250:560] = 1.0  # brighter in a patch, fading off over some 60 pixels: no sheet's edge
    page = paper(480, 640) * cv2.blur(light, (61, 61))
    bounds = put(page, glyph(font, 8, 110), 200, 60, strength=0.6)  # in the dim part, off the patch
    assert_reads(page, font, 8, bounds)


def test_digit_touching_a_ruled_line(font):
    page = paper(300, 300)
    ink = glyph(font, 7, 150)
    bounds = put(page, ink, 60, 75)
    line = bounds[3] - 2  # the line runs through the foot of the 7
    page[line:line + 3, :] -= 0.5
    assert_reads(page, font, 7, bounds, min_similarity=0.8)


def test_light_digit_in_a_dark_meter_window_with_a_light_frame(font):
    window = np.full((120, 80), 0.15, np.float32)  # a dark drum...
    window[:, :6] = window[:, -6:] = 0.9  # ...between the light edges of its window
    ink = glyph(font, 2, 90)[:, 15:75]
    window[15:105, 10:70] += 0.75 * ink
    assert_reads(window, font, 2, ink_bounds(ink, 15, 10))


@pytest.mark.parametrize("digit", [0, 3, 7])
def test_a_chalk_digit_on_a_board_with_a_light_ledge_is_light_ink(font, digit):
    """Chalk on a dark board unevenly lit, the light ledge along its foot: in a photo the paper
    is judged by a median (which keeps the ledge's straight edge), and the thin light strokes
    still make the ink the light one."""
    board = paper(480, 640, level=0.2, seed=digit) * np.linspace(0.8, 1.1, 640, dtype=np.float32)[None, :]
    ink = glyph(font, digit, 150)
    board[150:300, 250:400] += 0.5 * ink
    board[-40:] = 0.85
    assert_reads(board, font, digit, ink_bounds(ink, 150, 250))


@pytest.mark.parametrize("digit", [1, 2, 4])
def test_scale_ticks_beside_a_meter_digit_are_not_part_of_it(font, digit):
    ink = cropped_glyph(font, digit, 64)  # a tight crop of a drum: the digit as tall as it
    drum = paper(ink.shape[0], ink.shape[1] + 20, level=0.75)
    bounds = put(drum, ink, 0, 4, strength=0.6)
    for row in range(1, ink.shape[0], 6):  # the scale's ticks, a few pixels right of the digit
        drum[row:row + 2, bounds[2] + 4:bounds[2] + 8] -= 0.6
    assert_reads(drum, font, digit, bounds)


@pytest.mark.parametrize("digit", [1, 6, 8])
def test_window_outline_around_a_meter_digit_is_not_part_of_it(font, digit):
    ink = cropped_glyph(font, digit, 80)
    drum, bounds = tight_drum(ink, 12, 8)
    left, top, right, bottom = bounds
    drum[top - 5:bottom + 5, [left - 7, right + 6]] -= 0.6  # the window's thin edge, round three sides
    drum[top - 5, left - 7:right + 7] -= 0.6
    assert_reads(drum, font, digit, bounds)


@pytest.mark.parametrize("digit", [0, 3, 7])
def test_thin_rims_and_a_scale_strip_beside_a_meter_digit_are_not_part_of_it(font, digit):
    ink = cropped_glyph(font, digit, 80)
    drum, bounds = tight_drum(ink, 10, 8)
    left, top, right, bottom = bounds
    drum[top - 5:top - 3, :] -= 0.6  # the window's rims, across the drum above and below the digit
    drum[bottom + 3:bottom + 5, :] -= 0.6
    drum[top + 10:bottom - 10, right + 4:right + 6] -= 0.6  # a scale's upright strip
    assert_reads(drum, font, digit, bounds)


def sliver_above(ink):
    """A meter's crop, cut at the digit's foot, with the foot of the next digit up the drum
    close above it: near enough that the search joins it to the digit."""
    drum = paper(ink.shape[0] + 14, ink.shape[1] + 20, level=0.75)
    left, top, right, _ = bounds = put(drum, ink, 14, 10, strength=0.6)
    drum[top - 13:top - 6, left:right] -= 0.6
    return np.clip(drum, 0, 1), bounds


@pytest.mark.parametrize("digit", [1, 4, 6])
def test_a_piece_joined_to_a_meter_digit_leaves_the_digit_alone_as_another_reading(font, digit):
    ink = cropped_glyph(font, digit, 80)
    drum, bounds = sliver_above(ink)
    whole = (0, 0, drum.shape[1], drum.shape[0])  # a crop taller than wide: the whole crop is the last reading
    one_piece = find_digit(np.where(np.arange(len(drum))[:, None] < bounds[1], 0.75, drum))
    assert [reading.box for reading in one_piece.alternatives] == [whole]
    found = find_digit(drum)
    assert [reading.box for reading in found.alternatives[1:]] == [whole]
    alone = found.alternatives[0]
    assert similarity(alone.image, mnist_like(glyph(font, digit, 64))) > 0.85
    assert overlap(alone.box, bounds) > 0.8, (alone.box, bounds)  # whole, the box holds the sliver: 0.75
    examined, shown, _ = examine(drum, preview=True)  # the report shows the box of the reading taken
    assert np.array_equal(shown, preview_with_box(drum, found.box))
    assert np.array_equal(examined.alternatives[0].preview, preview_with_box(drum, alone.box))


def test_a_crop_shaped_like_a_digits_box_is_read_whole_too(font):
    """A crop taller than wide may be a meter's window, the digit's own box: the whole crop,
    as finetune.py --whole-image reads it, is its last reading, for a model fine-tuned on such
    crops to weigh where the search frames a bar. A crop as wide as tall (a form's cell) or a
    photo is not a digit's box."""
    from preprocess import whole_digit

    ink = cropped_glyph(font, 7, 60)
    for height, width, whole in ((90, 60, True), (90, 90, False), (60, 90, False), (400, 300, False)):
        page = paper(height, width)
        bounds = put(page, ink, (height - ink.shape[0]) // 2, (width - ink.shape[1]) // 2)
        page = np.clip(page, 0, 1)
        found = find_digit(page)
        assert overlap(found.box, bounds) > 0.8, (found.box, bounds)  # the search's reading stays the first
        boxes = [reading.box for reading in found.readings]
        assert (boxes[-1] == (0, 0, width, height)) == whole, (height, width, boxes)
        assert len(boxes) == 1 + whole, (height, width, boxes)  # one piece on a clean crop: no other reading
        if whole:
            assert np.array_equal(found.readings[-1].image, whole_digit(page).image)


@pytest.mark.parametrize("digit", [1, 4])
def test_real_model_reads_a_meter_digit_under_the_next_digits_sliver(real_model, font, digit):
    """A network that never saw a drum's slivers reads the sliver joined to a 1 as a 5 or 7 and
    to a 4 as a 7; the digit alone is surer. One taught such windows may read either."""
    from explain import read_as_inference_does
    from inference import Predictor
    from model import load_model

    drum, bounds = sliver_above(cropped_glyph(font, digit, 80))
    result = Predictor.from_file(real_model).predict([drum])[0]
    assert result.prediction == digit, result.top_k(3)
    left, top, right, bottom = result.box
    holds_the_digit = left <= bounds[0] + 2 and top <= bounds[1] + 2 and right >= bounds[2] - 2 and bottom >= bounds[3] - 2
    assert holds_the_digit and overlap(result.box, bounds) > 0.65, (result.box, bounds)  # the sliver at most beside it
    model, checkpoint = load_model(real_model)  # explain.py explains the same reading
    assert read_as_inference_does(model, checkpoint.mean, checkpoint.std, find_digit(drum))[0].box == result.box


def test_a_loose_flag_drawn_with_the_digits_pen_stays_part_of_it(font):
    ink = cropped_glyph(font, 5, 160)
    flag_bottom = np.argmax(ink[:, ink.shape[1] // 2] < 0.3)  # the flag's lower edge, half-way along it
    ink[flag_bottom:flag_bottom + 6, : ink.shape[1] // 3] = 0  # the pen lifted between flag and stem
    page = paper(200, 200)
    bounds = put(page, ink, 40, 60)
    found = find_digit(np.clip(page, 0, 1))
    assert overlap(found.box, bounds) > 0.9, (found.box, bounds)  # the flag's row is in the box
    assert found.alternatives == ()  # on a clean page all the ink is the digit: no stem alone to weigh


def test_broken_pencil_stroke_is_one_digit(font):
    page = paper(240, 240)
    ink = glyph(font, 4, 160)
    ink[75:79, :] = 0  # the pencil skipped across the whole digit
    bounds = put(page, ink, 40, 40)
    assert_reads(page, font, 4, bounds, min_similarity=0.8)


def test_a_dry_pen_s_crumbs_inside_the_digit_stay_and_dust_outside_it_goes(font):
    ink = cropped_glyph(font, 8, 300)
    crumbled = ink.copy()
    band = slice(ink.shape[0] // 2 - 15, ink.shape[0] // 2 + 30)  # across the 8's waist and lower bowl
    crumbs = np.zeros_like(ink[band])
    crumbs[::12, ::12] = 1  # 3x3 crumbs 12 pixels apart: each far under a twentieth of the digit's height
    crumbs = cv2.dilate(crumbs, np.ones((3, 3), np.uint8))
    crumbled[band] *= crumbs
    bare = ink.copy()
    bare[band] = 0
    digits, boxes = {}, {}
    for name, strokes in (("crumbled", crumbled), ("bare", bare)):
        page = paper(360, 360)
        bounds = put(page, strokes, 60, 100, strength=0.8)
        page[320:323, 40:43] -= 0.8  # a speck of dust, well away from the digit
        found = find_digit(np.clip(page, 0, 1))
        assert overlap(found.box, bounds) > 0.9, (name, found.box, bounds)  # the dust is not in the box
        digits[name], boxes[name] = found.image.astype(float) / 255, found.box
    left, top, right, bottom = boxes["crumbled"]
    crumb_ink = (crumbs * ink[band]).sum() * (20 / max(right - left, bottom - top)) ** 2  # as MNIST's size has it
    assert digits["crumbled"].sum() - digits["bare"].sum() > 0.8 * crumb_ink  # the crumbs are in the digit read


@pytest.mark.parametrize("digit, step, size", [(0, 12, 300), (8, 12, 300), (3, 10, 200)])
def test_a_digit_drawn_in_dots_is_the_digit_not_a_dot_grid(font, digit, step, size):
    """Strokes drawn in dots alone (a dry pen, a dotted line): many specks alike and apart,
    as a dot-grid page's are, but with no stroke beside them; they are the digit, whole."""
    ink = cropped_glyph(font, digit, size)
    dots = np.zeros_like(ink)
    dots[::step, ::step] = 1
    dotted = ink * cv2.dilate(dots, np.ones((3, 3), np.uint8))
    page = paper(360, 360)
    bounds = put(page, dotted, 30, 40, strength=0.8)
    found = find_digit(np.clip(page, 0, 1))
    assert overlap(found.box, bounds) > 0.9, (found.box, bounds)


def vignetting(height, width, falloff):
    """A camera's light falling off from the middle of the frame: ``falloff`` of it lost at the corners."""
    y = np.linspace(-1, 1, height, dtype=np.float32)[:, None]
    x = np.linspace(-1, 1, width, dtype=np.float32)[None, :]
    return 1 - falloff * (x * x + y * y) / 2


@pytest.mark.parametrize("make", [
    lambda: paper(600, 800),  # blank paper with grain
    lambda: paper(600, 800) * np.linspace(0.5, 1, 800, dtype=np.float32)[None, :],  # blank, in shadow
    lambda: np.where(np.arange(400)[:, None] % 25 == 0, 0.5, paper(400, 400)),  # an empty grid
    lambda: paper(300, 400) * vignetting(300, 400, 0.15),  # a phone's photo of a blank page: darker corners
    lambda: paper(300, 400, level=0.5) * vignetting(300, 400, 0.4) * np.linspace(0.7, 1, 400)[None, :],  # dim, and a shadow
    lambda: paper(60, 50) * vignetting(60, 50, 0.25),  # a small crop of one
], ids=["paper", "shadowed-paper", "empty-grid", "vignetted", "dim-vignetted-shadowed", "small-vignetted"])
def test_blank_pages_still_hold_no_digit(make):
    assert find_digit(np.clip(make(), 0, 1).astype(np.float32)) is None


def test_a_digit_in_a_vignetted_photo_is_found(font):
    page = paper(300, 400, level=0.6) * vignetting(300, 400, 0.4)
    bounds = put(page, glyph(font, 2, 80), 120, 250, strength=0.35)  # faint, and off-centre towards a dim corner
    assert_reads(page, font, 2, bounds)


def test_box_is_in_the_photo_pixels_when_a_large_jpeg_is_read_reduced(font, tmp_path):
    page = paper(3000, 4000)
    bounds = put(page, glyph(font, 5, 600), 1200, 2500)
    Image.fromarray(np.round(np.clip(page, 0, 1) * 255).astype(np.uint8)).save(tmp_path / "photo.jpg", quality=90)
    found = find_digit(tmp_path / "photo.jpg")
    assert overlap(found.box, bounds) > 0.8, (found.box, bounds)


def test_a_48_megapixel_phone_photo_is_read_and_a_png_that_size_is_refused(font, tmp_path):
    page = Image.new("L", (8000, 6000), 215)  # uint8 throughout: as floats it would take 200 MB
    ink = Image.fromarray(np.round(glyph(font, 6, 1200) * 180).astype(np.uint8))
    page.paste(Image.new("L", ink.size, 35), (5000, 1500), mask=ink)
    page.save(tmp_path / "photo.jpg", quality=85)
    found = find_digit(tmp_path / "photo.jpg")
    assert found is not None and similarity(found.image, mnist_like(glyph(font, 6, 64))) > 0.85
    assert overlap(found.box, ink_bounds(np.asarray(ink) / 255, 1500, 5000)) > 0.8, found.box
    Image.new("1", (8000, 6000)).save(tmp_path / "screen.png")  # no reduced decoding for a PNG
    assert examine(tmp_path / "screen.png")[2].startswith("8000x6000 pixels is more than")


def test_report_preview_marks_the_box_that_was_read(font):
    page = paper(300, 400)
    bounds = put(page, glyph(font, 3, 90), 180, 280)
    page = np.clip(page, 0, 1)
    found = find_digit(page)
    preview = preview_with_box(page, found.box, side=96)
    assert preview.shape == (72, 96, 3)
    green = (preview[..., 1] > 150) & (preview[..., 0] < 100)
    rows, cols = np.flatnonzero(green.any(1)), np.flatnonzero(green.any(0))
    scale = 96 / 400
    assert abs(cols[0] - bounds[0] * scale) <= 3 and abs(rows[0] - bounds[1] * scale) <= 3
    assert abs(cols[-1] - bounds[2] * scale) <= 3 and abs(rows[-1] - bounds[3] * scale) <= 3
    digit, shown, error = examine(page, preview=True)
    assert error is None and digit.box == found.box and np.array_equal(shown, preview)


def test_pillow_warnings_about_a_corrupt_exif_block_stay_quiet(tmp_path, font):
    import struct
    import subprocess
    import sys
    from pathlib import Path

    page = np.clip(paper(64, 64), 0, 1)
    put(page, glyph(font, 1, 60)[2:62, 2:62], 2, 2)
    Image.fromarray(np.round(np.clip(page, 0, 1) * 255).astype(np.uint8)).save(tmp_path / "clean.jpg")
    data = (tmp_path / "clean.jpg").read_bytes()
    payload = b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff" + b"\x00" * 10  # an IFD that ends early
    (tmp_path / "bad_exif.jpg").write_bytes(data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:])
    root = Path(__file__).resolve().parent.parent
    code = ("import sys, warnings; warnings.simplefilter('always'); sys.path.insert(0, sys.argv[1]); "
            "from preprocess import find_digit; print(find_digit(sys.argv[2]) is not None)")
    done = subprocess.run([sys.executable, "-c", code, str(root), str(tmp_path / "bad_exif.jpg")],
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "True"
    assert done.stderr == ""  # with warnings forced on, still nothing reaches the terminal
