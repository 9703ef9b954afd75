"""LeNet-5, its initialisation, the checkpoint format, and the MNIST data it learns from.

The scripts talk to each other only through files: ``train.py`` writes a checkpoint that
``inference.py`` reads. This module holds what both sides of that file must agree on: the
network, the checkpoint format, the MNIST loader and the step from 28x28 digits to model
input. Images become digits in ``preprocess.py``; fonts are drawn in ``fonts.py``.
"""

from __future__ import annotations

import datetime as _dt
import gzip
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from artifacts import NUM_CLASSES, ModelFileError, atomic_write, class_names

INPUT_SIZE = 32  # LeNet-5 reads 32x32; MNIST digits are 28x28 and get a 2-pixel zero border
MNIST_SIZE = 28
# The classic MNIST pixel statistics; train.py measures its own and stores them in the
# checkpoint, and these stand in only for a bare state_dict that carries none.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
DEFAULT_DATA_DIR = "data"
DATA_DIR_ENV = "MNIST_DATA_DIR"
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


ACTIVATIONS = {"relu": lambda: nn.ReLU(inplace=True), "tanh": nn.Tanh}
POOLINGS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


class LeNet5(nn.Module):
    """LeNet-5. The defaults are the form most modern write-ups use (ReLU, max-pooling); the
    options are the changes a learner tries first. ``options`` holds them as plain values:
    they go into every checkpoint, so a checkpoint alone rebuilds the same network.

    Batch norm goes after each convolution, before its activation; dropout before the two
    hidden fully connected layers, as in AlexNet. Without either, the layer list (and so the
    checkpoint's keys) is exactly that of checkpoints made before these options existed.
    """

    def __init__(self, activation: str = "relu", pooling: str = "max", batch_norm: bool = False,
                 dropout: float = 0.0, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        if not isinstance(batch_norm, bool):
            raise ValueError(f"batch_norm must be true or false, got {batch_norm!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be a probability from 0 up to 1, got {dropout!r}")
        self.options = {"activation": activation, "pooling": pooling, "batch_norm": batch_norm,
                        "dropout": float(dropout)}
        act, pool = ACTIVATIONS[activation], POOLINGS[pooling]

        def conv_block(c_in: int, c_out: int, padding: int) -> list[nn.Module]:
            conv = nn.Conv2d(c_in, c_out, kernel_size=5, padding=padding, bias=not batch_norm)
            norm = [nn.BatchNorm2d(c_out)] if batch_norm else []  # its shift makes a conv bias redundant
            return [conv, *norm, act(), pool(2)]

        def hidden(n_in: int, n_out: int) -> list[nn.Module]:
            return [*([nn.Dropout(dropout)] if dropout else []), nn.Linear(n_in, n_out), act()]

        self.features = nn.Sequential(
            *conv_block(1, 6, padding=2),  # 1x32x32 -> 6x32x32 -> 6x16x16
            *conv_block(6, 16, padding=0),  # -> 16x12x12 -> 16x6x6
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),  # -> 576
            *hidden(16 * 6 * 6, 120),
            *hidden(120, 84),
            nn.Linear(84, num_classes),
        )
        init_weights(self, activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))

    def describe(self) -> str:
        """A short name for the variant, as run tables show it: 'relu/max', 'tanh/avg +BN'."""
        text = f"{self.options['activation']}/{self.options['pooling']}"
        if self.options["batch_norm"]:
            text += " +BN"
        if self.options["dropout"]:
            text += f" +dropout {self.options['dropout']:g}"
        return text


def init_weights(model: nn.Module, activation: str = "relu") -> None:
    """He init keeps ReLU activations from shrinking layer by layer (for tanh, its own gain
    in the same fan-in form); the output layer has no activation after it, so it gets
    Xavier. Biases start at zero."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    for layer in layers[:-1]:
        nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity=activation)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
    nn.init.xavier_uniform_(layers[-1].weight)
    nn.init.zeros_(layers[-1].bias)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def pixel_stats(images: torch.Tensor) -> tuple[float, float]:
    """Mean and std of uint8 images on the 0-1 scale, from a 256-bin histogram: exact, and
    without the float copy of the whole set (170 MB for MNIST) that ``images.float()`` makes."""
    counts = torch.bincount(images.reshape(-1).cpu(), minlength=256).double()
    values = torch.arange(256, dtype=torch.float64) / 255
    mean = (counts * values).sum() / counts.sum()
    var = (counts * (values - mean) ** 2).sum() / counts.sum()
    return mean.item(), var.sqrt().item()


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` takes CUDA, then Apple's MPS, then the CPU; a named device that is not there
    is a ValueError that says what to use instead."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if torch.backends.mps.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but PyTorch sees no CUDA GPU; use --device auto or cpu")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ValueError("--device mps was asked for, but MPS is not available here; use --device auto or cpu")
    return torch.device(name)


# --------------------------------------------------------------------------- input


def to_model_input(digits: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """The one step from MNIST-like digits to what LeNet-5 reads.

    ``digits`` is uint8 (N, 28, 28) or (N, 1, 28, 28), white ink on black, as MNIST stores
    them. The 2-pixel zero border makes 32x32 without resizing (resizing blurs the strokes).
    """
    if digits.dim() == 3:
        digits = digits.unsqueeze(1)
    x = digits.float().div_(255.0)
    x = F.pad(x, [(INPUT_SIZE - MNIST_SIZE) // 2] * 4)
    return x.sub_(mean).div_(std)


class DigitsToProbabilities(nn.Module):
    """A LeNet-5 with its input step and softmax: uint8 digits in, probabilities out. What
    every model file computes, end to end; export.py writes exactly this graph to ONNX."""

    def __init__(self, model: nn.Module, mean: float, std: float) -> None:
        super().__init__()
        self.model, self.mean, self.std = model, mean, std

    def forward(self, digits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(to_model_input(digits, self.mean, self.std)), dim=1)


# --------------------------------------------------------------------------- data


class DataUnavailableError(RuntimeError):
    """MNIST is neither in the data folder nor downloadable."""


def default_data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


def missing_data_message(data_dir: Path) -> str:
    raw = Path(data_dir) / "MNIST" / "raw"
    return (
        f"MNIST could not be downloaded and is not in {raw}/. Put the four files "
        f"{', '.join(MNIST_FILES)} (optionally .gz) there, or point --data-dir / "
        f"${DATA_DIR_ENV} at the folder that holds MNIST/raw/."
    )


def load_mnist(data_dir: Path, train: bool, download: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST as compact tensors: uint8 images (N, 28, 28) and int64 labels (N,).

    Files already in ``<data_dir>/MNIST/raw/`` (plain or .gz) are read straight from their
    IDX bytes; only when they are absent does torchvision come in, to download them (it is
    slow to import, and the step from the files to tensors needs none of it).
    """
    data_dir = Path(data_dir)
    raw = data_dir / "MNIST" / "raw"
    prefix = "train" if train else "t10k"
    images, labels = raw / f"{prefix}-images-idx3-ubyte", raw / f"{prefix}-labels-idx1-ubyte"
    if all(p.is_file() or p.with_name(p.name + ".gz").is_file() for p in (images, labels)):
        data, targets = _read_idx(images), _read_idx(labels)
        if data.dim() != 3 or targets.dim() != 1 or len(data) != len(targets):
            raise DataUnavailableError(f"{images} and {labels} do not hold matching MNIST images and labels")
        return data, targets.long()
    from torchvision.datasets import MNIST

    try:
        _unpack_gzipped(raw)
        dataset = MNIST(str(data_dir), train=train, download=download)
    except Exception as exc:  # URLError, socket errors, RuntimeError "Dataset not found", ...
        raise DataUnavailableError(missing_data_message(data_dir)) from exc
    return dataset.data, dataset.targets


def _read_idx(path: Path) -> torch.Tensor:
    """An IDX file of unsigned bytes (MNIST's format), plain or gzipped, as a uint8 tensor."""
    packed = path.with_name(path.name + ".gz")
    try:
        data = path.read_bytes() if path.is_file() else gzip.decompress(packed.read_bytes())
    except (OSError, EOFError) as exc:
        raise DataUnavailableError(f"cannot read {path if path.is_file() else packed}: {exc}") from None
    if len(data) < 4 or data[:3] != b"\x00\x00\x08":
        raise DataUnavailableError(f"{path} is not an MNIST IDX file of bytes; replace it with the original")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    body = memoryview(data)[4 + 4 * ndim:]
    expected = 1
    for d in dims:
        expected *= d
    if len(body) != expected:
        raise DataUnavailableError(f"{path} is truncated or damaged ({len(body)} bytes of data, "
                                   f"{expected} expected); replace it with the original")
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(dims)


def _unpack_gzipped(raw: Path) -> None:
    """torchvision only trusts .gz files whose checksum matches its own download; files that
    a user gzipped themselves would send it to the network. Unpack them beside themselves."""
    for name in MNIST_FILES:
        plain, packed = raw / name, raw / f"{name}.gz"
        if packed.is_file() and not plain.exists():
            atomic_write(plain, lambda tmp, packed=packed: tmp.write_bytes(gzip.decompress(packed.read_bytes())))


# --------------------------------------------------------------------------- checkpoints


class CheckpointError(ModelFileError):
    """A checkpoint file is missing, empty, truncated, not a checkpoint, or the wrong shape."""


@dataclass
class Checkpoint:
    model_state: dict[str, torch.Tensor]
    meta: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. optimiser state, for --resume

    @property
    def mean(self) -> float:
        return float(self.meta.get("mean", MNIST_MEAN))

    @property
    def std(self) -> float:
        return float(self.meta.get("std", MNIST_STD))

    @property
    def classes(self) -> tuple[str, ...]:
        """What each output means: the digits 0-9, or the classes finetune.py taught it."""
        return class_names(self.meta.get("classes"))

    @property
    def whole_image(self) -> bool:
        """Read each image whole, as the digit (finetune.py --whole-image), not searched for it."""
        return bool(self.meta.get("whole_image", False))


def save_checkpoint(
    path: Path,
    model_state: Mapping[str, torch.Tensor],
    meta: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write ``{"model_state", "meta", **extra}`` atomically. Meta must be plain values so
    ``torch.load(weights_only=True)`` can read it."""
    payload = {
        "model_state": {k: v.detach().cpu() for k, v in model_state.items()},
        "meta": {"torch_version": str(torch.__version__), "created": _now(), **meta},
        **(extra or {}),
    }
    atomic_write(Path(path), lambda tmp: torch.save(payload, tmp))


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def load_checkpoint(path: Path) -> Checkpoint:
    """Read a checkpoint written by ``save_checkpoint`` or a bare LeNet5 ``state_dict``.

    Only tensors and plain values are unpickled (``weights_only=True``); anything else, and
    any file that would not load into LeNet5, raises CheckpointError with a readable reason.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        text = str(exc)
        if "Unsupported global" in text or "not an allowed global" in text:
            raise CheckpointError(f"{path} holds Python objects besides tensors and plain values; "
                                  "it is not loaded, since unpickling them could run code") from exc
        detail = text.split("WeightsUnpickler error:")[-1].strip() or type(exc).__name__
        reason = detail.splitlines()[0][:200]
        raise CheckpointError(f"checkpoint {path} is unreadable or truncated ({reason})") from exc
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path} is not a LeNet-5 checkpoint (it holds a {type(payload).__name__})")
    if "model_state" in payload:
        state, meta = payload["model_state"], payload.get("meta") or {}
        extra = {k: v for k, v in payload.items() if k not in ("model_state", "meta")}
    else:
        state, meta, extra = payload, {}, {}
    if not isinstance(state, dict) or not isinstance(meta, dict):
        raise CheckpointError(f"{path} is not a LeNet-5 checkpoint")
    _check_state_shapes(path, state, meta)
    return Checkpoint(model_state=state, meta=meta, extra=extra)


def build_model(meta: Mapping[str, Any]) -> LeNet5:
    """The network a checkpoint's meta describes; meta from before the options existed (or
    none, for a bare state_dict) means the default network, which is what those files hold.
    A network finetune.py taught other classes has an output for each of its ``classes``."""
    options = meta.get("architecture") or {}
    if not isinstance(options, dict):
        raise ValueError(f"its architecture is {type(options).__name__}, not a set of options")
    try:
        return LeNet5(**options, num_classes=len(class_names(meta.get("classes"))))
    except TypeError as exc:  # an option this version does not have
        raise ValueError(f"its architecture does not fit this LeNet5 ({exc})") from None


def _check_state_shapes(path: Path, state: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
    try:
        expected = {k: tuple(v.shape) for k, v in build_model(meta).state_dict().items()}
    except ValueError as exc:
        raise CheckpointError(f"{path} is not a LeNet-5 checkpoint this version can build: {exc}") from None
    if set(state) != set(expected):
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise CheckpointError(f"{path} is not a LeNet-5 checkpoint ({detail})")
    for key, shape in expected.items():
        value = state[key]
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape:
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise CheckpointError(f"{path} does not fit LeNet-5: {key} is {got}, expected {shape}")


def load_model(path: Path, device: torch.device | str = "cpu") -> tuple[LeNet5, Checkpoint]:
    """A ready-to-run LeNet5 (eval mode, on ``device``) and the checkpoint it came from."""
    checkpoint = load_checkpoint(path)
    model = build_model(checkpoint.meta)
    model.load_state_dict(checkpoint.model_state)
    return model.to(device).eval(), checkpoint


class TorchClassifier:
    """Class probabilities for uint8 MNIST-like digits from a checkpoint, in batches: the
    PyTorch twin of onnx_classifier.OnnxClassifier, behind inference.Predictor."""

    def __init__(self, path: Path, device: torch.device | str = "cpu", threads: int | None = None) -> None:
        """``threads``: how many threads torch's operations may use (None: torch's default, one
        per core), set for the thread that loads the model (torch keeps it per thread). A
        server's worker processes take one each."""
        if threads is not None:
            torch.set_num_threads(threads)
        self.device = pick_device(device) if isinstance(device, str) else torch.device(device)
        model, checkpoint = load_model(path, self.device)
        self.classes, self.whole_image = checkpoint.classes, checkpoint.whole_image
        self.network = DigitsToProbabilities(model.to(memory_format=torch.channels_last), checkpoint.mean,
                                             checkpoint.std).eval()

    @torch.inference_mode()
    def probabilities(self, digits: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        digits = torch.as_tensor(np.asarray(digits, dtype=np.uint8))
        out = [self.network(digits[start:start + batch_size].to(self.device)).float().cpu().numpy()
               for start in range(0, len(digits), batch_size)]
        return np.concatenate(out) if out else np.empty((0, len(self.classes)), np.float32)
