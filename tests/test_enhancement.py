"""Notebook 09: exposure stacks, Mertens exposure fusion, the guided-filter frequency split, SICE."""
import math

import numpy as np
import pytest
import torch
from skimage import exposure as sk_exposure

from course_lib.data.exposure import camera_response, exposure_stack, inverse_camera_response
from course_lib.metrics import rgb_to_ycbcr
from course_lib.models.sice import (BASELINES, SICE, EnhanceRecipe, OneStage, enhance, evaluate_enhancers,
                                    frequency_split, guided_filter, held_out_pairs, on_luminance, one_stage_like,
                                    sice_loss)
from course_lib.ops.exposure_fusion import (collapse, contrast, exposure_fusion, fusion_weights, gaussian_pyramid,
                                            laplacian_pyramid, saturation, well_exposedness)
from course_lib.profiling import count_parameters

TINY = EnhanceRecipe(image_size=32, n_patches=8, epochs=1, patch=16, batch_size=4, width=4)


# --- exposure stacks ---------------------------------------------------------------------------------

def test_stack_without_noise_follows_the_formula():
    image = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))
    stack = exposure_stack(image, stops=(-1, 0, 1), noise_std=0.0)
    assert stack.shape == (3, 3, 8, 8)
    torch.testing.assert_close(stack[1], image, atol=1e-6, rtol=0)  # 0 EV gives the image back
    expected = (2.0 * image**2.2).clamp(0, 1) ** (1 / 2.2)
    torch.testing.assert_close(stack[2], expected)
    assert (stack[0] < image + 1e-6).all() and (stack[2] >= image - 1e-6).all()


def test_stack_noise_is_seeded_and_response_round_trips():
    image = torch.full((3, 16, 16), 0.5)
    assert torch.equal(exposure_stack(image, seed=3), exposure_stack(image, seed=3))
    assert not torch.equal(exposure_stack(image, seed=3), exposure_stack(image, seed=4))
    x = torch.linspace(0, 1, 11)
    torch.testing.assert_close(camera_response(inverse_camera_response(x)), x)


@pytest.mark.parametrize("bad, message", [(torch.full((3, 4, 4), 2.0), r"\[0, 1\]"),
                                          (torch.rand(2, 3, 4, 4), "one \\(C, H, W\\)")])
def test_stack_rejects_bad_images(bad, message):
    with pytest.raises(ValueError, match=message):
        exposure_stack(bad)


# --- exposure fusion -----------------------------------------------------------------------------------

def test_weights_by_hand_on_a_3x3_image():
    frame = torch.tensor([[0.2, 0.5, 0.8], [0.5, 0.9, 0.5], [0.1, 0.5, 0.3]])
    rgb = torch.stack([frame, frame * 0.5, frame * 0.25])[None]  # one frame, (1, 3, 3, 3)
    grey = rgb[0].mean(0)
    # the centre pixel: 4 neighbours minus 4 times itself, on the grey frame
    centre = grey[0, 1] + grey[1, 0] + grey[1, 2] + grey[2, 1] - 4 * grey[1, 1]
    assert contrast(rgb)[0, 0, 1, 1].item() == pytest.approx(abs(centre.item()), rel=1e-5)
    r, g, b = rgb[0, :, 2, 0].tolist()
    mean = (r + g + b) / 3
    assert saturation(rgb)[0, 0, 2, 0].item() == pytest.approx(math.sqrt(((r - mean)**2 + (g - mean)**2 + (b - mean)**2) / 3), rel=1e-5)
    expected = math.prod(math.exp(-(v - 0.5)**2 / (2 * 0.2**2)) for v in (r, g, b))
    assert well_exposedness(rgb)[0, 0, 2, 0].item() == pytest.approx(expected, rel=1e-5)


def test_weights_sum_to_one_and_prefer_the_well_exposed_frame():
    stack = torch.rand(3, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    stack[0] = stack[0] * 0.05  # nearly black
    weights = fusion_weights(stack)
    assert weights.shape == (3, 1, 12, 12)
    torch.testing.assert_close(weights.sum(0), torch.ones(1, 12, 12))
    assert (weights[0].mean() < weights[1:].mean(dim=(1, 2, 3))).all()


def test_laplacian_pyramid_reconstructs_exactly():
    image = torch.rand(2, 3, 37, 50, generator=torch.Generator().manual_seed(2))
    pyramid = laplacian_pyramid(image, 4)
    assert [tuple(level.shape[-2:]) for level in pyramid] == [(37, 50), (19, 25), (10, 13), (5, 7)]
    torch.testing.assert_close(collapse(pyramid), image)
    torch.testing.assert_close(pyramid[-1], gaussian_pyramid(image, 4)[-1])


def test_a_stack_of_identical_frames_fuses_to_itself():
    image = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(exposure_fusion(image.expand(4, 3, 32, 32)), image)


def test_fusion_keeps_the_well_exposed_half_of_each_frame():
    # frame 0 is well exposed on the left and black on the right, frame 1 the other way round
    texture = 0.4 + 0.2 * torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(4))
    left, right = texture.clone(), texture.clone()
    left[..., 16:], right[..., :16] = 0.0, 1.0
    fused = exposure_fusion([left, right])
    # the fine detail of each half comes from the frame that is well exposed there ...
    fine = laplacian_pyramid(fused[None], 2)[0] - laplacian_pyramid(texture[None], 2)[0]
    assert fine[..., 2:30, 4:12].abs().mean() < 0.02 and fine[..., 2:30, 20:28].abs().mean() < 0.02
    # ... and the brightness too, up to a smooth halo near the seam (a plain average would be 0.25 off)
    for half in (slice(0, 8), slice(24, 32)):
        assert (fused[..., half] - texture[..., half]).mean().abs() < 0.15


@pytest.mark.parametrize("stack, message", [
    ([torch.rand(3, 8, 8), torch.rand(3, 8, 9)], "same size"),
    (torch.rand(2, 1, 8, 8), "RGB"),
    (torch.full((2, 3, 8, 8), 1.5), r"\[0, 1\]"),
])
def test_fusion_rejects_bad_stacks(stack, message):
    with pytest.raises(ValueError, match=message):
        exposure_fusion(stack)


# --- the frequency split -------------------------------------------------------------------------------

def test_guided_filter_limits_follow_the_formula():
    x = torch.rand(1, 1, 20, 20, generator=torch.Generator().manual_seed(5))
    # eps -> 0: a = 1, b = 0 in every window, so the filter returns its input
    torch.testing.assert_close(guided_filter(x, x, 2, 1e-9), x, atol=1e-4, rtol=0)
    # eps -> infinity: a = 0, b = window mean, so the output is the box mean of the box mean
    box = torch.nn.AvgPool2d(5, stride=1, padding=2, count_include_pad=False)
    torch.testing.assert_close(guided_filter(x, x, 2, 1e9), box(box(x)), atol=1e-5, rtol=0)
    torch.testing.assert_close(guided_filter(x, torch.full_like(x, 0.3), 2), torch.full_like(x, 0.3))


def test_frequency_split_keeps_a_strong_edge_in_the_base():
    step = torch.zeros(1, 3, 16, 16)
    step[..., 8:] = 1.0
    base, detail = frequency_split(step)
    torch.testing.assert_close(base + detail, rgb_to_ycbcr(step)[:, :1])
    assert detail.abs().max() < 0.05  # a 0.86 step is far above sqrt(eps) = 0.1: it stays in the base
    box = torch.nn.AvgPool2d(9, stride=1, padding=4, count_include_pad=False)
    assert (rgb_to_ycbcr(step)[:, :1] - box(box(rgb_to_ycbcr(step)[:, :1]))).abs().max() > 0.2  # a blur would not


def test_on_luminance_keeps_chroma_and_matches_skimage_on_y():
    image = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(6)) * 0.5 + 0.25
    out = on_luminance(sk_exposure.equalize_hist, image)
    before, after = rgb_to_ycbcr(image), rgb_to_ycbcr(out)
    torch.testing.assert_close(after[1:], before[1:], atol=2e-2, rtol=0)  # up to clipping into [0, 1]
    y = ((before[0] - 16 / 255) / (219 / 255)).numpy().astype(np.float64)
    expected = torch.from_numpy(sk_exposure.equalize_hist(y)).float() * 219 / 255 + 16 / 255
    inside = ((out > 0.001) & (out < 0.999)).all(0)
    torch.testing.assert_close(after[0][inside], expected[inside], atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="RGB"):
        on_luminance(sk_exposure.equalize_hist, image[:1])


# --- the networks ------------------------------------------------------------------------------------

def test_one_stage_control_has_the_same_parameter_count():
    for width in (8, 16):
        two_stage = SICE(width)
        one_stage = one_stage_like(two_stage)
        assert isinstance(one_stage, OneStage)
        assert abs(count_parameters(one_stage) / count_parameters(two_stage) - 1) < 0.05


def test_networks_keep_the_size_and_gradients_flow():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 20, 28)
    target = torch.rand(2, 3, 20, 28)
    for model in (SICE(4), OneStage(4)):
        out = model(x)
        assert out.shape == x.shape
        sice_loss(out, target).backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    stages = SICE(4).stages(x)
    assert {"base", "detail", "enhanced_base", "enhanced_detail", "output"} <= set(stages)


def test_held_out_pairs_and_evaluation():
    pairs = held_out_pairs(TINY)
    assert len(pairs) == 6 and all(frame.shape == (3, 32, 32) for frame, _ in pairs.values())
    frame, reference = pairs["camera", "under"]
    assert frame.mean() < reference.mean()
    scores = evaluate_enhancers({"reference": lambda x: x, **BASELINES},
                                {("camera", "under"): (reference, reference), ("camera", "over"): (reference, reference)})
    assert scores["reference"]["psnr_under"] == math.inf and scores["reference"]["detail_over"] == 0
    assert set(scores) == {"reference", "gamma", "HE", "CLAHE"} and scores["HE"]["psnr_over"] < math.inf
    assert enhance(SICE(4), frame).shape == frame.shape


@pytest.mark.parametrize("verbose", [True, False])
def test_train_networks_passes_verbose_to_fit_for_both_networks(verbose, monkeypatch):
    import course_lib.models.sice as sice

    seen = []
    monkeypatch.setattr(sice, "fit", lambda *args, **kwargs: seen.append(kwargs["verbose"]) or {})
    monkeypatch.setattr(sice, "enhancement_training_data", lambda recipe: torch.utils.data.TensorDataset(
        torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8)))
    networks = sice.train_networks(EnhanceRecipe(image_size=32, n_patches=4, epochs=1), seed=0, verbose=verbose)
    assert list(networks) == ["SICE", "one-stage"] and seen == [verbose, verbose]
