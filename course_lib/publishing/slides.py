"""Lecture mode: every notebook is also a slide deck, live in JupyterLab (RISE) and static (reveal.js).

Two parts:

* **The annotator** (``course slides --annotate``) writes ``slideshow.slide_type`` into every cell of
  the solution notebooks, derived from the notebook's structure alone, so that it can be run again
  after any edit and gives the same result (it is idempotent). The rules, in order, for one cell:

  1. a person's choice wins: ``"course": {"slide": "<type>"}`` in the cell's metadata is copied as it is;
  2. the setup cell (the first code cell, calling ``setup()``) and code cells that only import are ``skip``;
  3. a heading opens a slide: ``#`` and ``##`` a ``slide``, ``###`` a ``subslide`` (exercises are
     ``###`` headings), deeper ones continue the slide (``-``);
  4. hints (a cell starting with ``Hint``), derivations (``$$`` display maths in a cell of more than
     :data:`SHOW_WORDS` words) and long prose (more than :data:`LONG_WORDS` words) are speaker ``notes``;
  5. a check cell stays with its exercise (``-``); prose that follows code starts a ``subslide`` (a new
     idea) unless it is the caption of a figure (at most :data:`CAPTION_WORDS` words after code that
     draws, not opening with a bold lead-in); prose after prose continues;
  6. code that draws a figure shares the slide of the explanation just before it when that one is
     short (at most :data:`SHOW_WORDS` words, the figure then fits under it), else opens a ``subslide``;
     code longer than :data:`CODE_LINES` lines opens a ``subslide``; other code continues (``-``).

  The notebook also gets RISE's settings (``metadata.rise``: 1280×720, scrolling slides on).
  ``course release`` and ``course record`` keep cell metadata, so the student notebooks carry it.

* **The static decks** (``course slides [NOTEBOOK ...]``, ``make slides``): one reveal.js page per
  notebook in ``site/_build/slides/``, made from the executed copies the site keeps
  (:mod:`course_lib.publishing.site`: outputs shown, solutions hidden, as on the site). reveal.js comes
  from the pinned ``sphinx-revealjs`` package and MathJax from ``sphinx-mathjax-offline`` (the ``site``
  extra); both are copied next to the decks, so a deck opens offline from the file system. In the
  deck, a shown prose cell keeps its first paragraphs up to :data:`SHOW_WORDS` words and hands the
  rest, and any ``Hint:`` paragraph, to the speaker notes (key ``s``); figures are scaled to fit the
  slide and long code or printed tables scroll inside their box, so a slide fits 1280×720.
"""
from __future__ import annotations

import argparse
import copy
import re
import shutil
import sys
from importlib import metadata
from pathlib import Path

import nbformat

from course_lib.config import REPO_ROOT
from course_lib.grading import notebooks
from course_lib.publishing import site

TYPES = ("slide", "subslide", "fragment", "-", "skip", "notes")
OVERRIDE = "slide"  # metadata["course"]["slide"]: a person's slide type for one cell, kept as it is
LONG_WORDS = 150  # prose longer than this (and not a heading) is speaker notes
SHOW_WORDS = 90  # a deck shows this many words of one prose cell; a figure shares a slide with shorter prose
CODE_LINES = 15  # code longer than this opens its own subslide
CAPTION_WORDS = 60  # prose after code this short reads its output (a caption); longer prose opens a subslide
WIDTH, HEIGHT = 1280, 720  # the projector's slide
RISE = {"width": WIDTH, "height": HEIGHT, "scroll": True, "enable_chalkboard": False, "theme": "white"}  # white: fonts shipped, none fetched
SLIDES = site.BUILD / site.SLIDES
REVEAL = "reveal.js"  # the folder next to the decks with reveal.js's dist/ and plugin/notes/
MATHJAX = "mathjax"  # ... and MathJax's one-file TeX-to-SVG build
TEMPLATES = Path(__file__).with_name("templates")

_HEADING = re.compile(r"^(#{1,6})\s")
_LEAD_IN = re.compile(r"^\*\*[^*]+\*\*")  # "**Valid or same padding?** ...": a small heading in bold
_FIGURE = re.compile(r"\bfit\(|\btrain\w*\(|\bplt\.|\bfig\b|\baxes\b|\bviz\.|imshow\(|show_images|\.plot\(|savefig")
_NOTEBOOK_LINK = re.compile(r"\]\((\d\d[a-z]?_\w+)\.ipynb")
_IMPORT = re.compile(r"^\s*(import\s|from\s\S+\simport\s|#|$)")


# --- the annotator --------------------------------------------------------------------------------

def words(text: str) -> int:
    return len(text.split())


def heading_level(cell) -> int:
    """1 for ``# Title``, 2 for ``## Section`` ...; 0 when the cell is not markdown starting with a heading."""
    if cell.cell_type != "markdown":
        return 0
    match = _HEADING.match(cell.source.lstrip("\n"))
    return len(match.group(1)) if match else 0


def is_setup_cell(cell) -> bool:
    return cell.cell_type == "code" and "setup()" in cell.source


def only_imports(cell) -> bool:
    return cell.cell_type == "code" and all(_IMPORT.match(line) for line in cell.source.splitlines())


def draws_figure(cell) -> bool:
    return cell is not None and cell.cell_type == "code" and bool(_FIGURE.search(cell.source))


def override(cell) -> str | None:
    """A person's slide type for ``cell`` (``"course": {"slide": ...}``); a bad one raises."""
    chosen = cell.metadata.get("course", {}).get(OVERRIDE)
    if chosen is not None and chosen not in TYPES:
        raise notebooks.NotebookError(f"course.slide is {chosen!r}; use one of {', '.join(TYPES)}")
    return chosen


def slide_types(nb) -> list[str]:
    """Each cell's slide type by the rules of this module's docstring."""
    types: list[str] = []
    setup_seen = False
    for index, cell in enumerate(nb.cells):
        previous = nb.cells[index - 1] if index else None
        chosen = override(cell)
        level = heading_level(cell)
        text = cell.source.strip()
        if chosen is not None:
            kind = chosen
        elif cell.cell_type == "code" and not setup_seen and is_setup_cell(cell):
            kind = "skip"
        elif cell.cell_type == "raw" or only_imports(cell):
            kind = "skip"
        elif level:
            kind = "slide" if level <= 2 else "subslide" if level == 3 else "-"
        elif cell.cell_type == "markdown":
            if (text.lower().startswith("hint") or words(text) > LONG_WORDS
                    or ("$$" in text and words(text) > SHOW_WORDS)):
                kind = "notes"
            else:
                after_code = previous is not None and previous.cell_type == "code"
                caption = (draws_figure(previous) and words(text) <= CAPTION_WORDS
                           and not _LEAD_IN.match(text) and not notebooks.is_check_cell(previous))
                kind = "subslide" if after_code and not caption else "-"
        elif notebooks.is_check_cell(cell):
            kind = "-"
        elif draws_figure(cell):
            shared = (previous is not None and previous.cell_type == "markdown"
                      and types[-1] not in ("notes", "skip") and words(previous.source) <= SHOW_WORDS)
            kind = "-" if shared else "subslide"
        else:
            kind = "subslide" if len(cell.source.splitlines()) > CODE_LINES else "-"
        setup_seen = setup_seen or is_setup_cell(cell)
        types.append(kind)
    if types and types[0] not in ("slide", "skip"):  # a deck starts with a slide
        types[0] = "slide"
    return types


def annotate(nb) -> int:
    """Write ``slideshow.slide_type`` into every cell and RISE's settings into the notebook; return how
    many cells changed."""
    changed = 0
    for cell, kind in zip(nb.cells, slide_types(nb)):
        if cell.metadata.get("slideshow", {}).get("slide_type") != kind:
            cell.metadata.setdefault("slideshow", {})["slide_type"] = kind
            changed += 1
    nb.metadata["rise"] = dict(RISE)
    return changed


def annotate_file(path: Path, check_only: bool = False) -> bool:
    """Annotate one notebook file in place (or with ``check_only`` write nothing); True when it changed."""
    path = Path(path)
    before = path.read_text(encoding="utf-8")
    nb = notebooks.parse(before.encode("utf-8"))
    annotate(nb)
    after = notebooks.write_text(nb)
    if after != before and not check_only:
        path.write_text(after, encoding="utf-8")
    return after != before


def problems(nb) -> list[str]:
    """What makes ``nb``'s slide metadata invalid or incomplete (empty when none)."""
    found = []
    for index, cell in enumerate(nb.cells):
        kind = cell.metadata.get("slideshow", {}).get("slide_type")
        if kind not in TYPES:
            found.append(f"cell {index}: slide_type {kind!r}" if kind else f"cell {index}: no slide_type")
    shown = [c.metadata.get("slideshow", {}).get("slide_type") for c in nb.cells]
    shown = [k for k in shown if k not in ("skip", "notes")]
    if shown and shown[0] != "slide":
        found.append(f"the first shown cell is {shown[0]!r}, not a slide")
    if nb.metadata.get("rise", {}).get("width") != WIDTH:
        found.append("no RISE settings (metadata.rise)")
    return found


# --- the static decks -----------------------------------------------------------------------------

def _paragraphs(text: str) -> list[str]:
    return [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]


def condense(cell) -> tuple[str, str]:
    """A shown prose cell split into what the slide shows and what goes to the speaker notes: the
    heading and the first paragraphs up to :data:`SHOW_WORDS` words stay (at least one paragraph),
    ``Hint`` paragraphs and the rest go."""
    shown, notes, budget, closed = [], [], SHOW_WORDS, False
    for paragraph in _paragraphs(cell.source):
        if _HEADING.match(paragraph) and "\n" not in paragraph.strip():
            shown.append(paragraph)
            continue
        hint = paragraph.lstrip("*_ ").lower().startswith("hint") or "\nHint:" in paragraph
        fits = words(paragraph) <= budget or not any(not _HEADING.match(p) for p in shown)
        if not hint and not closed and fits:
            shown.append(paragraph)
            budget -= words(paragraph)
        else:
            notes.append(paragraph)
            closed = closed or not hint
    while len(shown) > 1 and _HEADING.match(shown[-1]) and notes:  # no heading left without its text
        notes.insert(0, shown.pop())
    return "\n\n".join(shown), "\n\n".join(notes)


def deck_notebook(executed, name: str, solution=None):
    """The notebook a deck is made of: :func:`site.public_notebook` of the executed copy, with the
    slide types of ``solution`` (the current solution notebook, whose slide metadata may be newer than
    the executed copy's) or, without one, the annotator's; long prose condensed into speaker notes."""
    deck = site.public_notebook(executed, name)
    source = copy.deepcopy(solution if solution is not None else executed)
    if solution is None or problems(source):
        annotate(source)
    if len(source.cells) != len(deck.cells):
        raise notebooks.NotebookError(f"{name}: the executed copy has {len(deck.cells)} cells, the notebook "
                                      f"{len(source.cells)}: run it again")
    for cell, original in zip(deck.cells, source.cells):
        cell.metadata["slideshow"] = {"slide_type": original.metadata["slideshow"]["slide_type"]}
        if cell.cell_type == "code":  # progress text (stderr) is for the person running it, not the room
            cell.outputs = [o for o in cell.outputs if o.get("name") != "stderr"]
        if cell.cell_type == "markdown":  # a link to another notebook goes to its deck
            cell.source = _NOTEBOOK_LINK.sub(r"](\1.html", cell.source)
    cells = []
    for cell in one_figure_per_slide(deck.cells):
        cells.append(cell)
        if cell.cell_type == "markdown" and cell.metadata["slideshow"]["slide_type"] not in ("skip", "notes"):
            shown, notes = condense(cell)
            if notes:
                cell.source = shown
                cells.append(nbformat.v4.new_markdown_cell(notes, metadata={"slideshow": {"slide_type": "notes"}}))
    deck.cells = cells
    deck.metadata.pop("course", None)
    return deck


def _has_figure(output) -> bool:
    return any(kind.startswith("image/") for kind in output.get("data", {}))


FIGURE_ROOM = 440  # px a figure (and its caption) needs on its slide; more above it than HEIGHT - FIGURE_ROOM moves it on


def _prose_height(text: str) -> int:
    return sum(50 if _HEADING.match(p) else 32 * (len(p) // 95 + 1) + 16 for p in _paragraphs(text))


def _text_height(text: str) -> int:  # printed text: 24 px lines, wrapped at about 100 characters, 7 at most
    return 24 * min(sum(len(line) // 100 + 1 for line in text.splitlines()), 7) + 10


def estimated_height(cell, outputs=None) -> int:
    """A rough height in px of ``cell`` on a slide (prose at 24 px, at most 6 lines of code and 7 of
    printed text, as the deck's style shows them), with ``outputs`` (default: the cell's) other than figures."""
    if cell.cell_type == "markdown":
        return _prose_height(cell.source)
    height = 0 if cell.metadata.get("transient", {}).get("remove_source") else 24 * min(len(cell.source.splitlines()), 6) + 20
    for output in cell.outputs if outputs is None else outputs:
        data = output.get("data", {})
        if _has_figure(output) or "application/vnd.jupyter.widget-view+json" in data:
            continue
        if "text/markdown" in data:
            height += _prose_height(str(data["text/markdown"]))
        else:
            height += _text_height(str(output.get("text") or data.get("text/html") and "" or data.get("text/plain", "")))
    return height


def one_figure_per_slide(cells: list) -> list:
    """A deck shows one figure per slide, and leaves it room: a code cell's second and later figures,
    and a figure with more than ``HEIGHT - FIGURE_ROOM`` px above it, move to slides of their own
    (without the code); a figure that would join a slide that already shows one, any code or prose
    longer than a caption below a figure, and a cell that would run off the slide (by
    :func:`estimated_height`) open a ``subslide``."""
    result, shown, used = [], False, 0
    for cell in cells:
        kind = cell.metadata["slideshow"]["slide_type"]
        if kind in ("slide", "subslide"):
            shown, used = False, 0
        if kind in ("skip", "notes"):
            result.append(cell)
            continue
        full = used + estimated_height(cell) > HEIGHT - 60  # a cell that would run off the slide moves on
        if cell.cell_type != "code":  # prose below a figure: a caption stays, anything longer moves on
            if kind in ("-", "fragment") and (full or (shown and words(cell.source) > CAPTION_WORDS)):
                cell.metadata["slideshow"] = {"slide_type": "subslide"}
                shown, used = False, 0
            used += estimated_height(cell)
            result.append(cell)
            continue
        if kind in ("-", "fragment") and (shown or full):  # nothing more below a figure
            cell.metadata["slideshow"] = {"slide_type": "subslide"}
            shown, used = False, 0
        used += estimated_height(cell, [])
        groups, current = [], []
        for output in cell.outputs:
            crowded = used + estimated_height(cell, current) - estimated_height(cell, []) > HEIGHT - FIGURE_ROOM
            if _has_figure(output) and (crowded or any(_has_figure(o) for o in current)):
                groups.append(current)
                current, used = [], 0
            current.append(output)
        groups.append(current)
        used += estimated_height(cell, current) - estimated_height(cell, [])  # the last part's printed outputs
        for number, outputs in enumerate(groups):
            part = cell if number == 0 else copy.deepcopy(cell)
            if number and part.get("id"):
                part.id = f"{cell.id[:60]}-{number}"
            part.outputs = outputs
            if number:
                part.metadata["transient"] = {"remove_source": True}
                part.metadata["slideshow"] = {"slide_type": "subslide"}
            shown = any(_has_figure(o) for o in outputs) or (shown and not number)
            result.append(part)
    return result


def reveal_files() -> Path:
    """reveal.js's files in the installed ``sphinx-revealjs`` package (the ``site`` extra)."""
    try:
        folder = Path(metadata.distribution("sphinx-revealjs").locate_file("sphinx_revealjs/_static/revealjs"))
    except metadata.PackageNotFoundError:
        raise RuntimeError("the decks need reveal.js from sphinx-revealjs: pip install -e .[site]") from None
    return folder


def mathjax_file() -> Path:
    """MathJax 3's TeX-to-SVG build in the installed ``sphinx-mathjax-offline`` package."""
    try:
        dist = metadata.distribution("sphinx-mathjax-offline")
    except metadata.PackageNotFoundError:
        raise RuntimeError("the decks need MathJax from sphinx-mathjax-offline: pip install -e .[site]") from None
    return Path(dist.locate_file("sphinx-mathjax-offline/static/mathjax/tex-svg-full.js"))


def copy_assets(folder: Path) -> None:
    """reveal.js (``dist/`` and the speaker-notes plugin) and MathJax next to the decks in ``folder``."""
    reveal = reveal_files()
    target = Path(folder) / REVEAL
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(reveal / "dist", target / "dist", ignore=shutil.ignore_patterns("*.map", "*.esm.js"))
    shutil.copytree(reveal / "plugin" / "notes", target / "plugin" / "notes",
                    ignore=shutil.ignore_patterns("*.esm.js"))
    shutil.copy(reveal / "LICENSE", target / "LICENSE")
    (Path(folder) / MATHJAX).mkdir(parents=True, exist_ok=True)
    shutil.copy(mathjax_file(), Path(folder) / MATHJAX / "tex-svg-full.js")


def render(deck, name: str) -> str:
    """The reveal.js HTML of ``deck`` (a notebook from :func:`deck_notebook`)."""
    from nbconvert import SlidesExporter

    exporter = SlidesExporter(template_name="course_slides", extra_template_basedirs=[str(TEMPLATES)],
                              reveal_url_prefix=REVEAL, reveal_theme="white", reveal_transition="none",
                              reveal_number="c/t", reveal_width=str(WIDTH), reveal_height=str(HEIGHT),
                              exclude_input_prompt=True, exclude_output_prompt=True, embed_images=True)
    html, _ = exporter.from_notebook_node(deck, resources={"metadata": {"name": name}})
    return html


def build(names: list[str] | None = None, root: Path = REPO_ROOT, target: Path | None = None,
          execute_missing: bool = True, log=print) -> list[Path]:
    """Write ``<target>/<name>.html`` for each notebook (default: all of ``solutions/``) and the files
    they need; return the decks' paths. Executed copies come from the site's folder; a missing or
    stale one is executed in fast mode when ``execute_missing``, and is an error otherwise."""
    solutions, folder = root / "solutions", root / "site" / "_build" / "executed"
    target = Path(target) if target is not None else root / "site" / "_build" / site.SLIDES
    names = names or site.notebook_names(solutions)
    decks = []
    for name in names:
        source = solutions / f"{name}.ipynb"
        if not source.is_file():
            raise FileNotFoundError(f"no solution notebook {source}")
        executed = site.load_executed(source, folder)
        if executed is None:
            if not execute_missing:
                raise RuntimeError(f"no executed copy of {name}: run it first (make test or make site)")
            log(f"executing {name} in fast mode")
            executed = site.execute_solution(source, folder)
        target.mkdir(parents=True, exist_ok=True)
        deck = deck_notebook(executed, name, notebooks.read(source))
        decks.append(target / f"{name}.html")
        decks[-1].write_text(render(deck, name), encoding="utf-8")
    copy_assets(target)
    return decks


def name_of(argument: str) -> str:
    """``01_fcn``, ``01_fcn.ipynb`` or ``solutions/01_fcn.ipynb`` -> ``01_fcn``."""
    return Path(argument).stem


def main(argv: list[str] | None = None) -> int:
    """``course slides``: the decks, or with ``--annotate`` the slide metadata of the solution notebooks."""
    parser = argparse.ArgumentParser(prog="course slides", description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="notebook names or paths (default: every solution notebook)")
    parser.add_argument("--annotate", action="store_true",
                        help="write slide metadata into solutions/ instead of building decks")
    parser.add_argument("--check", action="store_true",
                        help="with --annotate: write nothing, exit 1 if a notebook's slide metadata is out of date")
    args = parser.parse_args(argv)
    names = [name_of(n) for n in args.notebooks]
    if args.check and not args.annotate:
        parser.error("--check goes with --annotate")
    if args.annotate:
        paths = [REPO_ROOT / "solutions" / f"{n}.ipynb" for n in names] or sorted((REPO_ROOT / "solutions").glob("*.ipynb"))
        changed = [p.name for p in paths if annotate_file(p, check_only=args.check)]
        if args.check and changed:
            print("slide metadata out of date (run `course slides --annotate`): " + ", ".join(changed))
            return 1
        print(("checked" if args.check else "annotated") + f": {len(changed)} notebook(s) "
              + ("differ" if args.check else "changed") + (": " + ", ".join(changed) if changed else ""))
        return 0
    try:
        decks = build(names)
    except (RuntimeError, FileNotFoundError, notebooks.NotebookError) as error:
        print(f"course slides: {error}", file=sys.stderr)
        return 2
    print(f"{len(decks)} deck(s) in {decks[0].parent if decks else SLIDES}; open one in a browser (offline)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
