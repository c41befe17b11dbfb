"""Notebook 11's experiments ("Super resolution"): how SRCNN and ESPCN train (:class:`SRRecipe`, :func:`train_sr`,
:func:`train_srcnn` and the shipped SRCNN's checkpoint), the perceptual fine-tuning (:class:`PerceptualSRRecipe`,
:func:`fine_tune_sr_perceptual`) and the scoring on the held-out images; ``benchmarks/applications.py
super_resolution`` and ``scripts/train_srcnn_checkpoint.py`` run the same.

    history = train_sr(model, sr_recipe())      # patches of TRAIN_IMAGES, MSE on Y
    model = train_srcnn(FULL_SR_RECIPE)         # the same, seeded by the recipe (about 7 minutes on 2 CPU cores)
    model = load_srcnn_checkpoint()             # that training, shipped (scripts/train_srcnn_checkpoint.py)
    fine_tune_sr_perceptual(espcn, perceptual_sr_recipe(), seed=1)   # SR with Eq. 2 (Johnson et al. 2016, §4.2)
    evaluate_sr(model, 3)                       # PSNR on Y, border 3, per HELD_OUT_IMAGES image
    sr_quality(model, 3)                        # PSNR, SSIM and fine detail (high_frequency_ratio) per image
    rgb = super_resolve(model, low_res_rgb)     # Y by the network, Cb and Cr by bicubic
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from importlib import resources

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.config import pick
from course_lib.data import HELD_OUT_IMAGES, TRAIN_IMAGES, sample_image
from course_lib.data.degrade import downscale, modcrop, random_patches
from course_lib.losses.perceptual import PerceptualLoss
from course_lib.metrics import high_frequency_ratio, psnr_y, rgb_to_y, rgb_to_ycbcr, ssim_y, ycbcr_to_rgb
from course_lib.models.srcnn import SRCNN
from course_lib.profiling import latency
from course_lib.train import fit
from course_lib.validate import check_int, check_module
from course_lib.weights import load_half_checkpoint, save_half_checkpoint

__all__ = ["SRRecipe", "FULL_SR_RECIPE", "sr_recipe", "srcnn_short_recipe", "PerceptualSRRecipe",
           "perceptual_sr_recipe", "sr_training_data", "train_sr", "train_srcnn", "fine_tune_sr_perceptual",
           "SRCNN_CHECKPOINT", "save_srcnn_checkpoint", "load_srcnn_checkpoint", "sr_held_out_pairs", "sr_quality",
           "super_resolve", "evaluate_sr", "compare_sr"]


@dataclass(frozen=True)
class SRRecipe:
    """How notebook 11 trains SRCNN and ESPCN (``benchmarks/applications.py`` runs the same):
    ``n_patches`` random ``patch x patch`` crops of :data:`TRAIN_IMAGES` (flipped and rotated), the
    luminance of their bicubic ``scale``-times downscaled copies as input, MSE on Y as loss (both
    papers), Adam with a one-cycle learning rate up to ``max_lr`` for ``epochs`` passes."""

    n_patches: int
    epochs: int
    scale: int = 3
    patch: int = 48
    batch_size: int = 32
    max_lr: float = 1e-3
    seed: int = 0


#: The full recipe: 16384 patches of 48 x 48 for 16 epochs (about 7 minutes for SRCNN and 2 for ESPCN on
#: 2 CPU cores). ``scripts/train_srcnn_checkpoint.py`` trains the shipped SRCNN with it.
FULL_SR_RECIPE = SRRecipe(n_patches=16384, epochs=16)


def sr_recipe() -> SRRecipe:
    """The mode's recipe: :data:`FULL_SR_RECIPE` in full mode, 1024 patches for one epoch in fast mode
    (``benchmarks/applications.py`` measures the full one against the targets)."""
    return pick(fast=SRRecipe(n_patches=1024, epochs=1), full=FULL_SR_RECIPE)


def srcnn_short_recipe() -> SRRecipe:
    """What notebook 11 trains SRCNN with before it loads the checkpoint of the full recipe: in full mode
    :func:`sr_recipe`'s patches for 2 epochs (the one-cycle schedule squeezed into them; about a minute on
    2 CPU cores), in fast mode :func:`sr_recipe` itself."""
    return pick(fast=sr_recipe(), full=replace(FULL_SR_RECIPE, epochs=2))


@dataclass(frozen=True)
class PerceptualSRRecipe:
    """Notebook 11 §5 (Johnson et al. 2016, §4.2): the MSE-trained network fine-tuned with the feature
    reconstruction loss (Eq. 2) at ``layer`` of the loss network ``vgg_features(..., source=source)``,
    alone, on ``fine_tune``'s patches, once for each of ``seeds`` (the seed draws the patches and their
    order). ``source="course"``: the course-trained VGG-19 (through a random VGG the fine-tune moves
    PSNR and fine detail far less; ``benchmarks/applications.py`` measures both)."""

    fine_tune: SRRecipe
    layer: str = "relu2_2"
    source: str = "course"
    seeds: tuple[int, ...] = (1, 2, 3)


def perceptual_sr_recipe() -> PerceptualSRRecipe:
    """The mode's fine-tuning: in full mode 4 epochs of 4096 patches at ``max_lr=5e-4`` (about 20 s
    per seed on 2 CPU cores), in fast mode one epoch of 256."""
    return PerceptualSRRecipe(pick(fast=SRRecipe(n_patches=256, epochs=1, max_lr=5e-4),
                                   full=SRRecipe(n_patches=4096, epochs=4, max_lr=5e-4)))


def sr_training_data(recipe: SRRecipe) -> torch.utils.data.TensorDataset:
    """(low-resolution Y, high-resolution Y) pairs: ``(N, 1, p/s, p/s)`` and ``(N, 1, p, p)``."""
    images = [sample_image(name) for name in TRAIN_IMAGES]
    high = random_patches(images, recipe.patch, recipe.n_patches, seed=recipe.seed)
    return torch.utils.data.TensorDataset(rgb_to_y(downscale(high, recipe.scale)), rgb_to_y(high))


def train_sr(model: nn.Module, recipe: SRRecipe, loss_fn=F.mse_loss, plot: bool | None = None,
             title: str | None = None, verbose: bool = True) -> dict:
    """Train ``model`` (low-resolution Y to high-resolution Y) with ``recipe``; the history of ``fit``,
    which shows a progress bar and, in a notebook, a loss plot headed ``title`` (``plot=False``: none;
    ``verbose=False``: no per-epoch lines either).

    The model is moved to the ``channels_last`` memory format first (in place): on a CPU its
    convolutions then run about 1.4x faster, with the same results up to rounding."""
    check_module(model)
    model.to(memory_format=torch.channels_last)
    loader = torch.utils.data.DataLoader(sr_training_data(recipe), batch_size=recipe.batch_size, shuffle=True,
                                         generator=torch.Generator().manual_seed(recipe.seed))
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.max_lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, recipe.max_lr, epochs=recipe.epochs,
                                                    steps_per_epoch=len(loader))
    return fit(model, loss_fn, loader, epochs=recipe.epochs, optimizer=optimizer, scheduler=scheduler, plot=plot,
               title=title, verbose=verbose)


def train_srcnn(recipe: SRRecipe, plot: bool | None = None, verbose: bool = True) -> SRCNN:
    """A 9-1-5 :class:`SRCNN` for ``recipe.scale``, initialised with seed ``recipe.seed`` and trained by
    :func:`train_sr` (loss plot headed "SRCNN 9-1-5"): the notebook, the checkpoint script and the
    benchmark all train SRCNN this way."""
    torch.manual_seed(recipe.seed)
    model = SRCNN(recipe.scale)
    train_sr(model, recipe, plot=plot, title="SRCNN 9-1-5", verbose=verbose)
    return model


def fine_tune_sr_perceptual(model: nn.Module, recipe: PerceptualSRRecipe, seed: int, loss: PerceptualLoss | None = None,
                            plot: bool | None = None, title: str | None = None, verbose: bool = True) -> dict:
    """Super resolution with the feature reconstruction loss (Johnson et al. 2016, §4.2: Eq. 2 at
    relu2_2 instead of a per-pixel loss): fine-tune ``model`` (low-resolution Y to high-resolution Y,
    e.g. an MSE-trained ESPCN) in place with ``recipe``,
    its patches drawn by ``seed``. Y is clipped to [0, 1] and repeated to 3 channels for the loss
    network. ``loss``: a ``PerceptualLoss`` to reuse (default: built from the recipe). Returns the
    history of ``train_sr`` (progress bar; loss plot headed ``title`` unless ``plot=False``;
    ``verbose=False``: no per-epoch lines)."""
    loss = loss or PerceptualLoss([recipe.layer], source=recipe.source)

    def on_luminance(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return loss(output.clamp(0, 1).expand(-1, 3, -1, -1), target.clamp(0, 1).expand(-1, 3, -1, -1))

    return train_sr(model, replace(recipe.fine_tune, seed=seed), loss_fn=on_luminance, plot=plot, title=title,
                    verbose=verbose)


#: Where ``scripts/train_srcnn_checkpoint.py`` writes the shipped SRCNN, inside the package (its own folder:
#: every ``.pt`` directly in ``checkpoints/`` is a style network).
SRCNN_CHECKPOINT = "checkpoints/srcnn/srcnn_x3.pt"


def save_srcnn_checkpoint(model: SRCNN, path, meta: dict) -> None:
    """``model`` in half precision with its ``scale`` and ``residual`` and ``meta``
    (:func:`~course_lib.weights.save_half_checkpoint`)."""
    check_module(model)
    save_half_checkpoint(path, model, meta, scale=model.scale, residual=model.residual)


def load_srcnn_checkpoint(path=None) -> SRCNN:
    """The course's SRCNN trained with :data:`FULL_SR_RECIPE` by ``scripts/train_srcnn_checkpoint.py``, in
    eval mode, with the script's ``meta`` (recipe, seconds, held-out scores) on ``model.meta``; ``path`` reads
    another file of :func:`save_srcnn_checkpoint`. In the ``channels_last`` memory format, as
    :func:`train_sr` leaves a network, so that it is timed as the networks trained in the notebook."""
    source = resources.files("course_lib").joinpath(*SRCNN_CHECKPOINT.split("/")) if path is None else path
    if path is None and not source.is_file():
        raise FileNotFoundError(f"the course's SRCNN checkpoint course_lib/{SRCNN_CHECKPOINT} is missing; "
                                "make it with: python scripts/train_srcnn_checkpoint.py")
    return load_half_checkpoint(source, SRCNN).to(memory_format=torch.channels_last)


def sr_held_out_pairs(scale: int = 3) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{name: (low_res, high_res)}`` RGB ``(3, h, w)`` / ``(3, s h, s w)`` for :data:`HELD_OUT_IMAGES`:
    the image cropped to a multiple of ``scale`` and its :func:`downscale`."""
    scale = check_int("scale", scale, 2, expected="an int >= 2 (the upscaling factor)")
    pairs = {}
    for name in HELD_OUT_IMAGES:
        high = modcrop(sample_image(name), scale)
        pairs[name] = (downscale(high, scale), high)
    return pairs


def sr_quality(model: nn.Module, scale: int = 3) -> dict[str, dict[str, float]]:
    """``{image: {"psnr": dB, "ssim": ..., "detail": ...}}`` on the held-out images, all on Y with a
    ``scale``-pixel border cropped: :func:`~course_lib.metrics.psnr_y`, :func:`~course_lib.metrics.ssim_y`
    and :func:`~course_lib.metrics.high_frequency_ratio` (fine detail relative to the truth's, 1 = as much)."""
    results = {}
    for name, (low, high) in sr_held_out_pairs(scale).items():
        output = super_resolve(model, low)
        results[name] = dict(psnr=psnr_y(output, high, scale).item(), ssim=ssim_y(output, high, scale).item(),
                             detail=high_frequency_ratio(output, high, scale).item())
    return results


@torch.no_grad()
def super_resolve(model: nn.Module, low_res: torch.Tensor) -> torch.Tensor:
    """Upscale an RGB ``(3, h, w)`` or ``(N, 3, h, w)`` image in [0, 1]: the network on Y, bicubic on
    Cb and Cr (SRCNN §4.4.1, ESPCN §3.1), clipped to [0, 1]."""
    check_module(model)
    ycbcr = rgb_to_ycbcr(low_res)
    batch = ycbcr if ycbcr.ndim == 4 else ycbcr[None]
    was_training = model.training
    y = model.eval()(batch[:, :1])
    model.train(was_training)
    chroma = F.interpolate(batch[:, 1:], size=y.shape[-2:], mode="bicubic", align_corners=False)
    rgb = ycbcr_to_rgb(torch.cat([y, chroma], 1)).clamp(0, 1)
    return rgb if ycbcr.ndim == 4 else rgb[0]


def evaluate_sr(model: nn.Module, scale: int = 3) -> dict[str, float]:
    """PSNR on Y in dB with a ``scale``-pixel border cropped, per held-out image (:func:`sr_held_out_pairs`)."""
    return {name: psnr_y(super_resolve(model, low), high, border=scale).item()
            for name, (low, high) in sr_held_out_pairs(scale).items()}


def compare_sr(models: dict[str, nn.Module], scale: int = 3, output_size: int = 510, repeats: int = 5) -> dict:
    """Accuracy and speed side by side: for each named model the held-out PSNR on Y
    (:func:`evaluate_sr`: ``"psnr"`` per image and ``"mean"``) and ``"ms"``, the median time of one
    ``output_size x output_size`` luminance output (from a random low-resolution input), all timed in
    this one call so that their ratios hold on a loaded machine."""
    size = check_int("output_size", output_size, scale, expected=f"an int >= {scale}")
    if size % scale:
        raise ValueError(f"output_size {size} is not a multiple of scale {scale}")
    low = torch.rand(1, 1, size // scale, size // scale, generator=torch.Generator().manual_seed(0))
    results = {}
    for name, model in models.items():
        per_image = evaluate_sr(model, scale)
        results[name] = dict(psnr=per_image, mean=sum(per_image.values()) / len(per_image),
                             ms=1000 * latency(model, low, repeats=repeats))
    return results
