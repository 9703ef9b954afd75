"""serve.py's API through FastAPI's test client: answers, bad input, and the server going on."""

import base64
import io
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="serve.py needs FastAPI: pip install -r requirements.txt")
from fastapi.testclient import TestClient  # noqa: E402

import inference  # noqa: E402
from conftest import ROOT, serving  # noqa: E402
import serve  # noqa: E402


@pytest.fixture()
def client(tiny_model):
    return TestClient(serve.create_app(inference.Predictor.from_file(tiny_model), tiny_model.name))


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_page_health_and_docs(client, tiny_model):
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text and "/api/predict" in page.text
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["model"] == tiny_model.name
    assert health["classes"] == list(range(10))
    assert client.get("/docs").status_code == 200
    assert "/api/predict" in client.get("/openapi.json").json()["paths"]


def test_predict_gives_the_command_lines_json(real_model, digits_dir):
    """The same results as inference.py --json, in the order sent, with the 28x28 on request."""
    client = TestClient(serve.create_app(inference.Predictor.from_file(real_model), real_model.name))
    names = ["digit_3.png", "digit_7.png"]
    files = [("files", (name, (digits_dir / name).read_bytes(), "image/png")) for name in names]
    response = client.post("/api/predict?top_k=3&digit_image=true", files=files)
    assert response.status_code == 200
    answer = response.json()
    assert [r["path"] for r in answer["results"]] == names
    assert [r["prediction"] for r in answer["results"]] == [3, 7]
    assert answer["summary"]["total"] == 2
    first = answer["results"][0]
    assert len(first["probabilities"]) == 10 and len(first["top_k"]) == 3 and first["top_k"][0][0] == 3
    seen = Image.open(io.BytesIO(base64.b64decode(first["digit_image"])))
    assert seen.size == (28, 28)


def test_bad_input_is_400_or_413_and_the_server_goes_on(client, monkeypatch):
    good = png(np.pad(np.full((20, 6), 255, np.uint8), 10))
    truncated = good[: len(good) // 2]
    bomb = io.BytesIO()
    Image.new("L", (8000, 6000), 255).save(bomb, format="PNG")  # 48 megapixels in a few kilobytes
    cases = {"notes.txt": b"not an image at all", "empty.png": b"", "half.png": truncated, "bomb.png": bomb.getvalue()}
    for name, data in cases.items():
        response = client.post("/api/predict", files={"files": (name, data)})
        assert response.status_code == 400, name
        detail = response.json()["detail"]
        assert detail.startswith(f"{name}: ") and "\n" not in detail
    monkeypatch.setattr(serve, "MAX_UPLOAD", 1000)
    response = client.post("/api/predict", files={"files": ("big.png", b"x" * 1001)})
    assert response.status_code == 413 and "smaller image" in response.json()["detail"]
    response = client.post("/api/predict", files={"files": ("one.png", good)})
    result = response.json()["results"][0]
    assert response.status_code == 200 and "error" not in result and result["prediction"] in range(10)


def test_number_and_sudoku_options(client):
    """number=true answers as inference.py --number --json; sudoku=true as --sudoku --json."""
    page = np.full((60, 200), 255, np.uint8)
    response = client.post("/api/predict?number=true", files={"files": ("blank.png", png(page))})
    assert response.status_code == 200
    reading = response.json()["numbers"][0]
    assert reading["path"] == "blank.png" and reading["error"] == inference.NO_DIGITS
    response = client.post("/api/predict?sudoku=true", files={"files": ("blank.png", png(page))})
    assert response.json()["sudokus"][0]["error"] == inference.NO_PUZZLE
    assert client.post("/api/predict?sudoku=true&number=true", files={"files": ("b.png", png(page))}).status_code == 400


def test_no_model_is_one_line(tmp_path, capsys):
    assert serve.main(["--model", str(tmp_path / "missing.pth")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "python train.py" in err


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_a_port_that_is_none_is_refused_by_the_parser(port, capsys):
    """A port past 65535 reached the socket and stopped with its OverflowError's traceback."""
    with pytest.raises(SystemExit) as exit_info:
        serve.main(["--port", port])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--port" in err and "Traceback" not in err


def test_benchmark_without_mnist_says_where_to_put_it(tiny_model, tmp_path, capsys, monkeypatch):
    """serve_benchmark.py --sizes needs MNIST's test digits: without them, one line and exit 2."""
    import importlib
    from pathlib import Path
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "benchmarks"))
    benchmark = importlib.import_module("serve_benchmark")
    assert benchmark.main(["--sizes", "--model", str(tiny_model), "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "MNIST/raw" in err


def children(pid: int) -> set[int]:
    return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts worker processes through Linux's /proc")
def test_two_workers_read_side_by_side_and_ctrl_c_stops_them_all(exported, digits_dir):
    """serve.py as a user starts it, with an ONNX model and two worker processes: both serve,
    a busy port is one line, and Ctrl-C leaves no worker behind."""
    model = exported / "lenet5_model.onnx"
    with serving(model, "--workers", "2") as (child, url):
        health = urllib.request.urlopen(url + "/api/health", timeout=1).read()
        assert b"lenet5_model.onnx" in health
        workers = {p for p in children(child.pid) if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()}
        assert len(workers) == 2
        request = urllib.request.Request(url + "/api/predict", method="POST",
                                         data=b"--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"3.png\""
                                              b"\r\n\r\n" + (digits_dir / "digit_3.png").read_bytes() + b"\r\n--b--\r\n",
                                         headers={"Content-Type": "multipart/form-data; boundary=b"})
        assert b'"path":"3.png"' in urllib.request.urlopen(request, timeout=30).read()
        port = int(url.rsplit(":", 1)[1])
        assert serve.main(["--port", str(port), "--model", str(model)]) == 2  # port in use
        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=20) == 0
        time.sleep(0.5)
        assert not [p for p in workers if Path(f"/proc/{p}").exists()
                    and Path(f"/proc/{p}/stat").read_text().split()[2] != "Z"], "a worker outlived Ctrl-C"

def test_workers_default_to_the_cores_for_onnx_and_one_for_a_checkpoint(monkeypatch):
    monkeypatch.setattr(serve.os, "sched_getaffinity", lambda _: set(range(16)), raising=False)
    assert serve.default_workers(Path("m.onnx")) == 4 and serve.default_workers(Path("m.pth")) == 1
    monkeypatch.setattr(serve.os, "sched_getaffinity", lambda _: {0}, raising=False)
    assert serve.default_workers(Path("m.onnx")) == 1


def test_each_worker_gives_torch_one_thread(exported, tiny_model):
    """A worker process reading a checkpoint, or a numbers model beside an ONNX one, limits
    torch to one thread, as it does OpenCV and ONNX Runtime: with two workers each using
    every core, a digit took 5.9 times as long (serve_benchmark.py --workers 2). In a child
    process, so that the setting reaches none of the other tests."""
    script = f"""
import io, os, sys
from pathlib import Path
import numpy as np, torch
from PIL import Image
from fastapi.testclient import TestClient
import serve
from inference import Predictor
torch.set_num_threads(3)
os.environ[serve.MODEL_VARIABLE] = {str(tiny_model)!r}
serve.worker_app()
print(torch.get_num_threads())
torch.set_num_threads(3)
seen = []
read_numbers = Predictor.read_numbers
Predictor.read_numbers = lambda self, *a: seen.append(torch.get_num_threads()) or read_numbers(self, *a)
app = serve.create_app(Predictor.from_file({str(exported / "lenet5_model.onnx")!r}, threads=1), "m.onnx",
                       Path({str(tiny_model)!r}), threads=1)
page = io.BytesIO()
Image.fromarray(np.full((60, 200), 255, np.uint8)).save(page, format="PNG")
answer = TestClient(app).post("/api/predict?number=true", files={{"files": ("b.png", page.getvalue())}})
assert answer.status_code == 200
print(*seen)  # in the thread that read: torch's setting is each thread's
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1"]
