"""Render the digits 0-9 in real TrueType fonts, as test images for inference.py.

    python generate_test_digits.py                 # test_digits/digit_0.png ... digit_9.png
    python generate_test_digits.py --variants 20   # plus 20 varied images per digit, labels.csv

The fonts come from inside the matplotlib package (DejaVu, STIX, Computer Modern), so every
machine that runs this project has them. PIL's bitmap default font is never used: its digits
are a few pixels tall and look nothing like handwriting or print.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from artifacts import OVERVIEW_NAME, atomic_write
from fonts import (
    PRINTED_FONTS,
    RENDER_PX,
    FontError,
    draw_glyph,
    load_font,
    matplotlib_font_dir,
    resolve_font,
)

DEFAULT_FONT = "DejaVuSans-Bold"
DIGIT_FILL = 20 / 32  # MNIST puts a 20-pixel digit in a 28-pixel frame, which LeNet pads to 32


@dataclass
class Style:
    """How one image was drawn; each field is a column of labels.csv."""

    rotation: float = 0.0  # degrees, counter-clockwise
    scale: float = 1.0  # of the MNIST-like digit height (20/32 of the frame)
    offset_x: float = 0.0  # pixels from the centre of the frame
    offset_y: float = 0.0
    stroke: float = 0.0  # extra stroke width, as a fraction of the font size
    blur: float = 0.0  # Gaussian blur radius, in output pixels
    noise: float = 0.0  # standard deviation of added noise, 0-1 scale


def render_digit(digit: int, font: ImageFont.FreeTypeFont, size: int, style: Style | None = None,
                 invert: bool = False, rng: np.random.Generator | None = None) -> Image.Image:
    """One ``size``x``size`` grayscale image of ``digit``: white on black unless ``invert``."""
    style = style or Style()
    glyph = draw_glyph(str(digit), font, style.stroke)
    if style.rotation:
        glyph = glyph.rotate(style.rotation, resample=Image.Resampling.BICUBIC, expand=True)
        glyph = glyph.crop(glyph.getbbox())
    target = size * DIGIT_FILL * style.scale
    ratio = target / max(glyph.size)
    glyph = glyph.resize((max(1, round(glyph.width * ratio)), max(1, round(glyph.height * ratio))),
                         Image.Resampling.LANCZOS)
    frame = Image.new("L", (size, size), 0)
    left = round((size - glyph.width) / 2 + style.offset_x)
    top = round((size - glyph.height) / 2 + style.offset_y)
    frame.paste(glyph, (left, top))
    if style.blur:
        frame = frame.filter(ImageFilter.GaussianBlur(style.blur))
    pixels = np.asarray(frame, dtype=np.float32) / 255
    if style.noise and rng is not None:
        pixels = np.clip(pixels + rng.normal(0, style.noise, pixels.shape), 0, 1)
    if invert:
        pixels = 1 - pixels
    return Image.fromarray(np.round(pixels * 255).astype(np.uint8), mode="L")


def random_style(rng: np.random.Generator, size: int) -> Style:
    scale = float(rng.uniform(0.6, 1.15))
    room = max(0.0, (size - size * DIGIT_FILL * scale) / 2 - 1)  # keep the digit inside the frame
    return Style(
        rotation=float(rng.uniform(-15, 15)),
        scale=scale,
        offset_x=float(rng.uniform(-room, room)),
        offset_y=float(rng.uniform(-room, room)),
        stroke=float(rng.choice([0.0, rng.uniform(0, 0.05)])),
        blur=float(rng.choice([0.0, rng.uniform(0.2, 0.9) * size / 32])),
        noise=float(rng.choice([0.0, rng.uniform(0.01, 0.08)])),
    )


def save_png(image: Image.Image, path: Path) -> None:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    atomic_write(path, lambda tmp: tmp.write_bytes(buffer.getvalue()))


def overview_sheet(rows: list[tuple[int, Image.Image]], invert: bool) -> Image.Image:
    """Every image made, one block of rows per digit, scaled up so 32-pixel images are legible."""
    font = ImageFont.truetype(str(matplotlib_font_dir() / "DejaVuSans-Bold.ttf"), 28)
    by_digit: dict[int, list[Image.Image]] = {}
    for digit, image in rows:
        by_digit.setdefault(digit, []).append(image)
    tile = max(64, max(im.width for _, im in rows))
    columns = min(20, max(len(v) for v in by_digit.values()))
    gap, margin = 4, 48
    lines = sum(math.ceil(len(v) / columns) for v in by_digit.values())
    sheet = Image.new("L", (margin + columns * (tile + gap), lines * (tile + gap) + gap), 128)
    draw = ImageDraw.Draw(sheet)
    y = gap
    for digit in sorted(by_digit):
        draw.text((margin // 2, y + tile // 2), str(digit), fill=255 if not invert else 0, font=font, anchor="mm")
        for i, image in enumerate(by_digit[digit]):
            if i and i % columns == 0:
                y += tile + gap
            resample = Image.Resampling.NEAREST if image.width <= tile // 2 else Image.Resampling.LANCZOS
            sheet.paste(image.resize((tile, tile), resample), (margin + (i % columns) * (tile + gap), y))
        y += tile + gap
    return sheet


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Render digits 0-9 in TrueType fonts for inference.py.")
    parser.add_argument("--output-dir", type=Path, default=Path("test_digits"), help="where to write (default: test_digits)")
    parser.add_argument("--size", type=int, default=32, help="image side in pixels, 8-2000 (default: 32)")
    parser.add_argument("--variants", type=int, default=0,
                        help="extra images per digit across fonts, rotated, scaled, shifted, blurred, noisy (default: 0)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the variants (default: 0)")
    parser.add_argument("--invert", action="store_true", help="dark digits on light paper instead of white on black")
    parser.add_argument("--fonts", nargs="+", metavar="FONT",
                        help=f"font names or .ttf paths; the first draws digit_<d>.png, all draw variants "
                             f"(default: {DEFAULT_FONT} for digit_<d>.png; {len(PRINTED_FONTS)} matplotlib fonts for variants)")
    args = parser.parse_args(argv)
    if not 8 <= args.size <= 2000:
        parser.error(f"--size must be between 8 and 2000, got {args.size}")
    if args.variants < 0:
        parser.error(f"--variants must be 0 or more, got {args.variants}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        names = args.fonts or [DEFAULT_FONT]
        # drawn at least as large as the output, up to a point, so big images stay sharp
        font_px = int(min(max(RENDER_PX, args.size * DIGIT_FILL * 1.2), 640))
        fonts = {name: load_font(resolve_font(name), font_px) for name in dict.fromkeys(names)}
        if args.variants and not args.fonts:
            fonts.update({name: load_font(resolve_font(name), font_px) for name in PRINTED_FONTS if name not in fonts})
    except FontError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    main_font = names[0]
    variant_fonts = list(fonts) if args.fonts else list(PRINTED_FONTS)
    rng = np.random.default_rng(args.seed)
    made: list[tuple[int, Image.Image]] = []
    manifest = []
    try:
        for digit in range(10):
            image = render_digit(digit, fonts[main_font], args.size, invert=args.invert)
            save_png(image, args.output_dir / f"digit_{digit}.png")
            made.append((digit, image))
            manifest.append({"file": f"digit_{digit}.png", "label": digit, "font": main_font,
                             **asdict(Style()), "invert": args.invert})
            for k in range(args.variants):
                font_name = variant_fonts[k % len(variant_fonts)]
                style = random_style(rng, args.size)
                image = render_digit(digit, fonts[font_name], args.size, style, args.invert, rng)
                file_name = f"digit_{digit}_{_safe(font_name)}_{k}.png"
                save_png(image, args.output_dir / file_name)
                made.append((digit, image))
                manifest.append({"file": file_name, "label": digit, "font": font_name,
                                 **{k: round(v, 4) for k, v in asdict(style).items()}, "invert": args.invert})
        _write_manifest(args.output_dir / "labels.csv", manifest)
        save_png(overview_sheet(made, args.invert), args.output_dir / OVERVIEW_NAME)
    except OSError as exc:
        print(f"error: cannot write to {args.output_dir}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"Wrote {len(made)} digit images ({args.size}x{args.size}, "
          f"{'dark on light' if args.invert else 'white on black'}), labels.csv and {OVERVIEW_NAME} to {args.output_dir}/")
    return 0


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-" else "-" for c in Path(name).stem)


def _write_manifest(path: Path, rows: list[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(path, lambda tmp: tmp.write_text(buffer.getvalue()))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # every file is written whole or not at all
        print("\nInterrupted.", file=sys.stderr)
        sys.exit(130)
