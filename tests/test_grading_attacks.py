"""Crafted submissions of notebook 00 that try to earn a point without a right answer: none may, and
each is reported in the per-exercise detail (issue 10's attack list)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from course_lib.checks import verify
from course_lib.exercises import REGISTRY
from course_lib.grading import notebooks
from welcome_notebook import TOUR

pytestmark = pytest.mark.slow  # kernels and whole notebooks: `make test`, not `make check`

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "00_welcome.ipynb"
STUDENT = ROOT / "notebooks" / "00_welcome.ipynb"
SEED = 12345  # not 0: the cases differ from those of the released check line

WRONG_0_1 = "def conv_output_size(size, kernel_size, stride=1, padding=0, dilation=1):\n    return size\n"
WRONG_0_2 = "def receptive_field(layers):\n    return 1 + len(layers)\n"
PASS_LINE = "0.1 conv_output_size: ✓ matches the reference on 8 cases"


def grade(paths, tmp_path, *options, env=None, cwd=None):
    """Run `course grade` as a teacher would; return the process and the JSON report by file name."""
    report = tmp_path / "report.json"
    completed = subprocess.run([sys.executable, "-m", "course_lib.grading.cli", "grade", *map(str, paths),
                                "--json", str(report), "--seed", str(SEED), "--jobs", "2", *options],
                               capture_output=True, text=True, timeout=900, env=env, cwd=cwd)
    assert report.is_file(), completed.stderr
    return completed, {Path(r["submission"]).stem: r for r in json.loads(report.read_text())}


def submission(folder: Path, name: str, sources: dict[str, str], delete=(), base=STUDENT) -> Path:
    """The released notebook 00 (or ``base``) with the cells of ``sources`` (by cell id) replaced, and
    without its TOUR cells and those of ``delete``."""
    nb = notebooks.read(base)
    for cell in nb.cells:
        if cell.get("id") in sources:
            cell.source = sources[cell.id]
    nb.cells = [c for c in nb.cells if c.get("id") not in (*delete, *TOUR)]
    path = folder / f"{name}.ipynb"
    path.write_text(notebooks.write_text(nb), encoding="utf-8")
    return path


def hard_coded_0_2() -> str:
    """A lookup table of the answers to the cases that the released check (seed 0) uses."""
    exercise = REGISTRY["0.2"]
    table = {repr(case["layers"]): exercise.reference(**case) for case in exercise.cases(torch.Generator().manual_seed(0))}
    return f"TABLE = {table!r}\ndef receptive_field(layers):\n    return TABLE.get(repr(layers), 1)\n"


PROBE_ATTACKS = {  # exercise cells only (0.1 and 0.2 each carry one): graded without the whole-notebook run
    "prints": {
        "ex-0-1": WRONG_0_1.replace("    return", f"    print({PASS_LINE!r})\n    return"),
        "ex-0-2": "import sys\n" + WRONG_0_2.replace(
            "    return", "    print('0.2 receptive_field: ✓ matches the reference on 8 cases', file=sys.stderr)\n    return")},
    "displays_and_imports_the_reference": {
        "ex-0-1": "from IPython.display import display\n" + WRONG_0_1.replace("    return", f"    display({PASS_LINE!r})\n    return"),
        "ex-0-2": "import importlib\n"
                  "def receptive_field(layers):\n"
                  "    return importlib.import_module('course_lib.arithmetic').receptive_field(layers)\n"},
    "replaces_the_reference_and_hard_codes": {
        "ex-0-1": "import course_lib.arithmetic, course_lib.exercises.welcome as welcome\n" + WRONG_0_1 +
                  "course_lib.arithmetic.conv_output_size = conv_output_size\n"
                  "for exercise in welcome.EXERCISES:\n"
                  "    object.__setattr__(exercise, 'reference', conv_output_size)\n",
        "ex-0-2": hard_coded_0_2()},
    "monkeypatches_comparisons": {
        "ex-0-1": "import builtins, numpy, torch, course_lib.checks\n"
                  "torch.allclose = lambda *a, **k: True\n"
                  "torch.Tensor.__sub__ = lambda self, other: torch.zeros_like(self)\n"
                  "numpy.allclose = lambda *a, **k: True\n"
                  "builtins.abs = builtins.round = lambda *a, **k: 0\n"
                  "course_lib.checks.compare_values = lambda *a, **k: None\n"
                  "course_lib.checks.rel_error = lambda *a, **k: 0.0\n" + WRONG_0_1,
        "ex-0-2": WRONG_0_2},
    "uses_the_reference": {
        "ex-0-1": "from course_lib.arithmetic import conv_output_size as reference\n"
                  "def conv_output_size(*args, **kwargs):\n    return reference(*args, **kwargs)\n",
        "ex-0-2": "import importlib, course_lib.arithmetic\n"
                  "def receptive_field(layers):\n"
                  "    return importlib.reload(course_lib.arithmetic).receptive_field(layers)\n"},
    "loops_and_eats_memory": {
        "ex-0-1": "def conv_output_size(size, kernel_size, stride=1, padding=0, dilation=1):\n"
                  "    while True:\n        pass\n",
        "ex-0-2": "def receptive_field(layers):\n    hoard = []\n    while True:\n"
                  "        hoard.append(bytearray(50_000_000))\n"},
    "exits": {"ex-0-1": "import os\nos._exit(0)\n" + WRONG_0_1},
}


LIBRARY_FILE = ROOT / "course_lib" / "arithmetic.py"
BY_PATH = {  # what the grader cannot stop (README): loading the library's own file by path. It is flagged.
    "loads_the_library_by_path": {
        "ex-0-1": "import importlib.util\n"
                  f"_spec = importlib.util.spec_from_file_location('_mine', {str(LIBRARY_FILE)!r})\n"
                  "_mine = importlib.util.module_from_spec(_spec)\n_spec.loader.exec_module(_mine)\n"
                  "conv_output_size = _mine.conv_output_size\n"}}


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("probe-attacks")
    paths = [submission(tmp, name, sources) for name, sources in {**PROBE_ATTACKS, **BY_PATH}.items()]
    return grade(paths, tmp, "--no-notebook-run", "--timeout", "15", "--memory", "5")


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """Attacks outside the exercise cells, graded as a teacher would (the whole notebook runs too), but
    without the sandbox: the grader grades its in-memory copies and restores what the kernels wrote.
    The grader and its kernels run a copy of ``course_lib`` (first on ``PYTHONPATH``), which is the
    library that the library writer attacks: the checkout's own files are never written, not even
    for a moment while tests and notebooks beside this one read them (``make test`` runs two files
    at a time)."""
    tmp = tmp_path_factory.mktemp("full-attacks")
    installed = tmp / "installed"
    shutil.copytree(ROOT / "course_lib", installed / "course_lib", ignore=shutil.ignore_patterns("__pycache__"))
    library_file = installed / "course_lib" / "arithmetic.py"
    victim = submission(tmp, "victim", {}, base=SOLUTION)
    overwriter = tmp / "overwriter.ipynb"
    setup = next(c for c in notebooks.read(STUDENT).cells if c.get("id") == "setup").source
    paths = [
        submission(tmp, "check_edited", {"ex-0-1-check": f"print({PASS_LINE!r})"}),
        submission(tmp, "check_deleted", {"ex-0-1": WRONG_0_1}, delete=("ex-0-1-check",)),
        submission(tmp, "check_redefined", {
            "setup": setup + "\ndef check(exercise, fn):\n    print(f'{exercise} {fn.__name__}: ✓ matches')",
            "ex-0-1": WRONG_0_1 + "def check(*args):\n    print(" + repr(PASS_LINE) + ")\n"}),
        submission(tmp, "overwriter", {"setup": setup + (
            f"\nfrom pathlib import Path\nPath({str(overwriter)!r}).write_bytes(Path({str(SOLUTION)!r}).read_bytes())"
            f"\nPath({str(victim)!r}).write_text('{{}}')")}),
        submission(tmp, "library_writer", {"setup": setup + (
            f"\nfrom pathlib import Path\nPath({str(library_file)!r}).write_text("
            "'def conv_output_size(*args, **kwargs):\\n    return 0\\n'"
            "'def receptive_field(layers):\\n    return 0\\n')"), "ex-0-1": WRONG_0_1}),
        victim,
    ]
    before = {p: p.read_bytes() for p in [*paths, library_file]}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(installed), *filter(None, [os.environ.get("PYTHONPATH")])]),
           "COURSE_CACHE_DIR": str(ROOT / "datasets" / "cache")}  # the data cache the checkout's library uses
    # without the sandbox (which stops these writes: tests/test_grading_sandbox.py), the grader's own defence
    # run from the temporary folder: `python -m` puts the working folder first on sys.path, before PYTHONPATH
    completed, report = grade(paths, tmp, "--no-sandbox", "--release", ROOT / "notebooks", env=env, cwd=tmp)
    return completed, report, before, library_file


def statuses(report, name):
    return {e["exercise"]: (e["status"], e["points"], e["detail"]) for e in report[name]["exercises"]}


def test_the_released_check_would_accept_the_hard_coded_answer():
    """Attack 5 is real: on the released check's cases the lookup table passes."""
    namespace = {}
    exec(hard_coded_0_2(), namespace)
    assert verify(REGISTRY["0.2"], namespace["receptive_field"], torch.Generator().manual_seed(0))


@pytest.mark.slow
@pytest.mark.parametrize("name", PROBE_ATTACKS)
def test_no_attack_earns_a_point(probed, name):
    completed, report = probed
    assert report[name]["points"] == 0, completed.stdout
    assert report[name]["seed"] == SEED


@pytest.mark.parametrize("name,exercise", [("prints", "0.1"), ("prints", "0.2"),
                                           ("displays_and_imports_the_reference", "0.1"),
                                           ("replaces_the_reference_and_hard_codes", "0.1"),
                                           ("replaces_the_reference_and_hard_codes", "0.2"),
                                           ("monkeypatches_comparisons", "0.1")])
@pytest.mark.slow
def test_wrong_answers_fail_with_the_first_mismatch_whatever_the_kernel_prints_or_patches(probed, name, exercise):
    _, report = probed
    status, _, detail = statuses(report, name)[exercise]
    assert status == "failed" and "rel_error" in detail and detail.startswith("case "), detail


@pytest.mark.slow
@pytest.mark.parametrize("name,exercise", [("uses_the_reference", "0.1"), ("uses_the_reference", "0.2"),
                                           ("displays_and_imports_the_reference", "0.2")])
def test_delegating_to_the_reference_is_named(probed, name, exercise):
    _, report = probed
    status, _, detail = statuses(report, name)[exercise]
    assert status == "failed" and "is not available while grading" in detail, detail


@pytest.mark.slow
def test_an_endless_loop_and_endless_memory_are_stopped_and_named(probed):
    _, report = probed
    result = statuses(report, "loops_and_eats_memory")
    assert result["0.1"][0] == "timed out" and result["0.2"][0] == "out of memory", result


@pytest.mark.slow
def test_a_kernel_that_exits_is_an_error_not_a_crash_of_the_grader(probed):
    _, report = probed
    result = statuses(report, "exits")
    assert {status for status, _, _ in result.values()} == {"error"}
    assert "the kernel stopped" in result["0.1"][2]


@pytest.mark.slow
def test_tampering_with_check_cells_earns_nothing_and_is_noted(full_run):
    _, report, _, _ = full_run
    assert statuses(report, "check_edited")["0.1"][0] == "not attempted"
    assert report["check_edited"]["notes"][0] == "check cell of 0.1 was edited: restored"
    assert statuses(report, "check_deleted")["0.1"][0] == "failed"
    assert report["check_deleted"]["notes"][0] == "check cell of 0.1 was missing: restored"
    assert statuses(report, "check_redefined")["0.1"][0] == "failed"
    assert all(r["points"] == 0 for n, r in report.items() if n.startswith("check_"))


@pytest.mark.slow
def test_overwritten_submissions_are_graded_from_the_copy_and_restored(full_run):
    completed, report, before, library_file = full_run
    assert report["overwriter"]["points"] == 0
    assert report["victim"]["points"] == report["victim"]["max_points"] == 2
    for path, data in before.items():
        if path != library_file:
            assert path.read_bytes() == data, path
    changed = [line for line in completed.stderr.splitlines() if "changed on disk" in line]
    assert len(changed) == 2, completed.stderr
    assert any("changed on disk" in note for note in report["victim"]["notes"])


@pytest.mark.slow
def test_a_submission_that_rewrites_the_library_gains_nothing_and_the_file_is_restored(full_run):
    completed, report, before, library_file = full_run
    assert report["library_writer"]["points"] == 0
    assert report["victim"]["points"] == 2  # graded after or beside it: the references were in memory
    assert library_file.read_bytes() == before[library_file]  # restored by the grader
    assert f"{library_file} (the course's library) was modified during grading and is restored" in completed.stderr


@pytest.mark.slow
def test_loading_the_library_by_path_is_not_stopped_but_flagged(probed):
    """The limit the README states: a kernel can read the library's files. The cell is flagged."""
    _, report = probed
    result = {e["exercise"]: e for e in report["loads_the_library_by_path"]["exercises"]}["0.1"]
    assert result["uses"] == ["importlib.util"], result
