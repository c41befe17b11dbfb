"""course_lib.models.self_training: the confidence mask of the pseudo-labels against a loop over pixels,
its bad input, and one tiny self-training round."""
import pytest
import torch

from course_lib.models.pspnet import PSPNet
from course_lib.models.self_training import SemiSupervisedRecipe, pseudo_labels, self_training


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


def test_self_training_round_masks_what_the_teacher_doubts():
    recipe = SemiSupervisedRecipe(threshold=0.99, steps=1, batch_size=4)
    images, masks = torch.rand(8, 3, 32, 32), torch.randint(0, 3, (8, 32, 32))
    torch.manual_seed(0)
    run = self_training(lambda: PSPNet(3), images, masks, labelled=4, recipe=recipe)
    assert run["pseudo"].shape == (4, 32, 32)
    assert (run["pseudo"] == 255).any()          # an untrained teacher is unsure somewhere


def test_self_training_recipe_bad_init():
    with pytest.raises(ValueError, match="init must be"):
        SemiSupervisedRecipe(init="imagenet")
