"""Exercises of notebook 03 (ENet): the asymmetric convolution, the regular/dilated bottleneck and the
class weights.

The first two exercises are ``nn.Module`` classes. A case holds a reference module's constructor arguments,
its parameters and buffers (with non-trivial batch-norm statistics and PReLU slopes, so that a
swapped layer shows) and an input; :func:`course_lib.checks.run_module` loads them into the
learner's module in registration order and compares the outputs in eval mode.
"""
import torch
from torch import nn

from course_lib.checks import Exercise, describe, module_case, run_module, seeded, uniform_int
from course_lib.models.enet import AsymmetricConv, RegularBottleneck, class_weights


def _randomize(module: nn.Module, generator: torch.Generator) -> None:
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=generator) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=generator) * 0.1)
            elif isinstance(m, nn.PReLU):
                m.weight.copy_(torch.rand(m.weight.shape, generator=generator) * 0.5)


def _module_cases(reference_cls, rows, channels_of, g):
    cases = []
    for kwargs in rows:
        with seeded(g):
            reference = reference_cls(**kwargs)
        _randomize(reference, g)
        x = torch.randn(2, channels_of(kwargs), uniform_int(g, 9, 13), uniform_int(g, 8, 12), generator=g)
        cases.append(module_case(reference, kwargs, x))
    return cases


def _asymmetric_cases(g):
    rows = [(1, 1, 5), (uniform_int(g, 2, 6), uniform_int(g, 2, 8), 3), (8, 8, 5), (uniform_int(g, 2, 4), 2, 7)]
    rows = [dict(in_channels=i, out_channels=o, kernel_size=k) for i, o, k in rows]
    return _module_cases(AsymmetricConv, rows, lambda kw: kw["in_channels"], g)


def _bottleneck_cases(g):
    rows = [dict(channels=4 * uniform_int(g, 2, 8), dilation=d) for d in (1, 2, 4, 1)]
    return _module_cases(RegularBottleneck, rows, lambda kw: kw["channels"], g)


def _class_weight_cases(g):
    """Masks with a dominant background, one with a class that never occurs, and another c."""
    cases = []
    other_c = 1.1 + 0.4 * float(torch.rand((), generator=g))
    rows = [((2, 16, 16), 4, 1.02), ((uniform_int(g, 1, 3), 12, 20), 3, 1.02), ((1, 8, 8), 5, 1.02),
            ((4, 10, 10), uniform_int(g, 2, 4), other_c)]
    for shape, num_classes, c in rows:
        background = torch.rand(shape, generator=g) < 0.7
        objects = torch.randint(1, num_classes, shape, generator=g)
        masks = torch.where(background, 0, objects)
        if shape == (1, 8, 8):  # class 4 is absent: its weight is the bound 1 / ln c
            masks = masks.clamp(max=3)
        cases.append(dict(masks=masks, num_classes=num_classes, c=c))
    return cases


def _class_weight_label(case):
    return f"masks {tuple(case['masks'].shape)}, num_classes {case['num_classes']}, c {case['c']:.3g}"


def _label(case):
    return describe(case["kwargs"])


EXERCISES = [
    Exercise("B2.1", "AsymmetricConv", AsymmetricConv, _asymmetric_cases, run=run_module, tol=1e-4, label=_label),
    Exercise("B2.2", "RegularBottleneck", RegularBottleneck, _bottleneck_cases, run=run_module, tol=1e-4, label=_label),
    Exercise("B2.3", "class_weights", class_weights, _class_weight_cases, label=_class_weight_label),
]
