"""Pretrained weights, offline first.

``load_pretrained(torchvision.models.vgg19, VGG19_Weights.IMAGENET1K_V1)`` gives the model with its
ImageNet weights when the file is in the torch hub cache (``$TORCH_HOME/hub/checkpoints``, by default
``~/.cache/torch/hub/checkpoints``), tries to download it unless ``COURSE_OFFLINE=1``, and otherwise
returns ``None`` after printing one line: the notebook then uses its offline fallback.

The course's own checkpoints (small networks trained by ``scripts/train_*_checkpoint.py``, shipped in
``course_lib/checkpoints/<network>/``) are written by ``save_half_checkpoint(path, model, meta, **arguments)``
and read by ``load_half_checkpoint(path, build)``: weights in half precision, the arguments that build the
network, and a ``meta`` dict (recipe, training time, held-out scores).
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

import torch
from torchvision.models import WeightsEnum

from course_lib.config import offline

__all__ = ["load_pretrained", "cached_weights_path", "training_meta", "save_half_checkpoint", "load_half_checkpoint"]


def cached_weights_path(weights: WeightsEnum) -> Path:
    """Where torch.hub keeps (or would keep) the file of ``weights``."""
    if not isinstance(weights, WeightsEnum):
        raise TypeError(f"expected a torchvision weights enum such as VGG19_Weights.IMAGENET1K_V1, got {weights!r}")
    filename = os.path.basename(urlparse(weights.url).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def load_pretrained(builder: Callable[..., torch.nn.Module], weights: WeightsEnum) -> torch.nn.Module | None:
    """``builder(weights=weights)`` if the weights can be had, else ``None`` (with one printed line)."""
    path = cached_weights_path(weights)
    if path.is_file():
        return builder(weights=weights)
    how = f"put {weights.url} at {path} (or run once with internet access)"
    if offline():
        print(f"COURSE_OFFLINE=1 and {weights} is not in the torch hub cache: using the offline fallback. "
              f"For the real weights, {how}.")
        return None
    try:
        return builder(weights=weights)
    except Exception as error:  # no network, proxy, partial download, ...
        print(f"Could not download {weights} ({type(error).__name__}): using the offline fallback. "
              f"For the real weights, {how}.")
        return None


def training_meta(recipe, seconds: float, **extra) -> dict:
    """A course checkpoint's ``meta``: how it was trained (the recipe dataclass as a dict, the training's
    seconds rounded, the torch threads and version of the run), then ``extra`` (e.g. its held-out scores)."""
    return {"recipe": dataclasses.asdict(recipe), "seconds": round(seconds), "threads": torch.get_num_threads(),
            "torch": str(torch.__version__), **extra}


def save_half_checkpoint(path, model: torch.nn.Module, meta: dict, **arguments) -> None:
    """Write ``{"state_dict": ..., "meta": meta, **arguments}`` to ``path`` (folders made as needed): the
    floating-point weights of ``model`` in half precision (a course checkpoint ships at half the size), the
    keyword arguments that build the network again, and ``meta``; all plain data and tensors."""
    if "state_dict" in arguments:
        raise ValueError("save_half_checkpoint: 'state_dict' and 'meta' are not network arguments")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().half() if v.is_floating_point() else v.cpu() for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "meta": meta, **arguments}, path)


def load_half_checkpoint(path, build: Callable[..., torch.nn.Module]) -> torch.nn.Module:
    """The network of a :func:`save_half_checkpoint` file: ``build(**arguments)`` with the weights back in
    float32, ``meta`` on ``model.meta``, in eval mode on the CPU. ``path``: a file path or a
    ``importlib.resources`` entry (a checkpoint inside the installed package). Read with
    ``torch.load(weights_only=True)``: tensors and plain data only."""
    source = Path(path) if isinstance(path, str) else path
    with source.open("rb") as file:
        saved = torch.load(file, map_location="cpu", weights_only=True)
    arguments = {k: v for k, v in saved.items() if k not in ("state_dict", "meta")}
    model = build(**arguments)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in saved["state_dict"].items()})
    model.meta = saved["meta"]
    return model.eval()
