"""course_lib.ops.roi_align against torchvision.ops.roi_pool / roi_align."""
import pytest
import torch
from torchvision import ops

from course_lib.ops.roi_align import bilinear_interpolate, roi_align, roi_align_one_box, roi_pool

STRIDES = (1, 4, 8, 16)


def random_boxes(generator, image_size, n):
    """Boxes of every kind: tiny (under a cell), large (the whole image and beyond), on the borders,
    and random ones, with a batch index in the first column."""
    x1y1 = torch.rand(n, 2, generator=generator) * image_size
    wh = torch.rand(n, 2, generator=generator) * image_size / 2
    random = torch.cat([x1y1, x1y1 + wh], 1)
    s = float(image_size)
    special = torch.tensor([[0, 0, s, s], [-5, -5, s + 5, s + 5], [0, 0, 0.3, 0.3], [s - 0.5, s - 0.5, s, s],
                            [10.2, 10.2, 10.7, 11.9], [0, 3.5, 2, s], [s - 3, 0, s, 7.25], [4, 4, 4, 4]])
    boxes = torch.cat([random, special])
    index = torch.randint(0, 2, (len(boxes), 1), generator=generator).float()
    return torch.cat([index, boxes], 1)


@pytest.fixture
def case():
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(2, 3, 13, 11, generator=generator)
    return generator, features


@pytest.mark.parametrize("stride", STRIDES)
@pytest.mark.parametrize("output_size", [7, (2, 3), 1])
def test_roi_pool_matches_torchvision(case, stride, output_size):
    generator, features = case
    boxes = random_boxes(generator, 11 * stride, 12)
    expected = ops.roi_pool(features, boxes, output_size, 1 / stride)
    torch.testing.assert_close(roi_pool(features, boxes, output_size, 1 / stride), expected)


@pytest.mark.parametrize("stride", STRIDES)
@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", [-1, 0, 1, 2, 3])
def test_roi_align_matches_torchvision(case, stride, aligned, sampling_ratio):
    generator, features = case
    boxes = random_boxes(generator, 11 * stride, 12)
    args = ((5, 4), 1 / stride, sampling_ratio, aligned)
    torch.testing.assert_close(roi_align(features, boxes, *args), ops.roi_align(features, boxes, *args),
                               atol=1e-5, rtol=1e-5)


def test_a_list_of_boxes_per_image_is_the_same_as_batch_indices(case):
    generator, features = case
    first, second = torch.tensor([[1.0, 2, 30, 40]]), torch.tensor([[0.0, 0, 8, 8], [5, 5, 44, 20]])
    rois = torch.tensor([[0.0, 1, 2, 30, 40], [1, 0, 0, 8, 8], [1, 5, 5, 44, 20]])
    torch.testing.assert_close(roi_align(features, [first, second], 7, 0.25, 2, True),
                               ops.roi_align(features, rois, 7, 0.25, 2, True))
    torch.testing.assert_close(roi_pool(features, [first, second], 3, 0.25), ops.roi_pool(features, rois, 3, 0.25))


@pytest.mark.parametrize("op, library", [(roi_align, ops.roi_align), (roi_pool, ops.roi_pool)])
def test_gradients_match_torchvision(case, op, library):
    generator, features = case
    boxes = random_boxes(generator, 44, 6)
    ours = features.clone().requires_grad_()
    theirs = features.clone().requires_grad_()
    weight = torch.randn(len(boxes), 3, 4, 4, generator=generator)
    (op(ours, boxes, 4, 0.25) * weight).sum().backward()
    (library(theirs, boxes, 4, 0.25) * weight).sum().backward()
    assert ours.grad.abs().sum() > 0
    torch.testing.assert_close(ours.grad, theirs.grad, atol=1e-5, rtol=1e-5)


def test_bilinear_interpolate_is_exact_on_a_linear_map():
    y, x = torch.meshgrid(torch.arange(5.0), torch.arange(6.0), indexing="ij")
    feature = (2 * y + 3 * x + 1)[None]
    points_y, points_x = torch.tensor([0.0, 1.25, 3.5, 4.0]), torch.tensor([0.5, 2.75, 0.0, 5.0])
    torch.testing.assert_close(bilinear_interpolate(feature, points_y, points_x)[0],
                               2 * points_y + 3 * points_x + 1)


def test_bilinear_interpolate_outside_the_map():
    feature = torch.arange(12.0).reshape(1, 3, 4)
    value = bilinear_interpolate(feature, torch.tensor([-0.5, -1.5, 2.5, 1.0]), torch.tensor([1.0, 1.0, 3.5, 4.5]))
    assert value.tolist() == [[1.0, 0.0, 11.0, 0.0]]  # clamped to the edge, or 0 beyond one cell


@pytest.mark.parametrize("op", [roi_align, roi_pool])
def test_bad_boxes_are_refused_clearly(case, op):
    _, features = case
    with pytest.raises(ValueError, match="x2 < x1"):
        op(features, torch.tensor([[0.0, 10, 0, 5, 8]]), 7)
    with pytest.raises(ValueError, match=r"\(K, 5\)"):
        op(features, torch.tensor([[10.0, 0, 5, 8]]), 7)
    with pytest.raises(ValueError, match=r"boxes\[1\] must be an \(N, 4\)"):
        op(features, [torch.zeros(1, 4), torch.zeros(4)], 7)
    with pytest.raises(ValueError, match="batch indices"):
        op(features, torch.tensor([[2.0, 0, 0, 5, 8]]), 7)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        op(features[0], torch.tensor([[0.0, 0, 0, 5, 8]]), 7)
    with pytest.raises(ValueError, match="output_size"):
        op(features, torch.tensor([[0.0, 0, 0, 5, 8]]), 0)


def edge_boxes(width, height, stride, bins, grid, aligned):
    """Boxes that cross the map's right and bottom edges, whose last column of samples lies exactly
    on x = width (in exact arithmetic; a float32 position lands on either side of it), plus one
    more than a cell past the edge and one under a cell wide, in pixels with batch index 0."""
    offset = 0.5 if aligned else 0.0
    rows = []
    for w_cells in (0.7, 2.3, 5.1):
        bin_w = w_cells / bins
        x1 = width - (bins - 1) * bin_w - (grid - 0.5) * bin_w / grid  # the last sample at x = width
        rows.append([0, (x1 + offset) * stride, 1.25 * stride, (x1 + offset + w_cells) * stride, (height + 0.8) * stride])
    rows += [[0, (width - 2.2) * stride, (height - 3.1) * stride, (width + 1.7) * stride, (height + 2.4) * stride],
             [0, -1.6 * stride, -0.4 * stride, 2.1 * stride, 3.3 * stride],
             [0, 2.3 * stride, 1.1 * stride, 2.9 * stride, 1.5 * stride]]
    return torch.tensor(rows, dtype=torch.float64)


@pytest.mark.parametrize("stride", [1, 3, 7, 16])
@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", [1, 2, 3])
def test_roi_align_in_float64_matches_torchvision_across_the_edge(stride, aligned, sampling_ratio):
    features = torch.randn(1, 2, 7, 9, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    boxes = edge_boxes(9, 7, stride, 4, sampling_ratio, aligned)
    args = ((3, 4), 1 / stride, sampling_ratio, aligned)
    ours = roi_align(features, boxes, *args)
    assert ours.dtype == torch.float64
    torch.testing.assert_close(ours, ops.roi_align(features, boxes, *args), atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("stride", [1, 4, 16])
@pytest.mark.parametrize("sampling_ratio", [1, 2, 3])
def test_aligned_pools_a_ramp_of_pixel_centres_into_the_bins_pixel_centres(stride, sampling_ratio):
    """The convention pinned: with aligned=True, cell i is centred at pixel (i + 1/2) * stride. A
    map whose cells hold their own centres' pixel coordinates, pooled over a box, returns the
    centres of the box's bins in pixels (bilinear reads are exact on a ramp); aligned=False reads
    it half a cell (stride / 2 pixels) further on."""
    height, width = 9, 11
    rows, columns = torch.meshgrid(torch.arange(height, dtype=torch.float64),
                                   torch.arange(width, dtype=torch.float64), indexing="ij")
    ramp = torch.stack([(columns + 0.5) * stride, (rows + 0.5) * stride])[None]  # x and y of each cell's centre
    box = torch.tensor([2.3, 1.7, 8.9, 6.2], dtype=torch.float64) * stride
    bins_y, bins_x = 3, 4
    centres_x = box[0] + (torch.arange(bins_x, dtype=torch.float64) + 0.5) * (box[2] - box[0]) / bins_x
    centres_y = box[1] + (torch.arange(bins_y, dtype=torch.float64) + 0.5) * (box[3] - box[1]) / bins_y
    expected = torch.stack([centres_x.expand(bins_y, -1), centres_y[:, None].expand(-1, bins_x)])
    for op in (roi_align, ops.roi_align):
        pooled = op(ramp, [box[None]], (bins_y, bins_x), 1 / stride, sampling_ratio, True)[0]
        torch.testing.assert_close(pooled, expected, atol=1e-10, rtol=0)
        unaligned = op(ramp, [box[None]], (bins_y, bins_x), 1 / stride, sampling_ratio, False)[0]
        torch.testing.assert_close(unaligned, expected + stride / 2, atol=1e-10, rtol=0)


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", [-1, 1, 2, 3])
def test_roi_align_one_box_is_one_row_of_torchvisions(case, aligned, sampling_ratio):
    generator, features = case
    boxes = random_boxes(generator, 44, 6)
    for roi in boxes:
        expected = ops.roi_align(features, roi[None], (3, 5), 0.25, sampling_ratio, aligned)[0]
        ours = roi_align_one_box(features[int(roi[0])], roi[1:], (3, 5), 0.25, sampling_ratio, aligned)
        torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)
