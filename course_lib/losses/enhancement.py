"""The training loss of notebook 09's contrast enhancers (after Cai, Gu & Zhang, "Learning a Deep Single
Image Contrast Enhancer from Multi-Exposure Images", IEEE TIP 27(4), 2018): :func:`sice_loss`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from course_lib.models.sice import frequency_split

__all__ = ["sice_loss"]


def sice_loss(output: torch.Tensor, target: torch.Tensor, detail_weight: float = 1.0) -> torch.Tensor:
    """L1 between output and reference, plus ``detail_weight`` times the L1 between their detail layers
    (:func:`~course_lib.models.sice.frequency_split`), so that the loss does not let the fine texture go. Both networks train
    with it; the paper trains each stage with its own L1 + SSIM losses."""
    detail_out = frequency_split(output.clamp(0, 1))[1]
    return F.l1_loss(output, target) + detail_weight * F.l1_loss(detail_out, frequency_split(target)[1])
