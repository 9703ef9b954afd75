"""Look inside a trained LeNet-5: what it sees, what its layers compute, why it decides.

    python explain.py photo.jpg scans/          # one picture per image in explanations/
    python explain.py --filters                 # the learned filters of both convolutions
    python explain.py --mnist-test              # error analysis over the 10,000 test digits

Images are read exactly as inference.py reads them (preprocess.find_digit, and of its
readings the one inference.py goes by). Attributions are Captum's: Integrated Gradients from
a black image, for the predicted digit and for the runner-up, so "why 7 and not 1" shows side
by side, and occlusion as a check that needs no gradients at all.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

import numpy as np
import torch

from artifacts import DEFAULT_CHECKPOINT, DIGITS, atomic_write, class_value, reads_the_digits
from model import (
    CheckpointError,
    DataUnavailableError,
    DigitsToProbabilities,
    LeNet5,
    default_data_dir,
    load_mnist,
    load_model,
    to_model_input,
)
from batch import examine
from preprocess import Digit

DEFAULT_OUTPUT = Path("explanations")
IG_STEPS = 64


# --------------------------------------------------------------------------- what the network computes


def feature_maps(model: LeNet5, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The activations after each convolution (its ReLU, found by type, not by place):
    (N, 6, 32, 32) and (N, 16, 12, 12)."""
    maps = []
    activations = [m for m in model.features if isinstance(m, (torch.nn.ReLU, torch.nn.Tanh))][:2]
    hooks = [layer.register_forward_hook(lambda m, inp, out: maps.append(out.detach().clone()))
             for layer in activations]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return maps[0], maps[1]


def penultimate(model: LeNet5, x: torch.Tensor) -> torch.Tensor:
    """The 84 features the last layer reads, (N, 84)."""
    with torch.no_grad():
        return model.classifier[:-1](model.features(x))


def attributions(model: LeNet5, x: torch.Tensor, targets: list[int]) -> dict[str, object]:
    """Integrated Gradients from a black baseline (the input's zero ink, normalised), with
    Captum's convergence delta, for each target digit; occlusion with a 4x4 patch for the
    first. Each is one batched pass over its steps or patches."""
    from captum.attr import IntegratedGradients, Occlusion

    baseline = torch.full_like(x, float(x.min()))  # the 2-pixel border is background: no ink
    ig = IntegratedGradients(model)
    occlusion = Occlusion(model)
    result = {"ig": [], "delta": []}
    for target in targets:
        attr, delta = ig.attribute(x, baselines=baseline, target=target, n_steps=IG_STEPS,
                                   return_convergence_delta=True)
        result["ig"].append(attr[0, 0].detach())
        result["delta"].append(float(delta.abs().max()))
    occluded = occlusion.attribute(x, target=targets[0], sliding_window_shapes=(1, 4, 4), strides=(1, 2, 2),
                                   baselines=baseline, perturbations_per_eval=256)
    result["occlusion"] = occluded[0, 0].detach()
    return result


# --------------------------------------------------------------------------- pictures


def _figure(width: float, height: float, layout: str | None = "constrained"):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path, dpi: int = 90) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    atomic_write(path, lambda tmp: tmp.write_bytes(buffer.getvalue()))


def mosaic(maps: torch.Tensor, columns: int, gap: int = 2) -> np.ndarray:
    """(C, H, W) as one picture, each map scaled to its own range, with NaN gaps between."""
    count, h, w = maps.shape
    rows = -(-count // columns)
    out = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap), np.nan)
    for i, m in enumerate(maps.cpu().numpy()):
        span = float(m.max() - m.min()) or 1.0
        r, c = divmod(i, columns)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = (m - m.min()) / span
    return out


def _signed(ax, values: torch.Tensor, title: str) -> None:
    limit = float(values.abs().max()) or 1.0
    ax.imshow(values.cpu().numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_title(title, fontsize=8, y=1.0)  # a fixed place: working it out per axes costs a tenth of a second
    ax.axis("off")


def read_as_inference_does(model: LeNet5, mean: float, std: float, digit: Digit) -> tuple[Digit, np.ndarray]:
    """The reading of an image (``Digit.readings``) that inference.py goes by, and the class
    probabilities it goes by for it: for a reading the network is unsure of, the mean over
    the digit nudged a pixel each way, which can differ from the reading as framed."""
    from inference import placed_probabilities, surest_reading

    network = DigitsToProbabilities(model, mean, std)

    def probabilities(images: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return network(torch.from_numpy(images)).numpy()

    found = placed_probabilities(probabilities, np.stack([reading.image for reading in digit.readings]))
    best = surest_reading(found)
    return digit.readings[best], found[best]


def explain_image(model: LeNet5, mean: float, std: float, source: str, preview: np.ndarray, digit: np.ndarray,
                  path: Path, probabilities: np.ndarray | None = None, classes: tuple[str, ...] = DIGITS) -> dict:
    """One picture of how the network read one image; returns the figures drawn in it.

    ``probabilities`` are the ones the prediction goes by (``read_as_inference_does``), so
    the picture names the digit inference.py names; without them, the network's for the
    digit as framed. The attributions are for the digit as framed, the one picture shown."""
    x = to_model_input(torch.from_numpy(digit)[None], mean, std)
    with torch.no_grad():
        framed = torch.softmax(model(x), 1)[0].numpy()
    shown = framed if probabilities is None else np.asarray(probabilities, dtype=np.float32)
    averaged = not np.allclose(shown, framed, atol=1e-5)
    first, second = (int(i) for i in np.argsort(-shown, kind="stable")[:2])
    maps1, maps2 = feature_maps(model, x)
    found = attributions(model, x, [first, second])
    name, runner_up = classes[first], classes[second]

    fig = _figure(13, 5.4, layout=None)  # a fixed grid: laying out a hundred pictures costs seconds
    grid = fig.add_gridspec(2, 5, left=0.01, right=0.99, top=0.86, bottom=0.04, wspace=0.08, hspace=0.3)
    ax = fig.add_subplot(grid[0, 0])
    ax.imshow(preview)
    ax.set_title(f"{Path(source).name[:28]}\nthe box read as the digit", fontsize=8, y=1.0)
    ax.axis("off")
    ax = fig.add_subplot(grid[1, 0])
    ax.imshow(x[0, 0].numpy(), cmap="gray")
    ax.set_title("what the network reads (32x32)", fontsize=8, y=1.0)
    ax.axis("off")
    ax = fig.add_subplot(grid[0, 1])
    ax.imshow(mosaic(maps1[0], 3), cmap="magma")
    ax.set_title("conv1: 6 feature maps", fontsize=8, y=1.0)
    ax.axis("off")
    ax = fig.add_subplot(grid[1, 1])
    ax.imshow(mosaic(maps2[0], 4), cmap="magma")
    ax.set_title("conv2: 16 feature maps", fontsize=8, y=1.0)
    ax.axis("off")
    _signed(fig.add_subplot(grid[0, 2]), found["ig"][0], f"Integrated Gradients for {name}\n(red: evidence for)")
    _signed(fig.add_subplot(grid[1, 2]), found["ig"][1], f"Integrated Gradients for {runner_up}\n(the runner-up)")
    _signed(fig.add_subplot(grid[0, 3]), found["occlusion"], f"occlusion for {name}\n(4x4 patch blacked out)")
    _signed(fig.add_subplot(grid[1, 3]), found["ig"][0] - found["ig"][1],
            f"why {name} and not {runner_up}\n(difference)")
    ax = fig.add_subplot(grid[:, 4])
    colours = ["tab:red" if d == first else "tab:orange" if d == second else "tab:gray" for d in range(len(classes))]
    ax.barh(range(len(classes)), shown, color=colours)
    ax.set(yticks=range(len(classes)), yticklabels=classes, xlim=(0, 1))
    ax.set_title("probabilities" + ("\n(mean over one-pixel nudges)" if averaged else ""), y=1.0)
    ax.invert_yaxis()
    note = "; unsure as framed, so read as inference.py does: the mean over the digit nudged a pixel each way" \
        if averaged else ""
    fig.suptitle(f"predicted {name} ({shown[first]:.0%}), runner-up {runner_up} ({shown[second]:.0%}){note}")
    _save(fig, path)
    return {"prediction": class_value(name), "runner_up": class_value(runner_up), "ig_delta": max(found["delta"]),
            "averaged": averaged}


def draw_filters(model: LeNet5, path: Path) -> None:
    """The 6 5x5 filters of conv1 and the 16x6 5x5 filters of conv2, red positive, blue negative."""
    first, second = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    conv1 = first.weight.detach()[:, 0]  # (6, 5, 5)
    conv2 = second.weight.detach()  # (16, 6, 5, 5)
    fig = _figure(11, 6.5)
    left, right = fig.subfigures(1, 2, width_ratios=[1, 3])
    axes = left.subplots(6, 1)
    for i, ax in enumerate(axes):
        _signed(ax, conv1[i], f"conv1 filter {i}")
    left.suptitle("conv1: 6 filters on the input", fontsize=10)
    axes = right.subplots(6, 16)
    for out in range(16):
        for inp in range(6):
            _signed(axes[inp, out], conv2[out, inp], "" if inp else f"{out}")
    right.suptitle("conv2: 16 filters (columns) x 6 input maps (rows)", fontsize=10)
    _save(fig, path, dpi=100)


def mnist_errors(model: LeNet5, mean: float, std: float, images: torch.Tensor, labels: torch.Tensor,
                 path: Path, gallery: int = 12, classes: tuple[str, ...] = DIGITS) -> dict:
    """Per-digit accuracy, the most confused pairs, the most confident mistakes with their
    attributions, and a 2-D map (PCA) of the 84 penultimate features, mistakes marked. A
    fine-tuned model's other classes (``classes``) count as mistakes where a digit reads so."""
    count = len(classes)
    labels = torch.tensor([classes.index(str(int(d))) for d in range(10)])[labels]  # digits as class indices
    x = to_model_input(images, mean, std)
    with torch.no_grad():
        probabilities = torch.cat([torch.softmax(model(x[i:i + 2000]), 1) for i in range(0, len(x), 2000)])
    predictions = probabilities.argmax(1)
    wrong = torch.nonzero(predictions != labels).flatten()
    confidence = probabilities[wrong, predictions[wrong]]
    worst = wrong[confidence.argsort(descending=True)][:gallery].tolist()
    confusion = torch.zeros(count, count, dtype=torch.long)
    confusion.index_put_((labels, predictions), torch.ones_like(labels), accumulate=True)
    digit_rows = [classes.index(d) for d in DIGITS]
    per_class = (confusion.diag().float() / confusion.sum(1).float().clamp(min=1))[digit_rows].tolist()
    off = confusion.clone()
    off.fill_diagonal_(0)
    pairs = [(classes[int(i // count)], classes[int(i % count)], int(off.flatten()[i]))
             for i in off.flatten().argsort(descending=True)[:6]]
    features = torch.cat([penultimate(model, x[i:i + 2000]) for i in range(0, len(x), 2000)])
    centred = features - features.mean(0)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)
    plane = (centred @ v[:2].T).numpy()

    fig = _figure(16, 9)
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.1, 1])
    axes = top.subplots(2, gallery)
    for column, index in enumerate(worst):
        found = attributions(model, x[index:index + 1], [int(predictions[index])])
        axes[0, column].imshow(images[index].numpy(), cmap="gray")
        axes[0, column].set_title(f"true {classes[int(labels[index])]}, read {classes[int(predictions[index])]}\n"
                                  f"{float(probabilities[index].max()):.0%}", fontsize=8, color="red")
        axes[0, column].axis("off")
        _signed(axes[1, column], found["ig"][0], f"IG for {classes[int(predictions[index])]}")
    for ax in axes[:, len(worst):].ravel():
        ax.axis("off")
    top.suptitle(f"The {len(worst)} most confident of {len(wrong)} mistakes, with the evidence for the wrong digit")
    ax_map, ax_class, ax_pairs = bottom.subplots(1, 3, width_ratios=[2, 1, 1])
    scatter = ax_map.scatter(plane[:, 0], plane[:, 1], c=labels.numpy(), cmap="tab10", s=2, alpha=0.5)
    ax_map.scatter(plane[wrong, 0], plane[wrong, 1], facecolors="none", edgecolors="black", s=30, linewidths=0.8,
                   label="mistakes")
    ax_map.legend(*scatter.legend_elements(), loc="upper right", fontsize=7, ncol=2, title="digit")
    ax_map.set_title("the 84 features before the last layer, PCA to 2-D", fontsize=9)
    ax_class.bar(range(len(DIGITS)), [100 * a for a in per_class], color="tab:blue")
    ax_class.set(xticks=range(len(DIGITS)), ylim=(min(100 * min(per_class) - 0.5, 99), 100),
                 title="accuracy per digit (%)")
    ax_pairs.barh(range(len(pairs)), [n for _, _, n in pairs], color="tab:red")
    ax_pairs.set(yticks=range(len(pairs)), yticklabels=[f"{t} read as {p}" for t, p, _ in pairs],
                 title="most confused pairs")
    ax_pairs.invert_yaxis()
    _save(fig, path)
    return {"accuracy": float((predictions == labels).float().mean()), "mistakes": len(wrong),
            "per_class": per_class, "pairs": pairs}


# --------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Show what a trained LeNet-5 sees and why it decides.")
    parser.add_argument("images", nargs="*", type=Path, help="image files or folders (recursive)")
    parser.add_argument("--model", type=Path, default=Path(DEFAULT_CHECKPOINT),
                        help=f"checkpoint to explain (default: {DEFAULT_CHECKPOINT})")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help=f"folder for the pictures (default: {DEFAULT_OUTPUT}/)")
    parser.add_argument("--filters", action="store_true", help="draw the learned filters of both convolutions")
    parser.add_argument("--mnist-test", action="store_true", help="error analysis over the 10,000 MNIST test images")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder holding MNIST/raw/, for --mnist-test (default: $MNIST_DATA_DIR, else ./data)")
    args = parser.parse_args(argv)
    if not (args.images or args.filters or args.mnist_test):
        parser.error("give image paths, --filters or --mnist-test")
    if args.output.exists() and not args.output.is_dir():
        parser.error(f"--output is the folder the pictures go in, and {args.output} is a file: name a folder")
    if args.data_dir is None:
        args.data_dir = default_data_dir()
    return args


def main(argv: list[str] | None = None) -> int:
    from inference import find_images

    args = parse_args(argv)
    if args.model.suffix.lower() == ".onnx":
        print(f"error: {args.model} is an ONNX file; explain.py needs gradients, so give it the PyTorch checkpoint "
              "it was exported from (--model lenet5_model.pth)", file=sys.stderr)
        return 2
    try:
        model, checkpoint = load_model(args.model)
    except CheckpointError as exc:
        print(f"error: {exc}. Train one first with: python train.py", file=sys.stderr)
        return 2
    torch.set_grad_enabled(True)
    problems = 0
    if args.filters:
        draw_filters(model, args.output / "filters.png")
        print(f"Filters: {args.output / 'filters.png'}")
    if args.mnist_test and not reads_the_digits(checkpoint.classes):
        print(f"error: --mnist-test needs a model that reads the ten digits; {args.model} reads "
              f"{', '.join(checkpoint.classes)}", file=sys.stderr)
        return 2
    if args.mnist_test:
        try:
            images, labels = load_mnist(args.data_dir, train=False)
        except DataUnavailableError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        summary = mnist_errors(model, checkpoint.mean, checkpoint.std, images, labels, args.output / "mnist_errors.png",
                               classes=checkpoint.classes)
        pairs = ", ".join(f"{t} as {p} ({n})" for t, p, n in summary["pairs"][:3])
        print(f"MNIST test: {summary['accuracy']:.2%}, {summary['mistakes']} mistakes; most confused: {pairs}. "
              f"Picture: {args.output / 'mnist_errors.png'}")
    if args.images:
        files, missing = find_images(args.images)
        for problem in missing:
            print(f"error: {problem}", file=sys.stderr)
        problems += len(missing)
        for file in files:
            digit, _, error = examine(file, preview=True, whole=checkpoint.whole_image)
            if digit is None:
                print(f"{file}: {error}", file=sys.stderr)
                problems += 1
                continue
            digit, read = read_as_inference_does(model, checkpoint.mean, checkpoint.std, digit)
            out = args.output / f"{file.stem}_explained.png"
            found = explain_image(model, checkpoint.mean, checkpoint.std, str(file), digit.preview, digit.image, out,
                                  read, checkpoint.classes)
            print(f"{file}: predicted {found['prediction']}, runner-up {found['runner_up']} -> {out}")
    return 1 if problems else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # every picture is written whole or not at all
        print("\nInterrupted.", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
