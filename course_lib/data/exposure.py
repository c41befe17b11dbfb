"""Multi-exposure stacks of the sample images, the raw material of SICE (Cai, Gu & Zhang, IEEE TIP 2018,
§III: the same scene shot at several exposure values) — notebook 09.

    stack = exposure_stack(image, stops=(-2, -1, 0, 1, 2), seed=0)   # (5, 3, H, W) in [0, 1]

A frame is what a camera records at ``stop`` EV from the original: the original linearised with the
inverse of a gamma camera response, scaled by ``2**stop`` in linear light, given sensor noise, clipped
at the sensor's white level and passed through the camera response again. Under-exposed frames
(negative stops) are dark and noisy; over-exposed ones (positive stops) lose their highlights to clipping.
"""
from __future__ import annotations

import torch

from course_lib.validate import check_image_range

__all__ = ["camera_response", "inverse_camera_response", "exposure_stack"]


def camera_response(linear: torch.Tensor, gamma: float = 2.2) -> torch.Tensor:
    """A gamma camera response: linear light in [0, 1] to pixel values ``linear ** (1 / gamma)``."""
    return linear.clamp(0, 1).pow(1 / gamma)


def inverse_camera_response(pixels: torch.Tensor, gamma: float = 2.2) -> torch.Tensor:
    """Pixel values in [0, 1] back to linear light: ``pixels ** gamma``."""
    return pixels.clamp(0, 1).pow(gamma)


def exposure_stack(image: torch.Tensor, stops=(-2, -1, 0, 1, 2), gamma: float = 2.2,
                   noise_std: float = 0.002, seed: int = 0) -> torch.Tensor:
    """The frames of ``image`` (``(C, H, W)`` in [0, 1], taken as the 0-EV frame) at exposure ``stops``:

        frame = camera_response(clip(2**stop · inverse_camera_response(image) + noise_std · n, 0, 1))

    with ``n`` standard normal noise in linear light, drawn from ``seed`` (one draw per frame). Returns
    ``(len(stops), C, H, W)``. The noise is small in linear light, but the camera response amplifies
    it in the shadows, so dark frames are visibly noisy, as in a real camera.
    """
    check_image_range(image, "exposure_stack")
    if image.ndim != 3:
        raise ValueError(f"exposure_stack: image must be one (C, H, W) image, got shape {tuple(image.shape)}")
    if isinstance(stops, (int, float)) or len(stops) == 0:
        raise ValueError(f"exposure_stack: stops must be a non-empty sequence of exposure values, got {stops!r}")
    if not gamma > 0 or not noise_std >= 0:
        raise ValueError(f"exposure_stack: gamma must be > 0 and noise_std >= 0, got {gamma!r} and {noise_std!r}")
    generator = torch.Generator().manual_seed(seed)
    linear = inverse_camera_response(image, gamma)
    frames = [camera_response(2.0 ** stop * linear + noise_std * torch.randn(image.shape, generator=generator), gamma)
              for stop in stops]
    return torch.stack(frames)
