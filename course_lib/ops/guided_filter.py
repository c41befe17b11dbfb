"""He, Sun & Tang, "Guided Image Filtering", TPAMI 2013: an edge-preserving smoothing, linear in time and
differentiable (notebook 09's high/low frequency split, ``course_lib.models.sice.frequency_split``)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from course_lib.validate import check_float_batch, check_int

__all__ = ["guided_filter"]


def _box(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over the (2r+1)² window, normalised by the pixels inside the image at the borders."""
    return F.avg_pool2d(x, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)


def guided_filter(guide: torch.Tensor, x: torch.Tensor, radius: int = 4, eps: float = 1e-2) -> torch.Tensor:
    """He, Sun & Tang, "Guided Image Filtering", TPAMI 2013, Algorithm 1: in each window ``x ≈ a·guide + b``
    with ``a = cov(guide, x) / (var(guide) + eps)`` and ``b = mean(x) - a·mean(guide)``; the output is
    ``mean(a)·guide + mean(b)``. Edges much stronger than ``sqrt(eps)`` are kept, weaker variation
    smoothed over ``radius`` pixels. ``guide`` and ``x``: ``(N, 1, H, W)``."""
    check_float_batch(guide, "guide", "guided_filter", "(N, 1, H, W)")
    check_float_batch(x, "x", "guided_filter", "(N, 1, H, W)")
    radius = check_int("radius", radius, 1, expected="a positive int (the window radius in pixels)")
    if not eps > 0:
        raise ValueError(f"guided_filter: eps must be > 0, got {eps!r}")
    mean_i, mean_x = _box(guide, radius), _box(x, radius)
    a = (_box(guide * x, radius) - mean_i * mean_x) / (_box(guide * guide, radius) - mean_i**2 + eps)
    b = mean_x - a * mean_i
    return _box(a, radius) * guide + _box(b, radius)
