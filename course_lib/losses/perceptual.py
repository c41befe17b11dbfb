"""Losses that compare what images look like, not their pixels (Johnson et al. 2016, §3.2).

    phi = vgg_features(["relu2_2"])                                  # a frozen loss network
    loss = perceptual_loss(phi(output), phi(target))                 # Eq. 2, summed over layers
    loss = PerceptualLoss(["relu2_2"])(output, target)               # the same, as a module
    loss = gradient_loss(output, target)                             # compare edges, not values
    loss = perceptual_training_step(net, phi, optimizer, inputs, targets)  # one SGD step through phi
    loss = style_transfer_objective(y_hat, phi(y_hat), phi(y)["relu2_2"], style_grams)  # Eq. 5
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.losses.style import content_loss, image_gradients, style_loss, tv_loss
from course_lib.validate import check_float_batch, check_image_batch

__all__ = ["perceptual_loss", "PerceptualLoss", "perceptual_training_step", "gradient_loss", "image_gradients",
           "style_transfer_objective"]


def _check_pair(output, target, what: str) -> None:
    check_float_batch(output, "output", what)
    check_float_batch(target, "target", what)
    if output.shape != target.shape:
        raise ValueError(f"{what}: output and target must have the same shape, "
                         f"got {tuple(output.shape)} and {tuple(target.shape)}")


def perceptual_loss(features_output, features_target,
                    layer_weights: Mapping[str, float] | None = None) -> torch.Tensor:
    """Feature reconstruction loss, Johnson et al. Eq. 2, averaged over the batch:

        l_feat^{phi,j}(y_hat, y) = || phi_j(y_hat) - phi_j(y) ||_2^2 / (C_j H_j W_j)

    ``features_*`` are either two activation tensors ``(N, C_j, H_j, W_j)`` of one layer ``j``, or
    two dicts layer name -> activation (what ``vgg_features`` returns); then the loss is the sum over
    the target's layers, each multiplied by ``layer_weights[name]`` (default 1).
    """
    if isinstance(features_output, Mapping) or isinstance(features_target, Mapping):
        if not (isinstance(features_output, Mapping) and isinstance(features_target, Mapping)):
            raise TypeError("perceptual_loss: give two tensors or two dicts of features, not one of each")
        missing = [name for name in features_target if name not in features_output]
        if missing:
            raise ValueError(f"perceptual_loss: output features lack layers {missing}; "
                             f"they have {list(features_output)}")
        weights = dict(layer_weights or {})
        unknown = [name for name in weights if name not in features_target]
        if unknown:
            raise ValueError(f"perceptual_loss: layer_weights name layers {unknown} that are not among "
                             f"the features {list(features_target)}")
        return sum(weights.get(name, 1.0) * perceptual_loss(features_output[name], phi)
                   for name, phi in features_target.items())
    _check_pair(features_output, features_target, "perceptual_loss")
    return F.mse_loss(features_output, features_target)  # mean over N, C_j, H_j, W_j


class PerceptualLoss(nn.Module):
    """``PerceptualLoss(["relu2_2"])(output, target)``: Eq. 2 through a frozen loss network.

    The loss network is ``vgg_features(layers, source)`` (ImageNet VGG when its weights are in the
    torch hub cache, else the course's offline stand-in); pass ``loss_net`` to use another one (any
    module returning a dict layer name -> activation). Johnson et al. use relu2_2 for both style
    transfer's content term and super-resolution. Images are ``(N, 3, H, W)`` in [0, 1].
    """

    def __init__(self, layers: Sequence[str] = ("relu2_2",), loss_net: nn.Module | None = None,
                 source: str = "auto", layer_weights: Mapping[str, float] | None = None):
        super().__init__()
        if isinstance(layers, str):
            layers = [layers]
        self.layers = list(layers)
        if loss_net is None:
            from course_lib.models.vgg import vgg_features

            loss_net = vgg_features(self.layers, source=source)
        self.loss_net = loss_net.eval().requires_grad_(False)
        self.layer_weights = layer_weights

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_image_batch(output, "output")
        check_image_batch(target, "target")
        _check_pair(output, target, "PerceptualLoss")
        phi_output = self.loss_net(output)
        with torch.no_grad():
            phi_target = self.loss_net(target)
        phi_target = {name: phi_target[name] for name in self.layers}
        return perceptual_loss(phi_output, phi_target, self.layer_weights)


def perceptual_training_step(net: nn.Module, loss_network, optimizer: torch.optim.Optimizer,
                             inputs: torch.Tensor, targets: torch.Tensor, layer: str = "relu2_2") -> float:
    """One training step of the image transformation network through a frozen loss network
    (Johnson et al. 2016, §3: "we train the image transformation network using stochastic gradient
    descent to minimize a weighted combination of loss functions"), here Eq. 2 at ``layer`` alone:

        y_hat = net(inputs);  loss = l_feat(phi(y_hat)[layer], phi(targets)[layer])

    The targets' features are constants (computed without a graph); the gradient flows through the
    loss network into ``net`` only (the loss network's weights are frozen, ``optimizer`` holds
    ``net``'s). Clears the old gradients, back-propagates, steps; returns the loss as a float.
    """
    output = net(inputs)
    with torch.no_grad():
        phi_target = loss_network(targets)[layer]
    loss = perceptual_loss(loss_network(output)[layer], phi_target)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def gradient_loss(output: torch.Tensor, target: torch.Tensor, p: int = 1) -> torch.Tensor:
    """Difference of image gradients (as in Mathieu et al. 2016's gradient difference loss):

        mean | d/dy y_hat - d/dy y |^p  +  mean | d/dx y_hat - d/dx y |^p

    It asks for the target's edges and texture but is blind to a constant offset: alone it does not
    fix colour or brightness, so it is usually added to a pixel loss. ``p`` is 1 or 2.
    """
    _check_pair(output, target, "gradient_loss")
    if p not in (1, 2):
        raise ValueError(f"gradient_loss: p must be 1 or 2, got {p!r}")
    if min(output.shape[-2:]) < 2:
        raise ValueError(f"gradient_loss: images must be at least 2x2, got {tuple(output.shape[-2:])}")
    dy_output, dx_output = image_gradients(output)
    dy_target, dx_target = image_gradients(target)
    return (dy_output - dy_target).abs().pow(p).mean() + (dx_output - dx_target).abs().pow(p).mean()


def style_transfer_objective(output: torch.Tensor, features_output: Mapping[str, torch.Tensor],
                             content_features: torch.Tensor, style_grams: Mapping[str, torch.Tensor],
                             content_layer: str = "relu2_2", content_weight: float = 1.0,
                             style_weight: float = 5.0, tv_weight: float = 10.0) -> torch.Tensor:
    """The TV-regularised objective that trains the transform network (Johnson et al. Eq. 5, §4.1):

        content_weight * l_feat(relu2_2) + style_weight * l_style + tv_weight * l_TV(y_hat)

    ``output``: the transform net's images y_hat ``(N, 3, H, W)``; ``features_output``: the loss
    network's dict for them; ``content_features``: the content images' activation at
    ``content_layer``; ``style_grams``: the style image's Gram matrices by layer. The terms are
    ``content_loss``, ``style_loss`` and ``tv_loss`` of ``course_lib.losses.style``, normalised by
    their targets so that the weights mean the same on every image (Eq. 2 and the paper's style
    loss up to a per-layer constant).
    """
    if not isinstance(features_output, Mapping) or content_layer not in features_output:
        raise ValueError(f"style_transfer_objective: features_output must be a dict holding the "
                         f"content layer {content_layer!r}")
    return (content_weight * content_loss(features_output[content_layer], content_features)
            + style_weight * style_loss(features_output, style_grams)
            + tv_weight * tv_loss(output))
