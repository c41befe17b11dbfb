"""Degraded copies of images, to test and train models against bad conditions (notebook 07, §3).

    dark = low_light(images, seed=1)                 # the camera at night of exercise E2.5
    augmented = random_low_light(images, step)       # a different darkness per image and step
    small = downscale(modcrop(image, 3), 3)          # the low-resolution input of notebook 11
    patches = random_patches(images, 48, 1000, seed=0)  # training crops, flipped and rotated
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from course_lib.validate import check_image_range, check_int

__all__ = ["low_light", "random_low_light", "modcrop", "downscale", "upscale", "random_patches"]


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


def modcrop(images: torch.Tensor, factor: int) -> torch.Tensor:
    """Crop the bottom and right so that height and width are multiples of ``factor`` (the field's
    "modcrop", done before :func:`downscale` so that high and low resolution align exactly)."""
    factor = check_int("factor", factor, 1, expected="a positive int (the scale)")
    h, w = images.shape[-2:]
    return images[..., : h - h % factor, : w - w % factor]


def downscale(images: torch.Tensor, factor: int) -> torch.Tensor:
    """The low-resolution image of super resolution: bicubic, antialiased downscaling by ``factor``
    (what MATLAB's ``imresize`` does and the SR benchmarks were made with), clipped to [0, 1].

    ``images``: float ``(C, H, W)`` or ``(N, C, H, W)`` in [0, 1] whose height and width ``factor``
    divides (crop with :func:`modcrop` first).
    """
    check_image_range(images, "downscale")
    factor = check_int("factor", factor, 1, expected="a positive int (the scale)")
    h, w = images.shape[-2:]
    if h % factor or w % factor:
        raise ValueError(f"downscale: factor {factor} does not divide the image size {h}x{w}; "
                         f"crop it first with modcrop(images, {factor}) to {h - h % factor}x{w - w % factor}")
    batch = images if images.ndim == 4 else images[None]
    small = F.interpolate(batch, size=(h // factor, w // factor), mode="bicubic", antialias=True,
                          align_corners=False).clamp(0, 1)
    return small if images.ndim == 4 else small[0]


def upscale(images: torch.Tensor, factor: int) -> torch.Tensor:
    """Bicubic upscaling by ``factor``, clipped to [0, 1]: the baseline of super resolution and the
    input of SRCNN (Dong et al. 2014, §3.1: "upscale it to the desired size using bicubic")."""
    check_image_range(images, "upscale")
    factor = check_int("factor", factor, 1, expected="a positive int (the scale)")
    batch = images if images.ndim == 4 else images[None]
    big = F.interpolate(batch, scale_factor=factor, mode="bicubic", align_corners=False).clamp(0, 1)
    return big if images.ndim == 4 else big[0]


def random_patches(images, size: int, count: int, seed: int = 0, augment: bool = True) -> torch.Tensor:
    """``count`` random ``size x size`` crops of a list of ``(C, H, W)`` images, as ``(count, C, size,
    size)``: each crop from an image drawn uniformly, at a uniform position, and with ``augment`` one
    of the 8 flips/rotations by 90° (the dihedral group; Lim et al. 2017, EDSR §4.1). All draws come
    from ``seed``, so the same arguments give the same patches."""
    size = check_int("size", size, 1, expected="a positive int (the patch side)")
    count = check_int("count", count, 1, expected="a positive int (the number of patches)")
    if isinstance(images, torch.Tensor) and images.ndim == 4:
        images = list(images)
    if not isinstance(images, (list, tuple)) or not images:
        raise TypeError("random_patches: images must be a non-empty list of (C, H, W) tensors or an (N, C, H, W) batch")
    for image in images:
        check_image_range(image, "random_patches")
        if image.ndim != 3 or min(image.shape[-2:]) < size or image.shape[0] != images[0].shape[0]:
            raise ValueError(f"random_patches: every image must be (C, H, W) with the same C and at least "
                             f"{size}x{size}, got {tuple(image.shape)}")
    generator = torch.Generator().manual_seed(seed)

    def draw(high: int) -> int:
        return int(torch.randint(high, (1,), generator=generator))

    patches = []
    for _ in range(count):
        image = images[draw(len(images))]
        top, left = draw(image.shape[-2] - size + 1), draw(image.shape[-1] - size + 1)
        patch = image[:, top: top + size, left: left + size]
        if augment:
            turns, flip = draw(4), draw(2)
            patch = patch.rot90(turns, dims=(-2, -1))
            patch = patch.flip(-1) if flip else patch
        patches.append(patch)
    return torch.stack(patches).contiguous()
