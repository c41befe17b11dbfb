"""course_lib.models.pspnet and course_lib.data.context: the pyramid pooling module against adaptive
average pooling computed by hand (PSPNet §3.2), its error on bins larger than the feature map, the
backbone's receptive field against the formula and measured, and the context scenes' rule."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.arithmetic import receptive_field
from course_lib.data.context import CUE_COLOURS, CUE_GAP, context_scenes, dihedral, random_dihedral, render_scene
from course_lib.models.pspnet import BACKBONE_LAYERS, PSPNet, PyramidPoolingModule, backbone
from course_lib.recipes.backbones_pyramid import train_segmentation
from course_lib.ops.receptive_field import effective_receptive_field, extent


def pooled_by_hand(x, bins):
    """Adaptive average pooling as torch defines it: cell i spans [floor(i H / b), ceil((i + 1) H / b))."""
    h, w = x.shape[-2:]
    out = torch.empty(*x.shape[:2], bins, bins, dtype=x.dtype)
    for i in range(bins):
        for j in range(bins):
            rows = slice(math.floor(i * h / bins), math.ceil((i + 1) * h / bins))
            cols = slice(math.floor(j * w / bins), math.ceil((j + 1) * w / bins))
            out[..., i, j] = x[..., rows, cols].mean((-2, -1))
    return out


def test_pyramid_stages_pool_cells_like_adaptive_average_pooling_by_hand():
    torch.manual_seed(0)
    ppm = PyramidPoolingModule(8, bins=(1, 2, 3, 6)).eval()
    x = torch.randn(2, 8, 13, 11, dtype=torch.float64)
    ppm.double()
    for bins, stage in zip(ppm.bins, ppm.stages):
        assert torch.allclose(stage[0](x), pooled_by_hand(x, bins), atol=1e-12)
    out = ppm(x)
    assert out.shape == (2, 8 + 4 * 2, 13, 11) and ppm.out_channels == 16
    assert torch.equal(out[:, :8], x)                              # the features pass through
    global_stage = ppm.stages[0]                                   # bin 1: one value per channel, everywhere
    expected = global_stage[1:](x.mean((-2, -1), keepdim=True))
    assert torch.allclose(out[:, 8:10], expected.expand(-1, -1, 13, 11), atol=1e-12)
    six = F.interpolate(ppm.stages[3](x), size=(13, 11), mode="bilinear", align_corners=False)
    assert torch.allclose(out[:, 14:16], six)


def test_pyramid_bin_larger_than_feature_map_says_the_sizes():
    ppm = PyramidPoolingModule(8)
    with pytest.raises(ValueError, match=r"6 x 6.*5 x 9"):
        ppm(torch.randn(1, 8, 5, 9))
    with pytest.raises(ValueError, match="in_channels"):
        PyramidPoolingModule(2, bins=(1, 2, 3))


def test_pspnet_shapes_gradients_and_bad_input():
    torch.manual_seed(0)
    for pyramid in (True, False):
        net = PSPNet(3, pyramid=pyramid)
        out = net(torch.rand(2, 3, 32, 40))
        assert out.shape == (2, 3, 32, 40)
        out.sum().backward()
        assert all(p.grad is not None for p in net.parameters())
    with pytest.raises(ValueError, match="multiple of 4"):
        PSPNet(3)(torch.rand(1, 3, 30, 32))


def test_train_segmentation_warmup_starts_at_a_25th_of_the_rate():
    """Adam's first step moves every weight by the rate (m / sqrt(v) = sign of the gradient): ``lr`` without
    warm-up, ``lr / 25`` with it (OneCycleLR's ``div_factor``); a bad fraction is refused."""
    images, masks = torch.rand(4, 3, 8, 8), torch.randint(0, 3, (4, 8, 8))
    for warmup, first_rate in ((None, 1e-2), (0.5, 1e-2 / 25)):
        torch.manual_seed(0)
        model = torch.nn.Conv2d(3, 3, 1)
        seen = []
        model.register_forward_pre_hook(lambda module, args: seen.append(module.weight.detach().clone()))
        train_segmentation(model, images, masks, epochs=1, batch_size=1, lr=1e-2, seed=0, warmup=warmup)
        assert torch.allclose((seen[1] - seen[0]).abs(), torch.full_like(seen[0], first_rate), rtol=1e-3)
    with pytest.raises(ValueError, match="warmup"):
        train_segmentation(model, images, masks, epochs=1, batch_size=2, lr=1e-2, seed=0, warmup=1.5)


def test_backbone_receptive_field_formula_and_measured():
    assert receptive_field(BACKBONE_LAYERS) == 21
    torch.manual_seed(0)
    net = backbone((8, 8, 8)).eval()
    side, filled = extent(effective_receptive_field(net, (1, 3, 45, 45)))
    assert side == 21 and filled == 1.0


def test_context_scenes_follow_the_rule():
    images, masks = context_scenes(24, size=64, seed=3)
    assert images.shape == (24, 3, 64, 64) and images.dtype == torch.float32 and masks.dtype == torch.int64
    again, _ = context_scenes(12, size=64, seed=3)
    assert torch.equal(images[:12], again)                          # item i depends on (seed, i) only
    ys, xs = torch.meshgrid(torch.arange(64) + 0.5, torch.arange(64) + 0.5, indexing="ij")
    for image, mask in zip(images, masks):
        classes = set(mask.unique().tolist()) - {0}
        assert len(classes) == 1                                    # one scene, one object class
        scene = classes.pop() - 1
        colour = torch.tensor(CUE_COLOURS[scene])[:, None]
        cue = ((image.reshape(3, -1) - colour).abs().max(0).values < 0.15).reshape(64, 64)
        assert cue.sum() > 20                                       # the cue disc has the scene's colour
        cy, cx = ys[cue].mean(), xs[cue].mean()
        distance = torch.hypot(ys[mask > 0] - cy, xs[mask > 0] - cx)
        assert distance.min() >= CUE_GAP * 64 - 1.5                 # far from every object pixel
    assert not (render_scene(0, 0, 64)[0] == render_scene(1, 0, 64)[0]).all()


def test_dihedral_is_numpy_s_symmetries_of_the_square_on_image_and_mask_alike():
    images, masks = context_scenes(2, 32, seed=0)
    seen = set()
    for k in range(4):
        for flip in (False, True):
            x, y = dihedral(images, masks, k, flip)
            expected = np.rot90(images.numpy(), k, axes=(-2, -1))
            expected = expected[..., ::-1] if flip else expected
            assert np.array_equal(x.numpy(), expected)
            assert torch.equal(y, dihedral(masks[:, None].float(), masks, k, flip)[0][:, 0].long())
            seen.add(x.numpy().tobytes())
    assert len(seen) == 8
    g = torch.Generator().manual_seed(0)
    x, y = random_dihedral(images, masks, g)
    assert x.shape == images.shape and torch.equal(torch.bincount(y.flatten()), torch.bincount(masks.flatten()))
