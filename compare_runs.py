"""Put training runs side by side: one picture of their curves and one table.

    python compare_runs.py                       # every run in runs/
    python compare_runs.py runs/a runs/b         # just these
    python compare_runs.py runs/ --markdown      # the table as Markdown, for a README

Reads only the history.json that train.py keeps in each run folder, so it needs no torch and
works on runs still training, stopped with Ctrl-C, or made on another machine. For curves over
time as a run trains, TensorBoard reads the same runs: tensorboard --logdir runs
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

from artifacts import atomic_write, not_a_png_name
from runs import DEFAULT_RUNS_DIR, Run, RunError, find_runs

DEFAULT_OUTPUT = Path("comparison.png")
COLUMNS = ("run", "variant", "parameters", "epochs", "s/epoch", "best val", "test")


def table_rows(runs: list[Run]) -> list[tuple[str, ...]]:
    """One row per run, each value as it should read; a blank where a run has no figure yet."""
    rows = []
    for run in runs:
        epochs = str(len(run.epochs))
        if run.status != "finished" and run.planned_epochs:
            epochs = f"{len(run.epochs)}/{run.planned_epochs} {run.status}"
        best = run.best_val_accuracy
        rows.append((
            run.name,
            run.variant,
            f"{run.parameters:,}" if isinstance(run.parameters, int) else "-",
            epochs,
            f"{run.seconds_per_epoch:.1f}" if run.seconds_per_epoch is not None else "-",
            f"{best:.2%}" if best is not None else "-",
            f"{run.test_accuracy:.2%}" if run.test_accuracy is not None else "-",
        ))
    return rows


def format_table(rows: list[tuple[str, ...]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join(" --- " for _ in COLUMNS) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(COLUMNS)]
    right = {2, 3, 4, 5, 6}  # numbers line up on the right
    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(COLUMNS), line(["-" * w for w in widths]), *(line(row) for row in rows)])


def draw_comparison(runs: list[Run], path: Path) -> None:
    """Validation accuracy, both losses and the learning rate, every run overlaid. Runs of one
    variant share a colour and differ in line style, so seeds of one variant read as a group."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(14, 9), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2)
    panels = [(axes[0, 0], "val_acc", "Validation accuracy (%)"), (axes[0, 1], "val_loss", "Validation loss"),
              (axes[1, 0], "train_loss", "Training loss"), (axes[1, 1], "lr", "Learning rate (end of epoch)")]
    variants = list(dict.fromkeys(run.variant for run in runs))
    palette = [f"C{i}" for i in range(10)]
    styles = ["-", "--", ":", "-."]
    seen: dict[str, int] = {}
    lowest = 100.0
    for run in runs:
        colour = palette[variants.index(run.variant) % len(palette)]
        style = styles[seen.get(run.variant, 0) % len(styles)]
        seen[run.variant] = seen.get(run.variant, 0) + 1
        epochs = run.series("epoch")
        label = f"{run.name} ({run.variant})" + ("" if run.status == "finished" else f" [{run.status}]")
        for ax, field, _ in panels:
            values = run.series(field)
            if field == "val_acc":
                values = [100 * v for v in values]
                lowest = min([lowest, *values[len(values) // 2:]])  # zoom on where the runs end up
            ax.plot(epochs, values, style, color=colour, marker="o", markersize=3, label=label if field == "val_acc" else None)
    for ax, _, title in panels:
        ax.set(title=title, xlabel="epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylim(max(0.0, lowest - 0.5), 100.0)
    axes[1, 1].ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    fig.legend(loc="outside lower center", ncols=min(3, len(runs)), fontsize=8)
    fig.suptitle(f"{len(runs)} training run{'s' if len(runs) != 1 else ''}", fontsize=14)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    atomic_write(path, lambda tmp: tmp.write_bytes(buffer.getvalue()))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Compare training runs kept by train.py in runs/NAME/.")
    parser.add_argument("runs", nargs="*", type=Path,
                        help=f"run folders, or folders of runs (default: every run in {DEFAULT_RUNS_DIR}/)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help=f"the comparison picture (default: {DEFAULT_OUTPUT})")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)
    if problem := not_a_png_name("--output", args.output):
        parser.error(problem)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    found: dict[Path, Run] = {}  # a run named twice (runs/ and runs/a) is shown once
    if not args.runs and not DEFAULT_RUNS_DIR.is_dir():
        print(f"error: {DEFAULT_RUNS_DIR}/ does not exist yet; each python train.py run is kept there, "
              "or give run folders", file=sys.stderr)
        return 2
    try:
        for path in args.runs or [DEFAULT_RUNS_DIR]:
            for run in find_runs(path):
                found.setdefault(run.folder.resolve(), run)
    except RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    runs = list(found.values())
    print(format_table(table_rows(runs), args.markdown))
    try:
        draw_comparison(runs, args.output)
    except OSError as exc:
        print(f"error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if not args.markdown:
        print(f"Picture: {args.output}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
