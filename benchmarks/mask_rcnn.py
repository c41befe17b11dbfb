"""The small Mask R-CNN on instance shapes (notebook 04): mask and box AP, speed, and the two
ablations (RoIAlign vs RoIPool at strides 8/16/32; per-class sigmoid vs softmax masks).

    .venv/bin/python benchmarks/mask_rcnn.py            # full mode: the numbers notebook 04 promises
    COURSE_MODE=fast .venv/bin/python benchmarks/mask_rcnn.py

Runs the notebook's recipe, ``course_lib.models.mask_rcnn.mask_rcnn_recipe()``. Targets (course
issue 11): mask AP@[.5:.95] >= 0.60 and mask AP50 >= 0.90 on the held-out shapes; >= 25 images/s
at 128 px, batch 1, on the CPU; RoIAlign beats RoIPool at every stride, by more at stride 32.
The ResNet-50-FPN Mask R-CNN (random weights) is timed at its default 800 px in the same run.
"""
import time

import torch
from torchvision.models.detection import maskrcnn_resnet50_fpn

from course_lib import pick, setup
from course_lib.data import ShapesDataset, sample_image
from course_lib.models.mask_rcnn import (POOLINGS, ablation_summary, instance_ap, mask_head_ablation,
                                         mask_rcnn_recipe, stage_seconds, train_small_mask_rcnn)

TARGETS = {"mask AP": 0.60, "mask AP50": 0.90, "images/s": 25.0}


def main():
    device = setup()
    recipe = mask_rcnn_recipe()
    start = time.perf_counter()
    model, _ = train_small_mask_rcnn(recipe, device, plot=False)
    seconds = time.perf_counter() - start
    val_set = ShapesDataset(recipe.n_val, recipe.image_size, seed=1, task="instance")
    ap = instance_ap(model, val_set)
    image = val_set[0][0].as_subclass(torch.Tensor)
    small = stage_seconds(model, [image], repeats=pick(fast=3, full=20))
    torch.manual_seed(0)
    big = stage_seconds(maskrcnn_resnet50_fpn(weights=None, weights_backbone=None),
                        [sample_image("coffee")], repeats=pick(fast=1, full=3))
    ablation = mask_head_ablation(recipe, [(s, p, "sigmoid") for s in recipe.strides for p in POOLINGS]
                                  + [(8, "RoIAlign", "softmax")])

    verdict = pick(fast=lambda ok: "(targets apply to full mode only)", full=lambda ok: "PASS" if ok else "FAIL")
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
          f"R50-FPN is {sum(big.values()) / sum(small.values()):.0f}x slower; paper: 195 ms on a 2017 GPU")

    print(f"\nmask head alone on ground-truth boxes, {recipe.ablation_steps} steps, seeds {recipe.ablation_seeds}: "
          "mean over seeds ± sample std")
    summaries = {key: ablation_summary(ablation, key) for key in ("mean_iou", "iou75")}
    print(f"{'stride':>6} {'pooling':>18} {'mask loss':>9} {'mean IoU':>15} {'IoU >= 0.75':>15}")
    for (stride, pooling, loss), iou in summaries["mean_iou"].items():
        share = summaries["iou75"][stride, pooling, loss]
        print(f"{stride:>6} {pooling:>18} {loss:>9} {iou['mean']:+8.3f} ± {iou['std']:.3f} "
              f"{share['mean']:+8.3f} ± {share['std']:.3f}")


if __name__ == "__main__":
    main()
