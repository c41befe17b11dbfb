"""ESPCN: Shi, Caballero, Huszár, Totz, Aitken, Bishop, Rueckert, Wang, "Real-Time Single Image and
Video Super-Resolution Using an Efficient Sub-Pixel Convolutional Neural Network", CVPR 2016 — with
the ICNR initialisation of Aitken et al., "Checkerboard artifact free sub-pixel convolution", 2017.

    model = ESPCN(scale=3)                  # low-resolution Y (N, 1, h, w) -> Y (N, 1, 3h, 3w)
    pixel_shuffle(x, 3)                     # (N, 9C, h, w) -> (N, C, 3h, 3w), as nn.PixelShuffle
    weight = icnr(kernel, 3)                # (C, ...) -> (9C, ...): each sub-kernel copied 9 times
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.validate import check_float_batch, check_int

__all__ = ["ESPCN", "pixel_shuffle", "icnr"]


def pixel_shuffle(x: torch.Tensor, scale: int) -> torch.Tensor:
    """The periodic shuffling operator PS of ESPCN §2.2, Eq. 4: ``(N, C r², h, w)`` to
    ``(N, C, r h, r w)`` with ``out[n, c, r y + i, r x + j] = x[n, c r² + r i + j, y, x]``.
    Equals ``nn.PixelShuffle(r)``."""
    check_float_batch(x, "x", "pixel_shuffle", "(N, C*r*r, h, w)")
    r = check_int("scale", scale, 1, expected="a positive int (the upscaling factor r)")
    n, c, h, w = x.shape
    if c % (r * r):
        raise ValueError(f"pixel_shuffle: {c} channels is not a multiple of scale² = {r * r}")
    return x.reshape(n, c // (r * r), r, r, h, w).permute(0, 1, 4, 2, 5, 3).reshape(n, c // (r * r), h * r, w * r)


def icnr(kernel: torch.Tensor, scale: int) -> torch.Tensor:
    """ICNR (Aitken et al. 2017, §3): the weight ``(C r², C_in, k, k)`` of the convolution before a
    pixel shuffle made of a kernel ``(C, C_in, k, k)`` whose every output channel is repeated r² times
    in a row, so that the r² sub-pixels of each output pixel start equal: at initialisation the
    sub-pixel convolution is a convolution followed by nearest-neighbour upsampling, with no
    checkerboard."""
    if not isinstance(kernel, torch.Tensor) or kernel.ndim != 4:
        raise ValueError("icnr: kernel must be a (C, C_in, k, k) tensor")
    r = check_int("scale", scale, 1, expected="a positive int (the upscaling factor r)")
    return kernel.repeat_interleave(r * r, dim=0)


_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


class ESPCN(nn.Module):
    """ESPCN §2.2 and §3.2: all convolutions in low resolution — (f1, n1) = (5, 64) and (f2, n2) =
    (3, 32) — then a 3x3 convolution to ``channels · r²`` maps and the periodic shuffle
    ``nn.PixelShuffle(r)`` (Eq. 4). The network costs about r² times less than SRCNN per output pixel.

    ``activation``: the paper's ``"tanh"`` or ``"relu"`` (the default here): trained on a CPU with
    notebook 11's recipe, the tanh network stalls at about half the gain over bicubic that the ReLU one
    reaches (``benchmarks/applications.py super_resolution`` measures both).

    ``init="icnr"`` initialises the last convolution with :func:`icnr` of its default initialisation;
    ``init="default"`` keeps PyTorch's (which starts with a checkerboard). With ``residual=True`` (not
    in the paper; as for ``srcnn.SRCNN``) the network predicts the correction to bicubic upscaling.
    """

    def __init__(self, scale: int = 3, channels: int = 1, n1: int = 64, n2: int = 32,
                 f1: int = 5, f2: int = 3, f3: int = 3, init: str = "icnr",
                 residual: bool = True, activation: str = "relu"):
        super().__init__()
        self.scale = check_int("scale", scale, 2, expected="an int >= 2 (the upscaling factor)")
        self.residual = residual
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be 'relu' or 'tanh', got {activation!r}")
        act = _ACTIVATIONS[activation]
        self.feature_maps = nn.Sequential(nn.Conv2d(channels, n1, f1, padding=f1 // 2), act(),
                                          nn.Conv2d(n1, n2, f2, padding=f2 // 2), act())
        self.sub_pixel = nn.Conv2d(n2, channels * scale**2, f3, padding=f3 // 2)
        self.pixel_shuffle = nn.PixelShuffle(scale)
        if init not in ("icnr", "default"):
            raise ValueError(f"init must be 'icnr' or 'default', got {init!r}")
        if init == "icnr":
            with torch.no_grad():
                self.sub_pixel.weight.copy_(icnr(self.sub_pixel.weight[::scale**2], scale))
                self.sub_pixel.bias.copy_(self.sub_pixel.bias[::scale**2].repeat_interleave(scale**2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pixel_shuffle(self.sub_pixel(self.feature_maps(x)))
        if self.residual:
            y = y + F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return y

