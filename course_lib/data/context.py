"""Context scenes: the same objects take a different class depending on a cue far away (notebook 05b).

PSPNet (Zhao et al., CVPR 2017, §3.1, Fig. 2) starts from mistakes a network makes when it cannot see
the whole scene: a boat on a river labelled "car", because boat and car look alike up close. Here the
rule is made exact. Each image holds one small **cue** disc, red or blue, near a corner, and one or two
**objects** (circles, squares, triangles of random grey-green colours) at least ``CUE_GAP`` of the
image side away from it. An object's class is ``"red-scene object"`` when the cue is red and
``"blue-scene object"`` when it is blue; the cue itself and everything else is background. Up close the
two classes look the same: only a network whose receptive field reaches the cue can tell them apart.

Item ``i`` depends only on ``(seed, i, size)`` (``np.random.default_rng([seed, i])``).

    images, masks = context_scenes(256, size=64, seed=0)   # float32 (256, 3, 64, 64), int64 (256, 64, 64)

:func:`dihedral` and :func:`random_dihedral` are the augmentations that keep the rule: the 8 symmetries of
the square move the cue to another corner and keep every distance. (Colour changes would change the label;
crops could cut the cue out.)
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from course_lib.data.shapes import MIN_SIZE, Shape, shape_mask
from course_lib.validate import check_int

CONTEXT_CLASS_NAMES = ("background", "red-scene object", "blue-scene object")
CUE_COLOURS = ((0.9, 0.15, 0.1), (0.1, 0.25, 0.95))  # red, blue: the cue of class 1, class 2
CUE_RADIUS = 0.07          # of the image side
OBJECT_RADIUS = (0.11, 0.17)
CUE_GAP = 0.35             # the smallest distance from an object pixel to the cue's centre, of the side
MAX_OBJECTS = 2


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A grey level with smooth blotches: ``(3, size, size)``, the same for both scenes."""
    coarse = torch.from_numpy(rng.random((1, 1, 4, 4), dtype=np.float32))
    blotches = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)[0].numpy()
    return rng.uniform(0.35, 0.65) + 0.3 * (blotches - 0.5) * np.ones((3, 1, 1))


def _place_objects(rng: np.random.Generator, size: int, cue: Shape) -> list[Shape]:
    """1..MAX_OBJECTS shapes inside the image, every pixel ``CUE_GAP * size`` or more from the cue's centre."""
    shapes = []
    for _ in range(int(rng.integers(1, MAX_OBJECTS + 1))):
        for _attempt in range(100):
            radius = rng.uniform(*OBJECT_RADIUS) * size
            cx, cy = rng.uniform(radius, size - radius, 2)
            if np.hypot(cx - cue.cx, cy - cue.cy) - radius >= CUE_GAP * size:
                shapes.append(Shape(int(rng.integers(1, 4)), cx, cy, radius, rng.uniform(0, 2 * np.pi)))
                break
    return shapes


def render_scene(seed: int, index: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Item ``index``: the image (float32 ``(3, size, size)`` in [0, 1]) and its class map (int64)."""
    rng = np.random.default_rng([seed, index])
    scene = int(rng.integers(2))                                     # 0: red cue, 1: blue cue
    corner = rng.integers(2, size=2)                                 # which corner the cue sits near
    margin = CUE_RADIUS * size
    cx, cy = (margin + rng.uniform(0, 0.15 * size) if c == 0 else size - margin - rng.uniform(0, 0.15 * size)
              for c in corner)
    cue = Shape(1, cx, cy, margin, 0.0)
    image, labels = _background(rng, size), np.zeros((size, size), dtype=np.int64)
    for shape in _place_objects(rng, size, cue):
        mask = shape_mask(shape, size)
        colour = np.array([rng.uniform(0.1, 0.5), rng.uniform(0.3, 0.9), rng.uniform(0.1, 0.5)])
        image = np.where(mask, colour[:, None, None], image)
        labels[mask] = 1 + scene
    image = np.where(shape_mask(cue, size), np.array(CUE_COLOURS[scene])[:, None, None], image)
    image = image + rng.normal(0, 0.03, image.shape)
    return np.clip(image, 0, 1).astype(np.float32), labels


def dihedral(images: torch.Tensor, masks: torch.Tensor, k: int, flip: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """One of the 8 symmetries of the square, the same for images ``(..., H, W)`` and masks ``(..., H, W)``:
    ``k`` quarter turns (``torch.rot90``), then a left-right mirror when ``flip``."""
    images, masks = torch.rot90(images, k, dims=(-2, -1)), torch.rot90(masks, k, dims=(-2, -1))
    return (images.flip(-1), masks.flip(-1)) if flip else (images, masks)


def random_dihedral(images: torch.Tensor, masks: torch.Tensor,
                    generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`dihedral` with a symmetry drawn uniformly from the 8 by ``generator``, one for the whole batch."""
    symmetry = int(torch.randint(8, (1,), generator=generator))
    return dihedral(images, masks, symmetry // 2, bool(symmetry % 2))


def context_scenes(n: int, size: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` context scenes: images float32 ``(n, 3, size, size)`` in [0, 1] and class maps int64
    ``(n, size, size)`` (ids into ``CONTEXT_CLASS_NAMES``). Held-out images: another ``seed``."""
    check_int("n", n, 1)
    check_int("size", size, MIN_SIZE)
    check_int("seed", seed, 0)
    images, masks = zip(*(render_scene(seed, i, size) for i in range(n)))
    return torch.from_numpy(np.stack(images)), torch.from_numpy(np.stack(masks))
