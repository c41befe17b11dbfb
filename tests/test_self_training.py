"""course_lib.models.self_training: the confidence mask of the pseudo-labels against a loop over pixels,
its bad input, and the mean teacher's average against its formula."""
import pytest
import torch

from course_lib.models.pspnet import PSPNet
from course_lib.models.self_training import SemiSupervisedRecipe, mean_teacher, pseudo_labels


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


def test_mean_teacher_is_the_moving_average_of_the_student():
    """One step with ema 0.25: teacher = 0.25 * start + 0.75 * student, and BatchNorm statistics the student's."""
    recipe = SemiSupervisedRecipe(steps=1, batch_size=2, ema=0.25, warmup=0.5)
    torch.manual_seed(0)
    start = PSPNet(3)
    run = mean_teacher(start, torch.rand(6, 3, 32, 32), torch.randint(0, 3, (6, 32, 32)), labelled=3, recipe=recipe)
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
