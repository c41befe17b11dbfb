"""Exercises of notebook 07 (perceptual losses, Johnson et al. 2016)."""
import torch

from course_lib.checks import CheckFailed, Exercise, seeded, uniform_int
from course_lib.data.degrade import low_light
from course_lib.losses.perceptual import perceptual_loss, perceptual_training_step, style_transfer_objective
from course_lib.losses.style import gram_matrix
from course_lib.models.transformer_net import ResidualBlock


def _residual_cases(g):
    cases = []
    for channels, size in [(4, uniform_int(g, 6, 10)), (uniform_int(g, 5, 7), 5), (8, uniform_int(g, 10, 14))]:
        with seeded(g):
            reference = ResidualBlock(channels)
        state = reference.state_dict()
        cases.append(dict(channels=channels, names=list(state),  # affine norms away from (1, 0): a missing one shows
                          state=[torch.randn(v.shape, generator=g) for v in state.values()],
                          x=torch.randn(2, channels, size, size, generator=g)))
    return cases


def _run_residual(cls, case):
    channels = case["channels"]
    block = cls(channels)
    if not isinstance(block, torch.nn.Module):
        raise CheckFailed(f"ResidualBlock({channels}) should be an nn.Module, got {type(block).__name__}")
    expected_names = sorted(case["names"])
    got_names = sorted(block.state_dict())
    if got_names != expected_names:
        raise CheckFailed(f"ResidualBlock({channels}) parameters are {got_names}, expected "
                          f"{expected_names} (conv1/conv2 = ConvLayer, in1/in2 = InstanceNorm2d(affine=True))")
    block.load_state_dict(dict(zip(case["names"], case["state"])))
    with torch.no_grad():
        return block(case["x"])


def _residual_label(case):
    return f"ResidualBlock({case['channels']}) on {tuple(case['x'].shape)}"


def _reconstruction_cases(g):
    shapes = [(1, 4, 5, 5), (uniform_int(g, 2, 3), 8, 3, 7), (3, 16, uniform_int(g, 4, 7), 4)]
    cases = [dict(phi_output=torch.randn(s, generator=g), phi_target=torch.randn(s, generator=g)) for s in shapes]
    same = torch.randn(2, 3, 4, 4, generator=g)
    return cases + [dict(phi_output=same, phi_target=same.clone())]   # equal features: 0


def _run_reconstruction(fn, case):
    """The learner's arguments are ``phi_output, phi_target``, the library's ``features_*``: by position."""
    with torch.no_grad():
        return fn(case["phi_output"], case["phi_target"])


def _objective_case(g, batch, size, weights):
    output = torch.rand(batch, 3, size, size, generator=g)
    layers = {"relu1_1": (4, size), "relu2_1": (6, size // 2), "relu2_2": (6, size // 2)}
    features = {name: torch.randn(batch, c, s, s, generator=g).relu() for name, (c, s) in layers.items()}
    content = torch.randn(batch, 6, size // 2, size // 2, generator=g).relu()
    grams = {name: gram_matrix(torch.randn(1, c, s, s, generator=g).relu())
             for name, (c, s) in layers.items() if name != "relu2_2"}
    content_weight, style_weight, tv_weight = weights
    return dict(output=output, features_output=features, content_features=content, style_grams=grams,
                content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight)


def _objective_cases(g):
    def weight(low, high):
        return low + (high - low) * float(torch.rand((), generator=g))

    rows = [(1, 8, (1.0, 0.0, 0.0)), (1, 8, (0.0, 1.0, 0.0)), (2, 8, (0.0, 0.0, 1.0)),   # one term at a time
            (2, 10, (weight(0.5, 2), weight(2, 8), weight(5, 20))), (3, 6, (weight(0.2, 1), weight(1, 4), 100.0))]
    return [_objective_case(g, b, s, w) for b, s, w in rows]


class _TinyLossNetwork(torch.nn.Module):
    """A two-layer stand-in for the VGG loss network: a dict layer name -> activation, like vgg_features."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Conv2d(4, 6, 3, stride=2, padding=1)

    def forward(self, x):
        relu1 = self.conv1(x).relu()
        return {"relu1_2": relu1, "relu2_2": self.conv2(relu1).relu()}


def _tiny_net():
    return torch.nn.Sequential(torch.nn.Conv2d(3, 5, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(5, 3, 3, padding=1))


def _training_step_cases(g):
    cases = []
    for layer, batch, size in [("relu2_2", 1, 8), ("relu1_2", 2, 6), ("relu2_2", uniform_int(g, 2, 3), 10)]:
        with seeded(g):
            net, phi = _tiny_net(), _TinyLossNetwork()
        cases.append(dict(net=[v.clone() for v in net.state_dict().values()],
                          phi=[v.clone() for v in phi.state_dict().values()],
                          inputs=torch.rand(batch, 3, size, size, generator=g),
                          targets=torch.rand(batch, 3, size, size, generator=g), layer=layer))
    return cases


def _run_training_step(fn, case):
    """Two steps in a row with SGD + momentum (a step that forgets zero_grad shows in the second), then
    the losses returned and the network's weights."""
    net, phi = _tiny_net(), _TinyLossNetwork()
    net.load_state_dict(dict(zip(net.state_dict(), case["net"])))
    phi.load_state_dict(dict(zip(phi.state_dict(), case["phi"])))
    phi.eval().requires_grad_(False)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5, momentum=0.9)
    losses = []
    for _ in range(2):
        loss = fn(net, phi, optimizer, case["inputs"], case["targets"], case["layer"])
        if not isinstance(loss, float):
            raise CheckFailed(f"should return the loss as a float (loss.item()), got {type(loss).__name__}")
        losses.append(loss)
    return dict(weights=torch.cat([p.detach().flatten() for p in net.parameters()]), losses=torch.tensor(losses))


def _training_step_label(case):
    return f"layer {case['layer']!r}, batch {tuple(case['inputs'].shape)}"


def _low_light_cases(g):
    rows = [(1.0, 1.0, 0.0), (0.25, 1.5, 0.0), (0.25, 1.5, 0.03), (None, None, None)]  # identity, no noise, ...
    cases = []
    for gain, gamma, noise_std in rows:
        if gain is None:  # ... and anything else
            gain, gamma, noise_std = 0.2 + 0.6 * float(torch.rand((), generator=g)), 2.0, 0.2
        cases.append(dict(images=torch.rand(uniform_int(g, 2, 4), 1, 25, 25, generator=g), gain=gain, gamma=gamma,
                          noise_std=noise_std, seed=uniform_int(g, 0, 99)))
    return cases


EXERCISES = [
    Exercise("E2.1", "ResidualBlock", ResidualBlock, _residual_cases, run=_run_residual, tol=1e-4,
             label=_residual_label),
    Exercise("E2.2", "feature_reconstruction_loss", perceptual_loss, _reconstruction_cases, run=_run_reconstruction),
    Exercise("E2.3", "style_transfer_objective", style_transfer_objective, _objective_cases),
    Exercise("E2.4", "perceptual_training_step", perceptual_training_step, _training_step_cases,
             run=_run_training_step, tol=1e-4, label=_training_step_label),
    Exercise("E2.5", "low_light", low_light, _low_light_cases),
]
