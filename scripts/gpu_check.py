"""Run every solution notebook in full mode on this machine's GPU and print one table of times and
the headline numbers (each notebook's "paper says / we measured" table).

    make gpu-check                                      # all notebooks
    .venv/bin/python scripts/gpu_check.py 01_fcn 04     # some of them, by name or number prefix

Each notebook runs top to bottom in a fresh kernel (``COURSE_MODE=full``), the way a learner with a
GPU runs it; the course picks CUDA, then Apple's MPS, by itself (``course_lib.config.get_device``).
Where neither exists the script says so and exits with status 2 before running anything.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from course_lib.config import REPO_ROOT, get_device
from course_lib.grading import notebooks
from course_lib.grading.execute import error_of, execute, kernel_env, stdout_of

SOLUTIONS = REPO_ROOT / "solutions"
HEADLINE_MARKS = ("paper_table(", "paper says")  # how a cell that prints the table reads


def accelerator() -> str | None:
    """``"cuda (<name>)"`` or ``"mps"`` for the device the notebooks will use, None on a CPU-only machine."""
    device = get_device()
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return "mps" if device.type == "mps" else None


def select(names: list[str]) -> list[Path]:
    """The solution notebooks named by file stem or by a prefix such as ``04`` or ``05a`` (all when empty)."""
    available = sorted(SOLUTIONS.glob("[0-9]*.ipynb"))
    if not names:
        return available
    chosen = []
    for name in names:
        matches = [path for path in available if name in (path.stem, path.stem.split("_")[0])]
        if not matches:
            raise SystemExit(f"no solution notebook called {name!r}; choose from "
                             f"{', '.join(path.stem for path in available)}")
        chosen += matches
    return chosen


def is_headline_cell(cell) -> bool:
    return cell.cell_type == "code" and any(mark in cell.source for mark in HEADLINE_MARKS)


def headline(nb) -> str:
    """The text the notebook's "paper says / we measured" cell printed ('' when it has none or it failed)."""
    cells = [cell for cell in nb.cells if is_headline_cell(cell)]
    return stdout_of(cells[-1]).strip() if cells else ""


def run(path: Path, timeout: int) -> dict:
    """Execute one notebook in full mode; its wall time, first error and headline table."""
    nb = notebooks.read(path)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as cwd:
        died_at = execute(nb, cwd, timeout=timeout, allow_errors=True, env=kernel_env(COURSE_MODE="full"))
    errors = [error for error in map(error_of, nb.cells) if error]
    status = "kernel died" if died_at is not None else ("error" if errors else "ok")
    return {"name": path.stem, "seconds": time.perf_counter() - started, "status": status,
            "error": errors[0] if errors else "", "headline": headline(nb)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="names or number prefixes (default: all)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell (default 1800)")
    args = parser.parse_args(argv)
    device = accelerator()
    if device is None:
        print("gpu-check: no GPU here (torch sees neither CUDA nor Apple MPS), so there is nothing to "
              "check; on a CPU-only machine run `make test` (fast mode) or a notebook in full mode.")
        return 2
    paths = select(args.notebooks)
    print(f"gpu-check: {len(paths)} notebook(s) in full mode on {device}, torch {torch.__version__}")
    results = []
    for path in paths:
        results.append(run(path, args.timeout))
        print(f"  {path.stem:<40} {results[-1]['seconds']:7.1f} s  {results[-1]['status']}", flush=True)
    print(f"\n{'notebook':<40} {'seconds':>8}  status")
    for result in results:
        print(f"{result['name']:<40} {result['seconds']:8.1f}  {result['status']}  {result['error'][:80]}")
    for result in results:
        print(f"\n== {result['name']}: headline numbers (full mode, {device})\n{result['headline'] or '(none printed)'}")
    return 0 if all(result["status"] == "ok" for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
