"""course_lib.arithmetic.receptive_field with dilations and course_lib.ops.receptive_field: the formula on hand cases and against the torch gradient of
linear stacks (Yu & Koltun 2016: dilations 1, 2, 4, 8 reach 31 pixels at full resolution)."""
import pytest
import torch
from torch import nn

from course_lib.arithmetic import receptive_field
from course_lib.models.developments import STACKS, conv_stack
from course_lib.ops.receptive_field import effective_receptive_field, extent


def test_hand_cases():
    assert receptive_field([]) == 1
    assert receptive_field([(3, 1, 1)] * 4) == 9
    assert receptive_field([(3, 1, d) for d in (1, 2, 4, 8)]) == 31       # Yu & Koltun Fig. 1: 3, 7, 15, 31
    assert receptive_field([(3, 2, 1)] * 4) == 31
    assert receptive_field([(3, 1, 2)] * 4) == 17
    assert receptive_field([(7, 2, 1), (3, 2, 1), (3, 1, 2)]) == 7 + 2 * 2 + 4 * 4


def test_without_dilation_it_is_the_course_receptive_field():
    layers = [(7, 2), (3, 2), (3, 1), (5, 2), (1, 1)]
    assert receptive_field([(k, s, 1) for k, s in layers]) == receptive_field(layers)


@pytest.mark.parametrize("kind", list(STACKS))
def test_measured_field_of_each_stack_is_the_theoretical_one(kind):
    torch.manual_seed(0)
    gradient = effective_receptive_field(conv_stack(kind), (1, 1, 65, 65))
    side, filled = extent(gradient)
    assert side == receptive_field([(3, s, d) for s, d in STACKS[kind]])
    assert filled == pytest.approx((9 / 17) ** 2 if kind == "dilated 2-2-2-2" else 1.0)   # 2-2-2-2: even offsets only


def test_bad_input():
    with pytest.raises(ValueError, match="triple"):
        receptive_field([(3, 1, 1, 1)])
    with pytest.raises(ValueError, match="at least 1"):
        receptive_field([(3, 1, 0)])
    with pytest.raises(ValueError, match=r"\(1, C, H, W\)"):
        effective_receptive_field(nn.Conv2d(1, 1, 3), (2, 1, 9, 9))
    with pytest.raises(ValueError, match="zero everywhere"):
        extent(torch.zeros(5, 5))
    with pytest.raises(ValueError, match="kind must be one of"):
        conv_stack("atrous")
