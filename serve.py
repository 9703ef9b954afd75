"""A local web page that reads digits as you draw them, and a JSON API for other programs.

    python serve.py                       # http://127.0.0.1:8000: draw, drop a photo, see it read
    python serve.py --model lenet5_model.pth --port 8080
    curl -F files=@photo.jpg 'http://127.0.0.1:8000/api/predict?top_k=3'

The server (FastAPI on uvicorn) loads ``lenet5_model.onnx`` where it exists, which starts fast
and needs no torch, else ``lenet5_model.pth``, in ``--workers`` processes (see
default_workers). ``POST /api/predict`` takes one or more images
(multipart, field ``files``) and answers with the JSON ``inference.py --json`` prints; with
``number=true`` that of ``--number`` (read by ``lenet5_numbers.pth`` where it exists), with
``sudoku=true`` that of ``--sudoku``. ``GET /api/health`` says which model serves;
``/docs`` is FastAPI's own page of the API. A file that is not an image, or is empty,
truncated or too large to decode, is answered 400 with the line ``inference.py`` prints for
it; one over MAX_UPLOAD bytes, 413. The page itself is ``web/index.html``: plain HTML, CSS and
JavaScript, nothing fetched from elsewhere.
"""

import argparse
import base64
import errno
import io
import os
import socket
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from artifacts import DEFAULT_CHECKPOINT, NUMBERS_CHECKPOINT, ModelFileError, class_value
from preprocess import WORK_SIDE, ImageReadError, read_image

if TYPE_CHECKING:
    from fastapi import FastAPI

    from inference import Predictor

MAX_UPLOAD = 20 * 1024 * 1024  # bytes an uploaded image may have: a 108-megapixel phone JPEG has about 15 MB
ONNX_NAME = str(Path(DEFAULT_CHECKPOINT).with_suffix(".onnx"))  # what python export.py writes
PAGE = Path(__file__).resolve().parent / "web" / "index.html"
MODEL_VARIABLE = "LENET5_SERVE_MODEL"  # how main names the model to its worker processes


def default_model() -> Path:
    """The ONNX file where it exists (no torch to import: the server starts in a second), else
    the checkpoint."""
    onnx = Path(ONNX_NAME)
    return onnx if onnx.is_file() else Path(DEFAULT_CHECKPOINT)


def default_workers(model: Path) -> int:
    """One worker process per core, up to four, for an ONNX model: a process reads one request
    at a time, so a second one on a second core halves the wait (serve_benchmark.py, paired
    runs). One for a checkpoint, since each process would hold its own torch (about 700 MB)."""
    if model.suffix.lower() != ".onnx":
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores, 4))


def port_taken(host: str, port: int) -> bool:
    """Whether another program listens on ``host``:``port`` already, so that main can say so in
    one line with what to do (uvicorn would stop with its own log line and exit code 3)."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:  # an address that cannot be had for another reason is uvicorn's to report
        return exc.errno == errno.EADDRINUSE
    return False


def worker_app() -> "FastAPI":
    """The app as each of uvicorn's worker processes builds it, for the model main names in
    MODEL_VARIABLE. OpenCV, ONNX Runtime and torch (a checkpoint's, and the numbers model's)
    get one thread each: the processes are the parallelism, and on one digit the libraries'
    own threads only wait or spin on a core another process needs (paired runs: OpenCV's
    threads took 1.6 times as long; the runtime's spinning doubled the server's CPU time at
    the same speed; two workers with torch's default threads took 5.9 times as long on a
    checkpoint). Torch keeps its setting per thread, and uvicorn reads in this one."""
    from inference import Predictor

    cv2.setNumThreads(1)
    model = Path(os.environ[MODEL_VARIABLE])
    numbers = Path(NUMBERS_CHECKPOINT)
    return create_app(Predictor.from_file(model, threads=1), model.name, numbers if numbers.is_file() else None,
                      threads=1)


def png_base64(digit: np.ndarray) -> str:
    """A 28x28 uint8 digit as a base64 PNG, for the page to show what the network saw."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(digit).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def create_app(predictor: "Predictor", model_name: str, numbers_model: Path | None = None,
               threads: int | None = None) -> "FastAPI":
    """The web app around ``predictor``; ``numbers_model``, where given, reads ``number=true``
    requests (loaded at its first, with ``threads`` as Predictor.from_file takes them)."""
    from fastapi import FastAPI, File, HTTPException, Query, UploadFile
    from fastapi.responses import HTMLResponse

    from inference import summarise

    app = FastAPI(title="LeNet-5 digits", description="Read handwritten and printed digits in images.")
    readers: dict = {}

    def number_reader() -> "Predictor":
        if "numbers" not in readers:
            from inference import Predictor

            readers["numbers"] = Predictor.from_file(numbers_model, threads=threads) if numbers_model else predictor
        return readers["numbers"]

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return PAGE.read_text(encoding="utf-8")

    @app.get("/api/health")
    def health() -> dict:
        """The model that serves and what it reads."""
        return {"status": "ok", "model": model_name, "classes": [class_value(c) for c in predictor.classes],
                "number_model": numbers_model.name if numbers_model else model_name}

    @app.post("/api/predict")
    async def predict(files: list[UploadFile] = File(..., description="one or more images"),
                      top_k: int = Query(1, ge=1, le=20, description="also the next likeliest classes, up to K in all"),
                      number: bool = Query(False, description="read each image as a row of digits (inference.py --number)"),
                      sudoku: bool = Query(False, description="read each image as a whole sudoku (inference.py --sudoku)"),
                      digit_image: bool = Query(False, description="add the 28x28 the network saw, as a base64 PNG")) -> dict:
        """What ``inference.py --json`` prints for the images (with ``number`` or ``sudoku``, what
        it prints with --number or --sudoku)."""
        if number and sudoku:
            raise HTTPException(400, "number and sudoku go one at a time")
        # read here, in the event loop, one request at a time: as a plain def, FastAPI's threads read eight at
        # once and contend for the interpreter's lock (paired runs of serve_benchmark.py: 0.64 of the time)
        with tempfile.TemporaryDirectory() as tmp:
            names, paths, images = [], [], []
            for k, upload in enumerate(files):
                name = Path(upload.filename or "").name or f"image_{k}"
                data = await upload.read(MAX_UPLOAD + 1)
                if len(data) > MAX_UPLOAD:
                    raise HTTPException(413, f"{name}: larger than {MAX_UPLOAD // (1024 * 1024)} MB; send a smaller image")
                path = Path(tmp) / f"{k}_{name}"
                path.write_bytes(data)
                try:  # decoded as the single-digit path decodes a file, so what it refuses is refused the same way
                    images.append(read_image(path, longest=2 * WORK_SIDE))
                except ImageReadError as exc:
                    raise HTTPException(400, f"{name}: {exc}") from None
                names.append(name)
                paths.append(path)
            if sudoku:
                readings = [predictor.read_sudoku(path) for path in paths]
                return {"sudokus": [dict(r.to_json(solve=True), path=name) for r, name in zip(readings, names)]}
            if number:
                readings = number_reader().read_numbers(paths)
                return {"numbers": [dict(r.to_json(), path=name) for r, name in zip(readings, names)]}
        results = predictor.predict(images)  # the images decoded above, not the files again
        answers = []
        for result, name in zip(results, names):
            answer = dict(result.to_json(), path=name)
            if top_k > 1:
                answer["top_k"] = [[d, p] for d, p in result.top_k(top_k)]
            if digit_image and result.image is not None:
                answer["digit_image"] = png_base64(result.image)
            answers.append(answer)
        return {"classes": [class_value(c) for c in predictor.classes], "results": answers,
                "summary": summarise(results)}

    return app


def port_number(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be from 0 (any free port) to 65535, got {text}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve a web page that reads digits, and a JSON API.")
    parser.add_argument("--model", type=Path, default=None,
                        help=f"an .onnx file or a checkpoint (default: {ONNX_NAME} where it exists, else "
                             f"{DEFAULT_CHECKPOINT})")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this "
                        "computer only; 0.0.0.0 lets the phones on your network in)")
    parser.add_argument("--port", type=port_number, default=8000, help="port to listen on (default: 8000)")
    parser.add_argument("--workers", type=int, default=None,
                        help="processes that read requests side by side (default: one per core, up to 4, for an "
                             ".onnx model; 1 for a checkpoint, since each holds its own torch)")
    args = parser.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    model = args.model or default_model()
    try:
        import uvicorn

        from inference import Predictor
    except ImportError as exc:
        print(f"error: {exc.name} is not installed; run: pip install -r requirements.txt", file=sys.stderr)
        return 2
    try:
        Predictor.from_file(model)  # here, so that a missing or broken model is one line, not a worker's traceback
    except ModelFileError as exc:
        fix = "python export.py" if model.suffix.lower() == ".onnx" else "python train.py"
        print(f"error: {exc}. Make one first with: {fix}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if port_taken(args.host, args.port):
        print(f"error: port {args.port} is in use (is serve.py running already?); stop that program or "
              f"choose another port with --port", file=sys.stderr)
        return 2
    workers = args.workers or default_workers(model)
    os.environ[MODEL_VARIABLE] = str(model.resolve())
    print(f"Reading digits with {model} ({workers} worker process{'es' if workers > 1 else ''}) at "
          f"http://{args.host}:{args.port}/ (the API: /docs); Ctrl-C stops", flush=True)
    uvicorn.run("serve:worker_app", factory=True, workers=workers, host=args.host, port=args.port,
                log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
