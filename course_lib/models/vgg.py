"""VGG as a frozen feature extractor: the loss network of Gatys et al. (2016) and Johnson et al. (2016).

    phi = vgg_features(["relu1_1", "relu2_1", "conv4_2"])    # prints which weights it uses
    features = phi(images)                                     # dict name -> (N, C, H, W)

Layers are named as in the VGG paper (Simonyan & Zisserman 2015, Table 1): block ``b`` holds
``conv{b}_1, relu{b}_1, conv{b}_2, ...`` and ends with ``pool{b}``. The network is cut after the
deepest requested layer, frozen (``requires_grad=False``, eval mode), and takes RGB images
``(N, 3, H, W)`` in [0, 1]; the input normalisation is inside.

``source`` picks the weights:

- ``"imagenet"``: torchvision's ``VGG19_Weights.IMAGENET1K_V1`` / ``VGG16_Weights.IMAGENET1K_V1``
  (the papers' networks), through :func:`course_lib.weights.load_pretrained`; ImageNet mean/std
  normalisation. Raises if the file cannot be had.
- ``"offline"``: the same architecture with random weights, set up so that its Gram matrices still
  describe texture: Kaiming-normal filters (ReLU gain, fixed seed), zero biases, ImageNet mean
  subtracted (no division by the std). A random VGG with max pooling and the usual normalisation
  gives poor textures; these changes make brick and gravel recognisable (compared side by side for
  the course: texture synthesis of brick, gravel, coffee and style transfer onto the astronaut). Random convolutional features can carry texture
  (Ustyuzhaninov et al., "What does it take to generate natural textures?", ICLR 2017).
- ``"course"``: a quarter-width VGG-19 (16-32-64-128-128 channels, the same layer names) that the
  course trained itself, shipped as ``course_lib/checkpoints/course_vgg19.pt`` (2.5 MB) and made by
  ``scripts/train_loss_network.py`` (which of 16 sources a crop comes from: 90 % accuracy in 100 s).
  Measured against the random network (``benchmarks/style.py``), it is worse as a loss network: its
  relu4_2 has learnt to ignore what its task does not need, so a reconstruction from it is not
  recognisable, and its Gram matrices move texture statistics less. It is kept for that comparison.
- ``"auto"`` (default): ImageNet when its file is in the torch hub cache or downloadable, else offline.

Pooling is 2x2 average pooling by default, as Gatys et al. (2016, §2) use for image synthesis;
``pooling="max"`` gives the original VGG.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
from torch import nn
from torchvision.models import VGG16_Weights, VGG19_Weights, vgg16, vgg19
from torchvision.models.vgg import cfgs

from course_lib.config import REPO_ROOT
from course_lib.validate import check_image_batch
from course_lib.weights import load_pretrained

__all__ = ["vgg_features", "VGGFeatures", "vgg_layer_names", "vgg_channels", "load_course_checkpoint",
           "IMAGENET_MEAN", "IMAGENET_STD", "COURSE_CHECKPOINT"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
ARCHS = {"vgg19": ("E", vgg19, VGG19_Weights.IMAGENET1K_V1, "VGG-19"),
         "vgg16": ("D", vgg16, VGG16_Weights.IMAGENET1K_V1, "VGG-16")}
SOURCES = ("auto", "imagenet", "course", "offline")
OFFLINE_SEED = 0
COURSE_CHECKPOINT = REPO_ROOT / "course_lib" / "checkpoints" / "course_vgg19.pt"


def _check_arch(arch: str) -> None:
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {list(ARCHS)}, got {arch!r}")


def vgg_layer_names(arch: str = "vgg19") -> list[str]:
    """All layer names of ``arch`` in order: ``conv1_1, relu1_1, conv1_2, relu1_2, pool1, ...``."""
    _check_arch(arch)
    names, block, index = [], 1, 1
    for item in cfgs[ARCHS[arch][0]]:
        if item == "M":
            names.append(f"pool{block}")
            block, index = block + 1, 1
        else:
            names += [f"conv{block}_{index}", f"relu{block}_{index}"]
            index += 1
    return names


def vgg_channels(arch: str = "vgg19", divisor: int = 1) -> list[int | str]:
    """torchvision's configuration of ``arch`` (output channels per conv, ``"M"`` per pooling) with
    every width divided by ``divisor`` (1: the paper's network)."""
    _check_arch(arch)
    return [item if item == "M" else item // divisor for item in cfgs[ARCHS[arch][0]]]


def _layers(arch: str, pooling: str, divisor: int = 1) -> list[nn.Module]:
    """torchvision's VGG feature layers (same order and shapes), with the chosen pooling."""
    layers, in_channels = [], 3
    for item in vgg_channels(arch, divisor):
        if item == "M":
            layers.append(nn.AvgPool2d(2, 2) if pooling == "avg" else nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(in_channels, item, kernel_size=3, padding=1), nn.ReLU()]
            in_channels = item
    return layers


def load_course_checkpoint(path=None) -> dict:
    """The course-trained loss network's file: ``{"arch", "divisor", "mean", "std", "state_dict", "meta"}``
    (``state_dict``: conv weights and biases keyed ``conv1_1.weight``, ... in half precision).
    Raises ``FileNotFoundError`` naming the script that makes it, ``ValueError`` if it is not such a file."""
    path = COURSE_CHECKPOINT if path is None else path
    try:
        saved = torch.load(path, weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"the course's loss network {path} is missing; "
                                "make it with: python scripts/train_loss_network.py") from None
    keys = {"arch", "divisor", "mean", "std", "state_dict", "meta"}
    if not isinstance(saved, dict) or not keys <= set(saved):
        raise ValueError(f"{path} is not a course loss-network checkpoint: expected a dict with keys "
                         f"{sorted(keys)}, got {sorted(saved) if isinstance(saved, dict) else type(saved).__name__}")
    return saved


class VGGFeatures(nn.Module):
    """Activations of a frozen VGG at the requested layers: ``forward(x) -> {name: tensor}``."""

    def __init__(self, layers: Sequence[str], body: nn.Sequential, mean, std,
                 source: str, source_description: str, arch: str):
        super().__init__()
        self.layers = list(layers)
        self.body = body
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
        self.source, self.source_description, self.arch = source, source_description, arch
        self.requires_grad_(False).eval()

    def train(self, mode: bool = True) -> "VGGFeatures":
        return super().train(False)  # always eval: the loss network is fixed

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        check_image_batch(x)
        h = (x - self.mean) / self.std
        features = {}
        for name, layer in self.body.named_children():
            h = layer(h)
            if name in self.layers:
                features[name] = h
        return {name: features[name] for name in self.layers}

    def upto(self, layers: Sequence[str]) -> "VGGFeatures":
        """The same network (the same weights, not a copy) returning only ``layers`` and stopping after the
        deepest of them: a loss that reads shallow layers does not pay for the deep ones."""
        layers = list(dict.fromkeys(layers))
        unknown = [name for name in layers if name not in self.layers]
        if not layers or unknown:
            raise ValueError(f"upto: this network returns {self.layers}; got {unknown or layers!r}")
        names = list(self.body._modules)
        depth = max(names.index(name) for name in layers) + 1
        part = VGGFeatures(layers, self.body[:depth], [0.0] * 3, [1.0] * 3, self.source, self.source_description,
                           self.arch)
        part.mean, part.std = self.mean, self.std
        return part

    def extra_repr(self) -> str:
        return f"layers={self.layers}, source={self.source_description!r}"


def _offline_init(body: nn.Sequential) -> None:
    generator = torch.Generator().manual_seed(OFFLINE_SEED)
    for layer in body:
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu", generator=generator)
            nn.init.zeros_(layer.bias)


def vgg_features(layers: Sequence[str], source: str = "auto", arch: str = "vgg19",
                 pooling: str = "avg", verbose: bool = True) -> VGGFeatures:
    """A frozen VGG returning the activations at ``layers`` (see the module docstring).

    Prints one line saying which weights it uses (also in ``.source_description``) unless
    ``verbose=False``. Unknown layer names raise ``ValueError`` listing the valid ones.
    """
    _check_arch(arch)
    if source == "course" and (arch != "vgg19" or pooling != "avg"):
        raise ValueError(f"source='course' is a VGG-19 trained with average pooling; "
                         f"got arch={arch!r}, pooling={pooling!r}")
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    if pooling not in ("avg", "max"):
        raise ValueError(f"pooling must be 'avg' or 'max', got {pooling!r}")
    if isinstance(layers, str):
        layers = [layers]
    layers = list(layers)
    valid = vgg_layer_names(arch)
    unknown = [name for name in layers if name not in valid]
    if not layers or unknown:
        raise ValueError(f"unknown {arch} layer name(s) {unknown or layers!r}; valid names: {', '.join(valid)}")
    depth = max(valid.index(name) for name in layers) + 1
    _, builder, weights, title = ARCHS[arch]

    model = None
    if source in ("auto", "imagenet"):
        model = load_pretrained(builder, weights)
        if model is None and source == "imagenet":
            raise RuntimeError(f"source='imagenet' but {weights} is not available; "
                               "use source='offline', 'course' or 'auto'")
    if source == "course":
        saved = load_course_checkpoint()
        body = nn.Sequential(OrderedDict(zip(valid[:depth], _layers(arch, pooling, saved["divisor"])[:depth])))
        body.load_state_dict({k: v.float() for k, v in saved["state_dict"].items()
                              if k.split(".")[0] in valid[:depth]})
        meta = saved["meta"]
        description = (f"course-trained quarter-width {title} ({meta['task']}, {meta['steps']} steps, "
                       f"{meta['train_accuracy']:.0%} crop accuracy) - not ImageNet")
        if verbose:
            print(f"Loss network: {description}")
        return VGGFeatures(layers, body, saved["mean"], saved["std"], "course", description, arch)
    body = nn.Sequential(OrderedDict(zip(valid[:depth], _layers(arch, pooling)[:depth])))
    if model is not None:
        for ours, theirs in zip(body, model.features[:depth]):  # same order, our names
            ours.load_state_dict(theirs.state_dict())
        mean, std = IMAGENET_MEAN, IMAGENET_STD
        description = f"ImageNet {title} ({weights}), {pooling} pooling"
        source = "imagenet"
    else:
        _offline_init(body)
        mean, std = IMAGENET_MEAN, (1.0, 1.0, 1.0)
        description = (f"random-weight {title} (offline stand-in: Kaiming init, seed {OFFLINE_SEED}, "
                       f"{pooling} pooling, mean subtracted) - not ImageNet")
        source = "offline"
    if verbose:
        print(f"Loss network: {description}")
    return VGGFeatures(layers, body, mean, std, source, description, arch)
