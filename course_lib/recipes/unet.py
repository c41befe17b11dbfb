"""Notebook 02's experiment: a small U-Net trained twice on touching cells, with plain cross-entropy and with
the border weight map of Eq. 2 (Ronneberger et al. 2015), same seed, data and steps; scored on held-out
cells by mean IoU and by the touching cells split correctly. ``benchmarks/unet.py`` runs the same.

    recipe = cells_recipe()
    train_cells, test_cells = cells_data(recipe)
    plain = train(recipe, train_cells, w0=0)
    weighted = train(recipe, train_cells, w0=recipe.w0)
    evaluate(weighted, test_cells)           # {"miou", "split", "touching", "predictions"}
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader

from course_lib.config import pick
from course_lib.data.cells import TouchingCellsDataset, split_touching_objects
from course_lib.losses.segmentation import pixel_weighted_cross_entropy
from course_lib.metrics import mean_iou
from course_lib.models.unet import UNet, unet_weight_map
from course_lib.train import fit, predict

__all__ = ["CellsRecipe", "cells_recipe", "cells_data", "cell_targets", "train", "evaluate"]


@dataclass(frozen=True)
class CellsRecipe:
    """How notebook 02 trains a small U-Net on touching cells, with plain cross-entropy (``w0=0``)
    or the weight map of Eq. 2 (``w0``, ``sigma``); ``benchmarks/unet.py`` runs the same. The
    network: ``UNet(1, 2, base_channels, padding="same", depth, batch_norm=True)``, Adam at its
    default 1e-3; held-out cells use seed 1."""

    n_train: int
    n_test: int
    epochs: int
    image_size: int = 96
    batch_size: int = 8
    base_channels: int = 16
    depth: int = 3
    w0: float = 10.0
    sigma: float = 5.0


def cells_recipe() -> CellsRecipe:
    """The mode's recipe: 400 training and 96 held-out images for 10 epochs in full mode."""
    return pick(fast=CellsRecipe(n_train=64, n_test=32, epochs=3), full=CellsRecipe(n_train=400, n_test=96, epochs=10))


def cells_data(recipe: CellsRecipe) -> tuple[TouchingCellsDataset, TouchingCellsDataset]:
    """``(train_cells, test_cells)``: seed 0 for training, seed 1 held out."""
    return (TouchingCellsDataset(recipe.n_train, size=recipe.image_size, seed=0),
            TouchingCellsDataset(recipe.n_test, size=recipe.image_size, seed=1))


def cell_targets(instances: torch.Tensor, w0: float, sigma: float) -> dict:
    """The semantic mask (cells = 1, gaps and background = 0) and the pixel weights: the weight map of
    Eq. 2 (``unet_weight_map``) when ``w0`` is not 0, else all ones (plain cross-entropy)."""
    weight = unet_weight_map(instances, w0=w0, sigma=sigma) if w0 else torch.ones(instances.shape)
    return {"mask": (instances > 0).long(), "weight": weight}


def train(recipe: CellsRecipe, train_cells, w0: float, device=None, plot: bool | None = None) -> UNet:
    """A U-Net of ``recipe`` built from seed 0 and trained on ``train_cells`` with Eq. 1's
    ``pixel_weighted_cross_entropy`` and the targets of :func:`cell_targets` (``w0=0``: plain cross-entropy),
    with ``course_lib.train.fit``'s progress bar and loss plot. Returns the model in eval mode."""
    torch.manual_seed(0)
    items = [(image, cell_targets(instances, w0, recipe.sigma)) for image, instances in train_cells]
    loader = DataLoader(items, batch_size=recipe.batch_size, shuffle=True, generator=torch.Generator().manual_seed(0))
    model = UNet(1, 2, base_channels=recipe.base_channels, padding="same", depth=recipe.depth, batch_norm=True)
    loss = lambda logits, t: pixel_weighted_cross_entropy(logits, t["mask"], t["weight"])  # noqa: E731
    title = f"U-Net, weight map (w0 = {w0})" if w0 else "U-Net, plain cross entropy"
    fit(model, loss, loader, epochs=recipe.epochs, device=device, plot=plot, title=title)
    return model.eval()


def evaluate(model: torch.nn.Module, test_cells) -> dict:
    """Held-out scores: ``{"miou", "split", "touching", "predictions"}``: foreground/background mean IoU,
    how many of the touching cells one predicted object matches with IoU > 0.5, of how many, and the
    predicted labels."""
    images, instances = test_cells.data["images"], test_cells.data["instances"]
    predicted = predict(model, images).argmax(1)
    counts = [split_touching_objects(p, t) for p, t in zip(predicted, instances)]
    return {"miou": mean_iou(predicted, (instances > 0).long(), num_classes=2),
            "split": sum(s for s, _ in counts), "touching": sum(t for _, t in counts), "predictions": predicted}
