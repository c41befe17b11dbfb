"""Benchmark for notebook 08: does Hinton-style distillation close half the teacher–student gap?

    .venv/bin/python benchmarks/distillation.py            # full mode: the notebook's sizes, 3 seeds
    COURSE_MODE=fast .venv/bin/python benchmarks/distillation.py

For each seed: train the teacher (CNN, dropout, input jitter) on the training digits, then the
student MLP alone (hard labels) and the same MLP distilled from the teacher's soft targets on the
same images; count test errors. The recipe is the notebook's, ``course_lib.models.distillation.digits_recipe()``
(in fast mode the teacher is undertrained and the gap undefined). Target: the distilled student closes at least half of the gap,
``(student alone − distilled) / (student alone − teacher) ≥ 0.5``, averaged over the seeds.
"""
from __future__ import annotations

import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from course_lib.config import seed_everything
from course_lib.data.digits import jitter, load_digits
from course_lib.losses import distillation_loss
from course_lib.models.distillation import SoftTargets, StudentMLP, TeacherNet, digits_recipe
from course_lib.train import fit, predict

RECIPE = digits_recipe()
SEEDS = (0, 1, 2)


def jittered(batch):
    images, labels = torch.utils.data.default_collate(batch)
    return jitter(images, RECIPE.jitter), labels


def test_errors(model, images, labels) -> int:
    return int((predict(model, images, batch_size=None).argmax(1) != labels).sum())


def run(seed: int) -> dict:
    x, y = load_digits(RECIPE.n_train, seed=seed)
    x_test, y_test = load_digits(RECIPE.n_test, seed=0, train=False)
    loader = lambda *tensors, **kw: DataLoader(TensorDataset(*tensors), batch_size=RECIPE.batch_size,  # noqa: E731
                                               shuffle=True, generator=torch.Generator().manual_seed(seed), **kw)
    seed_everything(seed)
    teacher = TeacherNet()
    fit(teacher, F.cross_entropy, loader(x, y, collate_fn=jittered), epochs=RECIPE.teacher_epochs,
        lr=RECIPE.teacher_lr, plot=False)
    seed_everything(seed)
    alone = StudentMLP(RECIPE.hidden)
    fit(alone, F.cross_entropy, loader(x, y), epochs=RECIPE.student_epochs, plot=False)
    seed_everything(seed)
    distilled = StudentMLP(RECIPE.hidden)
    transfer = DataLoader(SoftTargets(teacher, x, y), batch_size=RECIPE.batch_size, shuffle=True,
                          generator=torch.Generator().manual_seed(seed))
    fit(distilled, lambda out, t: distillation_loss(out, t[1], t[0], RECIPE.T, RECIPE.alpha), transfer,
        epochs=RECIPE.student_epochs, plot=False)
    return {name: test_errors(m, x_test, y_test) for name, m in
            (("teacher", teacher), ("student alone", alone), ("student distilled", distilled))}


def main() -> None:
    print(f"distillation benchmark: {RECIPE.n_train} training digits, {RECIPE.n_test} test digits, student MLP "
          f"{RECIPE.hidden}-{RECIPE.hidden}, T={RECIPE.T}, alpha={RECIPE.alpha}, epochs teacher "
          f"{RECIPE.teacher_epochs} / students {RECIPE.student_epochs}", flush=True)
    rows = []
    for seed in SEEDS:
        start = time.perf_counter()
        rows.append(run(seed))
        print(f"seed {seed}: {rows[-1]} ({time.perf_counter() - start:.0f} s)", flush=True)
    # the fraction of the teacher–student gap that distillation closes (undefined if the teacher is not better)
    closed = [(r["student alone"] - r["student distilled"]) / (r["student alone"] - r["teacher"])
              if r["student alone"] > r["teacher"] else float("nan") for r in rows]
    print(f"\n| model | test errors (of {RECIPE.n_test}), mean ± std over seeds {SEEDS} | per seed |")
    print("|---|---|---|")
    for name in rows[0]:
        values = [r[name] for r in rows]
        print(f"| {name} | {statistics.mean(values):.1f} ± {statistics.stdev(values):.1f} | {values} |")
    mean = statistics.mean(closed)
    spread = float("nan") if math.isnan(mean) else statistics.stdev(closed)  # stdev fails on nan
    print(f"| gap closed by distillation | {mean:.2f} ± {spread:.2f} | {[round(c, 2) for c in closed]} |")
    print(f"\ntarget: gap closed >= 0.50 on average: {'PASS' if mean >= 0.5 else 'FAIL'}")
    sys.exit(0 if mean >= 0.5 else 1)


if __name__ == "__main__":
    main()
