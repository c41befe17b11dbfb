"""Semi-supervised segmentation by self-training with confidence-masked pseudo-labels (notebook 05b).

A **teacher** trained on the few labelled images labels the unlabelled ones; pixels where its largest
class probability is below a ``threshold`` are left unlabelled (:func:`pseudo_labels`); a **student**
(a fresh network of the same kind) trains on the labelled images and the pseudo-labelled ones.
This is the "self-taught" part of Hung, Tsai, Liou, Lin & Yang (BMVC 2018, §3.2, Eq. 5), whose mask
comes from a discriminator's confidence instead of the segmenter's own; we leave out the adversarial
half, one more network to train and balance against the first.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from course_lib.config import pick
from course_lib.data.context import CONTEXT_CLASS_NAMES, context_scenes
from course_lib.metrics import mean_iou
from course_lib.models.pspnet import IGNORE_INDEX, PSPNet, train_segmentation
from course_lib.ops.crf import check_probabilities
from course_lib.train import predict

__all__ = ["pseudo_labels", "SemiSupervisedRecipe", "semi_supervised_recipe", "self_training",
           "semi_supervised_experiment"]


def pseudo_labels(probabilities: torch.Tensor, threshold: float, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """The teacher's labels ``(N, H, W)`` int64 for its class probabilities ``(N, L, H, W)``: the most
    probable class, or ``ignore_index`` where that class's probability is below ``threshold``."""
    check_probabilities(probabilities, where="pseudo_labels")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be a probability in [0, 1], got {threshold}")
    confidence, labels = probabilities.max(1)
    return torch.where(confidence >= threshold, labels, torch.full_like(labels, ignore_index))


@dataclass(frozen=True)
class SemiSupervisedRecipe:
    """``fractions`` of ``n_train`` context scenes keep their labels; every run trains a :class:`PSPNet`
    for ``steps`` optimiser steps (so a small labelled set is repeated, not under-trained; Adam at ``lr``)
    from ``seed``. Self-training: the teacher is the supervised net of ``semi_fraction``; the student sees
    the labelled scenes and the rest with pseudo-labels of confidence >= ``threshold``."""

    n_train: int = 256
    n_val: int = 256
    image_size: int = 64
    fractions: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0)
    semi_fraction: float = 0.125
    threshold: float = 0.9
    steps: int = 512
    batch_size: int = 16
    lr: float = 3e-3
    seed: int = 0


def semi_supervised_recipe() -> SemiSupervisedRecipe:
    """Full mode: 256 scenes, 512 steps a run; fast mode: 256 scenes, fractions 1/8 and 1, 32 steps."""
    return pick(fast=SemiSupervisedRecipe(n_train=256, n_val=64, fractions=(0.125, 1.0), steps=32),
                full=SemiSupervisedRecipe())


def _epochs(recipe: SemiSupervisedRecipe, n: int) -> int:
    return max(1, round(recipe.steps * recipe.batch_size / n))


def self_training(make_model, images: torch.Tensor, masks: torch.Tensor, labelled: int,
                  recipe: SemiSupervisedRecipe, *, teacher: nn.Module | None = None, device=None) -> dict:
    """Train on the first ``labelled`` of ``(images, masks)`` (the teacher, unless given), pseudo-label the
    rest, train a student from ``make_model()`` on both. Returns ``{"teacher", "student", "pseudo"}``
    (``pseudo``: the masks the student saw for the unlabelled images)."""
    if teacher is None:
        torch.manual_seed(recipe.seed)
        teacher = make_model()
        train_segmentation(teacher, images[:labelled], masks[:labelled], epochs=_epochs(recipe, labelled),
                           batch_size=recipe.batch_size, lr=recipe.lr, seed=recipe.seed, device=device)
    pseudo = pseudo_labels(predict(teacher, images[labelled:]).softmax(1), recipe.threshold)
    torch.manual_seed(recipe.seed)
    student = make_model()
    train_segmentation(student, images, torch.cat([masks[:labelled], pseudo]), epochs=_epochs(recipe, len(images)),
                       batch_size=recipe.batch_size, lr=recipe.lr, seed=recipe.seed, device=device)
    return {"teacher": teacher, "student": student, "pseudo": pseudo}


def semi_supervised_experiment(recipe: SemiSupervisedRecipe, device=None) -> dict:
    """Supervised :class:`PSPNet` s on the first ``fraction`` of the context scenes for each of the recipe's
    fractions, and self-training from the ``semi_fraction`` one. Returns ``{"images", "masks"}``
    (held-out), ``"supervised"`` ``{fraction: held-out mean IoU}``, ``"self-training"`` (its mean IoU),
    ``"pseudo"`` (the pseudo-labels), ``"train_masks"`` (the true masks of the training scenes), ``"labelled"``
    (how many scenes kept labels) and ``"recovered"`` (the share of the gap between the ``semi_fraction`` and
    all labels that self-training closes)."""
    classes = len(CONTEXT_CLASS_NAMES)
    images, masks = context_scenes(recipe.n_train, recipe.image_size, seed=0)
    held_out, held_out_masks = context_scenes(recipe.n_val, recipe.image_size, seed=1)
    fractions = sorted({*recipe.fractions, recipe.semi_fraction, 1.0})
    supervised, teacher = {}, None
    for fraction in fractions:
        n = max(1, round(fraction * recipe.n_train))
        torch.manual_seed(recipe.seed)
        model = PSPNet(classes)
        train_segmentation(model, images[:n], masks[:n], epochs=_epochs(recipe, n), batch_size=recipe.batch_size,
                           lr=recipe.lr, seed=recipe.seed, device=device)
        supervised[fraction] = mean_iou(predict(model.cpu(), held_out).argmax(1), held_out_masks, classes)
        if fraction == recipe.semi_fraction:
            teacher = model
    labelled = max(1, round(recipe.semi_fraction * recipe.n_train))
    run = self_training(lambda: PSPNet(classes), images, masks, labelled, recipe, teacher=teacher, device=device)
    semi = mean_iou(predict(run["student"].cpu(), held_out).argmax(1), held_out_masks, classes)
    gap = supervised[1.0] - supervised[recipe.semi_fraction]
    return {"images": held_out, "masks": held_out_masks, "supervised": supervised, "self-training": semi,
            "pseudo": run["pseudo"], "train_masks": masks, "labelled": labelled,
            "recovered": (semi - supervised[recipe.semi_fraction]) / gap if gap > 0 else float("nan")}
