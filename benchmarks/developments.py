"""Notebook 05a (slide D, "Developments", first half): what a dense CRF and SLIC voting add to a
coarse FCN (FCN-8s, stride 8 as DeepLab's network), and how much checkerboard three 2x upsampling layers leave, in one table.

    .venv/bin/python benchmarks/developments.py            # full mode: the numbers notebook 05a promises
    COURSE_MODE=fast .venv/bin/python benchmarks/developments.py

Runs the notebook's recipe, ``course_lib.models.developments.developments_recipe()``. The claims:
the CRF raises mean IoU and boundary F1 of the FCN on held-out shapes for every seed (DeepLab v1,
VOC12 val: 59.8 -> 63.7 mean IoU); a 3x3 stride-2 transposed convolution starts with a checkerboard
that training only slowly removes (Odena et al. 2016), resize-convolution never has one.
"""
import statistics
import time

import torch
from torch import nn
from torch.utils.data import DataLoader

from course_lib import setup
from course_lib.data import NUM_CLASSES, ShapesDataset
from course_lib.metrics import boundary_f1, mean_iou, psnr
from course_lib.models.developments import (UPSAMPLING, developments_recipe, refinements, train_decoder,
                                            upsampling_pairs)
from course_lib.models.fcn import FCN
from course_lib.ops.checkerboard import checkerboard_score
from course_lib.train import fit, predict


def crf_rows(recipe, device):
    """Mean IoU and boundary F1 of the FCN, + SLIC vote and + dense CRF on held-out shapes, per seed."""
    fcn_recipe = recipe.fcn
    train = ShapesDataset(fcn_recipe.n_train, size=fcn_recipe.image_size, seed=0)
    images, masks = map(torch.stack, zip(*ShapesDataset(fcn_recipe.n_val, size=fcn_recipe.image_size, seed=1)))
    scores = {}
    for seed in recipe.seeds:
        torch.manual_seed(seed)
        model = FCN(NUM_CLASSES, recipe.fcn_variant, backbone="compact")
        loader = DataLoader(train, batch_size=fcn_recipe.batch_size, shuffle=True,
                            generator=torch.Generator().manual_seed(seed))
        fit(model, nn.CrossEntropyLoss(), loader, epochs=fcn_recipe.epochs, lr=fcn_recipe.lr, device=device, plot=False)
        probabilities = predict(model.cpu(), images).softmax(1)
        start = time.perf_counter()
        for name, labels in refinements(images, probabilities, recipe).items():
            scores.setdefault(name, []).append((mean_iou(labels, masks, NUM_CLASSES), boundary_f1(labels, masks)))
        print(f"seed {seed}: refinements of {len(images)} images in {time.perf_counter() - start:.1f} s")
    return scores


def checkerboard_rows(recipe, device):
    """Checkerboard score after the first and the last epoch, and PSNR, of each decoder's 2x upsampling
    of held-out shapes."""
    size = recipe.fcn.image_size
    train = upsampling_pairs(recipe.decoder_images, size, seed=0)
    low, high = upsampling_pairs(64, size, seed=1)
    target = checkerboard_score(high, border=2)
    rows = {"target (the images)": (target, target, float("inf"))}
    for kind in UPSAMPLING:
        decoder, scores = train_decoder(kind, train, low, recipe, device)
        out = predict(decoder, low)
        rows[kind] = (scores[1], scores[-1], psnr(out.clamp(0, 1), high).item())
    return rows


def main():
    device = setup()
    recipe = developments_recipe()
    start = time.perf_counter()
    crf = crf_rows(recipe, device)
    board = checkerboard_rows(recipe, device)
    print(f"\nFCN-{recipe.fcn_variant} on shapes {recipe.fcn.image_size}px ({recipe.fcn.n_train} train, {recipe.fcn.n_val} held-out "
          f"images), seeds {recipe.seeds}: mean and spread (max - min) over the seeds")
    print(f"{'method':>14} {'mean IoU':>9} {'±':>6} {'boundary F1':>12} {'±':>6}  per seed (mIoU / BF1)")
    for name, values in crf.items():
        miou, bf1 = zip(*values)
        print(f"{name:>14} {statistics.mean(miou):9.3f} {max(miou) - min(miou):6.3f} {statistics.mean(bf1):12.3f} "
              f"{max(bf1) - min(bf1):6.3f}  " + ", ".join(f"{m:.3f}/{b:.3f}" for m, b in values))
    print(f"\n2x upsampling decoders ({recipe.decoder_images} pairs, {recipe.decoder_epochs} epochs), 64 held-out images")
    print(f"{'upsampling':>22} {'checkerboard after 1 epoch':>27} {'at the end':>11} {'PSNR dB':>8}")
    for name, (first, last, db) in board.items():
        print(f"{name:>22} {first:27.2e} {last:11.2e} {db:8.2f}")
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
