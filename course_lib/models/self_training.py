"""Semi-supervised segmentation by self-training with an EMA teacher and weak/strong views (notebook 05b).

A **teacher** labels the unlabelled scenes; pixels where its largest class probability is below a
``threshold`` are left unlabelled (:func:`pseudo_labels`: hard, confidence-masked pseudo-labels, Lee 2013),
and a **student** learns those labels next to the true ones. This is the "self-taught" loss of Hung, Tsai,
Liou, Lin & Yang (BMVC 2018, §3.2, Eq. 5), whose mask comes from a discriminator's confidence instead of the
segmenter's own; we leave out the adversarial half, one more network to train and balance against the first.
Two ideas make the pseudo-labels improve while the student learns (``course_lib.recipes.backbones_pyramid.ema_teacher_self_training``):

- **an EMA teacher**: the teacher's weights are an exponential moving average of the student's, the averaging
  of Tarvainen & Valpola's *mean teacher* (NeurIPS 2017), so every batch is labelled with what the student has
  learned so far. The mean teacher itself trains with a *soft* consistency loss (the squared difference of the
  two networks' class probabilities), not with thresholded labels; what is here is closer to FixMatch;
- **weak and strong views** (FixMatch, Sohn et al., NeurIPS 2020, §2.2): the teacher labels the scene as it
  is, the student learns those labels on a copy turned by a symmetry of the square and with added noise, so
  its answer must not depend on which corner the cue sits in. Only augmentations that keep the label:
  no colour changes (the cue's colour is the label), no crops that could cut the cue out.

Every batch holds as many labelled scenes (turned the same way) as unlabelled ones, as semi-supervised
methods draw half of each batch from the labelled set (Hung et al. §4.1).
"""
from __future__ import annotations

import torch

from course_lib.models.pspnet import IGNORE_INDEX
from course_lib.ops.crf import check_probabilities

__all__ = ["chroma_clusters", "pseudo_labels"]


def chroma_clusters(images: torch.Tensor, k: int, restarts: int = 10, seed: int = 0) -> torch.Tensor:
    """The non-supervised end of the slide's "semi/non-supervised": no label at all. Every pixel of ``images``
    ``(N, 3, H, W)`` is described by its colour minus its grey level (so grey shading has no colour), and
    k-means groups all pixels of all images into ``k`` clusters: the grouping of lowest distortion over
    ``restarts`` starts drawn from ``seed`` (``scipy.cluster.vq.kmeans``, then ``vq`` to assign the pixels).
    Returns the ``(N, H, W)`` int64 cluster of each pixel; score it with
    :func:`course_lib.metrics.matched_mean_iou`. SciPy's k-means drops a centre that ends up with no pixel,
    so fewer than ``k`` clusters may come back."""
    from scipy.cluster.vq import kmeans, vq

    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"chroma_clusters expects RGB images (N, 3, H, W), got "
                         f"{tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__}")
    chroma = (images - images.mean(1, keepdim=True)).permute(0, 2, 3, 1).reshape(-1, 3).double().numpy()
    centres, _ = kmeans(chroma, k, iter=restarts, seed=seed)
    clusters, _ = vq(chroma, centres)
    return torch.from_numpy(clusters).long().reshape(images.shape[0], *images.shape[2:])


def pseudo_labels(probabilities: torch.Tensor, threshold: float, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """The teacher's labels ``(N, H, W)`` int64 for its class probabilities ``(N, L, H, W)``: the most
    probable class, or ``ignore_index`` where that class's probability is below ``threshold``."""
    check_probabilities(probabilities, where="pseudo_labels")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be a probability in [0, 1], got {threshold}")
    confidence, labels = probabilities.max(1)
    return torch.where(confidence >= threshold, labels, torch.full_like(labels, ignore_index))
