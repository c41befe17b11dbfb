"""Losses of reflection separation (Zhang, Ng & Chen, "Single Image Reflection Separation with Perceptual
Losses", CVPR 2018, arXiv 1806.05376) for ``course_lib.models.reflection``.

- §3.3, Eq. 4-5: :func:`exclusion_loss`, edges of the background B and the reflection R should not coincide.
- §3: :func:`separation_loss`, the training loss of notebook 10 (L1, SSIM, exclusion and perceptual terms).
"""
from __future__ import annotations

import itertools
from typing import Callable

import torch
import torch.nn.functional as F

from course_lib.metrics import ssim
from course_lib.validate import check_int, check_layer_pair

__all__ = ["exclusion_loss", "separation_loss"]


def exclusion_loss(b: torch.Tensor, r: torch.Tensor, levels: int = 3) -> torch.Tensor:
    """The exclusion loss of Zhang et al. §3.3, Eq. 4-5, averaged over the batch:

        L_excl = sum_{n=1..levels} sum_{x, y} || Psi(B_n, R_n) ||_F / sqrt(#entries)
        Psi(B, R) = tanh(lambda_B |grad B|) * tanh(lambda_R |grad R|)
        lambda_B = sqrt(||grad R||_F / ||grad B||_F),  lambda_R = sqrt(||grad B||_F / ||grad R||_F)

    ``grad`` is the forward difference (``torch.diff``) along x and along y, taken separately; the
    norms are per image over channels and positions; ``B_n`` is ``b`` downsampled ``n - 1`` times by 2
    (2x2 averages, i.e. bilinear by 1/2; the paper uses N = 3 levels). The lambdas put both layers'
    gradients on one scale, so that a faint reflection still counts. Dividing the Frobenius norm by
    the square root of its number of entries (not in the paper) makes the loss independent of the
    image size. ``b`` and ``r`` are ``(N, C, H, W)``; the result is 0 when no edge of one layer meets
    an edge of the other.
    """
    check_layer_pair(b, r, "exclusion_loss")
    levels = check_int("levels", levels, 1, expected="an int >= 1 (the number of scales)")
    total = b.new_zeros(())
    for level in range(levels):
        if level:
            if min(b.shape[-2:]) < 4:
                raise ValueError(f"exclusion_loss: {levels} levels need images of at least {2 ** levels}x"
                                 f"{2 ** levels}, got {tuple(r.shape[-2:])} at level {level + 1}")
            b, r = F.avg_pool2d(b, 2), F.avg_pool2d(r, 2)
        for dim in (-1, -2):
            grad_b, grad_r = torch.diff(b, dim=dim).abs(), torch.diff(r, dim=dim).abs()
            norm_b = grad_b.flatten(1).norm(dim=1).clamp_min(1e-8)[:, None, None, None]
            norm_r = grad_r.flatten(1).norm(dim=1).clamp_min(1e-8)[:, None, None, None]
            psi = torch.tanh((norm_r / norm_b).sqrt() * grad_b) * torch.tanh((norm_b / norm_r).sqrt() * grad_r)
            total = total + psi.flatten(1).pow(2).mean(1).sqrt().mean()
    return total


def separation_loss(exclusion_weight: float = 0.0, perceptual: Callable | None = None,
                    perceptual_weight: float = 0.0, ssim_weight: float = 0.0, exclusion_after: int = 0) -> Callable:
    """The training loss on outputs and targets ``(N, 6, H, W)`` (B and R stacked): L1 on both layers,
    plus ``ssim_weight`` times ``1 - ssim(B predicted, B true)`` (:func:`course_lib.metrics.ssim`), plus
    ``exclusion_weight`` times :func:`exclusion_loss` of the predicted layers, plus
    ``perceptual_weight`` times ``perceptual(B predicted, B true)`` (e.g. notebook 07's
    ``PerceptualLoss``; Zhang et al. §3.2 use a feature loss on B).

    ``exclusion_after``: the exclusion term is left out of the loss's first ``exclusion_after`` calls.
    ``fit`` calls the loss once per training step (without a ``val_loader``, as in :func:`~course_lib.recipes.reflection.train_separation`),
    so these are warm-up steps: the network first learns what a background looks like, then is asked to keep
    its edges out of R (``ReflectionRecipe.exclusion_after``). Each new loss counts from 0."""
    exclusion_after = check_int("exclusion_after", exclusion_after, 0, expected="an int >= 0 (warm-up steps)")
    calls = itertools.count()

    def loss(output, target):
        step = next(calls)
        total = F.l1_loss(output, target)
        if ssim_weight:
            total = total + ssim_weight * (1 - ssim(output[:, :3].clamp(0, 1), target[:, :3]))
        if exclusion_weight and step >= exclusion_after:
            total = total + exclusion_weight * exclusion_loss(output[:, :3], output[:, 3:])
        if perceptual_weight:
            total = total + perceptual_weight * perceptual(output[:, :3].clamp(0, 1), target[:, :3])
        return total
    return loss
