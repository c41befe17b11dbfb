"""Exercises of notebook 00 (welcome): convolution arithmetic warm-ups."""
import torch

from course_lib.arithmetic import conv_output_size, receptive_field
from course_lib.checks import Exercise, run_int, uniform_int


def _conv_cases(g):
    def odd_kernel():
        return 2 * uniform_int(g, 1, 3) + 1

    same, strided, dilation = odd_kernel(), odd_kernel(), uniform_int(g, 2, 3)
    whole = uniform_int(g, 2, 7)
    rows = [(uniform_int(g, 8, 64), same, 1, same // 2, 1),              # "same" padding
            (uniform_int(g, 8, 64), strided, 2, strided // 2, 1),        # stride 2
            (uniform_int(g, 100, 256), 7, 2, 3, 1),                      # a ResNet/VGG stem
            (uniform_int(g, 10, 40), odd_kernel(), 1, 0, 1),             # no padding
            (2 * uniform_int(g, 4, 20) + 1, 3, 2, 0, 1),                 # odd size, stride 2: rounds down
            (uniform_int(g, 16, 80), 3, 1, dilation, dilation),          # dilation
            (whole, whole, 1, 0, 1),                              # kernel as large as the input
            (uniform_int(g, 50, 150), 4, 3, 1, 1)]                       # stride 3, even kernel
    return [dict(size=s, kernel_size=k, stride=st, padding=p, dilation=d) for s, k, st, p, d in rows]


def _layers(g, depth, stride_high=2):
    return [(uniform_int(g, 1, 7), uniform_int(g, 1, stride_high)) for _ in range(depth)]


def _receptive_field_cases(g):
    one = _layers(g, 1)
    cases = [one, one * 2, one * 3,                           # one layer, repeated
             [(uniform_int(g, 3, 7), 2), (uniform_int(g, 2, 3), 2), (uniform_int(g, 1, 3), 1)],  # strides compound
             []]                                              # no layers: 1
    cases += [_layers(g, uniform_int(g, 1, 5)) for _ in range(3)]
    return [dict(layers=layers) for layers in cases]


EXERCISES = [
    Exercise("0.1", "conv_output_size", conv_output_size, _conv_cases, run=run_int, tol=0),
    Exercise("0.2", "receptive_field", receptive_field, _receptive_field_cases, tol=0),
]
