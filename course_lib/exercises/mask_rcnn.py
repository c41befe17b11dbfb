"""Exercises of notebook 04 (Mask R-CNN): bilinear interpolation, the FPN level of a RoI, RoIAlign for
one box and the per-class mask loss."""
import torch
from torch.overrides import TorchFunctionMode

from course_lib.checks import CheckFailed, Exercise, call, uniform_int
from course_lib.losses.detection import mask_loss
from course_lib.models.mask_rcnn import fpn_level
from course_lib.ops.roi_align import bilinear_interpolate, roi_align_one_box


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
    # on the level boundaries (powers of two times 224); a hair under two of them (224 - 9e-5 and
    # 448 - 1.8e-4, 4e-7 of the side: log2 falls 6e-7 short, which the 1e-6 makes up as for a
    # float32 width that misses 224 by rounding); and just under them (223.5, 447.9: the old
    # "w + 1" width lifts those a level)
    sides = torch.tensor([224.0, 112.0, 448.0, 896.0, 56.0, 10.0, 2000.0, 224 - 9e-5, 448 - 1.8e-4,
                          223.5, 447.9, 111.9])
    random = 16 + torch.rand(uniform_int(g, 5, 10), 2, generator=g) * 600
    corner = torch.rand(len(sides) + len(random), 2, generator=g) * 100
    boxes = torch.cat([corner, corner + torch.cat([sides[:, None].expand(-1, 2), random])], 1)
    canonical = 16 + 112 * float(torch.rand((), generator=g))
    return [dict(boxes=boxes), dict(boxes=boxes / 4, k_min=2, k_max=4, canonical_scale=canonical, canonical_level=4)]


def _roi_align_cases(g):
    """One feature map per case and one box of each kind: inside the map, across the right and
    bottom edges (less and more than a cell), across the top-left corner, under one cell wide."""
    cases = []
    height, width = uniform_int(g, 6, 9), uniform_int(g, 6, 9)
    stride = (4, 8, 16)[uniform_int(g, 0, 2)]
    jitter = lambda: float(torch.rand((), generator=g)) * 0.4  # noqa: E731 - a fraction of a cell
    boxes = [  # in cells; (box, output_size, sampling_ratio, aligned)
        ([1.3 + jitter(), 0.8 + jitter(), 5.1 + jitter(), 4.6 + jitter()], (2, 3), 2, True),
        ([1.3 + jitter(), 0.8 + jitter(), 5.1 + jitter(), 4.6 + jitter()], (3, 2), 1, False),
        ([width - 3.2 + jitter(), height - 2.6 + jitter(), width + 0.5, height + 0.3], (2, 2), 3, True),
        ([width - 2.4 + jitter(), 1.1, width + 1.9 + jitter(), 3.7], (2, 3), 2, False),
        ([-1.7 - jitter(), -0.6 - jitter(), 2.2 + jitter(), 1.9 + jitter()], (3, 3), 2, True),
        ([2.1 + jitter(), 1.4 + jitter(), 2.7 + jitter(), 1.9 + jitter()], (2, 2), 2, False),  # widened to a cell
        ([2.1 + jitter(), 1.4 + jitter(), 2.7 + jitter(), 1.9 + jitter()], (2, 2), 3, True),
    ]
    for box, output_size, sampling_ratio, aligned in boxes:
        # values in [0.5, 1.5]: a bin is 0 (every sample outside) or far from 0, so rel_error is fair
        cases.append(dict(feature=0.5 + torch.rand(uniform_int(g, 1, 3), height, width, generator=g),
                          box=torch.tensor(box) * stride, output_size=output_size, spatial_scale=1 / stride,
                          sampling_ratio=sampling_ratio, aligned=aligned))
    return cases


def _roi_align_label(case):
    return (f"box={[round(v, 2) for v in case['box'].tolist()]}, feature={tuple(case['feature'].shape)}, "
            f"output_size={case['output_size']}, spatial_scale={case['spatial_scale']}, "
            f"sampling_ratio={case['sampling_ratio']}, aligned={case['aligned']}")


class _WithoutLibraryRoIAlign(TorchFunctionMode):
    """C.3 asks for RoIAlign written by hand: torchvision's operator (through ``torchvision.ops.roi_align``,
    ``RoIAlign`` or ``torch.ops.torchvision.roi_align``, however it was imported) raises while it runs."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if "roi_align" in str(func) and "torchvision" in str(func):
            raise CheckFailed("C.3 asks you to write RoIAlign yourself (bin grid, samples, bilinear reads); "
                              "torchvision's roi_align is what the check compares against, not a way to pass it")
        return func(*args, **(kwargs or {}))


def _call_without_library_roi_align(function, case):
    with _WithoutLibraryRoIAlign():
        return call(function, case)


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
    Exercise("C.3", "roi_align_one_box", roi_align_one_box, _roi_align_cases, run=_call_without_library_roi_align,
             tol=1e-5, label=_roi_align_label),
    Exercise("C.4", "mask_loss", mask_loss, _mask_loss_cases, tol=1e-5),
]
