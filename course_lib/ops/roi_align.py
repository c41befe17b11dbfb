"""RoIPool and RoIAlign in plain PyTorch, written to be read (Mask R-CNN §3, Fig. 3).

Both cut a fixed ``output_size`` grid of bins out of a feature map for every region of interest.

* **RoIPool** (Fast R-CNN) rounds twice: the box's corners to whole feature cells, then each bin's
  edges to whole cells, and takes the maximum of the cells in each bin. The roundings shift the
  pooled features by up to half a cell (16 px at stride 32), which hurts pixel-accurate masks.
* **RoIAlign** (Mask R-CNN §3) rounds nothing: it places ``sampling_ratio × sampling_ratio``
  regularly spaced points in each bin, reads each by bilinear interpolation of the four nearest
  cells (:func:`bilinear_interpolate`), and averages them (:func:`roi_align_one_box`).

Where is a feature cell? In *cell coordinates* the value of cell ``i`` sits at ``i`` (that is
what :func:`bilinear_interpolate` reads). A box corner at pixel coordinate ``x`` (pixel ``p``
covers ``[p, p + 1)``) becomes the cell coordinate ``x * spatial_scale - offset``, where the offset
says where cell 0 is centred: ``aligned=True`` (offset ½) for cell ``i`` centred at pixel
``(i + ½) / spatial_scale``, as for a map that averages blocks of pixels or the image itself at
scale 1; ``aligned=False`` (offset 0) for ``i / spatial_scale``. Which one is right depends on the
network that made the map; notebook 04 measures it for its backbone.

Conventions are torchvision's (``torchvision.ops.roi_pool`` / ``roi_align``, which these match to
float precision; see ``tests/test_roi_align.py``): ``boxes`` is a ``(K, 5)`` tensor of
``(batch_index, x1, y1, x2, y2)`` or a list with one ``(N_i, 4)`` tensor per image, in input-image
pixels; ``spatial_scale`` maps them to feature cells (1/stride). The loops over boxes and bins are
slow but show every step; train with the torchvision ops.
"""
from __future__ import annotations


import torch

__all__ = ["roi_pool", "roi_align", "roi_align_one_box", "bilinear_interpolate", "rois_from_boxes"]


def _pair(output_size) -> tuple[int, int]:
    size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
        raise ValueError(f"output_size must be a positive int or a pair of them, got {output_size!r}")
    return size


def rois_from_boxes(boxes, batch_size: int | None = None) -> torch.Tensor:
    """``(K, 5)`` rows of ``(batch_index, x1, y1, x2, y2)`` from a ``(K, 5)`` tensor or a list of
    ``(N_i, 4)`` tensors (one per image), with clear errors for anything else."""
    if isinstance(boxes, (list, tuple)):
        for i, b in enumerate(boxes):
            if not isinstance(b, torch.Tensor) or b.ndim != 2 or b.shape[1] != 4:
                shape = tuple(b.shape) if isinstance(b, torch.Tensor) else type(b).__name__
                raise ValueError(f"boxes[{i}] must be an (N, 4) tensor of x1, y1, x2, y2, got {shape}")
        rois = torch.cat([torch.cat([torch.full_like(b[:, :1], i), b], 1) for i, b in enumerate(boxes)]) \
            if boxes else torch.zeros(0, 5)
    elif isinstance(boxes, torch.Tensor):
        if boxes.ndim != 2 or boxes.shape[1] != 5:
            raise ValueError(f"boxes must be a (K, 5) tensor of (batch_index, x1, y1, x2, y2) or a list of "
                             f"(N, 4) tensors, one per image; got a tensor of shape {tuple(boxes.shape)}")
        rois = boxes
    else:
        raise TypeError(f"boxes must be a tensor or a list of tensors, got {type(boxes).__name__}")
    if not rois.is_floating_point():
        raise TypeError(f"boxes must be floating point, got {rois.dtype}")
    bad = (rois[:, 3] < rois[:, 1]) | (rois[:, 4] < rois[:, 2])
    if bad.any():
        k = int(bad.nonzero()[0])
        raise ValueError(f"box {k} has x2 < x1 or y2 < y1: {rois[k, 1:].tolist()} (boxes are x1, y1, x2, y2)")
    index = rois[:, 0]
    if batch_size is not None and len(rois) and (
            (index != index.round()).any() or index.min() < 0 or index.max() >= batch_size):
        raise ValueError(f"batch indices must be whole numbers in 0..{batch_size - 1}, got {index.unique().tolist()}")
    return rois


def _check_features(features) -> None:
    if not isinstance(features, torch.Tensor) or features.ndim != 4:
        shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
        raise ValueError(f"features must be a (B, C, H, W) tensor, got {shape}")


def _round_half_away(x: torch.Tensor) -> torch.Tensor:
    """C's ``round``, which RoIPool uses (``torch.round`` rounds halves to even)."""
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def roi_pool(features: torch.Tensor, boxes, output_size, spatial_scale: float = 1.0) -> torch.Tensor:
    """RoIPool (Fast R-CNN §2.1): ``(B, C, H, W)`` features, K boxes → ``(K, C, *output_size)``.

    Rounding 1: the box is scaled and its corners rounded to cells, ``x1' = round(x1 * scale)``.
    Rounding 2: bin ``j`` of ``n`` covers cells ``floor(j w / n) .. ceil((j + 1) w / n)``, where
    ``w = x2' - x1' + 1`` cells. Each bin is the maximum over its cells (0 for an empty bin).
    """
    _check_features(features)
    pooled_h, pooled_w = _pair(output_size)
    rois = rois_from_boxes(boxes, len(features))
    _, channels, height, width = features.shape
    out = features.new_zeros(len(rois), channels, pooled_h, pooled_w)
    corners = _round_half_away(rois[:, 1:] * spatial_scale).long()
    steps = torch.arange(max(pooled_h, pooled_w) + 1, dtype=features.dtype, device=features.device)
    for k, (x1, y1, x2, y2) in enumerate(corners):
        feature = features[int(rois[k, 0])]
        # bin edges in the features' precision, as torchvision computes them
        bin_h = (y2 - y1 + 1).clamp(min=1).to(features.dtype) / pooled_h
        bin_w = (x2 - x1 + 1).clamp(min=1).to(features.dtype) / pooled_w
        tops = (y1 + (steps[:pooled_h] * bin_h).floor().long()).clamp(0, height).tolist()
        bottoms = (y1 + (steps[1:pooled_h + 1] * bin_h).ceil().long()).clamp(0, height).tolist()
        lefts = (x1 + (steps[:pooled_w] * bin_w).floor().long()).clamp(0, width).tolist()
        rights = (x1 + (steps[1:pooled_w + 1] * bin_w).ceil().long()).clamp(0, width).tolist()
        for i, (top, bottom) in enumerate(zip(tops, bottoms)):
            for j, (left, right) in enumerate(zip(lefts, rights)):
                if bottom > top and right > left:
                    out[k, :, i, j] = feature[:, top:bottom, left:right].amax(dim=(1, 2))
    return out


def bilinear_interpolate(feature: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Values of a ``(C, H, W)`` map at continuous points ``(y, x)`` (same-shape tensors, in cells,
    cell ``(i, j)`` at ``(i, j)``): ``(C, *y.shape)``.

    Each point is the mix of its four neighbouring cells, weighted by ``(1 - dy)(1 - dx)``,
    ``(1 - dy) dx``, ``dy (1 - dx)`` and ``dy dx``. As in RoIAlign, a point more than one cell
    outside the map reads 0 and a point less than one cell outside reads the nearest edge.
    """
    height, width = feature.shape[-2:]
    outside = (y < -1) | (y > height) | (x < -1) | (x > width)
    y, x = y.clamp(min=0), x.clamp(min=0)
    y0, x0 = y.floor().long().clamp(max=height - 1), x.floor().long().clamp(max=width - 1)
    y1, x1 = (y0 + 1).clamp(max=height - 1), (x0 + 1).clamp(max=width - 1)
    dy, dx = (y - y0) * (y0 < height - 1), (x - x0) * (x0 < width - 1)  # 0 on the last row/column
    value = ((1 - dy) * (1 - dx) * feature[:, y0, x0] + (1 - dy) * dx * feature[:, y0, x1]
             + dy * (1 - dx) * feature[:, y1, x0] + dy * dx * feature[:, y1, x1])
    return value * ~outside


def roi_align_one_box(feature: torch.Tensor, box: torch.Tensor, output_size, spatial_scale: float = 1.0,
                      sampling_ratio: int = 2, aligned: bool = True) -> torch.Tensor:
    """RoIAlign of one box (Mask R-CNN §3, Fig. 3): a ``(C, H, W)`` map and a ``(4,)`` box
    ``x1, y1, x2, y2`` in pixels → ``(C, *output_size)``, every position in the map's dtype.

    1. The box in cells: ``x * spatial_scale``, minus ½ when ``aligned`` (cell ``i`` is centred at
       pixel ``(i + ½) / spatial_scale``; without ``aligned`` at ``i / spatial_scale``). Without
       ``aligned``, a box narrower than one cell is widened to one cell (the original op).
    2. ``output_size`` equal bins, no rounding.
    3. In each bin, ``sampling_ratio × sampling_ratio`` samples at the centres of a regular
       sub-grid (``sampling_ratio <= 0``: ``ceil(bin size)`` per side), each read by
       :func:`bilinear_interpolate`, then averaged.
    """
    pooled_h, pooled_w = _pair(output_size)
    x1, y1, x2, y2 = box.to(feature.dtype) * spatial_scale - (0.5 if aligned else 0.0)
    roi_w, roi_h = x2 - x1, y2 - y1
    if not aligned:
        roi_w, roi_h = roi_w.clamp(min=1), roi_h.clamp(min=1)
    bin_h, bin_w = roi_h / pooled_h, roi_w / pooled_w
    grid_h = sampling_ratio if sampling_ratio > 0 else int(bin_h.ceil())
    grid_w = sampling_ratio if sampling_ratio > 0 else int(bin_w.ceil())
    if grid_h == 0 or grid_w == 0:  # an empty box with aligned=True: nothing to sample
        return feature.new_zeros(feature.shape[0], pooled_h, pooled_w)
    # sample centres: bin i, sub-cell s -> y1 + i * bin_h + (s + 0.5) * bin_h / grid_h
    iy, ix = (torch.arange(n, dtype=feature.dtype, device=feature.device)
              for n in (pooled_h * grid_h, pooled_w * grid_w))
    ys = y1 + (iy // grid_h) * bin_h + (iy % grid_h + 0.5) * bin_h / grid_h
    xs = x1 + (ix // grid_w) * bin_w + (ix % grid_w + 0.5) * bin_w / grid_w
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    samples = bilinear_interpolate(feature, y, x)
    return samples.reshape(-1, pooled_h, grid_h, pooled_w, grid_w).mean(dim=(2, 4))


def roi_align(features: torch.Tensor, boxes, output_size, spatial_scale: float = 1.0,
              sampling_ratio: int = -1, aligned: bool = False) -> torch.Tensor:
    """RoIAlign (Mask R-CNN §3, Fig. 3): ``(B, C, H, W)`` features, K boxes → ``(K, C, *output_size)``,
    :func:`roi_align_one_box` for each box (torchvision's defaults: ``sampling_ratio=-1``,
    ``aligned=False``)."""
    _check_features(features)
    _pair(output_size)
    rois = rois_from_boxes(boxes, len(features))
    if not len(rois):
        return features.new_zeros(0, features.shape[1], *_pair(output_size))
    return torch.stack([roi_align_one_box(features[int(roi[0])], roi[1:], output_size, spatial_scale,
                                          sampling_ratio, aligned) for roi in rois])
