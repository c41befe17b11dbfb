"""Handwriting-like digits rendered from the fonts that ship with matplotlib: an offline MNIST.

Each of the ten digits is drawn once per font and stroke width (the *glyph bank*, 56×56 pixels,
the digit's height filling 20 of 28 pixels as in MNIST). An item is one glyph under a random
affine distortion (rotation, scale, shear, shift), blurred a little, given a random contrast and
pixel noise, and box-downsampled to 28×28. Images are white strokes on black, like MNIST.

Item ``i`` depends only on ``(seed, i)``, so datasets of different lengths agree on common items.
Where torchvision's MNIST files are on disk, :func:`load_digits` returns them in the same form,
so every experiment of notebook 08 runs unchanged on the real thing.

    >>> images, labels = load_digits(1000, seed=0)   # float32 (1000, 1, 28, 28) in [0, 1], int64
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from course_lib.data.cache import cached
from course_lib.validate import check_int

NUM_CLASSES = 10
SIZE = 28
BANK_SIZE = 2 * SIZE  # glyphs are drawn at twice the size, then box-downsampled
GLYPH_HEIGHT = 20 / SIZE  # MNIST digits are size-normalised to a 20-pixel box
FONTS = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf", "STIXGeneral.ttf", "STIXGeneralItalic.ttf",
    "cmr10.ttf", "cmss10.ttf", "cmtt10.ttf",
)
STROKES = (0.0, 1.5, 3.0)  # extra outline width in bank pixels: thin, regular, bold
SOURCES = ("rendered", "mnist", "auto")
VERSION = 2  # bump when the generator changes, so stale caches are not reused


def _render_glyph(font_file: str, digit: int, stroke: float) -> np.ndarray:
    """One digit of one font as a float32 ``(BANK_SIZE, BANK_SIZE)`` coverage image in [0, 1]."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path as MplPath
    from matplotlib.textpath import TextPath
    import matplotlib

    font = FontProperties(fname=str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / font_file))
    path = TextPath((0, 0), str(digit), size=1, prop=font)
    vertices = path.vertices.copy()
    low, high = vertices.min(axis=0), vertices.max(axis=0)
    vertices = (vertices - (low + high) / 2) * (GLYPH_HEIGHT / (high[1] - low[1]))
    dpi = 100
    figure = Figure(figsize=(BANK_SIZE / dpi, BANK_SIZE / dpi), dpi=dpi, facecolor="black")
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_axis_off()
    axes.set_xlim(-0.5, 0.5)
    axes.set_ylim(-0.5, 0.5)
    linewidth = stroke * 72 / dpi  # pixels to points
    axes.add_patch(PathPatch(MplPath(vertices, path.codes), facecolor="white", edgecolor="white",
                             linewidth=linewidth))
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., 0].astype(np.float32) / 255


@lru_cache(maxsize=1)
def glyph_bank() -> tuple[torch.Tensor, torch.Tensor]:
    """All glyphs: float32 ``(len(FONTS) * len(STROKES) * 10, 1, 56, 56)`` and their digit labels
    (drawn once, then cached on disk)."""
    params = {"fonts": list(FONTS), "strokes": list(STROKES), "size": BANK_SIZE, "version": VERSION}
    return cached("digit_glyphs", params, _draw_glyph_bank)


def _draw_glyph_bank() -> tuple[torch.Tensor, torch.Tensor]:
    glyphs, labels = [], []
    for font in FONTS:
        for stroke in STROKES:
            for digit in range(NUM_CLASSES):
                glyphs.append(_render_glyph(font, digit, stroke))
                labels.append(digit)
    return torch.from_numpy(np.stack(glyphs))[:, None], torch.tensor(labels)


def _random_affine(rng: np.random.Generator, n: int) -> torch.Tensor:
    """``n`` random 2×3 matrices for ``F.affine_grid``: rotation ±15°, scale 0.8–1.15 (x and y
    apart), shear ±0.3, shift ±2 pixels of 28 (grid coordinates span [-1, 1])."""
    angle = np.deg2rad(rng.uniform(-15, 15, n))
    sx, sy = rng.uniform(0.8, 1.15, n), rng.uniform(0.8, 1.15, n)
    shear = rng.uniform(-0.3, 0.3, n)
    tx, ty = rng.uniform(-2, 2, (2, n)) * 2 / SIZE
    cos, sin = np.cos(angle), np.sin(angle)
    forward = np.zeros((n, 2, 2))  # output = rotation @ shear @ scale @ input
    forward[:, 0, 0], forward[:, 0, 1] = cos * sx, (cos * shear - sin) * sy
    forward[:, 1, 0], forward[:, 1, 1] = sin * sx, (sin * shear + cos) * sy
    inverse = np.linalg.inv(forward)  # affine_grid maps output coordinates to input ones
    shift = -inverse @ np.stack([tx, ty], axis=1)[..., None]
    return torch.from_numpy(np.concatenate([inverse, shift], axis=2)).float()


def render_digits(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` distorted digits: uint8 ``(n, 1, 28, 28)`` and int64 labels ``(n,)``.

    Item ``i``'s random choices come from ``np.random.default_rng([seed, i])``, so item ``i``
    does not depend on ``n``; the warping itself runs batched.
    """
    bank, bank_labels = glyph_bank()
    rngs = [np.random.default_rng([seed, i]) for i in range(n)]
    glyph = torch.tensor([int(rng.integers(len(bank))) for rng in rngs])
    theta = torch.cat([_random_affine(rng, 1) for rng in rngs])
    blur, contrast, noise_std = (torch.tensor(v, dtype=torch.float32)[:, None, None, None] for v in zip(
        *[(rng.uniform(0.0, 0.25), rng.uniform(0.7, 1.0), rng.uniform(0.0, 0.08)) for rng in rngs]))
    noise = torch.from_numpy(np.stack([rng.standard_normal((1, SIZE, SIZE)) for rng in rngs])).float()
    images = torch.empty(n, 1, SIZE, SIZE, dtype=torch.uint8)
    for start in range(0, n, 1024):
        part = slice(start, min(start + 1024, n))
        grid = F.affine_grid(theta[part], [len(glyph[part]), 1, BANK_SIZE, BANK_SIZE], align_corners=False)
        warped = F.grid_sample(bank[glyph[part]], grid, mode="bilinear", align_corners=False)
        warped = (1 - blur[part]) * warped + blur[part] * F.avg_pool2d(warped, 3, 1, 1)  # a soft pen
        small = F.avg_pool2d(warped, 2)  # box-downsample 56 -> 28 (anti-aliased)
        image = (contrast[part] * small + noise_std[part] * noise[part]).clamp(0, 1)
        images[part] = (image * 255).round().to(torch.uint8)
    return images, bank_labels[glyph]


def mnist_available(root: str | Path = "datasets") -> bool:
    """True when ``torchvision.datasets.MNIST(root, download=False)`` finds its files."""
    from torchvision.datasets import MNIST

    try:
        MNIST(str(root), train=True, download=False)
    except RuntimeError:
        return False
    return True


def load_digits(n: int, seed: int = 0, *, train: bool = True, source: str = "rendered",
                root: str | Path = "datasets") -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` digits as float32 ``(n, 1, 28, 28)`` in [0, 1] and int64 labels ``(n,)``.

    ``source="rendered"``: the course's font digits (cached on disk); ``train`` picks disjoint
    streams of items, so a test set never shares an item with a training set of the same seed.
    ``source="mnist"``: a seeded random subset of torchvision's MNIST found under ``root``
    (never downloaded). ``source="auto"``: MNIST when it is on disk, else rendered.
    """
    n, seed = check_int("n", n, 1), check_int("seed", seed, 0)
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    if source == "auto":
        source = "mnist" if mnist_available(root) else "rendered"
    if source == "mnist":
        from torchvision.datasets import MNIST

        mnist = MNIST(str(root), train=train, download=False)
        if n > len(mnist):
            raise ValueError(f"MNIST's {'train' if train else 'test'} split has {len(mnist)} images, asked for {n}")
        index = torch.randperm(len(mnist), generator=torch.Generator().manual_seed(seed))[:n]
        return mnist.data[index, None].float() / 255, mnist.targets[index].clone()
    stream = 2 * int(seed) + (0 if train else 1)
    params = {"n": n, "stream": stream, "version": VERSION}
    images, labels = cached("digits", params, lambda: render_digits(n, stream))
    return images.float() / 255, labels


def digits_dataset(n: int, seed: int = 0, **kwargs) -> TensorDataset:
    """:func:`load_digits` as a ``TensorDataset`` of ``(image, label)`` pairs."""
    return TensorDataset(*load_digits(n, seed, **kwargs))


def jitter(images: torch.Tensor, pixels: float = 2.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift each image of a ``(B, C, H, W)`` batch by its own random offset of up to ``pixels``
    in x and y (bilinear, zeros outside): the input jitter Hinton et al. §3 trained the big net with."""
    b, _, h, w = images.shape
    shift = (torch.rand(b, 2, generator=generator) * 2 - 1) * pixels
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, 0, 2], theta[:, 1, 2] = shift[:, 0] * 2 / w, shift[:, 1] * 2 / h
    grid = F.affine_grid(theta.to(images), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
