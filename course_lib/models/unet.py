"""U-Net (Ronneberger, Fischer & Brox, "U-Net: Convolutional Networks for Biomedical Image
Segmentation", MICCAI 2015).

The network of Fig. 1: a *contracting path* (two 3x3 convolutions + ReLU, then a 2x2 max-pool
that halves the size and a doubling of the channels) and a symmetric *expanding path* (a 2x2
up-convolution that halves the channels, concatenation with the cropped feature map of the same
level of the contracting path, two 3x3 convolutions + ReLU). A final 1x1 convolution maps the
features to the classes. No fully connected layer, so any valid size goes through.

With ``padding="valid"`` (the paper's unpadded convolutions) every 3x3 convolution trims one pixel
per side: a 572x572 input gives a 388x388 output (§2), and the skip connections must be cropped.
``padding="same"`` keeps the size, which is easier to train on small images.

    model = UNet(in_channels=1, num_classes=2)             # the paper's 31,030,658 parameters
    model(torch.zeros(1, 1, 572, 572)).shape               # (1, 2, 388, 388)
"""
from __future__ import annotations

import itertools

import numpy as np
import torch
from scipy.ndimage import distance_transform_edt
from torch import nn

from course_lib.validate import check_int

__all__ = ["UNet", "DoubleConv", "Down", "Up", "center_crop", "crop_and_concat",
           "unet_output_size", "unet_input_size", "valid_input_sizes", "unet_weight_map", "class_balance_weights", "border_weights"]

PADDINGS = ("valid", "same")


# --- size arithmetic (§2) --------------------------------------------------------------------------

def _check_size_args(size, depth, padding):
    check_int("size", size, 1)
    check_int("depth", depth, 1)
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")


def _output_size_or_none(size: int, depth: int, padding: str) -> int | None:
    """The output side for an input side, or None when some max-pool would see an odd size."""
    if padding == "same":
        return size if size % 2**depth == 0 else None
    for _ in range(depth):  # contracting path: two 3x3 convs (-4), then a 2x2 max-pool (/2)
        size -= 4
        if size <= 0 or size % 2:
            return None
        size //= 2
    size -= 4  # the two convs at the bottom of the U
    for _ in range(depth):  # expanding path: 2x2 up-conv (x2), then two 3x3 convs (-4)
        if size <= 0:
            return None
        size = 2 * size - 4
    return size if size > 0 else None


def valid_input_sizes(size: int, depth: int = 4, padding: str = "valid") -> tuple[int | None, int]:
    """The valid input sides nearest to ``size``: ``(below or None, at or above)``."""
    _check_size_args(size, depth, padding)
    below = next((s for s in range(size - 1, 0, -1) if _output_size_or_none(s, depth, padding)), None)
    above = next(s for s in itertools.count(size) if _output_size_or_none(s, depth, padding))
    return below, above


def unet_input_size(output_size: int, depth: int = 4, padding: str = "valid") -> int:
    """The input side that gives ``output_size`` (§2: 388 -> 572), walking Fig. 1 backwards.

    ``ValueError`` (naming the nearest reachable output sizes) when no input gives that output.
    """
    _check_size_args(output_size, depth, padding)
    if padding == "same":
        return unet_output_size(output_size, depth, padding)
    size = output_size
    for _ in range(depth):
        size = (size + 4) / 2
    size = size + 4
    for _ in range(depth):
        size = 2 * size + 4
    if size != int(size) or _output_size_or_none(int(size), depth, padding) != output_size:
        reachable = [unet_output_size(s, depth) for s in valid_input_sizes(int(size), depth) if s]
        raise ValueError(f"no input gives a {output_size}-pixel output with padding='valid', "
                         f"depth={depth}; reachable output sizes nearby: {reachable}")
    return int(size)


def unet_output_size(size: int, depth: int = 4, padding: str = "valid") -> int:
    """Output side of a U-Net for an input side (§2: 572 -> 388 with ``depth=4``, valid padding).

    Each 3x3 valid convolution removes 2 pixels, each max-pool halves, each up-conv doubles.
    Every max-pool must see an even size, so not every input is valid: a ``ValueError`` names the
    nearest valid sizes below and above.
    """
    _check_size_args(size, depth, padding)
    out = _output_size_or_none(size, depth, padding)
    if out is None:
        below, above = valid_input_sizes(size, depth, padding)
        rule = ("every 2x2 max-pool needs an even size after its two 3x3 convolutions"
                if padding == "valid" else f"the size must be divisible by 2**depth = {2**depth}")
        nearest = (f"the nearest valid sizes are {below} and {above}" if below
                   else f"the smallest valid size is {above}")
        raise ValueError(f"a U-Net (padding={padding!r}, depth={depth}) cannot take a side of {size} "
                         f"pixels ({rule}); {nearest}")
    return out


# --- building blocks (Fig. 1) ----------------------------------------------------------------------

class DoubleConv(nn.Sequential):
    """Fig. 1, blue arrows: two 3x3 convolutions, each followed by a ReLU
    (with ``batch_norm=True`` a BatchNorm before each ReLU: not in the paper, trains faster)."""

    def __init__(self, in_channels: int, out_channels: int, padding: str = "valid",
                 batch_norm: bool = False):
        pad = 1 if padding == "same" else 0
        layers = []
        for c_in in (in_channels, out_channels):
            layers.append(nn.Conv2d(c_in, out_channels, 3, padding=pad, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class Down(nn.Sequential):
    """One step of the contracting path: 2x2 max-pool, stride 2 (red arrow), then a DoubleConv
    that doubles the channels."""

    def __init__(self, in_channels: int, out_channels: int, padding: str = "valid",
                 batch_norm: bool = False):
        super().__init__(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels, padding, batch_norm))


def center_crop(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The central ``size = (H, W)`` window of ``x`` (..., H', W')."""
    height, width = x.shape[-2:]
    top, left = (height - size[0]) // 2, (width - size[1]) // 2
    if top < 0 or left < 0:
        raise ValueError(f"cannot crop a {height}x{width} map to {size[0]}x{size[1]}")
    return x[..., top:top + size[0], left:left + size[1]]


def crop_and_concat(skip: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Fig. 1, grey arrows: centre-crop the contracting path's ``skip`` (N, C1, H', W') to the
    size of ``x`` (N, C2, H, W) and concatenate along channels: ``[cropped skip, x]`` (N, C1+C2, H, W).

    "The cropping is necessary due to the loss of border pixels in every convolution." (§2)
    """
    return torch.cat([center_crop(skip, x.shape[-2:]), x], dim=1)


class Up(nn.Module):
    """One step of the expanding path: a 2x2 up-convolution that halves the channels (green
    arrow), crop-and-concat with the contracting path (grey), then a DoubleConv (blue)."""

    def __init__(self, in_channels: int, out_channels: int, padding: str = "valid",
                 batch_norm: bool = False):
        super().__init__()
        self.up_conv = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        self.conv = DoubleConv(2 * out_channels, out_channels, padding, batch_norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(crop_and_concat(skip, self.up_conv(x)))


# --- the network ---------------------------------------------------------------------------------

class UNet(nn.Module):
    """Fig. 1: ``depth`` down steps on the contracting path, ``depth`` up steps on the expanding
    path, a 1x1 convolution to ``num_classes`` maps. Channels ``base_channels * 2**level``.

    Defaults other than ``in_channels``/``num_classes`` are the paper's (64 channels, depth 4,
    valid padding, no batch norm). Weights are drawn as in §3: Gaussian, std sqrt(2/N) with N the
    number of inputs of one unit (He initialisation).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 2, base_channels: int = 64,
                 padding: str = "valid", *, depth: int = 4, batch_norm: bool = False):
        super().__init__()
        for name, value in [("in_channels", in_channels), ("num_classes", num_classes),
                            ("base_channels", base_channels), ("depth", depth)]:
            check_int(name, value, 1)
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
        self.in_channels, self.padding, self.depth = in_channels, padding, depth
        channels = [base_channels * 2**level for level in range(depth + 1)]
        self.input_block = DoubleConv(in_channels, channels[0], padding, batch_norm)
        self.contracting = nn.ModuleList(
            Down(channels[i], channels[i + 1], padding, batch_norm) for i in range(depth))
        self.expanding = nn.ModuleList(
            Up(channels[i + 1], channels[i], padding, batch_norm) for i in reversed(range(depth)))
        self.output = nn.Conv2d(channels[0], num_classes, kernel_size=1)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    @property
    def total_stride(self) -> int:
        """2**depth: the product of the max-pool strides. Shifting the input by a multiple of it
        shifts the output by the same amount (the max-pool grid stays aligned)."""
        return 2**self.depth

    def output_size(self, size: int) -> int:
        """Output side for an input side (ValueError naming the nearest valid sizes if invalid)."""
        return unet_output_size(size, self.depth, self.padding)

    def input_size(self, output_size: int) -> int:
        """Input side giving an ``output_size`` output (the tile arithmetic of Fig. 2)."""
        return unet_input_size(output_size, self.depth, self.padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != self.in_channels:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"UNet expects a (N, {self.in_channels}, H, W) tensor, got {got}")
        for side, name in zip(x.shape[-2:], ("height", "width")):
            try:
                self.output_size(int(side))
            except ValueError as error:
                raise ValueError(f"input {name}: {error}") from None
        features = [self.input_block(x)]
        for down in self.contracting:
            features.append(down(features[-1]))
        x = features.pop()  # the bottom of the U
        for up in self.expanding:
            x = up(x, features.pop())
        return self.output(x)


# --- loss weights for touching objects (§3, Eq. 1-2) -----------------------------------------------

def _as_label_map(mask, name: str = "mask") -> np.ndarray:
    array = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (H, W) label map, got shape {array.shape}")
    if array.dtype == bool:
        array = array.astype(np.int64)
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must hold integer labels (0 = background), got dtype {array.dtype}")
    if array.size and array.min() < 0:
        raise ValueError(f"{name} labels must be >= 0, got {array.min()}")
    return array


def class_balance_weights(mask) -> torch.Tensor:
    """w_c of Eq. 2: each pixel weighted by N / (K · N_c), where N_c counts the pixels of its class
    (background 0 or foreground > 0) and K = 2, so rarer classes weigh more and the mean is 1."""
    foreground = _as_label_map(mask) > 0
    counts = np.array([(~foreground).sum(), foreground.sum()], dtype=np.float64)
    present = counts > 0
    per_class = np.zeros(2)
    per_class[present] = foreground.size / (present.sum() * counts[present])
    return torch.from_numpy(per_class[foreground.astype(np.int64)].astype(np.float32))


def unet_weight_map(instances, w0: float = 10.0, sigma: float = 5.0) -> torch.Tensor:
    """The border weight map of Eq. 2: w(x) = w_c(x) + w0 · exp(-(d1(x) + d2(x))² / (2σ²)).

    ``instances`` is an instance label map (H, W): 0 for background, 1, 2, ... for the objects.
    d1 and d2 are the distances to the border of the nearest and the second nearest object; the
    term is added on background pixels only, so the thin gaps between touching objects get the
    largest weights. With fewer than two objects w = w_c. Returns float32 (H, W).
    """
    labels = _as_label_map(instances, "instances")
    return class_balance_weights(labels) + border_weights(labels, w0, sigma)


def border_weights(instances, w0: float = 10.0, sigma: float = 5.0) -> torch.Tensor:
    """The second term of Eq. 2, w0 · exp(-(d1 + d2)² / (2σ²)), on background pixels of the
    instance label map ``instances``; 0 on the objects, and 0 everywhere with fewer than two
    objects. float32 (H, W)."""
    labels = _as_label_map(instances, "instances")
    if not (w0 >= 0 and sigma > 0):
        raise ValueError(f"need w0 >= 0 and sigma > 0, got w0={w0!r}, sigma={sigma!r}")
    ids = np.unique(labels[labels > 0])
    if len(ids) < 2:
        return torch.zeros(labels.shape, dtype=torch.float32)
    distances = np.stack([distance_transform_edt(labels != i) for i in ids])  # (objects, H, W)
    d1, d2 = np.sort(distances, axis=0)[:2]
    border = w0 * np.exp(-((d1 + d2) ** 2) / (2 * sigma**2))
    return torch.from_numpy(np.where(labels == 0, border, 0.0).astype(np.float32))
