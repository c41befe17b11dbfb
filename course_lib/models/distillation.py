"""Teachers and students for notebook 08 (§F): Hinton's big and small nets, a FitNet.

- :class:`TeacherNet`: the big model, a VGG-style CNN (two blocks of two 3×3 convs, then 1200 hidden
  units) with dropout; its first block's output is the FitNets *hint* layer.
- :class:`StudentMLP`: Hinton et al.'s §3 small net, a two-hidden-layer MLP without regularisation.
- :class:`FitNet`: Romero et al.'s thin and deep student: more convs, far fewer channels; its
  first block's output is the *guided* layer.
- :class:`HintRegressor`: FitNets §2.2's convolutional regressor from the guided layer to the hint.
- :class:`SoftTargets`: the transfer set with the teacher's logits (the slide's step b).

How notebook 08 (and ``benchmarks/distillation.py``) trains them: ``course_lib.recipes.distillation``.

Every model returns logits; ``features(x)`` returns the intermediate map used for hints.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import Dataset

from course_lib.train import predict


def vgg_block(in_channels: int, out_channels: int, depth: int, batch_norm: bool = False) -> nn.Sequential:
    """A VGG block (Simonyan & Zisserman 2015): ``depth`` 3×3 convs (padding 1) with ReLU (BatchNorm before
    it if asked), then a 2×2 max-pool: halves the resolution. (``models.pspnet.conv_block`` is one conv.)"""
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, padding=1),
                   *([nn.BatchNorm2d(out_channels)] if batch_norm else []), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, nn.MaxPool2d(2))


class TeacherNet(nn.Module):
    """The big model: 1×28×28 → block1 (16×14×14, the hint) → block2 (32×7×7) → FC 1200 → 10.

    Big in parameters (about 1.9 M, 16× the 128-128 student MLP) and in computation. Hinton et al.
    §3's big MNIST net had two hidden layers of 1200 units; ours puts conv blocks before one such
    layer. Like theirs it is regularised with dropout and input jitter.
    """

    def __init__(self, width: int = 16, hidden: int = 1200, num_classes: int = 10, dropout: float = 0.5):
        super().__init__()
        self.block1 = vgg_block(1, width, 2)
        self.block2 = vgg_block(width, 2 * width, 2)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(2 * width * 49, hidden),
                                        nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(hidden, num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The hint layer: block1's output, ``(B, width, 14, 14)``."""
        return self.block1(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.block2(self.block1(x)))


class StudentMLP(nn.Module):
    """The small model: 784 → hidden → hidden → 10 with ReLU and no regularisation (Hinton §3)."""

    def __init__(self, hidden: int = 64, num_classes: int = 10, in_features: int = 28 * 28):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class FitNet(nn.Module):
    """FitNets §2: a student *thinner and deeper* than the teacher: three blocks of three 3×3 convs
    with ``width``, ``2·width``, ``2·width`` channels (teacher: two blocks of two, 16 and 32).

    block1's output (``width × 14 × 14``) is the guided layer, facing the teacher's hint layer.
    By default it uses BatchNorm, unlike the 2015 paper's maxout nets, so that it trains in minutes
    on a CPU; ``batch_norm=False`` gives the kind of plain deep thin net that hints were made for.
    """

    def __init__(self, width: int = 8, num_classes: int = 10, batch_norm: bool = True):
        super().__init__()
        self.block1 = vgg_block(1, width, 3, batch_norm)  # 28 -> 14: the guided layer
        self.block2 = vgg_block(width, 2 * width, 3, batch_norm)  # 14 -> 7
        self.block3 = vgg_block(2 * width, 2 * width, 3, batch_norm)  # 7 -> 3
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(2 * width * 9, num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The guided layer: block1's output, ``(B, width, 14, 14)``."""
        return self.block1(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.block3(self.block2(self.block1(x))))


class HintRegressor(nn.Module):
    """FitNets §2.2: a conv regressor ``r`` from the guided layer to the hint layer's shape.

    A kernel of ``guided_size − hint_size + 1`` (no padding) maps a ``guided_size`` map onto a
    ``hint_size`` one; the paper prefers it to a fully connected regressor, which would need far
    more parameters. Equal sizes give a 1×1 conv.
    """

    def __init__(self, guided_channels: int, hint_channels: int, guided_size: int, hint_size: int):
        super().__init__()
        if hint_size > guided_size:
            raise ValueError(f"the guided layer ({guided_size}) must be at least as large as the hint ({hint_size})")
        self.conv = nn.Conv2d(guided_channels, hint_channels, guided_size - hint_size + 1)

    def forward(self, guided: torch.Tensor) -> torch.Tensor:
        return self.conv(guided)


class SoftTargets(Dataset):
    """Hinton et al.'s *transfer set* with step (b) done: items ``(image, (label, teacher_logits))``.

    The teacher runs once, in ``eval()`` mode, over all ``images``; its logits are stored, so
    training the student costs no teacher forward passes. Batch ``targets`` come out of a
    DataLoader as ``(labels, teacher_logits)``, ready for ``distillation_loss``.
    """

    def __init__(self, teacher: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000):
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.logits = predict(teacher, images, batch_size=batch_size)
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.images[index], (self.labels[index], self.logits[index])
