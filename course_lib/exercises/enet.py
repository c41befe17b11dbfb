"""Exercises of notebook 03 (ENet): the asymmetric convolution and the regular/dilated bottleneck.

Both exercises are ``nn.Module`` classes. A case holds a reference module's constructor arguments,
its parameters and buffers (with non-trivial batch-norm statistics and PReLU slopes, so that a
swapped layer shows) and an input; :func:`course_lib.checks.run_module` loads them into the
learner's module in registration order and compares the outputs in eval mode.
"""
import torch
from torch import nn

from course_lib.checks import Exercise, describe, module_case, run_module, seeded, uniform_int
from course_lib.models.enet import AsymmetricConv2d, Bottleneck


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
    return _module_cases(AsymmetricConv2d, rows, lambda kw: kw["in_channels"], g)


def _bottleneck_cases(g):
    rows = [dict(channels=4 * uniform_int(g, 2, 8), dilation=d) for d in (1, 2, 4, 1)]
    return _module_cases(Bottleneck, rows, lambda kw: kw["channels"], g)


def _label(case):
    return describe(case["kwargs"])


EXERCISES = [
    Exercise("B2.1", "AsymmetricConv", AsymmetricConv2d, _asymmetric_cases, run=run_module, tol=1e-4, label=_label),
    Exercise("B2.2", "RegularBottleneck", Bottleneck, _bottleneck_cases, run=run_module, tol=1e-4, label=_label),
]
