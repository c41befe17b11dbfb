"""The README's plain-pip path, followed from a fresh clone: a new virtual environment, `pip install -e .`,
then `course --help` and one fast notebook check, all with that environment's Python and no `make`.

The new environment reuses the packages of the one running the tests (a ``.pth`` file naming its
site-packages), so the test installs nothing from the network: it checks the course's own packaging
(pyproject, entry point, package data) and that nothing needs `make` or a Unix shell.
"""
import shutil
import site
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # kernels and whole notebooks: `make test`, not `make check`

ROOT = Path(__file__).resolve().parents[1]


def _run(args, **kwargs):
    completed = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600, **kwargs)
    assert completed.returncode == 0, f"{args}:\n{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}"
    return completed.stdout


@pytest.fixture(scope="module")
def fresh_install(tmp_path_factory):
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout to clone from")
    base = tmp_path_factory.mktemp("without-make")
    clone, env = base / "clone", base / "env"
    _run([git, "clone", "-q", ROOT, clone])
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    purelib = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip())
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()}
    (purelib / "zz_course_test_parent.pth").write_text("\n".join(sorted(ours)) + "\n")  # after the env's own
    _run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "-e", clone])
    return clone, python


def test_pip_install_makes_the_course_command(fresh_install):
    clone, python = fresh_install
    where = _run([python, "-c", "import course_lib; print(course_lib.__file__)"], cwd=clone.parent).strip()
    assert Path(where).resolve().is_relative_to(clone.resolve()), where
    scripts = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['scripts'])"]).strip())
    course = scripts / ("course.exe" if sys.platform == "win32" else "course")
    usage = _run([course, "--help"], cwd=clone.parent)
    assert "release" in usage and "grade" in usage


def test_a_notebook_validates_in_the_new_environment(fresh_install):
    clone, python = fresh_install
    out = _run([python, "-m", "pytest", "-q", "solutions/00_welcome.ipynb"], cwd=clone)
    assert " passed" in out and "failed" not in out, out
