import io
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

import inference
from model import LeNet5, load_mnist
from batch import map_in_processes


def run_json(capsys, *argv):
    code = inference.main(list(argv) + ["--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)  # stdout must be one JSON document and nothing else


def test_default_mode_reads_test_digits(tiny_model, digits_dir, monkeypatch, capsys):
    monkeypatch.chdir(digits_dir.parent)
    assert inference.main(["--model", str(tiny_model)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[:10]] == [f"test_digits/digit_{d}.png" for d in range(10)]
    assert all(f"true {d}  predicted" in lines[d] for d in range(10))
    assert all(line.rstrip().endswith(("✓", "✗")) for line in lines[:10])
    assert lines[10].startswith("Accuracy: ") and "/10 (" in lines[10]


def test_json_schema(tiny_model, digits_dir, capsys):
    code, doc = run_json(capsys, "--model", str(tiny_model), str(digits_dir))
    assert code == 0
    assert set(doc) == {"classes", "results", "summary"}
    assert doc["classes"] == list(range(10))  # what each probability is for
    assert len(doc["results"]) == 10  # the overview sheet and labels.csv are not digits
    for result, digit in zip(doc["results"], range(10)):
        assert set(result) == {"path", "label", "prediction", "confidence", "probabilities", "box"}
        left, top, right, bottom = result["box"]  # where the digit was read, in the image's pixels
        assert 0 <= left < right <= 32 and 0 <= top < bottom <= 32
        assert result["label"] == digit and result["path"].endswith(f"digit_{digit}.png")
        assert len(result["probabilities"]) == 10 and sum(result["probabilities"]) == pytest.approx(1, abs=1e-4)
        assert result["prediction"] == int(np.argmax(result["probabilities"]))
        assert result["confidence"] == pytest.approx(max(result["probabilities"]))
    summary = doc["summary"]
    assert summary["total"] == summary["labeled"] == 10
    assert summary["correct"] == sum(r["prediction"] == r["label"] for r in doc["results"])
    assert summary["accuracy"] == pytest.approx(summary["correct"] / 10)


def test_top_k_and_report(tiny_model, digits_dir, tmp_path, capsys):
    assert inference.main(["--model", str(tiny_model), str(digits_dir), "--top-k", "3",
                           "--report", str(tmp_path / "report.png")]) == 0
    out = capsys.readouterr().out
    assert out.count("next: ") == 10
    assert all(len(line.split("next: ")[1].split(", ")) == 2 for line in out.splitlines() if "next: " in line)
    with Image.open(tmp_path / "report.png") as report:
        assert report.format == "PNG" and report.height > report.width / 2


@pytest.mark.parametrize("name", ["report.txt", "report.jpg", "folder"])
def test_a_report_that_is_no_png_file_is_refused_before_reading(tiny_model, digits_dir, tmp_path, capsys, name):
    """--report writes PNG bytes: a .txt or .jpg name, or a folder, is one line and exit 2
    before any image is read (a folder was found out only after reading them all)."""
    out = tmp_path / "out"
    (out / "folder").mkdir(parents=True)
    with pytest.raises(SystemExit) as exit_info:
        inference.main(["--model", str(tiny_model), str(digits_dir), "--report", str(out / name)])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert "ending in .png" in captured.err and captured.out == ""
    assert sorted(p.name for p in out.iterdir()) == ["folder"]


def test_bad_files_among_good_ones_are_reported_and_skipped(tiny_model, digits_dir, tmp_path, capsys):
    mixed = tmp_path / "mixed"
    (mixed / "7").mkdir(parents=True)
    (mixed / "7" / "seven.png").write_bytes((digits_dir / "digit_7.png").read_bytes())
    (mixed / "empty.png").write_bytes(b"")
    (mixed / "text.png").write_text("not an image")
    buffer = io.BytesIO()
    Image.open(digits_dir / "digit_3.png").save(buffer, "PNG")
    (mixed / "digit_3_cut.png").write_bytes(buffer.getvalue()[:80])
    Image.new("L", (64, 64), 255).save(mixed / "blank.png")
    Image.new("1", (7000, 7000)).save(mixed / "bomb.png")
    (mixed / "notes.txt").write_text("folders may hold other files; they are not images")
    code, doc = run_json(capsys, "--model", str(tiny_model), str(mixed))
    assert code == 1
    by_name = {r["path"].split("/")[-1]: r for r in doc["results"]}
    assert set(by_name) == {"seven.png", "empty.png", "text.png", "digit_3_cut.png", "blank.png", "bomb.png"}
    assert by_name["seven.png"]["label"] == 7 and "error" not in by_name["seven.png"]
    assert by_name["seven.png"]["prediction"] is not None
    for name, words in (("empty.png", "empty"), ("text.png", "not an image"), ("digit_3_cut.png", "truncated"),
                        ("blank.png", "no digit"), ("bomb.png", "more than")):
        assert words in by_name[name]["error"] and by_name[name]["prediction"] is None
    assert doc["summary"]["errors"] == 5 and doc["summary"]["labeled"] == 2


def test_bad_files_in_text_mode_print_one_line_each(tiny_model, tmp_path, capsys):
    (tmp_path / "empty.png").write_bytes(b"")
    assert inference.main(["--model", str(tiny_model), str(tmp_path / "empty.png"), str(tmp_path / "gone.png")]) == 1
    captured = capsys.readouterr()
    assert "error: empty file" in captured.out and "gone.png: no such file" in captured.err
    assert "Traceback" not in captured.out + captured.err


@pytest.mark.parametrize("make", [lambda p: None, lambda p: p.write_text("junk")], ids=["missing", "broken"])
def test_missing_or_broken_checkpoint_says_to_train(make, digits_dir, tmp_path, capsys):
    make(tmp_path / "model.pth")
    assert inference.main(["--model", str(tmp_path / "model.pth"), str(digits_dir)]) == 2
    err = capsys.readouterr().err
    assert "python train.py" in err and len(err.strip().splitlines()) == 1


def test_empty_folder_and_missing_test_digits(tiny_model, tmp_path, monkeypatch, capsys):
    (tmp_path / "empty").mkdir()
    assert inference.main(["--model", str(tiny_model), str(tmp_path / "empty")]) == 2
    assert "holds no images" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    assert inference.main(["--model", str(tiny_model)]) == 2
    assert "python generate_test_digits.py" in capsys.readouterr().err


def test_predictor_takes_paths_pil_images_and_arrays(tiny_model, digits_dir):
    predictor = inference.Predictor.from_file(tiny_model)
    path = digits_dir / "digit_4.png"
    image = Image.open(path)
    results = predictor.predict([path, image, np.asarray(image), np.zeros((10, 10))])
    assert [r.label for r in results] == [4, None, None, None]
    assert results[0].probabilities == results[1].probabilities == results[2].probabilities
    assert results[3].error.startswith("no digit")
    assert results[0].top_k(3)[0] == (results[0].prediction, results[0].confidence)


def test_batches_give_the_same_answers_as_single_images(tiny_model, digits_dir):
    predictor = inference.Predictor.from_file(tiny_model)
    paths = sorted(digits_dir.glob("digit_*.png"))
    together = predictor.predict(paths, batch_size=512)
    one_by_one = [predictor.predict([p])[0] for p in paths]
    for a, b in zip(together, one_by_one):
        assert a.prediction == b.prediction
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-5)


def test_bare_state_dict_checkpoint_works(digits_dir, tmp_path):
    torch.save(LeNet5().state_dict(), tmp_path / "bare.pth")
    assert inference.main(["--model", str(tmp_path / "bare.pth"), str(digits_dir)]) == 0


def test_mnist_test_flag(tiny_model, tiny_mnist, tmp_path, capsys):
    assert inference.main(["--model", str(tiny_model), "--mnist-test", "--data-dir", str(tiny_mnist)]) == 0
    out = capsys.readouterr().out
    assert "MNIST test accuracy:" in out and "Confusion matrix" in out and len(out.splitlines()) == 15
    code, doc = run_json(capsys, "--model", str(tiny_model), "--mnist-test", "--data-dir", str(tiny_mnist))
    assert code == 0 and np.sum(doc["confusion_matrix"]) == 100


def test_mnist_test_offline_without_data(tiny_model, tmp_path, offline, capsys):
    assert inference.main(["--model", str(tiny_model), "--mnist-test", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "t10k-images-idx3-ubyte" in err and "Traceback" not in err


def test_real_model_reads_the_generated_digits(real_model, digits_dir):
    results = inference.Predictor.from_file(real_model).predict(sorted(digits_dir.glob("digit_*.png")))
    assert sum(r.correct for r in results) >= 9, [(r.label, r.prediction) for r in results]


def test_preprocessing_leaves_mnist_accuracy_alone(real_model, real_mnist_dir):
    predictor = inference.Predictor.from_file(real_model)
    images, labels = (t.numpy() for t in load_mnist(real_mnist_dir, train=False))
    raw = predictor.probabilities(images).argmax(1)
    prepared = map_in_processes(inference.mnist_like, images, os.cpu_count() or 1, chunksize=500)  # a process per core
    through = predictor.probabilities(np.stack(prepared)).argmax(1)
    raw_accuracy = (raw == labels).mean()
    through_accuracy = (through == labels).mean()
    assert raw_accuracy >= 0.99  # the brief model reads MNIST as stored (99.13% at 4 epochs)
    assert (raw == through).mean() >= 0.99  # the same answer for 99% of the digits
    assert through_accuracy >= raw_accuracy - 0.003  # and the preprocessing costs at most 0.3 points


def test_many_images_are_prepared_in_worker_processes_in_order(tiny_model, digits_dir):
    predictor = inference.Predictor.from_file(tiny_model)
    files = sorted(digits_dir.glob("digit_*.png")) * 13  # 130 inputs: enough for a pool
    arrays = [np.asarray(Image.open(f)) for f in files[:10]] * 3
    inputs = files + arrays + [digits_dir / "missing.png"]
    alone = predictor.predict(inputs, workers=1)
    pooled = predictor.predict(inputs, workers=2)
    assert len(pooled) == len(inputs) == 161
    assert [r.source for r in pooled] == [r.source for r in alone]
    assert [r.probabilities for r in pooled] == [r.probabilities for r in alone]
    assert [r.box for r in pooled] == [r.box for r in alone]
    assert pooled[-1].error == "no such file"


def test_a_broken_checkpoint_found_while_many_images_are_read_is_one_clear_line(digits_dir, tmp_path, capsys):
    import shutil

    for copy in range(8):  # 80 images: read in worker processes that start before the model loads
        shutil.copytree(digits_dir, tmp_path / "many" / str(copy), ignore=shutil.ignore_patterns("*.csv"))
    (tmp_path / "model.pth").write_text("junk")
    assert inference.main(["--model", str(tmp_path / "model.pth"), str(tmp_path / "many")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "python train.py" in captured.err


class InkReader:
    """A stand-in network that reads a digit by how much ink it has: little, a sure 1 (0.9);
    some, a fairly sure 7 (0.8); much, a guess at 8 (0.4)."""

    def probabilities(self, digits, batch_size=1024):
        rows = []
        for ink in digits.reshape(len(digits), -1).mean(1) / 255:
            cls, sure = (1, 0.9) if ink < 0.05 else (7, 0.8) if ink < 0.1 else (8, 0.4)
            row = np.full(10, (1 - sure) / 9)
            row[cls] = sure
            rows.append(row)
        return np.asarray(rows)


def test_an_image_is_read_by_the_reading_the_network_is_clearly_surer_of():
    from preprocess import Digit

    def digit(fraction, box, alternatives=()):  # a 28x28 digit with ``fraction`` of its pixels inked
        image = np.zeros((28, 28), np.uint8)
        image.ravel()[:round(fraction * image.size)] = 255
        return Digit(image, box, alternatives)

    stroke = digit(0.02, (5, 10, 15, 40))  # alone: a sure 1
    smudged = digit(0.2, (0, 0, 30, 40), (digit(0.5, (1, 1, 2, 2)), stroke))  # whole: a guess at 8
    two_strokes = digit(0.08, (0, 0, 30, 40), (stroke,))  # whole: a 7 at 0.8; the stroke's 0.9 is not 0.15 surer
    examined = [(smudged, None, None), (None, None, "no digit found"), (digit(0.2, (3, 3, 9, 9)), None, None),
                (two_strokes, None, None)]
    results = inference.Predictor(InkReader()).predict(["a", "b", "c", "d"], examined=iter(examined), batch_size=3)
    assert [r.prediction for r in results] == [1, None, 8, 7]
    assert results[0].box == stroke.box and results[0].image is stroke.image
    assert results[0].confidence == pytest.approx(0.9)
    assert results[2].box == (3, 3, 9, 9) and results[3].box == two_strokes.box
    first_only = inference.Predictor(InkReader(), reading_margin=1).predict(["a"], examined=iter(examined[:1]))
    assert first_only[0].prediction == 8 and first_only[0].box == smudged.box
    assert inference.surest_reading(np.array([[0.5, 0.5], [0.2, 0.8]])) == 1
    assert inference.surest_reading(np.array([[0.5, 0.5], [0.4, 0.6]])) == 0


class CentrePixelReader:
    """A stand-in network that reads 3 where the frame's centre pixel is inked and 5 where it
    is not, unsure (0.6) unless the top-left pixel is inked too (then sure: 0.9). It counts
    the digits it is given."""

    def __init__(self):
        self.given = []

    def probabilities(self, digits, batch_size=1024):
        self.given.append(len(digits))
        sure = np.where(digits[:, 0, 0] > 0, 0.9, 0.6)
        rows = np.repeat(((1 - sure) / 9)[:, None], 10, 1)
        rows[np.arange(len(digits)), np.where(digits[:, 14, 14] > 0, 3, 5)] = sure
        return rows


def test_only_an_unsure_reading_is_the_mean_over_the_digit_nudged_a_pixel_each_way():
    from preprocess import Digit

    digits = np.zeros((3, 28, 28), np.uint8)
    digits[:, 14, 14] = 255  # framed, the centre is inked; nudged any way, it is not
    digits[1, 0, 0] = 255  # ...but the network is sure of this one as framed
    reader = CentrePixelReader()
    probabilities = inference.placed_probabilities(reader.probabilities, digits)
    assert reader.given == [3, 2 * len(inference.NUDGES)]  # the sure one is not read again
    assert probabilities[1, 3] == pytest.approx(0.9) and probabilities[1].argmax() == 3
    for unsure in probabilities[[0, 2]]:
        assert unsure[3] == pytest.approx((0.6 + 4 * 0.4 / 9) / 5)
        assert unsure[5] == pytest.approx((0.4 / 9 + 4 * 0.6) / 5) and unsure.argmax() == 5
    assert probabilities.sum(1) == pytest.approx(np.ones(3))
    predictor = inference.Predictor(CentrePixelReader())
    assert np.array_equal(predictor.read(digits), probabilities)  # what predict goes by
    assert [r.prediction for r in predictor.predict(list(digits), examined=iter(
        [(Digit(d, (0, 0, 28, 28)), None, None) for d in digits]))] == [5, 3, 5]
