"""One layer of random filters at several sizes: a texture model with no training and no depth.

    net = MultiScaleRandomFilters()          # filter sizes 3, 5, 7, 11, 15, 23; 64 maps each
    features = net(images)                   # dict "scale3" -> (N, 64, H, W), "scale5" -> ...

Ustyuzhaninov, Brendel, Gatys & Bethge, "What does it take to generate natural textures?"
(ICLR 2017, §3) ask which part of Gatys et al.'s texture model matters: the depth, the pooling or
the trained filters. Their answer is none of them: a *single* convolutional layer of *random*
filters of several sizes, followed by a ReLU, already synthesises natural textures from the Gram
matrices of its feature maps. The sizes matter: small filters give the grain, large ones the
larger structures (a brick, a joint between two bricks).

Kept from the paper's multi-scale model: one layer, random filters of several odd sizes, stride 1,
no bias, no pooling, ReLU, outputs as large as the input. Scaled down for a CPU: the paper uses
8 sizes 3, 5, 7, 11, 15, 23, 37, 55 with 128 maps each; the default here is the first 6 sizes with
64 maps each, about 11 times less computation. The filters are drawn from a uniform distribution
with a fixed seed; padding is zero padding of (size - 1) / 2 pixels. The ImageNet mean is subtracted
inside, so the input is an RGB batch in [0, 1] as for ``vgg_features``. The course's style loss takes
one Gram matrix per output, so each filter size gets its own Gram (correlations between maps of
different sizes are not used).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from course_lib.validate import check_image_batch
from course_lib.models.vgg import IMAGENET_MEAN

__all__ = ["MultiScaleRandomFilters"]


def _check_arguments(sizes, maps) -> list[int]:
    if isinstance(sizes, int) or not isinstance(sizes, Sequence) or not sizes:
        raise ValueError(f"sizes must be a non-empty sequence of odd filter sizes such as (3, 5, 7), got {sizes!r}")
    for size in sizes:
        if not isinstance(size, int) or isinstance(size, bool) or size < 1 or size % 2 == 0:
            raise ValueError(f"every filter size must be a positive odd int (so that the output keeps "
                             f"the input's size), got {size!r} in sizes={tuple(sizes)!r}")
    if len(set(sizes)) != len(sizes):
        raise ValueError(f"filter sizes must be distinct (one output per size), got {tuple(sizes)!r}")
    if not isinstance(maps, int) or isinstance(maps, bool) or maps < 1:
        raise ValueError(f"maps (feature maps per size) must be a positive int, got {maps!r}")
    return list(sizes)


class MultiScaleRandomFilters(nn.Module):
    """Ustyuzhaninov et al. (ICLR 2017, §3): ReLU(random conv) at each filter size, frozen.

    ``forward(x)`` takes ``(N, 3, H, W)`` in [0, 1] and returns ``{"scale3": (N, maps, H, W), ...}``
    in the order of ``sizes`` (the names are in ``.layers``).
    """

    def __init__(self, sizes: Sequence[int] = (3, 5, 7, 11, 15, 23), maps: int = 64, seed: int = 0):
        super().__init__()
        sizes = _check_arguments(sizes, maps)
        self.layers = [f"scale{size}" for size in sizes]
        generator = torch.Generator().manual_seed(seed)
        self.filters = nn.ModuleDict()
        for name, size in zip(self.layers, sizes):
            conv = nn.Conv2d(3, maps, size, padding=size // 2, bias=False)
            bound = (6 / (3 * size * size)) ** 0.5  # He-uniform: every size gives maps of similar magnitude
            with torch.no_grad():
                conv.weight.uniform_(-bound, bound, generator=generator)
            self.filters[name] = conv
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.source_description = (f"random multi-scale filters (Ustyuzhaninov et al. 2017: one layer, "
                                   f"sizes {', '.join(map(str, sizes))}, {maps} maps each, seed {seed}) - not ImageNet")
        self.requires_grad_(False).eval()

    def train(self, mode: bool = True) -> "MultiScaleRandomFilters":
        return super().train(False)  # always eval: the loss network is fixed

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        check_image_batch(x)
        h = x - self.mean
        return {name: torch.relu(conv(h)) for name, conv in self.filters.items()}

    def extra_repr(self) -> str:
        return f"layers={self.layers}, source={self.source_description!r}"
