"""Losses of "Image Style Transfer Using Convolutional Neural Networks" (Gatys, Ecker & Bethge, CVPR 2016).

    phi = vgg_features(STYLE_LAYERS + [CONTENT_LAYER])
    A = {name: gram_matrix(f) for name, f in phi(style_image).items() if name in STYLE_LAYERS}
    P = phi(content_image)[CONTENT_LAYER]
    F = phi(x)
    loss = alpha * content_loss(F[CONTENT_LAYER], P) + beta * style_loss(F, A) + gamma * tv_loss(x)

Normalisation (``normalize=True``, the default). The paper's sums (Eq. 1, 4, 5) grow with the
image size and differ by orders of magnitude between layers and images, so the α/β that works for
one pair of images says little about another. Dividing each term by the squared norm of its
target makes every term "relative error squared": 1 means "as far as an all-zero image", and the
ratio α/β means the same thing at every layer and on every image. ``normalize=False`` gives the
paper's formulas (with the Gram matrix below they become ``1/4 ||G - A||^2`` for Eq. 4).
"""
from __future__ import annotations

from typing import Mapping

import torch

from course_lib.validate import check_float_batch

__all__ = ["gram_matrix", "content_loss", "style_loss", "tv_loss", "image_gradients", "STYLE_LAYERS", "CONTENT_LAYER"]

STYLE_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]  # Gatys et al. §3, Fig. 2
CONTENT_LAYER = "relu4_2"


def _check_features(features, what: str, name: str = "features") -> None:
    check_float_batch(features, name, what, "(B, C, H, W)")


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix of feature maps, Gatys et al. Eq. 3, divided by the number of entries:

        G_ij = sum_k F_ik F_jk / (C H W)   with F the (C, H*W) matrix of one image's feature maps.

    ``features`` (B, C, H, W) -> (B, C, C). Dividing by C*H*W (= N_l M_l in the paper) makes the
    Gram of the same texture at two image sizes comparable.
    """
    _check_features(features, "gram_matrix")
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def content_loss(features: torch.Tensor, target: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """Content loss, Gatys et al. Eq. 1: how far the features F of x are from those P of the content.

    ``normalize=True``:  ||F - P||^2 / ||P||^2  (per image, averaged over the batch).
    ``normalize=False``: 1/2 sum (F - P)^2  (the paper's Eq. 1, summed over the batch).
    ``target`` may have batch size 1 (broadcast over ``features``).
    """
    _check_features(features, "content_loss")
    _check_features(target, "content_loss", "target")
    if target.shape[1:] != features.shape[1:] or target.shape[0] not in (1, features.shape[0]):
        raise ValueError(f"content_loss: features {tuple(features.shape)} and target "
                         f"{tuple(target.shape)} must have the same (C, H, W) and batch size")
    squared_error = (features - target).pow(2).flatten(1).sum(1)
    if not normalize:
        return 0.5 * squared_error.sum()
    return (squared_error / target.pow(2).flatten(1).sum(1).clamp_min(1e-12)).mean()


def style_loss(features: Mapping[str, torch.Tensor], target_grams: Mapping[str, torch.Tensor],
               layer_weights: Mapping[str, float] | None = None, normalize: bool = True) -> torch.Tensor:
    """Style loss, Gatys et al. Eq. 5: L_style = sum_l w_l E_l over the layers of ``target_grams``.

    ``features``: dict layer -> (B, C, H, W) activations of the image being made;
    ``target_grams``: dict layer -> (1 or B, C, C) Gram matrices A_l of the style image;
    ``layer_weights``: w_l, default 1 / (number of layers), as in the paper.
    E_l (Eq. 4) with G = gram_matrix(F_l):
    ``normalize=True``: ||G - A||^2 / ||A||^2 per image, averaged over the batch;
    ``normalize=False``: 1/4 sum (G - A)^2 (exactly Eq. 4 since our Gram is divided by N_l M_l).
    """
    if not isinstance(features, Mapping) or not isinstance(target_grams, Mapping):
        raise TypeError("style_loss: features and target_grams must be dicts layer name -> tensor "
                        "(what vgg_features returns)")
    if not target_grams:
        raise ValueError("style_loss: target_grams is empty; give at least one layer")
    missing = [name for name in target_grams if name not in features]
    if missing:
        raise ValueError(f"style_loss: features lack layers {missing}; they have {list(features)}")
    weights = {name: 1.0 / len(target_grams) for name in target_grams}
    if layer_weights is not None:
        unknown = [name for name in layer_weights if name not in target_grams]
        if unknown:
            raise ValueError(f"style_loss: layer_weights name layers {unknown} that are not in "
                             f"target_grams {list(target_grams)}")
        weights = {name: float(layer_weights.get(name, 0.0)) for name in target_grams}
    total = 0.0
    for name, A in target_grams.items():
        G = gram_matrix(features[name])
        if A.ndim != 3 or A.shape[1:] != G.shape[1:] or A.shape[0] not in (1, G.shape[0]):
            raise ValueError(f"style_loss: target Gram of {name} has shape {tuple(A.shape)}, "
                             f"expected (1 or {G.shape[0]}, {G.shape[1]}, {G.shape[2]})")
        squared_error = (G - A).pow(2).flatten(1).sum(1)
        if normalize:
            E = (squared_error / A.pow(2).flatten(1).sum(1).clamp_min(1e-12)).mean()
        else:
            E = 0.25 * squared_error.sum()
        total = total + weights[name] * E
    return total


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """Total variation, the smoothness prior of Mahendran & Vedaldi (2015, Eq. 5, beta = 2), as a mean:

        mean (x[i+1, j] - x[i, j])^2  +  mean (x[i, j+1] - x[i, j])^2

    over batch, channels and positions. It punishes pixel-to-pixel noise, the high-frequency
    artefacts that optimising an image through a CNN leaves; Johnson et al. (2016, §3) add it too.
    """
    _check_features(x, "tv_loss", "x")
    if min(x.shape[-2:]) < 2:
        raise ValueError(f"tv_loss: images must be at least 2x2, got {tuple(x.shape[-2:])}")
    dy, dx = image_gradients(x)
    return dy.pow(2).mean() + dx.pow(2).mean()


def image_gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences ``(d/dy, d/dx)``: shapes ``(N, C, H-1, W)`` and ``(N, C, H, W-1)``."""
    return x[..., 1:, :] - x[..., :-1, :], x[..., :, 1:] - x[..., :, :-1]
