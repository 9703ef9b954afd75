"""Time `python train.py` (defaults) against the real peer script, whole process against whole process.

    python benchmarks/train_benchmark.py --data-dir ../shared/datasets --pairs 3

The peer is the LeNet-5 training script this project's founding document describes,
kept unchanged in ../shared/peer/lenet5_from_scratch/ (see its README). It runs as its
README says: `python train.py` in a scratch folder holding its two files and
data/MNIST/raw/ linked to the MNIST files. It trains 10 epochs with a torchvision
DataLoader (batch 64, Resize to 32x32), tests after every epoch, saves its weights and a
plot.

The two sides alternate A B A B on one machine, so a busy spell hits both, and each pair
gives one ratio; the median of the ratios is the figure. Printed: each run's wall time, peak
resident memory and test accuracy, and the spread of each.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PEER = ROOT.parent / "shared" / "peer" / "lenet5_from_scratch"
PEER_FILES = ("model.py", "train.py")


def run_child(args: list[str], cwd: Path) -> tuple[str, float, float]:
    """A child process, whole: its output, wall seconds and peak resident MiB (from
    /usr/bin/time where it exists, else the largest child seen so far)."""
    timer = ["/usr/bin/time", "-f", "PEAK_RSS_KB %M"] if Path("/usr/bin/time").exists() else []
    env = {**os.environ, "MPLBACKEND": "Agg"}
    started = time.perf_counter()
    done = subprocess.run([*timer, sys.executable, *args], cwd=cwd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"error: {' '.join(args)} in {cwd} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    peak = re.search(r"PEAK_RSS_KB (\d+)", done.stderr)
    if peak:
        mib = int(peak.group(1)) / 1024
    else:
        import resource

        mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return done.stdout, wall, mib


def ours(data_dir: Path, scratch: Path) -> tuple[float, float, float]:
    """`python train.py` with its defaults, writing into ``scratch``: wall s, peak MiB, test %.
    Where its time went is printed as it finishes."""
    out, wall, peak = run_child(["train.py", "--data-dir", str(data_dir), "--output", str(scratch / "m.pth"),
                                 "--plot", str(scratch / "p.png"), "--runs-dir", str(scratch / "runs")], ROOT)
    print(f"  train.py: {profile(out, wall)}", flush=True)
    return wall, peak, float(re.search(r"Test accuracy \(best epoch \d+\): ([0-9.]+)%", out).group(1))


def profile(out: str, wall: float) -> str:
    """Where a train.py run's time went, from what it prints: the Python start and imports
    (wall time less what train.py counts), the data (MNIST, European forms, the drawn printed
    digits and canvas drawings), the epochs, and the final test, checkpoint and plot."""
    counted = float(re.search(r" in ([0-9.]+)s\n", out).group(1))
    epochs = [float(t) for t in re.findall(r"^epoch .* ([0-9.]+)s(?:  \* saved best)?$", out, re.MULTILINE)]
    drawn = [float(t) for t in re.findall(r"added to training \(([0-9.]+) s", out)]
    return (f"start and imports {wall - counted:.1f} s; data, set-up, final test and plot "
            f"{counted - sum(epochs):.1f} s, of which drawn digits {sum(drawn):.1f} s"
            f"{' (read from the cache)' if drawn and sum(drawn) < 1 else ''}; {len(epochs)} epochs "
            f"{sum(epochs):.1f} s ({sum(epochs) / max(len(epochs), 1):.1f} s each, validation included)")


def peer(peer_dir: Path, data_dir: Path, scratch: Path) -> tuple[float, float, float]:
    """The peer's `python train.py` in ``scratch``, set up as its README says: wall s, peak MiB,
    and the test accuracy it prints after its last epoch."""
    for name in PEER_FILES:
        shutil.copyfile(peer_dir / name, scratch / name)
    (scratch / "data" / "MNIST").mkdir(parents=True)
    (scratch / "data" / "MNIST" / "raw").symlink_to(data_dir / "MNIST" / "raw", target_is_directory=True)
    out, wall, peak = run_child(["train.py"], scratch)
    return wall, peak, float(re.findall(r"Accuracy: ([0-9.]+)%", out)[-1])


def spread(values: list[float], unit: str = "s", digits: int = 1) -> str:
    return (f"min {min(values):.{digits}f}{unit}  median {statistics.median(values):.{digits}f}{unit}  "
            f"max {max(values):.{digits}f}{unit}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("MNIST_DATA_DIR", "data")),
                        help="folder holding MNIST/raw/ (default: $MNIST_DATA_DIR, else ./data)")
    parser.add_argument("--peer", type=Path, default=DEFAULT_PEER,
                        help=f"folder holding the peer's {' and '.join(PEER_FILES)} (default: {DEFAULT_PEER})")
    parser.add_argument("--pairs", type=int, default=3, help="A B pairs to run (default: 3)")
    args = parser.parse_args(argv)
    data_dir, peer_dir = args.data_dir.resolve(), args.peer.resolve()
    missing = [name for name in PEER_FILES if not (peer_dir / name).is_file()]
    if missing:
        print(f"error: the peer script is not in {peer_dir} (no {', '.join(missing)}); "
              "pass its folder with --peer", file=sys.stderr)
        return 2
    if not (data_dir / "MNIST" / "raw").is_dir():
        print(f"error: no MNIST/raw/ in {data_dir}; pass the folder that holds it with --data-dir", file=sys.stderr)
        return 2
    if args.pairs < 1:
        print(f"error: --pairs must be 1 or more, got {args.pairs}", file=sys.stderr)
        return 2

    runs: dict[str, list[tuple[float, float, float]]] = {"train.py": [], "peer": []}
    for pair in range(1, args.pairs + 1):
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            runs["train.py"].append(ours(data_dir, Path(a)))
            runs["peer"].append(peer(peer_dir, data_dir, Path(b)))
        for side, (wall, peak, accuracy) in ((side, runs[side][-1]) for side in runs):
            print(f"pair {pair}: {side:8s} {wall:6.1f} s  peak RSS {peak:4.0f} MiB  test accuracy {accuracy:.2f}%",
                  flush=True)
        print(f"pair {pair}: speed-up {runs['peer'][-1][0] / runs['train.py'][-1][0]:.2f}x", flush=True)
    for side, results in runs.items():
        walls, peaks, accuracies = zip(*results)
        print(f"{side}, whole process: {spread(list(walls))}; peak RSS {max(peaks):.0f} MiB; "
              f"test accuracy {spread(list(accuracies), '%', 2)}")
    ratios = [p[0] / o[0] for o, p in zip(runs["train.py"], runs["peer"])]
    print(f"speed-up over the peer, pair by pair: {spread(ratios, 'x', 2)} over {len(ratios)} pairs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
