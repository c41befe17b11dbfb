"""``course grade``: restore the release's check cells, run the submission, score each exercise.

The submitted file is only ever read. Each check cell is taken from the released notebook (matched
by cell id), and just before it runs, ``check`` is re-imported from a freshly reloaded
``course_lib.checks``, so neither editing a check cell nor redefining ``check`` earlier in the
notebook can turn a failure into a pass.
"""
from __future__ import annotations

import copy
import csv
import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from course_lib.exercises import REGISTRY
from course_lib.grading import notebooks
from course_lib.grading.execute import error_of, execute, stdout_of, timed_out

REBIND_CHECK = "from course_lib.exercises import check"

PASSED, FAILED, NOT_ATTEMPTED, TIMED_OUT = "passed", "failed", "not attempted", "timed out"


@dataclass
class ExerciseResult:
    exercise: str
    name: str
    status: str
    points: float
    max_points: float
    detail: str = ""


@dataclass
class SubmissionResult:
    submission: str
    notebook: str = ""
    exercises: list[ExerciseResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def points(self) -> float:
        return sum(e.points for e in self.exercises)

    @property
    def max_points(self) -> float:
        return sum(e.max_points for e in self.exercises)


def restore_checks(submission, release) -> list[str]:
    """Put the release's check cells back into ``submission`` (in place); describe any tampering."""
    notes = []
    by_id = {cell.get("id"): index for index, cell in enumerate(submission.cells)}
    previous_id = None
    for cell in release.cells:
        if notebooks.is_check_cell(cell):
            exercise = notebooks.exercise_of(cell)
            index = by_id.get(cell.id)
            if index is None:
                notes.append(f"check cell of {exercise} was missing: restored")
                at = by_id.get(previous_id, len(submission.cells) - 1) + 1
                submission.cells.insert(at, copy.deepcopy(cell))
                by_id = {c.get("id"): i for i, c in enumerate(submission.cells)}
            else:
                mine = submission.cells[index]
                if mine.cell_type != "code" or mine.source != cell.source or mine.metadata != cell.metadata:
                    notes.append(f"check cell of {exercise} was edited: restored")
                submission.cells[index] = copy.deepcopy(cell)
        previous_id = cell.get("id")
    return notes


def _prepare(submission) -> tuple[nbformat.NotebookNode, dict[str, int]]:
    """A copy to execute: outputs cleared, ``check`` rebound before each check cell."""
    run = copy.deepcopy(submission)
    run.cells = []
    positions = {}
    for cell in submission.cells:
        cell = copy.deepcopy(cell)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            if notebooks.is_check_cell(cell):
                run.cells.append(nbformat.v4.new_code_cell(REBIND_CHECK))
                positions[cell.id] = len(run.cells)
        run.cells.append(cell)
    return run, positions


def _result_of(cell, exercise: str, name: str, points: float, slow: bool, ran: bool) -> ExerciseResult:
    line = next((l.strip() for l in stdout_of(cell).splitlines()
                 if l.startswith(f"{exercise} ") or l.startswith(f"{exercise}:")), "")
    if slow:
        return ExerciseResult(exercise, name, TIMED_OUT, 0, points, "a cell ran past the time limit")
    if not ran:
        return ExerciseResult(exercise, name, FAILED, 0, points, "the kernel died before this check")
    if line.endswith("not attempted"):
        return ExerciseResult(exercise, name, NOT_ATTEMPTED, 0, points)
    if line.startswith(f"{exercise} {name}: ✓"):
        return ExerciseResult(exercise, name, PASSED, points, points)
    detail = line.split("✗", 1)[-1].strip() if "✗" in line else (error_of(cell) or "the check printed nothing")
    return ExerciseResult(exercise, name, FAILED, 0, points, detail)


def grade(path: Path, release_dir: Path, timeout: int) -> SubmissionResult:
    result = SubmissionResult(str(path))
    try:
        submission = notebooks.read(path)
        nb_id = notebooks.notebook_id(submission)
        if not nb_id:
            raise notebooks.NotebookError("not a notebook from this course (no course metadata)")
        release_path = release_dir / f"{nb_id}.ipynb"
        if not release_path.is_file():
            raise notebooks.NotebookError(f"unknown course notebook {nb_id!r} (no {release_path})")
    except notebooks.NotebookError as error:
        result.error = str(error)
        return result
    result.notebook = nb_id
    release = notebooks.read(release_path)
    result.notes = restore_checks(submission, release)
    run, positions = _prepare(submission)
    with tempfile.TemporaryDirectory(prefix="course-grade-") as cwd:
        alive = execute(run, cwd=cwd, timeout=timeout, allow_errors=True)
    names = {k: v.name for k, v in REGISTRY.items()}
    slow_since_last_check = False
    for index, cell in enumerate(run.cells):
        slow_since_last_check |= timed_out(cell)
        if notebooks.is_check_cell(cell) and cell.id in positions:
            exercise = notebooks.exercise_of(cell)
            points = float(cell.metadata.get("course", {}).get("points", 1))
            ran = alive or bool(cell.outputs)
            result.exercises.append(_result_of(cell, exercise, names.get(exercise, "?"), points,
                                               slow_since_last_check, ran))
            slow_since_last_check = False
    return result


def write_report(results: list[SubmissionResult], csv_path: Path | None, json_path: Path | None) -> None:
    if csv_path:
        with open(csv_path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["submission", "notebook", "exercise", "name", "status", "points", "max_points", "detail"])
            for r in results:
                if r.error:
                    writer.writerow([r.submission, "", "", "", "error", 0, 0, r.error])
                for e in r.exercises:
                    writer.writerow([r.submission, r.notebook, e.exercise, e.name, e.status, e.points, e.max_points, e.detail])
    if json_path:
        data = [{**asdict(r), "points": r.points, "max_points": r.max_points} for r in results]
        Path(json_path).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def format_table(results: list[SubmissionResult]) -> str:
    lines = []
    for r in results:
        if r.error:
            lines.append(f"{r.submission}: error: {r.error}")
            continue
        lines.append(f"{r.submission} ({r.notebook}): {r.points:g}/{r.max_points:g} points")
        for note in r.notes:
            lines.append(f"  ! {note}")
        for e in r.exercises:
            detail = f"  {e.detail}" if e.detail else ""
            lines.append(f"  {e.exercise:<6} {e.name:<28} {e.status:<14} {e.points:g}/{e.max_points:g}{detail}")
    return "\n".join(lines)
