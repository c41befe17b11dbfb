"""Distillation losses (§F): Hinton's soft targets, FitNets' hints and detection mimicking.

- Hinton, Vinyals, Dean, "Distilling the Knowledge in a Neural Network", 2015 (arXiv:1503.02531):
  :func:`softmax_with_temperature`, :func:`kd_loss`, :func:`distillation_loss`.
- Romero et al., "FitNets: Hints for Thin Deep Nets", ICLR 2015: :func:`hint_loss`.
- Li, Jin, Yan, "Mimicking Very Efficient Network for Object Detection", CVPR 2017: :func:`mimic_loss`
  with its :class:`Adaptation` layer, and :class:`DetectorTraining`, which adds it to the losses of
  a detector of ``course_lib.models.mimic_detector``.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.ops import roi_align

__all__ = ["softmax_with_temperature", "kd_loss", "distillation_loss", "hint_loss", "mimic_loss",
           "Adaptation", "teacher_features", "detector_losses", "DetectorTraining"]


def _check_temperature(T) -> float:
    if isinstance(T, bool) or not isinstance(T, (int, float)):
        raise TypeError(f"the temperature T must be a number, got {type(T).__name__}")
    if not T > 0:
        raise ValueError(f"the temperature T must be > 0, got {T}")
    return float(T)


def _check_logits(name: str, logits) -> None:
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(logits).__name__}")
    if logits.dim() != 2:
        raise ValueError(f"{name} must have shape (batch, classes), got {tuple(logits.shape)}")


def softmax_with_temperature(logits: torch.Tensor, T: float = 1.0) -> torch.Tensor:
    """Hinton et al. §2, eq. 1: ``q_i = exp(z_i / T) / sum_j exp(z_j / T)`` over the last dimension.

    T = 1 is the ordinary softmax; a higher T gives a softer distribution over classes.
    """
    T = _check_temperature(T)
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a tensor, got {type(logits).__name__}")
    return torch.softmax(logits / T, dim=-1)


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, T: float) -> torch.Tensor:
    """Hinton et al. §2: ``T² · KL(softmax(teacher / T) ‖ softmax(student / T))``, batch mean.

    The soft-target gradients scale as 1/T² (§2.1), so the factor T² keeps their size roughly
    independent of T, and the hard-label term can be mixed in with the same weight at any T.
    The teacher is a fixed target: no gradient flows into ``teacher_logits``.
    """
    T = _check_temperature(T)
    _check_logits("student_logits", student_logits)
    _check_logits("teacher_logits", teacher_logits)
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student and teacher logits must have the same shape, got "
                         f"{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}")
    log_q = F.log_softmax(student_logits / T, dim=1)
    log_p = F.log_softmax(teacher_logits.detach() / T, dim=1)
    return T**2 * F.kl_div(log_q, log_p, reduction="batchmean", log_target=True)


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                      labels: torch.Tensor, T: float, alpha: float = 0.9) -> torch.Tensor:
    """Hinton et al. §2: ``alpha · kd_loss + (1 - alpha) · cross_entropy(student, labels)``.

    The paper found it best to give the hard-label term "a considerably lower weight".
    """
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    hard = F.cross_entropy(student_logits, labels)
    return alpha * kd_loss(student_logits, teacher_logits, T) + (1 - alpha) * hard


def hint_loss(guided: torch.Tensor, hint: torch.Tensor, regressor: Callable) -> torch.Tensor:
    """FitNets §2.2, eq. 3: ``½ ‖u_h(x) − r(v_g(x))‖²``, batch mean.

    ``guided`` is the student's guided layer ``v_g(x)``, ``hint`` the teacher's hint layer
    ``u_h(x)`` and ``regressor`` the ``r`` that maps the thinner student features to the teacher's
    shape (a :class:`course_lib.models.distillation.HintRegressor`). The hint is a fixed target.
    """
    if not isinstance(guided, torch.Tensor) or not isinstance(hint, torch.Tensor):
        raise TypeError("guided and hint must be tensors")
    prediction = regressor(guided)
    if prediction.shape != hint.shape:
        raise ValueError(f"the regressor maps the guided layer {tuple(guided.shape)} to "
                         f"{tuple(prediction.shape)}, but the hint has shape {tuple(hint.shape)}")
    return 0.5 * (hint.detach() - prediction).pow(2).sum() / hint.shape[0]


def mimic_loss(student_features: torch.Tensor, teacher_features: torch.Tensor,
               proposals: list[torch.Tensor], adaptation: Callable, spatial_scale: float,
               output_size: int = 7) -> torch.Tensor:
    """Li, Jin, Yan 2017, §3.1, eq. 1: ``1/(2N) Σ_i 1/m_i ‖u_i − r(v_i)‖²`` over N proposals.

    ``u_i`` and ``v_i`` are the teacher's and the student's feature maps inside proposal ``i``,
    sampled with RoIAlign to ``output_size × output_size`` (so every ``m_i`` is the same and the
    sum becomes a mean), ``r`` is the 1×1 adaptation layer from the student's channels to the
    teacher's. ``proposals`` holds one ``(K, 4)`` XYXY box tensor per image, in image pixels;
    ``spatial_scale`` is feature-map size / image size. Only proposal regions are mimicked: the
    background, most of a detection image, does not swamp the loss.
    """
    if student_features.dim() != 4 or teacher_features.dim() != 4:
        raise ValueError("feature maps must have shape (batch, channels, height, width)")
    if student_features.shape[0] != teacher_features.shape[0] or len(proposals) != student_features.shape[0]:
        raise ValueError(f"need one proposal tensor per image: {len(proposals)} proposal tensors, "
                         f"{student_features.shape[0]} student and {teacher_features.shape[0]} teacher maps")
    if sum(len(p) for p in proposals) == 0:
        return student_features.sum() * 0.0
    boxes = [p.to(student_features.dtype) for p in proposals]
    v = roi_align(student_features, boxes, output_size, spatial_scale, sampling_ratio=2, aligned=True)
    u = roi_align(teacher_features.detach(), boxes, output_size, spatial_scale, sampling_ratio=2, aligned=True)
    r_v = adaptation(v)
    if r_v.shape != u.shape:
        raise ValueError(f"the adaptation layer gives {tuple(r_v.shape)} per proposal, the teacher {tuple(u.shape)}")
    return 0.5 * (u - r_v).pow(2).mean()


@torch.no_grad()
def teacher_features(teacher: FasterRCNN, images: list[torch.Tensor]) -> torch.Tensor:
    """The teacher backbone's feature map for a batch, on the same transformed images."""
    teacher.eval()
    batch, _ = teacher.transform(images)
    return teacher.backbone(batch.tensors)


class Adaptation(nn.Conv2d):
    """Li et al. §3.1: a 1×1 conv mapping the student's channels to the teacher's, used only in training."""

    def __init__(self, student_channels: int, teacher_channels: int):
        super().__init__(student_channels, teacher_channels, kernel_size=1)


def detector_losses(model: FasterRCNN, images: list[torch.Tensor], targets: list[dict]):
    """Faster R-CNN's training losses, step by step (what ``model(images, targets)`` does inside).

    Returns ``(losses, features, proposals, spatial_scale)``: the dict of the four detection
    losses, the backbone's feature map ``(B, C, h, w)``, the RPN proposals (one ``(K, 4)`` tensor
    per image, in the transformed images' pixels) and feature-map size / image size (RoIAlign's
    ``spatial_scale``).
    """
    images, targets = model.transform(images, targets)
    features = model.backbone(images.tensors)
    feature_dict = {"0": features}
    proposals, rpn_losses = model.rpn(images, feature_dict, targets)
    _, box_losses = model.roi_heads(feature_dict, proposals, images.image_sizes, targets)
    spatial_scale = features.shape[-1] / images.tensors.shape[-1]
    return {**rpn_losses, **box_losses}, features, proposals, spatial_scale


class DetectorTraining(nn.Module):
    """A student detector as ``fit`` wants it: ``forward((images, targets))`` returns the dict of
    Faster R-CNN losses, plus ``loss_mimic`` (weighted by ``mimic_weight``) when a teacher is given.

    The teacher is frozen; the adaptation layer trains with the student and is dropped afterwards.
    Train with ``fit(DetectorTraining(...), lambda losses, _: sum(losses.values()), loader)``.
    """

    def __init__(self, student: FasterRCNN, teacher: FasterRCNN | None = None, mimic_weight: float = 1.0):
        super().__init__()
        self.student, self.mimic_weight = student, mimic_weight
        self.teacher = teacher.requires_grad_(False) if teacher is not None else None
        self.adaptation = (Adaptation(student.backbone.out_channels, teacher.backbone.out_channels)
                           if teacher is not None else None)

    def forward(self, batch):
        images, targets = batch
        losses, features, proposals, spatial_scale = detector_losses(self.student, images, targets)
        if self.teacher is not None:
            mimic = mimic_loss(features, teacher_features(self.teacher, images), proposals, self.adaptation,
                               spatial_scale)
            losses["loss_mimic"] = self.mimic_weight * mimic
        return losses
