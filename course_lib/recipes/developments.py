"""Notebook 05a's experiments (slide D, "Developments", first half); ``benchmarks/developments.py`` runs the same.

- :class:`DevelopmentsRecipe`: every number the notebook and the benchmark share.
- :func:`fcn_probabilities`: notebook 01's FCN (``course_lib.recipes.fcn.train``) for each seed, and its
  softmax on the held-out shapes.
- :func:`refinements` (the network's labels, after SLIC voting, after the dense CRF) and
  :func:`crf_weight_sweep` (the dense CRF with its kernel weights scaled).
- :func:`train_decoder`: an ``UpsamplingDecoder`` and its checkerboard score after each epoch.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_lib.config import pick
from course_lib.data import ShapesDataset
from course_lib.metrics import boundary_f1, mean_iou
from course_lib.models.developments import UpsamplingDecoder
from course_lib.ops.checkerboard import checkerboard_score
from course_lib.ops.crf import CRFParams, dense_crf
from course_lib.ops.superpixels import superpixel_vote
from course_lib.recipes import fcn as fcn_recipes
from course_lib.recipes.fcn import FCNRecipe, fcn_recipe
from course_lib.train import fit, predict

__all__ = ["DevelopmentsRecipe", "developments_recipe", "fcn_probabilities", "upsampling_pairs", "train_decoder",
           "refinements", "scaled_crf", "crf_weight_sweep"]


@dataclass(frozen=True)
class DevelopmentsRecipe:
    """Notebook 05a and ``benchmarks/developments.py``: FCN-``fcn_variant`` trained with notebook 01's
    recipe (``fcn``) for each of ``seeds``, refined by the dense CRF (``crf``, ``crf_iterations``) or SLIC
    voting; the upsampling decoders trained ``decoder_epochs`` passes over ``decoder_images`` pairs
    (:func:`upsampling_pairs`: shapes at ``fcn.image_size`` and their 2x average-pooled copies)."""

    fcn: FCNRecipe
    fcn_variant: str = "8s"
    seeds: tuple[int, ...] = (0, 1, 2)
    crf: CRFParams = CRFParams()
    crf_iterations: int = 5
    crf_weight_scales: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1, 1.0)
    slic_segments: int = 100
    slic_compactness: float = 30.0
    decoder_images: int = 512
    decoder_epochs: int = 10
    decoder_batch: int = 16
    decoder_lr: float = 3e-3


def developments_recipe() -> DevelopmentsRecipe:
    """The mode's recipe: notebook 01's FCN recipe; decoders on 512 pairs for 10 epochs in full mode,
    128 pairs for 2 epochs in fast mode; the CRF weight sweep at three of the five scales in fast mode."""
    return pick(fast=DevelopmentsRecipe(fcn=fcn_recipe(), decoder_images=128, decoder_epochs=2,
                                        crf_weight_scales=(0.01, 0.1, 1.0)),
                full=DevelopmentsRecipe(fcn=fcn_recipe()))


def fcn_probabilities(recipe: DevelopmentsRecipe, device=None, plot_first: bool = True):
    """Notebook 01's FCN-``recipe.fcn_variant`` trained by ``recipe.fcn`` from each of ``recipe.seeds``
    (``course_lib.recipes.fcn.train``; a progress bar, no line per epoch, and the loss plot of the first seed
    only, with ``plot_first``), and its softmax on the held-out shapes. Yields ``(seed, images, masks,
    probabilities)`` one seed at a time, ``probabilities`` ``(N, 4, H, W)``."""
    train_set, images, masks = fcn_recipes.shapes_data(recipe.fcn)
    for seed in recipe.seeds:
        model, _ = fcn_recipes.train(recipe.fcn, recipe.fcn_variant, train_set, seed=seed, device=device,
                                     plot=plot_first and seed == recipe.seeds[0],
                                     title=f"FCN-{recipe.fcn_variant}, seed {seed}", verbose=False)
        yield seed, images, masks, predict(model, images).softmax(1)


def upsampling_pairs(n: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(low, high)``: ``n`` shapes images of ``size`` pixels (``high``) and their 2x average-pooled
    copies (``low``), the task of :class:`UpsamplingDecoder`."""
    high = torch.stack([image for image, _ in ShapesDataset(n, size=size, seed=seed)])
    return F.avg_pool2d(high, 2), high


def train_decoder(kind: str, train: tuple[torch.Tensor, torch.Tensor], val_low: torch.Tensor,
                  recipe: DevelopmentsRecipe, device=None) -> tuple[UpsamplingDecoder, list[float]]:
    """Train an :class:`UpsamplingDecoder` of ``kind`` on ``train = (low, high)`` pairs with the mean
    squared error (seed 0, the recipe's batches, epochs and Adam learning rate), one ``fit`` epoch at a
    time; returns it and the :func:`checkerboard_score` (border 2) of its outputs on ``val_low``
    before training and after each epoch."""
    torch.manual_seed(0)
    decoder = UpsamplingDecoder(kind)
    loader = DataLoader(TensorDataset(*train), batch_size=recipe.decoder_batch, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(decoder.parameters(), lr=recipe.decoder_lr)
    scores = [checkerboard_score(predict(decoder, val_low), border=2)]
    for _ in range(recipe.decoder_epochs):
        fit(decoder, nn.MSELoss(), loader, epochs=1, optimizer=optimizer, device=device, plot=False, verbose=False)
        scores.append(checkerboard_score(predict(decoder, val_low), border=2))
    return decoder.cpu(), scores


def refinements(images: torch.Tensor, probabilities: torch.Tensor, recipe: DevelopmentsRecipe) -> dict:
    """The labels of the network (``"FCN"``), after SLIC majority voting and after the dense CRF,
    for ``images`` ``(B, 3, H, W)`` and the network's ``probabilities`` ``(B, L, H, W)``."""
    labels = probabilities.argmax(1)
    return {"FCN": labels,
            "+ SLIC vote": superpixel_vote(images, labels, recipe.slic_segments, recipe.slic_compactness),
            "+ dense CRF": dense_crf(images, probabilities, recipe.crf_iterations, recipe.crf).argmax(1)}


def scaled_crf(params: CRFParams, scale: float) -> CRFParams:
    """``params`` with both kernel weights (``w_appearance``, ``w_smoothness``) multiplied by ``scale``."""
    return replace(params, w_appearance=scale * params.w_appearance, w_smoothness=scale * params.w_smoothness)


def crf_weight_sweep(images: torch.Tensor, probabilities: torch.Tensor, masks: torch.Tensor,
                     recipe: DevelopmentsRecipe, num_classes: int) -> dict[float, tuple[float, float]]:
    """``{scale: (mean IoU, boundary F1)}`` of the dense CRF's labels with the recipe's kernel weights
    times each of ``recipe.crf_weight_scales`` (widths and iterations unchanged); scale 0 is the network."""
    scores = {}
    for scale in (0.0, *recipe.crf_weight_scales):
        labels = (dense_crf(images, probabilities, recipe.crf_iterations, scaled_crf(recipe.crf, scale)).argmax(1)
                  if scale else probabilities.argmax(1))
        scores[scale] = (mean_iou(labels, masks, num_classes), boundary_f1(labels, masks))
    return scores
