"""How much of an image is checkerboard (Odena, Dumoulin & Olah, "Deconvolution and Checkerboard
Artifacts", Distill 2016).

A stride-2 transposed convolution whose kernel size is not a multiple of 2 stamps its kernel unevenly:
odd and even output pixels receive different numbers of contributions, so its output repeats with a
period of 2 pixels. In the 2-D spectrum that period lives at the Nyquist frequencies (½ cycle per
pixel along rows, columns or both); a smooth image has almost no energy there.

    checkerboard_score(images)      # (N, C, H, W) or (C, H, W) or (H, W): a float in [0, 1]
"""
from __future__ import annotations

import torch

from course_lib.validate import check_int

__all__ = ["checkerboard_score"]


def checkerboard_score(images: torch.Tensor, border: int = 0) -> float:
    """The share of the images' energy (each channel of each image minus its mean) that lies at the
    three Nyquist frequencies ``(½, 0)``, ``(0, ½)`` and ``(½, ½)`` cycles per pixel of the 2-D DFT,
    pooled over the batch. 0 for an image without a period-2 pattern, 1 for a pure one such as
    ``(-1)^(row + col)``; white noise scores about ``3 / (H·W)``. ``border`` pixels are cut off each
    side first (a transposed convolution's edges differ from its interior). Sides must be even.
    """
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        raise TypeError(f"images must be a float tensor, got {getattr(images, 'dtype', type(images).__name__)}")
    if images.ndim not in (2, 3, 4):
        raise ValueError(f"images must be (H, W), (C, H, W) or (N, C, H, W), got shape {tuple(images.shape)}")
    check_int("border", border, 0)
    if border:
        images = images[..., border:-border, border:-border]
    h, w = images.shape[-2:]
    if h < 2 or w < 2 or h % 2 or w % 2:
        raise ValueError(f"the Nyquist frequency is a DFT bin only for even sides: got {h} x {w} "
                         f"after cutting a border of {border}")
    x = images.detach().double()
    x = x - x.mean((-2, -1), keepdim=True)
    energy = torch.fft.fft2(x).abs().square()
    nyquist = energy[..., h // 2, 0] + energy[..., 0, w // 2] + energy[..., h // 2, w // 2]
    total = energy.sum()
    return 0.0 if total == 0 else (nyquist.sum() / total).item()
