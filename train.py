"""Train LeNet-5 on MNIST and keep the weights that do best on a held-out validation set.

    python train.py                       # download MNIST into ./data, train, save
    python train.py --data-dir ../mnist   # use MNIST/raw/ files you already have

The whole dataset sits on the device as uint8 tensors and mini-batches are drawn, padded,
normalised and augmented there in one go: no DataLoader, no per-image PIL work. That, not
the model, is where the classic tutorial loop spends most of its time.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from artifacts import DEFAULT_CHECKPOINT, DIGITS, NUMBERS_CHECKPOINT, atomic_write, not_a_png_name
from fonts import PRINTED_FONTS
from handwriting_styles import european_forms
from model import (
    ACTIVATIONS,
    POOLINGS,
    CheckpointError,
    DataUnavailableError,
    LeNet5,
    count_parameters,
    default_data_dir,
    load_checkpoint,
    load_mnist,
    pick_device,
    pixel_stats,
    save_checkpoint,
    to_model_input,
)
from number_pages import NONE, reader_pieces
from photo_pages import PAGE_SHARES, training_pages
from printed_digits import METER_SCENES_PER_GLYPH, default_cache_dir, printed_digits
from runs import (
    DEFAULT_RUNS_DIR,
    EPOCH_FIELDS,
    PLOT_NAME,
    WEIGHTS_NAME,
    RunLog,
    check_run_name,
    default_run_name,
)

EXIT_INTERRUPTED = 130
# Network and training choices that go together. lenet1998 is the paper's form as far as a
# modern framework sensibly goes: no sparse C3 table, no RBF output layer, AdamW not SGD.
PRESETS = {
    "default": {"activation": "relu", "pooling": "max", "batch_norm": False, "dropout": 0.0,
                "augment": True, "printed_digits": 5, "european_forms": 1500, "not_a_digit": 0,
                "photo_pages": 0, "canvas_drawings": 3000, "whole_windows": True, "epochs": 12},
    "lenet1998": {"activation": "tanh", "pooling": "avg", "batch_norm": False, "dropout": 0.0,
                  "augment": False, "printed_digits": 0, "european_forms": 0, "not_a_digit": 0,
                  "photo_pages": 0, "canvas_drawings": 0, "whole_windows": False, "epochs": 10},
    # for inference.py --number: the default, able to say "not a digit" (docs/inference.md), but without
    # the meter windows read whole (with them, 10 or 12 epochs, the real check amounts read 0.8-1.8
    # points fewer exactly, seeds 1-3) and in 10 epochs
    "numbers": {"activation": "relu", "pooling": "max", "batch_norm": False, "dropout": 0.0,
                "augment": True, "printed_digits": 5, "european_forms": 1500, "not_a_digit": 40000,
                "photo_pages": 0, "canvas_drawings": 0, "whole_windows": False, "epochs": 10},
}


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train LeNet-5 on MNIST.")
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help="passes over the training set (default: the preset's, 12 for default, 10 for the others)")
    parser.add_argument("--batch-size", type=positive_int, default=256, help="mini-batch size (default: 256)")
    parser.add_argument("--lr", type=positive_float, default=6e-3,
                        help="peak learning rate of the one-cycle schedule (default: 0.006)")
    parser.add_argument("--weight-decay", type=float, default=0.05, help="AdamW weight decay (default: 0.05)")
    parser.add_argument("--label-smoothing", type=float, default=0.1,
                        help="share of each target spread over the other classes (default: 0.1)")
    parser.add_argument("--ema", type=float, default=0.999, metavar="DECAY",
                        help="validate, keep and test an exponential moving average of the weights with this "
                             "decay per step; 0 for the raw weights (default: 0.999)")
    parser.add_argument("--seed", type=int, default=1, help="seed for the split, shuffling, augmentation and init (default: 1)")
    parser.add_argument("--val-size", type=positive_int, default=5000,
                        help="training images held out to choose the best epoch (default: 5000)")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                        help="arithmetic of the training steps: bf16 (weights stay fp32) is about 1.4x faster "
                             "where the hardware has it; auto takes it there, else fp32 (default: auto)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto",
                        help="where to train; auto picks CUDA, then MPS, then CPU (default: auto)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder holding MNIST/raw/ (default: $MNIST_DATA_DIR, else ./data)")
    parser.add_argument("--output", type=Path, default=None,
                        help=f"best-weights checkpoint (default: {DEFAULT_CHECKPOINT}; {NUMBERS_CHECKPOINT} for "
                             "--preset numbers)")
    parser.add_argument("--plot", type=Path, default=Path("training_results.png"),
                        help="training curves image (default: training_results.png)")
    parser.add_argument("--resume", type=Path, default=None, metavar="PATH",
                        help="continue the run saved in PATH (the *_last.pth file written beside --output)")
    parser.add_argument("--printed-digits", type=int, default=None, metavar="N",
                        help=f"mix N glyphs and {METER_SCENES_PER_GLYPH}N meter scenes (a drum's window, a "
                             "7-segment display) of each digit in each of 21 fonts into training, so printed and "
                             "meter digits are read too; 0 for MNIST alone (default: the preset's, 5 for default)")
    parser.add_argument("--whole-windows", action=argparse.BooleanOptionalAction, default=None,
                        help="of each printed meter window that the preprocessing also reads whole, as it reads "
                             "a real meter crop, teach that reading too (docs/training.md; default: the preset's, "
                             "on for default)")
    parser.add_argument("--european-forms", type=int, default=None, metavar="N",
                        help="add N of MNIST's training 1s redrawn with a long flag and N 7s with a bar across "
                             "the stem, as much of the world writes them; 0 for none (default: the preset's, "
                             "1500 for default)")
    parser.add_argument("--not-a-digit", type=int, default=None, metavar="N",
                        help="add N pieces that inference.py --number's cutting makes of drawn rows of training "
                             "digits and that are no digit (part of one, parts of two) as an 11th class, none, "
                             "with the whole digits cut alongside them, so that it can tell them apart; 0 for "
                             "ten classes (default: the preset's, 40000 for numbers, else 0)")
    parser.add_argument("--photo-pages", type=int, default=None, metavar="N",
                        help="add N training digits drawn onto photographed squared and ruled paper and onto "
                             "canvases they run off, as the preprocessing finds them (photo_pages.py; about 3 minutes "
                             "on two cores for 9000, kept for the next run; docs/training.md); 0 for none "
                             "(default: the preset's, 0)")
    parser.add_argument("--canvas-drawings", type=int, default=None, metavar="N",
                        help="add N training digits drawn so large on a computer canvas that they run off its "
                             "edge, some with a broken stroke, as the preprocessing finds them (photo_pages.py; "
                             "about 6 s on two cores for 3000, kept for the next run; docs/training.md); 0 for "
                             "none (default: the preset's, 3000 for default, else 0)")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                        help="random rotation, scale and shift of each training image "
                             "(default: the preset's, on for default)")
    variant = parser.add_argument_group("network variant (each flag overrides the preset's choice)")
    variant.add_argument("--preset", choices=sorted(PRESETS), default="default",
                         help="default: ReLU, max-pooling, augmentation and printed digits; lenet1998: the "
                              "1998 paper's form, tanh and average pooling on plain MNIST; numbers: the default "
                              "with --not-a-digit 40000, for inference.py --number (default: default)")
    variant.add_argument("--activation", choices=sorted(ACTIVATIONS), default=None,
                         help="after each convolution and hidden layer")
    variant.add_argument("--pooling", choices=sorted(POOLINGS), default=None, help="2x2 subsampling after each conv")
    variant.add_argument("--batch-norm", action=argparse.BooleanOptionalAction, default=None,
                         help="batch normalisation after each convolution")
    variant.add_argument("--dropout", type=float, default=None, metavar="P",
                         help="dropout probability before the hidden fully connected layers (0: none)")
    runs = parser.add_argument_group("run record")
    runs.add_argument("--run-name", default=None, metavar="NAME",
                      help="keep this run's history, plot, TensorBoard events and weights in RUNS_DIR/NAME "
                           "(default: the date and time)")
    runs.add_argument("--runs-dir", type=Path, default=DEFAULT_RUNS_DIR,
                      help=f"where runs are kept (default: {DEFAULT_RUNS_DIR})")
    args = parser.parse_args(argv)
    for key, value in PRESETS[args.preset].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if not 0 <= args.dropout < 1:
        parser.error(f"--dropout must be from 0 up to 1, got {args.dropout}")
    if args.run_name is not None:
        try:
            check_run_name(args.run_name)
        except ValueError as exc:
            parser.error(str(exc))
    if args.printed_digits < 0:
        parser.error(f"--printed-digits must be 0 or more, got {args.printed_digits}")
    if args.not_a_digit < 0:
        parser.error(f"--not-a-digit must be 0 or more, got {args.not_a_digit}")
    if args.photo_pages < 0:
        parser.error(f"--photo-pages must be 0 or more, got {args.photo_pages}")
    if args.canvas_drawings < 0:
        parser.error(f"--canvas-drawings must be 0 or more, got {args.canvas_drawings}")
    if args.european_forms < 0:
        parser.error(f"--european-forms must be 0 or more, got {args.european_forms}")
    if args.weight_decay < 0:
        parser.error(f"--weight-decay must be 0 or more, got {args.weight_decay}")
    if not 0 <= args.ema < 1:
        parser.error(f"--ema must be from 0 up to 1, got {args.ema}")
    if not 0 <= args.label_smoothing < 1:
        parser.error(f"--label-smoothing must be from 0 up to 1, got {args.label_smoothing}")
    if problem := not_a_png_name("--plot", args.plot):
        parser.error(problem)
    if args.data_dir is None:
        args.data_dir = default_data_dir()
    if args.output is None and args.resume is None:  # a resumed run keeps writing where it wrote
        args.output = Path(NUMBERS_CHECKPOINT if args.preset == "numbers" else DEFAULT_CHECKPOINT)
    return args


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 arithmetic runs in hardware here (a CPU with AVX512-BF16 or AMX, a CUDA
    GPU from Ampere on); elsewhere autocast would emulate it, slower than fp32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":  # oneDNN also "supports" bf16 on plain AVX-512, emulated and 1.5x slower than fp32
        capabilities = torch.cpu.get_capabilities() if hasattr(torch.cpu, "get_capabilities") else {}
        return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))
    return False


def last_checkpoint_path(output: Path) -> Path:
    """Where the resumable end-of-epoch state lives: beside the best weights."""
    return output.with_name(f"{output.stem}_last{output.suffix or '.pth'}")


# --------------------------------------------------------------------------- data


def split_train_val(images: torch.Tensor, labels: torch.Tensor, val_size: int, seed: int):
    """A fixed, seeded hold-out: the same seed always holds out the same images."""
    if val_size >= len(images):
        raise ValueError(f"--val-size {val_size} leaves no training images (the set has {len(images)})")
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    val_idx, train_idx = order[:val_size], order[val_size:]
    return (images[train_idx], labels[train_idx]), (images[val_idx], labels[val_idx])


def random_affine(x: torch.Tensor, generator: torch.Generator, rotation: float = 8.0,
                  scale: float = 0.08, shift: float = 1.5) -> torch.Tensor:
    """Random rotation (+-``rotation`` degrees), scale (1 +- ``scale``) and shift (+-``shift``
    pixels) for each image: one sampling grid and one grid_sample over the whole batch.

    The frame's border is always background, so 'border' padding fills uncovered pixels with
    background whatever the normalisation.
    """
    n = x.shape[0]
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(rotation)
    zoom = 1 + (torch.rand(n, generator=generator) * 2 - 1) * scale
    offset = (torch.rand(n, 2, generator=generator) * 2 - 1) * (shift / (x.shape[-1] / 2))
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, offset[:, 0]], 1), torch.stack([sin, cos, offset[:, 1]], 1)], 1)
    # F.affine_grid's result, as one (2N x 3) @ (3 x HW) product over the shared pixel grid:
    # affine_grid does N small batched products instead, a twentieth of a training step
    h, w = x.shape[-2:]
    ys = (torch.arange(h, dtype=x.dtype, device=x.device) * 2 + 1) / h - 1  # pixel centres in [-1, 1]
    xs = (torch.arange(w, dtype=x.dtype, device=x.device) * 2 + 1) / w - 1
    base = torch.stack([xs.repeat(h), ys.repeat_interleave(w), torch.ones(h * w, dtype=x.dtype, device=x.device)])
    grid = (theta.to(x.device, x.dtype).reshape(2 * n, 3) @ base).reshape(n, 2, h, w).permute(0, 2, 3, 1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


# --------------------------------------------------------------------------- train / evaluate


class StopFlag:
    """Turns the first Ctrl-C into a request to stop after the current batch; a second one
    interrupts at once. Installed by main() only, so importing this module changes nothing."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self) -> "StopFlag":
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nStopping after this batch (Ctrl-C again to abort at once)...", file=sys.stderr, flush=True)


@dataclass
class EpochStats:
    loss: float
    accuracy: float


def weight_average(model: torch.nn.Module, decay: float) -> torch.optim.swa_utils.AveragedModel:
    """An exponential moving average of the weights (and batch-norm statistics), updated after
    every step. Its decay ramps up, (1 + n) / (10 + n) after n updates, to ``decay``, so the
    average follows the fast early steps and is a useful model from the first epoch."""

    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], updates: torch.Tensor) -> None:
        n = float(updates)
        pairs = [(a, c) for a, c in zip(averaged, current) if a.is_floating_point()]
        if pairs:
            torch._foreach_lerp_([a for a, _ in pairs], [c for _, c in pairs], 1 - min(decay, (1 + n) / (10 + n)))
        for a, c in zip(averaged, current):
            if not a.is_floating_point():  # batch norm's count of batches: the latest, not a mean
                a.copy_(c)

    return torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=update, use_buffers=True)


def train_one_epoch(model, images, labels, optimizer, scheduler, args, stats, epoch, device, stop,
                    average=None) -> EpochStats | None:
    """One pass in a seeded random order; returns None if a stop was requested part-way.
    ``average``, where given, is a weight_average updated after every step."""
    from tqdm import tqdm

    model.train()
    generator = torch.Generator().manual_seed(args.seed * 100_003 + epoch)  # resumable: depends on epoch only
    order = torch.randperm(len(images), generator=generator)
    total_loss = torch.zeros((), device=device)
    total_correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    batches = range(0, len(order), args.batch_size)
    bar = tqdm(batches, desc=f"epoch {epoch}/{args.epochs}", unit="batch", leave=False, disable=None)
    for step, start in enumerate(bar):
        idx = order[start:start + args.batch_size].to(device)
        x = to_model_input(images[idx], stats["mean"], stats["std"])
        if args.augment:
            x = random_affine(x, generator)
        y = labels[idx]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16):
            logits = model(x.contiguous(memory_format=torch.channels_last))
            loss = F.cross_entropy(logits, y, label_smoothing=args.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if average is not None:
            average.update_parameters(model)
        total_loss += loss.detach() * len(idx)
        total_correct += (logits.argmax(1) == y).sum()
        seen += len(idx)
        if step % 50 == 0:
            bar.set_postfix(loss=f"{total_loss.item() / seen:.4f}", acc=f"{total_correct.item() / seen:.2%}")
        if stop.requested:
            bar.close()
            return None
    return EpochStats(total_loss.item() / seen, total_correct.item() / seen)


@torch.no_grad()
def evaluate(model, images, labels, stats, batch_size: int = 2000) -> tuple[EpochStats, torch.Tensor]:
    """Loss, accuracy and the predictions, in eval mode."""
    model.eval()
    total_loss, predictions = 0.0, []
    for start in range(0, len(images), batch_size):
        x = to_model_input(images[start:start + batch_size], stats["mean"], stats["std"])
        logits = model(x.contiguous(memory_format=torch.channels_last))
        total_loss += F.cross_entropy(logits, labels[start:start + batch_size], reduction="sum").item()
        predictions.append(logits.argmax(1))
    predictions = torch.cat(predictions)
    accuracy = (predictions == labels).float().mean().item()
    return EpochStats(total_loss / len(images), accuracy), predictions


# --------------------------------------------------------------------------- plot


def plot_history(history: dict[str, list[float]], paths: list[Path], title: str, label_smoothing: float = 0.0) -> None:
    """Loss, accuracy and learning rate per epoch, side by side, drawn once and written to
    each of ``paths``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    epochs = list(range(1, len(history["train_loss"]) + 1))
    train_acc = [100 * a for a in history["train_acc"]]
    val_acc = [100 * a for a in history["val_acc"]]
    fig = Figure(figsize=(15, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax_loss, ax_acc, ax_lr = fig.subplots(1, 3)
    smoothing = f", label smoothing {label_smoothing:g}" if label_smoothing else ""
    ax_loss.plot(epochs, history["train_loss"], "o-", label=f"train (augmented{smoothing})")
    ax_loss.plot(epochs, history["val_loss"], "s-", label="validation")
    ax_loss.set(title="Loss", xlabel="epoch", ylabel="cross-entropy")
    ax_acc.plot(epochs, train_acc, "o-", label="train (augmented)")
    ax_acc.plot(epochs, val_acc, "s-", label="validation")
    best = max(range(len(epochs)), key=lambda i: val_acc[i])
    ax_acc.plot([epochs[best]], [val_acc[best]], "*", color="tab:red", markersize=14,
                label=f"best validation: {val_acc[best]:.2f}% (epoch {epochs[best]})")
    # zoom on where the validation curve lives; the first epochs of training may fall below
    ax_acc.set_ylim(max(0.0, min(val_acc) - 1.0), 100.05)
    ax_acc.set(title="Accuracy", xlabel="epoch", ylabel="%")
    ax_lr.plot(epochs, history["lr"], "o-", color="tab:green")
    ax_lr.set(title="Learning rate (end of epoch)", xlabel="epoch")
    ax_lr.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    for ax in (ax_loss, ax_acc, ax_lr):
        ax.grid(alpha=0.3)
        ax.set_xticks(epochs)
    ax_loss.legend()
    ax_acc.legend(loc="lower right")
    fig.suptitle(title, fontsize=14)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    for path in paths:
        atomic_write(path, lambda tmp: tmp.write_bytes(buffer.getvalue()))


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except (ValueError, CheckpointError, DataUnavailableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # before training started, or a second Ctrl-C: files on disk are whole
        print("\nInterrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED


def describe_variant(model: LeNet5, args: argparse.Namespace) -> str:
    """What sets this run apart, for run tables: the network's form and the training changes."""
    parts = [model.describe()]
    if not args.augment:
        parts.append("no augmentation")
    if not args.printed_digits:
        parts.append("MNIST only")
    return (f"{args.preset}: " if args.preset != "default" else "") + ", ".join(parts)


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    resume = None
    if args.resume is not None:
        resume = load_checkpoint(args.resume)
        if "optimizer" not in resume.extra:
            raise ValueError(f"{args.resume} holds weights only; --resume needs the *_last.pth file that training writes")
        saved = resume.meta["args"]
        for key in ("epochs", "batch_size", "lr", "weight_decay", "label_smoothing", "seed", "val_size",
                    "printed_digits", "augment"):
            setattr(args, key, saved[key])  # the run continues as it was set up
        args.european_forms = saved.get("european_forms", 0)  # runs from before it had none
        args.not_a_digit = saved.get("not_a_digit", 0)
        args.photo_pages = saved.get("photo_pages", 0)
        args.canvas_drawings = saved.get("canvas_drawings", 0)
        args.whole_windows = saved.get("whole_windows", False)  # and before meter windows were read whole
        args.ema = saved.get("ema", 0.0)  # and before the weights were averaged
        args.precision = saved.get("precision", "fp32")  # runs from before --precision were fp32
        args.preset = saved.get("preset", "default")  # and before variants and run folders, default
        if args.output is None:
            args.output = Path(saved.get("output", DEFAULT_CHECKPOINT))
        architecture = resume.meta.get("architecture") or {}
        for key in ("activation", "pooling", "batch_norm", "dropout"):
            setattr(args, key, architecture.get(key, PRESETS["default"][key]))
        args.run_name = saved.get("run_name") or args.run_name
        args.runs_dir = Path(saved.get("runs_dir", args.runs_dir))
    if args.run_name is None:
        args.run_name = default_run_name(args.runs_dir)
    run_dir = args.runs_dir / args.run_name
    if resume is None and run_dir.exists():
        raise ValueError(f"{run_dir} already exists; choose another --run-name (or continue a stopped run "
                         "with --resume)")
    device = pick_device(args.device)
    if args.precision == "bf16" and not native_bf16(device):
        raise ValueError(f"--precision bf16 was asked for, but {device.type} here has no bf16 arithmetic; "
                         "use --precision auto or fp32")
    args.bf16 = args.precision == "bf16" or (args.precision == "auto" and native_bf16(device))
    args.precision = "bf16" if args.bf16 else "fp32"  # as decided, for the checkpoint and --resume
    torch.manual_seed(args.seed)
    print(f"Device: {device}" + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""))

    images, labels = load_mnist(args.data_dir, train=True)
    test_images, test_labels = load_mnist(args.data_dir, train=False)
    (train_x, train_y), (val_x, val_y) = split_train_val(images, labels, args.val_size, args.seed)
    del images, labels  # the split made copies; keep the process small
    mean, std = pixel_stats(train_x)
    stats = {"mean": mean, "std": std}
    print(f"MNIST: {len(train_x)} training, {len(val_x)} validation, {len(test_images)} test images "
          f"(mean {stats['mean']:.4f}, std {stats['std']:.4f})")
    if args.european_forms:  # drawn on the training split's digits only; validation and test stay as they are
        styled_x, styled_y = map(torch.from_numpy, european_forms(train_x.numpy(), train_y.numpy(), args.european_forms,
                                                                 np.random.default_rng(args.seed)))
        train_x, train_y = torch.cat([train_x, styled_x]), torch.cat([train_y, styled_y])
        print(f"European forms: {len(styled_x)} MNIST 1s redrawn with a flag and 7s with a bar added to training")
    classes = DIGITS + (("none",) if args.not_a_digit else ())
    if args.not_a_digit:  # cut from rows of the training split's digits, like the forms above
        drawing = time.perf_counter()
        cut_x, cut_y = map(torch.from_numpy, reader_pieces(train_x.numpy(), train_y.numpy(), args.not_a_digit,
                                                           args.seed, workers=os.cpu_count() or 1))
        train_x, train_y = torch.cat([train_x, cut_x]), torch.cat([train_y, cut_y.to(train_y.dtype)])
        nones = int((cut_y == NONE).sum())
        print(f"Not a digit: {nones} pieces that cutting drawn rows of MNIST digits makes, added as class none, "
              f"and the {len(cut_y) - nones} whole digits cut beside them ({time.perf_counter() - drawing:.1f} s)")
    cache_dir = default_cache_dir()  # where drawn training material is kept between runs
    if args.printed_digits:  # training only: validation and test stay pure MNIST
        drawing = time.perf_counter()
        printed_x, printed_y = map(torch.from_numpy, printed_digits(
            args.printed_digits, args.seed, workers=os.cpu_count() or 1, cache_dir=cache_dir,
            whole_windows=args.whole_windows))
        train_x, train_y = torch.cat([train_x, printed_x]), torch.cat([train_y, printed_y])
        scenes = len(PRINTED_FONTS) * 10 * (1 + METER_SCENES_PER_GLYPH) * args.printed_digits
        whole = f", {len(printed_x) - scenes} windows read whole too" if args.whole_windows else ""
        print(f"Printed digits: {len(printed_x)} ({len(PRINTED_FONTS)} fonts x 10 digits x {args.printed_digits} "
              f"glyphs and {METER_SCENES_PER_GLYPH * args.printed_digits} meter scenes{whole}) added to training "
              f"({time.perf_counter() - drawing:.1f} s; kept in {cache_dir} for the next run)")
    # training's digits so far (MNIST's split, the forms, the printed digits; no pieces of class none) drawn
    # on pages and canvases and found again by the preprocessing
    drawings = [(heading, count, kinds, what) for heading, count, kinds, what in (
        ("Photo pages", args.photo_pages, tuple(PAGE_SHARES), "on squared and ruled paper and to a canvas's edge"),
        ("Canvas drawings", args.canvas_drawings, ("edge",), "to run off a canvas's edge")) if count]
    if drawings:
        whole_digits = train_y < len(DIGITS)
        drawn_from = train_x[whole_digits].numpy(), train_y[whole_digits].numpy()
    for heading, count, kinds, what in drawings:
        drawing = time.perf_counter()
        drawn_x, drawn_y = map(torch.from_numpy, training_pages(*drawn_from, count, args.seed, os.cpu_count() or 1,
                                                                  cache_dir, kinds=kinds))
        train_x, train_y = torch.cat([train_x, drawn_x]), torch.cat([train_y, drawn_y.to(train_y.dtype)])
        print(f"{heading}: {len(drawn_x)} of {count} digits drawn {what}, as the preprocessing found them, added "
              f"to training ({time.perf_counter() - drawing:.1f} s; kept in {cache_dir} for the next run)")
    train_x, train_y, val_x, val_y = (t.to(device) for t in (train_x, train_y, val_x, val_y))

    model = LeNet5(activation=args.activation, pooling=args.pooling, batch_norm=args.batch_norm,
                   dropout=args.dropout, num_classes=len(classes)).to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay,
                                  fused=device.type in ("cpu", "cuda"))  # one kernel for all parameters
    steps_per_epoch = math.ceil(len(train_x) / args.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, epochs=args.epochs,
                                                    steps_per_epoch=steps_per_epoch, pct_start=0.25)
    history = {k: [] for k in EPOCH_FIELDS}  # the per-epoch figures a run keeps
    average = weight_average(model, args.ema) if args.ema else None
    kept = average.module if average is not None else model  # the weights validated, kept and tested
    best_val, best_epoch, first_epoch = -1.0, 0, 1
    if resume is not None:
        model.load_state_dict(resume.model_state)
        if average is not None:
            average.load_state_dict(resume.extra["average"])
        optimizer.load_state_dict(resume.extra["optimizer"])
        scheduler.load_state_dict(resume.extra["scheduler"])
        history = resume.extra["history"]
        best_val, best_epoch = resume.meta["best_val_accuracy"], resume.meta["best_epoch"]
        first_epoch = resume.meta["epoch"] + 1
        print(f"Resuming {args.resume} after epoch {resume.meta['epoch']} (best so far: epoch {best_epoch}, "
              f"{best_val:.2%})")
    variant = describe_variant(model, args)
    print(f"LeNet-5 ({variant}), {count_parameters(model):,} parameters; {'bf16' if args.bf16 else 'fp32'}; "
          f"AdamW, one-cycle lr up to {args.lr:g}, "
          f"batch {args.batch_size}, {args.epochs} epochs, augmentation {'on' if args.augment else 'off'}"
          + (f", weights averaged (decay {args.ema:g})" if args.ema else ""))

    run_args = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    meta = {"mean": stats["mean"], "std": stats["std"], "input_size": 32, "seed": args.seed, "args": run_args,
            "architecture": model.options, "variant": variant,
            **({"classes": list(classes)} if args.not_a_digit else {})}
    last_path = last_checkpoint_path(args.output)
    plots = [args.plot, run_dir / PLOT_NAME]
    log = RunLog(run_dir, {"name": args.run_name, "variant": variant, "parameters": count_parameters(model),
                           "architecture": model.options, "device": str(device), "settings": run_args},
                 history if resume is not None else None)
    print(f"Run: {run_dir} (history.json, TensorBoard: tensorboard --logdir {args.runs_dir})")
    interrupted = False
    try:
        with StopFlag() as stop:
            for epoch in range(first_epoch, args.epochs + 1):
                epoch_start = time.perf_counter()
                train_stats = train_one_epoch(model, train_x, train_y, optimizer, scheduler, args, stats, epoch,
                                              device, stop, average)
                if train_stats is None:
                    interrupted = True
                    break
                val_stats, _ = evaluate(kept, val_x, val_y, stats)
                record = {"train_loss": train_stats.loss, "train_acc": train_stats.accuracy,
                          "val_loss": val_stats.loss, "val_acc": val_stats.accuracy,
                          "lr": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - epoch_start}
                for key, value in record.items():
                    history[key].append(value)
                improved = val_stats.accuracy > best_val
                if improved:
                    best_val, best_epoch = val_stats.accuracy, epoch
                    save_checkpoint(args.output, kept.state_dict(),
                                    {**meta, "epoch": epoch, "val_accuracy": best_val})
                save_checkpoint(last_path, model.state_dict(),
                                {**meta, "epoch": epoch, "val_accuracy": val_stats.accuracy,
                                 "best_val_accuracy": best_val, "best_epoch": best_epoch},
                                extra={"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                                       "history": history,
                                       **({"average": average.state_dict()} if average is not None else {})})
                log.add_epoch(epoch, record)
                print(f"epoch {epoch:2d}/{args.epochs}  train loss {train_stats.loss:.4f} "
                      f"acc {train_stats.accuracy:.2%}  val loss {val_stats.loss:.4f} acc {val_stats.accuracy:.2%}  "
                      f"lr {record['lr']:.2e}  {record['seconds']:5.1f}s" + ("  * saved best" if improved else ""),
                      flush=True)
                if stop.requested:
                    interrupted = True
                    break
    except BaseException:
        log.finish("stopped")
        raise

    if best_epoch == 0:
        log.finish("stopped")
        print("Stopped before the first epoch finished: nothing was saved.", file=sys.stderr)
        return EXIT_INTERRUPTED
    if interrupted:
        log.finish("stopped")
        plot_history(history, plots, f"LeNet-5 on MNIST: stopped after epoch {len(history['val_acc'])}, "
                                     f"best validation {best_val:.2%}", args.label_smoothing)
        copy_file(args.output, run_dir / WEIGHTS_NAME)
        print(f"Interrupted. Best weights (epoch {best_epoch}, validation {best_val:.2%}) are in {args.output}; "
              f"continue with: python train.py --resume {last_path}", file=sys.stderr)
        return EXIT_INTERRUPTED

    best = load_checkpoint(args.output)
    model.load_state_dict(best.model_state)
    test_labels = test_labels.to(device)
    test_stats, predictions = evaluate(model, test_images.to(device), test_labels, stats)
    save_checkpoint(args.output, best.model_state, {**best.meta, "test_accuracy": test_stats.accuracy})
    copy_file(args.output, run_dir / WEIGHTS_NAME)
    log.finish("finished", test_stats.accuracy)
    plot_history(history, plots, f"LeNet-5 on MNIST: test accuracy {test_stats.accuracy:.2%} "
                                 f"(best validation epoch {best_epoch})", args.label_smoothing)
    per_class = ", ".join(f"{d}: {(predictions[test_labels == d] == d).float().mean().item():.2%}" for d in range(10))
    print(f"Test accuracy (best epoch {best_epoch}): {test_stats.accuracy:.2%} "
          f"({int(round(test_stats.accuracy * len(test_labels)))}/{len(test_labels)})")
    print(f"Per class: {per_class}")
    print(f"Saved {args.output}, {args.plot} and {run_dir}/ in {time.perf_counter() - started:.1f}s")
    return 0


def copy_file(source: Path, target: Path) -> None:
    data = Path(source).read_bytes()
    atomic_write(target, lambda tmp: tmp.write_bytes(data))


if __name__ == "__main__":
    sys.exit(main())
