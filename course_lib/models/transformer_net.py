"""The image transformation network of Johnson, Alahi & Fei-Fei, "Perceptual Losses for Real-Time
Style Transfer and Super-Resolution" (ECCV 2016), §3.1 and supplementary Table 1.

    net = TransformerNet()                         # the paper's widths 32, 64, 128
    stylised = net(content)                        # (N, 3, H, W) in [0, 1] -> same shape, in [0, 1]
    net = load_style_checkpoint("starry")          # the course's small trained network

Three ideas from the paper plus two later fixes that every public re-implementation uses, and one option:

* downsampling: two stride-2 convolutions, so the residual blocks work at 1/4 resolution
  (cheaper, and each output pixel sees a large region of the input);
* five residual blocks (He et al. 2016, as in Gross & Wilber's "Training and investigating
  residual nets"): two 3x3 convolutions with normalisation, added to the input;
* upsampling back to full resolution, then a 9x9 convolution and a scaled tanh (§3.1) so the output
  lies in the image range;
* instance normalisation (Ulyanov et al. 2016) instead of batch normalisation: each image is
  normalised on its own, which removes its contrast before the style is painted on;
* resize-convolution (nearest-neighbour upsampling then a convolution, Odena et al. 2016,
  "Deconvolution and Checkerboard Artifacts") instead of the paper's fractionally strided
  convolutions, which leave a checkerboard pattern;
* ``noise_maps`` (off by default, on in the course checkpoint): maps of Gaussian noise joined to the
  features after each upsampling, as the generators of Ulyanov et al. 2016 ("Texture Networks", §3) take
  noise at every scale. After a nearest-neighbour upsampling the features come in 2x2 blocks, so the
  only fine detail the next convolution can make is tied to the pixel grid's rows and columns. Trained
  through the course's random loss network, the network without noise painted exactly that: stripes of
  one orientation. Noise gives it a source of fine texture that does not follow the grid; the lines
  fade but do not vanish (notebook 07 measures how far the texture moves).
"""
from __future__ import annotations

from importlib import resources

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.models.vgg import COURSE_CHECKPOINT
from course_lib.validate import check_image_batch, check_int
from course_lib.weights import load_half_checkpoint

NOISE_SEED = 0  # the noise of an eval-mode network: the same photo always gives the same picture

__all__ = [
    "ConvLayer", "ResidualBlock", "UpsampleConvLayer", "TransformerNet",
    "load_style_checkpoint", "style_checkpoint_names",
]


class ConvLayer(nn.Sequential):
    """Reflection padding then a convolution: no zero border for the style to smear into."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1):
        super().__init__(nn.ReflectionPad2d(kernel_size // 2),
                         nn.Conv2d(in_channels, out_channels, kernel_size, stride))


class ResidualBlock(nn.Module):
    """Johnson et al., supplementary Fig. 1: conv3x3 - IN - ReLU - conv3x3 - IN, plus the input.

    No ReLU after the addition (as in Gross & Wilber), so the block can leave its input unchanged.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3)
        self.in1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, 3)
        self.in2 = nn.InstanceNorm2d(channels, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.in2(self.conv2(F.relu(self.in1(self.conv1(x)))))
        return x + residual


class UpsampleConvLayer(nn.Sequential):
    """Resize-convolution: nearest-neighbour upsampling by ``scale``, then a ConvLayer.

    Replaces the paper's stride-1/2 transposed convolution: every output pixel gets the same number
    of kernel taps, so there is no checkerboard (Odena et al. 2016). With ``noise_maps`` > 0, that many
    maps of Gaussian noise are joined to the upsampled features before the convolution: fresh noise at
    every call in training mode, the same noise (``NOISE_SEED``, one draw shared by the batch) in eval mode.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, scale: int = 2,
                 noise_maps: int = 0):
        noise_maps = check_int("noise_maps", noise_maps, 0, expected="an int >= 0 (maps of noise to join)")
        super().__init__(nn.Upsample(scale_factor=scale, mode="nearest"),
                         ConvLayer(in_channels + noise_maps, out_channels, kernel_size))
        self.noise_maps = noise_maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self[0](x)
        if self.noise_maps:
            n, _, h, w = x.shape
            if self.training:
                noise = torch.randn(n, self.noise_maps, h, w, device=x.device, dtype=x.dtype)
            else:
                generator = torch.Generator().manual_seed(NOISE_SEED)
                noise = torch.randn(1, self.noise_maps, h, w, generator=generator).to(x).expand(n, -1, -1, -1)
            x = torch.cat([x, noise], 1)
        return self[1](x)


class TransformerNet(nn.Module):
    """Johnson et al. §3.1 / supplementary Table 1, for images in [0, 1].

    ``width`` is the number of maps of the first layer: 32 in the paper (1.7 M parameters); the
    course checkpoint uses 16 (0.4 M) so that it trains in minutes on a CPU and ships in < 1 MB.
    ``noise_maps``: maps of noise joined after each upsampling (``UpsampleConvLayer``; 0, the paper's
    network, by default). Any input size works: the output always has the input's size.
    """

    def __init__(self, width: int = 32, num_residual_blocks: int = 5, noise_maps: int = 0):
        super().__init__()
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive int, got {width!r}")
        self.width = width
        self.noise_maps = check_int("noise_maps", noise_maps, 0, expected="an int >= 0 (maps of noise to join)")
        w1, w2, w3 = width, 2 * width, 4 * width
        self.downsampling = nn.Sequential(
            ConvLayer(3, w1, 9), nn.InstanceNorm2d(w1, affine=True), nn.ReLU(),
            ConvLayer(w1, w2, 3, stride=2), nn.InstanceNorm2d(w2, affine=True), nn.ReLU(),
            ConvLayer(w2, w3, 3, stride=2), nn.InstanceNorm2d(w3, affine=True), nn.ReLU(),
        )
        self.residual_blocks = nn.Sequential(*[ResidualBlock(w3) for _ in range(num_residual_blocks)])
        self.upsampling = nn.Sequential(
            UpsampleConvLayer(w3, w2, 3, noise_maps=noise_maps), nn.InstanceNorm2d(w2, affine=True), nn.ReLU(),
            UpsampleConvLayer(w2, w1, 3, noise_maps=noise_maps), nn.InstanceNorm2d(w1, affine=True), nn.ReLU(),
            ConvLayer(w1, 3, 9),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_batch(x)
        y = self.upsampling(self.residual_blocks(self.downsampling(x)))
        y = y[..., : x.shape[-2], : x.shape[-1]]  # odd sizes come back up to 3 pixels larger
        return (torch.tanh(y) + 1) / 2  # the paper's scaled tanh, mapped to [0, 1]


def style_checkpoint_names() -> list[str]:
    """The styles with a course checkpoint in ``course_lib/checkpoints/`` (every ``.pt`` file there but the
    course-trained loss network, ``course_lib.models.vgg.COURSE_CHECKPOINT``)."""
    folder = resources.files("course_lib") / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(p.name[:-3] for p in folder.iterdir() if p.name.endswith(".pt") and p.name != COURSE_CHECKPOINT.name)


def load_style_checkpoint(style: str) -> TransformerNet:
    """The course's trained TransformerNet for ``style`` (eval mode), read from the installed package.

    The checkpoint (made by ``scripts/train_style_checkpoint.py``) holds the network's ``width`` and
    ``noise_maps``, half-precision weights and a ``meta`` dict (style image, loss network, steps) kept on
    ``net.meta``: the course's checkpoint format, :func:`course_lib.weights.load_half_checkpoint`.
    """
    names = style_checkpoint_names()
    if style not in names:
        raise ValueError(f"no course checkpoint for style {style!r}; available: {', '.join(names) or 'none'}")
    return load_half_checkpoint(resources.files("course_lib") / "checkpoints" / f"{style}.pt", TransformerNet)
