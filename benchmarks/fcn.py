"""FCN-32s vs FCN-16s vs FCN-8s on the shapes dataset (notebook 01, "Effects"): mean IoU and
boundary F1 on a held-out set, same backbone, data, steps and seed for all three.

    .venv/bin/python benchmarks/fcn.py            # full mode: the numbers notebook 01 promises
    COURSE_MODE=fast .venv/bin/python benchmarks/fcn.py

Runs the notebook's recipe and training, ``course_lib.recipes.fcn`` (``fcn_recipe()``, ``train``,
``evaluate``), and prints one table. The claim (paper §4.2, Table 2): each skip sharpens the boundaries,
so FCN-8s beats FCN-32s on both measures.
"""
import time

from course_lib import setup
from course_lib.models.fcn import VARIANTS
from course_lib.recipes.fcn import evaluate, fcn_recipe, shapes_data, train


def main():
    device = setup()
    recipe = fcn_recipe()
    train_set, images, masks = shapes_data(recipe)
    rows = []
    for variant in VARIANTS:
        start = time.perf_counter()
        model, _ = train(recipe, variant, train_set, device=device, plot=False)
        seconds = time.perf_counter() - start
        scores = evaluate(model, images, masks)
        rows.append((variant, scores["miou"], scores["boundary_f1"], seconds))
    print(f"\nFCN on shapes {recipe.image_size}px, {recipe.n_train} train / {recipe.n_val} val images, "
          f"{recipe.epochs} epochs, compact backbone")
    print(f"{'variant':>8} {'mean IoU':>9} {'boundary F1':>12} {'train s':>8}")
    for variant, miou, bf1, seconds in rows:
        print(f"{'FCN-' + variant:>8} {miou:9.3f} {bf1:12.3f} {seconds:8.1f}")


if __name__ == "__main__":
    main()
