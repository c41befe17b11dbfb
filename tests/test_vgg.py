"""vgg_features: names and shapes against torchvision's VGG, freezing, sources, clear errors."""
import re

import pytest
import torch
from torch import nn
from torchvision.models.vgg import cfgs, make_layers

import course_lib.models.vgg as vgg_module
from course_lib.models import vgg_features
from course_lib.models.vgg import IMAGENET_MEAN, IMAGENET_STD, vgg_layer_names

from bad_images import BAD_IMAGE_BATCHES


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")


def test_layer_names_follow_the_vgg_paper():
    names19, names16 = vgg_layer_names("vgg19"), vgg_layer_names("vgg16")
    assert sum(n.startswith("conv") for n in names19) == 16  # VGG-19: 16 conv + 3 fc
    assert sum(n.startswith("conv") for n in names16) == 13
    assert names19[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert "conv5_4" in names19 and "conv5_4" not in names16
    assert [n for n in names19 if n.startswith("pool")] == [f"pool{b}" for b in range(1, 6)]


def test_shapes_and_truncation():
    phi = vgg_features(["relu1_1", "conv4_2", "relu2_2"], source="offline", verbose=False)
    out = phi(torch.rand(2, 3, 32, 48))
    assert list(out) == ["relu1_1", "conv4_2", "relu2_2"]  # in the order asked for
    assert out["relu1_1"].shape == (2, 64, 32, 48)
    assert out["relu2_2"].shape == (2, 128, 16, 24)
    assert out["conv4_2"].shape == (2, 512, 4, 6)
    assert list(phi.body.named_children())[-1][0] == "conv4_2"  # nothing computed past it
    assert (out["relu1_1"] >= 0).all() and (out["conv4_2"] < 0).any()


def test_upto_shares_the_weights_and_stops_at_the_deepest_layer_asked_for():
    phi = vgg_features(["relu1_1", "relu2_1", "relu4_2", "relu5_2"], source="offline", verbose=False)
    part = phi.upto(["relu2_1", "relu1_1"])
    x = torch.rand(1, 3, 32, 32, dtype=torch.float64)
    full, shallow = phi.double()(x), part(x)
    assert list(shallow) == ["relu2_1", "relu1_1"]
    assert torch.equal(shallow["relu2_1"], full["relu2_1"]) and torch.equal(shallow["relu1_1"], full["relu1_1"])
    assert list(part.body.named_children())[-1][0] == "relu2_1"
    assert part.body.conv1_1.weight is phi.body.conv1_1.weight  # the same weights, not a copy
    with pytest.raises(ValueError, match=r"this network returns .*relu3_1"):
        phi.upto(["relu3_1"])
    with pytest.raises(ValueError, match="this network returns"):
        phi.upto([])


def test_matches_torchvision_vgg_with_the_same_weights():
    """Our names index the same activations as torchvision's VGG-16 features (max pooling)."""
    phi = vgg_features(["relu1_2", "pool2", "relu3_3", "conv4_1"], source="offline", arch="vgg16",
                       pooling="max", verbose=False)
    reference = make_layers(cfgs["D"])  # what torchvision's vgg16().features is built from
    for ours, theirs in zip(phi.body, reference):
        theirs.load_state_dict(ours.state_dict())
    x = torch.rand(1, 3, 32, 32)
    h = x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)  # offline: mean subtracted, no std
    expected = {}
    names = vgg_layer_names("vgg16")
    for name, layer in zip(names, reference):
        h = layer(h)
        expected[name] = h.clone()
    for name, value in phi(x).items():
        torch.testing.assert_close(value, expected[name])


def test_average_pooling_is_the_default():
    phi = vgg_features(["pool1"], source="offline", verbose=False)
    assert isinstance(phi.body.pool1, nn.AvgPool2d)


def test_offline_weights_are_kaiming_seeded_and_frozen():
    a = vgg_features(["conv3_1"], source="offline", verbose=False)
    b = vgg_features(["conv3_1"], source="offline", verbose=False)
    torch.manual_seed(123)  # the global seed does not change the offline network
    c = vgg_features(["conv3_1"], source="offline", verbose=False)
    torch.testing.assert_close(a.body.conv3_1.weight, b.body.conv3_1.weight)
    torch.testing.assert_close(a.body.conv3_1.weight, c.body.conv3_1.weight)
    w = a.body.conv3_1.weight
    assert abs(float(w.std()) - (2 / (128 * 9)) ** 0.5) < 0.05 * (2 / (128 * 9)) ** 0.5
    assert float(a.body.conv3_1.bias.abs().max()) == 0
    assert not any(p.requires_grad for p in a.parameters())
    a.train()
    assert not a.training and not a.body.training


def test_gradient_reaches_the_input():
    phi = vgg_features(["relu2_1"], source="offline", verbose=False)
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    phi(x)["relu2_1"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_says_which_weights_it_uses(capsys):
    phi = vgg_features(["relu1_1"], source="auto")
    printed = capsys.readouterr().out
    assert phi.source == "offline"
    assert "random-weight VGG-19" in phi.source_description
    assert f"Loss network: {phi.source_description}" in printed
    assert phi.source_description in repr(phi)


def test_imagenet_weights_and_normalisation_are_used_when_available(monkeypatch):
    pretrained = nn.Module()  # stands in for the downloaded vgg16: only its .features are used
    pretrained.features = make_layers(cfgs["D"])
    monkeypatch.setattr(vgg_module, "load_pretrained", lambda builder, weights: pretrained)
    phi = vgg_features(["conv2_1"], source="auto", arch="vgg16", verbose=False)
    assert phi.source == "imagenet" and "ImageNet VGG-16" in phi.source_description
    torch.testing.assert_close(phi.body.conv2_1.weight, pretrained.features[5].weight)
    torch.testing.assert_close(phi.std.flatten(), torch.tensor(IMAGENET_STD))


def test_imagenet_source_without_the_file_is_a_clear_error(capsys):
    with pytest.raises(RuntimeError, match="source='offline'"):
        vgg_features(["relu1_1"], source="imagenet")


@pytest.mark.parametrize("kwargs, match", [
    (dict(layers=["relu6_1"]), "valid names: conv1_1, relu1_1"),
    (dict(layers=["conv5_4"], arch="vgg16"), "unknown vgg16 layer"),
    (dict(layers=[]), "valid names"),
    (dict(layers=["relu1_1"], source="internet"), "source must be one of"),
    (dict(layers=["relu1_1"], arch="resnet50"), "arch must be one of"),
    (dict(layers=["relu1_1"], pooling="min"), "pooling"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        vgg_features(verbose=False, **kwargs)


@pytest.mark.parametrize("x, error, words", BAD_IMAGE_BATCHES)
def test_bad_images(x, error, words):
    phi = vgg_features(["relu1_1"], source="offline", verbose=False)
    with pytest.raises(error, match=re.escape(words)):
        phi(x)
