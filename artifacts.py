"""The files the scripts hand each other: their default names, what every model file must be
(its class names: the ten digits unless finetune.py taught it others; a ModelFileError with a
readable reason when it is not), and the one way each file is written.

No torch here, so the light paths (reading runs, ONNX inference) stay light.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

DEFAULT_CHECKPOINT = "lenet5_model.pth"
NUMBERS_CHECKPOINT = "lenet5_numbers.pth"  # train.py --not-a-digit: inference.py --number takes it where it exists
DIGITS = tuple("0123456789")  # the classes of a model from train.py; finetune.py may teach others
NUM_CLASSES = len(DIGITS)
OVERVIEW_NAME = "overview.png"  # generate_test_digits.py's contact sheet in test_digits/, not a digit


def not_a_png_name(flag: str, path: Path) -> str | None:
    """Why ``path`` cannot take the PNG picture that ``flag`` writes (its name does not end in
    .png, or it is a folder), as one line for the parser; None where it can."""
    if path.suffix.lower() != ".png" or path.is_dir():
        return f"{flag} writes a PNG picture: give it a file name ending in .png, not {path}"
    return None


class ModelFileError(Exception):
    """A model file (checkpoint or ONNX) is missing, empty, unreadable or not a LeNet-5."""


def class_names(value: object) -> tuple[str, ...]:
    """A model's class names as its file stores them (a checkpoint's meta ``classes``, an
    ONNX file's metadata): the ten digits where there are none; a ValueError that says why
    where they are not two or more different, non-empty names."""
    if value is None:
        return DIGITS
    if not isinstance(value, (list, tuple)) or not all(isinstance(name, str) and name for name in value):
        raise ValueError(f"its class names are not a list of names ({value!r:.80})")
    if len(value) < 2 or len(set(value)) != len(value):
        raise ValueError(f"its class names {list(value)} are not two or more different names")
    return tuple(value)


def reads_the_digits(classes: tuple[str, ...]) -> bool:
    """Whether a model with these classes can be scored on MNIST: all ten digits are among them."""
    return set(DIGITS) <= set(classes)


def class_value(name: str) -> int | str:
    """How a class is shown and compared: a digit as its number, any other class by name."""
    return int(name) if name in DIGITS else name


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
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
