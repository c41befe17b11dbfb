"""Exercises of notebook 04 (Mask R-CNN): bilinear interpolation, the FPN level of a RoI, the 28 × 28
mask target of an instance and the per-class mask loss."""
import torch

from course_lib.checks import Exercise, uniform_int
from course_lib.models.mask_rcnn import fpn_level, mask_loss, mask_target
from course_lib.ops.roi_align import bilinear_interpolate


def _bilinear_cases(g):
    cases = []
    for channels, height, width in ((1, 4, 5), (uniform_int(g, 2, 4), uniform_int(g, 5, 9), uniform_int(g, 5, 9)),
                                    (3, 1, uniform_int(g, 2, 6))):
        n = uniform_int(g, 5, 12)
        # points inside, on the last row/column, less than one cell outside and farther out
        y = torch.rand(n, generator=g) * (height + 2) - 1.5
        x = torch.rand(n, generator=g) * (width + 2) - 1.5
        y[:3] = torch.tensor([0.0, height - 1.0, height - 0.5])
        x[:3] = torch.tensor([width - 1.0, 0.25, -0.5])
        cases.append(dict(feature=torch.randn(channels, height, width, generator=g), y=y, x=x))
    return cases


def _fpn_cases(g):
    sides = torch.tensor([224.0, 112.0, 448.0, 896.0, 56.0, 10.0, 2000.0])  # on the level boundaries
    random = 16 + torch.rand(uniform_int(g, 5, 10), 2, generator=g) * 600
    corner = torch.rand(len(sides) + len(random), 2, generator=g) * 100
    boxes = torch.cat([corner, corner + torch.cat([sides[:, None].expand(-1, 2), random])], 1)
    canonical = 16 + 112 * float(torch.rand((), generator=g))
    return [dict(boxes=boxes), dict(boxes=boxes / 4, k_min=2, k_max=4, canonical_scale=canonical, canonical_level=4)]


def _mask_target_cases(g):
    cases = []
    for size in (28, uniform_int(g, 7, 20)):
        height, width = uniform_int(g, 40, 64), uniform_int(g, 40, 64)
        x1, y1 = (float(v) for v in torch.rand(2, generator=g) * 20)
        x2, y2 = x1 + 8 + float(torch.rand((), generator=g)) * 18, y1 + 8 + float(torch.rand((), generator=g)) * 18
        yy, xx = torch.meshgrid(torch.arange(height) + 0.5, torch.arange(width) + 0.5, indexing="ij")
        ellipse = ((xx - (x1 + x2) / 2) / ((x2 - x1) / 2)) ** 2 + ((yy - (y1 + y2) / 2) / ((y2 - y1) / 2)) ** 2 <= 1
        cases.append(dict(mask=ellipse.to(torch.uint8), box=torch.tensor([x1, y1, x2, y2]), size=size))
    return cases


def _mask_loss_cases(g):
    cases = []
    for rois, classes, m in ((1, 2, 4), (uniform_int(g, 3, 8), 4, 28), (uniform_int(g, 2, 5), uniform_int(g, 5, 9), 14)):
        cases.append(dict(mask_logits=torch.randn(rois, classes, m, m, generator=g) * 3,
                          labels=torch.randint(1, classes, (rois,), generator=g),
                          targets=torch.rand(rois, m, m, generator=g).round()))
    return cases


EXERCISES = [
    Exercise("C.1", "bilinear_interpolate", bilinear_interpolate, _bilinear_cases, tol=1e-5),
    Exercise("C.2", "fpn_level", fpn_level, _fpn_cases, tol=0),
    Exercise("C.3", "mask_target", mask_target, _mask_target_cases, tol=1e-5),
    Exercise("C.4", "mask_loss", mask_loss, _mask_loss_cases, tol=1e-5),
]
