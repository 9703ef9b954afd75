"""How long finetune.py takes on a folder of 400 images, as a user runs it.

    python benchmarks/finetune_benchmark.py --data-dir ../shared/datasets
    python benchmarks/finetune_benchmark.py --folder my_digits/ --runs 5

The folder is ../shared/realworld/meter_digits/ (400 meter crops, 40 a digit) where it
exists, else (or with --drawn) 400 MNIST test digits photographed on squared and ruled
paper by photo_pages.py (40 a digit, 320x240 JPEGs), written to a temporary folder. Each
run is ``python finetune.py FOLDER`` with its defaults (30 epochs, a fifth held out, MNIST
digits mixed in), in a child process from start to exit, Python's start and torch's import
included; the model it writes goes to a temporary file. Then the reading of the images
alone (``finetune.read_folder``, in this process), the same number of times. The medians
are printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import finetune  # noqa: E402
import photo_pages  # noqa: E402
from model import DataUnavailableError, load_mnist  # noqa: E402

METERS = ROOT.parent / "shared" / "realworld" / "meter_digits"


def drawn_folder(folder: Path, per_class: int, data_dir: Path) -> Path:
    """``per_class`` MNIST test digits of each class photographed on squared and ruled paper,
    saved as JPEGs in one subfolder per digit: a folder as a user would bring it."""
    images, labels = (t.numpy() for t in load_mnist(data_dir, train=False))
    rng = np.random.default_rng(0)
    for digit in range(10):
        (folder / str(digit)).mkdir(parents=True)
        for k, index in enumerate(rng.choice(np.flatnonzero(labels == digit), per_class, replace=False)):
            photo, _ = photo_pages.paper_photo(images[index], rng, ruled=k % 2 == 1, size=(320, 240))
            Image.fromarray(photo).save(folder / str(digit) / f"{k}.jpg", quality=90)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=None,
                        help=f"a class-folder of images (default: {METERS} where it exists, else drawn photos)")
    parser.add_argument("--drawn", action="store_true", help="time on 400 drawn photos even where the meter crops exist")
    parser.add_argument("--model", type=Path, default=ROOT / "lenet5_model.pth", help="checkpoint to start from")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each (default: 3)")
    parser.add_argument("--data-dir", type=Path, default=os.environ.get("MNIST_DATA_DIR", "data"),
                        help="where MNIST is: its digits are mixed in, and drawn into photos (default: $MNIST_DATA_DIR "
                             "or ./data)")
    args = parser.parse_args(argv)
    if not args.model.is_file():
        print(f"error: {args.model} does not exist; make it first with: python train.py", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder
        if folder is None:
            if METERS.is_dir() and not args.drawn:
                folder = METERS
            else:
                try:
                    folder = drawn_folder(Path(tmp) / "drawn", 40, args.data_dir)
                except DataUnavailableError as exc:
                    print(f"error: {exc}", file=sys.stderr)
                    return 2
        count = sum(len(files) for files in finetune.class_folders(folder)[1])
        command = [sys.executable, str(ROOT / "finetune.py"), str(folder), "--model", str(args.model),
                   "--output", str(Path(tmp) / "tuned.pth"), "--data-dir", str(args.data_dir)]
        whole, reading = [], []
        for run in range(args.runs):
            start = time.perf_counter()
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
            whole.append(time.perf_counter() - start)
            if done.returncode != 0:
                print(done.stdout + done.stderr, file=sys.stderr)
                return 1
            if run == 0:
                print("the first run: " + next(line for line in done.stdout.splitlines() if line.startswith("MNIST")),
                      flush=True)
        for _ in range(args.runs):
            start = time.perf_counter()
            finetune.read_folder(folder, False, os.cpu_count() or 1)
            reading.append(time.perf_counter() - start)
    print(f"python finetune.py on {count} images ({folder.name}), {os.cpu_count()} CPU cores: median "
          f"{statistics.median(whole):.1f} s over {args.runs} runs (from {min(whole):.1f} to {max(whole):.1f} s), "
          f"of which reading the images {statistics.median(reading):.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
