"""``course grade``: verdicts computed in the grader's process, on inputs drawn at grading time.

For one submission (its bytes, never its path; the file is never written):

1. The grader draws each exercise's cases from ``seed`` and computes the reference outputs itself,
   from the pristine ``course_lib``, before any learner code runs.
2. Notebook run (report only): the whole submission, check cells restored from the release, runs
   top to bottom in a fresh kernel with a time limit per cell and a memory limit. Crashes, time-outs
   and memory errors are reported per cell; nothing from this run decides a point.
3. Probe run: a second fresh kernel whose ``course_lib`` has the notebook's references stubbed
   (:mod:`course_lib.grading.probe`) runs the release's imports, the submission's exercise cells,
   and for each exercise the learner's object on the grader's cases; only plain data comes back
   (``torch.load(weights_only=True)``).
4. The grader compares the two with :func:`course_lib.checks.compare_values`.
"""
from __future__ import annotations

import ast
import copy
import csv
import difflib
import inspect
import json
import os
import tempfile
import textwrap
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
import torch

from course_lib.checks import CheckFailed, Exercise, compare_values
from course_lib.exercises import REGISTRY, one_line
from course_lib.grading import notebooks, probe
from course_lib.grading import sandbox as bwrap
from course_lib.grading.execute import error_of, execute, kernel_env, timed_out

PASSED, FAILED, NOT_ATTEMPTED = "passed", "failed", probe.NOT_ATTEMPTED
TIMED_OUT, OUT_OF_MEMORY, ERROR = "timed out", probe.OUT_OF_MEMORY, "error"
STATUSES = (PASSED, FAILED, NOT_ATTEMPTED, TIMED_OUT, OUT_OF_MEMORY, ERROR)
SIMILAR = 0.9  # difflib ratio of the normalised source above which an answer is flagged
KERNEL_DIED = "the kernel stopped (os._exit, a crash, or memory) while running"
# Every notebook's exercises, references and models, imported when the grader starts, before any
# learner code runs: REGISTRY alone would import a notebook's module at its first submission, from
# files that an earlier submission's kernel may have rewritten.
EXERCISES = dict(REGISTRY)


@dataclass(frozen=True)
class Options:
    """How to grade: the case seed, limits per cell and per kernel, whether to run the notebook, and
    whether the kernels run in the bubblewrap sandbox (:mod:`course_lib.grading.sandbox`)."""

    seed: int
    timeout: int = 300  # seconds per cell
    memory: int | None = 8 * 2**30  # bytes of address space per kernel (None: no limit)
    threads: int = 1  # torch threads per kernel
    notebook_run: bool = True
    sandbox: bool = False


@dataclass
class ExerciseResult:
    exercise: str
    name: str
    status: str
    points: float
    max_points: float
    detail: str = ""
    similarity: float | None = None  # to the reference's source, when the answer's def was found
    uses: list[str] = field(default_factory=list)  # import machinery or file access in the answer's cell


@dataclass
class SubmissionResult:
    submission: str
    notebook: str = ""
    exercises: list[ExerciseResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str = ""
    seed: int | None = None
    sandboxed: bool = False  # whether its kernels ran in the sandbox

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


def releases(release_dir: Path) -> dict[str, str]:
    """The released notebooks' text by file stem (``00_welcome``), to send along with submissions."""
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(Path(release_dir).glob("*.ipynb"))}


def grade(name: str, data: bytes, released: dict[str, str], options: Options) -> SubmissionResult:
    """Grade the submission ``data`` (the bytes of a notebook file called ``name``)."""
    result = SubmissionResult(name, seed=options.seed, sandboxed=options.sandbox)
    try:
        if options.sandbox:  # on this machine: a Dask worker may lack what the grader's machine has
            bwrap.require()
        submission = notebooks.parse(data)
        nb_id = notebooks.notebook_id(submission)
        if not nb_id:
            raise notebooks.NotebookError("not a notebook from this course (no course metadata)")
        if nb_id not in released:
            raise notebooks.NotebookError(f"unknown course notebook {nb_id!r} (not in the release)")
    except (notebooks.NotebookError, bwrap.SandboxUnavailable) as error:
        result.error = str(error)
        return result
    result.notebook = nb_id
    release = notebooks.parse(released[nb_id].encode("utf-8"))
    checks = notebooks.check_cells(release)
    exercises = [EXERCISES[notebooks.exercise_of(cell)] for cell in checks]
    expected = {e.id: _reference_outputs(e, options) for e in exercises}  # before any learner code
    result.notes = restore_checks(submission, release)
    if options.notebook_run:
        result.notes += _notebook_run(submission, options)
    answers, cells = _probe_run(submission, release, exercises, expected, options)
    given = {x: release.cells[at].source if at is not None else "" for x, at in exercise_cells(release, release).items()}
    for cell, exercise in zip(checks, exercises):
        points = float(cell.metadata.get("course", {}).get("points", 1))
        status, detail = _verdict(exercise, expected[exercise.id], answers.get(exercise.id), cells[exercise.id])
        source = cells[exercise.id]["source"]
        result.exercises.append(ExerciseResult(exercise.id, exercise.name, status,
                                               points if status == PASSED else 0.0, points, one_line(detail),
                                               similarity(source, exercise) if source else None,
                                               unusual_uses(source, given.get(exercise.id, ""))))
    return result


def _reference_outputs(exercise: Exercise, options: Options) -> tuple[list[dict], list]:
    """The cases and the reference's outputs, computed with the kernels' thread count: a convolution
    sums in another order on another number of threads, and outputs near zero would then differ
    by more than ``rel_error``'s tolerance."""
    cases = exercise.cases(torch.Generator().manual_seed(options.seed))
    threads = torch.get_num_threads()
    torch.set_num_threads(options.threads)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cases, [exercise.run(exercise.reference, copy.deepcopy(case)) for case in cases]
    finally:
        torch.set_num_threads(threads)


def _limits_cell(options: Options):
    return nbformat.v4.new_code_cell(probe.limits_source(options.memory, options.threads))


def _kernel_env(options: Options, **extra: str) -> dict[str, str]:
    threads = str(options.threads)
    return kernel_env(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, **extra)


def _notebook_run(submission, options: Options) -> list[str]:
    """Run the whole submission (outputs cleared); describe the cells that failed, for the report."""
    run = copy.deepcopy(submission)
    for cell in run.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    run.cells.insert(0, _limits_cell(options))
    with tempfile.TemporaryDirectory(prefix="course-grade-") as cwd:
        died_at = execute(run, cwd=cwd, timeout=options.timeout, allow_errors=True, env=_kernel_env(options),
                          sandbox=bwrap.Sandbox() if options.sandbox else None)
    notes = []
    for index, cell in enumerate(run.cells[1:]):
        error = error_of(cell)
        if timed_out(cell):
            notes.append(f"notebook run: cell {index} ran past the {options.timeout} s limit and was stopped")
        elif error and error.startswith("MemoryError"):
            notes.append(f"notebook run: cell {index} ran out of memory")
        elif error:
            notes.append(f"notebook run: cell {index} raised {one_line(error, 160)}")
    if died_at is not None:
        notes.append(f"notebook run: {KERNEL_DIED} cell {died_at - 1}; the cells after it did not run")
    return notes


def exercise_cells(submission, release) -> dict[str, int | None]:
    """For each exercise, the index in ``submission`` of its exercise cell: the cell with the id of
    the release's cell just before the check cell, else the submission's cell just before the
    check cell, else None."""
    by_id = {cell.get("id"): index for index, cell in enumerate(submission.cells)}
    found = {}
    for index, cell in enumerate(release.cells):
        if notebooks.is_check_cell(cell) and notebooks.exercise_of(cell):
            previous = release.cells[index - 1].get("id") if index else None
            at = by_id.get(previous)
            if at is None and by_id.get(cell.id):  # a check cell at index 0 has no cell before it
                at = by_id[cell.id] - 1
            if at is not None and submission.cells[at].cell_type != "code":
                at = None
            found[notebooks.exercise_of(cell)] = at
    return found


def _probe_run(submission, release, exercises, expected, options):
    """Run the exercise cells and the grader's cases in a kernel without the references.

    Returns the kernel's answers by exercise id (None where no file came back) and, per exercise,
    what happened to its cells: {"source", "cell_error", "cell_timed_out", "answer_timed_out",
    "died"}. In the sandbox the kernel reads ``lib`` and ``cases`` and writes ``answers`` and ``cwd``.
    """
    located = exercise_cells(submission, release)
    imports = probe.guarded_imports([c.source for c in release.cells if c.cell_type == "code"])
    with tempfile.TemporaryDirectory(prefix="course-probe-") as tmp:
        tmp = Path(tmp)
        probe.stub_references(tmp / "lib", exercises)
        for folder in ("cases", "answers", "cwd"):
            (tmp / folder).mkdir()
        run = nbformat.v4.new_notebook(cells=[_limits_cell(options), nbformat.v4.new_code_cell(imports)])
        cell_of = {}
        for exercise in exercises:
            at = located[exercise.id]
            if at is not None:
                cell_of[exercise.id] = len(run.cells)
                run.cells.append(nbformat.v4.new_code_cell(submission.cells[at].source))
        answer_of = {}
        for exercise in exercises:
            cases_path, out_path = tmp / "cases" / f"{exercise.id}.pt", tmp / "answers" / f"{exercise.id}.pt"
            torch.save(expected[exercise.id][0], cases_path)
            answer_of[exercise.id] = len(run.cells)
            run.cells.append(nbformat.v4.new_code_cell(probe.answer_source(exercise.id, str(cases_path),
                                                                           str(out_path))))
        pythonpath = os.pathsep.join([str(tmp / "lib"), *filter(None, [os.environ.get("PYTHONPATH")])])
        mounts = bwrap.Sandbox(readable=(str(tmp / "lib"), str(tmp / "cases")), writable=(str(tmp / "answers"),))
        died_at = execute(run, cwd=str(tmp / "cwd"), timeout=options.timeout, allow_errors=True,
                          env=_kernel_env(options, PYTHONPATH=pythonpath), sandbox=mounts if options.sandbox else None)
        answers = {}
        for exercise in exercises:
            out_path = tmp / "answers" / f"{exercise.id}.pt"
            try:
                answers[exercise.id] = torch.load(out_path, weights_only=True) if out_path.is_file() else None
            except Exception as error:  # a file the kernel forged or broke
                answers[exercise.id] = {"unreadable": f"{type(error).__name__}: {error}"}
    cells = {}
    for exercise in exercises:
        at, answer_at = cell_of.get(exercise.id), answer_of[exercise.id]
        cell = run.cells[at] if at is not None else None
        cells[exercise.id] = {
            "source": cell.source if cell is not None else "",
            "cell_error": error_of(cell) if cell is not None else None,
            "cell_timed_out": cell is not None and timed_out(cell),
            "answer_timed_out": timed_out(run.cells[answer_at]),
            "died": died_at is not None and died_at <= answer_at,
            "died_in_cell": died_at is not None and at is not None and died_at == at,
        }
    return answers, cells


def _verdict(exercise: Exercise, expected, answer, cell) -> tuple[str, str]:
    """The status of one exercise and, unless passed, the first problem in words."""
    name = f"`{exercise.name}`"
    if cell["cell_timed_out"]:
        return TIMED_OUT, f"the cell defining {name} ran past the time limit"
    if cell["cell_error"] and cell["cell_error"].startswith("MemoryError"):
        return OUT_OF_MEMORY, f"the cell defining {name} ran out of memory"
    if answer is None:
        if cell["answer_timed_out"]:
            return TIMED_OUT, f"{name} ran past the time limit on the grader's cases"
        if cell["died"]:
            where = "the cell defining it" if cell["died_in_cell"] else f"{name} or an earlier exercise cell"
            return ERROR, f"{KERNEL_DIED} {where}"
        return ERROR, "no answer came back from the grading kernel"
    if "unreadable" in answer:
        return ERROR, f"the grading kernel's answer could not be read ({answer['unreadable']})"
    if answer.get("missing"):
        if not cell["source"]:
            return FAILED, f"could not find your {name}: the exercise cell is missing"
        reason = f" (its cell raised {cell['cell_error']})" if cell["cell_error"] else ""
        return FAILED, f"could not find your {name} after running its cell{reason}"
    cases, outputs = expected
    results = answer.get("results")
    if not isinstance(results, list) or len(results) != len(cases):
        return ERROR, "the grading kernel's answer has the wrong number of cases"
    for i, (case, want, got) in enumerate(zip(cases, outputs, results), start=1):
        where = f"case {i} ({exercise.label(case)})"
        error = got.get("error") if isinstance(got, dict) else FAILED
        if error == NOT_ATTEMPTED:
            return NOT_ATTEMPTED, ""
        if error == OUT_OF_MEMORY:
            return OUT_OF_MEMORY, f"{where}: {name} ran out of memory"
        if error:
            return FAILED, f"{where}: {got.get('message', 'a malformed answer') if isinstance(got, dict) else got}"
        try:
            compare_values(got.get("value"), want, where, exercise.tol)
        except CheckFailed as failure:
            return FAILED, str(failure)
    return PASSED, ""


def _normalised(source: str, name: str) -> str | None:
    """The def/class ``name`` of ``source`` without docstrings, as ``ast.unparse`` writes it."""
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:
        return None
    node = next((n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == name), None)
    if node is None:
        return None
    for n in ast.walk(node):
        body = getattr(n, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            n.body = body[1:] or [ast.Pass()]
    node.name = "_"
    return ast.unparse(node)


def similarity(source: str, exercise: Exercise) -> float | None:
    """How close the learner's def/class is to the reference's source (difflib ratio, 0 to 1)."""
    mine = _normalised(source, exercise.name)
    try:
        theirs = _normalised(inspect.getsource(exercise.reference), exercise.reference.__name__)
    except (OSError, TypeError):
        return None
    if mine is None or theirs is None:
        return None
    return round(difflib.SequenceMatcher(None, mine, theirs).ratio(), 2)


# What an answer has no need for, and what loading the library's reference by other means takes.
UNUSUAL_MODULES = {"importlib", "runpy", "inspect", "sys", "os", "pathlib", "shutil", "subprocess", "ctypes",
                   "builtins", "io", "pickle", "marshal", "types", "site", "course_lib"}
UNUSUAL_NAMES = {"__import__", "exec", "eval", "compile", "open", "__builtins__", "globals", "vars", "__loader__",
                 "__spec__"}


def unusual_uses(source: str, given: str = "") -> list[str]:
    """The import machinery and file access that an exercise cell uses (modules it imports, built-ins
    it names) and that the released cell ``given`` did not already use, sorted: an instructor's
    reason to read the answer, since a kernel can load the library's own files by path."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError:
        return []
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] in UNUSUAL_MODULES}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNUSUAL_MODULES:
            found.add(node.module)
        elif isinstance(node, ast.Name) and node.id in UNUSUAL_NAMES:
            found.add(node.id)
    return sorted(found - set(unusual_uses(given)) if given else found)


def flags(e: ExerciseResult) -> str:
    """The reasons to read an answer by hand (they change no points)."""
    reasons = []
    if (e.similarity or 0) >= SIMILAR:
        reasons.append(f"similar to the reference ({e.similarity:.2f})")
    if e.uses:
        reasons.append(f"review: the cell uses {', '.join(e.uses)}")
    return "; ".join(reasons)


def write_report(results: list[SubmissionResult], csv_path: Path | None, json_path: Path | None) -> None:
    if csv_path:
        with open(csv_path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["submission", "notebook", "exercise", "name", "status", "points", "max_points",
                             "detail", "flag"])
            for r in results:
                if r.error:
                    writer.writerow([r.submission, "", "", "", "error", 0, 0, r.error, ""])
                for e in r.exercises:
                    writer.writerow([r.submission, r.notebook, e.exercise, e.name, e.status, e.points,
                                     e.max_points, e.detail, flags(e)])
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
            detail = "  ".join(filter(None, [e.detail, flags(e)]))
            lines.append(f"  {e.exercise:<6} {e.name:<28} {e.status:<14} {e.points:g}/{e.max_points:g}"
                         + (f"  {detail}" if detail else ""))
    return "\n".join(lines)
