"""Exercises of notebook 01 (FCN): convolutionalization, bilinear upsampling, FCN-8s skip fusion."""
import torch
from torch import nn

from course_lib.checks import CheckFailed, Exercise, call, describe, uniform_int
from course_lib.models.fcn import bilinear_kernel, fuse_8s, linear_to_conv


def _linear_cases(g):
    rows = [(uniform_int(g, 2, 6), uniform_int(g, 2, 4), uniform_int(g, 2, 6), True),   # a typical fc layer
            (uniform_int(g, 1, 3), 1, uniform_int(g, 1, 4), True),               # a 1x1 map
            (uniform_int(g, 4, 8), uniform_int(g, 2, 3), uniform_int(g, 2, 6), False),  # without bias
            (uniform_int(g, 2, 4), uniform_int(g, 3, 5), 1, True)]               # one output
    cases = []
    for channels, k, out, bias in rows:
        cases.append(dict(in_channels=channels, weight=torch.randn(out, channels * k * k, generator=g),
                          bias=torch.randn(out, generator=g) if bias else None,
                          x=torch.randn(2, channels, k, k, generator=g),
                          larger=torch.randn(1, channels, k + 2, k + 1, generator=g)))
    return cases


def _linear_label(case):
    out, features = case["weight"].shape
    k = case["x"].shape[-1]
    return (f"Linear({case['in_channels']}*{k}*{k} -> {out}, bias={case['bias'] is not None}), "
            f"in_channels={case['in_channels']}")


def _run_linear_to_conv(fn, case):
    out, features = case["weight"].shape
    linear = nn.Linear(features, out, bias=case["bias"] is not None)
    with torch.no_grad():
        linear.weight.copy_(case["weight"])
        if case["bias"] is not None:
            linear.bias.copy_(case["bias"])
    conv = fn(linear, case["in_channels"])
    if not isinstance(conv, nn.Conv2d):
        raise CheckFailed(f"expected an nn.Conv2d, got {type(conv).__name__}")
    k = case["x"].shape[-1]
    if conv.kernel_size != (k, k) or (conv.bias is None) != (case["bias"] is None):
        raise CheckFailed(f"expected kernel_size {(k, k)} and bias={case['bias'] is not None}, got "
                          f"{conv.kernel_size} and bias={conv.bias is not None}")
    with torch.no_grad():
        return {f"output on a {k}x{k} map": conv(case["x"]).flatten(1),
                "score at (2, 1) of a larger map": conv(case["larger"])[0, :, 2, 1]}


def _bilinear_cases(g):
    rows = [(1, 2), (1, 3), (1, 4),                            # the smallest kernels, odd and even
            (uniform_int(g, 2, 4), 2 * uniform_int(g, 2, 4)),                # several channels, even kernel
            (uniform_int(g, 2, 4), 2 * uniform_int(g, 2, 4) + 1),            # several channels, odd kernel
            (1, 2 * uniform_int(g, 6, 10)),                           # FCN-8s's 16x16
            (uniform_int(g, 3, 5), 2 * uniform_int(g, 24, 32))]              # FCN-32s's 64x64
    return [dict(in_channels=c, out_channels=c, kernel_size=k) for c, k in rows]


def _upsampling_weight(channels, stride, g):
    return torch.randn(channels, channels, 2 * stride, 2 * stride, generator=g)


def _fuse_cases(g):
    cases = []
    for _ in range(3):
        n, c, h, w = uniform_int(g, 1, 2), uniform_int(g, 2, 4), uniform_int(g, 1, 3), uniform_int(g, 1, 3)
        cases.append(dict(score_fr=torch.randn(n, c, h, w, generator=g),
                          score_pool4=torch.randn(n, c, 2 * h, 2 * w, generator=g),
                          score_pool3=torch.randn(n, c, 4 * h, 4 * w, generator=g),
                          upscore2=_upsampling_weight(c, 2, g), upscore_pool4=_upsampling_weight(c, 2, g),
                          upscore8=_upsampling_weight(c, 8, g)))
    return cases


def _upsampling(weight):
    """The ConvTranspose2d of FCN's upsampling (kernel 2s, stride s, padding s/2), with ``weight``."""
    stride = weight.shape[-1] // 2
    layer = nn.ConvTranspose2d(weight.shape[0], weight.shape[0], 2 * stride, stride, stride // 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(weight)
    return layer


def _run_fuse(fn, case):
    layers = {name: _upsampling(case[name]) for name in ("upscore2", "upscore_pool4", "upscore8")}
    return call(fn, {**case, **layers})


def _fuse_label(case):
    return describe({k: v for k, v in case.items() if k.startswith("score")})


EXERCISES = [
    Exercise("A.1", "linear_to_conv", linear_to_conv, _linear_cases, run=_run_linear_to_conv, tol=1e-4,
             success="matches nn.Linear on {n} cases", label=_linear_label),
    Exercise("A.2", "bilinear_kernel", bilinear_kernel, _bilinear_cases),
    Exercise("A.3", "fuse_8s", fuse_8s, _fuse_cases, run=_run_fuse, tol=1e-4, label=_fuse_label),
]
