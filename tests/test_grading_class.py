"""A class: every solution scores full marks and every released notebook zero; `--jobs 2` and a Dask
cluster give exactly the serial scores."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # kernels and whole notebooks: `make test`, not `make check`

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
# probe runs only: nbval runs every notebook whole, and tests/test_grading.py grades notebook 00 with its whole-notebook run


def course_grade(paths, tmp_path, *options):
    report = tmp_path / f"report-{len(list(tmp_path.iterdir()))}.json"
    completed = subprocess.run([sys.executable, "-m", "course_lib.grading.cli", "grade", *map(str, paths),
                                "--json", str(report), "--seed", "2024", *options],
                               capture_output=True, text=True, timeout=1200)
    assert report.is_file(), completed.stderr
    return completed, json.loads(report.read_text())


@pytest.fixture(scope="module")
def class_results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("class")
    released = [ROOT / "notebooks" / p.name for p in SOLUTIONS]
    _, results = course_grade(SOLUTIONS + released, tmp, "--no-notebook-run", "--jobs", "2")
    return {(Path(r["submission"]).parent.name, Path(r["submission"]).name): r for r in results}


@pytest.mark.parametrize("name", [p.name for p in SOLUTIONS])
def test_every_solution_scores_full_marks_and_every_release_zero(class_results, name):
    solution, released = class_results["solutions", name], class_results["notebooks", name]
    assert solution["points"] == solution["max_points"] > 0, solution
    assert {e["status"] for e in released["exercises"]} == {"not attempted"}, released


@pytest.fixture(scope="module")
def small_class(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("small-class")
    (tmp / "broken.ipynb").write_text('{"cells": [')
    wrong = json.loads((ROOT / "notebooks" / "00_welcome.ipynb").read_text())
    for cell in wrong["cells"]:
        if cell.get("id") == "ex-0-2":
            cell["source"] = "def receptive_field(layers):\n    return len(layers)\n"
    (tmp / "wrong.ipynb").write_text(json.dumps(wrong))
    return tmp, [ROOT / "solutions" / "00_welcome.ipynb", tmp / "wrong.ipynb", tmp / "broken.ipynb"]


def _scores(results):
    return [(r["submission"], r["error"], [(e["exercise"], e["status"], e["points"], e["detail"])
                                           for e in r["exercises"]]) for r in results]


def test_jobs_and_a_dask_cluster_give_the_serial_scores(small_class):
    distributed = pytest.importorskip("distributed", reason="the cluster extra: pip install -e .[cluster]")
    tmp, paths = small_class
    serial_run, serial = course_grade(paths, tmp, "--no-notebook-run", "--jobs", "1")
    parallel_run, parallel = course_grade(paths, tmp, "--no-notebook-run", "--jobs", "2")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        dask_run, on_dask = course_grade(paths, tmp, "--no-notebook-run", "--scheduler", cluster.scheduler_address)
    assert _scores(parallel) == _scores(serial) == _scores(on_dask)
    assert [[status for _, status, _, _ in exercises] for _, _, exercises in _scores(serial)] == [
        ["passed", "passed"], ["not attempted", "failed"], []]
    for run in (serial_run, parallel_run, dask_run):
        assert run.returncode == 2
        assert [line for line in run.stderr.splitlines() if "broken.ipynb" in line] == [
            f"course grade: {tmp / 'broken.ipynb'}: " + serial[2]["error"]]


def test_a_dask_cluster_leaves_no_worker_settings_in_this_process():
    """Runs after the Dask test above, in the same process (one file stays on one process). Starting
    a LocalCluster sets Dask's worker settings in this process's environment; conftest.py puts the
    environment back after each test, so the kernels this process starts next (a notebook's, under
    ``make test``) do not inherit ``MALLOC_TRIM_THRESHOLD_=65536``, which made allocation-heavy
    cells several times slower."""
    assert os.environ.get("MALLOC_TRIM_THRESHOLD_") != "65536"
    assert os.environ.get("PYTHONHASHSEED") != "6640"
