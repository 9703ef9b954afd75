"""Inference speed: batched on the MNIST test set, and end to end on 1,000 PNG files.

    python benchmarks/inference_benchmark.py --model lenet5_model.pth --data-dir ../shared/datasets

1. The model alone: the 10,000 MNIST test digits (uint8, already in memory) through
   Predictor.probabilities in batches, best of --repeats runs: images per second.
2. End to end: 1,000 MNIST test digits written as PNG files, as a user's scans would be
   (dark ink on white, 4x larger, so the preprocessing has real work to do), then
   `python inference.py FOLDER --json` in a fresh process, start-up included: seconds and
   files per second, plus the accuracy it reports.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from inference import Predictor  # noqa: E402
from model import load_mnist  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "lenet5_model.pth"))
    parser.add_argument("--data-dir", default=os.environ.get("MNIST_DATA_DIR", "data"))
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--files", type=int, default=1000)
    args = parser.parse_args(argv)

    predictor = Predictor.from_file(args.model)
    images, labels = load_mnist(Path(args.data_dir), train=False)
    predictor.probabilities(images[:args.batch_size], args.batch_size)  # warm-up
    best = float("inf")
    for _ in range(args.repeats):
        started = time.perf_counter()
        predictions = torch.from_numpy(predictor.probabilities(images, args.batch_size).argmax(1))
        best = min(best, time.perf_counter() - started)
    accuracy = (predictions == labels).float().mean().item()
    print(f"batched inference: {len(images):,} MNIST test images in {best:.3f} s = {len(images) / best:,.0f} images/s "
          f"(batch {args.batch_size}, {torch.get_num_threads()} threads, best of {args.repeats}); accuracy {accuracy:.2%}")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "scans"
        for i in range(args.files):
            (folder / str(int(labels[i]))).mkdir(parents=True, exist_ok=True)
            scan = Image.fromarray(255 - images[i].numpy()).resize((112, 112), Image.Resampling.BICUBIC)
            scan.save(folder / str(int(labels[i])) / f"{i:05d}.png")
        started = time.perf_counter()
        done = subprocess.run([sys.executable, str(ROOT / "inference.py"), str(folder), "--model", args.model, "--json"],
                              capture_output=True, text=True, cwd=ROOT)
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"inference.py failed ({done.returncode}): {done.stderr[-2000:]}")
    summary = json.loads(done.stdout)["summary"]
    print(f"end to end: {summary['total']:,} PNG files (112x112, dark on light) in {seconds:.2f} s = "
          f"{summary['total'] / seconds:,.0f} files/s, start-up included; accuracy {summary['accuracy']:.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
