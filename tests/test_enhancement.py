"""Notebook 09: exposure stacks, Mertens exposure fusion, the guided-filter frequency split, SICE."""
import math

import numpy as np
import pytest
import torch
from skimage import exposure as sk_exposure

from course_lib.data.exposure import camera_response, exposure_stack, inverse_camera_response
from course_lib.losses.enhancement import sice_loss
from course_lib.metrics import rgb_to_ycbcr
from course_lib.models.sice import BASELINES, SICE, OneStage, frequency_split, on_luminance, one_stage_like
from course_lib.ops.guided_filter import guided_filter
from course_lib.recipes.enhancement import EnhanceRecipe, enhance, evaluate_enhancers, held_out_pairs
from course_lib.ops.exposure_fusion import (collapse, contrast, exposure_fusion, fusion_weights, gaussian_pyramid,
                                            laplacian_pyramid, pyramid_blend, saturation, well_exposedness)
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
    import course_lib.recipes.enhancement as enhancement

    seen = []
    monkeypatch.setattr(enhancement, "fit", lambda *args, **kwargs: seen.append(kwargs["verbose"]) or {})
    monkeypatch.setattr(enhancement, "enhancement_training_data", lambda recipe: torch.utils.data.TensorDataset(
        torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8)))
    networks = enhancement.train_networks(EnhanceRecipe(image_size=32, n_patches=4, epochs=1), seed=0, verbose=verbose)
    assert list(networks) == list(enhancement.NETWORKS) and seen == [verbose] * len(enhancement.NETWORKS)


# --- exposure fusion against an independent transcription of Mertens et al. 2007 ----------------------

def _mertens_numpy(stack: np.ndarray, levels: int, sigma: float = 0.2, eps: float = 1e-12) -> np.ndarray:
    """Mertens, Kautz & Van Reeth 2007 in float64 NumPy, written from the paper: §3.1 weights
    W = C·S·E (Eq. 1), normalised over the frames (Eq. 2); §3.2 Eq. 3, L{R}_l = sum_k G{W_k}_l L{I_k}_l,
    collapsed. Pyramids as Burt & Adelson: the 5-tap binomial blur (borders replicated) and decimation by
    2; the expand step is bilinear interpolation with half-pixel centres (the course's choice)."""
    k5 = np.array([1, 4, 6, 4, 1], dtype=np.float64) / 16

    def blur(x):  # (..., H, W)
        p = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(2, 2), (2, 2)], mode="edge")
        h, w = x.shape[-2:]
        rows = sum(k5[i] * p[..., i:i + h, :] for i in range(5))
        return sum(k5[j] * rows[..., :, j:j + w] for j in range(5))

    def expand(x, size):
        def axis_weights(n_in, n_out):
            matrix = np.zeros((n_out, n_in))
            for o in range(n_out):
                src = max((o + 0.5) * n_in / n_out - 0.5, 0.0)
                i0 = int(src)
                i1 = min(i0 + 1, n_in - 1)
                matrix[o, i0] += 1 - (src - i0)
                matrix[o, i1] += src - i0
            return matrix
        a, b = axis_weights(x.shape[-2], size[0]), axis_weights(x.shape[-1], size[1])
        return np.einsum("oh,...hw,pw->...op", a, x, b)

    def gaussian(x):
        pyramid = [x]
        for _ in range(levels - 1):
            pyramid.append(blur(pyramid[-1])[..., ::2, ::2])
        return pyramid

    def laplacian(x):
        g = gaussian(x)
        return [fine - expand(coarse, fine.shape[-2:]) for fine, coarse in zip(g, g[1:])] + [g[-1]]

    grey = np.pad(stack.mean(1), [(0, 0), (1, 1), (1, 1)], mode="edge")
    c = np.abs(grey[:, :-2, 1:-1] + grey[:, 2:, 1:-1] + grey[:, 1:-1, :-2] + grey[:, 1:-1, 2:] - 4 * grey[:, 1:-1, 1:-1])
    mu = stack.mean(1)
    s = np.sqrt(((stack - mu[:, None]) ** 2).mean(1))
    e = np.prod(np.exp(-((stack - 0.5) ** 2) / (2 * sigma**2)), axis=1)
    w = c * s * e + eps
    w = w / w.sum(0)
    blended = [(gw[:, None] * li).sum(0) for gw, li in zip(gaussian(w), laplacian(stack))]
    image = blended[-1]
    for level in reversed(blended[:-1]):
        image = level + expand(image, level.shape[-2:])
    return np.clip(image, 0, 1)


@pytest.mark.parametrize("shape, levels", [((3, 3, 16, 16), 3), ((2, 3, 13, 21), 2), ((4, 3, 24, 18), 4)])
def test_exposure_fusion_matches_a_transcription_of_the_paper(shape, levels):
    frames = torch.rand(shape, generator=torch.Generator().manual_seed(sum(shape)), dtype=torch.float64)
    frames = (frames * torch.linspace(0.3, 1.6, shape[0], dtype=torch.float64).view(-1, 1, 1, 1)).clamp(0, 1)
    expected = _mertens_numpy(frames.numpy(), levels)
    np.testing.assert_allclose(exposure_fusion(frames, levels=levels).numpy(), expected, atol=1e-10, rtol=0)


def test_pyramid_blend_with_equal_weights_is_the_mean_of_the_frames():
    stack = torch.rand(3, 3, 20, 20, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    torch.testing.assert_close(pyramid_blend(stack, torch.full((3, 1, 20, 20), 7.0, dtype=torch.float64), 3),
                               stack.mean(0))


@pytest.mark.parametrize("weights, message", [(torch.rand(3, 1, 8, 8), "matching"),
                                              (-torch.ones(2, 1, 8, 8), ">= 0"),
                                              (torch.zeros(2, 1, 8, 8), "positive sum")])
def test_pyramid_blend_rejects_bad_weights(weights, message):
    with pytest.raises(ValueError, match=message):
        pyramid_blend(torch.rand(2, 3, 8, 8), weights, 2)


# --- exercise G1.4: the check rejects the plausible wrong answers ---------------------------------------

def _learner_blend(laplacians=True, normalise=True, weight_pyramid="gaussian"):
    """A learner's pyramid blend, right by default; each argument is one way to get it wrong."""
    def pyramid_blend_(stack, weights, levels):
        if normalise:
            weights = weights / weights.sum(0, keepdim=True)
        g = gaussian_pyramid(stack, levels)
        up = lambda x, like: torch.nn.functional.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)
        bands = [fine - up(coarse, fine) for fine, coarse in zip(g, g[1:])] + [g[-1]] if laplacians else g
        if weight_pyramid == "gaussian":
            w = gaussian_pyramid(weights, levels)
        elif weight_pyramid == "resized":   # shrunk without the blur of the Gaussian pyramid
            w = [torch.nn.functional.interpolate(weights, size=b.shape[-2:], mode="area") for b in bands]
        else:                               # full-resolution weights, only at the finest level
            return (weights * stack).sum(0)
        return collapse([(wl * bl).sum(0, keepdim=True) for wl, bl in zip(w, bands)])[0]
    return pyramid_blend_


def test_blend_check_accepts_the_right_answer_in_float32_and_float64():
    from course_lib.checks import verify
    from course_lib.exercises import REGISTRY
    assert "matches" in verify(REGISTRY["G1.4"], _learner_blend(), torch.Generator().manual_seed(0))


@pytest.mark.parametrize("wrong", [dict(laplacians=False), dict(normalise=False), dict(weight_pyramid="resized"),
                                   dict(weight_pyramid="none")],
                         ids=["blends-images-not-laplacians", "unnormalised-weights", "weights-resized-not-blurred",
                              "weighted-sum-no-pyramid"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_blend_check_rejects_plausible_wrong_answers(wrong, seed):
    from course_lib.checks import CheckFailed, verify
    from course_lib.exercises import REGISTRY
    with pytest.raises(CheckFailed):
        verify(REGISTRY["G1.4"], _learner_blend(**wrong), torch.Generator().manual_seed(seed))


# --- the split ablation, its receptive field, the grey image --------------------------------------------

def test_no_split_ablation_differs_only_by_the_split():
    from course_lib.models.sice import NO_SPLIT_EPS, build_networks, receptive_fields
    torch.manual_seed(0)
    networks = build_networks(4)
    split, no_split = networks["SICE"], networks["SICE, no split"]
    assert [p.shape for p in split.parameters()] == [p.shape for p in no_split.parameters()]
    fields = receptive_fields(4, size=129)
    assert fields["SICE"] == fields["SICE, no split"] and fields["one-stage"][1] < fields["SICE"][1]
    assert abs(fields["one-stage"][0] / fields["SICE"][0] - 1) < 0.1
    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(9))
    base, detail = frequency_split(image, eps=NO_SPLIT_EPS)
    assert detail.abs().max() < 1 / 255                      # the base keeps everything: no split
    assert frequency_split(image)[1].abs().max() > 20 / 255  # the course's eps does split


def test_chroma_deviation_is_zero_on_grey_and_counts_in_grey_levels():
    from course_lib.recipes.enhancement import chroma_deviation
    grey = (0.2 + 0.6 * torch.rand(1, 8, 8)).expand(3, 8, 8)
    assert chroma_deviation(grey) == pytest.approx(0, abs=1e-4)
    shifted = rgb_to_ycbcr(grey).clone()
    shifted[1] += 3 / 255
    shifted[2] -= 4 / 255
    from course_lib.metrics import ycbcr_to_rgb
    assert chroma_deviation(ycbcr_to_rgb(shifted)) == pytest.approx(5, rel=1e-3)
