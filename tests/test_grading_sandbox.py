"""`course grade --sandbox`: crafted submissions of notebook 00 that attack the grading machine from
inside a kernel. Each attack must fail, change nothing outside the sandbox, and still let the
submission's correct answers score; serial, with `--jobs 2` and on a Dask cluster."""
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

import course_lib
from course_lib.grading import notebooks, sandbox
from course_lib.grading.cli import use_sandbox
from welcome_notebook import TOUR

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "00_welcome.ipynb"
LIBRARY = Path(course_lib.__file__).resolve().parent  # the installed files, wherever they are
REASON = sandbox.unavailable_reason()
needs_bwrap = pytest.mark.skipif(REASON is not None and os.environ.get("CI") != "true",
                                 reason=f"bubblewrap not available here ({REASON})")


def attacks(home: Path, victim: Path, port: int, marker: str) -> dict[str, tuple[str, str]]:
    """Attack name -> (code run after the correct answer in exercise 0.1's cell, the error that the
    whole-notebook run must report for it, or "" where the attack raises nothing)."""
    return {
        "deletes_home_file": (f"import os\nos.remove({str(home / 'precious.txt')!r})", "FileNotFoundError"),
        "writes_library": (f"open({str(LIBRARY / 'arithmetic.py')!r}, 'a').write('x = 1\\n')",
                           "OSError: [Errno 30] Read-only file system"),
        "reads_other_submission": (f"print(open({str(victim)!r}).read()[:200])", "FileNotFoundError"),
        "connects": (f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=5)",
                     "ConnectionRefusedError"),
        "raises_memory_limit": ("import resource\n"
                                "resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY,) * 2)",
                                "ValueError: not allowed to raise maximum limit"),
        "outlives_kernel": ("import subprocess, sys\n"
                            f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', {marker!r}],"
                            " start_new_session=True)", ""),
    }


def attack_submission(folder: Path, name: str, code: str) -> Path:
    """Solution 00 (full marks) without its TOUR cells, with ``code`` appended to exercise 0.1's cell."""
    nb = notebooks.read(SOLUTION)
    nb.cells = [c for c in nb.cells if c.get("id") not in TOUR]
    cell = next(c for c in nb.cells if c.get("id") == "ex-0-1")
    cell.source += "\n" + code
    path = folder / f"{name}.ipynb"
    path.write_text(notebooks.write_text(nb), encoding="utf-8")
    return path


def fingerprint(*folders: Path) -> dict[str, str]:
    """sha256 of every file under ``folders`` (compiled caches aside: the grader writes those)."""
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for folder in folders for p in sorted(folder.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


class Listener:
    """A TCP server on 127.0.0.1 that counts the connections it accepts."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port, self.accepted, self.running = self.server.getsockname()[1], 0, True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                self.server.accept()[0].close()
                self.accepted += 1
            except socket.timeout:
                pass

    def close(self):
        self.running = False
        self.thread.join()
        self.server.close()


def survivors(marker: str, wait: float = 5.0) -> list[int]:
    """PIDs whose command line holds ``marker`` after up to ``wait`` seconds (then they are killed)."""
    deadline = time.monotonic() + wait
    while True:
        found = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
        if not found or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    for pid in found:
        os.kill(pid, 9)
    return found


def course_grade(paths, report: Path, env: dict, *options) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "course_lib.grading.cli", "grade", *map(str, paths),
                           "--json", str(report), "--seed", "99", *options],
                          capture_output=True, text=True, timeout=900, env=env)


@pytest.fixture(scope="module", params=["serial", "jobs2", "dask"])
def attacked(request, tmp_path_factory):
    """One grading of the six attacks and an honest victim beside them, by ``request.param``. The
    instructor's home is a temporary folder (``HOME``) holding a file to delete."""
    mode = request.param
    if mode == "dask":
        pytest.importorskip("distributed", reason="the cluster extra: pip install -e .[cluster]")
    tmp = tmp_path_factory.mktemp(f"sandbox-{mode}")
    home, folder = tmp / "home", tmp / "class"
    (home / ".ssh").mkdir(parents=True)
    (home / "precious.txt").write_text("a year of lecture notes\n")
    (home / ".ssh" / "id_ed25519").write_text("not a real key\n")
    folder.mkdir()
    victim = attack_submission(folder, "victim", "")
    listener, marker = Listener(), f"course-sandbox-test-{uuid.uuid4().hex}"
    crafted = attacks(home, victim, listener.port, marker)
    paths = [attack_submission(folder, name, code) for name, (code, _) in crafted.items()] + [victim]
    env = {**os.environ, "HOME": str(home)}
    before = fingerprint(home, folder, LIBRARY)
    try:
        if mode == "serial":  # the whole notebook runs too: its notes name each attack's error
            completed = course_grade(paths, tmp / "report.json", env, "--jobs", "1")
        elif mode == "jobs2":
            completed = course_grade(paths, tmp / "report.json", env, "--jobs", "2", "--no-notebook-run")
        else:
            from distributed import LocalCluster

            with pytest.MonkeyPatch.context() as patch:  # the workers inherit the instructor's HOME
                patch.setenv("HOME", str(home))
                with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
                    completed = course_grade(paths, tmp / "report.json", env, "--no-notebook-run",
                                             "--scheduler", cluster.scheduler_address)
    finally:
        listener.close()
        alive = survivors(marker)
    after = fingerprint(home, folder, LIBRARY)
    assert (tmp / "report.json").is_file(), completed.stderr
    report = {Path(r["submission"]).stem: r for r in json.loads((tmp / "report.json").read_text())}
    return {"mode": mode, "completed": completed, "report": report, "before": before, "after": after,
            "accepted": listener.accepted, "survivors": alive, "errors": {n: e for n, (_, e) in crafted.items()}}


@needs_bwrap
@pytest.mark.slow
def test_every_file_outside_the_sandbox_is_unchanged(attacked):
    before, after = attacked["before"], attacked["after"]
    assert sorted(before) == sorted(after), set(before) ^ set(after)
    assert [path for path in before if before[path] != after[path]] == []
    stderr = attacked["completed"].stderr
    assert "modified during grading" not in stderr and "changed on disk" not in stderr, stderr  # nothing restored


@needs_bwrap
@pytest.mark.slow
def test_no_connection_reaches_the_listener_and_no_process_outlives_its_kernel(attacked):
    assert attacked["accepted"] == 0
    assert attacked["survivors"] == []


@needs_bwrap
@pytest.mark.slow
def test_the_correct_answers_of_every_attacker_still_score(attacked):
    report = attacked["report"]
    assert sorted(report) == sorted([*attacked["errors"], "victim"])
    for name, result in report.items():
        assert result["points"] == result["max_points"] == 2, (name, result["exercises"])
        assert result["sandboxed"] is True


@needs_bwrap
@pytest.mark.slow
@pytest.mark.parametrize("attacked", ["serial"], indirect=True)  # the one grading with the whole-notebook run
@pytest.mark.parametrize("name", ["deletes_home_file", "writes_library", "reads_other_submission", "connects",
                                  "raises_memory_limit"])
def test_each_attack_fails_inside_the_kernel(attacked, name):
    """The whole-notebook run reports the error each attack met in the sandbox."""
    notes = attacked["report"][name]["notes"]
    expected = attacked["errors"][name]
    assert len(notes) == 1 and f"raised {expected}" in notes[0], notes


# --- where bubblewrap is missing ----------------------------------------------------------------------------------

def test_without_bubblewrap_the_grader_says_so_in_one_line_and_goes_on(monkeypatch, capsys):
    monkeypatch.setattr(sandbox, "unavailable_reason", lambda: "bwrap is not installed")
    assert use_sandbox(None, None) is False
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["course grade: bubblewrap not available (bwrap is not installed): kernels run with your "
                     'user rights; see README, "Grading untrusted submissions"']
    with pytest.raises(sandbox.SandboxUnavailable, match="bwrap is not installed"):
        use_sandbox(True, None)
    assert use_sandbox(False, None) is False and capsys.readouterr().err == ""


@pytest.mark.slow  # the command's start alone takes about 5 s
def test_a_requested_sandbox_that_cannot_work_is_an_error_before_any_grading(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}  # no bwrap on it
    completed = course_grade([SOLUTION], tmp_path / "report.json", env, "--sandbox")
    assert completed.returncode == 2
    assert completed.stderr.strip() == ("course grade: --sandbox: bubblewrap not available: bwrap is not installed "
                                        "(Debian/Ubuntu: apt-get install bubblewrap)")
    assert not (tmp_path / "report.json").exists()


@pytest.mark.slow
def test_without_bubblewrap_grading_runs_unsandboxed_and_the_report_says_so(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}
    completed = course_grade([ROOT / "notebooks" / "00_welcome.ipynb"], tmp_path / "report.json", env,
                             "--no-notebook-run", "--jobs", "1")
    assert completed.returncode == 0, completed.stderr
    assert [line for line in completed.stderr.splitlines() if "bubblewrap" in line] == [
        "course grade: bubblewrap not available (bwrap is not installed (Debian/Ubuntu: apt-get install "
        'bubblewrap)): kernels run with your user rights; see README, "Grading untrusted submissions"']
    assert f"warning: {sandbox.NOT_SANDBOXED}" in completed.stdout.splitlines()
    assert json.loads((tmp_path / "report.json").read_text())[0]["sandboxed"] is False


def test_a_sandboxed_kernel_gets_no_secret_of_the_graders_environment():
    env = sandbox.environment({"PATH": "/usr/bin", "COURSE_MODE": "fast", "LC_ALL": "C", "AWS_SECRET_ACCESS_KEY": "x",
                               "GITHUB_TOKEN": "y", "OMP_NUM_THREADS": "1"})
    assert env == {"PATH": "/usr/bin", "COURSE_MODE": "fast", "LC_ALL": "C", "OMP_NUM_THREADS": "1"}
