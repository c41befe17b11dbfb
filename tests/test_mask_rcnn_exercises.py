"""Notebook 04's checks reject the plausible wrong answers, and accept the right one."""
import pytest
import torch
from torchvision import ops

from course_lib.checks import CheckFailed, verify
from course_lib.exercises import REGISTRY


def run(exercise_id, candidate, seed=0):
    return verify(REGISTRY[exercise_id], candidate, torch.Generator().manual_seed(seed))


def read(feature, y, x, nearest=False):
    """Bilinear reads with RoIAlign's border rule (or the nearest cell, a wrong answer)."""
    height, width = feature.shape[-2:]
    outside = (y < -1) | (y > height) | (x < -1) | (x > width)
    y, x = y.clamp(0, height - 1), x.clamp(0, width - 1)
    if nearest:
        return feature[:, y.round().long(), x.round().long()] * ~outside
    y0, x0 = y.floor().long(), x.floor().long()
    y1, x1 = (y0 + 1).clamp(max=height - 1), (x0 + 1).clamp(max=width - 1)
    dy, dx = y - y0, x - x0
    value = ((1 - dy) * (1 - dx) * feature[:, y0, x0] + (1 - dy) * dx * feature[:, y0, x1]
             + dy * (1 - dx) * feature[:, y1, x0] + dy * dx * feature[:, y1, x1])
    return value * ~outside


def learner_roi_align(offset=-0.5, sample_at=0.5, nearest=False, reduce="mean", widen=True):
    """A learner's RoIAlign for one box, right by default; each argument is one way to get it wrong."""
    def roi_align_one_box(feature, box, output_size, spatial_scale, sampling_ratio, aligned):
        x1, y1, x2, y2 = (box * spatial_scale + (offset if aligned else 0.0)).tolist()
        w, h = x2 - x1, y2 - y1
        if widen and not aligned:
            w, h = max(w, 1.0), max(h, 1.0)
        n_h, n_w = output_size
        steps = (torch.arange(sampling_ratio) + sample_at) / sampling_ratio
        ys = y1 + (torch.arange(n_h)[:, None] + steps).flatten() * h / n_h
        xs = x1 + (torch.arange(n_w)[:, None] + steps).flatten() * w / n_w
        y, x = torch.meshgrid(ys, xs, indexing="ij")
        samples = read(feature, y, x, nearest).reshape(-1, n_h, sampling_ratio, n_w, sampling_ratio)
        return samples.mean((2, 4)) if reduce == "mean" else samples.amax((2, 4))
    return roi_align_one_box


def test_the_roi_align_cases_are_torchvisions_op_and_cover_the_kinds_of_box():
    for seed in range(5):
        cases = REGISTRY["C.3"].cases(torch.Generator().manual_seed(seed))
        for case in cases:
            expected = ops.roi_align(case["feature"][None], [case["box"][None]], case["output_size"],
                                     case["spatial_scale"], case["sampling_ratio"], case["aligned"])[0]
            torch.testing.assert_close(REGISTRY["C.3"].reference(**case), expected, atol=1e-5, rtol=1e-5)
        assert {c["aligned"] for c in cases} == {True, False} and {c["sampling_ratio"] for c in cases} == {1, 2, 3}
        height, width = cases[0]["feature"].shape[-2:]
        cells = [c["box"] * c["spatial_scale"] for c in cases]
        assert any(b[2] > width for b in cells) and any(b[0] < 0 for b in cells)
        assert any(b[2] - b[0] < 1 for b in cells)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roi_align_check_passes_a_right_answer(seed):
    assert run("C.3", learner_roi_align(), seed).startswith("matches")


@pytest.mark.parametrize("wrong", [
    dict(offset=0.0),       # the aligned offset forgotten
    dict(offset=+0.5),      # the offset with the wrong sign
    dict(sample_at=0.0),    # samples at the bin's sub-cell corners, not their centres
    dict(nearest=True),     # the nearest cell instead of a bilinear read
    dict(reduce="max"),     # max over the samples (RoIPool's habit) instead of their average
    dict(widen=False),      # a box under one cell not widened when aligned=False
])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roi_align_check_rejects_plausible_wrong_answers(wrong, seed):
    with pytest.raises(CheckFailed):
        run("C.3", learner_roi_align(**wrong), seed)


def learner_fpn_level(epsilon=1e-6, plus_one=False):
    def fpn_level(boxes, k_min=2, k_max=5, canonical_scale=224, canonical_level=4):
        w, h = boxes[:, 2] - boxes[:, 0] + plus_one, boxes[:, 3] - boxes[:, 1] + plus_one
        level = torch.floor(canonical_level + torch.log2((w * h).sqrt() / canonical_scale) + epsilon)
        return level.clamp(k_min, k_max).to(torch.int64)
    return fpn_level


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fpn_level_check_passes_the_formula_and_rejects_no_epsilon_and_the_old_width(seed):
    assert run("C.2", learner_fpn_level(), seed).startswith("matches")
    with pytest.raises(CheckFailed):
        run("C.2", learner_fpn_level(epsilon=0.0), seed)
    with pytest.raises(CheckFailed):
        run("C.2", learner_fpn_level(plus_one=True), seed)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mask_loss_check_rejects_every_class_and_a_softmax(seed):
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    right = lambda mask_logits, labels, targets: bce(mask_logits[torch.arange(len(labels)), labels], targets)  # noqa: E731
    every_class = lambda mask_logits, labels, targets: bce(mask_logits, targets[:, None].expand_as(mask_logits))  # noqa: E731
    softmax = lambda mask_logits, labels, targets: torch.nn.functional.nll_loss(  # noqa: E731
        -(mask_logits.log_softmax(1)[torch.arange(len(labels)), labels] * targets).mean()[None, None], torch.zeros(1).long())
    assert run("C.4", right, seed).startswith("matches")
    for wrong in (every_class, softmax):
        with pytest.raises(CheckFailed):
            run("C.4", wrong, seed)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bilinear_check_rejects_the_nearest_cell_and_a_missing_border_rule(seed):
    def nearest(feature, y, x):
        return read(feature, y, x, nearest=True)

    def no_border_rule(feature, y, x):
        height, width = feature.shape[-2:]
        return read(feature, y, x) * 0 + read(feature, y.clamp(0, height - 1), x.clamp(0, width - 1))

    assert run("C.1", read, seed).startswith("matches")
    for wrong in (nearest, no_border_rule):
        with pytest.raises(CheckFailed):
            run("C.1", wrong, seed)


def test_roi_align_check_rejects_calling_torchvisions_roi_align():
    def roi_align_one_box(feature, box, output_size, spatial_scale, sampling_ratio, aligned):
        rois = torch.cat([torch.zeros(1), box])[None].to(feature.dtype)
        return ops.roi_align(feature[None], rois, output_size, spatial_scale, sampling_ratio, aligned)[0]
    with pytest.raises(CheckFailed, match="write RoIAlign yourself"):
        run("C.3", roi_align_one_box)
