"""Segmentation losses.

- Ronneberger, Fischer & Brox, "U-Net: Convolutional Networks for Biomedical Image Segmentation",
  MICCAI 2015, Eq. 1: :func:`pixel_weighted_cross_entropy`, with the weight map of
  ``course_lib.models.unet.unet_weight_map`` (Eq. 2).
- Zhao, Qi, Shen, Shi & Jia, "ICNet for Real-Time Semantic Segmentation on High-Resolution Images",
  ECCV 2018, §3.4: :class:`CascadeLoss`, cascade label guidance for ``course_lib.models.icnet.ICNet``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.models.pspnet import IGNORE_INDEX
from course_lib.models.unet import center_crop

__all__ = ["pixel_weighted_cross_entropy", "CascadeLoss"]


def pixel_weighted_cross_entropy(logits: torch.Tensor, target: torch.Tensor,
                                 weight: torch.Tensor) -> torch.Tensor:
    """Eq. 1: the mean over pixels of w(x) · (-log p_{l(x)}(x)).

    ``logits`` (N, K, h, w); ``target`` (N, H, W) class ids and ``weight`` (N, H, W) are centre-
    cropped to (h, w), so the same targets serve valid and same padding.
    """
    if target.shape != weight.shape or target.dim() != 3:
        raise ValueError(f"target and weight must both be (N, H, W), got {tuple(target.shape)} "
                         f"and {tuple(weight.shape)}")
    size = logits.shape[-2:]
    per_pixel = F.cross_entropy(logits, center_crop(target, size), reduction="none")
    return (per_pixel * center_crop(weight, size)).mean()


class CascadeLoss(nn.Module):
    """§3.4, Eq. 1: cascade label guidance, ``sum_t weights[t] * cross-entropy(outputs[t], masks)``, each
    output's scores upsampled bilinearly to the masks' size as :class:`ICNet` does at test time
    (:data:`IGNORE_INDEX` ignored). The paper weighs its three outputs, coarse to fine, 0.4, 0.4 and 1.

    The paper downsamples the labels instead. Nearest-neighbour downsampling by 4 keeps pixel ``4i``, while
    bilinear upsampling puts score ``i`` at ``4i + 1.5``: a net trained that way shows every mask 1.5 pixels
    down and to the right of where it belongs (``tests/test_icnet.py`` measures the shift)."""

    def __init__(self, weights: tuple[float, ...] = (0.4, 0.4, 1.0)):
        super().__init__()
        self.weights = tuple(weights)

    def forward(self, outputs, masks: torch.Tensor) -> torch.Tensor:
        if not isinstance(outputs, (tuple, list)) or len(outputs) != len(self.weights):
            raise ValueError(f"CascadeLoss expects {len(self.weights)} outputs (ICNet in train mode), got "
                             f"{type(outputs).__name__}{f' of {len(outputs)}' if isinstance(outputs, (tuple, list)) else ''}")
        total = 0.0
        for weight, scores in zip(self.weights, outputs):
            scores = F.interpolate(scores, size=masks.shape[-2:], mode="bilinear", align_corners=False)
            total = total + weight * F.cross_entropy(scores, masks, ignore_index=IGNORE_INDEX)
        return total
