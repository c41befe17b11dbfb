"""Checks for notebook 08 (distillation): temperature softmax, kd_loss, hint loss and regressor."""
import torch

from course_lib.checks import CheckFailed, compare_on_cases, register
from course_lib.losses.distillation import hint_loss, kd_loss, softmax_with_temperature
from course_lib.models.distillation import HintRegressor


def _logits(generator, *shape, scale=3.0):
    return torch.randn(*shape, generator=generator) * scale


@register("F.1", "softmax_with_temperature")
def _(candidate):
    g = torch.Generator().manual_seed(0)
    cases = [dict(logits=_logits(g, 4, 10), T=T) for T in (1.0, 0.5, 2.0, 5.0, 20.0)]
    cases.append(dict(logits=_logits(g, 3, 10, scale=30.0), T=1.0))  # large logits must not overflow
    return compare_on_cases(candidate, softmax_with_temperature, cases)


@register("F.2", "kd_loss")
def _(candidate):
    g = torch.Generator().manual_seed(0)
    cases = [dict(student_logits=_logits(g, 8, 10), teacher_logits=_logits(g, 8, 10), T=T)
             for T in (1.0, 2.0, 4.0, 10.0, 20.0)]
    z = _logits(g, 5, 10)
    cases.append(dict(student_logits=z, teacher_logits=z + _logits(g, 5, 10, scale=0.5), T=3.0))
    return compare_on_cases(candidate, kd_loss, cases, tol=1e-4)


@register("F.3", "hint_loss")
def _(candidate):
    g = torch.Generator().manual_seed(0)
    cases = []
    for channels, size in ((4, 14), (8, 7), (2, 5)):
        torch.manual_seed(0)
        regressor = HintRegressor(channels, 2 * channels, size, size - 2)
        cases.append(dict(guided=_logits(g, 3, channels, size, size, scale=1.0),
                          hint=_logits(g, 3, 2 * channels, size - 2, size - 2, scale=1.0), regressor=regressor))
    return compare_on_cases(candidate, hint_loss, cases, tol=1e-4)


@register("F.4", "HintRegressor")
def _(candidate):
    sizes = [(4, 8, 14, 14), (8, 32, 14, 10), (3, 5, 9, 4), (16, 16, 7, 7)]
    for guided_channels, hint_channels, guided_size, hint_size in sizes:
        where = f"HintRegressor({guided_channels}, {hint_channels}, {guided_size}, {hint_size})"
        module = candidate(guided_channels, hint_channels, guided_size, hint_size)
        if not isinstance(module, torch.nn.Module):
            raise CheckFailed(f"{where} should be an nn.Module, got {type(module).__name__}")
        out = module(torch.zeros(2, guided_channels, guided_size, guided_size))
        expected = (2, hint_channels, hint_size, hint_size)
        if tuple(out.shape) != expected:
            raise CheckFailed(f"{where} maps (2, {guided_channels}, {guided_size}, {guided_size}) to "
                              f"{tuple(out.shape)}, expected {expected}")
        got_params = sum(p.numel() for p in module.parameters())
        reference = HintRegressor(guided_channels, hint_channels, guided_size, hint_size)
        want_params = sum(p.numel() for p in reference.parameters())
        if got_params != want_params:
            raise CheckFailed(f"{where} has {got_params} parameters, the paper's conv regressor {want_params}")
    return f"right output shape and parameter count on {len(sizes)} cases"
