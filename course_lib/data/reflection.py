"""Synthetic reflections, I = B + R: the data recipe of Zhang, Ng & Chen, "Single Image Reflection
Separation with Perceptual Losses", CVPR 2018, §4 (notebook 10).

    blend, background, reflection = synthesize_blend(b, r, sigma=3.0)   # one deterministic blend
    train = reflection_training_pairs(512, size=64, seed=0)              # patches of TRAIN_IMAGES
    blends, backgrounds, reflections, pairs = evaluation_blends()        # 102 held-out blends of 128 px

A photo through glass is the sum, in linear light, of the background behind the glass (B, in focus)
and a reflection (R, out of focus because the camera focuses on the background). The recipe: undo
the gamma (2.2), blur R with a Gaussian of random sigma in [1, 5], correct the overflow where B + R
exceeds 1, weaken R by a random mixing factor in [0.25, 0.5] (glass reflects a fraction of the light),
dim B by a random factor in [0.8, 1], add, and apply the gamma again.
"""
from __future__ import annotations

import math

import torch
from torchvision.transforms.v2 import functional as TF

from course_lib.data.degrade import random_patches
from course_lib.data.samples import HELD_OUT_IMAGES, TRAIN_IMAGES, sample_image
from course_lib.validate import check_image_range, check_int

__all__ = ["GAMMA", "SIGMA_RANGE", "MIXING_RANGE", "AUGMENT_SCALES", "AUGMENT_GAIN", "synthesize_blend",
           "random_blends", "reflection_training_pairs", "evaluation_blends"]

#: The display gamma the recipe undoes before adding the layers in linear light.
GAMMA = 2.2
#: The range of the Gaussian blur of the reflection (the paper's official code: ``linspace(1, 5, 80)``).
SIGMA_RANGE = (1.0, 5.0)
#: The range of the reflection's strength in linear light. The paper multiplies R by a vignetting mask
#: (a 2-D Gaussian, 1 at its centre and about 0.1 at its edge); one number per blend stands in for it
#: here. At full strength (1) R is as bright as B, the blend is mostly reflection and no method
#: recovers B (PSNR of B about 16 dB for every method, notebook 10 measured); at 0.25-0.5 the
#: reflection is still clearly visible where B is dark.
MIXING_RANGE = (0.25, 0.5)
#: ``reflection_training_pairs(augment=True)``: each training image also downscaled by these factors (a
#: patch then holds more of a scene, less of a texture) ...
AUGMENT_SCALES = (1, 2, 4)
#: ... and each patch's brightness multiplied in linear light by a gain drawn uniformly in this range
#: (darker scenes, as behind a window; clipped at 1).
AUGMENT_GAIN = (0.3, 1.2)


def _check_rgb(x, name: str, where: str) -> None:
    check_image_range(x, f"{where}: {name}")
    if x.ndim != 3 or x.shape[0] != 3:
        hint = " (a grey image: repeat it with x.expand(3, -1, -1))" if x.ndim == 3 and x.shape[0] == 1 else ""
        raise ValueError(f"{where}: {name} must be an RGB image (3, H, W), got shape {tuple(x.shape)}{hint}")


def _check_number(name: str, value, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValueError(f"{name} must be a number in [{low}, {high}], got {value!r}")
    return float(value)


def synthesize_blend(background: torch.Tensor, reflection: torch.Tensor, sigma: float,
                     transmission: float = 1.0, attenuation: float = 1.08, mixing: float = 1.0):
    """One blend of Zhang et al. §4 (their ``syn_data``), deterministic; returns ``(blend, background,
    reflection_layer)``, all ``(3, H, W)`` in [0, 1] and gamma-encoded:

    1. linear light: ``B = background ** 2.2``, ``R = reflection ** 2.2``;
    2. blur: ``R = gaussian_blur(R, 2 ceil(2 sigma) + 1, sigma)`` (the camera focuses on the background);
    3. overflow: per channel c, ``m_c`` = mean of ``B + R`` over the pixels where it exceeds 1 (at
       least 1), then ``R_c = clip(R_c - attenuation (m_c - 1), 0, 1)``: the reflection is darkened
       where the sum would saturate, instead of clipping the blend into flat white;
    4. ``R = mixing · R``: the glass reflects only a share of the light (the paper multiplies by a
       vignetting mask here, after the overflow correction; we use one number);
    5. ``I = transmission · B + R`` (glass passes a share ``transmission`` of the background);
    6. back to display: ``blend = clip(I ** (1 / 2.2), 0, 1)``, ``reflection_layer = R ** (1 / 2.2)``.

    The background target is the background itself (as in the paper's code).
    """
    _check_rgb(background, "background", "synthesize_blend")
    _check_rgb(reflection, "reflection", "synthesize_blend")
    if background.shape != reflection.shape:
        raise ValueError(f"synthesize_blend: background and reflection must have the same shape, "
                         f"got {tuple(background.shape)} and {tuple(reflection.shape)}")
    sigma = _check_number("sigma", sigma, 0.1, 50.0)
    transmission = _check_number("transmission", transmission, 0.0, 1.0)
    attenuation = _check_number("attenuation", attenuation, 0.0, 10.0)
    mixing = _check_number("mixing", mixing, 0.0, 1.0)
    b_lin, r_lin = background.clamp(0, 1) ** GAMMA, reflection.clamp(0, 1) ** GAMMA
    size = 2 * math.ceil(2 * sigma) + 1
    r_lin = TF.gaussian_blur(r_lin[None], [size, size], [sigma, sigma])[0]
    total = b_lin + r_lin
    overflow = total > 1
    mean = (total * overflow).sum((1, 2)) / overflow.sum((1, 2)).clamp_min(1)
    r_lin = mixing * (r_lin - attenuation * (mean.clamp_min(1) - 1)[:, None, None]).clamp(0, 1)
    blend = (transmission * b_lin + r_lin).clamp(0, 1) ** (1 / GAMMA)
    return blend, background, r_lin ** (1 / GAMMA)


def random_blends(backgrounds: torch.Tensor, reflections: torch.Tensor, seed: int = 0):
    """:func:`synthesize_blend` of each pair ``(backgrounds[i], reflections[i])`` of two ``(N, 3, H, W)``
    batches, with sigma uniform in :data:`SIGMA_RANGE`, transmission uniform in [0.8, 1] and attenuation
    uniform in [1.08, 1.18] (the paper's ranges) and mixing uniform in :data:`MIXING_RANGE`, all drawn
    from ``seed``. Returns the batches ``(blends, backgrounds, reflection_layers)``."""
    if not isinstance(backgrounds, torch.Tensor) or not isinstance(reflections, torch.Tensor) \
            or backgrounds.ndim != 4 or backgrounds.shape != reflections.shape:
        raise ValueError("random_blends: backgrounds and reflections must be two (N, 3, H, W) tensors of one shape")
    generator = torch.Generator().manual_seed(seed)
    draws = torch.rand(len(backgrounds), 4, generator=generator, dtype=torch.float64).tolist()
    (low, high), (weak, strong) = SIGMA_RANGE, MIXING_RANGE
    triples = [synthesize_blend(b, r, low + (high - low) * u, 1 - 0.2 * v, 1.08 + 0.1 * w, weak + (strong - weak) * m)
               for b, r, (u, v, w, m) in zip(backgrounds, reflections, draws)]
    return tuple(torch.stack(column) for column in zip(*triples))


def reflection_training_pairs(count: int, size: int = 64, seed: int = 0, augment: bool = False,
                              photos: tuple[str, ...] = TRAIN_IMAGES):
    """``count`` training blends of ``size x size``: backgrounds and reflections are two independent
    sets of :func:`~course_lib.data.degrade.random_patches` of the ``photos`` (default :data:`TRAIN_IMAGES`;
    names for :func:`~course_lib.data.samples.sample_image`, none of :data:`HELD_OUT_IMAGES`) at least ``size``
    pixels high and wide (flipped and rotated), blended by :func:`random_blends`. Returns ``(blends, backgrounds,
    reflection_layers)``.

    ``augment=True`` draws the patches from the images at every scale of :data:`AUGMENT_SCALES` (those at
    least ``size`` pixels high and wide; antialiased downscaling) and multiplies each background and each
    reflection patch in linear light by a gain uniform in :data:`AUGMENT_GAIN` (drawn from ``seed + 3``)."""
    count = check_int("count", count, 1, expected="a positive int (the number of blends)")
    size = check_int("size", size, 16, expected="an int >= 16 (the patch side)")
    held_out = sorted(set(photos) & set(HELD_OUT_IMAGES))
    if isinstance(photos, str) or not photos or held_out:
        raise ValueError(f"photos must name at least one training photo and none of the held-out ones, got {photos!r}")
    images = [image for image in map(sample_image, photos) if min(image.shape[-2:]) >= size]
    if augment:
        images = [image if factor == 1 else TF.resize(image, [h, w], antialias=True).clamp(0, 1)
                  for image in images for factor in AUGMENT_SCALES
                  for h, w in [(image.shape[-2] // factor, image.shape[-1] // factor)] if min(h, w) >= size]
    backgrounds = random_patches(images, size, count, seed=seed)
    reflections = random_patches(images, size, count, seed=seed + 1)
    if augment:
        generator = torch.Generator().manual_seed(seed + 3)
        low, high = AUGMENT_GAIN

        def relit(patches):
            gain = torch.empty(len(patches), 1, 1, 1).uniform_(low, high, generator=generator)
            return (gain * patches ** GAMMA).clamp(0, 1) ** (1 / GAMMA)

        backgrounds, reflections = relit(backgrounds), relit(reflections)
    return random_blends(backgrounds, reflections, seed=seed + 2)


def evaluation_blends(crops_per_pair: int = 17, size: int = 128, seed: int = 100):
    """The held-out test set: for every ordered pair of two different :data:`HELD_OUT_IMAGES` (background
    first), ``crops_per_pair`` random ``size x size`` crops of the background and, drawn independently, of
    the reflection image (uniform positions, no flips), each pair blended by :func:`random_blends` with
    its own draw of sigma, transmission, attenuation and mixing. 3 images give ``6 x crops_per_pair``
    blends (102 by default). Returns ``(blends, backgrounds, reflection_layers, pair_names)``, the last a
    list like ``["camera + rocket", ...]`` with one name per blend. No training image is used."""
    crops_per_pair = check_int("crops_per_pair", crops_per_pair, 1, expected="a positive int")
    size = check_int("size", size, 16, expected="an int >= 16 (the crop side)")
    images = {name: sample_image(name) for name in HELD_OUT_IMAGES}
    if min(min(image.shape[-2:]) for image in images.values()) < size:
        raise ValueError(f"evaluation_blends: size {size} is larger than a held-out image")
    pairs = [(b, r) for b in HELD_OUT_IMAGES for r in HELD_OUT_IMAGES if b != r]
    generator = torch.Generator().manual_seed(seed)

    def crop(name):
        image = images[name]
        top = int(torch.randint(image.shape[-2] - size + 1, (1,), generator=generator))
        left = int(torch.randint(image.shape[-1] - size + 1, (1,), generator=generator))
        return image[:, top: top + size, left: left + size]

    backgrounds, reflections, names = [], [], []
    for b, r in pairs:
        for _ in range(crops_per_pair):
            backgrounds.append(crop(b))
            reflections.append(crop(r))
            names.append(f"{b} + {r}")
    blends, backgrounds, reflection_layers = random_blends(torch.stack(backgrounds), torch.stack(reflections),
                                                           seed=seed + 1)
    return blends, backgrounds, reflection_layers, names
