"""Notebook 04's experiments ("Mask R-CNN"): the small Mask R-CNN trained on shapes and scored by COCO AP, the
mask head alone on ground-truth boxes (Table 2b-d in miniature: RoIAlign vs RoIPool, sigmoid vs softmax masks)
and where an inference spends its time; ``benchmarks/mask_rcnn.py`` and ``scripts/train_mask_rcnn_checkpoint.py``
run the same.

    recipe = mask_rcnn_recipe()
    model, history = train_small_mask_rcnn(recipe)          # or load_mask_rcnn_checkpoint()
    instance_ap(model, ShapesDataset(recipe.n_val, recipe.image_size, seed=1, task="instance"))
    rows = mask_head_ablation(recipe, [(8, "RoIAlign", "sigmoid"), (8, "RoIPool", "sigmoid")])
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision.models.detection import MaskRCNN as _TorchvisionMaskRCNN
from torchvision.models.detection.roi_heads import paste_masks_in_image
from torchvision.ops import roi_align
from torchvision.transforms import v2
from tqdm.auto import tqdm

from course_lib.config import pick
from course_lib.data.shapes import NUM_CLASSES, ShapesDataset
from course_lib.losses.detection import mask_loss, softmax_mask_loss, total_loss
from course_lib.metrics import coco_average_precision
from course_lib.models.mask_rcnn import MaskHeadOnly, mask_rcnn_batch, small_mask_rcnn
from course_lib.train import fit
from course_lib.weights import load_half_checkpoint, save_half_checkpoint

__all__ = ["TrainingLosses", "train_mask_head", "instance_ious", "evaluate_mask_head", "overlaps_other_class",
           "MaskRCNNRecipe", "FULL_RECIPE", "FAST_RECIPE", "CHECKPOINT", "mask_rcnn_recipe", "save_mask_rcnn_checkpoint",
           "load_mask_rcnn_checkpoint", "train_small_mask_rcnn", "predict_instances", "instance_ap",
           "mask_head_ablation", "ablation_summary", "paired_gaps", "gap_verdict", "stage_seconds"]


class TrainingLosses(nn.Module):
    """A detector as ``course_lib.train.fit`` wants it: ``forward((images, targets))`` returns the
    dict of losses; train with ``fit(TrainingLosses(model), total_loss, loader, ...)``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch):
        images, targets = batch
        return self.model(images, targets)


def _jitter(boxes: torch.Tensor, generator: torch.Generator, amount: float) -> torch.Tensor:
    """Boxes moved and resized by up to ``amount`` of their size: stand-ins for RPN proposals."""
    size = (boxes[:, 2:] - boxes[:, :2]).repeat(1, 2)
    return boxes + (torch.rand(boxes.shape, generator=generator) * 2 - 1) * amount * size


def _instances(dataset, indices):
    images, boxes, labels, masks = [], [], [], []
    for i in indices:
        image, target = dataset[i]
        images.append(image.as_subclass(torch.Tensor))
        boxes.append(target["boxes"].as_subclass(torch.Tensor))
        labels.append(target["labels"])
        masks.append(target["masks"].as_subclass(torch.Tensor))
    return torch.stack(images), boxes, torch.cat(labels), masks


def train_mask_head(model: MaskHeadOnly, dataset, steps: int, batch_size: int = 8, lr: float = 2e-3,
                    seed: int = 0, jitter: float = 0.1) -> list[float]:
    """Train :class:`MaskHeadOnly` on jittered ground-truth boxes of ``ShapesDataset(task="instance")``
    (Adam, cosine schedule); returns the loss of every step."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    losses = []
    model.train()
    for _ in range(steps):
        indices = torch.randint(len(dataset), (batch_size,), generator=generator).tolist()
        images, boxes, labels, masks = _instances(dataset, indices)
        proposals = [_jitter(b, generator, jitter) for b in boxes]
        masks, rois = torch.cat(masks)[:, None].float(), torch.cat(proposals)
        rois = torch.cat([torch.arange(len(rois), dtype=rois.dtype)[:, None], rois], 1)  # box k crops mask k
        targets = roi_align(masks, rois, 28, 1.0, sampling_ratio=2, aligned=True)[:, 0]
        loss = (mask_loss if model.mask_loss == "sigmoid" else softmax_mask_loss)(model(images, proposals), labels, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    return losses


@torch.no_grad()
def instance_ious(model: MaskHeadOnly, dataset, batch_size: int = 32, any_class: bool = False) -> torch.Tensor:
    """The IoU of every instance's mask predicted on its exact ground-truth box, pasted into the image
    and cut at 0.5, with its true mask: one value per instance, in the dataset's order. ``any_class``:
    see :meth:`MaskHeadOnly.masks`."""
    model.eval()
    ious = []
    for start in range(0, len(dataset), batch_size):
        images, boxes, labels, masks = _instances(dataset, range(start, min(start + batch_size, len(dataset))))
        probabilities = model.masks(model(images, boxes), labels, any_class)
        pasted = paste_masks_in_image(probabilities[:, None], torch.cat(boxes), images.shape[-2:])[:, 0] >= 0.5
        truth = torch.cat(masks).bool()
        ious.append((pasted & truth).sum((1, 2)) / (pasted | truth).sum((1, 2)))
    return torch.cat(ious)


def evaluate_mask_head(model: MaskHeadOnly, dataset, batch_size: int = 32) -> dict[str, float]:
    """:func:`instance_ious` summarised: ``mean_iou`` and ``iou75``, the share with IoU >= 0.75."""
    ious = instance_ious(model, dataset, batch_size)
    return {"mean_iou": float(ious.mean()), "iou75": float((ious >= 0.75).float().mean())}


def overlaps_other_class(dataset) -> torch.Tensor:
    """One bool per instance of ``dataset`` (in :func:`instance_ious`'s order): does its box overlap the
    box of an instance of another class in the same image? Inside such a box a per-pixel softmax over
    classes has two classes to choose between; per-class sigmoid masks do not compete."""
    flags = []
    for _, target in dataset:
        boxes, labels = target["boxes"].as_subclass(torch.Tensor), target["labels"]
        lo = torch.maximum(boxes[:, None, :2], boxes[None, :, :2])
        hi = torch.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
        overlap = (hi - lo).clamp_min(0).prod(-1) > 0
        flags.append((overlap & (labels[:, None] != labels[None, :])).any(1))
    return torch.cat(flags)


@dataclass(frozen=True)
class MaskRCNNRecipe:
    """How notebook 04 trains and measures; ``benchmarks/mask_rcnn.py`` runs the same.

    The small Mask R-CNN: AdamW, a one-cycle learning rate up to ``lr`` (its warm-up keeps the early
    losses finite; SGD with momentum reached 0.41 mask AP in 7 epochs), horizontal and vertical flips,
    ``n_train`` shapes of ``image_size`` px (seed 0), scored on ``n_val`` held-out ones (seed 1). With
    horizontal flips only and 7 epochs, peak rates of 1e-3, 2e-3 and 4e-3 reached mask AP 0.625, 0.687
    and 0.691 (AP50 0.821, 0.874, 0.889); one RoIAlign sample per bin (:func:`small_mask_rcnn`) made
    room for 10 epochs in the same time. The ablations train :class:`MaskHeadOnly` for
    ``ablation_steps`` steps per setting and seed, every pooling at ``strides`` in the benchmark,
    at ``notebook_strides`` in the notebook (what fits its time).
    """

    image_size: int
    n_train: int
    n_val: int
    epochs: int
    ablation_steps: int
    ablation_seeds: tuple[int, ...]
    batch_size: int = 8
    lr: float = 4e-3
    strides: tuple[int, ...] = (8, 16, 32)
    notebook_strides: tuple[int, ...] = (8, 32)
    notebook_epochs: int = 2


FULL_RECIPE = MaskRCNNRecipe(image_size=128, n_train=1000, n_val=200, epochs=10, ablation_steps=150,
                             ablation_seeds=(0, 1, 2))


FAST_RECIPE = MaskRCNNRecipe(image_size=128, n_train=96, n_val=24, epochs=2, ablation_steps=15, ablation_seeds=(0,))


CHECKPOINT = "mask_rcnn/shapes.pt"  # in its own folder: every .pt directly in checkpoints/ is a style


def mask_rcnn_recipe() -> MaskRCNNRecipe:
    """The mode's recipe (see :class:`MaskRCNNRecipe`): :data:`FAST_RECIPE` or :data:`FULL_RECIPE`."""
    return pick(fast=FAST_RECIPE, full=FULL_RECIPE)


def save_mask_rcnn_checkpoint(model: nn.Module, path, meta: dict) -> None:
    """``model``'s weights in half precision, with the :func:`small_mask_rcnn` arguments and ``meta``
    (:func:`~course_lib.weights.save_half_checkpoint`)."""
    save_half_checkpoint(path, model, meta, num_classes=NUM_CLASSES, image_size=meta["image_size"])


def load_mask_rcnn_checkpoint(path=None) -> _TorchvisionMaskRCNN:
    """The course's small Mask R-CNN trained by ``scripts/train_mask_rcnn_checkpoint.py`` (the full
    recipe's epochs on shapes), in eval mode on the CPU, with the script's ``meta`` (recipe, seconds)
    on ``model.meta``; ``path`` reads another file of :func:`save_mask_rcnn_checkpoint`'s format.
    Loaded with ``torch.load(weights_only=True)``: tensors and plain data only."""
    source = resources.files("course_lib").joinpath("checkpoints", *CHECKPOINT.split("/")) if path is None else Path(path)
    return load_half_checkpoint(source, small_mask_rcnn)


def train_small_mask_rcnn(recipe: MaskRCNNRecipe, device=None, plot: bool | None = None, epochs: int | None = None):
    """Build :func:`small_mask_rcnn` (seed 0) and train it by ``recipe`` with ``course_lib.train.fit``
    (progress bar, loss plot in a notebook) for ``epochs`` (default ``recipe.epochs``; the one-cycle
    schedule spans them). Returns ``(model, history)``."""
    epochs = recipe.epochs if epochs is None else epochs
    train_set = ShapesDataset(recipe.n_train, recipe.image_size, seed=0, task="instance",
                              transforms=v2.Compose([v2.RandomHorizontalFlip(), v2.RandomVerticalFlip()]))
    loader = DataLoader(train_set, batch_size=recipe.batch_size, shuffle=True, drop_last=True,
                        collate_fn=mask_rcnn_batch, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = small_mask_rcnn(NUM_CLASSES, recipe.image_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr, pct_start=0.1,
                                                    total_steps=epochs * len(loader))
    history = fit(TrainingLosses(model), total_loss, loader, epochs=epochs, optimizer=optimizer,
                  scheduler=scheduler, device=device, plot=plot, title="small Mask R-CNN on shapes")
    return model.cpu().eval(), history


@torch.no_grad()
def predict_instances(model: nn.Module, dataset) -> tuple[list[dict], list[dict]]:
    """The model's detections on every image of ``dataset`` (one at a time, on the CPU) and the
    ground truth, as plain tensors: ``(predictions, targets)`` for :func:`coco_average_precision`."""
    model.cpu().eval()
    predictions, targets = [], []
    for image, target in dataset:
        predictions.append(model([image.as_subclass(torch.Tensor)])[0])
        targets.append({key: value.as_subclass(torch.Tensor) for key, value in target.items()})
    return predictions, targets


def instance_ap(model: nn.Module, dataset) -> dict[str, dict[str, float]]:
    """COCO mask and box AP of ``model`` on ``dataset``: ``{"mask": {"AP", "AP50", "AP75"}, "box": {...}}``."""
    predictions, targets = predict_instances(model, dataset)
    return {"mask": coco_average_precision(predictions, targets, "segm"),
            "box": coco_average_precision(predictions, targets, "bbox")}


def mask_head_ablation(recipe: MaskRCNNRecipe, settings, models: dict | None = None) -> list[dict]:
    """Train and score :class:`MaskHeadOnly` for every ``(stride, pooling, mask_loss)`` in
    ``settings`` and every seed of the recipe: one row per run with ``mean_iou`` and ``iou75``.
    ``models``, a dict, receives each trained model under ``(stride, pooling, mask_loss, seed)``."""
    # drawn once into lists: every run reads the same images, without drawing them again
    train_set = list(ShapesDataset(recipe.n_train, recipe.image_size, seed=0, task="instance"))
    val_set = list(ShapesDataset(recipe.n_val, recipe.image_size, seed=1, task="instance"))
    rows = []
    for stride, pooling, loss in tqdm(settings, desc="settings"):
        for seed in recipe.ablation_seeds:
            torch.manual_seed(seed)
            model = MaskHeadOnly(stride, pooling, loss)
            train_mask_head(model, train_set, recipe.ablation_steps, recipe.batch_size, seed=seed)
            rows.append(dict(stride=stride, pooling=pooling, mask_loss=loss, seed=seed,
                             **evaluate_mask_head(model, val_set)))
            if models is not None:
                models[stride, pooling, loss, seed] = model
    return rows


def ablation_summary(rows: list[dict], key: str = "mean_iou") -> dict[tuple, dict[str, float]]:
    """The rows of :func:`mask_head_ablation` grouped by ``(stride, pooling, mask_loss)``: the mean of
    ``key`` over the seeds, its sample standard deviation (0 for one seed) and the runs' count.
    Also, under ``(stride, "<pooling> - RoIPool", mask_loss)`` for each RoIAlign pooling that ran
    with the same seeds as RoIPool: the same statistics of the per-seed difference (paired by seed)."""
    groups: dict[tuple, dict[int, float]] = {}
    for row in rows:
        groups.setdefault((row["stride"], row["pooling"], row["mask_loss"]), {})[row["seed"]] = row[key]
    for (stride, pooling, loss), align in list(groups.items()):
        pool = groups.get((stride, "RoIPool", loss))
        if pooling.startswith("RoIAlign") and pool is not None and pool.keys() == align.keys():
            groups[stride, f"{pooling} - RoIPool", loss] = {seed: align[seed] - pool[seed] for seed in align}
    return {group: {"mean": statistics.fmean(values.values()),
                    "std": statistics.stdev(values.values()) if len(values) > 1 else 0.0, "n": len(values)}
            for group, values in groups.items()}


def paired_gaps(rows: list[dict], stride: int, pooling: str, key: str = "mean_iou",
                baseline: str = "RoIPool", mask_loss: str = "sigmoid") -> list[float]:
    """Per seed, ``key`` of ``pooling`` minus ``key`` of ``baseline`` at ``stride``, from the rows
    of :func:`mask_head_ablation` (seeds where both ran, in seed order)."""
    runs = {(r["pooling"], r["seed"]): r[key] for r in rows if r["stride"] == stride and r["mask_loss"] == mask_loss}
    seeds = sorted(seed for p, seed in runs if p == pooling and (baseline, seed) in runs)
    return [runs[pooling, seed] - runs[baseline, seed] for seed in seeds]


def gap_verdict(gaps: list[float]) -> str:
    """In words, what per-seed gaps say: ahead or behind in every seed, or mixed (the sign
    depends on the seed: within the spread between trainings)."""
    if len(gaps) < 2:
        return "one seed only: no spread to judge the gap by"
    if all(g > 0 for g in gaps):
        return f"ahead in all {len(gaps)} seeds"
    if all(g < 0 for g in gaps):
        return f"behind in all {len(gaps)} seeds"
    return "ahead in some seeds, behind in others: within the spread between trainings"


@torch.inference_mode()
def stage_seconds(model: _TorchvisionMaskRCNN, images: list[torch.Tensor], repeats: int = 3) -> dict[str, float]:
    """Where one inference of a torchvision Mask R-CNN spends its time: the median seconds, over
    ``repeats`` runs, of ``transform`` (resize, normalise), ``backbone`` (with FPN), ``rpn``,
    ``roi_heads`` (box and mask heads) and ``postprocess`` (boxes scaled back, masks pasted)."""
    model.eval()
    times = {name: [] for name in ("transform", "backbone", "rpn", "roi_heads", "postprocess")}
    for _ in range(repeats + 1):  # the first run warms up
        clock = [time.perf_counter()]
        batch, _ = model.transform(images)
        clock.append(time.perf_counter())
        features = model.backbone(batch.tensors)
        clock.append(time.perf_counter())
        proposals, _ = model.rpn(batch, features)
        clock.append(time.perf_counter())
        detections, _ = model.roi_heads(features, proposals, batch.image_sizes)
        clock.append(time.perf_counter())
        model.transform.postprocess(detections, batch.image_sizes, [image.shape[-2:] for image in images])
        clock.append(time.perf_counter())
        for name, start, end in zip(times, clock, clock[1:]):
            times[name].append(end - start)
    return {name: statistics.median(values[1:]) for name, values in times.items()}
