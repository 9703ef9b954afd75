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
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

INPUT_SIZE = 32  # LeNet-5 reads 32x32; MNIST digits are 28x28 and get a 2-pixel zero border
MNIST_SIZE = 28
NUM_CLASSES = 10
# The classic MNIST pixel statistics; train.py measures its own and stores them in the
# checkpoint, and these stand in only for a bare state_dict that carries none.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
DEFAULT_CHECKPOINT = "lenet5_model.pth"
OVERVIEW_NAME = "overview.png"  # generate_test_digits.py's contact sheet in test_digits/, not a digit
DEFAULT_DATA_DIR = "data"
DATA_DIR_ENV = "MNIST_DATA_DIR"
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


class LeNet5(nn.Module):
    """LeNet-5 with ReLU and max-pooling, the form most modern write-ups use."""

    def __init__(self, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, padding=2),  # 1x32x32 -> 6x32x32
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # -> 6x16x16
            nn.Conv2d(6, 16, kernel_size=5),  # -> 16x12x12
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # -> 16x6x6
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),  # -> 576
            nn.Linear(16 * 6 * 6, 120),
            nn.ReLU(inplace=True),
            nn.Linear(120, 84),
            nn.ReLU(inplace=True),
            nn.Linear(84, num_classes),
        )
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def init_weights(model: nn.Module) -> None:
    """He init keeps ReLU activations from shrinking layer by layer; the output layer has
    no ReLU after it, so it gets Xavier. Biases start at zero."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    for layer in layers[:-1]:
        nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
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
            atomic_write(plain, lambda tmp: tmp.write_bytes(gzip.decompress(packed.read_bytes())))


# --------------------------------------------------------------------------- checkpoints


class CheckpointError(Exception):
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


def atomic_write(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)``, then rename over ``path``: readers see the old file or the new
    one, never half of either, even if the process dies mid-write."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a finished file gets the usual mode
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
    _check_state_shapes(path, state)
    return Checkpoint(model_state=state, meta=meta, extra=extra)


def _check_state_shapes(path: Path, state: Mapping[str, Any]) -> None:
    expected = {k: tuple(v.shape) for k, v in LeNet5().state_dict().items()}
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
    model = LeNet5()
    model.load_state_dict(checkpoint.model_state)
    return model.to(device).eval(), checkpoint
