"""Digits drawn in real TrueType fonts, for the test digits and for the printed digits training mixes in.

The fonts come from inside the matplotlib package (DejaVu, STIX, Computer Modern), so every
machine that runs this project has them; any .ttf/.otf path works too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# Fonts inside matplotlib that draw ordinary lining digits: sans, serif and mono, with their
# bold and oblique faces. (cmmi10 has old-style digits; cmsy10, cmex10 and STIX's size
# variants have none.)
PRINTED_FONTS = (
    "DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSans-BoldOblique",
    "DejaVuSerif", "DejaVuSerif-Bold", "DejaVuSerif-Italic", "DejaVuSerif-BoldItalic",
    "DejaVuSansMono", "DejaVuSansMono-Bold", "DejaVuSansMono-Oblique", "DejaVuSansMono-BoldOblique",
    "STIXGeneral", "STIXGeneralBol", "STIXGeneralItalic", "STIXGeneralBolIta",
    "cmr10", "cmss10", "cmtt10", "cmb10", "cmti10",
)
RENDER_PX = 160  # glyphs are drawn large, then shrunk, so edges come out anti-aliased

class FontError(ValueError):
    """A font that cannot be found or does not draw digits."""


def matplotlib_font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def resolve_font(name: str) -> Path:
    """A font file from a path, a file name inside matplotlib (``DejaVuSerif``) or a family
    name that matplotlib's font manager knows (``DejaVu Serif``)."""
    path = Path(name).expanduser()
    if path.is_file():
        return path
    shipped = {p.stem.lower(): p for p in matplotlib_font_dir().glob("*.ttf")}
    if name.lower().removesuffix(".ttf") in shipped:
        return shipped[name.lower().removesuffix(".ttf")]
    from matplotlib import font_manager

    try:
        return Path(font_manager.findfont(font_manager.FontProperties(family=name), fallback_to_default=False))
    except ValueError:
        raise FontError(f"font {name!r} not found: give a .ttf/.otf path or one of {', '.join(PRINTED_FONTS)}") from None


def load_font(path: Path, size: int = RENDER_PX) -> ImageFont.FreeTypeFont:
    """Open a TrueType font at ``size`` pixels and check that it draws ten different,
    visible digits."""
    try:
        font = ImageFont.truetype(str(path), size)
    except OSError as exc:
        raise FontError(f"{path} is not a TrueType/OpenType font ({exc})") from None
    glyphs = [np.asarray(draw_glyph(str(d), font, 0.0)).tobytes() for d in range(10)]
    if any(not np.any(np.frombuffer(g, np.uint8)) for g in glyphs) or len(set(glyphs)) < 10:
        raise FontError(f"{path} does not draw the digits 0-9; choose another font")
    return font


def draw_glyph(text: str, font: ImageFont.FreeTypeFont, stroke: float = 0.0) -> Image.Image:
    """White glyph on black, cropped to its ink; ``stroke`` thickens it by that fraction of
    the glyph size."""
    canvas = Image.new("L", (round(font.size) * 3, round(font.size) * 3), 0)
    stroke_px = max(0, round(stroke * font.size))
    ImageDraw.Draw(canvas).text((canvas.width // 2, canvas.height // 2), text, fill=255, font=font,
                                anchor="mm", stroke_width=stroke_px, stroke_fill=255)
    bbox = canvas.getbbox()
    return canvas.crop(bbox) if bbox else canvas.crop((0, 0, 1, 1))
