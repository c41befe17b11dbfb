"""Notebook 09's experiment ("Image enhancement", SICE in miniature): the exposure-combination data
(:class:`EnhanceRecipe`, :func:`held_out_pairs`), the training of the networks of ``course_lib.models.sice`` and
their scoring against the fused references; ``benchmarks/applications.py enhancement`` runs the same.

    recipe = enhance_recipe()                        # the mode's sizes and steps (a frozen dataclass)
    pairs = held_out_pairs(recipe)                   # {(name, "under"/"over"): (input, fused reference)}
    model = SICE(); train_enhancer(model, recipe)    # two stages: enhance each layer, then fuse
    scores = evaluate_enhancers({"CNN": lambda x: enhance(model, x)}, pairs)
    runs = compare_networks(recipe, seeds=(0, 1, 2), pairs=pairs)   # SICE, its no-split ablation, one-stage
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import nn

from course_lib.config import pick
from course_lib.data import HELD_OUT_IMAGES, TRAIN_IMAGES, sample_image, sample_image_names
from course_lib.data.degrade import random_patches
from course_lib.data.exposure import exposure_stack
from course_lib.losses.enhancement import sice_loss
from course_lib.metrics import psnr, rgb_to_ycbcr, ssim
from course_lib.models.sice import NETWORKS, build_networks, frequency_split
from course_lib.ops.exposure_fusion import exposure_fusion
from course_lib.train import fit
from course_lib.validate import check_int, check_module

__all__ = ["EnhanceRecipe", "enhance_recipe", "fused_reference", "held_out_pairs", "enhancement_training_data",
           "train_enhancer", "train_networks", "enhance", "score_enhancer", "mean_scores", "evaluate_enhancers",
           "compare_networks", "seed_statistics", "chroma_deviation"]


@dataclass(frozen=True)
class EnhanceRecipe:
    """How notebook 09 makes its data and trains (``benchmarks/applications.py`` runs the same).

    Every sample image is resized to ``image_size``, given an exposure stack at ``stops`` (EV) and the
    stack's exposure fusion as reference. Training: ``n_patches`` random ``patch``-pixel crops of the
    non-zero-EV frames of :data:`TRAIN_IMAGES` with the matching crops of their references, :func:`~course_lib.losses.enhancement.sice_loss`,
    Adam with a one-cycle learning rate up to ``max_lr`` for ``epochs`` passes. Evaluation: the frames at
    ``under`` and ``over`` EV of :data:`HELD_OUT_IMAGES`."""

    image_size: int
    n_patches: int
    epochs: int
    patch: int = 64
    batch_size: int = 16
    max_lr: float = 3e-3
    width: int = 16
    stops: tuple = (-3.0, -1.5, 0.0, 1.5, 3.0)
    under: float = -3.0
    over: float = 1.5
    detail_weight: float = 1.0
    seed: int = 0


def enhance_recipe() -> EnhanceRecipe:
    """The mode's recipe: full mode 256-pixel images and 2048 patches for 4 epochs (six trainings of it fit
    notebook 09's full mode in 8 minutes on 2 cores), fast mode 128-pixel images and 256 patches for one epoch."""
    return pick(fast=EnhanceRecipe(image_size=128, n_patches=256, epochs=1),
                full=EnhanceRecipe(image_size=256, n_patches=2048, epochs=4))


def fused_reference(name: str, recipe: EnhanceRecipe) -> tuple[torch.Tensor, torch.Tensor]:
    """``(stack, reference)`` of the sample image ``name``: its :func:`data.exposure.exposure_stack` at
    ``recipe.stops`` (noise seeded by the image and ``recipe.seed``) and their exposure fusion — without
    the saturation weight for a grey image (its saturation is zero everywhere)."""
    image = sample_image(name, size=recipe.image_size)
    stack = exposure_stack(image, recipe.stops, seed=1000 * recipe.seed + sample_image_names().index(name))
    grey = bool((image.std(0) == 0).all())
    return stack, exposure_fusion(stack, ws=0.0 if grey else 1.0)


def held_out_pairs(recipe: EnhanceRecipe) -> dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]]:
    """``{(name, "under" | "over"): (frame, reference)}`` for :data:`HELD_OUT_IMAGES`, RGB ``(3, S, S)``."""
    pairs = {}
    for name in HELD_OUT_IMAGES:
        stack, reference = fused_reference(name, recipe)
        for kind in ("under", "over"):
            pairs[name, kind] = (stack[list(recipe.stops).index(getattr(recipe, kind))], reference)
    return pairs


def enhancement_training_data(recipe: EnhanceRecipe) -> torch.utils.data.TensorDataset:
    """(frame, reference) crops of :data:`TRAIN_IMAGES`: ``(N, 3, p, p)`` each, cut at the same place."""
    pairs = []
    for name in TRAIN_IMAGES:
        stack, reference = fused_reference(name, recipe)
        pairs += [torch.cat([frame, reference]) for frame, stop in zip(stack, recipe.stops) if stop != 0]
    patches = random_patches(pairs, recipe.patch, recipe.n_patches, seed=recipe.seed)
    return torch.utils.data.TensorDataset(patches[:, :3].contiguous(), patches[:, 3:].contiguous())


def train_enhancer(model: nn.Module, recipe: EnhanceRecipe, plot: bool | None = None, verbose: bool = True) -> dict:
    """Train ``model`` (RGB frame -> RGB reference) with ``recipe``; the history of ``train.fit``
    (``plot`` and ``verbose`` as there: ``verbose=False`` keeps the per-epoch lines out, the progress bar stays)."""
    check_module(model)
    loader = torch.utils.data.DataLoader(enhancement_training_data(recipe), batch_size=recipe.batch_size,
                                         shuffle=True, generator=torch.Generator().manual_seed(recipe.seed))
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.max_lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, recipe.max_lr, epochs=recipe.epochs,
                                                    steps_per_epoch=len(loader))
    return fit(model, lambda out, ref: sice_loss(out, ref, recipe.detail_weight), loader, epochs=recipe.epochs,
               optimizer=optimizer, scheduler=scheduler, plot=plot, verbose=verbose)


def train_networks(recipe: EnhanceRecipe, seed: int = 0, plot: bool | None = False, verbose: bool = True,
                   names=NETWORKS) -> dict[str, tuple[nn.Module, dict]]:
    """``{name: (model, history)}`` for the ``names`` of :data:`NETWORKS` (:func:`build_networks` of width
    ``recipe.width``), initialised from ``seed`` and trained on the data of ``recipe`` with ``seed`` (the
    spread over seeds tells a real effect from luck). ``plot`` and ``verbose`` go to :func:`train_enhancer`."""
    recipe = replace(recipe, seed=check_int("seed", seed, 0))
    unknown = set(names) - set(NETWORKS)
    if unknown:
        raise ValueError(f"train_networks: unknown network(s) {sorted(unknown)}; choose from {NETWORKS}")
    torch.manual_seed(seed)
    return {name: (model, train_enhancer(model, recipe, plot=plot, verbose=verbose))
            for name, model in build_networks(recipe.width).items() if name in names}


@torch.no_grad()
def enhance(model: nn.Module, image: torch.Tensor) -> torch.Tensor:
    """The network's enhancement of one RGB ``(3, H, W)`` image in [0, 1], clipped to [0, 1]."""
    check_module(model)
    was_training = model.training
    output = model.eval()(image[None])[0].clamp(0, 1)
    model.train(was_training)
    return output


def score_enhancer(fn, pairs: dict) -> dict[tuple[str, str], dict[str, float]]:
    """``{(name, kind): {"psnr", "ssim", "detail"}}``: the method ``fn`` (RGB ``(3, H, W)`` -> RGB) on each of
    ``pairs`` (:func:`held_out_pairs`), with PSNR (dB) and SSIM against the fused reference, and ``detail``,
    the mean absolute error of the detail layer (:func:`frequency_split`) against the reference's, in 1/255."""
    scores = {}
    for key, (frame, reference) in pairs.items():
        output = fn(frame)
        detail_error = (frequency_split(output[None])[1] - frequency_split(reference[None])[1]).abs().mean()
        scores[key] = dict(psnr=psnr(output, reference).item(), ssim=ssim(output, reference).item(),
                           detail=255 * detail_error.item())
    return scores


def mean_scores(scores: dict[tuple[str, str], dict[str, float]]) -> dict[str, float]:
    """The mean of :func:`score_enhancer`'s scores, under- and over-exposed frames apart:
    ``{"psnr_under", "ssim_under", "detail_under", "psnr_over", ...}``."""
    means = {}
    for kind in ("under", "over"):
        rows = [row for (_, k), row in scores.items() if k == kind]
        for metric in ("psnr", "ssim", "detail"):
            means[f"{metric}_{kind}"] = sum(row[metric] for row in rows) / len(rows)
    return means


def evaluate_enhancers(methods: dict, pairs: dict) -> dict[str, dict[str, float]]:
    """For each named method (RGB ``(3, H, W)`` -> RGB), :func:`mean_scores` of its :func:`score_enhancer`
    on ``pairs``: ``{method: {"psnr_under", "ssim_under", "detail_under", "psnr_over", ...}}``."""
    return {method: mean_scores(score_enhancer(fn, pairs)) for method, fn in methods.items()}


def compare_networks(recipe: EnhanceRecipe, seeds, pairs: dict, control_seeds=None, verbose: bool = False) -> dict:
    """Train :data:`NETWORKS` with each of ``seeds`` (:func:`train_networks`; the one-stage control only with
    ``control_seeds``, default ``seeds``; ``()`` leaves it out) and score them on ``pairs``. Returns ``{"scores": {name:
    [score_enhancer's scores, one per seed]}, "histories": {(name, seed): history}, "models": {name: the
    model of the first seed}, "all_models": {name: [the model of each seed]}}``."""
    control_seeds = seeds if control_seeds is None else control_seeds
    trained = [name for name in NETWORKS if (control_seeds if name == "one-stage" else seeds)]
    runs = {"scores": {name: [] for name in trained}, "histories": {}, "models": {},
            "all_models": {name: [] for name in trained}}
    for seed in dict.fromkeys([*seeds, *control_seeds]):
        names = [n for n in NETWORKS if seed in (control_seeds if n == "one-stage" else seeds)]
        for name, (model, history) in train_networks(recipe, seed, verbose=verbose, names=names).items():
            runs["scores"][name].append(score_enhancer(lambda x, m=model: enhance(m, x), pairs))
            runs["histories"][name, seed] = history
            runs["models"].setdefault(name, model)
            runs["all_models"][name].append(model)
    return runs


def seed_statistics(values) -> tuple[float, float]:
    """``(mean, standard deviation)`` over seeds (the deviation is 0 for one seed)."""
    values = list(values)
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return mean, sd


def chroma_deviation(image: torch.Tensor) -> float:
    """How far the colour of an RGB ``(3, H, W)`` image is from grey: the mean over its pixels of the distance
    of (Cb, Cr) from their neutral value 128/255 (BT.601), in units of 1/255. 0 for a grey image."""
    cbcr = rgb_to_ycbcr(image)[-2:] - 128 / 255
    return 255 * cbcr.norm(dim=0).mean().item()
