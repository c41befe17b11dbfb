"""A small Mask R-CNN for 128 px shapes, built from torchvision's parts (He et al., ICCV 2017).

Mask R-CNN is Faster R-CNN plus a third head: for every region of interest (RoI), a small FCN
predicts a ``28 × 28`` binary mask per class (§3, Fig. 4). The parts, in the paper's order:

* **Backbone with FPN** (Lin et al., CVPR 2017): :func:`small_backbone` is four conv stages
  (strides 4, 8, 16) joined by torchvision's :class:`~torchvision.models.detection.backbone_utils.BackboneWithFPN`
  into a pyramid P2–P4 (plus P5 by max-pooling, for the RPN). A RoI is pooled from the level of
  FPN Eq. 1 (:func:`fpn_level`).
* **RPN**: anchors of one size per level (:data:`ANCHOR_SIZES`) and three aspect ratios.
* **RoIAlign** (§3): :class:`~torchvision.ops.MultiScaleRoIAlign`, 7 × 7 for the box head and
  14 × 14 for the mask head (see :mod:`course_lib.ops.roi_align` for the op written out).
* **Mask branch**: four 3 × 3 convs, a 2× transposed conv and a 1 × 1 conv to one mask per class,
  trained with a per-pixel sigmoid on the ground-truth class only (:func:`~course_lib.losses.detection.mask_loss`, §3 "Mask
  Representation") against the instance mask cropped to the RoI (:func:`mask_target`).

The heads are sized to the data (64 channels, a 256-wide box MLP): torchvision's defaults
(256 channels, 1024 units) are 7 M parameters and three times slower here for no gain.
:func:`pretrained_mask_rcnn` is the real ResNet-50-FPN model with COCO weights, when the file is there.
Notebook 04's training, ablations and timing are in ``course_lib.recipes.mask_rcnn``.
"""
from __future__ import annotations

from collections import OrderedDict
from functools import partial

import torch
from torch import nn
from torchvision.models.detection import MaskRCNN as _TorchvisionMaskRCNN
from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights, maskrcnn_resnet50_fpn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.ops import MultiScaleRoIAlign, box_area, roi_align, roi_pool

from course_lib.ops.receptive_field import effective_receptive_field
from course_lib.weights import load_pretrained

__all__ = ["small_backbone", "small_mask_rcnn", "MaskRCNN", "pretrained_mask_rcnn", "fpn_level", "mask_target",
           "mask_rcnn_batch", "ANCHOR_SIZES", "CANONICAL_SCALE",
           "MaskHeadOnly", "CELL_CENTRE", "POOLINGS", "MASK_LOSSES", "cell_gradient"]

ANCHOR_SIZES = (12, 24, 48, 96)  # one per pyramid level P2..P5 (strides 4, 8, 16, 32), in pixels
CANONICAL_SCALE = 64  # FPN Eq. 1's 224 for ImageNet-sized images, scaled to 128 px shapes


def _conv(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


def conv_stages(width: int = 32, num_stages: int = 3) -> nn.Sequential:
    """A stem (stride 2) and stages ``c2, c3, ...`` of strides 4, 8, 16, ... and widths ``width,
    2 width, 4 width, ...``; each stage is a 3 × 3/2 conv and a 3 × 3 conv (BatchNorm, ReLU)."""
    layers, c_in = OrderedDict(stem=nn.Sequential(*_conv(3, width // 2, 2))), width // 2
    for k in range(num_stages):
        c_out = width * 2**k
        layers[f"c{k + 2}"] = nn.Sequential(*_conv(c_in, c_out, 2), *_conv(c_out, c_out))
        c_in = c_out
    return nn.Sequential(layers)


def small_backbone(width: int = 32, fpn_channels: int = 64) -> BackboneWithFPN:
    """:func:`conv_stages` with an FPN: feature maps ``"0", "1", "2"`` (P2–P4, strides 4, 8, 16)
    and ``"pool"`` (P5, stride 32, a max-pool of P4), each with ``fpn_channels`` channels."""
    return BackboneWithFPN(conv_stages(width), return_layers={"c2": "0", "c3": "1", "c4": "2"},
                           in_channels_list=[width, 2 * width, 4 * width], out_channels=fpn_channels)


class MaskRCNN(_TorchvisionMaskRCNN):
    """torchvision's MaskRCNN with clear errors for the inputs learners get wrong.

    ``model(images)`` in eval mode returns one dict per image (``boxes``, ``labels``, ``scores``,
    ``masks`` as ``(N, 1, H, W)`` probabilities); ``model(images, targets)`` in training mode
    returns the dict of the five losses.
    """

    def forward(self, images, targets=None):
        _check_images(images)
        if self.training or targets is not None:
            _check_targets(targets, images)
        return super().forward(images, targets)


def _check_images(images) -> None:
    if isinstance(images, torch.Tensor) and images.ndim == 4:
        images = list(images)
    if not isinstance(images, (list, tuple)) or not images:
        raise TypeError(f"images must be a non-empty list of (3, H, W) float tensors, got "
                        f"{type(images).__name__}{' (empty)' if isinstance(images, (list, tuple)) else ''}")
    for i, image in enumerate(images):
        if not isinstance(image, torch.Tensor) or image.ndim != 3 or image.shape[0] != 3:
            shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
            hint = " (channels last? use image.permute(2, 0, 1))" if shape[-1:] == (3,) else ""
            raise ValueError(f"images[{i}] must be a (3, H, W) tensor, got {shape}{hint}")
        if not image.is_floating_point():
            raise TypeError(f"images[{i}] must be float in [0, 1], got {image.dtype} (divide uint8 images by 255)")


def _check_targets(targets, images) -> None:
    if not isinstance(targets, (list, tuple)) or not targets:
        raise ValueError("training needs targets: a list with one dict per image (boxes, labels, masks); "
                         f"got {'an empty list' if isinstance(targets, (list, tuple)) else type(targets).__name__}")
    if len(targets) != len(images):
        raise ValueError(f"{len(targets)} targets for {len(images)} images: give one target dict per image")
    for i, (target, image) in enumerate(zip(targets, images)):
        missing = {"boxes", "labels", "masks"} - set(target) if isinstance(target, dict) else None
        if missing is None or missing:
            raise ValueError(f"targets[{i}] must be a dict with boxes, labels and masks; missing {sorted(missing or [])}")
        boxes, labels, masks = target["boxes"], target["labels"], target["masks"]
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"targets[{i}]['boxes'] must be (N, 4) x1, y1, x2, y2, got {tuple(boxes.shape)}")
        small = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
        if small.any():
            raise ValueError(f"targets[{i}]['boxes'][{int(small.nonzero()[0])}] has no area "
                             f"({boxes[small][0].tolist()}): boxes are x1, y1, x2, y2 with x2 > x1 and y2 > y1")
        if labels.shape != (len(boxes),) or labels.dtype != torch.int64:
            raise ValueError(f"targets[{i}]['labels'] must be int64 of shape ({len(boxes)},), "
                             f"got {labels.dtype} {tuple(labels.shape)}")
        if masks.shape != (len(boxes), *image.shape[-2:]):
            raise ValueError(f"targets[{i}]['masks'] must be (N, H, W) = {(len(boxes), *image.shape[-2:])}, "
                             f"got {tuple(masks.shape)}")


def small_mask_rcnn(num_classes: int = 4, image_size: int = 128, width: int = 32, fpn_channels: int = 64) -> MaskRCNN:
    """Mask R-CNN for ``image_size`` px images (not resized): :func:`small_backbone`, anchors
    :data:`ANCHOR_SIZES` × ratios 1:2, 1:1, 2:1, RoIs assigned to P2–P4 by FPN Eq. 1 with
    :data:`CANONICAL_SCALE`, 7 × 7 / 14 × 14 RoIAlign, a 256-unit box head and a 64-channel mask head.
    Nothing is pretrained; ``num_classes`` counts the background.

    RoIAlign takes one bilinear sample per bin (``sampling_ratio=1``; the paper's 2 × 2 is
    ``sampling_ratio=2``): at 128 px a bin is about one feature pixel wide, so four samples add
    little, and RoIAlign's backward pass, a third of a training step on a CPU, gets four times cheaper.
    In one run of notebook 04's recipe, training took 30 % less time for 1-2 points less mask AP."""
    anchors = AnchorGenerator(sizes=tuple((s,) for s in ANCHOR_SIZES), aspect_ratios=((0.5, 1.0, 2.0),) * 4)
    pool = partial(MultiScaleRoIAlign, featmap_names=["0", "1", "2"], sampling_ratio=1,
                   canonical_scale=CANONICAL_SCALE)
    return MaskRCNN(
        small_backbone(width, fpn_channels), min_size=image_size, max_size=image_size,
        image_mean=[0.5, 0.5, 0.5], image_std=[0.25, 0.25, 0.25],
        rpn_anchor_generator=anchors, rpn_pre_nms_top_n_train=600, rpn_post_nms_top_n_train=200,
        rpn_pre_nms_top_n_test=300, rpn_post_nms_top_n_test=100, rpn_batch_size_per_image=128,
        box_roi_pool=pool(output_size=7), box_head=TwoMLPHead(fpn_channels * 49, 256),
        box_predictor=FastRCNNPredictor(256, num_classes), box_batch_size_per_image=64,
        box_detections_per_img=20,
        mask_roi_pool=pool(output_size=14), mask_head=MaskRCNNHeads(fpn_channels, [64] * 4, 1),
        mask_predictor=MaskRCNNPredictor(64, 64, num_classes),
    )


def pretrained_mask_rcnn() -> _TorchvisionMaskRCNN | None:
    """torchvision's ResNet-50-FPN Mask R-CNN with COCO weights (37.9 box AP / 34.6 mask AP on COCO
    val2017) when the file is in the torch hub cache, else ``None`` after one line on how to get it."""
    builder = partial(maskrcnn_resnet50_fpn, weights_backbone=None)
    return load_pretrained(builder, MaskRCNN_ResNet50_FPN_Weights.COCO_V1)


def fpn_level(boxes: torch.Tensor, k_min: int = 2, k_max: int = 5, canonical_scale: float = 224,
              canonical_level: int = 4) -> torch.Tensor:
    """FPN Eq. 1: the pyramid level ``k = floor(k0 + log2(sqrt(w h) / 224))``, clipped to
    ``[k_min, k_max]``, from which a RoI ``(x1, y1, x2, y2)`` is pooled: a 224² RoI comes from
    ``P4``, one half as wide from ``P3``. ``(K, 4)`` boxes → ``(K,)`` int64 levels."""
    if not isinstance(boxes, torch.Tensor) or boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be a (K, 4) tensor, got {getattr(boxes, 'shape', type(boxes).__name__)}")
    scale = box_area(boxes).sqrt()
    level = torch.floor(canonical_level + torch.log2(scale / canonical_scale) + 1e-6)  # 1e-6 as torchvision
    return level.clamp(k_min, k_max).to(torch.int64)


def mask_target(mask: torch.Tensor, box: torch.Tensor, size: int = 28) -> torch.Tensor:
    """The ``size × size`` training target of one RoI (§3): the instance's ``(H, W)`` binary mask
    cropped to ``box`` (x1, y1, x2, y2, in pixels) and resized by RoIAlign; values in [0, 1]."""
    if mask.ndim != 2 or box.shape != (4,):
        raise ValueError(f"mask must be (H, W) and box (4,), got {tuple(mask.shape)} and {tuple(box.shape)}")
    return roi_align(mask[None, None].float(), [box[None].float()], (size, size), 1.0)[0, 0]


def mask_rcnn_batch(samples):
    """A DataLoader ``collate_fn`` for ``ShapesDataset(..., task="instance")`` and
    :class:`course_lib.recipes.mask_rcnn.TrainingLosses`:
    ``((images, targets), targets)`` with plain tensors."""
    images = [image.as_subclass(torch.Tensor) for image, _ in samples]
    targets = [{key: value.as_subclass(torch.Tensor) for key, value in target.items()} for _, target in samples]
    return (images, targets), targets


# --- Table 2b-d in miniature: the mask head alone, on ground-truth boxes --------------------------

POOLINGS = ("RoIAlign", "RoIAlign, aligned=True", "RoIPool")
CELL_CENTRE = 0.5  # pixel coordinate of the centre of cell 0 of conv_stages, at every stride
MASK_LOSSES = ("sigmoid", "softmax")


class MaskHeadOnly(nn.Module):
    """Backbone features of one ``stride`` (8, 16, 32, ...), RoI pooling and the mask branch; no RPN
    and no box head, so that the pooling (or the mask loss) is the only difference between runs.

    Where is a feature cell? Each 3 × 3/2 convolution with padding 1 centres its output ``i`` on
    its input ``2 i``, so cell ``i`` of :func:`conv_stages` is centred on pixel ``i · stride``, at
    the pixel coordinate ``i · stride + ½`` (:data:`CELL_CENTRE`; notebook 04 measures it from
    the input gradient of one cell). ``pooling``:

    * ``"RoIAlign"``: 14 × 14, 2 × 2 samples per bin, with that convention (the boxes moved by
      −½ pixel, then ``aligned=False``: the pixel coordinate ``x`` is the cell ``(x − ½) / stride``);
    * ``"RoIAlign, aligned=True"``: the same with the convention of ``aligned=True``, cell ``i`` at
      ``(i + ½) · stride``, which reads every feature ``(stride − 1) / 2`` pixels off for this backbone;
    * ``"RoIPool"``: 14 × 14 max over rounded bins.

    ``mask_loss``: ``"sigmoid"`` (one binary mask per class, §3) or ``"softmax"`` (a multinomial over
    background and classes at every pixel, the FCN way; Table 2b), trained with
    ``course_lib.losses.detection.mask_loss`` or ``softmax_mask_loss``. ``forward(images, boxes)`` →
    mask logits ``(K, num_classes, 28, 28)``.
    """

    def __init__(self, stride: int, pooling: str = "RoIAlign", mask_loss: str = "sigmoid", num_classes: int = 4,
                 width: int = 32, channels: int = 64):
        super().__init__()
        if stride < 4 or stride & (stride - 1):
            raise ValueError(f"stride must be a power of two >= 4, got {stride}")
        if pooling not in POOLINGS or mask_loss not in MASK_LOSSES:
            raise ValueError(f"pooling must be one of {POOLINGS} and mask_loss one of {MASK_LOSSES}, "
                             f"got {pooling!r}, {mask_loss!r}")
        num_stages = stride.bit_length() - 2  # the stem halves, each stage halves: 4 → 1 stage, 8 → 2, ...
        self.stride, self.pooling, self.mask_loss = stride, pooling, mask_loss
        self.features = nn.Sequential(conv_stages(width, num_stages),
                                      nn.Conv2d(width * 2 ** (num_stages - 1), channels, 1))
        self.head = MaskRCNNHeads(channels, [channels] * 4, 1)
        self.predictor = MaskRCNNPredictor(channels, channels, num_classes)

    def forward(self, images: torch.Tensor, boxes: list[torch.Tensor]) -> torch.Tensor:
        return self.predictor(self.head(self.pool(self.features((images - 0.5) / 0.25), boxes)))

    def pool(self, features: torch.Tensor, boxes: list[torch.Tensor]) -> torch.Tensor:
        """``(B, C, H, W)`` features and one ``(N_i, 4)`` tensor of boxes per image, in pixels →
        ``(K, C, 14, 14)`` by the model's ``pooling``."""
        if self.pooling == "RoIAlign":
            pooled = roi_align(features, [b - CELL_CENTRE for b in boxes], 14, 1 / self.stride, sampling_ratio=2,
                               aligned=False)
        elif self.pooling == "RoIAlign, aligned=True":
            pooled = roi_align(features, boxes, 14, 1 / self.stride, sampling_ratio=2, aligned=True)
        else:
            pooled = roi_pool(features, boxes, 14, 1 / self.stride)
        return pooled

    def masks(self, logits: torch.Tensor, labels: torch.Tensor, any_class: bool = False) -> torch.Tensor:
        """``(K, 28, 28)`` masks of each RoI's class in [0, 1]: the sigmoid of its logits, or, for
        ``"softmax"``, 1 where that class wins the pixel (as FCN labels pixels) and 0 elsewhere.
        ``any_class`` (a softmax head only): 1 − P(background), the object whatever class it is
        given, which separates finding the object from naming its class."""
        if any_class:
            if self.mask_loss != "softmax":
                raise ValueError("any_class reads a softmax head (1 - P(background)); this head is per-class sigmoid")
            return 1 - logits.softmax(1)[:, 0]
        chosen = torch.arange(len(labels))
        if self.mask_loss == "sigmoid":
            return logits[chosen, labels].sigmoid()
        return (logits.argmax(1) == labels[:, None, None]).float()


def cell_gradient(stride: int, image_size: int = 192, seeds=(0, 1, 2, 3)) -> tuple[torch.Tensor, int]:
    """Where is a feature cell? ``|∂ cell / ∂ image|`` of the centre cell of
    ``MaskHeadOnly(stride).features`` (summed over its channels), summed over one random
    initialisation and input per seed so that no pixel of the receptive field reads 0 by chance:
    the ``(image_size, image_size)`` map and the cell's index ``i`` (its row and column).
    :func:`~course_lib.ops.receptive_field.support_centre` of the map is where the cell sits."""
    total = torch.zeros(image_size, image_size)
    for seed in seeds:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            features = MaskHeadOnly(stride).features
        total += effective_receptive_field(features, (1, 3, image_size, image_size), seed=seed)
    return total, image_size // stride // 2

