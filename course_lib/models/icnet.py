"""ICNet (Zhao, Qi, Shen, Shi & Jia, "ICNet for Real-Time Semantic Segmentation on High-Resolution
Images", ECCV 2018), in miniature: the image cascade around notebook 05b's :class:`PSPNet`.

§3.2, Fig. 2: three branches. The **heavy** one, PSPNet's backbone and pyramid, runs on the image at
1/4 resolution; a **medium** one runs the first four backbone blocks (weights shared) on the image at
1/2 resolution; a **light** one, three cheap convolutions, on the full image. §3.3, Fig. 3: a
:class:`CascadeFeatureFusion` unit fuses a coarse branch into the next finer one. §3.4: **cascade
label guidance**, a loss on each fusion's coarse scores besides the final one (``losses.segmentation.CascadeLoss``).
Our backbone has stride 4 (the paper's 8), so the branches end at 1/16, 1/8 and 1/4 of the image
(the paper's 1/32, 1/16 and 1/8).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.models.pspnet import PyramidPoolingModule, backbone, conv_block
from course_lib.validate import check_int

__all__ = ["CascadeFeatureFusion", "ICNet"]


class CascadeFeatureFusion(nn.Module):
    """§3.3, Fig. 3: ``low`` ``(B, C1, h, w)`` is upsampled 2x (bilinear) and goes through a 3 x 3
    convolution of dilation 2 + BatchNorm; ``high`` ``(B, C2, 2h, 2w)`` through a 1 x 1 convolution +
    BatchNorm; the sum, after a ReLU, is the fused ``(B, out_channels, 2h, 2w)`` map. A 1 x 1 classifier
    on the upsampled ``low`` gives the scores that cascade label guidance trains. Returns both."""

    def __init__(self, low_channels: int, high_channels: int, out_channels: int, num_classes: int):
        super().__init__()
        self.low = nn.Sequential(nn.Conv2d(low_channels, out_channels, 3, padding=2, dilation=2, bias=False),
                                 nn.BatchNorm2d(out_channels))
        self.high = nn.Sequential(nn.Conv2d(high_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))
        self.classifier = nn.Conv2d(low_channels, num_classes, 1)

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low = F.interpolate(low, size=high.shape[-2:], mode="bilinear", align_corners=False)
        return F.relu(self.low(low) + self.high(high)), self.classifier(low)


class ICNet(nn.Module):
    """``(N, 3, H, W)`` -> scores ``(N, num_classes, H, W)`` in eval mode; in train mode the three
    guided outputs ``(scores at H/8, scores at H/4, final scores at H/4)`` for ``losses.segmentation.CascadeLoss``.

    - heavy (``sub4``): :func:`backbone` (``widths``), :class:`PyramidPoolingModule` (``bins``) and a 3 x 3
      conv block on the 1/4-resolution image -> H/16;
    - medium (``sub2``): the backbone's first four blocks, the same weights, on the 1/2-resolution image -> H/8;
    - light (``sub1``): three 3 x 3 conv blocks of ``light`` widths, strides 2, 2, 1, on the image -> H/4;
    - ``cff_24`` fuses heavy into medium, ``cff_124`` that into light (``fused`` maps each); a 1 x 1
      classifier; bilinear 4x upsampling at test time. Image sides must be multiples of 16 (and the
      heavy branch's H/16 map at least as large as the largest bin).
    """

    def __init__(self, num_classes: int, widths: tuple[int, int, int] = (16, 32, 64),
                 light: tuple[int, int, int] = (8, 16, 32), fused: int = 32, bins: tuple[int, ...] = (1, 2, 3, 6)):
        super().__init__()
        check_int("num_classes", num_classes, 1)
        self.backbone = backbone(widths)
        self.pyramid = PyramidPoolingModule(widths[2], bins)
        self.heavy_head = conv_block(self.pyramid.out_channels, widths[2])
        self.sub1 = nn.Sequential(conv_block(3, light[0], 2), conv_block(light[0], light[1], 2),
                                  conv_block(light[1], light[2]))
        self.cff_24 = CascadeFeatureFusion(widths[2], widths[2], fused, num_classes)
        self.cff_124 = CascadeFeatureFusion(fused, light[2], fused, num_classes)
        self.classifier = nn.Conv2d(fused, num_classes, 1)

    def forward(self, x: torch.Tensor):
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3 or x.shape[-1] % 16 or x.shape[-2] % 16:
            raise ValueError(f"ICNet expects images (N, 3, H, W) with sides multiple of 16, got "
                             f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
        half, quarter = F.avg_pool2d(x, 2), F.avg_pool2d(x, 4)       # downsampling without aliasing
        f_sub4 = self.heavy_head(self.pyramid(self.backbone(quarter)))   # H/16
        f_sub2 = self.backbone[:4](half)                                  # H/8, shared weights
        f_sub24, scores_sub4 = self.cff_24(f_sub4, f_sub2)               # H/8
        f_sub124, scores_sub24 = self.cff_124(f_sub24, self.sub1(x))     # H/4
        scores = self.classifier(f_sub124)
        if self.training:
            return scores_sub4, scores_sub24, scores
        return F.interpolate(scores, size=x.shape[-2:], mode="bilinear", align_corners=False)
