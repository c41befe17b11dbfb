"""Notebook 03's experiment ("Training ENet on shapes"): ENet trained on the course's shapes and scored on
held-out ones; ``benchmarks/enet.py`` and ``scripts/train_enet_checkpoint.py`` run the same.

    model = train_enet(enet_short_recipe())                 # the notebook's own short run
    held_out_iou(load_enet_checkpoint(), FULL_ENET_RECIPE)  # the shipped network of the full recipe
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from importlib import resources

import torch
from torch import nn
from torch.utils.data import DataLoader

from course_lib.config import pick
from course_lib.data import CLASS_NAMES, NUM_CLASSES, ShapesDataset
from course_lib.metrics import iou_per_class, mean_iou
from course_lib.models.enet import ENet
from course_lib.train import channels_last_collate, fit, predict
from course_lib.validate import check_int, check_module
from course_lib.weights import load_half_checkpoint, save_half_checkpoint

__all__ = ["ENetRecipe", "FULL_ENET_RECIPE", "enet_recipe", "enet_short_recipe", "enet_held_out", "train_enet",
           "held_out_iou", "ENET_CHECKPOINT", "save_enet_checkpoint", "load_enet_checkpoint"]


@dataclass(frozen=True)
class ENetRecipe:
    """How notebook 03 trains ENet on the course's shapes (:func:`train_enet`); ``benchmarks/enet.py`` and
    ``scripts/train_enet_checkpoint.py`` run the same.

    Adam with the paper's weight decay 2e-4 (§5.2), a one-cycle learning rate up to ``max_lr``
    (stepped every batch, warming up for the first ``pct_start`` of the steps), plain cross-entropy
    and no spatial dropout (``dropout``, see the notebook's "Dropout"). Training images use seed 0,
    held-out images seed 1 (:func:`enet_held_out`). Trained in channels-last memory order
    (``course_lib.train.channels_last_collate``): about 1.15x faster per step on a 2-core CPU, same values.
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


#: The full recipe: 3000 images of 128 x 128, 8 epochs of batches of 8 (3000 steps). What
#: ``scripts/train_enet_checkpoint.py`` trains for the shipped checkpoint (:func:`load_enet_checkpoint`).
FULL_ENET_RECIPE = ENetRecipe(image_size=128, n_train=3000, n_val=200, epochs=8)


def enet_recipe() -> ENetRecipe:
    """The mode's recipe: :data:`FULL_ENET_RECIPE` in full mode (its held-out mean IoU and training time,
    measured, are in the checkpoint's ``meta``), in fast mode 64 images of 64 x 64 for one epoch."""
    return pick(fast=ENetRecipe(image_size=64, n_train=64, n_val=32, epochs=1), full=FULL_ENET_RECIPE)


def enet_short_recipe() -> ENetRecipe:
    """What notebook 03 trains itself to show the loss fall: in full mode one epoch of the full recipe's
    data (375 steps, the same one-cycle schedule compressed into them), in fast mode :func:`enet_recipe`."""
    return pick(fast=enet_recipe(), full=replace(FULL_ENET_RECIPE, epochs=1))


def enet_held_out(recipe: ENetRecipe) -> tuple[torch.Tensor, torch.Tensor]:
    """The recipe's held-out shapes (seed 1): images ``(n_val, 3, S, S)`` and class masks ``(n_val, S, S)``."""
    held_out = ShapesDataset(recipe.n_val, size=recipe.image_size, seed=1)
    images, masks = zip(*(held_out[i] for i in range(len(held_out))))
    return torch.stack(images).as_subclass(torch.Tensor), torch.stack(masks).as_subclass(torch.Tensor)


def train_enet(recipe: ENetRecipe, *, seed: int = 0, validate: bool = True, plot: bool | None = None,
               verbose: bool = True, device=None) -> ENet:
    """``ENet(NUM_CLASSES, dropout=recipe.dropout)`` initialised with ``seed`` and trained with ``recipe``
    by ``course_lib.train.fit`` (progress bar; in a notebook a loss plot headed "ENet on shapes", unless
    ``plot=False``): ``recipe.n_train`` shapes (seed 0) shuffled by a generator seeded with ``seed``, Adam,
    a one-cycle rate, cross-entropy, channels-last memory order. ``validate``: the held-out loss and mean
    IoU after each epoch, for the plot; it changes no weight. The notebook, ``benchmarks/enet.py`` and
    ``scripts/train_enet_checkpoint.py`` all train ENet this way; the model is returned in eval mode."""
    seed = check_int("seed", seed, 0)
    train_set = ShapesDataset(recipe.n_train, size=recipe.image_size, seed=0)
    torch.manual_seed(seed)
    model = ENet(NUM_CLASSES, dropout=recipe.dropout).to(memory_format=torch.channels_last)
    loader = DataLoader(train_set, batch_size=recipe.batch_size, shuffle=True, collate_fn=channels_last_collate,
                        generator=torch.Generator().manual_seed(seed))
    val_loader = None
    if validate:
        val_loader = DataLoader(ShapesDataset(recipe.n_val, size=recipe.image_size, seed=1), 50,
                                collate_fn=channels_last_collate)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.max_lr, weight_decay=recipe.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.max_lr,
                                                    total_steps=recipe.epochs * len(loader), pct_start=recipe.pct_start)
    fit(model, nn.CrossEntropyLoss(), loader, val_loader, epochs=recipe.epochs, optimizer=optimizer,
        scheduler=scheduler, device=device, plot=plot, verbose=verbose, title="ENet on shapes",
        metrics={"miou": lambda out, target: mean_iou(out.argmax(1), target, NUM_CLASSES)} if validate else None)
    return model


def held_out_iou(model: nn.Module, recipe: ENetRecipe) -> dict[str, float]:
    """IoU of each class of ``CLASS_NAMES`` and their ``"mean"`` (``course_lib.metrics.mean_iou``) on the
    recipe's held-out shapes (:func:`enet_held_out`), the model run on the CPU by ``course_lib.train.predict``."""
    images, masks = enet_held_out(recipe)
    predictions = predict(model.cpu(), images, batch_size=50).argmax(1)
    per_class = iou_per_class(predictions, masks, NUM_CLASSES)
    return {**{name: iou.item() for name, iou in zip(CLASS_NAMES, per_class)},
            "mean": mean_iou(predictions, masks, NUM_CLASSES)}


#: Where ``scripts/train_enet_checkpoint.py`` writes the shipped ENet, inside the package.
ENET_CHECKPOINT = "checkpoints/enet/enet_shapes.pt"


def save_enet_checkpoint(model: ENet, path, meta: dict) -> None:
    """``model`` in half precision with the arguments that build it and ``meta``
    (:func:`~course_lib.weights.save_half_checkpoint`)."""
    check_module(model)
    dropout = tuple(module.p for module in model.modules() if isinstance(module, nn.Dropout2d))
    save_half_checkpoint(path, model, meta, num_classes=model.num_classes, in_channels=model.in_channels,
                         dropout=(dropout[0], dropout[-1]))


def load_enet_checkpoint(path=None) -> ENet:
    """The course's ENet trained with :data:`FULL_ENET_RECIPE` by ``scripts/train_enet_checkpoint.py``, in eval
    mode and channels-last memory order (as :func:`train_enet` leaves a network), with the script's ``meta``
    (recipe, seed, held-out IoU, seconds, threads) on ``model.meta``; ``path`` reads another file of
    :func:`save_enet_checkpoint`."""
    source = resources.files("course_lib").joinpath(*ENET_CHECKPOINT.split("/")) if path is None else path
    if path is None and not source.is_file():
        raise FileNotFoundError(f"the course's ENet checkpoint course_lib/{ENET_CHECKPOINT} is missing; "
                                "make it with: python scripts/train_enet_checkpoint.py")
    return load_half_checkpoint(source, ENet).to(memory_format=torch.channels_last)
