"""PSPNet (Zhao, Shi, Qi, Wang & Jia, "Pyramid Scene Parsing Network", CVPR 2017), in miniature.

- :class:`PyramidPoolingModule` (§3.2, Fig. 3c): average-pool the feature map into 1 x 1, 2 x 2,
  3 x 3 and 6 x 6 bins, reduce each pooled map to 1/N of the channels with a 1 x 1 convolution,
  upsample each back bilinearly and concatenate them with the features.
- :class:`PSPNet`: a small stride-4 backbone (:func:`backbone`), the module (or nothing, the baseline
  of §4.2, Table 1), a 3 x 3 conv and a 1 x 1 classifier, upsampled to the input.
- ``course_lib.recipes.backbones_pyramid``: how notebook 05b and ``benchmarks/developments.py`` train both on
  the context scenes of ``course_lib.data.context``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.validate import check_int

__all__ = ["conv_block", "backbone", "BACKBONE_LAYERS", "PyramidPoolingModule", "PSPNet", "IGNORE_INDEX"]

IGNORE_INDEX = 255  # a pixel without a label (cross-entropy's ignore_index)
BACKBONE_LAYERS = ((3, 1), (3, 2), (3, 1), (3, 2), (3, 1))  # (kernel, stride) of :func:`backbone`


def conv_block(in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """3 x 3 convolution ("same" padding), BatchNorm, ReLU."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride, padding=dilation, dilation=dilation,
                                   bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


def backbone(widths: tuple[int, int, int] = (16, 32, 64)) -> nn.Sequential:
    """Five 3 x 3 conv blocks of :data:`BACKBONE_LAYERS`, output stride 4 and ``widths[2]`` maps; the
    receptive field is 21 pixels. (PSPNet's is a dilated ResNet at stride 8; this one trains on a CPU.)"""
    w1, w2, w3 = widths
    return nn.Sequential(conv_block(3, w1), conv_block(w1, w2, 2), conv_block(w2, w2), conv_block(w2, w3, 2),
                         conv_block(w3, w3))


class PyramidPoolingModule(nn.Module):
    """§3.2, Fig. 3(c): for each bin count ``b`` of ``bins``, a stage ``AdaptiveAvgPool2d(b)`` -> 1 x 1
    ``Conv2d(in_channels, in_channels // len(bins), bias=False)`` -> ``BatchNorm2d`` -> ``ReLU``, created in
    this order (``self.stages``, an ``nn.ModuleList`` of ``nn.Sequential``). ``forward`` upsamples every
    stage's output bilinearly to the input's size and concatenates ``[x, stage_1, ..., stage_N]`` along the
    channels: ``(B, C, H, W)`` -> ``(B, C + N * (C // N), H, W)``."""

    def __init__(self, in_channels: int, bins: tuple[int, ...] = (1, 2, 3, 6)):
        super().__init__()
        check_int("in_channels", in_channels, len(bins))
        self.bins = tuple(check_int("bin", b, 1) for b in bins)
        reduced = in_channels // len(bins)
        self.stages = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(b), nn.Conv2d(in_channels, reduced, 1, bias=False),
                          nn.BatchNorm2d(reduced), nn.ReLU(inplace=True)) for b in self.bins)
        self.out_channels = in_channels + len(bins) * reduced

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        if max(self.bins) > min(size):
            raise ValueError(f"pyramid bins {self.bins}: the largest, {max(self.bins)} x {max(self.bins)}, does not "
                             f"fit the {size[0]} x {size[1]} feature map (give larger images or smaller bins)")
        pooled = [F.interpolate(stage(x), size=size, mode="bilinear", align_corners=False) for stage in self.stages]
        return torch.cat([x, *pooled], dim=1)


class PSPNet(nn.Module):
    """``(N, 3, H, W)`` -> ``(N, num_classes, H, W)`` scores: :func:`backbone` (stride 4), the
    :class:`PyramidPoolingModule` with ``bins`` (``pyramid=False``: left out, the baseline), a 3 x 3 conv
    block, dropout 0.1 and a 1 x 1 classifier (§3.3, Fig. 3d), bilinearly upsampled 4x.
    Image sides must be multiples of 4."""

    def __init__(self, num_classes: int, pyramid: bool = True, widths: tuple[int, int, int] = (16, 32, 64),
                 bins: tuple[int, ...] = (1, 2, 3, 6)):
        super().__init__()
        check_int("num_classes", num_classes, 1)
        self.backbone = backbone(widths)
        self.pyramid = PyramidPoolingModule(widths[2], bins) if pyramid else nn.Identity()
        channels = self.pyramid.out_channels if pyramid else widths[2]
        self.head = nn.Sequential(conv_block(channels, widths[2]), nn.Dropout2d(0.1), nn.Conv2d(widths[2], num_classes, 1))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The stride-4 maps the classifier reads (after the pyramid when there is one)."""
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3 or x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"PSPNet expects images (N, 3, H, W) with sides multiple of 4, got "
                             f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
        return self.pyramid(self.backbone(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.head(self.features(x)), size=x.shape[-2:], mode="bilinear", align_corners=False)
