"""course release and course grade, on the real notebook 00 and on tiny made-up notebooks."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_notebook

from course_lib.grading import notebooks
from course_lib.grading.cli import main as course

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "00_welcome.ipynb"
STUDENT = ROOT / "notebooks" / "00_welcome.ipynb"


# --- release -----------------------------------------------------------------------------------

def test_solution_regions_become_raise_with_their_indentation():
    source = "def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n    ### END SOLUTION\n"
    assert notebooks.strip_solutions(source, "cell") == "def f(x):\n    y = 1\n    raise NotImplementedError\n"


@pytest.mark.parametrize("source,message", [("### BEGIN SOLUTION\nx = 1", "without ### END"),
                                            ("x = 1\n### END SOLUTION", "without ### BEGIN"),
                                            ("### BEGIN SOLUTION\n### BEGIN SOLUTION", "inside another")])
def test_unbalanced_markers_are_named(source, message):
    with pytest.raises(notebooks.NotebookError, match=message):
        notebooks.strip_solutions(source, "cell 3")


def test_notebooks_folder_is_what_release_makes_from_solutions(capsys):
    assert course(["release", "--check"]) == 0, capsys.readouterr().out


def test_release_keeps_check_outputs_and_drops_the_rest():
    student = notebooks.read(STUDENT)
    for cell in student.cells:
        if cell.cell_type != "code":
            continue
        assert "### BEGIN SOLUTION" not in cell.source
        if notebooks.is_check_cell(cell):
            assert "✓" in notebooks_stdout(cell)
        else:
            assert cell.outputs == []


def notebooks_stdout(cell):
    return "".join(o.get("text", "") for o in cell.outputs)


# --- grade: the real notebook 00 ---------------------------------------------------------------

SEED = "7"


def _grade(args, tmp_path, *options):
    report = tmp_path / "report.json"
    completed = subprocess.run([sys.executable, "-m", "course_lib.grading.cli", "grade", *map(str, args),
                                "--json", str(report), "--seed", SEED, *options],
                               capture_output=True, text=True, timeout=900)
    return completed, {Path(r["submission"]).name if r["submission"] not in (str(SOLUTION), str(STUDENT))
                       else r["submission"]: r for r in json.loads(report.read_text())}


@pytest.fixture(scope="module")
def graded_00(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grade00")
    (tmp / "broken.ipynb").write_text('{"cells": [')
    (tmp / "foreign.ipynb").write_text(notebooks.write_text(new_notebook(cells=[new_code_cell("1")])))
    submissions = [SOLUTION, STUDENT, tmp / "broken.ipynb", tmp / "foreign.ipynb"]
    before = {p: p.read_bytes() for p in submissions}
    completed, report = _grade(submissions, tmp, "--report", tmp / "report", "--csv", tmp / "grades.csv")
    return completed, report, before, tmp


@pytest.mark.slow
def test_the_solution_scores_full_marks(graded_00):
    _, report, _, _ = graded_00
    solution = report[str(SOLUTION)]
    assert [e["status"] for e in solution["exercises"]] == ["passed", "passed"]
    assert solution["points"] == solution["max_points"] == 2
    assert solution["notes"] == []  # the whole notebook ran without an error


@pytest.mark.slow
def test_the_released_notebook_scores_zero_not_attempted(graded_00):
    completed, report, _, _ = graded_00
    student = report[str(STUDENT)]
    assert [e["status"] for e in student["exercises"]] == ["not attempted", "not attempted"]
    assert student["points"] == 0
    assert "0.1    conv_output_size             not attempted" in completed.stdout
    assert f"cases drawn from seed {SEED} (repeat with --seed {SEED})" in completed.stdout


@pytest.mark.slow
def test_bad_files_get_one_line_and_exit_2_while_others_are_graded(graded_00):
    completed, report, _, _ = graded_00
    assert completed.returncode == 2
    assert report["broken.ipynb"]["error"].startswith("not valid JSON")
    assert report["foreign.ipynb"]["error"] == "not a notebook from this course (no course metadata)"
    assert len([line for line in completed.stderr.splitlines() if "broken.ipynb" in line]) == 1


@pytest.mark.slow
def test_submitted_files_are_never_written(graded_00):
    _, _, before, _ = graded_00
    for path, data in before.items():
        assert path.read_bytes() == data, path


@pytest.mark.slow
def test_the_report_has_a_class_page_with_two_figures_and_a_page_per_submission(graded_00):
    _, _, _, tmp = graded_00
    page = (tmp / "report" / "index.html").read_text()
    assert page.count('src="data:image/png;base64,') == 2
    assert page.count("<tr>") == 1 + 4 and 'href="00_welcome.html"' in page
    feedback = (tmp / "report" / "broken.html").read_text()
    assert "could not be graded: not valid JSON" in feedback
    pages = sorted(p.name for p in (tmp / "report").iterdir())
    assert pages == ["00_welcome-2.html", "00_welcome.html", "broken.html", "foreign.html", "index.html",
                     "pass_rate.png", "scores.png"]
    assert "not attempted" in (tmp / "report" / "00_welcome-2.html").read_text()


@pytest.mark.slow
def test_status_prints_a_table_per_notebook_and_a_total():
    completed = subprocess.run([sys.executable, "-m", "course_lib.grading.cli", "status", str(STUDENT),
                                str(SOLUTION), "--seed", SEED, "--jobs", "1"],
                               capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    assert "0.2    receptive_field              not attempted" in completed.stdout
    assert completed.stdout.rstrip().endswith("total: 2/4 points in 2 notebook(s)")


# --- grade: a tiny notebook, for the time limit (attacks: tests/test_grading_attacks.py) -----------------------------

def _tiny_release(folder: Path):
    cells = [new_code_cell("from course_lib.exercises import check", id="imports"),
             new_code_cell("def conv_output_size(size, kernel_size, stride=1, padding=0, dilation=1):\n"
                           "    ### BEGIN SOLUTION\n    return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1\n"
                           "    ### END SOLUTION", id="ex1"),
             new_code_cell('check("0.1", conv_output_size)', id="ex1-check",
                           metadata={"tags": ["nbval-check-output"], "course": {"exercise": "0.1", "points": 2}}),
             new_code_cell("def receptive_field(layers):\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION", id="ex2"),
             new_code_cell('check("0.2", receptive_field)', id="ex2-check",
                           metadata={"tags": ["nbval-check-output"], "course": {"exercise": "0.2", "points": 1}})]
    solution = new_notebook(cells=cells, metadata={"course": {"notebook": "99_tiny"},
                                                   "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    folder.mkdir(exist_ok=True)
    (folder / "99_tiny.ipynb").write_text(notebooks.write_text(notebooks.release(solution)))
    return solution


def test_kernels_talk_over_ipc_files_not_ports(tmp_path):
    """`course grade --jobs N` starts kernels in parallel; over TCP two of them could take the same
    free port ("Address already in use"). Over IPC each kernel has socket files of its own."""
    from course_lib.grading.execute import execute

    nb = new_notebook(cells=[new_code_cell("from ipykernel.kernelapp import IPKernelApp\n"
                                           "print(IPKernelApp.instance().transport)")])
    assert execute(nb, cwd=str(tmp_path), timeout=60, allow_errors=False) is None
    assert nb.cells[0].outputs[0]["text"] == "ipc\n"


@pytest.mark.slow
def test_an_endless_loop_is_stopped_and_reported(tmp_path):
    submission = _tiny_release(tmp_path / "release")
    submission.cells[1].source = "while True:\n    pass"
    path = tmp_path / "loop.ipynb"
    path.write_text(notebooks.write_text(submission))
    completed, report = _grade([path, "--release", tmp_path / "release", "--timeout", "8"], tmp_path)
    result = report["loop.ipynb"]
    statuses = {e["exercise"]: e["status"] for e in result["exercises"]}
    # 0.2's solution ("return 1") is wrong: the cell after the loop still ran and was checked
    assert statuses == {"0.1": "timed out", "0.2": "failed"}, completed.stdout
    assert "notebook run: cell 1 ran past the 8 s limit and was stopped" in result["notes"]
    assert completed.returncode == 0


@pytest.mark.parametrize("path", sorted((ROOT / "solutions").glob("*.ipynb")), ids=lambda p: p.name)
def test_solutions_carry_no_widget_state(path):
    """`course record` drops the progress bars' widget state: hundreds of lines of noise in git."""
    assert "widgets" not in notebooks.read(path).metadata


def test_a_copy_of_the_reference_is_flagged_and_the_solution_is_not():
    import inspect

    from course_lib.exercises import REGISTRY
    from course_lib.grading.grade import ExerciseResult, exercise_cells, flags, similarity

    exercise = REGISTRY["0.1"]
    copied = inspect.getsource(exercise.reference)  # a learner who pastes the library's function
    assert similarity(copied, exercise) == 1.0
    solution = notebooks.read(SOLUTION)
    mine = solution.cells[exercise_cells(solution, notebooks.read(STUDENT))["0.1"]].source
    assert similarity(mine, exercise) < 0.9
    assert flags(ExerciseResult("0.1", "conv_output_size", "passed", 1, 1, similarity=1.0)) == \
        "similar to the reference (1.00)"
