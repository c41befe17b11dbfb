"""Train the course's own loss network: a quarter-width VGG-19 that tells which image a crop comes from.

    .venv/bin/python scripts/train_loss_network.py                    # the shipped course_vgg19.pt
    .venv/bin/python scripts/train_loss_network.py --minutes 9        # stop after 9 min; run again to resume

writes ``course_lib/checkpoints/course_vgg19.pt`` (about 2.5 MB), which ``vgg_features(...,
source="course")`` loads. Measured by ``benchmarks/style.py``, this network is a worse loss network
than the random one (``source="offline"``): it is shipped so that the comparison can be repeated.

Why this task. Gatys et al. need a network whose deep layers describe *what* is in an image (content)
and whose feature correlations describe texture at several scales (style). A random VGG has the
second in part and not the first: its deep features barely depend on the input. The course cannot
ship ImageNet, but it can ship the sample images and draw styles; telling 16 sources apart from a
small crop (the 12 training photos and textures of ``course_lib.data.TRAIN_IMAGES`` without the
astronaut, plus the three kinds of ``generated_style`` with a new seed per image) is a supervised task
that needs colour, texture and object parts at every scale, and is cheap to label. The astronaut and
the held-out photos are left out so that the benchmark measures on images the network never saw.

Network and training: the VGG-19 layers with a quarter of the widths (16-32-64-128-128 channels),
average pooling (Gatys et al. §2), a BatchNorm after every convolution during training (folded into
the convolutions when saved, so the shipped network is a plain VGG), global average pooling and a
linear classifier on relu5_4. Crops: random 5-50 % of a 256-px image resized to 48 px, flips, a little
brightness/contrast jitter; batch 32; AdamW (lr 2e-3, weight decay 1e-4) with a cosine schedule,
seeded. The run stops after ``--minutes`` and saves its full state; running the same command again
resumes it. The shipped file is these defaults: one run of 99 s on 2 threads, 90 % accuracy on the
last 50 training batches (``meta`` records the settings and the training time).
"""
from __future__ import annotations

import argparse
import math
import time
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn
from torchvision.transforms import v2

from course_lib.config import REPO_ROOT, seed_everything
from course_lib.data import TRAIN_IMAGES, generated_style, sample_image
from course_lib.data.generated_styles import GENERATED_STYLES
from course_lib.models.vgg import COURSE_CHECKPOINT, IMAGENET_MEAN, IMAGENET_STD, vgg_channels, vgg_layer_names

NATURAL = tuple(name for name in TRAIN_IMAGES if name != "astronaut")
CLASSES = NATURAL + GENERATED_STYLES
DIVISOR = 4
IMAGE_SIZE, CROP = 256, 48
STATE = REPO_ROOT / "datasets" / "cache" / "train_loss_network.state.pt"


class Classifier(nn.Module):
    """The VGG-19 layers (widths / DIVISOR, average pooling, BatchNorm), then average pool + linear."""

    def __init__(self, n_classes: int):
        super().__init__()
        layers, in_channels, names = [], 3, iter(vgg_layer_names("vgg19"))
        for item in vgg_channels("vgg19", DIVISOR):
            if item == "M":
                layers.append((next(names), nn.AvgPool2d(2, 2)))
                continue
            conv, relu = next(names), next(names)
            layers += [(conv, nn.Conv2d(in_channels, item, 3, padding=1)),
                       (conv.replace("conv", "bn"), nn.BatchNorm2d(item)), (relu, nn.ReLU())]
            in_channels = item
        self.features = nn.Sequential(OrderedDict(layers[:-1]))  # up to relu5_4, without pool5
        self.head = nn.Linear(in_channels, n_classes)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x):
        return self.head(self.features((x - self.mean) / self.std).mean((2, 3)))


def folded_state_dict(model: Classifier) -> dict[str, torch.Tensor]:
    """The convolutions with their BatchNorm folded in (eval statistics), keyed as ``vgg_features``' body."""
    state = {}
    for name, conv in model.features.named_children():
        if isinstance(conv, nn.Conv2d):
            bn = getattr(model.features, name.replace("conv", "bn"))
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            state[f"{name}.weight"] = (conv.weight * scale.view(-1, 1, 1, 1)).detach().half()
            state[f"{name}.bias"] = ((conv.bias - bn.running_mean) * scale + bn.bias).detach().half()
    return state


def image_pool(seed: int) -> tuple[list[torch.Tensor], list[int]]:
    """The training images with their class index: each photo once, 8 drawings of each generated style."""
    images = [(sample_image(name, size=IMAGE_SIZE), CLASSES.index(name)) for name in NATURAL]
    images += [(generated_style(name, IMAGE_SIZE, seed=seed * 100 + k), CLASSES.index(name))
               for name in GENERATED_STYLES for k in range(8)]
    return [image for image, _ in images], [label for _, label in images]


def batches(images, labels, batch_size: int, generator: torch.Generator):
    """Endless labelled batches of augmented crops; every class is equally likely."""
    augment = v2.Compose([v2.RandomResizedCrop(CROP, scale=(0.05, 0.5), antialias=True),
                          v2.RandomHorizontalFlip(), v2.RandomVerticalFlip(),
                          v2.ColorJitter(brightness=0.2, contrast=0.2)])
    by_class = [[i for i, label in enumerate(labels) if label == c] for c in range(len(CLASSES))]
    while True:
        picks = torch.randint(len(CLASSES), (batch_size,), generator=generator)
        chosen = [by_class[c][int(torch.randint(len(by_class[c]), (1,), generator=generator))] for c in picks]
        yield torch.stack([augment(images[i]) for i in chosen]).clamp(0, 1), picks


def train(out: Path, state_path: Path, steps: int, minutes: float, batch_size: int, lr: float, seed: int,
          log_every: int = 50) -> dict | None:
    """Train (or resume) until ``steps`` or ``minutes``; write ``out`` when done, ``state_path`` always."""
    seed_everything(seed)
    model = Classifier(len(CLASSES))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(seed)
    step, seconds, correct_recent = 0, 0.0, []
    if state_path.is_file():
        state = torch.load(state_path, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        step, seconds = state["step"], state["seconds"]
        print(f"resuming at step {step} ({seconds:.0f} s trained)")
    images, labels = image_pool(seed)
    data = batches(images, labels, batch_size, generator)
    start = time.perf_counter()
    model.train()
    while step < steps and time.perf_counter() - start < 60 * minutes:
        for group in optimizer.param_groups:  # cosine schedule over all steps, with 50 warm-up steps
            group["lr"] = lr * min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * step / steps))
        x, y = next(data)
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step += 1
        correct_recent = (correct_recent + [(logits.argmax(1) == y).float().mean().item()])[-50:]
        if step % log_every == 0:
            print(f"step {step}/{steps} loss {loss.item():.3f} accuracy (last 50 batches) "
                  f"{sum(correct_recent) / len(correct_recent):.2f} "
                  f"({seconds + time.perf_counter() - start:.0f} s)", flush=True)
    seconds += time.perf_counter() - start
    state_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(dict(model=model.state_dict(), optimizer=optimizer.state_dict(), generator=generator.get_state(),
                    torch_rng=torch.get_rng_state(), step=step, seconds=seconds), state_path)
    if step < steps:
        print(f"stopped at step {step}/{steps} after {minutes} min; run again to resume from {state_path}")
        return None
    model.eval()
    meta = dict(task=f"which of {len(CLASSES)} sources a {CROP}-px crop comes from", classes=list(CLASSES),
                steps=steps, batch_size=batch_size, lr=lr, seed=seed, crop=CROP, image_size=IMAGE_SIZE,
                train_accuracy=round(sum(correct_recent) / len(correct_recent), 3),
                train_seconds=round(seconds), threads=torch.get_num_threads(), torch=str(torch.__version__))
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(dict(arch="vgg19", divisor=DIVISOR, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                    state_dict=folded_state_dict(model), meta=meta), out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB): {meta}")
    return meta


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1400)
    parser.add_argument("--minutes", type=float, default=9.0, help="stop (and save the state) after this long")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=COURSE_CHECKPOINT)
    parser.add_argument("--state", type=Path, default=STATE, help="where an unfinished run keeps its state")
    args = parser.parse_args(argv)
    train(args.out, args.state, args.steps, args.minutes, args.batch_size, args.lr, args.seed)


if __name__ == "__main__":
    main()
