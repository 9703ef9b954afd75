"""How far teaching the network the check writers' own digits goes: a measurement, not a tool.

    python benchmarks/check_finetune.py --data-dir ../shared/datasets
    python benchmarks/check_finetune.py --seed 2 --train-features

The development check amounts (../shared/realworld/numbers/check_amounts/) are split in
two halves by amount, seeded. The digits of one half, cut by their labelled boxes and
framed as ``inference.py --number`` frames a candidate, are learned by the numbers model
(``lenet5_numbers.pth``: ``python train.py --preset numbers``) as ``finetune.py`` learns
a folder: its fully connected layers (``--train-features`` for all of it), the digits
augmented, MNIST's training digits mixed in, and what the reader cuts from rows drawn of
MNIST's digits and the half's own (``number_pages.reader_pieces``: pieces that are no digit,
and whole digits) so that its "none" class stays. The other half is then read: its labelled
digits one by one, and its amounts whole by ``Predictor.read_numbers``, before and after.
What the network alone can reach on the writers of one collection of checks, which is an
upper bound for a model that never saw them.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import finetune  # noqa: E402
import whole_numbers  # noqa: E402
from artifacts import NUMBERS_CHECKPOINT  # noqa: E402
from inference import Predictor  # noqa: E402
from model import DataUnavailableError, default_data_dir, load_checkpoint, load_mnist, save_checkpoint  # noqa: E402
from number_pages import reader_pieces  # noqa: E402
from preprocess import frame_ink  # noqa: E402
from train import StopFlag  # noqa: E402

CHECKS = ROOT.parent / "shared" / "realworld" / "numbers" / "check_amounts"
NOT_DIGITS = 8000  # as many pieces that are no digit, mixed in with MNIST's digits


def labelled_digits(folder: Path) -> tuple[list[dict], np.ndarray, np.ndarray, np.ndarray]:
    """The amounts (labels.csv rows), and every labelled digit framed as the number reader
    frames a candidate (uint8 28x28), its value and the index of its amount."""
    with (folder / "labels.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    digits, values, amounts = [], [], []
    for k, row in enumerate(rows):
        gray = np.asarray(Image.open(folder / "images" / row["file"]).convert("L"), np.float32) / 255
        for value, box in zip(row["number"], row["digit_boxes"].split(";")):
            x, y, w, h = map(int, box.split(","))
            line = whole_numbers.ink_line(gray[max(0, y - 2):y + h + 2, max(0, x - 2):x + w + 2])
            if line is None:
                continue
            ink = line.ink[:, line.ink.any(0)]
            digits.append(frame_ink(ink / max(float(ink.max()), 1e-6)))
            values.append(int(value))
            amounts.append(k)
    return rows, np.stack(digits), np.array(values), np.array(amounts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / NUMBERS_CHECKPOINT,
                        help=f"the numbers model to start from (default: {NUMBERS_CHECKPOINT})")
    parser.add_argument("--folder", type=Path, default=CHECKS, help="the check amounts (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="the split into halves and the training (default: 1)")
    parser.add_argument("--epochs", type=int, default=30, help="passes over the half's digits (default: 30)")
    parser.add_argument("--train-features", action="store_true", help="train the convolutions too")
    parser.add_argument("--data-dir", type=Path, default=None, help="folder holding MNIST/raw/ (default: "
                                                                    "$MNIST_DATA_DIR, else ./data)")
    args = parser.parse_args(argv)
    if not (args.folder / "labels.csv").is_file():
        print(f"error: {args.folder}/labels.csv is absent; give --folder", file=sys.stderr)
        return 2
    if not args.model.is_file():
        print(f"error: {args.model} is absent; train it with: python train.py --preset numbers", file=sys.stderr)
        return 2
    checkpoint = load_checkpoint(args.model)
    if "none" not in checkpoint.classes:
        print(f"error: {args.model} cannot say 'not a digit'; give the numbers model (--model)", file=sys.stderr)
        return 2
    try:
        mnist_x, mnist_y = load_mnist(args.data_dir or default_data_dir(), train=True)
    except DataUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    rows, digits, values, amounts = labelled_digits(args.folder)
    learned = np.random.default_rng(args.seed).permutation(len(rows))[:len(rows) // 2]
    taught = np.isin(amounts, learned)
    pieces, kinds = map(torch.from_numpy, reader_pieces(np.concatenate([mnist_x.numpy()[:20000], digits[taught]]),
                                                        np.concatenate([mnist_y.numpy()[:20000], values[taught]]),
                                                        NOT_DIGITS, args.seed, workers=os.cpu_count() or 1))
    mix = torch.cat([mnist_x, pieces]), torch.cat([mnist_y, kinds.to(mnist_y.dtype)])
    settings = argparse.Namespace(freeze_features=not args.train_features, lr=2e-3, epochs=args.epochs,
                                  batch_size=32, seed=args.seed, mix_mnist=1.0)
    model = finetune.adapt_model(checkpoint, checkpoint.classes)
    x, y = torch.from_numpy(digits[taught]), torch.from_numpy(values[taught])
    torch.manual_seed(args.seed)
    with StopFlag() as stop:
        result = finetune.fine_tune(model, x, y, (x[:0], y[:0]), mix, settings, checkpoint.mean, checkpoint.std, stop)
    if result is None:
        return 130
    model.load_state_dict(result[0])

    held = ~taught
    others = sorted(set(range(len(rows))) - set(learned.tolist()))
    files = [args.folder / "images" / rows[k]["file"] for k in others]
    truth = [rows[k]["number"] for k in others]
    digits_right, exact = [], []
    with tempfile.TemporaryDirectory() as folder:
        tuned = Path(folder) / "checks.pth"
        save_checkpoint(tuned, model.state_dict(), checkpoint.meta)
        for predictor in (Predictor.from_file(args.model), Predictor.from_file(tuned)):  # before, after
            digits_right.append(np.mean(predictor.read(digits[held])[:, :10].argmax(1) == values[held]))
            read = predictor.read_numbers(files)
            exact.append(np.mean([(r.number or "") == t for r, t in zip(read, truth)]))
    print(f"Learned the {int(taught.sum())} labelled digits of {len(learned)} amounts (seed {args.seed}); "
          f"read the other {len(files)} amounts:")
    print(f"  their {int(held.sum())} digits, each cut by its box: {digits_right[0]:.1%} before, "
          f"{digits_right[1]:.1%} after")
    print(f"  the amounts read exactly: {exact[0]:.1%} before, {exact[1]:.1%} after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
