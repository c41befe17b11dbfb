"""Reflection separation: Zhang, Ng & Chen, "Single Image Reflection Separation with Perceptual Losses",
CVPR 2018 (arXiv 1806.05376) — a network that splits a photo through glass, I = B + R, into the
background B (the paper's transmission layer T) and the reflection R; and the classical prior it
is compared with (Li & Brown, "Single Image Layer Separation using Relative Smoothness", CVPR 2014).

    model = SeparationNet()                          # blend (N, 3, H, W) -> B and R stacked: (N, 6, H, W)
    classical = RelativeSmoothness()                 # Li & Brown 2014: the classical baseline
    loss = exclusion_loss(b, r)                      # Eq. 4-5 (course_lib.losses.reflection): edges of B and R apart
    gradient_correlation(b, r)                       # how much they do coincide (a measure, not a loss)

Notebook 10's training, the shipped network's checkpoint and the scoring are in ``course_lib.recipes.reflection``.
"""
from __future__ import annotations

import torch
from torch import nn
from torchvision.transforms.v2 import functional as TF

from course_lib.data.reflection import GAMMA
from course_lib.validate import check_image_batch, check_int, check_layer_pair

__all__ = ["gradient_correlation", "SeparationNet", "LinearLightSeparationNet", "RelativeSmoothness", "DoNothing"]


def gradient_correlation(b: torch.Tensor, r: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """How much the edges of two layers coincide: the Pearson correlation, over channels and positions,
    of the gradient magnitudes ``|torch.diff(b)|`` and ``|torch.diff(r)|``, along x and along y, averaged
    over the two directions. Near 0 for unrelated layers, 1 when every edge of one is an edge of the other
    (what a separation that leaves the blend's edges in both layers gives). One value per image
    (``reduction="none"``) or their mean (``"mean"``). A measure: the loss that lowers it is
    :func:`~course_lib.losses.reflection.exclusion_loss`."""
    check_layer_pair(b, r, "gradient_correlation")
    per_direction = []
    for dim in (-1, -2):
        grad_b, grad_r = torch.diff(b, dim=dim).abs().flatten(1), torch.diff(r, dim=dim).abs().flatten(1)
        grad_b, grad_r = grad_b - grad_b.mean(1, keepdim=True), grad_r - grad_r.mean(1, keepdim=True)
        norms = (grad_b.norm(dim=1) * grad_r.norm(dim=1)).clamp_min(1e-12)
        per_direction.append((grad_b * grad_r).sum(1) / norms)
    per_image = torch.stack(per_direction).mean(0)
    if reduction == "mean":
        return per_image.mean()
    if reduction == "none":
        return per_image
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


class SeparationNet(nn.Module):
    """Zhang et al. §3.1, shrunk for a CPU: a context aggregation network (Chen, Xu & Koltun 2017) of
    3x3 convolutions with dilations 1, 2, 4, ..., 2^(depth-1) and a last one of dilation 1 — the receptive
    field grows exponentially at full resolution, which a blur-sized reflection needs — then a 1x1
    convolution to six maps: the background B (added to the blend: the network learns the correction)
    and the reflection R. The paper also feeds VGG-19 "hypercolumn" features, 64 maps and dilations up
    to 64; here ``width`` maps and no hypercolumns (the course's loss network is offline).
    ``start_at_blend=True`` zero-initialises the 1x1 convolution, so that the untrained network returns
    B = I and R = 0: training starts at the do-nothing baseline (:class:`DoNothing`)."""

    def __init__(self, width: int = 24, depth: int = 5, start_at_blend: bool = False):
        super().__init__()
        width = check_int("width", width, 1, expected="a positive int (feature maps per layer)")
        depth = check_int("depth", depth, 1, expected="a positive int (the number of dilated layers)")
        layers, channels = [], 3
        for dilation in [2**k for k in range(depth)] + [1]:
            layers += [nn.Conv2d(channels, width, 3, padding=dilation, dilation=dilation), nn.LeakyReLU(0.2)]
            channels = width
        self.context = nn.Sequential(*layers)
        self.output = nn.Conv2d(width, 6, 1)
        if start_at_blend:
            nn.init.zeros_(self.output.weight)
            nn.init.zeros_(self.output.bias)

    def forward(self, blend: torch.Tensor) -> torch.Tensor:
        check_image_batch(blend, "blend")
        out = self.output(self.context(blend))
        return torch.cat([blend + out[:, :3], out[:, 3:]], 1)


class LinearLightSeparationNet(SeparationNet):
    """:class:`SeparationNet`'s context aggregation layers with a head that undoes the blend model of §4 instead
    of adding a free correction to I: in linear light ``I = t B + R``, so the network predicts, per pixel and
    channel, the share of I that is reflection, ``R = sigmoid(a) · I`` (so ``0 <= R <= I``), blurred with a fixed
    Gaussian of ``reflection_sigma`` pixels (the reflection is out of focus: it holds no fine detail), and one gain
    per image and channel, ``1 / t = exp(mean of g)`` (the glass's transmission is one number); then
    ``B = (I - R) / t``. Every fine edge of B comes from I itself: the network can take away only a smooth layer
    and brighten, so it cannot paint the dilations' grid into B. It starts near the blend:
    ``R = 5 % of I``, ``t = 1``. Outputs B and R stacked and gamma-encoded, like :class:`SeparationNet`."""

    def __init__(self, width: int = 24, depth: int = 5, reflection_sigma: float = 1.5):
        super().__init__(width, depth, start_at_blend=True)
        if isinstance(reflection_sigma, bool) or not isinstance(reflection_sigma, (int, float)) \
                or not 0 < reflection_sigma <= 10:
            raise ValueError(f"reflection_sigma must be a number in (0, 10] (pixels), got {reflection_sigma!r}")
        self.reflection_sigma = float(reflection_sigma)
        nn.init.constant_(self.output.bias[3:], -3.0)

    def forward(self, blend: torch.Tensor) -> torch.Tensor:
        check_image_batch(blend, "blend")
        out = self.output(self.context(blend))
        linear = blend.clamp(0, 1) ** GAMMA
        size = 2 * int(3 * self.reflection_sigma) + 1
        reflection = TF.gaussian_blur(linear * torch.sigmoid(out[:, 3:]), [size, size], [self.reflection_sigma] * 2)
        background = torch.exp(out[:, :3].mean((2, 3), keepdim=True)) * (linear - reflection).clamp_min(0)
        return torch.cat([background, reflection], 1).clamp(1e-5, 1) ** (1 / GAMMA)


def _transfer_function(kernel: list[list[float]], shape) -> torch.Tensor:
    """The 2-D DFT of a small filter placed with its centre at pixel (0, 0) of an image of ``shape`` (MATLAB's
    ``psf2otf``): multiplying an image's DFT by it is the filter's circular convolution."""
    kernel = torch.tensor(kernel, dtype=torch.float64)
    padded = torch.zeros(*shape, dtype=torch.float64)
    padded[:kernel.shape[0], :kernel.shape[1]] = kernel
    return torch.fft.fft2(torch.roll(padded, (-(kernel.shape[0] // 2), -(kernel.shape[1] // 2)), (0, 1)))


class RelativeSmoothness(nn.Module):
    """The classical baseline: Li & Brown, "Single Image Layer Separation using Relative Smoothness", CVPR 2014:
    their objective with the L0 gradient prior of their code. B (their L1) has sparse, strong gradients; the reflection
    R = I - B is smooth, so its Laplacian is small:

        min_B  sum_x  ||grad B(x)||_0  +  lam ||laplacian * (I - B)||^2,   0 <= B <= I.

    Half-quadratic splitting (their Algorithm 1): ``iterations`` times, with beta = 2^k / ``threshold``,
    (1) keep B's forward differences where their absolute sum over the channels is at least 1 / beta, zero the
    others (``g``); (2) solve ``min lam ||lap * (I - B)||^2 + beta ||grad B - g||^2`` for B in closed form in
    the Fourier domain (circular convolutions become products):

        F(B) = (lam |F(lap)|^2 F(I) + beta sum_d conj(F(d)) F(g_d)) / (lam |F(lap)|^2 + beta sum_d |F(d)|^2),

    then (3) fix the constant the equation leaves free: each channel of B is shifted so that B <= I holds at
    99 % of the pixels (the brightest background the constraint allows; their code balances the violations
    instead), and clipped to [0, I]. No learning; ``lam`` and ``threshold`` are settings (``threshold=0.05`` as
    in their code). Outputs B and R = I - B stacked, like :class:`SeparationNet`; works in float64."""

    def __init__(self, lam: float = 100.0, threshold: float = 0.05, iterations: int = 3):
        super().__init__()
        for name, value in (("lam", lam), ("threshold", threshold)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"RelativeSmoothness: {name} must be a positive number, got {value!r}")
        self.lam, self.threshold = float(lam), float(threshold)
        self.iterations = check_int("iterations", iterations, 1, expected="a positive int")

    def forward(self, blend: torch.Tensor) -> torch.Tensor:
        check_image_batch(blend, "blend")
        i = blend.double()
        shape = i.shape[-2:]
        dx, dy = _transfer_function([[0, -1, 1]], shape), _transfer_function([[0], [-1], [1]], shape)
        laplacian = _transfer_function([[0, 1, 0], [1, -4, 1], [0, 1, 0]], shape).abs() ** 2
        smooth_r = self.lam * laplacian * torch.fft.fft2(i)
        b = i
        for k in range(self.iterations):
            beta = 2**k / self.threshold
            spectrum = torch.fft.fft2(b)
            target = 0
            for d in (dx, dy):
                grad = torch.fft.ifft2(d * spectrum).real
                grad = grad * (grad.abs().sum(-3, keepdim=True) >= 1 / beta)
                target = target + d.conj() * torch.fft.fft2(grad)
            denominator = self.lam * laplacian + beta * (dx.abs() ** 2 + dy.abs() ** 2)
            b = torch.fft.ifft2((smooth_r + beta * target) / (denominator + 1e-16)).real
            b = b - torch.quantile((b - i).flatten(-2), 0.99, dim=-1)[..., None, None]
            b = torch.minimum(b.clamp_min(0), i)
        b = b.to(blend.dtype)
        return torch.cat([b, blend - b], 1)


class DoNothing(nn.Module):
    """The baseline that separates nothing: B = I, R = 0 (outputs stacked like :class:`SeparationNet`)."""

    def forward(self, blend: torch.Tensor) -> torch.Tensor:
        return torch.cat([blend, torch.zeros_like(blend)], 1)
