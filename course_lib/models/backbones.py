"""Backbone development, VGG -> ResNet -> MobileNet (notebook 05b, slide D "Backbone dev: VGG, Resnet, ...").

- :data:`TORCHVISION_BACKBONES` and :func:`compare_backbones`: parameters, FLOPs and CPU latency of
  torchvision's classifiers with random weights (``weights=None``: nothing downloads), one run.
- :class:`DeepNet`: the degradation problem of He, Zhang, Ren & Sun (CVPR 2016, §1, Fig. 1; §4.2,
  Fig. 6) in miniature: a stack of 3 x 3 conv layers, **plain** or with **identity shortcuts** around
  every pair (their "basic block", Fig. 2), on 28 x 28 digits.
- ``course_lib.recipes.backbones_pyramid``: how notebook 05b and ``benchmarks/developments.py`` train them.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import models

from course_lib.profiling import measure
from course_lib.validate import check_int

__all__ = ["TORCHVISION_BACKBONES", "compare_backbones", "BasicBlock", "DeepNet"]

TORCHVISION_BACKBONES = {  # name: (builder, year)
    "VGG-16": (models.vgg16, 2014),
    "ResNet-18": (models.resnet18, 2015),
    "ResNet-50": (models.resnet50, 2015),
    "MobileNetV2": (models.mobilenet_v2, 2018),
    "MobileNetV3-L": (models.mobilenet_v3_large, 2019),
}


def compare_backbones(size: int = 224, repeats: int = 3, names=tuple(TORCHVISION_BACKBONES)) -> dict[str, dict]:
    """``{name: {"params", "flops", "seconds", "year"}}`` for one ``size`` x ``size`` image (``profiling.measure``:
    FLOPs of one forward pass, median CPU latency of ``repeats`` calls after one warm-up), randomly initialised."""
    check_int("size", size, 32)
    rows = {}
    for name in names:
        if name not in TORCHVISION_BACKBONES:
            raise ValueError(f"unknown backbone {name!r}; known: {tuple(TORCHVISION_BACKBONES)}")
        builder, year = TORCHVISION_BACKBONES[name]
        torch.manual_seed(0)
        rows[name] = {**measure(builder(weights=None), (1, 3, size, size), repeats=repeats, warmup=1), "year": year}
    return rows


class BasicBlock(nn.Module):
    """Two 3 x 3 conv + BatchNorm layers (ReLU between and after); with ``residual`` the input is added
    before the last ReLU (He et al. Fig. 2, an identity shortcut: same channels, same size)."""

    def __init__(self, channels: int, residual: bool):
        super().__init__()
        self.residual = residual
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + x if self.residual else out)


class DeepNet(nn.Module):
    """A classifier of ``depth`` weighted layers for ``(N, 1, 28, 28)`` digits: a 3 x 3 stride-2 stem to
    ``width`` maps (14 x 14), ``(depth - 2) / 2`` :class:`BasicBlock` s, global average pooling and a linear
    layer (so ``depth`` counts like He et al.'s plain-20 / ResNet-20). ``depth`` must be even, >= 4."""

    def __init__(self, depth: int, residual: bool, width: int = 16, num_classes: int = 10):
        super().__init__()
        check_int("depth", depth, 4)
        if depth % 2:
            raise ValueError(f"depth counts the stem, two layers per block and the classifier: it must be even, got {depth}")
        self.depth, self.residual = depth, residual
        self.stem = nn.Sequential(nn.Conv2d(1, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        self.blocks = nn.Sequential(*(BasicBlock(width, residual) for _ in range((depth - 2) // 2)))
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.blocks(self.stem(x)).mean((-2, -1)))
