"""Lecture mode (course_lib/publishing/slides.py): the annotator's rules, the notebooks' slide metadata,
then the static decks and RISE in headless Chromium.

The browser tests are marked ``site`` and reuse the executed copies that the site keeps
(``site/_build/executed``, saved by ``make test``'s notebook run or ``make site``); without them they
skip, like the site's tests. Each slide of every deck is measured in Chromium: reveal.js lays a slide
out at 1280×720 and scales it to the window, and a slide's content may be at most
:data:`OVERFLOW` taller than 720 px (its last lines then touch the slide number). Figures never
scroll: the deck shrinks them to fit (down to a floor) and puts one figure on a slide; long code and
printed tables scroll inside their own box. reveal.js's scroll view is not used.
"""
import copy
import os
import shutil
from pathlib import Path

import nbformat
import pytest

from course_lib.grading import notebooks
from course_lib.publishing import site, slides

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
EXECUTED = site.EXECUTED
SHOTS = site.BUILD / "screenshots" / "slides"
OVERFLOW = 0.10  # a slide may be at most 10 % taller than its 720 px
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SLIDE = {"width": slides.WIDTH, "height": slides.HEIGHT}


def _md(text, **metadata):
    return nbformat.v4.new_markdown_cell(text, metadata=metadata)


def _code(text, **metadata):
    return nbformat.v4.new_code_cell(text, metadata=metadata)


def _notebook(*cells):
    nb = nbformat.v4.new_notebook(metadata={"course": {"notebook": "99_test"}})
    nb.cells = list(cells)
    return nb


LONG = " ".join(["word"] * (slides.LONG_WORDS + 1))


def _lecture():
    check = _code('check("Z.1", f)')
    check.metadata = {"tags": [notebooks.CHECK_TAG], "course": {"exercise": "Z.1"}}
    check.id = "check-z-1"
    return _notebook(
        _md("# 99 · A title\n\nWhat you will learn."),                  # slide
        _code("from course_lib import pick, setup\n\ndevice = setup()"),  # skip: setup
        _code("import torch\nfrom torch import nn\n"),                  # skip: only imports
        _md("## A section of the outline\n\nA short explanation."),    # slide
        _code("fig, ax = plt.subplots()\nax.plot([1, 2])"),             # - : a figure under short prose
        _md("Why the figure looks like that."),                         # - : a caption under its figure
        _md("## Next\n\nText."),                                       # slide
        _code("y = 0"),                                                 # -
        _md(" ".join(["Longer"] * (slides.CAPTION_WORDS + 1))),         # subslide: prose after code
        _code("z = 0"),                                                 # -
        _md("**A lead-in.** Short."),                                   # subslide: a bold lead-in
        _code("x = 1\ny = 2"),                                          # - : short code
        _code("\n".join(f"z{i} = {i}" for i in range(slides.CODE_LINES + 1))),  # subslide: long code
        _md("### Exercise Z.1 · `f`\n\nWrite f."),                     # subslide: ###
        _code("def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION"),  # -
        check,                                                          # - : with its exercise
        _md("Hint: use the identity."),                                 # notes: a hint
        _md(LONG),                                                      # notes: long prose
        _md("$$\n" + " ".join(["a + b"] * 40) + "\n$$"),                # notes: a derivation
        _code("fig = plt.figure()", course={"slide": "fragment"}),     # a person's choice
        _md("#### A small heading"),                                    # - : deeper than ###
    )


EXPECTED = ["slide", "skip", "skip", "slide", "-", "-", "slide", "-", "subslide", "-", "subslide", "-", "subslide", "subslide", "-", "-",
            "notes", "notes", "notes", "fragment", "-"]


# --- the annotator ---------------------------------------------------------------------------------

def test_each_cell_gets_its_type_from_the_notebooks_structure():
    assert slides.slide_types(_lecture()) == EXPECTED


def test_a_long_explanation_does_not_share_its_slide_with_the_figure():
    nb = _notebook(_md("# T"), _md(" ".join(["word"] * (slides.SHOW_WORDS + 1))), _code("plt.imshow(x)"))
    assert slides.slide_types(nb) == ["slide", "-", "subslide"]


def test_a_deck_starts_with_a_slide():
    assert slides.slide_types(_notebook(_md("Some prose first."), _code("x = 1")))[0] == "slide"


def test_annotating_writes_every_cell_and_is_idempotent():
    nb = _lecture()
    assert slides.annotate(nb) == len(nb.cells)
    assert [c.metadata["slideshow"]["slide_type"] for c in nb.cells] == EXPECTED
    assert nb.metadata["rise"]["width"] == slides.WIDTH and nb.metadata["rise"]["scroll"] is True
    again = copy.deepcopy(nb)
    assert slides.annotate(again) == 0 and again == nb
    assert slides.problems(nb) == []


def test_a_persons_choice_survives_a_new_annotation():
    nb = _lecture()
    slides.annotate(nb)
    nb.cells[4].metadata["course"] = {"slide": "skip"}   # overridden by hand
    nb.cells[11].metadata["slideshow"]["slide_type"] = "notes"  # edited without the override flag
    slides.annotate(nb)
    assert nb.cells[4].metadata["slideshow"]["slide_type"] == "skip"
    assert nb.cells[11].metadata["slideshow"]["slide_type"] == "-"  # the rule again


def test_a_bad_override_is_refused_with_the_allowed_types():
    nb = _notebook(_md("# T", course={"slide": "slides"}))
    with pytest.raises(notebooks.NotebookError, match="use one of slide, subslide"):
        slides.slide_types(nb)


def test_problems_name_missing_and_invalid_types():
    nb = _lecture()
    slides.annotate(nb)
    del nb.cells[2].metadata["slideshow"]
    nb.cells[5].metadata["slideshow"]["slide_type"] = "page"
    assert slides.problems(nb) == ["cell 2: no slide_type", "cell 5: slide_type 'page'"]


def test_annotate_file_checks_without_writing(tmp_path):
    path = tmp_path / "99_test.ipynb"
    path.write_text(notebooks.write_text(_lecture()), encoding="utf-8")
    before = path.read_text(encoding="utf-8")
    assert slides.annotate_file(path, check_only=True) is True and path.read_text(encoding="utf-8") == before
    assert slides.annotate_file(path) is True
    assert slides.annotate_file(path) is False  # written: now up to date


def test_release_keeps_the_slide_metadata():
    nb = _lecture()
    slides.annotate(nb)
    student = notebooks.release(nb, "99_test")
    assert [c.metadata["slideshow"] for c in student.cells] == [c.metadata["slideshow"] for c in nb.cells]
    assert student.metadata["rise"] == nb.metadata["rise"]


def test_slide_metadata_leaves_the_executed_copies_fresh(tmp_path):
    source = tmp_path / "99_test.ipynb"
    nb = _lecture()
    source.write_text(notebooks.write_text(nb), encoding="utf-8")
    site.save_executed(nb, source, seconds=1.0, folder=tmp_path / "executed")
    slides.annotate_file(source)
    assert site.load_executed(source, tmp_path / "executed") is not None
    nb.cells[11].source = "x = 2"  # a change to a cell's code does make it stale
    source.write_text(notebooks.write_text(nb), encoding="utf-8")
    assert site.load_executed(source, tmp_path / "executed") is None


@pytest.mark.parametrize("name", site.notebook_names(SOLUTIONS))
def test_every_solution_notebook_has_complete_current_slide_metadata(name):
    """Every cell has a valid type, and the metadata is what ``course slides --annotate`` writes."""
    path = SOLUTIONS / f"{name}.ipynb"
    assert slides.problems(notebooks.read(path)) == []
    assert not slides.annotate_file(path, check_only=True), f"run `course slides --annotate {name}`"


def test_the_student_notebooks_carry_the_slide_metadata():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        solution = notebooks.read(SOLUTIONS / path.name)
        student = notebooks.read(path)
        assert [c.metadata.get("slideshow") for c in student.cells] == \
               [c.metadata.get("slideshow") for c in solution.cells], path.name


# --- what a deck is made of ------------------------------------------------------------------------

def test_a_shown_cell_keeps_its_heading_and_first_words_and_hands_hints_and_the_rest_to_the_notes():
    first = " ".join(["first"] * 40)
    second = " ".join(["second"] * 60)
    cell = _md(f"## Heading\n\n{first}\n\nHint: try this.\n\n{second}")
    shown, notes = slides.condense(cell)
    assert shown == f"## Heading\n\n{first}"
    assert notes == f"Hint: try this.\n\n{second}"
    assert slides.condense(_md(f"## Heading\n\n{LONG}")) == (f"## Heading\n\n{LONG}", "")  # one paragraph stays
    assert slides.condense(_md(f"## Summary\n\n{first}\n\n### Going further\n\n{LONG}")) == \
        (f"## Summary\n\n{first}", f"### Going further\n\n{LONG}")  # no heading without its text


def _figure(text="<Figure>"):
    return nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": text})


def test_a_deck_shows_one_figure_per_slide_and_no_code_under_a_figure():
    a, b = _code("show(a)\nshow(b)"), _code("x = 1")
    a.outputs = [_figure("a"), nbformat.v4.new_output("stream", name="stdout", text="between\n"), _figure("b")]
    a.id, b.id = "cell-a", "cell-b"
    cells = [_md("## T"), a, b]
    for cell, kind in zip(cells, ["slide", "-", "-"]):
        cell.metadata["slideshow"] = {"slide_type": kind}
    deck = slides.one_figure_per_slide(cells)
    assert [c.metadata["slideshow"]["slide_type"] for c in deck] == ["slide", "-", "subslide", "subslide"]
    assert [o.get("text") or o.data["text/plain"] for o in deck[1].outputs] == ["a", "between\n"]
    assert deck[2].outputs[0].data["text/plain"] == "b" and deck[2].metadata["transient"]["remove_source"]
    assert len({c.id for c in deck}) == 4


def test_a_deck_hides_solutions_and_progress_and_links_decks():
    nb = _lecture()
    nb.cells[5].source += " See [FCN](01_fcn.ipynb)."
    nb.cells[11].outputs = [nbformat.v4.new_output("stream", name="stderr", text="100%|####|\n")]
    assert "BEGIN SOLUTION" in nb.cells[14].source
    deck = slides.deck_notebook(nb, "99_test")
    text = "\n".join(c.source for c in deck.cells)
    assert notebooks.BEGIN not in text and "return x" not in text and "raise NotImplementedError" in text
    assert "](01_fcn.html)" in text
    assert all(o.get("name") != "stderr" for c in deck.cells if c.cell_type == "code" for o in c.outputs)


def test_the_deck_loads_nothing_from_another_host():
    html = slides.render(slides.deck_notebook(_lecture(), "99_test"), "99_test")
    import re

    loaded = re.findall(r'<(?:script|link|img)[^>]*(?:src|href)="([^"]+)"', html)
    assert loaded and all(not re.match(r"[a-z]+:", url) or url.startswith("data:") for url in loaded), loaded
    assert "reveal.js/dist/reveal.js" in loaded and "mathjax/tex-svg-full.js" in loaded


def test_course_slides_annotate_check_says_what_is_out_of_date(tmp_path, monkeypatch, capsys):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "99_test.ipynb").write_text(notebooks.write_text(_lecture()), encoding="utf-8")
    monkeypatch.setattr(slides, "REPO_ROOT", tmp_path)
    assert slides.main(["--annotate", "--check"]) == 1
    assert "99_test.ipynb" in capsys.readouterr().out
    assert slides.main(["--annotate", "solutions/99_test.ipynb"]) == 0
    assert slides.main(["--annotate", "--check"]) == 0
    assert slides.main(["98_missing"]) == 2
    assert "no solution notebook" in capsys.readouterr().err


# --- in a browser ----------------------------------------------------------------------------------

def _executed_names():
    names = site.notebook_names(SOLUTIONS)
    executed = [name for name in names if site.load_executed(SOLUTIONS / f"{name}.ipynb", EXECUTED) is not None]
    if os.environ.get("COURSE_EXECUTED_REQUIRED") == "1" and executed != names:  # make test's site step
        pytest.fail(f"no executed copy of {', '.join(sorted(set(names) - set(executed)))} (did a cell fail?)")
    return executed


def require_chromium():
    """Skip without Chromium (one line), fail under CI, as the site's browser tests do."""
    from test_site import require_chromium as required  # one rule for every browser test

    return required(CHROMIUM)


@pytest.fixture(scope="module")
def browser():
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield browser
        browser.close()


def _build(names, folder):
    if not names:
        pytest.skip("no executed notebook: run `make test` or `make site` first")
    return {path.stem: path for path in slides.build(names, ROOT, folder, execute_missing=False)}


@pytest.fixture(scope="module")
def deck_01(tmp_path_factory):
    """The deck of notebook 01 from its executed copy, in a temporary folder (a second or two)."""
    return _build([name for name in _executed_names() if name == "01_fcn"], tmp_path_factory.mktemp("slides"))["01_fcn"]


@pytest.fixture(scope="module")
def decks(tmp_path_factory):
    """The decks of every notebook that has an executed copy, in a temporary folder."""
    return _build(_executed_names(), tmp_path_factory.mktemp("decks"))


def _open(browser, deck):
    """A page on ``deck`` with every request and console error recorded; requests that are not
    ``file://`` are aborted."""
    context = browser.new_context(viewport=SLIDE)
    seen = {"requests": [], "outside": [], "errors": []}
    context.route(lambda url: not url.startswith(("file://", "data:")),
                  lambda route: (seen["outside"].append(route.request.url), route.abort()))
    page = context.new_page()
    page.on("request", lambda request: seen["requests"].append(request.url))
    page.on("console", lambda message: message.type == "error" and seen["errors"].append(message.text))
    page.on("pageerror", lambda error: seen["errors"].append(str(error)))
    page.goto(deck.as_uri())
    page.wait_for_function("window.Reveal && Reveal.isReady()")
    return context, page, seen


@pytest.mark.site
def test_the_deck_of_01_moves_with_the_arrow_keys_shows_a_figure_and_stays_offline(browser, deck_01):
    context, page, seen = _open(browser, deck_01)
    SHOTS.mkdir(parents=True, exist_ok=True)
    total = page.evaluate("Reveal.getTotalSlides()")
    assert total >= 10
    assert "01 · FCN" in page.evaluate("Reveal.getCurrentSlide().innerText")
    page.screenshot(path=SHOTS / "01_fcn-title.png")
    visited, figure_shot = [page.evaluate("Reveal.getIndices()")], None
    for _ in range(total):
        page.keyboard.press("ArrowRight" if page.evaluate("Reveal.availableRoutes().right") and
                            not page.evaluate("Reveal.availableRoutes().down") else "ArrowDown")
        visited.append(page.evaluate("Reveal.getIndices()"))
        shown = page.evaluate("""Array.from(Reveal.getCurrentSlide().querySelectorAll('img'))
                                 .filter(i => i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().height > 200).length""")
        if shown and figure_shot is None:
            figure_shot = SHOTS / "01_fcn-figure.png"
            page.screenshot(path=figure_shot)
        if page.evaluate("Reveal.isLastSlide()"):
            break
    page.screenshot(path=SHOTS / "01_fcn-last.png")
    assert len({(v["h"], v["v"]) for v in visited}) == len(visited) > 10  # every key press moved on
    assert figure_shot is not None, "no slide of deck 01 shows a figure"
    assert seen["outside"] == [] and all(url.startswith(("file://", "data:")) for url in seen["requests"])
    assert seen["errors"] == []
    assert all((SHOTS / f"01_fcn-{n}.png").stat().st_size > 10_000 for n in ("title", "figure", "last"))
    context.close()


@pytest.mark.site
@pytest.mark.slow
def test_no_slide_of_any_deck_overflows(browser, decks):
    """Every slide of every deck (of the notebooks with an executed copy) fits 720 px within OVERFLOW.
    The tallest slide of each deck is saved for a person to look at."""
    over = []
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name, deck in decks.items():
        context, page, seen = _open(browser, deck)
        # each slide in turn, every fragment shown; reading scrollHeight lays the slide out at once
        heights = page.evaluate("""() => {
            const heights = [];
            for (let index = 0; index < Reveal.getTotalSlides(); index++) {
                if (index) Reveal.next();
                while (Reveal.availableFragments().next) Reveal.nextFragment();
                heights.push([Reveal.getCurrentSlide().scrollHeight, Reveal.getIndices()]);
            }
            return heights;
        }""")
        over += [f"{name} #/{where['h']}/{where['v']}: {height} px" for height, where in heights
                 if height > slides.HEIGHT * (1 + OVERFLOW)]
        height, where = max(heights, key=lambda item: item[0])
        page.evaluate(f"Reveal.slide({where['h']}, {where['v'] or 0})")
        page.wait_for_timeout(400)  # the transition
        page.screenshot(path=SHOTS / f"{name}-tallest.png")
        assert seen["errors"] == [] and seen["outside"] == [], name
        context.close()
    assert over == []


@pytest.fixture
def lab(course_lab):
    """``course lab`` as ``make lab`` starts it (with the app exposed to the page for the test)."""
    require_chromium()
    return course_lab("--LabApp.expose_app_in_browser=True")


@pytest.mark.site
@pytest.mark.slow
def test_rise_presents_notebook_01_live_in_course_lab(browser, lab):
    """JupyterLab opens notebook 01; RISE's command ``RISE:slideshow`` opens it as a live deck whose
    first slide is the title; nothing is requested from another host."""
    url, token = lab
    context = browser.new_context(viewport=SLIDE)
    outside, errors = [], []
    context.route(lambda u: not u.startswith(url), lambda route: (outside.append(route.request.url), route.abort()))
    page = context.new_page()
    page.goto(f"{url}/lab/tree/01_fcn.ipynb?token={token}")
    page.wait_for_function("window.jupyterapp && window.jupyterapp.commands.hasCommand('RISE:slideshow')",
                           timeout=60_000)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    with context.expect_page(timeout=60_000) as opened:
        page.evaluate("window.jupyterapp.commands.execute('RISE:slideshow')")
    deck = opened.value
    deck.on("pageerror", lambda error: errors.append(str(error)))
    deck.wait_for_selector(".reveal .slides section.present", timeout=60_000)
    deck.wait_for_timeout(1500)
    SHOTS.mkdir(parents=True, exist_ok=True)
    deck.screenshot(path=SHOTS / "rise-01_fcn-first.png")
    assert "01 · FCN" in deck.inner_text(".reveal .slides section.present")
    deck.keyboard.press("ArrowRight")
    deck.wait_for_timeout(500)
    assert "01 · FCN" not in deck.inner_text(".reveal .slides section.present")
    assert outside == [] and errors == []
    context.close()
