"""The printed digits training mixes in: 7-segment displays and meter windows."""

import numpy as np

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
        hits += found is not None and pd._overlap(found.box, scene.info["digit_box"]) >= 0.7
    assert hits >= 32  # the rest are redrawn by printed_digits, not learnt from


def test_printed_digits_mix_all_three_scenes_and_stay_balanced():
    images, labels = pd.printed_digits(3, seed=0, fonts=("DejaVuSans",))
    assert images.shape == (60, 28, 28) and np.bincount(labels).tolist() == [6] * 10
    assert all(image.max() == 255 for image in images)


def test_workers_draw_exactly_what_one_process_draws():
    fonts = ("DejaVuSans", "DejaVuSerif-Bold", "cmr10")
    alone = pd.printed_digits(1, seed=4, fonts=fonts, workers=1)
    pooled = pd.printed_digits(1, seed=4, fonts=fonts, workers=2)
    assert np.array_equal(alone[0], pooled[0]) and np.array_equal(alone[1], pooled[1])
    other = pd.printed_digits(1, seed=5, fonts=fonts, workers=2)
    assert not np.array_equal(alone[0], other[0])
