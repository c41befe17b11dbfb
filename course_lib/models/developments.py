"""The small networks of notebook 05a (slide D, "Developments", first half) and its recipe.

- :class:`UpsamplingDecoder`: a two-layer decoder that upsamples 2x with one of three layers
  (Odena, Dumoulin & Olah, Distill 2016): a 3 x 3 stride-2 transposed convolution (kernel not
  divisible by the stride: checkerboard), a 4 x 4 one initialised bilinear (FCN §3.3, the middle
  road), or nearest-neighbour resize followed by a 3 x 3 convolution ("resize-convolution").
- :func:`conv_stack`: four 3 x 3 convolutions, plain, strided, dilated 1-2-4-8 (Yu & Koltun 2016,
  §2) or dilated 2-2-2-2 (gridding), for receptive-field pictures.
- :class:`DevelopmentsRecipe`: every number the notebook and ``benchmarks/developments.py`` share, and
  the steps both run: :func:`train_decoder` (checkerboard score per epoch) and :func:`refinements`
  (the network's labels, after SLIC voting, after the dense CRF).
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
from course_lib.models.fcn import FCNRecipe, bilinear_kernel, fcn_recipe
from course_lib.ops.checkerboard import checkerboard_score
from course_lib.ops.crf import CRFParams, dense_crf
from course_lib.ops.superpixels import superpixel_vote
from course_lib.train import fit, predict

__all__ = ["UPSAMPLING", "upsampling_layer", "UpsamplingDecoder", "STACKS", "conv_stack", "DevelopmentsRecipe",
           "developments_recipe", "upsampling_pairs", "train_decoder", "refinements", "scaled_crf", "crf_weight_sweep"]

UPSAMPLING = ("deconv 3x3", "deconv 4x4 bilinear", "resize-conv")


def upsampling_layer(kind: str, channels: int) -> nn.Module:
    """A 2x upsampling of ``channels`` maps: ``"deconv 3x3"`` (``ConvTranspose2d``, kernel 3, stride 2,
    default initialisation), ``"deconv 4x4 bilinear"`` (kernel 4, stride 2, initialised to bilinear
    interpolation and learnable) or ``"resize-conv"`` (nearest-neighbour 2x, then a 3 x 3 conv)."""
    if kind == "deconv 3x3":
        return nn.ConvTranspose2d(channels, channels, 3, stride=2, padding=1, output_padding=1)
    if kind == "deconv 4x4 bilinear":
        layer = nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1)
        with torch.no_grad():
            layer.weight.copy_(bilinear_kernel(channels, channels, 4))
            layer.bias.zero_()
        return layer
    if kind == "resize-conv":
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(channels, channels, 3, padding=1))
    raise ValueError(f"kind must be one of {UPSAMPLING}, got {kind!r}")


class UpsamplingDecoder(nn.Module):
    """``(N, 3, H, W)`` -> ``(N, 3, 2H, 2W)``: a 3 x 3 conv to ``width`` maps, ReLU, the 2x
    :func:`upsampling_layer` of ``kind``, ReLU, a 3 x 3 conv back to RGB."""

    def __init__(self, kind: str, width: int = 16):
        super().__init__()
        self.kind = kind
        self.encode = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU())
        self.upsample = nn.Sequential(upsampling_layer(kind, width), nn.ReLU())
        self.decode = nn.Conv2d(width, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.upsample(self.encode(x)))


STACKS = {  # four 3 x 3 layers as (stride, dilation)
    "plain": [(1, 1)] * 4,
    "strided": [(2, 1)] * 4,
    "dilated 1-2-4-8": [(1, 1), (1, 2), (1, 4), (1, 8)],
    "dilated 2-2-2-2": [(1, 2)] * 4,
}


def conv_stack(kind: str, channels: int = 4) -> nn.Sequential:
    """Four 3 x 3 convolutions of :data:`STACKS` ``[kind]`` with "same" padding, without
    activations (so a gradient map shows the wiring alone, not which ReLUs happen to be off)."""
    if kind not in STACKS:
        raise ValueError(f"kind must be one of {tuple(STACKS)}, got {kind!r}")
    layers = [nn.Conv2d(1 if i == 0 else channels, channels, 3, stride=s, padding=d, dilation=d)
              for i, (s, d) in enumerate(STACKS[kind])]
    return nn.Sequential(*layers)


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
