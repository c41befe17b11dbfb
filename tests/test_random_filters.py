"""MultiScaleRandomFilters: names and shapes, seeded filters, frozen, conv against F.conv2d, clear errors."""
import re

import pytest
import torch
import torch.nn.functional as F

from course_lib.losses.style import gram_matrix
from course_lib.models.random_filters import MultiScaleRandomFilters
from course_lib.models.vgg import IMAGENET_MEAN

from bad_images import BAD_IMAGE_BATCHES


def test_one_same_size_output_per_filter_size():
    net = MultiScaleRandomFilters(sizes=(3, 7, 11), maps=8)
    out = net(torch.rand(2, 3, 20, 24))
    assert net.layers == ["scale3", "scale7", "scale11"]
    assert list(out) == net.layers
    for name, conv in net.filters.items():
        assert out[name].shape == (2, 8, 20, 24)
        assert (out[name] >= 0).all() and (out[name] > 0).any()  # after the ReLU
        assert conv.bias is None
    assert net.filters["scale11"].weight.shape == (8, 3, 11, 11)


def test_default_is_the_scaled_down_paper_model():
    net = MultiScaleRandomFilters()
    assert net.layers == [f"scale{k}" for k in (3, 5, 7, 11, 15, 23)]
    assert all(conv.out_channels == 64 for conv in net.filters.values())
    assert "Ustyuzhaninov" in net.source_description and "not ImageNet" in net.source_description
    assert net.source_description in repr(net)


def test_each_scale_is_relu_of_a_zero_padded_conv_of_the_mean_subtracted_image():
    net = MultiScaleRandomFilters(sizes=(3, 5, 9), maps=4, seed=3)
    x = torch.rand(2, 3, 12, 10)
    centred = x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    for name, value in net(x).items():
        weight = net.filters[name].weight
        expected = F.relu(F.conv2d(centred, weight, padding=weight.shape[-1] // 2))
        torch.testing.assert_close(value, expected)


def test_filters_are_fixed_by_the_seed_not_by_the_global_generator():
    a = MultiScaleRandomFilters(sizes=(3, 5), maps=4, seed=1)
    torch.manual_seed(123)
    b = MultiScaleRandomFilters(sizes=(3, 5), maps=4, seed=1)
    c = MultiScaleRandomFilters(sizes=(3, 5), maps=4, seed=2)
    for name in a.layers:
        torch.testing.assert_close(a.filters[name].weight, b.filters[name].weight)
    assert not torch.equal(a.filters["scale5"].weight, c.filters["scale5"].weight)


def test_frozen_and_always_eval_but_gradients_reach_the_image():
    net = MultiScaleRandomFilters(sizes=(3, 5), maps=4)
    assert not any(p.requires_grad for p in net.parameters())
    net.train()
    assert not net.training and not any(m.training for m in net.modules())
    x = torch.rand(1, 3, 8, 8, requires_grad=True)
    gram_matrix(net(x)["scale5"]).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("kwargs, match", [
    (dict(sizes=(3, 4)), "positive odd"),
    (dict(sizes=(0,)), "positive odd"),
    (dict(sizes=(-3,)), "positive odd"),
    (dict(sizes=(3.0,)), "positive odd"),
    (dict(sizes=()), "non-empty"),
    (dict(sizes=5), "non-empty sequence"),
    (dict(sizes=(3, 3)), "distinct"),
    (dict(maps=0), "maps"),
    (dict(maps=2.5), "maps"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiScaleRandomFilters(**kwargs)


@pytest.mark.parametrize("x, error, words", BAD_IMAGE_BATCHES)
def test_bad_images(x, error, words):
    with pytest.raises(error, match=re.escape(words)):
        MultiScaleRandomFilters(sizes=(3,), maps=2)(x)
