"""Make a trained LeNet-5 ready to deploy: ONNX, int8 ONNX, or a pruned checkpoint.

    python export.py                       # lenet5_model.onnx and lenet5_model.int8.onnx
    python export.py --prune 0.5           # half the weights pruned, fine-tuned: lenet5_model_pruned50.pth
    python inference.py --model lenet5_model.onnx photo.jpg     # the same tool, without torch

The ONNX graph takes uint8 MNIST-like digits (N, 28, 28) and gives probabilities (N, 10): the
input step (border, scaling, normalisation) and the softmax are inside it, so ONNX Runtime,
or any other runtime, needs nothing else (onnx_classifier.py). Every file is checked against
PyTorch on the 10,000 MNIST test images before it is kept.

int8 is static post-training quantisation by ONNX Runtime's own tools, calibrated on training
images. Pruning is global magnitude pruning (torch.nn.utils.prune) of every weight tensor,
then a short fine-tune with the pruned weights held at zero, then made permanent: the result
is a normal checkpoint every script reads.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from artifacts import DEFAULT_CHECKPOINT, DIGITS, atomic_write, reads_the_digits
from model import (
    CheckpointError,
    DataUnavailableError,
    DigitsToProbabilities,
    count_parameters,
    default_data_dir,
    load_mnist,
    load_model,
    save_checkpoint,
)
from onnx_classifier import INPUT_NAME, OUTPUT_NAME, OnnxClassifier

CALIBRATION_IMAGES = 1000
PARITY_TOLERANCE = 1e-5  # the largest difference in any probability an fp32 export may show


# --------------------------------------------------------------------------- ONNX


def export_onnx(model: nn.Module, mean: float, std: float, path: Path, metadata: dict[str, str]) -> None:
    """fp32 ONNX with a dynamic batch dimension, written whole or not at all."""
    import onnx

    wrapper = DigitsToProbabilities(model.cpu(), mean, std).eval()
    example = torch.zeros(2, 28, 28, dtype=torch.uint8)

    def write(tmp: Path) -> None:
        program = torch.onnx.export(wrapper, (example,), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                    dynamic_shapes={"digits": {0: torch.export.Dim("batch")}}, dynamo=True,
                                    external_data=False, verbose=False)
        proto = program.model_proto
        onnx.helper.set_model_props(proto, metadata)
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))

    atomic_write(path, write)


class CalibrationImages:
    """ONNX Runtime's calibration reader over uint8 digits, a batch at a time."""

    def __init__(self, digits: np.ndarray, batch_size: int = 100) -> None:
        self.batches = iter([digits[i:i + batch_size] for i in range(0, len(digits), batch_size)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self.batches, None)
        return None if batch is None else {INPUT_NAME: batch}


def quantize_int8(fp32_path: Path, path: Path, calibration: np.ndarray, quant_format: str = "qoperator",
                  layers: str = "fc", per_channel: bool = False) -> None:
    """Static int8 by ONNX Runtime's tools: weights int8, activations uint8 with ranges from
    the calibration images. ``layers="fc"`` quantises the fully connected layers only, 97% of
    the weights; the convolutions stay fp32, since int8 ones run slower on a CPU at 1 and 6
    input channels (README: the measured trials)."""
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    formats = {"qdq": QuantFormat.QDQ, "qoperator": QuantFormat.QOperator}
    with tempfile.TemporaryDirectory() as scratch, contextlib.redirect_stdout(io.StringIO()), _quiet_logging():
        prepared = Path(scratch) / "prepared.onnx"  # shape inference and folding first, as ONNX Runtime advises
        quant_pre_process(str(fp32_path), str(prepared))
        atomic_write(path, lambda tmp: quantize_static(
            str(prepared), str(tmp), CalibrationImages(calibration), quant_format=formats[quant_format],
            op_types_to_quantize=["Gemm"] if layers == "fc" else None, per_channel=per_channel,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax))


@contextlib.contextmanager
def _quiet_logging():
    """ONNX Runtime's quantiser logs on the root logger, graph dumps included, about inputs it
    rightly leaves alone (the uint8 digits); our own lines say what was done."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def calibration_sample(images: torch.Tensor, seed: int, count: int = CALIBRATION_IMAGES) -> np.ndarray:
    """A seeded random sample of training digits: what the int8 activation ranges are fitted to."""
    pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:count]
    return images[pick].numpy()


def torch_probabilities(model: nn.Module, mean: float, std: float, images: torch.Tensor) -> np.ndarray:
    """What PyTorch gives for ``images``: the reference every exported file is checked against."""
    with torch.inference_mode():
        network = DigitsToProbabilities(model, mean, std).eval()
        return torch.cat([network(images[i:i + 2000]) for i in range(0, len(images), 2000)]).numpy()


def check_parity(onnx_path: Path, images: torch.Tensor, labels: torch.Tensor, reference: np.ndarray) -> dict[str, float]:
    """The ONNX file against PyTorch's ``reference`` probabilities on the same digits: the
    largest difference, the predictions that differ, and the file's accuracy."""
    classifier = OnnxClassifier(onnx_path)
    got = classifier.probabilities(images.numpy())
    return {"max_difference": float(np.abs(got - reference).max()),
            "differing_predictions": int((got.argmax(1) != reference.argmax(1)).sum()),
            "accuracy": digit_accuracy(got, labels, classifier.classes)}


def digit_accuracy(probabilities: np.ndarray, labels: torch.Tensor, classes: tuple[str, ...]) -> float | None:
    """The share of MNIST digits read as their own class; None for a model that lacks some
    of the ten digits among its classes (finetune.py's letters, say)."""
    if not reads_the_digits(classes):
        return None
    names = np.asarray(classes)[probabilities.argmax(1)]
    return float((names == labels.numpy().astype(str)).mean())


# --------------------------------------------------------------------------- pruning


def prune_and_fine_tune(model: nn.Module, checkpoint, amount: float, epochs: int, data_dir: Path,
                        seed: int) -> tuple[nn.Module, dict]:
    """Global magnitude pruning of all conv and linear weights, a short fine-tune with the
    masks in place (so pruned weights stay zero), then the masks made permanent."""
    import torch.nn.utils.prune as prune

    import train
    from printed_digits import default_cache_dir, printed_digits

    saved = {"seed": 1, "val_size": 5000, "batch_size": 256, "augment": True, "printed_digits": 0,
             "label_smoothing": 0.1, **(checkpoint.meta.get("args") or {})}
    images, labels = load_mnist(data_dir, train=True)
    (train_x, train_y), (val_x, val_y) = train.split_train_val(images, labels, saved["val_size"], saved["seed"])
    if saved["printed_digits"]:  # the training mix the model was made with
        printed_x, printed_y = map(torch.from_numpy, printed_digits(saved["printed_digits"], saved["seed"],
                                                                  workers=os.cpu_count() or 1,
                                                                  cache_dir=default_cache_dir()))
        train_x, train_y = torch.cat([train_x, printed_x]), torch.cat([train_y, printed_y])
    stats = {"mean": checkpoint.mean, "std": checkpoint.std}

    weights = [(m, "weight") for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    prune.global_unstructured(weights, pruning_method=prune.L1Unstructured, amount=amount)
    before, _ = train.evaluate(model, val_x, val_y, stats)
    args = argparse.Namespace(seed=seed, batch_size=saved["batch_size"], epochs=epochs, augment=saved["augment"],
                              bf16=False, label_smoothing=saved["label_smoothing"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=6e-4, weight_decay=0.0)
    steps = math.ceil(len(train_x) / args.batch_size)
    # from trained weights no warm-up is needed: a cosine decay from a tenth of training's peak
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps * epochs)
    with train.StopFlag() as stop:
        for epoch in range(1, epochs + 1):
            if train.train_one_epoch(model, train_x, train_y, optimizer, scheduler, args, stats, epoch,
                                     torch.device("cpu"), stop) is None:
                raise KeyboardInterrupt
    after, _ = train.evaluate(model, val_x, val_y, stats)
    for module, name in weights:
        prune.remove(module, name)
    total = sum(m.weight.numel() for m, _ in weights)
    zeros = sum(int((m.weight == 0).sum()) for m, _ in weights)
    return model.eval(), {"amount": amount, "sparsity": zeros / total, "fine_tune_epochs": epochs,
                          "val_accuracy_pruned": before.accuracy, "val_accuracy": after.accuracy}


# --------------------------------------------------------------------------- command line


def fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (a share of the weights), got {text}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Export a trained LeNet-5 to ONNX (fp32 and int8), or prune it.")
    parser.add_argument("--model", type=Path, default=Path(DEFAULT_CHECKPOINT),
                        help=f"checkpoint to export (default: {DEFAULT_CHECKPOINT})")
    parser.add_argument("--output", type=Path, default=None,
                        help="the fp32 ONNX file (default: the checkpoint's name with .onnx); the int8 file "
                             "goes beside it as NAME.int8.onnx")
    parser.add_argument("--no-int8", dest="int8", action="store_false", help="write the fp32 ONNX file only")
    parser.add_argument("--int8-format", choices=["qoperator", "qdq"], default="qoperator",
                        help="how int8 is written: QOperator (integer ops) or QDQ (quantise/dequantise pairs "
                             "around float ops, the form other runtimes read) (default: qoperator)")
    parser.add_argument("--int8-layers", choices=["fc", "all"], default="fc",
                        help="quantise the fully connected layers only (97%% of the weights; faster here) or "
                             "the convolutions too (default: fc)")
    parser.add_argument("--prune", type=fraction, default=None, metavar="AMOUNT",
                        help="instead of exporting: prune this share of the weights (by magnitude, over "
                             "all layers), fine-tune, and save a checkpoint (e.g. 0.5)")
    parser.add_argument("--fine-tune-epochs", type=int, default=2, help="epochs of fine-tuning after pruning (default: 2)")
    parser.add_argument("--pruned-output", type=Path, default=None,
                        help="the pruned checkpoint (default: NAME_pruned<percent>.pth beside --model)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the calibration sample and fine-tune (default: 1)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder holding MNIST/raw/, for checking, calibration and fine-tuning "
                             "(default: $MNIST_DATA_DIR, else ./data)")
    args = parser.parse_args(argv)
    if args.fine_tune_epochs < 1:
        parser.error(f"--fine-tune-epochs must be 1 or more, got {args.fine_tune_epochs}")
    if args.data_dir is None:
        args.data_dir = default_data_dir()
    if args.output is None:
        args.output = args.model.with_suffix(".onnx")
    if args.output.suffix != ".onnx":
        parser.error(f"--output must end in .onnx, got {args.output}")
    if args.pruned_output is None and args.prune is not None:
        args.pruned_output = args.model.with_name(f"{args.model.stem}_pruned{round(100 * args.prune)}.pth")
    written = args.pruned_output if args.prune is not None else args.output
    if written.is_dir() or any(folder.is_file() for folder in written.parents):
        parser.error(f"cannot write {written}: it is a folder, or a file stands where its folder would be")
    return args


def int8_path(fp32_path: Path) -> Path:
    return fp32_path.with_name(f"{fp32_path.stem}.int8.onnx")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        model, checkpoint = load_model(args.model)
    except CheckpointError as exc:
        print(f"error: {exc}. Train one first with: python train.py", file=sys.stderr)
        return 2
    torch.manual_seed(args.seed)
    try:
        test_images, test_labels = load_mnist(args.data_dir, train=False)
        if args.prune is not None:
            return prune_command(args, model, checkpoint, test_images, test_labels)
        return export_command(args, model, checkpoint, test_images, test_labels)
    except DataUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # every file is written whole or not at all
        print("\nInterrupted.", file=sys.stderr)
        return 130


def export_command(args, model, checkpoint, test_images, test_labels) -> int:
    metadata = {"producer": "LeNet-5 toolkit export.py", "source": str(args.model),
                "input": "uint8 (N, 28, 28) MNIST-like digits, white on black (preprocess.mnist_like)",
                "output": f"float32 (N, {len(checkpoint.classes)}) probabilities of the classes "
                          f"{', '.join(checkpoint.classes)}",
                "classes": json.dumps(list(checkpoint.classes)),
                "whole_image": "true" if checkpoint.whole_image else "false",
                "mean": repr(checkpoint.mean), "std": repr(checkpoint.std),
                "architecture": json.dumps(model.options), "parameters": str(count_parameters(model))}
    export_onnx(model, checkpoint.mean, checkpoint.std, args.output, metadata)
    reference = torch_probabilities(model, checkpoint.mean, checkpoint.std, test_images)
    parity = check_parity(args.output, test_images, test_labels, reference)
    accuracy = "" if parity["accuracy"] is None else f"; accuracy {parity['accuracy']:.2%}"
    print(f"Wrote {args.output} ({args.output.stat().st_size / 1024:.0f} KiB): on the {len(test_labels):,} MNIST "
          f"test images its largest difference from PyTorch in any probability is {parity['max_difference']:.1e}, "
          f"{parity['differing_predictions']} predictions differ{accuracy}")
    if parity["max_difference"] > PARITY_TOLERANCE or parity["differing_predictions"]:
        args.output.unlink()
        print(f"error: the ONNX file does not match PyTorch within {PARITY_TOLERANCE:g}; it was removed",
              file=sys.stderr)
        return 1
    if not args.int8:
        return 0
    images, _ = load_mnist(args.data_dir, train=True)
    target = int8_path(args.output)
    quantize_int8(args.output, target, calibration_sample(images, args.seed), args.int8_format, args.int8_layers)
    quantized = check_parity(target, test_images, test_labels, reference)
    ratio = args.output.stat().st_size / target.stat().st_size
    accuracy = "" if parity["accuracy"] is None else \
        f"accuracy {quantized['accuracy']:.2%} ({100 * (quantized['accuracy'] - parity['accuracy']):+.2f} points), "
    print(f"Wrote {target} ({target.stat().st_size / 1024:.0f} KiB, {ratio:.1f}x smaller), int8 calibrated on "
          f"{CALIBRATION_IMAGES:,} training images: {accuracy}"
          f"{quantized['differing_predictions']} predictions differ from fp32")
    return 0


def prune_command(args, model, checkpoint, test_images, test_labels) -> int:
    if checkpoint.classes != DIGITS:
        print(f"error: --prune fine-tunes on MNIST's digits, and {args.model} reads the classes "
              f"{', '.join(checkpoint.classes)}; prune the model it was fine-tuned from instead", file=sys.stderr)
        return 2
    print(f"Pruning {args.prune:.0%} of the weights of {args.model} by magnitude, then {args.fine_tune_epochs} "
          "epoch(s) of fine-tuning")
    model, pruned = prune_and_fine_tune(model, checkpoint, args.prune, args.fine_tune_epochs, args.data_dir, args.seed)
    from train import evaluate

    test, _ = evaluate(model, test_images, test_labels, {"mean": checkpoint.mean, "std": checkpoint.std})
    meta = {**checkpoint.meta, "test_accuracy": test.accuracy, "pruned": {**pruned, "source": str(args.model)}}
    save_checkpoint(args.pruned_output, model.state_dict(), meta)
    before = checkpoint.meta.get("test_accuracy")
    change = f" ({100 * (test.accuracy - before):+.2f} points)" if isinstance(before, float) else ""
    print(f"Validation: {pruned['val_accuracy_pruned']:.2%} just after pruning, {pruned['val_accuracy']:.2%} after "
          f"fine-tuning. Test accuracy {test.accuracy:.2%}{change}; {pruned['sparsity']:.1%} of the weights are zero.")
    print(f"Saved {args.pruned_output}; export it with: python export.py --model {args.pruned_output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
