"""How long the preprocessing takes on one phone photo, on one CPU core.

    python benchmarks/preprocess_benchmark.py [--size 8000x6000]

Draws a 4000x3000 (or --size) photo-like page (squared paper, a shadow across it, a digit
far from the centre), saves it as a JPEG, then times ``preprocess.find_digit`` on the file
(decoding included) and on the picture already in memory as an RGB array. The process is
pinned to one core and OpenCV to one thread. Prints the median and the spread of --repeats
runs of each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402

from fonts import draw_glyph, load_font, resolve_font  # noqa: E402
from preprocess import find_digit  # noqa: E402


def photo(width: int = 4000, height: int = 3000, seed: int = 0) -> np.ndarray:
    """Squared paper under a shadow, a hand-sized digit off-centre: RGB uint8."""
    rng = np.random.default_rng(seed)
    page = np.full((height, width), 0.82, np.float32)
    page[:: width // 40, :] -= 0.25  # the grid
    page[:, :: width // 40] -= 0.25
    page *= np.linspace(0.55, 1.0, width, dtype=np.float32)[None, :]  # the shadow
    glyph = np.asarray(draw_glyph("7", load_font(resolve_font("DejaVuSans"), height // 5)), np.float32) / 255
    top, left = height // 3, width // 2 + width // 8
    page[top:top + glyph.shape[0], left:left + glyph.shape[1]] *= 1 - 0.7 * glyph
    page += rng.normal(0, 0.02, page.shape).astype(np.float32)
    grey = np.round(np.clip(page, 0, 1) * 255).astype(np.uint8)
    return np.stack([grey, (grey * 0.95).astype(np.uint8), (grey * 0.9).astype(np.uint8)], axis=-1)


def timed(work, repeats: int) -> list[float]:
    work()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return times


def photo_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(side) for side in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT, e.g. 8000x6000") from None
    if not (400 <= width <= 20000 and 400 <= height <= 20000):
        raise argparse.ArgumentTypeError("each side must be 400 to 20000 pixels")
    return width, height


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed runs of each (default: 15)")
    parser.add_argument("--size", type=photo_size, default=(4000, 3000),
                        help="the photo's WIDTHxHEIGHT (default: 4000x3000, a 12-megapixel phone photo)")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cv2.setNumThreads(1)
    width, height = args.size
    rgb = photo(width, height)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "photo.jpg"
        Image.fromarray(rgb).save(path, quality=90)
        found = find_digit(path)
        print(f"{width}x{height} photo ({path.stat().st_size / 1e6:.1f} MB JPEG): digit found at {found.box}")
        for name, work in (("from the JPEG file, decoding included", lambda: find_digit(path)),
                           ("from an RGB array in memory", lambda: find_digit(rgb))):
            times = timed(work, args.repeats)
            print(f"{name:40s} median {statistics.median(times):.3f} s  (min {min(times):.3f}, "
                  f"max {max(times):.3f}; {args.repeats} runs, one core)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
