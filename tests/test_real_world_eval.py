"""benchmarks/real_world_eval.py with a file missing: one line that says which, exit 2, and no
minutes of reading the real images before it."""

import importlib
from pathlib import Path

import pytest


@pytest.fixture()
def evaluation(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "benchmarks"))
    return importlib.import_module("real_world_eval")


@pytest.fixture()
def ablation(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "benchmarks"))
    return importlib.import_module("preprocess_ablation")


def test_a_missing_model_is_one_line_before_any_reading(evaluation, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(evaluation, "real_world", lambda *a: pytest.fail("read images without a model"))
    assert evaluation.main(["--model", str(tmp_path / "none.pth"), "--realworld-only"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "none.pth" in err


def test_missing_mnist_is_one_line_before_any_reading(evaluation, tiny_model, tmp_path, capsys, monkeypatch, offline):
    monkeypatch.setattr(evaluation, "real_world", lambda *a: pytest.fail("read images before finding MNIST"))
    assert evaluation.main(["--model", str(tiny_model), "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "MNIST/raw" in err


def test_each_ablation_stand_in_takes_what_the_step_it_replaces_is_given(ablation):
    """preprocess_ablation.py leaves a step out by putting a stand-in in its place: each must
    take every argument the step is called with, or leaving it out breaks once the step
    gains one (as _remove_lines did its ``frames``)."""
    import inspect

    for step, (_, changes) in ablation.STEPS.items():
        for module, attribute, stand_in in changes:
            original = getattr(module, attribute)
            if not callable(original):
                assert type(stand_in) is type(original), (step, attribute)
                continue
            taken = inspect.signature(stand_in).parameters
            if any(p.kind == p.VAR_POSITIONAL for p in taken.values()):
                continue
            assert list(taken) == list(inspect.signature(original).parameters), (step, attribute)


def test_leaving_out_a_constant_step_takes_effect(ablation):
    """A step left out by setting a module's constant must change what the code does: a
    constant bound as a function's default when the module was imported keeps its old value,
    and the step's row then reads 0 whatever the step earns (as "flat-ink" once did). A flat
    bar on a page is no digit with the step and a digit without it."""
    import numpy as np
    from preprocess import find_digit

    page = np.full((160, 200), 230, np.uint8)
    page[75:85, 50:150] = 30  # ten times as wide as tall, shorter than a line across the page
    assert find_digit(page) is None
    with ablation.left_out(ablation.STEPS["flat-ink"][1]):
        assert find_digit(page) is not None


def test_number_lines_give_the_share_exact_with_and_without_a_touching_pair(evaluation, capsys):
    evaluation.print_numbers("rows", ["12", "34", "56", "78"], ["12", "34", "50", "78"], [True, False, True, False])
    line = capsys.readouterr().out
    assert "75.00%" in line and "3/4 exactly" in line and "digits right 87.50%, 7/8" in line
    assert "with a touching pair 50.00%, without 100.00%" in line
    evaluation.print_numbers("rows", ["12"], ["12"])
    assert "touching" not in capsys.readouterr().out
    evaluation.print_numbers("rows", ["12"], ["12"], [True])  # one kind only (--numbers 1): no empty share
    line = capsys.readouterr().out
    assert "with a touching pair 100.00%)" in line and "without" not in line and "nan" not in line


def test_the_ablations_blank_pages_hold_no_digit_and_the_falloff_step_is_why(ablation, monkeypatch, tiny_model):
    """preprocess_ablation.py's blank pages count as read right where no digit is found: the
    whole path finds none on each, and without the step that takes light falling off towards
    the corners for no ink, it finds a "digit" on some."""
    import numpy as np

    import inference
    import preprocess

    pages = [ablation.blank_page(np.random.default_rng([3, k])) for k in range(12)]
    assert ablation.correct(inference.Predictor.from_file(tiny_model), pages, [None] * len(pages)) == len(pages)
    monkeypatch.setattr(preprocess, "FALLOFF_INK", 0.0)
    assert sum(preprocess.find_digit(page) is not None for page in pages) >= 2


@pytest.fixture()
def number_errors(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "benchmarks"))
    return importlib.import_module("number_errors")


def test_a_miss_is_put_down_to_the_cut_the_reading_or_the_path(number_errors):
    reads = [3, 7, 1, 8]  # each candidate's likeliest digit
    assert number_errors.kind_of_miss("37", "37", [[0], [1]], reads) == "read exactly"
    assert number_errors.kind_of_miss("37", "3", [[0], []], reads) == "no cut"
    assert number_errors.kind_of_miss("37", "31", [[0], [2]], reads) == "misread"
    assert number_errors.kind_of_miss("37", "317", [[0], [1, 2]], reads) == "path"
    assert number_errors.kind_of_miss("37", "38", [[0], []], [3, 8]) == "no cut"  # no cut outranks a misread


def test_drawn_rows_are_put_down_to_their_kinds_and_a_missing_model_is_one_line(number_errors, tiny_model, tiny_mnist,
                                                                               tmp_path, capsys):
    """Every drawn row is counted once, read exactly or under one kind of miss, and a digit
    that touches none has a candidate round it, whatever the network reads (no "no cut")."""
    from inference import Predictor
    from model import load_mnist

    images, labels = load_mnist(tiny_mnist, train=False)
    kinds = number_errors.drawn_row_kinds(Predictor.from_file(tiny_model), images.numpy(), labels.numpy(), 12, 0,
                                          (2, 4), 3)
    assert sum(kinds[True].values()) == 4 and sum(kinds[False].values()) == 8
    assert set(kinds[True]) | set(kinds[False]) <= set(number_errors.KINDS)
    assert kinds[False]["no cut"] == 0
    assert number_errors.main(["--number-model", str(tmp_path / "none.pth"), "--rows", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "none.pth" in err


def test_the_small_photos_hold_their_digit_a_twentieth_to_a_tenth_of_the_photos_height(evaluation, monkeypatch):
    """The line of digits photographed small draws each from its own seed at a share of the
    height in SMALL_SHARE; the other photographed lines keep photo_pages' own range."""
    import numpy as np

    drawn = []
    monkeypatch.setattr(evaluation.photo_pages, "paper_photo",
                        lambda digit, rng, ruled=False, **fixed: drawn.append(fixed) or (np.zeros((2, 2, 3)), None))
    digit = np.zeros((28, 28), np.uint8)
    for i in range(20):
        evaluation._photo((digit, (0, 7, i), False, True, None))
    shares = [fixed["digit_share"] for fixed in drawn]
    assert all(0.05 <= share <= 0.1 for share in shares) and len(set(shares)) == 20
    evaluation._photo((digit, (0, 7, 0), False, True, None))
    assert drawn[-1]["digit_share"] == shares[0]  # the same seed, the same photo
    evaluation._photo((digit, (0, 2, 0), False, False, None))
    assert drawn[-1] == {}
    evaluation._photo((digit, (0, 13, 0), False, False, "dots"))
    assert drawn[-1] == {"pattern": "dots"}
