"""benchmarks/real_world_eval.py with a file missing: one line that says which, exit 2, and no
minutes of reading the real images before it."""

import importlib
from pathlib import Path

import pytest


@pytest.fixture()
def evaluation(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "benchmarks"))
    return importlib.import_module("real_world_eval")


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
