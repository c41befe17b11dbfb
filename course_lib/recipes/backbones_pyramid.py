"""Notebook 05b's experiments ("Developments: backbones, pyramids, cascades, fewer labels"), each a recipe
dataclass, its training and its measurement; ``benchmarks/developments.py`` and
``scripts/train_cascade_checkpoints.py`` run the same.

- backbones: :class:`DegradationRecipe`, :func:`train_classifier`, :func:`degradation_experiment` (plain
  against residual ``models.backbones.DeepNet`` on digits, He et al. 2016);
- pyramid pooling: :class:`PyramidRecipe`, :func:`train_segmentation`, :func:`pyramid_experiment`
  (``models.pspnet.PSPNet`` with and without its module on the context scenes);
- the image cascade: :class:`ICNetRecipe`, :func:`train_cascade_pair`, the shipped pair's
  :func:`load_cascade_checkpoints`, :func:`cascade_experiment` (``models.icnet.ICNet`` against the same heavy
  network at full resolution);
- fewer labels: :class:`SemiSupervisedRecipe`, :func:`ema_teacher_self_training`,
  :func:`semi_supervised_experiment` (``models.self_training.pseudo_labels`` from an EMA teacher).
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, default_collate
from tqdm.auto import tqdm

from course_lib.config import pick
from course_lib.data import load_digits
from course_lib.data.context import CONTEXT_CLASS_NAMES, context_scenes, random_dihedral
from course_lib.losses.segmentation import CascadeLoss
from course_lib.metrics import mean_iou
from course_lib.models.backbones import DeepNet
from course_lib.models.icnet import ICNet
from course_lib.models.pspnet import IGNORE_INDEX, PSPNet
from course_lib.models.self_training import pseudo_labels
from course_lib.profiling import measure
from course_lib.train import fit, predict
from course_lib.weights import load_half_checkpoint, save_half_checkpoint

__all__ = ["DegradationRecipe", "degradation_recipe", "train_classifier", "degradation_experiment", "PyramidRecipe",
           "pyramid_recipe", "train_segmentation", "pyramid_experiment", "ICNetRecipe", "icnet_recipe",
           "CASCADE_CHECKPOINTS", "train_cascade_pair", "save_cascade_checkpoints", "load_cascade_checkpoints",
           "cascade_experiment", "SemiSupervisedRecipe", "semi_supervised_recipe", "EMA_TEACHER_STEP_COST",
           "ema_teacher_self_training", "semi_supervised_experiment"]


@dataclass(frozen=True)
class DegradationRecipe:
    """Plain nets of ``depths`` and a residual one of the deepest depth, each trained from seed 0 on
    ``n_train`` rendered digits for ``epochs`` with SGD (momentum 0.9, ``lr``, He et al. §4.2) and
    scored on ``n_val`` held-out digits; ``backbone_size`` and ``backbone_repeats`` for :func:`compare_backbones`."""

    n_train: int = 2048
    n_val: int = 512
    depths: tuple[int, ...] = (8, 32)
    epochs: int = 4
    batch_size: int = 64
    lr: float = 0.05
    width: int = 16
    backbone_size: int = 224
    backbone_repeats: int = 3


def degradation_recipe() -> DegradationRecipe:
    """Full mode: 2048 digits, 4 epochs, backbones timed at 224 px; fast mode: 512 digits, 2 epochs, 112 px."""
    return pick(fast=DegradationRecipe(n_train=512, n_val=256, epochs=2, backbone_size=112, backbone_repeats=1),
                full=DegradationRecipe())


def train_classifier(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, recipe: DegradationRecipe,
                     *, device=None, plot: bool = False, title: str | None = None) -> dict:
    """``fit`` ``model`` with cross-entropy and SGD (momentum 0.9) as ``recipe`` says; returns the history
    (``step_loss``: the training loss of every step, the curve of He et al. Fig. 1)."""
    loader = DataLoader(TensorDataset(images, labels), batch_size=recipe.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=0.9)
    return fit(model, nn.CrossEntropyLoss(), loader, epochs=recipe.epochs, optimizer=optimizer, device=device,
               plot=plot, title=title, verbose=False)


def degradation_experiment(recipe: DegradationRecipe, device=None, plot: bool = False) -> dict:
    """Train a plain :class:`DeepNet` of each of the recipe's depths and a residual one of the deepest,
    from seed 0, on the same digits. Returns ``{name: {"history", "accuracy"}}`` (held-out accuracy),
    names like ``"plain-8"`` and ``"residual-32"``."""
    images, labels = load_digits(recipe.n_train, seed=0)
    held_out, held_out_labels = load_digits(recipe.n_val, seed=1)
    nets = [(depth, False) for depth in recipe.depths] + [(max(recipe.depths), True)]
    result = {}
    for depth, residual in nets:
        name = f"{'residual' if residual else 'plain'}-{depth}"
        torch.manual_seed(0)
        model = DeepNet(depth, residual, recipe.width)
        history = train_classifier(model, images, labels, recipe, device=device, plot=plot, title=name)
        accuracy = (predict(model.cpu(), held_out).argmax(1) == held_out_labels).float().mean().item()
        result[name] = {"history": history, "accuracy": accuracy}
    return result


@dataclass(frozen=True)
class PyramidRecipe:
    """Notebook 05b's pyramid experiment: :class:`PSPNet` with and without the module, trained for each of
    ``seeds`` on ``n_train`` context scenes of ``image_size`` pixels (seed 0), scored on ``n_val`` held-out
    ones (seed 1); Adam with a one-cycle rate peaking at ``lr`` after ``warmup`` of the steps (see
    :func:`train_segmentation`), cross-entropy."""

    image_size: int = 64
    n_train: int = 1024
    n_val: int = 256
    epochs: int = 8
    batch_size: int = 16
    lr: float = 3e-3
    warmup: float = 0.2
    seeds: tuple[int, ...] = (0, 1, 2)


def pyramid_recipe() -> PyramidRecipe:
    """Full mode: 1024 scenes of 64 px, 8 epochs (512 steps; with 6 the pyramid net of seed 1 had not yet learned to
    use the cue), three seeds; fast mode: 192 scenes, 2 epochs, one seed."""
    return pick(fast=PyramidRecipe(n_train=192, n_val=64, epochs=2, seeds=(0,)), full=PyramidRecipe())


def train_segmentation(model: nn.Module, images: torch.Tensor, masks: torch.Tensor, *, epochs: int,
                       batch_size: int, lr: float, seed: int, warmup: float | None = None, augment: bool = False,
                       loss_fn=None, device=None, plot: bool = False, title: str | None = None) -> dict:
    """``fit`` ``model`` on ``(images, masks)`` batches shuffled by ``seed`` (Adam; ``loss_fn`` default
    cross-entropy ignoring :data:`IGNORE_INDEX`); returns the history. Seed the model's initialisation
    before building it. ``warmup=None``: a constant rate ``lr``; a fraction in (0, 1): one cycle
    (``OneCycleLR``), the rate rising from ``lr / 25`` to ``lr`` over that fraction of the steps and annealed
    to about 0 by the last one, so that BatchNorm's running statistics, averaged over the last few dozen
    steps, describe the weights the net ends with. ``augment``: each batch turned by a random symmetry of the
    square (``course_lib.data.context.random_dihedral``, drawn from ``seed``)."""
    symmetries = torch.Generator().manual_seed(seed)
    loader = DataLoader(TensorDataset(images, masks), batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed),
                        collate_fn=(lambda batch: random_dihedral(*default_collate(batch), symmetries))
                        if augment else None)
    loss_fn = nn.CrossEntropyLoss(ignore_index=IGNORE_INDEX) if loss_fn is None else loss_fn
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = None
    if warmup is not None:
        if isinstance(warmup, bool) or not isinstance(warmup, float) or not 0 < warmup < 1:
            raise ValueError(f"warmup must be a fraction of the steps in (0, 1) or None, got {warmup!r}")
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * len(loader),
                                                        pct_start=warmup)
    return fit(model, loss_fn, loader, epochs=epochs, optimizer=optimizer, scheduler=scheduler, device=device,
               plot=plot, title=title, verbose=False)  # a progress bar, not a line per epoch: experiments train many


def pyramid_experiment(recipe: PyramidRecipe, device=None, plot: bool = False) -> dict:
    """Train :class:`PSPNet` without (``"plain"``) and with (``"pyramid"``) the module from each of the
    recipe's seeds on the same context scenes. Returns ``{"images", "masks"}`` (held-out, seed 1),
    ``"models"`` ``{(name, seed): model}`` and ``"miou"`` ``{name: [held-out mean IoU per seed]}``."""
    images, masks = context_scenes(recipe.n_train, recipe.image_size, seed=0)
    held_out, held_out_masks = context_scenes(recipe.n_val, recipe.image_size, seed=1)
    result = {"images": held_out, "masks": held_out_masks, "models": {}, "miou": {"plain": [], "pyramid": []}}
    for seed in recipe.seeds:
        for name in ("plain", "pyramid"):
            torch.manual_seed(seed)
            model = PSPNet(len(CONTEXT_CLASS_NAMES), pyramid=name == "pyramid")
            train_segmentation(model, images, masks, epochs=recipe.epochs, batch_size=recipe.batch_size, lr=recipe.lr,
                               seed=seed, warmup=recipe.warmup, device=device, plot=plot, title=f"{name}, seed {seed}")
            labels = predict(model.cpu(), held_out).argmax(1)
            result["models"][name, seed] = model
            result["miou"][name].append(mean_iou(labels, held_out_masks, len(CONTEXT_CLASS_NAMES)))
    return result


@dataclass(frozen=True)
class ICNetRecipe:
    """Notebook 05b's cascade experiment: :class:`ICNet` and the same heavy network at full resolution
    (:class:`PSPNet`) trained from ``seed`` on ``n_train`` context scenes of ``image_size`` pixels, Adam with
    the pyramid experiment's one-cycle rate (peak ``lr`` after ``warmup`` of the steps, see
    :func:`train_segmentation`), scored on ``n_val`` held-out ones; latency of one
    image of ``timing_size`` ``(H, W)`` (the paper's Cityscapes frame, 1024 x 2048), the median of
    ``repeats`` calls, both networks in one run."""

    image_size: int = 128
    n_train: int = 768
    n_val: int = 128
    epochs: int = 10
    batch_size: int = 16
    lr: float = 3e-3
    warmup: float = 0.2
    seed: int = 0
    timing_size: tuple[int, int] = (1024, 2048)
    repeats: int = 3


def icnet_recipe() -> ICNetRecipe:
    """Full mode: 768 scenes of 128 px, 10 epochs, timed at 1024 x 2048; fast mode: 96 scenes, 1 epoch, 256 x 512."""
    return pick(fast=ICNetRecipe(n_train=96, n_val=32, epochs=1, timing_size=(256, 512)), full=ICNetRecipe())


#: Where ``scripts/train_cascade_checkpoints.py`` writes the pair of :func:`train_cascade_pair` (full recipe,
#: seed 0), inside the package: one file per network, in the order notebook 05b lists them.
CASCADE_CHECKPOINTS = {"PSPNet, full resolution": "checkpoints/icnet/pspnet_full_resolution.pt",
                       "ICNet": "checkpoints/icnet/icnet.pt"}


def train_cascade_pair(recipe: ICNetRecipe, device=None, plot: bool = False) -> dict[str, nn.Module]:
    """Train :class:`ICNet` (with :class:`CascadeLoss`) and the same heavy network at full resolution
    (:class:`PSPNet`) from ``recipe.seed`` on the same ``recipe.n_train`` context scenes; both returned on the CPU,
    keyed as :data:`CASCADE_CHECKPOINTS`."""
    images, masks = context_scenes(recipe.n_train, recipe.image_size, seed=0)
    classes = len(CONTEXT_CLASS_NAMES)
    builders = {"PSPNet, full resolution": (lambda: PSPNet(classes), None),
                "ICNet": (lambda: ICNet(classes), CascadeLoss())}
    models = {}
    for name, (build, loss_fn) in builders.items():
        torch.manual_seed(recipe.seed)
        model = build()
        train_segmentation(model, images, masks, epochs=recipe.epochs, batch_size=recipe.batch_size, lr=recipe.lr,
                           seed=recipe.seed, warmup=recipe.warmup, loss_fn=loss_fn, device=device, plot=plot,
                           title=name)
        models[name] = model.cpu().eval()
    return models


def save_cascade_checkpoints(models: dict[str, nn.Module], meta: dict, folder) -> None:
    """Each network of :func:`train_cascade_pair` in half precision, with ``meta``, under ``folder`` (the
    package's ``course_lib`` folder: the paths of :data:`CASCADE_CHECKPOINTS`)."""
    for name, relative in CASCADE_CHECKPOINTS.items():
        save_half_checkpoint(Path(folder) / relative, models[name], meta, num_classes=len(CONTEXT_CLASS_NAMES))


def load_cascade_checkpoints(folder=None) -> dict[str, nn.Module]:
    """The pair that ``scripts/train_cascade_checkpoints.py`` trained with the full :func:`icnet_recipe` (seed 0),
    in eval mode, the script's ``meta`` (recipe, held-out mean IoU, seconds) on each ``model.meta``; ``folder``
    reads the files of :func:`save_cascade_checkpoints` elsewhere."""
    root = resources.files("course_lib") if folder is None else Path(folder)
    models = {}
    for (name, relative), build in zip(CASCADE_CHECKPOINTS.items(), (PSPNet, ICNet)):
        source = root.joinpath(*relative.split("/"))
        if not source.is_file():
            raise FileNotFoundError(f"the course's checkpoint course_lib/{relative} is missing; "
                                    "make it with: python scripts/train_cascade_checkpoints.py")
        models[name] = load_half_checkpoint(source, build)
    return models


def cascade_experiment(recipe: ICNetRecipe, device=None, plot: bool = False,
                       models: dict[str, nn.Module] | None = None) -> dict:
    """The pair of :func:`train_cascade_pair` (trained here from ``recipe.seed``, or ``models``, e.g.
    :func:`load_cascade_checkpoints`), measured on the CPU in this run. Returns ``{"images", "masks"}``
    (``recipe.n_val`` held-out scenes), ``"models"``, and per name ``"miou"`` (held-out), ``"seconds"`` (median
    latency of one ``timing_size`` image), ``"flops"`` and ``"params"``."""
    models = train_cascade_pair(recipe, device, plot) if models is None else models
    held_out, held_out_masks = context_scenes(recipe.n_val, recipe.image_size, seed=1)
    classes = len(CONTEXT_CLASS_NAMES)
    result = {"images": held_out, "masks": held_out_masks, "models": models, "miou": {}, "seconds": {}, "flops": {},
              "params": {}}
    for name, model in models.items():
        result["miou"][name] = mean_iou(predict(model, held_out).argmax(1), held_out_masks, classes)
    for name, model in models.items():   # one after the other, same process, same threads
        numbers = measure(model, (1, 3, *recipe.timing_size), repeats=recipe.repeats, warmup=1)
        for key in ("seconds", "flops", "params"):
            result[key][name] = numbers[key]
    return result


EMA_TEACHER_STEP_COST = 7 / 3
"""What one :func:`ema_teacher_self_training` step costs in supervised steps of the same batch size: the
teacher's forward pass on ``B`` scenes (1/3) and the student's forward and backward pass on ``2B`` (2), against
a forward and backward pass on ``B`` (1), counting a backward pass as twice a forward one."""


@dataclass(frozen=True)
class SemiSupervisedRecipe:
    """``fractions`` of ``n_train`` context scenes keep their labels; every supervised run trains a
    :class:`PSPNet` for ``steps`` optimiser steps (so a small labelled set is repeated, not under-trained;
    Adam, one cycle peaking at ``lr`` after ``warmup`` of the steps, batches turned by random symmetries),
    once per seed of ``seeds``. Semi-supervised: :func:`ema_teacher_self_training` from the supervised net of
    ``semi_fraction``, ``steps`` steps of ``batch_size`` labelled and ``batch_size`` unlabelled scenes,
    pseudo-labels of confidence >= ``threshold``, teacher weights ``ema`` * teacher + (1 - ``ema``) * student
    after every step, Gaussian noise of standard deviation ``noise`` on the student's (strong) view."""

    n_train: int = 256
    n_val: int = 256
    image_size: int = 64
    fractions: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0)
    semi_fraction: float = 0.125
    threshold: float = 0.9
    steps: int = 512
    batch_size: int = 16
    lr: float = 3e-3
    warmup: float = 0.2
    ema: float = 0.99
    noise: float = 0.05
    seeds: tuple[int, ...] = (0, 1)

    def __post_init__(self):
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema must be in [0, 1) (the teacher's share of its own weights), got {self.ema}")
        if self.noise < 0:
            raise ValueError(f"noise is a standard deviation, >= 0, got {self.noise}")


def semi_supervised_recipe() -> SemiSupervisedRecipe:
    """Notebook 05b's recipe. Full mode: 256 scenes, 512 steps a run, two seeds, the labelled fractions 1/8
    and 1 (``benchmarks/developments.py`` adds 1/4 and 1/2: :data:`SemiSupervisedRecipe.fractions`);
    fast mode: 256 scenes, fractions 1/8 and 1, 32 steps, one seed."""
    return pick(fast=SemiSupervisedRecipe(n_train=256, n_val=64, fractions=(0.125, 1.0), steps=32, seeds=(0,)),
                full=SemiSupervisedRecipe(fractions=(0.125, 1.0)))


def _epochs(recipe: SemiSupervisedRecipe, n: int) -> int:
    return max(1, round(recipe.steps * recipe.batch_size / n))


def ema_teacher_self_training(model: nn.Module, images: torch.Tensor, masks: torch.Tensor, labelled: int,
                 recipe: SemiSupervisedRecipe, *, seed: int = 0, device=None) -> dict:
    """Semi-supervised training from ``model``, trained on the first ``labelled`` of ``(images, masks)``; the
    rest are unlabelled. Student and teacher start as copies of ``model``. Each of ``recipe.steps`` steps:
    the teacher (``eval()`` mode) pseudo-labels ``batch_size`` unlabelled scenes as they are (weak view); the
    student learns them on the same scenes turned by a random symmetry plus noise (strong view, the labels
    turned alike), and ``batch_size`` labelled scenes with their labels, cross-entropy summed; then the
    teacher's weights move to ``ema`` * teacher + (1 - ``ema``) * student and it takes the student's BatchNorm
    statistics. Returns ``{"student", "teacher", "step_loss"}``."""
    generator = torch.Generator().manual_seed(seed)
    student = copy.deepcopy(model).to(device).train()
    teacher = copy.deepcopy(student).eval().requires_grad_(False)
    optimizer = torch.optim.Adam(student.parameters(), lr=recipe.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr, total_steps=recipe.steps,
                                                   pct_start=recipe.warmup)
    step_loss = []
    for _ in tqdm(range(recipe.steps), desc="EMA teacher", unit="step"):
        some = torch.randint(labelled, (recipe.batch_size,), generator=generator)
        x, y = random_dihedral(images[some], masks[some], generator)
        unlabelled = images[labelled + torch.randint(len(images) - labelled, (recipe.batch_size,), generator=generator)]
        with torch.no_grad():
            pseudo = pseudo_labels(teacher(unlabelled.to(device)).softmax(1).cpu(), recipe.threshold)
        strong, strong_pseudo = random_dihedral(unlabelled, pseudo, generator)
        strong = (strong + recipe.noise * torch.randn(strong.shape, generator=generator)).clamp(0, 1)
        scores = student(torch.cat([x, strong]).to(device))
        loss = (F.cross_entropy(scores[:len(x)], y.to(device), ignore_index=IGNORE_INDEX)
                + F.cross_entropy(scores[len(x):], strong_pseudo.to(device), ignore_index=IGNORE_INDEX))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        step_loss.append(loss.item())
        with torch.no_grad():
            for mean, weight in zip(teacher.parameters(), student.parameters()):
                mean.lerp_(weight, 1 - recipe.ema)
            for mean, statistic in zip(teacher.buffers(), student.buffers()):
                mean.copy_(statistic)
    return {"student": student.eval(), "teacher": teacher, "step_loss": step_loss}


def semi_supervised_experiment(recipe: SemiSupervisedRecipe, device=None) -> dict:
    """For each of the recipe's seeds: supervised :class:`PSPNet` s on the first ``fraction`` of the context
    scenes for each of the recipe's fractions (``steps`` steps each), and :func:`ema_teacher_self_training` for
    half the ``steps`` from a net trained on the ``semi_fraction`` for the other half.
    Returns ``{"images", "masks"}`` (held-out), ``"supervised"`` ``{fraction: [held-out mean IoU per seed]}``,
    ``"semi"`` and ``"recovered"`` (per seed: the student's held-out mean IoU, and the share of the gap
    between the ``semi_fraction`` and all labels that it closes), ``"same_compute"`` (per seed: the control,
    the ``semi_fraction`` net trained on its labelled scenes only for as many more steps as make its compute
    equal to the semi-supervised run's, :data:`EMA_TEACHER_STEP_COST`), ``"control_steps"`` (those steps),
    ``"seconds"`` (``{"semi", "control"}``: wall time of each whole path, summed over seeds), ``"pseudo"``
    (the first seed's pseudo-labels of the unlabelled training scenes by the teacher at the ``"start"`` and at
    the ``"end"``), ``"train_masks"`` (the true masks of the training scenes) and ``"labelled"`` (how many
    scenes kept labels)."""
    classes = len(CONTEXT_CLASS_NAMES)
    images, masks = context_scenes(recipe.n_train, recipe.image_size, seed=0)
    held_out, held_out_masks = context_scenes(recipe.n_val, recipe.image_size, seed=1)
    fractions = sorted({*recipe.fractions, recipe.semi_fraction, 1.0})
    labelled = max(1, round(recipe.semi_fraction * recipe.n_train))
    semi_steps = recipe.steps - recipe.steps // 2
    control_steps = max(1, round(recipe.steps // 2 + semi_steps * EMA_TEACHER_STEP_COST) - recipe.steps)
    result = {"images": held_out, "masks": held_out_masks, "supervised": {f: [] for f in fractions},
              "semi": [], "recovered": [], "same_compute": [], "control_steps": control_steps,
              "seconds": {"semi": 0.0, "control": 0.0}, "train_masks": masks, "labelled": labelled}
    for seed in recipe.seeds:
        for fraction in fractions:
            n = max(1, round(fraction * recipe.n_train))
            torch.manual_seed(seed)
            model = PSPNet(classes)
            started = time.perf_counter()
            train_segmentation(model, images[:n], masks[:n], epochs=_epochs(recipe, n), batch_size=recipe.batch_size,
                               lr=recipe.lr, seed=seed, warmup=recipe.warmup, augment=True, device=device)
            result["supervised"][fraction].append(
                mean_iou(predict(model.cpu(), held_out).argmax(1), held_out_masks, classes))
            if fraction == recipe.semi_fraction:
                few, result["seconds"]["control"] = model, result["seconds"]["control"] + time.perf_counter() - started
        # Semi-supervised: the teacher learns the labelled scenes for half the steps, the EMA teacher takes the rest.
        started = time.perf_counter()
        torch.manual_seed(seed)
        teacher = PSPNet(classes)
        train_segmentation(teacher, images[:labelled], masks[:labelled], epochs=max(1, _epochs(recipe, labelled) // 2),
                           batch_size=recipe.batch_size, lr=recipe.lr, seed=seed, warmup=recipe.warmup, augment=True,
                           device=device)
        run = ema_teacher_self_training(teacher, images, masks, labelled, replace(recipe, steps=semi_steps),
                                        seed=seed, device=device)
        result["seconds"]["semi"] += time.perf_counter() - started
        # The control: the semi_fraction net trained on its labelled scenes only, to the same compute.
        started = time.perf_counter()
        train_segmentation(few, images[:labelled], masks[:labelled],
                           epochs=_epochs(replace(recipe, steps=control_steps), labelled), batch_size=recipe.batch_size,
                           lr=recipe.lr, seed=seed, warmup=recipe.warmup, augment=True, device=device)
        result["seconds"]["control"] += time.perf_counter() - started
        result["same_compute"].append(mean_iou(predict(few.cpu(), held_out).argmax(1), held_out_masks, classes))
        semi = mean_iou(predict(run["student"].cpu(), held_out).argmax(1), held_out_masks, classes)
        few, full = result["supervised"][recipe.semi_fraction][-1], result["supervised"][1.0][-1]
        result["semi"].append(semi)
        result["recovered"].append((semi - few) / (full - few) if full > few else float("nan"))
        result.setdefault("pseudo", {
            when: pseudo_labels(predict(net.cpu(), images[labelled:]).softmax(1), recipe.threshold)
            for when, net in (("start", teacher), ("end", run["teacher"]))})
    return result
