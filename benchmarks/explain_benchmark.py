"""How long `python explain.py` takes on 100 images, start-up included.

    python benchmarks/explain_benchmark.py --model lenet5_model.pth

Writes 100 test digits with generate_test_digits.py (the ten plain ones and 9 varied images
of each digit, 96x96, dark on light), then runs `python explain.py FOLDER` in a fresh
process, --repeats times, and prints the median and spread of the wall time.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import generate_test_digits  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "lenet5_model.pth"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "digits"
        with contextlib.redirect_stdout(io.StringIO()):
            generate_test_digits.main(["--output-dir", str(folder), "--variants", "9", "--size", "96", "--invert"])
        count = len(list(folder.glob("digit_*.png")))
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            done = subprocess.run([sys.executable, str(ROOT / "explain.py"), str(folder), "--model", args.model,
                                   "--output", str(Path(tmp) / "out")], capture_output=True, text=True, cwd=ROOT)
            times.append(time.perf_counter() - started)
            if done.returncode != 0:
                sys.exit(f"explain.py failed ({done.returncode}): {done.stderr[-2000:]}")
        pictures = len(list((Path(tmp) / "out").glob("*_explained.png")))
    print(f"explain.py on {count} images ({pictures} pictures): median {statistics.median(times):.1f} s "
          f"(min {min(times):.1f}, max {max(times):.1f}; {args.repeats} runs, start-up included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
