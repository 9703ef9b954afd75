"""inference.py --number: rows of MNIST test digits drawn here (number_pages.py), never the
development check amounts."""

import json

import cv2
import numpy as np
import pytest
from PIL import Image

import inference
import number_pages
import photo_pages
import preprocess
import train
import whole_numbers
from model import load_checkpoint, load_mnist
from tests.conftest import tiny_train_args


@pytest.fixture(scope="module")
def mnist_test(real_mnist_dir):
    images, labels = load_mnist(real_mnist_dir, train=False)
    return images.numpy(), labels.numpy()


def numbers(mnist_test, kind: dict, count: int = 12, length: int = 4, seed: int = 0):
    """``count`` drawn numbers of ``length`` MNIST test digits, and their digits as text."""
    images, labels = mnist_test
    pictures, truths = [], []
    for k in range(count):
        rng = np.random.default_rng([seed, k])
        pick = rng.integers(0, len(images), length)
        pictures.append(number_pages.number_image(images[pick], rng, **kind))
        truths.append("".join(str(d) for d in labels[pick]))
    return pictures, truths


@pytest.mark.parametrize("name, kind, exact", [
    ("spaced", {"separators": False, "baseline": False}, 32),
    ("touching", {"touching": True, "separators": False, "baseline": False}, 26),
    ("broken", {"broken": True, "separators": False, "baseline": False}, 20),
    ("separators and a baseline", {"separators": True, "baseline": True}, 32),
])
def test_numbers_read_whole(numbers_model, mnist_test, name, kind, exact):
    """Each kind of row is read digit for digit, forty of them, with a margin under what this
    briefly trained model reads (three sets of forty each: spaced rows 85-95%, an MNIST digit
    itself misread now and then; rows with a touching pair 72-90%; with a digit broken in two,
    which is at times read as two, 80%; with separators and a baseline 92-98%), and a
    separator or the baseline is not read as a digit (at most four rows longer than they are,
    against 0-1 measured)."""
    predictor = inference.Predictor.from_file(numbers_model)
    pictures, truths = numbers(mnist_test, kind, count=40)
    reads = [r.number or "" for r in predictor.read_numbers(pictures)]
    assert sum(r == t for r, t in zip(reads, truths)) >= exact, list(zip(reads, truths))
    assert sum(len(r) > len(t) for r, t in zip(reads, truths)) <= 4, list(zip(reads, truths))


def test_touching_pair_is_cut(numbers_model, mnist_test):
    """Two digits drawn overlapping, one piece of ink, are read as two."""
    images, labels = mnist_test
    zero, six = images[np.flatnonzero(labels == 0)[0]], images[np.flatnonzero(labels == 6)[0]]
    picture = number_pages.number_image(np.stack([six, zero, zero]), np.random.default_rng(3), touching=True,
                                        separators=False, baseline=False)
    line = whole_numbers.ink_line(picture)
    assert len(line.boxes) >= 2
    assert inference.Predictor.from_file(numbers_model).read_number(picture).number == "600"


def test_a_cut_between_two_loops():
    """Two loops in one piece of ink (0s written without lifting the pen) are offered a cut
    between them, even where ink runs through every column there; a speck of paper inside
    a stroke is no loop, and one loop alone is not cut."""
    piece = np.zeros((40, 90), np.uint8)
    cv2.rectangle(piece, (2, 2), (87, 37), 1, -1)  # one wide blob of ink: no column thinner than another
    piece[10:30, 10:35] = 0  # a loop's hole
    piece[10:30, 50:80] = 0  # and the next one's
    assert whole_numbers._between_loops(piece.astype(bool), height=40.0) == [42]
    assert 42 in {left for left, _ in whole_numbers._cuts(piece.astype(bool), 40.0)}
    piece[10:30, 50:80] = 1
    piece[18:20, 60:62] = 0  # a speck of paper, 2 pixels across
    assert whole_numbers._between_loops(piece.astype(bool), height=40.0) == []


def test_two_digits_side_by_side_are_never_read_as_one():
    """A thin 1 standing apart beside a 0, which the network reads as a 0 more surely than it
    reads the two alone, is still two digits: a person sees the empty columns between two
    digit-tall marks. A comma beside a digit is not tall, and may still be read with it."""
    ink = np.zeros((64, 120), np.float32)
    boxes = [(10, 10, 6, 44), (30, 10, 30, 44), (66, 46, 5, 12)]  # a 1, a 0 and a comma, apart
    line = whole_numbers.Line(ink, np.zeros(ink.shape, np.int32), boxes, height=44.0, scale=1.0, shear=0.0)
    blank = np.zeros((28, 28), np.uint8)
    reads = {(0, 0): 0.6, (1, 1): 0.9, (0, 1): 0.99, (1, 2): 0.99}  # as 1, 0, 0 and 0: the pairs read surest
    found = [whole_numbers.Candidate(first, last, blank, (0, 0, 1, 1)) for first, last in reads]
    found.append(whole_numbers.Candidate(2, 2, blank, (0, 0, 1, 1), separator=True))
    probabilities = np.zeros((len(found), 10))
    for row, ((first, last), sure) in enumerate(reads.items()):
        probabilities[row, 1 if (first, last) == (0, 0) else 0] = sure
    read = whole_numbers.best_path(line, found, probabilities, whole_numbers.DIGIT_CLASSES)
    assert [(d.value, d.candidate.first, d.candidate.last) for d in read] == [("1", 0, 0), ("0", 1, 2)]


def test_a_long_line_is_read(numbers_model, mnist_test):
    """45 digits in one row: read, not refused, nearly all of them."""
    import difflib

    pictures, truths = numbers(mnist_test, {"separators": False}, count=1, length=45, seed=5)
    read = inference.Predictor.from_file(numbers_model).read_number(pictures[0]).number
    matcher = difflib.SequenceMatcher(None, read, truths[0], autojunk=False)
    assert sum(b.size for b in matcher.get_matching_blocks()) >= 40


def test_no_digits():
    """A blank page, and a page with only a dot, a dash and a baseline, hold no digits."""
    blank = np.full((60, 300), 0.9, np.float32)
    marks = blank.copy()
    marks[50, :] = 0.3  # a printed baseline
    marks[30:33, 150:180] = 0.1  # a dash
    marks[44:48, 100:104] = 0.1  # a dot
    assert whole_numbers.ink_line(blank) is None
    predictor = inference.Predictor(_Uniform())
    for page in (blank, marks):
        reading = predictor.read_number(page)
        assert reading.number is None and reading.error == inference.NO_DIGITS


class _Uniform:
    """A stand-in network that is sure of nothing."""

    def probabilities(self, digits, batch_size=1024):
        return np.full((len(digits), 10), 0.1, np.float32)


def test_not_a_digit_training(tiny_mnist, tmp_path):
    """train.py --not-a-digit adds a class 'none' with an output of its own, which inference reads."""
    assert train.main(tiny_train_args(tiny_mnist, tmp_path, "--epochs", "1", "--not-a-digit", "200")) == 0
    checkpoint = load_checkpoint(tmp_path / "model.pth")
    assert checkpoint.classes == tuple("0123456789") + ("none",)
    assert checkpoint.model_state["classifier.5.weight"].shape[0] == 11
    pieces, labels = number_pages.reader_pieces(np.zeros((5, 28, 28), np.uint8), np.zeros(5, np.int64), 0, 0)
    assert pieces.shape == (0, 28, 28) and labels.shape == (0,)


def test_reader_pieces_are_labelled_by_their_ink(real_model, mnist_test):
    """The pieces the reader cuts from drawn rows are labelled by the ink they hold: those
    labelled a digit are read as that digit by a model that never saw a cut piece (93.2%
    by the fully trained default model: some hold only four fifths of it, or a slice of the
    next), and those labelled none are pieces it is much less sure of (median 0.60 against
    0.91). Seeded: the same pieces in one process or two; and
    digits that are a speck each give none, rather than a search without end."""
    images, labels = mnist_test
    pieces, kinds = number_pages.reader_pieces(images[:2000], labels[:2000], 300, seed=0)
    assert pieces.dtype == np.uint8 and pieces.shape[1:] == (28, 28) and kinds.dtype == np.int64
    digits = kinds != number_pages.NONE
    assert int((~digits).sum()) == 300 and digits.sum() >= 150  # about two whole digits for every three pieces
    probabilities = inference.Predictor.from_file(real_model).read(pieces)
    assert np.mean(probabilities[digits].argmax(1) == kinds[digits]) >= 0.9
    assert np.median(probabilities[~digits].max(1)) < np.median(probabilities[digits].max(1)) - 0.15
    again, again_kinds = number_pages.reader_pieces(images[:2000], labels[:2000], 300, seed=0, workers=2)
    assert np.array_equal(again, pieces) and np.array_equal(again_kinds, kinds)
    specks = np.zeros((5, 28, 28), np.uint8)
    specks[:, 14, 14] = 255
    cut, cut_kinds = number_pages.reader_pieces(specks, np.zeros(5, np.int64), 10, 0)
    assert cut.shape == (0, 28, 28) and cut_kinds.shape == (0,)


def test_each_pixel_of_a_row_knows_its_digit(mnist_test):
    """number_row draws what number_image draws, and says which digit drew each pixel; carried
    onto the reader's upright line (whole_numbers.to_line), the owners cover the line's ink
    and each digit's lies left of the next one's."""
    images, _ = mnist_test
    digits = images[:3]
    image, owner = number_pages.number_row(digits, np.random.default_rng(4), separators=False)
    assert np.array_equal(image, number_pages.number_image(digits, np.random.default_rng(4), separators=False))
    assert set(np.unique(owner)) == {0, 1, 2, 3}
    assert image[owner > 0].mean() < image[owner == 0].mean() - 0.3  # the owned pixels are the dark ink
    line = whole_numbers.ink_line(image)
    owners = whole_numbers.to_line(line, owner)
    assert owners.shape == line.atoms.shape
    assert np.mean(owners[line.atoms > 0] > 0) > 0.95
    middles = [np.nonzero(owners == k)[1].mean() for k in (1, 2, 3)]
    assert middles == sorted(middles)


def test_cli(numbers_model, mnist_test, tmp_path, capsys):
    """--number prints each number, --json gives digits with boxes, --report is written; an
    image with no digits is one error line and exit 1 after the rest are read."""
    pictures, truths = numbers(mnist_test, {"separators": True}, count=2, seed=1)
    paths = []
    for k, picture in enumerate(pictures):
        paths.append(tmp_path / f"number_{k}.png")
        Image.fromarray(np.round(picture * 255).astype(np.uint8)).save(paths[-1])
    Image.new("L", (300, 60), 230).save(tmp_path / "blank.png")
    report = tmp_path / "report.png"
    code = inference.main(["--number", "--model", str(numbers_model), *map(str, paths), str(tmp_path / "blank.png"),
                           "--report", str(report)])
    out = capsys.readouterr().out
    assert code == 1
    assert any(line.endswith(f"error: {inference.NO_DIGITS}") and "blank.png" in line for line in out.splitlines())
    for path, truth in zip(paths, truths):
        assert f"{path}  {truth}" in out
    assert Image.open(report).size[0] > 100

    assert inference.main(["--number", "--json", "--model", str(numbers_model), str(paths[0])]) == 0
    reading = json.loads(capsys.readouterr().out)["numbers"][0]
    assert reading["number"] == truths[0]
    assert [d["value"] for d in reading["digits"]] == [int(c) for c in truths[0]]
    width = Image.open(paths[0]).size[0]
    lefts = [d["box"][0] for d in reading["digits"]]
    assert lefts == sorted(lefts) and all(0 <= d["box"][0] < width for d in reading["digits"])


def test_single_digit_reading_suggests_number(numbers_model, mnist_test, tmp_path, capsys):
    """A row of digits read the single-digit way says it holds several and names --number."""
    pictures, _ = numbers(mnist_test, {"separators": False}, count=1, seed=2)
    path = tmp_path / "row.png"
    Image.fromarray(np.round(pictures[0] * 255).astype(np.uint8)).save(path)
    assert inference.main(["--model", str(numbers_model), str(path)]) == 0
    assert "holds a row of 4 digits: read them all with --number" in capsys.readouterr().out

    images, labels = mnist_test  # one digit on as wide a page is one digit: no hint
    single = number_pages.number_image(images[:1], np.random.default_rng(0), separators=False)
    page = np.full((single.shape[0], 3 * single.shape[0]), float(np.median(single)), np.float32)
    page[:, :single.shape[1]] = single[:, :page.shape[1]]
    Image.fromarray(np.round(page * 255).astype(np.uint8)).save(path)
    assert inference.main(["--model", str(numbers_model), str(path)]) == 0
    out = capsys.readouterr().out
    assert f"predicted {labels[0]}" in out and "--number" not in out


def test_light_ink_on_dark_reads_as_dark_on_light(numbers_model, mnist_test):
    """A row of light digits on a dark ground (chalk on a board, a screen) is read as the
    same row dark on light is, digit for digit: before, as no digits or as its ground."""
    pictures, truths = numbers(mnist_test, {"touching": True}, count=8, seed=4)
    predictor = inference.Predictor.from_file(numbers_model)
    dark = [r.number for r in predictor.read_numbers(pictures)]
    light = [r.number for r in predictor.read_numbers([1 - p for p in pictures])]
    assert light == dark and sum(d == t for d, t in zip(dark, truths)) >= 5, (light, dark, truths)


def test_a_number_small_in_a_photo_is_read_along_its_line(numbers_model, mnist_test, tmp_path, capsys):
    """A number written small on a photographed sheet, plain, squared or ruled (its digits a
    twentieth to a sixth of the photo's height), is read from its own line, which holds all
    of the number and not the page: shrunk whole to a line's height its digits were specks,
    and 10% of 400 such photos read (photo_pages.number_photo; real_world_eval.py). Read the
    single-digit way, such a photo says it holds a row of digits rather than that it is blank."""
    images, labels = mnist_test
    photos, truths = [], []
    for k in range(20):
        rng = np.random.default_rng([3, k])
        pick = rng.integers(0, len(images), 4)
        photo, (left, top, right, bottom) = photo_pages.number_photo(images[pick], rng,
                                                                     ("plain", "squared", "ruled")[k % 3])
        line = whole_numbers.number_line(preprocess.to_grayscale(photo))
        x, y, w, h = whole_numbers.to_image_box(line, (0, 0, line.ink.shape[1], line.ink.shape[0]))
        assert x <= left and y <= top and x + w >= right and y + h >= bottom, k
        assert h <= 3 * (bottom - top), k
        photos.append(photo)
        truths.append("".join(str(d) for d in labels[pick]))
    reads = [r.number for r in inference.Predictor.from_file(numbers_model).read_numbers(photos)]
    assert sum(r == t for r, t in zip(reads, truths)) >= 12, list(zip(reads, truths))  # 17 read by seeds 1-3

    page = np.full((480, 640), 0.85, np.float32)  # a clean sheet: all its ink is the number
    row = number_pages.number_image(images[:4], np.random.default_rng(0), separators=False, baseline=False)
    page[200:200 + row.shape[0], 150:150 + row.shape[1]] = row
    path = tmp_path / "sheet.png"
    Image.fromarray(np.round(page * 255).astype(np.uint8)).save(path)
    assert inference.main(["--model", str(numbers_model), str(path)]) == 1
    assert "holds a row of 4 digits; read them with --number" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["--number"], ["--number", "--sudoku", "x.png"], ["--number", "--mnist-test"]])
def test_flag_errors(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        inference.main(argv)
    assert exc.value.code == 2
    assert "--number" in capsys.readouterr().err


def test_a_resumed_run_writes_where_it_wrote(tiny_mnist, tmp_path, monkeypatch, ctrl_c_after_epoch_1):
    """--resume without --output continues the run's own checkpoint: a numbers model stopped
    and resumed never lands in (or overwrites) lenet5_model.pth."""
    monkeypatch.chdir(tmp_path)
    with ctrl_c_after_epoch_1():
        assert train.main(tiny_train_args(tiny_mnist, tmp_path, "--epochs", "2", "--not-a-digit", "50")) == 130
    args = tiny_train_args(tiny_mnist, tmp_path, "--resume", str(tmp_path / "model_last.pth"))
    at = args.index("--output")
    assert train.main(args[:at] + args[at + 2:]) == 0
    assert load_checkpoint(tmp_path / "model_last.pth").meta["epoch"] == 2
    assert load_checkpoint(tmp_path / "model.pth").classes[-1] == "none"
    assert not (tmp_path / "lenet5_model.pth").exists()
