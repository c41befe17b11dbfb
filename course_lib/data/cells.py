"""Touching cells: a seeded stand-in for the U-Net paper's cell-tracking data (§3, Fig. 3).

Each grayscale image holds a few clusters of elliptical cells pressed against each other. Where
two cells touch, a thin, slightly darker membrane is the only cue in the image. As in the
paper's ground truth (Fig. 3c), touching cells are separated by background: the one-pixel rim of
a cell that borders another cell is labelled 0, so that the connected components of the
foreground are the cells. A network that ignores those thin gaps merges touching cells.

Item ``i`` depends only on ``(seed, i, size)`` (``numpy.random.default_rng([seed, i])``).

    cells = TouchingCellsDataset(64, size=96, seed=0)
    image, instances = cells[0]    # float32 (1, 96, 96) in [0, 1]; int64 (96, 96): 0, 1, 2, ...
"""
from __future__ import annotations

from functools import partial

import numpy as np
import torch
from scipy import ndimage
from torch.utils.data import Dataset

from course_lib.data.cache import cached
from course_lib.validate import check_int

__all__ = ["TouchingCellsDataset", "render_cells", "touching_instances", "split_touching_objects"]

MIN_SIZE = 32
MIN_CELL_PIXELS = 20
CELL_RADIUS = (6.5, 11.5)  # semi-axes of the ellipses, in pixels
VERSION = 1  # bump when the generator changes, so stale caches are not reused


def _cells(rng: np.random.Generator, size: int) -> list[tuple[float, float, float, float, float]]:
    """Clusters of 2-4 cells ``(cy, cx, a, b, angle)``; each new cell of a cluster is placed
    against a cell already there, overlapping it a little, so that the two touch. Cells have the
    same size in pixels at every image size; larger images hold more clusters (2-4 per 96x96)."""
    cells = []
    for _ in range(int(rng.integers(2, 5) * max(1.0, (size / 96) ** 2))):
        a, b = rng.uniform(*CELL_RADIUS, 2)
        cy, cx = rng.uniform(0.15 * size, 0.85 * size, 2)
        cluster = [(cy, cx, a, b, rng.uniform(0, np.pi))]
        for _ in range(int(rng.integers(1, 4))):
            ny, nx, na, nb, _ = cluster[int(rng.integers(len(cluster)))]
            a, b = rng.uniform(*CELL_RADIUS, 2)
            direction = rng.uniform(0, 2 * np.pi)
            distance = (np.sqrt(na * nb) + np.sqrt(a * b)) * rng.uniform(0.75, 0.9)
            cluster.append((ny + distance * np.sin(direction), nx + distance * np.cos(direction),
                            a, b, rng.uniform(0, np.pi)))
        cells += cluster
    return cells


def render_cells(seed: int, index: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw item ``index``: the image (float32 ``(size, size)`` in [0, 1]) and the instance labels
    (int64 ``(size, size)``: 0 background and gaps between touching cells, 1..k the cells)."""
    rng = np.random.default_rng([seed, index])
    y, x = np.mgrid[0:size, 0:size] + 0.5
    rho = []  # normalised elliptical radius of every pixel for every cell: < 1 inside
    for cy, cx, a, b, angle in _cells(rng, size):
        u = np.cos(angle) * (x - cx) + np.sin(angle) * (y - cy)
        v = -np.sin(angle) * (x - cx) + np.cos(angle) * (y - cy)
        rho.append(np.sqrt((u / a) ** 2 + (v / b) ** 2))
    rho = np.stack(rho)
    owner = rho.argmin(axis=0)  # a pixel inside several cells goes to the one it is deepest in
    nearest = rho.min(axis=0)
    labels = _relabel(np.where(nearest < 1, owner + 1, 0))
    # the membrane: cell pixels with a 3x3 neighbour that belongs to another cell
    largest = ndimage.maximum_filter(labels, size=3)
    smallest = ndimage.minimum_filter(np.where(labels > 0, labels, labels.max() + 1), size=3)
    membrane = (labels > 0) & ((largest != labels) | (smallest != labels))
    # image: dim background, cells brighter towards their centre, darker membranes, blur, noise
    brightness = np.concatenate([[0.0], rng.uniform(0.55, 0.85, labels.max())])
    image = brightness[labels] * (1 - 0.25 * np.clip(nearest, 0, 1) ** 2)
    image = np.where(labels == 0, rng.uniform(0.1, 0.25), image)
    image = image * np.where(membrane, rng.uniform(0.8, 0.9), 1.0)
    texture = ndimage.gaussian_filter(rng.normal(0, 1, (size, size)), 2.0)
    image = ndimage.gaussian_filter(image, 1.0) + 0.04 * texture / texture.std()
    image = np.clip(image + rng.normal(0, 0.03, image.shape), 0, 1)
    return image.astype(np.float32), np.where(membrane, 0, labels)


def _relabel(instances: np.ndarray) -> np.ndarray:
    """Number the cells 1..k in raster order, dropping those under ``MIN_CELL_PIXELS`` pixels."""
    ids, counts = np.unique(instances[instances > 0], return_counts=True)
    table = np.zeros(instances.max() + 1, dtype=np.int64)
    kept = ids[counts >= MIN_CELL_PIXELS]
    table[kept] = np.arange(1, len(kept) + 1)
    return table[instances]


def touching_instances(instances) -> list[int]:
    """Ids of the instances that touch another one: another instance lies within 2 pixels
    (the gap between touching cells), i.e. inside their 5x5 dilation."""
    labels = _as_labels(instances)
    touching = []
    for i in np.unique(labels[labels > 0]):
        near = ndimage.binary_dilation(labels == i, structure=np.ones((5, 5), dtype=bool))
        if np.any((labels[near] != 0) & (labels[near] != i)):
            touching.append(int(i))
    return touching


def split_touching_objects(foreground, instances, iou_threshold: float = 0.5) -> tuple[int, int]:
    """How many touching cells a predicted foreground separates: ``(split, touching)``.

    The predicted objects are the 8-connected components of ``foreground`` (H, W); a touching
    cell of ``instances`` (H, W) counts as split correctly when one predicted object overlaps it
    with IoU > ``iou_threshold``. Two merged cells form one object whose IoU with each is < 0.5.
    """
    labels = _as_labels(instances)
    predicted = np.asarray(foreground.cpu() if isinstance(foreground, torch.Tensor) else foreground)
    if predicted.shape != labels.shape:
        raise ValueError(f"foreground {predicted.shape} and instances {labels.shape} must have the same shape")
    components, _ = ndimage.label(predicted > 0, structure=np.ones((3, 3), dtype=bool))
    touching = touching_instances(labels)
    split = 0
    for i in touching:
        cell = labels == i
        ids, overlaps = np.unique(components[cell & (components > 0)], return_counts=True)
        for k, overlap in zip(ids, overlaps):
            if overlap / np.logical_or(cell, components == k).sum() > iou_threshold:
                split += 1
                break
    return split, len(touching)


def _as_labels(instances) -> np.ndarray:
    labels = np.asarray(instances.cpu() if isinstance(instances, torch.Tensor) else instances)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"instances must be an integer (H, W) label map, got {labels.dtype} {labels.shape}")
    return labels


def generate(n: int, size: int, seed: int) -> dict[str, torch.Tensor]:
    """All ``n`` items: ``images`` float32 (n, 1, S, S) and ``instances`` int64 (n, S, S)."""
    items = [render_cells(seed, i, size) for i in range(n)]
    return {"images": torch.from_numpy(np.stack([image for image, _ in items]))[:, None],
            "instances": torch.from_numpy(np.stack([labels for _, labels in items]))}


class TouchingCellsDataset(Dataset):
    """``n`` seeded grayscale images of touching cells (see the module docstring).

    Items are ``(image, instances)``: float32 ``(1, size, size)`` in [0, 1] and int64 ``(size, size)``
    instance labels (0 = background, including the gaps between touching cells). The semantic
    target of U-Net is ``instances > 0``. Generated once and cached on disk (``cache=False`` skips it).
    """

    def __init__(self, n: int, size: int = 96, seed: int = 0, *, cache: bool = True):
        self.n = check_int("n", n, 1)
        self.size = check_int("size", size, MIN_SIZE)
        self.seed = check_int("seed", seed, 0)
        params = {"n": self.n, "size": self.size, "seed": self.seed, "version": VERSION}
        make = partial(generate, self.n, self.size, self.seed)
        self.data = cached("touching_cells", params, make) if cache else make()

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int):
        if not -self.n <= index < self.n:
            raise IndexError(f"index {index} is out of range for a dataset of {self.n} items")
        return self.data["images"][index], self.data["instances"][index]

    def __repr__(self) -> str:
        return f"TouchingCellsDataset(n={self.n}, size={self.size}, seed={self.seed})"
