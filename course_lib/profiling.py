"""How big and how fast is a network: parameters, FLOPs and latency, measured the same way everywhere.

    count_parameters(model)                          # 364_000 for ENet(4)
    count_flops(model, torch.zeros(1, 3, 512, 512))  # one forward pass, a multiply-add counts 2
    latency(model, x, repeats=5)                     # median seconds of one call
    measure(model, (1, 3, 512, 512))                 # {"params", "flops", "seconds"}
    memory_format_speedups({"ENet": ENet(4)})         # eager vs channels_last vs torch.compile

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode``, which counts convolutions and matrix
products (the operations that dominate a CNN) and ignores element-wise ones (activations, batch
norm, additions). Time is wall-clock time on the caller's device with torch's current thread count:
on a shared machine compare ratios measured in one run, not seconds.
"""
from __future__ import annotations

import contextlib
import copy
import math
import statistics
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_lib.validate import check_int, check_module

__all__ = ["count_parameters", "count_flops", "latency", "measure", "memory_format_speedups", "SPEEDUP_VARIANTS"]


def count_parameters(model: nn.Module) -> int:
    """The number of parameters (trainable or not) of ``model``; shared ones count once."""
    check_module(model)
    return sum(p.numel() for p in model.parameters())


class _evaluating:
    """Eval mode and ``torch.inference_mode`` for the duration of a ``with``; the mode comes back."""

    def __init__(self, model: nn.Module):
        self.model, self.inference = model, torch.inference_mode()

    def __enter__(self):
        self.was_training = self.model.training
        self.model.eval()
        self.inference.__enter__()

    def __exit__(self, *exc):
        self.inference.__exit__(*exc)
        self.model.train(self.was_training)


def _synchronize() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def count_flops(model: nn.Module, *inputs) -> int:
    """FLOPs of one forward pass ``model(*inputs)`` in eval mode (a multiply-add counts 2).

    Only shapes matter, so the inputs may live on the ``meta`` device with the model.
    """
    check_module(model)
    counter = FlopCounterMode(display=False)
    with _evaluating(model), counter:
        model(*inputs)
    return counter.get_total_flops()


def latency(fn, *args, repeats: int = 5, warmup: int = 3) -> float:
    """The median wall-clock time in seconds of ``fn(*args)``: ``warmup`` untimed calls first (the
    first calls build oneDNN's kernels and allocate memory), then ``repeats`` timed ones.

    CUDA is synchronised around each timed call, so that the time includes the kernels it queued.
    Gradients are not recorded when ``fn`` is a module (eval mode, ``torch.inference_mode``); a
    plain function runs as it is. (``torch.utils.benchmark.Timer`` would run every timed call twice
    more as its own warm-up, tripling the time a slow network takes to measure.)
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable (a model or a function), got {type(fn).__name__}")
    check_int("repeats", repeats, 1)
    check_int("warmup", warmup, 0)

    def timed_call() -> float:
        _synchronize()
        start = time.perf_counter()
        fn(*args)
        _synchronize()
        return time.perf_counter() - start

    with _evaluating(fn) if isinstance(fn, nn.Module) else contextlib.nullcontext():
        for _ in range(warmup):
            fn(*args)
        times = [timed_call() for _ in range(repeats)]
    return statistics.median(times)


def measure(model: nn.Module, input_size=(1, 3, 512, 512), *, repeats: int = 5,
            warmup: int = 3) -> dict[str, float]:
    """Parameters, FLOPs of one forward pass and its median time in seconds (ENet §5.1, Tables 2-3)
    for a random input of ``input_size`` on the model's device: ``{"params", "flops", "seconds"}``."""
    check_module(model)
    parameter = next(model.parameters(), None)
    x = torch.rand(input_size, device=parameter.device if parameter is not None else "cpu")
    return {"params": count_parameters(model), "flops": count_flops(model, x),
            "seconds": latency(model, x, repeats=repeats, warmup=warmup)}


SPEEDUP_VARIANTS = ("eager", "channels_last", "channels_last + compile")


def memory_format_speedups(models: dict[str, nn.Module], input_size=(1, 3, 512, 512), *, compile: bool = True,
                           repeats: int = 5, warmup: int = 2) -> dict[str, dict[str, float]]:
    """Three cheap ways to run a CNN faster on a CPU, timed side by side in one run (median seconds of a
    forward pass on a random input of ``input_size``, as :func:`latency`):

    - ``"eager"``: the model as built (NCHW, "contiguous" memory);
    - ``"channels_last"``: weights and input in NHWC order, which oneDNN's convolutions prefer;
    - ``"channels_last + compile"``: the same, compiled by ``torch.compile`` (TorchInductor fuses the
      small element-wise layers). Compiling needs a C++ compiler and takes seconds to a minute, once:
      its time is reported under ``"compile seconds"``. With ``compile=False``, or when compiling fails
      (the error is kept under ``"compile error"``), its entries are ``nan``.

    The models are copied, never changed. Returns ``{model name: {variant: seconds, ...}}``.
    """
    if not isinstance(models, dict) or not models:
        raise TypeError("models must be a non-empty dict of {name: nn.Module}")
    rows = {}
    for name, model in models.items():
        check_module(model, name)
        x = torch.rand(input_size)
        row = {"eager": latency(model, x, repeats=repeats, warmup=warmup)}
        fast_model = copy.deepcopy(model).to(memory_format=torch.channels_last)
        fast_x = x.to(memory_format=torch.channels_last)
        row["channels_last"] = latency(fast_model, fast_x, repeats=repeats, warmup=warmup)
        row["channels_last + compile"] = row["compile seconds"] = math.nan
        if compile:
            try:
                start = time.perf_counter()
                compiled = torch.compile(fast_model)
                with _evaluating(compiled):
                    compiled(fast_x)  # the first call compiles
                row["compile seconds"] = time.perf_counter() - start
                row["channels_last + compile"] = latency(compiled, fast_x, repeats=repeats, warmup=1)
            except Exception as error:  # no C++ compiler, an unsupported platform...
                row["compile error"] = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        rows[name] = row
    return rows
