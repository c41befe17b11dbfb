"""Train notebook 03's ENet with the full recipe and save it for the notebook.

    .venv/bin/python scripts/train_enet_checkpoint.py        # writes course_lib/checkpoints/enet/enet_shapes.pt

What it trains: ``train_enet(FULL_ENET_RECIPE)`` (``course_lib.models.enet``), seed 0: 3000 shapes of
128 x 128 for 8 epochs in batches of 8 (3000 steps), no spatial dropout, Adam with weight decay 2e-4, a
one-cycle learning rate up to 5e-3, plain cross-entropy, channels-last memory order: exactly what notebook 03
trained in full mode before, and what ``benchmarks/enet.py`` trains from scratch. On 2 CPU threads that takes
about 10 minutes (574 s of the notebook's 650 s, measured on a quiet machine), more than a notebook's 8-minute
full mode can spend, so the notebook trains ``enet_short_recipe()`` (one epoch of the same data) to show the
loss fall and loads this file. Trained without the per-epoch validation the notebook plots, which changes no
weight. The weights are stored in half precision (``save_enet_checkpoint``, 0.36 M parameters: about 0.7 MB);
``meta`` records the recipe, the seed, the training time and thread count, the torch version, and the held-out
IoU per class and mean (``held_out_iou``, 200 shapes of seed 1) measured in float32 right after training. The
same command gives the same file on the same machine (CPU, torch version, thread count).
"""
import argparse
import time
from pathlib import Path

import torch

from course_lib import setup
from course_lib.config import REPO_ROOT
from course_lib.recipes.enet import (ENET_CHECKPOINT, FULL_ENET_RECIPE, held_out_iou, load_enet_checkpoint,
                                     save_enet_checkpoint, train_enet)
from course_lib.weights import training_meta

OUT = REPO_ROOT / "course_lib" / ENET_CHECKPOINT
SEED = 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    setup()
    recipe = FULL_ENET_RECIPE
    start = time.perf_counter()
    model = train_enet(recipe, seed=SEED, validate=False, plot=False)
    seconds = time.perf_counter() - start
    quality = held_out_iou(model, recipe)
    meta = training_meta(recipe, seconds, seed=SEED, held_out_iou=quality)
    save_enet_checkpoint(model, args.out, meta)
    print(f"trained {recipe.epochs} epochs in {seconds:.0f} s on {torch.get_num_threads()} threads; held-out IoU "
          + ", ".join(f"{name} {iou:.3f}" for name, iou in quality.items())
          + f"; wrote {args.out} ({args.out.stat().st_size / 1e3:.0f} kB)")
    reloaded = held_out_iou(load_enet_checkpoint(args.out), recipe)
    print(f"reloaded from half precision: held-out mean IoU {reloaded['mean']:.5f} (before {quality['mean']:.5f}, "
          f"difference {reloaded['mean'] - quality['mean']:+.5f})")


if __name__ == "__main__":
    main()
