"""The fully connected CRF of Krähenbühl & Koltun ("Efficient Inference in Fully Connected CRFs with
Gaussian Edge Potentials", NeurIPS 2011), as DeepLab v1 (Chen et al., ICLR 2015, §4) puts it after a
CNN: mean-field inference sharpens a coarse segmentation along the image's colour edges.

The energy of a labelling ``x`` (K&K eq. 1-3) is

    E(x) = Σ_i ψ_u(x_i) + Σ_{i<j} μ(x_i, x_j) k(f_i, f_j)
    k(f_i, f_j) = w_appearance · exp(-|p_i - p_j|² / 2θ_α² - |I_i - I_j|² / 2θ_β²)   (bilateral)
                + w_smoothness · exp(-|p_i - p_j|² / 2θ_γ²)                          (Gaussian)

with unaries ``ψ_u = -log P`` from the network, positions ``p`` in pixels, colours ``I`` in [0, 1]
(the paper's θ_β = 13 on 0..255 is 0.05 here) and the Potts compatibility ``μ(l, l') = [l ≠ l']``.

- :func:`mean_field_update` is one step of K&K's Algorithm 1 with an explicit ``N x N`` kernel:
  exact, general ``μ``, for small images and for learning.
- :func:`dense_crf` runs the same update with the **kernel cut to a local window** of
  ``(2·radius + 1)²`` pixels, one shifted copy of the image at a time, so a 128 x 128 image needs
  no 16384² matrix. It equals the dense update exactly when the window covers the image
  (``radius ≥ max(H, W) - 1``); with a smaller window it drops the pairs farther apart than
  ``radius`` (weight below ``exp(-radius² / 2θ_α²)``). K&K approximate differently (a permutohedral
  lattice, all pairs, approximate filtering).

    q = dense_crf(images, logits.softmax(1))    # images (B, 3, H, W) in [0, 1], probabilities (B, L, H, W)
    labels = q.argmax(1)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from course_lib.validate import check_float_batch, check_image_batch, check_int

__all__ = ["CRFParams", "pairwise_kernel", "mean_field_update", "dense_crf", "message_weight", "check_probabilities"]


@dataclass(frozen=True)
class CRFParams:
    """The kernel's weights and widths (K&K eq. 3): θ_α, θ_γ in pixels, θ_β in colour units of [0, 1].
    The defaults are notebook 05a's, chosen on 48 generated shapes images of 64 x 64 (seed 7, neither
    training nor held-out data) from w_appearance 5 or 10, θ_α 3 or 6, θ_β 0.05 or 0.1."""

    w_appearance: float = 5.0
    theta_alpha: float = 6.0
    theta_beta: float = 0.1
    w_smoothness: float = 3.0
    theta_gamma: float = 1.0

    def __post_init__(self):
        for name in ("w_appearance", "w_smoothness"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be a non-negative weight, got {getattr(self, name)!r}")
        for name in ("theta_alpha", "theta_beta", "theta_gamma"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a positive width, got {getattr(self, name)!r}")


def check_probabilities(probabilities, image: torch.Tensor | None = None, where: str = "dense_crf") -> None:
    """Raise a clear error unless ``probabilities`` is ``(B, L, H, W)``, in [0, 1], summing to 1 over
    ``L``, with the batch and size of ``image`` when one is given."""
    check_float_batch(probabilities, "probabilities", where, "(B, L, H, W)")
    if image is not None and (probabilities.shape[0] != image.shape[0]
                              or probabilities.shape[-2:] != image.shape[-2:]):
        raise ValueError(f"{where}: the image is {tuple(image.shape)} but the probabilities are "
                         f"{tuple(probabilities.shape)}: they need the same batch size and H x W "
                         "(upsample the network's scores to the image first)")
    low, high = (float(v) for v in torch.aminmax(probabilities.detach()))
    total = probabilities.detach().sum(1)
    if low < 0 or high > 1 + 1e-4 or not torch.allclose(total, torch.ones_like(total), atol=1e-3):
        raise ValueError(f"{where}: probabilities must lie in [0, 1] and sum to 1 over the labels (dim 1); "
                         f"got values in [{low:.3g}, {high:.3g}] and sums in [{total.min():.3g}, "
                         f"{total.max():.3g}]. Pass logits.softmax(1), not the logits")


def pairwise_kernel(image: torch.Tensor, params: CRFParams = CRFParams()) -> torch.Tensor:
    """The dense ``(B, N, N)`` kernel ``k(f_i, f_j)`` of K&K eq. 3 for ``N = H·W`` pixels in
    row-major order, with a zero diagonal (a pixel sends no message to itself). ``O(N²)`` memory:
    for small images."""
    check_image_batch(image, "image")
    b, _, h, w = image.shape
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    position = torch.stack([rows, cols], -1).reshape(1, h * w, 2).to(image)
    colour = image.flatten(2).transpose(1, 2)                                 # (B, N, 3)
    distance = torch.cdist(position, position).square()
    appearance = torch.exp(-distance / (2 * params.theta_alpha**2)
                           - torch.cdist(colour, colour).square() / (2 * params.theta_beta**2))
    smoothness = torch.exp(-distance / (2 * params.theta_gamma**2))
    kernel = params.w_appearance * appearance + params.w_smoothness * smoothness
    return kernel * (1 - torch.eye(h * w, dtype=image.dtype))


def mean_field_update(unary: torch.Tensor, q: torch.Tensor, kernel: torch.Tensor,
                      compatibility: torch.Tensor) -> torch.Tensor:
    """One mean-field step, K&K Algorithm 1, for ``N`` pixels and ``L`` labels.

    ``unary``: ``(N, L)`` energies ``ψ_u = -log P``; ``q``: ``(N, L)`` current marginals;
    ``kernel``: ``(N, N)`` weighted kernel with a zero diagonal; ``compatibility``: ``(L, L)`` ``μ``.
    Message passing ``Q̃_i(l) = Σ_j k_ij Q_j(l)``, compatibility transform
    ``Q̂_i(l) = Σ_l' μ(l, l') Q̃_i(l')``, local update ``exp(-ψ_u(l) - Q̂_i(l))``, normalised over l.
    """
    messages = kernel @ q
    return torch.softmax(-unary - messages @ compatibility.T, dim=-1)


def _shifted(x: torch.Tensor, dy: int, dx: int, radius: int) -> torch.Tensor:
    """``x`` (padded by ``radius``) read at offset ``(dy, dx)``: entry (i, j) is x[i + dy, j + dx]."""
    h, w = x.shape[-2] - 2 * radius, x.shape[-1] - 2 * radius
    return x[..., radius + dy:radius + dy + h, radius + dx:radius + dx + w]


def dense_crf(image: torch.Tensor, probabilities: torch.Tensor, iterations: int = 5,
              params: CRFParams = CRFParams(), radius: int | None = None) -> torch.Tensor:
    """Mean-field inference (K&K Algorithm 1) with Potts compatibility and the kernel cut to a
    ``(2·radius + 1)²`` window; returns the ``(B, L, H, W)`` marginals ``Q``.

    ``image``: ``(B, 3, H, W)`` in [0, 1]; ``probabilities``: ``(B, L, H, W)`` from the network
    (softmax over ``L``), initialising ``Q`` and giving the unaries ``-log P``. ``radius`` defaults
    to ``ceil(2·θ_α)`` (pairs farther apart weigh less than ``e^-2`` of a neighbour's). With Potts,
    ``Q̂_i(l) = Σ_j k_ij (1 - Q_j(l))``; the constant ``Σ_j k_ij`` cancels in the normalisation, so
    the update is ``softmax(log P + Σ_j k_ij Q_j)``.
    """
    check_image_batch(image, "image")
    check_probabilities(probabilities, image)
    check_int("iterations", iterations, 0)
    radius = _window_radius(image, params, radius)
    chunk = 8  # images at a time: the window's weights take (2·radius + 1)² x H x W floats per image
    return torch.cat([_mean_field(image[i:i + chunk], probabilities[i:i + chunk], iterations, params, radius)
                      for i in range(0, len(image), chunk)])


def _window_radius(image: torch.Tensor, params: CRFParams, radius: int | None) -> int:
    radius = math.ceil(2 * params.theta_alpha) if radius is None else check_int("radius", radius, 0)
    return min(radius, max(image.shape[-2:]) - 1)


def _window_weights(image: torch.Tensor, params: CRFParams, radius: int):
    """``(weights, offsets)``: ``k(f_i, f_i+offset)`` as a ``(B, 1, H, W)`` map for each offset
    ``(dy, dx)`` of the window but ``(0, 0)``; 0 where the neighbour lies outside the image."""
    pad = [radius] * 4
    image_padded = torch.nn.functional.pad(image, pad)
    inside = torch.nn.functional.pad(torch.ones_like(image[:, :1]), pad)
    offsets = [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1) if dy or dx]
    weights = []
    for dy, dx in offsets:
        distance = dy * dy + dx * dx
        colour = (_shifted(image_padded, dy, dx, radius) - image).square().sum(1, keepdim=True)
        k = (params.w_appearance * torch.exp(-distance / (2 * params.theta_alpha**2)
                                             - colour / (2 * params.theta_beta**2))
             + params.w_smoothness * math.exp(-distance / (2 * params.theta_gamma**2)))
        weights.append(k * _shifted(inside, dy, dx, radius))
    return weights, offsets


def message_weight(image: torch.Tensor, params: CRFParams = CRFParams(), radius: int | None = None) -> torch.Tensor:
    """``Σ_j k(f_i, f_j)`` over :func:`dense_crf`'s window, a ``(B, H, W)`` map: the most the messages can
    add to one label's log-probability in a mean-field step (all neighbours agreeing). The unary
    differences it competes with are ``log P_i(l) - log P_i(l')``, at most ``log(1e8) ≈ 18.4`` after
    the ``1e-8`` floor: where this sum is far larger, the CRF's answer inside a region of one colour
    is its neighbours' majority, whatever the network said there."""
    check_image_batch(image, "image")
    weights, _ = _window_weights(image, params, _window_radius(image, params, radius))
    return sum(weights)[:, 0]


def _mean_field(image, probabilities, iterations: int, params: CRFParams, radius: int) -> torch.Tensor:
    log_p = probabilities.clamp_min(1e-8).log()
    pad = [radius] * 4
    weights, offsets = _window_weights(image, params, radius)   # fixed over the iterations
    q = probabilities
    for _ in range(iterations):
        q_padded = torch.nn.functional.pad(q, pad)
        messages = sum(k * _shifted(q_padded, dy, dx, radius) for k, (dy, dx) in zip(weights, offsets))
        q = torch.softmax(log_p + messages, dim=1)
    return q
