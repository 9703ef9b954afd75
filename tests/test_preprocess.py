"""mnist_like: any user's image in, an MNIST-style 28x28 digit out."""

import io

import numpy as np
import pytest
from PIL import Image

import fonts
import generate_test_digits as gen
import preprocess
from inference import find_images, label_from_path
from preprocess import ImageReadError, mnist_like, read_image


@pytest.fixture(scope="module")
def font():
    return fonts.load_font(fonts.resolve_font("DejaVuSans"))


def digit_image(font, digit=3, size=64, **style):
    return gen.render_digit(digit, font, size, gen.Style(**style))


def ink_box(digit):
    rows, cols = np.flatnonzero(digit.any(1)), np.flatnonzero(digit.any(0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def centre_of_mass(digit):
    d = digit.astype(float)
    return (d.sum(1) * np.arange(28)).sum() / d.sum(), (d.sum(0) * np.arange(28)).sum() / d.sum()


def similarity(a, b):
    return np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1]


def test_output_is_mnist_shaped(font):
    out = mnist_like(digit_image(font))
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert max(ink_box(out)) == 20
    assert out.max() == 255
    assert np.allclose(centre_of_mass(out), (14, 14), atol=0.75)


def test_dark_on_light_is_inverted(font):
    white_on_black = digit_image(font, 5)
    black_on_white = Image.fromarray(255 - np.asarray(white_on_black))
    assert np.abs(mnist_like(white_on_black).astype(int) - mnist_like(black_on_white).astype(int)).max() <= 2


def test_small_off_centre_digit_is_cropped_scaled_and_centred(font):
    reference = mnist_like(digit_image(font, 2, size=64))
    out = mnist_like(digit_image(font, 2, size=256, scale=0.3, offset_x=70, offset_y=-60))
    assert max(ink_box(out)) == 20
    assert np.allclose(centre_of_mass(out), (14, 14), atol=0.75)
    assert similarity(out, reference) > 0.9


def test_aspect_ratio_is_kept():
    bar = np.zeros((100, 100), np.uint8)
    bar[20:80, 45:55] = 255  # 60 tall, 10 wide
    height, width = ink_box(mnist_like(bar))
    assert height == 20 and 3 <= width <= 5


def test_ink_much_wider_than_tall_is_no_digit(font):
    """A 5 written 2.2 times as wide as tall, as a few of MNIST's writers write one, is a
    digit; a dash 4 times as wide (or a piece of a page's line) is none."""
    five = np.asarray(digit_image(font, 5, size=64))
    rows, cols = np.flatnonzero(five.any(1)), np.flatnonzero(five.any(0))
    five = five[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    wide = np.zeros((120, 220), np.uint8)
    wide[40:40 + five.shape[0], 20:20 + round(2.2 * five.shape[0])] = np.asarray(
        Image.fromarray(five).resize((round(2.2 * five.shape[0]), five.shape[0])))
    height, width = ink_box(mnist_like(wide))
    assert width == 20 and 7 <= height <= 11
    dash = np.zeros((120, 220), np.uint8)
    dash[55:65, 60:100] = 255  # 10 tall, 40 wide
    assert mnist_like(dash) is None


def test_mnist_like_input_passes_through_almost_unchanged(font):
    once = mnist_like(digit_image(font, 8, size=64))
    twice = mnist_like(once)  # searched enlarged to 64 pixels (cubic), so resampled once more
    assert similarity(once, twice) > 0.94


def test_rgba_ink_on_transparency(font):
    ink = np.asarray(digit_image(font, 4))
    black_ink = np.zeros((*ink.shape, 4), np.uint8)
    black_ink[..., 3] = ink  # black paint, transparent elsewhere
    white_ink = black_ink.copy()
    white_ink[..., :3] = 255  # white paint on transparency: invisible on white paper
    reference = mnist_like(Image.fromarray(ink))
    for rgba in (black_ink, white_ink):
        out = mnist_like(Image.fromarray(rgba, mode="RGBA"))
        assert similarity(out, reference) > 0.98
    assert similarity(mnist_like(black_ink), reference) > 0.98  # arrays take the same path


@pytest.mark.parametrize("make", [
    lambda: np.full((100, 100), 255, np.uint8),
    lambda: np.zeros((50, 80), np.uint8),
    lambda: np.clip(np.random.default_rng(0).normal(200, 4, (300, 300)), 0, 255).astype(np.uint8),
    lambda: Image.new("RGBA", (64, 64), (0, 0, 0, 0)),
], ids=["white", "black", "grey-noise", "transparent"])
def test_blank_images_hold_no_digit(make):
    assert mnist_like(make()) is None


def test_tiny_8x8_input():
    one = np.zeros((8, 8), np.uint8)
    one[1:7, 4] = 255
    out = mnist_like(one)
    assert out is not None and ink_box(out)[0] == 20


def test_huge_noisy_photo_with_a_small_digit(font):
    rng = np.random.default_rng(1)
    page = np.full((2000, 2000), 0.85) + rng.normal(0, 0.03, (2000, 2000))  # grey paper with grain
    digit = np.asarray(digit_image(font, 7, size=160), dtype=float) / 255
    page[1500:1660, 300:460] -= 0.7 * digit  # dark ink, far off-centre
    page[50, 50] = page[1900, 1900] = 0.0  # specks of dust
    out = mnist_like(np.clip(page, 0, 1))
    assert max(ink_box(out)) == 20
    assert similarity(out, mnist_like(digit_image(font, 7))) > 0.9


def seven_coverage(pen):
    """Share of the 28x28 frame a 7 about 700 pixels tall, drawn with a ``pen`` so many pixels
    wide on a 1000x1000 page, covers after preprocessing: how heavy its stroke came out."""
    from PIL import ImageDraw

    canvas = Image.new("L", (1000, 1000), 255)
    ImageDraw.Draw(canvas).line([(200, 150), (800, 150), (400, 850)], fill=0, width=pen)
    return (mnist_like(canvas) > 128).mean()


def test_fine_pen_on_a_large_scan_is_thickened_to_mnist_strokes():
    coverage = {pen: seven_coverage(pen) for pen in (1, 3, 30)}
    assert 0.07 < coverage[30] < 0.17  # MNIST's 7s: 5th to 95th percentile of this figure
    assert coverage[1] > 0.7 * coverage[30] and coverage[3] > 0.7 * coverage[30]  # unthickened: a tenth of it


def test_a_pen_mnist_also_has_is_left_as_drawn():
    """Only pens thinner than almost all of MNIST's are thickened: one within its range keeps
    its weight, so a narrow digit's counters and a curl's gap to its loop stay open."""
    # about MNIST's 10th percentile and its median; thickened to the median, the first would cover more
    assert seven_coverage(70) < 0.95 * seven_coverage(90)


def test_nearly_equal_pens_come_out_nearly_equal():
    """Thickening eases off towards the thinnest pen MNIST has, rather than stopping there:
    pens either side of that edge must not come out one bold and one thin."""
    coverage = [seven_coverage(pen) for pen in (48, 50, 52, 54)]  # about MNIST's thinnest pen, either side
    assert max(coverage) < 1.3 * min(coverage)


def test_other_modes_and_bit_depths(font):
    base = digit_image(font, 6)
    reference = mnist_like(base)
    sixteen = Image.fromarray(np.asarray(base).astype(np.uint16) * 257)
    palette = base.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE)
    for image in (sixteen, palette, base.convert("RGB"), base.convert("1"), base.convert("CMYK")):
        assert similarity(mnist_like(image), reference) > 0.95, image.mode


def test_exif_orientation_is_applied(font, tmp_path):
    upright = digit_image(font, 7)
    stored = upright.rotate(90, expand=True)  # a camera stores it sideways...
    exif = Image.Exif()
    exif[0x0112] = 6  # ...and says "rotate 90 degrees clockwise to display"
    stored.save(tmp_path / "photo.png", exif=exif)
    out = mnist_like(tmp_path / "photo.png")
    assert similarity(out, mnist_like(upright)) > 0.95
    assert similarity(mnist_like(stored), mnist_like(upright)) < 0.6


def test_an_iphone_heic_photo_is_read_upright(font, tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif")
    upright = digit_image(font, 7, size=200).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways, "rotate 90 degrees clockwise to display"
    # written through pillow-heif's own API, so Pillow learns to open HEIC only from read_image
    pillow_heif.from_pillow(upright.rotate(90, expand=True)).save(tmp_path / "IMG_0001.HEIC", exif=exif.tobytes())
    assert similarity(mnist_like(tmp_path / "IMG_0001.HEIC"), mnist_like(upright)) > 0.95
    assert find_images([tmp_path])[0] == [tmp_path / "IMG_0001.HEIC"]


def test_a_heic_photo_without_pillow_heif_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(preprocess, "_heif_readable", lambda: False)
    (tmp_path / "photo.heic").write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(64))
    with pytest.raises(ImageReadError, match="pip install pillow-heif"):
        read_image(tmp_path / "photo.heic")


def test_unreadable_files_raise_image_read_error(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello")
    buffer = io.BytesIO()
    Image.new("L", (64, 64), 255).save(buffer, "PNG")
    (tmp_path / "cut.png").write_bytes(buffer.getvalue()[:60])
    Image.new("1", (7000, 7000)).save(tmp_path / "bomb.png")  # 49 megapixels in a few kilobytes
    for name, message in (("empty.png", "empty"), ("text.png", "not an image"), ("cut.png", "truncated"),
                          ("bomb.png", "more than"), ("missing.png", "no such file")):
        with pytest.raises(ImageReadError, match=message):
            read_image(tmp_path / name)


@pytest.mark.parametrize("path, label", [
    ("test_digits/digit_3.png", 3),
    ("x/digit_0_DejaVuSans-Bold_12.png", 0),
    ("scans/7/anything.jpg", 7),
    ("scans/7/digit_2.png", 2),
    ("digit_12.png", None),
    ("scans/17/a.png", None),
    ("photo.png", None),
])
def test_labels_from_names_and_folders(path, label):
    from pathlib import Path
    assert label_from_path(Path(path)) == label


def test_inputs_that_are_not_pictures_of_a_digit_raise_image_read_error():
    with pytest.raises(ImageReadError, match="empty array"):
        mnist_like(np.zeros((0, 5)))
    with pytest.raises(ImageReadError, match="not an image"):
        mnist_like(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ImageReadError, match="as grey"):
        mnist_like(Image.new("LAB", (32, 32)))


def test_sixteen_bit_arrays_use_the_sixteen_bit_range(font):
    digit = np.asarray(digit_image(font, 2)).astype(np.uint16)
    assert mnist_like(digit * 257) is not None
    assert mnist_like(digit) is None  # values up to 255 of 65535: a black picture, no digit


def test_float_arrays_in_either_range(font):
    """Floats 0-255 (an image turned to float) and 0-1 (as image libraries hold them, a little
    past 1 where a cubic resize overshoots an edge) are the same picture."""
    digit = np.asarray(digit_image(font, 5), dtype=np.float32)
    reference = mnist_like(digit.astype(np.uint8))
    overshot = digit / 255 * 1.1 - 0.05  # from -0.05 to 1.05
    for array in (digit, overshot):
        assert similarity(mnist_like(array), reference) > 0.95, array.max()


def test_a_bar_run_off_a_drawing_s_canvas_stays_with_the_digit():
    """A 7 drawn on a computer's canvas with its bar run off the top: on the canvas's flat
    white the band along the side is the digit's own stroke, and stays in its box. The same
    picture photographed (paper with a photo's grain, not one flat grey) is taken for a crop
    of something larger, where a dark band along a side is a frame's edge, and left out."""
    import cv2
    canvas = np.full((200, 200), 255, np.uint8)
    cv2.line(canvas, (12, 2), (192, 2), 0, 26)  # the bar, cut by the canvas's top
    cv2.line(canvas, (186, 6), (80, 196), 0, 22)  # the stem
    assert preprocess.find_digit(canvas).box[1] == 0
    photo = np.clip(canvas * 0.85 + np.random.default_rng(0).normal(0, 4, canvas.shape), 0, 255).astype(np.uint8)
    assert preprocess.find_digit(photo).box[1] > 10


@pytest.mark.parametrize("side,tilt", [(200, 3), (280, 3), (112, 6), (280, 6)])
def test_a_thin_bar_drawn_across_a_canvas_is_no_page_line(side, tilt):
    """A 7 drawn with a thin brush on a computer's canvas, its bar a little tilted and run
    from side to side: on a canvas's flat white there is no photographed page, so the bar
    is the digit's stroke, not one of a page's printed lines, and stays in its box whole."""
    import cv2
    canvas = np.full((side, side), 255, np.uint8)
    top, rise = int(0.22 * side), np.tan(np.radians(tilt)) * side
    cv2.line(canvas, (0, top), (side - 1, int(top - rise)), 0, 2, cv2.LINE_AA)  # the bar
    cv2.line(canvas, (int(0.72 * side), int(top - 0.72 * rise)), (int(0.42 * side), int(0.9 * side)), 0, 2, cv2.LINE_AA)
    left, _, right, _ = preprocess.find_digit(canvas).box
    assert left <= 1 and right >= side - 1


@pytest.mark.parametrize("break_at", [9, 12])
def test_a_broken_seven_keeps_the_bar_it_drew_off_the_canvas(break_at):
    """A 7 drawn on a clean canvas, its bar run off the top and its stem broken across: the
    two pieces are one digit. On a clean page all the ink is the digit, and a piece that
    runs off the canvas is still the digit's when it joins the digit (the stem alone reads 1)."""
    import cv2
    canvas = np.full((112, 112), 255, np.uint8)
    cv2.line(canvas, (16, 4), (88, 4), 0, 12, cv2.LINE_AA)  # the bar, at the top
    cv2.line(canvas, (84, 4), (44, 100), 0, 12, cv2.LINE_AA)  # the stem
    canvas[4 * break_at:4 * break_at + 8] = 255  # the stroke broken across
    assert preprocess.find_digit(canvas).box[1] == 0


@pytest.mark.parametrize("text,top", [("5", -16), ("3", 0)])
def test_a_bold_drawing_s_soft_edge_leaves_its_strokes_solid(text, top):
    """A digit written small with MNIST's soft edge, enlarged to fill a 200-pixel canvas and
    drawn with a broad brush: the soft edge becomes a grey fringe many pixels wide, and less
    than half the paper around the ink is the canvas's one white. It is still a drawing in
    two flat colours, so the white is its ground and the strokes come out as solid as they
    were drawn (grey where the closing took a broad stroke for paper, they read as another digit)."""
    import cv2
    small = np.zeros((28, 28), np.uint8)
    cv2.putText(small, text, (4, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.95, 255, 2, cv2.LINE_AA)
    soft = np.clip(cv2.GaussianBlur(small.astype(np.float32) / 255, (0, 0), 0.8) * 1.5, 0, 1)
    rows, cols = np.flatnonzero(soft.max(1) > 0.15), np.flatnonzero(soft.max(0) > 0.15)
    soft = soft[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    big = cv2.resize(soft, (round(soft.shape[1] * 210 / soft.shape[0]), 210), interpolation=cv2.INTER_CUBIC)
    big = cv2.dilate(big, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (13, 13)))  # the brush
    canvas = cv2.warpAffine(big, np.float32([[1, 0, 0], [0, 1, top]]), (200, 200))  # run off the top or bottom
    digit = mnist_like(np.round(255 * (1 - np.clip(canvas, 0, 1))).astype(np.uint8))
    grey = ((digit > 40) & (digit < 215)).sum() / (digit > 40).sum()  # of the ink, the share that is grey
    assert grey < 0.4, grey  # about 0.3 (edges); 0.5-0.6 with the strokes' middles grey


def test_a_bold_seven_that_cuts_a_large_canvas_in_two_is_no_sheet_on_a_desk():
    """A bold 7 drawn on a 280-pixel canvas, its stem run off the bottom, cuts the white into
    a four-sided light part beside the stem, as a sheet of paper on a darker desk looks; but
    that "desk" is the stroke and the canvas, two flat colours that no photographed desk is.
    The 7 is the digit, not something on that "sheet" (which held none)."""
    import cv2
    canvas = np.full((280, 280), 255, np.uint8)
    cv2.line(canvas, (25, 50), (230, 65), 0, 50)  # the bar
    cv2.line(canvas, (235, 80), (120, 300), 0, 50)  # the stem, off the bottom
    canvas = cv2.GaussianBlur(canvas, (0, 0), 3)  # a soft brush
    found = preprocess.find_digit(canvas)
    assert found is not None
    left, top, right, bottom = found.box
    assert left < 30 and top < 35 and right > 250 and bottom == 280  # the whole stroke


@pytest.mark.parametrize("dark_ink", [True, False])
@pytest.mark.parametrize("grain", [0, 8])
def test_a_zero_drawn_past_the_canvas_is_read_as_its_strokes(dark_ink, grain):
    """A bold 0 drawn so large on a canvas that it runs off three sides is about as much ink as
    canvas; its even stroke is the ink, black on white or white on black, not the hole and the
    corners around it. So too where the brush's ink is not one exact grey but a few levels
    apart (``grain``), as a scanned marker's or a textured brush's is: no two grey levels then
    hold half the picture, but it is still a drawing in two colours."""
    import cv2
    canvas = np.zeros((140, 140), np.uint8)
    cv2.ellipse(canvas, (70, 74), (62, 82), 0, 0, 360, 255, thickness=44)
    canvas -= (np.random.default_rng(0).integers(0, grain + 1, canvas.shape) * (canvas > 0)).astype(np.uint8)
    if dark_ink:
        canvas = 255 - canvas
    assert 0.3 <= (canvas < 128).mean() <= 0.7  # as much ink as canvas either way
    digit = mnist_like(canvas)
    assert digit is not None
    assert digit[14, 14] < 60 and digit[14, 5:8].max() > 150  # the hole is dark, the stroke round it bright


@pytest.mark.parametrize("side,brush", [(64, 22), (64, 26), (120, 44)])
def test_a_brush_broader_than_the_lighting_window_keeps_its_ink_on_a_canvas(side, brush):
    """A bold 7 on a small canvas, its bar run off the top, drawn with a brush nearly half as
    broad as the canvas: wider than the window over which a crop's lighting is judged, so a
    closing over it took the bar's middle for paper (a grey bar, or none and a 1). A canvas's
    paper is one grey level, and the ink is what is darker than that: the bar stays whole and
    as bright as the stem."""
    import cv2
    s = side / 64
    canvas = np.full((side, side), 255, np.uint8)
    cv2.line(canvas, (int(6 * s), int(4 * s)), (int(56 * s), int(4 * s)), 0, brush, cv2.LINE_AA)  # the bar
    cv2.line(canvas, (int(52 * s), int(4 * s)), (int(26 * s), side + 5), 0, brush, cv2.LINE_AA)  # the stem
    found = preprocess.find_digit(canvas)
    assert found.box[1] == 0
    rows = np.flatnonzero(found.image.max(1) > 30)
    bar = found.image[rows[0]:rows[0] + 3]
    assert np.median(bar[bar > 30]) >= 240


@pytest.mark.parametrize("rows", [
    ["..####..", ".##..##.", "##....##", "##....##", "##....##", "##....##", ".##..##.", "..####.."],  # a 0
    ["..####..", ".##..##.", ".##..##.", "..####..", ".##..##.", "##....##", ".##..##.", "..####.."],  # an 8
])
def test_a_tiny_light_digit_on_black_is_read_as_its_strokes(rows):
    """An 8x8 digit, white on black as scikit-learn's UCI digits are: enlarged, it is a drawing
    in two colours with as much ink as ground, and its blocky strokes are no more even than
    the black between them. The black holds the picture's corners, as a canvas does around
    what is drawn on it, so the white is the ink (not the holes and the ground around them)."""
    pattern = np.array([[1.0 if c == "#" else 0.0 for c in row] for row in rows], np.float32)
    reference = preprocess.frame_ink(np.kron(pattern, np.ones((8, 8), np.float32)))
    assert similarity(mnist_like(pattern), reference) > 0.6
