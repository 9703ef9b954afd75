"""How fast serve.py answers: 1,000 requests of one drawn digit, 8 at a time, then 100 at once.

    python export.py                                   # lenet5_model.onnx, which the server takes
    python benchmarks/serve_benchmark.py               # the median and 95th-percentile latency
    python benchmarks/serve_benchmark.py --model lenet5_model.pth

The server runs as a user starts it (python serve.py, in a child process, on a free port);
the digit is a 280x280 PNG of a 7 drawn as the page's canvas draws it. Each request's
latency is from sending to the whole answer read, measured by the client; every answer must
be 200 and read as a digit, or the run says how many were not.
"""

import argparse
import concurrent.futures
import io
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent


def canvas_digit() -> bytes:
    """A 7 drawn on a 280x280 white canvas with an 18-pixel round pen, as a PNG."""
    image = Image.new("RGB", (280, 280), "white")
    ImageDraw.Draw(image).line([(70, 56), (210, 56), (126, 238)], fill=(17, 17, 17), width=18, joint="curve")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def post(url: str, png: bytes) -> tuple[float, bool]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"canvas.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + png + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = response.read()
            ok = response.status == 200 and b'"prediction":7' in answer
    except OSError:
        ok = False
    return time.perf_counter() - start, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "lenet5_model.onnx"))
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--burst", type=int, default=100, help="requests sent all at once at the end (default: 100)")
    args = parser.parse_args(argv)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, str(ROOT / "serve.py"), "--model", args.model, "--port", str(port)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/api/predict"
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
        png = canvas_digit()
        for _ in range(20):
            post(url, png)  # warm up
        with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
            timed = list(pool.map(lambda _: post(url, png), range(args.requests)))
        latencies = np.array([t for t, _ in timed]) * 1000
        print(f"{args.requests} requests, {args.concurrency} at a time, model {Path(args.model).name}: median "
              f"{statistics.median(latencies):.1f} ms, 95th percentile {np.percentile(latencies, 95):.1f} ms; "
              f"{sum(ok for _, ok in timed)} answered with the digit read")
        with concurrent.futures.ThreadPoolExecutor(args.burst) as pool:
            burst = list(pool.map(lambda _: post(url, png), range(args.burst)))
        print(f"{args.burst} requests at once: {sum(ok for _, ok in burst)} answered with the digit read, "
              f"the slowest in {max(t for t, _ in burst):.2f} s")
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
