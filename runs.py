"""A training run on disk: what train.py keeps of each run and compare_runs.py reads back.

    runs/NAME/history.json           settings, one record per epoch, status, test accuracy
    runs/NAME/training_results.png   the run's curves
    runs/NAME/lenet5_model.pth       the run's best weights
    runs/NAME/events.out.tfevents.*  the same numbers for TensorBoard: tensorboard --logdir runs

history.json is the plain file other tools read; it is rewritten whole after every epoch, so
a run stopped at any point still reads as what it was. No torch at import: reading runs is
light.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from artifacts import atomic_write

DEFAULT_RUNS_DIR = Path("runs")
HISTORY_NAME = "history.json"
PLOT_NAME = "training_results.png"
WEIGHTS_NAME = "lenet5_model.pth"
EPOCH_FIELDS = ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")
# history.json field -> TensorBoard tag; the groups put train and validation side by side
TENSORBOARD_TAGS = {
    "train_loss": "loss/train",
    "val_loss": "loss/validation",
    "train_acc": "accuracy/train",
    "val_acc": "accuracy/validation",
    "lr": "learning_rate",
    "seconds": "seconds_per_epoch",
}
STATUSES = ("running", "finished", "stopped")


class RunError(Exception):
    """A folder is not a run, or its history.json is not one train.py wrote."""


def default_run_name(runs_dir: Path) -> str:
    """A readable time stamp, made unique within ``runs_dir`` (two runs in one second)."""
    stamp = _dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    name, n = stamp, 2
    while (Path(runs_dir) / name).exists():
        name, n = f"{stamp}_{n}", n + 1
    return name


def check_run_name(name: str) -> None:
    """A run name is one folder name: no separators, nothing hidden, not '.' or '..'."""
    if not name or name in (".", "..") or name.startswith(".") or "/" in name or "\\" in name:
        raise ValueError(f"--run-name {name!r} must be a plain folder name, such as relu-bn-seed1")


# --------------------------------------------------------------------------- reading


@dataclass
class Run:
    folder: Path
    status: str
    variant: str
    parameters: int | None
    planned_epochs: int | None
    epochs: list[dict[str, float]]
    test_accuracy: float | None
    settings: dict[str, Any]

    @property
    def name(self) -> str:
        return self.folder.name

    def series(self, field: str) -> list[float]:
        return [record[field] for record in self.epochs]

    @property
    def best_val_accuracy(self) -> float | None:
        return max(self.series("val_acc"), default=None)

    @property
    def seconds_per_epoch(self) -> float | None:
        """The median, so a first epoch that pays for warm-up does not skew it."""
        seconds = self.series("seconds")
        return statistics.median(seconds) if seconds else None


def read_run(folder: Path) -> Run:
    folder = Path(folder)
    path = folder / HISTORY_NAME
    if not folder.is_dir():
        raise RunError(f"{folder}: no such folder" if not folder.exists() else f"{folder} is a file, not a run folder")
    if not path.is_file():
        raise RunError(f"{folder} is not a training run: it has no {HISTORY_NAME} (train.py writes one in runs/NAME/)")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"{path} is unreadable or not JSON ({exc}); it is not a run history train.py wrote") from None
    try:
        if not isinstance(data, dict) or data.get("status") not in STATUSES:
            raise ValueError("no valid status")
        epochs = data["epochs"]
        for record in epochs:
            for key in ("epoch", *EPOCH_FIELDS):
                value = record[key]
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise ValueError(f"epoch field {key} is {value!r}")
        test = data.get("test_accuracy")
        if test is not None and not isinstance(test, (int, float)):
            raise ValueError(f"test_accuracy is {test!r}")
        return Run(folder=folder, status=data["status"], variant=str(data.get("variant", "?")),
                   parameters=data.get("parameters"), planned_epochs=data.get("settings", {}).get("epochs"),
                   epochs=epochs, test_accuracy=test, settings=dict(data.get("settings", {})))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RunError(f"{path} is not a run history train.py wrote ({exc})") from None


def find_runs(path: Path) -> list[Run]:
    """``path`` as a run, or, for a folder of runs such as runs/, every run in it by name."""
    path = Path(path)
    if not path.exists():
        raise RunError(f"{path}: no such folder")
    if (path / HISTORY_NAME).exists() or not path.is_dir():
        return [read_run(path)]
    children = sorted(child for child in path.iterdir() if (child / HISTORY_NAME).is_file())
    if not children:
        raise RunError(f"{path} is not a training run and holds none: give run folders (runs/NAME, "
                       f"with a {HISTORY_NAME}) or the folder that holds them")
    return [read_run(child) for child in children]


# --------------------------------------------------------------------------- writing


class RunLog:
    """Keeps one run as it trains: history.json rewritten whole after every epoch, and the same
    numbers as TensorBoard scalars. A resumed run continues its own folder; TensorBoard events
    from epochs after the checkpoint it resumes from are purged, so both files agree."""

    def __init__(self, folder: Path, record: Mapping[str, Any], history: Mapping[str, list[float]] | None = None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.folder = Path(folder)
        self.record = {**record, "status": "running", "test_accuracy": None, "epochs": []}
        for epoch, values in enumerate(zip(*(history[k] for k in EPOCH_FIELDS)) if history else (), start=1):
            self.record["epochs"].append({"epoch": epoch, **dict(zip(EPOCH_FIELDS, values))})
        self.folder.mkdir(parents=True, exist_ok=True)
        self.writer = SummaryWriter(str(self.folder), purge_step=len(self.record["epochs"]) + 1)
        self._write()

    def add_epoch(self, epoch: int, values: Mapping[str, float]) -> None:
        self.record["epochs"].append({"epoch": epoch, **{k: float(values[k]) for k in EPOCH_FIELDS}})
        for key, tag in TENSORBOARD_TAGS.items():
            self.writer.add_scalar(tag, float(values[key]), epoch)
        self.writer.flush()
        self._write()

    def finish(self, status: str, test_accuracy: float | None = None) -> None:
        self.record["status"] = status
        if test_accuracy is not None:
            self.record["test_accuracy"] = float(test_accuracy)
            self.writer.add_scalar("accuracy/test", float(test_accuracy), len(self.record["epochs"]))
        self.writer.close()
        self._write()

    def _write(self) -> None:
        text = json.dumps(self.record, indent=1)
        atomic_write(self.folder / HISTORY_NAME, lambda tmp: tmp.write_text(text + "\n"))
