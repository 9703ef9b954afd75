"""finetune.py: a folder of class folders in, a checkpoint every tool reads out."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

import explain
import export
import finetune
import inference
from conftest import ROOT
from model import load_checkpoint, load_mnist


def letter_images(letter: str, count: int, seed: int) -> list[Image.Image]:
    """Dark printed letters on white, turned, scaled and moved a little, as a user's crops."""
    import fonts
    import generate_test_digits as gen

    rng = np.random.default_rng(seed)
    faces = [fonts.load_font(fonts.resolve_font(name)) for name in ("DejaVuSans-Bold", "DejaVuSerif")]
    return [gen.render_digit(letter, faces[i % 2], 48, gen.Style(rotation=float(rng.uniform(-10, 10)),
                                                                  scale=float(rng.uniform(0.8, 1.0)),
                                                                  offset_x=float(rng.uniform(-3, 3)),
                                                                  offset_y=float(rng.uniform(-3, 3))),
                             invert=True) for i in range(count)]


def write_folder(root, classes: dict[str, list[Image.Image]]):
    for name, images in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(images):
            image.save(root / name / f"{name}_{i}.png")
    return root


@pytest.fixture(scope="module")
def letters(tmp_path_factory):
    """A folder of three letter classes, 12 images each."""
    root = tmp_path_factory.mktemp("letters") / "letters"
    return write_folder(root, {c: letter_images(c, 12, seed) for seed, c in enumerate("AHX")})


@pytest.fixture(scope="module")
def letter_model(letters, tiny_model, tiny_mnist, tmp_path_factory):
    out = tmp_path_factory.mktemp("letter_model") / "letters.pth"
    assert finetune.main([str(letters), "--model", str(tiny_model), "--output", str(out), "--epochs", "25",
                          "--data-dir", str(tiny_mnist)]) == 0
    return out


def test_new_classes_are_learned_and_named_in_the_checkpoint(letter_model, letters, tiny_model, capsys):
    checkpoint = load_checkpoint(letter_model)
    assert checkpoint.classes == ("A", "H", "X")
    assert checkpoint.meta["fine_tuned"]["from"] == str(tiny_model)
    assert checkpoint.meta["fine_tuned"]["images"] == 36
    assert checkpoint.meta["fine_tuned"]["held_out"] == 6  # a fifth of each class of 12: 2 each
    assert checkpoint.meta["whole_image"] is False
    base = load_checkpoint(tiny_model)  # by default only the fully connected layers learn
    assert all(torch.equal(checkpoint.model_state[k], base.model_state[k]) for k in base.model_state
               if k.startswith("features."))
    assert not torch.equal(checkpoint.model_state["classifier.1.weight"], base.model_state["classifier.1.weight"])
    fresh = {c: letter_images(c, 10, seed + 10) for seed, c in enumerate("AHX")}  # not the ones it learned
    predictor = inference.Predictor.from_file(letter_model)
    results = predictor.predict([image for images in fresh.values() for image in images])
    said = [r.prediction for r in results]
    assert sum(s == c for s, c in zip(said, [c for c in "AHX" for _ in range(10)])) >= 27, said


def test_every_tool_reads_a_checkpoint_with_other_classes(letter_model, letters, tiny_mnist, tmp_path, capsys):
    capsys.readouterr()
    # inference: class folders give the true labels, --json names the classes and the readings
    assert inference.main(["--model", str(letter_model), str(letters), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["classes"] == ["A", "H", "X"]
    assert {r["label"] for r in doc["results"]} == {"A", "H", "X"}
    assert all(r["prediction"] in ("A", "H", "X") and len(r["probabilities"]) == 3 for r in doc["results"])
    assert doc["summary"]["labeled"] == 36
    assert inference.main(["--model", str(letter_model), str(letters / "H"), "--top-k", "3",
                           "--report", str(tmp_path / "report.png")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("true ")[1].startswith("H  predicted ")
    assert "next: " in lines[0] and Image.open(tmp_path / "report.png").format == "PNG"
    # a model without the ten digits is not scored on MNIST
    assert inference.main(["--model", str(letter_model), "--mnist-test", "--data-dir", str(tiny_mnist)]) == 2
    assert "needs a model that reads the ten digits" in capsys.readouterr().err
    # export: the ONNX file carries the class names, and reads as the checkpoint does
    onnx_path = tmp_path / "letters.onnx"
    assert export.main(["--model", str(letter_model), "--output", str(onnx_path), "--no-int8",
                        "--data-dir", str(tiny_mnist)]) == 0
    from_onnx = inference.Predictor.from_file(onnx_path)
    from_pth = inference.Predictor.from_file(letter_model)
    assert from_onnx.classes == ("A", "H", "X")
    files = sorted(letters.rglob("*.png"))[:6]
    assert [r.prediction for r in from_onnx.predict(files)] == [r.prediction for r in from_pth.predict(files)]
    capsys.readouterr()
    assert export.main(["--model", str(letter_model), "--prune", "0.5", "--data-dir", str(tiny_mnist)]) == 2
    assert "--prune fine-tunes on MNIST's digits" in capsys.readouterr().err
    # explain: the picture and the line name the class
    capsys.readouterr()
    assert explain.main(["--model", str(letter_model), str(files[0]), "--output", str(tmp_path / "explained")]) == 0
    assert f"predicted {from_pth.predict(files[:1])[0].prediction}," in capsys.readouterr().out


def test_whole_image_models_read_every_image_whole(letters, tiny_model, tiny_mnist, tmp_path):
    out = tmp_path / "whole.pth"
    assert finetune.main([str(letters), "--model", str(tiny_model), "--output", str(out), "--epochs", "2",
                          "--whole-image", "--no-freeze-features", "--data-dir", str(tiny_mnist)]) == 0
    assert load_checkpoint(out).whole_image
    assert not torch.equal(load_checkpoint(out).model_state["features.0.weight"],
                           load_checkpoint(tiny_model).model_state["features.0.weight"])
    page = Image.new("L", (120, 80), 255)
    ImageDraw.Draw(page).rectangle((50, 20, 70, 60), fill=0)  # a blot the search would crop to
    found = inference.Predictor.from_file(tiny_model).predict([page])[0]
    whole = inference.Predictor.from_file(out).predict([page])[0]
    assert found.box != (0, 0, 120, 80) and whole.box == (0, 0, 120, 80)
    blank = inference.Predictor.from_file(out).predict([Image.new("L", (40, 60), 255)])[0]
    assert blank.error is None and blank.prediction in ("A", "H", "X")  # read whole: blank is a class's to learn


def test_cross_validation_prints_figures_and_writes_nothing(letters, tiny_model, tiny_mnist, tmp_path, capsys,
                                                            monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert finetune.main([str(letters), "--model", str(tiny_model), "--cross-validate", "3", "--epochs", "2",
                          "--data-dir", str(tiny_mnist)]) == 0
    out = capsys.readouterr().out
    folds = [line.split() for line in out.splitlines() if line.split()[:1] in (["1"], ["2"], ["3"])]
    assert [int(f[1]) for f in folds] == [12, 12, 12]  # three folds of 4 of each class
    assert "All folds: " in out and out.rstrip().splitlines()[-1].split()[:2] == ["all", "36"]
    assert not list(tmp_path.iterdir())


def test_split_and_folds_hold_every_class():
    labels = np.repeat(np.arange(3), [10, 7, 2])
    train, held = finetune.stratified_split(labels, 0.2, seed=3)
    assert sorted(np.concatenate([train, held]).tolist()) == list(range(19))
    assert [int((labels[held] == c).sum()) for c in range(3)] == [2, 1, 1]
    assert set(labels[train]) == {0, 1, 2}
    again = finetune.stratified_split(labels, 0.2, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip((train, held), again))
    folds = finetune.stratified_folds(labels, 2, seed=1)
    assert sorted(np.concatenate(folds).tolist()) == list(range(19))
    assert all(set(labels[f]) == {0, 1, 2} for f in folds)


def test_classes_the_model_reads_keep_their_outputs(tiny_model):
    base = load_checkpoint(tiny_model)
    model = finetune.adapt_model(base, ("0", "1", "none", "zz"))
    old = base.model_state["classifier.5.weight"]
    new = model.classifier[-1].weight.detach()
    assert new.shape == (4, 84)
    assert torch.equal(new[0], old[0]) and torch.equal(new[1], old[1])
    assert not new[2].any() and not new[3].any()  # new classes start from nothing


@pytest.mark.parametrize("layout, message", [
    ({}, "holds 0 class folder(s)"),
    ({"7": 3}, "holds 1 class folder(s) (7); fine-tuning needs two or more"),
    ({"1": 3, "2": 0}, "holds no images"),
])
def test_folders_that_cannot_be_learned_from_say_why(layout, message, tiny_model, tmp_path, capsys):
    root = tmp_path / "mine"
    root.mkdir()
    for name, count in layout.items():
        write_folder(root, {name: letter_images("A", count, 0)})
    assert finetune.main([str(root), "--model", str(tiny_model)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_bad_input_gets_one_line_each(letters, tiny_model, tiny_mnist, tmp_path, capsys):
    folder = tmp_path / "mixed"
    write_folder(folder, {"A": letter_images("A", 6, 0), "H": letter_images("H", 3, 1)})
    (folder / "A" / "broken.png").write_bytes(b"not a png")
    letter_images("H", 1, 5)[0].save(folder / "loose.png")  # in no class folder
    out = tmp_path / "mixed.pth"
    assert finetune.main([str(folder), "--model", str(tiny_model), "--output", str(out), "--epochs", "1",
                          "--data-dir", str(tiny_mnist)]) == 0
    err = capsys.readouterr().err
    assert "skipped " in err and "broken.png" in err
    assert "warning: class H has only 3 image(s)" in err
    assert f"1 image(s) directly in {folder} belong to no class folder" in err
    assert load_checkpoint(out).meta["fine_tuned"]["images"] == 9
    blank = tmp_path / "blank"
    write_folder(blank, {"A": letter_images("A", 3, 0), "none": [Image.new("L", (30, 30), 255)] * 3})
    assert finetune.main([str(blank), "--model", str(tiny_model), "--data-dir", str(tiny_mnist)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: no image of class none could be read as a digit") and "none_0.png" in err
    assert err.rstrip().endswith("use --whole-image")
    not_a_model = tmp_path / "notes.pth"
    not_a_model.write_text("hello")
    assert finetune.main([str(letters), "--model", str(not_a_model)]) == 2
    assert capsys.readouterr().err.startswith(f"error: checkpoint {not_a_model} is unreadable")
    assert finetune.main([str(letters), "--model", str(tiny_model), "--cross-validate", "13"]) == 2
    assert "has 12 image(s), fewer than the 13 folds" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        finetune.main([str(letters), "--model", str(tiny_model), "--output", str(tiny_model)])
    assert "would overwrite the model" in capsys.readouterr().err


def test_ctrl_c_leaves_nothing_written(letters, tiny_model, tiny_mnist, tmp_path):
    out = tmp_path / "stopped.pth"
    child = subprocess.Popen([sys.executable, str(ROOT / "finetune.py"), str(letters), "--model", str(tiny_model),
                              "--output", str(out), "--epochs", "100000", "--data-dir", str(tiny_mnist)],
                             cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert "images in 3 classes" in child.stdout.readline() + child.stdout.readline()
    time.sleep(1.0)  # training now
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    assert "nothing was written" in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".stopped.pth.*"))


def on_paper(digit: np.ndarray) -> Image.Image:
    """An MNIST digit, twice the size, dark on white."""
    return Image.fromarray(255 - np.kron(digit, np.ones((2, 2), np.uint8)))


def not_a_digit(rng: np.random.Generator) -> Image.Image:
    """A small page that holds no digit: a dash, a dot or comma, a grid's corner or a stray
    stroke."""
    page = Image.new("L", (56, 56), 255)
    draw = ImageDraw.Draw(page)
    kind, width = int(rng.integers(4)), int(rng.integers(3, 6))
    x, y = (int(v) for v in rng.integers(14, 42, 2))
    if kind == 0:  # a dash or an underline
        length = int(rng.integers(10, 30))
        draw.line((x - length // 2, y, x + length // 2, y + int(rng.integers(-3, 4))), fill=0, width=width)
    elif kind == 1:  # a dot or a comma
        draw.ellipse((x - width, y - width, x + width, y + width), fill=0)
        if rng.random() < 0.5:
            draw.line((x + width - 1, y, x - 2, y + 3 * width), fill=0, width=max(2, width - 1))
    elif kind == 2:  # a grid's corner
        draw.line((0, y, 55, y), fill=0, width=width)
        draw.line((x, 0, x, 55), fill=0, width=width)
    else:  # a stray slanted stroke
        draw.line((x - 8, y - 8, x + 8, y + 8), fill=0, width=width)
    return page


def test_none_class_reads_what_is_not_a_digit(real_model, real_mnist_dir, tmp_path):
    """An 11-class model: MNIST digits on paper and images that hold no digit (dashes, dots,
    commas, grid corners, stray strokes). Fresh ones of those read `none` (or hold no digit
    at all, where the search finds only a grid's lines), and MNIST's test digits read as
    before."""
    images, labels = load_mnist(real_mnist_dir, train=True)
    rng = np.random.default_rng(5)
    folder = tmp_path / "with_none"
    picks = rng.choice(len(images), 300, replace=False)
    write_folder(folder, {str(d): [on_paper(images[i].numpy()) for i in picks if labels[i] == d] for d in range(10)})
    write_folder(folder, {"none": [not_a_digit(rng) for _ in range(100)]})
    out = tmp_path / "with_none.pth"
    assert finetune.main([str(folder), "--model", str(real_model), "--output", str(out), "--epochs", "15",
                          "--data-dir", str(real_mnist_dir)]) == 0
    assert load_checkpoint(out).classes == (*"0123456789", "none")
    predictor = inference.Predictor.from_file(out)
    fresh = np.random.default_rng(99)
    said = [r.prediction if r.error is None else "no digit" for r in predictor.predict(
        [not_a_digit(fresh) for _ in range(100)])]
    assert sum(s in ("none", "no digit") for s in said) >= 95, said
    assert said.count("none") >= 70, said
    test_x, test_y = load_mnist(real_mnist_dir, train=False)
    names = np.asarray(predictor.classes)[predictor.probabilities(test_x.numpy()).argmax(1)]
    assert float((names == test_y.numpy().astype(str)).mean()) >= 0.98


def test_the_benchmark_without_mnist_or_a_model_says_what_to_do(tmp_path, capsys, monkeypatch):
    """finetune_benchmark.py draws its photos from MNIST's test digits and starts from a
    checkpoint: without either, one line and exit 2."""
    import importlib

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    benchmark = importlib.import_module("finetune_benchmark")
    assert benchmark.main(["--model", str(tmp_path / "missing.pth")]) == 2
    assert "python train.py" in capsys.readouterr().err
    model = tmp_path / "m.pth"
    model.write_bytes(b"")
    assert benchmark.main(["--drawn", "--model", str(model), "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "MNIST/raw" in err


def test_drawn_meters_are_a_seeded_folder_finetune_reads(tmp_path, capsys, monkeypatch):
    """drawn_meters.py draws meter windows in fonts training never saw, as class folders; the
    same seed draws the same folder, and without such a font it says so and writes nothing."""
    import importlib
    import shutil

    import fonts

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    drawn_meters = importlib.import_module("drawn_meters")
    trained = tmp_path / "trained"
    trained.mkdir()
    shutil.copy(fonts.resolve_font("DejaVuSans"), trained)  # a face training draws is no held-out font
    assert drawn_meters.main([str(tmp_path / "none"), "--fonts", str(trained)]) == 2
    assert "no font that training never saw" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()
    unseen = tmp_path / "unseen"
    unseen.mkdir()
    shutil.copy(fonts.resolve_font("DejaVuSerif-Bold"), unseen / "SomeSerif.ttf")  # one under another name
    folders = [tmp_path / "a", tmp_path / "b"]
    for folder in folders:
        assert drawn_meters.main([str(folder), "--fonts", str(unseen), "--per-digit", "2", "--seed", "3"]) == 0
    classes, files = finetune.class_folders(folders[0])
    assert classes == tuple("0123456789") and [len(f) for f in files] == [2] * 10
    assert all(a.read_bytes() == b.read_bytes()
               for a, b in zip(sorted(folders[0].rglob("*.png")), sorted(folders[1].rglob("*.png"))))
    assert drawn_meters.main([str(folders[0]), "--fonts", str(unseen)]) == 2  # never over a folder
    assert "exists" in capsys.readouterr().err
