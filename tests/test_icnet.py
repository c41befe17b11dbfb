"""course_lib.models.icnet: the branches' resolutions (ICNet §3.2), cascade feature fusion (§3.3) against
its definition, cascade label guidance (§3.4) against a sum of cross-entropies at the labels' size, FLOPs of a convolution
against the formula, ICNet's FLOPs against the heavy network at full resolution, bad input."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.losses.segmentation import CascadeLoss
from course_lib.models.icnet import CascadeFeatureFusion, ICNet
from course_lib.models.pspnet import PSPNet
from course_lib.profiling import count_flops


def test_icnet_outputs_in_train_and_eval_mode():
    torch.manual_seed(0)
    net = ICNet(3, bins=(1, 2))
    x = torch.rand(2, 3, 48, 64)
    coarse, medium, final = net(x)
    assert coarse.shape == (2, 3, 6, 8) and medium.shape == (2, 3, 12, 16) and final.shape == (2, 3, 12, 16)
    CascadeLoss()((coarse, medium, final), torch.randint(0, 3, (2, 48, 64))).backward()
    assert all(p.grad is not None for p in net.parameters())
    assert net.eval()(x).shape == (2, 3, 48, 64)


def test_cascade_feature_fusion_is_its_definition():
    torch.manual_seed(0)
    cff = CascadeFeatureFusion(4, 6, 5, num_classes=3).eval()
    low, high = torch.randn(1, 4, 3, 5), torch.randn(1, 6, 6, 10)
    fused, scores = cff(low, high)
    up = F.interpolate(low, scale_factor=2, mode="bilinear", align_corners=False)
    low_conv = cff.low[0]
    assert low_conv.dilation == (2, 2) and low_conv.kernel_size == (3, 3)
    expected = F.relu(cff.low[1](F.conv2d(up, low_conv.weight, padding=2, dilation=2)) + cff.high(high))
    assert torch.allclose(fused, expected, atol=1e-6) and fused.shape == (1, 5, 6, 10)
    assert torch.allclose(scores, cff.classifier(up), atol=1e-6)


def test_cascade_loss_is_a_weighted_sum_of_cross_entropies():
    torch.manual_seed(0)
    masks = torch.randint(0, 3, (2, 16, 16))
    masks[0, :2] = 255
    outputs = (torch.randn(2, 3, 4, 4), torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8))
    expected = sum(w * F.cross_entropy(F.interpolate(o, size=(16, 16), mode="bilinear"), masks, ignore_index=255)
                   for w, o in zip((0.4, 0.4, 1.0), outputs))
    assert torch.allclose(CascadeLoss()(outputs, masks), expected)
    # the scores' pixel i sits at 4i + 1.5 of the image once upsampled, as in ICNet's eval mode: scores that
    # put the boundary there fit the masks better than the masks shifted a pixel either way
    edge = torch.zeros(1, 16, 16, dtype=torch.long)
    edge[:, :, 8:] = 1
    scores = torch.zeros(1, 2, 4, 4)
    scores[:, 1, :, 2:] = 20.0
    scores[:, 0, :, :2] = 20.0
    loss = CascadeLoss(weights=(1.0,))
    assert all(loss((scores,), edge) < loss((scores,), edge.roll(shift, -1)) for shift in (-1, 1))
    with pytest.raises(ValueError, match="3 outputs"):
        CascadeLoss()(outputs[2], masks)


def test_conv_flops_match_the_formula():
    conv = nn.Conv2d(5, 7, 3, stride=2, padding=1)
    # 2 * C_in * C_out * k * k per output pixel, 16 x 16 output pixels
    assert count_flops(conv, torch.zeros(1, 5, 32, 32)) == 2 * 5 * 7 * 9 * 16 * 16


def test_icnet_needs_a_third_of_the_flops_of_the_heavy_network_at_full_resolution():
    x = torch.zeros(1, 3, 128, 128)
    assert count_flops(ICNet(3), x) * 3 < count_flops(PSPNet(3), x)


def test_icnet_bad_input():
    with pytest.raises(ValueError, match="multiple of 16"):
        ICNet(3)(torch.rand(1, 3, 100, 128))
    with pytest.raises(ValueError, match="does not fit"):
        ICNet(3).eval()(torch.rand(1, 3, 64, 64))       # the heavy branch's map is 4 x 4 < bin 6


def test_nearest_label_downsampling_then_bilinear_upsampling_shows_masks_1_5_px_down_and_right():
    """Why CascadeLoss upsamples the scores instead of downsampling the labels: a square's labels kept at
    pixel 4i and shown where bilinear upsampling puts score i (4i + 1.5) move by +1.5 px on both axes."""
    index = torch.arange(64.0)
    shifts = []
    for corner in range(16, 24):  # every phase of the square against the 4 x 4 grid
        mask = torch.zeros(1, 1, 64, 64)
        mask[..., corner:corner + 21, corner + 1:corner + 22] = 1
        shown = F.interpolate(F.interpolate(mask, scale_factor=0.25, mode="nearest"), size=(64, 64),
                              mode="bilinear", align_corners=False)[0, 0]
        centre = [(m.sum(axis) * index).sum() / m.sum() for m in (shown, mask[0, 0]) for axis in (1, 0)]
        shifts.append((centre[0] - centre[2], centre[1] - centre[3]))
    assert torch.tensor(shifts).mean(0).tolist() == pytest.approx([1.5, 1.5])


def test_cascade_checkpoints_round_trip_keeps_the_weights_to_half_precision(tmp_path):
    from course_lib.recipes.backbones_pyramid import load_cascade_checkpoints, save_cascade_checkpoints

    torch.manual_seed(0)
    models = {"PSPNet, full resolution": PSPNet(3).eval(), "ICNet": ICNet(3).eval()}
    save_cascade_checkpoints(models, {"seconds": 1}, tmp_path)
    loaded = load_cascade_checkpoints(tmp_path)
    assert list(loaded) == list(models)
    x = torch.rand(1, 3, 128, 128)
    for name, model in models.items():
        assert (loaded[name].meta, loaded[name].training, type(loaded[name])) == ({"seconds": 1}, False, type(model))
        for (key, a), (_, b) in zip(model.state_dict().items(), loaded[name].state_dict().items()):
            expected = a.half().float() if a.is_floating_point() else a
            torch.testing.assert_close(b, expected, msg=f"{name} {key}")
        torch.testing.assert_close(loaded[name](x), model(x), atol=5e-2, rtol=0)


@pytest.mark.slow
def test_the_shipped_cascade_pair_is_the_full_recipe_and_scores_its_meta():
    """Both files' meta record the full recipe (``train_cascade_pair(icnet_recipe())``, seed 0) and the held-out
    mean IoU measured right after training; reloaded from half precision each scores it again on the same
    held-out scenes, and ICNet is within 5 points of the heavy network (the benchmark's target)."""
    from dataclasses import asdict, replace

    from course_lib.recipes.backbones_pyramid import ICNetRecipe, cascade_experiment, load_cascade_checkpoints

    pair = load_cascade_checkpoints()
    full = ICNetRecipe()
    for model in pair.values():
        assert model.meta["recipe"] == asdict(full)
    scores = cascade_experiment(replace(full, timing_size=(128, 128), repeats=1), models=pair)["miou"]
    assert scores == pytest.approx(pair["ICNet"].meta["held_out_miou"], abs=0.005)
    assert scores["ICNet"] > scores["PSPNet, full resolution"] - 0.05


def test_cascade_checkpoint_missing_names_the_script(tmp_path):
    from course_lib.recipes.backbones_pyramid import load_cascade_checkpoints

    with pytest.raises(FileNotFoundError, match="scripts/train_cascade_checkpoints.py"):
        load_cascade_checkpoints(tmp_path)
