"""A local web page that reads digits as you draw them, and a JSON API for other programs.

    python serve.py                       # http://127.0.0.1:8000: draw, drop a photo, see it read
    python serve.py --model lenet5_model.pth --port 8080
    curl -F files=@photo.jpg 'http://127.0.0.1:8000/api/predict?top_k=3'

The server (FastAPI on uvicorn) loads ``lenet5_model.onnx`` where it exists, which starts fast
and needs no torch, else ``lenet5_model.pth``. ``POST /api/predict`` takes one or more images
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
import io
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


def default_model() -> Path:
    """The ONNX file where it exists (no torch to import: the server starts in a second), else
    the checkpoint."""
    onnx = Path(ONNX_NAME)
    return onnx if onnx.is_file() else Path(DEFAULT_CHECKPOINT)


def png_base64(digit: np.ndarray) -> str:
    """A 28x28 uint8 digit as a base64 PNG, for the page to show what the network saw."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(digit).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def create_app(predictor: "Predictor", model_name: str, numbers_model: Path | None = None) -> "FastAPI":
    """The web app around ``predictor``; ``numbers_model``, where given, reads ``number=true``
    requests (loaded at its first)."""
    from fastapi import FastAPI, File, HTTPException, Query, UploadFile
    from fastapi.responses import HTMLResponse

    from inference import summarise

    app = FastAPI(title="LeNet-5 digits", description="Read handwritten and printed digits in images.")
    readers: dict = {}

    def number_reader() -> "Predictor":
        if "numbers" not in readers:
            from inference import Predictor

            readers["numbers"] = Predictor.from_file(numbers_model) if numbers_model else predictor
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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve a web page that reads digits, and a JSON API.")
    parser.add_argument("--model", type=Path, default=None,
                        help=f"an .onnx file or a checkpoint (default: {ONNX_NAME} where it exists, else "
                             f"{DEFAULT_CHECKPOINT})")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this "
                        "computer only; 0.0.0.0 lets the phones on your network in)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    return parser.parse_args(argv)


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
        predictor = Predictor.from_file(model)
    except ModelFileError as exc:
        fix = "python export.py" if model.suffix.lower() == ".onnx" else "python train.py"
        print(f"error: {exc}. Make one first with: {fix}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # one reading at a time, on images a few hundred pixels wide: OpenCV's threads only wait on each other and on
    # the clients (serve_benchmark.py, paired runs: OpenCV's default threads take 1.6 times as long)
    cv2.setNumThreads(1)
    numbers = Path(NUMBERS_CHECKPOINT)
    app = create_app(predictor, model.name, numbers if numbers.is_file() else None)
    print(f"Reading digits with {model} at http://{args.host}:{args.port}/ (the API: /docs); Ctrl-C stops",
          flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
