"""ENet on the shapes dataset (notebook 03, "Training ENet on shapes"): held-out mean IoU.

    .venv/bin/python benchmarks/enet.py              # full mode: the number notebook 03 promises
    COURSE_MODE=fast .venv/bin/python benchmarks/enet.py

The notebook's recipe, unchanged: 3000 images of 128 x 128 (ENet's encoder sees them at 16 x 16),
batch 8, no spatial dropout, Adam with the paper's weight decay 2e-4, a one-cycle learning rate up to
5e-3, 12 epochs, plain cross-entropy. Target (course issue 3): mean IoU >= 0.90 on 200 held-out images.
"""
import time

import torch
from torch import nn
from torch.utils.data import DataLoader

from course_lib import pick, setup
from course_lib.data import CLASS_NAMES, NUM_CLASSES, ShapesDataset
from course_lib.metrics import iou_per_class, mean_iou
from course_lib.models.enet import ENet
from course_lib.train import fit

SIZE = pick(fast=64, full=128)
N_TRAIN, N_VAL = pick(fast=64, full=3000), pick(fast=32, full=200)
EPOCHS = pick(fast=1, full=12)
TARGET = 0.90


def main():
    device = setup()
    train = ShapesDataset(N_TRAIN, size=SIZE, seed=0)
    val = ShapesDataset(N_VAL, size=SIZE, seed=1)
    torch.manual_seed(0)
    model = ENet(NUM_CLASSES, dropout=(0, 0))
    loader = DataLoader(train, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3, weight_decay=2e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=5e-3, total_steps=EPOCHS * len(loader),
                                                    pct_start=0.15)
    start = time.perf_counter()
    fit(model, nn.CrossEntropyLoss(), loader, epochs=EPOCHS, optimizer=optimizer, scheduler=scheduler,
        device=device, plot=False)
    seconds = time.perf_counter() - start
    model.cpu().eval()
    images, masks = map(torch.stack, zip(*[val[i] for i in range(len(val))]))
    with torch.no_grad():
        predictions = torch.cat([model(images[i:i + 50]).argmax(1) for i in range(0, len(images), 50)])
    miou = mean_iou(predictions, masks, NUM_CLASSES)
    print(f"\nENet on shapes {SIZE}px, {N_TRAIN} train / {N_VAL} held-out images, {EPOCHS} epochs, "
          f"{torch.get_num_threads()} threads, {seconds:.0f} s of training")
    print(f"{'class':>12} {'IoU':>6}")
    for name, iou in zip(CLASS_NAMES, iou_per_class(predictions, masks, NUM_CLASSES)):
        print(f"{name:>12} {iou:6.3f}")
    verdict = "PASS" if miou >= TARGET else "FAIL"
    print(f"{'mean IoU':>12} {miou:6.3f}   target >= {TARGET} -> "
          f"{pick(fast='(targets apply to full mode only)', full=verdict)}")


if __name__ == "__main__":
    main()
