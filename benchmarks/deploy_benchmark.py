"""The deployment table in README.md: PyTorch fp32, ONNX fp32, ONNX int8 and pruned models.

    python benchmarks/deploy_benchmark.py --data-dir ../shared/datasets

From --model (default lenet5_model.pth), in a temporary folder: export.py's ONNX and int8
files, checkpoints pruned to 50, 75 and 90% by `export.py --prune`, and the int8 trials (each
format, with and without the convolutions, per-channel or not). For each: the file size (and
gzipped, which is where pruning's zeros show), MNIST test accuracy, batched images/s (the best
of batch 256, 1024 and 4096), single-image latency (median of 200 calls) and, for the main
rows, the wall time of `python inference.py --model M digit_7.png` from start to exit.

Every model runs through inference.Predictor, as a user's program would. The rounds alternate
the models A B C ... A B C on one machine, figures are medians over the rounds, and the
speed ratios against PyTorch fp32 are taken round by round, then their median.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import export  # noqa: E402
import generate_test_digits  # noqa: E402
from inference import Predictor  # noqa: E402
from model import load_mnist  # noqa: E402

BATCH_SIZES = (256, 1024, 4096)
INT8_TRIALS = [  # format, layers, per-channel
    ("qoperator", "fc", False),
    ("qdq", "fc", True),
    ("qoperator", "all", True),
    ("qoperator", "all", False),
    ("qdq", "all", True),
    ("qdq", "all", False),
]


def throughput(predictor: Predictor, images: np.ndarray) -> tuple[float, int]:
    """Images per second at the best batch size, each size the best of three passes."""
    best = (0.0, 0)
    for batch in BATCH_SIZES:
        predictor.probabilities(images[:batch], batch)  # warm-up
        seconds = min(_timed(lambda b=batch: predictor.probabilities(images, b)) for _ in range(3))
        best = max(best, (len(images) / seconds, batch))
    return best


def latency(predictor: Predictor, images: np.ndarray, calls: int = 200) -> float:
    for i in range(20):
        predictor.probabilities(images[i:i + 1])
    return statistics.median(_timed(lambda i=i: predictor.probabilities(images[i:i + 1])) for i in range(calls))


def cli_seconds(model: Path, image: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "inference.py"), "--model", str(model), str(image)],
                          capture_output=True, text=True, cwd=image.parent)
    if done.returncode != 0:
        raise SystemExit(f"inference.py --model {model.name} failed: {done.stderr.strip()}")
    return time.perf_counter() - started


def _timed(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def make_models(source: Path, folder: Path, data_dir: Path, sparsities: list[float]) -> dict[str, Path]:
    def run(*argv: str) -> None:
        if export.main([*argv, "--data-dir", str(data_dir)]) != 0:
            raise SystemExit(f"export.py {' '.join(argv)} failed")

    checkpoint = folder / "lenet5_model.pth"
    shutil.copy(source, checkpoint)
    run("--model", str(checkpoint))
    models = {"PyTorch fp32": checkpoint, "ONNX fp32": folder / "lenet5_model.onnx",
              "ONNX int8": folder / "lenet5_model.int8.onnx"}
    for amount in sparsities:
        run("--model", str(checkpoint), "--prune", str(amount))
        models[f"pruned {amount:.0%}"] = folder / f"lenet5_model_pruned{round(100 * amount)}.pth"
    train_images, _ = load_mnist(data_dir, train=True)
    calibration = export.calibration_sample(train_images, seed=1)
    for quant_format, layers, per_channel in INT8_TRIALS:
        path = folder / f"trial_{quant_format}_{layers}_{'pc' if per_channel else 'pt'}.onnx"
        export.quantize_int8(models["ONNX fp32"], path, calibration, quant_format, layers, per_channel)
        models[f"int8 {quant_format}, {'FC only' if layers == 'fc' else 'conv + FC'}, "
               f"{'per-channel' if per_channel else 'per-tensor'}"] = path
    return models


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("lenet5_model.pth"))
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sparsities", type=float, nargs="+", default=[0.5, 0.75, 0.9])
    args = parser.parse_args(argv)

    images, labels = (t.numpy() for t in load_mnist(args.data_dir, train=False))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        models = make_models(args.model, folder, args.data_dir, args.sparsities)
        generate_test_digits.main(["--output-dir", str(folder / "test_digits")])
        digit = folder / "test_digits" / "digit_7.png"
        main_rows = [name for name in models if not name.startswith("int8 ")]
        predictors = {name: Predictor.from_file(path) for name, path in models.items()}
        figures: dict[str, dict[str, list[float]]] = {name: {"ips": [], "batch": [], "latency": [], "cli": []}
                                                      for name in models}
        for round_number in range(1, args.rounds + 1):
            for name, predictor in predictors.items():
                ips, batch = throughput(predictor, images)
                figures[name]["ips"].append(ips)
                figures[name]["batch"].append(batch)
                figures[name]["latency"].append(latency(predictor, images))
                if name in main_rows:
                    figures[name]["cli"].append(cli_seconds(models[name], digit))
            print(f"round {round_number}/{args.rounds} done", file=sys.stderr, flush=True)

        base = "PyTorch fp32"
        base_accuracy = None
        rows = []
        for name, path in models.items():
            accuracy = float((predictors[name].probabilities(images).argmax(1) == labels).mean())
            base_accuracy = base_accuracy if base_accuracy is not None else accuracy
            data = path.read_bytes()
            f = figures[name]
            speedup = statistics.median(a / b for a, b in zip(f["ips"], figures[base]["ips"]))
            single = statistics.median(b / a for a, b in zip(f["latency"], figures[base]["latency"]))
            rows.append((name, path.name, len(data) / 1024, len(gzip.compress(data, 9)) / 1024, accuracy,
                         accuracy - base_accuracy, statistics.median(f["ips"]), statistics.mode(f["batch"]), speedup,
                         1e6 * statistics.median(f["latency"]), single,
                         statistics.median(f["cli"]) if f["cli"] else None))

    print(f"\n{args.rounds} rounds, models alternating; medians. Speed-ups are against PyTorch fp32, round by round.\n")
    print("| model | file | size | gzipped | MNIST test | images/s (batch) | vs PyTorch | one image | vs PyTorch "
          "| `inference.py` one image |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for (name, file, size, packed, accuracy, change, ips, batch, speedup, micro, single, cli) in rows:
        cli_text = f"{cli:.2f} s" if cli is not None else "-"
        print(f"| {name} | `{file}` | {size:.0f} KiB | {packed:.0f} KiB | {accuracy:.2%} ({100 * change:+.2f}) | "
              f"{ips:,.0f} ({batch}) | {speedup:.2f}x | {micro:.0f} µs | {single:.2f}x | {cli_text} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
