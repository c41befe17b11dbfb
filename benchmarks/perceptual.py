"""Johnson et al.'s speed claim, measured: one transform-net pass vs Gatys at 100/300/500 iterations;
and what the course's style checkpoints do to photos they never saw.

    .venv/bin/python benchmarks/perceptual.py              # real Gatys run of 500 L-BFGS iterations
    .venv/bin/python benchmarks/perceptual.py --timed 10   # time 10 iterations and multiply (quick)

Style checkpoints (first table, seconds): for each ``style_checkpoint_names()`` and each of
``HELD_OUT_IMAGES`` at the training crop size (128 px), ``stylisation_scores``: how far the result moved
from the photo towards the style in Gabor energies and colour histogram (statistics the loss network does
not define; target >= 0.5 in Gabor, issue 14) and its SSIM against the photo (the content kept).

Everything at 256x256 on one content image, in one process, so the ratios are comparable even on a
loaded machine. Gatys: notebook 06's optimisation as notebook 07 times it (``course_lib.recipes.perceptual.gatys_elapsed``:
``recipes.gatys.synthesize``, L-BFGS with history 20 on z with image = sigmoid(z), loss network ``vgg_features`` with
the Gatys layer set, relu1_1 ... relu5_1 style and relu4_2 content); the elapsed time is read after 100, 300 and
500 iterations (one iteration = one forward + backward pass). Earlier versions timed L-BFGS on clamped pixels,
which the notebooks no longer run. The
transform net: median of 5 forward passes, for the paper's width (32) and the course checkpoint's (16).
Target: speed-up >= 500x at 500 iterations (paper, Table 1, GPU: 1060x).
"""
from __future__ import annotations

import argparse
import time

import torch

from course_lib.data import HELD_OUT_IMAGES, sample_image, style_image
from course_lib.recipes.gatys import stylisation_scores
from course_lib.models.transformer_net import TransformerNet, load_style_checkpoint, style_checkpoint_names
from course_lib.models.vgg import vgg_features
from course_lib.recipes.perceptual import PAPER_SPEEDUP, gatys_elapsed

TARGET_AT_500 = 500
GABOR_TARGET = 0.5


def checkpoint_table() -> None:
    """Print, per style checkpoint and held-out photo, the texture progress and the SSIM with the photo."""
    print("| checkpoint | held-out photo | Gabor progress | colour progress | SSIM with the photo |")
    print("|---|---|---|---|---|")
    for name in style_checkpoint_names():
        net = load_style_checkpoint(name)
        size = net.meta["crop_size"]
        scores = stylisation_scores(net, style_image(net.meta["style"], size), HELD_OUT_IMAGES, size)
        for photo, s in scores.items():
            print(f"| {name} ({net.meta['steps']} steps, {size} px) | {photo} | {s['gabor']:.2f} | {s['colour']:.2f} "
                  f"| {s['ssim']:.2f} |")
        lowest = min(s["gabor"] for s in scores.values())
        print(f"target: Gabor progress >= {GABOR_TARGET} on every held-out photo: lowest {lowest:.2f}, "
              f"{'met' if lowest >= GABOR_TARGET else 'NOT met'}")


def transform_net_seconds(width: int, image: torch.Tensor, repeats: int = 5) -> float:
    torch.manual_seed(0)
    net = TransformerNet(width=width).eval()
    times = []
    with torch.no_grad():
        net(image)  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            net(image)
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timed", type=int, default=500,
                        help="Gatys iterations actually run; fewer than 500 are extrapolated (default 500)")
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args(argv)
    content = sample_image("chelsea", size=args.size)[None]
    style = sample_image("brick", size=args.size)[None]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.size}x{args.size}")
    checkpoint_table()
    net_seconds = {w: transform_net_seconds(w, content) for w in (32, 16)}
    stamps = gatys_elapsed(content[0], style[0], args.timed)
    per_iteration = stamps[-1] / len(stamps)
    print(vgg_features(["relu1_1"], verbose=False).source_description)
    print(f"transform net forward: width 32 {net_seconds[32] * 1e3:.0f} ms, width 16 {net_seconds[16] * 1e3:.0f} ms")
    print(f"Gatys: {len(stamps)} iterations run, {per_iteration:.3f} s each")
    print(f"| {'Gatys iterations':>16} | {'Gatys (s)':>9} | {'how':>24} | {'speed-up w32':>12} | "
          f"{'speed-up w16':>12} | {'paper':>6} |")
    for n in (100, 300, 500):
        measured = n <= len(stamps)
        seconds = stamps[n - 1] if measured else n * per_iteration
        how = "measured" if measured else f"{len(stamps)} timed x {n / len(stamps):.0f}"
        print(f"| {n:>16} | {seconds:>9.1f} | {how:>24} | {seconds / net_seconds[32]:>11.0f}x | "
              f"{seconds / net_seconds[16]:>11.0f}x | {PAPER_SPEEDUP[n]:>5}x |")
    at_500 = (stamps[499] if len(stamps) >= 500 else 500 * per_iteration) / net_seconds[32]
    verdict = "met" if at_500 >= TARGET_AT_500 else "NOT met"
    print(f"target: speed-up >= {TARGET_AT_500}x at 500 iterations (paper width): {at_500:.0f}x, {verdict}")


if __name__ == "__main__":
    main()
