"""Train the course's style checkpoint: a reduced-width Johnson transform network for one style.

    .venv/bin/python scripts/train_style_checkpoint.py                 # the generated "starry" style, the shipped file
    .venv/bin/python scripts/train_style_checkpoint.py --style mosaic --steps 800

writes ``course_lib/checkpoints/<style>.pt`` (about 0.9 MB) that notebook 07 loads with
``load_style_checkpoint(style)``. The shipped ``starry.pt`` is these defaults with the offline
random-weight VGG-19 (no ImageNet weights on the course machines); its ``meta`` records the loss
network, the settings and the training time (670 s on 2 CPU threads).

What it does (Johnson et al. 2016, §3 and §4.1, scaled down to fit a laptop CPU):

* transform network ``TransformerNet(width=16)``: half the paper's widths (0.42 M parameters
  instead of 1.7 M), so it trains in minutes and ships small;
* style: a course-generated image (``course_lib.data.style_image``: "starry", "mosaic",
  "brush_strokes") or a sample photo;
* training data: random crops (scale 10-100 % of the image, then resized to 128x128 instead of the
  paper's 256x256 COCO images) and horizontal flips of the course's natural sample images, the
  style image and ``HELD_OUT_IMAGES`` (camera, grace_hopper, rocket) excluded: notebook 07 and
  ``benchmarks/perceptual.py`` measure the checkpoint on those three;
* loss: ``style_transfer_objective`` (Eq. 5 of the paper with the normalised terms of
  ``course_lib.losses.style``): ``content_weight * content_loss(relu2_2) + style_weight *
  style_loss(relu1_2, relu2_2, relu3_3, relu4_3) + tv_weight * tv_loss`` (the paper's layers, §4.1),
  weights 1, 10 and 1; the style Gram matrices come from the style image at ``--style-size``
  (default: the crop size);
* a curriculum the paper does not have: the style weight starts at 5 % of its value and grows
  geometrically to it over the first ``--style-ramp`` (30 %) of the steps. The untrained network's
  output is far from the style (normalised style loss ~100 on a photo, ~1 on a flat image of the
  style's mean colour), so with the full weight from step 1 it collapses to flat colour and dark
  blobs and, in the 900 steps we tried, did not get out; with the ramp it first learns to carry the
  content through its instance normalisations, then paints the style on;
* Adam, learning rate 1e-3, batch 2, 1500 steps (the paper: 1e-3, batch 4, 40,000 steps), seeded:
  the same command gives the same file on the same machine (CPU, one torch version, the same
  thread count: threads change the rounding of the sums).

What it reaches (``benchmarks/perceptual.py``): a visibly stylised, recognisable photo, but not the
style's texture. On the held-out photos at 128 px the Gabor texture statistic moves 0.10 / -0.16 /
0.52 of the way to the style (camera / grace_hopper / rocket); Gatys's optimisation with the same
loss network, layers and β/α = 10 moves it 0.68 / 0.67 (camera / grace_hopper, 60 L-BFGS steps).
600 steps, Gatys's layers or the style at 256 px did no better; nor did (600 steps each) style weight 30
(0.12 / -0.17 / 0.52, and the content guard fails: luminance correlation 0.43 on camera) or bilinear
instead of nearest upsampling at weight 30 (0.21 / -0.07 / 0.52: the horizontal ripples turn vertical).
The network settles on stripes of one orientation; the style's strokes go every way.

The weights are stored in half precision (``width``, ``state_dict``, ``meta``) and read back with
``torch.load(weights_only=True)``. With the ImageNet VGG file on a GPU machine, try
``--source imagenet --size 256 --batch-size 4 --steps 4000``.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torchvision.transforms import v2

from course_lib.config import REPO_ROOT, get_device, seed_everything
from course_lib.data import HELD_OUT_IMAGES, sample_image, style_image
from course_lib.losses.perceptual import style_transfer_objective
from course_lib.losses.style import gram_matrix
from course_lib.models.transformer_net import TransformerNet
from course_lib.models.vgg import vgg_features

# the course's natural photos but HELD_OUT_IMAGES (camera, grace_hopper, rocket: notebook 07 measures on them)
CONTENT_IMAGES = tuple(name for name in ("astronaut", "chelsea", "coffee", "rocket", "camera", "grace_hopper", "clock",
                                         "coins", "immunohistochemistry", "retina", "cell", "text")
                       if name not in HELD_OUT_IMAGES)
CONTENT_LAYER = "relu2_2"  # Johnson et al. §4.1
STYLE_LAYERS = ["relu1_2", "relu2_2", "relu3_3", "relu4_3"]  # Johnson et al. §4.1
CHECKPOINTS = REPO_ROOT / "course_lib" / "checkpoints"


def content_batches(size: int, batch_size: int, style: str, generator: torch.Generator):
    """Endless batches of random crops + flips of the course's natural images (style excluded)."""
    images = [sample_image(name) for name in CONTENT_IMAGES if name != style]
    augment = v2.Compose([v2.RandomResizedCrop(size, scale=(0.1, 1.0), antialias=True),
                          v2.RandomHorizontalFlip()])
    while True:
        picks = torch.randint(len(images), (batch_size,), generator=generator)
        yield torch.stack([augment(images[i]) for i in picks]).clamp(0, 1)


def style_weight_at(step: int, steps: int, style_weight: float, ramp: float, start: float = 0.05) -> float:
    """The curriculum: ``start * style_weight`` at step 1, growing geometrically to ``style_weight``
    at ``ramp * steps``, constant afterwards (``ramp=0``: constant from the start)."""
    if ramp <= 0:
        return style_weight
    progress = min(1.0, step / (ramp * steps))
    return style_weight * start ** (1.0 - progress)


def train(out: Path, style: str, steps: int, size: int, width: int, batch_size: int,
          content_weight: float, style_weight: float, tv_weight: float, lr: float, source: str,
          seed: int, style_ramp: float, style_layers=STYLE_LAYERS, style_size: int | None = None,
          log_every: int = 50) -> dict:
    """Train, writing the checkpoint to ``out`` every ``log_every`` steps and at the end."""
    seed_everything(seed)
    generator = torch.Generator().manual_seed(seed)
    device = get_device()  # the CPU on the course machines; CUDA where there is one
    style_layers = list(style_layers)
    phi = vgg_features(list(dict.fromkeys(style_layers + [CONTENT_LAYER])), source=source).to(device)
    with torch.no_grad():
        style_features = phi(style_image(style, style_size or size)[None].to(device))
    style_grams = {name: gram_matrix(style_features[name]) for name in style_layers}
    net = TransformerNet(width=width).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    batches = content_batches(size, batch_size, style, generator)
    start = time.perf_counter()
    for step in range(1, steps + 1):
        content = next(batches).to(device)
        output = net(content)
        phi_output = phi(output)
        with torch.no_grad():
            phi_content = phi(content)[CONTENT_LAYER]
        weight = style_weight_at(step, steps, style_weight, style_ramp)
        loss = style_transfer_objective(output, phi_output, phi_content, style_grams, CONTENT_LAYER,
                                        content_weight, weight, tv_weight)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % log_every == 0 or step == steps:
            print(f"step {step}/{steps} style weight {weight:.3f} loss={loss.item():.4f} "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)
            meta = dict(style=style, loss_network=phi.source_description, steps=step, crop_size=size,
                        style_size=style_size or size,
                        batch_size=batch_size, content_layer=CONTENT_LAYER, style_layers=style_layers,
                        content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight,
                        style_ramp=style_ramp, lr=lr, seed=seed, train_seconds=round(time.perf_counter() - start),
                        content_images=[name for name in CONTENT_IMAGES if name != style])
            save(net, meta, out)  # an interrupted run still leaves a usable checkpoint
    return meta


def save(net: TransformerNet, meta: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.cpu().half() for k, v in net.state_dict().items()}
    torch.save({"width": net.width, "state_dict": state, "meta": meta}, out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--style", default="starry", help="a generated style (starry, mosaic, brush_strokes) or a sample image")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--size", type=int, default=128, help="crop size in pixels")
    parser.add_argument("--width", type=int, default=16, help="TransformerNet width (paper: 32)")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--content-weight", type=float, default=1.0)
    parser.add_argument("--style-weight", type=float, default=10.0)
    parser.add_argument("--tv-weight", type=float, default=1.0)
    parser.add_argument("--style-size", type=int, default=None, help="the style image's size (default: --size)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--source", default="offline", choices=["auto", "imagenet", "offline"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--style-ramp", type=float, default=0.3,
                        help="fraction of the steps over which the style weight grows from 5 %% to full")
    parser.add_argument("--out", type=Path, default=None, help="default course_lib/checkpoints/<style>.pt")
    args = parser.parse_args(argv)
    out = args.out or CHECKPOINTS / f"{args.style}.pt"
    meta = train(out, args.style, args.steps, args.size, args.width, args.batch_size, args.content_weight,
                 args.style_weight, args.tv_weight, args.lr, args.source, args.seed, args.style_ramp,
                 style_size=args.style_size)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) in {meta['train_seconds']} s of training")


if __name__ == "__main__":
    main()
