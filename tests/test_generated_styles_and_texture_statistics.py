"""Generated style images, and the independent texture statistics that judge style transfer."""
import numpy as np
import pytest
import torch

from course_lib.data import GENERATED_STYLES, generated_style, sample_image, style_image
from course_lib.recipes.gatys import (GABOR_ANGLES, GABOR_FREQUENCIES, colour_histogram, gabor_energies,
                                     stylisation_scores, synthesize, texture_progress)
from course_lib.losses.style import CONTENT_LAYER, STYLE_LAYERS
from course_lib.metrics import ssim_y
from course_lib.models import vgg_features


@pytest.mark.parametrize("name", GENERATED_STYLES)
def test_generated_styles_are_seeded_colourful_images(name):
    a, b, other = generated_style(name, 64), generated_style(name, 64), generated_style(name, 64, seed=1)
    assert a.shape == (3, 64, 64) and a.dtype == torch.float32 and 0 <= a.min() and a.max() <= 1
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, other)
    assert (a.max(0).values - a.min(0).values).mean() > 0.2  # saturated colour, not grey


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(name="monet"), ValueError, "choose one of: mosaic"),
    (dict(name="mosaic", size=8), ValueError, "size must be at least 16"),
    (dict(name="mosaic", seed=-1), ValueError, "seed must be at least 0"),
    (dict(name="mosaic", size=32.0), TypeError, "size must be an int"),
])
def test_generated_style_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        generated_style(**kwargs)


def test_style_image_is_a_generated_style_or_a_sample_photo():
    torch.testing.assert_close(style_image("starry", 64), generated_style("starry", 64))
    torch.testing.assert_close(style_image("coffee", 64), sample_image("coffee", size=64))
    with pytest.raises(ValueError, match="unknown style 'monet'; choose a generated style"):
        style_image("monet")


def test_gabor_energy_peaks_at_the_frequency_and_orientation_of_stripes():
    x = torch.arange(64).float()
    stripes = (0.5 + 0.5 * torch.cos(2 * torch.pi * 0.2 * x)).expand(3, 64, 64)  # varies along x
    energies = gabor_energies(stripes).reshape(len(GABOR_FREQUENCIES), len(GABOR_ANGLES))
    assert np.unravel_index(energies.argmax(), energies.shape) == (GABOR_FREQUENCIES.index(0.2), 0)


def test_colour_histogram_counts_fractions_of_pixels():
    image = torch.zeros(3, 4, 4)
    image[0, :2] = 1.0  # top half red, bottom half black
    histogram = colour_histogram(image)
    assert histogram.sum() == pytest.approx(1) and histogram[0] == 0.5 and histogram[(3 * 4 + 0) * 4 + 0] == 0.5


def test_texture_progress_is_0_at_the_photo_and_1_at_the_style():
    photo, style = torch.rand(3, 32, 32), generated_style("mosaic", 32)
    assert texture_progress(photo, photo, style) == {"gabor": 0.0, "colour": 0.0}
    assert texture_progress(style, photo, style) == {"gabor": 1.0, "colour": 1.0}


def test_stylisation_scores_of_the_identity_and_of_a_network_that_paints_the_style():
    style = generated_style("starry", 32)

    class PaintsTheStyle(torch.nn.Module):
        def forward(self, x):
            return style.expand_as(x)

    identity = stylisation_scores(torch.nn.Identity(), style, photos=("camera", "rocket"), size=32)
    assert identity == {name: {"gabor": 0.0, "colour": 0.0, "ssim": pytest.approx(1.0)} for name in ("camera", "rocket")}
    painted = stylisation_scores(PaintsTheStyle(), style, photos=("camera",), size=32)["camera"]
    assert painted["gabor"] == 1.0 and painted["colour"] == 1.0 and painted["ssim"] < 0.5
    with pytest.raises(ValueError, match=r"style must be \(3, 32, 32\) like the photos"):
        stylisation_scores(torch.nn.Identity(), generated_style("starry", 64), size=32)
    with pytest.raises(TypeError, match="must be a torch.nn.Module"):
        stylisation_scores(lambda x: x, style, size=32)


def test_synthesize_reconstructs_from_a_shallow_layer_and_checks_its_arguments():
    phi = vgg_features(["relu1_1"], source="offline", verbose=False)
    photo = generated_style("mosaic", 24)
    image, losses = synthesize(phi, photo, content_layer="relu1_1", init="grey", steps=20)
    assert losses[-1] < 0.1 * losses[0] and float(ssim_y(image[None], photo[None])) > 0.5
    with pytest.raises(ValueError, match="init must be one of"):
        synthesize(phi, None, photo, init="content")
    with pytest.raises(ValueError, match="give a content image, a style image or both"):
        synthesize(phi)


def test_synthesize_keeps_lowering_the_loss_and_stays_in_range():
    """A 24-px transfer at beta/alpha = 1000, 60 L-BFGS steps. With the earlier straight-through clamp
    its loss ended 51 % above its minimum (L-BFGS stepping out of range, where the loss is flat);
    with image = sigmoid(z) every step lowers it."""
    phi = vgg_features(STYLE_LAYERS + [CONTENT_LAYER], source="offline", verbose=False)
    photo, style = sample_image("astronaut", size=24), generated_style("starry", 24)
    image, losses = synthesize(phi, photo, style, beta=1000.0, init="content", steps=60)
    assert 0 < image.min() and image.max() < 1
    assert losses[-1] <= 1.001 * min(losses) and losses[-1] < 0.01 * losses[0]
    assert texture_progress(image, photo, style)["gabor"] > 0.5



def test_synthesize_runs_the_network_only_as_deep_as_the_loss_reads():
    """A loss network that returns deeper layers than the loss reads gives the same image, bit for bit:
    synthesize cuts it after the deepest layer it reads (``VGGFeatures.upto``)."""
    deep = vgg_features(["relu1_1", "relu2_1", "relu4_2", "relu5_1"], source="offline", verbose=False)
    shallow = vgg_features(["relu1_1", "relu2_1"], source="offline", verbose=False)
    photo, style = sample_image("astronaut", size=24), generated_style("starry", 24)
    kwargs = dict(content_layer="relu2_1", style_layers=["relu1_1"], init="content", steps=5)
    image, losses = synthesize(deep, photo, style, **kwargs)
    expected, expected_losses = synthesize(shallow, photo, style, **kwargs)
    assert torch.equal(image, expected) and losses == expected_losses
    with pytest.raises(ValueError, match="this network returns"):
        synthesize(shallow, photo, None, content_layer="relu4_2")


def test_synthesize_does_not_depend_on_the_scale_of_the_loss():
    """alpha and beta both times 1e-6 have the same minimum. The optimiser sees the loss divided by its
    first value, so it takes the same steps; on the raw loss L-BFGS would skip its tiny curvature
    pairs (y.s < 1e-10) and hardly move, as beta/alpha = 0.1 from the photo once did at 128 px."""
    phi = vgg_features(["relu1_1", "relu2_1"], source="offline", verbose=False)
    photo, style = sample_image("astronaut", size=24), generated_style("starry", 24)
    kwargs = dict(content_layer="relu2_1", style_layers=["relu1_1", "relu2_1"], init="content", steps=15)
    image, losses = synthesize(phi, photo, style, alpha=1.0, beta=10.0, **kwargs)
    tiny, tiny_losses = synthesize(phi, photo, style, alpha=1e-6, beta=1e-5, **kwargs)
    assert losses[-1] < 0.5 * losses[0]
    torch.testing.assert_close(tiny, image, atol=1e-3, rtol=0)
    torch.testing.assert_close(torch.tensor(tiny_losses) * 1e6, torch.tensor(losses), rtol=1e-3, atol=0)
