"""The transform network of Johnson et al. (course_lib.models.transformer_net)."""
import re

import pytest
import torch
from torch import nn

from course_lib.models.transformer_net import (ResidualBlock, TransformerNet, UpsampleConvLayer,
                                               load_style_checkpoint, style_checkpoint_names)

from bad_images import BAD_IMAGE_BATCHES


def test_paper_width_has_the_reference_parameter_count():
    # supplementary Table 1: 9x9/32, 3x3/64 s2, 3x3/128 s2, 5 residual blocks of 128, two
    # upsamplings, 9x9/3; with affine instance norms this is 1,679,235 parameters
    convs = [(3, 32, 9), (32, 64, 3), (64, 128, 3)] + [(128, 128, 3)] * 10 + [(128, 64, 3), (64, 32, 3), (32, 3, 9)]
    conv_params = sum(i * o * k * k + o for i, o, k in convs)
    norm_params = 2 * (32 + 64 + 128 + 10 * 128 + 64 + 32)
    assert sum(p.numel() for p in TransformerNet().parameters()) == conv_params + norm_params


@pytest.mark.parametrize("size", [(16, 16), (17, 23), (30, 9)])
def test_output_has_input_size_and_image_range(size):
    torch.manual_seed(0)
    net = TransformerNet(width=4)
    with torch.no_grad():
        y = net(torch.rand(2, 3, *size))
    assert y.shape == (2, 3, *size)
    assert 0 <= float(y.min()) and float(y.max()) <= 1


def test_uses_instance_norm_and_no_transposed_convolution():
    net = TransformerNet(width=4)
    kinds = {type(m) for m in net.modules()}
    assert nn.InstanceNorm2d in kinds and nn.BatchNorm2d not in kinds
    assert nn.ConvTranspose2d not in kinds
    assert sum(isinstance(m, ResidualBlock) for m in net.modules()) == 5


def test_instance_norm_makes_output_independent_of_the_rest_of_the_batch():
    torch.manual_seed(0)
    net = TransformerNet(width=4).train()
    a, b = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    torch.testing.assert_close(net(torch.cat([a, b]))[:1], net(a))


def test_residual_block_is_identity_plus_a_residual():
    torch.manual_seed(0)
    block = ResidualBlock(6)
    x = torch.randn(2, 6, 8, 8)
    nn.init.zeros_(block.in2.weight)
    nn.init.zeros_(block.in2.bias)  # residual branch outputs zero
    torch.testing.assert_close(block(x), x)


def test_resize_convolution_has_no_checkerboard():
    # a constant input through nearest upsampling + conv with a constant kernel stays constant;
    # a stride-2 transposed convolution with the same kernel gives a periodic pattern
    up = UpsampleConvLayer(1, 1, 3)
    conv = up[1][1]
    nn.init.constant_(conv.weight, 1.0)
    nn.init.zeros_(conv.bias)
    out = up(torch.ones(1, 1, 6, 6))
    assert out.std() < 1e-6
    transposed = nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1, output_padding=1, bias=False)
    nn.init.constant_(transposed.weight, 1.0)
    assert transposed(torch.ones(1, 1, 6, 6))[..., 2:-2, 2:-2].std() > 0.1


def test_noise_maps_widen_the_upsampling_convolutions_only():
    # noise_maps=k joins k maps of noise after each upsampling: only those two convolutions grow
    plain, noisy = TransformerNet(width=4), TransformerNet(width=4, noise_maps=3)
    grown = {name: (p.shape, noisy.state_dict()[name].shape) for name, p in plain.state_dict().items()
             if p.shape != noisy.state_dict()[name].shape}
    assert set(plain.state_dict()) == set(noisy.state_dict())  # a noise_maps=0 checkpoint keeps its keys
    assert grown == {"upsampling.0.1.1.weight": ((8, 16, 3, 3), (8, 19, 3, 3)),
                     "upsampling.3.1.1.weight": ((4, 8, 3, 3), (4, 11, 3, 3))}


def test_noise_is_fixed_in_eval_mode_and_fresh_in_training_mode():
    torch.manual_seed(0)
    net = TransformerNet(width=4, noise_maps=2)
    a, b = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    assert not torch.equal(net(a), net(a))  # training: new noise at every call
    net.eval()
    with torch.no_grad():
        torch.testing.assert_close(net(a), net(a))
        torch.testing.assert_close(net(torch.cat([a, b]))[1:], net(b))  # one draw shared by the batch
        plain = TransformerNet(width=4).eval()
        torch.testing.assert_close(plain(a), plain(a))


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_bad_noise_maps_are_refused(bad):
    with pytest.raises(ValueError, match="noise_maps"):
        TransformerNet(width=4, noise_maps=bad)


def test_gradients_reach_every_parameter():
    net = TransformerNet(width=4)
    net(torch.rand(1, 3, 16, 16)).mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


@pytest.mark.parametrize("bad, error, words", BAD_IMAGE_BATCHES)
def test_bad_input_gets_a_clear_error(bad, error, words):
    with pytest.raises(error, match=re.escape(words)):
        TransformerNet(width=4)(bad)


def test_bad_width_is_refused():
    with pytest.raises(ValueError, match="width"):
        TransformerNet(width=0)


def test_unknown_style_checkpoint_is_refused():
    with pytest.raises(ValueError, match="no course checkpoint"):
        load_style_checkpoint("no_such_style")


@pytest.mark.parametrize("style", style_checkpoint_names())
def test_course_checkpoint_loads_small_and_stylises(style):
    from importlib import resources

    size = (resources.files("course_lib") / "checkpoints" / f"{style}.pt").stat().st_size
    assert size <= 2 * 1024 * 1024
    net = load_style_checkpoint(style)
    assert not net.training and {"style", "loss_network", "steps"} <= set(net.meta)
    assert not {"camera", "grace_hopper", "rocket"} & set(net.meta["content_images"])  # held out for notebook 07
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        y = net(x)
    assert y.shape == x.shape and (y - x).abs().mean() > 0.01  # it changes the image


@pytest.mark.parametrize("style", style_checkpoint_names())
def test_course_checkpoint_keeps_the_content_and_takes_the_palette(style):
    # Guards against shipping a collapsed network (flat colour + blobs: luminance correlation ~0.25
    # with the photo, measured on the first, under-trained brick checkpoint). The starry checkpoint
    # paints strokes over the photo and keeps 0.70 (astronaut) and 0.60 (camera).
    from course_lib.data import sample_image, style_image

    net = load_style_checkpoint(style)
    style_mean = style_image(net.meta["style"], size=128).mean((1, 2))
    for name in ("astronaut", "camera"):
        x = sample_image(name, size=128)[None]
        with torch.no_grad():
            y = net(x)
        luminance = torch.stack([x.mean(1).flatten(), y.mean(1).flatten()])
        assert torch.corrcoef(luminance)[0, 1] > 0.5, f"{style} on {name}: the content is lost"
        assert (y[0].mean((1, 2)) - style_mean).norm() < (x[0].mean((1, 2)) - style_mean).norm(), \
            f"{style} on {name}: the output's mean colour did not move towards the style's"


def test_the_loss_network_checkpoint_is_not_a_style():
    """course_lib/checkpoints/ also holds notebook 06's course-trained loss network: not a style to offer."""
    assert "course_vgg19" not in style_checkpoint_names() and "starry" in style_checkpoint_names()
