"""Exercises of notebook 10 (reflection removal: the blend, the exclusion loss, the gradient correlation)."""
import torch

from course_lib.checks import Exercise, uniform_int
from course_lib.data.reflection import synthesize_blend
from course_lib.losses.reflection import exclusion_loss
from course_lib.models.reflection import gradient_correlation


def _blend_cases(g):
    cases = []
    for size, brightness in [(9, 1.0), (12, 0.5), (uniform_int(g, 8, 14), 1.0)]:
        background = torch.rand(3, size, size, generator=g)
        # a bright reflection, so that the sum overflows and the correction matters
        reflection = (brightness * (0.5 + 0.5 * torch.rand(3, size, size, generator=g))).clamp(0, 1)
        cases.append(dict(background=background, reflection=reflection,
                          sigma=float(1 + 2 * torch.rand((), generator=g)),
                          transmission=float(0.8 + 0.2 * torch.rand((), generator=g)),
                          attenuation=float(1.08 + 0.1 * torch.rand((), generator=g))))
    return cases


def _exclusion_cases(g):
    cases = []
    for levels in (1, 2, 3):
        b = torch.rand(2, 3, 16, uniform_int(g, 12, 16), generator=g)
        r = torch.rand(b.shape, generator=g) * (0.1 if levels == 2 else 1.0)  # a faint reflection too
        cases.append(dict(b=b, r=r, levels=levels))
    return cases


def _correlation_cases(g):
    b = torch.rand(2, 3, 10, 12, generator=g)
    return [dict(b=b, r=torch.rand(b.shape, generator=g)),
            dict(b=b, r=(0.5 * b + 0.1 * torch.rand(b.shape, generator=g))),
            dict(b=torch.rand(1, 1, 7, 9, generator=g), r=torch.rand(1, 1, 7, 9, generator=g))]


EXERCISES = [
    Exercise("G2.1", "synthesize_blend", synthesize_blend, _blend_cases),
    Exercise("G2.2", "exclusion_loss", exclusion_loss, _exclusion_cases),
    Exercise("G2.3", "gradient_correlation", gradient_correlation, _correlation_cases),
]
