"""A traditional refinement of a coarse segmentation: SLIC superpixels (Achanta et al., TPAMI 2012,
``skimage.segmentation.slic``) and a majority vote of the network's labels inside each superpixel.
Superpixels follow colour edges, so the vote moves a blurry boundary onto the nearest edge.

    refined = superpixel_vote(images, labels)    # images (B, 3, H, W) in [0, 1], labels (B, H, W)
"""
from __future__ import annotations

import torch
from skimage.segmentation import slic

from course_lib.validate import check_image_batch, check_int

__all__ = ["superpixel_vote"]


def superpixel_vote(images: torch.Tensor, labels: torch.Tensor, n_segments: int = 100,
                    compactness: float = 10.0) -> torch.Tensor:
    """Each superpixel of each image takes the label most of its pixels have in ``labels``.

    ``images``: ``(B, 3, H, W)`` in [0, 1]; ``labels``: integer ``(B, H, W)``. ``n_segments`` and
    ``compactness`` are SLIC's (more compact: squarer superpixels that follow colour less).
    Returns ``(B, H, W)`` labels.
    """
    check_image_batch(images, "images")
    check_int("n_segments", n_segments, 1)
    if not isinstance(labels, torch.Tensor) or labels.is_floating_point() or labels.ndim != 3:
        raise ValueError(f"labels must be an integer (B, H, W) tensor, got "
                         f"{getattr(labels, 'dtype', type(labels).__name__)} {tuple(getattr(labels, 'shape', ()))}")
    if labels.shape[0] != images.shape[0] or labels.shape[-2:] != images.shape[-2:]:
        raise ValueError(f"images {tuple(images.shape)} and labels {tuple(labels.shape)} need the same "
                         "batch size and H x W")
    out = torch.empty_like(labels)
    num_labels = int(labels.max()) + 1
    for b, (image, label) in enumerate(zip(images, labels)):
        segments = torch.from_numpy(slic(image.permute(1, 2, 0).double().numpy(), n_segments=n_segments,
                                         compactness=compactness, start_label=0)).long()
        votes = torch.zeros(int(segments.max()) + 1, num_labels, dtype=torch.long)
        votes.index_put_((segments.flatten(), label.flatten().long()), torch.ones(1, dtype=torch.long),
                         accumulate=True)
        out[b] = votes.argmax(1)[segments]
    return out
