"""Benchmark for `course grade`: seconds per submission, one at a time and two side by side.

    .venv/bin/python benchmarks/grading.py                # a class of 4 copies of each solution
    COURSE_MODE=fast .venv/bin/python benchmarks/grading.py   # 2 copies of solution 00 only

The class is made of solution notebooks (the most work per submission: every exercise runs). Both
runs grade the same files with the same seed in this one process, one after the other, so the ratio
is meaningful on a busy machine even when the seconds are not. The grader always runs the
notebooks in fast mode.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from course_lib.config import pick
from course_lib.grading.batch import grade_all, read_all, threads_per_kernel
from course_lib.grading.grade import Options, releases
from course_lib.grading.notebooks import REPO_ROOT

COPIES = pick(fast=2, full=4)
NOTEBOOKS = pick(fast=["00_welcome"], full=sorted(p.stem for p in (REPO_ROOT / "solutions").glob("*.ipynb")))


def main() -> None:
    released = releases(REPO_ROOT / "notebooks")
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for name in NOTEBOOKS:
            for copy in range(COPIES):
                paths.append(Path(folder) / f"{name}-{copy}.ipynb")
                shutil.copy(REPO_ROOT / "solutions" / f"{name}.ipynb", paths[-1])
        read = read_all(paths)
        print(f"{len(paths)} submissions ({', '.join(NOTEBOOKS)}; {COPIES} of each), whole notebook run + probe")
        print(f"{'jobs':>4}  {'s total':>8}  {'s per submission':>16}  {'full marks':>10}")
        for jobs in (1, 2):
            options = Options(seed=0, threads=threads_per_kernel(jobs))
            start = time.perf_counter()
            results = grade_all(read, released, options, jobs=jobs)
            seconds = time.perf_counter() - start
            full = sum(r.points == r.max_points > 0 for r in results)
            print(f"{jobs:>4}  {seconds:8.1f}  {seconds / len(paths):16.1f}  {full:>5}/{len(paths)}")


if __name__ == "__main__":
    main()
