"""Receptive fields of dilated convolutions (Yu & Koltun, "Multi-Scale Context Aggregation by Dilated
Convolutions", ICLR 2016, §2-3), in theory and measured.

A ``k x k`` convolution with dilation ``d`` spans ``d·(k - 1) + 1`` pixels. Stacking 3 x 3 layers with
dilations 1, 2, 4, 8 grows the receptive field exponentially (3, 7, 15, 31) at full resolution, as
strides 2, 2, 2, 2 do, but without losing resolution (Yu & Koltun §2, Fig. 1).

    receptive_field([(3, 1, 1), (3, 1, 2), (3, 1, 4), (3, 1, 8)])        # 31: course_lib.arithmetic, in theory
    gradient = effective_receptive_field(model, (1, 3, 65, 65))          # |d out[centre] / d input|
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from course_lib.validate import check_module

__all__ = ["effective_receptive_field", "extent", "support_centre"]


def effective_receptive_field(model: nn.Module, input_size: tuple[int, int, int, int],
                              seed: int = 0) -> torch.Tensor:
    """``|∂ y_centre / ∂ x|`` summed over the channels: the ``(H, W)`` map of how much each input
    pixel moves the centre output unit (summed over output channels) of ``model`` in eval mode, at a
    random input of ``input_size = (1, C, H, W)`` drawn from ``seed`` (Luo et al., NeurIPS 2016,
    "effective receptive field"). Its non-zero region is the receptive field; see :func:`extent`."""
    check_module(model)
    if len(input_size) != 4 or input_size[0] != 1:
        raise ValueError(f"input_size must be (1, C, H, W), got {tuple(input_size)}")
    x = torch.rand(input_size, generator=torch.Generator().manual_seed(seed)).requires_grad_()
    was_training = model.training
    out = model.eval()(x)
    model.train(was_training)
    out[0, :, out.shape[-2] // 2, out.shape[-1] // 2].sum().backward()
    return x.grad.abs().sum((0, 1))


def extent(gradient: torch.Tensor) -> tuple[int, float]:
    """The measured receptive field of a gradient map (``effective_receptive_field``): the side of
    the bounding box of its non-zero pixels (the larger of height and width), and the share of the
    pixels in that box that are non-zero (1 for a solid field, 1/4 for dilation-2 gridding)."""
    if not isinstance(gradient, torch.Tensor) or gradient.ndim != 2:
        raise ValueError(f"gradient must be an (H, W) tensor, got {getattr(gradient, 'shape', type(gradient).__name__)}")
    rows, cols = torch.nonzero(gradient, as_tuple=True)
    if len(rows) == 0:
        raise ValueError("the gradient is zero everywhere: no receptive field to measure")
    height, width = int(rows.max() - rows.min()) + 1, int(cols.max() - cols.min()) + 1
    return max(height, width), len(rows) / (height * width)


def support_centre(gradient: torch.Tensor) -> tuple[float, float]:
    """The centre ``(y, x)`` of the bounding box of the non-zero pixels of a gradient map, in pixel
    coordinates (pixel ``p`` covers ``[p, p + 1)``, so a support of pixels 3..5 is centred at 4.5):
    where the output unit sits on the input, for a receptive field that is symmetric about it."""
    if not isinstance(gradient, torch.Tensor) or gradient.ndim != 2:
        raise ValueError(f"gradient must be an (H, W) tensor, got {getattr(gradient, 'shape', type(gradient).__name__)}")
    rows, cols = torch.nonzero(gradient, as_tuple=True)
    if len(rows) == 0:
        raise ValueError("the gradient is zero everywhere: no support to locate")
    return (float(rows.min() + rows.max()) / 2 + 0.5, float(cols.min() + cols.max()) / 2 + 0.5)
