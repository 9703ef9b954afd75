import csv
import hashlib

import numpy as np
import pytest
from PIL import Image

import fonts
import generate_test_digits as gen


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.png"))}


def test_default_run_makes_ten_white_on_black_32px_digits(tmp_path, capsys):
    assert gen.main(["--output-dir", str(tmp_path)]) == 0
    names = sorted(p.name for p in tmp_path.glob("digit_*.png"))
    assert names == [f"digit_{d}.png" for d in range(10)]
    images = []
    for name in names:
        with Image.open(tmp_path / name) as image:
            assert image.size == (32, 32) and image.mode == "L"
            pixels = np.asarray(image)
        assert pixels[0].max() == 0 and pixels[-1].max() == 0  # black paper around the digit
        assert pixels.max() == 255 and 0.05 < (pixels > 127).mean() < 0.4  # a real glyph, not a dot
        images.append(pixels.tobytes())
    assert len(set(images)) == 10
    with Image.open(tmp_path / "overview.png") as sheet:
        assert sheet.width > 64 and sheet.height > 10 * 64
    assert "Wrote 10 digit images" in capsys.readouterr().out


def test_variants_are_labelled_named_and_reproducible(tmp_path):
    assert gen.main(["--output-dir", str(tmp_path / "a"), "--variants", "3", "--seed", "5"]) == 0
    assert gen.main(["--output-dir", str(tmp_path / "b"), "--variants", "3", "--seed", "5"]) == 0
    assert gen.main(["--output-dir", str(tmp_path / "c"), "--variants", "3", "--seed", "6"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "a" / "labels.csv")))
    assert len(rows) == 10 * 4
    assert set(rows[0]) >= {"file", "label", "font", "rotation", "scale", "offset_x", "offset_y", "stroke", "blur", "noise"}
    for row in rows:
        assert row["file"].startswith(f"digit_{row['label']}")
        assert (tmp_path / "a" / row["file"]).exists()
        assert abs(float(row["rotation"])) <= 15
    variant_fonts = {row["font"] for row in rows if row["file"] != f"digit_{row['label']}.png"}
    assert len(variant_fonts) == 3  # k-th variant of every digit uses the k-th font
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_invert_and_size(tmp_path):
    assert gen.main(["--output-dir", str(tmp_path), "--invert", "--size", "64"]) == 0
    with Image.open(tmp_path / "digit_7.png") as image:
        pixels = np.asarray(image)
    assert pixels.shape == (64, 64)
    assert pixels[0].min() == 255 and pixels.min() == 0  # dark ink on white paper


def test_every_variant_font_is_a_truetype_file_inside_matplotlib():
    font_dir = fonts.matplotlib_font_dir()
    for name in fonts.PRINTED_FONTS:
        path = fonts.resolve_font(name)
        assert path.parent == font_dir
        assert path.read_bytes()[:4] in (b"\x00\x01\x00\x00", b"true", b"OTTO")
        font = fonts.load_font(path)
        assert font.size == fonts.RENDER_PX


def test_fonts_that_cannot_draw_digits_or_do_not_exist_are_errors(tmp_path, capsys):
    with pytest.raises(fonts.FontError, match="does not draw the digits"):
        fonts.load_font(fonts.resolve_font("LastResortHE-Regular"))  # one placeholder box for every digit
    (tmp_path / "fake.ttf").write_text("not a font")
    with pytest.raises(fonts.FontError, match="not a TrueType"):
        fonts.load_font(tmp_path / "fake.ttf")
    assert gen.main(["--output-dir", str(tmp_path / "out"), "--fonts", "No Such Font Anywhere"]) == 2
    assert "not found" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_fonts_flag_takes_names_and_paths(tmp_path):
    serif = fonts.resolve_font("DejaVuSerif")
    assert gen.main(["--output-dir", str(tmp_path), "--fonts", str(serif), "cmr10", "--variants", "2"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "labels.csv")))
    assert {row["font"] for row in rows} == {str(serif), "cmr10"}
    assert (tmp_path / "digit_4_cmr10_1.png").exists()


@pytest.mark.parametrize("argv", [["--size", "4"], ["--size", "5000"], ["--variants", "-1"]])
def test_bad_flags(argv, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        gen.main(["--output-dir", str(tmp_path), *argv])
    assert exit_info.value.code == 2
