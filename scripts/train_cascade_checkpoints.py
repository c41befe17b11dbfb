"""Train notebook 05b's cascade pair, ICNet and the same heavy network at full resolution, and save it for the notebook.

    .venv/bin/python scripts/train_cascade_checkpoints.py    # writes course_lib/checkpoints/icnet/*.pt

What it trains: ``train_cascade_pair(icnet_recipe())`` (``course_lib.recipes.backbones_pyramid``) in full mode, seed 0: PSPNet
at full resolution and ICNet (with ``CascadeLoss``), each on the same 768 context scenes of 128 px for 10 epochs
with the pyramid experiment's one-cycle rate. That is what notebook 05b trained in its own run before; it now
loads these two files and measures them (held-out mean IoU, latency at 1024 x 2048), which leaves the notebook's
8 minutes to the pyramid and semi-supervised experiments, whose trainings are the lesson.
``benchmarks/developments.py 05b`` trains the pair from scratch for three seeds with the same function.
Ten epochs is the shortest recipe measured to train the pair on every seed: with seven, seed 1's ICNet reached a
held-out mean IoU of 0.765 against its heavy net's 0.962 (seed 0: 0.950 against 0.960).

The weights are stored in half precision (``save_cascade_checkpoints``); ``meta`` records the recipe, the training
time and thread count, and the held-out mean IoU of each network measured right after training. The same command
gives the same files on the same machine (CPU, torch version, thread count).
"""
import argparse
import dataclasses
import time
from pathlib import Path

import torch

from course_lib import setup
from course_lib.config import REPO_ROOT
from course_lib.recipes.backbones_pyramid import (cascade_experiment, icnet_recipe, load_cascade_checkpoints,
                                                  save_cascade_checkpoints, train_cascade_pair)
from course_lib.weights import training_meta


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=REPO_ROOT / "course_lib",
                        help="the package folder the checkpoints' relative paths start from")
    args = parser.parse_args(argv)
    setup()
    recipe = icnet_recipe()
    start = time.perf_counter()
    models = train_cascade_pair(recipe)
    seconds = time.perf_counter() - start
    scores = cascade_experiment(dataclasses.replace(recipe, repeats=1, timing_size=(128, 128)), models=models)["miou"]
    meta = training_meta(recipe, seconds, held_out_miou=scores)
    save_cascade_checkpoints(models, meta, args.folder)
    reloaded = cascade_experiment(dataclasses.replace(recipe, repeats=1, timing_size=(128, 128)),
                                  models=load_cascade_checkpoints(args.folder))["miou"]
    for name in models:
        print(f"{name}: held-out mean IoU {scores[name]:.4f}, reloaded from half precision {reloaded[name]:.4f}")
    print(f"trained in {seconds:.0f} s on {torch.get_num_threads()} threads; wrote {args.folder}/checkpoints/icnet/")


if __name__ == "__main__":
    main()
