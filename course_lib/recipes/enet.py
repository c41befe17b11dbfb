"""Notebook 03's experiment ("Training ENet on shapes"): ENet trained on the course's shapes and scored on
held-out ones; ``benchmarks/enet.py`` runs the same.

    recipe = enet_recipe()
    train_set, val_set = shapes_data(recipe)
    model, history = train(recipe, train_set, val_set)     # val_set: mean IoU after each epoch (optional)
    evaluate(model, val_set)                                # {"miou", "iou_per_class", "predictions", ...}
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader

from course_lib.config import pick
from course_lib.data import NUM_CLASSES, ShapesDataset
from course_lib.metrics import iou_per_class, mean_iou
from course_lib.models.enet import ENet
from course_lib.train import channels_last_collate, fit, predict

__all__ = ["ENetRecipe", "enet_recipe", "shapes_data", "train", "evaluate"]


@dataclass(frozen=True)
class ENetRecipe:
    """How notebook 03 trains ENet on the course's shapes; ``benchmarks/enet.py`` runs the same.

    Adam with the paper's weight decay 2e-4 (§5.2), a one-cycle learning rate up to ``max_lr``
    (stepped every batch, warming up for the first ``pct_start`` of the steps), plain cross-entropy
    and no spatial dropout (``dropout``, see the notebook's "Dropout"). Held-out images use seed 1.
    Both train in channels-last memory order (``course_lib.train.channels_last_collate``): about 1.15x
    faster per step on a 2-core CPU, same values.
    """

    image_size: int
    n_train: int
    n_val: int
    epochs: int
    batch_size: int = 8
    max_lr: float = 5e-3
    weight_decay: float = 2e-4
    pct_start: float = 0.15
    dropout: tuple[float, float] = (0.0, 0.0)


def enet_recipe() -> ENetRecipe:
    """The mode's recipe: in full mode 3000 images of 128 x 128 for 8 epochs (held-out mean IoU
    0.905 in 279 s of training on 2 CPU cores), in fast mode 64 images of 64 x 64 for one epoch."""
    return pick(fast=ENetRecipe(image_size=64, n_train=64, n_val=32, epochs=1),
                full=ENetRecipe(image_size=128, n_train=3000, n_val=200, epochs=8))


def shapes_data(recipe: ENetRecipe) -> tuple[ShapesDataset, ShapesDataset]:
    """``(train_set, val_set)``: seed 0 for training, seed 1 held out."""
    return (ShapesDataset(recipe.n_train, size=recipe.image_size, seed=0),
            ShapesDataset(recipe.n_val, size=recipe.image_size, seed=1))


def train(recipe: ENetRecipe, train_set, val_set=None, device=None, plot: bool | None = None,
          title: str = "ENet on shapes") -> tuple[ENet, dict]:
    """ENet built from seed 0 and trained by ``recipe`` in channels-last order: Adam with weight decay, a
    one-cycle learning rate stepped every batch, cross-entropy, with ``course_lib.train.fit``'s progress bar
    and loss plot. With ``val_set``, ``fit`` also reports the held-out loss and mean IoU after each epoch
    (no weight changes). Returns ``(model, history)``."""
    torch.manual_seed(0)
    model = ENet(NUM_CLASSES, dropout=recipe.dropout)  # no dropout: see notebook 03's 'Dropout'
    # channels_last for training too (notebook 03, 'Making it real time on a CPU'): weights and batches in NHWC order
    model = model.to(memory_format=torch.channels_last)
    train_loader = DataLoader(train_set, batch_size=recipe.batch_size, shuffle=True,
                              collate_fn=channels_last_collate, generator=torch.Generator().manual_seed(0))
    val_loader = None if val_set is None else DataLoader(val_set, 50, collate_fn=channels_last_collate)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.max_lr, weight_decay=recipe.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.max_lr,
                                                    total_steps=recipe.epochs * len(train_loader),
                                                    pct_start=recipe.pct_start)
    metrics = None if val_set is None else {"miou": lambda out, target: mean_iou(out.argmax(1), target, NUM_CLASSES)}
    history = fit(model, nn.CrossEntropyLoss(), train_loader, val_loader, epochs=recipe.epochs, optimizer=optimizer,
                  scheduler=scheduler, device=device, metrics=metrics, plot=plot, title=title)
    return model, history


def evaluate(model: nn.Module, val_set) -> dict:
    """Held-out scores: ``{"miou", "iou_per_class", "predictions", "images", "masks"}``."""
    images, masks = map(torch.stack, zip(*(val_set[i] for i in range(len(val_set)))))
    predictions = predict(model, images, batch_size=50).argmax(1)
    return {"miou": mean_iou(predictions, masks, NUM_CLASSES), "iou_per_class": iou_per_class(predictions, masks, NUM_CLASSES),
            "predictions": predictions, "images": images, "masks": masks}
