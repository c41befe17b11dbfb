"""ENet on the shapes dataset (notebook 03, "Training ENet on shapes"): held-out mean IoU.

    .venv/bin/python benchmarks/enet.py              # full mode: the number notebook 03 promises
    COURSE_MODE=fast .venv/bin/python benchmarks/enet.py

Runs the notebook's recipe, ``course_lib.models.enet.enet_recipe()`` (full mode: 3000 images of
128 x 128, batch 8, no spatial dropout, Adam with weight decay 2e-4, a one-cycle learning rate up to
5e-3, 8 epochs, plain cross-entropy, channels-last memory order), without the notebook's per-epoch validation, which changes
no weight. Target (course issue 3): mean IoU >= 0.90 on 200 held-out images.
"""
import time

import torch
from torch import nn
from torch.utils.data import DataLoader

from course_lib import pick, setup
from course_lib.data import CLASS_NAMES, NUM_CLASSES, ShapesDataset
from course_lib.metrics import iou_per_class, mean_iou
from course_lib.models.enet import ENet, enet_recipe
from course_lib.train import channels_last_collate, fit, predict

TARGET = 0.90


def main():
    device = setup()
    recipe = enet_recipe()
    train = ShapesDataset(recipe.n_train, size=recipe.image_size, seed=0)
    val = ShapesDataset(recipe.n_val, size=recipe.image_size, seed=1)
    torch.manual_seed(0)
    model = ENet(NUM_CLASSES, dropout=recipe.dropout).to(memory_format=torch.channels_last)
    loader = DataLoader(train, batch_size=recipe.batch_size, shuffle=True, collate_fn=channels_last_collate,
                        generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.max_lr, weight_decay=recipe.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.max_lr,
                                                    total_steps=recipe.epochs * len(loader), pct_start=recipe.pct_start)
    start = time.perf_counter()
    fit(model, nn.CrossEntropyLoss(), loader, epochs=recipe.epochs, optimizer=optimizer, scheduler=scheduler,
        device=device, plot=False)
    seconds = time.perf_counter() - start
    images, masks = map(torch.stack, zip(*[val[i] for i in range(len(val))]))
    predictions = predict(model.cpu(), images, batch_size=50).argmax(1)
    miou = mean_iou(predictions, masks, NUM_CLASSES)
    print(f"\nENet on shapes {recipe.image_size}px, {recipe.n_train} train / {recipe.n_val} held-out images, "
          f"{recipe.epochs} epochs, {torch.get_num_threads()} threads, {seconds:.0f} s of training")
    print(f"{'class':>12} {'IoU':>6}")
    for name, iou in zip(CLASS_NAMES, iou_per_class(predictions, masks, NUM_CLASSES)):
        print(f"{name:>12} {iou:6.3f}")
    verdict = "PASS" if miou >= TARGET else "FAIL"
    print(f"{'mean IoU':>12} {miou:6.3f}   target >= {TARGET} -> "
          f"{pick(fast='(targets apply to full mode only)', full=verdict)}")


if __name__ == "__main__":
    main()
