"""The exercises of every notebook, one module per notebook, and ``check``.

Each module defines ``EXERCISES``, a list of :class:`course_lib.checks.Exercise`, whose ids start
with the notebook's prefix (``"B2.3"``: prefix ``B2``, notebook 03); a new notebook's module is added
to ``MODULES`` below. ``check("A.1", bilinear_kernel)`` prints exactly one line and never raises::

    A.1 bilinear_kernel: ✓ matches the reference on 7 cases
    A.1 bilinear_kernel: ✗ case 2 (in_channels=1, out_channels=1, kernel_size=3): rel_error 0.5 > 1e-05
    A.1: not attempted

``REGISTRY`` imports a notebook's module the first time one of its ids is asked for, so a notebook
(or a grading kernel) loads its own references and models, not every notebook's.
"""
from __future__ import annotations

import importlib
import warnings
from collections.abc import Iterator, Mapping
from typing import Any, Iterable

import torch

from course_lib.checks import CheckFailed, Exercise, unsolved_dependency, unsolved_message, verify

# id prefix (the part before the dot) -> the module of course_lib.exercises that defines those ids
MODULES = {"0": "welcome", "A": "fcn", "B1": "unet", "B2": "enet", "C": "mask_rcnn", "D": "developments",
           "E1": "gatys", "E2": "perceptual", "F": "distillation", "G1": "enhancement", "G2": "reflection",
           "G3": "super_resolution"}


def prefix_of(exercise_id: str) -> str:
    """``"B2"`` for ``"B2.3"``: the notebook part of an exercise id."""
    return exercise_id.split(".")[0]


def build_registry(exercises: Iterable[Exercise]) -> dict[str, Exercise]:
    """Exercises by id; an id used twice is an authoring mistake and raises ``ValueError``."""
    registry: dict[str, Exercise] = {}
    for exercise in exercises:
        if exercise.id in registry:
            raise ValueError(f"exercise id {exercise.id!r} is defined twice "
                             f"({registry[exercise.id].name} and {exercise.name})")
        registry[exercise.id] = exercise
    return registry


class Registry(Mapping):
    """Exercises by id, read from ``MODULES``: looking up an id imports only the module of its
    prefix; iterating (``sorted(REGISTRY)``, ``REGISTRY.values()``) imports them all and refuses an
    id used twice across modules (:func:`build_registry`)."""

    def __init__(self, modules: dict[str, str]):
        self._modules = dict(modules)
        self._loaded: dict[str, dict[str, Exercise]] = {}

    def of_prefix(self, prefix: str) -> dict[str, Exercise]:
        """The exercises of one module by id; an id with another module's prefix raises ``ValueError``."""
        if prefix not in self._loaded:
            module = importlib.import_module(f"{__name__}.{self._modules[prefix]}")
            exercises = build_registry(module.EXERCISES)
            strays = [i for i in exercises if prefix_of(i) != prefix]
            if strays:
                raise ValueError(f"{module.__name__} defines {', '.join(strays)}; its ids start with {prefix!r} "
                                 f"(course_lib.exercises.MODULES)")
            self._loaded[prefix] = exercises
        return self._loaded[prefix]

    def __getitem__(self, exercise_id: str) -> Exercise:
        prefix = prefix_of(exercise_id) if isinstance(exercise_id, str) else None
        if prefix not in self._modules:
            raise KeyError(exercise_id)
        return self.of_prefix(prefix)[exercise_id]

    def _all(self) -> dict[str, Exercise]:
        return build_registry(e for prefix in self._modules for e in self.of_prefix(prefix).values())

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


REGISTRY = Registry(MODULES)


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
