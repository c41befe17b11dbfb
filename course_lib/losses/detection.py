"""Losses of Mask R-CNN (He, Gkioxari, Dollár & Girshick, ICCV 2017) for ``course_lib.models.mask_rcnn``.

- §3 "Mask Representation": :func:`mask_loss`, ``L_mask``, a per-pixel sigmoid on the ground-truth
  class's mask only.
- Table 2b: :func:`softmax_mask_loss`, a softmax over background and classes at every pixel instead.
- §3, Eq. 1 (``L = L_cls + L_box + L_mask``, plus the RPN's losses of Ren et al., NeurIPS 2015):
  :func:`total_loss`, the sum of the losses a torchvision detector returns in train mode.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["mask_loss", "softmax_mask_loss", "total_loss"]


def mask_loss(mask_logits: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """§3 "Mask Representation": ``L_mask``, the mean binary cross-entropy of the sigmoid of the mask
    of each RoI's ground-truth class only; the other classes' masks get no gradient, so classes do
    not compete. ``(K, C, M, M)`` logits, ``(K,)`` labels, ``(K, M, M)`` targets → a scalar."""
    chosen = mask_logits[torch.arange(len(labels), device=labels.device), labels]
    return F.binary_cross_entropy_with_logits(chosen, targets)


def softmax_mask_loss(mask_logits: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Table 2b's alternative to :func:`mask_loss`, the FCN way: a per-pixel cross-entropy over background
    (channel 0) and the classes, the target being the RoI's class where its ``(K, M, M)`` target is >= 0.5 and
    background elsewhere; the classes compete at every pixel. Same arguments as :func:`mask_loss`."""
    return F.cross_entropy(mask_logits, torch.where(targets >= 0.5, labels[:, None, None], 0))


def total_loss(losses: dict, _targets=None) -> torch.Tensor:
    """The sum of the detector's losses (RPN objectness and box, box classifier and regression, mask)."""
    return sum(losses.values())
