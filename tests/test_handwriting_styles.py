"""European forms drawn onto MNIST digits: a 1 with a flag, a 7 with a bar."""

import numpy as np

import handwriting_styles as hs


def plain_one() -> np.ndarray:
    """An upright 1 as a stem three pixels wide, rows 4-23."""
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 13:16] = 255
    return digit


def plain_seven() -> np.ndarray:
    """A 7: a bar across the top and an upright stem under its right end, both three pixels wide."""
    digit = np.zeros((28, 28), np.uint8)
    digit[4:7, 8:20] = 255
    digit[4:24, 17:20] = 255
    return digit


def test_a_flag_falls_to_the_left_from_the_top_of_the_stem_in_the_digits_own_pen():
    one = plain_one()
    for seed in range(20):
        flagged = hs.flagged_one(one, np.random.default_rng(seed))
        assert (flagged >= one).all()  # every stroke of the writer's stays
        added = (flagged >= hs.INK) & (one < hs.INK)
        rows, cols = np.nonzero(added)
        assert cols.max() < 13 and cols.min() >= 1  # left of the stem, inside the frame
        assert rows.min() <= 6 and rows.max() <= 4 + 0.6 * 19 + 3  # from the top, down at most 60% of the height
        length = np.hypot(13 - cols.min(), rows.max() - rows.min())
        assert 1.5 < added.sum() / length < 4.5  # as wide as the stem, not a hairline nor a blob


def test_a_bar_crosses_the_stem_of_a_seven_a_little_below_its_middle():
    seven = plain_seven()
    for seed in range(20):
        barred = hs.barred_seven(seven, np.random.default_rng(seed))
        assert (barred >= seven).all()
        added = (barred >= hs.INK) & (seven < hs.INK)
        rows, cols = np.nonzero(added)
        assert cols.min() < 17 and cols.max() > 19  # out on both sides of the stem
        assert 4 + 0.4 * 19 <= rows.mean() <= 4 + 0.65 * 19
        assert rows.max() - rows.min() <= 5  # nearly level


def test_too_little_ink_to_draw_on_is_passed_over():
    speck = np.zeros((28, 28), np.uint8)
    speck[10:13, 10:13] = 255
    assert hs.flagged_one(speck, np.random.default_rng(0)) is None
    assert hs.barred_seven(speck, np.random.default_rng(0)) is None


def test_european_forms_redraw_only_ones_and_sevens_seeded_and_leave_the_input_alone():
    images = np.stack([plain_one()] * 5 + [plain_seven()] * 5 + [np.roll(plain_one(), 3, axis=1)] * 5)
    labels = np.array([1] * 5 + [7] * 5 + [4] * 5)  # the third five are not 1s whatever they look like
    before = images.copy()
    drawn, drawn_labels = hs.european_forms(images, labels, 3, np.random.default_rng(0))
    assert drawn.shape == (6, 28, 28) and drawn.dtype == np.uint8
    assert drawn_labels.tolist() == [1, 1, 1, 7, 7, 7] and drawn_labels.dtype == np.int64
    assert (images == before).all()
    again, _ = hs.european_forms(images, labels, 3, np.random.default_rng(0))
    other, _ = hs.european_forms(images, labels, 3, np.random.default_rng(1))
    assert (again == drawn).all() and not (other == drawn).all()
    assert len(hs.european_forms(images, labels, 9, np.random.default_rng(0))[0]) == 10  # as many as there are
    nothing, nothing_labels = hs.european_forms(images[10:], labels[10:], 3, np.random.default_rng(0))
    assert nothing.shape == (0, 28, 28) and nothing_labels.shape == (0,)
