"""What each step of the preprocessing does to each set: the whole path, then the path with one
step left out at a time, read by the same model. The table behind docs/preprocessing.md.

    python benchmarks/preprocess_ablation.py --data-dir ../shared/datasets
    python benchmarks/preprocess_ablation.py --count 300 --steps page-lines clean-page

A step is left out by replacing its function in ``preprocess`` (or a setting of ``inference``)
for the run of that line only; every set is drawn once, from fixed seeds, and read under each
variant, so the differences are the step's alone. Sets: the real images in
../shared/realworld/ (where present), and MNIST test digits drawn as the evaluation draws them
(benchmarks/real_world_eval.py): in a fine pen, in a bold marker, small and off-centre, on
squared paper in a thin pen, on a sheet on a desk, photographed on squared and ruled paper
(the squared also small in the frame), and drawn off a canvas's edge; and photos of blank
pages, plain and squared or ruled, the squared or ruled also photographed whole (their squares
a few pixels), where the right answer is "no digit". Prints a Markdown
table: the whole path's accuracy, and each variant's difference from it in images.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import inference  # noqa: E402
import preprocess  # noqa: E402
import real_world_eval as rwe  # noqa: E402
from inference import Predictor, find_images, label_from_path  # noqa: E402
from model import load_mnist  # noqa: E402

# name: (what the step is for, the changes that leave it out: (module, attribute, stand-in))
STEPS: dict[str, tuple[str, list[tuple[object, str, object]]]] = {
    "polarity": ("polarity from the picture (else dark ink always)", [(preprocess, "_ink_is_dark", lambda gray, window: True)]),
    "polarity-median": ("in a photo, the polarity judged against a median, off the picture's edge (else a mean)", [
        (preprocess, "_detail", lambda gray, u8, window: gray - cv2.blur(cv2.blur(gray, (window, window)), (window, window)))]),
    "window": ("the lighting judged over a few strokes' width in photos (else half the picture)", [
        (preprocess, "_window", lambda gray, dark_ink: max(5, min(gray.shape) // 2) | 1)]),
    "sheet": ("a sheet of paper on a darker desk", [(preprocess, "_sheet", lambda gray: None)]),
    "falloff": ("light falling off to the corners is no ink", [(preprocess, "FALLOFF_INK", 0.0)]),
    "faintest": ("ink from 0.08 to 0.1 of the scale is a stroke unless the page's lines are half as dark (else none is)", [
        (preprocess, "FAINTEST", 0.1)]),
    "straight-lines": ("straight lines and frame edges", [
        (preprocess, "_remove_lines", lambda mask, reach, frames=True: np.zeros_like(mask))]),
    "flat-ground": ("a flat ground is a whole canvas: no frame's edge, no page's lines, all it joins is the digit", [
        (preprocess, "_flat_ground", lambda paper, ink: None)]),
    "grid-spectrum": ("in a photo, a grid's sharp peaks notched out of the ink's spectrum", [
        (preprocess, "GRID_PEAK", float("inf"))]),
    "page-lines": ("a page's printed lines, tilted and bent", [
        (preprocess, "page_lines", lambda ink, faint, reach, joined=True: np.zeros(ink.shape, np.uint8))]),
    "pen-over-lines": ("in a photo, ink twice as dark as the page's line it crosses is a stroke across it", [
        (preprocess, "PEN_OVER_LINES", float("inf"))]),
    "printed-dots": ("in a photo, many specks alike and apart beside a stroke are a dot-grid page's printing", [
        (preprocess, "_printed_dots", lambda stats, centroids, size: np.zeros(len(stats), bool))]),
    "flat-ink": ("ink much wider than tall is no digit", [(preprocess, "FLATTEST", float("inf"))]),
    "pale-ink": ("in a photo, pale ink that touches a stroke is the stroke's", [(preprocess, "FAINT", 1.0)]),
    "outline-bars": ("an outline round the digit, thinner bars beside it", [
        (preprocess, "_not_the_digit", lambda seed, labels, stats, widths: np.zeros(len(stats), bool))]),
    "clean-page": ("on a clean page, all the ink is the digit", [
        (preprocess, "_whole_page", lambda members, *a: members)]),
    "thickening": ("pens finer than MNIST's thickened", [(preprocess, "FINE_PEN", -2), (preprocess, "THIN_PEN", -1)]),
    "less-thickening": ("pens finer than MNIST's thickened less: from 4 at 4x, not 6, the finest to 8, not 11", [
        (preprocess, "FINE_PEN", 2), (preprocess, "THIN_PEN", 4), (preprocess, "TARGET_PEN", 8)]),
    "second-reading": ("the central piece alone as a second reading", [(inference, "READING_MARGIN", 1.0)]),
    "nudged-reading": ("unsure readings averaged over one-pixel nudges", [(inference, "SURE", 0.0)]),
}


@contextlib.contextmanager
def left_out(changes: list[tuple[object, str, object]]):
    saved = [(module, name, getattr(module, name)) for module, name, _ in changes]
    for module, name, value in changes:
        setattr(module, name, value)
    try:
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


def draw_sets(data_dir: Path, realworld: Path, count: int, seed: int) -> dict[str, tuple[list, list[int]]]:
    sets: dict[str, tuple[list, list[int]]] = {}
    if realworld.is_dir():
        for folder in rwe.real_sets(realworld):
            files, _ = find_images([folder])
            sets[folder.name] = (files, [label_from_path(f) for f in files])
    images, labels = load_mnist(data_dir, train=False)
    pick = np.random.default_rng(seed).permutation(len(images))[:count]
    digits, truth = images.numpy()[pick], labels[pick].tolist()
    rng = np.random.default_rng([seed, 9])
    sets["fine pen"] = (rwe.fine_pen(digits), truth)
    sets["marker"] = (rwe.marker(digits), truth)
    sets["off-centre"] = (rwe.off_centre(digits, rng), truth)
    sets["thin pen, squared"] = (rwe.squared_paper(digits, rng), truth)
    sets["desk"] = (rwe.on_a_desk(digits, rng), truth)
    sets["squared photo"] = (rwe.photographed(digits, (seed, 2), ruled=False), truth)
    sets["ruled photo"] = (rwe.photographed(digits, (seed, 3), ruled=True), truth)
    sets["small squared photo"] = (rwe.photographed(digits, (seed, 7), ruled=False, small=True), truth)
    sets["canvas edge"] = (rwe.drawn_off_canvas(digits, seed), truth)
    blank = np.random.default_rng([seed, 10])
    sets["blank page"] = ([blank_page(blank) for _ in range(count)], [None] * count)
    nothing = np.zeros((count, 28, 28), np.uint8)  # squared and ruled pages with nothing written on them
    for name, (squared, ruled), small in (("blank squared or ruled", (11, 12), False),
                                          ("blank page photographed whole", (21, 22), True)):
        sets[name] = (rwe.photographed(nothing[::2], (seed, squared), ruled=False, small=small)
                      + rwe.photographed(nothing[1::2], (seed, ruled), ruled=True, small=small), [None] * count)
    return sets


def blank_page(rng: np.random.Generator) -> np.ndarray:
    """A photo of a blank sheet (grey, 0-1): paper from dim to bright with its grain, the light
    falling off by 10-50% towards the corners from a point near the middle (a phone's lens
    loses up to about a stop there), half the time a shadow's ramp across; from a crop of 60x50
    to a photo of 800x600."""
    h, w = [(50, 60), (120, 160), (300, 400), (480, 640), (600, 800)][rng.integers(5)]
    page = rng.uniform(0.45, 0.95) + rng.normal(0, rng.uniform(0.005, 0.03), (h, w))
    y, x = np.linspace(-1, 1, h)[:, None] - rng.uniform(-0.2, 0.2), np.linspace(-1, 1, w)[None, :] - rng.uniform(-0.2, 0.2)
    page *= 1 - rng.uniform(0.1, 0.5) * np.minimum((x * x + y * y) / 2, 1)
    if rng.random() < 0.5:
        page *= np.linspace(rng.uniform(0.6, 1), 1, w)[None, :]
    return np.clip(page, 0, 1).astype(np.float32)


def correct(predictor: Predictor, inputs: list, truth: list[int | None]) -> int:
    """How many are read right: their digit, or for a blank page (truth None) no digit at all."""
    predictor.reading_margin = inference.READING_MARGIN
    if truth and truth[0] is None:
        return sum(r.error is not None for r in predictor.predict(inputs))
    return sum(bool(r.correct) for r in predictor.predict(inputs, truth))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "lenet5_model.pth"))
    parser.add_argument("--data-dir", default=os.environ.get("MNIST_DATA_DIR", "data"))
    parser.add_argument("--realworld", type=Path, default=ROOT.parent / "shared" / "realworld")
    parser.add_argument("--count", type=int, default=500, help="MNIST test digits per drawn set (default: 500)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--steps", nargs="+", choices=list(STEPS), default=list(STEPS), help="the steps to leave out")
    args = parser.parse_args(argv)

    predictor = Predictor.from_file(args.model)
    sets = draw_sets(Path(args.data_dir), args.realworld, args.count, args.seed)
    whole = {name: correct(predictor, *data) for name, data in sets.items()}
    print("| step left out | " + " | ".join(sets) + " |")
    print("| --- |" + " --- |" * len(sets))
    print("| none: the whole path | " + " | ".join(f"{whole[n] / len(d[1]):.1%}" for n, d in sets.items()) + " |",
          flush=True)
    for step in args.steps:
        what, changes = STEPS[step]
        with left_out(changes):
            changed = {name: correct(predictor, *data) - whole[name] for name, data in sets.items()}
        print(f"| {what} (`{step}`) | " + " | ".join(f"{d:+d}" if d else "0" for d in changed.values()) + " |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
