"""The exercises of every notebook, one module per notebook, and ``check``.

Each module defines ``EXERCISES``, a list of :class:`course_lib.checks.Exercise`; a new notebook's
module is added to ``_MODULES`` below. ``check("A.1", bilinear_kernel)`` prints exactly one line and
never raises::

    A.1 bilinear_kernel: ✓ matches the reference on 7 cases
    A.1 bilinear_kernel: ✗ case 2 (in_channels=1, out_channels=1, kernel_size=3): rel_error 0.5 > 1e-05
    A.1: not attempted
"""
from __future__ import annotations

import warnings
from typing import Any, Iterable

import torch

from course_lib.checks import CheckFailed, Exercise, unsolved_dependency, unsolved_message, verify
from course_lib.exercises import (developments, distillation, enet, enhancement, fcn, gatys, mask_rcnn, perceptual,
                                  reflection, super_resolution, unet, welcome)

_MODULES = (welcome, fcn, unet, enet, mask_rcnn, developments, gatys, perceptual, distillation, enhancement, reflection,
            super_resolution)


def build_registry(exercises: Iterable[Exercise]) -> dict[str, Exercise]:
    """Exercises by id; an id used twice is an authoring mistake and raises ``ValueError``."""
    registry: dict[str, Exercise] = {}
    for exercise in exercises:
        if exercise.id in registry:
            raise ValueError(f"exercise id {exercise.id!r} is defined twice "
                             f"({registry[exercise.id].name} and {exercise.name})")
        registry[exercise.id] = exercise
    return registry


REGISTRY = build_registry(exercise for module in _MODULES for exercise in module.EXERCISES)


def check(exercise_id: str, candidate: Any) -> None:
    """Compare ``candidate`` with the reference of ``exercise_id`` on the seed-0 cases; print one line."""
    exercise = REGISTRY.get(exercise_id)
    if exercise is None:
        print(f"{exercise_id}: ✗ unknown exercise id (known: {', '.join(sorted(REGISTRY))})")
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            detail = verify(exercise, candidate, torch.Generator().manual_seed(0))
    except NotImplementedError as error:
        dependency = unsolved_dependency(candidate, error)
        if dependency is None:
            print(f"{exercise_id}: not attempted")
        else:
            print(f"{exercise_id} {exercise.name}: ✗ {unsolved_message(dependency)}")
    except CheckFailed as failure:
        print(f"{exercise_id} {exercise.name}: ✗ {one_line(str(failure))}")
    except Exception as error:  # a learner's bug: report it, let the notebook go on
        print(f"{exercise_id} {exercise.name}: ✗ {type(error).__name__}: {one_line(str(error))}")
    else:
        print(f"{exercise_id} {exercise.name}: ✓ {detail}")


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
