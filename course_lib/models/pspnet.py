"""PSPNet (Zhao, Shi, Qi, Wang & Jia, "Pyramid Scene Parsing Network", CVPR 2017), in miniature.

- :class:`PyramidPoolingModule` (§3.2, Fig. 3c): average-pool the feature map into 1 x 1, 2 x 2,
  3 x 3 and 6 x 6 bins, reduce each pooled map to 1/N of the channels with a 1 x 1 convolution,
  upsample each back bilinearly and concatenate them with the features.
- :class:`PSPNet`: a small stride-4 backbone (:func:`backbone`), the module (or nothing, the baseline
  of §4.2, Table 1), a 3 x 3 conv and a 1 x 1 classifier, upsampled to the input.
- :class:`PyramidRecipe`, :func:`train_segmentation` and :func:`pyramid_experiment`: how notebook 05b and
  ``benchmarks/developments.py`` train both on the context scenes of ``course_lib.data.context``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, default_collate

from course_lib.config import pick
from course_lib.data.context import CONTEXT_CLASS_NAMES, context_scenes, random_dihedral
from course_lib.metrics import mean_iou
from course_lib.train import fit, predict
from course_lib.validate import check_int

__all__ = ["conv_block", "backbone", "BACKBONE_LAYERS", "PyramidPoolingModule", "PSPNet", "PyramidRecipe",
           "pyramid_recipe", "train_segmentation", "pyramid_experiment", "IGNORE_INDEX"]

IGNORE_INDEX = 255  # a pixel without a label (cross-entropy's ignore_index)
BACKBONE_LAYERS = ((3, 1), (3, 2), (3, 1), (3, 2), (3, 1))  # (kernel, stride) of :func:`backbone`


def conv_block(in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """3 x 3 convolution ("same" padding), BatchNorm, ReLU."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride, padding=dilation, dilation=dilation,
                                   bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


def backbone(widths: tuple[int, int, int] = (16, 32, 64)) -> nn.Sequential:
    """Five 3 x 3 conv blocks of :data:`BACKBONE_LAYERS`, output stride 4 and ``widths[2]`` maps; the
    receptive field is 21 pixels. (PSPNet's is a dilated ResNet at stride 8; this one trains on a CPU.)"""
    w1, w2, w3 = widths
    return nn.Sequential(conv_block(3, w1), conv_block(w1, w2, 2), conv_block(w2, w2), conv_block(w2, w3, 2),
                         conv_block(w3, w3))


class PyramidPoolingModule(nn.Module):
    """§3.2, Fig. 3(c): for each bin count ``b`` of ``bins``, a stage ``AdaptiveAvgPool2d(b)`` -> 1 x 1
    ``Conv2d(in_channels, in_channels // len(bins), bias=False)`` -> ``BatchNorm2d`` -> ``ReLU``, created in
    this order (``self.stages``, an ``nn.ModuleList`` of ``nn.Sequential``). ``forward`` upsamples every
    stage's output bilinearly to the input's size and concatenates ``[x, stage_1, ..., stage_N]`` along the
    channels: ``(B, C, H, W)`` -> ``(B, C + N * (C // N), H, W)``."""

    def __init__(self, in_channels: int, bins: tuple[int, ...] = (1, 2, 3, 6)):
        super().__init__()
        check_int("in_channels", in_channels, len(bins))
        self.bins = tuple(check_int("bin", b, 1) for b in bins)
        reduced = in_channels // len(bins)
        self.stages = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(b), nn.Conv2d(in_channels, reduced, 1, bias=False),
                          nn.BatchNorm2d(reduced), nn.ReLU(inplace=True)) for b in self.bins)
        self.out_channels = in_channels + len(bins) * reduced

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        if max(self.bins) > min(size):
            raise ValueError(f"pyramid bins {self.bins}: the largest, {max(self.bins)} x {max(self.bins)}, does not "
                             f"fit the {size[0]} x {size[1]} feature map (give larger images or smaller bins)")
        pooled = [F.interpolate(stage(x), size=size, mode="bilinear", align_corners=False) for stage in self.stages]
        return torch.cat([x, *pooled], dim=1)


class PSPNet(nn.Module):
    """``(N, 3, H, W)`` -> ``(N, num_classes, H, W)`` scores: :func:`backbone` (stride 4), the
    :class:`PyramidPoolingModule` with ``bins`` (``pyramid=False``: left out, the baseline), a 3 x 3 conv
    block, dropout 0.1 and a 1 x 1 classifier (§3.3, Fig. 3d), bilinearly upsampled 4x.
    Image sides must be multiples of 4."""

    def __init__(self, num_classes: int, pyramid: bool = True, widths: tuple[int, int, int] = (16, 32, 64),
                 bins: tuple[int, ...] = (1, 2, 3, 6)):
        super().__init__()
        check_int("num_classes", num_classes, 1)
        self.backbone = backbone(widths)
        self.pyramid = PyramidPoolingModule(widths[2], bins) if pyramid else nn.Identity()
        channels = self.pyramid.out_channels if pyramid else widths[2]
        self.head = nn.Sequential(conv_block(channels, widths[2]), nn.Dropout2d(0.1), nn.Conv2d(widths[2], num_classes, 1))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The stride-4 maps the classifier reads (after the pyramid when there is one)."""
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3 or x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"PSPNet expects images (N, 3, H, W) with sides multiple of 4, got "
                             f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
        return self.pyramid(self.backbone(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.head(self.features(x)), size=x.shape[-2:], mode="bilinear", align_corners=False)


@dataclass(frozen=True)
class PyramidRecipe:
    """Notebook 05b's pyramid experiment: :class:`PSPNet` with and without the module, trained for each of
    ``seeds`` on ``n_train`` context scenes of ``image_size`` pixels (seed 0), scored on ``n_val`` held-out
    ones (seed 1); Adam with a one-cycle rate peaking at ``lr`` after ``warmup`` of the steps (see
    :func:`train_segmentation`), cross-entropy."""

    image_size: int = 64
    n_train: int = 1024
    n_val: int = 256
    epochs: int = 8
    batch_size: int = 16
    lr: float = 3e-3
    warmup: float = 0.2
    seeds: tuple[int, ...] = (0, 1, 2)


def pyramid_recipe() -> PyramidRecipe:
    """Full mode: 1024 scenes of 64 px, 8 epochs (512 steps; with 6 the pyramid net of seed 1 had not yet learned to
    use the cue), three seeds; fast mode: 192 scenes, 2 epochs, one seed."""
    return pick(fast=PyramidRecipe(n_train=192, n_val=64, epochs=2, seeds=(0,)), full=PyramidRecipe())


def train_segmentation(model: nn.Module, images: torch.Tensor, masks: torch.Tensor, *, epochs: int,
                       batch_size: int, lr: float, seed: int, warmup: float | None = None, augment: bool = False,
                       loss_fn=None, device=None, plot: bool = False, title: str | None = None) -> dict:
    """``fit`` ``model`` on ``(images, masks)`` batches shuffled by ``seed`` (Adam; ``loss_fn`` default
    cross-entropy ignoring :data:`IGNORE_INDEX`); returns the history. Seed the model's initialisation
    before building it. ``warmup=None``: a constant rate ``lr``; a fraction in (0, 1): one cycle
    (``OneCycleLR``), the rate rising from ``lr / 25`` to ``lr`` over that fraction of the steps and annealed
    to about 0 by the last one, so that BatchNorm's running statistics, averaged over the last few dozen
    steps, describe the weights the net ends with. ``augment``: each batch turned by a random symmetry of the
    square (``course_lib.data.context.random_dihedral``, drawn from ``seed``)."""
    symmetries = torch.Generator().manual_seed(seed)
    loader = DataLoader(TensorDataset(images, masks), batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed),
                        collate_fn=(lambda batch: random_dihedral(*default_collate(batch), symmetries))
                        if augment else None)
    loss_fn = nn.CrossEntropyLoss(ignore_index=IGNORE_INDEX) if loss_fn is None else loss_fn
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = None
    if warmup is not None:
        if isinstance(warmup, bool) or not isinstance(warmup, float) or not 0 < warmup < 1:
            raise ValueError(f"warmup must be a fraction of the steps in (0, 1) or None, got {warmup!r}")
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * len(loader),
                                                        pct_start=warmup)
    return fit(model, loss_fn, loader, epochs=epochs, optimizer=optimizer, scheduler=scheduler, device=device,
               plot=plot, title=title, verbose=False)  # a progress bar, not a line per epoch: experiments train many


def pyramid_experiment(recipe: PyramidRecipe, device=None, plot: bool = False) -> dict:
    """Train :class:`PSPNet` without (``"plain"``) and with (``"pyramid"``) the module from each of the
    recipe's seeds on the same context scenes. Returns ``{"images", "masks"}`` (held-out, seed 1),
    ``"models"`` ``{(name, seed): model}`` and ``"miou"`` ``{name: [held-out mean IoU per seed]}``."""
    images, masks = context_scenes(recipe.n_train, recipe.image_size, seed=0)
    held_out, held_out_masks = context_scenes(recipe.n_val, recipe.image_size, seed=1)
    result = {"images": held_out, "masks": held_out_masks, "models": {}, "miou": {"plain": [], "pyramid": []}}
    for seed in recipe.seeds:
        for name in ("plain", "pyramid"):
            torch.manual_seed(seed)
            model = PSPNet(len(CONTEXT_CLASS_NAMES), pyramid=name == "pyramid")
            train_segmentation(model, images, masks, epochs=recipe.epochs, batch_size=recipe.batch_size, lr=recipe.lr,
                               seed=seed, warmup=recipe.warmup, device=device, plot=plot, title=f"{name}, seed {seed}")
            labels = predict(model.cpu(), held_out).argmax(1)
            result["models"][name, seed] = model
            result["miou"][name].append(mean_iou(labels, held_out_masks, len(CONTEXT_CLASS_NAMES)))
    return result
