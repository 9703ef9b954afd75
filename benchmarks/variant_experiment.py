"""The LeNet-5 variant experiment in README.md: six variants, three seeds each, one table.

    python benchmarks/variant_experiment.py --data-dir ../shared/datasets
    python benchmarks/variant_experiment.py --table-only     # redo the table from the kept runs

Each run is a whole `python train.py` process (10 epochs, the defaults apart from what the
variant changes) kept as runs/variants/<variant>-seed<N>/. Seeds are the outer loop, so the
variants alternate and a busy spell on the machine hits all of them alike. Afterwards every
run's saved weights are reloaded through inference.Predictor and must give the test accuracy
train.py recorded, to the image. Printed: the per-variant Markdown table (mean and spread of
test accuracy over the seeds, median seconds per epoch), compare_runs.py's per-run table, and
the comparison picture.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import compare_runs  # noqa: E402
from runs import WEIGHTS_NAME, find_runs  # noqa: E402

VARIANTS = {  # name -> train.py flags
    "lenet1998": ["--preset", "lenet1998"],
    "default": [],
    "batch-norm": ["--batch-norm"],
    "dropout": ["--dropout", "0.2"],
    "no-augment": ["--no-augment"],
    "no-printed": ["--printed-digits", "0"],
}


def train_runs(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as scratch:  # the root checkpoint and plot of each run are not kept
        for seed in args.seeds:
            for variant in args.variants:
                name = f"{variant}-seed{seed}"
                if (args.runs_dir / name).exists():
                    print(f"{name}: kept from before", flush=True)
                    continue
                command = [sys.executable, str(ROOT / "train.py"), "--data-dir", str(args.data_dir), "--seed", str(seed),
                           "--epochs", "10", "--run-name", name, "--runs-dir", str(args.runs_dir), "--output", f"{scratch}/m.pth",
                           "--plot", f"{scratch}/p.png", *VARIANTS[variant]]
                done = subprocess.run(command, capture_output=True, text=True)
                last = (done.stdout.strip().splitlines() or [""])[-1]
                print(f"{name}: {last}", flush=True)
                if done.returncode != 0:
                    raise SystemExit(f"{name} failed:\n{done.stderr[-2000:]}")


def check_reload(runs, data_dir: Path) -> None:
    """Every run's kept weights, reloaded as inference.py loads them, give its recorded test accuracy."""
    from inference import Predictor
    from model import load_mnist

    images, labels = load_mnist(data_dir, train=False)
    for run in runs:
        predictor = Predictor.from_file(run.folder / WEIGHTS_NAME)
        accuracy = float((predictor.probabilities(images).argmax(1) == labels.numpy()).mean())
        if round(accuracy * len(labels)) != round(run.test_accuracy * len(labels)):
            raise SystemExit(f"{run.name}: reloaded weights give {accuracy:.2%}, train.py recorded {run.test_accuracy:.2%}")
    print(f"Reloaded all {len(runs)} runs through inference.Predictor: each gives the test accuracy train.py recorded")


def variant_table(runs, variants: list[str]) -> str:
    lines = ["| variant | what changes | seeds | test accuracy, mean | min - max | s/epoch (median) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for variant in variants:
        group = [r for r in runs if r.name.rsplit("-seed", 1)[0] == variant and r.test_accuracy is not None]
        if not group:
            continue
        tests = [100 * r.test_accuracy for r in group]
        seconds = statistics.median(s for r in group for s in r.series("seconds"))
        lines.append(f"| {variant} | {group[0].variant} | {len(group)} | {statistics.mean(tests):.2f}% | "
                     f"{min(tests):.2f} - {max(tests):.2f}% | {seconds:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/variants"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--output", type=Path, default=Path("comparison.png"), help="the comparison picture")
    parser.add_argument("--table-only", action="store_true", help="no training: tabulate the runs already kept")
    args = parser.parse_args(argv)
    if not args.table_only:
        train_runs(args)
    names = {f"{v}-seed{s}" for v in args.variants for s in args.seeds}
    runs = [run for run in find_runs(args.runs_dir) if run.name in names]
    check_reload(runs, args.data_dir)
    print()
    print(variant_table(runs, args.variants))
    print()
    return compare_runs.main([*(str(r.folder) for r in runs), "--markdown", "--output", str(args.output)])


if __name__ == "__main__":
    sys.exit(main())
