"""Checks for notebook 07 (perceptual losses, Johnson et al. 2016)."""
import torch

from course_lib.checks import CheckFailed, compare_on_cases, compare_values, register
from course_lib.data.degrade import low_light
from course_lib.losses.perceptual import perceptual_loss, style_transfer_objective
from course_lib.losses.style import gram_matrix
from course_lib.models.transformer_net import ResidualBlock


def _randn(generator, *shape):
    return torch.randn(*shape, generator=generator)


@register("E2.1", "ResidualBlock")
def _(candidate):
    generator = torch.Generator().manual_seed(0)
    for channels, size in [(4, 8), (6, 5), (8, 12)]:
        torch.manual_seed(channels)
        reference = ResidualBlock(channels)
        for p in reference.parameters():  # affine norms away from (1, 0), so a missing one shows
            p.data = _randn(generator, *p.shape)
        block = candidate(channels)
        if not isinstance(block, torch.nn.Module):
            raise CheckFailed(f"ResidualBlock({channels}) should be an nn.Module, got {type(block).__name__}")
        expected_names = sorted(reference.state_dict())
        got_names = sorted(block.state_dict())
        if got_names != expected_names:
            raise CheckFailed(f"ResidualBlock({channels}) parameters are {got_names}, expected "
                              f"{expected_names} (conv1/conv2 = ConvLayer, in1/in2 = InstanceNorm2d(affine=True))")
        block.load_state_dict(reference.state_dict())
        x = _randn(generator, 2, channels, size, size)
        with torch.no_grad():
            compare_values(block(x.clone()), reference(x), f"ResidualBlock({channels}) on {tuple(x.shape)}", 1e-4)
    return "matches the reference on 3 cases"


@register("E2.2", "feature_reconstruction_loss")
def _(candidate):
    generator = torch.Generator().manual_seed(0)
    shapes = [(1, 4, 5, 5), (2, 8, 3, 7), (3, 16, 6, 4)]
    cases = [dict(phi_output=_randn(generator, *s), phi_target=_randn(generator, *s)) for s in shapes]
    same = _randn(generator, 2, 3, 4, 4)
    cases.append(dict(phi_output=same, phi_target=same.clone()))
    def reference(phi_output, phi_target):
        return perceptual_loss(phi_output, phi_target)

    return compare_on_cases(candidate, reference, cases, tol=1e-5)


def _objective_case(generator, batch, size, weights):
    output = torch.rand(batch, 3, size, size, generator=generator)
    layers = {"relu1_1": (4, size), "relu2_1": (6, size // 2), "relu2_2": (6, size // 2)}
    features = {name: _randn(generator, batch, c, s, s).relu() for name, (c, s) in layers.items()}
    content = _randn(generator, batch, 6, size // 2, size // 2).relu()
    grams = {name: gram_matrix(_randn(generator, 1, c, s, s).relu())
             for name, (c, s) in layers.items() if name != "relu2_2"}
    content_weight, style_weight, tv_weight = weights
    return dict(output=output, features_output=features, content_features=content, style_grams=grams,
                content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight)


@register("E2.3", "style_transfer_objective")
def _(candidate):
    generator = torch.Generator().manual_seed(0)
    cases = [_objective_case(generator, b, s, w)
             for b, s, w in [(1, 8, (1.0, 0.0, 0.0)), (1, 8, (0.0, 1.0, 0.0)), (2, 8, (0.0, 0.0, 1.0)),
                             (2, 10, (1.0, 5.0, 10.0)), (3, 6, (0.5, 2.0, 100.0))]]
    return compare_on_cases(candidate, style_transfer_objective, cases, tol=1e-5)


@register("E2.4", "low_light")
def _(candidate):
    generator = torch.Generator().manual_seed(0)
    cases = [dict(images=torch.rand(n, 1, 25, 25, generator=generator), gain=g, gamma=gm, noise_std=ns, seed=sd)
             for n, g, gm, ns, sd in [(2, 1.0, 1.0, 0.0, 0), (3, 0.25, 1.5, 0.0, 0),
                                      (4, 0.25, 1.5, 0.03, 1), (2, 0.5, 2.0, 0.2, 7)]]
    return compare_on_cases(candidate, low_light, cases, tol=1e-5)
