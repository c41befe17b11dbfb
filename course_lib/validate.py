"""The argument checks every module shares, so that a learner's mistake gets the same clear message
wherever it is made.

    n = check_int("n", n, 1)          # "n must be an int, got float 2.5" or "n must be at least 1, got 0"
    check_float_batch(features, "features", "gram_matrix", "(B, C, H, W)")
    check_image_batch(x)                              # float (N, 3, H, W) in [0, 1]
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["NotAnInt", "check_int", "check_module", "check_float_batch", "check_image_batch", "check_layer_pair",
           "check_image_range"]


class NotAnInt(TypeError, ValueError):
    """A non-integer where an int was needed: a ``TypeError``, and a ``ValueError`` like a value out
    of range, so that callers may catch either (as ``numpy.exceptions.AxisError`` does)."""


def check_int(name: str, value, minimum: int = 0, *, expected: str | None = None) -> int:
    """``value`` as a Python int if it is an integer (a bool is not) of at least ``minimum``.

    Raises :class:`NotAnInt` "``name`` must be an int, got float 2.5" or ``ValueError``
    "``name`` must be ``expected``, got 0"; ``expected`` defaults to "at least ``minimum``" and
    may say more, e.g. ``"a positive int (the output tile side)"``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise NotAnInt(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be {expected or f'at least {minimum}'}, got {value!r}")
    return int(value)


def check_module(model, name: str = "model") -> None:
    """Raise a clear ``TypeError`` unless ``model`` is a ``torch.nn.Module``."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(model).__name__}")


def check_float_batch(x, name: str, where: str, layout: str = "(N, C, H, W)") -> None:
    """Raise a clear error, prefixed with ``where``, unless ``x`` is a 4-d float tensor."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{where}: {name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{where}: {name} must be a float tensor, got dtype {x.dtype}")
    if x.ndim != 4:
        raise ValueError(f"{where}: {name} must be a batch {layout}, got shape {tuple(x.shape)}")


def check_layer_pair(b, r, where: str) -> None:
    """Raise a clear error, prefixed with ``where``, unless ``b`` and ``r`` are float batches of one shape,
    at least 2 x 2 (two image layers whose gradients are compared, as in reflection separation)."""
    check_float_batch(b, "b", where)
    check_float_batch(r, "r", where)
    if b.shape != r.shape:
        raise ValueError(f"{where}: b and r must have the same shape, got {tuple(b.shape)} and {tuple(r.shape)}")
    if min(b.shape[-2:]) < 2:
        raise ValueError(f"{where}: images must be at least 2x2 to have gradients, got {tuple(b.shape[-2:])}")


def check_image_batch(x, name: str = "input") -> None:
    """Raise a clear error unless ``x`` is a float batch ``(N, 3, H, W)`` with values in [0, 1]."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a float tensor in [0, 1], got dtype {x.dtype} "
                        "(convert uint8 images with x.float() / 255)")
    if x.ndim != 4:
        raise ValueError(f"{name} must be a batch (N, 3, H, W), got shape {tuple(x.shape)} "
                         "(add a batch dimension with x[None])")
    if x.shape[1] != 3:
        hint = " (grayscale: repeat it with x.expand(-1, 3, -1, -1))" if x.shape[1] == 1 else ""
        raise ValueError(f"{name} must have 3 (RGB) channels, got {x.shape[1]}{hint}")
    low, high = (float(v) for v in torch.aminmax(x.detach())) if x.numel() else (0.0, 1.0)
    if low < -1e-3 or high > 1 + 1e-3:
        raise ValueError(f"{name} must have values in [0, 1], got [{low:.3g}, {high:.3g}] "
                         "(divide 0..255 images by 255)")


def check_image_range(images, where: str) -> None:
    """``images`` must be a float ``(C, H, W)`` or ``(N, C, H, W)`` tensor with values in [0, 1]."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{where}: images must be a torch.Tensor, got {type(images).__name__}")
    if not images.is_floating_point():
        raise TypeError(f"{where}: images must be a float tensor in [0, 1], got dtype {images.dtype} "
                        "(convert uint8 images with x.float() / 255)")
    if images.ndim not in (3, 4):
        raise ValueError(f"{where}: images must be (C, H, W) or (N, C, H, W), got shape {tuple(images.shape)}")
    low, high = (float(v) for v in torch.aminmax(images.detach())) if images.numel() else (0.0, 1.0)
    if low < -1e-3 or high > 1 + 1e-3:
        raise ValueError(f"{where}: images must have values in [0, 1], got [{low:.3g}, {high:.3g}] "
                         "(divide 0..255 images by 255)")
