"""Perceptual (feature reconstruction) and gradient losses, held against their formulas."""
import pytest
import torch
from torch import nn

from course_lib.losses.perceptual import (PerceptualLoss, gradient_loss, image_gradients, perceptual_loss,
                                         perceptual_training_step)


def _features(seed, shape=(2, 4, 5, 6)):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g)


def test_perceptual_loss_is_johnson_eq2_averaged_over_the_batch():
    phi_hat, phi = _features(0), _features(1)
    n, c, h, w = phi.shape
    expected = sum(((phi_hat[i] - phi[i]) ** 2).sum() / (c * h * w) for i in range(n)) / n
    torch.testing.assert_close(perceptual_loss(phi_hat, phi), expected)


def test_perceptual_loss_sums_weighted_layers():
    out = {"relu1_2": _features(0), "relu2_2": _features(1, (2, 8, 3, 3))}
    tgt = {"relu1_2": _features(2), "relu2_2": _features(3, (2, 8, 3, 3))}
    expected = (0.5 * ((out["relu1_2"] - tgt["relu1_2"]) ** 2).mean()
                + ((out["relu2_2"] - tgt["relu2_2"]) ** 2).mean())
    torch.testing.assert_close(perceptual_loss(out, tgt, {"relu1_2": 0.5}), expected)
    assert perceptual_loss(tgt, tgt) == 0


@pytest.mark.parametrize("a, b, error, words", [
    (_features(0), _features(1, (2, 4, 5, 7)), ValueError, "same shape"),
    (_features(0)[0], _features(1)[0], ValueError, "(N, C, H, W)"),
    ({"relu1_2": _features(0)}, _features(1), TypeError, "two dicts"),
    ({"relu1_2": _features(0)}, {"relu9_9": _features(1)}, ValueError, "relu9_9"),
    (_features(0).long(), _features(1).long(), TypeError, "float"),
])
def test_perceptual_loss_bad_input(a, b, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        perceptual_loss(a, b)


def test_perceptual_loss_unknown_layer_weight():
    with pytest.raises(ValueError, match="relu7_1"):
        perceptual_loss({"a": _features(0)}, {"a": _features(1)}, {"relu7_1": 2.0})


class _TinyLossNet(nn.Module):
    """A fixed two-layer feature extractor returning a dict, like vgg_features."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv1, self.conv2 = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, stride=2, padding=1)

    def forward(self, x):
        a = torch.relu(self.conv1(x))
        return {"a": a, "b": torch.relu(self.conv2(a))}


def test_perceptual_loss_module_uses_the_loss_net_on_both_images_and_trains_only_the_output():
    net = _TinyLossNet()
    loss_fn = PerceptualLoss(["b"], loss_net=net)
    x, y = torch.rand(2, 3, 8, 8, requires_grad=True), torch.rand(2, 3, 8, 8)
    loss = loss_fn(x, y)
    torch.testing.assert_close(loss, ((net(x)["b"] - net(y)["b"]) ** 2).mean())
    loss.backward()
    assert x.grad is not None and all(p.grad is None for p in net.parameters())


def test_perceptual_loss_module_refuses_bad_images():
    loss_fn = PerceptualLoss(["b"], loss_net=_TinyLossNet())
    with pytest.raises(ValueError, match="grayscale"):
        loss_fn(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        loss_fn(torch.rand(1, 3, 8, 8) * 255, torch.rand(1, 3, 8, 8))


def test_perceptual_loss_module_with_course_vgg_refuses_unknown_layer():
    pytest.importorskip("course_lib.models.vgg")
    with pytest.raises((ValueError, KeyError), match="relu9_9"):
        PerceptualLoss(["relu9_9"], source="offline")


def test_image_gradients_match_numpy_diff():
    x = _features(0)
    dy, dx = image_gradients(x)
    torch.testing.assert_close(dy, torch.from_numpy(__import__("numpy").diff(x.numpy(), axis=-2)))
    torch.testing.assert_close(dx, x.diff(dim=-1))


@pytest.mark.parametrize("p", [1, 2])
def test_gradient_loss_formula(p):
    out, tgt = torch.rand(2, 3, 6, 7), torch.rand(2, 3, 6, 7)
    expected = sum(((out.diff(dim=d) - tgt.diff(dim=d)).abs() ** p).mean() for d in (-2, -1))
    torch.testing.assert_close(gradient_loss(out, tgt, p=p), expected)


def test_gradient_loss_is_blind_to_a_constant_offset_but_not_to_blur():
    x = torch.rand(1, 3, 16, 16)
    assert gradient_loss(x + 0.3, x) < 1e-6
    blurred = nn.functional.avg_pool2d(x, 3, stride=1, padding=1)
    assert gradient_loss(blurred, x) > 0.1


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(output=torch.rand(1, 3, 4, 4), target=torch.rand(1, 3, 4, 5)), ValueError, "same shape"),
    (dict(output=torch.rand(1, 3, 4, 4), target=torch.rand(1, 3, 4, 4), p=3), ValueError, "p must be"),
    (dict(output=torch.rand(1, 3, 1, 4), target=torch.rand(1, 3, 1, 4)), ValueError, "2x2"),
    (dict(output=torch.rand(3, 4, 4), target=torch.rand(3, 4, 4)), ValueError, "batch"),
])
def test_gradient_loss_bad_input(kwargs, error, words):
    with pytest.raises(error, match=words):
        gradient_loss(**kwargs)


def test_style_transfer_objective_is_the_weighted_sum_of_its_terms():
    from course_lib.losses.perceptual import style_transfer_objective
    from course_lib.losses.style import content_loss, gram_matrix, style_loss, tv_loss

    g = torch.Generator().manual_seed(0)
    y_hat = torch.rand(2, 3, 8, 8, generator=g)
    phi = {"relu1_1": torch.rand(2, 4, 8, 8, generator=g), "relu2_2": torch.rand(2, 5, 4, 4, generator=g)}
    content = torch.rand(2, 5, 4, 4, generator=g)
    grams = {"relu1_1": gram_matrix(torch.rand(1, 4, 8, 8, generator=g))}
    expected = 2 * content_loss(phi["relu2_2"], content) + 3 * style_loss(phi, grams) + 4 * tv_loss(y_hat)
    got = style_transfer_objective(y_hat, phi, content, grams, "relu2_2", 2.0, 3.0, 4.0)
    torch.testing.assert_close(got, expected)
    with pytest.raises(ValueError, match="relu3_3"):
        style_transfer_objective(y_hat, phi, content, grams, content_layer="relu3_3")


def test_exercise_checks_accept_the_reference_and_reject_wrong_answers(capsys):
    from course_lib.exercises import check
    from course_lib.exercises.perceptual import low_light
    from course_lib.losses.perceptual import style_transfer_objective
    from course_lib.models.transformer_net import ResidualBlock

    class NoSkip(ResidualBlock):
        def forward(self, x):
            return super().forward(x) - x

    def sum_not_mean(phi_output, phi_target):
        return ((phi_output - phi_target) ** 2).sum()

    def no_tv(output, features_output, content_features, style_grams, content_layer="relu2_2",
              content_weight=1.0, style_weight=5.0, tv_weight=10.0):
        return style_transfer_objective(output, features_output, content_features, style_grams,
                                        content_layer, content_weight, style_weight, 0.0)

    def no_clamp(images, gain=0.25, gamma=1.5, noise_std=0.03, seed=0):
        noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(seed))
        return gain * images.pow(gamma) + noise_std * noise

    def no_zero_grad(net, loss_network, optimizer, inputs, targets, layer="relu2_2"):
        loss = perceptual_loss(loss_network(net(inputs))[layer], loss_network(targets)[layer])
        loss.backward()  # gradients of the previous step are added to this one's
        optimizer.step()
        return loss.item()

    def todo(*args, **kwargs):
        raise NotImplementedError

    for exercise, good, bad in [("E2.1", ResidualBlock, NoSkip), ("E2.2", lambda phi_output, phi_target: perceptual_loss(phi_output, phi_target), sum_not_mean),
                                ("E2.3", style_transfer_objective, no_tv),
                                ("E2.4", perceptual_training_step, no_zero_grad), ("E2.5", low_light, no_clamp)]:
        check(exercise, good)
        check(exercise, bad)
        check(exercise, todo)
        good_line, bad_line, todo_line = capsys.readouterr().out.splitlines()
        assert "✓" in good_line and "✗" in bad_line and todo_line == f"{exercise}: not attempted"


def test_a_training_step_that_learns_nothing_fails_the_check(capsys):
    from course_lib.exercises import check

    def frozen(net, loss_network, optimizer, inputs, targets, layer="relu2_2"):
        with torch.no_grad():  # no graph: the loss is right, the network does not change
            return perceptual_loss(loss_network(net(inputs))[layer], loss_network(targets)[layer]).item()

    def returns_a_tensor(net, loss_network, optimizer, inputs, targets, layer="relu2_2"):
        perceptual_training_step(net, loss_network, optimizer, inputs, targets, layer)
        return torch.tensor(0.0)

    check("E2.4", frozen)
    check("E2.4", returns_a_tensor)
    frozen_line, tensor_line = capsys.readouterr().out.splitlines()
    assert "✗" in frozen_line and "weights" in frozen_line
    assert "✗" in tensor_line and "as a float" in tensor_line


def test_perceptual_training_step_moves_the_network_and_not_the_loss_network():
    import copy

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.Sigmoid())  # images in [0, 1], as VGG wants
    before = copy.deepcopy(net)
    loss_network = PerceptualLoss(["relu1_2"], source="offline").loss_net
    frozen = [p.clone() for p in loss_network.parameters()]
    x, y = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    loss = perceptual_training_step(net, loss_network, torch.optim.SGD(net.parameters(), lr=0.1), x, y, "relu1_2")
    with torch.no_grad():  # the loss returned is Eq. 2 of the network before its step
        expected = torch.nn.functional.mse_loss(loss_network(before(x))["relu1_2"], loss_network(y)["relu1_2"])
    assert loss == pytest.approx(expected.item(), rel=1e-5)
    assert not torch.equal(net[0].weight, before[0].weight)
    assert all(torch.equal(p, q) and p.grad is None for p, q in zip(loss_network.parameters(), frozen))
