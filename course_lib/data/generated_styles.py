"""Style images the course draws itself: a stained-glass mosaic, brush strokes and a swirling "starry" sky.

    >>> image = generated_style("mosaic", size=128)   # (3, 128, 128) float32 in [0, 1], seed 0

Style transfer needs styles with visible structure and colour; paintings cannot ship with the course,
so these are drawn by seeded code (numpy and scikit-image only). Each has structures of its own size:
mosaic cells with dark lead lines (about 1/10 of the image), short oriented brush strokes in a few
colours (1/20), long curved strokes that follow a vortex field (the whole image). The same
``(name, size, seed)`` gives the same image on any machine.
"""
from __future__ import annotations

import numpy as np
import torch
from skimage.draw import disk, ellipse
from skimage.morphology import dilation, disk as disk_footprint

from course_lib.data.samples import sample_image, sample_image_names
from course_lib.validate import check_int

__all__ = ["generated_style", "style_image", "GENERATED_STYLES"]

GENERATED_STYLES = ("mosaic", "brush_strokes", "starry")

_JEWELS = np.array([[0.80, 0.10, 0.10], [0.95, 0.65, 0.05], [0.10, 0.35, 0.80], [0.10, 0.60, 0.25],
                    [0.55, 0.15, 0.65], [0.95, 0.90, 0.60], [0.05, 0.65, 0.75]])
_PAINT = np.array([[0.12, 0.25, 0.55], [0.25, 0.50, 0.80], [0.90, 0.75, 0.20], [0.85, 0.40, 0.15],
                   [0.20, 0.55, 0.35], [0.95, 0.92, 0.80]])


def _mosaic(rng: np.random.Generator, size: int) -> np.ndarray:
    """Voronoi cells (nearest of random seed points), each one jewel colour with a little shading,
    separated by dark lead lines of about size/100 pixels."""
    n_cells = 90
    points = rng.uniform(0, size, (n_cells, 2))
    yy, xx = np.mgrid[0:size, 0:size]
    distance = (yy[..., None] - points[:, 0]) ** 2 + (xx[..., None] - points[:, 1]) ** 2
    label = distance.argmin(-1)
    colours = _JEWELS[rng.integers(len(_JEWELS), size=n_cells)] * rng.uniform(0.75, 1.0, (n_cells, 1))
    image = colours[label]
    edges = np.zeros((size, size), bool)
    edges[:-1] |= label[:-1] != label[1:]
    edges[:, :-1] |= label[:, :-1] != label[:, 1:]
    edges = dilation(edges, disk_footprint(max(1, size // 128)))
    image[edges] = 0.08
    return image


def _brush_strokes(rng: np.random.Generator, size: int) -> np.ndarray:
    """Layers of short elongated strokes in a painter's palette, their direction following a smooth
    field, each stroke lighter along one side (the paint's ridge)."""
    image = np.tile(_PAINT[0], (size, size, 1)) * 0.8
    n_strokes = size * size // 40
    length, width = size / 18, size / 70
    for _ in range(n_strokes):
        r, c = rng.uniform(0, size, 2)
        angle = np.pi * (np.sin(2 * np.pi * r / size) + 0.5 * np.cos(3 * np.pi * c / size)) + rng.normal(0, 0.15)
        colour = _PAINT[rng.integers(len(_PAINT))] * rng.uniform(0.8, 1.05)
        rr, cc = ellipse(r, c, length * rng.uniform(0.6, 1.2), max(1.0, width), shape=(size, size), rotation=angle)
        shade = 0.85 + 0.3 * (((rr - r) * np.cos(angle) - (cc - c) * np.sin(angle)) > 0)
        image[rr, cc] = np.clip(colour * shade[:, None], 0, 1)
    return image


def _starry(rng: np.random.Generator, size: int) -> np.ndarray:
    """A dark blue night with long strokes that swirl around a few vortices (a flow field): each
    stroke is a streamline traced in small steps and stamped as small discs, yellow near the
    vortices' centres and blue further out; a few bright stars on top."""
    image = np.tile(np.array([0.05, 0.10, 0.30]), (size, size, 1))
    centres = rng.uniform(0.15, 0.85, (4, 2)) * size
    spins = rng.choice([-1.0, 1.0], 4)
    radius = max(1, size // 100)

    def velocity(p):
        v = np.array([0.3, 1.0])  # a gentle wind to the right
        for centre, spin in zip(centres, spins):
            d = p - centre
            v = v + spin * np.array([-d[1], d[0]]) * size / (d @ d + (0.05 * size) ** 2)
        return v / (np.linalg.norm(v) + 1e-9)

    for _ in range(size * 3):
        p = rng.uniform(0, size, 2)
        nearest = np.min(np.linalg.norm(centres - p, axis=1)) / size
        warm = np.clip(1.0 - nearest / 0.25, 0, 1)
        colour = (warm * np.array([0.98, 0.85, 0.25]) + (1 - warm) * np.array([0.35, 0.55, 0.95])
                  ) * rng.uniform(0.7, 1.1)
        for _ in range(int(size * 0.15)):
            rr, cc = disk(tuple(p), radius, shape=(size, size))
            image[rr, cc] = np.clip(colour, 0, 1)
            p = p + velocity(p)
            if not (0 <= p[0] < size and 0 <= p[1] < size):
                break
    for centre in rng.uniform(0, size, (6, 2)):
        rr, cc = disk(tuple(centre), size / 40, shape=(size, size))
        image[rr, cc] = [1.0, 0.95, 0.7]
    return image


_DRAW = {"mosaic": _mosaic, "brush_strokes": _brush_strokes, "starry": _starry}


def generated_style(name: str, size: int = 256, seed: int = 0) -> torch.Tensor:
    """The generated style image ``name`` (one of ``GENERATED_STYLES``) as float32 ``(3, size, size)``
    in [0, 1]; ``seed`` picks one of many images of the same kind."""
    if name not in _DRAW:
        raise ValueError(f"unknown generated style {name!r}; choose one of: {', '.join(GENERATED_STYLES)}")
    size = check_int("size", size, minimum=16)
    seed = check_int("seed", seed, minimum=0)
    rng = np.random.default_rng([seed, GENERATED_STYLES.index(name)])
    return torch.from_numpy(_DRAW[name](rng, size)).float().permute(2, 0, 1).clamp(0, 1).contiguous()


def style_image(name: str, size: int = 256) -> torch.Tensor:
    """A style image by name: a generated one (``GENERATED_STYLES``, seed 0) or a course sample photo
    (``sample_image(name, size=size)``, e.g. "coffee"), float32 ``(3, size, size)`` in [0, 1]."""
    if name in GENERATED_STYLES:
        return generated_style(name, size)
    if name in sample_image_names():
        return sample_image(name, size=size)
    raise ValueError(f"unknown style {name!r}; choose a generated style ({', '.join(GENERATED_STYLES)}) "
                     f"or a sample image ({', '.join(sample_image_names())})")
