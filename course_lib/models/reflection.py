"""Reflection separation: Zhang, Ng & Chen, "Single Image Reflection Separation with Perceptual Losses",
CVPR 2018 (arXiv 1806.05376) — a network that splits a photo through glass, I = B + R, into the
background B (the paper's transmission layer T) and the reflection R; and the classical prior it
is compared with (Li & Brown, "Single Image Layer Separation using Relative Smoothness", CVPR 2014).

    model = SeparationNet()                          # blend (N, 3, H, W) -> B and R stacked: (N, 6, H, W)
    classical = RelativeSmoothness()                 # Li & Brown 2014: the classical baseline
    loss = exclusion_loss(b, r)                      # Eq. 4-5 (course_lib.losses.reflection): edges of B and R apart
    gradient_correlation(b, r)                       # how much they do coincide (a measure, not a loss)
    model = load_linear_light_checkpoint()           # the shipped network (scripts/train_reflection_checkpoint.py)
    train_separation(model, reflection_recipe(), separation_loss(exclusion_weight=0.1))   # fine-tune it
    scores = evaluate_separation(model)              # per held-out blend: PSNR/SSIM of B, gradient correlation
    paired_comparison(scores, evaluate_separation(DoNothing()))   # differences with bootstrap intervals
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Callable

import torch
from torch import nn
from torchvision.transforms.v2 import functional as TF

from course_lib.config import pick
from course_lib.data.reflection import GAMMA, evaluation_blends, reflection_training_pairs
from course_lib.losses.reflection import separation_loss
from course_lib.metrics import paired_bootstrap, psnr, ssim
from course_lib.train import fit, predict
from course_lib.validate import check_image_batch, check_int, check_layer_pair, check_module

__all__ = ["gradient_correlation", "SeparationNet", "LinearLightSeparationNet", "RelativeSmoothness",
           "DoNothing", "paired_comparison", "comparison_table", "score_separation",
           "ReflectionRecipe", "reflection_recipe", "train_separation", "separate",
           "evaluate_separation", "LINEAR_LIGHT_SSIM_WEIGHT", "LINEAR_LIGHT_CHECKPOINT", "linear_light_recipe",
           "train_linear_light", "load_linear_light_checkpoint"]


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


@dataclass(frozen=True)
class ReflectionRecipe:
    """How a separation network trains (:func:`train_separation`): ``n_patches`` blends of ``patch x patch``
    crops of ``TRAIN_IMAGES`` (:func:`reflection_training_pairs`, drawn from ``seed``; ``augment`` adds its scale
    and brightness augmentation), batches of ``batch_size``, Adam with a one-cycle learning rate up to ``max_lr``
    for ``epochs`` passes. The extra losses of notebook 10's fine-tunings: ``exclusion_weight`` times
    :func:`~course_lib.losses.reflection.exclusion_loss` (switched on after ``exclusion_start`` of the steps, :attr:`exclusion_after`) and
    ``perceptual_weight`` times a perceptual loss on B at ``perceptual_layers`` of the course's loss network
    (notebook 07). :func:`reflection_recipe` is the notebook's fine-tuning, :func:`linear_light_recipe` the
    shipped checkpoint's training."""

    n_patches: int
    epochs: int
    patch: int = 64
    batch_size: int = 16
    max_lr: float = 2e-3
    width: int = 24
    exclusion_weight: float = 0.1
    seed: int = 0
    perceptual_weight: float = 10.0
    perceptual_layers: tuple[str, ...] = ("relu1_2",)
    augment: bool = False
    exclusion_start: float = 0.0

    def __post_init__(self):
        start = self.exclusion_start
        if isinstance(start, bool) or not isinstance(start, (int, float)) or not 0 <= start < 1:
            raise ValueError(f"exclusion_start must be a share of the training steps in [0, 1), got {start!r}")

    @property
    def steps(self) -> int:
        """Training steps: ``epochs`` passes of ``ceil(n_patches / batch_size)`` batches."""
        return self.epochs * -(-self.n_patches // self.batch_size)

    @property
    def exclusion_after(self) -> int:
        """The steps before the exclusion loss is switched on: ``separation_loss(exclusion_after=...)``."""
        return round(self.exclusion_start * self.steps)


def reflection_recipe() -> ReflectionRecipe:
    """Notebook 10's fine-tuning of the shipped network: in full mode 1,600 blends for 2 epochs (200 steps) at a
    quarter of the checkpoint's learning rate, in fast mode 64 blends for one epoch."""
    return pick(fast=ReflectionRecipe(n_patches=64, epochs=1, max_lr=5e-4),
                full=ReflectionRecipe(n_patches=1600, epochs=2, max_lr=5e-4))


def train_separation(model: nn.Module, recipe: ReflectionRecipe, loss_fn: Callable | None = None,
                     plot: bool | None = None, title: str | None = None) -> dict:
    """Train ``model`` (blend to B and R) with ``recipe``; ``loss_fn`` defaults to L1 alone
    (:func:`~course_lib.losses.reflection.separation_loss`); ``title`` names the loss plot. Returns the history of ``course_lib.train.fit``."""
    check_module(model)
    blends, backgrounds, reflections = reflection_training_pairs(recipe.n_patches, recipe.patch, recipe.seed,
                                                                  recipe.augment)
    data = torch.utils.data.TensorDataset(blends, torch.cat([backgrounds, reflections], 1))
    loader = torch.utils.data.DataLoader(data, batch_size=recipe.batch_size, shuffle=True,
                                         generator=torch.Generator().manual_seed(recipe.seed))
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.max_lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, recipe.max_lr, epochs=recipe.epochs,
                                                    steps_per_epoch=len(loader))
    return fit(model, loss_fn or separation_loss(), loader, epochs=recipe.epochs, optimizer=optimizer,
               scheduler=scheduler, plot=plot, title=title)


def separate(model: nn.Module, blends: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, R)``, each ``(N, 3, H, W)`` clipped to [0, 1], of a batch of blends."""
    check_module(model)
    check_image_batch(blends, "blends")
    out = predict(model, blends).clamp(0, 1)
    return out[:, :3], out[:, 3:]


@functools.lru_cache(maxsize=2)
def _evaluation_set(crops_per_pair: int, size: int):
    return evaluation_blends(crops_per_pair, size)


def evaluate_separation(model: nn.Module, crops_per_pair: int = 17, size: int = 128) -> dict[str, torch.Tensor]:
    """``model`` (blend to B and R stacked) on the held-out test set
    :func:`~course_lib.data.reflection.evaluation_blends` (102 blends by default): one value per blend of the PSNR
    and SSIM of the predicted B against the true background (``"psnr"``, ``"ssim"``) and the
    :func:`gradient_correlation` of the predicted B and R (``"correlation"``). Compare two methods with
    :func:`paired_comparison`; :data:`DO_NOTHING` is the baseline B = I."""
    blends, backgrounds, _, _ = _evaluation_set(crops_per_pair, size)
    return score_separation(model, blends, backgrounds)


def score_separation(model: nn.Module, blends: torch.Tensor, backgrounds: torch.Tensor) -> dict[str, torch.Tensor]:
    """:func:`evaluate_separation` on any blends and their true backgrounds ``(N, 3, H, W)``."""
    check_image_batch(backgrounds, "backgrounds")
    b, r = separate(model, blends)
    return dict(psnr=psnr(b, backgrounds, reduction="none"), ssim=ssim(b, backgrounds, reduction="none"),
                correlation=gradient_correlation(b, r, reduction="none"))


class DoNothing(nn.Module):
    """The baseline that separates nothing: B = I, R = 0 (outputs stacked like :class:`SeparationNet`)."""

    def forward(self, blend: torch.Tensor) -> torch.Tensor:
        return torch.cat([blend, torch.zeros_like(blend)], 1)


def paired_comparison(scores: dict[str, torch.Tensor], baseline: dict[str, torch.Tensor],
                      keys=("psnr", "ssim"), seed: int = 0) -> dict[str, tuple[float, float, float]]:
    """For each of ``keys``, the mean difference ``scores - baseline`` over the same blends (two results of
    :func:`evaluate_separation`) and its paired bootstrap 95 % interval
    (:func:`course_lib.metrics.paired_bootstrap`, 2,000 resamples): ``{"psnr": (mean, low, high), ...}``."""
    return {key: paired_bootstrap(scores[key], baseline[key], seed=seed) for key in keys}


_UNITS = {"psnr": ("PSNR of B", "dB", 2), "ssim": ("SSIM of B", "", 4), "correlation": ("grad. corr.", "", 3)}


def comparison_table(scores: dict[str, dict[str, torch.Tensor]], baseline: str, rows=None,
                     keys=("psnr", "ssim")) -> str:
    """A printable table: for each method of ``rows`` (default: every method of ``scores`` but the baseline),
    its mean difference from ``scores[baseline]`` and the 95 % interval of :func:`paired_comparison`, per key
    (``"psnr"`` in dB, ``"ssim"``, ``"correlation"``); the baseline's own means head the table."""
    rows = [name for name in scores if name != baseline] if rows is None else list(rows)
    width = max(len(name) for name in [*rows, baseline]) + 4
    header = "".join(f"{_UNITS[key][0]:>28}" for key in keys)
    base = "".join(f"{scores[baseline][key].mean().item():>28.{_UNITS[key][2]}f}" for key in keys)
    lines = [f"{'':<{width}}{header}", f"{baseline:<{width}}{base}",
             f"difference from it, mean [95 % paired bootstrap interval]:"]
    for name in rows:
        cells = []
        for key, (mean, low, high) in paired_comparison(scores[name], scores[baseline], keys).items():
            digits = _UNITS[key][2]
            cells.append(f"{mean:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]".rjust(28))
        lines.append(f"{'  ' + name:<{width}}" + "".join(cells))
    return "\n".join(lines)


#: The SSIM weight of the shipped :class:`LinearLightSeparationNet`: ``separation_loss(ssim_weight=3.0)``.
LINEAR_LIGHT_SSIM_WEIGHT = 3.0
#: Where ``scripts/train_reflection_checkpoint.py`` writes it (inside the installed package).
LINEAR_LIGHT_CHECKPOINT = "checkpoints/reflection/linear_light.pt"


def linear_light_recipe(seed: int = 0) -> ReflectionRecipe:
    """The recipe of the shipped :class:`LinearLightSeparationNet`: 1,365 blends of 96x96 patches (the pixels of
    3,072 patches of 64x64), 8 epochs, seed ``seed``: a patch shows more of a scene next to its reflection."""
    return ReflectionRecipe(n_patches=1365, epochs=8, patch=96, seed=seed)


def train_linear_light(recipe: ReflectionRecipe | None = None, plot: bool | None = False) -> LinearLightSeparationNet:
    """Train a :class:`LinearLightSeparationNet` (width ``recipe.width``, ``reflection_sigma`` 1.5) with ``recipe``
    (default :func:`linear_light_recipe`, about 8 minutes on 2 CPU cores) and L1 + ``LINEAR_LIGHT_SSIM_WEIGHT``
    (1 - SSIM of B), seeded by ``recipe.seed``. ``scripts/train_reflection_checkpoint.py`` runs it and saves the
    result."""
    recipe = linear_light_recipe() if recipe is None else recipe
    torch.manual_seed(recipe.seed)
    model = LinearLightSeparationNet(recipe.width, reflection_sigma=1.5)
    title = f"LinearLightSeparationNet, L1 + {LINEAR_LIGHT_SSIM_WEIGHT:g} (1 - SSIM), {recipe.patch}-px patches"
    train_separation(model, recipe, separation_loss(ssim_weight=LINEAR_LIGHT_SSIM_WEIGHT), plot=plot, title=title)
    return model


def load_linear_light_checkpoint() -> LinearLightSeparationNet:
    """The course's trained :class:`LinearLightSeparationNet` (eval mode) with its ``meta`` (recipe, loss,
    training images, seconds) on ``model.meta``; read with ``torch.load(weights_only=True)``. Raises
    ``FileNotFoundError`` naming the script that makes it."""
    path = resources.files("course_lib") / LINEAR_LIGHT_CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(f"the course's reflection checkpoint course_lib/{LINEAR_LIGHT_CHECKPOINT} is missing; "
                                "make it with: python scripts/train_reflection_checkpoint.py")
    with path.open("rb") as file:
        saved = torch.load(file, map_location="cpu", weights_only=True)
    model = LinearLightSeparationNet(saved["width"], reflection_sigma=saved["reflection_sigma"])
    model.load_state_dict(saved["state_dict"])
    model.meta = saved["meta"]
    return model.eval()
