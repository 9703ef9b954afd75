"""Inference speed: batched on the MNIST test set, and end to end on 1,000 PNG files.

    python benchmarks/inference_benchmark.py --model lenet5_model.pth --data-dir ../shared/datasets

1. The model alone: the 10,000 MNIST test digits (uint8, already in memory) through
   Predictor.probabilities in batches, best of --repeats runs: images per second.
2. End to end: 1,000 MNIST test digits written as PNG files, as a user's scans would be
   (dark ink on white, 4x larger, so the preprocessing has real work to do), then
   `python inference.py FOLDER --json` in a fresh process, start-up included: seconds and
   files per second, plus the accuracy it reports.
3. With --baseline DIR (another checkout of this project, e.g. `git worktree add /tmp/before
   <commit>`): the end-to-end run of DIR/inference.py and of this one alternate A B A B,
   --pairs times, on the same files and model; each side's median and the median ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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
    parser.add_argument("--baseline", type=Path, default=None, help="another checkout to compare end to end with")
    parser.add_argument("--pairs", type=int, default=5, help="alternating runs of each side, with --baseline")
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
        seconds, summary = end_to_end(ROOT, folder, args.model)
        print(f"end to end: {summary['total']:,} PNG files (112x112, dark on light) in {seconds:.2f} s = "
              f"{summary['total'] / seconds:,.0f} files/s, start-up included; accuracy {summary['accuracy']:.2%}")
        if args.baseline is not None:
            times: dict[str, list[float]] = {"baseline": [], "this": []}
            for _ in range(args.pairs):
                for side, checkout in (("baseline", args.baseline), ("this", ROOT)):
                    seconds, summary = end_to_end(checkout, folder, args.model)
                    times[side].append(seconds)
            ratios = [t / b for t, b in zip(times["this"], times["baseline"])]
            print(f"end to end, alternating with {args.baseline} over {args.pairs} pairs: baseline median "
                  f"{statistics.median(times['baseline']):.2f} s ({', '.join(f'{t:.2f}' for t in times['baseline'])}), "
                  f"this median {statistics.median(times['this']):.2f} s ({', '.join(f'{t:.2f}' for t in times['this'])}); "
                  f"this / baseline, pair by pair: median {statistics.median(ratios):.2f} "
                  f"({min(ratios):.2f}-{max(ratios):.2f})")
    return 0


def end_to_end(checkout: Path, folder: Path, model: str) -> tuple[float, dict]:
    """``python inference.py FOLDER --json`` of ``checkout``, in a fresh process: seconds and summary."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(checkout / "inference.py"), str(folder), "--model", str(Path(model).resolve()),
                           "--json"], capture_output=True, text=True, cwd=checkout)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{checkout}/inference.py failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, json.loads(done.stdout)["summary"]


if __name__ == "__main__":
    sys.exit(main())
