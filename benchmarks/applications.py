"""Part III, "Other applications" (notebooks 09-11): the targets of course issue 13, measured.

    .venv/bin/python benchmarks/applications.py              # full mode: the numbers the notebooks promise
    COURSE_MODE=fast .venv/bin/python benchmarks/applications.py
    .venv/bin/python benchmarks/applications.py reflection_removal   # one of them

Super resolution (notebook 11): SRCNN and ESPCN trained with the notebook's recipe,
``course_lib.models.srcnn.sr_recipe()``, on patches of ``TRAIN_IMAGES``; PSNR on Y (BT.601) with a
3-pixel border cropped on ``HELD_OUT_IMAGES`` at x3. Targets: both networks beat bicubic by >= 1.0 dB,
ESPCN is at least as accurate as SRCNN and >= 5x faster at the same output size (timed side by side
in this one run, so the ratio holds on a loaded machine).

Image enhancement (notebook 09): the two-stage SICE network and its same-size one-stage control trained
with ``course_lib.models.sice.enhance_recipe()`` for each of ``ENHANCE_SEEDS``, and the baselines (gamma,
HE, CLAHE), on the under- and over-exposed frames of ``HELD_OUT_IMAGES`` against their exposure fusion.
Targets: the CNN beats HE and CLAHE on PSNR and SSIM; the two-stage network has the lower detail-layer
error (mean over seeds, with the spread).

Reflection removal (notebook 10): on the 102 held-out blends of ``course_lib.data.reflection.evaluation_blends()``,
the differences of the shipped network (``load_linear_light_checkpoint()``; ``scripts/train_reflection_checkpoint.py``
trains it and keeps the history of how its recipe was found) from B = I (do nothing) and from ``RelativeSmoothness``
(Li & Brown 2014), with paired bootstrap 95 % intervals; then the notebook's three fine-tunings of the network
(``reflection_recipe()``): a control with the checkpoint's loss, + exclusion loss, + perceptual loss, for each
seed of the data order. Targets: the network beats both baselines on PSNR and SSIM of B (interval above 0); the
exclusion loss lowers the gradient correlation (interval below 0) and does not lower PSNR of B beyond its interval.
"""
import copy
import statistics
import sys
import time
from dataclasses import replace

import torch

from course_lib import pick, setup
from course_lib.losses import PerceptualLoss
from course_lib.models.espcn import ESPCN
from course_lib.models.reflection import (LINEAR_LIGHT_SSIM_WEIGHT, DoNothing, RelativeSmoothness, comparison_table,
                                          evaluate_separation, load_linear_light_checkpoint, paired_comparison,
                                          reflection_recipe, separation_loss, train_separation)
from course_lib.models.sice import BASELINES, enhance, enhance_recipe, evaluate_enhancers, held_out_pairs, train_networks
from course_lib.models.srcnn import SRCNN, Bicubic, compare_sr, sr_recipe, train_sr

SR_GAIN_DB, SR_SPEEDUP = 1.0, 5.0


def super_resolution() -> None:
    recipe = sr_recipe()
    models = {"bicubic": Bicubic(recipe.scale)}
    for name, cls in (("SRCNN", SRCNN), ("ESPCN", ESPCN)):
        torch.manual_seed(0)
        models[name] = cls(recipe.scale)
        start = time.perf_counter()
        train_sr(models[name], recipe, plot=False)
        print(f"{name}: {time.perf_counter() - start:.0f} s of training")
    results = compare_sr(models, recipe.scale)
    names = list(results["bicubic"]["psnr"])
    print(f"\nSuper resolution x{recipe.scale}, PSNR on Y (dB, border {recipe.scale}), {recipe.n_patches} patches "
          f"x {recipe.epochs} epochs, {torch.get_num_threads()} threads")
    print(f"{'':>8} " + " ".join(f"{n:>13}" for n in names) + f" {'mean':>7} {'gain':>6} {'ms':>7}")
    for model, r in results.items():
        gain = r["mean"] - results["bicubic"]["mean"]
        print(f"{model:>8} " + " ".join(f"{r['psnr'][n]:13.2f}" for n in names)
              + f" {r['mean']:7.2f} {gain:+6.2f} {r['ms']:7.1f}")
    gains = {m: results[m]["mean"] - results["bicubic"]["mean"] for m in ("SRCNN", "ESPCN")}
    speedup = results["SRCNN"]["ms"] / results["ESPCN"]["ms"]
    checks = [(f"SRCNN beats bicubic by {gains['SRCNN']:+.2f} dB", gains["SRCNN"] >= SR_GAIN_DB),
              (f"ESPCN beats bicubic by {gains['ESPCN']:+.2f} dB", gains["ESPCN"] >= SR_GAIN_DB),
              (f"ESPCN - SRCNN = {gains['ESPCN'] - gains['SRCNN']:+.2f} dB", gains["ESPCN"] >= gains["SRCNN"]),
              (f"ESPCN {speedup:.1f}x faster than SRCNN (510x510 output)", speedup >= SR_SPEEDUP)]
    for text, ok in checks:
        print(f"  {text:<48} -> {pick(fast='(targets apply to full mode only)', full='PASS' if ok else 'FAIL')}")


ENHANCE_SEEDS = (0, 1, 2)


def image_enhancement() -> None:
    recipe = enhance_recipe()
    pairs = held_out_pairs(recipe)
    results = evaluate_enhancers({"input": lambda x: x, **BASELINES}, pairs)
    per_seed = {"SICE": [], "one-stage": []}
    for seed in ENHANCE_SEEDS:
        start = time.perf_counter()
        for name, (model, _) in train_networks(recipe, seed).items():
            per_seed[name].append(evaluate_enhancers({name: lambda x, m=model: enhance(m, x)}, pairs)[name])
        print(f"seed {seed}: {time.perf_counter() - start:.0f} s of training (both networks)")
    for name, runs in per_seed.items():
        results[name] = {key: statistics.mean(run[key] for run in runs) for key in runs[0]}
    keys = list(results["input"])
    print(f"\nImage enhancement, held-out frames at {recipe.under:+} EV (under) and {recipe.over:+} EV (over) against "
          f"their exposure fusion; networks: mean of seeds {ENHANCE_SEEDS}; detail: MAE x 255")
    print(f"{'':>10} " + " ".join(f"{k:>13}" for k in keys))
    for method, r in results.items():
        print(f"{method:>10} " + " ".join(f"{r[k]:13.3f}" for k in keys))
    detail = {name: [statistics.mean((run["detail_under"], run["detail_over"])) for run in runs]
              for name, runs in per_seed.items()}
    for name, values in detail.items():
        print(f"{name:>10} detail error per seed: " + ", ".join(f"{v:.3f}" for v in values)
              + f" (mean {statistics.mean(values):.3f} ± {statistics.stdev(values):.3f})")
    cnn = results["SICE"]
    checks = [(f"CNN beats {b} on {m} ({kind})", cnn[f"{m}_{kind}"] > results[b][f"{m}_{kind}"])
              for b in ("HE", "CLAHE") for m in ("psnr", "ssim") for kind in ("under", "over")]
    gap = statistics.mean(detail["one-stage"]) - statistics.mean(detail["SICE"])
    spread = max(statistics.stdev(detail["SICE"]), statistics.stdev(detail["one-stage"]))
    checks.append((f"two-stage detail error lower by {gap:+.3f} (spread {spread:.3f})", gap > spread))
    for text, ok in checks:
        print(f"  {text:<52} -> {pick(fast='(targets apply to full mode only)', full='PASS' if ok else 'FAIL')}")


def reflection_removal(seeds=(0,)) -> None:
    """Notebook 10's comparisons, with the notebook's library calls (one copy of each recipe)."""
    recipe = reflection_recipe()
    crops = pick(fast=4, full=17)
    net = load_linear_light_checkpoint()
    nothing, classical, network = "B = I (do nothing)", "relative smoothness (Li & Brown 2014)", "network (checkpoint)"
    scores = {nothing: evaluate_separation(DoNothing(), crops), classical: evaluate_separation(RelativeSmoothness(), crops),
              network: evaluate_separation(net, crops)}
    print(f"Reflection removal: {len(scores[nothing]['psnr'])} held-out blends, {torch.get_num_threads()} threads")
    print(comparison_table(scores, nothing))
    print(comparison_table(scores, classical, rows=[network]))
    base_loss = dict(ssim_weight=LINEAR_LIGHT_SSIM_WEIGHT)
    perceptual = PerceptualLoss(recipe.perceptual_layers)
    variants = {"control": dict(), "+ exclusion": dict(exclusion_weight=recipe.exclusion_weight),
                "+ perceptual": dict(perceptual=perceptual, perceptual_weight=recipe.perceptual_weight)}
    checks = []
    for seed in seeds:
        tuned = {}
        for name, extra in variants.items():
            model, start = copy.deepcopy(net), time.perf_counter()
            train_separation(model, replace(recipe, seed=seed), separation_loss(**base_loss, **extra), plot=False)
            tuned[f"fine-tuned {name}"] = evaluate_separation(model, crops)
            print(f"fine-tuned {name}, seed {seed}: {time.perf_counter() - start:.0f} s")
        print(f"\nfine-tunings of the checkpoint, seed {seed} ({recipe.steps} steps each):")
        print(comparison_table(tuned, "fine-tuned control", keys=("psnr", "ssim", "correlation")))
        excl = paired_comparison(tuned["fine-tuned + exclusion"], tuned["fine-tuned control"], ("psnr", "correlation"))
        checks += [(f"seed {seed}: exclusion lowers the gradient correlation (interval below 0)", excl["correlation"][2] < 0),
                   (f"seed {seed}: exclusion keeps PSNR of B (interval reaches 0 or above)", excl["psnr"][2] >= 0)]
    for other in (nothing, classical):
        diff = paired_comparison(scores[network], scores[other])
        checks += [(f"network beats {other} on {key.upper()} of B (interval above 0)", diff[key][1] > 0)
                   for key in ("psnr", "ssim")]
    for text, ok in checks:
        print(f"  {text:<78} -> {pick(fast='(targets apply to full mode only)', full='PASS' if ok else 'FAIL')}")


BENCHMARKS = {"image_enhancement": image_enhancement, "reflection_removal": reflection_removal,
              "super_resolution": super_resolution}
EXTRA_BENCHMARKS = {}


def main(names=None):
    """Run the benchmarks ``names`` (default: all; from the command line: ``applications.py reflection_removal``)."""
    setup()
    for name in names or BENCHMARKS:
        (BENCHMARKS | EXTRA_BENCHMARKS)[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
