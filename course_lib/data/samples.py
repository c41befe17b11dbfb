"""Natural images that ship inside scikit-image and matplotlib, as float tensors in [0, 1].

Only images whose files are inside the installed packages are listed, so every one loads offline.
Their sources and licences are recorded in ``datasets/README.md``.

    >>> image = sample_image("astronaut", size=128)   # (3, 128, 128) float32
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from skimage.util import img_as_ubyte
from torchvision.transforms.v2 import functional as TF

SKIMAGE_IMAGES = (
    "astronaut", "brick", "camera", "cell", "chelsea", "clock", "coffee", "coins", "grass",
    "gravel", "hubble_deep_field", "immunohistochemistry", "microaneurysms", "retina", "rocket",
    "text",
)
MATPLOTLIB_IMAGES = {"grace_hopper": "grace_hopper.jpg"}

#: The fixed split of the sample images for the image-to-image notebooks (09-11): networks train on
#: patches of ``TRAIN_IMAGES`` only, and every quality number is measured on ``HELD_OUT_IMAGES`` —
#: three varied natural photographs (a grey outdoor scene, a colour portrait, a colour scene with sky).
HELD_OUT_IMAGES = ("camera", "grace_hopper", "rocket")
TRAIN_IMAGES = tuple(sorted({*SKIMAGE_IMAGES, *MATPLOTLIB_IMAGES} - set(HELD_OUT_IMAGES)))


def sample_image_names() -> list[str]:
    """The names ``sample_image`` accepts, sorted."""
    return sorted((*SKIMAGE_IMAGES, *MATPLOTLIB_IMAGES))


@lru_cache(maxsize=None)
def _load(name: str) -> np.ndarray:
    """The image as stored: uint8, ``(H, W)`` or ``(H, W, 3)``."""
    if name in MATPLOTLIB_IMAGES:
        import matplotlib.cbook
        import matplotlib.pyplot as plt

        array = plt.imread(matplotlib.cbook.get_sample_data(MATPLOTLIB_IMAGES[name], asfileobj=False))
    else:
        import skimage.data

        array = getattr(skimage.data, name)()
    array = img_as_ubyte(array)
    array.flags.writeable = False
    return array


def _check_size(size) -> list[int] | None:
    if size is None:
        return None
    pair = (size, size) if isinstance(size, (int, np.integer)) and not isinstance(size, bool) else size
    if (not isinstance(pair, (tuple, list)) or len(pair) != 2
            or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in pair)):
        raise TypeError(f"size must be None, an int or a (height, width) pair of ints, got {size!r}")
    if min(pair) < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    return [int(s) for s in pair]


def sample_image(name: str, size=None, rgb: bool = True) -> torch.Tensor:
    """The sample image ``name`` as float32 ``(C, H, W)`` in [0, 1].

    ``size``: ``None`` keeps the original; an int ``s`` centre-crops the largest square and resizes
    it to ``s x s``; a pair ``(H, W)`` resizes to exactly that (the aspect ratio may change).
    Resizing is bilinear and antialiased. ``rgb=True`` gives 3 channels (grey images repeated),
    ``rgb=False`` gives 1 channel (colour images converted to luminance).
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    if name not in sample_image_names():
        raise ValueError(f"unknown sample image {name!r}; choose one of: {', '.join(sample_image_names())}")
    target = _check_size(size)
    array = _load(name)
    image = torch.from_numpy(array.copy()).float().div_(255)
    image = image[None] if image.ndim == 2 else image.permute(2, 0, 1)[:3]
    if rgb and image.shape[0] == 1:
        image = image.expand(3, -1, -1).contiguous()
    elif not rgb and image.shape[0] == 3:
        image = TF.rgb_to_grayscale(image)
    if target is not None:
        if isinstance(size, (int, np.integer)):
            image = TF.center_crop(image, [min(image.shape[-2:])] * 2)
        image = TF.resize(image, target, antialias=True).clamp_(0, 1)
    return image.contiguous()  # L-BFGS and .view() need a plain layout
