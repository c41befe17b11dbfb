"""Exposure fusion: Mertens, Kautz & Van Reeth, "Exposure Fusion", Pacific Graphics 2007 — the way the
references of notebook 09 are made ("exposure combination": SICE, Cai et al. 2018, §III-B, made its
targets by fusing each multi-exposure stack).

    fused = exposure_fusion(stack)              # (K, 3, H, W) frames -> (3, H, W), all in [0, 1]
    weights = fusion_weights(stack)             # (K, 1, H, W), summing to 1 over the K frames
    pyramid = laplacian_pyramid(image, 4)       # [L0, L1, L2, G3]; collapse(pyramid) gives image back
    fused = pyramid_blend(stack, weights, 4)    # §3.2: sum_k G(W_k) · L(I_k) per level, collapsed

Each pixel of each frame gets a weight (§3.1): **contrast** C (absolute Laplacian of the grey frame),
**saturation** S (standard deviation of R, G, B) and **well-exposedness** E (a Gaussian around 0.5 of each
channel, multiplied over channels); ``W = C**wc · S**ws · E**we``, normalised over the frames. Blending the
frames with these weights directly leaves seams, so §3.2 blends them per level of a Laplacian pyramid
with the weights' Gaussian pyramid, and collapses the blended pyramid.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from course_lib.validate import check_image_range, check_int

__all__ = ["contrast", "saturation", "well_exposedness", "fusion_weights", "gaussian_pyramid",
           "laplacian_pyramid", "collapse", "default_levels", "pyramid_blend", "exposure_fusion"]

#: Burt & Adelson's 5-tap binomial kernel, the blur before each halving of the pyramid.
_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16
#: The 3x3 Laplacian filter of §3.1 (contrast).
_LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def _check_stack(stack, where: str, colour: bool = True) -> torch.Tensor:
    """A float ``(K, C, H, W)`` stack in [0, 1] (a list of equal-sized ``(C, H, W)`` frames is stacked)."""
    if isinstance(stack, (list, tuple)):
        shapes = {tuple(frame.shape) for frame in stack if isinstance(frame, torch.Tensor)}
        if len(shapes) > 1:
            raise ValueError(f"{where}: the frames of a stack must all have the same size, got shapes {sorted(shapes)}")
        stack = torch.stack(list(stack))
    if not isinstance(stack, torch.Tensor) or not stack.is_floating_point() or stack.ndim != 4:
        raise ValueError(f"{where}: expected a float stack (K, C, H, W) of K frames, got "
                         f"{getattr(stack, 'shape', type(stack).__name__)}")
    if colour and stack.shape[1] != 3:
        raise ValueError(f"{where}: needs RGB frames (K, 3, H, W), got {stack.shape[1]} channel(s); a grey "
                         "image has no saturation — repeat it to 3 channels and pass saturation=0 to the fusion")
    check_image_range(stack, where)
    return stack


def contrast(stack: torch.Tensor) -> torch.Tensor:
    """§3.1 contrast C: ``|Laplacian|`` of each frame's grey version (the mean of its channels), with
    replicated borders. ``(K, C, H, W)`` -> ``(K, 1, H, W)``."""
    stack = _check_stack(stack, "contrast", colour=False)
    grey = F.pad(stack.mean(1, keepdim=True), (1, 1, 1, 1), mode="replicate")
    return F.conv2d(grey, _LAPLACIAN.to(stack)[None, None]).abs()


def saturation(stack: torch.Tensor) -> torch.Tensor:
    """§3.1 saturation S: the standard deviation of R, G and B at each pixel (population, not sample).
    ``(K, 3, H, W)`` -> ``(K, 1, H, W)``; zero for a grey frame."""
    stack = _check_stack(stack, "saturation")
    return stack.std(1, correction=0, keepdim=True)


def well_exposedness(stack: torch.Tensor, sigma: float = 0.2) -> torch.Tensor:
    """§3.1 well-exposedness E: ``prod_c exp(-(i_c - 0.5)**2 / (2 sigma**2))`` with sigma = 0.2, so
    values near 0 (under-exposed) and near 1 (over-exposed) weigh little. ``(K, C, H, W)`` -> ``(K, 1, H, W)``."""
    stack = _check_stack(stack, "well_exposedness", colour=False)
    return torch.exp(-(stack - 0.5).pow(2) / (2 * sigma**2)).prod(1, keepdim=True)


def fusion_weights(stack: torch.Tensor, wc: float = 1.0, ws: float = 1.0, we: float = 1.0,
                   eps: float = 1e-12) -> torch.Tensor:
    """§3.1, Eq. 1-2: ``W = C**wc · S**ws · E**we + eps`` per frame and pixel, divided by its sum over
    the frames. ``(K, 3, H, W)`` -> ``(K, 1, H, W)``. An exponent of 0 ignores that measure (``ws=0``
    for a grey stack, whose saturation is zero everywhere)."""
    stack = _check_stack(stack, "fusion_weights")
    weights = contrast(stack).pow(wc) * saturation(stack).pow(ws) * well_exposedness(stack).pow(we) + eps
    return weights / weights.sum(0, keepdim=True)


def _blur(x: torch.Tensor) -> torch.Tensor:
    """The separable binomial blur, borders replicated (channels blurred independently)."""
    c = x.shape[1]
    k = _BINOMIAL.to(x)
    x = F.pad(x, (2, 2, 2, 2), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, 5).expand(c, 1, 1, 5), groups=c)
    return F.conv2d(x, k.view(1, 1, 5, 1).expand(c, 1, 5, 1), groups=c)


def _down(x: torch.Tensor) -> torch.Tensor:
    """Blur, then keep every second row and column: ``(H, W)`` -> ``(ceil(H/2), ceil(W/2))``."""
    return _blur(x)[..., ::2, ::2]


def _up(x: torch.Tensor, size) -> torch.Tensor:
    """Back to ``size`` by bilinear interpolation (the "expand" of the pyramid)."""
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


def _check_levels(x: torch.Tensor, levels: int, where: str) -> int:
    levels = check_int("levels", levels, 1, expected="a positive int (the number of pyramid levels)")
    if min(x.shape[-2:]) < 2 ** (levels - 1):
        raise ValueError(f"{where}: {levels} levels need images of at least {2 ** (levels - 1)} pixels a side, "
                         f"got {tuple(x.shape[-2:])}")
    return levels


def gaussian_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """``[G0, ..., G_{levels-1}]``: ``G0 = x``, each next level blurred and halved. ``x``: ``(N, C, H, W)``."""
    levels = _check_levels(x, levels, "gaussian_pyramid")
    pyramid = [x]
    for _ in range(levels - 1):
        pyramid.append(_down(pyramid[-1]))
    return pyramid


def laplacian_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """``[L0, ..., L_{levels-2}, G_{levels-1}]`` with ``L_k = G_k - up(G_{k+1})``: the band-pass detail of
    each scale, and the coarsest Gaussian level last. :func:`collapse` inverts it exactly."""
    gaussians = gaussian_pyramid(x, levels)
    return [g - _up(coarser, g.shape[-2:]) for g, coarser in zip(gaussians, gaussians[1:])] + [gaussians[-1]]


def collapse(pyramid: list[torch.Tensor]) -> torch.Tensor:
    """The image of a Laplacian pyramid: from the coarsest level, ``G_k = L_k + up(G_{k+1})``."""
    image = pyramid[-1]
    for level in reversed(pyramid[:-1]):
        image = level + _up(image, level.shape[-2:])
    return image


def default_levels(height: int, width: int) -> int:
    """As many levels as leave the coarsest at least 4 pixels a side (so it holds only the mean brightness)."""
    return max(1, int(math.log2(min(height, width) / 4)) + 1)


def pyramid_blend(stack: torch.Tensor, weights: torch.Tensor, levels: int) -> torch.Tensor:
    """§3.2, Eq. 3: blend the frames ``stack`` ``(K, C, H, W)`` with the weights ``weights`` ``(K, 1, H, W)``
    (non-negative; normalised here over the K frames, Eq. 2) level by level,
    ``L_l(R) = sum_k G_l(W_k) · L_l(I_k)``, with ``L_l`` the :func:`laplacian_pyramid` of the frames and
    ``G_l`` the :func:`gaussian_pyramid` of the weights, and :func:`collapse` the blended pyramid.
    Returns ``(C, H, W)``, not clipped."""
    if not isinstance(stack, torch.Tensor) or stack.ndim != 4 or not stack.is_floating_point():
        raise ValueError(f"pyramid_blend: stack must be a float (K, C, H, W) tensor, got "
                         f"{getattr(stack, 'shape', type(stack).__name__)}")
    if (not isinstance(weights, torch.Tensor) or weights.shape != (stack.shape[0], 1, *stack.shape[-2:])
            or not weights.is_floating_point()):
        raise ValueError(f"pyramid_blend: weights must be a float (K, 1, H, W) tensor matching the stack "
                         f"{tuple(stack.shape)}, got {getattr(weights, 'shape', type(weights).__name__)}")
    if (weights < 0).any() or (weights.sum(0) <= 0).any():
        raise ValueError("pyramid_blend: weights must be >= 0 with a positive sum over the frames at every pixel")
    weights = weights / weights.sum(0, keepdim=True)
    blended = [(w * lap).sum(0, keepdim=True)
               for w, lap in zip(gaussian_pyramid(weights, levels), laplacian_pyramid(stack, levels))]
    return collapse(blended)[0]


def exposure_fusion(stack, wc: float = 1.0, ws: float = 1.0, we: float = 1.0, levels: int | None = None) -> torch.Tensor:
    """§3.2: fuse a stack ``(K, 3, H, W)`` (or a list of ``(3, H, W)`` frames) in [0, 1] into one image
    ``(3, H, W)``: the :func:`pyramid_blend` of the frames with their :func:`fusion_weights`, clipped to
    [0, 1]. ``levels``: default :func:`default_levels`."""
    stack = _check_stack(stack, "exposure_fusion")
    levels = default_levels(*stack.shape[-2:]) if levels is None else levels
    return pyramid_blend(stack, fusion_weights(stack, wc, ws, we), levels).clamp(0, 1)
