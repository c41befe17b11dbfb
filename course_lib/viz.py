"""Figures for the course: image grids, mask overlays, feature maps and training curves.

Every function returns a matplotlib ``Figure`` made with ``plt.subplots(..., layout="constrained")``,
sized to be read from the back of a lecture room (titles 13 pt, labels 12 pt). Images may be torch
tensors ``(C, H, W)`` / ``(H, W)`` or numpy arrays ``(H, W, C)`` / ``(H, W)``; float values are clamped
to [0, 1], ``uint8`` is divided by 255 and other integer maps are drawn as class labels.

    show_images([image, overlay_mask(image, mask)], titles=["image", "mask"])
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator

from course_lib.validate import check_int

__all__ = ["PALETTE", "show_images", "colorize_mask", "overlay_mask", "legend_handles",
           "show_feature_maps", "plot_history", "paper_table", "show_source", "mean_half_range", "show_row"]

TITLE_SIZE = 13
LABEL_SIZE = 12

# Okabe & Ito's colour-blind-safe palette (https://jfly.uni-koeln.de/color/), black left out.
# Class 0 (background) is transparent in overlays; class k >= 1 gets PALETTE[(k - 1) % 7].
PALETTE = np.array([[230, 159, 0], [86, 180, 233], [0, 158, 115], [240, 228, 66],
                    [0, 114, 178], [213, 94, 0], [204, 121, 167]], dtype=np.float32) / 255


def _to_numpy(x, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, np.ndarray):
        return x
    raise TypeError(f"{name} must be a torch tensor or a numpy array, got {type(x).__name__}")


def _to_hwc(image, name: str = "image") -> np.ndarray:
    """A displayable float ``(H, W, 3)`` or ``(H, W)`` array in [0, 1] (or an int label map)."""
    is_tensor = isinstance(image, torch.Tensor)
    a = _to_numpy(image, name)
    if a.ndim == 3:
        if is_tensor or (a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3)):  # (C, H, W)
            if a.shape[0] not in (1, 3):
                raise ValueError(f"{name} has {a.shape[0]} channels (shape {a.shape}); images need 1 or 3 "
                                 f"channels as (C, H, W). For feature maps use show_feature_maps")
            a = a.transpose(1, 2, 0)
        elif a.shape[-1] not in (1, 3):
            raise ValueError(f"{name} must be (H, W, 1|3) or (1|3, H, W), got shape {a.shape}")
        if a.shape[-1] == 1:
            a = a[..., 0]
    elif a.ndim != 2:
        raise ValueError(f"{name} must be (C, H, W) or (H, W), got shape {a.shape}")
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255
    if a.dtype == bool or np.issubdtype(a.dtype, np.integer):
        if a.ndim != 2:
            raise ValueError(f"{name}: an integer image must be a (H, W) label map, got shape {a.shape}")
        return a.astype(np.int64)
    return np.clip(a.astype(np.float32), 0, 1)


def _grid(n: int, ncols: int | None, figsize, cell: float = 3.0):
    if ncols is None:
        ncols = min(n, 4)
    check_int("ncols", ncols, 1, expected="a positive int")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize or (cell * ncols, cell * nrows + 0.4),
                             layout="constrained", squeeze=False)
    axes = axes.ravel()
    for ax in axes[n:]:
        fig.delaxes(ax)
    return fig, axes[:n]


def show_images(images, titles=None, ncols: int | None = None, figsize=None, cmap: str = "gray") -> Figure:
    """Show images in a grid, one per axes, with optional titles.

    ``images``: a list of images, or one batch tensor ``(B, C, H, W)``. Grey images use ``cmap``;
    integer label maps are coloured with :data:`PALETTE` (background black).
    """
    if isinstance(images, torch.Tensor) and images.ndim == 4 or isinstance(images, np.ndarray) and images.ndim == 4:
        images = list(images)
    elif isinstance(images, (torch.Tensor, np.ndarray)):
        images = [images]
    images = list(images)
    if not images:
        raise ValueError("images is empty")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(images)} images but {len(titles)} titles")
    arrays = [_to_hwc(image, f"images[{i}]") for i, image in enumerate(images)]
    fig, axes = _grid(len(arrays), ncols, figsize)
    for i, (ax, a) in enumerate(zip(axes, arrays)):
        if a.dtype == np.int64:
            ax.imshow(colorize_mask(a).permute(1, 2, 0).numpy(), interpolation="nearest")
        else:
            ax.imshow(a, cmap=cmap if a.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
        ax.set_axis_off()
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=TITLE_SIZE)
    return fig


def _class_colours(num_classes: int) -> np.ndarray:
    """Colours for classes 0..num_classes-1: black, then the palette (cycled past 7 classes)."""
    return np.concatenate([np.zeros((1, 3), np.float32), PALETTE[np.arange(num_classes - 1) % len(PALETTE)]])


def _check_mask(mask, num_classes) -> tuple[np.ndarray, int]:
    m = _to_numpy(mask, "mask")
    if m.ndim != 2 or not (m.dtype == bool or np.issubdtype(m.dtype, np.integer)):
        raise ValueError(f"mask must be an integer (H, W) label map, got {m.dtype} of shape {m.shape}")
    m = m.astype(np.int64)
    top = int(m.max()) + 1 if m.size else 1
    if num_classes is None:
        num_classes = max(top, 2)
    if m.size and (m.min() < 0 or top > num_classes):
        raise ValueError(f"mask has labels in [{m.min()}, {top - 1}] but num_classes={num_classes}")
    return m, num_classes


def colorize_mask(mask, num_classes: int | None = None) -> torch.Tensor:
    """A label map as a float RGB image ``(3, H, W)``: background black, class k in its palette colour."""
    m, num_classes = _check_mask(mask, num_classes)
    return torch.from_numpy(_class_colours(num_classes)[m]).permute(2, 0, 1)


def overlay_mask(image, mask, alpha: float = 0.5, num_classes: int | None = None) -> torch.Tensor:
    """Blend a label map over an image: ``(1 - alpha) * image + alpha * colour`` on class pixels,
    background (class 0) pixels unchanged. Returns a float RGB tensor ``(3, H, W)`` in [0, 1].

    ``image``: ``(3, H, W)``, ``(1, H, W)`` or ``(H, W)`` tensor (or numpy ``(H, W[, 3])``);
    ``mask``: integer ``(H, W)`` labels below ``num_classes``.
    """
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    rgb = _to_hwc(image)
    if rgb.dtype == np.int64:
        raise ValueError("image is an integer label map; pass the image first and the mask second")
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=-1)
    m, num_classes = _check_mask(mask, num_classes)
    if m.shape != rgb.shape[:2]:
        raise ValueError(f"mask is {m.shape} but the image is {rgb.shape[:2]} (H, W)")
    colour = _class_colours(num_classes)[m]
    out = np.where((m > 0)[..., None], (1 - alpha) * rgb + alpha * colour, rgb)
    return torch.from_numpy(out.astype(np.float32)).permute(2, 0, 1)


def legend_handles(class_names, skip_background: bool = True) -> list[Patch]:
    """Patches for ``fig.legend(handles=...)`` naming the overlay colours of each class."""
    colours = _class_colours(len(class_names))
    start = 1 if skip_background else 0
    return [Patch(color=colours[k], label=name) for k, name in enumerate(class_names) if k >= start]


def show_feature_maps(features, n: int = 16, ncols: int | None = None, title: str | None = None,
                      cmap: str = "viridis") -> Figure:
    """The first ``n`` channels of a ``(C, H, W)`` or ``(1, C, H, W)`` feature tensor, one per axes,
    each min-max normalised on its own (a constant map shows as 0)."""
    f = _to_numpy(features, "features").astype(np.float32)
    if f.ndim == 4:
        if f.shape[0] != 1:
            raise ValueError(f"features has a batch of {f.shape[0]}; pass one image, e.g. features[0]")
        f = f[0]
    if f.ndim != 3:
        raise ValueError(f"features must be (C, H, W) or (1, C, H, W), got shape {f.shape}")
    check_int("n", n, 1, expected="a positive int")
    f = f[:n]
    low = f.min(axis=(1, 2), keepdims=True)
    span = f.max(axis=(1, 2), keepdims=True) - low
    f = np.where(span > 0, (f - low) / np.where(span > 0, span, 1), 0)
    fig, axes = _grid(len(f), ncols if ncols is not None else min(len(f), 8), None, cell=2.0)
    for k, (ax, fmap) in enumerate(zip(axes, f)):
        ax.imshow(fmap, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"ch {k}", fontsize=LABEL_SIZE)
        ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=TITLE_SIZE + 1)
    return fig


_PLAIN = FuncFormatter(lambda value, _: f"{value:g}")


def _ema(values) -> np.ndarray:
    """Exponential moving average, bias-corrected like Adam's, to read a noisy loss curve.
    Its window is about 1/50 of the run, so that it smooths without lagging behind."""
    beta = 1 - 1 / max(1.0, len(values) / 50)
    out, avg = [], 0.0
    for t, v in enumerate(values, 1):
        avg = beta * avg + (1 - beta) * v
        out.append(avg / (1 - beta**t))
    return np.array(out)


def plot_history(history: dict, keys=None, title: str | None = None) -> Figure:
    """Training curves from :func:`course_lib.train.fit`'s history.

    Panels: ``step_*`` keys against the step (raw and smoothed, log scale), ``*loss`` keys against the epoch,
    and the other keys (``val_miou``, ...) against the epoch. ``keys`` picks which to draw (default: every
    key with values, but a per-epoch key with a single value when there are steps to draw: one epoch is a
    dot, not a curve); ``title`` (e.g. the model's name) goes above the panels.
    """
    if not isinstance(history, dict):
        raise TypeError(f"history must be the dict returned by fit, got {type(history).__name__}")
    if keys is None:
        has_steps = any(k.startswith("step_") and len(v) for k, v in history.items())
        keys = [k for k, v in history.items() if len(v) > (1 if has_steps and not k.startswith("step_") else 0)]
    missing = [k for k in keys if k not in history]
    if missing:
        raise ValueError(f"keys {missing} are not in history (it has {list(history)})")
    keys = [k for k in keys if len(history[k])]
    if not keys:
        raise ValueError("history has nothing to plot yet")
    groups = {"loss per step": [k for k in keys if k.startswith("step_")],
              "loss per epoch": [k for k in keys if not k.startswith("step_") and k.endswith("loss")],
              "validation metrics": [k for k in keys if not k.startswith("step_") and not k.endswith("loss")]}
    groups = {panel: ks for panel, ks in groups.items() if ks}
    fig, axes = plt.subplots(1, len(groups), figsize=(5 * len(groups), 3.8), layout="constrained", squeeze=False)
    for ax, (panel, ks) in zip(axes[0], groups.items()):
        for k in ks:
            values = np.asarray(history[k], dtype=float)
            if k.startswith("step_"):
                steps = np.arange(1, len(values) + 1)
                line, = ax.plot(steps, values, alpha=0.3, lw=1)
                ax.plot(steps, _ema(values), color=line.get_color(), lw=2, label=f"{k} (smoothed)")
                ax.set_xlabel("step", fontsize=LABEL_SIZE)
            else:
                ax.plot(np.arange(1, len(values) + 1), values, "o-", lw=2, label=k)
                ax.set_xlabel("epoch", fontsize=LABEL_SIZE)
                ax.xaxis.get_major_locator().set_params(integer=True)
        values = np.concatenate([np.asarray(history[k], float) for k in ks])
        if panel == "loss per step" and np.all(values > 0):
            ax.set_yscale("log")  # plain numbers (0.3, not 3e-01), labelled at 1, 2 and 5 times a power of ten
            ax.yaxis.set_major_formatter(_PLAIN)
            ax.yaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
            ax.yaxis.set_minor_formatter(_PLAIN)
        ax.set_title(panel, fontsize=TITLE_SIZE)
        ax.tick_params(which="both", labelsize=LABEL_SIZE)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=LABEL_SIZE)
    if title is not None:
        fig.suptitle(title, fontsize=TITLE_SIZE + 2, fontweight="bold")
    return fig


def paper_table(rows, measured: str = "we measured") -> str:
    """The "paper says / we measured" table that ends each notebook, as aligned text (print it).

    ``rows``: ``(what, paper says, we measured)`` triples of strings; ``measured`` heads the third column
    (e.g. ``"we measured (mean ± spread over 3 seeds)"``).
    """
    rows = [tuple(row) for row in rows]
    if not rows or any(len(row) != 3 or not all(isinstance(cell, str) for cell in row) for row in rows):
        raise ValueError("rows must be a non-empty list of (what, paper says, we measured) string triples")
    table = [("", "paper says", measured)] + rows
    widths = [max(len(row[k]) for row in table) for k in range(2)]
    return "\n".join(f"{what:<{widths[0]}}   {paper:<{widths[1]}}   {ours}".rstrip() for what, paper, ours in table)


def show_source(*functions) -> None:
    """Show the source of library functions in the notebook, as a highlighted code block: how a recipe's
    ``train`` is written, without copying it into a cell (``show_source(recipes.unet.train)``)."""
    import inspect

    from IPython.display import Markdown, display

    if not functions or not all(callable(f) for f in functions):
        raise TypeError("show_source takes one or more functions or classes")
    code = "\n\n".join(inspect.getsource(f).rstrip() for f in functions)
    display(Markdown(f"```python\n{code}\n```"))


def mean_half_range(values, digits: int = 3) -> str:
    """``"mean ± h"`` of per-seed numbers, ``h`` half their range (max − min): the spread the course's
    tables print with a few seeds (``mean_half_range([0.91, 0.93, 0.92])`` → ``"0.920 ± 0.010"``)."""
    values = torch.tensor([float(v) for v in values])
    if values.numel() == 0:
        raise ValueError("mean_half_range needs at least one value")
    return f"{values.mean():.{digits}f} ± {(values.max() - values.min()) / 2:.{digits}f}"


def show_row(images, titles=None, axes=None, size: float = 3.0) -> None:
    """Images side by side, each with its title: in a new figure, at most five to a row and 10 inches wide
    (``size`` inches per image or less), shown at once; or drawn into ``axes`` (one per image, e.g. a row of a grid you made, to which you add
    more). Images as :func:`show_images` takes them (float ``(C, H, W)`` clamped to [0, 1]; integer label
    maps in :data:`PALETTE` colours)."""
    images = list(images)
    if not images:
        raise ValueError("images is empty")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(images)} images but {len(titles)} titles")
    fig = None
    if axes is None:
        columns = min(len(images), 5)
        rows = -(-len(images) // columns)
        size = min(size, 10 / columns)
        fig, axes = plt.subplots(rows, columns, figsize=(size * columns, (size + 0.6) * rows), squeeze=False)
        for ax in axes.flat[len(images):]:
            ax.set_axis_off()
    axes = list(np.ravel(axes))
    if len(axes) < len(images):
        raise ValueError(f"got {len(images)} images but {len(axes)} axes")
    for i, (ax, image) in enumerate(zip(axes, images)):
        a = _to_hwc(image, f"images[{i}]")
        if a.dtype == np.int64:
            ax.imshow(colorize_mask(a).permute(1, 2, 0).numpy(), interpolation="nearest")
        else:
            ax.imshow(a, cmap="gray" if a.ndim == 2 else None, vmin=0, vmax=1)
        ax.set_axis_off()
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=TITLE_SIZE)
    if fig is not None:
        fig.tight_layout()
        plt.show()
