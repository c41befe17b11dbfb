"""Course-wide settings: the run mode, the device and the seed.

``COURSE_MODE=fast`` (tests, lectures) uses small images and few steps; ``full`` (the default for
learners) trains to the quality each notebook promises. Same code path, different numbers.
"""
from __future__ import annotations

import os
import platform
import random
from pathlib import Path

import numpy as np
import torch

MODES = ("fast", "full")
REPO_ROOT = Path(__file__).resolve().parents[1]
"""The course repository's root when course_lib runs from a checkout (where ``pyproject.toml`` is)."""
READABLE_FONTS = {"font.size": 12, "axes.titlesize": 13, "axes.labelsize": 12, "xtick.labelsize": 12,
                  "ytick.labelsize": 12, "legend.fontsize": 12, "figure.titlesize": 14}
"""Matplotlib font sizes (points) that :func:`setup` sets: no text under 12 pt, readable when projected."""


def mode() -> str:
    """The run mode from the ``COURSE_MODE`` environment variable: ``"fast"`` or ``"full"`` (default)."""
    value = os.environ.get("COURSE_MODE", "full").strip().lower() or "full"
    if value not in MODES:
        raise ValueError(f"COURSE_MODE must be one of {MODES}, got {value!r}")
    return value


def is_fast() -> bool:
    return mode() == "fast"


def pick(fast, full):
    """``fast`` in fast mode, ``full`` otherwise: ``steps = pick(fast=50, full=2000)``."""
    return fast if is_fast() else full


def offline() -> bool:
    """True when ``COURSE_OFFLINE=1``: nothing is downloaded, offline fallbacks are used."""
    return os.environ.get("COURSE_OFFLINE", "0").strip().lower() in ("1", "true", "yes")


def get_device() -> torch.device:
    """The fastest available device: CUDA, then Apple's MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> None:
    """Seed Python's, NumPy's and PyTorch's generators (all devices)."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup(seed: int = 0, quiet: bool = False) -> torch.device:
    """Seed everything, make figure text readable (:data:`READABLE_FONTS`), pick the device and print
    one line saying what was chosen.

    Returns the device, so a notebook can write ``device = setup()``.
    """
    import matplotlib

    seed_everything(seed)
    matplotlib.rcParams.update(READABLE_FONTS)
    device = get_device()
    if not quiet:
        import torchvision

        print(
            f"device={device.type} mode={mode()} seed={seed} offline={offline()} "
            f"python={platform.python_version()} torch={torch.__version__} "
            f"torchvision={torchvision.__version__}"
        )
    return device
