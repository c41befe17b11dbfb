"""Overlap-tile inference (U-Net §2, Fig. 2).

A valid-padded network predicts a smaller output tile than the input tile it sees. To segment a
large image, cut the *output* into tiles of ``tile`` pixels; each needs an input window ``margin``
pixels larger on every side. At the image border the missing context is "extrapolated by
mirroring the input image" (Fig. 2). Because every output pixel sees exactly the input it would
see in one big forward pass, the stitched tiles equal the prediction for the whole padded image:
no seams, and the memory needed is set by the tile, not by the image.

    probabilities = overlap_tile_predict(model.eval(), image, tile=388).softmax(0)
"""
from __future__ import annotations

import math

import torch

from course_lib.validate import check_int

__all__ = ["mirror_pad", "overlap_tile_predict"]


def _reflect_indices(length: int, before: int, after: int) -> torch.Tensor:
    """Indices into ``range(length)`` that mirror it ``before``/``after`` pixels out, the edge pixel
    not repeated (... 2 1 | 0 1 2 ... n-1 | n-2 ...); wide pads reflect back and forth."""
    positions = torch.arange(-before, length + after)
    if length == 1:
        return torch.zeros_like(positions)
    period = 2 * (length - 1)
    positions = positions.remainder(period)
    return torch.where(positions >= length, period - positions, positions)


def mirror_pad(image: torch.Tensor, pad) -> torch.Tensor:
    """Mirror-pad the last two dims of ``image`` (..., H, W), as ``F.pad(mode="reflect")`` does but
    for any width (pads wider than the image keep reflecting).

    ``pad``: an int for all four sides, or ``(top, bottom, left, right)``.
    """
    if not isinstance(image, torch.Tensor) or image.dim() < 2:
        raise TypeError(f"image must be a tensor (..., H, W), got {getattr(image, 'shape', type(image).__name__)}")
    sides = (pad,) * 4 if isinstance(pad, int) else tuple(pad) if isinstance(pad, (tuple, list)) else ()
    if len(sides) != 4 or not all(isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in sides):
        raise ValueError(f"pad must be an int >= 0 or (top, bottom, left, right) ints >= 0, got {pad!r}")
    top, bottom, left, right = sides
    rows = _reflect_indices(image.shape[-2], top, bottom).to(image.device)
    cols = _reflect_indices(image.shape[-1], left, right).to(image.device)
    return image.index_select(-2, rows).index_select(-1, cols)


def overlap_tile_predict(model, image: torch.Tensor, tile: int, *, margin: int | None = None,
                         batch_size: int = 4) -> torch.Tensor:
    """Predict ``image`` (C, H, W) or (N, C, H, W) tile by tile (Fig. 2): output (K, H, W) or (N, K, H, W).

    ``tile``: side of each *output* tile (the yellow square of Fig. 2). ``margin``: context added
    on every side of it (blue square = ``tile + 2·margin``); by default ``(model.input_size(tile) -
    tile) / 2``, the exact context a valid U-Net needs (92 for the paper's 388 -> 572). The image is
    mirror-padded by ``margin`` (and at the bottom/right up to whole tiles), tiles are run
    ``batch_size`` at a time under ``torch.no_grad()``, and the outputs are stitched and cropped
    back to H x W.

    Tiles start every ``step`` pixels, the largest multiple of ``model.total_stride`` (2**depth
    for a U-Net, 1 if the model has no such attribute) that is <= ``tile``: then every tile sees
    the max-pool grid of the whole image and its output is exactly that part of the whole-image
    output. (The paper's 388 is not a multiple of 16: its tiles step by 384 and overlap by 4.) A same-padded model returns the whole window: its central tile is kept.
    The model's train/eval mode is left as it is: call ``model.eval()`` first.

    ``margin=0`` with a same-padded network is naive tiling: each tile's zero padding shows as seams.
    """
    batched = isinstance(image, torch.Tensor) and image.dim() == 4
    if not isinstance(image, torch.Tensor) or image.dim() not in (3, 4):
        raise TypeError(f"image must be a (C, H, W) or (N, C, H, W) tensor, got "
                        f"{getattr(image, 'shape', type(image).__name__)}")
    check_int("tile", tile, 1, expected="a positive int (the output tile side)")
    if margin is None:
        if not hasattr(model, "input_size"):
            raise TypeError("pass margin=... for a model without an input_size(output_size) method")
        margin, odd = divmod(model.input_size(tile) - tile, 2)
        if odd:
            raise ValueError(f"model.input_size({tile}) - {tile} is odd: no symmetric margin exists")
    else:
        check_int("margin", margin, 0)
    total_stride = getattr(model, "total_stride", 1)
    step = tile - tile % total_stride
    if step == 0:
        raise ValueError(f"tile must be at least the model's total stride {total_stride}, got {tile}")
    batch = image if batched else image[None]
    height, width = batch.shape[-2:]
    rows, cols = math.ceil(max(height - tile, 0) / step) + 1, math.ceil(max(width - tile, 0) / step) + 1
    full_height, full_width = (rows - 1) * step + tile, (cols - 1) * step + tile
    padded = mirror_pad(batch, (margin, margin + full_height - height, margin, margin + full_width - width))
    window = tile + 2 * margin
    corners = [(r * step, c * step) for r in range(rows) for c in range(cols)]
    output = None
    with torch.no_grad():
        for start in range(0, len(corners), batch_size):
            chunk = corners[start:start + batch_size]
            inputs = torch.cat([padded[..., y:y + window, x:x + window] for y, x in chunk])
            outputs = model(inputs)
            if outputs.shape[-2:] not in ((tile, tile), (window, window)):
                raise ValueError(f"the model maps a {window}x{window} tile to "
                                 f"{tuple(outputs.shape[-2:])}, not {tile}x{tile} (valid padding) or "
                                 f"{window}x{window} (same padding): choose margin so that "
                                 f"input tile = output tile + 2·margin")
            outputs = outputs[..., -margin - tile:, -margin - tile:][..., :tile, :tile]
            if output is None:
                output = outputs.new_empty(len(batch), outputs.shape[1], full_height, full_width)
            for (y, x), out in zip(chunk, outputs.split(len(batch))):
                output[..., y:y + tile, x:x + tile] = out
    output = output[..., :height, :width]
    return output if batched else output[0]
