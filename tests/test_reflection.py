"""Reflection separation (course_lib.data.reflection, course_lib.models.reflection, course_lib.recipes.reflection): the blend recipe
against a hand computation, the exclusion loss against Eq. 4-5 worked by hand, the gradient
correlation against numpy, the baseline and the network's shapes, bad input."""
import math
import re
from dataclasses import replace
from importlib import resources

import numpy as np
import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from course_lib.data import HELD_OUT_IMAGES, TRAIN_IMAGES, sample_image
from course_lib.data.reflection import (AUGMENT_GAIN, GAMMA, evaluation_blends, random_blends,
                                        reflection_training_pairs, synthesize_blend)
from course_lib.losses.reflection import exclusion_loss, separation_loss
from course_lib.metrics import psnr, ssim
from course_lib.models.reflection import (DoNothing, LinearLightSeparationNet, RelativeSmoothness, SeparationNet,
                                          gradient_correlation)
from course_lib.recipes.reflection import (LINEAR_LIGHT_CHECKPOINT, ReflectionRecipe, comparison_table,
                                           linear_light_recipe, load_linear_light_checkpoint, paired_comparison,
                                           separate, train_separation)
from tests.bad_images import BAD_IMAGE_BATCHES


def test_blend_of_constant_images_matches_the_overflow_correction_by_hand():
    background, reflection = torch.full((3, 8, 8), 0.9), torch.full((3, 8, 8), 0.8)
    blend, b, r = synthesize_blend(background, reflection, sigma=2.0, transmission=0.9, attenuation=1.08, mixing=0.5)
    b_lin, r_lin = 0.9**2.2, 0.8**2.2              # the blur leaves a constant image alone
    r_lin = r_lin - 1.08 * (b_lin + r_lin - 1)      # every pixel overflows, so the mean is b_lin + r_lin
    r_lin = 0.5 * r_lin                             # the mixing comes after the correction, as in the paper's code
    torch.testing.assert_close(blend, torch.full_like(blend, (0.9 * b_lin + r_lin) ** (1 / 2.2)))
    torch.testing.assert_close(r, torch.full_like(r, r_lin ** (1 / 2.2)))
    assert torch.equal(b, background)


def test_blend_without_overflow_is_the_sum_in_linear_light_with_a_blurred_reflection():
    g = torch.Generator().manual_seed(0)
    background, reflection = 0.6 * torch.rand(3, 20, 20, generator=g), 0.5 * torch.rand(3, 20, 20, generator=g)
    blend, _, r = synthesize_blend(background, reflection, sigma=3.0)
    expected_r = TF.gaussian_blur(reflection[None] ** 2.2, [13, 13], [3.0, 3.0])[0]
    torch.testing.assert_close(r ** 2.2, expected_r)
    torch.testing.assert_close(blend ** 2.2, background ** 2.2 + expected_r)
    assert np.diff(r.numpy(), axis=-1).std() < 0.2 * np.diff(reflection.numpy(), axis=-1).std()  # blurred


def test_random_blends_follow_the_seed():
    x = torch.rand(2, 3, 16, 16)
    first, again = random_blends(x, x.flip(0), seed=3), random_blends(x, x.flip(0), seed=3)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], random_blends(x, x.flip(0), seed=4)[0])


@pytest.mark.parametrize("change, match", [
    (dict(background=torch.rand(1, 8, 8)), "grey image"),
    (dict(reflection=torch.rand(3, 8, 8) * 255), r"\[0, 1\]"),
    (dict(reflection=torch.rand(3, 8, 9)), "same shape"),
    (dict(background=torch.zeros(3, 8, 8, dtype=torch.uint8)), "float"),
    (dict(sigma=-1.0), "sigma"),
    (dict(transmission=1.5), "transmission"),
    (dict(mixing=-0.1), "mixing"),
])
def test_blend_explains_bad_input(change, match):
    args = dict(background=torch.rand(3, 8, 8), reflection=torch.rand(3, 8, 8), sigma=2.0) | change
    with pytest.raises((TypeError, ValueError), match=match):
        synthesize_blend(**args)


def test_exclusion_loss_matches_eq_4_worked_by_hand():
    b = torch.tensor([[0.0, 1, 1], [0, 1, 1]])[None, None]
    disjoint = torch.tensor([[0.0, 0, 2], [0, 0, 2]])[None, None]   # its edge is where b has none
    overlapping = torch.tensor([[0.0, 3, 3], [0, 3, 3]])[None, None]
    assert exclusion_loss(b, disjoint, levels=1).item() == 0
    # x: |grad b| = (1, 0; 1, 0), |grad r| = (3, 0; 3, 0); lambda_B = sqrt(3 sqrt2 / sqrt2) = sqrt3 = 1/lambda_R
    # Psi = tanh(sqrt3)^2 on 2 of 4 entries -> RMS tanh(sqrt3)^2 / sqrt2; y: no gradients, Psi = 0
    expected = math.tanh(math.sqrt(3)) ** 2 / math.sqrt(2)
    assert exclusion_loss(b, overlapping, levels=1).item() == pytest.approx(expected, rel=1e-6)


def test_exclusion_loss_is_symmetric_multiscale_and_differentiable():
    g = torch.Generator().manual_seed(0)
    b, r = torch.rand(2, 3, 16, 16, generator=g, requires_grad=True), torch.rand(2, 3, 16, 16, generator=g)
    pooled = torch.nn.functional.avg_pool2d
    two = exclusion_loss(b, r, levels=2)
    torch.testing.assert_close(two, exclusion_loss(b, r, 1) + exclusion_loss(pooled(b, 2), pooled(r, 2), 1))
    torch.testing.assert_close(exclusion_loss(b, r), exclusion_loss(r, b))
    two.backward()
    assert b.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="levels need images"):
        exclusion_loss(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4), levels=3)
    with pytest.raises(ValueError, match="same shape"):
        exclusion_loss(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))


def test_gradient_correlation_is_pearson_of_gradient_magnitudes():
    g = torch.Generator().manual_seed(1)
    b, r = torch.rand(1, 3, 10, 12, generator=g), torch.rand(1, 3, 10, 12, generator=g)
    expected = np.mean([np.corrcoef(np.abs(np.diff(b.numpy(), axis=a)).ravel(),
                                    np.abs(np.diff(r.numpy(), axis=a)).ravel())[0, 1] for a in (-1, -2)])
    assert gradient_correlation(b, r).item() == pytest.approx(expected, abs=1e-5)
    assert gradient_correlation(b, 2 * b).item() == pytest.approx(1.0, abs=1e-5)
    assert gradient_correlation(b, r, reduction="none").shape == (1,)
    with pytest.raises(ValueError, match="reduction"):
        gradient_correlation(b, r, reduction="sum")


def _layers_where_relative_smoothness_holds():
    """A piecewise-constant background (sparse, strong edges) plus a smooth reflection (Li & Brown's assumption)."""
    background = torch.full((1, 3, 64, 64), 0.1)
    background[..., 10:40, 10:30] += 0.5
    background[..., 30:60, 35:55] += 0.25
    coarse = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    reflection = TF.gaussian_blur(0.3 * coarse.repeat_interleave(8, -1).repeat_interleave(8, -2), [21, 21], [4.0, 4.0])
    return background, reflection


def test_relative_smoothness_separates_a_sharp_background_from_a_smooth_reflection():
    background, reflection = _layers_where_relative_smoothness_holds()
    blend = background + reflection
    out = RelativeSmoothness()(blend)
    b, r = out[:, :3], out[:, 3:]
    torch.testing.assert_close(b + r, blend)
    assert (b >= 0).all() and (b <= blend).all()

    def gradients(x):
        return torch.cat([torch.diff(x, dim=-1).flatten(), torch.diff(x, dim=-2).flatten()])
    # the blend's gradients are off by the reflection's; B's keep a third of that error at most
    assert (gradients(b) - gradients(background)).norm() < 0.4 * (gradients(blend) - gradients(background)).norm()
    assert psnr(b, background) > psnr(blend, background) + 6
    # without a reflection, a piecewise-constant image is left (nearly) alone
    assert psnr(RelativeSmoothness()(background)[:, :3], background) > 35


def test_relative_smoothness_fourier_step_solves_the_quadratic_problem():
    # with every gradient kept (threshold tiny), one step minimises lam ||lap (I - B)||^2 + beta ||grad B - grad I||^2,
    # whose minimiser is B = I up to the constant; check the linear algebra on a random image, in float64
    blend = torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    out = RelativeSmoothness(lam=5.0, threshold=1e-9, iterations=1)(blend)
    b = out[:, :3]
    mean = lambda x: x.mean((-2, -1), keepdim=True)
    torch.testing.assert_close(b - mean(b), blend - mean(blend), atol=0.02, rtol=0)
    for bad in (0, -1.0, True, "1"):
        with pytest.raises(ValueError, match="lam must be a positive number"):
            RelativeSmoothness(lam=bad)


def test_evaluation_blends_are_102_crops_of_held_out_pairs_with_their_own_draws():
    blends, backgrounds, reflections, names = evaluation_blends(crops_per_pair=3, size=32)
    assert blends.shape == backgrounds.shape == reflections.shape == (18, 3, 32, 32)
    assert len(names) == 18 and len(set(names)) == 6
    assert all(b != r and {b, r} <= set(HELD_OUT_IMAGES) for b, r in (n.split(" + ") for n in names))
    # each background is a crop of its image
    b_name = names[0].split(" + ")[0]
    image = sample_image(b_name).unfold(1, 32, 1).unfold(2, 32, 1)      # every 32x32 crop
    assert (image - backgrounds[0][:, None, None]).abs().amax((0, 3, 4)).min() == 0
    # crops and draws differ within a pair, and the set follows its seed
    assert not torch.equal(backgrounds[0], backgrounds[1])
    again = evaluation_blends(crops_per_pair=3, size=32)
    assert torch.equal(again[0], blends)
    assert not torch.equal(evaluation_blends(crops_per_pair=3, size=32, seed=5)[0], blends)


def test_paired_comparison_of_a_method_with_itself_is_zero_and_do_nothing_is_the_blend():
    blend = torch.rand(2, 3, 16, 16)
    torch.testing.assert_close(DoNothing()(blend), torch.cat([blend, torch.zeros_like(blend)], 1))
    scores = dict(psnr=torch.tensor([20.0, 21.0, 22.5]), ssim=torch.tensor([0.8, 0.82, 0.9]))
    same = paired_comparison(scores, scores)
    assert same == {"psnr": (0.0, 0.0, 0.0), "ssim": (0.0, 0.0, 0.0)}
    better = paired_comparison({k: v + 1 for k, v in scores.items()}, scores)
    assert better["psnr"] == pytest.approx((1.0, 1.0, 1.0))


def test_separation_net_shapes_receptive_field_and_bad_input():
    net = SeparationNet(width=8, depth=4)
    x = torch.rand(2, 3, 40, 36)
    assert net(x).shape == (2, 6, 40, 36)
    dilations = [m.dilation[0] for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert dilations == [1, 2, 4, 8, 1, 1]
    for bad, error, words in BAD_IMAGE_BATCHES:
        with pytest.raises(error, match=re.escape(words)):
            net(bad)


def test_separation_net_started_at_the_blend_returns_the_blend_and_no_reflection():
    x = torch.rand(2, 3, 20, 24)
    torch.testing.assert_close(SeparationNet(width=8, depth=2, start_at_blend=True)(x),
                               torch.cat([x, torch.zeros_like(x)], 1))
    assert not torch.equal(SeparationNet(width=8, depth=2)(x)[:, :3], x)


def test_linear_light_net_starts_as_the_blend_split_in_linear_light_and_rejects_bad_sigma():
    x = 0.3 + 0.7 * torch.rand(2, 3, 24, 20, generator=torch.Generator().manual_seed(1))
    net = LinearLightSeparationNet(width=8, depth=2, reflection_sigma=2.0)
    out = net(x)
    assert out.shape == (2, 6, 24, 20)
    # untrained: R = blur(sigmoid(-3) I) in linear light, B = I - R (t = 1), worked out here with skimage's Gaussian
    from skimage.filters import gaussian
    share = 1 / (1 + math.exp(3.0))
    r_lin = np.stack([gaussian(share * x[i].numpy() ** 2.2, sigma=2.0, channel_axis=0, mode="mirror", truncate=3.0)
                      for i in range(2)])
    torch.testing.assert_close(out[:, 3:] ** 2.2, torch.from_numpy(r_lin).float(), atol=1e-4, rtol=1e-3)
    inside = x ** 2.2 > torch.from_numpy(r_lin).float() + 1e-3     # elsewhere the blurred R exceeds I and B is 0
    assert inside.float().mean() > 0.9
    torch.testing.assert_close((out[:, :3] ** 2.2 + out[:, 3:] ** 2.2)[inside], (x ** 2.2)[inside], atol=1e-4, rtol=1e-3)
    for bad in (0, -1.0, 11, True, "2"):
        with pytest.raises(ValueError, match="reflection_sigma"):
            LinearLightSeparationNet(width=8, depth=2, reflection_sigma=bad)
    for bad, error, words in BAD_IMAGE_BATCHES:
        with pytest.raises(error, match=re.escape(words)):
            net(bad)


def test_linear_light_net_keeps_fine_detail_out_of_the_reflection_and_learns():
    torch.manual_seed(0)
    net = LinearLightSeparationNet(width=8, depth=2, reflection_sigma=2.0)
    for p in net.parameters():     # random weights everywhere: R may be anything, but only a smooth anything
        torch.nn.init.normal_(p, std=0.5)
    sign = (torch.arange(32)[:, None] + torch.arange(32)).remainder(2).float() * 2 - 1     # a pixel checkerboard
    checker = (0.5 + 0.3 * sign).expand(1, 3, 32, 32)
    b, r = net(checker)[:, :3] ** 2.2, net(checker)[:, 3:] ** 2.2
    second = lambda z: (z[..., 2:] - 2 * z[..., 1:-1] + z[..., :-2]).abs().mean()    # the finest detail along x
    assert second(r) < 0.01 * second(checker ** 2.2) < second(b)
    recipe = ReflectionRecipe(n_patches=8, epochs=1, patch=32, batch_size=4)
    history = train_separation(net, recipe, separation_loss(ssim_weight=1.0), plot=False)
    assert len(history["step_loss"]) == 2 and all(math.isfinite(v) for v in history["step_loss"])


def test_augmented_training_pairs_are_other_patches_relit_in_linear_light():
    first, plain = reflection_training_pairs(6, 32, seed=5, augment=True), reflection_training_pairs(6, 32, seed=5)
    assert not torch.equal(first[1], plain[1])
    assert all(0 <= x.min() and x.max() <= 1 and x.shape == (6, 3, 32, 32) for x in first)
    # the blend is still I = t B + R in linear light, with the relit B as the target (no overflow here: B + R < 1)
    blends, backgrounds, reflections = first
    ok = (backgrounds ** GAMMA + reflections ** GAMMA).amax((1, 2, 3)) < 0.95
    gap = backgrounds ** GAMMA + reflections ** GAMMA - blends ** GAMMA    # (1 - t) B, t in [0.8, 1]
    assert ok.any() and (gap[ok] >= -1e-5).all() and (gap[ok] <= 0.2 * backgrounds[ok] ** GAMMA + 1e-5).all()
    assert AUGMENT_GAIN[0] < 1 < AUGMENT_GAIN[1]


def test_training_pairs_come_from_the_photos_asked_for():
    # 'text' is a grey photo: every background and reflection patch of it has three equal channels; the default
    # training photos include colour ones, whose patches do not
    grey = reflection_training_pairs(4, 32, seed=0, photos=("text",))
    assert all(torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2]) for x in grey[1:])
    colour = reflection_training_pairs(4, 32, seed=0)
    assert not torch.equal(colour[1][:, 0], colour[1][:, 2])
    # the default is every training photo: the same draw as naming them all
    assert all(torch.equal(a, b) for a, b in zip(colour, reflection_training_pairs(4, 32, seed=0, photos=TRAIN_IMAGES)))
    for bad in [("camera",), ("brick", "rocket"), (), "brick"]:
        with pytest.raises(ValueError, match="photos must name"):
            reflection_training_pairs(2, 32, photos=bad)
    assert ReflectionRecipe(n_patches=8, epochs=1).photos == TRAIN_IMAGES


def test_training_a_few_steps_runs_and_separate_clips():
    torch.manual_seed(0)
    net = SeparationNet(width=8, depth=2)
    recipe = ReflectionRecipe(n_patches=8, epochs=1, patch=32, batch_size=4)
    history = train_separation(net, recipe, separation_loss(exclusion_weight=0.1), plot=False)
    assert len(history["step_loss"]) == 2 and all(math.isfinite(v) for v in history["step_loss"])
    b, r = separate(net, torch.rand(1, 3, 32, 32))
    assert b.shape == r.shape == (1, 3, 32, 32) and 0 <= b.min() and b.max() <= 1


def test_separation_loss_adds_its_terms_with_their_weights():
    g = torch.Generator().manual_seed(2)
    output, target = torch.rand(2, 6, 16, 16, generator=g) * 1.2 - 0.1, torch.rand(2, 6, 16, 16, generator=g)
    mse = lambda a, b: (a - b).pow(2).mean()   # a stand-in for the perceptual loss: any callable (B predicted, B true)
    l1 = (output - target).abs().mean()
    excl = exclusion_loss(output[:, :3], output[:, 3:])
    perceptual = mse(output[:, :3].clamp(0, 1), target[:, :3])   # on B only, clipped to the image range
    torch.testing.assert_close(separation_loss()(output, target), l1)
    torch.testing.assert_close(separation_loss(0.5, mse, 3.0)(output, target), l1 + 0.5 * excl + 3.0 * perceptual)
    structure = 1 - ssim(output[:, :3].clamp(0, 1), target[:, :3])
    torch.testing.assert_close(separation_loss(ssim_weight=2.0)(output, target), l1 + 2.0 * structure)


def test_exclusion_after_leaves_the_term_out_of_the_first_calls_and_the_recipe_counts_steps():
    g = torch.Generator().manual_seed(4)
    output, target = torch.rand(2, 6, 16, 16, generator=g), torch.rand(2, 6, 16, 16, generator=g)
    l1 = (output - target).abs().mean()
    with_excl = l1 + 0.5 * exclusion_loss(output[:, :3], output[:, 3:])
    loss = separation_loss(0.5, exclusion_after=2)
    values = [loss(output, target) for _ in range(4)]
    for value, expected in zip(values, (l1, l1, with_excl, with_excl)):
        torch.testing.assert_close(value, expected)
    torch.testing.assert_close(separation_loss(0.5, exclusion_after=2)(output, target), l1)  # a new loss starts at 0
    recipe = ReflectionRecipe(n_patches=33, epochs=3, batch_size=16, exclusion_start=0.5)
    assert recipe.steps == 9 == 3 * len(torch.utils.data.DataLoader(range(33), batch_size=16))
    assert recipe.exclusion_after == 4 and replace(recipe, exclusion_start=0).exclusion_after == 0
    for bad in (1.0, -0.1, "half", True):
        with pytest.raises(ValueError, match="exclusion_start must be a share"):
            ReflectionRecipe(n_patches=8, epochs=1, exclusion_start=bad)
    with pytest.raises(ValueError, match="exclusion_after must be an int >= 0"):
        separation_loss(0.1, exclusion_after=-1)


def test_linear_light_recipe_spends_the_full_recipes_pixels_on_larger_patches():
    full, larger = ReflectionRecipe(n_patches=3072, epochs=8), linear_light_recipe()
    assert larger.patch == 96 > full.patch and larger.epochs == full.epochs
    assert abs(larger.n_patches * larger.patch ** 2 - full.n_patches * full.patch ** 2) < larger.patch ** 2


def test_the_shipped_linear_light_checkpoint_loads_safely_and_never_saw_the_held_out_photos():
    path = resources.files("course_lib") / LINEAR_LIGHT_CHECKPOINT
    assert path.stat().st_size < 512 * 1024
    model = load_linear_light_checkpoint()
    assert isinstance(model, LinearLightSeparationNet) and not model.training
    assert not set(HELD_OUT_IMAGES) & set(model.meta["training_images"])
    assert model.meta["recipe"]["patch"] == linear_light_recipe().patch
    # it separates: on held-out blends its B keeps the background's structure better than the blend does
    blends, backgrounds, _, _ = evaluation_blends(crops_per_pair=4)
    b, r = separate(model, blends)
    assert b.shape == r.shape == blends.shape
    assert ssim(b, backgrounds) > ssim(blends, backgrounds) + 0.005


def test_comparison_table_prints_each_method_as_a_difference_from_the_baseline():
    base = dict(psnr=torch.tensor([20.0, 22.0, 21.0]), ssim=torch.tensor([0.80, 0.90, 0.85]))
    table = comparison_table({"nothing": base, "method": {k: v + 0.5 for k, v in base.items()}}, "nothing")
    lines = table.splitlines()
    assert "21.00" in lines[1] and "0.8500" in lines[1]              # the baseline's own means
    assert lines[-1].split()[0] == "method" and "+0.50 [+0.50, +0.50]" in lines[-1]
    with pytest.raises(KeyError):
        comparison_table({"nothing": base}, "missing")
