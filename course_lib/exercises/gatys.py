"""Exercises of notebook 06 (Gatys et al. 2016, slide E1): content loss, Gram matrix, style loss, TV."""
import torch

from course_lib.checks import Exercise, uniform_int
from course_lib.losses.style import content_loss, gram_matrix, style_loss, tv_loss


def _shape(g, batch=(1, 3), channels=(1, 16), side=(1, 9)):
    return (uniform_int(g, *batch), uniform_int(g, *channels), uniform_int(g, *side), uniform_int(g, *side))


def _content_cases(g):
    shapes = [(1, 1, 2, 2), _shape(g, batch=(1, 1)), _shape(g, batch=(2, 3)), _shape(g, channels=(2, 6))]
    return [dict(features=torch.rand(s, generator=g), target=torch.rand(s, generator=g)) for s in shapes]


def _gram_cases(g):
    shapes = [(1, 1, 1, 1), _shape(g, batch=(1, 1)), _shape(g, batch=(2, 3)), _shape(g, side=(2, 12)),
              (1, 64, uniform_int(g, 6, 9), uniform_int(g, 6, 9))]
    return [dict(features=torch.rand(s, generator=g) - 0.3) for s in shapes]   # negative values too


def _style_cases(g):
    cases = []
    for batch, layer_weights in [(1, None), (1, {"a": 0.2, "b": 3.0}), (2, None), (2, {"b": 1.0})]:
        if layer_weights:  # weights drawn around the curated ones
            layer_weights = {k: w * (0.5 + float(torch.rand((), generator=g))) for k, w in layer_weights.items()}
        features = {"a": torch.rand(batch, 4, 6, 6, generator=g), "b": torch.rand(batch, 8, 3, 3, generator=g)}
        target_grams = {"a": gram_matrix(torch.rand(1, 4, 9, 9, generator=g)),
                        "b": gram_matrix(torch.rand(1, 8, 5, 5, generator=g))}
        cases.append(dict(features=features, target_grams=target_grams, layer_weights=layer_weights))
    return cases


def _tv_cases(g):
    shapes = [(1, 1, 2, 2), _shape(g, batch=(1, 1), channels=(3, 3), side=(2, 9)), _shape(g, batch=(2, 2), channels=(3, 3), side=(2, 9)),
              _shape(g, batch=(3, 4), channels=(1, 1), side=(2, 9))]
    return [dict(x=torch.rand(s, generator=g)) for s in shapes] + [
        dict(x=torch.full((1, 3, 4, 4), float(torch.rand((), generator=g))))]   # constant image: 0


EXERCISES = [
    Exercise("E1.1", "content_loss", content_loss, _content_cases),
    Exercise("E1.2", "gram_matrix", gram_matrix, _gram_cases),
    Exercise("E1.3", "style_loss", style_loss, _style_cases),
    Exercise("E1.4", "tv_loss", tv_loss, _tv_cases),
]
