"""Gatys et al. (CVPR 2016) end to end: optimise the pixels, and judge the result by statistics the
loss network does not define.

    image, losses = synthesize(phi, content, style, beta=10, init="content")
    texture_progress(image, content, style)   # {"gabor": 0.7, "colour": 0.8}: 1 = the style's, 0 = the photo's
    stylisation_scores(net, style)            # the same, and SSIM, for a feed-forward network on held-out photos

``synthesize`` is §2 / Fig. 2 of the paper: targets computed once, the image is the only parameter,
L-BFGS on α·L_content + β·L_style (+ γ·L_TV, Mahendran & Vedaldi 2015) over z, with the
image = sigmoid(z) so that it stays in (0, 1) without a clamp. ``texture_progress`` measures
how far a result has moved from the content photo towards the style image in two *independent*
texture statistics (not the loss network's Gram matrices, which the optimiser drives down by design):
the energies of a Gabor filter bank (4 orientations x 4 frequencies, grey) and a joint RGB colour
histogram (4 bins per channel).
"""
from __future__ import annotations

import numpy as np
import torch
from skimage.filters import gabor

import course_lib.losses.style as style_losses
from course_lib.data import HELD_OUT_IMAGES, sample_image
from course_lib.metrics import ssim_y
from course_lib.models.vgg import VGGFeatures
from course_lib.validate import check_image_batch, check_int, check_module

__all__ = ["synthesize", "gabor_energies", "colour_histogram", "texture_progress", "stylisation_scores", "INITS"]

INITS = ("noise", "content", "grey")
GABOR_FREQUENCIES = (0.05, 0.1, 0.2, 0.4)  # cycles per pixel
GABOR_ANGLES = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)
SIGMOID_MARGIN = 0.01  # a start pixel at 0 or 1 becomes 0.01 or 0.99 (z = -4.6 or 4.6)
ADAM_LR = 0.2          # in units of z (about 0.05 in pixels at mid-grey): best of 0.05, 0.1, 0.2 measured


def synthesize(net, content=None, style=None, *, alpha=1.0, beta=1.0, gamma=0.0,
               content_layer=style_losses.CONTENT_LAYER, style_layers=style_losses.STYLE_LAYERS,
               layer_weights=None, init="noise", optimizer="lbfgs", steps=100, lr=ADAM_LR, seed=0):
    """An image ``(3, H, W)`` that ``net`` sees with the content of ``content`` and the style of
    ``style`` (either may be ``None``), and the loss at every evaluation.

    ``init``: ``"noise"`` (white noise, the paper), ``"content"`` (the content image) or ``"grey"``
    (0.5 plus 2 % noise: with a TV term, the start that lets deep-layer reconstructions converge to an
    image rather than to the high-frequency noise that their features cannot see). ``optimizer``:
    ``"lbfgs"`` (history 20, one iteration per step) or ``"adam"`` (learning rate ``lr``).

    The optimiser changes ``z`` with image = sigmoid(z), not the pixels: every image it tries is in
    (0, 1) and the loss is smooth in ``z``, so L-BFGS's curvature model stays right. (Clamping the
    pixels instead makes the loss flat outside [0, 1]; with a straight-through gradient L-BFGS then
    took ever larger steps and ended in coloured noise, and an in-place clamp changes the image behind
    its back.) Starts are clamped to ``[SIGMOID_MARGIN, 1 - SIGMOID_MARGIN]`` so that z is finite.
    """
    if content is None and style is None:
        raise ValueError("synthesize: give a content image, a style image or both")
    if init not in INITS or (init == "content" and content is None):
        raise ValueError(f"synthesize: init must be one of {INITS} ('content' needs a content image), got {init!r}")
    if optimizer not in ("lbfgs", "adam"):
        raise ValueError(f"synthesize: optimizer must be 'lbfgs' or 'adam', got {optimizer!r}")
    reference = content if content is not None else style
    check_image_batch(reference[None], "content" if content is not None else "style")
    if isinstance(net, VGGFeatures):  # run the network only as deep as the loss reads
        net = net.upto(([content_layer] if content is not None else []) + (list(style_layers) if style is not None else []))
    with torch.no_grad():
        P = net(content[None])[content_layer] if content is not None else None
        A = ({name: style_losses.gram_matrix(f) for name, f in net(style[None]).items() if name in style_layers}
             if style is not None else None)
    generator = torch.Generator().manual_seed(seed)
    if init == "noise":
        x = torch.rand(reference[None].shape, generator=generator)
    elif init == "grey":
        x = 0.5 + 0.02 * torch.randn(reference[None].shape, generator=generator)
    else:
        x = content[None].cpu()
    z = torch.logit(x.clamp(SIGMOID_MARGIN, 1 - SIGMOID_MARGIN)).contiguous().to(reference.device)
    z.requires_grad_(True)
    # No stopping tolerances: the normalised losses are small, and PyTorch's defaults (gradient 1e-7,
    # change 1e-9) can end a step before it moves. L-BFGS also skips curvature pairs with y.s < 1e-10,
    # so a loss whose gradient is tiny everywhere (beta/alpha = 0.1 from the photo) would barely move:
    # the optimiser sees the loss divided by its first value (same minimum, gradients of order one).
    opt = (torch.optim.LBFGS([z], max_iter=1, history_size=20, tolerance_grad=0, tolerance_change=0)
           if optimizer == "lbfgs" else torch.optim.Adam([z], lr=lr))
    losses = []

    def closure():
        opt.zero_grad()
        image = torch.sigmoid(z)
        F = net(image)
        loss = torch.zeros((), device=z.device)
        if P is not None:
            loss = loss + alpha * style_losses.content_loss(F[content_layer], P)
        if A is not None:
            loss = loss + beta * style_losses.style_loss(F, A, layer_weights)
        if gamma:
            loss = loss + gamma * style_losses.tv_loss(image)
        losses.append(loss.item())
        scaled = loss / max(losses[0], 1e-12)
        scaled.backward()
        return scaled

    for _ in range(steps):  # one L-BFGS iteration per step; its history carries over
        opt.step(closure)
    return torch.sigmoid(z.detach())[0], losses


def _grey(image: torch.Tensor) -> np.ndarray:
    check_image_batch(image[None], "image")
    return (image.detach().cpu() * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0).numpy()


def gabor_energies(image: torch.Tensor) -> np.ndarray:
    """log mean magnitude of the grey image's response to each filter of a Gabor bank
    (``GABOR_FREQUENCIES`` x ``GABOR_ANGLES``, scikit-image's ``gabor``): 16 numbers."""
    grey = _grey(image)
    energies = []
    for frequency in GABOR_FREQUENCIES:
        for theta in GABOR_ANGLES:
            real, imaginary = gabor(grey, frequency=frequency, theta=theta, mode="reflect")
            energies.append(np.log(np.hypot(real, imaginary).mean() + 1e-6))
    return np.array(energies)


def colour_histogram(image: torch.Tensor, bins: int = 4) -> np.ndarray:
    """Joint RGB histogram with ``bins`` per channel, as fractions of the pixels (sums to 1)."""
    _grey(image)  # the same checks
    quantised = (image.detach().cpu().clamp(0, 1) * bins).long().clamp(max=bins - 1)
    index = (quantised[0] * bins + quantised[1]) * bins + quantised[2]
    return np.bincount(index.flatten().numpy(), minlength=bins ** 3) / index.numel()


def texture_progress(result: torch.Tensor, content: torch.Tensor, style: torch.Tensor) -> dict[str, float]:
    """How far ``result`` moved from ``content`` towards ``style``: ``1 - d(result, style) / d(content, style)``
    per statistic (0: as far as the photo, 1: the style's; negative: further away than the photo).
    Distances: Euclidean for the log Gabor energies, L1 (twice the total variation) for the histograms."""
    out = {}
    for name, statistic, ord_ in (("gabor", gabor_energies, 2), ("colour", colour_histogram, 1)):
        r, c, s = statistic(result), statistic(content), statistic(style)
        out[name] = float(1 - np.linalg.norm(r - s, ord_) / max(np.linalg.norm(c - s, ord_), 1e-12))
    return out


def stylisation_scores(net: torch.nn.Module, style: torch.Tensor, photos=HELD_OUT_IMAGES,
                       size: int = 128) -> dict[str, dict[str, float]]:
    """How a feed-forward style network (notebook 07) does on photos it never trained on: for each name in
    ``photos`` (``sample_image(name, size=size)``), ``texture_progress`` of ``net(photo)`` towards ``style``
    (``(3, size, size)``, the style image at the same size: the statistics depend on the scale) and
    ``"ssim"``, ``ssim_y`` of the result against the photo (is the content kept?)."""
    check_module(net)
    size = check_int("size", size, minimum=16)
    check_image_batch(style[None], "style")
    if tuple(style.shape) != (3, size, size):
        raise ValueError(f"stylisation_scores: style must be (3, {size}, {size}) like the photos, got {tuple(style.shape)}")
    scores = {}
    for name in photos:
        photo = sample_image(name, size=size)
        with torch.no_grad():
            result = net(photo[None]).clamp(0, 1)
        scores[name] = dict(texture_progress(result[0], photo, style), ssim=float(ssim_y(result, photo[None])))
    return scores
