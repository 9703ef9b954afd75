"""Recognise handwritten or printed digits in image files with a trained LeNet-5.

    python inference.py                          # every digit_*.png in test_digits/
    python inference.py my_scans/ photo.jpg      # files and folders (recursive)
    python inference.py --mnist-test             # accuracy on the 10,000 MNIST test images
    python inference.py --sudoku puzzle.jpg --solve   # a photo of a whole sudoku, read and solved
    python inference.py --number amount.jpg      # every digit of a written number, left to right

Users' images look nothing like MNIST until they are made to: MNIST digits are white on
black, cropped to their ink, scaled so the longer side is 20 pixels and centred by centre of
mass in a 28x28 frame. ``preprocess.mnist_like`` does exactly that to any image, and every input (files,
PIL images, arrays) goes through it. A plain resize, which most tutorials use, is why they
score badly on anything but MNIST itself.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence

import numpy as np

import sudoku
import whole_numbers
from artifacts import (
    DEFAULT_CHECKPOINT,
    DIGITS,
    NUMBERS_CHECKPOINT,
    OVERVIEW_NAME,
    ModelFileError,
    atomic_write,
    class_value,
    not_a_png_name,
    reads_the_digits,
)
from batch import Examined, examine_job, forked_pool, map_in_processes
from preprocess import (
    HEIF_SUFFIXES,
    NO_DIGIT,
    ImageReadError,
    NUDGES,
    Digit,
    ImageInput,
    mnist_like,
    nudged,
    read_image,
    to_grayscale,
    whole_digit,
)

if TYPE_CHECKING:
    import torch

    from model import TorchClassifier
    from onnx_classifier import OnnxClassifier

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm", ".pnm",
                  *HEIF_SUFFIXES}
DEFAULT_FOLDER = Path("test_digits")
READING_MARGIN = 0.15  # how much surer another reading of an image must be to be taken (see surest_reading)
SURE = 0.8  # a digit the network reads at least this surely as framed is not read again nudged


# --------------------------------------------------------------------------- prediction


def placed_probabilities(probabilities: Callable[[np.ndarray], np.ndarray], digits: np.ndarray) -> np.ndarray:
    """Class probabilities (N, classes) for MNIST-like digits as a reader goes by them: the
    network's (``probabilities``) for each digit as framed, and where it is unsure of one
    (under SURE), the mean of that and of the digit nudged a pixel each way. Framing by the
    centre of mass rounds to a whole pixel, and an unsure reading can turn on that pixel; a
    sure one does not, and most are sure, so this costs little."""
    framed = probabilities(digits)
    unsure = framed.max(1) < SURE
    if unsure.any():
        moved = probabilities(nudged(digits[unsure])).reshape(len(NUDGES), int(unsure.sum()), -1)
        framed[unsure] = (framed[unsure] + moved.sum(0)) / (1 + len(NUDGES))
    return framed


def surest_reading(probabilities: np.ndarray, margin: float = READING_MARGIN) -> int:
    """Which of an image's readings (``Digit.readings``, their class probabilities in rows)
    to go by: the first, all the pieces found to make the digit, unless another is surer of
    its class by ``margin``. A reading that holds a window's bar or a neighbour's sliver looks
    like no digit in particular, and the digit without it like one. The margin keeps a digit
    written in two strokes whole, where one stroke alone reads a little surer as a 1."""
    confidence = probabilities.max(1)
    best = int(confidence.argmax())
    return best if confidence[best] >= confidence[0] + margin else 0


def surest_readings(read: Callable[[np.ndarray], np.ndarray], readings: Sequence[np.ndarray],
                    margin: float = READING_MARGIN) -> list[tuple[int, np.ndarray]]:
    """For each image's readings (its MNIST-like digits, (k, 28, 28), the first reading
    first), the one to go by (``surest_reading``) and its class probabilities; ``read``
    gives the probabilities of all of them in one batch."""
    if not readings:
        return []
    probabilities = read(np.concatenate(readings))
    chosen, start = [], 0
    for options in readings:
        found = probabilities[start:start + len(options)]
        start += len(options)
        best = surest_reading(found, margin)
        chosen.append((best, found[best]))
    return chosen


def label_from_path(path: Path, classes: Sequence[str] = DIGITS) -> int | str | None:
    """The true class, from a ``digit_<d>...`` file name or a parent folder named after one of
    ``classes`` (0-9, or those a fine-tuned model reads: ``none/``, ``A/``)."""
    match = re.match(r"digit_([0-9])(?![0-9])", Path(path).name)
    if match and match.group(1) in classes:
        return int(match.group(1))
    parent = Path(path).parent.name
    return class_value(parent) if parent in classes else None


@dataclass
class Prediction:
    """One image's reading. ``prediction`` and ``label`` are classes as ``class_value`` gives
    them: a digit as its number, a class a fine-tuned model was taught by its name ("none");
    ``probabilities`` are in the order of ``classes``."""

    source: str
    label: int | str | None = None
    prediction: int | str | None = None
    confidence: float | None = None
    probabilities: list[float] | None = None
    error: str | None = None
    image: np.ndarray | None = None  # the 28x28 digit the model saw
    box: tuple[int, int, int, int] | None = None  # where it was found: left, top, right, bottom, in pixels
    preview: np.ndarray | None = None  # a small RGB picture of the input with that box drawn (for --report)
    classes: tuple[str, ...] = DIGITS
    hint: str | None = None  # the image holds more than one digit: how to read it all

    @property
    def correct(self) -> bool | None:
        return None if self.label is None else self.prediction == self.label

    def top_k(self, k: int) -> list[tuple[int | str, float]]:
        if self.probabilities is None:
            return []
        order = sorted(range(len(self.probabilities)), key=lambda i: -self.probabilities[i])
        return [(class_value(self.classes[i]), self.probabilities[i]) for i in order[:k]]

    def to_json(self) -> dict:
        result = {"path": self.source, "label": self.label, "prediction": self.prediction,
                  "confidence": self.confidence, "probabilities": self.probabilities,
                  "box": list(self.box) if self.box is not None else None}
        if self.error is not None:
            result["error"] = self.error
        return result


SUDOKU_SIDE = 1500  # a puzzle photo is read at this many pixels a side at least: its cells are still 60-120
NO_PUZZLE = "no sudoku found: no four-sided frame ruled into 9 x 9 cells (is the whole puzzle in the photo?)"
ROW_ASPECT = 1.6  # an image at least this many times wider than tall may hold a row of digits
PUZZLE_SIDE = 600  # and one at least this many pixels each way, a whole sudoku
NUMBER_SIDE = 2000  # a number is read from an image this many pixels long at most: its digits are 64 high
NO_DIGITS = "no digits found: the image is blank, or holds only dots and dashes"


@dataclass
class NumberReading:
    """The number written in an image: its ``digits`` left to right, each with the network's
    ``confidence`` and its ``box`` (x, y, width, height, in the image's pixels); ``number``
    is the digits as text ("48170"), and ``confidence`` the least sure digit's."""

    source: str
    digits: list[whole_numbers.Read] | None = None
    error: str | None = None

    @property
    def number(self) -> str | None:
        return None if self.digits is None else "".join(d.value for d in self.digits)

    @property
    def confidence(self) -> float | None:
        return min((d.confidence for d in self.digits), default=None) if self.digits else None

    def to_json(self) -> dict:
        result = {"path": self.source, "number": self.number, "confidence": self.confidence,
                  "digits": None if self.digits is None else
                  [{"value": class_value(d.value), "confidence": round(d.confidence, 6), "box": list(d.box)}
                   for d in self.digits]}
        if self.error is not None:
            result["error"] = self.error
        return result


@dataclass
class SudokuReading:
    """A sudoku read from a photo: ``grid`` row by row (81 numbers, 0 for a blank cell),
    each cell's ``confidence`` (the network's, None for a blank), the cells holding only small
    pencilled ``candidates`` (read as blank), the puzzle's ``corners`` in the photo
    (top-left, top-right, bottom-right, bottom-left), and the cells whose digit is repeated
    in their row, column or box (``conflicts``, as (row, column) from 0), the likeliest
    misreads. ``blurred`` puzzles are read, but reported."""

    source: str
    grid: list[int] | None = None
    confidence: list[float | None] | None = None
    candidates: list[int] | None = None
    corners: list[list[float]] | None = None
    conflicts: list[tuple[int, int]] | None = None
    blurred: bool = False
    boxes: list[tuple[int, int, int, int] | None] | None = None  # each digit's box in the straightened puzzle
    error: str | None = None

    def solution(self) -> list[int] | None:
        """The solved grid, where the grid read is a valid sudoku that has a solution."""
        if self.grid is None or self.conflicts:
            return None
        solved = sudoku.solve(np.array(self.grid))
        return None if solved is None else solved.ravel().tolist()

    def to_json(self, solve: bool = False) -> dict:
        result = {"path": self.source, "grid": self.grid, "confidence": self.confidence,
                  "candidates": self.candidates, "corners": self.corners,
                  "conflicts": [list(cell) for cell in self.conflicts] if self.conflicts is not None else None,
                  "blurred": self.blurred}
        if solve and self.grid is not None:
            result["solution"] = self.solution()
        if self.error is not None:
            result["error"] = self.error
        return result


def source_name(item: ImageInput) -> str:
    """How a result names its input: a file by its path, anything else by its type."""
    return str(item) if isinstance(item, (str, Path)) else f"<{type(item).__name__}>"


def grey_at(image: ImageInput, longest: int) -> tuple[np.ndarray, float]:
    """An input as grey 0-1, a file decoded at ``longest`` pixels or more (a large JPEG at a
    reduced scale), and the image's full width over the width decoded, to give boxes in the
    image's own pixels. An ImageReadError where a file cannot be read."""
    if isinstance(image, (str, Path)):
        image = read_image(Path(image), longest=longest)
    gray = to_grayscale(image)
    full = image.info.get("full_size") if hasattr(image, "info") else None
    return gray, full[0] / gray.shape[1] if full else 1.0


def check_reads_the_digits(classes: tuple[str, ...], task: str) -> None:
    """A ValueError that says why, where a model (fine-tuned on other classes) cannot ``task``."""
    if not reads_the_digits(classes):
        raise ValueError(f"{task} needs a model that reads the ten digits; this one reads {', '.join(classes)}")


class Predictor:
    """A trained LeNet-5, from a PyTorch checkpoint or an ONNX file, for other programs:

        predictor = Predictor.from_file("lenet5_model.pth")    # or "lenet5_model.onnx"
        for result in predictor.predict(["a.png", pil_image, numpy_array]):
            print(result.prediction, result.confidence)

    With an .onnx file (from export.py) it runs on ONNX Runtime and never imports torch.
    ``reading_margin`` is how much surer than an image's first reading another must be to be
    taken (``surest_reading``); 1 always goes by the first. A model fine-tuned on other
    classes (finetune.py) names them in ``classes``; one fine-tuned on tight crops read whole
    (``whole_image``) reads every input whole, as it learned to.
    """

    def __init__(self, classifier: TorchClassifier | OnnxClassifier, reading_margin: float = READING_MARGIN) -> None:
        self.classifier = classifier
        self.reading_margin = reading_margin
        # any object with probabilities(digits) will do; without class names it reads the digits
        self.classes: tuple[str, ...] = getattr(classifier, "classes", DIGITS)
        self.whole_image: bool = getattr(classifier, "whole_image", False)

    @classmethod
    def from_file(cls, path: Path | str = DEFAULT_CHECKPOINT, device: str | torch.device = "cpu",
                  threads: int | None = None) -> Predictor:
        """``device`` is for checkpoints (auto, cpu, cuda, mps); ONNX files run on the CPU.
        ``threads``: how many CPU threads the network may use (None: one per core); for a
        checkpoint, torch's, set for the calling thread."""
        path = Path(path)
        if path.suffix.lower() == ".onnx":
            from onnx_classifier import OnnxClassifier

            if str(device) not in ("cpu", "auto"):
                raise ValueError(f"--device {device} is for PyTorch checkpoints; {path.name} runs on the CPU "
                                 "with ONNX Runtime (leave --device out)")
            return cls(OnnxClassifier(path, threads))
        from model import TorchClassifier

        return cls(TorchClassifier(path, device, threads))

    def probabilities(self, digits: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Class probabilities (N, classes) for uint8 MNIST-like digits (N, 28, 28), in batches."""
        return self.classifier.probabilities(digits, batch_size)

    def read(self, digits: np.ndarray) -> np.ndarray:
        """Class probabilities (N, classes) for MNIST-like digits as ``predict`` goes by them
        (``placed_probabilities``)."""
        return placed_probabilities(self.probabilities, digits)

    def predict(self, inputs: Iterable[ImageInput], labels: Sequence[int | None] | None = None,
                batch_size: int = 512, previews: bool = False, workers: int | None = None,
                examined: Iterator[Examined] | None = None) -> list[Prediction]:
        """Predictions for files, PIL images or arrays, in order. A file that cannot be read or
        holds no digit gets a Prediction with ``error`` set instead of an exception. With
        ``previews``, each keeps a small picture of its input with the digit's box drawn.
        ``examined`` is what ``examining(inputs, previews)`` yields, where a caller started it
        earlier; by default the digits are found here."""
        inputs = list(inputs)
        if examined is None:
            with examining(inputs, previews, workers, self.whole_image) as found:
                return self.predict(inputs, labels, batch_size, previews, workers, found)
        labels = list(labels) if labels is not None else [None] * len(inputs)
        prepared = map(self._prepare, inputs, labels, examined, itertools.repeat(self.classes))
        results: list[Prediction] = []
        for _ in range(0, len(inputs), batch_size):
            batch = list(itertools.islice(prepared, batch_size))
            found = [(result, digit.readings) for result, digit in batch if digit is not None]
            picks = surest_readings(self.read, [np.stack([r.image for r in readings]) for _, readings in found],
                                    self.reading_margin)
            for (result, readings), (best, p) in zip(found, picks):
                chosen = readings[best]
                result.image, result.box = chosen.image, chosen.box
                if chosen.preview is not None:
                    result.preview = chosen.preview
                result.probabilities = [round(float(v), 6) for v in p]
                result.prediction = class_value(self.classes[int(p.argmax())])
                result.confidence = round(float(p.max()), 6)
            results.extend(result for result, _ in batch)
        return results

    def read_sudoku(self, image: ImageInput) -> SudokuReading:
        """The sudoku in a photo (a file, PIL image or array): the puzzle found by its ruled
        outer frame and straightened (sudoku.py), each cell that holds a digit read by the
        network as one of 1-9, the digits a sudoku holds. A model fine-tuned with a ``none``
        class may also call a cell blank. A photo with no whole puzzle in it, or a file
        that cannot be read, gives a reading with ``error`` set."""
        source = source_name(image)
        check_reads_the_digits(self.classes, "reading a sudoku")
        try:
            gray, scale = grey_at(image, SUDOKU_SIDE)
        except ImageReadError as exc:
            return SudokuReading(source, error=str(exc))
        puzzle = sudoku.find_puzzle(gray)
        if puzzle is None:
            return SudokuReading(source, error=NO_PUZZLE)
        digits = [i for i, cell in enumerate(puzzle.cells) if cell.ink is not None]
        grid, confidence = [0] * 81, [None] * 81
        if digits:
            probabilities = self.read(np.stack([puzzle.cells[i].ink for i in digits]))
            allowed = np.array([c in "123456789" for c in self.classes])
            blank = np.array([c == "none" for c in self.classes])
            for i, p in zip(digits, probabilities):
                if blank.any() and p[blank].max() >= p[allowed].max():
                    continue
                best = int(np.flatnonzero(allowed)[p[allowed].argmax()])
                grid[i], confidence[i] = int(self.classes[best]), round(float(p[best]), 6)
        return SudokuReading(source, grid, confidence,
                             [i for i, cell in enumerate(puzzle.cells) if cell.candidates],
                             [[round(float(x) * scale, 1), round(float(y) * scale, 1)] for x, y in puzzle.corners],
                             sudoku.conflicts(np.array(grid)), puzzle.blurred,
                             [cell.box if grid[i] else None for i, cell in enumerate(puzzle.cells)])

    def read_numbers(self, inputs: Iterable[ImageInput], workers: int | None = None) -> list[NumberReading]:
        """The number written in each image (a file, PIL image or array; a row of digits such
        as a check amount cropped to its line, or a photo of a page on which a number is written
        small: whole_numbers.number_line): cut into candidate digits (whole_numbers.py;
        from 16 images on in ``workers`` forked processes, default one per CPU core), every
        candidate read by the network in one batch, and the split it is surest of taken. A
        model trained with --not-a-digit can say that a candidate is half a digit, or two, and
        reads better. An image with no digits, or a file that cannot be read, gives a reading
        with ``error`` set."""
        check_reads_the_digits(self.classes, "reading a number")
        inputs = list(inputs)
        workers = min(workers if workers is not None else (os.cpu_count() or 1), len(inputs) // 8)
        cut = map_in_processes(number_candidates, inputs, workers, chunksize=8)
        readings = [NumberReading(source_name(item), error=error) for item, (error, _, _, _) in zip(inputs, cut)]
        found = [(reading, *job[1:]) for reading, job in zip(readings, cut) if job[0] is None]
        if not found:
            return readings
        probabilities = self.read(np.concatenate([np.stack([c.digit for c in pieces]) for _, _, pieces, _ in found]))
        start = 0
        for reading, line, pieces, scale in found:
            digits = whole_numbers.best_path(line, pieces, probabilities[start:start + len(pieces)], self.classes)
            start += len(pieces)
            for digit in digits:
                digit.box = tuple(round(v * scale) for v in digit.box)
            reading.digits = digits or None
            reading.error = None if digits else NO_DIGITS
        return readings

    def read_number(self, image: ImageInput) -> NumberReading:
        """``read_numbers`` for one image."""
        return self.read_numbers([image])[0]

    @staticmethod
    def _prepare(item: ImageInput, label: int | str | None, found: Examined,
                 classes: tuple[str, ...]) -> tuple[Prediction, Digit | None]:
        is_path = isinstance(item, (str, Path))
        source = source_name(item)
        if label is None and is_path:
            label = label_from_path(Path(item), classes)
        digit, preview, error = found
        if digit is None:
            return Prediction(source, label, error=error, preview=preview, classes=classes), None
        return Prediction(source, label, preview=preview, classes=classes), digit


def number_candidates(image: ImageInput) -> tuple[str | None, whole_numbers.Line | None,
                                                 list[whole_numbers.Candidate], float]:
    """An image of a number read and cut into candidate digits (no network: a worker's job):
    an error or None, the line of ink, its candidates, and the image's full width over the
    width read (a JPEG is decoded at a reduced scale)."""
    try:
        gray, scale = grey_at(image, NUMBER_SIDE)
    except ImageReadError as exc:
        return str(exc), None, [], 1.0
    line = whole_numbers.number_line(gray)
    found = whole_numbers.candidates(line) if line is not None else []
    if not found:
        return NO_DIGITS, None, [], 1.0
    return None, line, found, scale


@contextlib.contextmanager
def examining(inputs: list[ImageInput], previews: bool = False, workers: int | None = None,
              whole: bool = False) -> Iterator[Iterator[Examined]]:
    """The digits of ``inputs``, found in order (each input taken whole, with ``whole``).
    Finding them is the slow part, a few milliseconds an image, so from 64 images on it runs
    in ``workers`` forked processes (default: one per CPU core, where processes can fork),
    and starts at once: the caller can load its model meanwhile."""
    jobs = [(item, previews, whole) for item in inputs]
    workers = min(workers if workers is not None else (os.cpu_count() or 1), len(jobs) // 32)  # 32 a chunk
    with forked_pool(workers) or contextlib.nullcontext() as pool:
        yield pool.imap(examine_job, jobs, chunksize=32) if pool else map(examine_job, jobs)


# --------------------------------------------------------------------------- command line


def find_images(paths: Sequence[Path]) -> tuple[list[Path], list[str]]:
    """Files as given, folders searched recursively for image files, each in sorted order.
    Returns the images and a list of problems (missing paths, empty folders)."""
    images, problems = [], []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                           and p.name != OVERVIEW_NAME)
            if not found:
                problems.append(f"{path}: folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            images.extend(found)
        elif path.exists():
            images.append(path)
        else:
            problems.append(f"{path}: no such file or folder")
    return images, problems


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Predict digits in images with a trained LeNet-5.")
    parser.add_argument("paths", nargs="*", type=Path,
                        help="image files or folders (recursive); default: the digit_*.png files in test_digits/")
    parser.add_argument("--model", type=Path, default=None,
                        help=f"checkpoint to use (default: {DEFAULT_CHECKPOINT}; with --number, {NUMBERS_CHECKPOINT} "
                             "where it exists)")
    parser.add_argument("--top-k", type=int, default=1, metavar="K", help="also show the next K-1 likeliest classes")
    parser.add_argument("--json", action="store_true", help="print one JSON document and nothing else")
    parser.add_argument("--report", type=Path, metavar="PNG",
                        help="write a picture of the preprocessed images, the predictions and a confusion matrix")
    parser.add_argument("--sudoku", action="store_true",
                        help="read each image as a photo of a whole sudoku and print its 9 x 9 grid")
    parser.add_argument("--solve", action="store_true", help="with --sudoku: print the solution as well")
    parser.add_argument("--number", action="store_true",
                        help="read each image as a row of digits (a check amount, a number on a form, or a photo "
                             "of a page with a number written on it) and print the number; best with a model "
                             "trained with --not-a-digit")
    parser.add_argument("--mnist-test", action="store_true", help="measure accuracy on the 10,000 MNIST test images")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder holding MNIST/raw/, for --mnist-test (default: $MNIST_DATA_DIR, else ./data)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="cpu",
                        help="where to run the model; auto picks CUDA, then MPS, then CPU (default: cpu, "
                             "fastest for a few images)")
    args = parser.parse_args(argv)
    if args.top_k < 1:
        parser.error(f"--top-k must be 1 or more, got {args.top_k}")
    if args.mnist_test and args.paths:
        parser.error("--mnist-test takes no image paths")
    if args.sudoku and (args.mnist_test or not args.paths):
        parser.error("--sudoku needs photos of sudokus: python inference.py --sudoku PHOTO...")
    if args.solve and not args.sudoku:
        parser.error("--solve goes with --sudoku")
    if args.report is not None and (problem := not_a_png_name("--report", args.report)):
        parser.error(problem)
    if args.number and (args.sudoku or args.mnist_test or not args.paths):
        parser.error("--number needs images of numbers, and goes with neither --sudoku nor --mnist-test: "
                     "python inference.py --number IMAGE...")
    if args.model is None:
        numbers = Path(NUMBERS_CHECKPOINT)
        args.model = numbers if args.number and numbers.is_file() else Path(DEFAULT_CHECKPOINT)
    return args


def load_predictor(args: argparse.Namespace) -> Predictor | None:
    """The model named by --model, or None after one error line that says what to do."""
    try:
        return Predictor.from_file(args.model, args.device)
    except ModelFileError as exc:
        fix = "Make one with: python export.py" if args.model.suffix.lower() == ".onnx" else \
            "Train one first with: python train.py"
        print(f"error: {exc}. {fix}", file=sys.stderr)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.mnist_test:
        predictor = load_predictor(args)
        return 2 if predictor is None else mnist_test(predictor, args)

    if args.paths:
        images, problems = find_images(args.paths)
    elif DEFAULT_FOLDER.is_dir():
        images = sorted(DEFAULT_FOLDER.glob("digit_*.png"))
        problems = [] if images else [f"{DEFAULT_FOLDER}: holds no digit_*.png images"]
    else:
        images, problems = [], [f"{DEFAULT_FOLDER}/ does not exist"]
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if not images:
        hint = "" if args.paths else "; create it with: python generate_test_digits.py, or give image paths"
        print(f"error: no images to read{hint}", file=sys.stderr)
        return 2

    if args.sudoku:
        predictor = load_predictor(args)
        return 2 if predictor is None else read_sudokus(predictor, images, args, problems)

    if args.number:
        predictor = load_predictor(args)
        return 2 if predictor is None else read_numbers(predictor, images, args, problems)

    previews = args.report is not None
    with examining(images, previews) as found:
        # From 64 images on, worker processes read them from here on while this one loads
        # the model: importing torch takes longer than reading a thousand images.
        predictor = load_predictor(args)
        if predictor is None:
            return 2
        # a model that reads its inputs whole does not read what was found: read again, once these workers stop
        results = None if predictor.whole_image else predictor.predict(images, previews=previews, examined=found)
    if results is None:
        results = predictor.predict(images, previews=previews)
    if reads_the_digits(predictor.classes):
        add_whole_image_hints(predictor, results)
    summary = summarise(results)
    if args.json:
        json.dump({"classes": [class_value(c) for c in predictor.classes],
                   "results": [r.to_json() for r in results], "summary": summary}, sys.stdout)
        sys.stdout.write("\n")
    else:
        print_results(results, summary, args.top_k)
    if args.report and not saved_report(lambda: write_report(results, args.report, predictor.classes), args):
        return 1
    failed = sum(r.error is not None for r in results)
    return 1 if failed or problems else 0


def add_whole_image_hints(predictor: Predictor, results: list[Prediction]) -> None:
    """Say where an image plainly holds more than the one digit it was read as: a wide image
    in which ``read_numbers`` finds a row of several digits (a check amount read as one digit
    is otherwise silently wrong), and a large one that holds a whole sudoku. An image in which
    no single digit was found because its ink is a row (a number written small on a sheet)
    says that, rather than that it is blank."""
    from PIL import Image

    rows, unread = [], []
    for result in results:
        path = Path(result.source)
        if result.error == NO_DIGIT and path.is_file():
            unread.append(result)
        if result.error is not None or not path.is_file():
            continue
        try:
            with Image.open(path) as image:
                width, height = image.size
            if width >= ROW_ASPECT * height:
                rows.append(result)
            elif min(width, height) >= PUZZLE_SIDE and \
                    sudoku.find_puzzle(to_grayscale(read_image(path, longest=SUDOKU_SIDE))) is not None:
                result.hint = "this photo holds a whole sudoku: read it with --sudoku"
        except (OSError, ValueError):
            continue  # it was read once; a hint is not worth an error
    for result, reading in zip(rows + unread, predictor.read_numbers([r.source for r in rows + unread])):
        if reading.digits is None or len(reading.digits) < 2:
            continue
        if result.error is None:
            result.hint = f"this image holds a row of {len(reading.digits)} digits: read them all with --number"
        else:
            result.error = (f"no single digit found: this image holds a row of {len(reading.digits)} digits; "
                            "read them with --number")


def saved_report(write: Callable[[], None], args: argparse.Namespace) -> bool:
    """Write --report with ``write``: its path printed (not with --json), or one error line
    and False where it cannot be written."""
    try:
        write()
    except OSError as exc:
        print(f"error: cannot write {args.report}: {exc.strerror or exc}", file=sys.stderr)
        return False
    if not args.json:
        print(f"Report: {args.report}")
    return True


def read_sudokus(predictor: Predictor, images: list[Path], args: argparse.Namespace, problems: list[str]) -> int:
    """inference.py --sudoku: each photo's grid (and its solution, with --solve), as text or
    JSON, and with --report a picture of each photo with the puzzle's outline and the digits
    read. Exit 1 where a photo held no puzzle or a path was missing, after reading the rest."""
    try:
        readings = [predictor.read_sudoku(path) for path in images]
    except ValueError as exc:  # a model that does not read the digits
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        json.dump({"sudokus": [r.to_json(args.solve) for r in readings]}, sys.stdout)
        sys.stdout.write("\n")
    else:
        for reading in readings:
            print_sudoku(reading, args.solve)
    if args.report and not saved_report(lambda: write_sudoku_report(readings, args.report), args):
        return 1
    return 1 if problems or any(r.error is not None for r in readings) else 0


def read_numbers(predictor: Predictor, images: list[Path], args: argparse.Namespace, problems: list[str]) -> int:
    """inference.py --number: each image's number, as text or JSON, and with --report a
    picture of each image with its digits' boxes and readings. Exit 1 where an image held no
    digits or a path was missing, after reading the rest."""
    try:
        readings = predictor.read_numbers(images)
    except ValueError as exc:  # a model that does not read the digits
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        json.dump({"numbers": [r.to_json() for r in readings]}, sys.stdout)
        sys.stdout.write("\n")
    else:
        if "none" not in predictor.classes:
            print(f"note: {args.model} cannot say 'not a digit'; one that can reads numbers better: "
                  f"python train.py --preset numbers (it writes {NUMBERS_CHECKPOINT})")
        width = max(len(r.source) for r in readings)
        for reading in readings:
            if reading.error is not None:
                print(f"{reading.source:<{width}}  error: {reading.error}")
            else:
                print(f"{reading.source:<{width}}  {reading.number:<10} {len(reading.digits)} digit(s), "
                      f"the least sure {reading.confidence:.0%}")
    if args.report and not saved_report(lambda: write_number_report(readings, args.report), args):
        return 1
    return 1 if problems or any(r.error is not None for r in readings) else 0


def read_again(source: str, longest: int) -> tuple[np.ndarray, float] | None:
    """The image a reading came from, read again for a report as it was read (``grey_at``):
    grey, and the decoded width over the image's own (to draw boxes given in its pixels);
    None where it was no file or cannot be read now."""
    try:
        if not Path(source).is_file():
            return None
        gray, full_over_read = grey_at(Path(source), longest)
        return gray, 1 / full_over_read
    except ImageReadError:
        return None


def write_number_report(readings: list[NumberReading], path: Path, max_images: int = 24) -> None:
    """Each image (up to ``max_images``) with a box around each digit read and the digit
    above it, so a misread or a missed cut shows where it is."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    shown = readings[:max_images]
    fig = Figure(figsize=(8, 1.6 * len(shown)), layout="constrained")
    FigureCanvasAgg(fig)
    for ax, reading in zip(fig.subplots(len(shown), 1, squeeze=False)[:, 0], shown):
        ax.axis("off")
        again = read_again(reading.source, NUMBER_SIDE)
        name = Path(reading.source).name[:50]
        title = f"{name}: {reading.number}" if reading.error is None else f"{name}: {reading.error}"
        ax.set_title(title, fontsize=9, loc="left", color="black" if reading.error is None else "tab:orange")
        if again is None:
            continue
        gray, scale = again
        ax.imshow(gray, cmap="gray", vmin=0, vmax=1)
        boxes = [tuple(v * scale for v in digit.box) for digit in reading.digits or []]
        for digit, (x, y, w, h) in zip(reading.digits or [], boxes):
            ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor="tab:blue", linewidth=1.5))
            ax.text(x + w / 2, y, digit.value, ha="center", va="bottom", fontsize=10, weight="bold",
                    color="tab:blue" if digit.confidence >= 0.5 else "red")
        if boxes:  # a number small in a photo: its line, not the whole page
            left, top = min(b[0] for b in boxes), min(b[1] for b in boxes)
            right, bottom = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
            tall = bottom - top
            if tall < whole_numbers.MIN_DIGIT * gray.shape[0]:
                ax.set_xlim(left - tall, right + tall)
                ax.set_ylim(bottom + tall, top - tall)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    atomic_write(path, lambda tmp: tmp.write_bytes(buffer.getvalue()))


def grid_text(grid: Sequence[int]) -> list[str]:
    """A grid as 9 lines of text, '.' for a blank cell, the 3 x 3 boxes set apart."""
    rows = []
    for r in range(9):
        cells = ["." if v == 0 else str(v) for v in grid[r * 9:r * 9 + 9]]
        rows.append(" | ".join(" ".join(cells[c:c + 3]) for c in (0, 3, 6)))
        if r in (2, 5):
            rows.append("------+-------+------")
    return rows


def print_sudoku(reading: SudokuReading, solve: bool) -> None:
    if reading.error is not None:
        print(f"{reading.source}  error: {reading.error}")
        return
    read = [c for c in reading.confidence if c is not None]
    line = f"{reading.source}  {len(read)} digits"
    if read:
        line += f", the least sure {min(read):.0%}"
    if reading.candidates:
        line += f"; {len(reading.candidates)} cell(s) of small pencilled candidates read as blank"
    print(line)
    if reading.blurred:
        print("warning: the puzzle is blurred in this photo; check the digits read, or take it again")
    print("\n".join(grid_text(reading.grid)))
    if reading.conflicts:
        cells = ", ".join(f"row {r + 1} column {c + 1}" for r, c in reading.conflicts)
        print(f"Not a valid sudoku: a digit repeats in a row, column or box at {cells}; "
              "those are the likeliest misreads")
    elif solve:
        solution = reading.solution()
        if solution is None:
            print("This grid has no solution: a digit may be misread, or one missed")
        else:
            print("Solution:")
            print("\n".join(grid_text(solution)))
    print()


def write_sudoku_report(readings: list[SudokuReading], path: Path, max_photos: int = 12) -> None:
    """Each photo (up to ``max_photos``) with the puzzle's outline found in green and, beside
    it, the straightened puzzle with each digit read written in its cell (red where it
    conflicts)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shown = readings[:max_photos]
    fig = Figure(figsize=(9, 4.2 * len(shown)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(shown), 2, squeeze=False)
    for (photo_ax, grid_ax), reading in zip(axes, shown):
        photo_ax.axis("off")
        grid_ax.axis("off")
        again = read_again(reading.source, SUDOKU_SIDE)
        name = Path(reading.source).name[:40]
        if again is not None:
            gray, scale = again
            photo_ax.imshow(gray, cmap="gray", vmin=0, vmax=1)
            if reading.corners is not None:
                outline = np.array(reading.corners + reading.corners[:1]) * scale
                photo_ax.plot(outline[:, 0], outline[:, 1], color="lime", linewidth=2)
        photo_ax.set_title(name if reading.error is None else f"{name}\n{reading.error[:60]}", fontsize=8,
                           color="black" if reading.error is None else "tab:orange")
        if again is None or reading.grid is None:
            continue
        straight = sudoku.straighten(gray, np.float32(reading.corners) * scale)
        grid_ax.imshow(straight, cmap="gray", vmin=0, vmax=1, alpha=0.5)
        conflicting = set(reading.conflicts or [])
        for i, value in enumerate(reading.grid):
            if value:
                r, c = divmod(i, 9)
                grid_ax.text((c + 0.82) * sudoku.CELL, (r + 0.85) * sudoku.CELL, str(value), fontsize=10,
                             ha="center", va="center", weight="bold",
                             color="red" if (r, c) in conflicting else "tab:blue")
        grid_ax.set_title("read (blue; red: a repeated digit)" + ("; blurred" if reading.blurred else ""), fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    atomic_write(path, lambda tmp: tmp.write_bytes(buffer.getvalue()))


def summarise(results: list[Prediction]) -> dict:
    labeled = [r for r in results if r.label is not None]
    correct = sum(bool(r.correct) for r in labeled)
    return {"total": len(results), "labeled": len(labeled), "correct": correct,
            "accuracy": round(correct / len(labeled), 6) if labeled else None,
            "errors": sum(r.error is not None for r in results)}


def _marks() -> tuple[str, str]:
    """Check and cross where the terminal can print them (some Windows consoles cannot)."""
    try:
        "✓✗".encode(sys.stdout.encoding or "ascii")
        return "✓", "✗"
    except (UnicodeEncodeError, LookupError):
        return "ok", "X"


def print_results(results: list[Prediction], summary: dict, top_k: int) -> None:
    right, wrong = _marks()
    width = min(60, max(len(r.source) for r in results))
    for r in results:
        label = "?" if r.label is None else str(r.label)
        if r.error is not None:
            print(f"{r.source:<{width}}  true {label}  error: {r.error}")
            continue
        mark = "" if r.correct is None else (right if r.correct else wrong)
        line = f"{r.source:<{width}}  true {label}  predicted {r.prediction}  {r.confidence:7.2%}  {mark}"
        if top_k > 1:
            line += "   next: " + ", ".join(f"{d} {p:.1%}" for d, p in r.top_k(top_k)[1:])
        if r.hint is not None:
            line += f"   ({r.hint})"
        print(line.rstrip())
    if summary["labeled"]:
        print(f"Accuracy: {summary['correct']}/{summary['labeled']} ({summary['accuracy']:.1%})")
    if summary["errors"]:
        print(f"{summary['errors']} image(s) could not be classified (see above)")


def confusion_matrix(labels: Sequence[int | str], predictions: Sequence[int | str],
                     classes: Sequence[str] = DIGITS) -> np.ndarray:
    """Counts of (true class, predicted class), rows and columns in the order of ``classes``."""
    index = {name: i for i, name in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    rows = np.asarray([index[str(v)] for v in labels], dtype=np.int64)
    columns = np.asarray([index[str(v)] for v in predictions], dtype=np.int64)
    np.add.at(matrix, (rows, columns), 1)
    return matrix


def write_report(results: list[Prediction], path: Path, classes: Sequence[str] = DIGITS, max_images: int = 300) -> None:
    """Grid of the inputs, each with the box that was read, beside the digits as the model
    saw them (wrong ones in red) and, where labels are known, the confusion matrix. Wrong
    answers are always shown; the rest fill up to max_images."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shown = [r for r in results if r.correct is False or r.error is not None]
    shown += [r for r in results if r not in shown][:max(0, max_images - len(shown))]
    scored = [r for r in results if r.label is not None and r.prediction is not None]
    cols = min(8, max(1, len(shown)))
    rows = max(1, -(-len(shown) // cols))
    matrix_height = 5 if scored else 0
    fig = Figure(figsize=(max(cols * 1.9 + 0.4, 6), rows * 1.35 + matrix_height + 0.8), layout="constrained")
    FigureCanvasAgg(fig)
    grid, matrix_area = (fig.subfigures(2, 1, height_ratios=[rows * 1.35, matrix_height]) if scored else (fig, None))
    axes = np.atleast_1d(grid.subplots(rows, cols, squeeze=False)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, r in zip(axes, shown):
        ax.imshow(_report_tile(r))
        name = Path(r.source).name[:24]
        if r.error is not None:
            text, colour = f"{name}\nno result", "tab:orange"
        else:
            truth = "?" if r.label is None else r.label
            text = f"{name}\npred {r.prediction} ({r.confidence:.0%}) true {truth}"
            colour = "red" if r.correct is False else "black"
        ax.set_title(text, fontsize=6.5, color=colour)
    summary = summarise(results)
    title = f"{len(results)} images"
    if summary["labeled"]:
        title += f", accuracy {summary['correct']}/{summary['labeled']} ({summary['accuracy']:.1%})"
    if len(shown) < len(results):
        title += f"; showing {len(shown)} (all mistakes first)"
    grid.suptitle(title)
    if scored:
        ax = matrix_area.subplots()
        _draw_confusion(ax, confusion_matrix([r.label for r in scored], [r.prediction for r in scored], classes),
                        classes)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    atomic_write(path, lambda tmp: tmp.write_bytes(buffer.getvalue()))


def _report_tile(result: Prediction, side: int = 96) -> np.ndarray:
    """The input with its box (where there is a preview) beside the 28x28 digit, enlarged."""
    tile = np.full((side, 2 * side + 4, 3), 255, np.uint8)
    if result.preview is not None:
        h, w = result.preview.shape[:2]
        tile[(side - h) // 2:(side - h) // 2 + h, (side - w) // 2:(side - w) // 2 + w] = result.preview
    if result.image is not None:
        digit = np.kron(np.pad(result.image, 2), np.ones((side // 32, side // 32), np.uint8))
        pad = (side - digit.shape[0]) // 2
        tile[pad:pad + digit.shape[0], side + 4 + pad:side + 4 + pad + digit.shape[1]] = digit[..., None]
    return tile


def _draw_confusion(ax, matrix: np.ndarray, classes: Sequence[str] = DIGITS) -> None:
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        if count:
            ax.text(j, i, str(count), ha="center", va="center", fontsize=7,
                    color="white" if count > matrix.max() / 2 else ("red" if i != j else "black"))
    ax.set(xticks=range(len(classes)), yticks=range(len(classes)), xlabel="predicted", ylabel="true",
           title="Confusion matrix")
    ax.set_xticklabels(classes)
    ax.set_yticklabels(classes)


def mnist_test(predictor: Predictor, args: argparse.Namespace) -> int:
    """Accuracy on MNIST's test set, as stored and as it comes out of the preprocessing
    (``mnist_like``, or ``whole_digit`` for a model that reads its inputs whole): the second
    figure shows what the preprocessing costs on digits that need none. MNIST's loader is
    model.py's, so this one path imports torch whatever the model file."""
    from model import DataUnavailableError, default_data_dir, load_mnist

    classes = predictor.classes
    if not reads_the_digits(classes):
        print(f"error: --mnist-test needs a model that reads the ten digits; {args.model} reads "
              f"{', '.join(classes)}", file=sys.stderr)
        return 2
    try:
        images, labels = load_mnist(args.data_dir or default_data_dir(), train=False)
    except DataUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    images, labels = images.numpy(), labels.numpy()
    prepare = (lambda img: whole_digit(img).image) if predictor.whole_image else mnist_like
    names = np.asarray(classes)
    predictions = names[predictor.probabilities(images).argmax(1)]
    through_predictions = names[predictor.read(np.stack([prepare(img) for img in images])).argmax(1)]
    truth = labels.astype(str)
    accuracy = float((predictions == truth).mean())
    through_accuracy = float((through_predictions == truth).mean())
    matrix = confusion_matrix(truth.tolist(), predictions.tolist(), classes)
    per_class = {int(d): float(matrix[classes.index(d), classes.index(d)] / matrix[classes.index(d)].sum())
                 for d in DIGITS}
    if args.json:
        json.dump({"accuracy": accuracy, "accuracy_through_preprocessing": through_accuracy, "total": len(labels),
                   "per_class": per_class, "classes": [class_value(c) for c in classes],
                   "confusion_matrix": matrix.tolist()}, sys.stdout)
        sys.stdout.write("\n")
        return 0
    print(f"MNIST test accuracy: {accuracy:.2%} ({int(matrix.trace())}/{len(labels)})")
    print(f"Through the image preprocessing ({'whole_digit' if predictor.whole_image else 'mnist_like'}): "
          f"{through_accuracy:.2%}")
    print("Per class: " + ", ".join(f"{d}: {p:.2%}" for d, p in per_class.items()))
    print("Confusion matrix (rows: true digit, columns: predicted):")
    print("      " + "".join(f"{c:>6}" for c in classes))
    for d in DIGITS:
        print(f"{d:>6}" + "".join(f"{n:>6}" for n in matrix[classes.index(d)]))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # every file is written whole or not at all
        print("\nInterrupted.", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # `python inference.py ... | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
