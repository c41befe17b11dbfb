"""Grade many submissions: one after the other, on N processes, or on a running Dask cluster.

Every task gets a submission's name and bytes (never a path) and the released notebooks' text, so
a Dask worker needs this package installed but not the course's folders. The results do not depend
on how the work is spread: the cases follow ``Options.seed``.
"""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from course_lib.grading import probe
from course_lib.grading.grade import Options, SubmissionResult, grade


def read_all(paths: list[Path]) -> dict[Path, bytes | str]:
    """Every submission's bytes, read before any grading (or the reason it cannot be read)."""
    read = {}
    for path in paths:
        try:
            read[path] = Path(path).read_bytes()
        except OSError as error:
            read[path] = f"cannot read it ({type(error).__name__}: {error})"
    return read


def restore_changed(read: dict[Path, bytes | str]) -> list[Path]:
    """Write back every submission whose file changed on disk since :func:`read_all`; return them."""
    changed = []
    for path, data in read.items():
        if isinstance(data, bytes):
            try:
                same = Path(path).read_bytes() == data
            except OSError:
                same = False
            if not same:
                Path(path).write_bytes(data)
                changed.append(path)
    return changed


def _grade_one(name: str, data: bytes | str, released: dict[str, str], options: Options) -> SubmissionResult:
    if isinstance(data, str):
        return SubmissionResult(name, error=data, seed=options.seed)
    return grade(name, data, released, options)


def grade_all(read: dict[Path, bytes | str], released: dict[str, str], options: Options,
              jobs: int = 1, scheduler: str | None = None) -> list[SubmissionResult]:
    """Grade every submission of ``read``, in its order."""
    names = [str(path) for path in read]
    data = list(read.values())
    if scheduler:
        from distributed import Client

        with Client(scheduler) as client:
            futures = [client.submit(_grade_one, n, d, released, options, pure=False) for n, d in zip(names, data)]
            return client.gather(futures)
    if jobs > 1 and len(names) > 1:
        probe.library_snapshot()  # read the library before any kernel of any worker runs
        with ProcessPoolExecutor(min(jobs, len(names)), initializer=probe.library_snapshot) as pool:
            return list(pool.map(_grade_one, names, data, [released] * len(names), [options] * len(names)))
    return [_grade_one(n, d, released, options) for n, d in zip(names, data)]


def threads_per_kernel(jobs: int) -> int:
    """Torch threads per kernel so that ``jobs`` kernels side by side fill the cores, no more."""
    return max(1, (os.cpu_count() or 1) // max(1, jobs))
