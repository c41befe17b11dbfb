"""FCN (Long, Shelhamer & Darrell, "Fully Convolutional Networks for Semantic Segmentation",
CVPR 2015; extended in TPAMI 2017).

The three ideas of the paper, one per section of this file:

1. *Convolutionalization* (§3.1, Fig. 2): a fully connected layer is a convolution whose kernel
   covers its whole input; recast as one, a classifier takes any size and outputs a score map.
2. *Learned upsampling* (§3.3): a transposed ("backwards strided") convolution of stride ``s``,
   initialised to bilinear interpolation, brings the coarse scores back to pixels.
3. *Skip fusion* (§4.2, Fig. 3): scores from pool4 (FCN-16s) and pool3 (FCN-8s) are added to the
   upsampled deeper scores, so the fine layers refine the coarse prediction.

    model = FCN(21, "8s")                      # VGG-16 backbone: the paper's 134.5 M parameters
    model(torch.zeros(1, 3, 224, 224)).shape   # (1, 21, 224, 224)
    small = FCN(4, "8s", backbone="compact")   # a few hundred thousand parameters, trains on a CPU
"""
from __future__ import annotations

import copy
import math
from typing import NamedTuple

import torch
from torch import nn
from torchvision.models import VGG16_Weights, vgg16

from course_lib.validate import check_int

__all__ = ["linear_to_conv", "convolutionalize", "bilinear_kernel", "upsampling", "add_skip", "fuse_8s", "crop",
           "FCN", "VARIANTS", "Geometry", "vgg16_backbone", "compact_backbone", "FCNBackbone"]

VARIANTS = ("32s", "16s", "8s")


# --- 1. convolutionalization (§3.1) ----------------------------------------------------------------

def linear_to_conv(linear: nn.Linear, in_channels: int) -> nn.Conv2d:
    """§3.1: the ``k x k`` convolution that computes ``linear`` on a flattened ``in_channels x k x k``
    map (``k`` from the sizes). Its weight is the Linear weight reshaped to
    ``(out_features, in_channels, k, k)``; the bias is the same."""
    if not isinstance(linear, nn.Linear):
        raise TypeError(f"expected an nn.Linear, got {type(linear).__name__}")
    check_int("in_channels", in_channels, 1)
    k = math.isqrt(linear.in_features // in_channels)
    if in_channels * k * k != linear.in_features:
        raise ValueError(f"a Linear layer with {linear.in_features} inputs after {in_channels} channels "
                         f"does not read a square k x k map; cannot convolutionalize it")
    conv = nn.Conv2d(in_channels, linear.out_features, k, bias=linear.bias is not None)
    with torch.no_grad():
        conv.weight.copy_(linear.weight.reshape(linear.out_features, in_channels, k, k))
        if linear.bias is not None:
            conv.bias.copy_(linear.bias)
    return conv


def _channels_out(modules) -> int | None:
    """Channels produced by the last layer of ``modules`` that says (Conv2d, BatchNorm2d, ...)."""
    channels = None
    for module in modules:
        for layer in module.modules():
            channels = getattr(layer, "out_channels", getattr(layer, "num_features", channels))
    return channels


def convolutionalize(classifier: nn.Module) -> nn.Sequential:
    """§3.1, Fig. 2: the same classifier with every ``nn.Linear`` recast as an ``nn.Conv2d``.

    ``classifier`` is an ``nn.Sequential`` of convolutional layers, an ``nn.Flatten`` and
    ``nn.Linear`` layers (other layers such as ReLU or Dropout are kept), or a torchvision model
    with ``features`` and ``classifier`` parts (VGG, AlexNet; the adaptive pooling in between is
    the identity at their 224-pixel input and is dropped). The first Linear layer becomes a
    ``k x k`` convolution over the whole feature map it read, the next ones 1x1 convolutions,
    and the Flatten goes. On the original input size the result computes the same numbers (as a
    ``(N, classes, 1, 1)`` map); on a larger image it slides the classifier with the network's
    stride and returns a dense score map. The weights are copied; ``classifier`` is unchanged.
    """
    if hasattr(classifier, "features") and isinstance(getattr(classifier, "classifier", None), nn.Sequential):
        layers = [*classifier.features, nn.Flatten(), *classifier.classifier]
    elif isinstance(classifier, nn.Sequential):
        layers = list(classifier)
    else:
        raise TypeError("convolutionalize expects an nn.Sequential (conv layers, Flatten, Linear layers) "
                        f"or a model with .features and .classifier (VGG, AlexNet), got {type(classifier).__name__}")
    flat = [i for i, layer in enumerate(layers) if isinstance(layer, nn.Flatten)]
    if len(flat) != 1 or not any(isinstance(layer, nn.Linear) for layer in layers[flat[0]:]):
        raise ValueError("the classifier must hold exactly one nn.Flatten followed by nn.Linear layers")
    convolutional, head = layers[:flat[0]], layers[flat[0] + 1:]
    if any(isinstance(layer, nn.Linear) for layer in convolutional):
        raise ValueError("an nn.Linear layer before the nn.Flatten cannot be convolutionalized")
    channels = _channels_out(convolutional)
    if channels is None:
        raise ValueError("no convolution before the nn.Flatten tells how many channels the first Linear reads")
    out = []
    for layer in head:
        if isinstance(layer, nn.Linear):
            layer = linear_to_conv(layer, channels)
            channels = layer.out_channels
        elif next(layer.parameters(), None) is not None:
            raise ValueError(f"cannot convolutionalize a {type(layer).__name__} after the nn.Flatten")
        else:
            layer = copy.deepcopy(layer)
        out.append(layer)
    return nn.Sequential(*copy.deepcopy(convolutional), *out)


# --- 2. learned upsampling (§3.3) ------------------------------------------------------------------

def bilinear_kernel(in_channels: int, out_channels: int, kernel_size: int) -> torch.Tensor:
    """§3.3: the weight of an ``nn.ConvTranspose2d`` that performs bilinear interpolation.

    Returns ``(in_channels, out_channels, kernel_size, kernel_size)`` float32 (the layout of
    ``ConvTranspose2d.weight``): channel ``c`` is upsampled into channel ``c`` with the tent filter
    ``(1 - |i - centre| / f) * (1 - |j - centre| / f)``, ``f = ceil(kernel_size / 2)``, and other
    channel pairs are zero. With ``stride=s, kernel_size=2s, padding=s/2`` it upsamples by ``s``
    as ``F.interpolate(mode="bilinear", align_corners=False)`` does away from the border.
    """
    for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                        ("kernel_size", kernel_size)):
        check_int(name, value, 1)
    if in_channels != out_channels:
        raise ValueError("bilinear upsampling maps each channel to itself: in_channels must equal "
                         f"out_channels, got {in_channels} and {out_channels}")
    factor = (kernel_size + 1) // 2
    centre = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    tent = 1 - (torch.arange(kernel_size, dtype=torch.float32) - centre).abs() / factor
    weight = torch.zeros(in_channels, out_channels, kernel_size, kernel_size)
    channels = torch.arange(in_channels)
    weight[channels, channels] = torch.outer(tent, tent)
    return weight


def upsampling(channels: int, stride: int, padding: int, learnable: bool = True) -> nn.ConvTranspose2d:
    """A ``2s x 2s`` transposed convolution of stride ``s`` without bias, initialised bilinear (§3.3)."""
    layer = nn.ConvTranspose2d(channels, channels, 2 * stride, stride, padding, bias=False)
    with torch.no_grad():
        layer.weight.copy_(bilinear_kernel(channels, channels, 2 * stride))
    layer.weight.requires_grad_(learnable)
    return layer


# --- backbones -------------------------------------------------------------------------------------

class Geometry(NamedTuple):
    """How the score maps line up with each other and with the input.

    ``offsets``: where each map is cropped (§4.2 "crop"), ``upsampling_padding``: whether a stride-s
    upsampling pads s/2 on each side, ``multiple``: the input sides the backbone accepts (1 = any).
    """
    offsets: dict
    upsampling_padding: bool
    multiple: int


# The crop offsets of the released Caffe models (voc-fcn{32,16,8}s/net.py), where conv1_1 pads by 100
# so that fc6 (7x7, no padding) sees enough pixels at any input size.
PAPER_GEOMETRY = Geometry({"score_pool4": 5, "score_pool3": 9, "32s": 19, "16s": 27, "8s": 31},
                          upsampling_padding=False, multiple=1)
# "Same" padding everywhere: maps at stride s are exactly H/s, upsampling pads s/2, nothing is cropped.
SAME_GEOMETRY = Geometry(dict.fromkeys(("score_pool4", "score_pool3", "32s", "16s", "8s"), 0),
                         upsampling_padding=True, multiple=32)


class FCNBackbone(nn.Module):
    """Three stages that end at pool3 (stride 8), pool4 (stride 16) and fc7 (stride 32).

    ``channels`` holds the channels of those three outputs; ``geometry`` how they line up.
    """

    def __init__(self, to_pool3: nn.Module, to_pool4: nn.Module, to_fc7: nn.Module,
                 channels: tuple[int, int, int], geometry: Geometry):
        super().__init__()
        self.to_pool3, self.to_pool4, self.to_fc7 = to_pool3, to_pool4, to_fc7
        self.channels, self.geometry = tuple(channels), geometry

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        pool3 = self.to_pool3(x)
        pool4 = self.to_pool4(pool3)
        return {"pool3": pool3, "pool4": pool4, "fc7": self.to_fc7(pool4)}


def vgg16_backbone(weights: VGG16_Weights | None = None) -> FCNBackbone:
    """The paper's VGG-16 (§3.1, §4.1): torchvision's ``vgg16`` features with conv1_1 padded by 100
    and Caffe's ceil-mode pooling, then fc6 and fc7 convolutionalized (7x7 and 1x1, 4096 maps,
    ReLU and dropout). ``weights`` (e.g. ``VGG16_Weights.IMAGENET1K_V1``) are the classifier's,
    fc6/fc7 included; the input is then expected normalised with ImageNet's mean and std.
    """
    vgg = vgg16(weights=weights)
    features = list(vgg.features)
    features[0].padding = (100, 100)
    for layer in features:
        if isinstance(layer, nn.MaxPool2d):
            layer.ceil_mode = True
    pools = [i for i, layer in enumerate(features) if isinstance(layer, nn.MaxPool2d)]
    fc6_fc7 = [linear_to_conv(vgg.classifier[0], 512), *vgg.classifier[1:3],   # fc6, relu6, drop6
               linear_to_conv(vgg.classifier[3], 4096), *vgg.classifier[4:6]]  # fc7, relu7, drop7
    return FCNBackbone(nn.Sequential(*features[:pools[2] + 1]),
                       nn.Sequential(*features[pools[2] + 1:pools[3] + 1]),
                       nn.Sequential(*features[pools[3] + 1:], *fc6_fc7),
                       channels=(256, 512, 4096), geometry=PAPER_GEOMETRY)


def _block(in_channels: int, out_channels: int, kernel_size: int = 3) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]


def compact_backbone(widths: tuple[int, ...] = (16, 32, 64, 96, 128), fc_channels: int = 256) -> FCNBackbone:
    """A small VGG for training on a CPU: one 3x3 conv + BatchNorm + ReLU and a 2x2 max-pool per
    block, so pool3, pool4 and pool5 keep VGG's strides 8, 16 and 32; then "fc6" (3x3) and
    "fc7" (1x1) with ``fc_channels`` maps. Padding is "same" and the input side a multiple of 32.
    Not in the paper: BatchNorm and the narrow widths make it train from scratch in minutes.
    """
    if len(widths) != 5 or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths):
        raise ValueError(f"widths must be 5 positive ints (one per VGG block), got {widths!r}")
    blocks, c_in = [], 3
    for width in widths:
        blocks.append([*_block(c_in, width), nn.MaxPool2d(2)])
        c_in = width
    fc = [*_block(widths[4], fc_channels), nn.Dropout2d(0.1), *_block(fc_channels, fc_channels, 1)]
    return FCNBackbone(nn.Sequential(*blocks[0], *blocks[1], *blocks[2]), nn.Sequential(*blocks[3]),
                       nn.Sequential(*blocks[4], *fc), channels=(widths[2], widths[3], fc_channels),
                       geometry=SAME_GEOMETRY)


BACKBONES = {"vgg16": vgg16_backbone, "compact": compact_backbone}


# --- 3. skip fusion (§4.2, Fig. 3) -----------------------------------------------------------------

def crop(x: torch.Tensor, offset: int, size: tuple[int, int]) -> torch.Tensor:
    """Caffe's crop layer: the ``size = (H, W)`` window of ``x`` starting ``offset`` pixels in."""
    return x[..., offset:offset + size[0], offset:offset + size[1]]


def add_skip(score: torch.Tensor, upsample, skip_score: torch.Tensor, offset: int = 0) -> torch.Tensor:
    """One skip of §4.2, Fig. 3: upsample ``score`` 2x and add the finer layer's ``skip_score``,
    cropped to it from ``offset`` (zero for a "same"-padded backbone, where the maps line up)."""
    score = upsample(score)
    return score + crop(skip_score, offset, score.shape[-2:])


def fuse_8s(score_fr, score_pool4, score_pool3, upscore2, upscore_pool4, upscore8) -> torch.Tensor:
    """§4.2, Fig. 3, FCN-8s: upsample the stride-32 scores 2x and add the pool4 scores; upsample
    that 2x and add the pool3 scores; upsample the sum 8x to pixels. ``score_*`` are
    ``(N, classes, H/32, W/32)``, ``(N, classes, H/16, W/16)`` and ``(N, classes, H/8, W/8)``;
    the ``upscore*`` layers are the 2x, 2x and 8x upsamplings. ``FCN.forward`` takes the same
    steps (:func:`add_skip`), with crops for the paper's padded backbone.
    """
    return upscore8(add_skip(add_skip(score_fr, upscore2, score_pool4), upscore_pool4, score_pool3))


class FCN(nn.Module):
    """FCN-32s, FCN-16s or FCN-8s (§4.2, Fig. 3) for ``num_classes`` classes.

    ``score_fr`` scores fc7 at stride 32. FCN-32s upsamples these 32x in one step. FCN-16s first
    upsamples them 2x (``upscore2``), adds the scores of pool4 (``score_pool4``) and upsamples the
    sum 16x; FCN-8s adds the scores of pool3 as well after another 2x (``upscore_pool4``) and
    upsamples 8x. Score layers start at zero (§4.2: so FCN-16s starts as FCN-32s); upsampling
    starts bilinear, intermediate ones are learned and the last one stays fixed (TPAMI §4.2).

    ``backbone``: ``"vgg16"`` (the paper's, random weights; pass ``vgg16_backbone(weights)`` for
    ImageNet ones), ``"compact"`` (small, for CPUs) or an :class:`FCNBackbone`.
    Input: ``(N, 3, H, W)``; output: ``(N, num_classes, H, W)`` scores.
    """

    def __init__(self, num_classes: int, variant: str = "8s", backbone: str | FCNBackbone = "vgg16"):
        super().__init__()
        check_int("num_classes", num_classes, 1)
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        if isinstance(backbone, str):
            if backbone not in BACKBONES:
                raise ValueError(f"backbone must be one of {tuple(BACKBONES)} or an FCNBackbone, got {backbone!r}")
            backbone = BACKBONES[backbone]()
        elif not isinstance(backbone, FCNBackbone):
            raise TypeError(f"backbone must be a name or an FCNBackbone, got {type(backbone).__name__}")
        self.num_classes, self.variant, self.backbone = num_classes, variant, backbone
        c3, c4, c7 = backbone.channels
        pad = int(backbone.geometry.upsampling_padding)
        self.score_fr = self._score(c7)
        if variant == "32s":
            self.upscore = upsampling(num_classes, 32, 16 * pad, learnable=False)
            return
        self.upscore2 = upsampling(num_classes, 2, pad)
        self.score_pool4 = self._score(c4)
        if variant == "16s":
            self.upscore = upsampling(num_classes, 16, 8 * pad, learnable=False)
            return
        self.upscore_pool4 = upsampling(num_classes, 2, pad)
        self.score_pool3 = self._score(c3)
        self.upscore = upsampling(num_classes, 8, 4 * pad, learnable=False)

    def _score(self, channels: int) -> nn.Conv2d:
        layer = nn.Conv2d(channels, self.num_classes, 1)
        nn.init.zeros_(layer.weight)
        nn.init.zeros_(layer.bias)
        return layer

    def _check_input(self, x) -> None:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError(f"FCN expects a float tensor (N, 3, H, W), got {getattr(x, 'dtype', type(x).__name__)}")
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"FCN expects RGB images (N, 3, H, W), got shape {tuple(x.shape)}")
        multiple = self.backbone.geometry.multiple
        if x.shape[-1] % multiple or x.shape[-2] % multiple or min(x.shape[-2:]) < multiple:
            raise ValueError(f"this backbone needs image sides that are positive multiples of {multiple} "
                             f"(pool5 has stride 32), got {tuple(x.shape[-2:])}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        size, offsets = x.shape[-2:], self.backbone.geometry.offsets
        features = self.backbone(x)
        score = self.score_fr(features["fc7"])
        if self.variant != "32s":
            score = add_skip(score, self.upscore2, self.score_pool4(features["pool4"]), offsets["score_pool4"])
        if self.variant == "8s":
            score = add_skip(score, self.upscore_pool4, self.score_pool3(features["pool3"]), offsets["score_pool3"])
        return crop(self.upscore(score), offsets[self.variant], size)
