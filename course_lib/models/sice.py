"""SICE: Cai, Gu & Zhang, "Learning a Deep Single Image Contrast Enhancer from Multi-Exposure Images",
IEEE TIP 27(4), 2018 — in miniature, for notebook 09.

    base, detail = frequency_split(images)           # smooth luminance + detail, (N, 1, H, W) each
    model = SICE()                                   # two stages: enhance each layer, then fuse

Notebook 09's data, training and scoring are in ``course_lib.recipes.enhancement``.

The paper's three ideas, as the slide names them:

- **Exposure combination** (§III): the training target of each multi-exposure stack is a fusion of its
  frames; here Mertens et al.'s exposure fusion (``ops.exposure_fusion``) of the stacks of
  ``data.exposure``. The network learns to make it from *one* under- or over-exposed frame.
- **High/Low frequency split** (§IV-A): the luminance splits into a smooth *base* (edge-preserving
  filter; the paper's code uses a WLS filter, which neither PyTorch nor scikit-image has — we use He et
  al.'s guided filter, ``ops.guided_filter``, linear-time, differentiable and close to WLS in effect) and a *detail* layer.
  Stage 1 enhances each layer with its own network, stage 2 fuses them with the colour (Fig. 6).
  ``SICE(eps=NO_SPLIT_EPS)`` switches the split off and changes nothing else (same layers, parameters and
  receptive field): the comparison that tells whether the split helps. ``OneStage``, the older control, has
  about the same parameters but a smaller receptive field, so it mixes the split with context.
- **Channel split**: luminance and colour are handled apart (YCbCr), so brightening does not shift hues.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from skimage import exposure as sk_exposure
from torch import nn

from course_lib.metrics import rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb
from course_lib.ops.guided_filter import guided_filter
from course_lib.ops.receptive_field import effective_receptive_field, extent
from course_lib.profiling import count_parameters
from course_lib.validate import check_int, check_module

__all__ = ["frequency_split", "on_luminance", "BASELINES", "SICE", "NO_SPLIT_EPS", "OneStage",
           "one_stage_like", "NETWORKS", "build_networks", "receptive_fields"]

#: Y of BT.601 studio swing (``metrics.rgb_to_y``) spans [16, 235] / 255; baselines work on [0, 1].
_Y_LOW, _Y_HIGH = 16 / 255, 235 / 255


# --- High/Low frequency split ----------------------------------------------------------------------


def frequency_split(images: torch.Tensor, radius: int = 4, eps: float = 1e-2) -> tuple[torch.Tensor, torch.Tensor]:
    """The luminance Y (``metrics.rgb_to_y``) of RGB ``(N, 3, H, W)`` images in [0, 1] as ``base + detail``:
    ``base`` = Y guided-filtered by itself (low frequency), ``detail = Y - base`` (high frequency)."""
    y = rgb_to_y(images)
    base = guided_filter(y, y, radius, eps)
    return base, y - base


# --- Channel split and the baselines of the field --------------------------------------------------

def on_luminance(fn, image: torch.Tensor) -> torch.Tensor:
    """Apply ``fn`` (a NumPy ``(H, W)`` -> ``(H, W)`` map of [0, 1]) to the luminance of an RGB ``(3, H, W)``
    image and keep its colour (Cb, Cr): the channel split. Y is stretched from BT.601's [16, 235] to
    [0, 1] for ``fn`` and back. Returns RGB in [0, 1]."""
    ycbcr = rgb_to_ycbcr(image)
    if ycbcr.ndim != 3:
        raise ValueError(f"on_luminance: image must be one (3, H, W) image, got shape {tuple(image.shape)}")
    y = ((ycbcr[0] - _Y_LOW) / (_Y_HIGH - _Y_LOW)).clamp(0, 1).numpy().astype(np.float64)
    y = torch.from_numpy(np.asarray(fn(y), dtype=np.float64)).to(ycbcr) * (_Y_HIGH - _Y_LOW) + _Y_LOW
    return ycbcr_to_rgb(torch.cat([y[None], ycbcr[1:]])).clamp(0, 1)


def _adaptive_gamma(y: np.ndarray) -> np.ndarray:
    """Gamma correction ``y ** gamma`` with ``gamma = log(0.5) / log(mean(y))`` (the mean clipped to
    [0.001, 0.999]): the mean luminance itself is mapped to 0.5; the mean of the output is not exactly 0.5."""
    return y ** (math.log(0.5) / math.log(float(np.clip(y.mean(), 1e-3, 1 - 1e-3))))


#: The field's classical enhancers, each on the luminance only (:func:`on_luminance`): gamma correction,
#: global histogram equalisation and CLAHE (Zuiderveld 1994; scikit-image's default clip limit 0.01).
BASELINES = {
    "gamma": lambda image: on_luminance(_adaptive_gamma, image),
    "HE": lambda image: on_luminance(sk_exposure.equalize_hist, image),
    "CLAHE": lambda image: on_luminance(sk_exposure.equalize_adapthist, image),
}


# --- The networks -----------------------------------------------------------------------------------

def _conv(c_in: int, c_out: int, kernel: int = 3, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel, padding=dilation * (kernel // 2), dilation=dilation)


def _stack(c_in: int, width: int, c_out: int, dilations) -> nn.Sequential:
    """3x3 convolutions with ReLU between them: c_in -> width (one per dilation) -> c_out."""
    layers, channels = [], c_in
    for dilation in dilations:
        layers += [_conv(channels, width, dilation=dilation), nn.ReLU(inplace=True)]
        channels = width
    return nn.Sequential(*layers, _conv(channels, c_out))


class LuminanceEnhancer(nn.Module):
    """Stage 1 for the smooth base layer: context from a 4x smaller copy (the layer is smooth, and the
    right brightness depends on the surroundings), then a per-pixel tone curve of the base given that
    context (1x1 convolutions). Returns the enhanced base."""

    def __init__(self, width: int):
        super().__init__()
        self.context = _stack(1, width, width, dilations=(1, 2, 4))
        self.curve = nn.Sequential(_conv(1 + width, width, 1), nn.ReLU(inplace=True), _conv(width, 1, 1))

    def forward(self, base: torch.Tensor) -> torch.Tensor:
        size = base.shape[-2:]
        small = F.interpolate(base, size=(math.ceil(size[0] / 4), math.ceil(size[1] / 4)), mode="area")
        context = F.interpolate(self.context(small), size=size, mode="bilinear", align_corners=False)
        return base + self.curve(torch.cat([base, context], 1))


class DetailEnhancer(nn.Module):
    """Stage 1 for the detail layer, at full resolution; it also sees the base, which tells it where the
    frame was dark (noisy detail) or clipped (lost detail). Returns the enhanced detail."""

    def __init__(self, width: int):
        super().__init__()
        self.body = _stack(2, width, 1, dilations=(1, 1, 1))

    def forward(self, base: torch.Tensor, detail: torch.Tensor) -> torch.Tensor:
        return detail + self.body(torch.cat([base, detail], 1))


class SICE(nn.Module):
    """SICE §IV, Fig. 6 in miniature. Stage 1: :func:`frequency_split` of the input's luminance, then a
    ``luminance_enhancer`` for the base and a ``detail_enhancer`` for the detail. Stage 2: the
    ``whole_image_enhancer`` fuses both with the input's YCbCr and corrects Y, Cb and Cr together
    (the paper's second stage removes the artefacts and colour casts of the first).

    RGB ``(N, 3, H, W)`` in [0, 1] in, RGB out (not clipped; :func:`enhance` clips).
    """

    def __init__(self, width: int = 16, radius: int = 4, eps: float = 1e-2):
        super().__init__()
        self.radius, self.eps = radius, eps
        self.luminance_enhancer = LuminanceEnhancer(width)
        self.detail_enhancer = DetailEnhancer(width)
        self.whole_image_enhancer = _stack(5, width, 3, dilations=(1, 2))

    def stages(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every intermediate layer: ``base``, ``detail``, ``enhanced_base``, ``enhanced_detail``, ``stage_1`` (the
        enhanced luminance with the input's colour, RGB) and ``output``."""
        base, detail = frequency_split(x, self.radius, self.eps)
        enhanced_base = self.luminance_enhancer(base)
        enhanced_detail = self.detail_enhancer(base, detail)
        ycbcr = rgb_to_ycbcr(x)
        stage_1 = torch.cat([enhanced_base + enhanced_detail, ycbcr[:, 1:]], 1)
        correction = self.whole_image_enhancer(torch.cat([enhanced_base, enhanced_detail, ycbcr], 1))
        return dict(base=base, detail=detail, enhanced_base=enhanced_base, enhanced_detail=enhanced_detail,
                    stage_1=ycbcr_to_rgb(stage_1), output=ycbcr_to_rgb(stage_1 + correction))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(x)["output"]


#: The ``eps`` of :func:`guided_filter` that switches the frequency split off: every edge above
#: ``sqrt(eps) = 0.001`` stays in the base, so ``base = Y`` (to well under one grey level) and ``detail = 0``,
#: through the very same filter. ``SICE(eps=NO_SPLIT_EPS)`` is the ablation that differs only by the split:
#: same layers, same parameters, same receptive field.
NO_SPLIT_EPS = 1e-6


class OneStage(nn.Module):
    """The control: one plain network from the input's YCbCr to a correction of it (dilations 1, 2, 4, 8
    give it the two-stage network's context), without the frequency split. RGB in, RGB out."""

    def __init__(self, width: int = 16, depth: int = 6):
        super().__init__()
        depth = check_int("depth", depth, 5, expected="an int >= 5 (convolutions)")
        self.body = _stack(3, width, 3, dilations=(1, 2, 4, 8) + (1,) * (depth - 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ycbcr = rgb_to_ycbcr(x)
        return ycbcr_to_rgb(ycbcr + self.body(ycbcr))


def one_stage_like(model: nn.Module) -> OneStage:
    """The :class:`OneStage` network (5 to 8 layers) whose parameter count is closest to ``model``'s: the
    fair control of the two-stage network, same size, no split."""
    check_module(model)
    target = count_parameters(model)
    width, depth = min(((w, d) for w in range(1, 129) for d in range(5, 9)),
                       key=lambda wd: abs(count_parameters(OneStage(*wd)) - target))
    return OneStage(width, depth)


#: The networks notebook 09 compares: the two-stage network, the same network with the split switched off
#: (:data:`NO_SPLIT_EPS`), and the one-stage control of the same size (a smaller receptive field).
NETWORKS = ("SICE", "SICE, no split", "one-stage")


def build_networks(width: int) -> dict[str, nn.Module]:
    """``{name: network}`` for :data:`NETWORKS`, freshly initialised from torch's current random state."""
    two_stage = SICE(width)
    return {"SICE": two_stage, "SICE, no split": SICE(width, eps=NO_SPLIT_EPS), "one-stage": one_stage_like(two_stage)}


def receptive_fields(width: int, size: int = 257) -> dict[str, tuple[int, int]]:
    """``{name: (parameters, receptive field in pixels)}`` for :data:`NETWORKS`: the receptive field is the
    side of the gradient support of the centre output pixel (``ops.receptive_field``) on a ``size`` image."""
    torch.manual_seed(0)
    return {name: (count_parameters(model), extent(effective_receptive_field(model, (1, 3, size, size)))[0])
            for name, model in build_networks(width).items()}

