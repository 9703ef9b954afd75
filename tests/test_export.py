"""export.py: ONNX that matches PyTorch, int8 that keeps its accuracy, pruning that sticks,
and inference.py reading ONNX files without torch."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT

import export
import inference
from model import load_checkpoint, load_mnist, load_model
from onnx_classifier import OnnxClassifier


def torch_probabilities(checkpoint, digits):
    model, meta = load_model(checkpoint)
    return export.torch_probabilities(model, meta.mean, meta.std, torch.as_tensor(digits))


def test_onnx_matches_pytorch_and_takes_any_batch(exported, tiny_mnist):
    images = load_mnist(tiny_mnist, train=False)[0].numpy()
    expected = torch_probabilities(exported / "lenet5_model.pth", images)
    onnx = OnnxClassifier(exported / "lenet5_model.onnx")
    got = onnx.probabilities(images)
    assert np.abs(got - expected).max() <= 1e-5
    assert (got.argmax(1) == expected.argmax(1)).all()
    for n in (1, 7):  # the batch dimension is dynamic
        assert onnx.probabilities(images[:n]).shape == (n, 10)
    one_thread = OnnxClassifier(exported / "lenet5_model.onnx", threads=1)  # as serve.py's workers read
    assert one_thread.session.get_session_options().intra_op_num_threads == 1
    assert np.array_equal(one_thread.probabilities(images).argmax(1), got.argmax(1))
    checkpoint = load_checkpoint(exported / "lenet5_model.pth")
    assert float(onnx.metadata["mean"]) == checkpoint.mean and float(onnx.metadata["std"]) == checkpoint.std


def test_int8_file_is_int8_three_times_smaller_and_as_accurate(exported, tiny_mnist):
    import onnx

    fp32, int8 = exported / "lenet5_model.onnx", exported / "lenet5_model.int8.onnx"
    assert fp32.stat().st_size >= 3 * int8.stat().st_size
    ops = {node.op_type for node in onnx.load(str(int8)).graph.node}
    assert "QGemm" in ops and "Gemm" not in ops  # the fully connected layers really run in int8
    images, labels = (t.numpy() for t in load_mnist(tiny_mnist, train=False))
    correct = {path: int((OnnxClassifier(path).probabilities(images).argmax(1) == labels).sum()) for path in (fp32, int8)}
    assert correct[int8] >= correct[fp32] - 2  # 100 images: within two of fp32


def test_pruning_zeroes_the_share_asked_for_and_saves_a_normal_checkpoint(exported, tiny_mnist, digits_dir, capsys):
    source = exported / "lenet5_model.pth"
    assert export.main(["--model", str(source), "--prune", "0.5", "--fine-tune-epochs", "1",
                        "--data-dir", str(tiny_mnist)]) == 0
    pruned = exported / "lenet5_model_pruned50.pth"
    assert "50.0% of the weights are zero" in capsys.readouterr().out
    model, checkpoint = load_model(pruned)  # a normal checkpoint: no masks, no *_orig tensors
    weights = [m.weight for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    zeros = sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)
    assert zeros == pytest.approx(0.5, abs=0.001)
    assert checkpoint.meta["pruned"]["amount"] == 0.5 and checkpoint.meta["pruned"]["source"] == str(source)
    original = load_checkpoint(source).model_state
    assert not all(torch.equal(original[k], v) for k, v in checkpoint.model_state.items())  # fine-tuned
    assert inference.main(["--model", str(pruned), str(digits_dir)]) in (0, 1)  # read like any checkpoint
    assert "Accuracy:" in capsys.readouterr().out


def test_inference_reads_onnx_as_it_reads_the_checkpoint(exported, digits_dir, tmp_path, capsys):
    outputs = {}
    for name in ("lenet5_model.pth", "lenet5_model.onnx"):
        assert inference.main(["--model", str(exported / name), str(digits_dir), "--json"]) in (0, 1)
        outputs[name] = json.loads(capsys.readouterr().out)["results"]
    for pth, onnx in zip(outputs["lenet5_model.pth"], outputs["lenet5_model.onnx"]):
        assert pth["prediction"] == onnx["prediction"] and pth["box"] == onnx["box"]
        assert np.abs(np.subtract(pth["probabilities"], onnx["probabilities"])).max() <= 2e-6  # rounded to 6 places
    report = tmp_path / "report.png"
    assert inference.main(["--model", str(exported / "lenet5_model.int8.onnx"), str(digits_dir),
                           "--report", str(report), "--top-k", "2"]) in (0, 1)
    out = capsys.readouterr().out
    assert "Accuracy:" in out and "next:" in out and report.stat().st_size > 0


def test_an_onnx_model_never_imports_torch(exported, digits_dir):
    code = ("import sys, inference; code = inference.main(sys.argv[1:]); "
            "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code, "--model", str(exported / "lenet5_model.onnx"),
                           str(digits_dir / "digit_7.png")], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert "predicted" in done.stdout


def foreign_onnx(path):
    """A valid ONNX model that is not a digit model: one Identity op on a float vector."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "other",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])])
    onnx.save(helper.make_model(graph), str(path))


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "does not exist"),
    (lambda p: p.write_bytes(b""), "is empty"),
    (lambda p: p.write_bytes(os.urandom(2000)), "not a readable ONNX model"),
    (foreign_onnx, "not a LeNet-5 digit model"),
])
def test_a_bad_onnx_file_is_one_clear_line_and_exit_2(make, message, tmp_path, digits_dir, capsys):
    path = tmp_path / "model.onnx"
    make(path)
    assert inference.main(["--model", str(path), str(digits_dir)]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and message in captured.err and "python export.py" in captured.err
    assert "Traceback" not in captured.err and captured.out == ""


def test_onnx_runs_on_the_cpu_only(exported, digits_dir, capsys):
    assert inference.main(["--model", str(exported / "lenet5_model.onnx"), "--device", "cuda", str(digits_dir)]) == 2
    assert "ONNX Runtime" in capsys.readouterr().err


def test_export_without_a_checkpoint_or_with_bad_flags(tmp_path, tiny_mnist, capsys):
    assert export.main(["--model", str(tmp_path / "none.pth"), "--data-dir", str(tiny_mnist)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "python train.py" in err
    assert not list(tmp_path.iterdir())
    (tmp_path / "taken").write_bytes(b"")
    (tmp_path / "folder.onnx").mkdir()
    for argv, message in ((["--output", "model.bin"], "must end in .onnx"), (["--prune", "1.5"], "between 0 and 1"),
                          (["--output", str(tmp_path / "folder.onnx")], "cannot write"),
                          (["--prune", "0.5", "--pruned-output", str(tmp_path / "taken" / "m.pth")], "cannot write")):
        with pytest.raises(SystemExit) as exit_info:
            export.parse_args(argv)
        assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_an_export_that_does_not_match_pytorch_is_not_kept(exported, tiny_mnist, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(export, "PARITY_TOLERANCE", -1.0)  # no file can pass
    target = tmp_path / "m.onnx"
    assert export.main(["--model", str(exported / "lenet5_model.pth"), "--output", str(target),
                        "--data-dir", str(tiny_mnist)]) == 1
    assert "does not match PyTorch" in capsys.readouterr().err
    assert not target.exists() and not list(tmp_path.glob("*.onnx"))


def test_real_mnist_onnx_int8_and_pruning_keep_accuracy(real_model, real_mnist_dir, tmp_path, capsys):
    """The issue's bars, on a model trained on real MNIST: fp32 identical, int8 within 0.2
    points and 3x smaller, half the weights pruned within 0.1 points."""
    shutil.copy(real_model, tmp_path / "m.pth")
    assert export.main(["--model", str(tmp_path / "m.pth"), "--data-dir", str(real_mnist_dir)]) == 0
    assert export.main(["--model", str(tmp_path / "m.pth"), "--prune", "0.5", "--fine-tune-epochs", "1", "--data-dir", str(real_mnist_dir)]) == 0
    images, labels = (t.numpy() for t in load_mnist(real_mnist_dir, train=False))
    reference = torch_probabilities(tmp_path / "m.pth", images)
    fp32 = OnnxClassifier(tmp_path / "m.onnx").probabilities(images)
    assert np.abs(fp32 - reference).max() <= 1e-5 and (fp32.argmax(1) == reference.argmax(1)).all()
    accuracy = {name: float((p.argmax(1) == labels).mean()) for name, p in (
        ("fp32", fp32), ("int8", OnnxClassifier(tmp_path / "m.int8.onnx").probabilities(images)),
        ("pruned", inference.Predictor.from_file(tmp_path / "m_pruned50.pth").probabilities(images)))}
    assert accuracy["int8"] >= accuracy["fp32"] - 0.002
    assert accuracy["pruned"] >= accuracy["fp32"] - 0.001
    assert (tmp_path / "m.onnx").stat().st_size >= 3 * (tmp_path / "m.int8.onnx").stat().st_size


def test_explain_asks_for_the_checkpoint_behind_an_onnx_file(exported, capsys):
    import explain

    assert explain.main(["--model", str(exported / "lenet5_model.onnx"), "--filters"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs gradients" in err and "Traceback" not in err
