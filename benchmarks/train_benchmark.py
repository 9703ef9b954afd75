"""Time `python train.py` (defaults) against the textbook LeNet-5 loop, on this machine.

    python benchmarks/train_benchmark.py --data-dir ../shared/datasets

The textbook loop is what most LeNet-5 tutorials ship: a torchvision DataLoader doing
Resize((32, 32)), ToTensor and Normalize per image, batch 64, Adam at 1e-3, and a pass over the
test set after every epoch. It runs for --textbook-epochs epochs here and is extrapolated to
its usual 10. Each side runs in its own process, so peak memory is that process's alone.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def textbook(data_dir: str, epochs: int) -> dict:
    """The classic tutorial loop, kept as it is usually written."""
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    from model import LeNet5

    started = time.perf_counter()
    torch.manual_seed(0)
    transform = transforms.Compose([transforms.Resize((32, 32)), transforms.ToTensor(),
                                    transforms.Normalize((0.1307,), (0.3081,))])
    train_set = datasets.MNIST(data_dir, train=True, download=True, transform=transform)
    test_set = datasets.MNIST(data_dir, train=False, download=True, transform=transform)
    train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=1000)
    model = LeNet5()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    setup = time.perf_counter() - started
    epoch_seconds, accuracy = [], 0.0
    for _ in range(epochs):
        epoch_start = time.perf_counter()
        model.train()
        for images, labels in train_loader:
            optimizer.zero_grad()
            F.cross_entropy(model(images), labels).backward()
            optimizer.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for images, labels in test_loader:
                correct += (model(images).argmax(1) == labels).sum().item()
        accuracy = correct / len(test_set)
        epoch_seconds.append(time.perf_counter() - epoch_start)
    return {"setup_s": setup, "epoch_s": epoch_seconds, "test_accuracy": accuracy}


def run_child(args: list[str]) -> tuple[str, float, float]:
    """Run a child process; return its output, wall seconds and peak resident MiB."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return done.stdout, wall, max(peak, before) / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("MNIST_DATA_DIR", "data"))
    parser.add_argument("--textbook-epochs", type=int, default=2, help="epochs of the textbook loop to time (default: 2)")
    parser.add_argument("--textbook-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.textbook_child:
        print(json.dumps(textbook(args.data_dir, args.textbook_epochs)))
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        out, wall, peak = run_child(["train.py", "--data-dir", args.data_dir, "--output", f"{tmp}/m.pth",
                                     "--plot", f"{tmp}/p.png"])
    epochs = [float(s) for s in re.findall(r"^epoch .*?([0-9.]+)s(?:  \*.*)?$", out, re.M)]
    val = [float(v) for v in re.findall(r"val loss [0-9.]+ acc ([0-9.]+)%", out)]
    test = float(re.search(r"Test accuracy \(best epoch \d+\): ([0-9.]+)%", out).group(1))
    printed = re.search(r"Printed digits: (\d+)", out)
    train_images = int(re.search(r"MNIST: (\d+) training", out).group(1)) + (int(printed.group(1)) if printed else 0)
    per_epoch = sum(epochs) / len(epochs)

    book_out, book_wall, _ = run_child([__file__, "--data-dir", args.data_dir, "--textbook-epochs",
                                        str(args.textbook_epochs), "--textbook-child"])
    book = json.loads(book_out)
    book_epoch = sum(book["epoch_s"]) / len(book["epoch_s"])
    book_total = book_wall - sum(book["epoch_s"]) + 10 * book_epoch  # startup + 10 epochs

    print(f"train.py (defaults): {len(epochs)} epochs, {wall:.1f} s wall (whole process), "
          f"{per_epoch:.2f} s/epoch, {train_images / per_epoch:,.0f} training images/s, peak RSS {peak:.0f} MiB")
    print(f"  best validation accuracy {max(val):.2f}%, test accuracy {test:.2f}%")
    print(f"textbook loop: {book_epoch:.2f} s/epoch over {args.textbook_epochs} epochs "
          f"(test accuracy after them {100 * book['test_accuracy']:.2f}%), "
          f"10 epochs whole process = {book_total:.1f} s "
          f"({'measured' if args.textbook_epochs == 10 else f'extrapolated from {args.textbook_epochs} epochs'})")
    print(f"speed-up: {book_epoch / per_epoch:.2f}x per epoch, {book_total / wall:.2f}x whole process")
    return 0


if __name__ == "__main__":
    sys.exit(main())
