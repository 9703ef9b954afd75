"""Shared fixtures: tiny MNIST-format data sets written here, and real MNIST where it exists."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from model import MNIST_FILES  # noqa: E402


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on, for a server the test starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(model: Path, *options: str):
    """serve.py started as a user starts it, in a child process of its own session on a free
    port, once it answers /api/health: the child and the server's address. Stopped after."""
    port = free_port()
    child = subprocess.Popen([sys.executable, str(ROOT / "serve.py"), "--model", str(model), "--port", str(port),
                              *options], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/api/health", timeout=1)
                break
            except OSError:
                if child.poll() is not None:
                    pytest.fail(f"serve.py stopped: {child.stdout.read()}")
                time.sleep(0.1)
        else:
            pytest.fail("serve.py did not answer /api/health within 30 s")
        yield child, url
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def write_idx(folder: Path, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Write images and labels in MNIST's own IDX byte format, so torchvision's parser runs."""
    raw = folder / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    n, h, w = images.shape
    (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, n, h, w) + images.astype(np.uint8).tobytes())
    (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n) + labels.astype(np.uint8).tobytes())


def synthetic_digits(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-sized digits rendered in fonts with random rotation, scale and offset: learnable,
    like MNIST, but small enough to train on in a second."""
    from PIL import ImageFont

    import fonts as font_files
    import generate_test_digits as gen

    rng = np.random.default_rng(seed)
    fonts = [ImageFont.truetype(str(font_files.resolve_font(name)), font_files.RENDER_PX)
             for name in ("DejaVuSans-Bold", "DejaVuSerif")]
    labels = rng.integers(0, 10, count)
    images = np.stack([
        np.asarray(gen.render_digit(int(d), fonts[i % 2], 28, gen.Style(rotation=float(rng.uniform(-10, 10)),
                                                                       scale=float(rng.uniform(0.9, 1.1)),
                                                                       offset_x=float(rng.uniform(-1.5, 1.5)),
                                                                       offset_y=float(rng.uniform(-1.5, 1.5)))))
        for i, d in enumerate(labels)
    ])
    return images, labels


def pytest_configure(config) -> None:
    """pytest.ini runs the tests in pytest-xdist's worker processes, one per core: each worker's
    torch takes its share of the cores, since two workers that each ran a thread per core
    took 328 s rather than 195 (2 cores)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


SHARED_MODELS = ("numbers_model", "real_model")


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config, items):
    """The tests that use a model trained on real MNIST (45-55 s each on 2 cores) run in one
    worker, which trains it once: pytest-xdist's ``--dist loadgroup`` sends each group of
    tests to one worker, marking them by their node id. Where a pytest that it does not know
    keeps the id from changing (pytest-xdist issue 1386: pytest 9.2), each worker trains the
    shared models again, silently; a warning says so."""
    for item in items:
        fixture = next((name for name in SHARED_MODELS if name in item.fixturenames), None)
        if fixture:
            item.add_marker(pytest.mark.xdist_group(fixture))
    yield
    if getattr(config.option, "loadgroup", False):
        lost = [item for item in items if item.get_closest_marker("xdist_group") and "@" not in item.nodeid]
        if lost:
            lost[0].warn(pytest.PytestWarning(
                f"pytest-xdist did not group the {len(lost)} tests that share a model trained on real MNIST, so "
                "each worker trains it again: install the pytest that requirements.txt names"))


def session_cache(tmp_path_factory) -> Path:
    """Training keeps drawn material in the user's cache; the tests keep theirs apart, shared
    by the session, so the user's cache is neither read nor filled."""
    return tmp_path_factory.getbasetemp() / "lenet5_cache"


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch) -> Path:
    """Every test trains with the session's cache (``session_cache``)."""
    folder = session_cache(tmp_path_factory)
    monkeypatch.setenv("LENET5_CACHE_DIR", str(folder))
    return folder


def train_on_real_mnist(tmp_path_factory, name: str, *options: str) -> Path:
    """train.py's checkpoint ``name`` trained on real MNIST for the session, its printed
    digits drawn into the session's cache: a session fixture is made before ``private_cache``
    is, and without this it read and filled the user's cache."""
    import train

    out = tmp_path_factory.mktemp(name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LENET5_CACHE_DIR", str(session_cache(tmp_path_factory)))
        code = train.main(["--output", str(out / f"{name}.pth"), "--plot", str(out / "training_results.png"),
                           "--device", "cpu", "--runs-dir", str(out / "runs"), *options])
    assert code == 0
    return out / f"{name}.pth"


@pytest.fixture(scope="session")
def tiny_mnist(tmp_path_factory) -> Path:
    """A data folder in torchvision's layout: 400 training and 100 test images."""
    folder = tmp_path_factory.mktemp("tiny_mnist")
    write_idx(folder, "train", *synthetic_digits(400, seed=0))
    write_idx(folder, "t10k", *synthetic_digits(100, seed=1))
    return folder


def tiny_train_args(data_dir: Path, out: Path, *extra: str) -> list[str]:
    return ["--data-dir", str(data_dir), "--output", str(out / "model.pth"), "--plot", str(out / "plot.png"),
            "--val-size", "100", "--batch-size", "32", "--epochs", "3", "--device", "cpu", "--printed-digits", "0",
            "--european-forms", "0", "--canvas-drawings", "0", "--runs-dir", str(out / "runs"), *extra]


@pytest.fixture()
def offline(monkeypatch):
    """No network: torchvision's download step fails as it does on a machine without one,
    while everything before it (finding files already there) runs for real."""
    import urllib.error

    import torchvision.datasets.mnist

    def unreachable(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torchvision.datasets.mnist, "download_and_extract_archive", unreachable)


@pytest.fixture(scope="session")
def real_mnist_dir() -> Path:
    value = os.environ.get("MNIST_DATA_DIR")
    if not value:
        pytest.skip("real MNIST test: set MNIST_DATA_DIR to the folder that holds MNIST/raw/")
    raw = Path(value) / "MNIST" / "raw"
    if not all((raw / name).exists() or (raw / f"{name}.gz").exists() for name in MNIST_FILES):
        pytest.skip(f"real MNIST test: {raw} does not hold the four MNIST files")
    return Path(value)


@pytest.fixture(scope="session")
def real_model(real_mnist_dir, tmp_path_factory) -> Path:
    """A LeNet-5 trained briefly (4 epochs: 99.13% of MNIST's test set; about 45 s with its printed
    digits drawn) on real MNIST by train.py itself."""
    return train_on_real_mnist(tmp_path_factory, "lenet5_model", "--data-dir", str(real_mnist_dir), "--epochs", "4")


@pytest.fixture(scope="session")
def numbers_model(real_mnist_dir, tmp_path_factory) -> Path:
    """A LeNet-5 that can say 'not a digit' (train.py --not-a-digit), trained briefly on real
    MNIST (4 epochs: about 50 s on two threads, 75 s on one), for reading whole numbers. 20,000
    pieces rather than 8,000: with 8,000 it read a set of spaced rows 75%, with 20,000 85%.
    Without the printed digits and the European 1s and 7s, which rows of MNIST digits do not
    need (with them: 101 s on one thread), the four kinds of row in test_numbers_read_whole read
    33, 31, 32 and 34 of 40 (34, 29, 32, 34 on two threads) against 32, 28, 31 and 34."""
    return train_on_real_mnist(tmp_path_factory, "lenet5_numbers", "--data-dir", str(real_mnist_dir),
                               "--epochs", "4", "--not-a-digit", "20000", "--printed-digits", "0",
                               "--european-forms", "0")


@pytest.fixture(scope="session")
def tiny_model(tiny_mnist, tmp_path_factory) -> Path:
    """A checkpoint from a quick train.py run on the tiny font-digit set: a real model file
    for the inference tests, trained in a couple of seconds."""
    import train

    out = tmp_path_factory.mktemp("tiny_model")
    assert train.main(tiny_train_args(tiny_mnist, out, "--epochs", "3")) == 0
    return out / "model.pth"


@pytest.fixture(scope="session")
def exported(tiny_model, tiny_mnist, tmp_path_factory) -> Path:
    """The tiny checkpoint with export.py's two ONNX files beside it."""
    import shutil

    import export

    folder = tmp_path_factory.mktemp("exported")
    shutil.copy(tiny_model, folder / "lenet5_model.pth")
    assert export.main(["--model", str(folder / "lenet5_model.pth"), "--data-dir", str(tiny_mnist)]) == 0
    return folder


@pytest.fixture()
def digits_dir(tmp_path):
    """generate_test_digits.py's default ten digits, in a test_digits/ folder of their own."""
    import generate_test_digits as gen

    assert gen.main(["--output-dir", str(tmp_path / "test_digits")]) == 0
    return tmp_path / "test_digits"


@pytest.fixture()
def ctrl_c_after_epoch_1():
    """A context in which train.py gets a real SIGINT right after it saves the end of epoch
    1, as if the user pressed Ctrl-C then."""
    import contextlib
    import signal

    import train

    @contextlib.contextmanager
    def pressing():
        real_save = train.save_checkpoint

        def save_then_ctrl_c(path, *args, **kwargs):
            real_save(path, *args, **kwargs)
            if path.name.endswith("_last.pth"):
                os.kill(os.getpid(), signal.SIGINT)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(train, "save_checkpoint", save_then_ctrl_c)
            yield

    return pressing
