"""How long inference.py --number takes on 100 check amounts, the model loaded.

    python benchmarks/number_benchmark.py                     # lenet5_numbers.pth, else lenet5_model.pth
    python benchmarks/number_benchmark.py --model lenet5_model.pth --images my_amounts/

The first 100 images of ../shared/realworld/numbers/check_amounts/images/ (by name) where
that folder exists, else (or with --generated) 100 rows of five MNIST test digits drawn by
number_pages.py and saved as JPEGs of about a check amount's size. They are read --repeats
times from their files, decoding included, by one Predictor.read_numbers call; the median
and the slowest of the times for all 100 are printed.
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

import number_pages  # noqa: E402
from artifacts import DEFAULT_CHECKPOINT, NUMBERS_CHECKPOINT  # noqa: E402
from inference import IMAGE_SUFFIXES, Predictor  # noqa: E402
from model import load_mnist  # noqa: E402

CHECKS = ROOT.parent / "shared" / "realworld" / "numbers" / "check_amounts" / "images"


def generated(folder: Path, count: int, data_dir: Path) -> list[Path]:
    """``count`` rows of five MNIST test digits, 40 pixels high, as JPEGs in ``folder``."""
    images, _ = load_mnist(data_dir, train=False)
    rng = np.random.default_rng(0)
    paths = []
    for k in range(count):
        picture = number_pages.number_image(images.numpy()[rng.integers(0, len(images), 5)], rng,
                                            touching=k % 4 == 0, height=40)
        paths.append(folder / f"number_{k:03d}.jpg")
        Image.fromarray(np.round(picture * 255).astype(np.uint8)).save(paths[-1], quality=90)
    return paths


def main(argv: list[str] | None = None) -> int:
    numbers = ROOT / NUMBERS_CHECKPOINT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(numbers if numbers.is_file() else ROOT / DEFAULT_CHECKPOINT))
    parser.add_argument("--images", type=Path, default=CHECKS, help="a folder of images of numbers (default: %(default)s)")
    parser.add_argument("--generated", action="store_true", help="time generated numbers even where the real ones exist")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("MNIST_DATA_DIR", "data")))
    args = parser.parse_args(argv)

    predictor = Predictor.from_file(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        if args.images.is_dir() and not args.generated:
            paths = sorted(p for p in args.images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:args.count]
            source = str(args.images)
        else:
            paths, source = generated(Path(tmp), args.count, args.data_dir), "generated rows of 5 MNIST digits"
        predictor.read_numbers(paths[:5])  # warm up: first calls allocate
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            readings = predictor.read_numbers(paths)
            times.append(time.perf_counter() - start)
    read = sum(r.error is None for r in readings)
    print(f"{len(paths)} images ({source}), model {Path(args.model).name}, {read} with digits read")
    print(f"all {len(paths)} read in {statistics.median(times):.2f} s (median of {args.repeats}; slowest "
          f"{max(times):.2f} s), {1000 * statistics.median(times) / len(paths):.1f} ms an image")
    return 0


if __name__ == "__main__":
    sys.exit(main())
