"""Exercises of notebook 08 (distillation): temperature softmax, kd_loss, hint loss and regressor, mimic loss."""
import torch
import torch.nn.functional as F

from course_lib.checks import CheckFailed, Exercise, call, seeded, uniform_int
from course_lib.losses.distillation import hint_loss, kd_loss, mimic_loss, softmax_with_temperature
from course_lib.models.distillation import HintRegressor


def _logits(g, *shape, scale=3.0):
    return torch.randn(*shape, generator=g) * scale


def _temperature(g, low, high):
    return low + (high - low) * float(torch.rand((), generator=g))


def _softmax_cases(g):
    temperatures = [1.0, _temperature(g, 0.3, 0.9), _temperature(g, 1.5, 3), _temperature(g, 3, 8),
                    _temperature(g, 10, 30)]
    cases = [dict(logits=_logits(g, uniform_int(g, 2, 6), 10), T=T) for T in temperatures]
    return cases + [dict(logits=_logits(g, 3, 10, scale=30.0), T=1.0)]  # large logits must not overflow


def _kd_cases(g):
    temperatures = [1.0, _temperature(g, 1.5, 3), _temperature(g, 3, 6), _temperature(g, 8, 12), 20.0]
    cases = [dict(student_logits=_logits(g, 8, 10), teacher_logits=_logits(g, 8, 10), T=T) for T in temperatures]
    z = _logits(g, 5, 10)
    return cases + [dict(student_logits=z, teacher_logits=z + _logits(g, 5, 10, scale=0.5), T=3.0)]  # close


def _hint_cases(g):
    cases = []
    for channels, size in ((4, uniform_int(g, 8, 14)), (8, 7), (uniform_int(g, 2, 3), 5)):
        with seeded(g):
            regressor = HintRegressor(channels, 2 * channels, size, size - 2)
        cases.append(dict(guided=_logits(g, 3, channels, size, size, scale=1.0),
                          hint=_logits(g, 3, 2 * channels, size - 2, size - 2, scale=1.0),
                          regressor=[v.detach().clone() for v in regressor.conv.parameters()]))
    return cases


def _run_hint(fn, case):
    """The regressor (FitNets' conv regressor: one convolution) as a function of its weights."""
    weight, bias = case["regressor"]
    return call(fn, {**case, "regressor": lambda guided: F.conv2d(guided, weight, bias)})


def _regressor_cases(g):
    rows = [(4, 8, 14, 14), (8, 32, 14, 10), (3, 5, 9, 4), (16, 16, 7, 7)]
    rows = [(c * uniform_int(g, 1, 2), h, s, max(1, t - uniform_int(g, 0, 2))) for c, h, s, t in rows]
    cases = []
    for guided_channels, hint_channels, guided_size, hint_size in rows:
        kwargs = dict(guided_channels=guided_channels, hint_channels=hint_channels, guided_size=guided_size,
                      hint_size=hint_size)
        parameters = sum(p.numel() for p in HintRegressor(**kwargs).parameters())
        cases.append(dict(kwargs=kwargs, parameters=parameters, x=torch.zeros(2, guided_channels, guided_size, guided_size)))
    return cases


def _run_regressor(cls, case):
    """Output shape and parameter count only: the paper leaves the initialisation open."""
    guided_channels, hint_channels, guided_size, hint_size = case["kwargs"].values()
    module = cls(guided_channels, hint_channels, guided_size, hint_size)
    if not isinstance(module, torch.nn.Module):
        raise CheckFailed(f"should be an nn.Module, got {type(module).__name__}")
    with torch.no_grad():
        out = module(case["x"])
    expected = (2, hint_channels, hint_size, hint_size)
    if tuple(out.shape) != expected:
        raise CheckFailed(f"maps {tuple(case['x'].shape)} to {tuple(out.shape)}, expected {expected}")
    got_params = sum(p.numel() for p in module.parameters())
    if got_params != case["parameters"]:
        raise CheckFailed(f"has {got_params} parameters, the paper's conv regressor {case['parameters']}")
    return [list(out.shape), got_params]


def _regressor_label(case):
    return "HintRegressor({}, {}, {}, {})".format(*case["kwargs"].values())


def _proposals(g, count, image_size):
    """``count`` XYXY boxes inside an ``image_size`` square, at least 2 pixels wide and high."""
    corners = torch.rand(count, 2, generator=g) * (image_size - 2)
    sides = 2 + torch.rand(count, 2, generator=g) * (image_size - 2 - corners)
    return torch.cat([corners, corners + sides], dim=1)


def _mimic_cases(g):
    cases = []
    # (student channels, teacher channels, feature size, stride, output size, proposals per image)
    rows = [(4, 8, 8, 4, 7, (3,)), (2, uniform_int(g, 3, 6), 6, 2, 3, (2, 1)), (8, 8, 10, 4, 7, (uniform_int(g, 1, 4), 0)),
            (uniform_int(g, 2, 5), 16, 5, 8, 2, (5,))]
    for student_channels, teacher_channels, size, stride, output_size, counts in rows:
        batch = len(counts)
        cases.append(dict(student_features=_logits(g, batch, student_channels, size, size, scale=1.0),
                          teacher_features=_logits(g, batch, teacher_channels, size, size, scale=1.0),
                          proposals=[_proposals(g, k, size * stride) for k in counts],
                          adaptation=[_logits(g, teacher_channels, student_channels, 1, 1, scale=0.5),
                                      _logits(g, teacher_channels, scale=0.1)],
                          spatial_scale=1 / stride, output_size=output_size))
    return cases


def _run_mimic(fn, case):
    """The adaptation layer (Li et al.'s 1×1 convolution) as a function of its weights."""
    weight, bias = case["adaptation"]
    return call(fn, {**case, "adaptation": lambda v: F.conv2d(v, weight, bias)})


def _mimic_label(case):
    return (f"{len(case['proposals'])} image(s), {[len(p) for p in case['proposals']]} proposals, "
            f"spatial_scale {case['spatial_scale']:g}, output_size {case['output_size']}")


EXERCISES = [
    Exercise("F.1", "softmax_with_temperature", softmax_with_temperature, _softmax_cases),
    Exercise("F.2", "kd_loss", kd_loss, _kd_cases, tol=1e-4),
    Exercise("F.3", "hint_loss", hint_loss, _hint_cases, run=_run_hint, tol=1e-4),
    Exercise("F.4", "HintRegressor", HintRegressor, _regressor_cases, run=_run_regressor,
             success="right output shape and parameter count on {n} cases", label=_regressor_label),
    Exercise("F.5", "mimic_loss", mimic_loss, _mimic_cases, run=_run_mimic, tol=1e-4, label=_mimic_label),
]
