"""Distillation (§F): Hinton's soft targets and kd_loss, FitNets' hint loss, detection mimicking."""
import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

from course_lib.losses import distillation_loss, hint_loss, kd_loss, mimic_loss, softmax_with_temperature
from course_lib.models.distillation import FitNet, HintRegressor, StudentMLP, TeacherNet
from course_lib.losses.distillation import Adaptation, detector_losses, teacher_features
from course_lib.models.mimic_detector import tiny_faster_rcnn


def logits(*shape, seed=0, scale=3.0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale


# --- Hinton et al. 2015 -----------------------------------------------------------------------

def test_softmax_with_temperature_matches_the_formula():
    z = logits(4, 10)
    for T in (0.5, 1, 4, 20):
        expected = torch.exp(z / T) / torch.exp(z / T).sum(dim=1, keepdim=True)
        torch.testing.assert_close(softmax_with_temperature(z, T), expected)


def test_high_temperature_softens_towards_uniform_and_keeps_the_ranking():
    z = logits(3, 10)
    entropy = [-(p * p.log()).sum(1).mean() for p in (softmax_with_temperature(z, T) for T in (1, 2, 5, 20))]
    assert all(a < b for a, b in zip(entropy, entropy[1:]))
    assert (softmax_with_temperature(z, 1e4) - 0.1).abs().max() < 1e-3
    assert torch.equal(softmax_with_temperature(z, 7).argsort(1), z.argsort(1))


def test_kd_loss_matches_the_direct_formula_and_kl_div():
    s, t = logits(8, 10, seed=1), logits(8, 10, seed=2)
    for T in (1, 3, 10):
        p, q = torch.softmax(t / T, 1), torch.softmax(s / T, 1)
        direct = T**2 * (p * (p.log() - q.log())).sum(1).mean()
        library = T**2 * F.kl_div(F.log_softmax(s / T, 1), p, reduction="batchmean")
        torch.testing.assert_close(kd_loss(s, t, T), direct)
        torch.testing.assert_close(kd_loss(s, t, T), library)


def test_kd_loss_is_zero_for_equal_logits_and_positive_otherwise():
    z = logits(5, 10)
    assert kd_loss(z, z.clone(), 4).abs() < 1e-12
    assert kd_loss(z, z + 0.7, 4).abs() < 1e-12  # a constant shift does not change a softmax
    assert kd_loss(z, logits(5, 10, seed=9), 4) > 0


def test_soft_target_gradients_scale_as_one_over_T_squared():
    """Hinton §2.1: at high T, d(KL)/dz ≈ (z − v) / (N T²); the T² factor makes it T-independent."""
    s, t = logits(16, 10, seed=3, scale=1.0), logits(16, 10, seed=4, scale=1.0)
    s, t = s - s.mean(1, keepdim=True), t - t.mean(1, keepdim=True)  # zero-mean logits, as in §2.1

    def gradient_norm(T, with_factor):
        student = s.clone().requires_grad_()
        loss = kd_loss(student, t, T) / (1 if with_factor else T**2)
        loss.backward()
        return student.grad.norm().item()

    for T in (5, 10, 20):
        ratio = gradient_norm(T, False) / gradient_norm(2 * T, False)
        assert ratio == pytest.approx(4, rel=0.05)  # doubling T quarters the raw gradient
        assert gradient_norm(T, True) / gradient_norm(2 * T, True) == pytest.approx(1, rel=0.05)
    limit = ((s - t) / 10).norm().item() / 16  # the high-temperature limit, times T² = 1
    assert gradient_norm(40, True) == pytest.approx(limit, rel=0.02)


def test_kd_loss_does_not_backpropagate_into_the_teacher():
    s, t = logits(4, 10).requires_grad_(), logits(4, 10, seed=1).requires_grad_()
    kd_loss(s, t, 2).backward()
    assert s.grad is not None and t.grad is None


def test_distillation_loss_mixes_soft_and_hard_terms():
    s, t, y = logits(6, 10), logits(6, 10, seed=1), torch.arange(6)
    expected = 0.7 * kd_loss(s, t, 3) + 0.3 * F.cross_entropy(s, y)
    torch.testing.assert_close(distillation_loss(s, t, y, T=3, alpha=0.7), expected)
    torch.testing.assert_close(distillation_loss(s, t, y, T=3, alpha=0.0), F.cross_entropy(s, y))


@pytest.mark.parametrize("T", [0, -1, -0.5, float("nan")])
def test_non_positive_temperature_is_a_clear_error(T):
    with pytest.raises(ValueError, match="temperature"):
        kd_loss(logits(2, 10), logits(2, 10), T)
    with pytest.raises(ValueError, match="temperature"):
        softmax_with_temperature(logits(2, 10), T)


def test_bad_logits_are_clear_errors():
    with pytest.raises(ValueError, match="same shape"):
        kd_loss(logits(2, 10), logits(2, 5), 2)
    with pytest.raises(ValueError, match="batch, classes"):
        kd_loss(logits(10), logits(10), 2)
    with pytest.raises(TypeError, match="tensor"):
        kd_loss([1.0, 2.0], logits(1, 2), 2)
    with pytest.raises(TypeError, match="number"):
        kd_loss(logits(2, 10), logits(2, 10), "4")
    with pytest.raises(ValueError, match="alpha"):
        distillation_loss(logits(2, 10), logits(2, 10), torch.zeros(2, dtype=torch.long), 2, alpha=1.5)


# --- FitNets ------------------------------------------------------------------------------------

def test_hint_loss_is_half_the_squared_distance_per_image():
    guided, hint = logits(3, 4, 6, 6), logits(3, 8, 4, 4, seed=1)
    regressor = HintRegressor(4, 8, guided_size=6, hint_size=4).double()
    expected = 0.5 * ((hint - regressor(guided)) ** 2).sum() / 3
    torch.testing.assert_close(hint_loss(guided, hint, regressor), expected)
    conv = regressor.conv
    torch.testing.assert_close(hint_loss(guided, conv(guided).detach(), conv), torch.zeros((), dtype=torch.float64))


def test_hint_regressor_kernel_follows_the_paper():
    assert HintRegressor(4, 8, guided_size=14, hint_size=14).conv.kernel_size == (1, 1)
    assert HintRegressor(4, 8, guided_size=14, hint_size=10).conv.kernel_size == (5, 5)
    assert HintRegressor(4, 8, 14, 10)(torch.zeros(2, 4, 14, 14)).shape == (2, 8, 10, 10)
    with pytest.raises(ValueError, match="at least as large"):
        HintRegressor(4, 8, guided_size=7, hint_size=14)


def test_hint_loss_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="hint has shape"):
        hint_loss(torch.zeros(2, 4, 14, 14), torch.zeros(2, 8, 7, 7), HintRegressor(4, 8, 14, 14))


def test_teacher_and_students_have_the_promised_shapes_and_sizes():
    x = torch.zeros(2, 1, 28, 28)
    teacher, fitnet, student = TeacherNet(), FitNet(), StudentMLP(128)
    assert teacher(x).shape == fitnet(x).shape == student(x).shape == (2, 10)
    assert teacher.features(x).shape == (2, 16, 14, 14) and fitnet.features(x).shape == (2, 8, 14, 14)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(fitnet) < count(teacher) / 5  # thinner
    # Hinton's "big" net: conv blocks (2,480 + 13,888) and 1568 -> 1200 -> 10 (1,882,800 + 12,010)
    assert count(teacher) == 2_480 + 13_888 + 1_882_800 + 12_010 > 10 * count(student)
    assert [isinstance(l, torch.nn.BatchNorm2d) for l in FitNet(batch_norm=False).modules()].count(True) == 0
    conv_layers = lambda m: sum(isinstance(l, torch.nn.Conv2d) for l in m.modules())  # noqa: E731
    assert conv_layers(fitnet) > conv_layers(teacher)  # deeper


# --- Li, Jin, Yan 2017 -------------------------------------------------------------------------

def test_mimic_loss_matches_roi_aligned_mean_squared_error():
    student, teacher = logits(2, 4, 16, 16), logits(2, 8, 16, 16, seed=1)
    boxes = [torch.tensor([[0.0, 0, 32, 32], [8, 8, 40, 56]], dtype=torch.float64),
             torch.tensor([[16.0, 4, 60, 30]], dtype=torch.float64)]
    adaptation = Adaptation(4, 8).double()
    v = roi_align(student, boxes, 7, 0.25, sampling_ratio=2, aligned=True)
    u = roi_align(teacher, boxes, 7, 0.25, sampling_ratio=2, aligned=True)
    expected = sum(((u[i] - adaptation(v[i : i + 1])[0]) ** 2).mean() for i in range(3)) / (2 * 3)
    torch.testing.assert_close(mimic_loss(student, teacher, boxes, adaptation, 0.25), expected)


def test_mimic_loss_ignores_features_outside_the_proposals():
    student, teacher = torch.zeros(1, 4, 16, 16), torch.zeros(1, 4, 16, 16)
    teacher[..., 12:, 12:] = 5.0  # the teacher differs only in the bottom-right corner
    boxes = [torch.tensor([[0.0, 0, 32, 32]])]
    assert mimic_loss(student, teacher, boxes, torch.nn.Identity(), 0.25) == 0
    assert mimic_loss(student, teacher, [torch.tensor([[40.0, 40, 64, 64]])], torch.nn.Identity(), 0.25) > 0


def test_mimic_loss_rejects_bad_inputs():
    with pytest.raises(ValueError, match="one proposal tensor per image"):
        mimic_loss(torch.zeros(2, 4, 8, 8), torch.zeros(2, 4, 8, 8), [torch.zeros(0, 4)], torch.nn.Identity(), 0.25)
    with pytest.raises(ValueError, match="adaptation"):
        mimic_loss(torch.zeros(1, 4, 8, 8), torch.zeros(1, 8, 8, 8), [torch.tensor([[0.0, 0, 8, 8]])],
                   torch.nn.Identity(), 0.25)


def test_mimic_training_step_reaches_the_student_backbone_and_not_the_teacher():
    torch.manual_seed(0)
    teacher, student, adaptation = tiny_faster_rcnn(16, image_size=32), tiny_faster_rcnn(8, image_size=32), Adaptation(8, 16)
    images = [torch.rand(3, 32, 32) for _ in range(2)]
    targets = [{"boxes": torch.tensor([[4.0, 4, 20, 20]]), "labels": torch.tensor([1])} for _ in range(2)]
    student.train()
    losses, features, proposals, scale = detector_losses(student, images, targets)
    assert set(losses) == {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg"}
    assert features.shape == (2, 8, 8, 8) and scale == 0.25 and len(proposals) == 2
    loss = mimic_loss(features, teacher_features(teacher, images), proposals, adaptation, scale)
    loss.backward()
    assert student.backbone[0].weight.grad.abs().sum() > 0 and adaptation.weight.grad is not None
    assert all(p.grad is None for p in teacher.parameters())


def test_exercise_checks_pass_on_the_reference_and_fail_on_wrong_answers():
    from course_lib.checks import CheckFailed, verify
    from course_lib.exercises import REGISTRY

    def run(exercise_id, candidate):
        return verify(REGISTRY[exercise_id], candidate, torch.Generator().manual_seed(0))

    assert run("F.1", softmax_with_temperature).startswith("matches")
    assert run("F.2", kd_loss).startswith("matches")
    assert run("F.3", hint_loss).startswith("matches")
    assert run("F.4", HintRegressor).startswith("right")
    assert run("F.5", mimic_loss).startswith("matches")

    with pytest.raises(CheckFailed):
        run("F.1", lambda logits, T: torch.softmax(logits, -1))
    with pytest.raises(CheckFailed):  # forgetting the T² factor
        run("F.2", lambda student_logits, teacher_logits, T: kd_loss(student_logits, teacher_logits, T) / T**2)
    with pytest.raises(CheckFailed):  # forgetting the ½
        run("F.3", lambda guided, hint, regressor: 2 * hint_loss(guided, hint, regressor))
    with pytest.raises(CheckFailed):  # a 1×1 regressor whatever the sizes
        run("F.4", lambda g, h, gs, hs: HintRegressor(g, h, gs, gs))
    with pytest.raises(CheckFailed):  # forgetting the ½
        run("F.5", lambda *args, **kwargs: 2 * mimic_loss(*args, **kwargs))
    with pytest.raises(CheckFailed):  # mimicking the whole feature map, not the proposals
        run("F.5", lambda student_features, teacher_features, proposals, adaptation, spatial_scale, output_size:
            0.5 * (teacher_features - adaptation(student_features)).pow(2).mean())


def test_mean_average_precision_on_known_cases():
    from course_lib.metrics import average_precision, mean_average_precision

    target = {"boxes": torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]]), "labels": torch.tensor([1, 2])}
    perfect = {"boxes": target["boxes"].clone(), "labels": target["labels"].clone(), "scores": torch.tensor([0.9, 0.8])}
    assert mean_average_precision([perfect], [target]) == 1.0
    wrong_class = {**perfect, "labels": torch.tensor([2, 1])}
    assert mean_average_precision([wrong_class], [target]) == 0.0
    # a false positive scored above the only hit: precision 1/2 at recall 1 -> AP 0.5
    assert average_precision(torch.tensor([0.9, 0.5]), torch.tensor([False, True]), 1) == 0.5
    # a duplicate of a matched box does not count twice
    duplicate = {"boxes": torch.tensor([[0.0, 0, 10, 10], [0.0, 0, 10, 10]]), "labels": torch.tensor([1, 1]),
                 "scores": torch.tensor([0.9, 0.8])}
    assert mean_average_precision([duplicate], [{"boxes": target["boxes"][:1], "labels": target["labels"][:1]}]) == 1.0
    with pytest.raises(ValueError, match="detection dicts"):
        mean_average_precision([], [target])
