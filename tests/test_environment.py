"""pyproject.toml and environment.yml pin the same packages; the test command is the README's."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_deps():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project["dependencies"] + [dep for extra in project["optional-dependencies"].values() for dep in extra]


def _pyproject_pins():
    return dict(dep.split("==") for dep in _pyproject_deps())


def _environment_pins():
    lines = (ROOT / "environment.yml").read_text().splitlines()
    return dict(re.match(r"\s*-\s*([A-Za-z0-9_.-]+)==(\S+)", line).groups()
                for line in lines if "==" in line)


def test_every_dependency_is_pinned_exactly():
    deps = _pyproject_deps()
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*", dep) for dep in deps), deps


def test_environment_yml_mirrors_pyproject():
    assert _environment_pins() == _pyproject_pins()


def test_torch_pins_are_the_course_versions():
    pins = _pyproject_pins()
    assert (pins["torch"], pins["torchvision"]) == ("2.14.1", "0.29.1")


def test_ci_runs_the_readme_test_command():
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.startswith(("#", "set "))]
    assert ci[-1] == "make test"
    installs = "\n".join(ci[:-1])
    for package in ("chromium", "bubblewrap"):  # the site test's browser, the grading sandbox
        assert package in installs and "apt-get install -y" in installs
    assert "make test" in (ROOT / "README.md").read_text()
