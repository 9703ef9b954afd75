"""explain.py: feature maps, attributions that add up, pictures, and bad input."""

import numpy as np
import pytest
import torch
from PIL import Image

import explain
from model import LeNet5, load_model, to_model_input

real_explain_image = explain.explain_image


@pytest.fixture(scope="module")
def digit_input():
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 12:16] = 255  # a 1
    return to_model_input(torch.from_numpy(digit)[None], 0.1307, 0.3081)


def test_feature_maps_have_the_shapes_of_the_layers(digit_input):
    model = LeNet5().eval()
    first, second = explain.feature_maps(model, digit_input)
    assert first.shape == (1, 6, 32, 32) and second.shape == (1, 16, 12, 12)
    assert (first >= 0).all() and (second >= 0).all()  # after ReLU
    assert explain.penultimate(model, digit_input).shape == (1, 84)
    assert not model.features[1]._forward_hooks  # the hooks are gone afterwards


def test_integrated_gradients_add_up_to_the_change_in_output(tiny_model, digit_input):
    model, _ = load_model(tiny_model)
    torch.set_grad_enabled(True)
    with torch.no_grad():
        logits = model(digit_input)[0]
        base = model(torch.full_like(digit_input, float(digit_input.min())))[0]
    targets = logits.topk(2).indices.tolist()
    found = explain.attributions(model, digit_input, targets)
    for target, attribution, delta in zip(targets, found["ig"], found["delta"]):
        total = float(attribution.sum())
        assert total == pytest.approx(float(logits[target] - base[target]), abs=max(delta, 1e-3) * 1.01 + 1e-4)
    assert found["occlusion"].shape == (32, 32)


def test_pictures_for_images_and_filters(tiny_model, digits_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert explain.main(["--model", str(tiny_model), "--output", str(out), "--filters",
                         str(digits_dir / "digit_3.png"), str(digits_dir / "digit_8.png")]) == 0
    for name in ("digit_3_explained.png", "digit_8_explained.png", "filters.png"):
        with Image.open(out / name) as picture:
            assert picture.format == "PNG" and picture.width > 600
    assert "digit_3.png: predicted" in capsys.readouterr().out


def test_an_output_that_is_a_file_is_refused_before_any_work(tiny_model, tmp_path, capsys):
    """--output names the folder the pictures go in; a file there stopped explain.py with a
    FileExistsError's traceback once the first picture was drawn."""
    taken = tmp_path / "taken.png"
    taken.write_bytes(b"keep me")
    with pytest.raises(SystemExit) as exit_info:
        explain.main(["--model", str(tiny_model), "--output", str(taken), "--filters"])
    assert exit_info.value.code == 2 and "is a file" in capsys.readouterr().err
    assert taken.read_bytes() == b"keep me"


def test_bad_images_among_good_ones_do_not_stop_the_others(tiny_model, digits_dir, tmp_path, capsys):
    (tmp_path / "blank.png").write_bytes(b"")
    Image.new("L", (64, 64), 255).save(tmp_path / "white.png")
    out = tmp_path / "out"
    code = explain.main(["--model", str(tiny_model), "--output", str(out), str(tmp_path / "blank.png"),
                         str(tmp_path / "white.png"), str(tmp_path / "missing.png"), str(digits_dir / "digit_5.png")])
    assert code == 1
    err = capsys.readouterr().err
    assert "blank.png: empty file" in err and "white.png: no digit found" in err and "missing.png: no such file" in err
    assert "Traceback" not in err
    assert (out / "digit_5_explained.png").exists() and not (out / "white_explained.png").exists()


def test_missing_checkpoint_is_one_line_and_exit_2(tmp_path, digits_dir, capsys):
    assert explain.main(["--model", str(tmp_path / "none.pth"), str(digits_dir / "digit_1.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err and "python train.py" in err


def test_nothing_to_do_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as stop:
        explain.main([])
    assert stop.value.code == 2


def test_mnist_error_analysis(real_model, real_mnist_dir, tmp_path, capsys):
    assert explain.main(["--model", str(real_model), "--mnist-test", "--data-dir", str(real_mnist_dir),
                         "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "MNIST test: 99." in out and "most confused:" in out
    assert (tmp_path / "mnist_errors.png").stat().st_size > 50_000


def test_the_picture_names_the_digit_inference_names(tiny_model, digits_dir, tmp_path, capsys, monkeypatch):
    """For a digit the network is unsure of, inference.py goes by the mean over one-pixel
    nudges; explain.py titles the same probabilities, not those of the digit as framed."""
    import inference
    from inference import Predictor
    from batch import examine

    monkeypatch.setattr(inference, "SURE", 1.01)  # every reading unsure: every one is averaged
    drawn = []

    def explain_and_keep(*args, **kwargs):
        drawn.append(real_explain_image(*args, **kwargs))
        return drawn[-1]

    monkeypatch.setattr(explain, "explain_image", explain_and_keep)

    model, checkpoint = load_model(tiny_model)
    predictor = Predictor.from_file(tiny_model)
    files = sorted(digits_dir.glob("digit_*.png"))
    for file in files:
        digit, _, _ = examine(file, preview=True)
        reading, read = explain.read_as_inference_does(model, checkpoint.mean, checkpoint.std, digit)
        result = predictor.predict([file])[0]
        assert np.allclose(read, result.probabilities, atol=1e-4) and reading.box == result.box
    assert explain.main(["--model", str(tiny_model), "--output", str(tmp_path / "out"), *map(str, files)]) == 0
    said = [line.split(": predicted ")[1].split(",")[0] for line in capsys.readouterr().out.splitlines()]
    assert said == [str(r.prediction) for r in predictor.predict(files)]
    assert len(drawn) == len(files) and all(found["averaged"] for found in drawn)

    digit, _, _ = examine(files[3], preview=True)
    as_framed = real_explain_image(model, checkpoint.mean, checkpoint.std, "3", digit.preview, digit.image,
                                   tmp_path / "framed.png")
    assert not as_framed["averaged"]
    other = (as_framed["prediction"] + 5) % 10
    given = np.full(10, 0.02, np.float32)
    given[other], given[as_framed["prediction"]] = 0.6, 0.24
    shown = real_explain_image(model, checkpoint.mean, checkpoint.std, "3", digit.preview, digit.image,
                               tmp_path / "given.png", given)
    assert (shown["prediction"], shown["runner_up"], shown["averaged"]) == (other, as_framed["prediction"], True)
