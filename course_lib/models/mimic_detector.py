"""A tiny Faster R-CNN for the shapes dataset, and feature mimicking for detection (§F).

Li, Jin, Yan, "Mimicking Very Efficient Network for Object Detection", CVPR 2017: a thin student
detector learns to reproduce the teacher's feature map, but only *inside the region proposals*
(§3.1), through a 1×1 adaptation layer when the widths differ; the detection losses still apply.

The detector is torchvision's :class:`~torchvision.models.detection.FasterRCNN` on a small
backbone (:func:`tiny_backbone`, stride 4, one feature map): teacher and student differ only in
width. :func:`course_lib.losses.distillation.detector_losses` runs its parts one by one so that the
backbone features and the RPN proposals are at hand for :func:`course_lib.losses.mimic_loss`;
:class:`course_lib.losses.distillation.DetectorTraining` wraps that for ``course_lib.train.fit``;
:func:`course_lib.metrics.mean_average_precision` scores the result.
"""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops import MultiScaleRoIAlign

from course_lib.data.shapes import collate_detection

STRIDE = 4


def tiny_backbone(width: int) -> nn.Sequential:
    """Four 3×3 convs (BatchNorm, ReLU), two of them stride 2: ``(B, 3, H, W) → (B, width, H/4, W/4)``."""
    def conv(c_in, c_out, stride):
        return [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]

    backbone = nn.Sequential(*conv(3, width // 2, 1), *conv(width // 2, width, 2),
                             *conv(width, width, 2), *conv(width, width, 1))
    backbone.out_channels = width
    return backbone


def tiny_faster_rcnn(width: int, num_classes: int = 4, image_size: int = 64) -> FasterRCNN:
    """Faster R-CNN with :func:`tiny_backbone` (``width`` channels), one anchor per size
    (12, 24, 40 px, square), 7×7 RoIAlign and a 128-unit box head; images are not resized."""
    anchors = AnchorGenerator(sizes=((12, 24, 40),), aspect_ratios=((1.0,),))
    roi_pool = MultiScaleRoIAlign(featmap_names=["0"], output_size=7, sampling_ratio=2)
    return FasterRCNN(
        tiny_backbone(width), min_size=image_size, max_size=image_size,
        image_mean=[0.5, 0.5, 0.5], image_std=[0.25, 0.25, 0.25],
        rpn_anchor_generator=anchors, rpn_pre_nms_top_n_train=300, rpn_post_nms_top_n_train=64,
        rpn_pre_nms_top_n_test=150, rpn_post_nms_top_n_test=32, rpn_batch_size_per_image=64,
        box_roi_pool=roi_pool, box_head=TwoMLPHead(width * 49, 128),
        box_predictor=FastRCNNPredictor(128, num_classes), box_batch_size_per_image=64,
        box_detections_per_img=10,
    )


def detection_batch(samples):
    """A DataLoader ``collate_fn`` for ``ShapesDataset(..., task="instance")`` and ``DetectorTraining``:
    ``((images, targets), targets)`` with plain tensors (boxes and labels only)."""
    images, targets = collate_detection(samples)
    images = [image.as_subclass(torch.Tensor) for image in images]
    targets = [{"boxes": t["boxes"].as_subclass(torch.Tensor), "labels": t["labels"]} for t in targets]
    return (images, targets), targets
