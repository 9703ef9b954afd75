"""The files the scripts hand each other: their default names, what every model file must be
(ten digit classes; a ModelFileError with a readable reason when it is not), and the one way
each file is written.

No torch here, so the light paths (reading runs, ONNX inference) stay light.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

DEFAULT_CHECKPOINT = "lenet5_model.pth"
NUM_CLASSES = 10  # the digits 0-9: every model file, checkpoint or ONNX, gives ten probabilities
OVERVIEW_NAME = "overview.png"  # generate_test_digits.py's contact sheet in test_digits/, not a digit


class ModelFileError(Exception):
    """A model file (checkpoint or ONNX) is missing, empty, unreadable or not a LeNet-5."""


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
