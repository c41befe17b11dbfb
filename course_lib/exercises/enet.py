"""Checks for notebook 03 (ENet): the asymmetric convolution and the regular/dilated bottleneck.

Both exercises are ``nn.Module`` classes. A check builds the learner's module and the reference
with the same arguments, copies the reference's parameters and buffers into the learner's in
registration order (so the layers must be created in the order the docstring gives), and compares
the outputs in eval mode on a seeded input.
"""
import torch
from torch import nn

from course_lib.checks import CheckFailed, _describe, compare_values, register
from course_lib.models.enet import AsymmetricConv as AsymmetricConv2d, RegularBottleneck as Bottleneck


def _randomize(module: nn.Module, generator: torch.Generator) -> None:
    """Non-trivial batch-norm statistics and PReLU slopes, so that a swapped layer shows."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=generator) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=generator) * 0.1)
            elif isinstance(m, nn.PReLU):
                m.weight.copy_(torch.rand(m.weight.shape, generator=generator) * 0.5)


def _compare_modules(candidate_cls, reference_cls, cases, input_shape) -> str:
    generator = torch.Generator().manual_seed(0)
    for i, kwargs in enumerate(cases, start=1):
        where = f"case {i} ({_describe(kwargs)})"
        torch.manual_seed(i)
        reference = reference_cls(**kwargs)
        _randomize(reference, generator)
        candidate = candidate_cls(**kwargs)
        if not isinstance(candidate, nn.Module):
            raise CheckFailed(f"{where}: expected an nn.Module, got {type(candidate).__name__}")
        expected = list(reference.state_dict().values())
        got = list(candidate.state_dict().items())
        n_expected = sum(p.numel() for p in reference.parameters())
        n_got = sum(p.numel() for p in candidate.parameters())
        if n_got != n_expected:
            raise CheckFailed(f"{where}: expected {n_expected} parameters, got {n_got}")
        if len(got) != len(expected):
            raise CheckFailed(f"{where}: expected {len(expected)} parameters and buffers, got {len(got)}")
        for (name, value), ref in zip(got, expected):
            if value.shape != ref.shape:
                raise CheckFailed(f"{where}: {name} has shape {tuple(value.shape)}, expected "
                                  f"{tuple(ref.shape)} (create the layers in the docstring's order)")
        candidate.load_state_dict({name: ref for (name, _), ref in zip(got, expected)})
        x = torch.randn(input_shape(kwargs), generator=generator)
        with torch.no_grad():
            compare_values(candidate.eval()(x), reference.eval()(x), where, tol=1e-4)
    return f"matches the reference on {len(cases)} cases"


@register("B2.1", "AsymmetricConv")
def _(candidate):
    cases = [dict(in_channels=1, out_channels=1, kernel_size=5), dict(in_channels=4, out_channels=6, kernel_size=3),
             dict(in_channels=8, out_channels=8, kernel_size=5), dict(in_channels=3, out_channels=2, kernel_size=7)]
    return _compare_modules(candidate, AsymmetricConv2d, cases,
                            lambda kw: (2, kw["in_channels"], 11, 9))


@register("B2.2", "RegularBottleneck")
def _(candidate):
    cases = [dict(channels=16, dilation=1), dict(channels=32, dilation=2), dict(channels=64, dilation=4),
             dict(channels=8, dilation=1)]
    return _compare_modules(candidate, Bottleneck, cases, lambda kw: (2, kw["channels"], 12, 10))
