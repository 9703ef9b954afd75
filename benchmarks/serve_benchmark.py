"""How fast serve.py answers: 1,000 requests of one drawn digit, 8 at a time, then 100 at once.

    python export.py                                   # lenet5_model.onnx, which the server takes
    python benchmarks/serve_benchmark.py               # the median and 95th-percentile latency
    python benchmarks/serve_benchmark.py --model lenet5_model.pth
    python benchmarks/serve_benchmark.py --model lenet5_model.pth --workers 2
    python benchmarks/serve_benchmark.py --sizes --data-dir ../shared/datasets

The server runs as a user starts it (python serve.py, in a child process, on a free port);
the digit is a 7 drawn as the page's canvas draws it (280x280, an 18-pixel pen) and sent as
the page sends it, reduced to 112x112. Each client keeps its connection open, as a browser
does. Each request's latency is from sending to the whole answer read, measured by the
client; every answer must be 200 and read as a digit, or the run says how many were not. The
same is timed for GET /api/health, which reads nothing: what the HTTP round trip alone costs.

``--sizes`` checks that the reduction costs nothing: canvas drawings read at 280x280 and at
112x112 (the real ones in ../shared/realworld/canvas_drawings/ where present, and MNIST
test digits drawn to a canvas's edge by photo_pages.py).
"""

import argparse
import concurrent.futures
import http.client
import io
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from inference import Predictor, find_images, label_from_path  # noqa: E402
from model import DataUnavailableError, load_mnist  # noqa: E402
from real_world_eval import drawn_off_canvas  # noqa: E402


SENT_SIDE = 112  # what web/index.html sends of its 280x280 canvas


def canvas_digit(side: int = SENT_SIDE) -> bytes:
    """A 7 drawn on a 280x280 white canvas with an 18-pixel round pen, as a PNG ``side``
    pixels square."""
    image = Image.new("RGB", (280, 280), "white")
    ImageDraw.Draw(image).line([(70, 56), (210, 56), (126, 238)], fill=(17, 17, 17), width=18, joint="curve")
    buffer = io.BytesIO()
    image.resize((side, side), Image.Resampling.BOX).save(buffer, format="PNG")
    return buffer.getvalue()


class Client:
    """One connection per thread, kept open between requests as a browser keeps it."""

    def __init__(self, port: int) -> None:
        self.port, self.local = port, threading.local()

    def send(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> tuple[float, int, bytes]:
        if not hasattr(self.local, "connection"):
            self.local.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        start = time.perf_counter()
        try:
            self.local.connection.request(method, path, body, headers or {})
            response = self.local.connection.getresponse()
            answer, status = response.read(), response.status
        except OSError:
            del self.local.connection
            answer, status = b"", 0
        return time.perf_counter() - start, status, answer

    def post(self, png: bytes) -> tuple[float, bool]:
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"canvas.png\"\r\n"
                f"Content-Type: image/png\r\n\r\n").encode() + png + f"\r\n--{boundary}--\r\n".encode()
        took, status, answer = self.send("POST", "/api/predict", body,
                                         {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        return took, status == 200 and b'"prediction":7' in answer

    def health(self) -> tuple[float, bool]:
        took, status, _ = self.send("GET", "/api/health")
        return took, status == 200


def timed(requests: int, concurrency: int, call) -> tuple[np.ndarray, int]:
    """Latencies (ms) of ``requests`` calls, ``concurrency`` at a time, and how many succeeded."""
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda _: call(), range(requests)))
    return np.array([t for t, _ in results]) * 1000, sum(ok for _, ok in results)


def in_process(model: str) -> None:
    """How long one reading of the drawing takes without HTTP: the median of 50 (Predictor.predict)."""
    predictor = Predictor.from_file(model)
    line = []
    for side in (SENT_SIDE, 280):
        image = Image.open(io.BytesIO(canvas_digit(side)))
        image.load()
        times = []
        for _ in range(50):
            start = time.perf_counter()
            predictor.predict([image])
            times.append(time.perf_counter() - start)
        line.append(f"{side}x{side} {1000 * statistics.median(times):.1f} ms")
    print("one reading in the benchmark's own process, no HTTP: " + ", ".join(line))


def sizes(data_dir: Path, model: str) -> None:
    """Canvas drawings read at 280x280 and at the SENT_SIDE the page sends: the real ones and
    real_world_eval.py's MNIST digits drawn to a canvas's edge."""
    predictor = Predictor.from_file(model)
    sets = {}
    real = ROOT.parent / "shared" / "realworld" / "canvas_drawings"
    if real.is_dir():
        files, _ = find_images([real])
        sets["real canvas drawings"] = ([np.asarray(Image.open(f).convert("L")) for f in files],
                                        [label_from_path(f) for f in files])
    images, labels = load_mnist(data_dir, train=False)
    pick = np.random.default_rng(5).permutation(len(images))[:600]
    sets["MNIST digits drawn to a canvas's edge"] = (drawn_off_canvas(images.numpy()[pick], 5), labels[pick].tolist())
    for name, (drawings, truth) in sets.items():
        line = []
        for side in (280, SENT_SIDE):
            inputs = [Image.fromarray(d).resize((side, side), Image.Resampling.BOX if d.shape[0] > side
                                                else Image.Resampling.BICUBIC) for d in drawings]
            right = sum(r.correct for r in predictor.predict(inputs, truth))
            line.append(f"{side}x{side} {right / len(truth):.2%}")
        print(f"{name} ({len(truth)}): " + ", ".join(line))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "lenet5_model.onnx"))
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=None,
                        help="serve.py's --workers (default: serve.py's own, one per core up to four for ONNX)")
    parser.add_argument("--burst", type=int, default=100, help="requests sent all at once at the end (default: 100)")
    parser.add_argument("--sizes", action="store_true", help="instead, read canvas drawings at 280x280 and at the "
                        f"{SENT_SIDE}x{SENT_SIDE} the page sends")
    parser.add_argument("--data-dir", type=Path, default=os.environ.get("MNIST_DATA_DIR", "data"),
                        help="where MNIST is, for --sizes (default: $MNIST_DATA_DIR or ./data)")
    args = parser.parse_args(argv)
    if args.sizes:
        try:
            sizes(args.data_dir, args.model if os.path.exists(args.model) else str(ROOT / "lenet5_model.pth"))
        except DataUnavailableError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0

    in_process(args.model)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workers = ["--workers", str(args.workers)] if args.workers else []
    server = subprocess.Popen([sys.executable, str(ROOT / "serve.py"), "--model", args.model, "--port", str(port),
                               *workers],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1)
                break
            except OSError:
                if server.poll() is not None:
                    print(server.stdout.read(), file=sys.stderr)
                    return 1
                time.sleep(0.1)
        png, client = canvas_digit(), Client(port)
        for _ in range(20):
            client.post(png)  # warm up
        for name, call in ((f"POST /api/predict, a {SENT_SIDE}x{SENT_SIDE} canvas digit", lambda: client.post(png)),
                           ("GET /api/health (the round trip alone)", client.health)):
            latencies, answered = timed(args.requests, args.concurrency, call)
            print(f"{name}: {args.requests} requests, {args.concurrency} at a time, model {Path(args.model).name}: "
                  f"median {statistics.median(latencies):.1f} ms, 95th percentile {np.percentile(latencies, 95):.1f} ms; "
                  f"{answered} answered" + (" with the digit read" if "predict" in name else ""))
        burst = Client(port)
        latencies, answered = timed(args.burst, args.burst, lambda: burst.post(png))
        print(f"{args.burst} requests at once: {answered} answered with the digit read, "
              f"the slowest in {latencies.max() / 1000:.2f} s")
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
