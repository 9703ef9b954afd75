"""LeNet-5, its initialisation, and everything the scripts share.

The scripts talk to each other only through files: ``train.py`` writes a checkpoint that
``inference.py`` reads. What more than one of them needs lives here, once: the checkpoint
format, the MNIST loader, the step from 28x28 digits to model input, the preprocessing that
makes any image an MNIST-like digit (inference, and the printed digits training mixes in),
and the font rendering (the test digit generator, and those printed digits).
"""

from __future__ import annotations

import datetime as _dt
import gzip
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

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

# Preprocessing: what a user's image is turned into (see mnist_like)
MAX_IMAGE_PIXELS = 40_000_000  # far above any photo of a digit; stops decompression bombs
DIGIT_BOX = 20  # MNIST's digit size inside its 28x28 frame
WORK_BOX = 4 * DIGIT_BOX  # stroke width is judged and adjusted at 4x the final resolution
THIN_PEN, TARGET_PEN = 9, 12  # stroke widths at WORK_BOX scale; MNIST's pen is about 12
MIN_CONTRAST = 0.2  # ink must differ from the background by this much (0-1 scale)

# Fonts inside matplotlib that draw ordinary lining digits: sans, serif and mono, with their
# bold and oblique faces. (cmmi10 has old-style digits; cmsy10, cmex10 and STIX's size
# variants have none.)
PRINTED_FONTS = (
    "DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSans-BoldOblique",
    "DejaVuSerif", "DejaVuSerif-Bold", "DejaVuSerif-Italic", "DejaVuSerif-BoldItalic",
    "DejaVuSansMono", "DejaVuSansMono-Bold", "DejaVuSansMono-Oblique", "DejaVuSansMono-BoldOblique",
    "STIXGeneral", "STIXGeneralBol", "STIXGeneralItalic", "STIXGeneralBolIta",
    "cmr10", "cmss10", "cmtt10", "cmb10", "cmti10",
)
RENDER_PX = 160  # glyphs are drawn large, then shrunk, so edges come out anti-aliased

ImageInput = Union[str, Path, Image.Image, np.ndarray]  # what mnist_like and Predictor take


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


# --------------------------------------------------------------------------- images to MNIST-like digits


class ImageReadError(ValueError):
    """A file that is not a readable image, or one too large to open safely."""


def read_image(path: Path, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Open and fully decode an image file, refusing empty, truncated and oversized ones."""
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise ImageReadError("empty file (0 bytes)")
        with warnings.catch_warnings():  # PIL warns of bombs at open; we refuse them just below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise ImageReadError(f"{width}x{height} pixels is more than the {max_pixels:,} allowed; "
                                         "scale it down")
                image.load()
                return image.copy()
    except ImageReadError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageReadError(f"refused as a possible decompression bomb ({exc})") from None
    except FileNotFoundError:
        raise ImageReadError("no such file") from None
    except IsADirectoryError:
        raise ImageReadError("is a folder") from None
    except Image.UnidentifiedImageError:
        raise ImageReadError("not an image file PIL can read") from None
    except (OSError, SyntaxError, ValueError) as exc:  # truncated data, bad headers
        raise ImageReadError(f"broken or truncated image ({exc})") from None


def to_grayscale(image: Image.Image | np.ndarray) -> np.ndarray:
    """Any PIL mode or array as float32 brightness in 0-1. Transparent pixels become white
    paper; EXIF orientation is applied, so a phone photo is the right way up."""
    if isinstance(image, np.ndarray):
        return _array_to_grayscale(image)
    try:
        image = ImageOps.exif_transpose(image)
        if image.mode == "P":
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
            return _array_to_grayscale(np.asarray(image))
        if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
            rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255
            return _composite_on_white(_luma(rgba[..., :3]), rgba[..., 3])
        return np.asarray(image.convert("L"), dtype=np.float32) / 255
    except (ValueError, OSError) as exc:  # modes PIL cannot turn into grey, such as LAB
        raise ImageReadError(f"cannot read a {image.mode} image as grey ({exc})") from None


def _array_to_grayscale(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.size == 0:
        raise ImageReadError(f"empty array of shape {array.shape}")
    if array.dtype == bool:
        values = array.astype(np.float32)
    elif np.issubdtype(array.dtype, np.integer):
        if array.dtype == np.uint16:  # 16-bit scans
            top = 65535.0
        else:  # uint8, or 8- or 16-bit values held in a wider integer type
            peak = int(array.max())
            top = 255.0 if peak <= 255 else 65535.0 if peak <= 65535 else float(peak)
        values = array.astype(np.float32) / top
    else:
        values = np.nan_to_num(array.astype(np.float32))
        if values.max(initial=0) > 1:
            values = values / 255
    if values.ndim == 3 and values.shape[-1] == 1:
        values = values[..., 0]
    if values.ndim == 3 and values.shape[-1] in (3, 4):
        gray = _luma(values[..., :3])
        return _composite_on_white(gray, values[..., 3]) if values.shape[-1] == 4 else gray
    if values.ndim != 2:
        raise ImageReadError(f"array of shape {array.shape} is not an image (need HxW, HxWx3 or HxWx4)")
    return np.clip(values, 0, 1)


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _composite_on_white(gray: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Ink drawn on a transparent canvas sits on white paper; if that leaves nothing visible
    (white ink on transparency), the alpha channel itself is the drawing."""
    composed = gray * alpha + (1 - alpha)
    if np.ptp(composed) < MIN_CONTRAST and np.ptp(alpha) >= MIN_CONTRAST:
        return 1 - alpha
    return composed


def mnist_like(image: ImageInput) -> np.ndarray | None:
    """A user's image as an MNIST digit: uint8 28x28, white ink on black, the longer side of
    the ink 20 pixels, centred by centre of mass. None when the image holds no digit."""
    gray = to_grayscale(read_image(image) if isinstance(image, (str, Path)) else image)
    ink = _ink_on_black(gray)
    if ink is None:
        return None
    box = _crop_to_ink(ink)
    if box is None:
        return None
    return _centre_in_frame(_scale_to_box(box))


def _ink_on_black(gray: np.ndarray) -> np.ndarray | None:
    """Bright ink on a zero background, 0-1. The border tells the paper from the ink."""
    h, w = gray.shape
    edge = max(1, min(h, w) // 16)
    border = np.concatenate([gray[:edge].ravel(), gray[-edge:].ravel(), gray[:, :edge].ravel(), gray[:, -edge:].ravel()])
    paper = float(np.median(border))
    if paper > 0.5:  # dark ink on light paper: turn it into MNIST's white on black
        gray, paper, border = 1 - gray, 1 - paper, 1 - border
    ink = gray - paper
    peak = float(_box_mean(ink).max()) if min(h, w) >= 24 else float(ink.max())
    if peak < MIN_CONTRAST:
        return None
    ink = np.clip(ink / peak, 0, 1)
    # the paper's own grain: the border's spread, leaving out ink that reaches the border
    spread = (border - paper) / peak
    noise = float(np.std(spread[spread < 0.5])) if np.any(spread < 0.5) else 0.0
    floor = min(0.5, 3 * noise)
    if floor > 0.02:  # grain, paper texture or sensor noise: drop it rather than scale it up
        ink = np.clip((ink - floor) / (1 - floor), 0, 1)
    return ink


def _box_mean(values: np.ndarray) -> np.ndarray:
    """3x3 mean: one-pixel specks fade, strokes two or more pixels wide keep their level."""
    padded = np.pad(values, 1, mode="edge")
    total = sum(padded[dy:dy + values.shape[0], dx:dx + values.shape[1]] for dy in range(3) for dx in range(3))
    return total / 9


def _crop_to_ink(ink: np.ndarray) -> np.ndarray | None:
    """The ink's bounding box. On larger images the box comes from the smoothed ink, so stray
    specks of noise or dust far from the digit do not stretch it."""
    core = _box_mean(ink) > 0.3 if min(ink.shape) >= 24 else ink > 0.3
    if not core.any():
        core = ink > 0.3
        if not core.any():
            return None
    rows, cols = np.flatnonzero(core.any(1)), np.flatnonzero(core.any(0))
    top, bottom = max(rows[0] - 1, 0), min(rows[-1] + 2, ink.shape[0])
    left, right = max(cols[0] - 1, 0), min(cols[-1] + 2, ink.shape[1])
    box = ink[top:bottom, left:right]
    # trim rows and columns of the 1-pixel margin that hold no ink at all
    rows, cols = np.flatnonzero(box.any(1)), np.flatnonzero(box.any(0))
    return box[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def _scale_to_box(box: np.ndarray) -> np.ndarray:
    """Longer side to 20 pixels, aspect ratio kept. Strokes too thin to survive the shrink
    (a fine pen on a large scan) are thickened first, at 4x the final size, to MNIST's
    roughly 3-pixel pen."""
    h, w = box.shape
    work = Image.fromarray(np.round(box * 255).astype(np.uint8), mode="L")
    ratio = WORK_BOX / max(h, w)
    size = (max(1, round(w * ratio)), max(1, round(h * ratio)))
    work = work.resize(size, Image.Resampling.BOX if ratio < 1 else Image.Resampling.BICUBIC)
    pixels = np.asarray(work)
    width = _stroke_width(pixels > pixels.max() / 2)
    if width < THIN_PEN:
        k = int(np.clip(round(TARGET_PEN - width), 3, 11)) | 1  # odd MaxFilter size: the pen becomes ~TARGET_PEN
        work = work.filter(ImageFilter.MaxFilter(k))
    ratio = DIGIT_BOX / WORK_BOX
    final = work.resize((max(1, round(work.width * ratio)), max(1, round(work.height * ratio))), Image.Resampling.BOX)
    digit = np.asarray(final, dtype=np.float32)
    return digit / max(float(digit.max()), 1.0)


def _stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width in pixels: area over half the boundary length."""
    area = int(mask.sum())
    if area == 0:
        return 0.0
    padded = np.pad(mask, 1)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:] & mask
    boundary = area - int(interior.sum())
    return 2 * area / max(boundary, 1)


def _centre_in_frame(digit: np.ndarray) -> np.ndarray:
    """Paste into 28x28 so the centre of mass lands where MNIST's does, at (14, 14)."""
    h, w = digit.shape
    mass = digit.sum()
    cy = float((digit.sum(1) * np.arange(h)).sum() / mass)
    cx = float((digit.sum(0) * np.arange(w)).sum() / mass)
    top = int(np.clip(round(MNIST_SIZE / 2 - cy), 0, MNIST_SIZE - h))
    left = int(np.clip(round(MNIST_SIZE / 2 - cx), 0, MNIST_SIZE - w))
    frame = np.zeros((MNIST_SIZE, MNIST_SIZE), dtype=np.float32)
    frame[top:top + h, left:left + w] = digit
    return np.round(frame * 255).astype(np.uint8)


# --------------------------------------------------------------------------- printed digits


class FontError(ValueError):
    """A font that cannot be found or does not draw digits."""


def matplotlib_font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def resolve_font(name: str) -> Path:
    """A font file from a path, a file name inside matplotlib (``DejaVuSerif``) or a family
    name that matplotlib's font manager knows (``DejaVu Serif``)."""
    path = Path(name).expanduser()
    if path.is_file():
        return path
    shipped = {p.stem.lower(): p for p in matplotlib_font_dir().glob("*.ttf")}
    if name.lower().removesuffix(".ttf") in shipped:
        return shipped[name.lower().removesuffix(".ttf")]
    from matplotlib import font_manager

    try:
        return Path(font_manager.findfont(font_manager.FontProperties(family=name), fallback_to_default=False))
    except ValueError:
        raise FontError(f"font {name!r} not found: give a .ttf/.otf path or one of {', '.join(PRINTED_FONTS)}") from None


def load_font(path: Path, size: int = RENDER_PX) -> ImageFont.FreeTypeFont:
    """Open a TrueType font at ``size`` pixels and check that it draws ten different,
    visible digits."""
    try:
        font = ImageFont.truetype(str(path), size)
    except OSError as exc:
        raise FontError(f"{path} is not a TrueType/OpenType font ({exc})") from None
    glyphs = [np.asarray(draw_glyph(str(d), font, 0.0)).tobytes() for d in range(10)]
    if any(not np.any(np.frombuffer(g, np.uint8)) for g in glyphs) or len(set(glyphs)) < 10:
        raise FontError(f"{path} does not draw the digits 0-9; choose another font")
    return font


def draw_glyph(text: str, font: ImageFont.FreeTypeFont, stroke: float = 0.0) -> Image.Image:
    """White glyph on black, cropped to its ink; ``stroke`` thickens it by that fraction of
    the glyph size."""
    canvas = Image.new("L", (round(font.size) * 3, round(font.size) * 3), 0)
    stroke_px = max(0, round(stroke * font.size))
    ImageDraw.Draw(canvas).text((canvas.width // 2, canvas.height // 2), text, fill=255, font=font,
                                anchor="mm", stroke_width=stroke_px, stroke_fill=255)
    bbox = canvas.getbbox()
    return canvas.crop(bbox) if bbox else canvas.crop((0, 0, 1, 1))


def printed_digits(per_font: int, seed: int, fonts: Sequence[str] = PRINTED_FONTS) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_font`` MNIST-like images of every digit in every font, each slightly rotated and
    some drawn heavier: uint8 (N, 28, 28) and int64 labels (N,).

    MNIST is all handwriting, so a network trained on it alone misreads printed shapes it
    never saw (a 1 with a base, a 6 with a short stem). A few of these in the training set
    teach it them; they go through ``mnist_like`` as any user's image would.
    """
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for name in fonts:
        font = load_font(resolve_font(name), size=48)  # plenty for a 20-pixel digit, and quick
        for digit in range(10):
            for _ in range(per_font):
                stroke = float(rng.choice([0.0, rng.uniform(0.0, 0.04)]))
                glyph = draw_glyph(str(digit), font, stroke)
                glyph = glyph.rotate(float(rng.uniform(-5, 5)), resample=Image.Resampling.BICUBIC, expand=True)
                images.append(mnist_like(glyph))
                labels.append(digit)
    return torch.from_numpy(np.stack(images)), torch.tensor(labels, dtype=torch.int64)


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

    torchvision reads the IDX files (and downloads them when absent); we keep only its
    tensors, so no per-sample PIL work happens later.
    """
    from torchvision.datasets import (
        MNIST,  # torchvision is slow to import; only data users pay
    )

    data_dir = Path(data_dir)
    try:
        _unpack_gzipped(data_dir / "MNIST" / "raw")
        dataset = MNIST(str(data_dir), train=train, download=download)
    except Exception as exc:  # URLError, socket errors, RuntimeError "Dataset not found", ...
        raise DataUnavailableError(missing_data_message(data_dir)) from exc
    return dataset.data, dataset.targets


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
