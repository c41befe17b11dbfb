"""Train the course's small Mask R-CNN on instance shapes and save it for notebook 04.

    .venv/bin/python scripts/train_mask_rcnn_checkpoint.py         # writes course_lib/checkpoints/mask_rcnn/shapes.pt

Notebook 04 trains the model for ``recipe.notebook_epochs`` epochs to show the losses fall, then loads
this checkpoint: the full recipe (``course_lib.recipes.mask_rcnn.FULL_RECIPE``: 1,000 shapes of 128 px,
10 epochs, AdamW with a one-cycle rate up to 4e-3, flips), trained by the same function,
``train_small_mask_rcnn``, seed 0, in about nine minutes on 2 CPU cores. Weights are stored in half
precision (about 3 MB); ``meta`` records the recipe, the training time and the held-out COCO AP that
``instance_ap`` measured on ``FULL_RECIPE.n_val`` shapes (seed 1) right after training.
``benchmarks/mask_rcnn.py`` trains the same recipe from scratch and checks its AP.
"""
import argparse
import time
from pathlib import Path

from course_lib import setup
from course_lib.data import ShapesDataset
from course_lib.recipes.mask_rcnn import (CHECKPOINT, FULL_RECIPE, instance_ap, load_mask_rcnn_checkpoint,
                                          save_mask_rcnn_checkpoint, train_small_mask_rcnn)
from course_lib.weights import training_meta

OUT = Path(__file__).resolve().parents[1] / "course_lib" / "checkpoints" / CHECKPOINT


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    device = setup()
    recipe = FULL_RECIPE
    start = time.perf_counter()
    model, _ = train_small_mask_rcnn(recipe, device, plot=False)
    seconds = time.perf_counter() - start
    val = ShapesDataset(recipe.n_val, recipe.image_size, seed=1, task="instance")
    ap = instance_ap(model, val)
    meta = training_meta(recipe, seconds, image_size=recipe.image_size, held_out_ap=ap)
    save_mask_rcnn_checkpoint(model, args.out, meta)
    print(f"trained {recipe.epochs} epochs in {seconds:.0f} s; held-out mask AP {ap['mask']['AP']:.3f} "
          f"(AP50 {ap['mask']['AP50']:.3f}), box AP {ap['box']['AP']:.3f}; wrote {args.out} "
          f"({args.out.stat().st_size / 1e6:.1f} MB)")
    if args.out == OUT:
        reloaded = instance_ap(load_mask_rcnn_checkpoint(), val)
        print(f"reloaded from half precision: mask AP {reloaded['mask']['AP']:.3f}")


if __name__ == "__main__":
    main()
