"""The small networks of notebook 05a (slide D, "Developments", first half).

- :class:`UpsamplingDecoder`: a two-layer decoder that upsamples 2x with one of three layers
  (Odena, Dumoulin & Olah, Distill 2016): a 3 x 3 stride-2 transposed convolution (kernel not
  divisible by the stride: checkerboard), a 4 x 4 one initialised bilinear (FCN §3.3, the middle
  road), or nearest-neighbour resize followed by a 3 x 3 convolution ("resize-convolution").
- :func:`conv_stack`: four 3 x 3 convolutions, plain, strided, dilated 1-2-4-8 (Yu & Koltun 2016,
  §2) or dilated 2-2-2-2 (gridding), for receptive-field pictures.

The notebook's experiments (its recipe, the decoders' training, the CRF refinements) are in
``course_lib.recipes.developments``.
"""
from __future__ import annotations

import torch
from torch import nn

from course_lib.models.fcn import bilinear_kernel

__all__ = ["UPSAMPLING", "upsampling_layer", "UpsamplingDecoder", "STACKS", "conv_stack"]

UPSAMPLING = ("deconv 3x3", "deconv 4x4 bilinear", "resize-conv")


def upsampling_layer(kind: str, channels: int) -> nn.Module:
    """A 2x upsampling of ``channels`` maps: ``"deconv 3x3"`` (``ConvTranspose2d``, kernel 3, stride 2,
    default initialisation), ``"deconv 4x4 bilinear"`` (kernel 4, stride 2, initialised to bilinear
    interpolation and learnable) or ``"resize-conv"`` (nearest-neighbour 2x, then a 3 x 3 conv)."""
    if kind == "deconv 3x3":
        return nn.ConvTranspose2d(channels, channels, 3, stride=2, padding=1, output_padding=1)
    if kind == "deconv 4x4 bilinear":
        layer = nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1)
        with torch.no_grad():
            layer.weight.copy_(bilinear_kernel(channels, channels, 4))
            layer.bias.zero_()
        return layer
    if kind == "resize-conv":
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(channels, channels, 3, padding=1))
    raise ValueError(f"kind must be one of {UPSAMPLING}, got {kind!r}")


class UpsamplingDecoder(nn.Module):
    """``(N, 3, H, W)`` -> ``(N, 3, 2H, 2W)``: a 3 x 3 conv to ``width`` maps, ReLU, the 2x
    :func:`upsampling_layer` of ``kind``, ReLU, a 3 x 3 conv back to RGB."""

    def __init__(self, kind: str, width: int = 16):
        super().__init__()
        self.kind = kind
        self.encode = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU())
        self.upsample = nn.Sequential(upsampling_layer(kind, width), nn.ReLU())
        self.decode = nn.Conv2d(width, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.upsample(self.encode(x)))


STACKS = {  # four 3 x 3 layers as (stride, dilation)
    "plain": [(1, 1)] * 4,
    "strided": [(2, 1)] * 4,
    "dilated 1-2-4-8": [(1, 1), (1, 2), (1, 4), (1, 8)],
    "dilated 2-2-2-2": [(1, 2)] * 4,
}


def conv_stack(kind: str, channels: int = 4) -> nn.Sequential:
    """Four 3 x 3 convolutions of :data:`STACKS` ``[kind]`` with "same" padding, without
    activations (so a gradient map shows the wiring alone, not which ReLUs happen to be off)."""
    if kind not in STACKS:
        raise ValueError(f"kind must be one of {tuple(STACKS)}, got {kind!r}")
    layers = [nn.Conv2d(1 if i == 0 else channels, channels, 3, stride=s, padding=d, dilation=d)
              for i, (s, d) in enumerate(STACKS[kind])]
    return nn.Sequential(*layers)
