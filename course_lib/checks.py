"""The exercise protocol and the tools that compare a learner's answer with the reference.

An :class:`Exercise` says how to draw test inputs from a ``torch.Generator`` (``cases``), what one
case makes of a function (``run``: plain data out) and which ``course_lib`` function is the
reference. Two users share it:

- ``check("A.1", bilinear_kernel)`` in a notebook (see :mod:`course_lib.exercises`) draws the cases
  from seed 0, so its one printed line is deterministic and nbval can compare it with the recorded
  one::

    A.1 bilinear_kernel: ✓ matches the reference on 6 cases
    A.1 bilinear_kernel: ✗ case 2 (in_channels=3, out_channels=3, kernel_size=4): rel_error 0.5 > 1e-05
    A.1: not attempted

- ``course grade`` draws them from a seed chosen at grading time, runs ``run(learner's function,
  case)`` in a kernel, ``run(reference, case)`` in its own process, and compares the two with
  :func:`compare_values`.

Cases hold plain data only (tensors, numbers, str, bool, None, lists, tuples, dicts), so they
survive ``torch.save`` / ``torch.load(weights_only=True)``; a module that a case needs is described
by its weights and built inside ``run`` (see :func:`module_case` and :func:`run_module`).
"""
from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

__all__ = ["Exercise", "CheckFailed", "ReferenceUnavailable", "unsolved_dependency", "unsolved_message", "call", "run_int", "verify", "rel_error",
           "compare_values", "describe", "module_case", "run_module", "seeded", "uniform_int"]


class CheckFailed(AssertionError):
    """Raised by a check with a one-line description of the first mismatch."""


class ReferenceUnavailable(RuntimeError):
    """Raised by a reference implementation while ``course grade`` runs a submission."""


def describe(case: dict) -> str:
    """``size=32, image=tensor(1, 3, 8, 8)``: a case's inputs in a few words, for a failure line."""
    def short(v):
        if isinstance(v, torch.Tensor):
            return f"tensor{tuple(v.shape)}"
        if isinstance(v, np.ndarray):
            return f"array{v.shape}"
        return repr(v)

    return ", ".join(f"{k}={short(v)}" for k, v in case.items())


def call(fn: Callable, case: dict) -> Any:
    """The default ``Exercise.run``: ``fn(**case)`` without autograd."""
    with torch.no_grad():
        return fn(**case)


def run_int(fn: Callable, case: dict) -> int:
    """``Exercise.run`` for a function that must return an int (a size, a count)."""
    got = call(fn, case)
    if isinstance(got, bool) or not isinstance(got, int):
        raise CheckFailed(f"expected an int, got {type(got).__name__} {got!r}")
    return got


@dataclass(frozen=True)
class Exercise:
    """One exercise of a notebook; see the module docstring and CONTRIBUTING.md."""

    id: str  # "A.2"
    name: str  # the learner's function or class name, as in the check cell
    reference: Callable  # course_lib's implementation (replaced by a stub while grading)
    cases: Callable[[torch.Generator], list[dict]]  # plain data drawn from the generator
    run: Callable[[Callable, dict], Any] = call  # what one case makes of a function -> plain data
    tol: float = 1e-5
    success: str = "matches the reference on {n} cases"
    label: Callable[[dict], str] = describe  # a case in words, after "case 3 (" in a failure line


def unsolved_dependency(candidate: Any, error: NotImplementedError) -> str | None:
    """Where ``error`` was raised, when that is not ``candidate``'s own code: ``None`` when the answer
    itself is still a stub (the exercise is not attempted), else the qualified name of the function
    that raised, e.g. the stub of an earlier exercise that the answer calls."""
    owner = getattr(candidate, "__qualname__", None) or type(candidate).__qualname__
    traceback = error.__traceback__
    while traceback is not None and traceback.tb_next is not None:
        traceback = traceback.tb_next
    raised_in = owner if traceback is None else traceback.tb_frame.f_code.co_qualname
    return None if raised_in == owner or raised_in.startswith(f"{owner}.") else raised_in


def unsolved_message(dependency: str) -> str:
    """A verdict's words when an answer calls code that still raises ``NotImplementedError``."""
    return f"calls {dependency}, which raises NotImplementedError (an exercise not solved yet?)"


def verify(exercise: Exercise, candidate: Any, generator: torch.Generator) -> str:
    """Compare ``candidate`` with the reference on the cases drawn from ``generator``.

    Each call gets its own copy of the case, so a function that edits its input in place cannot
    change what the other one sees. Returns the success detail or raises :class:`CheckFailed`.
    """
    cases = exercise.cases(generator)
    for i, case in enumerate(cases, start=1):
        where = f"case {i} ({exercise.label(case)})"
        expected = exercise.run(exercise.reference, copy.deepcopy(case))
        try:
            got = exercise.run(candidate, copy.deepcopy(case))
        except CheckFailed as failure:
            raise CheckFailed(f"{where}: {failure}") from None
        compare_values(got, expected, where, exercise.tol)
    return exercise.success.format(n=len(cases))


def rel_error(x, y) -> float:
    """CS231n's relative error: max |x - y| / max(1e-8, |x| + |y|)."""
    x = torch.as_tensor(x, dtype=torch.float64)
    y = torch.as_tensor(y, dtype=torch.float64)
    if x.numel() == 0 and y.numel() == 0:
        return 0.0
    return float(((x - y).abs() / (x.abs() + y.abs()).clamp_min(1e-8)).max())


def compare_values(got, expected, where: str, tol: float = 1e-5) -> None:
    """Raise :class:`CheckFailed` unless ``got`` equals ``expected`` (structure, shape, then rel_error)."""
    if isinstance(expected, dict):
        if not isinstance(got, dict) or sorted(got) != sorted(expected):
            raise CheckFailed(f"{where}: expected {sorted(expected)}, got {_kind(got)}")
        for key, value in expected.items():
            compare_values(got[key], value, f"{where}, {key}", tol)
        return
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            raise CheckFailed(f"{where}: expected a sequence of {len(expected)} items, got {_kind(got)}")
        for j, (g, e) in enumerate(zip(got, expected)):
            compare_values(g, e, f"{where} item {j}", tol)
        return
    if isinstance(expected, (torch.Tensor, np.ndarray)):
        if not isinstance(got, (torch.Tensor, np.ndarray)):
            raise CheckFailed(f"{where}: expected a tensor, got {_kind(got)}")
        if tuple(got.shape) != tuple(expected.shape):
            raise CheckFailed(f"{where}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}")
    elif isinstance(expected, (int, float)) and not isinstance(got, (int, float, np.number, torch.Tensor)):
        raise CheckFailed(f"{where}: expected a number, got {_kind(got)}")
    elif isinstance(expected, str) or expected is None:
        if got != expected:
            raise CheckFailed(f"{where}: expected {expected!r}, got {got!r}")
        return
    err = rel_error(got.detach() if isinstance(got, torch.Tensor) else got,
                    expected.detach() if isinstance(expected, torch.Tensor) else expected)
    if not err <= tol:
        raise CheckFailed(f"{where}: rel_error {err:.3g} > {tol:g}")


def _kind(value) -> str:
    if value is None:
        return "None (did you forget to return?)"
    return type(value).__name__


@contextmanager
def seeded(generator: torch.Generator):
    """Seed torch's global generator from ``generator`` for the block, then restore its state.

    For the default initialisation of a reference module inside ``cases``: the weights follow the
    case seed, and the learner's own random state is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(2**62, (1,), generator=generator)))
        yield


def module_case(reference: nn.Module, kwargs: dict, x: torch.Tensor) -> dict:
    """A case for :func:`run_module`: the constructor's arguments, ``reference``'s parameters and
    buffers in registration order, its parameter count, and an input."""
    return dict(kwargs=kwargs, state=[v.detach().clone() for v in reference.state_dict().values()],
                parameters=sum(p.numel() for p in reference.parameters()), x=x)


def run_module(cls: Callable, case: dict) -> torch.Tensor:
    """Build ``cls(**kwargs)``, load the case's parameters and buffers into it in registration order
    (so the layers must be created in the docstring's order) and return its eval-mode output."""
    module = cls(**case["kwargs"])
    if not isinstance(module, nn.Module):
        raise CheckFailed(f"expected an nn.Module, got {type(module).__name__}")
    got = list(module.state_dict().items())
    n_got = sum(p.numel() for p in module.parameters())
    if n_got != case["parameters"]:
        raise CheckFailed(f"expected {case['parameters']} parameters, got {n_got}")
    if len(got) != len(case["state"]):
        raise CheckFailed(f"expected {len(case['state'])} parameters and buffers, got {len(got)}")
    for (name, value), ref in zip(got, case["state"]):
        if value.shape != ref.shape:
            raise CheckFailed(f"{name} has shape {tuple(value.shape)}, expected "
                              f"{tuple(ref.shape)} (create the layers in the docstring's order)")
    module.load_state_dict({name: ref for (name, _), ref in zip(got, case["state"])})
    with torch.no_grad():
        return module.eval()(case["x"])


def uniform_int(generator: torch.Generator, low: int, high: int) -> int:
    """An integer drawn uniformly from [low, high], for the ``cases`` of an exercise."""
    return int(torch.randint(low, high + 1, (1,), generator=generator))
