"""Time `python train.py` (defaults) against the textbook LeNet-5 script, in pairs.

    python benchmarks/train_benchmark.py --data-dir ../shared/datasets --pairs 3

The textbook script is what most LeNet-5 tutorials ship, and it runs here in full: a
torchvision DataLoader with Resize((32, 32)), ToTensor and Normalize((0.1307,), (0.3081,)),
batch 64 and shuffle for training, batch 64 for the test pass after every epoch, Adam at
1e-3, 10 epochs, torch.save(model.state_dict()) and a two-panel matplotlib plot at 150 dpi.

Each side runs in its own process, whole (imports included), and the two alternate A B A B
on one machine, so a busy spell hits both. Printed: each side's wall time (min, median,
max), the speed-up of each pair and their median, peak resident memory, and each run's test
accuracy.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def textbook(data_dir: str, out: Path, epochs: int = 10) -> float:
    """The classic tutorial script, as it is usually written. Returns its test accuracy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    class LeNet5(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(16 * 6 * 6, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = torch.flatten(x, 1)
            return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))

    transform = transforms.Compose([transforms.Resize((32, 32)), transforms.ToTensor(),
                                    transforms.Normalize((0.1307,), (0.3081,))])
    train_set = datasets.MNIST(data_dir, train=True, download=True, transform=transform)
    test_set = datasets.MNIST(data_dir, train=False, download=True, transform=transform)
    train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=64)
    model = LeNet5()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses, accuracies = [], []
    for _ in range(epochs):
        model.train()
        total = 0.0
        for images, labels in train_loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()
            total += loss.item()
        losses.append(total / len(train_loader))
        model.eval()
        correct = 0
        with torch.no_grad():
            for images, labels in test_loader:
                correct += (model(images).argmax(1) == labels).sum().item()
        accuracies.append(correct / len(test_set))
    torch.save(model.state_dict(), out / "lenet5_textbook.pth")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4))
    ax1.plot(losses)
    ax1.set_title("Training loss")
    ax2.plot(accuracies)
    ax2.set_title("Test accuracy")
    fig.savefig(out / "textbook_results.png", dpi=150)
    return accuracies[-1]


def run_child(args: list[str], cwd: Path) -> tuple[str, float, float]:
    """A child process, whole: its output, wall seconds and peak resident MiB (from
    /usr/bin/time where it exists, else the largest child seen so far)."""
    timer = ["/usr/bin/time", "-f", "PEAK_RSS_KB %M"] if Path("/usr/bin/time").exists() else []
    started = time.perf_counter()
    done = subprocess.run([*timer, sys.executable, *args], cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    peak = re.search(r"PEAK_RSS_KB (\d+)", done.stderr)
    if peak:
        mib = int(peak.group(1)) / 1024
    else:
        import resource

        mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return done.stdout, wall, mib


def spread(values: list[float], unit: str = "s", digits: int = 1) -> str:
    return (f"min {min(values):.{digits}f}{unit}  median {statistics.median(values):.{digits}f}{unit}  "
            f"max {max(values):.{digits}f}{unit}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("MNIST_DATA_DIR", "data"))
    parser.add_argument("--pairs", type=int, default=3, help="A B pairs to run (default: 3)")
    parser.add_argument("--textbook-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    data_dir = str(Path(args.data_dir).resolve())
    if args.textbook_child:
        print(json.dumps({"test_accuracy": textbook(data_dir, args.textbook_child)}))
        return 0

    ours, book = [], []
    for pair in range(1, args.pairs + 1):
        with tempfile.TemporaryDirectory() as tmp:
            out, wall, peak = run_child(["train.py", "--data-dir", data_dir, "--output", f"{tmp}/m.pth",
                                         "--plot", f"{tmp}/p.png"], ROOT)
            accuracy = float(re.search(r"Test accuracy \(best epoch \d+\): ([0-9.]+)%", out).group(1))
            ours.append({"wall": wall, "peak": peak, "accuracy": accuracy})
            print(f"pair {pair}: train.py {wall:6.1f} s  peak RSS {peak:4.0f} MiB  test accuracy {accuracy:.2f}%",
                  flush=True)
            out, wall, peak = run_child([str(Path(__file__).resolve()), "--data-dir", data_dir,
                                         "--textbook-child", tmp], ROOT)
            accuracy = 100 * json.loads(out)["test_accuracy"]
            book.append({"wall": wall, "peak": peak, "accuracy": accuracy})
            print(f"pair {pair}: textbook {wall:6.1f} s  peak RSS {peak:4.0f} MiB  test accuracy {accuracy:.2f}%  "
                  f"-> speed-up {book[-1]['wall'] / ours[-1]['wall']:.2f}x", flush=True)
    ratios = [b["wall"] / o["wall"] for o, b in zip(ours, book)]
    print(f"train.py, whole process: {spread([o['wall'] for o in ours])}; "
          f"peak RSS {max(o['peak'] for o in ours):.0f} MiB; test accuracy {spread([o['accuracy'] for o in ours], '%', 2)}")
    print(f"textbook, whole process: {spread([b['wall'] for b in book])}; "
          f"peak RSS {max(b['peak'] for b in book):.0f} MiB; test accuracy {spread([b['accuracy'] for b in book], '%', 2)}")
    print(f"speed-up, pair by pair: {spread(ratios, 'x', 2)} over {len(ratios)} pairs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
