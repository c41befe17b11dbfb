"""Exercises of notebooks 05a and 05b (developments): the mean-field update of a fully connected CRF,
the receptive field of a dilated stack, the checkerboard score (05a); the pyramid pooling module of
PSPNet and the confidence mask of self-training's pseudo-labels (05b)."""
import torch

from course_lib.arithmetic import receptive_field
from course_lib.checks import Exercise, module_case, run_int, run_module, seeded, uniform_int
from course_lib.models.pspnet import PyramidPoolingModule
from course_lib.models.self_training import pseudo_labels
from course_lib.ops.checkerboard import checkerboard_score
from course_lib.ops.crf import mean_field_update


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


def _pyramid_cases(g):
    """Paper bins, a non-divisible channel count, one level; BatchNorm statistics from a training-mode pass."""
    rows = [(4, (1, 2, 3, 6)), (uniform_int(g, 5, 7), (1, 2, 3, 6)), (uniform_int(g, 2, 6), (1, 3)), (3, (2,))]
    cases = []
    for in_channels, bins in rows:
        with seeded(g):
            reference = PyramidPoolingModule(in_channels, bins)
        x = torch.randn(2, in_channels, uniform_int(g, 6, 11), uniform_int(g, 6, 11), generator=g)
        with torch.no_grad():
            reference.train()(2 * torch.randn(4, in_channels, 8, 8, generator=g) + 1)
        cases.append(module_case(reference, dict(in_channels=in_channels, bins=bins), x))
    return cases


def _pseudo_label_cases(g):
    def probabilities(n, labels, h, w, sharpness):
        return (sharpness * torch.randn(n, labels, h, w, generator=g)).softmax(1)

    return [dict(probabilities=probabilities(2, 3, 5, 6, 3.0), threshold=0.9),
            dict(probabilities=probabilities(1, uniform_int(g, 2, 5), 4, 4, 2.0), threshold=0.5, ignore_index=-1),
            dict(probabilities=probabilities(uniform_int(g, 1, 3), 4, 3, 7, 1.0), threshold=0.0),
            dict(probabilities=torch.full((1, 2, 2, 2), 0.5), threshold=0.5)]


EXERCISES = [
    Exercise("D.1", "mean_field_update", mean_field_update, _mean_field_cases, tol=1e-6),
    Exercise("D.2", "receptive_field_size", receptive_field, _receptive_field_cases, run=run_int, tol=0),
    Exercise("D.3", "checkerboard_score", checkerboard_score, _checkerboard_cases, tol=1e-6),
    Exercise("D.4", "PyramidPoolingModule", PyramidPoolingModule, _pyramid_cases, run=run_module, tol=1e-5),
    Exercise("D.5", "pseudo_labels", pseudo_labels, _pseudo_label_cases, tol=0),
]
