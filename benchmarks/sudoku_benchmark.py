"""How long inference.py --sudoku takes on one 12-megapixel phone photo, the model loaded.

    python benchmarks/sudoku_benchmark.py --model lenet5_model.pth
    python benchmarks/sudoku_benchmark.py --photo my_sudoku.jpg

A photo of a generated sudoku page (sudoku_pages.py: printed digits, a perspective, a
shadow), enlarged to 4032x3024 and saved as a JPEG at quality 90, as a phone saves it
(--photo: a photo of your own instead, enlarged likewise where it is smaller). It is read
--repeats times from the file, decoding included, by Predictor.read_sudoku; the median and
the slowest time are printed, and the digits read as a check that the puzzle was found.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sudoku_pages  # noqa: E402
from inference import Predictor  # noqa: E402

PHONE_PHOTO = (4032, 3024)  # 12 megapixels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "lenet5_model.pth"))
    parser.add_argument("--photo", type=Path, help="a photo of a sudoku to time instead of a generated one")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    predictor = Predictor.from_file(args.model)
    if args.photo:
        picture = Image.open(args.photo).convert("RGB")
    else:
        photo, _, _ = sudoku_pages.puzzle_photo(np.random.default_rng(args.seed), shadow=False)
        picture = Image.fromarray(photo).convert("RGB")
    if picture.width * picture.height < PHONE_PHOTO[0] * PHONE_PHOTO[1]:
        landscape = picture.width >= picture.height
        picture = picture.resize(PHONE_PHOTO if landscape else PHONE_PHOTO[::-1], Image.Resampling.BICUBIC)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sudoku.jpg"
        picture.save(path, quality=90)
        predictor.read_sudoku(path)  # warm up: first calls allocate
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            reading = predictor.read_sudoku(path)
            times.append(time.perf_counter() - start)
    if reading.error:
        print(f"error: {reading.error}")
        return 1
    digits = sum(v > 0 for v in reading.grid)
    print(f"{picture.width}x{picture.height} JPEG, {digits} digits read: median {statistics.median(times):.3f} s, "
          f"slowest {max(times):.3f} s ({args.repeats} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
