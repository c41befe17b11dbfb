"""Notebook 08's experiments on digits (§F); ``benchmarks/distillation.py`` repeats them over three seeds.

- Hinton, Vinyals & Dean 2015 (arXiv:1503.02531), §3: a big teacher (:func:`train_teacher`), the small MLP
  trained alone and distilled from the teacher's soft targets (:func:`train_student`).
- Romero et al., "FitNets: Hints for Thin Deep Nets", ICLR 2015, §2.2-2.3: a thin deep FitNet trained in two
  stages, hints then knowledge distillation, or by distillation alone (:func:`train_fitnet`).
- Li, Jin & Yan, "Mimicking Very Efficient Network for Object Detection", CVPR 2017: a tiny Faster R-CNN
  trained from scratch or mimicking a wider teacher's features inside its proposals (:func:`train_detector`,
  :class:`MimicRecipe`).

    recipe = digits_recipe()
    teacher, _ = train_teacher(recipe, x_train, y_train)
    transfer_set = SoftTargets(teacher, x_train, y_train)
    alone, _ = train_student(recipe, x_train, y_train)
    distilled, _ = train_student(recipe, x_train, y_train, transfer_set)
    fitnet, regressor, history = train_fitnet(recipe, x_train, teacher_hints(teacher, x_train), transfer_set,
                                              batch_norm=True, with_hints=True)
    test_errors(fitnet, x_test, y_test)

    mimic = mimic_recipe()
    shapes_train, test_images, test_targets = detection_shapes(mimic, train_seed=0, test_seed=1)
    train_detector(student, mimic, shapes_train, teacher=detector_teacher)
    detection_map(student, test_images, test_targets)
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from course_lib.config import pick
from course_lib.data import ShapesDataset
from course_lib.data.digits import jitter
from course_lib.losses.distillation import DetectorTraining, distillation_loss, hint_loss
from course_lib.metrics import mean_average_precision
from course_lib.models.distillation import FitNet, HintRegressor, StudentMLP, TeacherNet
from course_lib.models.mimic_detector import detection_batch
from course_lib.train import fit, predict

__all__ = ["DigitsRecipe", "digits_recipe", "loader", "train_teacher", "kd_objective", "train_student", "teacher_hints",
           "train_fitnet", "test_errors", "MimicRecipe", "mimic_recipe", "detection_shapes", "train_detector",
           "detection_map"]


@dataclass(frozen=True)
class DigitsRecipe:
    """How notebook 08 (Hinton et al. §3) trains the teacher (jittered inputs, Adam at
    ``teacher_lr``), then the student MLP alone and distilled at temperature ``T`` with weight
    ``alpha`` on the soft targets (Adam at 1e-3), and the FitNets (``hint_epochs`` of hints, then
    ``kd_epochs`` of distillation; without hints, distillation for both); ``benchmarks/distillation.py``
    repeats it over three seeds."""

    n_train: int
    n_test: int
    teacher_epochs: int
    student_epochs: int
    batch_size: int = 128
    teacher_lr: float = 2e-3
    jitter: float = 2.0
    hidden: int = 128
    T: float = 4.0
    alpha: float = 0.5
    hint_epochs: int = 5
    kd_epochs: int = 20


def digits_recipe() -> DigitsRecipe:
    """The mode's recipe: 3000 training and 10000 test digits, students trained 100 epochs, FitNets 5 + 20
    epochs, in full mode; 1000 and 2000 digits, 20 epochs, FitNets 2 + 3 epochs, in fast mode."""
    return pick(fast=DigitsRecipe(n_train=1000, n_test=2000, teacher_epochs=10, student_epochs=20, hint_epochs=2,
                                  kd_epochs=3),
                full=DigitsRecipe(n_train=3000, n_test=10000, teacher_epochs=10, student_epochs=100))


def loader(recipe: DigitsRecipe, dataset, seed: int = 0, **kwargs) -> DataLoader:
    """Batches of ``recipe.batch_size``, shuffled from ``seed``."""
    return DataLoader(dataset, batch_size=recipe.batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(seed), **kwargs)


def train_teacher(recipe: DigitsRecipe, images: torch.Tensor, labels: torch.Tensor, seed: int = 0,
                  plot: bool | None = None, verbose: bool = True,
                  title: str = "teacher (big): TeacherNet") -> tuple[TeacherNet, dict]:
    """A :class:`TeacherNet` built from ``seed`` and trained with cross-entropy on ``images`` each shifted by up
    to ``recipe.jitter`` pixels per batch (Adam at ``recipe.teacher_lr``). Returns ``(teacher, history)``."""
    def jittered(batch):
        batch_images, batch_labels = torch.utils.data.default_collate(batch)
        return jitter(batch_images, recipe.jitter), batch_labels

    torch.manual_seed(seed)
    teacher = TeacherNet()
    history = fit(teacher, F.cross_entropy, loader(recipe, TensorDataset(images, labels), seed, collate_fn=jittered),
                  epochs=recipe.teacher_epochs, lr=recipe.teacher_lr, plot=plot, verbose=verbose, title=title)
    return teacher, history


def kd_objective(recipe: DigitsRecipe):
    """``loss(logits, (labels, teacher_logits))``: ``distillation_loss`` at the recipe's ``T`` and ``alpha``."""
    return lambda logits, targets: distillation_loss(logits, targets[1], targets[0], recipe.T, recipe.alpha)


def train_student(recipe: DigitsRecipe, images: torch.Tensor, labels: torch.Tensor, transfer_set=None,
                  seed: int = 0) -> tuple[StudentMLP, dict]:
    """The small :class:`StudentMLP` built from ``seed`` and trained ``recipe.student_epochs`` epochs (Adam at
    1e-3): with cross-entropy on the labels (``transfer_set=None``: the student alone) or with
    ``distillation_loss`` on a ``SoftTargets`` transfer set (distilled). Many epochs of a small model: no
    per-epoch lines and no plot. Returns ``(student, history)``."""
    torch.manual_seed(seed)
    student = StudentMLP(hidden=recipe.hidden)
    if transfer_set is None:
        history = fit(student, F.cross_entropy, loader(recipe, TensorDataset(images, labels), seed),
                      epochs=recipe.student_epochs, plot=False, verbose=False)
    else:
        history = fit(student, kd_objective(recipe), loader(recipe, transfer_set, seed), epochs=recipe.student_epochs,
                      plot=False, verbose=False)
    return student, history


@torch.no_grad()
def teacher_hints(teacher: TeacherNet, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The teacher's hint layer (``teacher.features``, eval mode) for ``images``, ``batch_size`` at a time."""
    teacher.eval()
    return torch.cat([teacher.features(images[i: i + batch_size]) for i in range(0, len(images), batch_size)])


def train_fitnet(recipe: DigitsRecipe, images: torch.Tensor, hints: torch.Tensor, transfer_set, batch_norm: bool,
                 with_hints: bool, seed: int = 0, regressor_class=HintRegressor, hint_loss_fn=hint_loss):
    """FitNets' two stages (§2.3) for a ``FitNet(width=8, batch_norm)`` built from ``seed``. Stage 1 (if
    ``with_hints``): the layers up to the guided one (``student.block1``) and a ``regressor_class`` learn the
    teacher's ``hints`` for ``recipe.hint_epochs`` with ``hint_loss_fn`` (Eq. 3). Stage 2: the whole student
    learns from the ``transfer_set`` with ``distillation_loss`` for ``recipe.kd_epochs``; without hints, for
    as many epochs as both stages. Returns ``(student, regressor, history of stage 2)``."""
    torch.manual_seed(seed)
    student = FitNet(width=8, batch_norm=batch_norm)
    regressor = regressor_class(8, hints.shape[1], guided_size=14, hint_size=14)
    kd_epochs = recipe.kd_epochs if with_hints else recipe.hint_epochs + recipe.kd_epochs
    if with_hints:
        optimizer = torch.optim.Adam([*student.block1.parameters(), *regressor.parameters()], lr=1e-3)
        fit(student.block1, lambda guided, hint: hint_loss_fn(guided, hint, regressor),
            loader(recipe, TensorDataset(images, hints), seed), epochs=recipe.hint_epochs, optimizer=optimizer,
            plot=False, verbose=False)
    history = fit(student, kd_objective(recipe), loader(recipe, transfer_set, seed), epochs=kd_epochs, plot=False,
                  verbose=False)
    return student, regressor, history


def test_errors(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> int:
    """How many of ``images`` the model labels wrongly."""
    return int((predict(model, images, batch_size=None).argmax(1) != labels).sum())


@dataclass(frozen=True)
class MimicRecipe:
    """How notebook 08 and ``benchmarks/distillation.py`` train the tiny Faster R-CNNs of Li et al.'s mimicking
    (``models.mimic_detector.tiny_faster_rcnn``): ``n_train`` instance shapes of ``size`` pixels, ``epochs`` of
    batches of ``batch_size`` shuffled by the run's seed, ``course_lib.train.fit``'s optimizer at ``lr``, the sum of
    the detector's losses (plus the mimic loss with a teacher); mAP@0.5 on ``n_test`` other shapes. The teacher is
    ``teacher_width`` channels wide, the notebook's student ``student_width``."""

    n_train: int
    n_test: int
    epochs: int
    size: int = 64
    batch_size: int = 16
    lr: float = 2e-3
    teacher_width: int = 32
    student_width: int = 8


def mimic_recipe() -> MimicRecipe:
    """The mode's recipe: 800 training and 300 test shapes, 12 epochs in full mode; 96 and 32, 2 epochs in fast."""
    return pick(fast=MimicRecipe(n_train=96, n_test=32, epochs=2), full=MimicRecipe(n_train=800, n_test=300, epochs=12))


def detection_shapes(recipe: MimicRecipe, train_seed: int, test_seed: int) -> tuple[ShapesDataset, list, list]:
    """``(train_set, test_images, test_targets)``: ``recipe.n_train`` instance shapes drawn from ``train_seed`` and
    the ``recipe.n_test`` test shapes of ``test_seed`` as one batch of :func:`detection_batch`."""
    train_set = ShapesDataset(recipe.n_train, size=recipe.size, seed=train_seed, task="instance")
    test_set = ShapesDataset(recipe.n_test, size=recipe.size, seed=test_seed, task="instance")
    (test_images, test_targets), _ = detection_batch([test_set[i] for i in range(len(test_set))])
    return train_set, test_images, test_targets


def _sum_of_losses(losses: dict, targets) -> torch.Tensor:
    return sum(losses.values())


def train_detector(detector: torch.nn.Module, recipe: MimicRecipe, train_set, seed: int = 0, teacher=None,
                   plot: bool | None = None, title: str | None = None, verbose: bool = True) -> dict:
    """Train ``detector`` on ``train_set`` by ``recipe``: from scratch, or with ``teacher`` mimicking its
    features inside the proposals (``losses.distillation.DetectorTraining``), the batches shuffled by a
    generator seeded with ``seed``; the rest of the randomness (the detector's sampling of proposals) comes from
    torch's global generator as the caller left it. Returns the history of ``course_lib.train.fit``."""
    loader = DataLoader(train_set, batch_size=recipe.batch_size, shuffle=True, collate_fn=detection_batch,
                        generator=torch.Generator().manual_seed(seed))
    return fit(DetectorTraining(detector, teacher=teacher), _sum_of_losses, loader, epochs=recipe.epochs,
               lr=recipe.lr, plot=plot, title=title, verbose=verbose)


@torch.no_grad()
def detection_map(detector: torch.nn.Module, test_images: list, test_targets: list) -> float:
    """mAP@0.5 of ``detector`` (put in eval mode) on the test batch of :func:`detection_shapes`."""
    detector.eval()
    return mean_average_precision(detector(test_images), test_targets)
