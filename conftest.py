"""pytest settings for the whole repo: notebooks are validated in fast mode, offline, by default.

The course site is built from executed notebooks, and nbval already executes every solution
notebook: the hooks below keep the outputs nbval computes for each cell (``item.test_outputs``) and,
after a notebook's last cell, save the executed notebook for the site
(:func:`course_lib.publishing.site.save_executed`) when every cell passed. Tests marked ``site``
(the site build and the browser test) run after everything else, so in one ``pytest`` run they
find the notebooks just executed instead of executing them a second time.

``make test`` runs the same tests on two processes (pytest-xdist, ``--dist loadfile``: each file, so
each notebook with its kernel, stays on one process, in order): first everything but the ``site``
tests, then those. Each process, and each kernel it starts, gets its share of the cores as torch
threads, so that two of them side by side do not oversubscribe the machine; the long files
(notebooks, files with a slow test) start first, so that no long one starts when the other process
is nearly done.
"""
import copy
import os
from pathlib import Path

import pytest

os.environ.setdefault("COURSE_MODE", "fast")
os.environ.setdefault("COURSE_OFFLINE", "1")
if os.environ.get("PYTEST_XDIST_WORKER"):  # before torch is imported; nbval's kernels inherit it
    _threads = str(max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))
    os.environ.setdefault("OMP_NUM_THREADS", _threads)
    os.environ.setdefault("MKL_NUM_THREADS", _threads)

ROOT = Path(__file__).resolve().parent
_ENVIRONMENT = dict(os.environ)  # what every test starts from (the settings above included)
_runs = {}  # notebook path -> {"nb": executed copy, "seconds": float, "passed": bool}
_file_seconds = {}  # test file or notebook -> seconds of setup, call and teardown summed
_file_spans = {}  # test file or notebook -> [first start, last stop, the xdist worker that ran it]
_site_beside_notebooks = False  # under pytest-xdist, site tests and notebooks in one run


@pytest.fixture(autouse=True)
def _environment_as_it_was():
    """Each test leaves the environment as the session began. Starting a Dask ``LocalCluster`` sets,
    in the process that starts it, Dask's environment for its workers (``MALLOC_TRIM_THRESHOLD_=65536``,
    one thread for OpenMP, MKL and OpenBLAS, ``PYTHONHASHSEED``); every kernel that process started
    afterwards inherited it, and with that trim threshold glibc hands freed memory back to the system
    at once and takes it again page by page: notebook 05a's dense-CRF cell, run after
    ``tests/test_grading_class.py`` in the same process, took 77 s instead of 10 s, most of it in
    the system's page-fault handling."""
    yield
    for name in set(os.environ) - set(_ENVIRONMENT) - {"PYTEST_CURRENT_TEST"}:  # pytest's own, removed by pytest
        del os.environ[name]
    os.environ.update(_ENVIRONMENT)


@pytest.hookimpl(trylast=True)  # after -m has deselected
def pytest_collection_modifyitems(session, config, items):
    items.sort(key=lambda item: item.get_closest_marker("site") is not None)  # stable: order kept otherwise
    if os.environ.get("PYTEST_XDIST_WORKER"):  # files in this order (--no-loadscope-reorder): the long ones first
        long = {item.path for item in items if item.path.suffix == ".ipynb" or item.get_closest_marker("slow")}
        items.sort(key=lambda item: (item.get_closest_marker("site") is not None, item.path not in long))
    global _site_beside_notebooks
    _site_beside_notebooks = bool(os.environ.get("PYTEST_XDIST_WORKER")) and any(
        item.path.parent == ROOT / "solutions" for item in items)


def pytest_runtest_setup(item):
    if _site_beside_notebooks and item.get_closest_marker("site") is not None:
        pytest.fail("with -n, the site's tests would run beside the notebooks whose executed copies they read: "
                    "run -m 'not site' first, then -m site (as make test does)", pytrace=False)


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    _file_seconds[path] = _file_seconds.get(path, 0.0) + report.duration
    node = getattr(report, "node", None)  # the xdist worker, on the controller
    span = _file_spans.setdefault(path, [report.start, report.stop, node.gateway.id if node is not None else ""])
    span[0], span[1] = min(span[0], report.start), max(span[1], report.stop)
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
    """Where the suite's time goes, per file (a notebook is one file): the slowest 15 and the total; with
    several processes, also when each of them ran and on which process (what ran beside what)."""
    if not _file_seconds:
        return
    slowest = sorted(_file_seconds.items(), key=lambda item: -item[1])[:15]
    workers = getattr(terminalreporter.config.option, "numprocesses", None)
    begin = min(start for start, _, _ in _file_spans.values())
    terminalreporter.write_sep("=", "seconds per file (the slowest 15)" + (", when and on which process" if workers else ""))
    for path, seconds in slowest:
        start, stop, worker = _file_spans[path]
        when = f"  {worker} {start - begin:5.0f}-{stop - begin:<5.0f} s" if workers else ""
        terminalreporter.write_line(f"{seconds:8.1f}{when}  {path}")
    beside = f" (run {workers} at a time: each file's seconds include sharing the cores)" if workers else ""
    terminalreporter.write_line(f"{sum(_file_seconds.values()):8.1f}  all {len(_file_seconds)} files{beside}")
