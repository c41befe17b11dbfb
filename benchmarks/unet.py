"""Benchmark for notebook 02 (U-Net): segmentation quality and the effect of the border weight map.

    .venv/bin/python benchmarks/unet.py              # full mode (CPU, minutes)
    COURSE_MODE=fast .venv/bin/python benchmarks/unet.py

1. A small same-padded U-Net trained on ShapesDataset, mean IoU on held-out shapes (target >= 0.95).
2. Notebook 02's recipe and training (``course_lib.recipes.unet``): a U-Net trained twice on
   touching cells, with plain cross entropy and with the border weight map of Eq. 2 (same seed,
   data and steps): foreground mean IoU and touching cells split correctly (IoU > 0.5) on
   held-out images.
3. Overlap-tile inference of a valid U-Net against one pass over the whole mirror-padded image.
"""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from course_lib.config import pick, seed_everything
from course_lib.data import NUM_CLASSES, ShapesDataset
from course_lib.metrics import mean_iou
from course_lib.models.unet import UNet
from course_lib.ops.tiling import mirror_pad, overlap_tile_predict
from course_lib.recipes.unet import cells_data, cells_recipe, evaluate, train
from course_lib.train import fit, predict

SHAPES_TRAIN, SHAPES_SIZE, SHAPES_EPOCHS = pick(fast=256, full=8192), 64, pick(fast=2, full=10)
SHAPES_DECAY_EPOCHS = pick(fast=1, full=2)  # the last epochs at lr 1e-4 instead of 1e-3
SHAPES_TEST = pick(fast=32, full=128)


def shapes() -> dict:
    seed_everything(0)
    train = ShapesDataset(SHAPES_TRAIN, size=SHAPES_SIZE, seed=0)
    test = ShapesDataset(SHAPES_TEST, size=SHAPES_SIZE, seed=1)
    model = UNet(3, NUM_CLASSES, base_channels=16, padding="same", batch_norm=True)
    loader = DataLoader(train, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    for lr, epochs in ((1e-3, SHAPES_EPOCHS - SHAPES_DECAY_EPOCHS), (1e-4, SHAPES_DECAY_EPOCHS)):
        for group in optimizer.param_groups:
            group["lr"] = lr
        fit(model, F.cross_entropy, loader, epochs=epochs, optimizer=optimizer, plot=False)
    seconds = time.perf_counter() - start
    images, masks = map(torch.stack, zip(*[test[i] for i in range(len(test))]))
    return {"miou": mean_iou(predict(model, images, batch_size=32).argmax(1), masks, NUM_CLASSES), "seconds": seconds}


def cells(weighted: bool) -> dict:
    """Notebook 02's recipe and training on touching cells: plain cross entropy, or the border weight map."""
    recipe = cells_recipe()
    train_cells, test_cells = cells_data(recipe)
    start = time.perf_counter()
    model = train(recipe, train_cells, w0=recipe.w0 if weighted else 0, plot=False)
    seconds = time.perf_counter() - start
    return {**evaluate(model, test_cells), "seconds": seconds}


def tiling() -> float:
    torch.manual_seed(0)
    model = UNet(1, 2, base_channels=8).eval()  # the paper's layer sizes, fewer channels
    image = torch.rand(1, 388 + 384, 388 + 384)  # two tiles per side, 16-aligned: step 384
    whole = model(mirror_pad(image, 92)[None])[0]
    return (overlap_tile_predict(model, image, tile=388) - whole).abs().max().item()


def main() -> None:
    torch.set_num_threads(min(2, torch.get_num_threads()))
    error = tiling()
    print(f"overlap-tile vs whole image: max |difference| {error:.1e}", flush=True)
    plain, weighted = cells(weighted=False), cells(weighted=True)
    for name, r in (("plain", plain), ("weighted", weighted)):
        print(f"cells {name}: mean IoU {r['miou']:.3f}, split {r['split']}/{r['touching']}", flush=True)
    result = shapes()
    rows = [
        ("U-Net (16 ch, same, BN) on ShapesDataset 64px", "mean IoU (4 classes)",
         f"{result['miou']:.3f}", ">= 0.95", f"{result['seconds']:.0f}"),
        ("touching cells, plain cross entropy", "mean IoU (fg/bg)", f"{plain['miou']:.3f}", "", f"{plain['seconds']:.0f}"),
        ("touching cells, border weight map w0=10 σ=5", "mean IoU (fg/bg)", f"{weighted['miou']:.3f}", "",
         f"{weighted['seconds']:.0f}"),
        ("touching cells, plain cross entropy", "touching cells split",
         f"{plain['split']}/{plain['touching']}", "", ""),
        ("touching cells, border weight map w0=10 σ=5", "touching cells split",
         f"{weighted['split']}/{weighted['touching']}", "> plain", ""),
        ("overlap-tile (388 tiles, valid, 772px) vs whole image", "max |difference|", f"{error:.1e}", "< 1e-4", ""),
    ]
    header = ("experiment", "metric", "value", "target", "train s")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(5)]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(str(cell).ljust(w) for cell, w in zip(row, widths)))
    ok = result["miou"] >= 0.95 and weighted["split"] > plain["split"] and error < 1e-4
    verdict = "PASS" if ok else "FAIL"
    print(f"mode={pick('fast', 'full')} threads={torch.get_num_threads()}: "
          f"{pick('(targets apply to full mode only)', verdict)}")


if __name__ == "__main__":
    main()
