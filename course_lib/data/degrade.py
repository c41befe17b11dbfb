"""Degraded copies of images, to test and train models against bad conditions (notebook 07, §3).

    dark = low_light(images, seed=1)                 # the camera at night of exercise E2.5
    augmented = random_low_light(images, step)       # a different darkness per image and step
    small = downscale(modcrop(image, 3), 3)          # the low-resolution input of notebook 11
    big = upscale(small, 3, a=-0.5)                  # bicubic with MATLAB's kernel (PyTorch's: a=-0.75)
    patches = random_patches(images, 48, 1000, seed=0)  # training crops, flipped and rotated
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from course_lib.validate import check_image_range, check_int

__all__ = ["low_light", "random_low_light", "modcrop", "downscale", "cubic_kernel", "cubic_upscale", "bicubic", "upscale",
           "random_patches"]


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


def cubic_kernel(t: torch.Tensor, a: float = -0.5) -> torch.Tensor:
    """Keys' cubic convolution kernel (Keys, IEEE TASSP 1981, Eq. 15), ``W(t)`` for a tensor ``t``:

        (a + 2)|t|^3 - (a + 3)|t|^2 + 1     for |t| <= 1
        a|t|^3 - 5a|t|^2 + 8a|t| - 4a       for 1 < |t| < 2,   0 beyond.

    ``a = -0.5`` is Keys' choice and MATLAB's ``imresize`` (and PIL's); PyTorch's ``mode="bicubic"``
    upscaling uses ``a = -0.75`` (OpenCV's). PyTorch's antialiased *downscaling* uses ``a = -0.5``.
    """
    t = t.abs()
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return torch.where(t <= 1, near, torch.where(t < 2, far, torch.zeros_like(t)))


def _cubic_matrix(size: int, factor: int, a: float, dtype) -> torch.Tensor:
    """``(factor * size, size)``: output pixel ``i`` sits at input coordinate ``(i + 0.5) / factor - 0.5``
    (pixel centres, ``align_corners=False``); its 4 neighbours' weights :func:`cubic_kernel`, with the
    indices clamped at the edges (edge pixels repeated, as ``F.interpolate`` does)."""
    position = (torch.arange(size * factor, dtype=torch.float64) + 0.5) / factor - 0.5
    first = position.floor().long() - 1
    matrix = torch.zeros(size * factor, size, dtype=torch.float64)
    for k in range(4):
        index = first + k
        matrix.index_put_((torch.arange(size * factor), index.clamp(0, size - 1)),
                          cubic_kernel(position - index, a), accumulate=True)
    return matrix.to(dtype)


def cubic_upscale(images: torch.Tensor, factor: int, a: float = -0.5) -> torch.Tensor:
    """Bicubic upscaling by ``factor`` with Keys' kernel of parameter ``a`` (:func:`cubic_kernel`),
    separable, edge pixels repeated, not clipped: with ``a=-0.75`` it equals
    ``F.interpolate(..., mode="bicubic", align_corners=False)``; with ``a=-0.5`` it is MATLAB's
    ``imresize`` kernel (which mirrors at the border instead; the SR metrics crop the border).
    ``images``: ``(..., H, W)``."""
    factor = check_int("factor", factor, 1, expected="a positive int (the scale)")
    if not isinstance(images, torch.Tensor) or not images.is_floating_point() or images.ndim < 2:
        raise TypeError("cubic_upscale: images must be a float tensor (..., H, W)")
    rows = _cubic_matrix(images.shape[-2], factor, a, images.dtype).to(images.device)
    columns = _cubic_matrix(images.shape[-1], factor, a, images.dtype).to(images.device)
    return rows @ images @ columns.T


def bicubic(images: torch.Tensor, factor: int, a: float = -0.75) -> torch.Tensor:
    """Bicubic upscaling of ``(..., H, W)`` by ``factor``, not clipped: PyTorch's
    ``F.interpolate(..., mode="bicubic", align_corners=False)`` for its kernel ``a=-0.75``, otherwise
    :func:`cubic_upscale` with Keys' kernel of parameter ``a`` (``-0.5``: MATLAB's). What
    :func:`upscale` clips, and the super-resolution baseline ``models.srcnn.Bicubic``."""
    if a == -0.75:
        return F.interpolate(images, scale_factor=factor, mode="bicubic", align_corners=False)
    return cubic_upscale(images, factor, a)


def upscale(images: torch.Tensor, factor: int, a: float = -0.75) -> torch.Tensor:
    """Bicubic upscaling by ``factor``, clipped to [0, 1]: the baseline of super resolution and the
    input of SRCNN (Dong et al. 2014, §3.1: "upscale it to the desired size using bicubic").
    ``a``: Keys' kernel parameter, PyTorch's ``-0.75`` by default, ``-0.5`` for MATLAB's
    (:func:`cubic_upscale`)."""
    check_image_range(images, "upscale")
    factor = check_int("factor", factor, 1, expected="a positive int (the scale)")
    batch = images if images.ndim == 4 else images[None]
    big = bicubic(batch, factor, a).clamp(0, 1)
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
