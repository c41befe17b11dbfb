"""Degraded copies of images, to test and train models against bad conditions (notebook 07, §3).

    dark = low_light(images, seed=1)                 # the camera at night of exercise E2.4
    augmented = random_low_light(images, step)       # a different darkness per image and step
"""
from __future__ import annotations

import torch

__all__ = ["low_light", "random_low_light"]


def low_light(images: torch.Tensor, gain=0.25, gamma=1.5, noise_std=0.03, seed: int = 0) -> torch.Tensor:
    """A low-light camera: ``clip(gain · images^gamma + noise_std · n, 0, 1)`` with
    ``n = torch.randn(images.shape, generator=torch.Generator().manual_seed(seed))``.

    ``gain``, ``gamma`` and ``noise_std`` are numbers, or tensors that broadcast against ``images``
    (``(N, 1, 1, 1)``: one value per image).
    """
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(seed))
    return (gain * images.pow(gamma) + noise_std * noise).clamp(0, 1)


def random_low_light(images: torch.Tensor, seed: int, clean_fraction: float = 0.3) -> torch.Tensor:
    """Augmentation: :func:`low_light` with a gain in [0.1, 1], a gamma in [1, 2] and a noise level in
    [0, 0.06] drawn per image (uniformly, from ``seed``); ``clean_fraction`` of the images stay clean."""
    generator = torch.Generator().manual_seed(seed)

    def uniform(low, high):
        return torch.empty(len(images), 1, 1, 1).uniform_(low, high, generator=generator)

    gain, gamma, noise_std = uniform(0.1, 1.0), uniform(1.0, 2.0), uniform(0.0, 0.06)
    dark = low_light(images, gain, gamma, noise_std, seed=seed)
    return torch.where(torch.rand(len(images), 1, 1, 1, generator=generator) < clean_fraction, images, dark)
