"""The small Mask R-CNN on instance shapes (notebook 04): mask and box AP, speed, and the two
ablations of the mask head (RoIAlign vs RoIPool at strides 8/16/32; per-class sigmoid vs softmax).

    .venv/bin/python benchmarks/mask_rcnn.py              # full mode: everything notebook 04 measures
    .venv/bin/python benchmarks/mask_rcnn.py --ablation   # only the RoIAlign / RoIPool ablation
    .venv/bin/python benchmarks/mask_rcnn.py --mask-loss-steps 600   # only sigmoid vs softmax, 600 steps
    COURSE_MODE=fast .venv/bin/python benchmarks/mask_rcnn.py

Runs the notebook's recipe, ``course_lib.recipes.mask_rcnn.mask_rcnn_recipe()``, with the same
functions. What it checks, with PASS / FAIL in full mode (fast mode only prints):

* the trained model's mask AP@[.5:.95] >= 0.60 and mask AP50 >= 0.90 on the held-out shapes;
* >= 25 images/s at 128 px, batch 1, on the CPU (the ResNet-50-FPN Mask R-CNN, random weights, is
  timed at its default 800 px in the same run, for comparison only).

What it measures and prints without a verdict (the notebook draws its conclusions from these
numbers): for every stride of ``recipe.strides`` (the notebook runs ``recipe.notebook_strides``),
the mask head trained with RoIPool, with RoIAlign at the offset that matches the backbone, and with
RoIAlign ``aligned=True`` (the mismatched offset), over ``recipe.ablation_seeds``: mean ± sample std
of the mean mask IoU and of the share with IoU >= 0.75, and each RoIAlign's per-seed gap to RoIPool
with whether its sign holds in every seed; and sigmoid vs softmax masks at stride 8, also split by
whether a mask's box overlaps a box of another class (where a per-pixel softmax has two classes to choose from),
with the softmax masks read by the box's class and as any class (1 - P(background)); ``--mask-loss-steps N``
runs that comparison alone with N training steps instead of the recipe's.
The notebook loads the model that ``scripts/train_mask_rcnn_checkpoint.py`` trains with the same recipe;
this benchmark trains it from scratch.
"""
import sys
import time
from dataclasses import replace

import numpy as np
import torch
from torchvision.models.detection import maskrcnn_resnet50_fpn

from course_lib import pick, setup
from course_lib.data import ShapesDataset, sample_image
from course_lib.models.mask_rcnn import POOLINGS
from course_lib.recipes.mask_rcnn import (ablation_summary, gap_verdict, instance_ap, instance_ious, mask_head_ablation,
                                          mask_rcnn_recipe, overlaps_other_class, paired_gaps, stage_seconds,
                                          train_small_mask_rcnn)

TARGETS = {"mask AP": 0.60, "mask AP50": 0.90, "images/s": 25.0}


def verdict(ok: bool) -> str:
    return pick(fast="(targets apply to full mode only)", full="PASS" if ok else "FAIL")


def model_and_speed(recipe, device) -> None:
    start = time.perf_counter()
    model, _ = train_small_mask_rcnn(recipe, device, plot=False)
    seconds = time.perf_counter() - start
    val_set = ShapesDataset(recipe.n_val, recipe.image_size, seed=1, task="instance")
    ap = instance_ap(model, val_set)
    small = stage_seconds(model, [val_set[0][0].as_subclass(torch.Tensor)], repeats=pick(fast=3, full=20))
    torch.manual_seed(0)
    big = stage_seconds(maskrcnn_resnet50_fpn(weights=None, weights_backbone=None),
                        [sample_image("coffee")], repeats=pick(fast=1, full=3))
    print(f"\nsmall Mask R-CNN on shapes {recipe.image_size}px, {recipe.n_train} train / {recipe.n_val} held-out "
          f"images, {recipe.epochs} epochs, {torch.get_num_threads()} threads, {seconds:.0f} s of training")
    print(f"{'':>6} {'AP':>6} {'AP50':>6} {'AP75':>6}")
    for kind in ("mask", "box"):
        print(f"{kind:>6} {ap[kind]['AP']:6.3f} {ap[kind]['AP50']:6.3f} {ap[kind]['AP75']:6.3f}")
    print(f"mask AP >= {TARGETS['mask AP']}: {verdict(ap['mask']['AP'] >= TARGETS['mask AP'])}; "
          f"mask AP50 >= {TARGETS['mask AP50']}: {verdict(ap['mask']['AP50'] >= TARGETS['mask AP50'])}")
    print("\ninference, batch 1, median ms per stage (one run, side by side)")
    print(f"{'stage':>12} {'small 128px':>12} {'R50-FPN 800px':>14}")
    for stage in small:
        print(f"{stage:>12} {1000 * small[stage]:12.1f} {1000 * big[stage]:14.1f}")
    rate = 1 / sum(small.values())
    print(f"{'total':>12} {1000 * sum(small.values()):12.1f} {1000 * sum(big.values()):14.1f}   "
          f"small: {rate:.0f} images/s (>= {TARGETS['images/s']}: {verdict(rate >= TARGETS['images/s'])}); "
          f"R50-FPN is {sum(big.values()) / sum(small.values()):.0f}x slower; "
          "paper: 195 ms per image, R-101-FPN, Tesla M40 (Mask R-CNN §4.3, Timing)")


def ablations(recipe, with_softmax: bool) -> None:
    settings = [(s, p, "sigmoid") for s in recipe.strides for p in POOLINGS]
    trained = {}
    rows = mask_head_ablation(recipe, settings + ([(8, "RoIAlign", "softmax")] if with_softmax else []), models=trained)
    summaries = {key: ablation_summary(rows, key) for key in ("mean_iou", "iou75")}
    print(f"\nmask head alone on ground-truth boxes, {recipe.ablation_steps} steps, seeds {recipe.ablation_seeds}: "
          "mean over seeds ± sample std, in %")
    print(f"{'stride':>6} {'pooling':>33} {'mask loss':>9} {'mean IoU':>14} {'IoU >= 0.75':>14}")
    for (stride, pooling, loss), iou in summaries["mean_iou"].items():
        share = summaries["iou75"][stride, pooling, loss]
        print(f"{stride:>6} {pooling:>33} {loss:>9} {100 * iou['mean']:+7.2f} ± {100 * iou['std']:.2f} "
              f"{100 * share['mean']:+7.2f} ± {100 * share['std']:.2f}")
    print("\nper-seed gaps to RoIPool, in points of %")
    for stride in recipe.strides:
        for pooling in (p for p in POOLINGS if p != "RoIPool"):
            for key in ("mean_iou", "iou75"):
                gaps = 100 * np.array(paired_gaps(rows, stride, pooling, key))
                print(f"{stride:>6} {pooling:>24} {key:>8}: {', '.join(f'{g:+.2f}' for g in gaps)}  "
                      f"({gap_verdict(list(gaps))})")
    if with_softmax:
        mask_loss_comparison(recipe, trained)


def mask_loss_comparison(recipe, trained: dict | None = None) -> None:
    """Sigmoid vs softmax masks at stride 8 (RoIAlign), per seed: mean mask IoU in % on the held-out
    masks whose box overlaps another class's box / on the others; the softmax read by the box's class
    and as any class. Trains the two heads unless ``trained`` (from ``mask_head_ablation``) has them."""
    if trained is None:
        trained = {}
        mask_head_ablation(recipe, [(8, "RoIAlign", "sigmoid"), (8, "RoIAlign", "softmax")], models=trained)
    val = list(ShapesDataset(recipe.n_val, recipe.image_size, seed=1, task="instance"))
    crowded = overlaps_other_class(val)
    print(f"\nstride 8, RoIAlign, {recipe.ablation_steps} steps: mean mask IoU in % per seed {recipe.ablation_seeds}, "
          f"all / on the {int(crowded.sum())} held-out masks whose box overlaps another class's box / on the other "
          f"{int((~crowded).sum())}")
    for label, loss, any_class in (("sigmoid", "sigmoid", False), ("softmax", "softmax", False),
                                   ("softmax, any class", "softmax", True)):
        ious = [instance_ious(trained[8, "RoIAlign", loss, seed], val, any_class=any_class)
                for seed in recipe.ablation_seeds]
        print(f"{label:>18}: " + ", ".join(f"{100 * float(i.mean()):.1f} / {100 * float(i[crowded].mean()):.1f} / "
                                            f"{100 * float(i[~crowded].mean()):.1f}" for i in ious))


def main():
    device = setup()
    recipe = mask_rcnn_recipe()
    if "--mask-loss-steps" in sys.argv[1:]:
        steps = int(sys.argv[sys.argv.index("--mask-loss-steps") + 1])
        mask_loss_comparison(replace(recipe, ablation_steps=steps))
        return
    only_ablation = "--ablation" in sys.argv[1:]
    if not only_ablation:
        model_and_speed(recipe, device)
    ablations(recipe, with_softmax=not only_ablation)


if __name__ == "__main__":
    main()
