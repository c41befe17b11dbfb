"""course_lib.data.degrade: the low-light camera of notebook 07."""
import torch

from course_lib.data.degrade import low_light, random_low_light


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
