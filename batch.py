"""Reading many images at once, as the tools do: each input becomes its digit or a one-line
error (``examine``), with a small preview for inference.py's report, in forked worker
processes where the platform allows (``forked_pool``, ``map_in_processes``).

Like preprocess.py, this imports no torch: a forked worker stays small.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw

from preprocess import (NO_DIGIT, WORK_SIDE, Digit, ImageInput, ImageReadError, find_digit, read_image,
                        to_grayscale, whole_digit)


Examined = tuple[Digit | None, np.ndarray | None, str | None]  # the digit, a preview, an error


def examine(image: ImageInput, preview: bool = False, whole: bool = False) -> Examined:
    """``find_digit`` (``whole_digit`` with ``whole``) for a tool that reads many inputs: a
    file that cannot be read, or that holds no digit, is an error message rather than an
    exception or None, and with ``preview`` a small picture of the input with the digit's
    box drawn comes along (for inference.py's report)."""
    try:
        if isinstance(image, (str, Path)):
            image = read_image(Path(image), longest=2 * WORK_SIDE)
        found = whole_digit(image) if whole else find_digit(image)
        if found is None:
            return None, preview_with_box(image, None) if preview else None, NO_DIGIT
        if preview:
            found = replace(found, preview=preview_with_box(image, found.box),
                            alternatives=tuple(replace(other, preview=preview_with_box(image, other.box))
                                               for other in found.alternatives))
        return found, found.preview, None
    except ImageReadError as exc:
        return None, None, str(exc)


def examine_job(job: tuple[ImageInput, bool, bool]) -> Examined:
    """``examine`` with its arguments as one tuple, for a process pool's map."""
    return examine(*job)


def forked_pool(processes: int):
    """A pool of ``processes`` forked workers for image work, or None where forking is not
    safe (macOS, Windows: a spawned worker would re-import the caller, torch and all).
    OpenCV is held to one thread from here on: the processes are the parallelism, and a
    thread pool that OpenCV had started would not survive the fork. Ctrl-C is the parent's."""
    if processes < 2 or not sys.platform.startswith("linux"):
        return None
    cv2.setNumThreads(1)
    return multiprocessing.get_context("fork").Pool(processes, initializer=_ignore_interrupts)


def map_in_processes(function, items: Sequence, processes: int, chunksize: int | None = None) -> list:
    """``[function(item) for item in items]``, in order, by a forked_pool where one can be had."""
    pool = forked_pool(processes)
    if pool is None:
        return [function(item) for item in items]
    with pool:
        return pool.map(function, items, chunksize=chunksize)


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def preview_with_box(image: ImageInput, box: tuple[int, int, int, int] | None, side: int = 96) -> np.ndarray:
    """The input, grey, at most ``side`` pixels a side, with the box that was read drawn in
    green: RGB uint8."""
    gray = to_grayscale(image)
    full_width = image.info.get("full_size", (gray.shape[1],))[0] if isinstance(image, Image.Image) else gray.shape[1]
    picture = Image.fromarray(np.round(gray * 255).astype(np.uint8)).convert("RGB")
    picture.thumbnail((side, side), Image.Resampling.BOX if max(picture.size) > side else Image.Resampling.NEAREST)
    if max(picture.size) < side // 2:  # tiny inputs are shown larger, pixel for pixel
        factor = side // max(picture.size)
        picture = picture.resize((picture.width * factor, picture.height * factor), Image.Resampling.NEAREST)
    if box is not None:
        scale = picture.width / full_width
        left, top, right, bottom = (round(v * scale) for v in box)
        ImageDraw.Draw(picture).rectangle((left, top, max(left, right - 1), max(top, bottom - 1)),
                                          outline=(0, 200, 0), width=max(1, picture.width // 40))
    return np.asarray(picture)
