"""Notebook 07's speed comparison (Johnson, Alahi & Fei-Fei 2016, Table 1): one pass of a transform network
against Gatys et al.'s optimisation as notebook 06 runs it; ``benchmarks/perceptual.py`` runs the same.

    elapsed = gatys_elapsed(content, style, iterations=10)    # seconds after each L-BFGS iteration
    per_iteration = elapsed[-1] / len(elapsed)
"""
from __future__ import annotations

import time

import torch
from torch import nn

from course_lib.recipes.gatys import synthesize
from course_lib.losses.style import CONTENT_LAYER, STYLE_LAYERS
from course_lib.models.vgg import vgg_features

__all__ = ["PAPER_SPEEDUP", "gatys_elapsed"]

#: Johnson et al. 2016, Table 1 (256 x 256, GPU): Gatys at 100 / 300 / 500 L-BFGS iterations over one transform-net pass.
PAPER_SPEEDUP = {100: 212, 300: 636, 500: 1060}


class _Stamped(nn.Module):
    """The loss network, noting the time at the end of each call."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net, self.stamps = net, []

    def forward(self, x):
        out = self.net(x)
        self.stamps.append(time.perf_counter())
        return out


def gatys_elapsed(content: torch.Tensor, style: torch.Tensor, iterations: int) -> list[float]:
    """Seconds elapsed after each of ``iterations`` L-BFGS iterations of notebook 06's Gatys et al.:
    ``course_lib.recipes.gatys.synthesize`` from the ``content`` image ``(3, H, W)`` with the ``style`` image,
    the Gatys layer set (relu1_1 ... relu5_1 style, relu4_2 content) of ``vgg_features``, one forward and one
    backward pass per iteration. The clock starts once the targets (the two first calls) are computed."""
    phi = _Stamped(vgg_features(STYLE_LAYERS + [CONTENT_LAYER], verbose=False))
    synthesize(phi, content, style, beta=10.0, init="content", steps=iterations)
    end = time.perf_counter()
    start, calls = phi.stamps[1], phi.stamps[2:]
    return [stamp - start for stamp in calls[1:]] + [end - start]
