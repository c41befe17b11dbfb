"""Which loss network shows Gatys et al.'s two arguments offline? Random VGG vs course-trained vs ImageNet.

    .venv/bin/python benchmarks/style.py             # 128 px, as notebook 06: about 2 min on 2 CPU threads
    .venv/bin/python benchmarks/style.py --steps 50  # a quick look

For each loss network (``vgg_features`` sources "offline" = random VGG-19, "course" = the course's
trained quarter-width VGG-19, "imagenet" = the paper's VGG-19, only where its file exists):

(a) content: reconstruct the astronaut (128 px; never seen by the course network) from one layer alone,
    starting from grey with a TV term (γ = 0.1), ``--reconstruction-steps`` L-BFGS iterations (200, as
    notebook 06); SSIM (luminance) of the result against the photo. Target at relu4_2, the paper's
    content layer: >= 0.5.
(b) style: the astronaut with each generated style (mosaic, brush strokes, starry), content relu4_2,
    style relu1_1 ... relu5_1, α = 1, β = ``--beta``, no TV, from the content image (as notebook 06);
    how far the result moved towards the style in two statistics the loss network does not define
    (``texture_progress``: Gabor energies, colour histogram; target >= 0.5) and its SSIM against the
    photo (content kept).
"""
from __future__ import annotations

import argparse
import time

from course_lib.data import generated_style, sample_image
from course_lib.data.generated_styles import GENERATED_STYLES
from course_lib.recipes.gatys import synthesize, texture_progress
from course_lib.losses.style import CONTENT_LAYER, STYLE_LAYERS
from course_lib.metrics import ssim_y
from course_lib.models.vgg import vgg_features

CONTENT_LAYERS = ["relu2_2", "relu3_2", "relu4_2", "relu5_2"]
CONTENT_SSIM_TARGET, PROGRESS_TARGET = 0.5, 0.5


def loss_networks() -> dict:
    """The loss networks this machine has: random, course-trained and, where its file exists, ImageNet."""
    layers = STYLE_LAYERS + CONTENT_LAYERS
    networks = {"random VGG-19": vgg_features(layers, source="offline", verbose=False),
                "course VGG-19/4": vgg_features(layers, source="course", verbose=False)}
    try:
        networks["ImageNet VGG-19"] = vgg_features(layers, source="imagenet", verbose=False)
    except RuntimeError:
        print("ImageNet VGG-19: its file is absent on this machine, so that row is left out")
    return networks


def content_reconstruction(net, photo, steps: int) -> dict[str, float]:
    """SSIM against ``photo`` of its reconstruction from each of ``CONTENT_LAYERS``."""
    return {layer: float(ssim_y(synthesize(net, photo, None, content_layer=layer, gamma=0.1, init="grey",
                                           steps=steps)[0][None], photo[None]))
            for layer in CONTENT_LAYERS}


def style_transfer(net, photo, styles: dict, beta: float, steps: int) -> dict[str, dict[str, float]]:
    """Texture progress and content SSIM of the transfer of each style onto ``photo``."""
    results = {}
    for name, style in styles.items():
        image = synthesize(net, photo, style, beta=beta, init="content", steps=steps)[0]
        results[name] = dict(texture_progress(image, photo, style), ssim=float(ssim_y(image[None], photo[None])))
    return results


def style_benchmark(size: int = 128, steps: int = 100, beta: float = 100.0, reconstruction_steps: int = 200) -> dict:
    """Print the table (one row per loss network) and return the numbers."""
    photo = sample_image("astronaut", size=size)
    styles = {name: generated_style(name, size) for name in GENERATED_STYLES}
    table = {}
    for label, net in loss_networks().items():
        start = time.perf_counter()
        table[label] = dict(content=content_reconstruction(net, photo, reconstruction_steps),
                            style=style_transfer(net, photo, styles, beta, steps),
                            seconds=time.perf_counter() - start)
        print(f"{label}: {net.source_description} ({table[label]['seconds']:.0f} s)", flush=True)
    print(f"\nastronaut {size} px. Content: SSIM against the photo of the reconstruction from one layer "
          f"({reconstruction_steps} L-BFGS iterations from grey, TV 0.1; target at {CONTENT_LAYER}: "
          f">= {CONTENT_SSIM_TARGET}). Style, β/α = {beta:g}, {steps} iterations from the photo: progress "
          f"towards the style in Gabor energies / colour histogram (target >= {PROGRESS_TARGET}), "
          f"SSIM against the photo")
    print("| loss network | " + " | ".join(CONTENT_LAYERS) + " | " + " | ".join(GENERATED_STYLES) + " |")
    print("|---|" + "---|" * (len(CONTENT_LAYERS) + len(GENERATED_STYLES)))
    for label, row in table.items():
        print(f"| {label} | " + " | ".join(f"{row['content'][layer]:.2f}" for layer in CONTENT_LAYERS) + " | " +
              " | ".join(f"{row['style'][name]['gabor']:.2f} / {row['style'][name]['colour']:.2f}, "
                         f"SSIM {row['style'][name]['ssim']:.2f}" for name in GENERATED_STYLES) + " |")
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--beta", type=float, default=100.0)
    parser.add_argument("--reconstruction-steps", type=int, default=200)
    args = parser.parse_args(argv)
    style_benchmark(args.size, args.steps, args.beta, args.reconstruction_steps)


if __name__ == "__main__":
    main()
