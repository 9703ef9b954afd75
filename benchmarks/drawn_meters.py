"""A folder of meter digits drawn in fonts training never saw, to judge fine-tuning on
material that nothing was tuned on.

    python benchmarks/drawn_meters.py drawn_meters/ \
        --fonts /usr/share/fonts/truetype/{liberation,dejavu,freefont,noto} /usr/share/fonts/opentype/urw-base35
    python finetune.py drawn_meters/ --cross-validate 5

Each image is a window of a meter as ``printed_digits.meter_window`` draws it for training (a
drum with slivers of the digits above and below, or a 7-segment display; the window's rims
and edges, scale marks, light or dark digits, blur, noise, few pixels), but lettered in the
fonts given, less those training draws (matplotlib's), in the class-folder layout
finetune.py reads (``0/`` to ``9/``, PNG). Seeded: the same command draws the same folder.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from fonts import load_font  # noqa: E402
from printed_digits import drum_window, font_glyph, meter_window, seven_segment  # noqa: E402
from real_world_eval import held_out_fonts  # noqa: E402

SEVEN_SEGMENT = 0.15  # of the windows are 7-segment displays; the rest are drums


def draw(folder: Path, fonts: list[str], per_digit: int, seed: int) -> None:
    """``per_digit`` windows of each digit, each in a font drawn at random from ``fonts``."""
    rng = np.random.default_rng(seed)
    faces = [load_font(Path(f)) for f in fonts]
    for digit in range(10):
        (folder / str(digit)).mkdir(parents=True)
        for k in range(per_digit):
            font = faces[rng.integers(len(faces))]
            if rng.random() < SEVEN_SEGMENT:
                window = meter_window(seven_segment(digit, rng), rng)
            else:
                window = drum_window(digit, lambda d: font_glyph(d, font, rng), rng)
            window.save(folder / str(digit) / f"{k:03d}.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="the folder to write (must not exist)")
    parser.add_argument("--fonts", nargs="+", required=True,
                        help="font files or folders (Debian's: /usr/share/fonts/truetype/liberation ...)")
    parser.add_argument("--per-digit", type=int, default=40, help="windows of each digit (default: 40)")
    parser.add_argument("--seed", type=int, default=1, help="seed for the fonts and the windows (default: 1)")
    args = parser.parse_args(argv)
    if args.output.exists():
        print(f"error: {args.output} exists; name a new folder", file=sys.stderr)
        return 2
    fonts = sorted(held_out_fonts(args.fonts))  # the same faces in the same order, however the folders are named
    if not fonts:
        print(f"error: no font that training never saw in {' '.join(args.fonts)}; install Debian's "
              "fonts-liberation or fonts-noto-core, or name a .ttf file", file=sys.stderr)
        return 2
    args.output.parent.mkdir(parents=True, exist_ok=True)
    drawing = Path(tempfile.mkdtemp(prefix=f".{args.output.name}.", dir=args.output.parent))
    try:  # drawn aside and renamed when whole: an interrupted run leaves no half folder
        draw(drawing, fonts, args.per_digit, args.seed)
        drawing.rename(args.output)
    except BaseException:
        shutil.rmtree(drawing, ignore_errors=True)
        raise
    print(f"Wrote {10 * args.per_digit} meter windows in {len(fonts)} fonts to {args.output}; "
          f"then: python finetune.py {args.output} --cross-validate 5")
    return 0


if __name__ == "__main__":
    sys.exit(main())
