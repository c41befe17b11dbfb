"""Semi-supervised segmentation by self-training with an EMA teacher and weak/strong views (notebook 05b).

A **teacher** labels the unlabelled scenes; pixels where its largest class probability is below a
``threshold`` are left unlabelled (:func:`pseudo_labels`: hard, confidence-masked pseudo-labels, Lee 2013),
and a **student** learns those labels next to the true ones. This is the "self-taught" loss of Hung, Tsai,
Liou, Lin & Yang (BMVC 2018, §3.2, Eq. 5), whose mask comes from a discriminator's confidence instead of the
segmenter's own; we leave out the adversarial half, one more network to train and balance against the first.
Two ideas make the pseudo-labels improve while the student learns (:func:`ema_teacher_self_training`):

- **an EMA teacher**: the teacher's weights are an exponential moving average of the student's, the averaging
  of Tarvainen & Valpola's *mean teacher* (NeurIPS 2017), so every batch is labelled with what the student has
  learned so far. The mean teacher itself trains with a *soft* consistency loss (the squared difference of the
  two networks' class probabilities), not with thresholded labels; what is here is closer to FixMatch;
- **weak and strong views** (FixMatch, Sohn et al., NeurIPS 2020, §2.2): the teacher labels the scene as it
  is, the student learns those labels on a copy turned by a symmetry of the square and with added noise, so
  its answer must not depend on which corner the cue sits in. Only augmentations that keep the label:
  no colour changes (the cue's colour is the label), no crops that could cut the cue out.

Every batch holds as many labelled scenes (turned the same way) as unlabelled ones, as semi-supervised
methods draw half of each batch from the labelled set (Hung et al. §4.1).
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from course_lib.config import pick
from course_lib.data.context import CONTEXT_CLASS_NAMES, context_scenes, random_dihedral
from course_lib.metrics import mean_iou
from course_lib.models.pspnet import IGNORE_INDEX, PSPNet, train_segmentation
from course_lib.ops.crf import check_probabilities
from course_lib.train import predict

__all__ = ["chroma_clusters", "pseudo_labels", "SemiSupervisedRecipe", "semi_supervised_recipe",
           "ema_teacher_self_training", "EMA_TEACHER_STEP_COST", "semi_supervised_experiment"]

EMA_TEACHER_STEP_COST = 7 / 3
"""What one :func:`ema_teacher_self_training` step costs in supervised steps of the same batch size: the
teacher's forward pass on ``B`` scenes (1/3) and the student's forward and backward pass on ``2B`` (2), against
a forward and backward pass on ``B`` (1), counting a backward pass as twice a forward one."""


def chroma_clusters(images: torch.Tensor, k: int, restarts: int = 10, seed: int = 0) -> torch.Tensor:
    """The non-supervised end of the slide's "semi/non-supervised": no label at all. Every pixel of ``images``
    ``(N, 3, H, W)`` is described by its colour minus its grey level (so grey shading has no colour), and
    k-means groups all pixels of all images into ``k`` clusters: the grouping of lowest distortion over
    ``restarts`` starts drawn from ``seed`` (``scipy.cluster.vq.kmeans``, then ``vq`` to assign the pixels).
    Returns the ``(N, H, W)`` int64 cluster of each pixel; score it with
    :func:`course_lib.metrics.matched_mean_iou`. SciPy's k-means drops a centre that ends up with no pixel,
    so fewer than ``k`` clusters may come back."""
    from scipy.cluster.vq import kmeans, vq

    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"chroma_clusters expects RGB images (N, 3, H, W), got "
                         f"{tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__}")
    chroma = (images - images.mean(1, keepdim=True)).permute(0, 2, 3, 1).reshape(-1, 3).double().numpy()
    centres, _ = kmeans(chroma, k, iter=restarts, seed=seed)
    clusters, _ = vq(chroma, centres)
    return torch.from_numpy(clusters).long().reshape(images.shape[0], *images.shape[2:])


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
    """``fractions`` of ``n_train`` context scenes keep their labels; every supervised run trains a
    :class:`PSPNet` for ``steps`` optimiser steps (so a small labelled set is repeated, not under-trained;
    Adam, one cycle peaking at ``lr`` after ``warmup`` of the steps, batches turned by random symmetries),
    once per seed of ``seeds``. Semi-supervised: :func:`ema_teacher_self_training` from the supervised net of
    ``semi_fraction``, ``steps`` steps of ``batch_size`` labelled and ``batch_size`` unlabelled scenes,
    pseudo-labels of confidence >= ``threshold``, teacher weights ``ema`` * teacher + (1 - ``ema``) * student
    after every step, Gaussian noise of standard deviation ``noise`` on the student's (strong) view."""

    n_train: int = 256
    n_val: int = 256
    image_size: int = 64
    fractions: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0)
    semi_fraction: float = 0.125
    threshold: float = 0.9
    steps: int = 512
    batch_size: int = 16
    lr: float = 3e-3
    warmup: float = 0.2
    ema: float = 0.99
    noise: float = 0.05
    seeds: tuple[int, ...] = (0, 1)

    def __post_init__(self):
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema must be in [0, 1) (the teacher's share of its own weights), got {self.ema}")
        if self.noise < 0:
            raise ValueError(f"noise is a standard deviation, >= 0, got {self.noise}")


def semi_supervised_recipe() -> SemiSupervisedRecipe:
    """Notebook 05b's recipe. Full mode: 256 scenes, 512 steps a run, two seeds, the labelled fractions 1/8
    and 1 (``benchmarks/developments.py`` adds 1/4 and 1/2: :data:`SemiSupervisedRecipe.fractions`);
    fast mode: 256 scenes, fractions 1/8 and 1, 32 steps, one seed."""
    return pick(fast=SemiSupervisedRecipe(n_train=256, n_val=64, fractions=(0.125, 1.0), steps=32, seeds=(0,)),
                full=SemiSupervisedRecipe(fractions=(0.125, 1.0)))


def _epochs(recipe: SemiSupervisedRecipe, n: int) -> int:
    return max(1, round(recipe.steps * recipe.batch_size / n))


def ema_teacher_self_training(model: nn.Module, images: torch.Tensor, masks: torch.Tensor, labelled: int,
                 recipe: SemiSupervisedRecipe, *, seed: int = 0, device=None) -> dict:
    """Semi-supervised training from ``model``, trained on the first ``labelled`` of ``(images, masks)``; the
    rest are unlabelled. Student and teacher start as copies of ``model``. Each of ``recipe.steps`` steps:
    the teacher (``eval()`` mode) pseudo-labels ``batch_size`` unlabelled scenes as they are (weak view); the
    student learns them on the same scenes turned by a random symmetry plus noise (strong view, the labels
    turned alike), and ``batch_size`` labelled scenes with their labels, cross-entropy summed; then the
    teacher's weights move to ``ema`` * teacher + (1 - ``ema``) * student and it takes the student's BatchNorm
    statistics. Returns ``{"student", "teacher", "step_loss"}``."""
    generator = torch.Generator().manual_seed(seed)
    student = copy.deepcopy(model).to(device).train()
    teacher = copy.deepcopy(student).eval().requires_grad_(False)
    optimizer = torch.optim.Adam(student.parameters(), lr=recipe.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr, total_steps=recipe.steps,
                                                   pct_start=recipe.warmup)
    step_loss = []
    for _ in tqdm(range(recipe.steps), desc="EMA teacher", unit="step"):
        some = torch.randint(labelled, (recipe.batch_size,), generator=generator)
        x, y = random_dihedral(images[some], masks[some], generator)
        unlabelled = images[labelled + torch.randint(len(images) - labelled, (recipe.batch_size,), generator=generator)]
        with torch.no_grad():
            pseudo = pseudo_labels(teacher(unlabelled.to(device)).softmax(1).cpu(), recipe.threshold)
        strong, strong_pseudo = random_dihedral(unlabelled, pseudo, generator)
        strong = (strong + recipe.noise * torch.randn(strong.shape, generator=generator)).clamp(0, 1)
        scores = student(torch.cat([x, strong]).to(device))
        loss = (F.cross_entropy(scores[:len(x)], y.to(device), ignore_index=IGNORE_INDEX)
                + F.cross_entropy(scores[len(x):], strong_pseudo.to(device), ignore_index=IGNORE_INDEX))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        step_loss.append(loss.item())
        with torch.no_grad():
            for mean, weight in zip(teacher.parameters(), student.parameters()):
                mean.lerp_(weight, 1 - recipe.ema)
            for mean, statistic in zip(teacher.buffers(), student.buffers()):
                mean.copy_(statistic)
    return {"student": student.eval(), "teacher": teacher, "step_loss": step_loss}


def semi_supervised_experiment(recipe: SemiSupervisedRecipe, device=None) -> dict:
    """For each of the recipe's seeds: supervised :class:`PSPNet` s on the first ``fraction`` of the context
    scenes for each of the recipe's fractions (``steps`` steps each), and :func:`ema_teacher_self_training` for
    half the ``steps`` from a net trained on the ``semi_fraction`` for the other half.
    Returns ``{"images", "masks"}`` (held-out), ``"supervised"`` ``{fraction: [held-out mean IoU per seed]}``,
    ``"semi"`` and ``"recovered"`` (per seed: the student's held-out mean IoU, and the share of the gap
    between the ``semi_fraction`` and all labels that it closes), ``"same_compute"`` (per seed: the control,
    the ``semi_fraction`` net trained on its labelled scenes only for as many more steps as make its compute
    equal to the semi-supervised run's, :data:`EMA_TEACHER_STEP_COST`), ``"control_steps"`` (those steps),
    ``"seconds"`` (``{"semi", "control"}``: wall time of each whole path, summed over seeds), ``"pseudo"``
    (the first seed's pseudo-labels of the unlabelled training scenes by the teacher at the ``"start"`` and at
    the ``"end"``), ``"train_masks"`` (the true masks of the training scenes) and ``"labelled"`` (how many
    scenes kept labels)."""
    classes = len(CONTEXT_CLASS_NAMES)
    images, masks = context_scenes(recipe.n_train, recipe.image_size, seed=0)
    held_out, held_out_masks = context_scenes(recipe.n_val, recipe.image_size, seed=1)
    fractions = sorted({*recipe.fractions, recipe.semi_fraction, 1.0})
    labelled = max(1, round(recipe.semi_fraction * recipe.n_train))
    semi_steps = recipe.steps - recipe.steps // 2
    control_steps = max(1, round(recipe.steps // 2 + semi_steps * EMA_TEACHER_STEP_COST) - recipe.steps)
    result = {"images": held_out, "masks": held_out_masks, "supervised": {f: [] for f in fractions},
              "semi": [], "recovered": [], "same_compute": [], "control_steps": control_steps,
              "seconds": {"semi": 0.0, "control": 0.0}, "train_masks": masks, "labelled": labelled}
    for seed in recipe.seeds:
        for fraction in fractions:
            n = max(1, round(fraction * recipe.n_train))
            torch.manual_seed(seed)
            model = PSPNet(classes)
            started = time.perf_counter()
            train_segmentation(model, images[:n], masks[:n], epochs=_epochs(recipe, n), batch_size=recipe.batch_size,
                               lr=recipe.lr, seed=seed, warmup=recipe.warmup, augment=True, device=device)
            result["supervised"][fraction].append(
                mean_iou(predict(model.cpu(), held_out).argmax(1), held_out_masks, classes))
            if fraction == recipe.semi_fraction:
                few, result["seconds"]["control"] = model, result["seconds"]["control"] + time.perf_counter() - started
        # Semi-supervised: the teacher learns the labelled scenes for half the steps, the EMA teacher takes the rest.
        started = time.perf_counter()
        torch.manual_seed(seed)
        teacher = PSPNet(classes)
        train_segmentation(teacher, images[:labelled], masks[:labelled], epochs=max(1, _epochs(recipe, labelled) // 2),
                           batch_size=recipe.batch_size, lr=recipe.lr, seed=seed, warmup=recipe.warmup, augment=True,
                           device=device)
        run = ema_teacher_self_training(teacher, images, masks, labelled, replace(recipe, steps=semi_steps),
                                        seed=seed, device=device)
        result["seconds"]["semi"] += time.perf_counter() - started
        # The control: the semi_fraction net trained on its labelled scenes only, to the same compute.
        started = time.perf_counter()
        train_segmentation(few, images[:labelled], masks[:labelled],
                           epochs=_epochs(replace(recipe, steps=control_steps), labelled), batch_size=recipe.batch_size,
                           lr=recipe.lr, seed=seed, warmup=recipe.warmup, augment=True, device=device)
        result["seconds"]["control"] += time.perf_counter() - started
        result["same_compute"].append(mean_iou(predict(few.cpu(), held_out).argmax(1), held_out_masks, classes))
        semi = mean_iou(predict(run["student"].cpu(), held_out).argmax(1), held_out_masks, classes)
        few, full = result["supervised"][recipe.semi_fraction][-1], result["supervised"][1.0][-1]
        result["semi"].append(semi)
        result["recovered"].append((semi - few) / (full - few) if full > few else float("nan"))
        result.setdefault("pseudo", {
            when: pseudo_labels(predict(net.cpu(), images[labelled:]).softmax(1), recipe.threshold)
            for when, net in (("start", teacher), ("end", run["teacher"]))})
    return result
