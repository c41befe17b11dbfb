"""pytest settings for the whole repo: notebooks are validated in fast mode, offline, by default.

The course site is built from executed notebooks, and nbval already executes every solution
notebook: the hooks below keep the outputs nbval computes for each cell (``item.test_outputs``) and,
after a notebook's last cell, save the executed notebook for the site
(:func:`course_lib.publishing.site.save_executed`) when every cell passed. Tests marked ``site``
(the site build and the browser test) run after everything else, so in one ``pytest`` run they
find the notebooks just executed instead of executing them a second time.
"""
import copy
import os
from pathlib import Path

os.environ.setdefault("COURSE_MODE", "fast")
os.environ.setdefault("COURSE_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent
_runs = {}  # notebook path -> {"nb": executed copy, "seconds": float, "passed": bool}
_file_seconds = {}  # test file or notebook -> seconds of setup, call and teardown summed


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=lambda item: item.get_closest_marker("site") is not None)  # stable: order kept otherwise


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    _file_seconds[path] = _file_seconds.get(path, 0.0) + report.duration
    run = _runs.get(path)
    if run is not None:
        run["seconds"] += report.duration
        run["passed"] &= not report.failed


def pytest_runtest_makereport(item, call):
    if not hasattr(item, "cell_num"):  # not an nbval cell
        return
    path = item.nodeid.split("::")[0]
    run = _runs.setdefault(path, {"nb": copy.deepcopy(item.parent.nb), "seconds": 0.0, "passed": True})
    outputs = getattr(item, "test_outputs", None)  # None when the cell did not run (skipped)
    if call.when == "call" and outputs is not None:
        [c for c in run["nb"].cells if c.cell_type == "code"][item.cell_num].outputs = copy.deepcopy(outputs)


def pytest_runtest_teardown(item, nextitem):
    if not hasattr(item, "cell_num") or (nextitem is not None and nextitem.parent is item.parent):
        return
    run = _runs.pop(item.nodeid.split("::")[0], None)
    if run is not None and run["passed"] and item.path.parent == ROOT / "solutions":
        from course_lib.publishing.site import save_executed

        save_executed(run["nb"], item.path, run["seconds"], ROOT / "site" / "_build" / "executed")


def pytest_terminal_summary(terminalreporter):
    """Where the suite's time goes, per file (a notebook is one file): the slowest 15 and the total."""
    if not _file_seconds:
        return
    slowest = sorted(_file_seconds.items(), key=lambda item: -item[1])[:15]
    terminalreporter.write_sep("=", "seconds per file (the slowest 15)")
    for path, seconds in slowest:
        terminalreporter.write_line(f"{seconds:8.1f}  {path}")
    terminalreporter.write_line(f"{sum(_file_seconds.values()):8.1f}  all {len(_file_seconds)} files")
