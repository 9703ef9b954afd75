"""Every training run is kept in runs/NAME/, and compare_runs.py puts runs side by side."""

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT, tiny_train_args
from PIL import Image

import compare_runs
import train
from runs import HISTORY_NAME, TENSORBOARD_TAGS, find_runs, read_run


def tensorboard_scalars(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


@pytest.fixture(scope="module")
def two_runs(tiny_mnist, tmp_path_factory):
    """Two finished runs of different lengths and variants, in one runs folder."""
    out = tmp_path_factory.mktemp("runs")
    assert train.main(tiny_train_args(tiny_mnist, out, "--epochs", "3", "--run-name", "plain")) == 0
    assert train.main(tiny_train_args(tiny_mnist, out, "--epochs", "2", "--run-name", "bn", "--batch-norm")) == 0
    return out / "runs"


def test_a_run_keeps_history_plot_weights_and_the_same_numbers_for_tensorboard(two_runs):
    folder = two_runs / "plain"
    assert {p.name for p in folder.iterdir()} >= {HISTORY_NAME, "training_results.png", "lenet5_model.pth"}
    history = json.loads((folder / HISTORY_NAME).read_text())
    assert history["status"] == "finished" and history["variant"] == "relu/max, MNIST only"
    assert history["settings"]["epochs"] == 3 and history["parameters"] == 82_826
    assert [e["epoch"] for e in history["epochs"]] == [1, 2, 3]
    assert 0 < history["test_accuracy"] <= 1
    scalars = tensorboard_scalars(folder)
    for field, tag in TENSORBOARD_TAGS.items():
        assert [step for step, _ in scalars[tag]] == [1, 2, 3]
        assert [value for _, value in scalars[tag]] == pytest.approx([e[field] for e in history["epochs"]], rel=1e-6)
    assert scalars["accuracy/test"][0][1] == pytest.approx(history["test_accuracy"], rel=1e-6)
    with Image.open(folder / "training_results.png") as plot:
        assert plot.format == "PNG"


def test_a_run_name_already_taken_is_refused_before_any_work(tiny_mnist, two_runs, tmp_path, capsys):
    args = tiny_train_args(tiny_mnist, tmp_path, "--runs-dir", str(two_runs), "--run-name", "plain")
    assert train.main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already exists" in err and "--run-name" in err
    assert not (tmp_path / "model.pth").exists()
    assert read_run(two_runs / "plain").status == "finished"  # the kept run is untouched


@pytest.mark.parametrize("name", ["a/b", "..", ".hidden", ""])
def test_a_run_name_must_be_one_plain_folder_name(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.parse_args(["--run-name", name])
    assert exit_info.value.code == 2 and "plain folder name" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["cmp.svg", "folder"])
def test_compare_runs_refuses_a_picture_name_that_is_no_png_file(tmp_path, capsys, name):
    (tmp_path / "folder").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        compare_runs.main([str(tmp_path), "--output", str(tmp_path / name)])
    assert exit_info.value.code == 2 and "ending in .png" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]


def test_compare_runs_tables_and_draws_runs_of_different_lengths(two_runs, tmp_path, capsys):
    picture = tmp_path / "cmp.png"
    assert compare_runs.main([str(two_runs), "--output", str(picture)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["run", "variant", "parameters"]
    bn = next(line for line in lines if line.startswith("bn "))
    plain = next(line for line in lines if line.startswith("plain "))
    assert "relu/max +BN, MNIST only" in bn and "82,848" in bn and " 2 " in bn
    assert "82,826" in plain and " 3 " in plain
    test = read_run(two_runs / "plain").test_accuracy
    assert plain.rstrip().endswith(f"{test:.2%}")
    with Image.open(picture) as image:
        assert image.format == "PNG" and image.width >= 1000

    assert compare_runs.main([str(two_runs / "bn"), "--markdown", "--output", str(picture)]) == 0
    table = capsys.readouterr().out.strip().splitlines()
    assert table[0].startswith("| run | variant |") and table[1].startswith("| ---")
    assert len(table) == 3 and table[2].startswith("| bn | relu/max +BN")


def test_a_run_stopped_with_ctrl_c_shows_as_stopped_and_resumes_into_the_same_folder(tiny_mnist, tmp_path,
                                                                                     ctrl_c_after_epoch_1, capsys):
    with ctrl_c_after_epoch_1():
        assert train.main(tiny_train_args(tiny_mnist, tmp_path, "--epochs", "3", "--run-name", "long")) == 130
    run = read_run(tmp_path / "runs" / "long")
    assert run.status == "stopped" and run.test_accuracy is None and [e["epoch"] for e in run.epochs] == [1]
    assert (tmp_path / "runs" / "long" / "lenet5_model.pth").exists()  # the best weights so far are kept

    capsys.readouterr()
    assert compare_runs.main([str(tmp_path / "runs" / "long"), "--output", str(tmp_path / "c.png")]) == 0
    row = capsys.readouterr().out.splitlines()[2]
    assert "1/3 stopped" in row and row.rstrip().endswith("-")  # no test accuracy yet

    # resumed: the same folder, every epoch once, in both files
    assert train.main(tiny_train_args(tiny_mnist, tmp_path, "--resume", str(tmp_path / "model_last.pth"))) == 0
    run = read_run(tmp_path / "runs" / "long")
    assert run.status == "finished" and run.test_accuracy is not None
    assert [e["epoch"] for e in run.epochs] == [1, 2, 3]
    scalars = tensorboard_scalars(tmp_path / "runs" / "long")
    assert [step for step, _ in scalars["loss/train"]] == [1, 2, 3]
    assert [v for _, v in scalars["loss/train"]] == pytest.approx(run.series("train_loss"), rel=1e-6)


@pytest.mark.parametrize("make, message", [
    (lambda d: None, "no such folder"),
    (lambda d: d.mkdir(), "not a training run and holds none"),
    (lambda d: (d.mkdir(), (d / HISTORY_NAME).write_text("{not json")), "not JSON"),
    (lambda d: (d.mkdir(), (d / HISTORY_NAME).write_text('{"status": "finished"}')), "not a run history"),
    (lambda d: (d.mkdir(), (d / HISTORY_NAME).write_text(
        '{"status": "finished", "epochs": [{"epoch": 1, "train_loss": "x"}]}')), "not a run history"),
])
def test_a_folder_that_is_not_a_run_is_one_clear_line_and_exit_2(make, message, tmp_path, capsys):
    folder = tmp_path / "candidate"
    make(folder)
    assert compare_runs.main([str(folder), "--output", str(tmp_path / "c.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "c.png").exists()


def test_compare_runs_needs_no_torch(two_runs, tmp_path):
    code = ("import sys, compare_runs; code = compare_runs.main(sys.argv[1:]); "
            "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code, str(two_runs), "--output", str(tmp_path / "c.png")],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert len(find_runs(two_runs)) == 2
