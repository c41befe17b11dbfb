"""Notebook 10's experiment ("Reflection removal"): how a separation network trains (:class:`ReflectionRecipe`,
:func:`train_separation`), the shipped linear-light network's recipe, training and checkpoint, and the scoring on
held-out blends with paired bootstrap intervals; ``benchmarks/applications.py reflection`` and
``scripts/train_reflection_checkpoint.py`` run the same.

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

from course_lib.config import pick
from course_lib.data.reflection import evaluation_blends, reflection_training_pairs
from course_lib.data.samples import TRAIN_IMAGES
from course_lib.losses.reflection import separation_loss
from course_lib.metrics import paired_bootstrap, psnr, ssim
from course_lib.models.reflection import LinearLightSeparationNet, gradient_correlation
from course_lib.train import fit, predict
from course_lib.validate import check_image_batch, check_module

__all__ = ["ReflectionRecipe", "reflection_recipe", "train_separation", "separate", "evaluate_separation",
           "score_separation", "paired_comparison", "comparison_table", "LINEAR_LIGHT_SSIM_WEIGHT",
           "LINEAR_LIGHT_CHECKPOINT", "linear_light_recipe", "train_linear_light", "load_linear_light_checkpoint"]


@dataclass(frozen=True)
class ReflectionRecipe:
    """How a separation network trains (:func:`train_separation`): ``n_patches`` blends of ``patch x patch``
    crops of ``photos`` (:func:`reflection_training_pairs`, drawn from ``seed``; ``augment`` adds its scale
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
    photos: tuple[str, ...] = TRAIN_IMAGES

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
                                                                  recipe.augment, recipe.photos)
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
