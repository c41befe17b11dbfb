"""The course site (course_lib/publishing/site.py): its pure parts, then the built site in headless Chromium.

The browser tests are marked ``site``: the root conftest.py runs them after the notebooks, whose
executed copies nbval saved on its way, so ``make test`` builds the site without executing a
notebook twice. Run alone (``pytest tests/test_site.py``) they use the executed copies of an earlier
run or ``make site``, and are skipped when there are none.
"""
import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path

import nbformat
import pytest
import yaml

from course_lib.grading import notebooks
from course_lib.publishing import site
from course_lib.train import LIVE_PLOT
from course_lib.grading.execute import stdout_of

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# make test's second step (the site's tests) sets it: its first step ran every notebook, so an executed copy
# that is missing is an error, not a reason to skip
EXECUTED_REQUIRED = os.environ.get("COURSE_EXECUTED_REQUIRED") == "1"
DESKTOP, PHONE = {"width": 1280, "height": 800}, {"width": 390, "height": 844}


def _notebook(*cells):
    nb = nbformat.v4.new_notebook(metadata={"course": {"notebook": "99_test"}})
    nb.cells = list(cells)
    return nb


def _solution_cell():
    cell = nbformat.v4.new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n\nprint(f(1))")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="2\n"),
                    nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"},
                                           metadata={LIVE_PLOT: True}),  # fit's first drawing, as nbval saves it
                    nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}),
                    nbformat.v4.new_output("display_data", data={site.WIDGET: {"model_id": "abc"}, "text/plain": "0%"})]
    return cell


def _check_cell(exercise="Z.1"):
    cell = nbformat.v4.new_code_cell(f'check("{exercise}", f)', id=f"check-{exercise.replace('.', '-')}",
                                     metadata={"tags": [notebooks.CHECK_TAG], "course": {"exercise": exercise}})
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"{exercise} f: ✓ matches the reference on 3 cases\n")]
    return cell


# --- the pure parts ---------------------------------------------------------------------------

def test_notebooks_come_in_the_outline_order(tmp_path):
    for name in ["10_b", "05b_y", "06_v", "00_w", "05a_z", "11_c"]:
        (tmp_path / f"{name}.ipynb").write_text("{}")
    names = site.notebook_names(tmp_path)
    assert names == ["00_w", "05a_z", "05b_y", "06_v", "10_b", "11_c"]
    toc = yaml.safe_load(site.toc(names))
    assert toc["root"] == "index"
    assert [chapter["file"] for chapter in toc["chapters"]] == [f"notebooks/{name}" for name in names]


def test_a_toc_needs_a_notebook():
    with pytest.raises(ValueError, match="at least one notebook"):
        site.toc([])


def test_a_page_keeps_the_outputs_and_drops_the_solutions():
    title = nbformat.v4.new_markdown_cell("# 99 · A test\n\n**Time to run:** 1 s.")
    executed = _notebook(title, _solution_cell(), _check_cell())
    page = site.page_notebook(executed, "99_test")
    sources = [cell.source for cell in page.cells]
    assert sources[0] == "# 99 · A test"
    assert "{download}`99_test.ipynb <../student/99_test.ipynb>`" in sources[1]
    assert 'href="../slides/99_test.html"' in sources[1]  # the lecture deck
    assert sources[2] == "**Time to run:** 1 s."
    code = [cell for cell in page.cells if cell.cell_type == "code"]
    released = [cell for cell in notebooks.release(executed, "99_test").cells if cell.cell_type == "code"]
    assert [cell.source for cell in code] == [cell.source for cell in released]  # what the release strips
    assert "return 2 * x" not in code[0].source and "raise NotImplementedError" in code[0].source
    assert [o.get("text") or sorted(o.data) for o in code[0].outputs] == ["2\n", ["image/png", "text/plain"]]
    assert code[1].outputs == executed.cells[2].outputs
    assert executed.cells[1].outputs[3].data[site.WIDGET]  # the executed notebook is not changed


def test_a_page_says_how_long_fast_mode_took(tmp_path):
    source = tmp_path / "99_test.ipynb"
    nb = _notebook(nbformat.v4.new_markdown_cell("# 99 · A test"), _solution_cell(), _check_cell())
    source.write_text(notebooks.write_text(nb))
    site.save_executed(nb, source, seconds=42.4, folder=tmp_path / "executed")
    page = site.page_notebook(site.load_executed(source, tmp_path / "executed"), "99_test")
    assert "executed in fast mode, in 42 s." in page.cells[1].source
    assert "site" not in page.metadata["course"]


def test_a_page_with_a_broken_solution_region_is_refused():
    cell = nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1")
    with pytest.raises(notebooks.NotebookError, match="without ### END SOLUTION"):
        site.page_notebook(_notebook(cell), "99_test")


def test_an_executed_copy_is_stale_once_its_notebook_changes(tmp_path):
    source = tmp_path / "99_test.ipynb"
    nb = _notebook(_check_cell())
    source.write_text(notebooks.write_text(nb))
    assert site.load_executed(source, tmp_path) is None  # none yet
    site.save_executed(nb, source, seconds=1.0, folder=tmp_path / "executed")
    assert site.load_executed(source, tmp_path / "executed").cells[0].outputs == nb.cells[0].outputs
    source.write_text(notebooks.write_text(_notebook(_check_cell(), _check_cell("Z.2"))))
    assert site.load_executed(source, tmp_path / "executed") is None


def test_the_landing_page_tells_the_readme_story():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    landing = site.fill_landing((ROOT / "site" / "index.md").read_text(encoding="utf-8"), readme)
    assert not [line for line in landing.splitlines() if line.startswith("{readme:")]
    assert "make lab" in landing and "make test" in landing
    assert "Without make" not in landing  # a subsection of Quick start stays in the README
    intro = readme.split("\n## ")[0].split("\n", 1)[1].strip()
    assert intro in landing
    rows = [line for line in readme.splitlines() if re.match(r"\| \d\d[a-z]? \|", line)]
    assert len(rows) >= 12 and all(row in landing for row in rows)


def test_a_missing_readme_section_is_named():
    with pytest.raises(ValueError, match="no section '## Nowhere'"):
        site.fill_landing("{readme:Nowhere}", "# T\n\n## Quick start\ntext\n")


def test_without_chromium_the_browser_tests_skip_outside_ci_and_fail_under_ci():
    assert require_chromium("/usr/bin/chromium", {"CI": "true"}) == "/usr/bin/chromium"
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        require_chromium(None, {})
    with pytest.raises(pytest.skip.Exception):
        require_chromium(None, {"CI": "false"})
    for ci in ("true", "1"):
        with pytest.raises(pytest.fail.Exception, match="CI needs Chromium"):
            require_chromium(None, {"CI": ci})


# --- the built site in a browser --------------------------------------------------------------

@pytest.fixture(scope="module")
def html(request):
    names = site.notebook_names(SOLUTIONS)
    missing = [n for n in names if site.load_executed(SOLUTIONS / f"{n}.ipynb") is None]
    ran = {Path(str(item.path)).stem for item in request.session.items
           if Path(str(item.path)).parent == SOLUTIONS} | (set(names) if EXECUTED_REQUIRED else set())
    if missing and not set(missing) & ran:
        pytest.skip(f"no executed copy of {', '.join(missing)}: run `make test` or `make site` first")
    if missing:
        pytest.fail(f"nbval ran {', '.join(sorted(set(missing) & ran))} but saved no executed copy "
                    f"(did a cell fail?)")
    return site.build(execute_missing=False)


def require_chromium(chromium: str | None, environ=os.environ) -> str:
    """The browser to drive. Without one, the browser tests skip with one line that says how to run
    them, except under CI (``CI=true``), where they are required and fail."""
    if chromium is not None:
        return chromium
    how = "apt-get install -y chromium, then pytest -m site tests/test_site.py"
    if environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"CI needs Chromium for the site's browser tests ({how}; .ci/run installs it)")
    pytest.skip(f"no Chromium here, the site's browser tests are skipped ({how})")


@pytest.fixture(scope="module")
def browser():
    chromium = require_chromium(CHROMIUM)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(html):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=html))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}/"
    httpd.shutdown()


@pytest.fixture(scope="module")
def visits(browser, server):
    """Every page, reached from the landing page's navigation: what it requested, which requests
    failed, its console errors, its text, its loaded figures and its download links."""
    context = browser.new_context(viewport=DESKTOP)
    outside, failed, errors = [], [], []
    context.route(lambda url: not url.startswith(server), lambda route: (outside.append(route.request.url),
                                                                         route.abort()))
    page = context.new_page()
    page.on("requestfailed", lambda request: failed.append(f"{request.url}: {request.failure}"))
    page.on("response", lambda response: response.status >= 400 and failed.append(f"{response.url}: {response.status}"))
    page.on("console", lambda message: message.type == "error" and errors.append(f"{page.url}: {message.text}"))
    page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
    result = {}
    for path in ["index.html", None]:
        if path is None:
            nav = page.eval_on_selector_all("nav.bd-docs-nav a", "links => links.map(a => a.href)")
            for url in dict.fromkeys(u.split("#")[0] for u in nav):
                result[url.removeprefix(server)] = _visit(page, url)
        else:
            result[path] = _visit(page, server + path)
    context.close()
    return {"pages": result, "outside": outside, "failed": failed, "errors": errors, "server": server}


def _visit(page, url):
    page.goto(url, wait_until="networkidle")
    return {
        "text": page.inner_text("main"),
        "figures": page.eval_on_selector_all(".cell_output img", "imgs => imgs.filter(i => i.complete && i.naturalWidth > 0).length"),
        "extents": _figure_extents(page),
        "downloads": [(Path(href).name, page.request.get(href).body())
                      for href in page.eval_on_selector_all("a.download", "links => links.map(a => a.href)")],
        "slides": [(Path(href).name, page.request.get(href).status)
                   for href in page.eval_on_selector_all("a.course-slides", "links => links.map(a => a.href)")],
    }


def _figure_extents(page) -> list[tuple[float, float]]:
    """(left, right) in px of each figure of the page's outputs."""
    return page.eval_on_selector_all(".cell_output img", "imgs => imgs.map(i => [i.getBoundingClientRect().left, "
                                                          "i.getBoundingClientRect().right])")


@pytest.mark.site
def test_no_request_leaves_the_site_and_none_fails(visits):
    assert visits["outside"] == []
    assert visits["failed"] == []


@pytest.mark.site
def test_no_page_logs_a_console_error(visits):
    assert visits["errors"] == []


@pytest.mark.site
def test_the_navigation_reaches_every_notebook(visits):
    reached = [path for path in visits["pages"] if path.startswith("notebooks/")]
    assert reached == [f"notebooks/{name}.html" for name in site.notebook_names(SOLUTIONS)]


@pytest.mark.site
@pytest.mark.parametrize("name", site.notebook_names(SOLUTIONS))
def test_a_notebook_page_shows_figures_checks_no_solution_and_links_its_deck(visits, name):
    page = visits["pages"][f"notebooks/{name}.html"]
    solution = notebooks.read(SOLUTIONS / f"{name}.ipynb")
    assert page["figures"] >= 1
    for cell in notebooks.check_cells(solution):
        assert stdout_of(cell).strip() in page["text"], f"{name}: check line {stdout_of(cell)!r} not shown"
    assert notebooks.BEGIN not in page["text"]
    assert "executed in fast mode, in" in page["text"]
    assert page["downloads"] == [(f"{name}.ipynb", (ROOT / "notebooks" / f"{name}.ipynb").read_bytes())]
    assert page["slides"] == [(f"{name}.html", 200)]  # its lecture deck, in the site's slides/


@pytest.mark.site
def test_screenshots_for_a_person_to_look_at(browser, server):
    """The landing page and two notebook pages at desktop and phone width, into site/_build/screenshots."""
    names = site.notebook_names(SOLUTIONS)
    folder = site.BUILD / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    shots = []
    for size, viewport in [("desktop", DESKTOP), ("phone", PHONE)]:
        page = browser.new_page(viewport=viewport)
        for path in ["index.html", f"notebooks/{names[1]}.html", f"notebooks/{names[-1]}.html"]:
            page.goto(server + path, wait_until="networkidle")
            shots.append(folder / f"{Path(path).stem}-{size}.png")
            page.screenshot(path=shots[-1])
            if path != "index.html" and page.locator(".cell_output img").count():
                page.locator(".cell_output img").first.scroll_into_view_if_needed()
                shots.append(folder / f"{Path(path).stem}-{size}-figure.png")
                page.screenshot(path=shots[-1])
        page.close()
    assert all(shot.stat().st_size > 10_000 for shot in shots)


@pytest.mark.site
def test_no_figure_is_cut_off_at_desktop_or_phone_width(browser, visits):
    """Every figure of every notebook page lies inside the window, at desktop and at phone width
    (a figure wider than the page must shrink, not run off its edge or into a scroll box)."""
    names = site.notebook_names(SOLUTIONS)
    extents = {("desktop", name): visits["pages"][f"notebooks/{name}.html"]["extents"] for name in names}
    page = browser.new_page(viewport=PHONE)
    for name in names:
        page.goto(f"{visits['server']}notebooks/{name}.html", wait_until="load")  # every figure loaded
        extents["phone", name] = _figure_extents(page)
    page.close()
    width = {"desktop": DESKTOP["width"], "phone": PHONE["width"]}
    cut_off = [f"{size} {name}: figure {i} spans {left:.0f}-{right:.0f} px of {width[size]}"
               for (size, name), spans in extents.items() for i, (left, right) in enumerate(spans)
               if left < -1 or right > width[size] + 1]
    assert cut_off == []
