"""Notebook 01's experiment ("Effects"): FCN-32s, -16s and -8s trained on the course's shapes from the same
seed, with the compact backbone, and scored on held-out images; ``benchmarks/fcn.py`` runs the same, and
notebook 05a trains its FCN-8s with :func:`train` too.

    recipe = fcn_recipe()
    train_set, images, masks = shapes_data(recipe)
    model, history = train(recipe, "8s", train_set)
    evaluate(model, images, masks)          # {"miou": ..., "boundary_f1": ..., "predictions": ...}
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader

from course_lib.config import pick
from course_lib.data import NUM_CLASSES, ShapesDataset
from course_lib.metrics import boundary_f1, mean_iou
from course_lib.models.fcn import FCN
from course_lib.train import fit, predict

__all__ = ["FCNRecipe", "fcn_recipe", "shapes_data", "train", "evaluate"]


@dataclass(frozen=True)
class FCNRecipe:
    """How notebook 01 ("Effects") trains FCN-32s, -16s and -8s on the course's shapes, each from
    the same seed with the compact backbone; ``benchmarks/fcn.py`` runs the same. Adam, plain
    cross-entropy; held-out images use seed 1."""

    image_size: int
    n_train: int
    n_val: int
    epochs: int
    batch_size: int = 16
    lr: float = 3e-3


def fcn_recipe() -> FCNRecipe:
    """The mode's recipe: 1024 images of 64 x 64 for 8 epochs in full mode, 128 for one in fast mode."""
    return pick(fast=FCNRecipe(image_size=64, n_train=128, n_val=32, epochs=1),
                full=FCNRecipe(image_size=64, n_train=1024, n_val=256, epochs=8))


def shapes_data(recipe: FCNRecipe) -> tuple[ShapesDataset, torch.Tensor, torch.Tensor]:
    """``(train_set, val_images, val_masks)``: ``recipe.n_train`` training scenes (seed 0) and the
    ``recipe.n_val`` held-out ones (seed 1), stacked."""
    train_set = ShapesDataset(recipe.n_train, size=recipe.image_size, seed=0)
    val_set = ShapesDataset(recipe.n_val, size=recipe.image_size, seed=1)
    images, masks = map(torch.stack, zip(*(val_set[i] for i in range(len(val_set)))))
    return train_set, images, masks


def train(recipe: FCNRecipe, variant: str, train_set, seed: int = 0, device=None, plot: bool | None = None,
          title: str | None = None, verbose: bool = True) -> tuple[FCN, dict]:
    """FCN-``variant`` (compact backbone) built from ``seed`` and trained on ``train_set`` by ``recipe``
    (shuffled from ``seed``, Adam at ``recipe.lr``, cross-entropy), with ``course_lib.train.fit``'s
    progress bar and loss plot (``plot``; ``verbose=False``: no line per epoch where there is no plot).
    Returns ``(model, history)``, the model on the CPU in eval mode."""
    torch.manual_seed(seed)
    model = FCN(NUM_CLASSES, variant, backbone="compact")
    loader = DataLoader(train_set, batch_size=recipe.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    history = fit(model, nn.CrossEntropyLoss(), loader, epochs=recipe.epochs, lr=recipe.lr, device=device,
                  plot=plot, title=title or f"FCN-{variant}", verbose=verbose)
    return model.cpu().eval(), history


def evaluate(model: nn.Module, images: torch.Tensor, masks: torch.Tensor) -> dict:
    """Held-out scores: ``{"miou", "boundary_f1", "predictions"}`` (mean IoU over the shapes' classes, boundary
    F1 at 2 px, and the predicted labels)."""
    predictions = predict(model, images, batch_size=64).argmax(1)
    return {"miou": mean_iou(predictions, masks, NUM_CLASSES), "boundary_f1": boundary_f1(predictions, masks),
            "predictions": predictions}
