"""course_lib.data.degrade: the low-light camera of notebook 07, the resampling and patches of notebook 11."""
import re

import numpy as np
import pytest
import torch
from PIL import Image

from course_lib.data import HELD_OUT_IMAGES, TRAIN_IMAGES, sample_image_names
import torch.nn.functional as F

from course_lib.data.degrade import (cubic_kernel, cubic_upscale, downscale, low_light, modcrop, random_low_light,
                                     random_patches, upscale)


def test_low_light_is_the_formula_and_takes_one_value_per_image():
    x = torch.rand(3, 1, 5, 5, generator=torch.Generator().manual_seed(0))
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(low_light(x, 0.5, 2.0, 0.1, seed=4), (0.5 * x**2 + 0.1 * noise).clamp(0, 1))
    gain = torch.tensor([0.2, 0.5, 1.0]).view(3, 1, 1, 1)
    per_image = low_light(x, gain, 1.5, 0.0)
    for i in range(3):
        torch.testing.assert_close(per_image[i], low_light(x[i:i + 1], float(gain[i]), 1.5, 0.0)[0])


def test_random_low_light_is_seeded_in_range_and_keeps_some_images_clean():
    x = torch.rand(200, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    a, b = random_low_light(x, seed=3), random_low_light(x, seed=3)
    assert torch.equal(a, b) and not torch.equal(a, random_low_light(x, seed=4))
    assert a.min() >= 0 and a.max() <= 1
    clean = (a == x).flatten(1).all(1).float().mean()
    assert 0.2 < clean < 0.4  # clean_fraction = 0.3


# --- super resolution (notebook 11) -------------------------------------------------------------------

def test_the_split_covers_every_sample_image_once():
    assert set(TRAIN_IMAGES) | set(HELD_OUT_IMAGES) == set(sample_image_names())
    assert not set(TRAIN_IMAGES) & set(HELD_OUT_IMAGES)


def test_downscale_is_antialiased_bicubic_like_pil_and_keeps_constants():
    x = torch.rand(3, 30, 24, generator=torch.Generator().manual_seed(0))
    small = downscale(x, 3)
    assert small.shape == (3, 10, 8) and downscale(x[None], 3).shape == (1, 3, 10, 8)
    # PIL's BICUBIC resize is antialiased (the kernel widens by the factor), as MATLAB's imresize
    pil = Image.fromarray((x[0].numpy() * 255).round().astype("uint8")).resize((8, 10), Image.BICUBIC)
    assert (small[0] * 255 - torch.from_numpy(np.array(pil)).float()).abs().mean() < 1.0
    torch.testing.assert_close(downscale(torch.full((1, 9, 9), 0.3), 3), torch.full((1, 3, 3), 0.3))


def test_upscale_inverts_nothing_but_keeps_constants_and_range():
    x = torch.rand(2, 1, 5, 4, generator=torch.Generator().manual_seed(1))
    big = upscale(x, 3)
    assert big.shape == (2, 1, 15, 12) and big.min() >= 0 and big.max() <= 1
    torch.testing.assert_close(upscale(torch.full((1, 4, 4), 0.7), 2), torch.full((1, 8, 8), 0.7))


def keys_1981(t: float, a: float) -> float:
    """Keys (IEEE TASSP 1981), Eq. 15, transcribed."""
    t = abs(t)
    if t <= 1:
        return (a + 2) * t**3 - (a + 3) * t**2 + 1
    if t < 2:
        return a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a
    return 0.0


def upscale_1d_by_keys(x: list[float], factor: int, a: float) -> list[float]:
    """Cubic convolution of one row, output pixel i at input position (i + 0.5) / factor - 0.5,
    edge pixels repeated; a plain loop over the 4 neighbours."""
    out = []
    for i in range(len(x) * factor):
        u = (i + 0.5) / factor - 0.5
        j = int(np.floor(u))
        out.append(sum(keys_1981(u - k, a) * x[min(max(k, 0), len(x) - 1)] for k in range(j - 1, j + 3)))
    return out


@pytest.mark.parametrize("a", [-0.5, -0.75, -1.0])
def test_cubic_upscale_is_keys_kernel_row_by_row_in_float64(a):
    x = torch.rand(2, 5, 7, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    ts = torch.linspace(-2.5, 2.5, 41, dtype=torch.float64)
    torch.testing.assert_close(cubic_kernel(ts, a), torch.tensor([keys_1981(t, a) for t in ts.tolist()],
                                                                 dtype=torch.float64))
    rows = torch.tensor([[upscale_1d_by_keys(row, 3, a) for row in image.tolist()] for image in x],
                        dtype=torch.float64)                                   # (2, 5, 21): along W
    expected = torch.tensor([[upscale_1d_by_keys(column, 3, a) for column in image.T.tolist()] for image in rows],
                            dtype=torch.float64).transpose(1, 2)               # then along H: (2, 15, 21)
    torch.testing.assert_close(cubic_upscale(x, 3, a), expected)


def test_pytorch_bicubic_is_a_minus_0_75_and_matlab_kernel_differs():
    x = torch.rand(1, 1, 6, 8, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    torch.testing.assert_close(cubic_upscale(x, 3, -0.75),
                               F.interpolate(x, scale_factor=3, mode="bicubic", align_corners=False))
    assert (cubic_upscale(x, 3, -0.5) - cubic_upscale(x, 3, -0.75)).abs().max() > 1e-3
    torch.testing.assert_close(upscale(x.float(), 3), upscale(x.float(), 3, a=-0.75))
    torch.testing.assert_close(upscale(x.float()[0], 3, a=-0.5), cubic_upscale(x.float()[0], 3, -0.5).clamp(0, 1))
    torch.testing.assert_close(cubic_upscale(torch.full((1, 4, 4), 0.7), 3), torch.full((1, 12, 12), 0.7))


def test_pytorch_antialiased_downscale_is_matlab_kernel_a_minus_0_5_inside():
    """MATLAB's imresize shrinks with Keys' a = -0.5 widened by the factor, weights normalised."""
    x = torch.rand(60, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    small = F.interpolate(x.view(1, 1, 1, 60), size=(1, 20), mode="bicubic", antialias=True,
                          align_corners=False).flatten()
    for i in range(2, 18):  # away from the border, where MATLAB mirrors
        centre = (i + 0.5) * 3 - 0.5
        taps = range(int(centre) - 7, int(centre) + 8)
        weights = [keys_1981((centre - k) / 3, -0.5) for k in taps]
        assert small[i].item() == pytest.approx(sum(w * x[k].item() for w, k in zip(weights, taps)) / sum(weights))


def test_cubic_upscale_explains_bad_input():
    with pytest.raises(TypeError, match="float"):
        cubic_upscale(torch.ones(4, 4, dtype=torch.uint8), 2)
    with pytest.raises(ValueError, match="scale"):
        cubic_upscale(torch.ones(4, 4), 0)


@pytest.mark.parametrize("bad, error, words", [
    (torch.rand(3, 31, 24), ValueError, "modcrop"),
    (torch.rand(3, 30, 24) * 255, ValueError, "[0, 1]"),
    ((torch.rand(3, 30, 24) * 255).to(torch.uint8), TypeError, "float"),
    (torch.rand(30, 24), ValueError, "(C, H, W)"),
])
def test_downscale_explains_bad_input(bad, error, words):
    with pytest.raises(error, match=re.escape(words)):
        downscale(bad, 3)
    with pytest.raises(ValueError, match="positive int"):
        downscale(torch.rand(3, 6, 6), 0)


def test_modcrop_crops_to_a_multiple():
    assert modcrop(torch.rand(3, 31, 25), 3).shape == (3, 30, 24)


def test_random_patches_are_seeded_crops_of_the_images_flipped_or_rotated():
    image = torch.rand(1, 20, 16, generator=torch.Generator().manual_seed(0))
    a = random_patches([image], 6, 40, seed=2)
    assert a.shape == (40, 1, 6, 6) and torch.equal(a, random_patches([image], 6, 40, seed=2))
    assert not torch.equal(a, random_patches([image], 6, 40, seed=3))
    crops = image.unfold(1, 6, 1).unfold(2, 6, 1).reshape(-1, 6, 6)  # every 6x6 crop
    variants = torch.cat([torch.stack([c.rot90(k, (-2, -1)), c.rot90(k, (-2, -1)).flip(-1)])
                          for c in crops for k in range(4)])
    for patch in a[:, 0]:
        assert (variants - patch).abs().flatten(1).amax(1).min() == 0
    plain = random_patches([image], 6, 40, seed=2, augment=False)[:, 0]
    for patch in plain:
        assert (crops - patch).abs().flatten(1).amax(1).min() == 0
    with pytest.raises(ValueError, match="at least 30x30"):
        random_patches([image], 30, 2)
