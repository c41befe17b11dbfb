"""Reflection separation: Zhang, Ng & Chen, "Single Image Reflection Separation with Perceptual Losses",
CVPR 2018 (arXiv 1806.05376) — a network that splits a photo through glass, I = B + R, into the
background B (the paper's transmission layer T) and the reflection R; and the classical prior it
is compared with (Li & Brown, "Single Image Layer Separation using Relative Smoothness", CVPR 2014).

    model = SeparationNet()                          # blend (N, 3, H, W) -> B and R stacked: (N, 6, H, W)
    prior = fit_smoothness_prior(blends, backgrounds)   # the low/high-frequency baseline
    loss = exclusion_loss(b, r)                      # Eq. 4-5: edges of B and R should not coincide
    gradient_correlation(b, r)                       # how much they do coincide (a measure, not a loss)
    history = train_separation(model, reflection_recipe(), exclusion_weight=0.1)
    evaluate_separation(model)                       # PSNR/SSIM of B and the correlation, held-out blends
    model = load_linear_light_checkpoint()           # the shipped network: ties the prior on SSIM (notebook 10, §3)
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from importlib import resources
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.transforms.v2 import functional as TF

from course_lib.config import pick
from course_lib.data.reflection import GAMMA, held_out_blends, reflection_training_pairs
from course_lib.metrics import psnr, ssim
from course_lib.train import fit, predict
from course_lib.validate import check_float_batch, check_image_batch, check_int, check_module

__all__ = ["exclusion_loss", "gradient_correlation", "SeparationNet", "LinearLightSeparationNet", "SmoothnessPrior",
           "fit_smoothness_prior",
           "ReflectionRecipe", "reflection_recipe", "separation_loss", "train_separation", "separate",
           "evaluate_separation", "LINEAR_LIGHT_SSIM_WEIGHT", "LINEAR_LIGHT_CHECKPOINT", "linear_light_recipe",
           "train_linear_light", "load_linear_light_checkpoint"]


def _check_layers(b, r, where: str) -> None:
    check_float_batch(b, "b", where)
    check_float_batch(r, "r", where)
    if b.shape != r.shape:
        raise ValueError(f"{where}: b and r must have the same shape, got {tuple(b.shape)} and {tuple(r.shape)}")
    if min(b.shape[-2:]) < 2:
        raise ValueError(f"{where}: images must be at least 2x2 to have gradients, got {tuple(b.shape[-2:])}")


def exclusion_loss(b: torch.Tensor, r: torch.Tensor, levels: int = 3) -> torch.Tensor:
    """The exclusion loss of Zhang et al. §3.3, Eq. 4-5, averaged over the batch:

        L_excl = sum_{n=1..levels} sum_{x, y} || Psi(B_n, R_n) ||_F / sqrt(#entries)
        Psi(B, R) = tanh(lambda_B |grad B|) * tanh(lambda_R |grad R|)
        lambda_B = sqrt(||grad R||_F / ||grad B||_F),  lambda_R = sqrt(||grad B||_F / ||grad R||_F)

    ``grad`` is the forward difference (``torch.diff``) along x and along y, taken separately; the
    norms are per image over channels and positions; ``B_n`` is ``b`` downsampled ``n - 1`` times by 2
    (2x2 averages, i.e. bilinear by 1/2; the paper uses N = 3 levels). The lambdas put both layers'
    gradients on one scale, so that a faint reflection still counts. Dividing the Frobenius norm by
    the square root of its number of entries (not in the paper) makes the loss independent of the
    image size. ``b`` and ``r`` are ``(N, C, H, W)``; the result is 0 when no edge of one layer meets
    an edge of the other.
    """
    _check_layers(b, r, "exclusion_loss")
    levels = check_int("levels", levels, 1, expected="an int >= 1 (the number of scales)")
    total = b.new_zeros(())
    for level in range(levels):
        if level:
            if min(b.shape[-2:]) < 4:
                raise ValueError(f"exclusion_loss: {levels} levels need images of at least {2 ** levels}x"
                                 f"{2 ** levels}, got {tuple(r.shape[-2:])} at level {level + 1}")
            b, r = F.avg_pool2d(b, 2), F.avg_pool2d(r, 2)
        for dim in (-1, -2):
            grad_b, grad_r = torch.diff(b, dim=dim).abs(), torch.diff(r, dim=dim).abs()
            norm_b = grad_b.flatten(1).norm(dim=1).clamp_min(1e-8)[:, None, None, None]
            norm_r = grad_r.flatten(1).norm(dim=1).clamp_min(1e-8)[:, None, None, None]
            psi = torch.tanh((norm_r / norm_b).sqrt() * grad_b) * torch.tanh((norm_b / norm_r).sqrt() * grad_r)
            total = total + psi.flatten(1).pow(2).mean(1).sqrt().mean()
    return total


def gradient_correlation(b: torch.Tensor, r: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """How much the edges of two layers coincide: the Pearson correlation, over channels and positions,
    of the gradient magnitudes ``|torch.diff(b)|`` and ``|torch.diff(r)|``, along x and along y, averaged
    over the two directions. Near 0 for unrelated layers, 1 when every edge of one is an edge of the other
    (what a separation that leaves the blend's edges in both layers gives). One value per image
    (``reduction="none"``) or their mean (``"mean"``). A measure: the loss that lowers it is
    :func:`exclusion_loss`."""
    _check_layers(b, r, "gradient_correlation")
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
    B = I and R = 0: training starts at the answer of the fitted smoothness prior (notebook 10, §3)."""

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
    and brighten, so it cannot paint the dilations' grid into B (notebook 10, §3). It starts near the blend:
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


class SmoothnessPrior(nn.Module):
    """The classical baseline, after Li & Brown 2014 ("the reflection is smoother"): the reflection is
    a share of the low frequencies, ``R = (1 - share) · G_sigma * I``, and the background the rest,
    ``B = I - R`` = the high frequencies of I plus ``share`` of its low ones. No learning; ``sigma`` and
    ``share`` are fitted on training blends by :func:`fit_smoothness_prior`. Outputs B and R stacked,
    like :class:`SeparationNet`."""

    def __init__(self, sigma: float = 3.0, share: float = 0.5):
        super().__init__()
        self.sigma, self.share = float(sigma), float(share)

    def forward(self, blend: torch.Tensor) -> torch.Tensor:
        check_image_batch(blend, "blend")
        size = 2 * int(3 * self.sigma) + 1
        reflection = (1 - self.share) * TF.gaussian_blur(blend, [size, size], [self.sigma, self.sigma])
        return torch.cat([blend - reflection, reflection], 1)


def fit_smoothness_prior(blends: torch.Tensor, backgrounds: torch.Tensor, sigmas=(1.0, 2.0, 4.0, 8.0),
                         shares=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0)) -> SmoothnessPrior:
    """The :class:`SmoothnessPrior` whose ``(sigma, share)`` from the grid gives the highest mean PSNR of
    B on ``blends`` (training blends: the held-out ones are for measuring)."""
    check_image_batch(blends, "blends")
    check_image_batch(backgrounds, "backgrounds")
    scores = {(sigma, share): psnr(SmoothnessPrior(sigma, share)(blends)[:, :3].clamp(0, 1), backgrounds).item()
              for sigma in sigmas for share in shares}
    return SmoothnessPrior(*max(scores, key=scores.get))


@dataclass(frozen=True)
class ReflectionRecipe:
    """How notebook 10 trains :class:`SeparationNet` (``benchmarks/applications.py`` runs the same):
    ``n_patches`` blends of ``patch x patch`` crops of ``TRAIN_IMAGES`` (:func:`reflection_training_pairs`),
    L1 on B and on R, plus ``exclusion_weight`` times :func:`exclusion_loss` where asked; Adam with a
    one-cycle learning rate up to ``max_lr`` for ``epochs`` passes; measured on held-out blends of
    ``held_out_size`` pixels. The perceptual stage (:meth:`finetuning`) continues from the L1 network for
    ``finetune_epochs`` passes at a quarter of the learning rate, adding ``perceptual_weight`` times a
    perceptual loss on B at ``perceptual_layers`` of the course's loss network (notebook 07). ``augment``
    draws the training blends with :func:`reflection_training_pairs`'s scale and brightness augmentation.
    ``exclusion_start``: the share of the training steps trained without the exclusion loss before it is
    switched on (:attr:`exclusion_after` steps; 0: from the first step)."""

    n_patches: int
    epochs: int
    patch: int = 64
    batch_size: int = 16
    max_lr: float = 2e-3
    width: int = 24
    exclusion_weight: float = 0.1
    held_out_size: int = 256
    seed: int = 0
    finetune_epochs: int = 2
    perceptual_weight: float = 10.0
    perceptual_layers: tuple[str, ...] = ("relu1_2",)
    augment: bool = False
    exclusion_start: float = 0.5

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

    def finetuning(self) -> "ReflectionRecipe":
        """The recipe of the perceptual stage: ``finetune_epochs`` passes at ``max_lr / 4``."""
        return replace(self, epochs=self.finetune_epochs, max_lr=self.max_lr / 4)


def reflection_recipe() -> ReflectionRecipe:
    """The mode's recipe: in full mode 3072 blends for 8 epochs (and 2 of fine-tuning), in fast mode 128 for
    one (and one)."""
    return pick(fast=ReflectionRecipe(n_patches=128, epochs=1, held_out_size=128, finetune_epochs=1),
                full=ReflectionRecipe(n_patches=3072, epochs=8))


def separation_loss(exclusion_weight: float = 0.0, perceptual: Callable | None = None,
                    perceptual_weight: float = 0.0, ssim_weight: float = 0.0, exclusion_after: int = 0) -> Callable:
    """The training loss on outputs and targets ``(N, 6, H, W)`` (B and R stacked): L1 on both layers,
    plus ``ssim_weight`` times ``1 - ssim(B predicted, B true)`` (:func:`course_lib.metrics.ssim`), plus
    ``exclusion_weight`` times :func:`exclusion_loss` of the predicted layers, plus
    ``perceptual_weight`` times ``perceptual(B predicted, B true)`` (e.g. notebook 07's
    ``PerceptualLoss``; Zhang et al. §3.2 use a feature loss on B).

    ``exclusion_after``: the exclusion term is left out of the loss's first ``exclusion_after`` calls.
    ``fit`` calls the loss once per training step (without a ``val_loader``, as in :func:`train_separation`),
    so these are warm-up steps: the network first learns what a background looks like, then is asked to keep
    its edges out of R (``ReflectionRecipe.exclusion_after``). Each new loss counts from 0."""
    exclusion_after = check_int("exclusion_after", exclusion_after, 0, expected="an int >= 0 (warm-up steps)")
    calls = itertools.count()

    def loss(output, target):
        step = next(calls)
        total = F.l1_loss(output, target)
        if ssim_weight:
            total = total + ssim_weight * (1 - ssim(output[:, :3].clamp(0, 1), target[:, :3]))
        if exclusion_weight and step >= exclusion_after:
            total = total + exclusion_weight * exclusion_loss(output[:, :3], output[:, 3:])
        if perceptual_weight:
            total = total + perceptual_weight * perceptual(output[:, :3].clamp(0, 1), target[:, :3])
        return total
    return loss


def train_separation(model: nn.Module, recipe: ReflectionRecipe, loss_fn: Callable | None = None,
                     plot: bool | None = None, title: str | None = None) -> dict:
    """Train ``model`` (blend to B and R) with ``recipe``; ``loss_fn`` defaults to L1 alone
    (:func:`separation_loss`); ``title`` names the loss plot. Returns the history of ``course_lib.train.fit``."""
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


def evaluate_separation(model: nn.Module, size: int = 256, seed: int = 0) -> dict[str, float]:
    """On :func:`~course_lib.data.reflection.held_out_blends`: mean PSNR and SSIM of the predicted B
    against the true background (``"psnr"``, ``"ssim"``) and the mean :func:`gradient_correlation` of
    the predicted B and R (``"correlation"``)."""
    blends, backgrounds, _ = (torch.stack(column) for column in zip(*held_out_blends(size, seed).values()))
    b, r = separate(model, blends)
    return dict(psnr=psnr(b, backgrounds).item(), ssim=ssim(b, backgrounds).item(),
                correlation=gradient_correlation(b, r).item())


#: The SSIM weight of the shipped :class:`LinearLightSeparationNet`: ``separation_loss(ssim_weight=3.0)``.
LINEAR_LIGHT_SSIM_WEIGHT = 3.0
#: Where ``scripts/train_reflection_checkpoint.py`` writes it (inside the installed package).
LINEAR_LIGHT_CHECKPOINT = "checkpoints/reflection/linear_light.pt"


def linear_light_recipe(seed: int = 0) -> ReflectionRecipe:
    """The recipe of the shipped :class:`LinearLightSeparationNet`: the full-mode recipe's pixels as 1,365
    patches of 96x96 instead of 3,072 of 64x64 (8 epochs, seed ``seed``), so that each patch shows more of
    a scene next to its reflection. The same network on 64-px patches stayed at the blend's SSIM
    (notebook 10, §3)."""
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
