"""How well the trained model reads digits that are not MNIST's own, through inference.py's
preprocessing: the figures behind the README's "real-world" table.

    python benchmarks/real_world_eval.py --data-dir ../shared/datasets
    python benchmarks/real_world_eval.py --fonts /usr/share/fonts/truetype /usr/share/fonts/opentype
    python benchmarks/real_world_eval.py --realworld-only
    python benchmarks/real_world_eval.py --reading-margin 1   # each image's first reading only

Sets (each printed with its accuracy and size):
- real images people made, one line per set of ../shared/realworld/ (phone photos, scans,
  sudoku cells, meter crops, canvas drawings; labels from the digit folders), with how many
  were reported as holding no digit, and the phone photos turned 7 degrees either way;
  skipped with a note where the folder is absent;
- MNIST test digits, as stored and through mnist_like (the preprocessing must cost nothing);
- the same digits as a user's scan: dark ink on white paper, 4x larger; drawn with a fine pen
  on a large page (strokes thinned to a quarter); in a bold marker (strokes thickened); small
  and off-centre on a noisy 400x400 page; in a thin pen whose strokes break, on squared paper;
  on a sheet of paper photographed lying on a darker desk; in chalk on a dark board (light
  on dark, the one photographed kind so); photographed on squared and ruled
  paper, each followed by the same digits in the same pens on white paper (what the pen
  alone leaves readable: the most those pages can read), photographed small on squared paper
  (a twentieth to a tenth of the photo's height: the page's squares a few pixels, as in a
  photo of a whole page), on dot-grid and on engineering paper (a bolder line every fifth
  square; kinds drawn after the preprocessing's rules were set), and drawn on a canvas so large
  they run off its edge (photo_pages.py, each image from its own seed, so a set's first
  images do not change with --count);
- photos of whole sudokus: the real ones in ../shared/realworld/numbers/sudoku_photos/ (puzzles
  found, cells read right) and pages drawn by sudoku_pages.py (--sudokus of them);
- written numbers (inference.py --number, read by --number-model): the real check amounts in
  ../shared/realworld/numbers/check_amounts/ and rows of MNIST test digits drawn by
  number_pages.py (--numbers of them: 4 digits, a quarter with a touching pair, dark on
  light and light on dark; 2 to 7 digits; and 4 digits written small on a photographed
  page), each as the share read exactly (every digit, none extra) and of digits right;
- printed digits: generate_test_digits.py variants in matplotlib's 21 fonts and, with --fonts,
  in fonts the project never trains on (Debian's fonts-liberation, fonts-dejavu-extra,
  fonts-freefont-ttf, fonts-urw-base35 and fonts-noto-core install them; DejaVu's faces
  that matplotlib ships are left out);
- real handwriting from other writers: scikit-learn's 1,797 UCI digits (8x8, 43 writers),
  when scikit-learn is installed (it is not a project requirement).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import generate_test_digits  # noqa: E402
import photo_pages  # noqa: E402
import number_pages  # noqa: E402
import sudoku_pages  # noqa: E402
from artifacts import NUMBERS_CHECKPOINT, ModelFileError  # noqa: E402
from fonts import PRINTED_FONTS, FontError, load_font  # noqa: E402
from inference import READING_MARGIN, Predictor, find_images, label_from_path  # noqa: E402
from model import DataUnavailableError, load_mnist  # noqa: E402
from batch import map_in_processes  # noqa: E402
from preprocess import read_image  # noqa: E402


def scans(images: np.ndarray) -> list[np.ndarray]:
    return [255 - np.asarray(Image.fromarray(a).resize((112, 112), Image.Resampling.BICUBIC)) for a in images]


def fine_pen(images: np.ndarray) -> list[np.ndarray]:
    out = []
    for a in images:
        big = Image.fromarray(a).resize((280, 280), Image.Resampling.BICUBIC).point(lambda v: 255 if v > 128 else 0)
        out.append(255 - np.asarray(big.filter(ImageFilter.MinFilter(7)).filter(ImageFilter.MinFilter(7))))
    return out


def marker(images: np.ndarray) -> list[np.ndarray]:
    """A felt-tip marker: dark on white, 112x112, every stroke about 9 pixels bolder."""
    return [255 - np.asarray(Image.fromarray(a).resize((112, 112), Image.Resampling.BICUBIC).filter(ImageFilter.MaxFilter(9)))
            for a in images]


def off_centre(images: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    out = []
    for a in images:
        page = rng.normal(0.8, 0.04, (400, 400))
        size = int(rng.integers(40, 120))
        digit = np.asarray(Image.fromarray(a).resize((size, size), Image.Resampling.BICUBIC), dtype=float) / 255
        top, left = rng.integers(0, 400 - size, 2)
        page[top:top + size, left:left + size] -= 0.6 * digit
        out.append((np.clip(page, 0, 1) * 255).astype(np.uint8))
    return out


def squared_paper(images: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """A thin, dry pen on squared paper: strokes thinned until some break, grid lines across the
    page. Not a clean page, so the search may take a broken stroke alone as a second reading."""
    out = []
    for a in images:
        size, step = int(rng.integers(60, 120)), int(rng.integers(18, 30))
        page = rng.normal(0.85, 0.015, (200, 200))
        page[::step, :] -= 0.3
        page[:, ::step] -= 0.3
        pen = Image.fromarray(a).resize((size, size), Image.Resampling.BICUBIC).point(lambda v: 255 if v > 128 else 0)
        digit = np.asarray(pen.filter(ImageFilter.MinFilter(3)), dtype=float) / 255
        top, left = rng.integers(20, 180 - size, 2)
        page[top:top + size, left:left + size] -= 0.6 * digit
        out.append((np.clip(page, 0, 1) * 255).astype(np.uint8))
    return out


def on_a_desk(images: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """A 640x480 photo of a sheet of paper lying on a darker desk, the digit written on it: the
    sheet a quarter to a half of the frame, turned up to 10 degrees either way, the desk 0.2 to
    0.6 darker than the paper."""
    out = []
    for a in images:
        paper = rng.uniform(0.75, 0.9)
        photo = Image.fromarray(np.full((480, 640), round(255 * (paper - rng.uniform(0.2, 0.6))), np.uint8))
        centre = rng.uniform([280, 200], [360, 280])
        half = rng.uniform([110, 120], [160, 170])  # half the sheet's width and height
        turn = np.radians(rng.uniform(-10, 10))
        rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
        corners = centre + (np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * half) @ rotation.T
        sheet = Image.new("L", photo.size, 0)
        ImageDraw.Draw(sheet).polygon([tuple(c) for c in corners], fill=255)
        photo.paste(round(255 * paper), mask=sheet)
        page = np.asarray(photo.filter(ImageFilter.GaussianBlur(1)), dtype=float) / 255 + rng.normal(0, 0.015, (480, 640))
        size = int(rng.integers(60, 140))
        digit = np.asarray(Image.fromarray(a).resize((size, size), Image.Resampling.BICUBIC), dtype=float) / 255
        top, left = (centre[::-1] - size / 2 + rng.uniform(-30, 30, 2)).astype(int)
        page[top:top + size, left:left + size] -= 0.6 * digit
        out.append((np.clip(page, 0, 1) * 255).astype(np.uint8))
    return out


def on_a_board(images: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """A 640x480 photo of a digit in chalk on a dark board, light on dark: the board 0.1 to
    0.35 bright and lit unevenly from side to side, the chalk 0.4 to 0.6 brighter, the digit
    80 to 200 pixels, and half the time the light ledge or frame along the board's foot. A
    rule that decides the polarity is judged on it."""
    out = []
    for a in images:
        board = np.full((480, 640), rng.uniform(0.1, 0.35), np.float32)
        board *= np.linspace(rng.uniform(0.7, 1.1), rng.uniform(0.7, 1.1), 640, dtype=np.float32)[None, :]
        size = int(rng.integers(80, 200))
        chalk = np.asarray(Image.fromarray(a).resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32) / 255
        top, left = int(rng.integers(40, 440 - size)), int(rng.integers(40, 600 - size))
        board[top:top + size, left:left + size] += rng.uniform(0.4, 0.6) * np.clip(chalk, 0, 1)
        if rng.random() < 0.5:
            board[-int(rng.integers(10, 40)):, :] = rng.uniform(0.6, 0.9)
        board += rng.normal(0, 0.02, board.shape).astype(np.float32)
        out.append((np.clip(board, 0, 1) * 255).astype(np.uint8))
    return out


def photographed(digits: np.ndarray, seed: tuple[int, int], ruled: bool, small: bool = False,
                 pattern: str | None = None) -> list[np.ndarray]:
    """photo_pages.paper_photo of each digit, each from its own seed (``seed`` and its index),
    drawn by one process per core. ``small``: the digit a twentieth to a tenth of the photo's
    height (SMALL_SHARE), where the page's squares are a few pixels and a light pen's stroke
    barely wider than its lines, rather than the tenth to three tenths of paper_photo's range.
    ``pattern``: another of photo_pages.PATTERNS printed on the page than squares or rules."""
    jobs = [(digit, (*seed, i), ruled, small, pattern) for i, digit in enumerate(digits)]
    return map_in_processes(_photo, jobs, os.cpu_count() or 1, chunksize=16)


SMALL_SHARE = (0.05, 0.1)  # of the photo's height: a digit written small on a page photographed whole


def _photo(job: tuple[np.ndarray, tuple[int, ...], bool, bool, str | None]) -> np.ndarray:
    digit, seed, ruled, small, pattern = job
    rng = np.random.default_rng(seed)
    fixed = {"digit_share": rng.uniform(*SMALL_SHARE)} if small else {}
    if pattern:
        fixed["pattern"] = pattern
    return photo_pages.paper_photo(digit, rng, ruled=ruled, **fixed)[0]


def on_white(digits: np.ndarray, seed: tuple[int, int], ruled: bool) -> list[np.ndarray]:
    """The digits of ``photographed`` (same seeds) in the same pens on white paper: what the
    photographed pages could read at most, since the pen alone turns a few into other digits."""
    return [photo_pages.written_on_white(digit, np.random.default_rng((*seed, i)), ruled=ruled)
            for i, digit in enumerate(digits)]


def drawn_off_canvas(digits: np.ndarray, seed: int) -> list[np.ndarray]:
    """photo_pages.canvas_drawing of each digit, each from its own seed (``seed`` and its index)."""
    return [photo_pages.canvas_drawing(digit, np.random.default_rng([seed, 4, i])) for i, digit in enumerate(digits)]


def real_sets(folder: Path) -> list[Path]:
    """The single-digit sets under ``folder``: each folder but numbers/, which holds many digits an image."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name != "numbers")


def printed(fonts: list[str] | None, variants: int, seed: int, folder: Path) -> tuple[list[Path], list[int]]:
    """generate_test_digits.py's variants, written quietly into ``folder``."""
    argv = ["--output-dir", str(folder), "--variants", str(variants), "--seed", str(seed)]
    if fonts:
        argv += ["--fonts", *fonts]
    with contextlib.redirect_stdout(io.StringIO()):
        if generate_test_digits.main(argv) != 0:
            sys.exit("generate_test_digits.py failed")
    files = sorted(folder.glob("digit_*.png"))
    return files, [label_from_path(f) for f in files]


def held_out_fonts(paths: list[str]) -> list[str]:
    """The font files given, or under the folders given, that draw the digits 0-9, less the
    faces training draws (matplotlib's, which Debian's DejaVu files repeat)."""
    trained = {name.lower() for name in PRINTED_FONTS}
    found = []
    for path in map(Path, paths):
        files = sorted(f for f in path.rglob("*") if f.suffix.lower() in (".ttf", ".otf")) if path.is_dir() else [path]
        for file in files:
            with contextlib.suppress(FontError):
                if file.stem.lower() not in trained and load_font(file):
                    found.append(str(file))
    return found


def real_world(predictor: Predictor, folder: Path) -> None:
    """One line per set folder: accuracy, and the images reported as holding no digit."""
    if not folder.is_dir():
        print(f"real images: skipped ({folder} is absent)")
        return
    for subset in real_sets(folder):
        files, _ = find_images([subset])
        print_accuracy(f"real: {subset.name}", predictor.predict(files), blanks=True)
    if (folder / "paper_photos").is_dir():  # as if the phone were held a little askew
        files, _ = find_images([folder / "paper_photos"])
        photos = [read_image(f).convert("RGB") for f in files]  # upright already
        labels = [label_from_path(f) for f in files]
        print_accuracy("real: paper_photos turned 7 degrees each way",
                       predictor.predict([turned(p, a) for a in (7, -7) for p in photos], labels + labels), blanks=True)


def sudoku_photos(predictor: Predictor, folder: Path) -> None:
    """One line for the photos of whole sudokus (labels.csv: 81 cells, 0 blank, 10 a cell of
    pencilled candidates): puzzles found, and the cells labelled 0-9 read right, blanks
    included; candidate cells are counted as read blank or not, but not scored."""
    labels_file = folder / "labels.csv"
    if not labels_file.is_file():
        print(f"real sudoku photos: skipped ({labels_file} is absent)")
        return
    with labels_file.open(newline="") as handle:
        rows = [(folder / "images" / row["file"], [int(v) for v in row["grid"].split()]) for row in csv.DictReader(handle)]
    found = right = scored = candidates = candidates_blank = 0
    for path, truth in rows:
        reading = predictor.read_sudoku(path)
        read = reading.grid if reading.grid is not None else [None] * 81
        found += reading.grid is not None
        for got, want in zip(read, truth):
            if want == 10:
                candidates += 1
                candidates_blank += got == 0
            else:
                scored += 1
                right += got == want
    print(f"{'real: sudoku_photos, cells (blanks included)':58s} {right / scored:7.2%}  ({right}/{scored}; "
          f"puzzle found in {found}/{len(rows)}; {candidates_blank}/{candidates} candidate cells read blank)", flush=True)


def generated_sudokus(predictor: Predictor, count: int, seed: int, mnist: tuple[np.ndarray, np.ndarray]) -> None:
    """One line for photos of sudoku pages drawn by sudoku_pages.py (printed digits in four
    fonts, ten handwritten by MNIST's writers, candidates, perspective, a shadow across)."""
    found = right = 0
    for k in range(count):
        photo, grid, _ = sudoku_pages.puzzle_photo(np.random.default_rng([seed, 26, k]), mnist)
        reading = predictor.read_sudoku(photo)
        if reading.grid is not None:
            found += 1
            right += int((np.array(reading.grid) == grid).sum())
    print(f"{'generated sudoku photos, cells (blanks included)':58s} {right / (81 * count):7.2%}  "
          f"({right}/{81 * count}; puzzle found in {found}/{count})", flush=True)


def digits_right(read: str, truth: str) -> int:
    """How many of ``truth``'s digits ``read`` has, in order (a missed or an extra digit costs
    only itself, not every digit after it)."""
    import difflib

    return sum(block.size for block in difflib.SequenceMatcher(None, read, truth, autojunk=False).get_matching_blocks())


def print_numbers(name: str, reads: list[str], truths: list[str], touching: list[bool] | None = None) -> None:
    """One line: the share of numbers read exactly, and of their digits read right; with
    ``touching`` (whether each number has a touching pair), the share exact of each kind."""
    exact = [r == t for r, t in zip(reads, truths)]
    right, total = sum(map(digits_right, reads, truths)), sum(map(len, truths))
    kinds = ""
    if touching is not None:
        groups = [(label, [e for e, t in zip(exact, touching) if t == kind])
                  for label, kind in (("with a touching pair", True), ("without", False))]
        kinds = "; exactly " + ", ".join(f"{label} {np.mean(group):.2%}" for label, group in groups if group)
    print(f"{name:58s} {sum(exact) / len(truths):7.2%}  ({sum(exact)}/{len(truths)} exactly; digits right "
          f"{right / total:.2%}, {right}/{total}{kinds})", flush=True)


def check_amounts(predictor: Predictor, folder: Path) -> None:
    """One line for the real check amounts (labels.csv: each image's digits)."""
    labels_file = folder / "labels.csv"
    if not labels_file.is_file():
        print(f"real check amounts: skipped ({labels_file} is absent)")
        return
    with labels_file.open(newline="") as handle:
        rows = [(folder / "images" / row["file"], row["number"]) for row in csv.DictReader(handle)]
    readings = predictor.read_numbers([path for path, _ in rows])
    print_numbers("real: check amounts, read exactly", [r.number or "" for r in readings], [n for _, n in rows])


def generated_numbers(predictor: Predictor, count: int, seed: int, mnist: tuple[np.ndarray, np.ndarray]) -> None:
    """Four lines for rows of MNIST test digits drawn by number_pages.py: 4 digits, every
    fourth with a touching pair, dark on light and light on dark; 2 to 7 digits, a third
    touching; and 4 digits written small on a sheet, plain, squared or ruled in turn, and
    photographed (photo_pages.number_photo), the image not cropped to them."""
    images, labels = mnist
    for name, lengths, touching in (("4 digits, a quarter touching", (4, 4), 4), ("2-7 digits, a third touching", (2, 7), 3)):
        pictures, truths, touches = [], [], []
        for k in range(count):
            rng = np.random.default_rng([seed, 27, lengths[1], k])
            pick = rng.integers(0, len(images), int(rng.integers(lengths[0], lengths[1] + 1)))
            touches.append(k % touching == 0)
            pictures.append(number_pages.number_image(images[pick], rng, touching=touches[-1]))
            truths.append("".join(str(d) for d in labels[pick]))
        readings = predictor.read_numbers(pictures)
        print_numbers(f"generated numbers: {name}", [r.number or "" for r in readings], truths, touches)
        if lengths == (4, 4):  # light ink on a dark ground: chalk on a board, a screen
            readings = predictor.read_numbers([1 - picture for picture in pictures])
            print_numbers("generated numbers: the same, light on dark", [r.number or "" for r in readings], truths,
                          touches)
    pictures, truths = [], []
    for k in range(count):
        rng = np.random.default_rng([seed, 28, k])
        pick = rng.integers(0, len(images), 4)
        pictures.append(photo_pages.number_photo(images[pick], rng, ("plain", "squared", "ruled")[k % 3])[0])
        truths.append("".join(str(d) for d in labels[pick]))
    readings = predictor.read_numbers(pictures)
    print_numbers("generated numbers: 4 digits, small in a photographed page", [r.number or "" for r in readings],
                  truths)


def print_accuracy(name: str, results, blanks: bool = False) -> None:
    """One line: the share read right and, with ``blanks``, how many held no digit."""
    correct = sum(bool(r.correct) for r in results)
    counts = f"{correct}/{len(results)}"
    if blanks:
        counts += f"; {sum(r.error is not None for r in results)} reported as no digit"
    print(f"{name:58s} {correct / len(results):7.2%}  ({counts})", flush=True)


def turned(photo: Image.Image, angle: float) -> Image.Image:
    """The photo turned by ``angle`` degrees, whole, the corners it uncovers filled with its
    median colour: a page turned in the frame, a desk of about its colour in the corners."""
    fill = tuple(int(v) for v in np.median(np.asarray(photo).reshape(-1, 3), 0))
    return photo.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=fill)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "lenet5_model.pth"))
    parser.add_argument("--data-dir", default=os.environ.get("MNIST_DATA_DIR", "data"))
    parser.add_argument("--count", type=int, default=2000, help="MNIST test digits per derived set (default: 2000)")
    parser.add_argument("--photos", type=int, default=1000,
                        help="of those, how many are photographed on squared and on ruled paper, and small on squared "
                             "paper (default: 1000)")
    parser.add_argument("--sudokus", type=int, default=40, help="photos of generated sudoku pages (default: 40; 0 for none)")
    parser.add_argument("--numbers", type=int, default=400, help="generated numbers of each kind (default: 400; 0 for none)")
    parser.add_argument("--number-model", default=None,
                        help=f"model for the written numbers (default: {NUMBERS_CHECKPOINT} where it exists, "
                             "else --model)")
    parser.add_argument("--variants", type=int, default=50, help="printed variants per digit (default: 50)")
    parser.add_argument("--fonts", nargs="+", help="font files or folders that training never saw, for a second "
                        "printed set (Debian's: /usr/share/fonts/truetype/liberation ...)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--realworld", type=Path, default=ROOT.parent / "shared" / "realworld",
                        help="folder of real digit images, <set>/<digit>/<file> (default: ../shared/realworld)")
    parser.add_argument("--realworld-only", action="store_true", help="only the real images, not the MNIST-derived sets")
    parser.add_argument("--reading-margin", type=float, default=READING_MARGIN,
                        help=f"how much surer another reading of an image must be to be taken (default: {READING_MARGIN}; "
                             "1 goes by the first reading always)")
    args = parser.parse_args(argv)
    if args.number_model is None:
        numbers = ROOT / NUMBERS_CHECKPOINT
        args.number_model = str(numbers) if numbers.is_file() else args.model

    try:  # the models and MNIST first: a missing file is said in a line before minutes of reading, not after them
        predictor = Predictor.from_file(args.model)
        number_reader = Predictor.from_file(args.number_model) if args.number_model != args.model else predictor
        images, labels = (None, None) if args.realworld_only else load_mnist(Path(args.data_dir), train=False)
    except (ModelFileError, DataUnavailableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    predictor.reading_margin = args.reading_margin
    real_world(predictor, args.realworld)
    sudoku_photos(predictor, args.realworld / "numbers" / "sudoku_photos")
    check_amounts(number_reader, args.realworld / "numbers" / "check_amounts")
    if args.realworld_only:
        return 0
    rng = np.random.default_rng(args.seed)
    pick = rng.permutation(len(images))[:args.count]
    subset, sublabels = images.numpy()[pick], labels[pick].tolist()

    def report(name: str, inputs, truth) -> None:
        print_accuracy(name, predictor.predict(inputs, list(truth)))

    raw = predictor.probabilities(images).argmax(1)
    print(f"{'MNIST test, as stored (no preprocessing)':58s} {(raw == labels.numpy()).mean():7.2%}  "
          f"({int((raw == labels.numpy()).sum())}/{len(labels)})")
    report("MNIST test, through mnist_like", list(images.numpy()), labels.tolist())
    report("MNIST digits as scans: dark on white, 112x112", scans(subset), sublabels)
    report("MNIST digits in a fine pen on a 280x280 page", fine_pen(subset), sublabels)
    report("MNIST digits in a bold marker, 112x112", marker(subset), sublabels)
    report("MNIST digits small, off-centre, on a noisy 400x400 page", off_centre(subset, rng), sublabels)
    report("MNIST digits in a thin pen on 200x200 squared paper", squared_paper(subset, rng), sublabels)
    report("MNIST digits on a sheet lying on a darker desk, 640x480",
           on_a_desk(subset, np.random.default_rng([args.seed, 1])), sublabels)  # leaves the other sets as they were
    report("MNIST digits in chalk on a dark board, 640x480",
           on_a_board(subset, np.random.default_rng([args.seed, 4])), sublabels)
    photos = slice(args.photos)
    for paper, key, ruled in (("squared", 2, False), ("ruled", 3, True)):
        report(f"MNIST digits photographed on {paper} paper, 800x600",
               photographed(subset[photos], (args.seed, key), ruled), sublabels[photos])
        report("  the same digits in the same pens on white paper", on_white(subset[photos], (args.seed, key), ruled),
               sublabels[photos])
    report("MNIST digits photographed small on squared paper, 800x600",
           photographed(subset[photos], (args.seed, 7), False, small=True), sublabels[photos])
    half = slice(args.photos // 2)
    for pattern, key, paper in (("dots", 13, "dot-grid"), ("engineering", 14, "engineering")):
        report(f"MNIST digits photographed on {paper} paper, 800x600",
               photographed(subset[half], (args.seed, key), False, pattern=pattern), sublabels[half])
    report("MNIST digits drawn to a canvas's edge, some strokes broken", drawn_off_canvas(subset, args.seed), sublabels)
    if args.sudokus > 0:
        generated_sudokus(predictor, args.sudokus, args.seed, (images.numpy(), labels.numpy()))
    if args.numbers > 0:
        generated_numbers(number_reader, args.numbers, args.seed, (images.numpy(), labels.numpy()))
    with tempfile.TemporaryDirectory() as tmp:
        report(f"printed: matplotlib's {len(PRINTED_FONTS)} fonts, random variants",
               *printed(None, args.variants, args.seed, Path(tmp) / "matplotlib"))
        if args.fonts:
            held_out = held_out_fonts(args.fonts)
            report(f"printed: {len(held_out)} fonts training never saw, random variants",
                   *printed(held_out, args.variants, args.seed, Path(tmp) / "held_out"))
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        print("handwriting from other writers: skipped (pip install scikit-learn for the UCI 8x8 digits)")
    else:
        uci = load_digits()
        report("handwriting, UCI 8x8 digits (43 writers, not MNIST's)", list(uci.images / 16.0), uci.target.tolist())
    return 0


if __name__ == "__main__":
    sys.exit(main())
