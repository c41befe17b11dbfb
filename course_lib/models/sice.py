"""SICE: Cai, Gu & Zhang, "Learning a Deep Single Image Contrast Enhancer from Multi-Exposure Images",
IEEE TIP 27(4), 2018 — in miniature, for notebook 09.

    recipe = enhance_recipe()                        # the mode's sizes and steps (a frozen dataclass)
    pairs = held_out_pairs(recipe)                   # {(name, "under"/"over"): (input, fused reference)}
    base, detail = frequency_split(images)           # smooth luminance + detail, (N, 1, H, W) each
    model = SICE(); train_enhancer(model, recipe)    # two stages: enhance each layer, then fuse
    scores = evaluate_enhancers({"CNN": lambda x: enhance(model, x)}, pairs)
    runs = compare_networks(recipe, seeds=(0, 1, 2), pairs=pairs)   # SICE, its no-split ablation, one-stage

The paper's three ideas, as the slide names them:

- **Exposure combination** (§III): the training target of each multi-exposure stack is a fusion of its
  frames; here Mertens et al.'s exposure fusion (``ops.exposure_fusion``) of the stacks of
  ``data.exposure``. The network learns to make it from *one* under- or over-exposed frame.
- **High/Low frequency split** (§IV-A): the luminance splits into a smooth *base* (edge-preserving
  filter; the paper's code uses a WLS filter, which neither PyTorch nor scikit-image has — we use He et
  al.'s guided filter, linear-time, differentiable and close to WLS in effect) and a *detail* layer.
  Stage 1 enhances each layer with its own network, stage 2 fuses them with the colour (Fig. 6).
  ``SICE(eps=NO_SPLIT_EPS)`` switches the split off and changes nothing else (same layers, parameters and
  receptive field): the comparison that tells whether the split helps. ``OneStage``, the older control, has
  about the same parameters but a smaller receptive field, so it mixes the split with context.
- **Channel split**: luminance and colour are handled apart (YCbCr), so brightening does not shift hues.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from skimage import exposure as sk_exposure
from torch import nn

from course_lib.config import pick
from course_lib.data import HELD_OUT_IMAGES, TRAIN_IMAGES, sample_image, sample_image_names
from course_lib.data.degrade import random_patches
from course_lib.data.exposure import exposure_stack
from course_lib.metrics import psnr, rgb_to_y, rgb_to_ycbcr, ssim, ycbcr_to_rgb
from course_lib.ops.exposure_fusion import exposure_fusion
from course_lib.ops.receptive_field import effective_receptive_field, extent
from course_lib.profiling import count_parameters
from course_lib.train import fit
from course_lib.validate import check_float_batch, check_int, check_module

__all__ = ["guided_filter", "frequency_split", "on_luminance", "BASELINES", "SICE", "NO_SPLIT_EPS", "OneStage",
           "one_stage_like", "NETWORKS", "build_networks", "receptive_fields", "EnhanceRecipe", "enhance_recipe",
           "fused_reference", "held_out_pairs", "enhancement_training_data", "train_enhancer",
           "train_networks", "enhance", "score_enhancer", "mean_scores", "evaluate_enhancers", "compare_networks",
           "seed_statistics", "chroma_deviation"]

#: Y of BT.601 studio swing (``metrics.rgb_to_y``) spans [16, 235] / 255; baselines work on [0, 1].
_Y_LOW, _Y_HIGH = 16 / 255, 235 / 255


# --- High/Low frequency split ----------------------------------------------------------------------

def _box(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over the (2r+1)² window, normalised by the pixels inside the image at the borders."""
    return F.avg_pool2d(x, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)


def guided_filter(guide: torch.Tensor, x: torch.Tensor, radius: int = 4, eps: float = 1e-2) -> torch.Tensor:
    """He, Sun & Tang, "Guided Image Filtering", TPAMI 2013, Algorithm 1: in each window ``x ≈ a·guide + b``
    with ``a = cov(guide, x) / (var(guide) + eps)`` and ``b = mean(x) - a·mean(guide)``; the output is
    ``mean(a)·guide + mean(b)``. Edges much stronger than ``sqrt(eps)`` are kept, weaker variation
    smoothed over ``radius`` pixels. ``guide`` and ``x``: ``(N, 1, H, W)``."""
    check_float_batch(guide, "guide", "guided_filter", "(N, 1, H, W)")
    check_float_batch(x, "x", "guided_filter", "(N, 1, H, W)")
    radius = check_int("radius", radius, 1, expected="a positive int (the window radius in pixels)")
    if not eps > 0:
        raise ValueError(f"guided_filter: eps must be > 0, got {eps!r}")
    mean_i, mean_x = _box(guide, radius), _box(x, radius)
    a = (_box(guide * x, radius) - mean_i * mean_x) / (_box(guide * guide, radius) - mean_i**2 + eps)
    b = mean_x - a * mean_i
    return _box(a, radius) * guide + _box(b, radius)


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


# --- Data: exposure combination ---------------------------------------------------------------------

@dataclass(frozen=True)
class EnhanceRecipe:
    """How notebook 09 makes its data and trains (``benchmarks/applications.py`` runs the same).

    Every sample image is resized to ``image_size``, given an exposure stack at ``stops`` (EV) and the
    stack's exposure fusion as reference. Training: ``n_patches`` random ``patch``-pixel crops of the
    non-zero-EV frames of :data:`TRAIN_IMAGES` with the matching crops of their references, :func:`~course_lib.losses.enhancement.sice_loss`,
    Adam with a one-cycle learning rate up to ``max_lr`` for ``epochs`` passes. Evaluation: the frames at
    ``under`` and ``over`` EV of :data:`HELD_OUT_IMAGES`."""

    image_size: int
    n_patches: int
    epochs: int
    patch: int = 64
    batch_size: int = 16
    max_lr: float = 3e-3
    width: int = 16
    stops: tuple = (-3.0, -1.5, 0.0, 1.5, 3.0)
    under: float = -3.0
    over: float = 1.5
    detail_weight: float = 1.0
    seed: int = 0


def enhance_recipe() -> EnhanceRecipe:
    """The mode's recipe: full mode 256-pixel images and 2048 patches for 4 epochs (six trainings of it fit
    notebook 09's full mode in 8 minutes on 2 cores), fast mode 128-pixel images and 256 patches for one epoch."""
    return pick(fast=EnhanceRecipe(image_size=128, n_patches=256, epochs=1),
                full=EnhanceRecipe(image_size=256, n_patches=2048, epochs=4))


def fused_reference(name: str, recipe: EnhanceRecipe) -> tuple[torch.Tensor, torch.Tensor]:
    """``(stack, reference)`` of the sample image ``name``: its :func:`data.exposure.exposure_stack` at
    ``recipe.stops`` (noise seeded by the image and ``recipe.seed``) and their exposure fusion — without
    the saturation weight for a grey image (its saturation is zero everywhere)."""
    image = sample_image(name, size=recipe.image_size)
    stack = exposure_stack(image, recipe.stops, seed=1000 * recipe.seed + sample_image_names().index(name))
    grey = bool((image.std(0) == 0).all())
    return stack, exposure_fusion(stack, ws=0.0 if grey else 1.0)


def held_out_pairs(recipe: EnhanceRecipe) -> dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]]:
    """``{(name, "under" | "over"): (frame, reference)}`` for :data:`HELD_OUT_IMAGES`, RGB ``(3, S, S)``."""
    pairs = {}
    for name in HELD_OUT_IMAGES:
        stack, reference = fused_reference(name, recipe)
        for kind in ("under", "over"):
            pairs[name, kind] = (stack[list(recipe.stops).index(getattr(recipe, kind))], reference)
    return pairs


def enhancement_training_data(recipe: EnhanceRecipe) -> torch.utils.data.TensorDataset:
    """(frame, reference) crops of :data:`TRAIN_IMAGES`: ``(N, 3, p, p)`` each, cut at the same place."""
    pairs = []
    for name in TRAIN_IMAGES:
        stack, reference = fused_reference(name, recipe)
        pairs += [torch.cat([frame, reference]) for frame, stop in zip(stack, recipe.stops) if stop != 0]
    patches = random_patches(pairs, recipe.patch, recipe.n_patches, seed=recipe.seed)
    return torch.utils.data.TensorDataset(patches[:, :3].contiguous(), patches[:, 3:].contiguous())


# --- Training and evaluation ------------------------------------------------------------------------

def train_enhancer(model: nn.Module, recipe: EnhanceRecipe, plot: bool | None = None, verbose: bool = True) -> dict:
    """Train ``model`` (RGB frame -> RGB reference) with ``recipe``; the history of ``train.fit``
    (``plot`` and ``verbose`` as there: ``verbose=False`` keeps the per-epoch lines out, the progress bar stays)."""
    from course_lib.losses.enhancement import sice_loss  # here: that module imports frequency_split from this one
    check_module(model)
    loader = torch.utils.data.DataLoader(enhancement_training_data(recipe), batch_size=recipe.batch_size,
                                         shuffle=True, generator=torch.Generator().manual_seed(recipe.seed))
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.max_lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, recipe.max_lr, epochs=recipe.epochs,
                                                    steps_per_epoch=len(loader))
    return fit(model, lambda out, ref: sice_loss(out, ref, recipe.detail_weight), loader, epochs=recipe.epochs,
               optimizer=optimizer, scheduler=scheduler, plot=plot, verbose=verbose)


def train_networks(recipe: EnhanceRecipe, seed: int = 0, plot: bool | None = False, verbose: bool = True,
                   names=NETWORKS) -> dict[str, tuple[nn.Module, dict]]:
    """``{name: (model, history)}`` for the ``names`` of :data:`NETWORKS` (:func:`build_networks` of width
    ``recipe.width``), initialised from ``seed`` and trained on the data of ``recipe`` with ``seed`` (the
    spread over seeds tells a real effect from luck). ``plot`` and ``verbose`` go to :func:`train_enhancer`."""
    recipe = replace(recipe, seed=check_int("seed", seed, 0))
    unknown = set(names) - set(NETWORKS)
    if unknown:
        raise ValueError(f"train_networks: unknown network(s) {sorted(unknown)}; choose from {NETWORKS}")
    torch.manual_seed(seed)
    return {name: (model, train_enhancer(model, recipe, plot=plot, verbose=verbose))
            for name, model in build_networks(recipe.width).items() if name in names}


@torch.no_grad()
def enhance(model: nn.Module, image: torch.Tensor) -> torch.Tensor:
    """The network's enhancement of one RGB ``(3, H, W)`` image in [0, 1], clipped to [0, 1]."""
    check_module(model)
    was_training = model.training
    output = model.eval()(image[None])[0].clamp(0, 1)
    model.train(was_training)
    return output


def score_enhancer(fn, pairs: dict) -> dict[tuple[str, str], dict[str, float]]:
    """``{(name, kind): {"psnr", "ssim", "detail"}}``: the method ``fn`` (RGB ``(3, H, W)`` -> RGB) on each of
    ``pairs`` (:func:`held_out_pairs`), with PSNR (dB) and SSIM against the fused reference, and ``detail``,
    the mean absolute error of the detail layer (:func:`frequency_split`) against the reference's, in 1/255."""
    scores = {}
    for key, (frame, reference) in pairs.items():
        output = fn(frame)
        detail_error = (frequency_split(output[None])[1] - frequency_split(reference[None])[1]).abs().mean()
        scores[key] = dict(psnr=psnr(output, reference).item(), ssim=ssim(output, reference).item(),
                           detail=255 * detail_error.item())
    return scores


def mean_scores(scores: dict[tuple[str, str], dict[str, float]]) -> dict[str, float]:
    """The mean of :func:`score_enhancer`'s scores, under- and over-exposed frames apart:
    ``{"psnr_under", "ssim_under", "detail_under", "psnr_over", ...}``."""
    means = {}
    for kind in ("under", "over"):
        rows = [row for (_, k), row in scores.items() if k == kind]
        for metric in ("psnr", "ssim", "detail"):
            means[f"{metric}_{kind}"] = sum(row[metric] for row in rows) / len(rows)
    return means


def evaluate_enhancers(methods: dict, pairs: dict) -> dict[str, dict[str, float]]:
    """For each named method (RGB ``(3, H, W)`` -> RGB), :func:`mean_scores` of its :func:`score_enhancer`
    on ``pairs``: ``{method: {"psnr_under", "ssim_under", "detail_under", "psnr_over", ...}}``."""
    return {method: mean_scores(score_enhancer(fn, pairs)) for method, fn in methods.items()}


def compare_networks(recipe: EnhanceRecipe, seeds, pairs: dict, control_seeds=None, verbose: bool = False) -> dict:
    """Train :data:`NETWORKS` with each of ``seeds`` (:func:`train_networks`; the one-stage control only with
    ``control_seeds``, default ``seeds``; ``()`` leaves it out) and score them on ``pairs``. Returns ``{"scores": {name:
    [score_enhancer's scores, one per seed]}, "histories": {(name, seed): history}, "models": {name: the
    model of the first seed}, "all_models": {name: [the model of each seed]}}``."""
    control_seeds = seeds if control_seeds is None else control_seeds
    trained = [name for name in NETWORKS if (control_seeds if name == "one-stage" else seeds)]
    runs = {"scores": {name: [] for name in trained}, "histories": {}, "models": {},
            "all_models": {name: [] for name in trained}}
    for seed in dict.fromkeys([*seeds, *control_seeds]):
        names = [n for n in NETWORKS if seed in (control_seeds if n == "one-stage" else seeds)]
        for name, (model, history) in train_networks(recipe, seed, verbose=verbose, names=names).items():
            runs["scores"][name].append(score_enhancer(lambda x, m=model: enhance(m, x), pairs))
            runs["histories"][name, seed] = history
            runs["models"].setdefault(name, model)
            runs["all_models"][name].append(model)
    return runs


def seed_statistics(values) -> tuple[float, float]:
    """``(mean, standard deviation)`` over seeds (the deviation is 0 for one seed)."""
    values = list(values)
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return mean, sd


def chroma_deviation(image: torch.Tensor) -> float:
    """How far the colour of an RGB ``(3, H, W)`` image is from grey: the mean over its pixels of the distance
    of (Cb, Cr) from their neutral value 128/255 (BT.601), in units of 1/255. 0 for a grey image."""
    cbcr = rgb_to_ycbcr(image)[-2:] - 128 / 255
    return 255 * cbcr.norm(dim=0).mean().item()
