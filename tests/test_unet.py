"""course_lib.models.unet: the paper's numbers, padding, weight map (Eq. 2) and loss (Eq. 1)."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.losses.segmentation import pixel_weighted_cross_entropy
from course_lib.models.unet import (UNet, border_weights, center_crop, class_balance_weights, crop_and_concat,
                                    unet_input_size, unet_output_size,
                                    unet_weight_map, valid_input_sizes)


# --- the paper's network (§2, Fig. 1) --------------------------------------------------------------

def test_paper_parameter_count():
    model = UNet(in_channels=1, num_classes=2, base_channels=64, padding="valid")
    assert sum(p.numel() for p in model.parameters()) == 31_030_658


def test_paper_572_to_388_arithmetic():
    assert unet_output_size(572) == 388 and unet_input_size(388) == 572
    assert UNet(1, 2, 64).output_size(572) == 388 and UNet(1, 2, 64).input_size(388) == 572


def test_572_gives_388_through_the_network():
    model = UNet(1, 2, base_channels=2)  # same layer sizes as the paper, tiny channels
    assert model(torch.zeros(1, 1, 572, 572)).shape == (1, 2, 388, 388)


def test_same_padding_keeps_size():
    model = UNet(3, 5, base_channels=4, padding="same", depth=3)
    assert model(torch.rand(2, 3, 48, 40)).shape == (2, 5, 48, 40)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_output_size_matches_the_network_for_every_valid_size(depth):
    model = UNet(1, 1, base_channels=1, depth=depth)
    valid = [s for s in range(1, 14 * 2**depth) if valid_input_sizes(s, depth)[1] == s][:3]
    assert valid, "no valid size found"
    for size in valid:
        assert model(torch.zeros(1, 1, size, size)).shape[-1] == unet_output_size(size, depth)
        assert unet_input_size(unet_output_size(size, depth), depth) == size


def test_valid_sizes_are_spaced_by_two_to_the_depth():
    sizes = [s for s in range(150, 700) if valid_input_sizes(s)[1] == s]
    assert 572 in sizes and set(np.diff(sizes)) == {16}


def test_crop_and_concat_takes_the_centre_and_puts_skip_first():
    skip = torch.arange(2 * 8 * 8, dtype=torch.float32).reshape(1, 2, 8, 8)
    x = torch.full((1, 3, 4, 4), -1.0)
    out = crop_and_concat(skip, x)
    assert out.shape == (1, 5, 4, 4)
    assert torch.equal(out[:, :2], skip[:, :, 2:6, 2:6]) and torch.equal(out[:, 2:], x)
    assert torch.equal(center_crop(skip, (8, 8)), skip)


def test_gradients_reach_the_first_layer():
    model = UNet(1, 2, base_channels=2, padding="same", depth=2)
    model(torch.rand(1, 1, 16, 16)).sum().backward()
    assert model.input_block[0].weight.grad.abs().sum() > 0


def test_he_initialisation_of_section_3():
    torch.manual_seed(0)
    conv = UNet(1, 2, base_channels=64, depth=1).contracting[0][1][2]  # 128 -> 128, 3x3
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / (9 * 128)), rel=0.02)
    assert torch.all(conv.bias == 0)


# --- clear errors ---------------------------------------------------------------------------------

def test_invalid_size_names_the_nearest_valid_sizes():
    with pytest.raises(ValueError, match=r"570.*556 and 572"):
        unet_output_size(570)
    with pytest.raises(ValueError, match=r"input width.*570.*556 and 572"):
        UNet(1, 2, base_channels=1)(torch.zeros(1, 1, 572, 570))
    with pytest.raises(ValueError, match=r"smallest valid size is 188"):
        unet_output_size(100)
    with pytest.raises(ValueError, match=r"divisible by 2\*\*depth = 16.*96 and 112"):
        unet_output_size(100, padding="same")
    with pytest.raises(ValueError, match=r"390.*\[388, 404\]"):
        unet_input_size(390)


@pytest.mark.parametrize("kwargs", [dict(padding="reflect"), dict(base_channels=0),
                                    dict(depth=0), dict(in_channels=1.5)])
def test_bad_constructor_arguments(kwargs):
    with pytest.raises(ValueError):
        UNet(**{"in_channels": 1, **kwargs})


def test_bad_input_tensor():
    model = UNet(3, 2, base_channels=1, padding="same", depth=1)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        model(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        model(torch.zeros(3, 8, 8))


# --- border weight map (§3, Eq. 2) ----------------------------------------------------------------

def two_touching_squares():
    """Two 4x4 squares separated by a one-pixel gap (column 6) in a 10x13 image."""
    labels = np.zeros((10, 13), dtype=np.int64)
    labels[3:7, 2:6] = 1
    labels[3:7, 7:11] = 2
    return labels


def test_class_balance_weights_by_hand():
    labels = two_touching_squares()  # 32 foreground, 98 background pixels, N = 130
    w = class_balance_weights(labels)
    assert w[labels > 0].unique().tolist() == pytest.approx([130 / (2 * 32)])
    assert w[labels == 0].unique().tolist() == pytest.approx([130 / (2 * 98)])
    assert w.mean().item() == pytest.approx(1.0)
    assert torch.all(class_balance_weights(np.zeros((4, 4), dtype=int)) == 1)


def test_weight_map_hand_computed_gap():
    labels = two_touching_squares()
    w = unet_weight_map(labels, w0=10, sigma=5)
    gap = 130 / (2 * 98) + 10 * math.exp(-((1 + 1) ** 2) / (2 * 5**2))  # d1 = d2 = 1 in the gap
    assert w[3:7, 6].tolist() == pytest.approx([gap] * 4, rel=1e-6)
    assert w.max().item() == pytest.approx(gap, rel=1e-6)
    assert torch.all(w[labels == 0] <= w[3, 6]) and torch.all(w[labels > 0] == w[4, 3])
    # two rows above the gap the nearest pixels are the corners (3, 5) and (3, 7): d1 = d2 = √5
    assert w[1, 6].item() == pytest.approx(130 / 196 + 10 * math.exp(-20 / 50), rel=1e-6)


def test_weight_map_against_brute_force_distances():
    labels = np.zeros((12, 12), dtype=np.int64)
    labels[1:4, 1:5], labels[5:9, 2:4], labels[6:11, 6:11] = 1, 2, 3
    w = unet_weight_map(labels, w0=7, sigma=3).numpy()
    expected = class_balance_weights(labels).numpy().astype(np.float64)
    for y, x in zip(*np.nonzero(labels == 0)):
        d = sorted(min(math.hypot(y - yy, x - xx) for yy, xx in zip(*np.nonzero(labels == i)))
                   for i in (1, 2, 3))
        expected[y, x] += 7 * math.exp(-((d[0] + d[1]) ** 2) / (2 * 3**2))
    np.testing.assert_allclose(w, expected, rtol=1e-6)


def test_weight_map_is_class_balance_plus_border_term():
    labels = two_touching_squares()
    border = border_weights(labels, w0=3, sigma=2)
    assert torch.all(border[labels > 0] == 0) and border[5, 6].item() == pytest.approx(3 * math.exp(-0.5))
    torch.testing.assert_close(unet_weight_map(labels, 3, 2), class_balance_weights(labels) + border)


def test_weight_map_single_object_is_class_balance_only():
    labels = np.zeros((8, 8), dtype=np.int64)
    labels[2:5, 2:5] = 4
    assert torch.equal(unet_weight_map(labels), class_balance_weights(labels))


@pytest.mark.parametrize("mask, error", [(np.zeros((2, 3, 3), dtype=int), ValueError),
                                         (np.zeros((3, 3)), TypeError),
                                         (-np.ones((3, 3), dtype=int), ValueError)])
def test_weight_map_bad_masks(mask, error):
    with pytest.raises(error):
        unet_weight_map(mask)


def test_weight_map_bad_sigma():
    with pytest.raises(ValueError, match="sigma"):
        unet_weight_map(two_touching_squares(), sigma=0)


# --- pixel-weighted cross entropy (Eq. 1) ---------------------------------------------------------

def test_weighted_cross_entropy_equals_torch_with_unit_weights_and_crops_targets():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 4, 4, generator=generator)
    target = torch.randint(0, 3, (2, 8, 8), generator=generator)
    ones = torch.ones(2, 8, 8)
    expected = F.cross_entropy(logits, target[:, 2:6, 2:6])
    assert pixel_weighted_cross_entropy(logits, target, ones).item() == pytest.approx(expected.item())
    weight = torch.rand(2, 8, 8, generator=generator)
    per_pixel = -F.log_softmax(logits, 1).gather(1, target[:, None, 2:6, 2:6])[:, 0]
    assert pixel_weighted_cross_entropy(logits, target, weight).item() == pytest.approx(
        (per_pixel * weight[:, 2:6, 2:6]).mean().item(), rel=1e-6)
    with pytest.raises(ValueError, match="target and weight"):
        pixel_weighted_cross_entropy(logits, target, ones[0])


# --- touching cells (course_lib.data.cells) -------------------------------------------------------

def test_touching_cells_are_seeded_and_labelled():
    from course_lib.data.cells import TouchingCellsDataset, touching_instances

    a = TouchingCellsDataset(4, size=64, seed=3, cache=False)
    b = TouchingCellsDataset(6, size=64, seed=3, cache=False)
    image, instances = a[2]
    assert image.shape == (1, 64, 64) and image.dtype == torch.float32 and 0 <= image.min() <= image.max() <= 1
    assert instances.shape == (64, 64) and instances.dtype == torch.int64
    assert torch.equal(a[2][0], b[2][0]) and torch.equal(a[2][1], b[2][1])
    assert not torch.equal(a[1][1], a[2][1])
    assert all(len(touching_instances(a[i][1])) >= 2 for i in range(len(a)))
    with pytest.raises(IndexError):
        a[4]
    with pytest.raises(ValueError, match="size"):
        TouchingCellsDataset(2, size=8)


def test_split_counting_truth_splits_all_and_merging_loses_both():
    from course_lib.data.cells import split_touching_objects

    labels = two_touching_squares()
    assert split_touching_objects(labels > 0, labels) == (2, 2)
    merged = labels > 0
    merged[3:7, 6] = True  # the gap predicted as foreground: one object over both squares
    assert split_touching_objects(merged, labels) == (0, 2)
    with pytest.raises(ValueError, match="same shape"):
        split_touching_objects(merged[:5], labels)
    with pytest.raises(ValueError, match="integer"):
        split_touching_objects(merged, labels.astype(float))
