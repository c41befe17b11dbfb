"""Mode, device and seeding."""
import random

import numpy as np
import pytest
import torch

from course_lib import config


def test_mode_defaults_to_full(monkeypatch):
    monkeypatch.delenv("COURSE_MODE", raising=False)
    assert config.mode() == "full" and config.pick(fast=1, full=2) == 2


def test_fast_mode(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", " FAST ")
    assert config.is_fast() and config.pick(fast=1, full=2) == 1


def test_unknown_mode_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "quick")
    with pytest.raises(ValueError, match="COURSE_MODE must be one of"):
        config.mode()


def test_seeding_makes_every_generator_repeat():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    config.seed_everything(7)
    first = draw()
    config.seed_everything(7)
    assert draw() == first


def test_setup_prints_one_line_and_returns_the_device(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_MODE", "fast")
    device = config.setup(seed=3)
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert f"device={device.type} mode=fast seed=3" in out and f"torch={torch.__version__}" in out


def test_device_preference_is_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert config.get_device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert config.get_device().type == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert config.get_device().type == "cpu"


def test_bad_seed():
    with pytest.raises(ValueError, match="seed"):
        config.seed_everything(-1)


def test_setup_makes_every_figure_text_at_least_12_points():
    import matplotlib
    from matplotlib.font_manager import FontProperties

    with matplotlib.rc_context({"font.size": 8, "xtick.labelsize": "small", "legend.fontsize": 6}):
        config.setup(quiet=True)
        sizes = {key: FontProperties(size=matplotlib.rcParams[key]).get_size_in_points()
                 for key in ("font.size", "axes.titlesize", "axes.labelsize", "xtick.labelsize",
                             "ytick.labelsize", "legend.fontsize", "figure.titlesize")}
    assert min(sizes.values()) >= 12, sizes
