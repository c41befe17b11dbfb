"""Benchmark for `course grade`: seconds per submission, one at a time and two side by side, with
and without the bubblewrap sandbox.

    .venv/bin/python benchmarks/grading.py                # a class of 4 copies of each solution
    COURSE_MODE=fast .venv/bin/python benchmarks/grading.py   # 2 copies of solution 00 only

The class is made of solution notebooks (the most work per submission: every exercise runs). Every
run grades the same files with the same seed in this one process. For each number of jobs the runs
go without, with, with, without the sandbox (ABBA: a machine that warms up or gets busier during
the benchmark favours neither), and the ratio of the two sums is the sandbox's cost; the ratio is
meaningful on a busy machine even when the seconds are not. The grader always runs the notebooks in
fast mode.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from course_lib.config import REPO_ROOT, pick
from course_lib.grading.batch import grade_all, read_all, threads_per_kernel
from course_lib.grading.grade import Options, releases
from course_lib.grading.sandbox import unavailable_reason

COPIES = pick(fast=2, full=4)
NOTEBOOKS = pick(fast=["00_welcome"], full=sorted(p.stem for p in (REPO_ROOT / "solutions").glob("*.ipynb")))
ORDER = (False, True, True, False)  # sandbox off / on, ABBA


def timed(read, released, jobs: int, sandbox: bool) -> tuple[float, int]:
    """Seconds to grade ``read`` and the number of full marks (every copy should get them)."""
    options = Options(seed=0, threads=threads_per_kernel(jobs), sandbox=sandbox)
    start = time.perf_counter()
    results = grade_all(read, released, options, jobs=jobs)
    return time.perf_counter() - start, sum(r.points == r.max_points > 0 for r in results)


def main() -> None:
    released = releases(REPO_ROOT / "notebooks")
    reason = unavailable_reason()
    order = ORDER if reason is None else (False,)
    if reason:
        print(f"bubblewrap not available ({reason}): without the sandbox only")
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for name in NOTEBOOKS:
            for copy in range(COPIES):
                paths.append(Path(folder) / f"{name}-{copy}.ipynb")
                shutil.copy(REPO_ROOT / "solutions" / f"{name}.ipynb", paths[-1])
        read = read_all(paths)
        print(f"{len(paths)} submissions ({', '.join(NOTEBOOKS)}; {COPIES} of each), whole notebook run + probe; "
              f"runs in the order {', '.join('sandbox' if s else 'plain' for s in order)}")
        print(f"{'jobs':>4}  {'sandbox':>7}  {'s total':>8}  {'s per submission':>16}  {'full marks':>10}  "
              f"{'ratio':>5}")
        for jobs in (1, 2):
            seconds = {False: 0.0, True: 0.0}
            for sandbox in order:
                spent, full = timed(read, released, jobs, sandbox)
                seconds[sandbox] += spent
                if full != len(paths):
                    print(f"warning: {full}/{len(paths)} full marks with jobs={jobs}, sandbox={sandbox}")
            for sandbox in sorted(set(order)):
                total = seconds[sandbox] / order.count(sandbox)
                ratio = f"{seconds[True] / seconds[False]:5.2f}" if sandbox and seconds[False] else ""
                print(f"{jobs:>4}  {'on' if sandbox else 'off':>7}  {total:8.1f}  {total / len(paths):16.1f}  "
                      f"{full:>5}/{len(paths)}  {ratio:>5}")


if __name__ == "__main__":
    main()
