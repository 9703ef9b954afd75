"""Teach a trained LeNet-5 your own images: the digits of one meter, form or writer, or new classes.

    python finetune.py my_digits/                     # my_digits/0/*.jpg ... my_digits/9/*.jpg
    python finetune.py cells/ --whole-image           # tight crops, each read whole (blank ones too)
    python finetune.py my_digits/ --cross-validate 5  # what to expect, before collecting more

The folder holds one subfolder of images per class, named for it (torchvision's ImageFolder
layout): 0-9, or new classes such as ``none`` (images that hold no digit) or letters. Every
image is read as ``inference.py`` reads it, a seeded, stratified part is held out, and the
network's fully connected layers are trained on the rest from the weights of
``lenet5_model.pth``: the same convolutions, a new output layer where the classes differ (a
class the model already reads keeps its output). MNIST training digits are mixed into each
batch, so what the model knew of handwriting is not forgotten. The epoch that reads the
held-out part best is kept, and written as a normal checkpoint whose meta names its classes
and where it came from; every tool reads it.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from artifacts import DEFAULT_CHECKPOINT, DIGITS, reads_the_digits
from inference import IMAGE_SUFFIXES
from model import (
    Checkpoint,
    CheckpointError,
    DataUnavailableError,
    LeNet5,
    DigitsToProbabilities,
    build_model,
    default_data_dir,
    load_checkpoint,
    load_mnist,
    save_checkpoint,
    to_model_input,
)
from batch import examine_job, map_in_processes
from train import EXIT_INTERRUPTED, StopFlag, positive_float, positive_int, random_affine

FEW_IMAGES = 10  # a class with fewer is warned about: a few dozen per class read far better


class FolderError(ValueError):
    """The folder is not a set of class folders that fine-tuning can learn from."""


@dataclass
class Dataset:
    """The folder's images as the network reads them: uint8 digits (N, 28, 28), the index of
    each one's class in ``classes``, and each image's readings (``preprocess.Digit``), the
    digit first, for reading them as inference.py does."""

    classes: tuple[str, ...]
    digits: np.ndarray
    labels: np.ndarray
    readings: list[np.ndarray]
    skipped: list[str]


# --------------------------------------------------------------------------- the folder


def class_folders(folder: Path) -> tuple[tuple[str, ...], list[list[Path]]]:
    """The class names (digits first, in order, then the others by name) and each one's image
    files; a FolderError that says what to do where the layout is not one fine-tuning needs."""
    if not folder.is_dir():
        raise FolderError(f"{folder} is not a folder; give a folder with one subfolder of images per class "
                          f"({folder}/0/, {folder}/1/, ...)")
    subfolders = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    names = sorted((p.name for p in subfolders), key=lambda name: (name not in DIGITS, name))
    if len(names) < 2:
        found = f" ({', '.join(names)})" if names else ""
        raise FolderError(f"{folder} holds {len(names)} class folder(s){found}; fine-tuning needs two or more, "
                          f"one subfolder of images per class ({folder}/0/, {folder}/1/, ... or {folder}/none/)")
    loose = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if loose:
        print(f"warning: {len(loose)} image(s) directly in {folder} belong to no class folder and are left out",
              file=sys.stderr)
    files = []
    for name in names:
        found = sorted(p for p in (folder / name).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise FolderError(f"class folder {folder / name} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}); "
                              "add some or remove the folder")
        files.append(found)
    return tuple(names), files


def read_folder(folder: Path, whole_image: bool, workers: int) -> Dataset:
    """Every image of the folder through inference.py's preprocessing (in ``workers``
    processes); files that cannot be read, or hold no digit, are skipped and listed."""
    classes, files = class_folders(folder)
    jobs = [(path, False, whole_image) for paths in files for path in paths]
    labels = np.concatenate([np.full(len(paths), i) for i, paths in enumerate(files)])
    found = map_in_processes(examine_job, jobs, workers, chunksize=16)
    kept = [i for i, (digit, _, _) in enumerate(found) if digit is not None]
    problems = {i: f"{jobs[i][0]}: {error}" for i, (_, _, error) in enumerate(found) if error is not None}
    for c, name in enumerate(classes):
        if not (labels[kept] == c).any():
            first = next(problem for i, problem in problems.items() if labels[i] == c)
            hint = "" if whole_image else "; for tight crops that are the digit (or hold none), use --whole-image"
            raise FolderError(f"no image of class {name} could be read as a digit ({first}){hint}")
    readings = [np.stack([r.image for r in found[i][0].readings]) for i in kept]
    return Dataset(classes, np.stack([r[0] for r in readings]), labels[kept].astype(np.int64), readings,
                   list(problems.values()))


def every_reading(data: Dataset, index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The images at ``index`` to train on, each reading of each one (the digit as found, the
    central piece alone where pieces were joined to it, and a crop taller than wide whole)
    with the image's label: the model learns the digit however the search framed it, and
    inference.py weighs every reading. It read 1.1 points more meter crops than the first
    reading alone (5-fold, seeds 1-3) and 1 more ruled-paper crop in 100; canvas drawings and
    form cells alike."""
    x = np.concatenate([data.readings[i] for i in index])
    y = np.concatenate([np.full(len(data.readings[i]), data.labels[i]) for i in index])
    return torch.from_numpy(x), torch.from_numpy(y)


def stratified_split(labels: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices to train on and to hold out: ``share`` of each class, seeded, at least one image
    of each class that has two or more."""
    rng = np.random.default_rng(seed)
    train, held = [], []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        count = min(len(members) - 1, max(1, round(share * len(members)))) if share > 0 else 0
        held.append(members[:count])
        train.append(members[count:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(held))


def stratified_folds(labels: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    """``folds`` disjoint parts, each with its share of every class, seeded."""
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in range(folds)]
    start = 0
    for c in np.unique(labels):
        for k, index in enumerate(rng.permutation(np.flatnonzero(labels == c))):
            parts[(start + k) % folds].append(int(index))
        start += len(np.flatnonzero(labels == c))  # the next class fills the smallest parts first
    return [np.sort(np.array(part, dtype=np.int64)) for part in parts]


# --------------------------------------------------------------------------- the network


def adapt_model(checkpoint: Checkpoint, classes: tuple[str, ...]) -> LeNet5:
    """The checkpoint's network with an output for each of ``classes``: a class it already
    reads keeps its weights, a new one starts from zero (so at first it is never the likeliest)."""
    base = build_model(checkpoint.meta)
    base.load_state_dict(checkpoint.model_state)
    if classes == checkpoint.classes:
        return base
    old = base.classifier[-1]
    new = nn.Linear(old.in_features, len(classes))
    nn.init.zeros_(new.weight)
    nn.init.constant_(new.bias, -5.0)
    with torch.no_grad():
        for i, name in enumerate(classes):
            if name in checkpoint.classes:
                new.weight[i] = old.weight[checkpoint.classes.index(name)]
                new.bias[i] = old.bias[checkpoint.classes.index(name)]
    base.classifier[-1] = new
    return base


@torch.no_grad()
def predict(model: nn.Module, digits: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """The class each digit reads as, framed as it is (fast: for picking the best epoch)."""
    model.eval()
    logits = [model(to_model_input(digits[i:i + 2000], mean, std)) for i in range(0, len(digits), 2000)]
    return torch.cat(logits).argmax(1) if logits else torch.empty(0, dtype=torch.long)


@torch.no_grad()
def read_as_inference_does(model: nn.Module, readings: list[np.ndarray], mean: float, std: float) -> np.ndarray:
    """The class inference.py gives each image (its readings weighed, unsure ones nudged), so
    the figures printed are the ones a user meets."""
    from inference import placed_probabilities, surest_readings

    model.eval()
    network = DigitsToProbabilities(model, mean, std)
    picks = surest_readings(lambda digits: placed_probabilities(lambda d: network(torch.from_numpy(d)).numpy(), digits),
                            readings)
    return np.array([int(p.argmax()) for _, p in picks], dtype=np.int64)


def fine_tune(model: LeNet5, digits: torch.Tensor, labels: torch.Tensor, held: tuple[torch.Tensor, torch.Tensor],
              mnist: tuple[torch.Tensor, torch.Tensor] | None, args: argparse.Namespace, mean: float, std: float,
              stop: StopFlag, progress: bool = True) -> tuple[dict[str, torch.Tensor], int, list[float]] | None:
    """Train ``model`` on the digits (augmented as train.py does), with ``args.mix_mnist``
    MNIST digits per image in each batch; returns the weights of the epoch that reads the
    held-out digits best (the last where none are held out), that epoch, and each epoch's
    held-out accuracy. None if a stop was requested."""
    from tqdm import tqdm

    if args.freeze_features:
        for parameter in model.features.parameters():
            parameter.requires_grad_(False)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr, weight_decay=0.01)
    steps = math.ceil(len(digits) / args.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=args.epochs * steps,
                                                    pct_start=0.1)
    generator = torch.Generator().manual_seed(args.seed)
    mix = max(1, round(args.mix_mnist * args.batch_size)) if mnist is not None else 0
    best, best_epoch, best_score, history = None, 0, (-1.0, 0.0), []
    epochs = tqdm(range(1, args.epochs + 1), desc="fine-tuning", unit="epoch", leave=False,
                  disable=None if progress else True)
    for epoch in epochs:
        model.train()
        if args.freeze_features:
            model.features.eval()
        order = torch.randperm(len(digits), generator=generator)
        for start in range(0, len(order), args.batch_size):
            idx = order[start:start + args.batch_size]
            x, y = digits[idx], labels[idx]
            if mix:
                pick = torch.randint(len(mnist[0]), (mix,), generator=generator)
                x, y = torch.cat([x, mnist[0][pick]]), torch.cat([y, mnist[1][pick]])
            x = random_affine(to_model_input(x, mean, std), generator)
            loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            if stop.requested:
                return None
        if len(held[0]):
            predictions = predict(model, held[0], mean, std)
            accuracy = float((predictions == held[1]).float().mean())
            history.append(accuracy)
            epochs.set_postfix(held_out=f"{accuracy:.1%}")
            score = (accuracy, epoch / args.epochs)  # of equals, the later epoch
            if score > best_score:
                best_score, best_epoch = score, epoch
                best = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if best is None:
        best, best_epoch = {k: v.detach().clone() for k, v in model.state_dict().items()}, args.epochs
    return best, best_epoch, history


def mnist_digits(data_dir: Path, classes: tuple[str, ...], train: bool) -> tuple[torch.Tensor, torch.Tensor] | None:
    """MNIST's digits of the classes the model reads, labelled by their index in ``classes``;
    None where it reads no digit. Raises DataUnavailableError where MNIST is not there."""
    wanted = [d for d in range(10) if str(d) in classes]
    if not wanted:
        return None
    images, labels = load_mnist(data_dir, train=train)
    keep = torch.isin(labels, torch.tensor(wanted))
    index = torch.full((10,), -1, dtype=torch.long)
    for d in wanted:
        index[d] = classes.index(str(d))
    return images[keep], index[labels[keep]]


# --------------------------------------------------------------------------- figures


def in_classes(read: np.ndarray, checkpoint: Checkpoint, classes: tuple[str, ...]) -> np.ndarray:
    """What the model fine-tuning starts from read (indices into its own classes) as indices
    into ``classes``: -1 for a class of its own that the new model does not have."""
    mapping = np.array([classes.index(name) if name in classes else -1 for name in checkpoint.classes])
    return mapping[read]


def base_predictions(checkpoint: Checkpoint, readings: list[np.ndarray], classes: tuple[str, ...]) -> np.ndarray:
    """What the model fine-tuning starts from reads, as inference.py reads, as indices into
    ``classes``."""
    model = adapt_model(checkpoint, checkpoint.classes)
    return in_classes(read_as_inference_does(model, readings, checkpoint.mean, checkpoint.std), checkpoint, classes)


def print_table(classes: tuple[str, ...], labels: np.ndarray, before: np.ndarray, after: np.ndarray) -> None:
    print(f"{'class':>8} {'images':>7} {'before':>8} {'after':>8}")
    for c, name in enumerate(classes):
        if (labels == c).any():
            b, a = (float((p[labels == c] == c).mean()) for p in (before, after))
            print(f"{name:>8} {int((labels == c).sum()):>7} {b:>8.1%} {a:>8.1%}")
    print(f"{'all':>8} {len(labels):>7} {float((before == labels).mean()):>8.1%} "
          f"{float((after == labels).mean()):>8.1%}")


# --------------------------------------------------------------------------- command line


def share(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be from 0 up to 1 (a share of each class), got {text}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Fine-tune a trained LeNet-5 on a folder of your own labelled images, one subfolder per class.")
    parser.add_argument("folder", type=Path, help="folder with one subfolder of images per class (0/, 1/, ... none/)")
    parser.add_argument("--model", type=Path, default=Path(DEFAULT_CHECKPOINT),
                        help=f"checkpoint to start from (default: {DEFAULT_CHECKPOINT})")
    parser.add_argument("--output", type=Path, default=None,
                        help="checkpoint to write (default: the folder's name with .pth, here)")
    parser.add_argument("--epochs", type=positive_int, default=30, help="passes over your images (default: 30)")
    parser.add_argument("--lr", type=positive_float, default=2e-3, help="peak learning rate, AdamW (default: 2e-3)")
    parser.add_argument("--batch-size", type=positive_int, default=32,
                        help="your images in each batch (default: 32)")
    parser.add_argument("--seed", type=int, default=1, help="seed for the split, the order and the augmentation "
                                                            "(default: 1)")
    parser.add_argument("--val-split", type=share, default=0.2,
                        help="share of each class held out to pick the best epoch and report on (default: 0.2; "
                             "0 trains on all and keeps the last epoch)")
    parser.add_argument("--freeze-features", action=argparse.BooleanOptionalAction, default=True,
                        help="train only the fully connected layers, the convolutions staying as they are; "
                             "--no-freeze-features trains them too (default: frozen)")
    parser.add_argument("--whole-image", action="store_true",
                        help="each image is a tight crop (a meter's window, a form's cell): read it whole as the "
                             "digit, without searching it; the model reads every image so from then on")
    parser.add_argument("--mix-mnist", type=float, default=1.0, metavar="RATIO",
                        help="MNIST training digits mixed into each batch per image of yours, so the model keeps "
                             "reading handwriting (default: 1; 0 for none)")
    parser.add_argument("--cross-validate", type=int, default=None, metavar="K",
                        help="instead of writing a model: K-fold figures of what fine-tuning gains, each fold "
                             "fine-tuned on the others as a run on the whole folder would be")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder holding MNIST/raw/, for --mix-mnist and the MNIST figures "
                             "(default: $MNIST_DATA_DIR, else ./data)")
    args = parser.parse_args(argv)
    if args.mix_mnist < 0 or not math.isfinite(args.mix_mnist):
        parser.error(f"--mix-mnist must be 0 or more, got {args.mix_mnist}")
    if args.cross_validate is not None and args.cross_validate < 2:
        parser.error(f"--cross-validate must be 2 or more folds, got {args.cross_validate}")
    if args.output is None:
        args.output = Path(f"{args.folder.resolve().name}.pth")
    if args.output.resolve() == args.model.resolve():
        parser.error(f"--output {args.output} would overwrite the model fine-tuning starts from; name another file")
    if args.data_dir is None:
        args.data_dir = default_data_dir()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with StopFlag() as stop:
            return run(args, stop)
    except (FolderError, CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # a second Ctrl-C: nothing was written
        print("\nInterrupted; nothing was written.", file=sys.stderr)
        return EXIT_INTERRUPTED


def run(args: argparse.Namespace, stop: StopFlag) -> int:
    checkpoint = load_checkpoint(args.model)
    print(f"Reading {args.folder}{' (each image whole)' if args.whole_image else ''} ...")
    data = read_folder(args.folder, args.whole_image, os.cpu_count() or 1)
    for problem in data.skipped[:10]:
        print(f"skipped {problem}", file=sys.stderr)
    if len(data.skipped) > 10:
        print(f"skipped {len(data.skipped) - 10} more files", file=sys.stderr)
    counts = np.bincount(data.labels, minlength=len(data.classes))
    print(f"{len(data.labels)} images in {len(data.classes)} classes: "
          + ", ".join(f"{name} {n}" for name, n in zip(data.classes, counts)))
    for name, n in zip(data.classes, counts):
        if n < FEW_IMAGES:
            print(f"warning: class {name} has only {n} image(s); a few dozen per class read far better",
                  file=sys.stderr)
    new = [name for name in data.classes if name not in checkpoint.classes]
    if new:
        print(f"New classes, each with a new output: {', '.join(new)}")
    mnist, mnist_test = None, None
    try:
        mnist_test = mnist_digits(args.data_dir, data.classes, train=False)
        if args.mix_mnist > 0:
            mnist = mnist_digits(args.data_dir, data.classes, train=True)
    except DataUnavailableError:
        if args.mix_mnist > 0:
            print(f"warning: MNIST is not in {args.data_dir}/MNIST/raw/, so none of its digits are mixed in; the "
                  "model may forget handwriting (--data-dir)", file=sys.stderr)
    torch.manual_seed(args.seed)
    digits, labels = torch.from_numpy(data.digits), torch.from_numpy(data.labels)
    if args.cross_validate:
        return cross_validate(args, checkpoint, data, digits, labels, mnist, stop)

    train_idx, held_idx = stratified_split(data.labels, args.val_split, args.seed)
    held = (digits[held_idx], labels[held_idx])
    model = adapt_model(checkpoint, data.classes)
    result = fine_tune(model, *every_reading(data, train_idx), held, mnist, args, checkpoint.mean,
                       checkpoint.std, stop)
    if result is None:
        print("Stopped; nothing was written.", file=sys.stderr)
        return EXIT_INTERRUPTED
    state, best_epoch, history = result
    model.load_state_dict(state)
    record = {"from": str(args.model), "from_created": checkpoint.meta.get("created"), "folder": str(args.folder),
              "images": len(data.labels), "held_out": len(held_idx), "epochs": args.epochs, "best_epoch": best_epoch,
              "lr": args.lr, "batch_size": args.batch_size, "seed": args.seed, "val_split": args.val_split,
              "freeze_features": args.freeze_features, "mix_mnist": args.mix_mnist if mnist is not None else 0.0}
    if len(held_idx):
        held_readings = [data.readings[i] for i in held_idx]
        before = base_predictions(checkpoint, held_readings, data.classes)
        after = read_as_inference_does(model, held_readings, checkpoint.mean, checkpoint.std)
        print(f"Held out {len(held_idx)} images (seed {args.seed}); the best epoch, {best_epoch} of {args.epochs}, "
              "reads them:")
        print_table(data.classes, data.labels[held_idx], before, after)
        record["val_accuracy_before"] = float((before == data.labels[held_idx]).mean())
        record["val_accuracy"] = float((after == data.labels[held_idx]).mean())
    meta = {"architecture": model.options, "mean": checkpoint.mean, "std": checkpoint.std,
            "classes": list(data.classes), "whole_image": args.whole_image, "fine_tuned": record}
    if mnist_test is not None and reads_the_digits(data.classes):
        read = predict(adapt_model(checkpoint, checkpoint.classes), mnist_test[0], checkpoint.mean, checkpoint.std)
        before = float((in_classes(read.numpy(), checkpoint, data.classes) == mnist_test[1].numpy()).mean())
        after = float((predict(model, mnist_test[0], checkpoint.mean, checkpoint.std) == mnist_test[1]).float().mean())
        print(f"MNIST test digits: {before:.2%} before, {after:.2%} after")
        meta["test_accuracy"] = after
    save_checkpoint(args.output, model.state_dict(), meta)
    print(f"Saved {args.output}; read with it: python inference.py --model {args.output} IMAGES")
    return 0


def cross_validate(args: argparse.Namespace, checkpoint: Checkpoint, data: Dataset, digits: torch.Tensor,
                   labels: torch.Tensor, mnist, stop: StopFlag) -> int:
    """K folds; each fine-tuned on the others exactly as a run on the whole folder would be
    (its own held-out part picks its best epoch) and scored on the fold, which it never saw."""
    smallest = int(np.bincount(data.labels).min())
    if smallest < args.cross_validate:
        name = data.classes[int(np.bincount(data.labels).argmin())]
        raise FolderError(f"class {name} has {smallest} image(s), fewer than the {args.cross_validate} folds; "
                          f"use --cross-validate {max(2, smallest)} or fewer, or add images")
    folds = stratified_folds(data.labels, args.cross_validate, args.seed)
    before_all, after_all, order = [], [], []
    print(f"{args.cross_validate}-fold cross-validation (seed {args.seed}): each fold is read by a model "
          "fine-tuned on the others")
    print(f"{'fold':>5} {'images':>7} {'before':>8} {'after':>8} {'best epoch':>11}")
    for k, fold in enumerate(folds, 1):
        rest = np.setdiff1d(np.arange(len(data.labels)), fold)
        train_part, held_part = stratified_split(data.labels[rest], args.val_split, args.seed + k)
        train_idx, held_idx = rest[train_part], rest[held_part]
        model = adapt_model(checkpoint, data.classes)
        result = fine_tune(model, *every_reading(data, train_idx), (digits[held_idx], labels[held_idx]), mnist,
                           args, checkpoint.mean, checkpoint.std, stop)
        if result is None:
            print("Stopped.", file=sys.stderr)
            return EXIT_INTERRUPTED
        model.load_state_dict(result[0])
        fold_readings = [data.readings[i] for i in fold]
        before = base_predictions(checkpoint, fold_readings, data.classes)
        after = read_as_inference_does(model, fold_readings, checkpoint.mean, checkpoint.std)
        truth = data.labels[fold]
        print(f"{k:>5} {len(fold):>7} {float((before == truth).mean()):>8.1%} {float((after == truth).mean()):>8.1%} "
              f"{result[1]:>11}")
        before_all.append(before)
        after_all.append(after)
        order.append(fold)
    truth = data.labels[np.concatenate(order)]
    before, after = np.concatenate(before_all), np.concatenate(after_all)
    scores = [float((a == data.labels[f]).mean()) for a, f in zip(after_all, order)]
    print(f"All folds: {float((before == truth).mean()):.1%} before, {float((after == truth).mean()):.1%} after "
          f"(folds {min(scores):.1%} to {max(scores):.1%}); per class:")
    print_table(data.classes, truth, before, after)
    return 0


if __name__ == "__main__":
    sys.exit(main())
