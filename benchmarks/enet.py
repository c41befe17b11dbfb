"""ENet on the shapes dataset (notebook 03, "Training ENet on shapes"): held-out mean IoU.

    .venv/bin/python benchmarks/enet.py              # full mode: the number notebook 03 promises
    COURSE_MODE=fast .venv/bin/python benchmarks/enet.py

Runs the notebook's recipe and training, ``course_lib.recipes.enet`` (full mode: 3000 images of
128 x 128, batch 8, no spatial dropout, Adam with weight decay 2e-4, a one-cycle learning rate up to
5e-3, 8 epochs, plain cross-entropy, channels-last memory order), without the notebook's per-epoch
validation, which changes no weight. Target: mean IoU >= 0.90 on 200 held-out images.
"""
import time

import torch

from course_lib import pick, setup
from course_lib.data import CLASS_NAMES
from course_lib.recipes.enet import enet_recipe, evaluate, shapes_data, train

TARGET = 0.90


def main():
    device = setup()
    recipe = enet_recipe()
    train_set, val_set = shapes_data(recipe)
    start = time.perf_counter()
    model, _ = train(recipe, train_set, device=device, plot=False)
    seconds = time.perf_counter() - start
    scores = evaluate(model.cpu(), val_set)
    print(f"\nENet on shapes {recipe.image_size}px, {recipe.n_train} train / {recipe.n_val} held-out images, "
          f"{recipe.epochs} epochs, {torch.get_num_threads()} threads, {seconds:.0f} s of training")
    print(f"{'class':>12} {'IoU':>6}")
    for name, iou in zip(CLASS_NAMES, scores["iou_per_class"]):
        print(f"{name:>12} {iou:6.3f}")
    verdict = "PASS" if scores["miou"] >= TARGET else "FAIL"
    print(f"{'mean IoU':>12} {scores['miou']:6.3f}   target >= {TARGET} -> "
          f"{pick(fast='(targets apply to full mode only)', full=verdict)}")


if __name__ == "__main__":
    main()
