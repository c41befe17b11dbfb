"""Backbone development, VGG -> ResNet -> MobileNet (notebook 05b, slide D "Backbone dev: VGG, Resnet, ...").

- :data:`TORCHVISION_BACKBONES` and :func:`compare_backbones`: parameters, FLOPs and CPU latency of
  torchvision's classifiers with random weights (``weights=None``: nothing downloads), one run.
- :class:`DeepNet`: the degradation problem of He, Zhang, Ren & Sun (CVPR 2016, §1, Fig. 1; §4.2,
  Fig. 6) in miniature: a stack of 3 x 3 conv layers, **plain** or with **identity shortcuts** around
  every pair (their "basic block", Fig. 2), on 28 x 28 digits.
- :class:`DegradationRecipe`, :func:`train_classifier` and :func:`degradation_experiment`: how notebook 05b and
  ``benchmarks/developments.py`` train them.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchvision import models

from course_lib.config import pick
from course_lib.data import load_digits
from course_lib.profiling import measure
from course_lib.train import fit, predict
from course_lib.validate import check_int

__all__ = ["TORCHVISION_BACKBONES", "compare_backbones", "BasicBlock", "DeepNet", "DegradationRecipe",
           "degradation_recipe", "train_classifier", "degradation_experiment"]

TORCHVISION_BACKBONES = {  # name: (builder, year)
    "VGG-16": (models.vgg16, 2014),
    "ResNet-18": (models.resnet18, 2015),
    "ResNet-50": (models.resnet50, 2015),
    "MobileNetV2": (models.mobilenet_v2, 2018),
    "MobileNetV3-L": (models.mobilenet_v3_large, 2019),
}


def compare_backbones(size: int = 224, repeats: int = 3, names=tuple(TORCHVISION_BACKBONES)) -> dict[str, dict]:
    """``{name: {"params", "flops", "seconds", "year"}}`` for one ``size`` x ``size`` image (``profiling.measure``:
    FLOPs of one forward pass, median CPU latency of ``repeats`` calls after one warm-up), randomly initialised."""
    check_int("size", size, 32)
    rows = {}
    for name in names:
        if name not in TORCHVISION_BACKBONES:
            raise ValueError(f"unknown backbone {name!r}; known: {tuple(TORCHVISION_BACKBONES)}")
        builder, year = TORCHVISION_BACKBONES[name]
        torch.manual_seed(0)
        rows[name] = {**measure(builder(weights=None), (1, 3, size, size), repeats=repeats, warmup=1), "year": year}
    return rows


class BasicBlock(nn.Module):
    """Two 3 x 3 conv + BatchNorm layers (ReLU between and after); with ``residual`` the input is added
    before the last ReLU (He et al. Fig. 2, an identity shortcut: same channels, same size)."""

    def __init__(self, channels: int, residual: bool):
        super().__init__()
        self.residual = residual
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + x if self.residual else out)


class DeepNet(nn.Module):
    """A classifier of ``depth`` weighted layers for ``(N, 1, 28, 28)`` digits: a 3 x 3 stride-2 stem to
    ``width`` maps (14 x 14), ``(depth - 2) / 2`` :class:`BasicBlock` s, global average pooling and a linear
    layer (so ``depth`` counts like He et al.'s plain-20 / ResNet-20). ``depth`` must be even, >= 4."""

    def __init__(self, depth: int, residual: bool, width: int = 16, num_classes: int = 10):
        super().__init__()
        check_int("depth", depth, 4)
        if depth % 2:
            raise ValueError(f"depth counts the stem, two layers per block and the classifier: it must be even, got {depth}")
        self.depth, self.residual = depth, residual
        self.stem = nn.Sequential(nn.Conv2d(1, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        self.blocks = nn.Sequential(*(BasicBlock(width, residual) for _ in range((depth - 2) // 2)))
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.blocks(self.stem(x)).mean((-2, -1)))


@dataclass(frozen=True)
class DegradationRecipe:
    """Plain nets of ``depths`` and a residual one of the deepest depth, each trained from seed 0 on
    ``n_train`` rendered digits for ``epochs`` with SGD (momentum 0.9, ``lr``, He et al. §4.2) and
    scored on ``n_val`` held-out digits; ``backbone_size`` and ``backbone_repeats`` for :func:`compare_backbones`."""

    n_train: int = 2048
    n_val: int = 512
    depths: tuple[int, ...] = (8, 32)
    epochs: int = 4
    batch_size: int = 64
    lr: float = 0.05
    width: int = 16
    backbone_size: int = 224
    backbone_repeats: int = 3


def degradation_recipe() -> DegradationRecipe:
    """Full mode: 2048 digits, 4 epochs, backbones timed at 224 px; fast mode: 512 digits, 2 epochs, 112 px."""
    return pick(fast=DegradationRecipe(n_train=512, n_val=256, epochs=2, backbone_size=112, backbone_repeats=1),
                full=DegradationRecipe())


def train_classifier(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, recipe: DegradationRecipe,
                     *, device=None, plot: bool = False, title: str | None = None) -> dict:
    """``fit`` ``model`` with cross-entropy and SGD (momentum 0.9) as ``recipe`` says; returns the history
    (``step_loss``: the training loss of every step, the curve of He et al. Fig. 1)."""
    loader = DataLoader(TensorDataset(images, labels), batch_size=recipe.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=0.9)
    return fit(model, nn.CrossEntropyLoss(), loader, epochs=recipe.epochs, optimizer=optimizer, device=device,
               plot=plot, title=title, verbose=False)


def degradation_experiment(recipe: DegradationRecipe, device=None, plot: bool = False) -> dict:
    """Train a plain :class:`DeepNet` of each of the recipe's depths and a residual one of the deepest,
    from seed 0, on the same digits. Returns ``{name: {"history", "accuracy"}}`` (held-out accuracy),
    names like ``"plain-8"`` and ``"residual-32"``."""
    images, labels = load_digits(recipe.n_train, seed=0)
    held_out, held_out_labels = load_digits(recipe.n_val, seed=1)
    nets = [(depth, False) for depth in recipe.depths] + [(max(recipe.depths), True)]
    result = {}
    for depth, residual in nets:
        name = f"{'residual' if residual else 'plain'}-{depth}"
        torch.manual_seed(0)
        model = DeepNet(depth, residual, recipe.width)
        history = train_classifier(model, images, labels, recipe, device=device, plot=plot, title=name)
        accuracy = (predict(model.cpu(), held_out).argmax(1) == held_out_labels).float().mean().item()
        result[name] = {"history": history, "accuracy": accuracy}
    return result
