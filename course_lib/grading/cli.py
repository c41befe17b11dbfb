"""The ``course`` command: release, record, grade, status, slides and lab."""
from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
from pathlib import Path

from course_lib.config import REPO_ROOT
from course_lib.grading.notebooks import NotebookError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course", description="CNN for Computer Vision course tools")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("release", help="write notebooks/ from solutions/ (solutions stripped)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if notebooks/ is out of step")
    p.add_argument("--solutions", type=Path, default=REPO_ROOT / "solutions")
    p.add_argument("--notebooks", type=Path, default=REPO_ROOT / "notebooks")

    p = sub.add_parser("record", help="run solution notebooks in fast mode and store their check outputs")
    p.add_argument("paths", nargs="*", type=Path, help="default: every notebook in solutions/")
    p.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")

    p = sub.add_parser("grade", help="grade submitted notebooks, never writing to them")
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--csv", type=Path, help="also save the score table as CSV")
    p.add_argument("--json", type=Path, help="also save the score table as JSON")
    p.add_argument("--report", type=Path, metavar="DIR",
                   help="write one feedback page per submission and DIR/index.html (class table, figures)")
    _engine_options(p)
    p.add_argument("--no-notebook-run", dest="notebook_run", action="store_false",
                   help="skip the run of the whole notebook (it only reports crashes; scores do not change)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="send one submission per task to the Dask cluster at ADDRESS (tcp://host:8786)")
    p.add_argument("--sandbox", action=argparse.BooleanOptionalAction, default=None,
                   help="run every kernel in a bubblewrap sandbox: no network, no file of yours but the course, "
                        "read-only (default: on where bubblewrap works)")

    p = sub.add_parser("status", help="run your notebooks' exercises as the grader does; one table per notebook")
    p.add_argument("paths", nargs="*", type=Path, help="default: every notebook in notebooks/")
    _engine_options(p)

    sub.add_parser("slides", help="lecture decks: one reveal.js page per notebook in site/_build/slides "
                                  "(--annotate: write the slide metadata of solutions/); see --help",
                   add_help=False)

    sub.add_parser("lab", help="open JupyterLab on notebooks/ (--allow-root when run as root); "
                               "other arguments go to JupyterLab", add_help=False)

    args, extra = parser.parse_known_args(argv)
    if args.command == "lab":
        return lab(extra)
    if args.command == "slides":
        from course_lib.publishing import slides

        return slides.main(extra)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "release":
        from course_lib.grading.release import release_all

        try:
            differ = release_all(args.solutions, args.notebooks, check_only=args.check)
        except NotebookError as error:
            print(f"course release: {error}", file=sys.stderr)
            return 2
        if args.check and differ:
            print("notebooks/ is out of step with solutions/ (run `course release`): " + ", ".join(differ))
            return 1
        print(("checked" if args.check else "released") + f": {len(differ)} notebook(s) "
              + ("differ" if args.check else "written") + (": " + ", ".join(differ) if differ else ""))
        return 0

    if args.command == "record":
        from course_lib.grading.release import record

        paths = args.paths or sorted((REPO_ROOT / "solutions").glob("*.ipynb"))
        for path in paths:
            try:
                record(path, args.timeout)
            except Exception as error:  # a failing cell: say which notebook, write nothing
                print(f"course record: {path}: {type(error).__name__}: {error}", file=sys.stderr)
                return 1
            print(f"recorded {path}")
        return 0

    return grade_command(args, parser)


def _engine_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeout", type=int, default=300, help="seconds per cell (default 300)")
    p.add_argument("--memory", type=float, default=8.0,
                   help="GiB of address space per kernel, 0 for no limit (default 8; not on Windows)")
    p.add_argument("--seed", type=int, help="the seed of the grader's cases (default: drawn; printed)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="submissions graded side by side (default: the number of cores)")
    p.add_argument("--release", type=Path, default=REPO_ROOT / "notebooks",
                   help="folder of the released notebooks (default: the course's notebooks/)")


def grade_command(args, parser) -> int:
    """``course grade`` and ``course status``."""
    from course_lib.grading.batch import grade_all, read_all, restore_changed, threads_per_kernel
    from course_lib.grading.grade import Options, format_table, releases, write_report
    from course_lib.grading.probe import library_snapshot, restore_library
    from course_lib.grading.sandbox import NOT_SANDBOXED, SandboxUnavailable

    if args.timeout < 1:
        parser.error("--timeout must be at least 1 second")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.memory < 0:
        parser.error("--memory must be >= 0 GiB")
    seed = args.seed if args.seed is not None else secrets.randbits(62)
    status = args.command == "status"
    scheduler = None if status else args.scheduler
    try:
        sandboxed = not status and use_sandbox(args.sandbox, scheduler)
    except SandboxUnavailable as error:
        print(f"course grade: --sandbox: {error}", file=sys.stderr)
        return 2
    options = Options(seed=seed, timeout=args.timeout, memory=int(args.memory * 2**30) or None,
                      threads=1 if scheduler else threads_per_kernel(args.jobs),
                      notebook_run=not status and args.notebook_run, sandbox=sandboxed)
    paths = args.paths or sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
    read = read_all(paths)
    library_snapshot()  # the course's own files, before any learner code runs
    results = grade_all(read, releases(args.release), options, args.jobs, scheduler)
    for path in restore_library():
        print(f"course {args.command}: warning: {path} (the course's library) was modified during grading "
              "and is restored; a submission wrote to it", file=sys.stderr)
    for path in restore_changed(read):
        message = "the file changed on disk while grading; restored from the copy read before grading"
        print(f"course {args.command}: {path}: {message}", file=sys.stderr)
        next(r for r in results if r.submission == str(path)).notes.append(message)
    for result in results:
        if result.error:
            print(f"course {args.command}: {result.submission}: {result.error}", file=sys.stderr)
    print(f"cases drawn from seed {seed} (repeat with --seed {seed})")
    if not status and not sandboxed:
        print(f"warning: {NOT_SANDBOXED}")
    print(format_table(results))
    if status:
        graded = [r for r in results if not r.error]
        print(f"total: {sum(r.points for r in graded):g}/{sum(r.max_points for r in graded):g} points "
              f"in {len(graded)} notebook(s)")
    else:
        write_report(results, args.csv, args.json)
        if args.report:
            from course_lib.grading.report import write_pages

            write_pages(results, args.report)
    return 2 if any(r.error for r in results) else 0


def use_sandbox(requested: bool | None, scheduler: str | None) -> bool:
    """Whether ``course grade`` runs its kernels in the sandbox: ``requested`` (``--sandbox`` /
    ``--no-sandbox``), else wherever bubblewrap works here, saying so in one line where it does not.
    Raises :class:`SandboxUnavailable` when it was requested and cannot work; with a Dask
    ``scheduler`` the workers check for themselves (the grader's laptop may lack what they have)."""
    from course_lib.grading.sandbox import README_HINT, SandboxUnavailable, unavailable_reason

    if requested is False:
        return False
    reason = unavailable_reason()
    if reason is None or (requested and scheduler):
        return True
    if requested:
        raise SandboxUnavailable(f"bubblewrap not available: {reason}")
    print(f"course grade: bubblewrap not available ({reason}): kernels run with your user rights; "
          f"{README_HINT}", file=sys.stderr)
    return False


def lab(extra: list[str]) -> int:
    """``jupyter lab`` on notebooks/, with ``--allow-root`` when run as root (JupyterLab refuses to
    start as root without it); ``extra`` goes to JupyterLab."""
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={REPO_ROOT / 'notebooks'}", *extra]
    if getattr(os, "geteuid", lambda: 1)() == 0:  # Windows has no geteuid: not root
        command.append("--allow-root")
    if os.name == "posix":
        os.execv(sys.executable, command)  # the server takes this process's place (and its signals)
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())
