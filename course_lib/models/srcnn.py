"""SRCNN: Dong, Loy, He, Tang, "Learning a Deep Convolutional Network for Image Super-Resolution",
ECCV 2014 — and what notebook 11 shares between its super-resolution networks.

    model = SRCNN(scale=3)                      # low-resolution Y (N, 1, h, w) -> Y (N, 1, 3h, 3w)
    baseline = Bicubic(scale=3)                 # the same shapes, no parameters

All three networks of the notebook (:class:`Bicubic`, :class:`SRCNN`, ``espcn.ESPCN``) take the
low-resolution luminance and return the high-resolution one, so that they train, evaluate and are
timed alike — SRCNN's time includes its bicubic upscaling. Notebook 11's training, the shipped SRCNN and the
scoring are in ``course_lib.recipes.super_resolution``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.data.degrade import bicubic
from course_lib.validate import check_int

__all__ = ["Bicubic", "SRCNN"]


def _check_scale(scale) -> int:
    return check_int("scale", scale, 2, expected="an int >= 2 (the upscaling factor)")


class Bicubic(nn.Module):
    """The baseline: bicubic interpolation by ``scale`` (no parameters), with Keys' kernel of
    parameter ``a``: PyTorch's ``-0.75`` (``F.interpolate``) by default, ``-0.5`` for MATLAB's
    ``imresize``, which the papers' bicubic numbers use: :func:`course_lib.data.degrade.bicubic`, unclipped."""

    def __init__(self, scale: int = 3, a: float = -0.75):
        super().__init__()
        self.scale, self.a = _check_scale(scale), float(a)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return bicubic(x, self.scale, self.a)


class SRCNN(nn.Module):
    """SRCNN §3.1-3.3, the 9-1-5 network: on the bicubic-upscaled image Y, ``patch_extraction``
    (f1 = 9, n1 = 64 maps, ReLU), ``non_linear_mapping`` (f2 = 1, n2 = 32, ReLU) and
    ``reconstruction`` (f3 = 5, one map).

    Two changes from the paper, both usual since: zero padding keeps the output the size of the
    input (the paper loses 12 border pixels), and with ``residual=True`` the network predicts only
    the correction to bicubic (Kim et al., VDSR, CVPR 2016), which trains much faster.
    """

    def __init__(self, scale: int = 3, channels: int = 1, n1: int = 64, n2: int = 32,
                 f1: int = 9, f2: int = 1, f3: int = 5, residual: bool = True):
        super().__init__()
        self.bicubic = Bicubic(scale)
        self.scale, self.residual = self.bicubic.scale, residual
        self.patch_extraction = nn.Conv2d(channels, n1, f1, padding=f1 // 2)
        self.non_linear_mapping = nn.Conv2d(n1, n2, f2, padding=f2 // 2)
        self.reconstruction = nn.Conv2d(n2, channels, f3, padding=f3 // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        upscaled = self.bicubic(x)
        y = F.relu(self.patch_extraction(upscaled))
        y = F.relu(self.non_linear_mapping(y))
        y = self.reconstruction(y)
        return upscaled + y if self.residual else y
