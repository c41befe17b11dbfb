"""Evaluation metrics: segmentation (confusion matrix, pixel accuracy, IoU, boundary F1), image
quality (PSNR, SSIM), detection (average precision) and COCO's box and mask AP for instance
segmentation (through pycocotools).

Label maps are integer tensors of shape ``(H, W)`` or ``(B, H, W)``. Wherever a *prediction* is
expected you may also pass raw network outputs: logits or scores with one more dimension than the
target, the class dimension third from the end (``(B, C, H, W)`` for a ``(B, H, W)`` target,
``(C, H, W)`` for ``(H, W)``); they are turned into labels with ``argmax`` over that dimension.

Images are float tensors of shape ``(C, H, W)`` or ``(B, C, H, W)`` (``(H, W)`` is one grey image),
with values spanning at most ``data_range`` (``1.0`` for images in [0, 1], ``255`` for 0–255).

    mean_iou(model(x), y, num_classes=4)       # logits (B, 4, H, W) against labels (B, H, W)
    psnr(restored, clean).item()               # dB, mean over the batch
    psnr_y(upscaled, original, border=3)       # super resolution's convention: Y of BT.601, border cropped
    high_frequency_ratio(upscaled, original, border=3)  # fine detail relative to the truth's (1 = as much)
"""
from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import box_iou

from course_lib.validate import check_int

__all__ = ["confusion_matrix", "pixel_accuracy", "iou_per_class", "mean_iou", "matched_mean_iou", "boundary_map",
           "boundary_precision_recall", "boundary_f1", "psnr", "ssim", "gaussian_window",
           "rgb_to_ycbcr", "ycbcr_to_rgb", "rgb_to_y", "psnr_y", "ssim_y", "high_frequency_power",
           "high_frequency_ratio", "subpixel_pattern_share", "change_correlation",
           "average_precision", "mean_average_precision", "coco_average_precision",
           "paired_bootstrap"]


# --- label maps ------------------------------------------------------------------------------------

def _as_tensor(x, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    try:
        return torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"{name} must be a torch tensor, got {type(x).__name__}") from None


def _labels(pred, target) -> tuple[torch.Tensor, torch.Tensor]:
    """Check and align a prediction (labels or logits) with an integer target label map."""
    pred, target = _as_tensor(pred, "pred"), _as_tensor(target, "target")
    if target.is_floating_point() or target.is_complex():
        raise TypeError(f"target must be an integer label map, got dtype {target.dtype}")
    if target.ndim not in (2, 3):
        raise ValueError(f"target must be (H, W) or (B, H, W), got shape {tuple(target.shape)}")
    if pred.ndim == target.ndim + 1:  # logits: class dimension third from the end
        pred = pred.argmax(dim=-3)
    elif pred.is_floating_point():
        raise TypeError(f"pred is floating point with shape {tuple(pred.shape)}: pass integer labels "
                        f"with the target's shape {tuple(target.shape)}, or logits with a class "
                        f"dimension ({'B, ' if target.ndim == 3 else ''}C, H, W)")
    if pred.shape != target.shape:
        raise ValueError(f"pred has shape {tuple(pred.shape)} but target has shape {tuple(target.shape)}")
    return pred.long(), target.long().to(pred.device)


def confusion_matrix(pred, target, num_classes: int, ignore_index: int | None = None) -> torch.Tensor:
    """The ``(num_classes, num_classes)`` count matrix: row = true class, column = predicted class
    (scikit-learn's convention). Pixels whose target is ``ignore_index`` are left out.

    Computed with one ``bincount`` of ``num_classes * target + pred``.
    """
    check_int("num_classes", num_classes, 1)
    pred, target = _as_tensor(pred, "pred"), _as_tensor(target, "target")
    if pred.ndim == target.ndim + 1 and pred.shape[-3] != num_classes:
        raise ValueError(f"pred has {pred.shape[-3]} class channels but num_classes={num_classes}")
    pred, target = _labels(pred, target)
    keep = torch.ones_like(target, dtype=torch.bool) if ignore_index is None else target != ignore_index
    pred, target = pred[keep], target[keep]
    for name, labels in (("target", target), ("pred", pred)):
        if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"{name} has labels in [{labels.min().item()}, {labels.max().item()}] but "
                             f"num_classes={num_classes} allows 0..{num_classes - 1}"
                             + ("" if name == "pred" or ignore_index is not None
                                else " (pass ignore_index for a 'void' label)"))
    counts = torch.bincount(num_classes * target + pred, minlength=num_classes**2)
    return counts.reshape(num_classes, num_classes)


def pixel_accuracy(pred, target, ignore_index: int | None = None) -> float:
    """The fraction of (non-ignored) pixels whose predicted class is the true class."""
    pred, target = _labels(pred, target)
    keep = torch.ones_like(target, dtype=torch.bool) if ignore_index is None else target != ignore_index
    if not keep.any():
        raise ValueError("every pixel of target is ignore_index: nothing to score")
    return (pred[keep] == target[keep]).double().mean().item()


def iou_per_class(pred, target, num_classes: int, ignore_index: int | None = None) -> torch.Tensor:
    """Intersection over union of each class, ``TP / (TP + FP + FN)`` (FCN paper §5, "mean IU").

    A float64 tensor of length ``num_classes``; a class absent from both prediction and target has
    no IoU and gets ``nan``.
    """
    cm = confusion_matrix(pred, target, num_classes, ignore_index).double()
    tp = cm.diag()
    union = cm.sum(0) + cm.sum(1) - tp
    return torch.where(union > 0, tp / union.clamp(min=1), torch.full_like(tp, math.nan))


def mean_iou(pred, target, num_classes: int, ignore_index: int | None = None) -> float:
    """The mean of :func:`iou_per_class` over the classes present in prediction or target."""
    iou = iou_per_class(pred, target, num_classes, ignore_index)
    if iou.isnan().all():
        raise ValueError("no pixel to score (all are ignore_index)")
    return iou.nanmean().item()


def matched_mean_iou(clusters, target, num_classes: int) -> float:
    """:func:`mean_iou` of an unsupervised grouping: ``clusters`` (labels ``0 .. num_classes - 1`` that name
    groups, not classes) are first renamed by the one-to-one matching of clusters to classes that maximises
    the pixels they share (the Hungarian algorithm, ``scipy.optimize.linear_sum_assignment``), the usual
    score of unsupervised segmentation (e.g. Ji et al., "Invariant Information Clustering", ICCV 2019, §4)."""
    from scipy.optimize import linear_sum_assignment

    shared = confusion_matrix(clusters, target, num_classes)  # row: class, column: cluster
    classes, groups = linear_sum_assignment(shared.numpy(), maximize=True)
    rename = torch.empty(num_classes, dtype=torch.long)
    rename[torch.as_tensor(groups)] = torch.as_tensor(classes)
    return mean_iou(rename[_as_tensor(clusters, "clusters").long()], target, num_classes)


# --- boundaries ------------------------------------------------------------------------------------

def boundary_map(labels: torch.Tensor) -> torch.Tensor:
    """Boolean map of the pixels whose 3x3 neighbourhood holds more than one label.

    Max-pool and min-pool (``-max_pool(-x)``) over 3x3 differ exactly there, so a boundary is two
    pixels thick (one on each side). The image border is not a boundary.
    """
    labels = _as_tensor(labels, "labels")
    if labels.ndim not in (2, 3) or labels.is_floating_point():
        raise ValueError(f"labels must be an integer (H, W) or (B, H, W) map, got "
                         f"{labels.dtype} {tuple(labels.shape)}")
    x = labels.double().reshape(-1, 1, *labels.shape[-2:])
    edge = F.max_pool2d(x, 3, 1, 1) != -F.max_pool2d(-x, 3, 1, 1)
    return edge.reshape(labels.shape)


def _dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Grow a boolean (..., H, W) map by ``radius`` pixels (a (2r+1) x (2r+1) max-pool)."""
    x = mask.reshape(-1, 1, *mask.shape[-2:]).float()
    return (F.max_pool2d(x, 2 * radius + 1, 1, radius) > 0).reshape(mask.shape)


def boundary_precision_recall(pred, target, tolerance: int = 2) -> tuple[float, float]:
    """Precision and recall of the predicted class boundaries (Csurka et al., BMVC 2013, "BF score").

    A predicted boundary pixel is correct when a true boundary pixel lies within ``tolerance``
    pixels (chessboard distance), and a true one is found when a predicted one lies that close.
    Counts are pooled over the batch. Both maps without boundary give (1, 1); only one of them, 0.
    """
    check_int("tolerance", tolerance, 0, expected="a non-negative int (pixels)")
    pred, target = _labels(pred, target)
    bp, bt = boundary_map(pred), boundary_map(target)
    n_pred, n_true = bp.sum().item(), bt.sum().item()
    if n_pred == 0 or n_true == 0:
        both_empty = float(n_pred == n_true)
        return both_empty, both_empty
    precision = (bp & _dilate(bt, tolerance)).sum().item() / n_pred
    recall = (bt & _dilate(bp, tolerance)).sum().item() / n_true
    return precision, recall


def boundary_f1(pred, target, tolerance: int = 2) -> float:
    """Harmonic mean of :func:`boundary_precision_recall`: 1 when every boundary is within
    ``tolerance`` pixels of its counterpart. It rewards sharp boundaries (FCN-8s over FCN-32s)."""
    precision, recall = boundary_precision_recall(pred, target, tolerance)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


# --- image quality ---------------------------------------------------------------------------------

def _images(x, y, data_range) -> tuple[torch.Tensor, torch.Tensor]:
    """Check two images against each other and ``data_range``; return float (B, C, H, W) tensors."""
    x, y = _as_tensor(x, "x"), _as_tensor(y, "y")
    if x.shape != y.shape:
        raise ValueError(f"x has shape {tuple(x.shape)} but y has shape {tuple(y.shape)}")
    if x.ndim not in (2, 3, 4):
        raise ValueError(f"images must be (H, W), (C, H, W) or (B, C, H, W), got shape {tuple(x.shape)}")
    if isinstance(data_range, bool) or not isinstance(data_range, (int, float)) or not data_range > 0:
        raise ValueError(f"data_range must be a positive number, got {data_range!r}")
    dtype = torch.promote_types(x.dtype, torch.float32)  # float64 stays, half and integers -> float32
    x, y = x.to(dtype), y.to(dtype=dtype, device=x.device)
    for name, image in (("x", x), ("y", y)):
        span = (image.max() - image.min()).item()
        if span > 1.25 * data_range:  # slack for unclamped network outputs
            raise ValueError(f"{name}'s values span {span:.4g} but data_range={data_range}: "
                             f"pass data_range=255 for 0-255 images, or rescale to [0, {data_range}]")
    shape = (-1, *x.shape[-3:]) if x.ndim >= 3 else (1, 1, *x.shape)
    return x.reshape(shape), y.reshape(shape)


def _reduce(per_image: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return per_image.mean()
    if reduction == "none":
        return per_image
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def psnr(x, y, data_range: float = 1.0, reduction: str = "mean") -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range**2 / MSE)``, per image.

    Returns the mean over the batch (``reduction="mean"``, a 0-dim tensor) or one value per image
    (``"none"``). Identical images give ``inf``. Differentiable.
    """
    x, y = _images(x, y, data_range)
    mse = (x - y).pow(2).flatten(1).mean(1)
    return _reduce(10 * torch.log10(data_range**2 / mse), reduction)


def gaussian_window(size: int = 11, sigma: float = 1.5, dtype=torch.float32) -> torch.Tensor:
    """The normalised 2-D Gaussian ``(size, size)`` window of SSIM (Wang et al. 2004, §III-C)."""
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-t**2 / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g).to(dtype)


def ssim(x, y, data_range: float = 1.0, reduction: str = "mean") -> torch.Tensor:
    """Structural similarity (Wang, Bovik, Sheikh & Simoncelli, IEEE TIP 2004, Eq. 13).

    Local means, variances and covariance are Gaussian-weighted (11x11 window, sigma 1.5) and
    ``SSIM = (2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2))``
    with ``C1 = (0.01 L)^2``, ``C2 = (0.03 L)^2``, ``L = data_range``. The map is averaged over the
    positions where the window fits inside the image ("valid" convolution) and over the channels.
    This equals ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, channel_axis=0)``. Returns the batch mean (``reduction="mean"``)
    or one value per image (``"none"``). Differentiable, so ``1 - ssim(x, y)`` is a loss.
    """
    x, y = _images(x, y, data_range)
    if min(x.shape[-2:]) < 11:
        raise ValueError(f"SSIM's 11x11 window needs images of at least 11x11, got {tuple(x.shape[-2:])}")
    channels = x.shape[1]
    window = gaussian_window(11, 1.5, x.dtype).to(x.device).expand(channels, 1, 11, 11)

    def blur(z):
        return F.conv2d(z, window, groups=channels)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov_xy = blur(x * y) - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)
                / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)))
    return _reduce(ssim_map.flatten(1).mean(1), reduction)


def paired_bootstrap(a, b, resamples: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """The mean of the paired differences ``a - b`` (one score per test item, e.g. PSNR per image, of two
    methods on the same items) and its percentile bootstrap interval (Efron & Tibshirani 1993, §13.3):
    ``resamples`` times, draw ``len(a)`` items with replacement, average their differences; the interval
    holds the central ``level`` share of those means. Returns ``(mean, low, high)``; an interval that
    excludes 0 says the difference is larger than what the choice of test items explains."""
    a = torch.as_tensor(a, dtype=torch.float64).flatten()
    b = torch.as_tensor(b, dtype=torch.float64).flatten()
    if a.shape != b.shape or len(a) < 2:
        raise ValueError(f"paired_bootstrap: a and b must hold one score per item for the same >= 2 items, "
                         f"got {tuple(a.shape)} and {tuple(b.shape)}")
    if not torch.isfinite(a - b).all():
        raise ValueError("paired_bootstrap: the scores must be finite (an identical pair gives PSNR inf)")
    resamples = check_int("resamples", resamples, 100, expected="an int >= 100 (bootstrap resamples)")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    difference = a - b
    generator = torch.Generator().manual_seed(seed)
    index = torch.randint(len(difference), (resamples, len(difference)), generator=generator)
    means = difference[index].mean(1)
    low, high = torch.quantile(means, torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64))
    return difference.mean().item(), low.item(), high.item()


# --- super resolution's convention: luminance, border cropped ------------------------------------

#: ITU-R BT.601 for 8-bit "studio swing" video, as MATLAB's ``rgb2ycbcr`` (and ``skimage.color.
#: rgb2ycbcr``) compute it: Y in [16, 235], Cb and Cr in [16, 240], for RGB in [0, 1]; divided by 255.
_BT601 = torch.tensor([[65.481, 128.553, 24.966],
                       [-37.797, -74.203, 112.0],
                       [112.0, -93.786, -18.214]], dtype=torch.float64) / 255
_BT601_OFFSET = torch.tensor([16.0, 128.0, 128.0], dtype=torch.float64) / 255


def _rgb_images(images, where: str) -> torch.Tensor:
    """Check a float ``(3, H, W)`` or ``(N, 3, H, W)`` image in [0, 1]."""
    images = _as_tensor(images, "images")
    if not images.is_floating_point():
        raise TypeError(f"{where}: images must be float in [0, 1], got dtype {images.dtype} (divide uint8 by 255)")
    if images.ndim not in (3, 4) or images.shape[-3] != 3:
        hint = (" — a grey image has no colour to convert: it is its own luminance up to the offset; "
                "repeat it to 3 channels with x.expand(..., 3, H, W) first" if images.ndim in (3, 4)
                and images.shape[-3] == 1 else "")
        raise ValueError(f"{where}: images must be RGB, (3, H, W) or (N, 3, H, W), got shape "
                         f"{tuple(images.shape)}{hint}")
    low, high = (float(v) for v in torch.aminmax(images.detach())) if images.numel() else (0.0, 1.0)
    if low < -1e-3 or high > 1 + 1e-3:
        raise ValueError(f"{where}: images must have values in [0, 1], got [{low:.3g}, {high:.3g}] "
                         "(clamp network outputs with .clamp(0, 1); divide 0..255 images by 255)")
    return images


def rgb_to_ycbcr(images) -> torch.Tensor:
    """RGB in [0, 1] to Y, Cb, Cr of ITU-R BT.601 (studio swing), each divided by 255: Y in
    [16/255, 235/255]. ``(3, H, W)`` or ``(N, 3, H, W)``; equals ``skimage.color.rgb2ycbcr / 255``."""
    images = _rgb_images(images, "rgb_to_ycbcr")
    matrix = _BT601.to(images)
    return torch.einsum("ij,...jhw->...ihw", matrix, images) + _BT601_OFFSET.to(images)[:, None, None]


def ycbcr_to_rgb(images) -> torch.Tensor:
    """The inverse of :func:`rgb_to_ycbcr` (not clipped): ``(3, H, W)`` or ``(N, 3, H, W)``."""
    images = _as_tensor(images, "images")
    if images.ndim not in (3, 4) or images.shape[-3] != 3:
        raise ValueError(f"ycbcr_to_rgb: images must be (3, H, W) or (N, 3, H, W), got shape {tuple(images.shape)}")
    inverse = torch.linalg.inv(_BT601).to(images)
    shifted = images - _BT601_OFFSET.to(images)[:, None, None]
    return torch.einsum("ij,...jhw->...ihw", inverse, shifted)


def rgb_to_y(images) -> torch.Tensor:
    """The luminance Y of :func:`rgb_to_ycbcr`, keeping a channel dimension: ``(1, H, W)`` or
    ``(N, 1, H, W)``. ``Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255``."""
    return rgb_to_ycbcr(images)[..., :1, :, :]


def _y_cropped(x, y, border: int, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    border = check_int("border", border, 0, expected="a non-negative int (pixels cropped on each side)")
    x, y = _as_tensor(x, "x"), _as_tensor(y, "y")
    if x.shape != y.shape:
        raise ValueError(f"{where}: x has shape {tuple(x.shape)} but y has shape {tuple(y.shape)}")
    x, y = rgb_to_y(_rgb_images(x, where)), rgb_to_y(_rgb_images(y, where))
    h, w = x.shape[-2:]
    if min(h, w) <= 2 * border:
        raise ValueError(f"{where}: a border of {border} leaves nothing of a {h}x{w} image")
    return (x[..., border: h - border, border: w - border], y[..., border: h - border, border: w - border])


def psnr_y(x, y, border: int = 0, reduction: str = "mean") -> torch.Tensor:
    """PSNR as the super-resolution papers report it (SRCNN §4, ESPCN §3.1): on the luminance Y of
    :func:`rgb_to_y` (people see detail in brightness, and the first papers upscaled Y only), with
    ``border`` pixels cropped from every side (usually the scale: a network's zero padding and
    bicubic's edge handling are not judged), peak 1 (255 on the 0–255 scale of Y).

    ``x``, ``y``: RGB ``(3, H, W)`` or ``(N, 3, H, W)`` in [0, 1]. It reads higher than RGB PSNR:
    Y averages the three colour errors, and its studio range is 219/255 of the full one.
    """
    x, y = _y_cropped(x, y, border, "psnr_y")
    return psnr(x, y, reduction=reduction)


def ssim_y(x, y, border: int = 0, reduction: str = "mean") -> torch.Tensor:
    """:func:`ssim` on the luminance Y with ``border`` pixels cropped, as :func:`psnr_y`."""
    x, y = _y_cropped(x, y, border, "ssim_y")
    return ssim(x, y, reduction=reduction)


def high_frequency_power(images: torch.Tensor, cutoff: float = 0.15) -> torch.Tensor:
    """Power of a grey image above ``cutoff`` cycles per pixel, per image: with ``P(u, v) =
    |DFT(I - mean I)(u, v)|^2 / (H W)``, the sum of ``P`` over the frequencies with
    ``sqrt(fu^2 + fv^2) > cutoff`` (``fu = u / H`` folded to [-0.5, 0.5), as ``torch.fft.fftfreq``).
    ``images``: ``(H, W)``, ``(1, H, W)`` or ``(N, 1, H, W)``; returns ``(N,)``."""
    images = _as_tensor(images, "images")
    if isinstance(cutoff, bool) or not isinstance(cutoff, (int, float)) or not 0 <= cutoff < 0.71:
        raise ValueError(f"cutoff must be a frequency in cycles per pixel in [0, 0.71), got {cutoff!r}")
    batch = images.reshape(-1, *images.shape[-2:]).to(torch.promote_types(images.dtype, torch.float32))
    h, w = batch.shape[-2:]
    power = torch.fft.fft2(batch - batch.mean((-2, -1), keepdim=True)).abs().pow(2) / (h * w)
    fu = torch.fft.fftfreq(h, dtype=batch.dtype, device=batch.device)[:, None]
    fv = torch.fft.fftfreq(w, dtype=batch.dtype, device=batch.device)[None, :]
    return (power * ((fu**2 + fv**2).sqrt() > cutoff)).sum((-2, -1))


def high_frequency_ratio(x, y, border: int = 0, cutoff: float = 0.15, reduction: str = "mean") -> torch.Tensor:
    """How much fine detail ``x`` has relative to the ground truth ``y``: the ratio of their
    :func:`high_frequency_power` on the luminance Y with ``border`` pixels cropped (as :func:`psnr_y`).

    1 means as much power above ``cutoff`` cycles/px as the truth; a blurry upscaling is well below 1,
    noise or ringing can push it above. It measures amount, not correctness: detail at the wrong place
    counts too (PSNR tells that part). ``x``, ``y``: RGB ``(3, H, W)`` or ``(N, 3, H, W)`` in [0, 1].
    """
    x, y = _y_cropped(x, y, border, "high_frequency_ratio")
    return _reduce(high_frequency_power(x, cutoff) / high_frequency_power(y, cutoff), reduction)


def subpixel_pattern_share(images: torch.Tensor, period: int) -> torch.Tensor:
    """The share of a grey image's variance that its position inside each ``period x period`` block
    explains, per image: ``||T - mean||^2 / ||I - mean||^2`` with ``T`` the image of the block-position
    means (each pixel replaced by the mean of all pixels at the same position modulo ``period``).
    Equivalently the share of its power at the frequencies ``k / period`` cycles/px: a pattern that
    repeats every ``period`` pixels, as the sub-pixel grid of a pixel shuffle by ``period``, gives 1;
    white noise about ``period^2 / (H W)``. ``images``: ``(H, W)``, ``(1, H, W)`` or ``(N, 1, H, W)``
    with ``period`` dividing ``H`` and ``W``; returns ``(N,)``."""
    images = _as_tensor(images, "images")
    period = check_int("period", period, 1, expected="a positive int (the block side, e.g. the scale)")
    batch = images.reshape(-1, 1, *images.shape[-2:]).to(torch.promote_types(images.dtype, torch.float32))
    h, w = batch.shape[-2:]
    if h % period or w % period:
        raise ValueError(f"subpixel_pattern_share: period {period} does not divide the image size {h}x{w}")
    centred = batch - batch.mean((-2, -1), keepdim=True)
    block_means = F.pixel_unshuffle(centred, period).mean((-2, -1))  # (N, period^2): one per position
    return block_means.pow(2).sum(1) * (h * w // period**2) / centred.pow(2).sum((-3, -2, -1))


def change_correlation(new, old, truth, border: int = 0, reduction: str = "mean") -> torch.Tensor:
    """Did a change put back the truth's own detail? The cosine between what changed, ``new - old``,
    and what ``old`` missed, ``truth - old``, on the luminance Y with ``border`` pixels cropped (as
    :func:`psnr_y`), per image: 1 if the change moves exactly toward the truth, about 0 if it is
    unrelated to what was missing (detail that is invented, however plausible). RGB ``(3, H, W)`` or
    ``(N, 3, H, W)`` in [0, 1]."""
    new_y, truth_y = _y_cropped(new, truth, border, "change_correlation")
    old_y, _ = _y_cropped(old, truth, border, "change_correlation")
    change, missed = (new_y - old_y).flatten(1), (truth_y - old_y).flatten(1)
    return _reduce(F.cosine_similarity(change, missed, dim=1), reduction)


# --- detection -------------------------------------------------------------------------------------

def average_precision(scores: torch.Tensor, matched: torch.Tensor, num_targets: int) -> float:
    """Area under the precision–recall curve of detections sorted by score (all-point, as in
    PASCAL VOC 2010+): ``matched[i]`` says whether detection ``i`` hit an unclaimed object."""
    if num_targets == 0:
        return float("nan")
    hits = matched[scores.argsort(descending=True)].float()
    precision = hits.cumsum(0) / torch.arange(1, len(hits) + 1)
    precision = precision.flip(0).cummax(0).values.flip(0)  # the precision envelope
    return float((precision * hits).sum() / num_targets)


@torch.no_grad()
def mean_average_precision(detections: list[dict], targets: list[dict], num_classes: int = 4,
                           iou_threshold: float = 0.5) -> float:
    """mAP@``iou_threshold`` over the foreground classes ``1..num_classes-1``. A detection is a hit
    when its IoU with a not yet matched object of its class reaches the threshold (greedy, by score)."""
    if len(detections) != len(targets):
        raise ValueError(f"{len(detections)} detection dicts for {len(targets)} targets")
    aps = []
    for c in range(1, num_classes):
        scores, matched, count = [], [], 0
        for detection, target in zip(detections, targets):
            boxes, score = detection["boxes"][detection["labels"] == c], detection["scores"][detection["labels"] == c]
            objects = target["boxes"][target["labels"] == c]
            count += len(objects)
            iou = box_iou(boxes, objects) if len(objects) else torch.zeros(len(boxes), 0)
            free = torch.ones(len(objects), dtype=torch.bool)
            for i in score.argsort(descending=True).tolist():
                candidates = torch.where(free & (iou[i] >= iou_threshold), iou[i], -1.0)
                hit = len(objects) > 0 and candidates.max() >= 0
                if hit:
                    free[candidates.argmax()] = False
                scores.append(score[i])
                matched.append(hit)
        if count:
            aps.append(average_precision(torch.tensor(scores), torch.tensor(matched, dtype=torch.bool), count))
    return sum(aps) / len(aps) if aps else float("nan")


# --- instance segmentation ----------------------------------------------------------------------------

def _coco_records(items: dict, image_id: int, iou_type: str, ground_truth: bool) -> list[dict]:
    from pycocotools import mask as mask_utils

    boxes, labels = items["boxes"].detach().cpu(), items["labels"].cpu()
    records = []
    for k, (box, label) in enumerate(zip(boxes.tolist(), labels.tolist())):
        x1, y1, x2, y2 = box
        record = {"image_id": image_id, "category_id": int(label), "bbox": [x1, y1, x2 - x1, y2 - y1]}
        if iou_type == "segm":
            mask = items["masks"][k].detach().cpu()
            mask = mask[0] >= 0.5 if mask.ndim == 3 else mask.bool()  # model output: (1, H, W) probabilities
            rle = mask_utils.encode(np.asfortranarray(mask.numpy().astype(np.uint8)))
            record["segmentation"] = rle
            record["area"] = float(mask_utils.area(rle))
        else:
            record["area"] = (x2 - x1) * (y2 - y1)
        if ground_truth:
            record["iscrowd"] = 0
        else:
            record["score"] = float(items["scores"][k])
        records.append(record)
    return records


def coco_average_precision(predictions: list[dict], targets: list[dict], iou_type: str = "segm",
                           num_classes: int = 4) -> dict[str, float]:
    """COCO's AP@[.5:.95], AP50 and AP75 (``pycocotools.COCOeval``, up to 100 detections per image).

    ``predictions``: one dict per image as a torchvision detector returns it (``boxes``, ``labels``,
    ``scores``, and for ``iou_type="segm"`` ``masks`` of ``(N, 1, H, W)`` probabilities, cut at 0.5);
    ``targets``: the ground truth (``boxes``, ``labels``, ``masks`` ``(N, H, W)``). ``iou_type`` is
    ``"segm"`` (mask AP) or ``"bbox"`` (box AP). Classes are ``1..num_classes-1``; those without a
    ground-truth object are left out of the mean, as COCO does.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if iou_type not in ("segm", "bbox"):
        raise ValueError(f"iou_type must be 'segm' (mask AP) or 'bbox' (box AP), got {iou_type!r}")
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions for {len(targets)} targets: give one dict per image")
    if not targets:
        raise ValueError("no images to evaluate: predictions and targets are empty")
    gt, detections = [], []
    for image_id, (prediction, target) in enumerate(zip(predictions, targets)):
        gt += _coco_records(target, image_id, iou_type, ground_truth=True)
        detections += _coco_records(prediction, image_id, iou_type, ground_truth=False)
    for k, record in enumerate(gt, start=1):
        record["id"] = k
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        coco_gt = COCO()
        images = [{"id": i, "height": t["masks"].shape[-2], "width": t["masks"].shape[-1]} if "masks" in t
                  else {"id": i} for i, t in enumerate(targets)]
        coco_gt.dataset = {"images": images, "annotations": gt,
                           "categories": [{"id": c} for c in range(1, num_classes)]}
        coco_gt.createIndex()
        if not detections:
            return {"AP": 0.0, "AP50": 0.0, "AP75": 0.0}
        evaluator = COCOeval(coco_gt, coco_gt.loadRes(detections), iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    ap, ap50, ap75 = (max(float(v), 0.0) for v in evaluator.stats[:3])  # -1 means "no object"
    return {"AP": ap, "AP50": ap50, "AP75": ap75}
