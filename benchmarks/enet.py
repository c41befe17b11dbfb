"""ENet on the shapes dataset (notebook 03, "Training ENet on shapes"): held-out mean IoU.

    .venv/bin/python benchmarks/enet.py              # full mode: the number notebook 03 promises
    COURSE_MODE=fast .venv/bin/python benchmarks/enet.py

Trains with the notebook's function and recipe, ``course_lib.recipes.enet.train_enet(enet_recipe())`` (full mode: 3000 images of
128 x 128, batch 8, no spatial dropout, Adam with weight decay 2e-4, a one-cycle learning rate up to
5e-3, 8 epochs, plain cross-entropy, channels-last memory order), without the notebook's per-epoch validation, which changes
no weight; the same computation as ``scripts/train_enet_checkpoint.py``, which ships the result for the notebook. Target (course issue 3): mean IoU >= 0.90 on 200 held-out images.
"""
import time

import torch

from course_lib import pick, setup
from course_lib.recipes.enet import enet_recipe, held_out_iou, train_enet

TARGET = 0.90


def main():
    device = setup()
    recipe = enet_recipe()
    start = time.perf_counter()
    model = train_enet(recipe, validate=False, plot=False, device=device)
    seconds = time.perf_counter() - start
    quality = held_out_iou(model, recipe)
    print(f"\nENet on shapes {recipe.image_size}px, {recipe.n_train} train / {recipe.n_val} held-out images, "
          f"{recipe.epochs} epochs, {torch.get_num_threads()} threads, {seconds:.0f} s of training")
    print(f"{'class':>12} {'IoU':>6}")
    for name, iou in quality.items():
        if name != "mean":
            print(f"{name:>12} {iou:6.3f}")
    verdict = "PASS" if quality["mean"] >= TARGET else "FAIL"
    print(f"{'mean IoU':>12} {quality['mean']:6.3f}   target >= {TARGET} -> "
          f"{pick(fast='(targets apply to full mode only)', full=verdict)}")


if __name__ == "__main__":
    main()
