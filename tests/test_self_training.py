"""course_lib.models.self_training: the confidence mask of the pseudo-labels against a loop over pixels,
its bad input, and the mean teacher's average against its formula."""
import pytest
import torch

from course_lib.models.pspnet import PSPNet
from course_lib.models.self_training import pseudo_labels
from course_lib.recipes.backbones_pyramid import SemiSupervisedRecipe, ema_teacher_self_training


def test_pseudo_labels_against_a_loop():
    torch.manual_seed(0)
    p = (2 * torch.randn(2, 4, 3, 5)).softmax(1)
    got = pseudo_labels(p, 0.6)
    for n in range(2):
        for i in range(3):
            for j in range(5):
                best = max(range(4), key=lambda c: p[n, c, i, j])
                assert got[n, i, j] == (best if p[n, best, i, j] >= 0.6 else 255)
    assert torch.equal(pseudo_labels(p, 0.0), p.argmax(1))
    assert (pseudo_labels(p, 1.0) == 255).float().mean() > 0.9
    assert set(pseudo_labels(p, 0.6, ignore_index=-1).unique().tolist()) <= {-1, 0, 1, 2, 3}


def test_pseudo_labels_bad_input():
    scores = torch.randn(1, 3, 4, 4)
    with pytest.raises(ValueError, match="softmax"):
        pseudo_labels(scores, 0.9)
    with pytest.raises(ValueError, match="threshold"):
        pseudo_labels(scores.softmax(1), 1.5)


def test_ema_teacher_is_the_moving_average_of_the_student():
    """One step with ema 0.25: teacher = 0.25 * start + 0.75 * student, and BatchNorm statistics the student's."""
    recipe = SemiSupervisedRecipe(steps=1, batch_size=2, ema=0.25, warmup=0.5)
    torch.manual_seed(0)
    start = PSPNet(3)
    run = ema_teacher_self_training(start, torch.rand(6, 3, 32, 32), torch.randint(0, 3, (6, 32, 32)), labelled=3, recipe=recipe)
    assert not all(torch.equal(s, b) for s, b in zip(run["student"].parameters(), start.parameters()))
    for before, teacher, student in zip(start.parameters(), run["teacher"].parameters(), run["student"].parameters()):
        assert torch.allclose(teacher, 0.25 * before + 0.75 * student, atol=1e-6)
    for teacher, student in zip(run["teacher"].buffers(), run["student"].buffers()):
        assert torch.equal(teacher, student)
    assert len(run["step_loss"]) == 1 and not run["teacher"].training


def test_semi_supervised_recipe_bad_values():
    with pytest.raises(ValueError, match="ema must be"):
        SemiSupervisedRecipe(ema=1.0)
    with pytest.raises(ValueError, match="noise"):
        SemiSupervisedRecipe(noise=-0.1)


def test_chroma_clusters_group_by_colour_not_by_shading():
    from course_lib.metrics import matched_mean_iou
    from course_lib.models.self_training import chroma_clusters

    shade = torch.linspace(0.2, 0.8, 32)[None, None, :, None].expand(2, 3, 32, 32).clone()  # a grey ramp
    regions = torch.zeros(2, 32, 32, dtype=torch.long)
    regions[:, 4:12, 4:12], regions[:, 20:28, 18:30] = 1, 2
    images = shade.clone()
    images[:, :, 4:12, 4:12] = torch.tensor([0.2, 0.7, 0.2])[:, None, None]   # green square
    images[:, :, 20:28, 18:30] = torch.tensor([0.8, 0.1, 0.1])[:, None, None]  # red bar
    images = images + 0.02 * torch.randn(images.shape, generator=torch.Generator().manual_seed(0))  # colour noise
    clusters = chroma_clusters(images, 3)
    assert clusters.shape == (2, 32, 32) and clusters.dtype == torch.long
    assert matched_mean_iou(clusters, regions, 3) == 1.0
    with pytest.raises(ValueError, match=r"RGB images \(N, 3, H, W\)"):
        chroma_clusters(images[:, :1], 3)
