"""Semi-supervised segmentation by self-training with confidence-masked pseudo-labels (notebook 05b).

A **teacher** trained on the few labelled images labels the unlabelled ones; pixels where its largest
class probability is below a ``threshold`` are left unlabelled (:func:`pseudo_labels`); a **student**
trains on the labelled images and the pseudo-labelled ones. This is the "self-taught" part of Hung, Tsai,
Liou, Lin & Yang (BMVC 2018, §3.2, Eq. 5), whose mask comes from a discriminator's confidence instead of
the segmenter's own; we leave out the adversarial half, one more network to train and balance against
the first. Two choices decide whether it helps (notebook 05b measures both):

- the student **starts from the teacher** (``init="teacher"``) instead of from scratch, and
- the labelled images are **repeated** so that they are half of what the student sees, as semi-supervised
  methods draw half of each batch from the labelled set (Hung et al. §4.1): otherwise 7/8 of the student's
  data carries the teacher's mistakes and the true labels are diluted eight times.
"""
from __future__ import annotations

import copy
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
    for ``steps`` optimiser steps (so a small labelled set is repeated, not under-trained; Adam at ``lr``),
    once per seed of ``seeds``. Self-training: the teacher is the supervised net of ``semi_fraction``; the
    student sees the rest with pseudo-labels of confidence >= ``threshold`` and the labelled scenes, repeated
    to half of its data when ``balanced``; it starts from the teacher's weights (``init="teacher"``) or from
    scratch (``"scratch"``)."""

    n_train: int = 256
    n_val: int = 256
    image_size: int = 64
    fractions: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0)
    semi_fraction: float = 0.125
    threshold: float = 0.9
    steps: int = 512
    batch_size: int = 16
    lr: float = 3e-3
    seeds: tuple[int, ...] = (0, 1)
    init: str = "teacher"
    balanced: bool = True

    def __post_init__(self):
        if self.init not in ("teacher", "scratch"):
            raise ValueError(f"init must be 'teacher' or 'scratch', got {self.init!r}")


def semi_supervised_recipe() -> SemiSupervisedRecipe:
    """Full mode: 256 scenes, 512 steps a run, two seeds; fast mode: 256 scenes, fractions 1/8 and 1, 32 steps,
    one seed."""
    return pick(fast=SemiSupervisedRecipe(n_train=256, n_val=64, fractions=(0.125, 1.0), steps=32, seeds=(0,)),
                full=SemiSupervisedRecipe())


def _epochs(recipe: SemiSupervisedRecipe, n: int) -> int:
    return max(1, round(recipe.steps * recipe.batch_size / n))


def self_training(make_model, images: torch.Tensor, masks: torch.Tensor, labelled: int,
                  recipe: SemiSupervisedRecipe, *, seed: int = 0, teacher: nn.Module | None = None,
                  device=None) -> dict:
    """Train on the first ``labelled`` of ``(images, masks)`` (the teacher, unless given), pseudo-label the
    rest, train a student (``make_model()``, or a copy of the teacher, as the recipe says) on both. Returns
    ``{"teacher", "student", "pseudo"}`` (``pseudo``: the masks the student saw for the unlabelled images)."""
    if teacher is None:
        torch.manual_seed(seed)
        teacher = make_model()
        train_segmentation(teacher, images[:labelled], masks[:labelled], epochs=_epochs(recipe, labelled),
                           batch_size=recipe.batch_size, lr=recipe.lr, seed=seed, device=device)
    pseudo = pseudo_labels(predict(teacher, images[labelled:]).softmax(1), recipe.threshold)
    repeats = max(1, (len(images) - labelled) // labelled) if recipe.balanced else 1
    student_images = torch.cat([images[:labelled].repeat(repeats, 1, 1, 1), images[labelled:]])
    student_masks = torch.cat([masks[:labelled].repeat(repeats, 1, 1), pseudo])
    torch.manual_seed(seed)
    student = copy.deepcopy(teacher) if recipe.init == "teacher" else make_model()
    train_segmentation(student, student_images, student_masks, epochs=_epochs(recipe, len(student_images)),
                       batch_size=recipe.batch_size, lr=recipe.lr, seed=seed, device=device)
    return {"teacher": teacher, "student": student, "pseudo": pseudo}


def semi_supervised_experiment(recipe: SemiSupervisedRecipe, device=None) -> dict:
    """For each of the recipe's seeds: supervised :class:`PSPNet` s on the first ``fraction`` of the context
    scenes for each of the recipe's fractions, and self-training from the ``semi_fraction`` one. Returns
    ``{"images", "masks"}`` (held-out), ``"supervised"`` ``{fraction: [held-out mean IoU per seed]}``,
    ``"self-training"`` and ``"recovered"`` (per seed: the student's mean IoU, and the share of the gap
    between the ``semi_fraction`` and all labels that it closes), ``"pseudo"`` (the first seed's
    pseudo-labels), ``"train_masks"`` (the true masks of the training scenes) and ``"labelled"`` (how many
    scenes kept labels)."""
    classes = len(CONTEXT_CLASS_NAMES)
    images, masks = context_scenes(recipe.n_train, recipe.image_size, seed=0)
    held_out, held_out_masks = context_scenes(recipe.n_val, recipe.image_size, seed=1)
    fractions = sorted({*recipe.fractions, recipe.semi_fraction, 1.0})
    labelled = max(1, round(recipe.semi_fraction * recipe.n_train))
    result = {"images": held_out, "masks": held_out_masks, "supervised": {f: [] for f in fractions},
              "self-training": [], "recovered": [], "train_masks": masks, "labelled": labelled}
    for seed in recipe.seeds:
        teacher = None
        for fraction in fractions:
            n = max(1, round(fraction * recipe.n_train))
            torch.manual_seed(seed)
            model = PSPNet(classes)
            train_segmentation(model, images[:n], masks[:n], epochs=_epochs(recipe, n), batch_size=recipe.batch_size,
                               lr=recipe.lr, seed=seed, device=device)
            result["supervised"][fraction].append(
                mean_iou(predict(model.cpu(), held_out).argmax(1), held_out_masks, classes))
            if fraction == recipe.semi_fraction:
                teacher = model
        run = self_training(lambda: PSPNet(classes), images, masks, labelled, recipe, seed=seed, teacher=teacher,
                            device=device)
        semi = mean_iou(predict(run["student"].cpu(), held_out).argmax(1), held_out_masks, classes)
        few, full = result["supervised"][recipe.semi_fraction][-1], result["supervised"][1.0][-1]
        result["self-training"].append(semi)
        result["recovered"].append((semi - few) / (full - few) if full > few else float("nan"))
        result.setdefault("pseudo", run["pseudo"])
    return result
