"""Synthetic shapes for segmentation: circles, squares and triangles on textured backgrounds.

Each image holds 1 to 4 objects of random size, colour, position and rotation; later objects
occlude earlier ones. Backgrounds are smooth noise, stripes or gradients, the objects carry a
faint texture of their own and the whole image gets pixel noise, so that thresholding a colour
does not segment it but a small CNN learns to.

Item ``i`` depends only on ``(seed, i, size)``: it is drawn from ``np.random.default_rng([seed, i])``,
so DataLoader workers, the cache and datasets of different lengths all agree.

Geometry is continuous: the image covers ``[0, size] x [0, size]`` and pixel ``(row, col)`` is
inside a shape when its centre ``(col + 0.5, row + 0.5)`` is. Boxes use the same coordinates, so a
box runs from the left edge of its first pixel to the right edge of its last one.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.ops import masks_to_boxes

from course_lib.data.cache import cached
from course_lib.validate import check_int

CLASS_NAMES = ("background", "circle", "square", "triangle")
NUM_CLASSES = len(CLASS_NAMES)
TASKS = ("semantic", "instance")
MAX_OBJECTS = 4
MIN_SIZE = 32
MIN_VISIBLE_PIXELS = 16  # instances with fewer visible pixels are dropped from instance targets
RADIUS_RANGE = (0.10, 0.25)  # circumradius, as a fraction of the image size
VERSION = 1  # bump when the generator changes, so stale caches are not reused


class Shape(NamedTuple):
    """One object: its class id (1..3), centre, circumradius and rotation (radians), in pixels."""

    label: int
    cx: float
    cy: float
    radius: float
    angle: float


def shape_mask(shape: Shape, size: int) -> np.ndarray:
    """Boolean ``(size, size)`` mask of the pixels whose centres lie inside ``shape``."""
    centres = np.arange(size, dtype=np.float64) + 0.5
    x, y = centres[None, :] - shape.cx, centres[:, None] - shape.cy
    cos, sin = np.cos(shape.angle), np.sin(shape.angle)
    u, v = cos * x + sin * y, -sin * x + cos * y  # coordinates in the shape's own frame
    name = CLASS_NAMES[shape.label]
    if name == "circle":
        return x**2 + y**2 <= shape.radius**2
    if name == "square":
        half_side = shape.radius / np.sqrt(2)
        return (np.abs(u) <= half_side) & (np.abs(v) <= half_side)
    if name == "triangle":  # equilateral, vertices on the circumcircle: inside all three edges
        inside = np.ones((size, size), dtype=bool)
        for k in range(3):
            normal = shape.angle + np.pi / 3 + 2 * np.pi * k / 3  # outward normal of edge k
            inside &= np.cos(normal) * x + np.sin(normal) * y <= shape.radius / 2
        return inside
    raise ValueError(f"shape label must be 1..{NUM_CLASSES - 1}, got {shape.label}")


def _smooth_noise(rng: np.random.Generator, size: int, channels: int) -> np.ndarray:
    """Random values on a coarse grid, upsampled bicubically: blotches a few cells wide."""
    cells = int(rng.integers(3, 8))
    coarse = torch.from_numpy(rng.random((1, channels, cells, cells), dtype=np.float32))
    fine = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    return fine[0].clamp(0, 1).numpy()


def _stripes(rng: np.random.Generator, size: int) -> np.ndarray:
    """A sine grating, ``(1, size, size)`` in [0, 1], at a random angle, period and phase."""
    angle, phase = rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
    period = rng.uniform(0.05, 0.25) * size
    centres = np.arange(size, dtype=np.float32) + 0.5
    t = np.cos(angle) * centres[None, :] + np.sin(angle) * centres[:, None]
    return (0.5 + 0.5 * np.sin(2 * np.pi * t / period + phase))[None]


def _gradient(rng: np.random.Generator, size: int) -> np.ndarray:
    """A linear ramp, ``(1, size, size)`` from 0 to 1, in a random direction."""
    angle = rng.uniform(0, 2 * np.pi)
    centres = np.arange(size, dtype=np.float32) / size - 0.5
    t = np.cos(angle) * centres[None, :] + np.sin(angle) * centres[:, None]
    return ((t - t.min()) / (t.max() - t.min()))[None]


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Smooth colour noise, stripes or a gradient between two random colours: ``(3, size, size)``."""
    kind = rng.integers(3)
    if kind == 0:
        base = rng.uniform(0.2, 0.8, (3, 1, 1))
        return base + rng.uniform(0.3, 0.6) * (_smooth_noise(rng, size, 3) - 0.5)
    a = rng.random(3)
    b = _colour_away_from(rng, a)
    t = _stripes(rng, size) if kind == 1 else _gradient(rng, size)
    return a[:, None, None] + (b - a)[:, None, None] * t


def _colour_away_from(rng: np.random.Generator, other: np.ndarray, tries: int = 20) -> np.ndarray:
    """A random RGB colour at least 0.35 (Euclidean, in [0, 1]^3) from ``other``, so that stripes,
    gradients and objects are visible; the complement of ``other`` after ``tries`` misses."""
    for _ in range(tries):
        colour = rng.random(3)
        if np.linalg.norm(colour - other) >= 0.35:
            return colour
    return 1.0 - other


def random_shapes(rng: np.random.Generator, size: int) -> list[Shape]:
    """1..MAX_OBJECTS random shapes lying entirely inside the image."""
    shapes = []
    for _ in range(int(rng.integers(1, MAX_OBJECTS + 1))):
        radius = rng.uniform(*RADIUS_RANGE) * size
        cx, cy = rng.uniform(radius, size - radius, 2)
        shapes.append(Shape(int(rng.integers(1, NUM_CLASSES)), cx, cy, radius, rng.uniform(0, 2 * np.pi)))
    return shapes


def render(seed: int, index: int, size: int) -> tuple[np.ndarray, np.ndarray, list[Shape]]:
    """Draw item ``index`` of the dataset with ``seed``.

    Returns the image (uint8, ``(3, size, size)``), the occlusion map (uint8 ``(size, size)``:
    0 for background, ``k`` where the ``k``-th drawn shape is visible) and the shapes in drawing order.
    """
    rng = np.random.default_rng([seed, index])
    shapes = random_shapes(rng, size)
    image = _background(rng, size)
    order = np.zeros((size, size), dtype=np.uint8)
    for k, shape in enumerate(shapes, start=1):
        mask = shape_mask(shape, size)
        colour = _colour_away_from(rng, image[:, mask].mean(axis=1))  # the colour behind it
        texture = _smooth_noise(rng, size, 1) if rng.random() < 0.5 else _stripes(rng, size)
        fill = colour[:, None, None] + rng.uniform(0.1, 0.3) * (texture - 0.5)
        image = np.where(mask, fill, image)
        order[mask] = k
    image = image + rng.normal(0, rng.uniform(0.02, 0.06), image.shape)
    image = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
    return image, order, shapes


def generate(n: int, size: int, seed: int) -> dict[str, torch.Tensor]:
    """All ``n`` items as tensors: ``images`` (n,3,S,S) uint8, ``order`` (n,S,S) uint8,
    ``labels`` (n, MAX_OBJECTS) int64 and ``geometry`` (n, MAX_OBJECTS, 4) float64 with rows
    ``(cx, cy, radius, angle)``; unused object slots have label 0."""
    images = torch.empty(n, 3, size, size, dtype=torch.uint8)
    order = torch.empty(n, size, size, dtype=torch.uint8)
    labels = torch.zeros(n, MAX_OBJECTS, dtype=torch.int64)
    geometry = torch.zeros(n, MAX_OBJECTS, 4, dtype=torch.float64)
    for i in range(n):
        image, occlusion, shapes = render(seed, i, size)
        images[i], order[i] = torch.from_numpy(image), torch.from_numpy(occlusion)
        for k, shape in enumerate(shapes):
            labels[i, k] = shape.label
            geometry[i, k] = torch.tensor([shape.cx, shape.cy, shape.radius, shape.angle])
    return {"images": images, "order": order, "labels": labels, "geometry": geometry}


class ShapesDataset(Dataset):
    """``n`` seeded images of circles, squares and triangles (see the module docstring).

    ``task="semantic"``: items are ``(image, mask)``: a ``tv_tensors.Image`` float32 ``(3, H, W)`` in
    [0, 1] and a ``tv_tensors.Mask`` int64 ``(H, W)`` of class ids (0 = background, see ``CLASS_NAMES``).

    ``task="instance"``: items are ``(image, target)`` in torchvision's detection format, with
    ``target = {"boxes": BoundingBoxes XYXY (N, 4), "labels": int64 (N,), "masks": Mask uint8 (N, H, W)}``.
    Masks hold visible pixels only; an instance with fewer than ``MIN_VISIBLE_PIXELS`` visible
    pixels is dropped. Batch these with ``DataLoader(..., collate_fn=collate_detection)`` (lists of
    images and targets; ``course_lib.models.mimic_detector.detection_batch`` shapes them for ``fit``).

    ``transforms`` (e.g. a ``torchvision.transforms.v2`` pipeline) is applied to ``(image, target)``.
    The data are generated once and cached on disk (``cache=False`` to skip the cache).
    """

    def __init__(self, n: int, size: int = 128, seed: int = 0, task: str = "semantic", *,
                 transforms=None, cache: bool = True):
        self.n = check_int("n", n, 1)
        self.size = check_int("size", size, MIN_SIZE)
        self.seed = check_int("seed", seed, 0)
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        if transforms is not None and not callable(transforms):
            raise TypeError(f"transforms must be callable, got {type(transforms).__name__}")
        self.task, self.transforms = task, transforms
        params = {"n": self.n, "size": self.size, "seed": self.seed, "version": VERSION}
        make = partial(generate, self.n, self.size, self.seed)
        self.data = cached("shapes", params, make) if cache else make()

    def __len__(self) -> int:
        return self.n

    def _index(self, index: int) -> int:
        if not -self.n <= index < self.n:
            raise IndexError(f"index {index} is out of range for a dataset of {self.n} items")
        return index % self.n

    def shapes(self, index: int) -> list[Shape]:
        """The shapes of item ``index`` in drawing order (later ones are on top)."""
        i = self._index(index)
        return [Shape(int(label), *geometry.tolist())
                for label, geometry in zip(self.data["labels"][i], self.data["geometry"][i]) if label > 0]

    def semantic_mask(self, index: int) -> torch.Tensor:
        """int64 ``(H, W)`` class ids of item ``index``."""
        i = self._index(index)
        classes = torch.cat([torch.zeros(1, dtype=torch.int64), self.data["labels"][i]])
        return classes[self.data["order"][i].long()]

    def __getitem__(self, index: int):
        i = self._index(index)
        image = tv_tensors.Image(self.data["images"][i].float() / 255)
        if self.task == "semantic":
            sample = image, tv_tensors.Mask(self.semantic_mask(i))
        else:
            sample = image, self._instance_target(i)
        return self.transforms(*sample) if self.transforms is not None else sample

    def _instance_target(self, i: int) -> dict:
        order = self.data["order"][i]
        ks = torch.arange(1, MAX_OBJECTS + 1)
        masks = order[None] == ks[:, None, None]
        keep = (self.data["labels"][i] > 0) & (masks.sum((1, 2)) >= MIN_VISIBLE_PIXELS)
        masks = masks[keep]
        boxes = masks_to_boxes(masks) + torch.tensor([0.0, 0.0, 1.0, 1.0])  # last pixel's far edge
        return {
            "boxes": tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=(self.size, self.size)),
            "labels": self.data["labels"][i][keep].clone(),
            "masks": tv_tensors.Mask(masks.to(torch.uint8)),
        }

    def __repr__(self) -> str:
        return f"ShapesDataset(n={self.n}, size={self.size}, seed={self.seed}, task={self.task!r})"


def collate_detection(batch):
    """Batch detection samples as ``(list of images, list of targets)``: images and targets of
    different sizes and object counts cannot be stacked into one tensor."""
    images, targets = zip(*batch)
    return list(images), list(targets)
