"""``course grade --report DIR``: a feedback page per submission and a class page with two figures.

Pages are plain HTML with the figures embedded as base64 PNGs, so DIR can be mailed or copied as
it is. Every learner-controlled text is escaped.
"""
from __future__ import annotations

import base64
import io
import re
from html import escape
from pathlib import Path

from course_lib.grading.grade import PASSED, STATUSES, SubmissionResult, flags
from course_lib.grading.sandbox import NOT_SANDBOXED

STYLE = """<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.passed { background: #e3f6e3; } td.failed, td.error { background: #fbe3e3; }
td.timed-out, td.out-of-memory { background: #fdf0d8; } td.not-attempted { background: #eee; }
img { max-width: 48%; margin-right: 1%; }
</style>"""


def _page(title: str, body: str) -> str:
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
            f"{STYLE}</head>\n<body>\n<h1>{escape(title)}</h1>\n{body}\n</body></html>\n")


def _css(status: str) -> str:
    return status.replace(" ", "-")


def feedback_names(results: list[SubmissionResult]) -> list[str]:
    """The feedback file of each submission: its file name, made safe and unique, with ``.html``."""
    names, seen = [], set()
    for result in results:
        stem = re.sub(r"[^A-Za-z0-9._-]", "_", Path(result.submission).stem)
        name, n = f"{stem}.html", 1
        while name in seen:
            n += 1
            name = f"{stem}-{n}.html"
        seen.add(name)
        names.append(name)
    return names


def feedback(result: SubmissionResult) -> str:
    """One learner's page: each exercise's status, points and the first problem."""
    if result.error:
        return _page(f"Feedback: {Path(result.submission).name}",
                     f"<p>This file could not be graded: {escape(result.error)}</p>")
    rows = "\n".join(
        f"<tr><td>{escape(e.exercise)}</td><td><code>{escape(e.name)}</code></td>"
        f"<td class=\"{_css(e.status)}\">{escape(e.status)}</td><td>{e.points:g}/{e.max_points:g}</td>"
        f"<td>{escape(e.detail)}{'<br><em>' + escape(flags(e)) + '</em>' if flags(e) else ''}</td></tr>"
        for e in result.exercises)
    notes = "".join(f"<li>{escape(n)}</li>" for n in result.notes)
    body = (f"<p>Notebook <b>{escape(result.notebook)}</b>: <b>{result.points:g}/{result.max_points:g}</b> "
            f"points. Your functions ran on inputs drawn at grading time (seed {result.seed}); "
            f"a failure names the first input where your answer differs from the reference.</p>\n"
            "<table><tr><th>exercise</th><th>name</th><th>status</th><th>points</th><th>first problem</th></tr>\n"
            f"{rows}</table>\n" + (f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""))
    return _page(f"Feedback: {Path(result.submission).name}", body)


def _png(figure) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def figures(results: list[SubmissionResult]) -> tuple[bytes, bytes]:
    """PNG bytes of the score histogram (fraction of the points) and the pass rate per exercise."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    graded = [r for r in results if not r.error and r.max_points]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.hist([100 * r.points / r.max_points for r in graded], bins=10, range=(0, 100), color="#4c72b0",
            edgecolor="white")
    ax.yaxis.get_major_locator().set_params(integer=True)  # submissions are counted, not measured
    ax.set(xlabel="score (% of the notebook's points)", ylabel="submissions",
           title=f"Scores of {len(graded)} graded submissions")
    histogram = _png(fig)
    passed: dict[str, list[bool]] = {}
    for r in graded:
        for e in r.exercises:
            passed.setdefault(e.exercise, []).append(e.status == PASSED)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    names = list(passed)
    ax.bar(names, [100 * sum(v) / len(v) for v in passed.values()], color="#55a868")
    ax.set(ylim=(0, 100), ylabel="passed (% of submissions)", title="Pass rate per exercise")
    ax.tick_params(axis="x", labelrotation=45)
    rate = _png(fig)
    return histogram, rate


def _cell(e) -> str:
    """One exercise in the class table: its status, and a flag mark when there is a reason to read it."""
    flag = flags(e)
    title = "; ".join(filter(None, [e.detail, flag]))
    mark = ' <span title="a reason to read this answer">&#9873;</span>' if flag else ""
    return f"<td class=\"{_css(e.status)}\" title=\"{escape(title)}\">{escape(e.status)}{mark}</td>"


def index(results: list[SubmissionResult], pngs: tuple[bytes, bytes], pages: list[str]) -> str:
    """The class page: student x exercise table (status and points), links to the feedback pages."""
    exercises = list(dict.fromkeys(e.exercise for r in results for e in r.exercises))
    header = "".join(f"<th>{escape(x)}</th>" for x in exercises)
    rows = []
    for r, page in zip(results, pages):
        by_id = {e.exercise: e for e in r.exercises}
        cells = "".join(_cell(by_id[x]) if x in by_id else "<td></td>" for x in exercises)
        total = "error" if r.error else f"{r.points:g}/{r.max_points:g}"
        rows.append(f"<tr><td><a href=\"{page}\">{escape(r.submission)}</a></td>"
                    f"<td>{escape(r.notebook)}</td><td>{total}</td>{cells}</tr>")
    counts = {s: sum(e.status == s for r in results for e in r.exercises) for s in STATUSES}
    images = "".join(f"<img alt=\"{alt}\" src=\"data:image/png;base64,{base64.b64encode(png).decode()}\">"
                     for alt, png in zip(("score histogram", "pass rate per exercise"), pngs))
    seeds = sorted({r.seed for r in results if r.seed is not None})
    unsandboxed = not all(r.sandboxed for r in results)
    warning = f"<p><strong>Warning:</strong> {escape(NOT_SANDBOXED)}.</p>\n" if unsandboxed else ""
    body = (warning + f"<p>{len(results)} submissions; cases drawn from seed {', '.join(map(str, seeds))}. "
            + ", ".join(f"{n} {s}" for s, n in counts.items() if n) + ". Hover over a cell for the first "
            "problem; &#9873; marks an answer to read by hand (similar to the reference's source, or using "
            "import machinery or file access).</p>\n"
            f"{images}\n<table><tr><th>submission</th><th>notebook</th><th>points</th>{header}</tr>\n"
            + "\n".join(rows) + "</table>")
    return _page("Class report", body)


def write_pages(results: list[SubmissionResult], folder: Path) -> None:
    """``folder/index.html``, the two figures as PNG files, and one feedback page per submission."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pngs = figures(results)
    for name, png in zip(("scores.png", "pass_rate.png"), pngs):
        (folder / name).write_bytes(png)
    pages = feedback_names(results)
    (folder / "index.html").write_text(index(results, pngs, pages), encoding="utf-8")
    for result, page in zip(results, pages):
        (folder / page).write_text(feedback(result), encoding="utf-8")
