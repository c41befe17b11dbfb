"""Convolution arithmetic (Dumoulin & Visin, "A guide to convolution arithmetic", 2016, §2–§5)."""
from __future__ import annotations

from typing import Sequence

from course_lib.validate import check_int

__all__ = ["conv_output_size", "receptive_field"]


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length along one axis: floor((size + 2·padding − dilation·(kernel_size − 1) − 1) / stride) + 1.

    The same formula as the ``Shape`` section of ``torch.nn.Conv2d``'s documentation.
    """
    check_int("size", size, 1)
    check_int("kernel_size", kernel_size, 1)
    check_int("stride", stride, 1)
    check_int("padding", padding, minimum=0)
    check_int("dilation", dilation, 1)
    span = dilation * (kernel_size - 1) + 1
    if size + 2 * padding < span:
        raise ValueError(f"a kernel spanning {span} pixels does not fit in {size} pixels + 2×{padding} padding")
    return (size + 2 * padding - span) // stride + 1


def receptive_field(layers: Sequence[tuple[int, ...]]) -> int:
    """Receptive field of one output unit of a stack of ``(kernel_size, stride)`` layers, or of
    ``(kernel_size, stride, dilation)`` layers (Yu & Koltun 2016; notebook 05a).

    r = 1 + Σ_i d_i (k_i − 1) · Π_{j<i} s_j: each layer widens the field by the span of its kernel
    minus one, d (k − 1), in steps of the product of the strides below it (d = 1 without dilation).
    """
    field, jump = 1, 1
    for index, layer in enumerate(layers):
        if not (isinstance(layer, (tuple, list)) and len(layer) in (2, 3)):
            raise ValueError(f"layer {index} must be a (kernel_size, stride) pair or a (kernel_size, stride, "
                             f"dilation) triple, got {layer!r}")
        kernel_size = check_int(f"layer {index} kernel_size", layer[0], 1)
        stride = check_int(f"layer {index} stride", layer[1], 1)
        dilation = check_int(f"layer {index} dilation", layer[2], 1) if len(layer) == 3 else 1
        field += dilation * (kernel_size - 1) * jump
        jump *= stride
    return field
