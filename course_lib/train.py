"""``fit``: the one training loop of the course.

    history = fit(model, nn.CrossEntropyLoss(), train_loader, val_loader, epochs=pick(2, 20),
                  metrics={"miou": lambda out, y: mean_iou(out, y, NUM_CLASSES)})
    scores = evaluate(model, val_loader, nn.CrossEntropyLoss())    # {"loss": ...}, as fit validates
    labels = predict(model, images).argmax(1)                     # eval mode, no gradients, batched

It shows a ``tqdm.auto`` progress bar and, in a notebook, a live loss plot that ends as one figure
(elsewhere: one log line per epoch). With ``checkpoint="run.pt"`` it saves model, optimizer, history
and every random generator's state after each epoch; ``resume=True`` continues from there and, on
the CPU, ends with exactly the weights of an uninterrupted run. On CUDA it trains with automatic
mixed precision (bf16 where supported, else fp16 with a gradient scaler).
"""
from __future__ import annotations

import contextlib
import os
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib.validate import check_int, check_module

__all__ = ["fit", "evaluate", "predict", "save_checkpoint", "load_checkpoint", "channels_last_collate"]

PLOT_INTERVAL_S = 0.5  # the live plot is redrawn at most twice a second
LIVE_PLOT = "course_lib/live-plot"  # display metadata that marks the redrawn output (the website leaves it out)


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, nbclient, nbval), False in scripts, pytest, IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


# --- moving data ----------------------------------------------------------------------------------

def _map_tensors(obj, fn):
    """``fn`` applied to every tensor in ``obj``, also inside lists, tuples and dicts (detection targets)."""
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, dict):
        return {key: _map_tensors(value, fn) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_map_tensors(value, fn) for value in obj)
    return obj


def _to_device(obj, device: torch.device):
    """Tensors, and tensors inside lists, tuples and dicts, moved to ``device``."""
    return _map_tensors(obj, lambda t: t.to(device, non_blocking=True))


def channels_last_collate(batch):
    """``default_collate``, then every 4-D float tensor of the batch (the images) in channels-last
    (NHWC) memory order. With ``model.to(memory_format=torch.channels_last)`` and this as a
    DataLoader's ``collate_fn``, CPU convolutions run in the order oneDNN prefers (notebook 03,
    "Making it real time on a CPU"); the values do not change. Masks (3-D) stay as they are."""
    from torch.utils.data import default_collate

    def nhwc(t: torch.Tensor) -> torch.Tensor:
        return t.contiguous(memory_format=torch.channels_last) if t.ndim == 4 and t.is_floating_point() else t

    return _map_tensors(default_collate(batch), nhwc)


def _batch_size(targets) -> int:
    """How many items a batch's targets describe: a tensor's first dimension, a list's length, or
    (for dict targets such as {"mask": ..., "weight": ...}) that of its first tensor."""
    if isinstance(targets, dict):
        targets = next((v for v in targets.values() if isinstance(v, torch.Tensor)), None)
    if isinstance(targets, torch.Tensor) and targets.ndim > 0:
        return targets.shape[0]
    return len(targets) if isinstance(targets, (list, tuple)) else 1


def _split(batch, index: int):
    if not isinstance(batch, (list, tuple)) or len(batch) != 2:
        raise TypeError(f"batch {index} is a {type(batch).__name__}"
                        f"{f' of length {len(batch)}' if isinstance(batch, (list, tuple)) else ''}: "
                        "expected (inputs, targets) pairs from the loader")
    return batch


def _scalar_loss(loss, step: int) -> torch.Tensor:
    if not isinstance(loss, torch.Tensor):
        raise TypeError(f"loss_fn returned a {type(loss).__name__}; it must return a scalar tensor")
    if loss.ndim != 0:
        raise ValueError(f"loss_fn returned a tensor of shape {tuple(loss.shape)}; it must return a scalar "
                         "(use reduction='mean', or call .mean() on a per-pixel loss)")
    if not torch.isfinite(loss):
        raise FloatingPointError(f"the loss became {loss.item()} at step {step}: lower the learning rate "
                                 "or check the inputs and targets")
    return loss


# --- checkpoints ----------------------------------------------------------------------------------

def _loader_generators(*loaders) -> list[torch.Generator]:
    """The private generators of loaders and their samplers (``DataLoader(..., generator=g)``)."""
    found = {}
    for loader in loaders:
        for owner in (loader, getattr(loader, "sampler", None)):
            g = getattr(owner, "generator", None)
            if isinstance(g, torch.Generator):
                found[id(g)] = g
    return list(found.values())


def _rng_state(generators) -> dict:
    numpy_state = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": (numpy_state[0], torch.from_numpy(numpy_state[1].astype(np.int64)), *numpy_state[2:]),
             "loaders": [g.get_state() for g in generators]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict, generators) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    if len(state["loaders"]) != len(generators):
        raise ValueError(f"the checkpoint saved {len(state['loaders'])} loader generators but these loaders "
                         f"have {len(generators)}: resume with loaders built the same way")
    for g, g_state in zip(generators, state["loaders"]):
        g.set_state(g_state)
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path, model, optimizer, epoch: int, history: dict, scaler=None, generators=(),
                    scheduler=None) -> None:
    """Write model, optimizer, scheduler, epoch, history and RNG states to ``path`` (atomically)."""
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
             "history": history, "rng": _rng_state(generators),
             "scaler": scaler.state_dict() if scaler is not None else None,
             "scheduler": scheduler.state_dict() if scheduler is not None else None}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path, model, optimizer=None, scaler=None, generators=(), scheduler=None) -> tuple[int, dict]:
    """Restore what :func:`save_checkpoint` wrote; returns ``(epochs done, history)``."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scaler is not None and state["scaler"] is not None:
        scaler.load_state_dict(state["scaler"])
    if scheduler is not None:
        if state.get("scheduler") is None:
            raise ValueError(f"{path} holds no scheduler state: resume without a scheduler, or start afresh")
        scheduler.load_state_dict(state["scheduler"])
    _set_rng_state(state["rng"], generators)
    return state["epoch"], state["history"]


# --- reporting ------------------------------------------------------------------------------------

class _LivePlot:
    """One notebook output redrawn in place (``display_id``), at most every ``PLOT_INTERVAL_S`` and
    spending at most about a twentieth of the time on drawing (on 2 cores, drawing slows training).

    At the end the redrawn output is emptied and the final figure becomes an output of its own: a
    runner that ignores in-place updates (nbval does) would otherwise save the first drawing only.
    The redrawn output carries the ``LIVE_PLOT`` metadata, so the website can leave it out.
    """

    def __init__(self, title: str | None = None):
        from IPython.display import DisplayHandle

        self.title = title
        self.handle = DisplayHandle()
        self.shown = False
        self.next_draw = 0.0

    def _figure(self, history: dict):
        from course_lib.viz import plot_history

        return plot_history(history, title=self.title)

    def update(self, history: dict) -> None:
        now = time.perf_counter()
        if now < self.next_draw or not history["step_loss"]:
            return
        import matplotlib.pyplot as plt

        fig = self._figure(history)
        (self.handle.update if self.shown else self.handle.display)(fig, metadata={LIVE_PLOT: True})
        self.shown = True
        plt.close(fig)
        took = time.perf_counter() - now
        self.next_draw = time.perf_counter() + max(PLOT_INTERVAL_S, 19 * took)

    def finish(self, history: dict) -> None:
        """Empty the redrawn output and show the final figure below it."""
        if not history["step_loss"]:
            return
        import matplotlib.pyplot as plt
        from IPython.display import display

        if self.shown:
            self.handle.update({"text/plain": ""}, raw=True, metadata={LIVE_PLOT: True})
        fig = self._figure(history)
        display(fig)
        plt.close(fig)


def _log_line(epoch: int, epochs: int, history: dict, seconds: float) -> str:
    parts = [f"epoch {epoch}/{epochs}"]
    parts += [f"{key} {values[-1]:.4g}" for key, values in history.items()
              if key != "step_loss" and len(values) == epoch]
    return "  ".join(parts) + f"  ({seconds:.1f} s)"


# --- the loop -------------------------------------------------------------------------------------

def _amp_dtype(amp, device: torch.device):
    """The autocast dtype, or None for full precision. Mixed precision is used on CUDA only."""
    if not (amp is None or isinstance(amp, bool) or amp in (torch.bfloat16, torch.float16)):
        raise ValueError(f"amp must be None, True, False, torch.bfloat16 or torch.float16, got {amp!r}")
    if amp is False or device.type != "cuda":
        return None
    if isinstance(amp, torch.dtype):
        return amp
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _autocast(amp_dtype, device: torch.device):
    return contextlib.nullcontext() if amp_dtype is None else torch.autocast(device.type, dtype=amp_dtype)


def _check_loader(loader, name: str) -> None:
    if loader is None or not hasattr(loader, "__iter__"):
        raise TypeError(f"{name} must be an iterable of (inputs, targets) batches, e.g. a DataLoader")
    try:
        if len(loader) == 0:
            raise ValueError(f"{name} is empty: it yields no batch (is the dataset empty, or "
                             "batch_size > len(dataset) with drop_last=True?)")
    except TypeError:  # an iterable without len: checked while iterating
        pass


def _check_metrics(metrics) -> dict:
    metrics = dict(metrics or {})
    if not all(callable(fn) for fn in metrics.values()):
        raise TypeError("metrics must map names to functions fn(outputs, targets) -> float")
    return metrics


def _model_device(model: nn.Module) -> torch.device:
    tensor = next(model.parameters(), None)
    return tensor.device if tensor is not None else torch.device("cpu")


@torch.no_grad()
def evaluate(model: nn.Module, loader, loss_fn=None, metrics: dict | None = None, *, device=None,
             amp=None) -> dict[str, float]:
    """The mean loss and metrics of ``model`` over ``loader``'s ``(inputs, targets)`` batches.

    ``{"loss": ..., **{name: ...}}``: ``loss_fn(outputs, targets)`` (left out without ``loss_fn``)
    and each ``metrics[name](outputs, targets)``, averaged over the batches weighted by their size.
    The model runs in ``eval()`` mode without gradients, on ``device`` (default: where its
    parameters are), with ``amp`` as in :func:`fit`; it is left in ``eval()`` mode.
    """
    check_module(model)
    _check_loader(loader, "loader")
    metrics = _check_metrics(metrics)
    if loss_fn is not None:
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable (outputs, targets) -> scalar, got {type(loss_fn).__name__}")
        metrics = {"loss": loss_fn, **metrics}
    device = _model_device(model) if device is None else torch.device(device)
    model.to(device).eval()
    sums, count = dict.fromkeys(metrics, 0.0), 0
    with _autocast(_amp_dtype(amp, device), device):
        for index, batch in enumerate(loader):
            inputs, targets = _to_device(_split(batch, index), device)
            outputs = model(inputs)
            n = _batch_size(targets)
            for name, fn in metrics.items():
                sums[name] += float(fn(outputs, targets)) * n
            count += n
    if count == 0:
        raise ValueError("the loader yielded no batch")
    return {name: value / count for name, value in sums.items()}


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, *, batch_size: int | None = 64, device=None) -> torch.Tensor:
    """``model(images)`` in ``eval()`` mode without gradients, ``batch_size`` images at a time
    (``None``: all at once), on ``device`` (default: where the model's parameters are); the
    outputs come back concatenated, on the CPU. The model is left in ``eval()`` mode.

        labels = predict(model, images).argmax(1)
    """
    check_module(model)
    if not isinstance(images, torch.Tensor) or images.ndim == 0 or len(images) == 0:
        raise TypeError(f"images must be a non-empty batch tensor (N, ...), got {type(images).__name__}"
                        f"{f' of shape {tuple(images.shape)}' if isinstance(images, torch.Tensor) else ''}")
    step = len(images) if batch_size is None else check_int("batch_size", batch_size, 1)
    device = _model_device(model) if device is None else torch.device(device)
    model.to(device).eval()
    return torch.cat([model(images[i:i + step].to(device)).cpu() for i in range(0, len(images), step)])


def _resume(checkpoint, model, optimizer, scaler, generators, scheduler, history: dict) -> tuple[int, dict]:
    """The epochs done and the history saved in ``checkpoint``, which is loaded; (0, history) without it."""
    if not Path(checkpoint).exists():
        print(f"no checkpoint at {checkpoint} yet: training from scratch")
        return 0, history
    start, saved = load_checkpoint(checkpoint, model, optimizer, scaler, generators, scheduler)
    if set(saved) != set(history):
        raise ValueError(f"{checkpoint} recorded {sorted(saved)} but these metrics give {sorted(history)}: "
                         "resume with the same metrics")
    print(f"resumed from {checkpoint} after epoch {start}")
    return start, saved


def _train_epoch(model, loss_fn, loader, optimizer, scaler, scheduler, amp_dtype, device, history: dict,
                 bar, live) -> float:
    """One pass over ``loader``: a step per batch, each loss appended to ``history["step_loss"]``;
    returns the epoch's mean loss (weighted by batch size)."""
    model.train()
    total, count = 0.0, 0
    for batch in loader:
        step = len(history["step_loss"])
        inputs, targets = _to_device(_split(batch, step), device)
        with _autocast(amp_dtype, device):
            loss = _scalar_loss(loss_fn(model(inputs), targets), step)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        if scheduler is not None:
            scheduler.step()
        value = loss.item()
        history["step_loss"].append(value)
        total, count = total + value * _batch_size(targets), count + _batch_size(targets)
        bar.update()
        bar.set_postfix(loss=f"{value:.4g}", refresh=False)
        if live:
            live.update(history)
    if count == 0:
        raise ValueError("train_loader yielded no batch in this epoch")
    return total / count


def fit(model: nn.Module, loss_fn, train_loader, val_loader=None, *, epochs: int = 1, optimizer=None,
        lr: float = 1e-3, device=None, metrics: dict | None = None, checkpoint=None, resume: bool = False,
        amp=None, plot: bool | None = None, scheduler=None, title: str | None = None,
        verbose: bool = True) -> dict:
    """Train ``model`` for ``epochs`` passes over ``train_loader``, validating after each.

    Each batch is ``(inputs, targets)``; the loss is ``loss_fn(model(inputs), targets)``. Batches are
    moved to ``device`` (default: where the model's parameters are; given, the model moves there).
    The model is in ``train()`` mode for training steps and validated with :func:`evaluate`
    (``eval()`` mode, ``torch.no_grad()``), and is left in ``eval()`` mode.

    - ``optimizer``: default ``Adam(model.parameters(), lr)``.
    - ``scheduler``: a learning-rate scheduler of that optimizer (e.g. ``OneCycleLR``), stepped after
      every optimizer step, not every epoch; saved in and restored from ``checkpoint``.
    - ``metrics``: ``{"miou": fn(outputs, targets) -> float}``, averaged over the validation set
      (weighted by batch size) and stored as ``history["val_miou"]``. Needs ``val_loader``.
    - ``checkpoint``: a path written after every epoch. With ``resume=True`` training continues from
      it (``epochs`` counts all epochs, so ``epochs=4`` after a 2-epoch checkpoint runs epochs 3-4);
      without the file it starts from scratch.
    - ``amp``: mixed precision on CUDA; ``None``/``True`` = bf16 if supported else fp16 with a
      ``GradScaler``, or ``torch.float16``/``torch.bfloat16``, ``False`` = off. Ignored off CUDA.
    - ``plot``: ``None`` = a live plot when running in a notebook, ``False`` = never.
    - ``title``: the loss plot's title, e.g. the model's name (default: none).
    - ``verbose``: ``False`` turns off the per-epoch log lines (printed when there is no live plot);
      the progress bar and the plot stay. For notebooks that train many small models.

    Returns the history: ``"step_loss"`` (every step), ``"train_loss"``, ``"val_loss"`` and
    ``"val_<metric>"`` (one per epoch; the ``val_`` lists stay empty without ``val_loader``).
    """
    check_module(model)
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable (outputs, targets) -> scalar, got {type(loss_fn).__name__}")
    check_int("epochs", epochs, 1, expected="an int >= 1")
    _check_loader(train_loader, "train_loader")
    if val_loader is not None:
        _check_loader(val_loader, "val_loader")
    metrics = _check_metrics(metrics)
    if metrics and val_loader is None:
        raise ValueError("metrics are computed on the validation set: pass a val_loader")
    if scheduler is not None and optimizer is None:
        raise ValueError("scheduler needs the optimizer it schedules: pass optimizer=... too")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=<path> to resume from")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str (e.g. the model's name), got {type(title).__name__}")
    if not isinstance(verbose, bool):
        raise TypeError(f"verbose must be True or False, got {type(verbose).__name__}")

    device = _model_device(model) if device is None else torch.device(device)
    model.to(device)
    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    amp_dtype = _amp_dtype(amp, device)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16) if device.type == "cuda" else None
    generators = _loader_generators(train_loader, val_loader)

    history = {"step_loss": [], "train_loss": [], "val_loss": [], **{f"val_{name}": [] for name in metrics}}
    start = 0
    if resume:
        start, history = _resume(checkpoint, model, optimizer, scaler, generators, scheduler, history)
    if start >= epochs:
        print(f"the checkpoint already has {start} epochs (epochs={epochs}): nothing to train")

    live = _LivePlot(title) if (plot is None or plot) and _in_notebook() else None
    try:
        steps_per_epoch = len(train_loader)
    except TypeError:
        steps_per_epoch = None
    bar = tqdm(total=steps_per_epoch and steps_per_epoch * epochs, initial=len(history["step_loss"]),
               desc="training", unit="step")
    for epoch in range(start + 1, epochs + 1):
        t0 = time.perf_counter()
        bar.set_description(f"epoch {epoch}/{epochs}")
        history["train_loss"].append(_train_epoch(model, loss_fn, train_loader, optimizer, scaler, scheduler,
                                                  amp_dtype, device, history, bar, live))
        if val_loader is not None:
            scores = evaluate(model, val_loader, loss_fn, metrics, device=device, amp=amp)
            for name, value in scores.items():
                history[f"val_{name}"].append(value)
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, optimizer, epoch, history, scaler, generators, scheduler)
        if live:
            live.update(history)
        elif verbose:
            bar.write(_log_line(epoch, epochs, history, time.perf_counter() - t0))
    bar.close()
    if live:
        live.finish(history)
    model.eval()
    return history
