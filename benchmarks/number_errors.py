"""Where the number reader's misses come from: a measurement, not a tool.

    python benchmarks/number_errors.py --data-dir ../shared/datasets
    python benchmarks/number_errors.py --number-model scratch/seed2.pth --rows 400

For every amount or row that ``inference.py --number`` reads wrong, the first of these that
holds for it:
- **no cut**: a digit has no candidate around it (whole_numbers.candidates): the cut
  between it and a neighbour it touches was not offered, or its strokes were split apart;
- **misread**: each digit has candidates around it, but for one of them none reads as it;
- **path**: every digit has a candidate around it that reads right, and the best path
  (whole_numbers.best_path) took another split: a dash or the security pattern read as a
  digit, two digits joined, a digit left out as a separator.
A candidate is around a digit where, for the real check amounts, its box overlaps the
digit's labelled box by half (intersection over union) and, for rows drawn from MNIST's
test digits (number_pages.py, as real_world_eval.py draws them), it holds four fifths of
that digit's ink and that ink four fifths of its own (number_pages.WHOLE). "misread" is
what teaching the network more writers could mend, "no cut" what better cuts could, and
"path" what better scoring could.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import number_pages  # noqa: E402
import whole_numbers  # noqa: E402
from artifacts import NUMBERS_CHECKPOINT, ModelFileError  # noqa: E402
from inference import Predictor, number_candidates  # noqa: E402
from model import DataUnavailableError, load_mnist  # noqa: E402

CHECKS = ROOT.parent / "shared" / "realworld" / "numbers" / "check_amounts"
KINDS = ("read exactly", "path", "misread", "no cut")
OVERLAP = 0.5  # a candidate's box is around a labelled digit where their intersection over union is this much


def kind_of_miss(truth: str, read: str, around: list[list[int]], reads: np.ndarray) -> str:
    """The kind of a reading: ``around[d]`` lists the candidates around the truth's d-th digit,
    ``reads`` each candidate's likeliest digit."""
    if read == truth:
        return "read exactly"
    if not all(around):
        return "no cut"
    if not all(any(reads[k] == int(value) for k in candidates) for value, candidates in zip(truth, around)):
        return "misread"
    return "path"


def read_line(predictor: Predictor, line: whole_numbers.Line, found: list) -> tuple[str, np.ndarray]:
    """The number read from a line's candidates, and each candidate's likeliest digit."""
    probabilities = predictor.read(np.stack([c.digit for c in found]))
    path = whole_numbers.best_path(line, found, probabilities, predictor.classes)
    digits = [k for k, name in enumerate(predictor.classes) if name in whole_numbers.DIGIT_CLASSES]
    reads = np.array(digits)[probabilities[:, digits].argmax(1)]
    return "".join(d.value for d in path), reads


def overlap(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """Intersection over union of two boxes (x, y, w, h)."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / max(a[2] * a[3] + b[2] * b[3] - inter, 1)


def check_amount_kinds(predictor: Predictor, folder: Path) -> Counter:
    """The kind of each real check amount's reading (labels.csv gives each digit's box)."""
    kinds: Counter = Counter()
    with (folder / "labels.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            error, line, found, scale = number_candidates(folder / "images" / row["file"])
            if line is None:
                kinds["no cut"] += 1
                continue
            read, reads = read_line(predictor, line, found)
            boxes = [whole_numbers.to_image_box(line, c.box) for c in found]
            boxes = [tuple(round(v * scale) for v in box) for box in boxes]
            labelled = [tuple(map(int, box.split(","))) for box in row["digit_boxes"].split(";")]
            around = [[k for k, box in enumerate(boxes) if not found[k].separator and overlap(box, digit) >= OVERLAP]
                      for digit in labelled]
            kinds[kind_of_miss(row["number"], read, around, reads)] += 1
    return kinds


def drawn_row_kinds(predictor: Predictor, images: np.ndarray, labels: np.ndarray, count: int, seed: int,
                    lengths: tuple[int, int], touching_every: int) -> dict[bool, Counter]:
    """The kind of each drawn row's reading, rows with a touching pair and without apart: the
    rows of real_world_eval.py's generated-numbers lines for the same seed."""
    kinds: dict[bool, Counter] = {True: Counter(), False: Counter()}
    for k in range(count):
        rng = np.random.default_rng([seed, 27, lengths[1], k])
        pick = rng.integers(0, len(images), int(rng.integers(lengths[0], lengths[1] + 1)))
        touching = k % touching_every == 0
        image, owner = number_pages.number_row(images[pick], rng, touching=touching)
        truth = "".join(str(d) for d in labels[pick])
        line = whole_numbers.ink_line(image)
        found = whole_numbers.candidates(line) if line is not None else []
        if not found:
            kinds[touching]["no cut"] += 1
            continue
        read, reads = read_line(predictor, line, found)
        by_atom = number_pages.ink_by_digit(line, owner, len(pick))
        around: list[list[int]] = [[] for _ in pick]
        for index, candidate in enumerate(found):
            d, of_digit, of_piece = number_pages.digit_held(by_atom, candidate)
            if not candidate.separator and of_digit >= number_pages.WHOLE and of_piece >= number_pages.WHOLE:
                around[d].append(index)
        kinds[touching][kind_of_miss(truth, read, around, reads)] += 1
    return kinds


def print_kinds(name: str, kinds: Counter) -> None:
    """One line: how many images, and how many (and what share) of each kind."""
    total = sum(kinds.values())
    cells = "  ".join(f"{kinds[kind]:>5} ({kinds[kind] / max(total, 1):6.1%})" for kind in KINDS)
    print(f"{name:48s} {total:>6}  {cells}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number-model", default=str(ROOT / NUMBERS_CHECKPOINT),
                        help="the numbers model (default: %(default)s; python train.py --preset numbers)")
    parser.add_argument("--data-dir", default=os.environ.get("MNIST_DATA_DIR", "data"))
    parser.add_argument("--checks", type=Path, default=CHECKS, help="the real check amounts (default: %(default)s)")
    parser.add_argument("--rows", type=int, default=400, help="drawn rows of each kind (default: 400; 0 for none)")
    parser.add_argument("--seed", type=int, default=0, help="the drawn rows' seed (default: 0, real_world_eval.py's)")
    args = parser.parse_args(argv)

    try:  # the model and MNIST first: a missing file is said in a line before any reading
        predictor = Predictor.from_file(args.number_model)
        mnist = load_mnist(Path(args.data_dir), train=False) if args.rows else None
    except (ModelFileError, DataUnavailableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{'':48s} {'images':>6}  " + "  ".join(f"{kind:>14}" for kind in KINDS))
    if (args.checks / "labels.csv").is_file():
        print_kinds("real check amounts", check_amount_kinds(predictor, args.checks))
    else:
        print(f"real check amounts: skipped ({args.checks / 'labels.csv'} is absent)")
    if mnist is not None:
        images, labels = mnist[0].numpy(), mnist[1].numpy()
        for name, lengths, every in (("4 digits", (4, 4), 4), ("2-7 digits", (2, 7), 3)):
            kinds = drawn_row_kinds(predictor, images, labels, args.rows, args.seed, lengths, every)
            print_kinds(f"drawn rows of {name}, with a touching pair", kinds[True])
            print_kinds(f"drawn rows of {name}, without", kinds[False])
    return 0


if __name__ == "__main__":
    sys.exit(main())
