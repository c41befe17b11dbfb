"""course_lib.metrics against numpy formulas, hand-computed cases and scikit-image."""
import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.color import rgb2ycbcr, ycbcr2rgb
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from course_lib.data import sample_image
from course_lib.metrics import (boundary_f1, boundary_map, boundary_precision_recall, change_correlation,
                                confusion_matrix, high_frequency_power, high_frequency_ratio, iou_per_class, mean_iou,
                                paired_bootstrap, pixel_accuracy, psnr, psnr_y, rgb_to_y, rgb_to_ycbcr, ssim, ssim_y,
                                subpixel_pattern_share, ycbcr_to_rgb)


def _labels(seed, shape=(2, 9, 7), num_classes=4):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, num_classes, shape, generator=g)


# --- confusion matrix, accuracy, IoU -----------------------------------------------------------------

def test_confusion_matrix_matches_numpy_bincount_and_loop():
    pred, target = _labels(0), _labels(1)
    cm = confusion_matrix(pred, target, 4).numpy()
    p, t = pred.numpy().ravel(), target.numpy().ravel()
    assert (cm == np.bincount(4 * t + p, minlength=16).reshape(4, 4)).all()
    loop = np.zeros((4, 4), int)
    for ti, pi in zip(t, p):
        loop[ti, pi] += 1  # row = true class, column = predicted class
    assert (cm == loop).all() and cm.sum() == t.size


def test_logits_are_argmaxed_over_the_class_dimension():
    target = _labels(2)
    logits = torch.randn(2, 4, 9, 7, generator=torch.Generator().manual_seed(3))
    assert torch.equal(confusion_matrix(logits, target, 4), confusion_matrix(logits.argmax(1), target, 4))
    assert mean_iou(logits[0], target[0], 4) == mean_iou(logits[0].argmax(0), target[0], 4)


def test_hand_computed_iou_with_absent_class_and_ignore_index():
    target = torch.tensor([[0, 0, 1, 1],
                           [0, 0, 1, 255]])
    pred = torch.tensor([[0, 1, 1, 1],
                         [0, 0, 0, 3]])
    # ignoring 255: class 0: TP 3, FP 1 (pred 0 / true 1), FN 1 -> 3/5; class 1: TP 2, FP 1, FN 1 -> 2/4
    # class 2 is absent from both -> nan, excluded; the pred 3 sits on an ignored pixel.
    iou = iou_per_class(pred, target, num_classes=3, ignore_index=255)
    assert iou[0].item() == pytest.approx(3 / 5) and iou[1].item() == pytest.approx(2 / 4)
    assert math.isnan(iou[2].item())
    assert mean_iou(pred, target, 3, ignore_index=255) == pytest.approx((3 / 5 + 2 / 4) / 2)
    assert pixel_accuracy(pred, target, ignore_index=255) == pytest.approx(5 / 7)


def test_class_only_in_prediction_counts_as_zero():
    target = torch.zeros(4, 4, dtype=torch.long)
    pred = target.clone()
    pred[0, 0] = 2
    iou = iou_per_class(pred, target, 3)
    assert iou[0].item() == pytest.approx(15 / 16) and iou[2].item() == 0 and math.isnan(iou[1].item())


def test_perfect_prediction_scores_one():
    target = _labels(4)
    assert mean_iou(target, target, 4) == 1.0 and pixel_accuracy(target, target) == 1.0


@pytest.mark.parametrize("call, error, match", [
    (lambda: confusion_matrix(_labels(0), _labels(1, (2, 9, 6)), 4), ValueError, "shape"),
    (lambda: confusion_matrix(_labels(0, num_classes=6), _labels(1), 4), ValueError, "pred has labels"),
    (lambda: confusion_matrix(_labels(0), _labels(1, num_classes=6), 4), ValueError, "ignore_index"),
    (lambda: confusion_matrix(_labels(0), _labels(1), 0), ValueError, "num_classes"),
    (lambda: confusion_matrix(torch.randn(2, 5, 9, 7), _labels(1), 4), ValueError, "5 class channels"),
    (lambda: mean_iou(torch.rand(2, 9, 7), _labels(1), 4), TypeError, "floating point"),
    (lambda: mean_iou(_labels(0), _labels(1).float(), 4), TypeError, "integer label map"),
    (lambda: pixel_accuracy(_labels(0, (9,)), _labels(1, (9,))), ValueError, r"\(H, W\)"),
    (lambda: mean_iou([[0]], "x", 4), TypeError, "tensor"),
])
def test_segmentation_metrics_reject_bad_inputs(call, error, match):
    with pytest.raises(error, match=match):
        call()


# --- boundaries --------------------------------------------------------------------------------------

def _square(shift=0, size=20):
    labels = torch.zeros(size, size, dtype=torch.long)
    labels[5 + shift:15 + shift, 5:15] = 1
    return labels


def test_boundary_map_of_a_square_is_a_two_pixel_ring():
    edge = boundary_map(_square())
    expected = torch.zeros(20, 20, dtype=torch.bool)
    expected[4:16, 4:16] = True
    expected[6:14, 6:14] = False  # one pixel outside and one inside the square's outline
    assert torch.equal(edge, expected)


def test_boundary_f1_hand_made_shift():
    target = _square()
    assert boundary_f1(target, target) == 1.0
    shifted = _square(shift=3)  # the square moves 3 px down
    # Target ring: rows 4..15 x cols 4..15 (80 px). Grown by 2 px it covers rows 2..17 except the hole
    # rows 8..11 x cols 8..11. The shifted ring (rows 7..18) misses it at row 18 (12 px) and at
    # row 8, cols 8..11 (4 px): precision = 64/80. By symmetry recall = 64/80 too.
    assert boundary_precision_recall(shifted, target, tolerance=2) == (pytest.approx(0.8), pytest.approx(0.8))
    assert boundary_f1(shifted, target, tolerance=2) == pytest.approx(0.8)
    assert boundary_f1(shifted, target, tolerance=3) == 1.0  # every edge within 3 px
    assert boundary_f1(shifted, target, tolerance=0) == pytest.approx(36 / 80)  # side columns, rows 7..15


def test_boundary_f1_empty_cases_and_errors():
    uniform = torch.zeros(20, 20, dtype=torch.long)
    assert boundary_f1(uniform, uniform + 2) == 1.0  # no boundary in either: nothing to disagree on
    assert boundary_f1(_square(), uniform) == 0.0
    assert boundary_f1(torch.stack([_square(), uniform]), torch.stack([_square(), uniform])) == 1.0
    with pytest.raises(ValueError, match="tolerance"):
        boundary_f1(_square(), _square(), tolerance=-1)


# --- PSNR and SSIM -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pair():
    clean = sample_image("astronaut", size=48)
    noisy = (clean + 0.1 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    return clean, noisy


def test_psnr_matches_formula_and_skimage(pair):
    clean, noisy = pair
    mse = ((clean.double() - noisy.double()) ** 2).mean().item()
    assert psnr(noisy, clean).item() == pytest.approx(10 * math.log10(1 / mse), rel=1e-5)
    assert psnr(noisy, clean).item() == pytest.approx(
        peak_signal_noise_ratio(clean.numpy(), noisy.numpy(), data_range=1.0), rel=1e-5)
    assert psnr(noisy * 255, clean * 255, data_range=255).item() == pytest.approx(psnr(noisy, clean).item(), rel=1e-5)
    assert math.isinf(psnr(clean, clean).item())


def test_psnr_of_a_batch_is_the_mean_of_per_image_values(pair):
    clean, noisy = pair
    x, y = torch.stack([noisy, clean * 0.9]), torch.stack([clean, clean])
    per_image = psnr(x, y, reduction="none")
    assert per_image.shape == (2,)
    assert per_image[1].item() == pytest.approx(peak_signal_noise_ratio(
        y[1].numpy(), x[1].numpy(), data_range=1.0), rel=1e-5)
    assert psnr(x, y).item() == pytest.approx(per_image.mean().item())


@pytest.mark.parametrize("data_range", [1.0, 255.0])
def test_ssim_matches_skimage_on_colour_and_grey(pair, data_range):
    clean, noisy = pair[0] * data_range, pair[1] * data_range
    reference = structural_similarity(clean.numpy(), noisy.numpy(), gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False, data_range=data_range, channel_axis=0)
    assert ssim(noisy, clean, data_range).item() == pytest.approx(reference, abs=1e-4)
    grey_ref = structural_similarity(clean[0].numpy(), noisy[0].numpy(), gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False, data_range=data_range)
    assert ssim(noisy[0], clean[0], data_range).item() == pytest.approx(grey_ref, abs=1e-4)
    assert ssim(noisy[:1], clean[:1], data_range).item() == pytest.approx(grey_ref, abs=1e-4)


def test_ssim_batch_identity_and_gradient(pair):
    clean, noisy = pair
    batch = torch.stack([noisy, clean])
    per_image = ssim(batch, torch.stack([clean, clean]), reduction="none")
    assert per_image[1].item() == pytest.approx(1.0, abs=1e-6) and per_image[0] < 0.9
    x = noisy.clone().requires_grad_()
    (1 - ssim(x, clean)).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("call, match", [
    (lambda x: psnr(x, x[:, :-1]), "shape"),
    (lambda x: ssim(x * 255, x), "data_range=255"),
    (lambda x: psnr(x, x, data_range=0), "data_range"),
    (lambda x: ssim(x[:, :8, :8], x[:, :8, :8]), "11x11"),
    (lambda x: psnr(x[0, 0], x[0, 0]), r"\(H, W\)"),
    (lambda x: psnr(x, x, reduction="sum"), "reduction"),
])
def test_image_metrics_reject_bad_inputs(pair, call, match):
    with pytest.raises(ValueError, match=match):
        call(pair[0])


# --- super resolution's convention: Y of BT.601, border cropped --------------------------------------

def test_ycbcr_matches_skimage_both_ways():
    x = torch.rand(3, 9, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ycbcr = rgb_to_ycbcr(x)
    np.testing.assert_allclose(ycbcr.permute(1, 2, 0).numpy() * 255, rgb2ycbcr(x.permute(1, 2, 0).numpy()), atol=1e-9)
    np.testing.assert_allclose(ycbcr_to_rgb(ycbcr).numpy(), x.numpy(), atol=1e-12)
    np.testing.assert_allclose(ycbcr_to_rgb(ycbcr[None])[0].permute(1, 2, 0).numpy(),
                               ycbcr2rgb(ycbcr.permute(1, 2, 0).numpy() * 255), atol=1e-9)
    assert rgb_to_y(x[None]).shape == (1, 1, 9, 7)
    # white and black are the ends of the studio range
    torch.testing.assert_close(rgb_to_y(torch.ones(3, 1, 1)).flatten(), torch.tensor([235 / 255]))
    torch.testing.assert_close(rgb_to_y(torch.zeros(3, 1, 1)).flatten(), torch.tensor([16 / 255]))


def test_psnr_y_and_ssim_y_match_skimage_on_the_cropped_luminance():
    clean = sample_image("astronaut", size=48).double()
    noisy = (clean + 0.05 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0),
                                        dtype=torch.float64)).clamp(0, 1)
    y_clean, y_noisy = (rgb2ycbcr(im.permute(1, 2, 0).numpy())[3:-3, 3:-3, 0] for im in (clean, noisy))
    assert psnr_y(noisy, clean, border=3).item() == pytest.approx(
        peak_signal_noise_ratio(y_clean, y_noisy, data_range=255), abs=1e-9)
    assert ssim_y(noisy, clean, border=3).item() == pytest.approx(structural_similarity(
        y_noisy, y_clean, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False), abs=1e-6)
    assert psnr_y(noisy[None], clean[None], 3, reduction="none").shape == (1,)
    assert psnr_y(noisy, clean).item() > psnr(noisy, clean).item()  # Y averages the colour errors


@pytest.mark.parametrize("x, error, words", [
    (torch.rand(1, 8, 8), ValueError, "grey"),
    (torch.rand(3, 8, 8) * 2, ValueError, "[0, 1]"),
    (torch.randint(0, 255, (3, 8, 8)), TypeError, "float"),
])
def test_rgb_to_y_explains_bad_input(x, error, words):
    with pytest.raises(error, match=re.escape(words)):
        rgb_to_y(x)


def test_psnr_y_explains_a_border_too_wide_and_mismatched_shapes():
    x = torch.rand(3, 8, 8)
    with pytest.raises(ValueError, match="leaves nothing"):
        psnr_y(x, x, border=4)
    with pytest.raises(ValueError, match="shape"):
        psnr_y(x, x[:, :6], border=1)


def test_matched_mean_iou_is_the_best_mean_iou_over_renamings_of_the_clusters():
    import itertools

    from course_lib.metrics import matched_mean_iou

    generator = torch.Generator().manual_seed(0)
    for _ in range(5):
        target = torch.randint(0, 4, (2, 9, 9), generator=generator)
        clusters = torch.where(torch.rand(target.shape, generator=generator) < 0.7, (target + 2) % 4,
                               torch.randint(0, 4, target.shape, generator=generator))
        best = max(mean_iou(torch.tensor(order)[clusters], target, 4) for order in itertools.permutations(range(4)))
        assert matched_mean_iou(clusters, target, 4) == pytest.approx(best)
    assert matched_mean_iou((target + 1) % 4, target, 4) == 1.0  # only the names differ


def high_frequency_power_by_the_dft_sum(image: np.ndarray, cutoff: float) -> float:
    """sum over |f| > cutoff of |sum_{m,n} (I - mean) e^{-2 pi i (u m / H + v n / W)}|^2 / (H W)."""
    h, w = image.shape
    centred = image - image.mean()
    m, n = np.arange(h)[:, None], np.arange(w)[None, :]
    total = 0.0
    for u in range(h):
        for v in range(w):
            fu, fv = (u if u < (h + 1) // 2 else u - h) / h, (v if v < (w + 1) // 2 else v - w) / w
            if np.hypot(fu, fv) > cutoff:
                total += abs((centred * np.exp(-2j * np.pi * (u * m / h + v * n / w))).sum()) ** 2 / (h * w)
    return total


@pytest.mark.parametrize("cutoff", [0.0, 0.15, 0.3])
def test_high_frequency_power_is_the_dft_sum_in_float64(cutoff):
    image = torch.rand(9, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    assert high_frequency_power(image, cutoff).item() == pytest.approx(
        high_frequency_power_by_the_dft_sum(image.numpy(), cutoff), rel=1e-10)
    # cutoff 0: all the variance (Parseval)
    if cutoff == 0.0:
        assert high_frequency_power(image, 0.0).item() == pytest.approx(image.var(unbiased=False).item() * 108)


def test_high_frequency_ratio_is_one_for_the_truth_and_below_for_a_blur():
    truth = torch.rand(2, 3, 40, 40, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    blurred = F.avg_pool2d(F.pad(truth, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    assert high_frequency_ratio(truth, truth, border=3).item() == pytest.approx(1.0)
    per_image = high_frequency_ratio(blurred, truth, border=3, reduction="none")
    assert per_image.shape == (2,) and (per_image < 0.3).all()
    expected = (high_frequency_power(rgb_to_y(blurred)[..., 3:-3, 3:-3])
                / high_frequency_power(rgb_to_y(truth)[..., 3:-3, 3:-3]))
    torch.testing.assert_close(per_image, expected)
    with pytest.raises(ValueError, match="cutoff"):
        high_frequency_ratio(truth, truth, cutoff=0.9)


def test_subpixel_pattern_share_is_the_power_at_multiples_of_one_over_the_period():
    g = torch.Generator().manual_seed(8)
    image = torch.rand(2, 1, 12, 15, dtype=torch.float64, generator=g)
    power = torch.fft.fft2(image - image.mean((-2, -1), keepdim=True)).abs().pow(2)
    at_multiples = power[..., ::4, ::5].sum((-3, -2, -1))  # u = k H / 3, v = l W / 3
    torch.testing.assert_close(subpixel_pattern_share(image, 3), at_multiples / power.sum((-3, -2, -1)))
    tile = torch.rand(3, 3, dtype=torch.float64, generator=g)
    assert subpixel_pattern_share(tile.repeat(10, 10), 3).item() == pytest.approx(1.0)
    assert subpixel_pattern_share(torch.rand(300, 300, generator=g), 3).item() < 1e-3
    with pytest.raises(ValueError, match="divide"):
        subpixel_pattern_share(torch.rand(10, 9), 3)


def test_change_correlation_is_the_cosine_of_change_and_missing_detail_on_y():
    g = torch.Generator().manual_seed(9)
    truth, old = (torch.rand(2, 3, 16, 16, dtype=torch.float64, generator=g) for _ in range(2))
    new = (old + 0.3 * (truth - old)).clamp(0, 1)
    assert change_correlation(new, old, truth, border=2).item() == pytest.approx(1.0)
    other = torch.rand(2, 3, 16, 16, dtype=torch.float64, generator=g)
    y = lambda image: rgb2ycbcr(image[0].permute(1, 2, 0).numpy())[2:-2, 2:-2, 0]  # skimage's Y, 0-255
    a, b = (y(other) - y(old)).ravel(), (y(truth) - y(old)).ravel()
    per_image = change_correlation(other, old, truth, border=2, reduction="none")
    assert per_image.shape == (2,)
    assert per_image[0].item() == pytest.approx(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_paired_bootstrap_matches_a_numpy_transcription():
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 1.0, 50), rng.normal(0.0, 1.0, 50)
    mean, low, high = paired_bootstrap(torch.tensor(a), torch.tensor(b), resamples=4000, seed=1)
    assert mean == pytest.approx(np.mean(a - b), abs=1e-12)
    # the percentile interval of resampled means (numpy's own resampling: the same law, other draws)
    means = [(a - b)[rng.integers(0, 50, 50)].mean() for _ in range(4000)]
    np_low, np_high = np.percentile(means, [2.5, 97.5])
    se = np.std(a - b, ddof=1) / np.sqrt(50)
    assert low == pytest.approx(np_low, abs=0.25 * se) and high == pytest.approx(np_high, abs=0.25 * se)
    assert high - low == pytest.approx(2 * 1.96 * se, rel=0.15)   # the normal approximation's width
    # a constant difference has a zero-width interval; mismatched or infinite scores are refused
    assert paired_bootstrap([3.0, 4.0], [2.0, 3.0]) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="same >= 2 items"):
        paired_bootstrap([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="finite"):
        paired_bootstrap([float("inf"), 2.0], [1.0, 1.0])
