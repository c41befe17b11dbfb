"""Exercises of notebook 09 (image enhancement: exposure fusion, channel split, Laplacian pyramid, pyramid blend)."""
import torch

from course_lib.checks import Exercise, uniform_int
from course_lib.metrics import rgb_to_y
from course_lib.ops.exposure_fusion import laplacian_pyramid, pyramid_blend, well_exposedness


def _well_exposedness_cases(g):
    cases = [dict(stack=torch.rand(1, 3, 3, 3, generator=g), sigma=0.2),
             dict(stack=torch.rand(uniform_int(g, 2, 5), 3, 6, 7, generator=g), sigma=0.2),
             dict(stack=torch.rand(3, 1, 5, 4, generator=g), sigma=float(0.1 + 0.3 * torch.rand(1, generator=g)))]
    cases[0]["stack"][0, :, 1, 1] = 0.5  # a perfectly exposed pixel: weight 1
    return cases


def _rgb_to_y_cases(g):
    return [dict(images=torch.rand(shape, generator=g))
            for shape in [(3, 2, 2), (3, uniform_int(g, 3, 9), uniform_int(g, 3, 9)), (2, 3, 5, 4)]]


def _laplacian_cases(g):
    return [dict(x=torch.rand(1, c, h, w, generator=g), levels=levels)
            for c, h, w, levels in [(1, 8, 8, 2), (3, uniform_int(g, 9, 20), uniform_int(g, 9, 20), 3), (2, 17, 12, 1)]]


def _blend_cases(g):
    """Stacks with smooth and sharp structure, unnormalised positive weights (a frame-wide scale each, so that
    forgetting Eq. 2's normalisation shows), and pyramids of 2 to 4 levels."""
    cases = []
    for k, h, w, levels in [(2, 8, 8, 2), (3, uniform_int(g, 12, 20), uniform_int(g, 12, 20), 3),
                            (uniform_int(g, 2, 4), 24, uniform_int(g, 17, 30), 4)]:
        stack = torch.rand(k, 3, h, w, generator=g)
        weights = (torch.rand(k, 1, h, w, generator=g) + 0.05) * (0.5 + 2 * torch.rand(k, 1, 1, 1, generator=g))
        cases.append(dict(stack=stack, weights=weights, levels=levels))
    return cases


EXERCISES = [
    Exercise("G1.1", "well_exposedness", well_exposedness, _well_exposedness_cases),
    Exercise("G1.2", "rgb_to_y", rgb_to_y, _rgb_to_y_cases),
    Exercise("G1.3", "laplacian_pyramid", laplacian_pyramid, _laplacian_cases),
    Exercise("G1.4", "pyramid_blend", pyramid_blend, _blend_cases, tol=1e-4),
]
