"""What the release and the grader know about a course notebook: solution regions and check cells."""
from __future__ import annotations

import copy
from pathlib import Path

import nbformat

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CHECK_TAG = "nbval-check-output"


class NotebookError(ValueError):
    """A notebook the course tools cannot use, with a one-line reason."""


def read(path: Path) -> nbformat.NotebookNode:
    """Read a notebook, turning every kind of bad file into a one-line :class:`NotebookError`."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise NotebookError(f"cannot read it ({type(error).__name__}: {error})") from None
    return parse(data)


def parse(data: bytes) -> nbformat.NotebookNode:
    """A notebook from the bytes of its file; a bad one raises a one-line :class:`NotebookError`."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise NotebookError(f"cannot read it ({type(error).__name__}: {error})") from None
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as error:  # nbformat raises json errors or its own NotJSONError
        reason = "not valid JSON" if "JSON" in type(error).__name__ or "JSON" in str(error) else "not a notebook"
        raise NotebookError(f"{reason}: {' '.join(str(error).split())[:200]}") from None
    if not isinstance(nb.get("cells"), list):
        raise NotebookError("not a notebook: it has no list of cells")
    return nb


def write_text(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def notebook_id(nb: nbformat.NotebookNode) -> str | None:
    return nb.metadata.get("course", {}).get("notebook")


def is_check_cell(cell) -> bool:
    return cell.cell_type == "code" and CHECK_TAG in cell.metadata.get("tags", [])


def exercise_of(cell) -> str | None:
    return cell.metadata.get("course", {}).get("exercise")


def check_cells(nb) -> list:
    return [cell for cell in nb.cells if is_check_cell(cell) and exercise_of(cell)]


def strip_solutions(source: str, where: str) -> str:
    """Replace each ``### BEGIN SOLUTION`` … ``### END SOLUTION`` region by ``raise NotImplementedError``."""
    kept, indent = [], None
    for number, line in enumerate(source.split("\n"), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if indent is not None:
                raise NotebookError(f"{where}, line {number}: {BEGIN} inside another solution region")
            indent = line[: len(line) - len(line.lstrip())]
            kept.append(f"{indent}raise NotImplementedError")
        elif marker == END:
            if indent is None:
                raise NotebookError(f"{where}, line {number}: {END} without {BEGIN}")
            indent = None
        elif indent is None:
            kept.append(line)
    if indent is not None:
        raise NotebookError(f"{where}: {BEGIN} without {END}")
    return "\n".join(kept)


def validate_solution(nb, name: str) -> None:
    """Authoring mistakes that would break the release or the grader, as one clear error."""
    if not notebook_id(nb):
        raise NotebookError(f"{name}: notebook metadata has no course.notebook id")
    seen = set()
    for index, cell in enumerate(nb.cells):
        where = f"{name} cell {index}"
        if cell.cell_type != "code" and BEGIN in cell.get("source", ""):
            raise NotebookError(f"{where}: solution regions belong in code cells")
        if is_check_cell(cell):
            exercise = exercise_of(cell)
            if not exercise:
                raise NotebookError(f"{where}: check cell without course.exercise metadata")
            if exercise in seen:
                raise NotebookError(f"{where}: exercise {exercise} has two check cells")
            if not cell.get("id"):
                raise NotebookError(f"{where}: check cell without a cell id")
            seen.add(exercise)


def release(nb, name: str = "notebook") -> nbformat.NotebookNode:
    """The student version: solutions stripped, outputs kept for check cells only."""
    validate_solution(nb, name)
    student = copy.deepcopy(nb)
    for index, cell in enumerate(student.cells):
        if cell.cell_type != "code":
            continue
        cell.source = strip_solutions(cell.source, f"{name} cell {index}")
        if not is_check_cell(cell):  # check cells keep their recorded output and execution count
            cell.outputs, cell.execution_count = [], None
    return student
