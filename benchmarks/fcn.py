"""FCN-32s vs FCN-16s vs FCN-8s on the shapes dataset (notebook 01, "Effects"): mean IoU and
boundary F1 on a held-out set, same backbone, data, steps and seed for all three.

    .venv/bin/python benchmarks/fcn.py            # full mode: the numbers notebook 01 promises
    COURSE_MODE=fast .venv/bin/python benchmarks/fcn.py

Runs the notebook's recipe, ``course_lib.models.fcn.fcn_recipe()``, and prints one table. The
claim (paper §4.2, Table 2): each skip sharpens the boundaries, so FCN-8s beats FCN-32s on both
measures.
"""
import time

import torch
from torch import nn
from torch.utils.data import DataLoader

from course_lib import setup
from course_lib.data import NUM_CLASSES, ShapesDataset
from course_lib.metrics import boundary_f1, mean_iou
from course_lib.models.fcn import FCN, VARIANTS, fcn_recipe
from course_lib.train import fit, predict


def main():
    device = setup()
    recipe = fcn_recipe()
    train = ShapesDataset(recipe.n_train, size=recipe.image_size, seed=0)
    val = ShapesDataset(recipe.n_val, size=recipe.image_size, seed=1)
    images, masks = map(torch.stack, zip(*[val[i] for i in range(len(val))]))
    rows = []
    for variant in VARIANTS:
        torch.manual_seed(0)
        model = FCN(NUM_CLASSES, variant, backbone="compact")
        loader = DataLoader(train, batch_size=recipe.batch_size, shuffle=True, generator=torch.Generator().manual_seed(0))
        start = time.perf_counter()
        fit(model, nn.CrossEntropyLoss(), loader, epochs=recipe.epochs, lr=recipe.lr, device=device, plot=False)
        seconds = time.perf_counter() - start
        pred = predict(model.cpu(), images, batch_size=64).argmax(1)
        rows.append((variant, mean_iou(pred, masks, NUM_CLASSES), boundary_f1(pred, masks), seconds))
    print(f"\nFCN on shapes {recipe.image_size}px, {recipe.n_train} train / {recipe.n_val} val images, "
          f"{recipe.epochs} epochs, compact backbone")
    print(f"{'variant':>8} {'mean IoU':>9} {'boundary F1':>12} {'train s':>8}")
    for variant, miou, bf1, seconds in rows:
        print(f"{'FCN-' + variant:>8} {miou:9.3f} {bf1:12.3f} {seconds:8.1f}")


if __name__ == "__main__":
    main()
