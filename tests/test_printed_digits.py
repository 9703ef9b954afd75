"""The printed digits training mixes in: DIN lettering, 7-segment displays and meter windows."""

from pathlib import Path

import numpy as np
from PIL import Image

import printed_digits as pd
from fonts import load_font, resolve_font
from preprocess import find_digit


def lit(image):
    return np.asarray(image) > 128


def test_seven_segment_lights_the_segments_of_each_digit():
    rng = np.random.default_rng(0)
    one, eight = lit(pd.seven_segment(1, rng)), lit(pd.seven_segment(8, rng))
    assert one.shape[1] < 0.5 * eight.shape[1]  # a 1 is the right-hand segments alone
    assert eight.mean() > 2 * one.mean() * one.shape[1] / eight.shape[1]
    for digit in range(10):
        image = lit(pd.seven_segment(digit, np.random.default_rng(digit)))
        rows, cols = image.any(1), image.any(0)
        assert rows[0] and rows[-1] and cols[0] and cols[-1]  # cropped to its lit segments


def test_meter_windows_are_found_where_the_digit_was_drawn():
    rng = np.random.default_rng(1)
    font = load_font(resolve_font("DejaVuSans"), 48)
    hits = 0
    for k in range(40):
        glyph = pd.seven_segment(k % 10, rng) if k % 2 else pd.draw_glyph(str(k % 10), font)
        scene = pd.meter_window(glyph, rng)
        found = find_digit(scene)
        hits += found is not None and pd.box_overlap(found.box, scene.info["digit_box"]) >= 0.7
    assert hits >= 32  # the rest are redrawn by printed_digits, not learnt from


def test_din_digits_are_upright_strokes_each_its_own_shape():
    rng = np.random.default_rng(2)
    drawn = [lit(pd.din_digit(digit, rng)) for digit in range(10)]
    for image in drawn:
        rows, cols = image.any(1), image.any(0)
        assert rows[0] and rows[-1] and cols[0] and cols[-1]  # cropped to its ink
        assert image.shape[0] > 1.3 * image.shape[1]  # a narrow face, taller than wide
        assert 0.1 < image.mean() < 0.6  # strokes, not a blob
    pictures = [find_digit(Image.fromarray(image.astype(np.uint8) * 255)).image for image in drawn]
    for a in range(10):  # no two digits come out as the same picture
        for b in range(a + 1, 10):
            assert np.corrcoef(pictures[a].ravel(), pictures[b].ravel())[0, 1] < 0.9, (a, b)


def test_drum_windows_show_at_most_a_sliver_of_the_neighbouring_digits():
    rng = np.random.default_rng(3)
    for k in range(30):
        glyph = pd.din_digit(k % 10, rng)
        scene = pd.meter_window(glyph, rng, neighbours=(pd.din_digit((k + 1) % 10, rng), pd.din_digit((k + 9) % 10, rng)))
        left, top, right, bottom = scene.info["digit_box"]
        assert 0 <= left < right <= scene.width and 0 <= top < bottom <= scene.height
        assert (bottom - top) >= 0.5 * scene.height  # the digit is most of the window


def test_printed_digits_mix_all_three_scenes_and_stay_balanced():
    images, labels = pd.printed_digits(2, seed=0, fonts=("DejaVuSans",))
    scenes, meters = 2 * (1 + pd.METER_SCENES_PER_GLYPH), 2 * pd.METER_SCENES_PER_GLYPH
    counts = np.bincount(labels, minlength=10)
    assert all(scenes <= n <= scenes + meters for n in counts)
    assert counts.sum() >= 10 * (scenes + meters // 2)  # most windows are read whole too, as a real crop is
    peaks = images.reshape(len(images), -1).max(1)
    assert (peaks == 255).sum() >= 10 * scenes and peaks.min() > 128  # each digit's crop stretched; whole windows shrunk
    plain, plain_labels = pd.printed_digits(2, seed=0, fonts=("DejaVuSans",), whole_windows=False)
    assert np.bincount(plain_labels).tolist() == [scenes] * 10 and (plain.reshape(len(plain), -1).max(1) == 255).all()


def test_a_meter_window_read_whole_too_is_a_second_picture_of_its_digit():
    font = load_font(resolve_font("DejaVuSans"), 48)
    rng = np.random.default_rng(6)
    pairs = [pd._scene_pictures(digit, font, 1 + digit % 2, rng) for digit in range(10)]
    assert len(pd._scene_pictures(3, font, 0, rng)) == 1  # a plain glyph has no window to read whole
    doubled = [pictures for pictures in pairs if len(pictures) == 2]
    assert len(doubled) >= 7
    for digit_only, whole in doubled:  # the whole window holds the frame and slivers the digit's crop leaves out
        assert digit_only.shape == whole.shape == (28, 28) and not np.array_equal(digit_only, whole)


def test_workers_draw_exactly_what_one_process_draws():
    fonts = ("DejaVuSans", "DejaVuSerif-Bold", "cmr10")
    alone = pd.printed_digits(1, seed=4, fonts=fonts, workers=1)
    pooled = pd.printed_digits(1, seed=4, fonts=fonts, workers=2)
    assert np.array_equal(alone[0], pooled[0]) and np.array_equal(alone[1], pooled[1])
    other = pd.printed_digits(1, seed=5, fonts=fonts, workers=2)
    assert not np.array_equal(alone[0], other[0])


def test_drawn_digits_are_kept_and_read_back_only_while_what_made_them_is_the_same(tmp_path, monkeypatch):
    fonts = ("DejaVuSans",)
    images, labels = pd.printed_digits(1, seed=3, fonts=fonts, cache_dir=tmp_path)
    assert len(images) >= 10 * (1 + pd.METER_SCENES_PER_GLYPH) and len(list(tmp_path.iterdir())) == 1

    def no_drawing(*args):
        raise AssertionError("drew again although the same digits were kept")

    with monkeypatch.context() as patch:
        patch.setattr(pd, "_draw", no_drawing)
        kept_images, kept_labels = pd.printed_digits(1, seed=3, fonts=fonts, cache_dir=tmp_path)
    assert np.array_equal(kept_images, images) and np.array_equal(kept_labels, labels)

    other_seed, _ = pd.printed_digits(1, seed=4, fonts=fonts, cache_dir=tmp_path)  # another key: drawn anew
    assert not np.array_equal(other_seed, images) and len(list(tmp_path.iterdir())) == 2

    monkeypatch.setattr(pd, "_cache_key", lambda *args: "changed code")  # as if preprocess.py had changed
    drawn, _ = pd.printed_digits(1, seed=3, fonts=fonts, cache_dir=tmp_path)
    assert np.array_equal(drawn, images) and len(list(tmp_path.iterdir())) == 3

    (tmp_path / "printed_digits_changed code.npz").write_bytes(b"half a file")  # unreadable: drawn again
    assert np.array_equal(pd.printed_digits(1, seed=3, fonts=fonts, cache_dir=tmp_path)[0], images)


def test_the_cache_key_follows_the_preprocessing_source(monkeypatch, tmp_path):
    key = pd._cache_key(1, 3, ("DejaVuSans",), True)
    assert pd._cache_key(1, 3, ("DejaVuSans",), True) == key and pd._cache_key(2, 3, ("DejaVuSans",), True) != key
    assert pd._cache_key(1, 3, ("DejaVuSans",), False) != key  # the windows read whole are part of what is drawn
    edited = tmp_path / "preprocess.py"
    edited.write_bytes(Path(pd.preprocess.__file__).read_bytes() + b"\n# a change\n")
    monkeypatch.setattr(pd.preprocess, "__file__", str(edited))
    assert pd._cache_key(1, 3, ("DejaVuSans",), True) != key
