"""Publishing (the site and the slides) sits on the top floor beside grading: it may use any layer,
and nothing below the top floor imports it. (``../shared/tools/check_layers.py`` checks the layers
it knows; it does not know ``publishing``.)"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "course_lib"
TOP_FLOOR = {"grading", "publishing"}


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return modules


def test_only_the_top_floor_imports_publishing():
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        room = path.relative_to(ROOT).parts[0]
        if room in TOP_FLOOR:
            continue
        offenders += [f"{path.relative_to(ROOT)} imports {module}" for module in imported_modules(path)
                      if module == "course_lib.publishing" or module.startswith("course_lib.publishing.")]
    assert offenders == []


def test_the_check_sees_an_import_of_publishing(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from course_lib.publishing import site\n")
    assert "course_lib.publishing.site" in imported_modules(module)
