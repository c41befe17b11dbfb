"""Exercises of notebook 05a (developments: CRF, upsampling, dilation): the mean-field update of a
fully connected CRF, the receptive field of a dilated stack, the checkerboard score."""
import torch

from course_lib.checks import Exercise, run_int, uniform_int
from course_lib.ops.checkerboard import checkerboard_score
from course_lib.ops.crf import mean_field_update
from course_lib.ops.receptive_field import receptive_field_size


def _mean_field_cases(g):
    cases = []
    for n, labels, potts in [(uniform_int(g, 4, 12), 2, True), (uniform_int(g, 10, 30), uniform_int(g, 3, 5), True),
                             (uniform_int(g, 5, 15), 3, False), (1, uniform_int(g, 2, 4), True)]:
        kernel = torch.rand(n, n, generator=g).double() * 3
        kernel = (kernel + kernel.T) * (1 - torch.eye(n, dtype=torch.float64))
        compatibility = (1 - torch.eye(labels, dtype=torch.float64) if potts
                         else torch.rand(labels, labels, generator=g).double())
        p = torch.randn(n, labels, generator=g).double().softmax(1)
        q = torch.randn(n, labels, generator=g).double().softmax(1)
        cases.append(dict(unary=-p.log(), q=q, kernel=kernel, compatibility=compatibility))
    return cases


def _receptive_field_cases(g):
    dilations = [1, 2, 4, 8]
    rows = [[(3, 1, d) for d in dilations],                                   # Yu & Koltun's context module
            [(3, 1, 2)] * uniform_int(g, 2, 5),                               # equal dilations
            [(uniform_int(g, 1, 7), uniform_int(g, 1, 2), uniform_int(g, 1, 4)) for _ in range(uniform_int(g, 1, 5))],
            [(7, 2, 1), (3, 2, 1), (3, 1, uniform_int(g, 2, 6))],              # strides then dilation
            []]
    return [dict(layers=layers) for layers in rows]


def _checkerboard_cases(g):
    h, w = 2 * uniform_int(g, 3, 10), 2 * uniform_int(g, 3, 10)
    rows = 1 - 2 * (torch.arange(h) % 2).float()
    return [dict(images=torch.rand(h, w, generator=g)),
            dict(images=torch.rand(2, 3, h, w, generator=g) + 0.3 * rows[:, None]),
            dict(images=torch.rand(1, 1, h + 4, w + 4, generator=g), border=2),
            dict(images=torch.ones(h, w))]


EXERCISES = [
    Exercise("D.1", "mean_field_update", mean_field_update, _mean_field_cases, tol=1e-6),
    Exercise("D.2", "receptive_field_size", receptive_field_size, _receptive_field_cases, run=run_int, tol=0),
    Exercise("D.3", "checkerboard_score", checkerboard_score, _checkerboard_cases, tol=1e-6),
]
