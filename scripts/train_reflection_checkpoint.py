"""Train notebook 10's reflection checkpoint: a ``LinearLightSeparationNet`` that ties the blend on SSIM, beats it on PSNR.

    .venv/bin/python scripts/train_reflection_checkpoint.py            # the shipped file, seed 0
    .venv/bin/python scripts/train_reflection_checkpoint.py --seed 1 --out /tmp/seed1.pt

writes ``course_lib/checkpoints/reflection/linear_light.pt`` (about 0.1 MB) that notebook 10 loads with
``load_linear_light_checkpoint()``. What it trains (``course_lib.models.reflection.train_linear_light``):

* ``LinearLightSeparationNet(24, reflection_sigma=1.5)``: the context-aggregation layers of ``SeparationNet``
  with a head that undoes the §4 blend model in linear light, B = (I - R) / t with R a blurred share of I;
* loss: L1 on B and R plus 3 x (1 - SSIM of B) (``separation_loss(ssim_weight=3.0)``);
* data: ``linear_light_recipe()``, 1,365 blends of 96x96 patches of ``TRAIN_IMAGES`` (the held-out photos
  camera, grace_hopper and rocket are never seen), 8 epochs, Adam with a one-cycle rate up to 2e-3.

It runs about 8 minutes on 2 CPU threads, which is more than notebook 10's full mode can spend on it, so the
notebook loads the result. The same command gives the same file on the same machine (CPU, one torch version,
the same thread count). It prints PSNR/SSIM of B on the held-out blends (``evaluate_separation``);
``benchmarks/applications.py reflection_removal`` trains it for each seed next to the prior.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from course_lib.config import REPO_ROOT
from course_lib.data import TRAIN_IMAGES
from course_lib.models.reflection import (LINEAR_LIGHT_CHECKPOINT, LINEAR_LIGHT_SSIM_WEIGHT, evaluate_separation,
                                          linear_light_recipe, train_linear_light)


def save(model, meta: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"width": model.output.in_channels, "reflection_sigma": model.reflection_sigma,
                "state_dict": model.state_dict(), "meta": meta}, out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "course_lib" / LINEAR_LIGHT_CHECKPOINT)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    recipe = linear_light_recipe(args.seed)
    model = train_linear_light(recipe)
    seconds = round(time.perf_counter() - start)
    held_out = evaluate_separation(model)
    meta = dict(recipe=dict(n_patches=recipe.n_patches, patch=recipe.patch, epochs=recipe.epochs,
                            batch_size=recipe.batch_size, max_lr=recipe.max_lr, seed=recipe.seed),
                loss=f"L1 + {LINEAR_LIGHT_SSIM_WEIGHT:g} (1 - SSIM of B)", training_images=list(TRAIN_IMAGES),
                train_seconds=seconds, threads=torch.get_num_threads(), torch=str(torch.__version__),
                held_out=held_out)
    save(model, meta, args.out)
    print(f"held-out blends: PSNR of B {held_out['psnr']:.2f} dB, SSIM of B {held_out['ssim']:.4f}, "
          f"gradient correlation {held_out['correlation']:.3f}")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) after {seconds} s of training")


if __name__ == "__main__":
    main()
