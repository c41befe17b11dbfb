"""SRCNN and ESPCN (course_lib.models.srcnn, .espcn; notebook 11's training, course_lib.recipes.super_resolution): shapes, the papers' sizes, pixel shuffle against
nn.PixelShuffle, ICNR as nearest-neighbour upsampling at initialisation, the colour pipeline."""
import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.data.degrade import cubic_upscale, upscale
from course_lib.metrics import rgb_to_ycbcr, ycbcr_to_rgb
from course_lib.models.espcn import ESPCN, icnr, pixel_shuffle
from course_lib.models.srcnn import SRCNN, Bicubic
from course_lib.recipes.super_resolution import (PerceptualSRRecipe, SRRecipe, compare_sr, evaluate_sr,
                                                 perceptual_sr_recipe, sr_held_out_pairs, sr_quality, sr_training_data,
                                                 super_resolve)


@pytest.mark.parametrize("scale, channels", [(2, 1), (3, 2), (4, 3)])
def test_pixel_shuffle_equals_nn_pixel_shuffle_and_the_formula(scale, channels):
    x = torch.randn(2, channels * scale**2, 5, 4, generator=torch.Generator().manual_seed(scale))
    out = pixel_shuffle(x, scale)
    torch.testing.assert_close(out, nn.PixelShuffle(scale)(x), rtol=0, atol=0)
    c, i, j, yy, xx = channels - 1, scale - 1, 0, 3, 2  # Eq. 4: out[c, r y + i, r x + j] = x[c r² + r i + j, y, x]
    assert out[1, c, scale * yy + i, scale * xx + j] == x[1, c * scale**2 + scale * i + j, yy, xx]


def test_pixel_shuffle_explains_bad_input():
    with pytest.raises(ValueError, match="multiple of scale"):
        pixel_shuffle(torch.rand(1, 8, 3, 3), 3)
    with pytest.raises(ValueError, match=re.escape("(N, C*r*r, h, w)")):
        pixel_shuffle(torch.rand(9, 3, 3), 3)


def test_icnr_starts_as_nearest_neighbour_upsampling_without_checkerboard():
    torch.manual_seed(0)
    kernel = torch.randn(2, 4, 3, 3)
    weight = icnr(kernel, 3)
    assert weight.shape == (18, 4, 3, 3)
    x = torch.randn(1, 4, 6, 5)
    torch.testing.assert_close(pixel_shuffle(F.conv2d(x, weight, padding=1), 3),
                               F.interpolate(F.conv2d(x, kernel, padding=1), scale_factor=3, mode="nearest"))
    low = torch.rand(1, 1, 8, 8)
    icnr_out, default_out = ESPCN(3, residual=False)(low), ESPCN(3, init="default", residual=False)(low)
    # within each 3x3 block the sub-pixels are equal with ICNR, and differ (a checkerboard) without it
    def spread(y):
        return F.pixel_unshuffle(y, 3).std(1).mean().item()
    assert spread(icnr_out) < 1e-6 < 1e-3 < spread(default_out)


def test_the_networks_have_the_papers_sizes_and_output_shapes():
    srcnn, espcn = SRCNN(3), ESPCN(3)
    weights = sum(p.numel() for name, p in srcnn.named_parameters() if name.endswith("weight"))
    assert weights == 8032  # SRCNN §4.1: "a total of 8,032 parameters" (9-1-5, 64/32 maps, without biases)
    x = torch.rand(2, 1, 7, 5)
    assert srcnn(x).shape == espcn(x).shape == Bicubic(3)(x).shape == (2, 1, 21, 15)
    with pytest.raises(ValueError, match="init"):
        ESPCN(3, init="zeros")
    with pytest.raises(ValueError, match="activation must be 'relu' or 'tanh'"):
        ESPCN(3, activation="sigmoid")
    assert isinstance(ESPCN(3, activation="tanh").feature_maps[1], nn.Tanh)
    with pytest.raises(ValueError, match="scale"):
        SRCNN(1)


def test_residual_srcnn_starts_near_bicubic_and_bicubic_is_upscale():
    x = torch.rand(1, 1, 8, 8)
    torch.testing.assert_close(Bicubic(3)(x).clamp(0, 1), upscale(x, 3))
    srcnn = SRCNN(3)
    nn.init.zeros_(srcnn.reconstruction.weight), nn.init.zeros_(srcnn.reconstruction.bias)
    torch.testing.assert_close(srcnn(x), Bicubic(3)(x))


def test_super_resolve_keeps_bicubic_colour_and_the_networks_luminance():
    low, high = sr_held_out_pairs(3)["rocket"]
    out = super_resolve(Bicubic(3), low)
    assert out.shape == high.shape and out.min() >= 0 and out.max() <= 1
    expected = ycbcr_to_rgb(F.interpolate(rgb_to_ycbcr(low)[None], scale_factor=3, mode="bicubic")[0]).clamp(0, 1)
    torch.testing.assert_close(out, expected)


def test_training_pairs_are_luminance_at_two_resolutions():
    low, high = sr_training_data(SRRecipe(n_patches=4, epochs=1, patch=96))[:]
    assert low.shape == (4, 1, 32, 32) and high.shape == (4, 1, 96, 96)
    assert 16 / 255 - 1e-6 <= high.min() and high.max() <= 235 / 255 + 1e-6


def test_residual_espcn_starts_from_bicubic_when_its_correction_is_zero():
    espcn = ESPCN(3)
    nn.init.zeros_(espcn.sub_pixel.weight), nn.init.zeros_(espcn.sub_pixel.bias)
    x = torch.rand(1, 1, 6, 6)
    torch.testing.assert_close(espcn(x), Bicubic(3)(x))


def test_compare_sr_reports_held_out_psnr_and_time_per_model():
    results = compare_sr({"bicubic": Bicubic(3)}, 3, output_size=30, repeats=1)
    expected = evaluate_sr(Bicubic(3), 3)
    assert results["bicubic"]["psnr"] == expected and results["bicubic"]["ms"] > 0
    assert results["bicubic"]["mean"] == pytest.approx(sum(expected.values()) / len(expected))
    with pytest.raises(ValueError, match="multiple of scale"):
        compare_sr({"bicubic": Bicubic(3)}, 3, output_size=31)


def test_train_sr_gives_fit_its_plot_title(monkeypatch):
    import course_lib.recipes.super_resolution as super_resolution

    seen = {}
    monkeypatch.setattr(super_resolution, "fit", lambda *args, **kwargs: seen.update(kwargs) or {})
    super_resolution.train_sr(SRCNN(3), SRRecipe(n_patches=4, epochs=1), plot=False, title="SRCNN 9-1-5")
    assert seen["title"] == "SRCNN 9-1-5" and seen["plot"] is False


def test_bicubic_takes_keys_parameter():
    x = torch.rand(1, 1, 6, 5, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(Bicubic(3)(x), F.interpolate(x, scale_factor=3, mode="bicubic", align_corners=False))
    torch.testing.assert_close(Bicubic(3, a=-0.5)(x), cubic_upscale(x, 3, -0.5))
    assert not torch.allclose(Bicubic(3, a=-0.5)(x), Bicubic(3)(x))


def test_sr_quality_is_the_metrics_on_each_held_out_image():
    from course_lib.metrics import high_frequency_ratio, psnr_y, ssim_y

    quality = sr_quality(Bicubic(3), 3)
    assert list(quality) == list(sr_held_out_pairs(3))
    low, high = sr_held_out_pairs(3)["camera"]
    output = super_resolve(Bicubic(3), low)
    assert quality["camera"] == pytest.approx(dict(psnr=psnr_y(output, high, 3).item(), ssim=ssim_y(output, high, 3).item(),
                                                   detail=high_frequency_ratio(output, high, 3).item()))
    assert quality["camera"]["detail"] < 0.5  # bicubic is blurry


def test_perceptual_fine_tuning_feeds_clipped_rgb_to_the_loss_network_and_moves_the_model():
    from course_lib.losses.perceptual import PerceptualLoss
    from course_lib.recipes.super_resolution import fine_tune_sr_perceptual

    seen = []

    class LossNet(nn.Module):  # one conv "relu2_2"; records what the loss network sees
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            seen.append((x.shape[1], x.min().item(), x.max().item()))
            return {"relu2_2": torch.relu(self.conv(x))}

    torch.manual_seed(0)
    model = ESPCN(3)
    before = [p.detach().clone() for p in model.parameters()]
    recipe = PerceptualSRRecipe(SRRecipe(n_patches=32, epochs=1, batch_size=16))
    history = fine_tune_sr_perceptual(model, recipe, seed=1, loss=PerceptualLoss(["relu2_2"], loss_net=LossNet()),
                                      plot=False)
    assert len(history["step_loss"]) == 2
    assert all(c == 3 and low >= 0 and high <= 1 for c, low, high in seen)
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
    assert perceptual_sr_recipe().layer == "relu2_2" and len(perceptual_sr_recipe().seeds) >= 3


def test_srcnn_checkpoint_round_trip_keeps_the_weights_to_half_precision(tmp_path):
    from course_lib.recipes.super_resolution import load_srcnn_checkpoint, save_srcnn_checkpoint

    torch.manual_seed(0)
    model = SRCNN(4, residual=False)
    save_srcnn_checkpoint(model, tmp_path / "srcnn.pt", {"seconds": 1})
    loaded = load_srcnn_checkpoint(tmp_path / "srcnn.pt")
    assert (loaded.scale, loaded.residual, loaded.meta, loaded.training) == (4, False, {"seconds": 1}, False)
    assert loaded.patch_extraction.weight.is_contiguous(memory_format=torch.channels_last)
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert b.dtype == torch.float32
        torch.testing.assert_close(b, a.half().float(), msg=name)
    x = torch.rand(1, 1, 8, 8)
    torch.testing.assert_close(loaded(x), model(x), atol=2e-3, rtol=0)


def test_the_shipped_srcnn_checkpoint_is_the_full_recipe_and_scores_its_meta():
    """The checkpoint's meta records the full recipe (``train_srcnn(FULL_SR_RECIPE)``) and the held-out PSNR
    measured right after training; reloaded from half precision it scores the same on the held-out images
    and beats bicubic by more than 1 dB."""
    from dataclasses import asdict

    from course_lib.recipes.super_resolution import FULL_SR_RECIPE, load_srcnn_checkpoint

    model = load_srcnn_checkpoint()
    assert model.meta["recipe"] == asdict(FULL_SR_RECIPE) and model.scale == FULL_SR_RECIPE.scale
    scores = evaluate_sr(model, model.scale)
    bicubic = evaluate_sr(Bicubic(model.scale), model.scale)
    assert scores == pytest.approx({name: q["psnr"] for name, q in model.meta["held_out"].items()}, abs=0.02)
    assert sum(scores.values()) / len(scores) - sum(bicubic.values()) / len(bicubic) > 1.0


def test_srcnn_checkpoint_is_missing_names_the_script(monkeypatch):
    import course_lib.recipes.super_resolution as super_resolution

    monkeypatch.setattr(super_resolution, "SRCNN_CHECKPOINT", "checkpoints/srcnn/absent.pt")
    with pytest.raises(FileNotFoundError, match="scripts/train_srcnn_checkpoint.py"):
        super_resolution.load_srcnn_checkpoint()
