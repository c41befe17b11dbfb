"""Benchmark for notebook 08: does Hinton-style distillation close half the teacher–student gap?

    .venv/bin/python benchmarks/distillation.py            # full mode: the notebook's sizes, 3 seeds
    COURSE_MODE=fast .venv/bin/python benchmarks/distillation.py

For each seed: train the teacher (CNN, dropout, input jitter) on the training digits, then the
student MLP alone (hard labels) and the same MLP distilled from the teacher's soft targets on the
same images; count test errors. Target: the distilled student closes at least half of the gap,
``(student alone − distilled) / (student alone − teacher) ≥ 0.5``, averaged over the seeds.
"""
from __future__ import annotations

import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from course_lib.config import pick, seed_everything
from course_lib.data.digits import jitter, load_digits
from course_lib.losses import distillation_loss
from course_lib.models.distillation import SoftTargets, StudentMLP, TeacherNet
from course_lib.train import fit

N_TRAIN, N_TEST = pick(fast=1000, full=3000), pick(fast=2000, full=10000)
TEACHER_EPOCHS, STUDENT_EPOCHS = pick(fast=6, full=10), pick(fast=20, full=100)
HIDDEN, T, ALPHA = 128, 4.0, 0.5
SEEDS = (0, 1, 2)


def jittered(batch):
    images, labels = torch.utils.data.default_collate(batch)
    return jitter(images, 2.0), labels


@torch.no_grad()
def test_errors(model, images, labels) -> int:
    model.eval()
    return int((model(images).argmax(1) != labels).sum())


def run(seed: int) -> dict:
    x, y = load_digits(N_TRAIN, seed=seed)
    x_test, y_test = load_digits(N_TEST, seed=0, train=False)
    loader = lambda *tensors, **kw: DataLoader(TensorDataset(*tensors), batch_size=128, shuffle=True,  # noqa: E731
                                               generator=torch.Generator().manual_seed(seed), **kw)
    seed_everything(seed)
    teacher = TeacherNet()
    fit(teacher, F.cross_entropy, loader(x, y, collate_fn=jittered), epochs=TEACHER_EPOCHS, lr=2e-3, plot=False)
    seed_everything(seed)
    alone = StudentMLP(HIDDEN)
    fit(alone, F.cross_entropy, loader(x, y), epochs=STUDENT_EPOCHS, plot=False)
    seed_everything(seed)
    distilled = StudentMLP(HIDDEN)
    transfer = DataLoader(SoftTargets(teacher, x, y), batch_size=128, shuffle=True,
                          generator=torch.Generator().manual_seed(seed))
    fit(distilled, lambda out, t: distillation_loss(out, t[1], t[0], T, ALPHA), transfer,
        epochs=STUDENT_EPOCHS, plot=False)
    return {name: test_errors(m, x_test, y_test) for name, m in
            (("teacher", teacher), ("student alone", alone), ("student distilled", distilled))}


def main() -> None:
    print(f"distillation benchmark: {N_TRAIN} training digits, {N_TEST} test digits, student MLP {HIDDEN}-{HIDDEN}, "
          f"T={T}, alpha={ALPHA}, epochs teacher {TEACHER_EPOCHS} / students {STUDENT_EPOCHS}", flush=True)
    rows = []
    for seed in SEEDS:
        start = time.perf_counter()
        rows.append(run(seed))
        print(f"seed {seed}: {rows[-1]} ({time.perf_counter() - start:.0f} s)", flush=True)
    # the fraction of the teacher–student gap that distillation closes (undefined if the teacher is not better)
    closed = [(r["student alone"] - r["student distilled"]) / (r["student alone"] - r["teacher"])
              if r["student alone"] > r["teacher"] else float("nan") for r in rows]
    print(f"\n| model | test errors (of {N_TEST}), mean ± std over seeds {SEEDS} | per seed |")
    print("|---|---|---|")
    for name in rows[0]:
        values = [r[name] for r in rows]
        print(f"| {name} | {statistics.mean(values):.1f} ± {statistics.stdev(values):.1f} | {values} |")
    mean = statistics.mean(closed)
    print(f"| gap closed by distillation | {mean:.2f} ± {statistics.stdev(closed):.2f} | {[round(c, 2) for c in closed]} |")
    print(f"\ntarget: gap closed >= 0.50 on average: {'PASS' if mean >= 0.5 else 'FAIL'}")
    sys.exit(0 if mean >= 0.5 else 1)


if __name__ == "__main__":
    main()
