"""Exercises of notebook 11 (super resolution: SRCNN, ESPCN, ICNR)."""
import torch

from course_lib.checks import Exercise, uniform_int
from course_lib.metrics import psnr_y
from course_lib.models.espcn import icnr, pixel_shuffle


def _shuffle_cases(g):
    rows = [(1, 2, 1), (2, 3, 1), (1, uniform_int(g, 2, 4), uniform_int(g, 2, 3))]
    return [dict(x=torch.randn(n, c * r * r, uniform_int(g, 2, 5), uniform_int(g, 2, 5), generator=g), scale=r)
            for n, r, c in rows]


def _psnr_y_cases(g):
    cases = []
    for shape, border in [((3, 12, 12), 0), ((3, 14, 11), 3), ((2, 3, 16, 16), uniform_int(g, 1, 4))]:
        clean = torch.rand(shape, generator=g)
        noisy = (clean + 0.1 * torch.randn(shape, generator=g)).clamp(0, 1)
        cases.append(dict(x=noisy, y=clean, border=border))
    return cases


def _icnr_cases(g):
    return [dict(kernel=torch.randn(c, c_in, k, k, generator=g), scale=r)
            for c, c_in, k, r in [(1, 1, 3, 2), (1, uniform_int(g, 2, 8), 3, 3), (uniform_int(g, 2, 3), 4, 1, 4)]]


EXERCISES = [
    Exercise("G3.1", "pixel_shuffle", pixel_shuffle, _shuffle_cases),
    Exercise("G3.2", "psnr_y", psnr_y, _psnr_y_cases),
    Exercise("G3.3", "icnr", icnr, _icnr_cases),
]
