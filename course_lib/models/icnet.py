"""ICNet (Zhao, Qi, Shen, Shi & Jia, "ICNet for Real-Time Semantic Segmentation on High-Resolution
Images", ECCV 2018), in miniature: the image cascade around notebook 05b's :class:`PSPNet`.

§3.2, Fig. 2: three branches. The **heavy** one, PSPNet's backbone and pyramid, runs on the image at
1/4 resolution; a **medium** one runs the first four backbone blocks (weights shared) on the image at
1/2 resolution; a **light** one, three cheap convolutions, on the full image. §3.3, Fig. 3: a
:class:`CascadeFeatureFusion` unit fuses a coarse branch into the next finer one. §3.4: **cascade
label guidance**, a loss on each fusion's coarse scores besides the final one (:class:`CascadeLoss`).
Our backbone has stride 4 (the paper's 8), so the branches end at 1/16, 1/8 and 1/4 of the image
(the paper's 1/32, 1/16 and 1/8).
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.config import pick
from course_lib.data.context import CONTEXT_CLASS_NAMES, context_scenes
from course_lib.metrics import mean_iou
from course_lib.models.pspnet import IGNORE_INDEX, PSPNet, PyramidPoolingModule, backbone, conv_block, train_segmentation
from course_lib.profiling import measure
from course_lib.train import predict
from course_lib.validate import check_int
from course_lib.weights import load_half_checkpoint, save_half_checkpoint

__all__ = ["CascadeFeatureFusion", "ICNet", "CascadeLoss", "ICNetRecipe", "icnet_recipe", "train_cascade_pair",
           "cascade_experiment", "CASCADE_CHECKPOINTS", "save_cascade_checkpoints", "load_cascade_checkpoints"]


class CascadeFeatureFusion(nn.Module):
    """§3.3, Fig. 3: ``low`` ``(B, C1, h, w)`` is upsampled 2x (bilinear) and goes through a 3 x 3
    convolution of dilation 2 + BatchNorm; ``high`` ``(B, C2, 2h, 2w)`` through a 1 x 1 convolution +
    BatchNorm; the sum, after a ReLU, is the fused ``(B, out_channels, 2h, 2w)`` map. A 1 x 1 classifier
    on the upsampled ``low`` gives the scores that cascade label guidance trains. Returns both."""

    def __init__(self, low_channels: int, high_channels: int, out_channels: int, num_classes: int):
        super().__init__()
        self.low = nn.Sequential(nn.Conv2d(low_channels, out_channels, 3, padding=2, dilation=2, bias=False),
                                 nn.BatchNorm2d(out_channels))
        self.high = nn.Sequential(nn.Conv2d(high_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))
        self.classifier = nn.Conv2d(low_channels, num_classes, 1)

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low = F.interpolate(low, size=high.shape[-2:], mode="bilinear", align_corners=False)
        return F.relu(self.low(low) + self.high(high)), self.classifier(low)


class ICNet(nn.Module):
    """``(N, 3, H, W)`` -> scores ``(N, num_classes, H, W)`` in eval mode; in train mode the three
    guided outputs ``(scores at H/8, scores at H/4, final scores at H/4)`` for :class:`CascadeLoss`.

    - heavy (``sub4``): :func:`backbone` (``widths``), :class:`PyramidPoolingModule` (``bins``) and a 3 x 3
      conv block on the 1/4-resolution image -> H/16;
    - medium (``sub2``): the backbone's first four blocks, the same weights, on the 1/2-resolution image -> H/8;
    - light (``sub1``): three 3 x 3 conv blocks of ``light`` widths, strides 2, 2, 1, on the image -> H/4;
    - ``cff_24`` fuses heavy into medium, ``cff_124`` that into light (``fused`` maps each); a 1 x 1
      classifier; bilinear 4x upsampling at test time. Image sides must be multiples of 16 (and the
      heavy branch's H/16 map at least as large as the largest bin).
    """

    def __init__(self, num_classes: int, widths: tuple[int, int, int] = (16, 32, 64),
                 light: tuple[int, int, int] = (8, 16, 32), fused: int = 32, bins: tuple[int, ...] = (1, 2, 3, 6)):
        super().__init__()
        check_int("num_classes", num_classes, 1)
        self.backbone = backbone(widths)
        self.pyramid = PyramidPoolingModule(widths[2], bins)
        self.heavy_head = conv_block(self.pyramid.out_channels, widths[2])
        self.sub1 = nn.Sequential(conv_block(3, light[0], 2), conv_block(light[0], light[1], 2),
                                  conv_block(light[1], light[2]))
        self.cff_24 = CascadeFeatureFusion(widths[2], widths[2], fused, num_classes)
        self.cff_124 = CascadeFeatureFusion(fused, light[2], fused, num_classes)
        self.classifier = nn.Conv2d(fused, num_classes, 1)

    def forward(self, x: torch.Tensor):
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3 or x.shape[-1] % 16 or x.shape[-2] % 16:
            raise ValueError(f"ICNet expects images (N, 3, H, W) with sides multiple of 16, got "
                             f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
        half, quarter = F.avg_pool2d(x, 2), F.avg_pool2d(x, 4)       # downsampling without aliasing
        f_sub4 = self.heavy_head(self.pyramid(self.backbone(quarter)))   # H/16
        f_sub2 = self.backbone[:4](half)                                  # H/8, shared weights
        f_sub24, scores_sub4 = self.cff_24(f_sub4, f_sub2)               # H/8
        f_sub124, scores_sub24 = self.cff_124(f_sub24, self.sub1(x))     # H/4
        scores = self.classifier(f_sub124)
        if self.training:
            return scores_sub4, scores_sub24, scores
        return F.interpolate(scores, size=x.shape[-2:], mode="bilinear", align_corners=False)


class CascadeLoss(nn.Module):
    """§3.4, Eq. 1: cascade label guidance, ``sum_t weights[t] * cross-entropy(outputs[t], masks)``, each
    output's scores upsampled bilinearly to the masks' size as :class:`ICNet` does at test time
    (:data:`IGNORE_INDEX` ignored). The paper weighs its three outputs, coarse to fine, 0.4, 0.4 and 1.

    The paper downsamples the labels instead. Nearest-neighbour downsampling by 4 keeps pixel ``4i``, while
    bilinear upsampling puts score ``i`` at ``4i + 1.5``: a net trained that way shows every mask 1.5 pixels
    down and to the right of where it belongs (``tests/test_icnet.py`` measures the shift)."""

    def __init__(self, weights: tuple[float, ...] = (0.4, 0.4, 1.0)):
        super().__init__()
        self.weights = tuple(weights)

    def forward(self, outputs, masks: torch.Tensor) -> torch.Tensor:
        if not isinstance(outputs, (tuple, list)) or len(outputs) != len(self.weights):
            raise ValueError(f"CascadeLoss expects {len(self.weights)} outputs (ICNet in train mode), got "
                             f"{type(outputs).__name__}{f' of {len(outputs)}' if isinstance(outputs, (tuple, list)) else ''}")
        total = 0.0
        for weight, scores in zip(self.weights, outputs):
            scores = F.interpolate(scores, size=masks.shape[-2:], mode="bilinear", align_corners=False)
            total = total + weight * F.cross_entropy(scores, masks, ignore_index=IGNORE_INDEX)
        return total


@dataclass(frozen=True)
class ICNetRecipe:
    """Notebook 05b's cascade experiment: :class:`ICNet` and the same heavy network at full resolution
    (:class:`PSPNet`) trained from ``seed`` on ``n_train`` context scenes of ``image_size`` pixels, Adam with
    the pyramid experiment's one-cycle rate (peak ``lr`` after ``warmup`` of the steps, see
    :func:`~course_lib.models.pspnet.train_segmentation`), scored on ``n_val`` held-out ones; latency of one
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
