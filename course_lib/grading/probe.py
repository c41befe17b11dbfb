"""The probe run of ``course grade``: the learner's exercise cells in a kernel without the references.

The grader writes a copy of ``course_lib`` in which the reference of each of the notebook's
exercises is a stub (:func:`stub_references`), puts it first on the kernel's ``PYTHONPATH``, and
runs: a first cell with the limits (:func:`limits_source`), the release's import statements, the
submission's exercise cells, then one cell per exercise that calls :func:`answer`. Only
:func:`answer`'s file comes back, read with ``torch.load(weights_only=True)``; what the kernel
prints is never read.
"""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import torch

from course_lib.checks import CheckFailed, ReferenceUnavailable, unsolved_dependency, unsolved_message

# what a case made of the learner's function: a value, or one of these kinds of error
NOT_ATTEMPTED, FAILED, OUT_OF_MEMORY = "not attempted", "failed", "out of memory"
MISSING = "missing"


def stub_source(source: str, names: dict[str, str], module: str) -> str:
    """``source`` with each top-level def/class named in ``names`` (name -> exercise id) replaced
    by a stub that raises ``ReferenceUnavailable``."""
    tree = ast.parse(source)
    for index, node in enumerate(tree.body):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in names:
            message = (f"{module}.{node.name} is not available while grading "
                       f"(exercise {names[node.name]}): write your own")
            raising = f"from course_lib.checks import ReferenceUnavailable; raise ReferenceUnavailable({message!r})"
            if isinstance(node, ast.FunctionDef):
                stub = f"def {node.name}(*args, **kwargs):\n    {raising}"
            else:
                stub = f"class {node.name}:\n    def __init__(self, *args, **kwargs):\n        {raising}"
            tree.body[index] = ast.parse(stub).body[0]
    return ast.unparse(tree)


def library_snapshot() -> dict[str, bytes]:
    """The files of this ``course_lib`` (relative path -> bytes), read once, before any learner
    code runs, so that a kernel that edits the library on disk changes no later probe."""
    global _SNAPSHOT
    if _SNAPSHOT is None:
        root = Path(__file__).resolve().parents[1]
        _SNAPSHOT = {str(p.relative_to(root.parent)): p.read_bytes() for p in sorted(root.rglob("*"))
                     if p.is_file() and "__pycache__" not in p.parts}
    return _SNAPSHOT


_SNAPSHOT: dict[str, bytes] | None = None


def restore_library() -> list[Path]:
    """Write back every file of this ``course_lib`` that changed or vanished on disk since
    :func:`library_snapshot` (a kernel can write wherever the grader can); return their paths."""
    base = Path(__file__).resolve().parents[2]
    changed = []
    for relative, data in library_snapshot().items():
        path = base / relative
        try:
            same = path.read_bytes() == data
        except OSError:
            same = False
        if not same:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            changed.append(path)
    return changed


def stub_references(target: Path, exercises) -> None:
    """Write ``target/course_lib``: this library with the references of ``exercises`` stubbed."""
    by_module: dict[str, dict[str, str]] = {}
    for exercise in exercises:
        ref = exercise.reference
        by_module.setdefault(ref.__module__, {})[ref.__qualname__] = exercise.id
    for relative, data in library_snapshot().items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        module = relative[:-3].replace("/", ".").replace("\\", ".").removesuffix(".__init__")
        if module in by_module:
            data = stub_source(data.decode("utf-8"), by_module[module], module).encode("utf-8")
        path.write_bytes(data)


def limits_source(memory_bytes: int | None, threads: int) -> str:
    """The first cell of every grading kernel: an address-space limit (where ``resource`` exists)
    and a thread count, so that N kernels side by side do not oversubscribe the cores."""
    lines = ["import torch as _torch", f"_torch.set_num_threads({threads})"]
    if memory_bytes:
        lines += ["try:", "    import resource as _resource",
                  "except ImportError:  # Windows: no limit", "    pass", "else:",
                  f"    _resource.setrlimit(_resource.RLIMIT_AS, ({memory_bytes}, {memory_bytes}))"]
    return "\n".join(lines)


def guarded_imports(sources: list[str]) -> str:
    """The top-level import statements of ``sources`` (code cells), each in its own try block."""
    from IPython.core.inputtransformer2 import TransformerManager

    transform = TransformerManager().transform_cell
    statements = []
    for source in sources:
        try:
            tree = ast.parse(transform(source))
        except SyntaxError:
            continue
        statements += [ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    return "\n".join(f"try:\n    {s}\nexcept Exception:\n    pass" for s in dict.fromkeys(statements))


def answer_source(exercise_id: str, cases_path: str, out_path: str) -> str:
    return ("from course_lib.grading.probe import answer as _course_answer\n"
            f"_course_answer({exercise_id!r}, globals(), {cases_path!r}, {out_path!r})")


def answer(exercise_id: str, namespace: dict, cases_path: str, out_path: str) -> None:
    """Kernel side: run the learner's object on the grader's cases; save plain data to ``out_path``."""
    from course_lib.exercises import REGISTRY

    exercise = REGISTRY[exercise_id]
    candidate = namespace.get(exercise.name)
    if candidate is None:
        torch.save({"missing": True}, out_path)
        return
    results = []
    for case in torch.load(cases_path, weights_only=True):
        try:
            results.append({"value": plain(exercise.run(candidate, case))})
        except NotImplementedError as error:
            dependency = unsolved_dependency(candidate, error)
            results.append({"error": NOT_ATTEMPTED, "message": ""} if dependency is None else
                           {"error": FAILED, "message": unsolved_message(dependency)})
        except CheckFailed as failure:
            results.append({"error": FAILED, "message": str(failure)})
        except ReferenceUnavailable as error:
            results.append({"error": FAILED, "message": f"uses the reference: {error}"})
        except MemoryError:
            results.append({"error": OUT_OF_MEMORY, "message": "MemoryError"})
        except Exception as error:  # the learner's bug, reported in words
            kind = OUT_OF_MEMORY if "can't allocate memory" in str(error) else FAILED
            results.append({"error": kind, "message": f"{type(error).__name__}: {error}"})
    torch.save({"missing": False, "results": results}, out_path)


def plain(value):
    """``value`` as data that ``torch.load(weights_only=True)`` accepts; other objects become an
    error naming their type."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.array(value))
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: plain(v) for k, v in value.items()}
    raise CheckFailed(f"returned a {type(value).__name__}, expected a tensor, a number or a list of them")

