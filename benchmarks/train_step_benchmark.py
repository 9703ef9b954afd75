"""Images per second of train.py's training step, in the forms PyTorch offers for it.

    python benchmarks/train_step_benchmark.py                # fp32 and bf16, two layouts, two batch sizes
    python benchmarks/train_step_benchmark.py --compile      # and torch.compile, with its compile time
    python benchmarks/train_step_benchmark.py --profile      # where train.py's step spends its time

One step is what train.py's loop does per batch: pad and normalise uint8 digits, augment
them, forward, label-smoothed loss, backward, fused AdamW. Each form is timed in rounds
that go through every form in turn (A B C A B C ...), so a busy spell hits them all, and the
median round is printed. What train.py does by default is marked.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from model import LeNet5, to_model_input  # noqa: E402
from train import native_bf16, random_affine  # noqa: E402


def make_step(batch: int, bf16: bool, channels_last: bool, compiled: bool):
    """A training step over fixed random digits, and the model it trains."""
    torch.manual_seed(0)
    model = LeNet5()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
    forward = torch.compile(model) if compiled else model
    digits = torch.randint(0, 256, (batch, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (batch,))
    generator = torch.Generator().manual_seed(0)

    def step() -> None:
        x = random_affine(to_model_input(digits, 0.13, 0.31), generator)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(forward(x), labels, label_smoothing=0.1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds over every form (default: 5)")
    parser.add_argument("--steps", type=int, default=30, help="steps per form per round (default: 30)")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile of the model")
    parser.add_argument("--profile", action="store_true",
                        help="instead: torch.profiler's table of the operators in 20 of train.py's default steps")
    args = parser.parse_args(argv)
    default_bf16 = native_bf16(torch.device("cpu"))
    if args.profile:
        step = make_step(256, default_bf16, True, compiled=False)
        for _ in range(5):
            step()
        with torch.profiler.profile() as profiler:
            for _ in range(20):
                step()
        print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))
        return 0
    forms = {}
    for batch in (256, 512):
        for bf16 in (False, True):
            for channels_last in (False, True):
                name = (f"batch {batch}, {'bf16' if bf16 else 'fp32'}, "
                        f"{'channels-last' if channels_last else 'NCHW'}")
                if batch == 256 and bf16 == default_bf16 and channels_last:
                    name += "  (train.py's default here)"
                forms[name] = (batch, make_step(batch, bf16, channels_last, compiled=False))
    if args.compile:
        started = time.perf_counter()
        step = make_step(256, default_bf16, True, compiled=True)
        step()
        print(f"torch.compile: the first step took {time.perf_counter() - started:.1f} s (compiling)", flush=True)
        forms["batch 256, compiled"] = (256, step)
    for _, step in forms.values():
        for _ in range(3):  # warm-up: first-call allocations and kernel choices
            step()
    rates: dict[str, list[float]] = {name: [] for name in forms}
    for _ in range(args.rounds):
        for name, (batch, step) in forms.items():
            started = time.perf_counter()
            for _ in range(args.steps):
                step()
            rates[name].append(batch * args.steps / (time.perf_counter() - started))
    print(f"CPU: {torch.get_num_threads()} threads; bf16 arithmetic in hardware: {'yes' if default_bf16 else 'no'}")
    for name, values in rates.items():
        print(f"{statistics.median(values):8.0f} images/s  (60,000 in {60000 / statistics.median(values):5.1f} s)  "
              f"{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
