"""The course as a website: ``make site`` builds ``site/_build/html`` with Jupyter Book 1, offline.

One page per notebook of ``solutions/``, found in the tree and shown in the outline's order (the file
names' order: 00, 01, ..., 05a, 05b, 06, ...), so a new notebook appears without changing this
module. A page is the *executed* solution notebook with its solution regions stripped
(:func:`course_lib.grading.notebooks.strip_solutions`, as the release does) and its outputs kept,
plus a line with the fast-mode run time and a download link to the student notebook. The landing
page is ``site/index.md`` with README.md's sections filled in, so the course's story is written
once.

Executed notebooks are kept in ``site/_build/executed/`` (git-ignored), each stamped with the
SHA-256 of the solution file it was run from; a stale or missing one is executed again in fast
mode. ``make test`` never executes a notebook twice: while nbval runs a solution notebook, the
root ``conftest.py`` saves the outputs it computed with :func:`save_executed`, and the site test
(``tests/test_site.py``, run after the notebooks) builds from them.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from course_lib.config import REPO_ROOT
from course_lib.grading import notebooks
from course_lib.grading.execute import execute
from course_lib.train import LIVE_PLOT

SITE = REPO_ROOT / "site"
BUILD = SITE / "_build"
EXECUTED = BUILD / "executed"
STAGE = BUILD / "src"
PAGES = "notebooks"  # the pages' folder in the site, as in README's links (notebooks/01_fcn.ipynb)
STUDENT = "student"  # the student notebooks offered for download
SLIDES = "slides"  # the lecture decks, one reveal.js page per notebook
WIDGET = "application/vnd.jupyter.widget-view+json"


def notebook_names(solutions: Path) -> list[str]:
    """The notebooks' names (file stems) in the outline's order, which is the file names' order."""
    return sorted(path.stem for path in Path(solutions).glob("*.ipynb"))


def toc(names: list[str]) -> str:
    """Jupyter Book's ``_toc.yml``: the landing page, then one chapter per notebook."""
    if not names:
        raise ValueError("the site needs at least one notebook")
    chapters = "".join(f"  - file: {PAGES}/{name}\n" for name in names)
    return f"format: jb-book\nroot: index\nchapters:\n{chapters}"


def digest(path: Path) -> str:
    """SHA-256 of a notebook file, blind to its slide metadata (cells' ``slideshow``, RISE's ``rise``): re-annotating the
    slides (``course slides --annotate``) changes no output, so it leaves the executed copies fresh."""
    data = Path(path).read_bytes()
    try:
        nb = json.loads(data)
        nb.get("metadata", {}).pop("rise", None)
        for cell in nb.get("cells", []):
            cell.get("metadata", {}).pop("slideshow", None)
        data = json.dumps(nb, sort_keys=True, ensure_ascii=False).encode("utf-8")
    except (ValueError, AttributeError):  # not a notebook's JSON: the bytes as they are
        pass
    return hashlib.sha256(data).hexdigest()


def save_executed(nb, source: Path, seconds: float, folder: Path = EXECUTED) -> Path:
    """Store an executed copy of the solution notebook ``source``, stamped with the file's digest
    and the fast-mode run time, as ``folder/<name>.ipynb``."""
    executed = copy.deepcopy(nb)
    executed.metadata.setdefault("course", {})["site"] = {"source_sha256": digest(source),
                                                          "fast_seconds": round(seconds, 1)}
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / Path(source).name
    target.write_text(notebooks.write_text(executed), encoding="utf-8")
    return target


def load_executed(source: Path, folder: Path = EXECUTED):
    """The stored executed copy of ``source``, or None when there is none or ``source`` changed since."""
    path = folder / Path(source).name
    if not path.is_file():
        return None
    nb = notebooks.read(path)
    stamp = nb.metadata.get("course", {}).get("site", {})
    return nb if stamp.get("source_sha256") == digest(source) else None


def execute_solution(source: Path, folder: Path = EXECUTED, timeout: int = 600):
    """Run the solution notebook ``source`` in fast mode (a cell error raises) and store it."""
    nb = notebooks.read(source)
    started = time.perf_counter()
    dead = execute(nb, cwd=str(Path(source).parent), timeout=timeout, allow_errors=False)
    if dead is not None:
        raise notebooks.NotebookError(f"{Path(source).name}: the kernel died in cell {dead}")
    save_executed(nb, source, time.perf_counter() - started, folder)
    return load_executed(source, folder)


def public_notebook(executed, name: str):
    """The executed notebook as the public sees it (on the site and in the lecture decks): without its
    solutions, outputs kept.

    Progress bars are dropped (their widgets' final state is not in the outputs), and so is the loss
    plot that ``fit`` redraws while it trains (``LIVE_PLOT``; its final figure follows it).
    """
    notebooks.validate_solution(executed, name)
    public = copy.deepcopy(executed)
    for index, cell in enumerate(public.cells):
        if cell.cell_type != "code":
            continue
        cell.source = notebooks.strip_solutions(cell.source, f"{name} cell {index}")
        cell.outputs = [o for o in cell.get("outputs", []) if WIDGET not in o.get("data", {})
                        and not o.get("metadata", {}).get(LIVE_PLOT)]
    public.metadata.pop("widgets", None)
    return public


def page_notebook(executed, name: str):
    """The page of one notebook: :func:`public_notebook`, plus a note with the fast-mode run time, the
    student notebook's download link and a link to the lecture deck (``slides/<name>.html``, written
    by :mod:`course_lib.publishing.slides`) right under the title: the first markdown cell is split
    after its ``#`` title line.
    """
    page = public_notebook(executed, name)
    seconds = page.metadata.get("course", {}).pop("site", {}).get("fast_seconds")
    ran = f" This page was executed in fast mode, in {seconds:.0f} s." if seconds is not None else ""
    note = nbformat.v4.new_markdown_cell(
        f":::{{admonition}} Run it yourself\n:class: tip\nThe solutions are left out: download the student "
        f"notebook {{download}}`{name}.ipynb <../{STUDENT}/{name}.ipynb>`, fill in its exercises and "
        f"run it with `make lab`.{ran} To teach it: the <a class=\"course-slides\" href=\"../{SLIDES}/{name}.html\">"
        f"lecture slides</a>.\n:::")
    note.id = "course-site-note"
    at = 0
    if page.cells and page.cells[0].cell_type == "markdown" and page.cells[0].source.startswith("# "):
        title, _, rest = page.cells[0].source.partition("\n")
        page.cells[0].source = title
        at = 1
        if rest.strip():
            page.cells.insert(1, nbformat.v4.new_markdown_cell(rest.strip(), id="course-site-intro"))
    page.cells.insert(at, note)
    return page


def readme_section(readme: str, title: str) -> str:
    """README.md's text under ``## title`` up to its first subsection or the next section; for
    ``title == ""``, the text between the ``#`` title and the first ``##`` heading."""
    lines = readme.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    if title:
        starts = [i for i, line in enumerate(lines) if line.strip() == f"## {title}"]
        if not starts:
            raise ValueError(f"README.md has no section '## {title}'")
        lines = lines[starts[0] + 1:]
    end = next((i for i, line in enumerate(lines) if line.startswith("## ") or line.startswith("### ")),
               len(lines))
    return "\n".join(lines[:end]).strip()


def fill_landing(template: str, readme: str) -> str:
    """The landing page: each line ``{readme:TITLE}`` of ``template`` replaced by that README section."""
    filled = []
    for line in template.splitlines():
        if line.startswith("{readme:") and line.rstrip().endswith("}"):
            filled.append(readme_section(readme, line.strip()[len("{readme:"):-1]))
        else:
            filled.append(line)
    return "\n".join(filled) + "\n"


def stage(names: list[str], executed: dict, root: Path = REPO_ROOT, target: Path = STAGE) -> None:
    """Write the book's sources into ``target``: ``site/`` (config, landing page template, extension),
    the toc, the filled landing page, the pages and the student notebooks."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(root / "site", target, ignore=shutil.ignore_patterns("_build", "__pycache__"))
    (target / PAGES).mkdir()
    (target / STUDENT).mkdir()
    (target / "_toc.yml").write_text(toc(names), encoding="utf-8")
    template = (root / "site" / "index.md").read_text(encoding="utf-8")
    readme = (root / "README.md").read_text(encoding="utf-8")
    (target / "index.md").write_text(fill_landing(template, readme), encoding="utf-8")
    for name in names:
        page = page_notebook(executed[name], name)
        (target / PAGES / f"{name}.ipynb").write_text(notebooks.write_text(page), encoding="utf-8")
        student = root / "notebooks" / f"{name}.ipynb"
        if not student.is_file():
            raise FileNotFoundError(f"{student} is missing: run `course release` first")
        shutil.copy(student, target / STUDENT / student.name)


def build(root: Path = REPO_ROOT, execute_missing: bool = True, log=print) -> Path:
    """Build the site into ``root/site/_build/html``, with the lecture decks in its ``slides/``, and
    return that folder.

    Executed notebooks come from ``site/_build/executed``; a missing or stale one is executed in
    fast mode when ``execute_missing``, and is an error otherwise. Sphinx warnings fail the build.
    """
    solutions, build_dir = root / "solutions", root / "site" / "_build"
    names = notebook_names(solutions)
    executed, missing = {}, []
    folder = build_dir / "executed"
    for name in names:
        executed[name] = load_executed(solutions / f"{name}.ipynb", folder)
        if executed[name] is None:
            missing.append(name)
    if missing and not execute_missing:
        raise RuntimeError(f"no executed copy of {', '.join(missing)}: run them first (make test or make site)")
    for name in missing:
        log(f"executing {name} in fast mode")
        executed[name] = execute_solution(solutions / f"{name}.ipynb", folder)
    source = build_dir / "src"
    stage(names, executed, root, source)
    subprocess.run([sys.executable, "-c", "from jupyter_book.cli.main import main; main()",
                    "build", str(source), "--path-output",
                    str(root / "site"), "--warningiserror", "--keep-going", "--quiet"], check=True)
    from course_lib.publishing import slides  # the decks the pages link to, in html/slides/

    slides.build(names, root, build_dir / "html" / SLIDES, execute_missing=False)
    return build_dir / "html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.publishing.site", description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    html = build()
    print(f"the site is in {html}; open {html / 'index.html'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
