"""course_lib.ops.crf and course_lib.ops.superpixels: mean-field inference against a brute-force
O(N²) loop over pixel pairs written from Krähenbühl & Koltun's equations, the window's exactness,
the effect on a blurry segmentation, and bad input."""
import math

import pytest
import torch

from course_lib.ops.crf import (CRFParams, check_probabilities, dense_crf, mean_field_update, message_weight,
                                 pairwise_kernel)
from course_lib.ops.superpixels import superpixel_vote

PARAMS = CRFParams(w_appearance=4.0, theta_alpha=2.0, theta_beta=0.3, w_smoothness=2.0, theta_gamma=1.0)


def brute_force_crf(image, probabilities, iterations, params, radius=None):
    """K&K eq. 1-3 and Algorithm 1 with Potts, pixel pair by pixel pair, in float64 (one image).
    ``radius``: keep only the pairs with |dy|, |dx| <= radius (None: all pairs)."""
    _, h, w = image.shape
    pixels = [(r, c) for r in range(h) for c in range(w)]
    labels = probabilities.shape[0]
    unary = [[-math.log(float(probabilities[l, r, c])) for l in range(labels)] for r, c in pixels]
    q = [[float(probabilities[l, r, c]) for l in range(labels)] for r, c in pixels]
    k = [[0.0] * len(pixels) for _ in pixels]
    for i, (ri, ci) in enumerate(pixels):
        for j, (rj, cj) in enumerate(pixels):
            if i == j or (radius is not None and max(abs(ri - rj), abs(ci - cj)) > radius):
                continue
            d2 = (ri - rj) ** 2 + (ci - cj) ** 2
            c2 = sum((float(image[ch, ri, ci]) - float(image[ch, rj, cj])) ** 2 for ch in range(3))
            k[i][j] = (params.w_appearance * math.exp(-d2 / (2 * params.theta_alpha**2) - c2 / (2 * params.theta_beta**2))
                       + params.w_smoothness * math.exp(-d2 / (2 * params.theta_gamma**2)))
    for _ in range(iterations):
        new = []
        for i in range(len(pixels)):
            energy = [unary[i][l] + sum(k[i][j] * sum(q[j][m] for m in range(labels) if m != l)
                                        for j in range(len(pixels))) for l in range(labels)]
            z = sum(math.exp(-e) for e in energy)
            new.append([math.exp(-e) / z for e in energy])
        q = new
    return torch.tensor(q, dtype=torch.float64).T.reshape(labels, h, w)


def _inputs(seed, b=2, labels=3, h=5, w=4):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, h, w, generator=g), torch.randn(b, labels, h, w, generator=g).mul(2).softmax(1)


def test_window_covering_the_image_equals_the_brute_force_crf():
    image, p = _inputs(0)
    q = dense_crf(image, p, iterations=3, params=PARAMS, radius=10)       # clipped to max(H, W) - 1
    for b in range(2):
        torch.testing.assert_close(q[b].double(), brute_force_crf(image[b], p[b], 3, PARAMS), atol=1e-5, rtol=0)


def test_small_window_equals_the_brute_force_crf_cut_to_that_window():
    image, p = _inputs(1, b=1, h=6, w=5)
    q = dense_crf(image, p, iterations=2, params=PARAMS, radius=1)[0].double()
    torch.testing.assert_close(q, brute_force_crf(image[0], p[0], 2, PARAMS, radius=1), atol=1e-5, rtol=0)


def test_window_of_three_theta_alpha_approximates_the_full_crf():
    """The stated tolerance: with radius = 3·θ_α the dropped pairs weigh below w·e^-4.5 each, and on
    14 x 14 images Q moves by less than 0.03 and no label changes."""
    for seed in range(2):
        image, p = _inputs(seed, b=1, h=14, w=14)
        q = dense_crf(image, p, iterations=3, params=PARAMS, radius=6)[0].double()
        full = brute_force_crf(image[0], p[0], 3, PARAMS)
        assert (q - full).abs().max() < 0.03
        assert (q.argmax(0) == full.argmax(0)).all()


def test_mean_field_update_with_potts_is_the_brute_force_step():
    image, p = _inputs(2, b=1)
    kernel = pairwise_kernel(image.double(), PARAMS)[0]
    labels = p.shape[1]
    unary = -p[0].double().flatten(1).T.log()
    q = mean_field_update(unary, p[0].double().flatten(1).T, kernel, 1 - torch.eye(labels, dtype=torch.float64))
    torch.testing.assert_close(q.T.reshape(p[0].shape), brute_force_crf(image[0], p[0], 1, PARAMS))


def test_zero_iterations_and_zero_weights_keep_the_probabilities():
    image, p = _inputs(3)
    torch.testing.assert_close(dense_crf(image, p, iterations=0), p)
    torch.testing.assert_close(dense_crf(image, p, 3, CRFParams(w_appearance=0, w_smoothness=0)), p)


def test_crf_snaps_a_blurred_square_to_its_colour_edge():
    """A bright square on a dark image; the network's probabilities are the square blurred and
    shifted by 2 pixels. The bilateral kernel pulls the labels back onto the square."""
    truth = torch.zeros(24, 24, dtype=torch.long)
    truth[6:18, 6:18] = 1
    image = (0.1 + 0.8 * truth.float()).expand(3, -1, -1)[None]
    blurred = torch.nn.functional.avg_pool2d(truth.roll(2, 1).float()[None, None], 7, 1, 3, count_include_pad=False)
    p = torch.cat([1 - blurred, blurred], 1).clamp(0.05, 0.95)
    before = (p.argmax(1)[0] != truth).sum()
    after = (dense_crf(image, p, 5, CRFParams(theta_alpha=4.0, theta_beta=0.1)).argmax(1)[0] != truth).sum()
    assert before >= 24 and after <= before // 4


def test_crf_rejects_bad_input():
    image, p = _inputs(4)
    with pytest.raises(ValueError, match="same batch size and H x W"):
        dense_crf(image, p[..., :3])
    with pytest.raises(ValueError, match="not the logits"):
        dense_crf(image, p.log())
    with pytest.raises(ValueError, match="sum to 1"):
        dense_crf(image, p * 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        dense_crf(image * 255, p)
    with pytest.raises(ValueError, match="positive width"):
        CRFParams(theta_beta=0)
    with pytest.raises(TypeError, match="float"):
        check_probabilities(p.argmax(1, keepdim=True))


def test_superpixel_vote_gives_each_superpixel_its_majority_label():
    """Two flat halves make SLIC's superpixels follow the edge; labels shifted off the edge
    by one column are voted back onto it."""
    image = torch.zeros(1, 3, 16, 16)
    image[..., 8:] = 1
    truth = (torch.arange(16) >= 8).long().expand(16, -1)[None]
    noisy = (torch.arange(16) >= 7).long().expand(16, -1)[None].clone()
    assert (superpixel_vote(image, noisy, n_segments=8, compactness=1.0) == truth).all()
    with pytest.raises(ValueError, match="same batch size"):
        superpixel_vote(image, noisy[:, :8])
    with pytest.raises(ValueError, match="integer"):
        superpixel_vote(image, noisy.float())


def test_window_of_the_notebooks_run_equals_the_brute_force_crf_cut_to_that_window():
    """Notebook 05a's CRF: the recipe's widths and the default window, radius ⌈2·θ_α⌉ = 12, on an image
    taller than the window (27 rows), so pairs 13 or more rows apart are dropped, as in the run."""
    params = CRFParams()
    assert math.ceil(2 * params.theta_alpha) == 12
    image, p = _inputs(2, b=1, h=27, w=3)
    image = (image > 0.5).double() * 0.4                     # a few flat colours: the appearance kernel matters
    q = dense_crf(image, p.double(), iterations=2, params=params)[0]
    torch.testing.assert_close(q, brute_force_crf(image[0], p[0], 2, params, radius=12), atol=1e-9, rtol=0)
    assert not torch.allclose(q, brute_force_crf(image[0], p[0], 2, params), atol=1e-6, rtol=0)


def test_message_weight_is_the_row_sum_of_the_dense_kernel():
    image, _ = _inputs(3, b=2, h=6, w=5)
    dense = pairwise_kernel(image, PARAMS).sum(-1).reshape(2, 6, 5)
    torch.testing.assert_close(message_weight(image, PARAMS, radius=10), dense, atol=1e-5, rtol=1e-5)


def test_message_weight_in_a_flat_region_is_the_sum_of_both_gaussians_over_the_window():
    """K&K eq. 3 in one colour: every neighbour gets w1·exp(-d²/2θα²) + w2·exp(-d²/2θγ²)."""
    params, radius = CRFParams(), 12
    expected = sum(params.w_appearance * math.exp(-(dy * dy + dx * dx) / (2 * params.theta_alpha**2))
                   + params.w_smoothness * math.exp(-(dy * dy + dx * dx) / (2 * params.theta_gamma**2))
                   for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1) if dy or dx)
    flat = torch.full((1, 3, 40, 40), 0.3, dtype=torch.float64)
    assert message_weight(flat, params)[0, 20, 20].item() == pytest.approx(expected, rel=1e-12)
    assert 1000 < expected < 1100                   # far above any unary gap, log(1e8) = 18.4
